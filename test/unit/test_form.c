/* The console's input (form.c) and output (page.c): strict reading, escaping everywhere. */
#include "form.h"
#include "page.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void expect_bad(const char *s, const char *why)
{
    struct ss_form f;
    assert_int_equal(ss_form_parse(s, strlen(s), &f), SS_ERR_PROTOCOL);
    assert_non_null(strstr(ss_errmsg(), why));
    assert_int_equal(f.n, 0);
    assert_null(f.storage);
}

static void test_form_reads_fields(void **state)
{
    (void)state;
    struct ss_form f;
    const char *s = "since=2026-11-01&client=DE-NORD%2FGOV%2FMIKWS-SH&purpose=BMG+34&empty=&flag";
    assert_int_equal(ss_form_parse(s, strlen(s), &f), SS_OK);
    assert_int_equal(f.n, 5);
    assert_string_equal(ss_form_get(&f, "since"), "2026-11-01");
    assert_string_equal(ss_form_get(&f, "client"), "DE-NORD/GOV/MIKWS-SH");
    assert_string_equal(ss_form_get(&f, "purpose"), "BMG 34");
    assert_string_equal(ss_form_get(&f, "empty"), "");
    assert_string_equal(ss_form_get(&f, "flag"), "");
    assert_null(ss_form_get(&f, "until"));
    ss_form_cleanup(&f);
    /* UTF-8 passes, percent-encoded or not */
    s = "name=M%C3%BCller&ort=L\xc3\xbc"
        "beck";
    assert_int_equal(ss_form_parse(s, strlen(s), &f), SS_OK);
    assert_string_equal(ss_form_get(&f, "name"), "M\xc3\xbcller");
    ss_form_cleanup(&f);
    /* empty sequences are skipped, as browsers read them */
    s = "&a=1&&b=2&";
    assert_int_equal(ss_form_parse(s, strlen(s), &f), SS_OK);
    assert_int_equal(f.n, 2);
    assert_string_equal(ss_form_get(&f, "b"), "2");
    ss_form_cleanup(&f);
    assert_int_equal(ss_form_parse("", 0, &f), SS_OK);
    assert_int_equal(f.n, 0);
    ss_form_cleanup(&f);
}

static void test_form_refuses_what_it_cannot_read_one_way(void **state)
{
    (void)state;
    expect_bad("a=1&a=2", "given twice");
    expect_bad("a=%4", "two hex digits");
    expect_bad("a=%zz", "two hex digits");
    expect_bad("a=%", "two hex digits");
    expect_bad("=1", "field name");
    expect_bad("a b=1", "field name");
    expect_bad("a%3Db=1", "field name");
    expect_bad("x=%00", "control character");
    expect_bad("x=%0d%0aSet-Cookie:+a", "control character");
    expect_bad("x=%1b", "control character");
    expect_bad("x=%c0%af", "not UTF-8");    /* an overlong '/' */
    expect_bad("x=%ed%a0%80", "not UTF-8"); /* a surrogate */
    expect_bad("x=%c2%85", "not UTF-8");    /* a C1 control */
    expect_bad("x=%e2%82", "not UTF-8");    /* cut short */
    expect_bad("abcdefghijklmnopqrstuvwxyz012345=1", "field name");
    char big[SS_FORM_MAX_VALUE * 3 + 16];
    memcpy(big, "v=", 2);
    memset(big + 2, 'a', SS_FORM_MAX_VALUE + 1);
    big[2 + SS_FORM_MAX_VALUE + 1] = '\0';
    expect_bad(big, "more than");
    char many[SS_FORM_MAX_FIELDS * 8 + 16] = "";
    for (int i = 0; i <= SS_FORM_MAX_FIELDS; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "%sf%d=1", i ? "&" : "", i);
    expect_bad(many, "more than");
    struct ss_form f;
    static char huge[SS_FORM_MAX_BYTES + 2];
    memset(huge, 'a', sizeof huge - 1);
    assert_int_equal(ss_form_parse(huge, sizeof huge - 1, &f), SS_ERR_PROTOCOL);
}

static void test_form_time(void **state)
{
    (void)state;
    int64_t ms = 0;
    assert_true(ss_form_time("2026-12-01", &ms));
    assert_int_equal(ms, 1796083200000LL);
    assert_true(ss_form_time("2026-12-01T10:00:01Z", &ms));
    assert_int_equal(ms, 1796083200000LL + 36001000);
    assert_false(ss_form_time("2026-13-01", &ms));
    assert_false(ss_form_time("01.12.2026", &ms));
    assert_false(ss_form_time("2026-12-01T10:00:01", &ms));
    assert_false(ss_form_time("2026-12-01T10:00:01Z+", &ms));
}

static char *taken(struct ss_page *p)
{
    size_t len = 0;
    char *s = ss_page_take(p, &len);
    assert_non_null(s);
    assert_int_equal(strlen(s), len);
    return s;
}

static void test_page_escapes(void **state)
{
    (void)state;
    struct ss_page p;
    ss_page_init(&p, 1 << 16);
    ss_page_text(&p, "<script>x=\"1\" & y='2'</script>\x01\xff\xc3\xa4");
    char *s = taken(&p);
    assert_string_equal(s, "&lt;script&gt;x=&quot;1&quot; &amp; y=&#39;2&#39;&lt;/script&gt;"
                           "\xef\xbf\xbd\xef\xbf\xbd\xc3\xa4");
    free(s);
    ss_page_init(&p, 1 << 16);
    ss_page_bytes(&p, (const uint8_t *)"GET /<a>\r\n\tx\x00\xc3", 14);
    s = taken(&p);
    assert_string_equal(s, "GET /&lt;a&gt;\\x0d\n\tx\\x00\\xc3");
    free(s);
    ss_page_init(&p, 1 << 16);
    ss_page_url(&p, "DE-NORD/GOV a&b=c\xc3\xa4~");
    s = taken(&p);
    assert_string_equal(s, "DE-NORD%2FGOV%20a%26b%3Dc%C3%A4~");
    free(s);
    ss_page_init(&p, 1 << 16);
    ss_page_json(&p, "a\"\\</script>\n\x7f\xff");
    s = taken(&p);
    assert_string_equal(s, "\"a\\\"\\\\\\u003c/script\\u003e\\u000a\\u007f\\ufffd\"");
    free(s);
}

/* A sensitive page grows by copying (and wiping) rather than by realloc: the same text. */
static void test_page_sensitive(void **state)
{
    (void)state;
    struct ss_page p;
    ss_page_init(&p, 1 << 20);
    p.sensitive = true;
    for (int i = 0; i < 2000; i++)
        ss_page_raw(&p, "%04d", i);
    assert_false(p.failed);
    assert_int_equal(p.len, 8000);
    assert_memory_equal(p.data + 7996, "1999", 4);
    ss_page_cleanup(&p);
    assert_null(p.data);
}

static void test_page_has_a_maximum(void **state)
{
    (void)state;
    struct ss_page p;
    ss_page_init(&p, 16);
    ss_page_raw(&p, "%s", "0123456789");
    assert_false(p.failed);
    ss_page_text(&p, "<<<");
    assert_true(p.failed);
    size_t len = 1;
    assert_null(ss_page_take(&p, &len));
    assert_int_equal(len, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_form_reads_fields),
        cmocka_unit_test(test_form_refuses_what_it_cannot_read_one_way),
        cmocka_unit_test(test_form_time),
        cmocka_unit_test(test_page_escapes),
        cmocka_unit_test(test_page_sensitive),
        cmocka_unit_test(test_page_has_a_maximum),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
