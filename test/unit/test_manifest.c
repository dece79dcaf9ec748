/*
 * Unit tests of manifests (secsrv/msglog/manifest.c): request and response
 * manifests format to the documented text and parse back to the same
 * fields; every deviation of the text (a field missing, reordered,
 * doubled, an extra space or line, a bad hash, status or time) is refused.
 * The envelope (secsrv/protocol/envelope.c) that carries a manifest between
 * servers: its parts travel as base64 and come back byte for byte; text
 * that is not canonical padded base64 is refused.
 */
#include "envelope.h"
#include "headers.h"
#include "manifest.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static void sample(struct ss_manifest *m, enum ss_manifest_kind kind)
{
    memset(m, 0, sizeof *m);
    m->kind = kind;
    m->time = 1795000000;
    snprintf(m->query_id, sizeof m->query_id, "my-message-42");
    snprintf(m->request_id, sizeof m->request_id, "0b6d7a3e-5b1a-4c47-9d51-2f0c8e2a9b11");
    snprintf(m->client, sizeof m->client, "DE-NORD/GOV/MIKWS-SH/Meldeauskunft");
    snprintf(m->service, sizeof m->service, "DE-NORD/MUN/13004000/Einwohnermeldeamt/meldeauskunft");
    snprintf(m->purpose, sizeof m->purpose, "BMG-34");
    m->has_subject = true;
    memset(m->subject_hash, 0xab, 32);
    memset(m->line_sha256, 0x01, 32);
    memset(m->headers_sha256, 0x02, 32);
    memset(m->body_sha256, 0x03, 32);
    if (kind == SS_MANIFEST_RESPONSE) {
        m->status = 200;
        memset(m->request_manifest_sha256, 0x04, 32);
    }
}

static const char request_text[] =
    "secsrv-manifest: 1\n"
    "kind: request\n"
    "time: 2026-11-18T11:06:40Z\n"
    "query-id: my-message-42\n"
    "request-id: 0b6d7a3e-5b1a-4c47-9d51-2f0c8e2a9b11\n"
    "client: DE-NORD/GOV/MIKWS-SH/Meldeauskunft\n"
    "service: DE-NORD/MUN/13004000/Einwohnermeldeamt/meldeauskunft\n"
    "purpose: BMG-34\n"
    "subject-hash: abababababababababababababababababababababababababababababababab\n"
    "request-line-sha256: 0101010101010101010101010101010101010101010101010101010101010101\n"
    "headers-sha256: 0202020202020202020202020202020202020202020202020202020202020202\n"
    "body-sha256: 0303030303030303030303030303030303030303030303030303030303030303\n";

static void test_request_text(void **state)
{
    (void)state;
    struct ss_manifest m, back;
    sample(&m, SS_MANIFEST_REQUEST);
    char out[SS_MANIFEST_MAX];
    size_t len = 0;
    assert_int_equal(ss_manifest_format(&m, out, sizeof out, &len), SS_OK);
    assert_int_equal(len, strlen(request_text));
    assert_memory_equal(out, request_text, len);
    assert_int_equal(ss_manifest_parse((const uint8_t *)out, len, &back), SS_OK);
    assert_memory_equal(&back, &m, sizeof m);
}

static void test_response_and_absent_fields(void **state)
{
    (void)state;
    struct ss_manifest m, back;
    sample(&m, SS_MANIFEST_RESPONSE);
    memset(m.purpose, 0, sizeof m.purpose);
    m.has_subject = false;
    memset(m.subject_hash, 0, 32);
    char out[SS_MANIFEST_MAX];
    size_t len = 0;
    assert_int_equal(ss_manifest_format(&m, out, sizeof out, &len), SS_OK);
    out[len] = '\0';
    assert_non_null(strstr(out, "kind: response\n"));
    assert_non_null(strstr(out, "purpose: -\nsubject-hash: -\nstatus: 200\n"
                                "request-manifest-sha256: 0404"));
    assert_non_null(strstr(out, "status-line-sha256: 0101"));
    assert_int_equal(ss_manifest_parse((const uint8_t *)out, len, &back), SS_OK);
    assert_memory_equal(&back, &m, sizeof m);
}

static void test_format_refusals(void **state)
{
    (void)state;
    struct ss_manifest m;
    char out[SS_MANIFEST_MAX];
    size_t len = 0;
    sample(&m, SS_MANIFEST_REQUEST);
    snprintf(m.query_id, sizeof m.query_id, "has space");
    assert_int_not_equal(ss_manifest_format(&m, out, sizeof out, &len), SS_OK);
    sample(&m, SS_MANIFEST_REQUEST);
    m.client[0] = '\0';
    assert_int_not_equal(ss_manifest_format(&m, out, sizeof out, &len), SS_OK);
    sample(&m, SS_MANIFEST_REQUEST);
    assert_int_equal(ss_manifest_format(&m, out, 100, &len), SS_ERR_LIMIT);
    assert_true(ss_manifest_query_id_valid("a"));
    assert_false(ss_manifest_query_id_valid(""));
    assert_false(ss_manifest_query_id_valid("\x7f"));
}

/* Replaces the first occurrence of from by to in the request text and parses it. */
static ss_error parse_edited(const char *from, const char *to)
{
    char text[2048];
    const char *at = strstr(request_text, from);
    assert_non_null(at);
    int n = snprintf(text, sizeof text, "%.*s%s%s", (int)(at - request_text), request_text, to,
                     at + strlen(from));
    struct ss_manifest m;
    return ss_manifest_parse((const uint8_t *)text, (size_t)n, &m);
}

static void test_parse_refusals(void **state)
{
    (void)state;
    const char *edits[][2] = {
        {"secsrv-manifest: 1", "secsrv-manifest: 2"},
        {"kind: request", "kind: reply"},
        {"time: 2026-11-18T11:06:40Z", "time: 2026-11-18 08:26:40"},
        {"query-id: my-message-42", "query-id: my message"},
        {"query-id: my-message-42\n", ""},
        {"client: ", "client:  "},
        {"client: ", "Client: "},
        {"purpose: BMG-34\n", "purpose: BMG-34\npurpose: BMG-34\n"},
        {"purpose: BMG-34\nsubject-hash", "subject-hash"},
        {"request-id: 0b6d7a3e-5b1a-4c47-9d51-2f0c8e2a9b11", "request-id: 0b6d"},
        {"subject-hash: abab", "subject-hash: ABAB"},
        {"body-sha256: 0303030303030303030303030303030303030303030303030303030303030303\n",
         "body-sha256: 0303030303030303030303030303030303030303030303030303030303030303"},
        {"body-sha256: 0303030303030303030303030303030303030303030303030303030303030303\n",
         "body-sha256: 0303030303030303030303030303030303030303030303030303030303030303\n\n"},
        {"headers-sha256: 02", "headers-sha256: 2"},
        {"kind: request", "kind: response"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++)
        assert_int_equal(parse_edited(edits[i][0], edits[i][1]), SS_ERR_PROTOCOL);
    struct ss_manifest m;
    assert_int_equal(ss_manifest_parse((const uint8_t *)"", 0, &m), SS_ERR_PROTOCOL);
    assert_int_equal(ss_manifest_parse(NULL, 0, &m), SS_ERR_PROTOCOL);
    /* a NUL inside a value */
    char text[2048];
    memcpy(text, request_text, sizeof request_text);
    char *at = strstr(text, "BMG-34");
    at[3] = '\0';
    assert_int_equal(ss_manifest_parse((const uint8_t *)text, strlen(request_text), &m),
                     SS_ERR_PROTOCOL);
}

/* An envelope whose parts are n bytes each, added to h and taken back. */
static void envelope_round_trip(size_t n)
{
    uint8_t part[3][80];
    for (size_t k = 0; k < 3; k++)
        for (size_t i = 0; i < n; i++)
            part[k][i] = (uint8_t)(i * 37 + k * 101 + n);
    struct ss_envelope e = {.manifest = part[0],
                            .manifest_len = n,
                            .cms = part[1],
                            .cms_len = n,
                            .ocsp = part[2],
                            .ocsp_len = n};
    snprintf(e.path, sizeof e.path, "L0a");
    struct ss_headers h;
    ss_headers_init(&h, 16, 4096);
    assert_int_equal(ss_envelope_add(&h, &e), SS_OK);
    struct ss_envelope got;
    assert_int_equal(ss_envelope_take(&h, &got), SS_OK);
    assert_int_equal(got.manifest_len, n);
    assert_int_equal(got.cms_len, n);
    assert_int_equal(got.ocsp_len, n);
    assert_memory_equal(got.manifest, part[0], n);
    assert_memory_equal(got.cms, part[1], n);
    assert_memory_equal(got.ocsp, part[2], n);
    assert_string_equal(got.path, "L0a");
    ss_envelope_cleanup(&got);
    ss_headers_cleanup(&h);
}

static void test_envelope_round_trip(void **state)
{
    (void)state;
    for (size_t n = 1; n <= 80; n++)
        envelope_round_trip(n);
}

/* Takes an envelope whose manifest field is text; the error, or SS_OK. */
static ss_error take_manifest_text(const char *text)
{
    struct ss_headers h;
    ss_headers_init(&h, 16, 4096);
    assert_int_equal(ss_headers_add(&h, SS_HDR_MANIFEST, text), SS_OK);
    assert_int_equal(ss_headers_add(&h, SS_HDR_SIGNATURE, "AAAA"), SS_OK);
    assert_int_equal(ss_headers_add(&h, SS_HDR_SIGNATURE_PATH, "-"), SS_OK);
    assert_int_equal(ss_headers_add(&h, SS_HDR_OCSP, "AAAA"), SS_OK);
    struct ss_envelope e;
    ss_error err = ss_envelope_take(&h, &e);
    if (!err) {
        ss_envelope_cleanup(&e);
    }
    ss_headers_cleanup(&h);
    return err;
}

static void test_envelope_base64_refusals(void **state)
{
    (void)state;
    assert_int_equal(take_manifest_text("aGVsbG8="), SS_OK); /* "hello" */
    assert_int_equal(take_manifest_text("aGk="), SS_OK);
    assert_int_equal(take_manifest_text("aA=="), SS_OK);
    static const char *const bad[] = {
        "",          /* empty */
        "aGVsbG8",   /* unpadded */
        "aGVsbG8==", /* too long */
        "aGk9=",     /* not a multiple of four */
        "aA=a",      /* '=' inside */
        "a===",      /* three '=' */
        "aGVs bG8=", /* a space */
        "aGVsbG9=",  /* bits left over: not the canonical text of "hello" */
        "aB==",      /* bits left over */
        "aGVsbG8-",  /* the URL-safe alphabet */
        "aGVs_G8=",  /* the URL-safe alphabet */
        "====",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(take_manifest_text(bad[i]), SS_ERR_BAD_SIGNATURE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_text),
        cmocka_unit_test(test_response_and_absent_fields),
        cmocka_unit_test(test_format_refusals),
        cmocka_unit_test(test_parse_refusals),
        cmocka_unit_test(test_envelope_round_trip),
        cmocka_unit_test(test_envelope_base64_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
