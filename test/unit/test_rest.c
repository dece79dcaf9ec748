/*
 * Unit tests of the X-Road REST message protocol functions (secsrv/rest.c):
 * the request target parser and its refusals, which header fields pass end
 * to end, the purpose and subject checks, the request hash (with a
 * known-answer value computed here from the documented construction), the
 * form of an error answer (JSON, or XML for a client that accepts it) and
 * the UUID format.
 */
#include "rest.h"

#include <openssl/evp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static ss_error target(const char *t, struct ss_rest_target *out)
{
    return ss_rest_parse_target(t, strlen(t), SS_ID_PART_MAX, out);
}

/* Each of the n targets in bad is refused with code, and (says not NULL) the message says so. */
static void refused(const char *const *bad, size_t n, ss_error code, const char *says)
{
    struct ss_rest_target t;
    for (size_t i = 0; i < n; i++) {
        ss_errclear();
        assert_int_equal(target(bad[i], &t), code);
        if (says)
            assert_non_null(strstr(ss_errmsg(), says));
    }
}
#define REFUSED(bad, code, says) refused(bad, sizeof bad / sizeof bad[0], code, says)

/* ---- request target ---- */

static void test_target_full(void **state)
{
    (void)state;
    struct ss_rest_target t;
    const char *s = "/r1/DE-NORD/MUN/13004000/melde/persons/by-id/4711?fields=name&x=%2F";
    assert_int_equal(target(s, &t), SS_OK);
    assert_string_equal(t.service.provider.instance, "DE-NORD");
    assert_string_equal(t.service.provider.member_class, "MUN");
    assert_string_equal(t.service.provider.member_code, "13004000");
    assert_string_equal(t.service.provider.subsystem, "melde");
    assert_string_equal(t.service.service_code, "persons");
    assert_string_equal(t.service.service_version, "");
    assert_int_equal(t.path_len, strlen("/by-id/4711"));
    assert_memory_equal(t.path, "/by-id/4711", t.path_len);
    assert_int_equal(t.query_len, strlen("?fields=name&x=%2F"));
    assert_memory_equal(t.query, "?fields=name&x=%2F", t.query_len);
    /* path and query point into the target */
    assert_ptr_equal(t.path, s + strlen("/r1/DE-NORD/MUN/13004000/melde/persons"));
}

static void test_target_no_path(void **state)
{
    (void)state;
    struct ss_rest_target t;
    assert_int_equal(target("/r1/DE-NORD/GOV/ima-sh/sub/svc", &t), SS_OK);
    assert_string_equal(t.service.service_code, "svc");
    assert_int_equal(t.path_len, 0);
    assert_int_equal(t.query_len, 0);

    assert_int_equal(target("/r1/DE-NORD/GOV/ima-sh/sub/svc?q=1", &t), SS_OK);
    assert_string_equal(t.service.service_code, "svc");
    assert_int_equal(t.path_len, 0);
    assert_int_equal(t.query_len, 4);
    assert_memory_equal(t.query, "?q=1", 4);

    assert_int_equal(target("/r1/DE-NORD/GOV/ima-sh/sub/svc/", &t), SS_OK);
    assert_int_equal(t.path_len, 1);
    assert_memory_equal(t.path, "/", 1);

    /* a '?' in the path part ends the path; later '/' belong to the query */
    assert_int_equal(target("/r1/DE-NORD/GOV/ima-sh/sub/svc/a?b/c", &t), SS_OK);
    assert_int_equal(t.path_len, 2);
    assert_int_equal(t.query_len, 4);
}

static void test_target_decodes_parts(void **state)
{
    (void)state;
    struct ss_rest_target t;
    assert_int_equal(target("/r1/DE%2DNORD/GOV/%41bc/sub/svc", &t), SS_OK);
    assert_string_equal(t.service.provider.instance, "DE-NORD");
    assert_string_equal(t.service.provider.member_code, "Abc");
}

static void test_target_missing_parts(void **state)
{
    (void)state;
    struct ss_rest_target t;
    const char *bad[] = {
        "/r1/",
        "/r1/DE-NORD",
        "/r1/DE-NORD/",
        "/r1/DE-NORD/GOV/ima-sh",
        "/r1/DE-NORD/GOV/ima-sh/sub",
        "/r1/DE-NORD/GOV/ima-sh/sub/",
        "/r1/DE-NORD/GOV/ima-sh/sub?x",
        "/r1/DE-NORD//ima-sh/sub/svc",
        "/r1//GOV/ima-sh/sub/svc",
        "/r1/DE-NORD/GOV/ima-sh//svc",
        "/r1/DE-NORD/GOV/ima-sh/sub/?q",
    };
    REFUSED(bad, SS_ERR_BAD_IDENTIFIER, "missing");
    assert_int_equal(target("/r1/DE-NORD/GOV/ima-sh/sub", &t), SS_ERR_BAD_IDENTIFIER);
    assert_non_null(strstr(ss_errmsg(), "service code"));
    assert_int_equal(target("/r1/DE-NORD/GOV", &t), SS_ERR_BAD_IDENTIFIER);
    assert_non_null(strstr(ss_errmsg(), "member code"));
}

static void test_target_wrong_prefix(void **state)
{
    (void)state;
    const char *bad[] = {"/r2/DE-NORD/GOV/ima-sh/sub/svc",
                         "r1/DE-NORD/GOV/ima-sh/sub/svc",
                         "/R1/DE-NORD/GOV/ima-sh/sub/svc",
                         "/r1",
                         "/r1DE-NORD/GOV/a/b/c",
                         "",
                         "/",
                         "http://h/r1/DE-NORD/GOV/ima-sh/sub/svc"};
    REFUSED(bad, SS_ERR_PROTOCOL, "/r1/");
}

static void test_target_encoded_slash(void **state)
{
    (void)state;
    struct ss_rest_target t;
    const char *bad[] = {"/r1/DE-NORD/GOV/ima%2Fsh/sub/svc",   "/r1/DE-NORD/GOV/ima-sh/s%2fub/svc",
                         "/r1/DE-NORD%2FGOV/ima-sh/sub/svc/x", "/r1/DE-NORD/GOV/ima-sh/sub/s%2Fvc",
                         "/r1/DE-NORD/GOV/ima-sh/sub/s%zzvc",  "/r1/DE-NORD/GOV/ima-sh/sub/sv%",
                         "/r1/DE-NORD/GOV/ima_sh/sub/svc"};
    REFUSED(bad, SS_ERR_BAD_IDENTIFIER, NULL);
    /* an encoded slash in the path after the service is the backend's business */
    assert_int_equal(target("/r1/DE-NORD/GOV/ima-sh/sub/svc/a%2Fb", &t), SS_OK);
    assert_int_equal(t.path_len, 6);
}

static void test_target_control_chars(void **state)
{
    (void)state;
    struct ss_rest_target t;
    const char *bad[] = {
        "/r1/DE-NORD/GOV/ima-sh/sub/svc/a b",          "/r1/DE-NORD/GOV/ima-sh/sub/svc?a=\tb",
        "/r1/DE-NORD/GOV/ima-sh/sub/svc\r\nX-Evil: 1", "/r1/DE-NORD/GOV/ima-sh/sub/svc/\x7f",
        "/r1/DE-NORD/GOV/ima-sh/sub/svc/\xc3\xa4",     "/r1/DE-NORD/GOV/ima-sh/sub/svc#frag"};
    REFUSED(bad, SS_ERR_PROTOCOL, "character");
    /* what a URI holds only percent-encoded */
    const char *unescaped[] = {"/r1/DE-NORD/GOV/ima-sh/sub/svc/a\"b",
                               "/r1/DE-NORD/GOV/ima-sh/sub/svc/<script>",
                               "/r1/DE-NORD/GOV/ima-sh/sub/svc?q=a>b",
                               "/r1/DE-NORD/GOV/ima-sh/sub/svc?q=\"x\"",
                               "/r1/DE-NORD/GOV/ima-sh/sub/svc/{id}",
                               "/r1/DE-NORD/GOV/ima-sh/sub/svc/a`b",
                               "/r1/DE-NORD/GOV/ima-sh/sub/s}vc"};
    REFUSED(unescaped, SS_ERR_PROTOCOL, "unescaped (send it as %");
    /* ... and what URL clients send as it is: the service decides */
    const char *sent[] = {"/r1/DE-NORD/GOV/ima-sh/sub/svc/a|b^c[0]",
                          "/r1/DE-NORD/GOV/ima-sh/sub/svc?f={a}&g=`b`&h=a|b&i[]=1",
                          "/r1/DE-NORD/GOV/ima-sh/sub/svc/%22%3C%3E%7B%7D%60"};
    for (size_t i = 0; i < sizeof sent / sizeof sent[0]; i++)
        assert_int_equal(target(sent[i], &t), SS_OK);
    /* an embedded NUL within the given length */
    const char nul[] = "/r1/DE-NORD/GOV/ima-sh/sub/svc/a\0b";
    assert_int_equal(ss_rest_parse_target(nul, sizeof nul - 1, 255, &t), SS_ERR_PROTOCOL);
}

static void test_target_max_id(void **state)
{
    (void)state;
    struct ss_rest_target t;
    const char *s = "/r1/DE-NORD/GOV/12345678/sub/svc";
    assert_int_equal(ss_rest_parse_target(s, strlen(s), 8, &t), SS_OK);
    s = "/r1/DE-NORD/GOV/123456789/sub/svc";
    assert_int_equal(ss_rest_parse_target(s, strlen(s), 8, &t), SS_ERR_BAD_IDENTIFIER);
    assert_non_null(strstr(ss_errmsg(), "member code"));
    s = "/r1/DE-NORD/GOV/1234/sub/service-x";
    assert_int_equal(ss_rest_parse_target(s, strlen(s), 8, &t), SS_ERR_BAD_IDENTIFIER);
    assert_non_null(strstr(ss_errmsg(), "service code"));
    /* the path after the service is not an identifier and is not bounded by max_id */
    s = "/r1/DE-NORD/GOV/1234/sub/svc/a-very-long-path-segment";
    assert_int_equal(ss_rest_parse_target(s, strlen(s), 8, &t), SS_OK);
}

/* ---- header fields ---- */

static void test_header_filtered_reserved(void **state)
{
    (void)state;
    const char *filtered[] = {
        "Connection", "keep-alive", "Proxy-Authorization", "TE",     "Transfer-Encoding",
        "Upgrade",    "HOST",       "User-Agent",          "server", "Content-Length",
        "Trailer",    "Expect"};
    for (size_t i = 0; i < sizeof filtered / sizeof filtered[0]; i++)
        assert_true(ss_rest_header_filtered(filtered[i]));
    const char *passed[] = {"Accept",
                            "Content-Type",
                            "X-Secsrv-Purpose",
                            "X-Road-Client",
                            "Authorization",
                            "Hosts",
                            "Hos",
                            "",
                            "Cookie"};
    for (size_t i = 0; i < sizeof passed / sizeof passed[0]; i++)
        assert_false(ss_rest_header_filtered(passed[i]));

    const char *reserved[] = {"X-Road-Client", "x-road-service", "X-Road-Request-Id",
                              "X-ROAD-REQUEST-HASH", "X-Road-Error"};
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        assert_true(ss_rest_header_reserved(reserved[i]));
    const char *unreserved[] = {"X-Road", "X-Road-Clients", "Accept", "X-Secsrv-Subject", ""};
    for (size_t i = 0; i < sizeof unreserved / sizeof unreserved[0]; i++)
        assert_false(ss_rest_header_reserved(unreserved[i]));
}

static void test_copy_end_to_end(void **state)
{
    (void)state;
    struct ss_headers in, out;
    ss_headers_init(&in, 0, 0);
    ss_headers_init(&out, 0, 0);
    const char *fields[][2] = {
        {"Host", "ss.example"},
        {"Accept", "application/json"},
        {"Connection", "keep-alive, X-Hop, x-other-hop"},
        {"User-Agent", "curl/8"},
        {"X-Hop", "drop me"},
        {"Server", "x"},
        {"X-Road-Request-Hash", "forged"},
        {"X-Road-Client", "DE-NORD/GOV/x/y"},
        {"Transfer-Encoding", "chunked"},
        {"X-Secsrv-Purpose", "melde.auskunft"},
        {"X-Other-Hop", "drop me too"},
        {"Keep-Alive", "timeout=5"},
        {"X-Hopper", "kept: only a prefix of a listed name"},
        {"Content-Type", "application/json"},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        assert_int_equal(ss_headers_add(&in, fields[i][0], fields[i][1]), SS_OK);
    assert_int_equal(ss_rest_copy_end_to_end(&in, &out), SS_OK);
    assert_int_equal(out.n, 4);
    assert_string_equal(out.items[0].name, "Accept");
    assert_string_equal(out.items[1].name, "X-Secsrv-Purpose");
    assert_string_equal(out.items[1].value, "melde.auskunft");
    assert_string_equal(out.items[2].name, "X-Hopper");
    assert_string_equal(out.items[3].name, "Content-Type");
    ss_headers_cleanup(&out);

    /* without a Connection field nothing extra is dropped */
    ss_headers_remove(&in, "Connection");
    ss_headers_init(&out, 0, 0);
    assert_int_equal(ss_rest_copy_end_to_end(&in, &out), SS_OK);
    assert_int_equal(out.n, 6);
    assert_string_equal(ss_headers_get(&out, "X-Hop"), "drop me");
    ss_headers_cleanup(&out);

    /* the output list's limits hold */
    ss_headers_init(&out, 2, 0);
    assert_int_equal(ss_rest_copy_end_to_end(&in, &out), SS_ERR_LIMIT);
    ss_headers_cleanup(&out);
    ss_headers_cleanup(&in);
}

/* ---- purpose and subject ---- */

static void test_purpose(void **state)
{
    (void)state;
    assert_int_equal(ss_rest_check_purpose("melde.auskunft"), SS_OK);
    assert_int_equal(ss_rest_check_purpose("BMG:34/1_a-b"), SS_OK);
    char p[SS_PURPOSE_MAX + 2];
    memset(p, 'p', sizeof p);
    p[SS_PURPOSE_MAX] = '\0';
    assert_int_equal(ss_rest_check_purpose(p), SS_OK);
    p[SS_PURPOSE_MAX] = 'p';
    p[SS_PURPOSE_MAX + 1] = '\0';
    assert_int_equal(ss_rest_check_purpose(p), SS_ERR_BAD_HEADER);
    assert_int_equal(ss_rest_check_purpose(""), SS_ERR_BAD_HEADER);
    const char *bad[] = {"a b", "a\tb", "a;b", "a,b", "\xc3\xa4", "a\r\nb", "a?b", "a%20"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ss_errclear();
        assert_int_equal(ss_rest_check_purpose(bad[i]), SS_ERR_BAD_HEADER);
        assert_non_null(strstr(ss_errmsg(), SS_HDR_PURPOSE));
    }
}

static void test_subject(void **state)
{
    (void)state;
    assert_int_equal(ss_rest_check_subject("person:4711"), SS_OK);
    assert_int_equal(ss_rest_check_subject("!~{}\"'"), SS_OK);
    char s[SS_SUBJECT_MAX + 2];
    memset(s, 's', sizeof s);
    s[SS_SUBJECT_MAX] = '\0';
    assert_int_equal(ss_rest_check_subject(s), SS_OK);
    s[SS_SUBJECT_MAX] = 's';
    s[SS_SUBJECT_MAX + 1] = '\0';
    assert_int_equal(ss_rest_check_subject(s), SS_ERR_BAD_HEADER);
    assert_int_equal(ss_rest_check_subject(""), SS_ERR_BAD_HEADER);
    const char *bad[] = {"a b", "a\tb", "\x7f", "\xc3\xa4", "a\nb"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(ss_rest_check_subject(bad[i]), SS_ERR_BAD_HEADER);
}

/* One field beside an X-Road-Client: SS_OK or the refusal. */
static ss_error check_with(const char *name, const char *value)
{
    struct ss_headers h;
    ss_headers_init(&h, 0, 0);
    assert_int_equal(ss_headers_add(&h, "X-Road-Client", "DE-NORD/GOV/A/B"), SS_OK);
    assert_int_equal(ss_headers_add(&h, name, value), SS_OK);
    ss_error err = ss_rest_check_fields(&h);
    ss_headers_cleanup(&h);
    return err;
}

/* Fields that would let what is checked differ from what is forwarded. */
static void test_check_fields(void **state)
{
    (void)state;
    const char *twins[][2] = {{"X-Road-Client", "DE-NORD/GOV/C/D"},
                              {"X_Road_Client", "DE-NORD/GOV/C/D"},
                              {"x-secsrv_purpose", "BMG-99"},
                              {"Content_Length", "5"},
                              {"transfer_encoding", "chunked"},
                              {"Content_Length_", "5"}, /* no twin of a framing field */
                              {"Content_Type", "x"},    /* not one that frames */
                              {"Connection", "close, X-Road-Client"}};
    const ss_error want[] = {SS_ERR_BAD_HEADER,
                             SS_ERR_BAD_HEADER,
                             SS_ERR_BAD_HEADER,
                             SS_ERR_BAD_HEADER,
                             SS_ERR_BAD_HEADER,
                             SS_OK,
                             SS_OK,
                             SS_ERR_BAD_HEADER};
    for (size_t i = 0; i < sizeof twins / sizeof twins[0]; i++)
        if (check_with(twins[i][0], twins[i][1]) != want[i])
            fail_msg("%s: %s: expected %d", twins[i][0], twins[i][1], want[i]);
    assert_int_equal(check_with("Content_Length", "5"), SS_ERR_BAD_HEADER);
    assert_non_null(strstr(ss_errmsg(), "a twin in '_' of a field that frames the request"));
    assert_int_equal(check_with("X_Custom_Field", "v"), SS_OK);
    assert_int_equal(check_with("Content_Type_Extra", "v"), SS_OK);
}

/* X-Road-Represented-Party: [CLASS/]CODE (PR-REST 4.3) */
static void test_represented_party(void **state)
{
    (void)state;
    const char *good[] = {"COM/UNKNOWN", "12345", "GOV/MIKWS-SH", "MUN/13004000", "COM/%41BC"};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (ss_rest_check_represented_party(good[i]) != SS_OK)
            fail_msg("'%s' was refused: %s", good[i], ss_errmsg());
    const char *bad[] = {"a/b/c", "", "/b", "a/", "/", "a b", "a/%2Fb", "a/%zz", "a\x01"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (ss_rest_check_represented_party(bad[i]) != SS_ERR_BAD_HEADER)
            fail_msg("'%s' was not refused", bad[i]);
        assert_non_null(strstr(ss_errmsg(), "X-Road-Represented-Party must be [CLASS/]CODE"));
    }
    char long_part[SS_ID_PART_MAX + 3];
    memset(long_part, 'c', sizeof long_part - 1);
    long_part[sizeof long_part - 1] = '\0';
    assert_int_equal(ss_rest_check_represented_party(long_part), SS_ERR_BAD_HEADER);
}

/* ---- request hash ---- */

static void hash_of(const char *method, const char *tgt, const char *const (*fields)[2], size_t n,
                    const char *body, char out[SS_REQUEST_HASH_B64])
{
    struct ss_headers h;
    ss_headers_init(&h, 0, 0);
    for (size_t i = 0; i < n; i++)
        assert_int_equal(ss_headers_add(&h, fields[i][0], fields[i][1]), SS_OK);
    ss_rest_request_hash(method, tgt, &h, (const uint8_t *)body, body ? strlen(body) : 0, out);
    ss_headers_cleanup(&h);
}

#define T1 "/r1/DE-NORD/MUN/13004000/melde/persons?id=4711"

static void test_request_hash_deterministic_and_sensitive(void **state)
{
    (void)state;
    const char *const base[][2] = {{"Accept", "application/json"},
                                   {"X-Secsrv-Purpose", "melde.auskunft"}};
    char h0[SS_REQUEST_HASH_B64], h1[SS_REQUEST_HASH_B64];
    hash_of("POST", T1, base, 2, "{\"a\":1}", h0);
    assert_int_equal(strlen(h0), 88);
    hash_of("POST", T1, base, 2, "{\"a\":1}", h1);
    assert_string_equal(h0, h1);

    /* a header value */
    const char *const v2[][2] = {{"Accept", "application/json"},
                                 {"X-Secsrv-Purpose", "melde.auskunfT"}};
    hash_of("POST", T1, v2, 2, "{\"a\":1}", h1);
    assert_string_not_equal(h0, h1);
    /* the body */
    hash_of("POST", T1, base, 2, "{\"a\":2}", h1);
    assert_string_not_equal(h0, h1);
    /* no body */
    hash_of("POST", T1, base, 2, NULL, h1);
    assert_string_not_equal(h0, h1);
    /* the method */
    hash_of("PUT", T1, base, 2, "{\"a\":1}", h1);
    assert_string_not_equal(h0, h1);
    /* the target */
    hash_of("POST", T1 "2", base, 2, "{\"a\":1}", h1);
    assert_string_not_equal(h0, h1);
    /* a field added */
    const char *const more[][2] = {{"Accept", "application/json"},
                                   {"X-Secsrv-Purpose", "melde.auskunft"},
                                   {"X-Secsrv-Subject", "p:1"}};
    hash_of("POST", T1, more, 3, "{\"a\":1}", h1);
    assert_string_not_equal(h0, h1);
    /* the order of fields */
    const char *const swapped[][2] = {{"X-Secsrv-Purpose", "melde.auskunft"},
                                      {"Accept", "application/json"}};
    hash_of("POST", T1, swapped, 2, "{\"a\":1}", h1);
    assert_string_not_equal(h0, h1);
}

static void test_request_hash_name_case_and_filtered(void **state)
{
    (void)state;
    const char *const base[][2] = {{"Accept", "application/json"},
                                   {"X-Secsrv-Purpose", "melde.auskunft"}};
    char h0[SS_REQUEST_HASH_B64], h1[SS_REQUEST_HASH_B64];
    hash_of("GET", T1, base, 2, NULL, h0);

    const char *const upper[][2] = {{"ACCEPT", "application/json"},
                                    {"x-secsrv-purpose", "melde.auskunft"}};
    hash_of("GET", T1, upper, 2, NULL, h1);
    assert_string_equal(h0, h1);

    /* value case does matter */
    const char *const value_case[][2] = {{"Accept", "Application/json"},
                                         {"X-Secsrv-Purpose", "melde.auskunft"}};
    hash_of("GET", T1, value_case, 2, NULL, h1);
    assert_string_not_equal(h0, h1);

    const char *const with_hop[][2] = {{"Host", "ss-sh-kiel:8443"},
                                       {"Accept", "application/json"},
                                       {"Content-Length", "0"},
                                       {"Connection", "close"},
                                       {"User-Agent", "x"},
                                       {"X-Secsrv-Purpose", "melde.auskunft"},
                                       {"Transfer-Encoding", "chunked"}};
    hash_of("GET", T1, with_hop, 7, NULL, h1);
    assert_string_equal(h0, h1);
}

static void b64(const unsigned char *in, size_t n, char *out)
{
    int r = EVP_EncodeBlock((unsigned char *)out, in, (int)n);
    assert_true(r > 0);
}

static void test_request_hash_known_answer(void **state)
{
    (void)state;
    const char *const fields[][2] = {{"Host", "provider:8443"},
                                     {"Accept", "application/json"},
                                     {"X-Secsrv-Purpose", "melde.auskunft"}};
    const char *body = "{\"id\":4711}";
    const char *headers = "POST " T1 "\r\n"
                          "accept: application/json\r\n"
                          "x-secsrv-purpose: melde.auskunft\r\n";
    unsigned char hh[64], hb[64], both[128], hf[64];
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(headers, strlen(headers), hh, &n, EVP_sha512(), NULL), 1);
    assert_int_equal(n, 64);
    assert_int_equal(EVP_Digest(body, strlen(body), hb, &n, EVP_sha512(), NULL), 1);
    memcpy(both, hh, 64);
    memcpy(both + 64, hb, 64);
    assert_int_equal(EVP_Digest(both, sizeof both, hf, &n, EVP_sha512(), NULL), 1);

    char want[SS_REQUEST_HASH_B64], got[SS_REQUEST_HASH_B64];
    b64(hf, 64, want);
    hash_of("POST", T1, fields, 3, body, got);
    assert_string_equal(got, want);

    /* without a body: base64(SHA-512(headers)) */
    b64(hh, 64, want);
    hash_of("POST", T1, fields, 3, NULL, got);
    assert_string_equal(got, want);
}

/* ---- UUID ---- */

static bool is_lower_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/* ---- the form of an error answer (PR-REST 4.6) ---- */

/* A request's fields: an Accept field, and a second one, each when given. */
static void accept_fields(struct ss_headers *h, const char *accept, const char *second)
{
    ss_headers_init(h, 0, 0);
    if (accept)
        assert_int_equal(ss_headers_add(h, "Accept", accept), SS_OK);
    if (second)
        assert_int_equal(ss_headers_add(h, "accept", second), SS_OK);
}

static const char *media_for(const char *accept, const char *second)
{
    struct ss_headers h;
    accept_fields(&h, accept, second);
    const char *m = ss_rest_error_media(&h);
    ss_headers_cleanup(&h);
    return m;
}

static void test_error_media(void **state)
{
    (void)state;
    assert_null(media_for(NULL, NULL));
    assert_null(media_for("application/json", NULL));
    assert_null(media_for("*/*", NULL));
    assert_null(media_for("application/*", NULL));
    assert_null(media_for("application/xhtml+xml, text/html", NULL));
    assert_null(media_for("text/xmlx", NULL));
    assert_string_equal(media_for("application/xml", NULL), "application/xml");
    assert_string_equal(media_for("Text/XML; charset=utf-8", NULL), "text/xml");
    assert_string_equal(media_for("text/*", NULL), "text/xml");
    assert_string_equal(media_for("text/html, text/*;q=0.5", NULL), "text/xml");
    /* the heaviest form wins (RFC 9110 12.5.1) */
    assert_null(media_for("application/json, text/*;q=0.5", NULL));
    assert_null(media_for("application/json;q=1.0, application/xml;q=0.5", NULL));
    assert_null(media_for("application/xml;q=0.9, application/json", NULL));
    assert_string_equal(media_for("application/json;q=0.5, application/xml;q=0.9", NULL),
                        "application/xml");
    assert_string_equal(media_for("application/json;q=0.5, */*;q=0.1", "text/xml;q=0.501"),
                        "text/xml");
    /* of equal weights the form named first, then JSON */
    assert_null(media_for("application/json", " application/xml "));
    assert_string_equal(media_for("application/xml", "application/json"), "application/xml");
    assert_string_equal(media_for("text/xml, application/xml", NULL), "text/xml");
    assert_null(media_for("*/*, application/*", NULL));
    assert_string_equal(media_for("*/*, text/*", NULL), "text/xml");
    /* q=0: not acceptable; nothing acceptable answers JSON */
    assert_null(media_for("application/xml;q=0", NULL));
    assert_null(media_for("text/xml; q=0.000, application/json", NULL));
    assert_string_equal(media_for("text/xml;q=0.01", NULL), "text/xml");
    assert_string_equal(media_for("text/xml;level=1;q=0.5", NULL), "text/xml");
    assert_string_equal(media_for("text/xml;Q=1.000", NULL), "text/xml");
    /* the more specific range decides: text/xml refused, the range of all text does not bring it
     * back */
    assert_null(media_for("text/xml;q=0, text/*", NULL));
    assert_null(media_for("text/*", "text/xml; q=0"));
    assert_string_equal(media_for("text/xml;q=0, text/*, application/xml", NULL),
                        "application/xml");
    assert_string_equal(media_for("*/*;q=0.1, application/json;q=0", NULL), "application/xml");
    /* a weight that is not a qvalue leaves its range out */
    assert_null(media_for("application/xml;q=2", NULL));
    assert_null(media_for("application/xml;q=0.1234", NULL));
    assert_null(media_for("application/xml;q=", NULL));
    assert_null(media_for("application/xml;q=1.5", NULL));
    assert_null(media_for("application/xml;q=.5", NULL));
    assert_string_equal(media_for("application/xml;q=x, text/xml", NULL), "text/xml");
}

/* the same negotiation with XML the default, as listClients answers (pr-mrest) */
static int list_form(const char *accept)
{
    static const char *const forms[] = {"text/xml", "application/json"};
    struct ss_headers h;
    accept_fields(&h, accept, NULL);
    int k = ss_rest_accept(&h, forms, 2);
    ss_headers_cleanup(&h);
    return k;
}

static void test_accept_default_first(void **state)
{
    (void)state;
    assert_int_equal(list_form("application/json"), 1);
    assert_int_equal(list_form("application/*"), 1);
    assert_int_equal(list_form("*/*"), 0);
    assert_int_equal(list_form("application/xml"), 0);
    assert_int_equal(list_form("application/json;q=0"), 0);
    assert_int_equal(list_form("application/json;q=0.2, text/xml"), 0);
    assert_int_equal(list_form("text/xml;q=0.2, application/json;q=0.3"), 1);
}

static void test_error_xml(void **state)
{
    (void)state;
    char *doc = NULL;
    size_t len = 0;
    assert_int_equal(ss_rest_error_xml("Client.BadRequest", "a <b> & \"c\"",
                                       "0b8c3f5e-8a63-4a59-9a5c-3a0b7b6d9f11", &doc, &len),
                     SS_OK);
    assert_int_equal(strlen(doc), len);
    assert_string_equal(doc, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                             "<error><type>Client.BadRequest</type>"
                             "<message>a &lt;b&gt; &amp; &quot;c&quot;</message>"
                             "<detail>0b8c3f5e-8a63-4a59-9a5c-3a0b7b6d9f11</detail></error>\n");
    free(doc);
}

static void test_uuid(void **state)
{
    (void)state;
    char a[37], b[37];
    for (int round = 0; round < 64; round++) {
        memset(a, 'Z', sizeof a);
        ss_rest_uuid(a);
        assert_int_equal(strlen(a), 36);
        for (int i = 0; i < 36; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23)
                assert_int_equal(a[i], '-');
            else
                assert_true(is_lower_hex(a[i]));
        }
        assert_int_equal(a[14], '4');
        assert_non_null(strchr("89ab", a[19]));
    }
    ss_rest_uuid(b);
    assert_string_not_equal(a, b);
}

/* query parameters come percent-decoded; a malformed escape or a NUL gives "" and false */
static void test_query_param(void **state)
{
    (void)state;
    char out[32];
    static const char q[] = "?serviceCode=%6Deldeauskunft&x=a+b%2Fc&bad=%zz&cut=ab%4&nul=a%00b";
    size_t n = strlen(q);
    assert_true(ss_rest_query_param(q, n, "serviceCode", out, sizeof out));
    assert_string_equal(out, "meldeauskunft");
    assert_true(ss_rest_query_param(q, n, "x", out, sizeof out));
    assert_string_equal(out, "a+b/c");
    assert_true(ss_rest_query_param(q, n, "absent", out, sizeof out));
    assert_string_equal(out, "");
    assert_false(ss_rest_query_param(q, n, "bad", out, sizeof out));
    assert_string_equal(out, "");
    assert_false(ss_rest_query_param(q, n, "cut", out, sizeof out));
    assert_false(ss_rest_query_param(q, n, "nul", out, sizeof out));
    assert_false(ss_rest_query_param(q, n, "serviceCode", out, 5)); /* does not fit */
    assert_string_equal(out, "");
    assert_true(ss_rest_query_param("", 0, "x", out, sizeof out));
    assert_string_equal(out, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_query_param),
        cmocka_unit_test(test_target_full),
        cmocka_unit_test(test_target_no_path),
        cmocka_unit_test(test_target_decodes_parts),
        cmocka_unit_test(test_target_missing_parts),
        cmocka_unit_test(test_target_wrong_prefix),
        cmocka_unit_test(test_target_encoded_slash),
        cmocka_unit_test(test_target_control_chars),
        cmocka_unit_test(test_target_max_id),
        cmocka_unit_test(test_header_filtered_reserved),
        cmocka_unit_test(test_copy_end_to_end),
        cmocka_unit_test(test_purpose),
        cmocka_unit_test(test_subject),
        cmocka_unit_test(test_represented_party),
        cmocka_unit_test(test_check_fields),
        cmocka_unit_test(test_request_hash_deterministic_and_sensitive),
        cmocka_unit_test(test_request_hash_name_case_and_filtered),
        cmocka_unit_test(test_request_hash_known_answer),
        cmocka_unit_test(test_error_media),
        cmocka_unit_test(test_accept_default_first),
        cmocka_unit_test(test_error_xml),
        cmocka_unit_test(test_uuid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
