/*
 * Unit tests of how errors answer a client (secsrv/exchange.c): the HTTP
 * status and X-Road error type of every error code on the client proxy and
 * on the server proxy, and the error response itself (JSON body with type,
 * escaped message and a UUID detail, X-Road-Error header).
 */
#include "exchange.h"
#include "log.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

struct mapping {
    ss_error err;
    unsigned client_status;
    const char *client_type;
    unsigned server_status;
    const char *server_type;
};

#define CP "Server.ClientProxy."
#define SP "Server.ServerProxy."

static const struct mapping mappings[] = {
    /* what a client sent */
    {SS_ERR_PROTOCOL, 400, "Client.BadRequest", 400, "Client.BadRequest"},
    {SS_ERR_BAD_IDENTIFIER, 400, "Client.InvalidIdentifier", 400, "Client.InvalidIdentifier"},
    {SS_ERR_BAD_HEADER, 400, "Client.InvalidHeader", 400, "Client.InvalidHeader"},
    {SS_ERR_LIMIT, 400, "Client.LimitExceeded", 400, "Client.LimitExceeded"},
    {SS_ERR_UNKNOWN_CLIENT, 400, "Client.UnknownClient", 400, "Client.UnknownClient"},
    {SS_ERR_UNKNOWN_SERVICE, 400, "Client.UnknownService", 500, SP "UnknownService"},
    {SS_ERR_CLIENT_NOT_HOSTED, 403, "Client.ClientNotHosted", 403, "Client.ClientNotHosted"},
    {SS_ERR_METHOD, 501, "Client.BadRequest", 501, "Client.BadRequest"},
    /* access policy */
    {SS_ERR_ACCESS_DENIED, 403, CP "AccessDenied", 403, SP "AccessDenied"},
    {SS_ERR_PURPOSE_MISSING, 403, CP "PurposeMissing", 403, SP "PurposeMissing"},
    {SS_ERR_PURPOSE_DENIED, 403, CP "PurposeDenied", 403, SP "PurposeDenied"},
    {SS_ERR_OPERATION_DENIED, 403, CP "AccessDenied", 403, SP "AccessDenied"},
    /* peer trust */
    {SS_ERR_TLS, 500, CP "SslAuthenticationFailed", 500, SP "SslAuthenticationFailed"},
    {SS_ERR_PEER_UNTRUSTED, 500, CP "SslAuthenticationFailed", 500, SP "SslAuthenticationFailed"},
    {SS_ERR_PEER_NOT_REGISTERED, 500, CP "SslAuthenticationFailed", 500,
     SP "SslAuthenticationFailed"},
    {SS_ERR_CERT_REVOKED, 500, CP "SslAuthenticationFailed", 500, SP "SslAuthenticationFailed"},
    {SS_ERR_SERVICE_TLS, 500, CP "SslAuthenticationFailed", 500, SP "SslAuthenticationFailed"},
    /* evidence */
    {SS_ERR_MISSING_SIGNATURE, 500, CP "MissingSignature", 500, SP "MissingSignature"},
    {SS_ERR_BAD_SIGNATURE, 500, CP "InvalidSignatureValue", 500, SP "InvalidSignatureValue"},
    {SS_ERR_STALE_SIGNATURE, 500, CP "SignatureTimeOutOfRange", 500, SP "SignatureTimeOutOfRange"},
    {SS_ERR_BAD_CERTIFICATE, 500, CP "CertValidation", 500, SP "CertValidation"},
    {SS_ERR_SIGNER_REVOKED, 500, CP "CertValidation", 500, SP "CertValidation"},
    {SS_ERR_VALIDATION_INFO, 500, CP "IncorrectValidationInfo", 500, SP "IncorrectValidationInfo"},
    {SS_ERR_SIGNING, 500, CP "CannotCreateSignature", 500, SP "CannotCreateSignature"},
    {SS_ERR_DUPLICATE, 409, "Client.DuplicateRequest", 409, "Client.DuplicateRequest"},
    {SS_ERR_LOGGING, 500, CP "LoggingFailed", 500, SP "LoggingFailed"},
    {SS_ERR_TIMESTAMPING, 500, CP "TimestampingFailed", 500, SP "TimestampingFailed"},
    /* registry */
    {SS_ERR_REGISTRY, 500, CP "OutdatedGlobalConf", 500, SP "OutdatedGlobalConf"},
    {SS_ERR_REGISTRY_SCHEMA, 500, CP "OutdatedGlobalConf", 500, SP "OutdatedGlobalConf"},
    {SS_ERR_REGISTRY_EXPIRED, 500, CP "OutdatedGlobalConf", 500, SP "OutdatedGlobalConf"},
    {SS_ERR_REGISTRY_ROLLBACK, 500, CP "OutdatedGlobalConf", 500, SP "OutdatedGlobalConf"},
    {SS_ERR_REGISTRY_UNAVAILABLE, 500, CP "OutdatedGlobalConf", 500, SP "OutdatedGlobalConf"},
    /* network and backend */
    {SS_ERR_NETWORK, 500, CP "NetworkError", 500, SP "NetworkError"},
    {SS_ERR_UPSTREAM_TIMEOUT, 500, CP "ServiceTimeout", 500, SP "ServiceTimeout"},
    {SS_ERR_UPSTREAM, 500, CP "ServiceFailed", 500, SP "ServiceFailed"},
    {SS_ERR_TOO_LARGE, 500, CP "ServiceFailed", 500, SP "ServiceFailed"},
    {SS_ERR_BUSY, 503, CP "ServerBusy", 503, SP "ServerBusy"},
    {SS_ERR_UPSTREAM_INCONSISTENT, 500, CP "InconsistentResponse", 500, SP "InconsistentResponse"},
    {SS_ERR_INVALID_SECURITY_SERVER, 500, CP "InvalidSecurityServer", 500,
     SP "InvalidSecurityServer"},
    /* everything else is internal */
    {SS_ERR_INTERNAL, 500, CP "InternalError", 500, SP "InternalError"},
    {SS_ERR_NOMEM, 500, CP "InternalError", 500, SP "InternalError"},
    {SS_ERR_IO, 500, CP "InternalError", 500, SP "InternalError"},
    {SS_ERR_CONFIG, 500, CP "InternalError", 500, SP "InternalError"},
    {SS_ERR_NOT_FOUND, 500, CP "InternalError", 500, SP "InternalError"},
    {SS_ERR_POLICY, 500, CP "InternalError", 500, SP "InternalError"},
    {SS_ERR_CRYPTO, 500, CP "InternalError", 500, SP "InternalError"},
    {SS_OK, 500, CP "InternalError", 500, SP "InternalError"},
    {(ss_error)12345, 500, CP "InternalError", 500, SP "InternalError"},
};

static void test_mapping_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof mappings / sizeof mappings[0]; i++) {
        const struct mapping *m = &mappings[i];
        char type[128];
        memset(type, 'Z', sizeof type);
        unsigned status = ss_exchange_error_status(m->err, false, type, sizeof type);
        if (status != m->client_status || strcmp(type, m->client_type) != 0)
            fail_msg("client proxy %s: got %u %s, want %u %s", ss_error_name(m->err), status, type,
                     m->client_status, m->client_type);
        memset(type, 'Z', sizeof type);
        status = ss_exchange_error_status(m->err, true, type, sizeof type);
        if (status != m->server_status || strcmp(type, m->server_type) != 0)
            fail_msg("server proxy %s: got %u %s, want %u %s", ss_error_name(m->err), status, type,
                     m->server_status, m->server_type);
    }
}

/* Every code in the enum has a name, and every category answers with a status. */
static void test_every_named_code_maps(void **state)
{
    (void)state;
    for (int code = 0; code < 1000; code++) {
        const char *name = ss_error_name((ss_error)code);
        if (strcmp(name, "SS_ERR_UNKNOWN") == 0)
            continue;
        for (int side = 0; side < 2; side++) {
            char type[128];
            unsigned status = ss_exchange_error_status((ss_error)code, side, type, sizeof type);
            assert_true(status == 400 || status == 403 || status == 409 || status == 500 ||
                        status == 501 || status == 503);
            assert_true(strncmp(type, "Client.", 7) == 0 ||
                        strncmp(type, side ? SP : CP, strlen(CP)) == 0);
            /* a client error is never blamed on the server and vice versa */
            if (status == 400 || status == 409)
                assert_true(strncmp(type, "Client.", 7) == 0);
        }
    }
}

static void test_type_truncated(void **state)
{
    (void)state;
    char type[12];
    unsigned status = ss_exchange_error_status(SS_ERR_ACCESS_DENIED, true, type, sizeof type);
    assert_int_equal(status, 403);
    assert_int_equal(strlen(type), sizeof type - 1);
    assert_memory_equal(type, "Server.Serv", 11);
}

/* ---- the error response ---- */

static void init_request(struct ss_http_request *req)
{
    memset(req, 0, sizeof *req);
    req->method = "GET";
    req->target = "/r1/DE-NORD/GOV/x/sub/svc";
    ss_headers_init(&req->headers, 0, 0);
    snprintf(req->remote, sizeof req->remote, "%s", "127.0.0.1");
}

static void check_uuid(const char *s)
{
    assert_int_equal(strlen(s), 36);
    assert_int_equal(s[8], '-');
    assert_int_equal(s[13], '-');
    assert_int_equal(s[14], '4');
    assert_int_equal(s[18], '-');
    assert_int_equal(s[23], '-');
}

static void test_error_response_client_proxy(void **state)
{
    (void)state;
    struct ss_http_request req;
    struct ss_http_response resp;
    init_request(&req);
    memset(&resp, 0, sizeof resp);
    ss_headers_init(&resp.headers, 0, 0);
    assert_int_equal(ss_headers_add(&resp.headers, "X-Stale", "from before"), SS_OK);

    ss_errf(SS_ERR_BAD_IDENTIFIER, "bad \"id\" \\ x\n");
    ss_exchange_client_proxy_error(NULL, &req, SS_ERR_BAD_IDENTIFIER, &resp);
    assert_int_equal(resp.status, 400);
    assert_string_equal(ss_headers_get(&resp.headers, "X-Road-Error"), "Client.InvalidIdentifier");
    assert_non_null(ss_headers_get(&resp.headers, "Content-Type"));
    assert_non_null(strstr(ss_headers_get(&resp.headers, "Content-Type"), "application/json"));
    /* headers set before the error do not survive */
    assert_null(ss_headers_get(&resp.headers, "X-Stale"));

    assert_non_null(resp.body);
    char *body = calloc(1, resp.body_len + 1);
    assert_non_null(body);
    memcpy(body, resp.body, resp.body_len);
    const char *prefix = "{\"type\":\"Client.InvalidIdentifier\","
                         "\"message\":\"bad \\\"id\\\" \\\\ x\\u000a\",\"detail\":\"";
    assert_true(strncmp(body, prefix, strlen(prefix)) == 0);
    const char *detail = body + strlen(prefix);
    assert_int_equal(strlen(detail), 36 + 2);
    assert_string_equal(detail + 36, "\"}");
    char uuid[37];
    memcpy(uuid, detail, 36);
    uuid[36] = '\0';
    check_uuid(uuid);
    free(body);

    /* a method the proxies do not carry: 501, and the reason is the client's to read */
    ss_errf(SS_ERR_METHOD, "method get is not implemented");
    ss_exchange_client_proxy_error(NULL, &req, SS_ERR_METHOD, &resp);
    assert_int_equal(resp.status, 501);
    assert_string_equal(ss_headers_get(&resp.headers, "X-Road-Error"), "Client.BadRequest");
    body = calloc(1, resp.body_len + 1);
    assert_non_null(body);
    memcpy(body, resp.body, resp.body_len);
    assert_non_null(strstr(body, "\"message\":\"method get is not implemented\""));
    free(body);

    free(resp.body);
    ss_headers_cleanup(&resp.headers);
    ss_headers_cleanup(&req.headers);
}

static void test_error_response_server_proxy(void **state)
{
    (void)state;
    struct ss_http_request req;
    struct ss_http_response resp;
    init_request(&req);
    memset(&resp, 0, sizeof resp);
    ss_headers_init(&resp.headers, 0, 0);

    /* a denial tells the outcome in a fixed text, never what the policy would allow */
    static const struct {
        ss_error err;
        const char *type, *message;
    } denials[] = {
        {SS_ERR_ACCESS_DENIED, SP "AccessDenied", "access denied"},
        {SS_ERR_PURPOSE_MISSING, SP "PurposeMissing", "a purpose is required"},
        {SS_ERR_PURPOSE_DENIED, SP "PurposeDenied", "the purpose is not allowed"},
        {SS_ERR_OPERATION_DENIED, SP "AccessDenied", "the method or path is not allowed"},
    };
    for (size_t i = 0; i < sizeof denials / sizeof denials[0]; i++) {
        ss_errf(denials[i].err, "policy: purpose AO-93 is not allowed (allowed: BMG-34) (x.xml:3)");
        ss_exchange_server_proxy_error(NULL, &req, denials[i].err, &resp);
        assert_int_equal(resp.status, 403);
        assert_string_equal(ss_headers_get(&resp.headers, "X-Road-Error"), denials[i].type);
        assert_non_null(resp.body);
        char *body = calloc(1, resp.body_len + 1);
        assert_non_null(body);
        memcpy(body, resp.body, resp.body_len);
        char want[200];
        snprintf(want, sizeof want, "\"type\":\"%s\",\"message\":\"%s\",", denials[i].type,
                 denials[i].message);
        assert_non_null(strstr(body, want));
        assert_null(strstr(body, "BMG-34"));
        assert_null(strstr(body, "x.xml"));
        free(body);
    }

    /* a second error on the same response replaces the first one */
    ss_errf(SS_ERR_NETWORK, "cannot connect");
    ss_exchange_server_proxy_error(NULL, &req, SS_ERR_NETWORK, &resp);
    assert_int_equal(resp.status, 500);
    assert_int_equal(ss_headers_count(&resp.headers, "X-Road-Error"), 1);
    assert_string_equal(ss_headers_get(&resp.headers, "X-Road-Error"), SP "NetworkError");

    free(resp.body);
    ss_headers_cleanup(&resp.headers);
    ss_headers_cleanup(&req.headers);
}

int main(void)
{
    /* the error answers also log a line each; keep the test output quiet */
    if (!ss_log_set_level("error"))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mapping_table),
        cmocka_unit_test(test_every_named_code_maps),
        cmocka_unit_test(test_type_truncated),
        cmocka_unit_test(test_error_response_client_proxy),
        cmocka_unit_test(test_error_response_server_proxy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
