/*
 * Unit tests of the header field list (secsrv/headers.c): order kept,
 * case-insensitive look-ups where the last field wins, counting, removal
 * with its byte accounting, and the count and size limits. The strict
 * rules of the door (secsrv/net/door.c): each refusal, and that requests
 * within the rules pass; the layout walk over a header section read in
 * place as libmicrohttpd 0.9 reads it (obs-fold, a NUL, a bare LF, a line
 * without a name). The budget for bodies in transit
 * (secsrv/net/budget.c): takes within the bound, refuses beyond it without
 * taking anything, and gives back.
 */
#include "budget.h"
#include "door.h"
#include "headers.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void test_add_keeps_order_and_copies(void **state)
{
    (void)state;
    struct ss_headers h;
    ss_headers_init(&h, 0, 0);
    char name[16] = "Accept";
    char value[16] = "text/plain";
    assert_int_equal(ss_headers_add(&h, name, value), SS_OK);
    assert_int_equal(ss_headers_add(&h, "X-One", "1"), SS_OK);
    assert_int_equal(ss_headers_add(&h, "X-Two", ""), SS_OK);
    /* the list holds copies: changing the caller's buffers changes nothing */
    memcpy(name, "Changed", 8);
    memcpy(value, "other", 6);
    assert_int_equal(h.n, 3);
    assert_string_equal(h.items[0].name, "Accept");
    assert_string_equal(h.items[0].value, "text/plain");
    assert_string_equal(h.items[1].name, "X-One");
    assert_string_equal(h.items[2].name, "X-Two");
    assert_string_equal(h.items[2].value, "");
    assert_int_equal(h.bytes, strlen("Accepttext/plainX-One1X-Two"));
    ss_headers_cleanup(&h);
    assert_int_equal(h.n, 0);
    assert_null(h.items);
    assert_int_equal(h.bytes, 0);
    /* cleanup twice is harmless */
    ss_headers_cleanup(&h);
}

static void test_addn_uses_lengths(void **state)
{
    (void)state;
    struct ss_headers h;
    ss_headers_init(&h, 0, 0);
    const char *line = "Content-Type: application/json\r\n";
    assert_int_equal(ss_headers_addn(&h, line, 12, line + 14, 16), SS_OK);
    assert_string_equal(h.items[0].name, "Content-Type");
    assert_string_equal(h.items[0].value, "application/json");
    assert_int_equal(h.bytes, 28);
    ss_headers_cleanup(&h);
}

static void test_get_last_wins_case_insensitive(void **state)
{
    (void)state;
    struct ss_headers h;
    ss_headers_init(&h, 0, 0);
    assert_null(ss_headers_get(&h, "Accept"));
    assert_int_equal(ss_headers_add(&h, "Accept", "a"), SS_OK);
    assert_int_equal(ss_headers_add(&h, "X-Other", "o"), SS_OK);
    assert_int_equal(ss_headers_add(&h, "ACCEPT", "b"), SS_OK);
    assert_string_equal(ss_headers_get(&h, "accept"), "b");
    assert_string_equal(ss_headers_get(&h, "Accept"), "b");
    assert_string_equal(ss_headers_get(&h, "x-other"), "o");
    assert_null(ss_headers_get(&h, "Accept-Language"));
    assert_null(ss_headers_get(&h, "Accep"));
    assert_null(ss_headers_get(&h, ""));
    ss_headers_cleanup(&h);
}

static void test_count(void **state)
{
    (void)state;
    struct ss_headers h;
    ss_headers_init(&h, 0, 0);
    assert_int_equal(ss_headers_count(&h, "Via"), 0);
    assert_int_equal(ss_headers_add(&h, "Via", "1"), SS_OK);
    assert_int_equal(ss_headers_add(&h, "Accept", "x"), SS_OK);
    assert_int_equal(ss_headers_add(&h, "via", "2"), SS_OK);
    assert_int_equal(ss_headers_add(&h, "VIA", "3"), SS_OK);
    assert_int_equal(ss_headers_count(&h, "Via"), 3);
    assert_int_equal(ss_headers_count(&h, "accept"), 1);
    assert_int_equal(ss_headers_count(&h, "Vi"), 0);
    ss_headers_cleanup(&h);
}

static void test_remove(void **state)
{
    (void)state;
    struct ss_headers h;
    ss_headers_init(&h, 0, 0);
    assert_int_equal(ss_headers_add(&h, "A", "1"), SS_OK);
    assert_int_equal(ss_headers_add(&h, "Cookie", "secret"), SS_OK);
    assert_int_equal(ss_headers_add(&h, "B", "22"), SS_OK);
    assert_int_equal(ss_headers_add(&h, "cookie", "more"), SS_OK);
    assert_int_equal(ss_headers_add(&h, "C", "333"), SS_OK);
    ss_headers_remove(&h, "COOKIE");
    assert_int_equal(h.n, 3);
    assert_null(ss_headers_get(&h, "Cookie"));
    /* the others stay, in order */
    assert_string_equal(h.items[0].name, "A");
    assert_string_equal(h.items[1].name, "B");
    assert_string_equal(h.items[2].name, "C");
    assert_string_equal(h.items[2].value, "333");
    assert_int_equal(h.bytes, strlen("A1B22C333"));
    /* removing what is not there changes nothing */
    ss_headers_remove(&h, "Cookie");
    assert_int_equal(h.n, 3);
    assert_int_equal(h.bytes, 9);
    /* the list is still usable after a removal */
    assert_int_equal(ss_headers_add(&h, "D", "4"), SS_OK);
    assert_int_equal(h.n, 4);
    assert_string_equal(ss_headers_get(&h, "d"), "4");
    ss_headers_cleanup(&h);
}

static void test_grows(void **state)
{
    (void)state;
    struct ss_headers h;
    ss_headers_init(&h, 0, 0);
    char name[16];
    for (int i = 0; i < 200; i++) {
        int r = snprintf(name, sizeof name, "X-F%d", i);
        assert_true(r > 0);
        assert_int_equal(ss_headers_add(&h, name, "v"), SS_OK);
    }
    assert_int_equal(h.n, 200);
    assert_string_equal(h.items[0].name, "X-F0");
    assert_string_equal(h.items[199].name, "X-F199");
    assert_string_equal(ss_headers_get(&h, "x-f150"), "v");
    ss_headers_cleanup(&h);
}

static void test_max_count(void **state)
{
    (void)state;
    struct ss_headers h;
    ss_headers_init(&h, 3, 0);
    assert_int_equal(ss_headers_add(&h, "A", "1"), SS_OK);
    assert_int_equal(ss_headers_add(&h, "B", "2"), SS_OK);
    assert_int_equal(ss_headers_add(&h, "C", "3"), SS_OK);
    assert_int_equal(ss_headers_add(&h, "D", "4"), SS_ERR_LIMIT);
    assert_non_null(strstr(ss_errmsg(), "more than 3"));
    assert_int_equal(h.n, 3);
    assert_null(ss_headers_get(&h, "D"));
    /* after a removal there is room again */
    ss_headers_remove(&h, "B");
    assert_int_equal(ss_headers_add(&h, "D", "4"), SS_OK);
    assert_int_equal(ss_headers_add(&h, "E", "5"), SS_ERR_LIMIT);
    ss_headers_cleanup(&h);
}

static void test_max_bytes(void **state)
{
    (void)state;
    struct ss_headers h;
    ss_headers_init(&h, 0, 10);
    assert_int_equal(ss_headers_add(&h, "Abc", "1234"), SS_OK);     /* 7 */
    assert_int_equal(ss_headers_add(&h, "X", "123"), SS_ERR_LIMIT); /* would be 11 */
    assert_non_null(strstr(ss_errmsg(), "10 bytes"));
    assert_int_equal(h.n, 1);
    assert_int_equal(h.bytes, 7);
    assert_int_equal(ss_headers_add(&h, "X", "12"), SS_OK); /* exactly 10 */
    assert_int_equal(h.bytes, 10);
    assert_int_equal(ss_headers_add(&h, "Y", ""), SS_ERR_LIMIT);
    /* removal gives the bytes back */
    ss_headers_remove(&h, "abc");
    assert_int_equal(h.bytes, 3);
    assert_int_equal(ss_headers_add(&h, "Abcd", "123"), SS_OK);
    assert_int_equal(h.bytes, 10);
    ss_headers_cleanup(&h);

    /* a single oversized field is refused on an empty list */
    ss_headers_init(&h, 0, 4);
    assert_int_equal(ss_headers_add(&h, "Long", "v"), SS_ERR_LIMIT);
    assert_int_equal(h.n, 0);
    ss_headers_cleanup(&h);
}

static void test_value_trim(void **state)
{
    (void)state;
    static const struct {
        const char *in, *out;
    } cases[] = {{"v", "v"},  {" v", "v"}, {"v \t", "v"},   {"\t a b \t", "a b"},
                 {"   ", ""}, {"", ""},    {"a\tb", "a\tb"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *v = cases[i].in;
        size_t n = strlen(v);
        ss_headers_value_trim(&v, &n);
        assert_int_equal(n, strlen(cases[i].out));
        assert_memory_equal(v, cases[i].out, n);
    }
}

static void test_content_length(void **state)
{
    (void)state;
    struct ss_headers h;
    uint64_t n = 7;
    ss_headers_init(&h, 0, 0);
    assert_false(ss_headers_content_length(&h, &n)); /* none */
    assert_int_equal(ss_headers_add(&h, "content-length", "1234"), SS_OK);
    assert_true(ss_headers_content_length(&h, &n));
    assert_int_equal(n, 1234);
    assert_int_equal(ss_headers_add(&h, "Content-Length", "1234"), SS_OK); /* the same again */
    assert_true(ss_headers_content_length(&h, &n));
    assert_int_equal(n, 1234);
    assert_int_equal(ss_headers_add(&h, "Content-Length", "12"), SS_OK); /* another */
    assert_false(ss_headers_content_length(&h, &n));
    ss_headers_cleanup(&h);
    static const char *const bad[] = {"", "+1", "1 ", "0x10", "-1"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ss_headers_init(&h, 0, 0);
        assert_int_equal(ss_headers_add(&h, "Content-Length", bad[i]), SS_OK);
        assert_false(ss_headers_content_length(&h, &n));
        ss_headers_cleanup(&h);
    }
    ss_headers_init(&h, 0, 0);
    assert_int_equal(ss_headers_add(&h, "Content-Length", "99999999999999999999999"), SS_OK);
    assert_true(ss_headers_content_length(&h, &n));
    assert_true(n == UINT64_MAX);
    ss_headers_cleanup(&h);
}

static void test_field_problem(void **state)
{
    (void)state;
    assert_null(ss_headers_field_problem("X-Road-Client", 13, "DE-NORD/GOV/A/B", 15));
    assert_null(ss_headers_field_problem("X-Tab", 5, "a\tb", 3));
    assert_null(ss_headers_field_problem("X-Empty", 7, "", 0));
    assert_null(
        ss_headers_field_problem("X-Utf8", 6, "M\xc3\xbcller", 7)); /* obs-text is allowed */
    assert_string_equal(ss_headers_field_problem("", 0, "v", 1), "a header field without a name");
    static const char *const names[] = {"X-Road-Client ", " X",   "X Y",   "X\tY",  "X:Y",
                                        "X(Y)",           "X\"Y", "X\x01", "X\x7f", "M\xc3\xbc"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        assert_string_equal(ss_headers_field_problem(names[i], strlen(names[i]), "v", 1),
                            "a header field name that is not a token");
    static const char values[][4] = {"a\rb", "a\nb", "a\x01b", "a\x7f", "\x1f"};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
        assert_string_equal(ss_headers_field_problem("X", 1, values[i], strlen(values[i])),
                            "a control character in a header field value");
    /* a NUL inside the given length */
    assert_string_equal(ss_headers_field_problem("X", 1, "a\0b", 3),
                        "a control character in a header field value");
}

/* The door's answer for method, target, version and fields "Name: value" (NULL ends them). */
static ss_error door_v(const char *method, const char *target, const char *version, ...)
{
    struct ss_headers h;
    ss_headers_init(&h, 0, 0);
    va_list ap;
    va_start(ap, version);
    for (const char *name; (name = va_arg(ap, const char *)) != NULL;)
        assert_int_equal(ss_headers_add(&h, name, va_arg(ap, const char *)), SS_OK);
    va_end(ap);
    ss_error err = ss_door_check(method, target, version, &h);
    ss_headers_cleanup(&h);
    return err;
}

/* The same for an HTTP/1.1 request. */
#define door(method, target, ...) door_v(method, target, "HTTP/1.1", __VA_ARGS__)

static void expect_refused(ss_error err, const char *why)
{
    assert_int_equal(err, SS_ERR_PROTOCOL);
    if (!strstr(ss_errmsg(), why))
        fail_msg("'%s' does not say '%s'", ss_errmsg(), why);
}

static void test_door_passes(void **state)
{
    (void)state;
    assert_int_equal(door("GET", "/r1/A/B/C/D/svc?q=1", "Host", "h", NULL), SS_OK);
    assert_int_equal(door("POST", "/x", "Host", "h", "Content-Length", "12", NULL), SS_OK);
    assert_int_equal(
        door("POST", "/x", "Host", "h", "Content-Length", "12", "content-length", "12", NULL),
        SS_OK); /* the same value twice */
    assert_int_equal(door("POST", "/x", "Host", "h", "Transfer-Encoding", "chunked", NULL), SS_OK);
    assert_int_equal(door("PATCH", "/x", "host", "h", "Transfer-Encoding", "Chunked", NULL), SS_OK);
    assert_int_equal(door("OPTIONS", "*", "Host", "h", NULL), SS_OK);
    assert_int_equal(door("OPTIONS", "/%00%20", "Host", "h", NULL),
                     SS_OK); /* escapes are the handler's */
    /* HTTP/1.0 needs no Host */
    assert_int_equal(door_v("POST", "/x", "HTTP/1.0", "Content-Length", "3", NULL), SS_OK);
    assert_int_equal(door_v("POST", "/x", NULL, "Host", "h", "Transfer-Encoding", "chunked", NULL),
                     SS_OK);
}

static void test_door_refusals(void **state)
{
    (void)state;
    expect_refused(door("CONNECT", "h:443", NULL), "method CONNECT is not allowed");
    expect_refused(door("TRACE", "/x", NULL), "method TRACE is not allowed");
    /* a token, but no method a service is called with: 501 (RFC 9110 9.1) */
    static const char *const unknown[] = {"get", "Delete", "M-SEARCH", "PROPFIND", "GETX", "FOO"};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        assert_int_equal(door(unknown[i], "/x", "Host", "h", NULL), SS_ERR_METHOD);
        assert_non_null(strstr(ss_errmsg(), "is not implemented"));
    }
    expect_refused(door("G(T", "/x", NULL), "not a token");
    expect_refused(door("", "/x", NULL), "not a token");
    expect_refused(door("GET", "", NULL), "target is empty");
    expect_refused(door("GET", "/a b", NULL), "control character or a blank");
    expect_refused(door("GET", "/x", NULL), "an HTTP/1.1 request without a Host field");
    expect_refused(door_v("GET", "/x", NULL, "X-Host", "h", NULL), "without a Host field");
    expect_refused(door("GET", "/a\tb", NULL), "control character or a blank");
    expect_refused(door("GET", "/a\x01", NULL), "control character or a blank");
    expect_refused(door_v("POST", "/x", "HTTP/1.0", "Transfer-Encoding", "chunked", NULL),
                   "Transfer-Encoding in an HTTP/1.0 request");
    expect_refused(door("GET", "/a\x7f", NULL), "control character or a blank");
    expect_refused(door("POST", "/x", "Content-Length", "3", "Transfer-Encoding", "chunked", NULL),
                   "both Content-Length and Transfer-Encoding");
    expect_refused(door("POST", "/x", "Transfer-Encoding", "chunked", "Content-Length", "0", NULL),
                   "both Content-Length and Transfer-Encoding");
    expect_refused(door("POST", "/x", "Content-Length", "3", "Content-Length", "4", NULL),
                   "Content-Length fields that differ");
    expect_refused(door("POST", "/x", "Content-Length", "3", "Content-Length", "03", NULL),
                   "Content-Length fields that differ");
    expect_refused(door("POST", "/x", "Content-Length", "3, 3", NULL), "not a number");
    expect_refused(door("POST", "/x", "Content-Length", "+3", NULL), "not a number");
    expect_refused(door("POST", "/x", "Content-Length", "", NULL), "not a number");
    expect_refused(door("POST", "/x", "Transfer-Encoding", "gzip, chunked", NULL),
                   "other than chunked");
    expect_refused(
        door("POST", "/x", "Transfer-Encoding", "chunked", "Transfer-Encoding", "chunked", NULL),
        "other than chunked");
    expect_refused(door("GET", "/x", "Host", "a", "Host", "b", NULL), "more than one Host");
    /* a Host is uri-host [":" port] (RFC 9112 3.2), or empty */
    const char *hosts[] = {"h",
                           "h:80",
                           "h:",
                           "127.0.0.1:5500",
                           "[::1]:8080",
                           "[v1.x]",
                           "[fe80::1%25eth0]:80",
                           "[2001:db8::7]",
                           "[::ffff:192.0.2.1]:1",
                           "[V7.a:b]",
                           "Register.Example.:443",
                           "xn--bcher-kva.example",
                           "a%41b",
                           "a-b_c~d!$&'()*+,;=",
                           ""};
    for (size_t i = 0; i < sizeof hosts / sizeof hosts[0]; i++)
        if (door("GET", "/x", "Host", hosts[i], NULL) != SS_OK)
            fail_msg("Host '%s' was refused: %s", hosts[i], ss_errmsg());
    const char *bad_hosts[] = {"a b",  "<x>", "u@a",    "a:99x", "a:b:c",
                               "[::1", "[]",  "[::1]x", "a%4",   "a%zz",
                               "a/b",  "a?b", "a#b",    "\"a\"", "[::1]:8 0",
                               "[zz]:1", "[g::1]", "[::1::2]", "[1.2.3.4]", "[v1.]",
                               "[vx.a]", "[fe80::1%eth0]", "[fe80::1%25]", "[::1]]"};
    for (size_t i = 0; i < sizeof bad_hosts / sizeof bad_hosts[0]; i++) {
        if (door("GET", "/x", "Host", bad_hosts[i], NULL) != SS_ERR_PROTOCOL)
            fail_msg("Host '%s' was not refused", bad_hosts[i]);
        assert_non_null(strstr(ss_errmsg(), "a Host field that is not a host and port"));
    }
}

/* ---- the layout walk ---- */

struct mhd_field {
    const char *name, *value;
    size_t name_len, value_len;
};

/*
 * The header section raw[0..len) read in place as libmicrohttpd 0.9 reads it
 * (the model the door's walk assumes): a line ends at LF, a CR before it
 * going too, each end becoming NUL; "name:" SP* value; a line that starts
 * with SP or HT appended to the previous NAME, moved to moved[]; a line
 * whose name is empty ends the fields. Returns the version string;
 * *size is the section's length up to the empty line's end.
 */
static const char *mhd_read(char *raw, size_t len, char *moved, struct mhd_field *f, size_t *n,
                            size_t *size)
{
    const char *version = NULL;
    *n = 0;
    *size = 0;
    for (char *p = raw; p < raw + len;) {
        char *lf = memchr(p, '\n', (size_t)(raw + len - p));
        assert_non_null(lf);
        *lf = '\0';
        if (lf > p && lf[-1] == '\r')
            lf[-1] = '\0';
        char *line = p;
        p = lf + 1;
        if (!version) {
            version = strrchr(line, ' ') + 1;
            continue;
        }
        if (!*line) {
            *size = (size_t)(p - raw); /* the empty line */
            break;
        }
        if (*line == ' ' || *line == '\t') {
            struct mhd_field *last = &f[*n - 1];
            while (*line == ' ' || *line == '\t')
                line++;
            snprintf(moved, 256, "%s%s", last->name, line);
            last->name = moved;
            last->name_len = strlen(moved);
            continue;
        }
        char *colon = strchr(line, ':');
        if (colon == line) {
            /* no name: no field from here on; the section ends at the empty line */
            char *end = strstr(p, "\r\n\r\n");
            *size = end ? (size_t)(end + 4 - raw) : len;
            break;
        }
        *colon = '\0';
        for (colon++; *colon == ' ' || *colon == '\t'; colon++)
            ;
        f[*n] = (struct mhd_field){line, colon, strlen(line), strlen(colon)};
        (*n)++;
    }
    return version;
}

/* The door's walk over raw's fields as read: NULL, or what it found wrong. */
static const char *layout(const char *text, size_t len)
{
    static char raw[512], moved[256];
    struct mhd_field f[16];
    size_t n = 0;
    assert_true(len < sizeof raw);
    memcpy(raw, text, len);
    size_t size = 0;
    const char *version = mhd_read(raw, len, moved, f, &n, &size), *at = NULL;
    const char *problem = ss_door_layout_start(version, &at);
    for (size_t i = 0; !problem && i < n; i++)
        problem = ss_door_layout_field(&at, f[i].name, f[i].name_len, f[i].value, f[i].value_len);
    return problem ? problem : ss_door_layout_end(at, raw, size);
}

#define LAYOUT(text) layout(text, sizeof text - 1)
#define NOT_END                                                                                    \
    "a header section that does not end where its fields do (a line without a name, or a bare LF)"

static void test_door_layout(void **state)
{
    (void)state;
    assert_null(LAYOUT("GET / HTTP/1.1\r\nHost: x\r\nX-A:\t 1 \r\nX-B:\r\nX-C:   \r\n\r\n"));
    assert_null(LAYOUT("GET / HTTP/1.1\r\n\r\n")); /* no fields */
    assert_string_equal(LAYOUT("GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  B\r\n\r\n"),
                        "a field line continued on the next line (obs-fold)");
    assert_string_equal(LAYOUT("GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\0B\r\n\r\n"),
                        "a NUL in a header field value, or a line not ended by CRLF");
    assert_string_equal(LAYOUT("GET / HTTP/1.1\r\nHost: x\nX-A: 1\r\n\r\n"),
                        "a NUL in a header field value, or a line not ended by CRLF");
    assert_string_equal(LAYOUT("GET / HTTP/1.1\nHost: x\r\n\r\n"),
                        "a NUL in a header field value, or a line not ended by CRLF");
    assert_string_equal(LAYOUT("GET / HTTP/1.1\r\nHost: x\r\n: v\r\nX-A: 1\r\n\r\n"), NOT_END);
    /* a bare LF on the last field line and the empty line, or on the empty line alone */
    assert_string_equal(LAYOUT("GET / HTTP/1.1\r\nHost: x\n\n"), NOT_END);
    assert_string_equal(LAYOUT("GET / HTTP/1.1\r\nHost: x\r\n\n"), NOT_END);
    /* a field handed over that does not begin where the line before ended */
    static char raw[] = "GET / HTTP/1.1\0\0Host\0 x\0\0X-A\0 1\0\0\0\0";
    const char *at = NULL;
    assert_null(ss_door_layout_start(raw + 6, &at));
    assert_string_equal(ss_door_layout_field(&at, raw + 25, 3, raw + 30, 1),
                        "a header line that is not a field (one without a name, say)");
}

/* The request line as libmicrohttpd 0.9 leaves it: method NUL target NUL version. */
static void test_door_layout_line(void **state)
{
    (void)state;
    static const char line[] = "GET\0/r1/x?a=1\0HTTP/1.1";
    assert_null(ss_door_layout_line(line, 9, line + 14));
    /* a blank more before the target: libmicrohttpd skipped it */
    static const char blanks[] = "GET\0 /r1/x\0HTTP/1.1";
    assert_non_null(ss_door_layout_line(blanks, 5, blanks + 11));
    assert_null(ss_door_layout_line(blanks, 6, blanks + 11)); /* what it spans, counted */
    /* a NUL in the target: the callback saw "/r1/x" only */
    static const char nul[] = "GET\0/r1/x\0?a&b\0HTTP/1.1";
    assert_string_equal(ss_door_layout_line(nul, 5, nul + 15),
                        "a request line with more than one blank between its parts, or a NUL "
                        "in its target");
    assert_non_null(ss_door_layout_line(line, 9, line)); /* a version before the target */
}

/* What ss_door_target makes of target, or the problem it names. */
static void expect_target(const char *target, const char *want, const char *problem)
{
    const char *why = NULL;
    char *got = ss_door_target(target, strlen(target), &why);
    if (problem) {
        assert_null(got);
        assert_non_null(why);
        assert_non_null(strstr(why, problem));
    } else {
        assert_null(why);
        assert_non_null(got);
        assert_string_equal(got, want);
    }
    free(got);
}

/* RFC 9112 3.2: the absolute-form is taken as its path and query; the rest as received. */
static void test_door_target(void **state)
{
    (void)state;
    expect_target("/r1/A/B/C/D/svc/x?a=1", "/r1/A/B/C/D/svc/x?a=1", NULL);
    expect_target("http://ss.example:8080/r1/A/B/C/D/svc/x?a=1", "/r1/A/B/C/D/svc/x?a=1", NULL);
    expect_target("HTTPS://[::1]:443/r1/x", "/r1/x", NULL);
    expect_target("http://ss.example", "/", NULL);
    expect_target("http://ss.example?wsdl", "/?wsdl", NULL);
    expect_target("http://ss.example/", "/", NULL);
    /* not the absolute-form: kept, for the checks after */
    expect_target("*", "*", NULL);
    expect_target("r1/x", "r1/x", NULL);
    expect_target("http:/r1/x", "http:/r1/x", NULL);
    expect_target("", "", NULL);
    expect_target("ftp://ss.example/r1/x", NULL, "scheme other than http or https");
    expect_target("httpx://ss.example/r1/x", NULL, "scheme other than http or https");
    expect_target("http:///r1/x", NULL, "without a host");
    expect_target("http://?x", NULL, "without a host");
    expect_target("http://user:pw@ss.example/r1/x", NULL, "user information");
    expect_target("http://ss.example#f/r1/x", NULL, "not a URI authority");
    expect_target("http://ss\\example/r1/x", NULL, "not a URI authority");
    expect_target("http://evil:abc/r1/x", NULL, "not a URI authority");
    expect_target("http://[zz]/r1/x", NULL, "not a URI authority");
    expect_target("http://[::1::2]:80/r1/x", NULL, "not a URI authority");
    expect_target("http://a%zz/r1/x", NULL, "not a URI authority");
    expect_target("http://ss.example:/r1/x", "/r1/x", NULL);
    expect_target("http://:80/r1/x", NULL, "not a URI authority");
    expect_target("http://:/r1/x", NULL, "not a URI authority");
    expect_target("http://[fe80::1%25eth0]:8080/r1/x", "/r1/x", NULL);
    /* a length, not the terminator, ends the target */
    const char *why = NULL;
    char *got = ss_door_target("http://h/r1/xyz", 13, &why);
    assert_non_null(got);
    assert_string_equal(got, "/r1/x");
    free(got);
}

static void test_budget(void **state)
{
    (void)state;
    ss_budget_init(1000);
    assert_int_equal(ss_budget_used(), 0);
    assert_true(ss_budget_take(600));
    assert_true(ss_budget_take(400));
    assert_false(ss_budget_take(1)); /* full */
    assert_int_equal(ss_budget_used(), 1000);
    ss_budget_give(400);
    assert_false(ss_budget_take(401));
    assert_int_equal(ss_budget_used(), 600);  /* a refusal takes nothing */
    assert_false(ss_budget_take((size_t)-1)); /* no wrap-around */
    assert_true(ss_budget_take(400));
    ss_budget_give(1000);
    assert_int_equal(ss_budget_used(), 0);
    ss_budget_init(0); /* no bound */
    assert_true(ss_budget_take((size_t)1 << 40));
    ss_budget_give((size_t)1 << 40);
    assert_int_equal(ss_budget_used(), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_add_keeps_order_and_copies),
        cmocka_unit_test(test_addn_uses_lengths),
        cmocka_unit_test(test_get_last_wins_case_insensitive),
        cmocka_unit_test(test_count),
        cmocka_unit_test(test_remove),
        cmocka_unit_test(test_grows),
        cmocka_unit_test(test_max_count),
        cmocka_unit_test(test_max_bytes),
        cmocka_unit_test(test_field_problem),
        cmocka_unit_test(test_content_length),
        cmocka_unit_test(test_value_trim),
        cmocka_unit_test(test_door_passes),
        cmocka_unit_test(test_door_refusals),
        cmocka_unit_test(test_door_layout),
        cmocka_unit_test(test_door_layout_line),
        cmocka_unit_test(test_door_target),
        cmocka_unit_test(test_budget),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
