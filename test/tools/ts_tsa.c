/*
 * ts_tsa.c — tsa mode of ss-testserver: an RFC 3161 time-stamping authority
 * over HTTP, built on OpenSSL's TS_RESP_CTX and configured from the same
 * file `openssl ts -reply -config` reads (signer certificate and key, extra
 * certificates, policies, digests, accuracy, ordering, TSA name, ESS
 * options; the TS_CONF_* functions read it).
 *
 *   POST (any path outside /control/)  application/timestamp-query in,
 *                                      application/timestamp-reply out;
 *                                      415 for another Content-Type, 400
 *                                      for a body that is not one DER
 *                                      TimeStampReq, 405 for other methods
 *   PUT /control/fail                  from now on every query gets 503
 *   PUT /control/reject                from now on every query gets a
 *                                      TimeStampResp with status rejection
 *   PUT /control/ok                    back to granting
 *
 * One TS_RESP_CTX serves all requests under a mutex (it keeps per-response
 * state while it answers). Serial numbers come from a counter under the
 * same mutex, starting at the start time in microseconds, so a restarted
 * server does not reuse them; the serial file of the configuration is
 * neither read nor written.
 */
#include "testserver.h"

#include <openssl/conf.h>
#include <openssl/err.h>
#include <openssl/ts.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

enum tsa_state { TSA_GRANT, TSA_FAIL, TSA_REJECT };

struct ts_tsa {
    pthread_mutex_t lock; /* guards ctx, next_serial and rejecting */
    TS_RESP_CTX *ctx;
    uint64_t next_serial;
    bool rejecting;   /* the answer being made is a rejection */
    atomic_int state; /* enum tsa_state, set by /control/ */
};

static void print_openssl_errors(void)
{
    unsigned long e;
    const char *data = NULL;
    int flags = 0;
    while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
        const char *reason = ERR_reason_error_string(e);
        bool detail = (flags & ERR_TXT_STRING) && data != NULL && *data != '\0';
        fprintf(stderr, "ss-testserver:   %s%s%s\n", reason ? reason : "OpenSSL error",
                detail ? ": " : "", detail ? data : "");
    }
}

/* Called by TS_RESP_CTX under the lock; NULL makes it answer rejection. */
static ASN1_INTEGER *next_serial(TS_RESP_CTX *ctx, void *data)
{
    struct ts_tsa *tsa = data;
    if (tsa->rejecting) {
        /* the status stays: OpenSSL only sets its own while still granted */
        TS_RESP_CTX_set_status_info(ctx, TS_STATUS_REJECTION,
                                    "rejected on request (ss-testserver PUT /control/reject)");
        TS_RESP_CTX_add_failure_info(ctx, TS_INFO_SYSTEM_FAILURE);
        return NULL;
    }
    ASN1_INTEGER *serial = ASN1_INTEGER_new();
    if (serial == NULL || !ASN1_INTEGER_set_uint64(serial, tsa->next_serial++)) {
        ASN1_INTEGER_free(serial);
        return NULL;
    }
    return serial;
}

/* Configures ctx from section of conf as `openssl ts -reply` does. */
static bool configure(CONF *conf, const char *section, TS_RESP_CTX *ctx)
{
    /* engines are not supported here: only the built-in implementation */
    const char *device = NCONF_get_string(conf, section, "crypto_device");
    ERR_clear_error(); /* an absent key is fine */
    if (device != NULL && strcmp(device, "builtin") != 0) {
        fprintf(stderr, "ss-testserver: crypto_device %s is not supported (only builtin)\n",
                device);
        return false;
    }
    return TS_CONF_set_signer_cert(conf, section, NULL, ctx) &&
           TS_CONF_set_certs(conf, section, NULL, ctx) &&
           TS_CONF_set_signer_key(conf, section, NULL, NULL, ctx) &&
           TS_CONF_set_signer_digest(conf, section, NULL, ctx) &&
           TS_CONF_set_ess_cert_id_digest(conf, section, ctx) &&
           TS_CONF_set_def_policy(conf, section, NULL, ctx) &&
           TS_CONF_set_policies(conf, section, ctx) && TS_CONF_set_digests(conf, section, ctx) &&
           TS_CONF_set_accuracy(conf, section, ctx) &&
           TS_CONF_set_clock_precision_digits(conf, section, ctx) &&
           TS_CONF_set_ordering(conf, section, ctx) && TS_CONF_set_tsa_name(conf, section, ctx) &&
           TS_CONF_set_ess_cert_id_chain(conf, section, ctx);
}

struct ts_tsa *ts_tsa_load(const char *config, const char *section)
{
    struct ts_tsa *tsa = calloc(1, sizeof *tsa);
    CONF *conf = NCONF_new(NULL);
    if (tsa == NULL || conf == NULL) {
        fprintf(stderr, "ss-testserver: out of memory\n");
        goto fail;
    }
    long line = -1;
    if (NCONF_load(conf, config, &line) <= 0) {
        if (line > 0)
            fprintf(stderr, "ss-testserver: %s:%ld: cannot parse\n", config, line);
        else
            fprintf(stderr, "ss-testserver: %s: cannot read\n", config);
        goto fail;
    }
    const char *name = TS_CONF_get_tsa_section(conf, section);
    if (name == NULL) {
        fprintf(stderr, "ss-testserver: %s: no TSA section%s%s (default_tsa in [tsa])\n", config,
                section ? " " : "", section ? section : "");
        goto fail;
    }
    tsa->ctx = TS_RESP_CTX_new();
    if (tsa->ctx == NULL || !configure(conf, name, tsa->ctx)) {
        fprintf(stderr, "ss-testserver: %s: section [%s] does not configure a TSA:\n", config,
                name);
        print_openssl_errors();
        goto fail;
    }
    struct timeval now;
    gettimeofday(&now, NULL);
    tsa->next_serial = (uint64_t)now.tv_sec * 1000000u + (uint64_t)now.tv_usec;
    TS_RESP_CTX_set_serial_cb(tsa->ctx, next_serial, tsa);
    if (pthread_mutex_init(&tsa->lock, NULL) != 0) {
        fprintf(stderr, "ss-testserver: cannot create a mutex\n");
        goto fail;
    }
    atomic_init(&tsa->state, TSA_GRANT);
    NCONF_free(conf);
    return tsa;
fail:
    if (tsa != NULL)
        TS_RESP_CTX_free(tsa->ctx);
    free(tsa);
    NCONF_free(conf);
    return NULL;
}

void ts_tsa_free(struct ts_tsa *tsa)
{
    if (tsa == NULL)
        return;
    pthread_mutex_destroy(&tsa->lock);
    TS_RESP_CTX_free(tsa->ctx);
    free(tsa);
}

static enum MHD_Result reply_json(struct MHD_Connection *conn, struct ts_request *req,
                                  const char *method, unsigned int status, const char *json)
{
    return ts_queue_json(conn, req, method, status, json, strlen(json));
}

static enum MHD_Result reply_not_allowed(struct MHD_Connection *conn, struct ts_request *req,
                                         const char *method, const char *allow)
{
    struct MHD_Response *response =
        MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (response != NULL &&
        MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, allow) != MHD_YES) {
        MHD_destroy_response(response);
        response = NULL;
    }
    return ts_queue(conn, req, method, MHD_HTTP_METHOD_NOT_ALLOWED, response);
}

static bool path_is(const struct ts_request *req, const char *path)
{
    size_t n = strlen(path);
    return req->path_len == n && memcmp(req->target, path, n) == 0;
}

static enum MHD_Result control(struct ts_tsa *tsa, struct MHD_Connection *conn,
                               struct ts_request *req, const char *method)
{
    static const struct {
        const char *path;
        enum tsa_state state;
        const char *json;
    } controls[] = {
        {"/control/ok", TSA_GRANT, "{\"state\":\"ok\"}"},
        {"/control/fail", TSA_FAIL, "{\"state\":\"fail\"}"},
        {"/control/reject", TSA_REJECT, "{\"state\":\"reject\"}"},
    };
    for (size_t i = 0; i < sizeof controls / sizeof controls[0]; i++) {
        if (!path_is(req, controls[i].path))
            continue;
        if (strcmp(method, MHD_HTTP_METHOD_PUT) != 0)
            return reply_not_allowed(conn, req, method, "PUT");
        atomic_store(&tsa->state, (int)controls[i].state);
        return reply_json(conn, req, method, MHD_HTTP_OK, controls[i].json);
    }
    return reply_json(conn, req, method, MHD_HTTP_NOT_FOUND, "{\"error\":\"not found\"}");
}

/* True if the Content-Type is application/timestamp-query (parameters allowed). */
static bool is_query_type(struct MHD_Connection *conn)
{
    static const char want[] = "application/timestamp-query";
    const char *type =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    if (type == NULL || strncasecmp(type, want, sizeof want - 1) != 0)
        return false;
    char next = type[sizeof want - 1];
    return next == '\0' || next == ';' || next == ' ' || next == '\t';
}

/* The TimeStampResp to a query (DER, OPENSSL_malloc'd), or NULL. */
static unsigned char *make_reply(struct ts_tsa *tsa, const char *query, size_t query_len,
                                 bool reject, int *reply_len)
{
    unsigned char *der = NULL;
    BIO *in = BIO_new_mem_buf(query, (int)query_len);
    if (in == NULL)
        return NULL;
    pthread_mutex_lock(&tsa->lock);
    tsa->rejecting = reject;
    TS_RESP *resp = TS_RESP_create_response(tsa->ctx, in);
    tsa->rejecting = false;
    pthread_mutex_unlock(&tsa->lock);
    ERR_clear_error(); /* a rejection leaves the reason there */
    *reply_len = resp != NULL ? i2d_TS_RESP(resp, &der) : -1;
    if (*reply_len <= 0) {
        OPENSSL_free(der);
        der = NULL;
    }
    TS_RESP_free(resp);
    BIO_free(in);
    return der;
}

enum MHD_Result ts_tsa_answer(const struct ts_server *srv, struct MHD_Connection *conn,
                              struct ts_request *req, const char *method)
{
    struct ts_tsa *tsa = srv->tsa;
    if (req->path_len >= 9 && memcmp(req->target, "/control/", 9) == 0)
        return control(tsa, conn, req, method);
    if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
        return reply_not_allowed(conn, req, method, "POST");
    int state = atomic_load(&tsa->state);
    if (state == TSA_FAIL)
        return reply_json(conn, req, method, MHD_HTTP_SERVICE_UNAVAILABLE,
                          "{\"error\":\"unavailable (PUT /control/fail)\"}");
    if (!is_query_type(conn))
        return reply_json(conn, req, method, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE,
                          "{\"error\":\"Content-Type must be application/timestamp-query\"}");
    if (req->body.failed) /* the size was checked as it came: out of memory */
        return reply_json(conn, req, method, MHD_HTTP_INTERNAL_SERVER_ERROR,
                          "{\"error\":\"cannot hold the request body\"}");
    /* exactly one DER TimeStampReq, nothing after it */
    const unsigned char *p = (const unsigned char *)req->body.data;
    TS_REQ *query = req->body.len > 0 ? d2i_TS_REQ(NULL, &p, (long)req->body.len) : NULL;
    bool whole = query != NULL && p == (const unsigned char *)req->body.data + req->body.len;
    TS_REQ_free(query);
    ERR_clear_error();
    if (!whole)
        return reply_json(conn, req, method, MHD_HTTP_BAD_REQUEST,
                          "{\"error\":\"body is not a DER TimeStampReq\"}");
    int len = 0;
    unsigned char *der = make_reply(tsa, req->body.data, req->body.len, state == TSA_REJECT, &len);
    if (der == NULL)
        return reply_json(conn, req, method, MHD_HTTP_INTERNAL_SERVER_ERROR,
                          "{\"error\":\"cannot make a TimeStampResp\"}");
    struct MHD_Response *response =
        MHD_create_response_from_buffer((size_t)len, der, MHD_RESPMEM_MUST_COPY);
    OPENSSL_free(der);
    if (response != NULL && MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                                    "application/timestamp-reply") != MHD_YES) {
        MHD_destroy_response(response);
        response = NULL;
    }
    return ts_queue(conn, req, method, MHD_HTTP_OK, response);
}
