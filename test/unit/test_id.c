/*
 * Unit tests of X-Road identifiers (registry/ss_id.c): the character set and
 * length limit of a part, percent-decoding per part (an encoded slash never
 * splits a part and is refused), the client identifier forms with three and
 * four parts, the registry-local form, formatting and comparison.
 */
#include "ss_id.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

static ss_error decode(const char *s, size_t max, char out[SS_ID_PART_MAX + 1])
{
    memset(out, 'x', SS_ID_PART_MAX + 1);
    return ss_id_part_decode(s, strlen(s), max, out);
}

static ss_error parse(const char *s, bool require_subsystem, struct ss_client_id *id)
{
    return ss_client_id_parse(s, strlen(s), SS_ID_PART_MAX, require_subsystem, id);
}

/* ---- ss_id_part_valid ---- */

static void test_part_valid_charset(void **state)
{
    (void)state;
    const char *ok = "AZaz09'()+,-.=?";
    assert_true(ss_id_part_valid(ok, strlen(ok), 255));
    assert_true(ss_id_part_valid("x", 1, 1));
    const char *bad[] = {"a/b",       "a b",  "a%b", "a_b", "a:b", "a;b", "a*b", "a\"b",
                         "a\xc3\xa4", "a\tb", "a#b", "a&b", "a!b", "a~b", "a@b"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(ss_id_part_valid(bad[i], strlen(bad[i]), 255));
    /* an embedded NUL inside the given length is not a valid character */
    assert_false(ss_id_part_valid("a\0b", 3, 255));
}

static void test_part_valid_length(void **state)
{
    (void)state;
    char long_part[300];
    memset(long_part, 'a', sizeof long_part);
    assert_false(ss_id_part_valid("", 0, 255));
    assert_true(ss_id_part_valid(long_part, 8, 8));
    assert_false(ss_id_part_valid(long_part, 9, 8));
    assert_true(ss_id_part_valid(long_part, SS_ID_PART_MAX, SS_ID_PART_MAX));
    /* the hard ceiling holds even if a caller passes a larger maximum */
    assert_false(ss_id_part_valid(long_part, SS_ID_PART_MAX + 1, 1000));
}

/* ---- ss_id_part_decode ---- */

static void test_decode_plain(void **state)
{
    (void)state;
    char out[SS_ID_PART_MAX + 1];
    assert_int_equal(decode("GOV", 255, out), SS_OK);
    assert_string_equal(out, "GOV");
    assert_int_equal(decode("13004000", 255, out), SS_OK);
    assert_string_equal(out, "13004000");
    assert_int_equal(decode("a'b(c)d+e,f-g.h=i?j", 255, out), SS_OK);
    assert_string_equal(out, "a'b(c)d+e,f-g.h=i?j");
}

static void test_decode_escapes(void **state)
{
    (void)state;
    char out[SS_ID_PART_MAX + 1];
    /* %41 = 'A', %2d = '-', upper and lower case hex digits */
    assert_int_equal(decode("%41bc", 255, out), SS_OK);
    assert_string_equal(out, "Abc");
    assert_int_equal(decode("x%2dy%2Dz", 255, out), SS_OK);
    assert_string_equal(out, "x-y-z");
    assert_int_equal(decode("%28%29", 255, out), SS_OK);
    assert_string_equal(out, "()");
}

static void test_decode_refuses_encoded_forbidden(void **state)
{
    (void)state;
    char out[SS_ID_PART_MAX + 1];
    const char *bad[] = {"a%2Fb", "a%2fb", "%2F",   "a%20b",  "a%00b",
                         "a%25b", "%3B",   "a%0Ab", "a%C3%A4"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ss_errclear();
        assert_int_equal(decode(bad[i], 255, out), SS_ERR_BAD_IDENTIFIER);
        assert_non_null(strstr(ss_errmsg(), "not allowed"));
    }
    /* raw forbidden characters too */
    assert_int_equal(decode("a/b", 255, out), SS_ERR_BAD_IDENTIFIER);
    assert_int_equal(decode("a b", 255, out), SS_ERR_BAD_IDENTIFIER);
    assert_int_equal(decode("a_b", 255, out), SS_ERR_BAD_IDENTIFIER);
}

static void test_decode_malformed_escapes(void **state)
{
    (void)state;
    char out[SS_ID_PART_MAX + 1];
    const char *truncated[] = {"%", "a%", "a%4", "%2"};
    for (size_t i = 0; i < sizeof truncated / sizeof truncated[0]; i++) {
        ss_errclear();
        assert_int_equal(decode(truncated[i], 255, out), SS_ERR_BAD_IDENTIFIER);
        assert_non_null(strstr(ss_errmsg(), "truncated"));
    }
    const char *malformed[] = {"%zz", "a%4g", "%g1b", "%%41", "%-1x", "% 41"};
    for (size_t i = 0; i < sizeof malformed / sizeof malformed[0]; i++) {
        ss_errclear();
        assert_int_equal(decode(malformed[i], 255, out), SS_ERR_BAD_IDENTIFIER);
        assert_non_null(strstr(ss_errmsg(), "malformed"));
    }
}

static void test_decode_empty_and_length(void **state)
{
    (void)state;
    char out[SS_ID_PART_MAX + 1];
    assert_int_equal(decode("", 255, out), SS_ERR_BAD_IDENTIFIER);
    assert_non_null(strstr(ss_errmsg(), "empty"));

    assert_int_equal(decode("abcd", 4, out), SS_OK);
    assert_string_equal(out, "abcd");
    assert_int_equal(decode("abcde", 4, out), SS_ERR_BAD_IDENTIFIER);
    assert_non_null(strstr(ss_errmsg(), "longer than 4"));
    /* the limit applies to the decoded length: "%41%42%43%44" decodes to 4 bytes */
    assert_int_equal(decode("%41%42%43%44", 4, out), SS_OK);
    assert_string_equal(out, "ABCD");
    assert_int_equal(decode("%41%42%43%44%45", 4, out), SS_ERR_BAD_IDENTIFIER);

    /* the hard ceiling: a larger max is clamped to SS_ID_PART_MAX */
    char big[SS_ID_PART_MAX + 2];
    memset(big, 'b', sizeof big);
    big[SS_ID_PART_MAX] = '\0';
    assert_int_equal(ss_id_part_decode(big, SS_ID_PART_MAX, 10000, out), SS_OK);
    assert_int_equal(strlen(out), SS_ID_PART_MAX);
    big[SS_ID_PART_MAX] = 'b';
    big[SS_ID_PART_MAX + 1] = '\0';
    assert_int_equal(ss_id_part_decode(big, SS_ID_PART_MAX + 1, 10000, out), SS_ERR_BAD_IDENTIFIER);
}

static void test_decode_uses_only_len(void **state)
{
    (void)state;
    char out[SS_ID_PART_MAX + 1];
    /* only the first len bytes are looked at: the '/' after them does not matter */
    assert_int_equal(ss_id_part_decode("abc/def", 3, 255, out), SS_OK);
    assert_string_equal(out, "abc");
    /* an escape cut by len is truncated even though the bytes follow */
    assert_int_equal(ss_id_part_decode("a%41", 3, 255, out), SS_ERR_BAD_IDENTIFIER);
}

/* ---- ss_client_id_parse ---- */

static void test_client_parse_member_and_subsystem(void **state)
{
    (void)state;
    struct ss_client_id id;
    assert_int_equal(parse("DE-NORD/GOV/ima-sh", false, &id), SS_OK);
    assert_string_equal(id.instance, "DE-NORD");
    assert_string_equal(id.member_class, "GOV");
    assert_string_equal(id.member_code, "ima-sh");
    assert_string_equal(id.subsystem, "");

    memset(&id, 'z', sizeof id);
    assert_int_equal(parse("DE-NORD/MUN/13004000/melde", false, &id), SS_OK);
    assert_string_equal(id.instance, "DE-NORD");
    assert_string_equal(id.member_class, "MUN");
    assert_string_equal(id.member_code, "13004000");
    assert_string_equal(id.subsystem, "melde");

    /* parts are decoded one by one */
    assert_int_equal(parse("DE%2DNORD/GOV/%41bc/sub", true, &id), SS_OK);
    assert_string_equal(id.instance, "DE-NORD");
    assert_string_equal(id.member_code, "Abc");
}

static void test_client_parse_subsystem_required(void **state)
{
    (void)state;
    struct ss_client_id id;
    assert_int_equal(parse("DE-NORD/GOV/ima-sh", true, &id), SS_ERR_BAD_IDENTIFIER);
    assert_non_null(strstr(ss_errmsg(), "/SUBSYSTEM"));
    assert_int_equal(parse("DE-NORD/GOV/ima-sh/sub", true, &id), SS_OK);
    assert_string_equal(id.subsystem, "sub");
}

static void test_client_parse_wrong_part_count(void **state)
{
    (void)state;
    struct ss_client_id id;
    const char *bad[] = {"", "DE-NORD", "DE-NORD/GOV", "DE-NORD/GOV/a/b/c", "a/b/c/d/e/f"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(parse(bad[i], false, &id), SS_ERR_BAD_IDENTIFIER);
        assert_int_equal(parse(bad[i], true, &id), SS_ERR_BAD_IDENTIFIER);
    }
}

static void test_client_parse_empty_parts(void **state)
{
    (void)state;
    struct ss_client_id id;
    const char *bad[] = {"/GOV/a",           "DE-NORD//a", "DE-NORD/GOV/", "DE-NORD/GOV/a/",
                         "DE-NORD/GOV//sub", "//",         "///"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ss_errclear();
        assert_int_equal(parse(bad[i], false, &id), SS_ERR_BAD_IDENTIFIER);
    }
    assert_int_equal(parse("DE-NORD/GOV/a/", false, &id), SS_ERR_BAD_IDENTIFIER);
    assert_non_null(strstr(ss_errmsg(), "empty"));
}

static void test_client_parse_encoded_slash(void **state)
{
    (void)state;
    struct ss_client_id id;
    /* %2F would turn three parts into four if decoded before splitting */
    assert_int_equal(parse("DE-NORD/GOV/a%2Fsub", false, &id), SS_ERR_BAD_IDENTIFIER);
    assert_int_equal(parse("DE-NORD/GOV/a%2fb/c", false, &id), SS_ERR_BAD_IDENTIFIER);
    assert_int_equal(parse("DE-NORD/GOV/a/b%zz", false, &id), SS_ERR_BAD_IDENTIFIER);
    assert_int_equal(parse("DE-NORD/GOV/a/b c", false, &id), SS_ERR_BAD_IDENTIFIER);
}

static void test_client_parse_max(void **state)
{
    (void)state;
    struct ss_client_id id;
    const char *s = "DE-NORD/GOV/12345678/sub";
    assert_int_equal(ss_client_id_parse(s, strlen(s), 8, true, &id), SS_OK);
    assert_string_equal(id.member_code, "12345678");
    s = "DE-NORD/GOV/123456789/sub";
    assert_int_equal(ss_client_id_parse(s, strlen(s), 8, true, &id), SS_ERR_BAD_IDENTIFIER);
    /* every part is bounded, the instance too */
    s = "DE-NORD-XX/GOV/1/sub";
    assert_int_equal(ss_client_id_parse(s, strlen(s), 8, true, &id), SS_ERR_BAD_IDENTIFIER);
    /* len bounds the input: the same bytes cut after the member are three parts */
    s = "DE-NORD/GOV/1/sub";
    assert_int_equal(ss_client_id_parse(s, 13, 255, false, &id), SS_OK);
    assert_string_equal(id.member_code, "1");
    assert_string_equal(id.subsystem, "");
}

/* ---- ss_client_id_parse_local ---- */

static void test_server_parse(void **state)
{
    (void)state;
    struct ss_server_id id;
    const char *s = "DE-NORD/MUN/13004000/ss%2Dmv";
    assert_int_equal(ss_server_id_parse(s, strlen(s), SS_ID_PART_MAX, &id), SS_OK);
    assert_string_equal(id.owner.instance, "DE-NORD");
    assert_string_equal(id.owner.member_class, "MUN");
    assert_string_equal(id.owner.member_code, "13004000");
    assert_string_equal(id.owner.subsystem, "");
    assert_string_equal(id.code, "ss-mv");
    char buf[SS_ID_STR_MAX];
    assert_true(ss_server_id_format(&id, buf, sizeof buf));
    assert_string_equal(buf, "DE-NORD/MUN/13004000/ss-mv");
    assert_false(ss_server_id_format(&id, buf, 10));
    /* equal: the same owner and code; another instance, member or code is not */
    struct ss_server_id other = id;
    assert_true(ss_server_id_equal(&id, &other));
    snprintf(other.code, sizeof other.code, "ss-sh");
    assert_false(ss_server_id_equal(&id, &other));
    other = id;
    snprintf(other.owner.instance, sizeof other.owner.instance, "DE-SUED");
    assert_false(ss_server_id_equal(&id, &other));
    other = id;
    snprintf(other.owner.member_code, sizeof other.owner.member_code, "13003000");
    assert_false(ss_server_id_equal(&id, &other));
    /* exactly four parts, each a valid one */
    const char *bad[] = {"DE-NORD/MUN/13004000",
                         "DE-NORD/MUN/13004000/a/b",
                         "DE-NORD/MUN//a",
                         "DE-NORD/MUN/13004000/",
                         "DE-NORD/MUN/13004000/a%2Fb",
                         "DE-NORD/MUN/13004000/a b",
                         ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (ss_server_id_parse(bad[i], strlen(bad[i]), SS_ID_PART_MAX, &id) !=
            SS_ERR_BAD_IDENTIFIER)
            fail_msg("'%s' parsed as a security server identifier", bad[i]);
    }
    s = "DE-NORD/MUN/13004000";
    assert_int_equal(ss_server_id_parse(s, strlen(s), SS_ID_PART_MAX, &id), SS_ERR_BAD_IDENTIFIER);
    assert_non_null(strstr(ss_errmsg(), "INSTANCE/CLASS/MEMBER/SERVERCODE"));
    /* the configured limit holds for each part */
    s = "DE-NORD/MUN/13004000/123456789";
    assert_int_equal(ss_server_id_parse(s, strlen(s), 8, &id), SS_ERR_BAD_IDENTIFIER);
}

static void test_client_parse_local(void **state)
{
    (void)state;
    struct ss_client_id id;
    assert_int_equal(ss_client_id_parse_local("GOV/ima-sh", "DE-NORD", &id), SS_OK);
    assert_string_equal(id.instance, "DE-NORD");
    assert_string_equal(id.member_class, "GOV");
    assert_string_equal(id.member_code, "ima-sh");
    assert_string_equal(id.subsystem, "");
    assert_int_equal(ss_client_id_parse_local("MUN/13004000/melde", "DE-NORD", &id), SS_OK);
    assert_string_equal(id.subsystem, "melde");

    const char *bad[] = {"GOV",       "",        "GOV/",     "/x",    "GOV//s",
                         "GOV/a/b/c", "GOV/a b", "GOV/a%41", "GOV/a/"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(ss_client_id_parse_local(bad[i], "DE-NORD", &id), SS_ERR_BAD_IDENTIFIER);
    /* the instance is checked too */
    assert_int_equal(ss_client_id_parse_local("GOV/a", "", &id), SS_ERR_BAD_IDENTIFIER);
    assert_int_equal(ss_client_id_parse_local("GOV/a", "DE/NORD", &id), SS_ERR_BAD_IDENTIFIER);
}

/* ---- formatting ---- */

static void test_format(void **state)
{
    (void)state;
    struct ss_client_id id;
    char buf[SS_ID_STR_MAX];
    assert_int_equal(parse("DE-NORD/GOV/ima-sh", false, &id), SS_OK);
    assert_true(ss_client_id_format(&id, buf, sizeof buf));
    assert_string_equal(buf, "DE-NORD/GOV/ima-sh");
    assert_true(ss_client_id_format_local(&id, buf, sizeof buf));
    assert_string_equal(buf, "GOV/ima-sh");

    assert_int_equal(parse("DE-NORD/MUN/13004000/melde", false, &id), SS_OK);
    assert_true(ss_client_id_format(&id, buf, sizeof buf));
    assert_string_equal(buf, "DE-NORD/MUN/13004000/melde");
    assert_true(ss_client_id_format_local(&id, buf, sizeof buf));
    assert_string_equal(buf, "MUN/13004000/melde");

    /* format then parse gives the same identifier */
    struct ss_client_id back;
    assert_true(ss_client_id_format(&id, buf, sizeof buf));
    assert_int_equal(parse(buf, true, &back), SS_OK);
    assert_true(ss_client_id_equal(&id, &back));

    struct ss_service_id svc;
    memset(&svc, 0, sizeof svc);
    svc.provider = id;
    snprintf(svc.service_code, sizeof svc.service_code, "%s", "persons");
    assert_true(ss_service_id_format(&svc, buf, sizeof buf));
    assert_string_equal(buf, "DE-NORD/MUN/13004000/melde/persons");
    snprintf(svc.service_version, sizeof svc.service_version, "%s", "v2");
    assert_true(ss_service_id_format(&svc, buf, sizeof buf));
    assert_string_equal(buf, "DE-NORD/MUN/13004000/melde/persons/v2");
    /* a provider without subsystem */
    svc.provider.subsystem[0] = '\0';
    assert_true(ss_service_id_format(&svc, buf, sizeof buf));
    assert_string_equal(buf, "DE-NORD/MUN/13004000/persons/v2");
}

static void test_format_too_small(void **state)
{
    (void)state;
    struct ss_client_id id;
    char buf[32];
    assert_int_equal(parse("DE-NORD/GOV/ima-sh", false, &id), SS_OK);
    size_t need = strlen("DE-NORD/GOV/ima-sh");
    assert_true(ss_client_id_format(&id, buf, need + 1));
    assert_false(ss_client_id_format(&id, buf, need));
    assert_false(ss_client_id_format(&id, buf, 1));
    assert_false(ss_client_id_format_local(&id, buf, strlen("GOV/ima-sh")));
    assert_true(ss_client_id_format_local(&id, buf, strlen("GOV/ima-sh") + 1));

    struct ss_service_id svc;
    memset(&svc, 0, sizeof svc);
    svc.provider = id;
    snprintf(svc.service_code, sizeof svc.service_code, "%s", "s");
    assert_false(ss_service_id_format(&svc, buf, strlen("DE-NORD/GOV/ima-sh/s")));
    assert_true(ss_service_id_format(&svc, buf, strlen("DE-NORD/GOV/ima-sh/s") + 1));
}

/* ---- comparison ---- */

static void test_equal_and_same_member(void **state)
{
    (void)state;
    struct ss_client_id a, b, c, d, e;
    assert_int_equal(parse("DE-NORD/GOV/ima-sh/sub1", false, &a), SS_OK);
    assert_int_equal(parse("DE-NORD/GOV/ima-sh/sub1", false, &b), SS_OK);
    assert_int_equal(parse("DE-NORD/GOV/ima-sh/sub2", false, &c), SS_OK);
    assert_int_equal(parse("DE-NORD/GOV/ima-sh", false, &d), SS_OK);
    assert_int_equal(parse("DE-SUED/GOV/ima-sh/sub1", false, &e), SS_OK);
    assert_true(ss_client_id_equal(&a, &b));
    assert_false(ss_client_id_equal(&a, &c));
    assert_false(ss_client_id_equal(&a, &d));
    assert_false(ss_client_id_equal(&a, &e));
    assert_true(ss_client_id_same_member(&a, &c));
    assert_true(ss_client_id_same_member(&a, &d));
    assert_false(ss_client_id_same_member(&a, &e));

    struct ss_client_id f, g;
    assert_int_equal(parse("DE-NORD/MUN/ima-sh", false, &f), SS_OK);
    assert_int_equal(parse("DE-NORD/GOV/ima-SH", false, &g), SS_OK);
    assert_false(ss_client_id_same_member(&d, &f)); /* class differs */
    assert_false(ss_client_id_same_member(&d, &g)); /* comparison is case-sensitive */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_part_valid_charset),
        cmocka_unit_test(test_part_valid_length),
        cmocka_unit_test(test_decode_plain),
        cmocka_unit_test(test_decode_escapes),
        cmocka_unit_test(test_decode_refuses_encoded_forbidden),
        cmocka_unit_test(test_decode_malformed_escapes),
        cmocka_unit_test(test_decode_empty_and_length),
        cmocka_unit_test(test_decode_uses_only_len),
        cmocka_unit_test(test_client_parse_member_and_subsystem),
        cmocka_unit_test(test_client_parse_subsystem_required),
        cmocka_unit_test(test_client_parse_wrong_part_count),
        cmocka_unit_test(test_client_parse_empty_parts),
        cmocka_unit_test(test_client_parse_encoded_slash),
        cmocka_unit_test(test_client_parse_max),
        cmocka_unit_test(test_server_parse),
        cmocka_unit_test(test_client_parse_local),
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_too_small),
        cmocka_unit_test(test_equal_and_same_member),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
