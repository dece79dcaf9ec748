/*
 * Unit tests of manifests (secsrv/msglog/manifest.c): request and response
 * manifests format to the documented text and parse back to the same
 * fields; every deviation of the text (a field missing, reordered,
 * doubled, an extra space or line, a bad hash, status or time) is refused.
 */
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_text),
        cmocka_unit_test(test_response_and_absent_fields),
        cmocka_unit_test(test_format_refusals),
        cmocka_unit_test(test_parse_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
