#include "exchange.h"
#include "manifest.h"
#include "clock.h"
#include "daemon.h"
#include "envelope.h"
#include "log.h"
#include "meta.h"
#include "mime.h"
#include "rest.h"
#include "seal.h"
#include "soap.h"
#include "ss_grow.h"
#include "ss_xml.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stdatomic.h>
#include <time.h>

/* What one exchange carries through its steps, for answers and the log. */
struct exchange {
    struct ss_daemon *d;
    const struct ss_http_request *req;
    struct ss_http_response *resp;
    bool server_proxy;
    struct ss_trust *trust;
    struct ss_rest_target target;
    struct ss_client_id client;
    char client_str[SS_ID_STR_MAX];
    char service_str[SS_ID_STR_MAX];
    char message_id[256];                   /* X-Road-Id */
    char request_id[37];                    /* X-Road-Request-Id */
    char request_hash[SS_REQUEST_HASH_B64]; /* server proxy: binds every answer, errors too */
    bool log_timed_out;     /* the logger did not answer for one of this exchange's records */
    bool has_target_server; /* X-Road-Security-Server, or securityServer */
    struct ss_server_id target_server;
    const char *purpose;
    const char *subject;
    struct timespec start;
    /* SOAP (the X-Road message protocol 4.0): the envelope as read and where it lies in the
     * body; between the servers it travels as a POST to "/" */
    bool soap;
    struct ss_soap_message *envelope; /* on the heap (8 kB), for a SOAP request only */
    struct ss_mime_soap part;
    char soap_hash[128]; /* requestHash: SHA-512 of the request's SOAP part */
    /* for the metrics: how it ended (an X-Road error type; "" so far), time waiting upstream */
    char outcome[SS_REST_ERROR_TYPE_MAX + 1];
    uint64_t waiting_us;
    bool forwarded;
    const char *out_target; /* the request target as sent between the servers */
    /* evidence */
    struct ss_envelope request_env; /* the request's (ours, or the consumer's) */
    uint8_t request_manifest_sha256[32];
    bool request_logged; /* a request record of this exchange is in the log (or on its way) */
    struct ss_seal_pending request_log; /* the consumer's request record, on its way */
    bool refusal_logged;
    char *url; /* the request's next hop */
};

/* ---- errors ---- */

unsigned ss_exchange_error_status(ss_error err, bool server_proxy, char *type, size_t size)
{
    const char *side = server_proxy ? "Server.ServerProxy" : "Server.ClientProxy";
    unsigned status = 500;
    const char *client_type = NULL, *server_type = NULL;
    switch (err) {
    case SS_ERR_PROTOCOL:
        client_type = "Client.BadRequest";
        break;
    case SS_ERR_BAD_IDENTIFIER:
        client_type = "Client.InvalidIdentifier";
        break;
    case SS_ERR_BAD_HEADER:
        client_type = "Client.InvalidHeader";
        break;
    case SS_ERR_LIMIT:
        client_type = "Client.LimitExceeded";
        break;
    case SS_ERR_UNKNOWN_CLIENT:
        client_type = "Client.UnknownClient";
        break;
    case SS_ERR_UNKNOWN_SERVICE:
        if (server_proxy)
            server_type = "UnknownService";
        else
            client_type = "Client.UnknownService";
        break;
    case SS_ERR_CLIENT_NOT_HOSTED:
        status = 403;
        client_type = "Client.ClientNotHosted";
        break;
    case SS_ERR_ACCESS_DENIED:
    case SS_ERR_OPERATION_DENIED:
        status = 403;
        server_type = "AccessDenied";
        break;
    case SS_ERR_PURPOSE_MISSING:
        status = 403;
        server_type = "PurposeMissing";
        break;
    case SS_ERR_PURPOSE_DENIED:
        status = 403;
        server_type = "PurposeDenied";
        break;
    case SS_ERR_TLS:
    case SS_ERR_PEER_UNTRUSTED:
    case SS_ERR_PEER_NOT_REGISTERED:
    case SS_ERR_CERT_REVOKED:
    case SS_ERR_SERVICE_TLS:
        server_type = "SslAuthenticationFailed";
        break;
    case SS_ERR_REGISTRY:
    case SS_ERR_REGISTRY_SCHEMA:
    case SS_ERR_REGISTRY_EXPIRED:
    case SS_ERR_REGISTRY_ROLLBACK:
    case SS_ERR_REGISTRY_UNAVAILABLE:
        server_type = "OutdatedGlobalConf";
        break;
    case SS_ERR_NETWORK:
        server_type = "NetworkError";
        break;
    case SS_ERR_UPSTREAM_TIMEOUT:
        server_type = "ServiceTimeout";
        break;
    case SS_ERR_BUSY:
        status = 503;
        server_type = "ServerBusy";
        break;
    case SS_ERR_UPSTREAM:
    case SS_ERR_TOO_LARGE:
        server_type = "ServiceFailed";
        break;
    case SS_ERR_UPSTREAM_INCONSISTENT:
        server_type = "InconsistentResponse";
        break;
    case SS_ERR_INVALID_SECURITY_SERVER:
        server_type = "InvalidSecurityServer";
        break;
    case SS_ERR_MISSING_SIGNATURE:
        server_type = "MissingSignature";
        break;
    case SS_ERR_BAD_SIGNATURE:
        server_type = "InvalidSignatureValue";
        break;
    case SS_ERR_STALE_SIGNATURE:
        server_type = "SignatureTimeOutOfRange";
        break;
    case SS_ERR_BAD_CERTIFICATE:
    case SS_ERR_SIGNER_REVOKED:
        server_type = "CertValidation";
        break;
    case SS_ERR_VALIDATION_INFO:
        server_type = "IncorrectValidationInfo";
        break;
    case SS_ERR_SIGNING:
        server_type = "CannotCreateSignature";
        break;
    case SS_ERR_DUPLICATE:
        status = 409;
        client_type = "Client.DuplicateRequest";
        break;
    case SS_ERR_METHOD: /* RFC 9110 9.1: a method the server does not know */
        status = 501;
        client_type = "Client.BadRequest";
        break;
    case SS_ERR_LOGGING:
        server_type = "LoggingFailed";
        break;
    case SS_ERR_TIMESTAMPING:
        server_type = "TimestampingFailed";
        break;
    default:
        server_type = "InternalError";
        break;
    }
    if (client_type) {
        if (status == 500)
            status = 400;
        snprintf(type, size, "%s", client_type);
    } else {
        snprintf(type, size, "%s.%s", side, server_type);
    }
    return status;
}

static void json_string(char *out, size_t size, const char *s)
{
    size_t o = 0;
    for (; *s && o + 7 < size; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c >= 0x7f) {
            /* bytes from peers may not be UTF-8: each is escaped on its own */
            o += (size_t)snprintf(out + o, size - o, "\\u%04x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o] = '\0';
}

/*
 * What the client is told. A 4xx reason is about the client's own request
 * and is told as it is; a server-side failure is told by a fixed text, so
 * no internal address, path or certificate detail leaves this server: the
 * detail id leads the operator to the full reason in the operator log.
 */
static const char *client_message(ss_error err, bool server_proxy, unsigned status,
                                  const char *reason)
{
    /* a denial tells the outcome only: what the policy would allow stays in the operator log,
     * so that a client cannot learn a provider's policy by probing it */
    switch (err) {
    case SS_ERR_ACCESS_DENIED:
        return "access denied";
    case SS_ERR_PURPOSE_MISSING:
        return "a purpose is required";
    case SS_ERR_PURPOSE_DENIED:
        return "the purpose is not allowed";
    case SS_ERR_OPERATION_DENIED:
        return "the method or path is not allowed";
    default:
        break;
    }
    if (status < 500 || err == SS_ERR_UNKNOWN_SERVICE || err == SS_ERR_INVALID_SECURITY_SERVER ||
        err == SS_ERR_METHOD)
        return reason;
    switch (err) {
    case SS_ERR_TLS:
    case SS_ERR_PEER_UNTRUSTED:
    case SS_ERR_PEER_NOT_REGISTERED:
    case SS_ERR_CERT_REVOKED:
        return "TLS authentication between the security servers failed";
    case SS_ERR_SERVICE_TLS:
        return "TLS authentication between the security server and the register service failed";
    case SS_ERR_REGISTRY_EXPIRED:
        return "the members registry in force has expired and no newer one could be obtained";
    case SS_ERR_REGISTRY:
    case SS_ERR_REGISTRY_SCHEMA:
    case SS_ERR_REGISTRY_ROLLBACK:
    case SS_ERR_REGISTRY_UNAVAILABLE:
        return "no valid members registry is available";
    case SS_ERR_NETWORK:
        return server_proxy ? "the register service could not be reached"
                            : "the provider's security server could not be reached";
    case SS_ERR_UPSTREAM_TIMEOUT:
        return server_proxy ? "the register service did not answer in time"
                            : "the provider's security server did not answer in time";
    case SS_ERR_UPSTREAM:
    case SS_ERR_TOO_LARGE:
        return server_proxy ? "the register service gave no answer that could be passed on"
                            : "the provider's security server gave no valid answer";
    case SS_ERR_UPSTREAM_INCONSISTENT:
        return server_proxy ? "the register service's answer does not match the request"
                            : "the provider's answer does not match the request";
    case SS_ERR_MISSING_SIGNATURE:
    case SS_ERR_BAD_SIGNATURE:
    case SS_ERR_STALE_SIGNATURE:
    case SS_ERR_BAD_CERTIFICATE:
    case SS_ERR_SIGNER_REVOKED:
    case SS_ERR_VALIDATION_INFO:
        return server_proxy ? "the consumer's signature could not be accepted"
                            : "the provider's signature could not be accepted";
    case SS_ERR_SIGNING:
        return "the message could not be signed";
    case SS_ERR_LOGGING:
        return "the exchange could not be written to the message log";
    case SS_ERR_TIMESTAMPING:
        return "the message log has no timestamp for longer than its grace period; exchanges are "
               "refused until a time-stamping authority answers again";
    default:
        return "internal error";
    }
}

/* ---- the message log ---- */

/* The hosted subsystem whose log rules apply: the client here, the provider there. */
static const struct ss_client_id *hosted_subsystem(const struct exchange *x)
{
    return x->server_proxy ? &x->target.service.provider : &x->client;
}

/*
 * Logs one message of this exchange: the raw message (without the
 * evidence fields), its evidence env (NULL for a refusal made before
 * signing), status and error type. The bodies of a subsystem logged as
 * metadata only keep their digest. SS_ERR_DUPLICATE with replay_check.
 */
static ss_error log_start(struct exchange *x, const char *direction, const char *method,
                          const char *target, unsigned status, const struct ss_headers *fields,
                          const uint8_t *body, size_t body_len, const struct ss_envelope *env,
                          const char *error_type, bool replay_check, struct ss_seal_pending *p)
{
    struct ss_record r;
    memset(&r, 0, sizeof r);
    snprintf(r.side, sizeof r.side, "%s", x->server_proxy ? "server" : "client");
    snprintf(r.direction, sizeof r.direction, "%s", direction);
    snprintf(r.query_id, sizeof r.query_id, "%s", x->message_id);
    snprintf(r.request_id, sizeof r.request_id, "%s", x->request_id);
    snprintf(r.client, sizeof r.client, "%s", x->client_str);
    snprintf(r.service, sizeof r.service, "%s", x->service_str);
    if (x->purpose && ss_rest_check_purpose(x->purpose) == SS_OK)
        snprintf(r.purpose, sizeof r.purpose, "%s", x->purpose);
    if (x->subject && ss_rest_check_subject(x->subject) == SS_OK) {
        ss_seal_subject_hash(x->d, x->subject, r.subject_hash);
        r.has_subject = true;
    }
    r.status = status;
    snprintf(r.error_type, sizeof r.error_type, "%s", error_type ? error_type : "");
    const struct ss_client_id *hosted = hosted_subsystem(x);
    bool known = hosted->member_code[0] != '\0';
    r.retain_until = (int64_t)time(NULL) + (int64_t)(known ? ss_config_retention(x->d->cfg, hosted)
                                                           : x->d->cfg->retention_days) *
                                               86400;
    uint8_t *raw = NULL;
    size_t raw_len = 0;
    ss_error err = ss_envelope_raw(method, target, status, fields, body, body_len, &raw, &raw_len);
    if (err)
        return ss_errf(SS_ERR_LOGGING, "%s", ss_errmsg());
    ss_envelope_sha256(raw, raw_len, r.message_sha256);
    if (!known || ss_config_log_bodies(x->d->cfg, hosted)) {
        r.message = raw;
        r.message_len = raw_len;
    }
    if (env) {
        r.manifest = env->manifest;
        r.manifest_len = env->manifest_len;
        r.signature = env->cms;
        r.signature_len = env->cms_len;
        snprintf(r.sig_path, sizeof r.sig_path, "%s", env->path);
        r.ocsp = env->ocsp;
        r.ocsp_len = env->ocsp_len;
    }
    ss_seal_log_start(x->d, &r, replay_check, p);
    free(raw);
    return SS_OK;
}

/* log_start, waiting until the record is durable. SS_ERR_DUPLICATE with replay_check. */
static ss_error log_message(struct exchange *x, const char *direction, const char *method,
                            const char *target, unsigned status, const struct ss_headers *fields,
                            const uint8_t *body, size_t body_len, const struct ss_envelope *env,
                            const char *error_type, bool replay_check)
{
    struct ss_seal_pending p;
    ss_error err = log_start(x, direction, method, target, status, fields, body, body_len, env,
                             error_type, replay_check, &p);
    int64_t id = 0;
    if (err)
        return err;
    err = ss_seal_log_finish(x->d, &p, &id);
    x->log_timed_out |= p.timed_out;
    return err;
}

/*
 * Waits for the request's record when it is on its way: before anything
 * is answered it is durable, and a failure to log it outranks err.
 */
static ss_error request_log_wait(struct exchange *x, ss_error err)
{
    if (!x->request_log.started)
        return err;
    int64_t id = 0;
    ss_error logged = ss_seal_log_finish(x->d, &x->request_log, &id);
    x->log_timed_out |= x->request_log.timed_out;
    if (!logged)
        return err;
    x->request_logged = false;
    return logged;
}

/*
 * A refusal is logged too: as the request's record when none was logged
 * yet (the request as it arrived), else as the response's.
 */
static void log_refusal(struct exchange *x, unsigned status, const char *type)
{
    if (x->refusal_logged || !x->req || !x->d)
        return;
    x->refusal_logged = true;
    /* a logger that let this exchange's record run out of time would keep it waiting as long */
    if (x->log_timed_out) {
        ss_log_warn("%s: the refusal is not logged: the logger does not answer",
                    x->server_proxy ? "server-proxy" : "client-proxy");
        return;
    }
    ss_error err;
    if (!x->request_logged)
        err = log_message(x, "request", x->req->method, x->req->target ? x->req->target : "",
                          status, &x->req->headers, x->req->body, x->req->body_len,
                          x->server_proxy && x->request_env.manifest ? &x->request_env : NULL, type,
                          false);
    else
        err = log_message(x, "response", NULL, NULL, status, &x->resp->headers, x->resp->body,
                          x->resp->body_len, NULL, type, false);
    if (err)
        ss_log_warn("%s: the refusal could not be logged: %s",
                    x->server_proxy ? "server-proxy" : "client-proxy", ss_errmsg());
}

/*
 * An information system that speaks SOAP is answered with a SOAP 1.1 Fault
 * in the X-Road form, and with HTTP status 500 as SOAP 1.1 (section 6.2)
 * requires; between the servers an error is JSON, and to REST clients too
 * unless they accept XML (PR-REST 4.6).
 */
static bool answers_soap(const struct exchange *x)
{
    return x->soap && !x->server_proxy;
}

/* A JSON string's text as it was meant: \" \\ and \uXXXX (ASCII, others as '?'). */
static void json_unescape(const char *in, char *out, size_t size)
{
    size_t o = 0;
    for (const char *p = in; *p && o + 1 < size; p++) {
        char c = *p;
        if (c == '\\' && (p[1] == '"' || p[1] == '\\')) {
            c = *++p;
        } else if (c == '\\' && p[1] == 'u' && strspn(p + 2, "0123456789abcdefABCDEF") >= 4) {
            char hex[5] = {p[2], p[3], p[4], p[5], '\0'};
            unsigned long v = strtoul(hex, NULL, 16);
            c = v >= 0x20 && v < 0x7f ? (char)v : '?';
            p += 5;
        }
        out[o++] = c;
    }
    out[o] = '\0';
}

/* Replaces the answer with an X-Road error: text is the message as it is, json the same escaped. */
static void answer_error(struct exchange *x, unsigned status, const char *type, const char *text,
                         const char *json, const char *detail)
{
    char body[SS_REST_ERROR_TYPE_MAX + SS_REST_ERROR_MESSAGE_MAX + 128];
    int n = snprintf(body, sizeof body, "{\"type\":\"%s\",\"message\":\"%s\",\"detail\":\"%s\"}",
                     type, json, detail);
    struct ss_http_response *resp = x->resp;
    snprintf(x->outcome, sizeof x->outcome, "%s", type);
    size_t max_count = resp->headers.max_count, max_bytes = resp->headers.max_bytes;
    ss_headers_cleanup(&resp->headers);
    ss_headers_init(&resp->headers, max_count, max_bytes);
    resp->status = status;
    if (answers_soap(x)) {
        char *fault = NULL;
        size_t len = 0;
        resp->status = 500;
        if (ss_soap_fault(type, text, detail, &fault, &len) == SS_OK) {
            free(resp->body);
            resp->body = (uint8_t *)fault;
            resp->body_len = len;
            if (ss_headers_add(&resp->headers, "Content-Type", "text/xml; charset=utf-8"))
                resp->status = 500;
        }
        return;
    }
    /* to an information system in XML when it asks for XML; between the servers JSON */
    const char *xml = x->server_proxy || !x->req ? NULL : ss_rest_error_media(&x->req->headers);
    char *doc = NULL, media[64];
    size_t doc_len = 0;
    if (xml && ss_rest_error_xml(type, text, detail, &doc, &doc_len) == SS_OK) {
        snprintf(media, sizeof media, "%s; charset=utf-8", xml);
        if (ss_http_set_body(resp, doc, doc_len, media))
            resp->status = 500;
        free(doc);
    } else if (n < 0 || (size_t)n >= sizeof body ||
               ss_http_set_body(resp, body, (size_t)n, "application/json; charset=utf-8")) {
        resp->status = 500;
    }
    if (ss_headers_add(&resp->headers, "X-Road-Error", type))
        resp->status = 500;
    if (x->message_id[0] && ss_headers_add(&resp->headers, "X-Road-Id", x->message_id))
        resp->status = 500;
    if (x->request_hash[0] &&
        ss_headers_add(&resp->headers, "X-Road-Request-Hash", x->request_hash))
        resp->status = 500;
}

/* Passes on an X-Road error the provider's server raised, in the form this client speaks. */
static void relay_error(struct exchange *x, unsigned status, const struct ss_rest_error *e)
{
    char text[SS_REST_ERROR_MESSAGE_MAX + 1];
    json_unescape(e->message, text, sizeof text);
    answer_error(x, status, e->type, text, e->message, e->detail);
}

/* Answers with an X-Road error; the detail id ties the answer to the operator log. */
static void fail(struct exchange *x, ss_error err, const char *message)
{
    char type[SS_REST_ERROR_TYPE_MAX + 1], detail[37], msg[SS_REST_ERROR_MESSAGE_MAX + 1];
    unsigned status = ss_exchange_error_status(err, x->server_proxy, type, sizeof type);
    ss_rest_uuid(detail);
    ss_log_warn("%s: error %s %s (%s) client=%s service=%s request-id=%s peer=%s: %s",
                x->server_proxy ? "server-proxy" : "client-proxy", detail, type, ss_error_name(err),
                x->client_str[0] ? x->client_str : "-", x->service_str[0] ? x->service_str : "-",
                x->request_id[0] ? x->request_id : "-", x->req->remote, message);
    const char *text = client_message(err, x->server_proxy, status, message);
    json_string(msg, sizeof msg, text);
    answer_error(x, status, type, text, msg, detail);
    log_refusal(x, x->resp->status, type);
}

static void fail_err(struct exchange *x, ss_error err)
{
    fail(x, err, ss_errmsg());
}

/*
 * A POST to any target but a REST one (/r1/...) is a SOAP message, on the
 * client proxy's port as on the server proxy's.
 */
static bool soap_request(const struct ss_http_request *req)
{
    const char *t = req->target ? req->target : "";
    return req->method && strcmp(req->method, "POST") == 0 && strncmp(t, "/r1/", 4) != 0 &&
           strcmp(t, "/r1") != 0;
}

/*
 * An exchange's state, on the heap: a fiber's stack stays shallow, and
 * shallow stacks keep the memory of many waiting exchanges small. NULL
 * when out of memory, with resp a bare 503.
 */
static struct exchange *exchange_new(struct ss_daemon *d, const struct ss_http_request *req,
                                     struct ss_http_response *resp, bool server_proxy)
{
    struct exchange *x = calloc(1, sizeof *x);
    if (!x) {
        resp->status = 503;
        return NULL;
    }
    x->d = d;
    x->req = req;
    x->resp = resp;
    x->server_proxy = server_proxy;
    x->soap = soap_request(req);
    return x;
}

static void exchange_free(struct exchange *x)
{
    free(x->envelope);
    free(x->url);
    free(x);
}

static void request_error(const struct ss_http_request *req, ss_error err,
                          struct ss_http_response *resp, struct ss_daemon *d, bool server_proxy)
{
    struct exchange *x = exchange_new(d, req, resp, server_proxy);
    if (!x)
        return;
    fail_err(x, err);
    exchange_free(x);
}

void ss_exchange_client_proxy_error(void *cls, const struct ss_http_request *req, ss_error err,
                                    struct ss_http_response *resp)
{
    request_error(req, err, resp, cls, false);
}

void ss_exchange_server_proxy_error(void *cls, const struct ss_http_request *req, ss_error err,
                                    struct ss_http_response *resp)
{
    request_error(req, err, resp, cls, true);
}

/* ---- shared steps ---- */

/* The client a request names in X-Road-Client, parsed. */
static ss_error request_client(const struct ss_http_request *req, size_t max_id,
                               struct ss_client_id *client)
{
    const char *value = ss_headers_get(&req->headers, "X-Road-Client");
    if (!value)
        return ss_errf(SS_ERR_BAD_HEADER, "the X-Road-Client header is missing");
    ss_error err = ss_client_id_parse(value, strlen(value), max_id, false, client);
    return err ? ss_errf(err, "X-Road-Client: %s", ss_errmsg()) : SS_OK;
}

/* A REST request: the service from the target, the client from X-Road-Client. */
static ss_error identify_rest(struct exchange *x)
{
    const struct ss_config *cfg = x->d->cfg;
    const char *target = x->req->target;
    ss_error err =
        ss_rest_parse_target(target, strlen(target), cfg->limits.max_identifier_bytes, &x->target);
    if (err)
        return err;
    (void)ss_service_id_format(&x->target.service, x->service_str, sizeof x->service_str);
    if ((err = request_client(x->req, cfg->limits.max_identifier_bytes, &x->client)))
        return err;
    (void)ss_client_id_format(&x->client, x->client_str, sizeof x->client_str);
    x->purpose = ss_headers_get(&x->req->headers, SS_HDR_PURPOSE);
    x->subject = ss_headers_get(&x->req->headers, SS_HDR_SUBJECT);
    const char *server = ss_headers_get(&x->req->headers, "X-Road-Security-Server");
    if (server) {
        if ((err = ss_server_id_parse(server, strlen(server), cfg->limits.max_identifier_bytes,
                                      &x->target_server)))
            return ss_errf(err, "X-Road-Security-Server: %s", ss_errmsg());
        x->has_target_server = true;
    }
    return SS_OK;
}

static bool parts_within(const struct ss_client_id *c, size_t max)
{
    return strlen(c->instance) <= max && strlen(c->member_class) <= max &&
           strlen(c->member_code) <= max && strlen(c->subsystem) <= max;
}

/*
 * A SOAP request: client, service, id, purpose and subject from the
 * envelope's header. Between the servers the fields X-Road-Client and
 * X-Road-Id travel with it (the first authenticates the peer before the
 * body is read): they must name what the envelope names.
 */
static ss_error identify_soap(struct exchange *x)
{
    const struct ss_config *cfg = x->d->cfg;
    const struct ss_http_request *req = x->req;
    const char *ct = ss_headers_get(&req->headers, "Content-Type");
    ss_error err = ss_mime_soap_locate(ct, req->body, req->body_len, &x->part);
    if (err)
        return err;
    const uint8_t *env = req->body + x->part.start;
    if (!(x->envelope = malloc(sizeof *x->envelope)))
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    if ((err = ss_soap_parse(env, x->part.len, x->part.charset, false, x->envelope)))
        return err;
    ss_soap_request_hash(env, x->part.len, x->soap_hash);
    const struct ss_soap_message *m = x->envelope;
    x->client = m->client;
    x->target.service = m->service;
    x->target.path = x->target.query = "";
    x->target.path_len = x->target.query_len = 0;
    size_t max = cfg->limits.max_identifier_bytes;
    const struct ss_client_id *p = &m->service.provider;
    if (!parts_within(&m->client, max) || !parts_within(p, max) ||
        strlen(m->service.service_code) > max || strlen(m->service.service_version) > max ||
        (m->has_security_server &&
         (!parts_within(&m->security_server.owner, max) || strlen(m->security_server.code) > max)))
        return ss_errf(SS_ERR_BAD_IDENTIFIER,
                       "an identifier part in the SOAP header is longer than %zu "
                       "bytes",
                       max);
    if (!ss_client_id_format(&x->client, x->client_str, sizeof x->client_str) ||
        !ss_service_id_format(&x->target.service, x->service_str, sizeof x->service_str))
        return ss_errf(SS_ERR_BAD_IDENTIFIER, "an identifier in the SOAP header is too long");
    if (!ss_manifest_query_id_valid(m->id)) /* as the SOAP parser's faults: a bad message */
        return ss_errf(SS_ERR_PROTOCOL,
                       "the SOAP header field id must be 1 to %d visible ASCII "
                       "characters",
                       SS_MANIFEST_QUERY_ID_MAX);
    snprintf(x->message_id, sizeof x->message_id, "%s", m->id);
    x->purpose = m->has_purpose ? m->purpose : NULL;
    x->subject = m->has_subject ? m->subject : NULL;
    x->has_target_server = m->has_security_server;
    x->target_server = m->security_server;
    if (!x->server_proxy)
        return SS_OK;
    struct ss_client_id sender;
    if ((err = request_client(req, max, &sender)))
        return err;
    const char *mid = ss_headers_get(&req->headers, "X-Road-Id");
    if (!ss_client_id_equal(&sender, &x->client) || !mid || strcmp(mid, m->id) != 0)
        return ss_errf(SS_ERR_BAD_HEADER, "X-Road-Client or X-Road-Id differ from the SOAP "
                                          "header's client or id");
    if (ss_headers_get(&req->headers, SS_HDR_PURPOSE) ||
        ss_headers_get(&req->headers, SS_HDR_SUBJECT))
        return ss_errf(SS_ERR_BAD_HEADER, "a SOAP message carries its purpose and subject in its "
                                          "header, not in HTTP fields");
    return SS_OK;
}

/* The exchange's clock starts, and the registry in force is taken. */
static ss_error start(struct exchange *x)
{
    clock_gettime(CLOCK_MONOTONIC, &x->start);
    ss_error err = SS_OK;
    x->trust = ss_regstore_acquire(x->d->registry, &err);
    return x->trust ? SS_OK : err;
}

/* Acquires the registry in force and reads who asks for what. */
static ss_error begin(struct exchange *x)
{
    ss_error err = start(x);
    if (err)
        return err;
    /* a field given twice or hidden behind Connection is refused before any of them is read */
    if ((err = ss_rest_check_fields(&x->req->headers)))
        return err;
    if ((err = x->soap ? identify_soap(x) : identify_rest(x)))
        return err;
    const struct ss_registry *reg = ss_trust_registry(x->trust);
    if (strcmp(x->client.instance, reg->instance) != 0)
        return ss_errf(SS_ERR_UNKNOWN_CLIENT, "client %s is not in instance %s", x->client_str,
                       reg->instance);
    if (!ss_registry_client_exists(reg, &x->client))
        return ss_errf(SS_ERR_UNKNOWN_CLIENT, "client %s is not in the registry", x->client_str);
    if (x->purpose && (err = ss_rest_check_purpose(x->purpose)))
        return err;
    if (x->subject && (err = ss_rest_check_subject(x->subject)))
        return err;
    const char *party = ss_headers_get(&x->req->headers, SS_HDR_REPRESENTED_PARTY);
    if (!x->soap && party && (err = ss_rest_check_represented_party(party)))
        return err;
    return SS_OK;
}

/* This server as the registry lists it. */
static ss_error self_server(const struct exchange *x, const struct ss_reg_server **out)
{
    const struct ss_config *cfg = x->d->cfg;
    *out = ss_registry_server(ss_trust_registry(x->trust), &cfg->owner, cfg->server_code);
    if (!*out)
        return ss_errf(SS_ERR_REGISTRY, "this security server (%s/%s/%s) is not in the registry",
                       cfg->owner.member_class, cfg->owner.member_code, cfg->server_code);
    return SS_OK;
}

/* True if this server hosts id both by configuration and by the registry. */
static ss_error check_hosted(const struct exchange *x, const struct ss_client_id *id,
                             const char *id_str, ss_error code)
{
    const struct ss_reg_server *self = NULL;
    ss_error err = self_server(x, &self);
    if (err)
        return err;
    if (!ss_config_client(x->d->cfg, id))
        return ss_errf(code, "%s is not hosted by this security server", id_str);
    if (!ss_registry_server_hosts(self, id))
        return ss_errf(code, "the registry does not list %s as hosted by this security server",
                       id_str);
    return SS_OK;
}

/* The fields of an upstream answer when it has a Connection field (whose names are then looked
 * up for each field), else NULL: most answers have none. */
static const struct ss_headers *connection_fields(const struct ss_upstream_response *up)
{
    return ss_headers_get(&up->headers, "Connection") ? &up->headers : NULL;
}

/* Whether the field name of an upstream answer reaches the client: not one that is hop-by-hop
 * (filtered, or named by the answer's Connection field: conn, see connection_fields) or set
 * anew here. */
static bool response_field_passes(const struct ss_headers *conn, const char *name, bool keep_xroad)
{
    if (ss_rest_header_filtered(name) || strcasecmp(name, "Date") == 0 || ss_envelope_field(name) ||
        (conn && ss_rest_named_by_connection(conn, name)))
        return false;
    if (!keep_xroad && (ss_rest_header_reserved(name) || strcasecmp(name, "X-Road-Id") == 0))
        return false;
    return true;
}

/* Copies an upstream response into the answer. */
static ss_error copy_response(struct exchange *x, struct ss_upstream_response *up, bool keep_xroad)
{
    struct ss_http_response *resp = x->resp;
    /* a final status is 2xx to 5xx (RFC 9110 15): anything else is no answer to pass on, and
     * would not be one the other server's manifest could carry */
    if (up->status < 200 || up->status > 599)
        return ss_errf(SS_ERR_UPSTREAM,
                       "answered with status %ld, which is not a final HTTP status",
                       (long)up->status);
    resp->status = (unsigned)up->status;
    const char *ct = ss_headers_get(&up->headers, "Content-Type");
    const struct ss_headers *conn = connection_fields(up);
    for (size_t i = 0; i < up->headers.n && !x->soap; i++) {
        const struct ss_header *f = &up->headers.items[i];
        if (!response_field_passes(conn, f->name, keep_xroad))
            continue;
        /* over the answer's limit: the service answered badly, not the client */
        if (ss_headers_add(&resp->headers, f->name, f->value))
            return ss_errf(SS_ERR_UPSTREAM, "the answer's header fields: %s", ss_errmsg());
    }
    ss_error err;
    if (x->soap && ct && (err = ss_headers_add(&resp->headers, "Content-Type", ct)))
        return err;
    /* an answer to HEAD says the length of the answer to GET if its source did, and none if it
     * did not (RFC 9110 8.6); a 304 the length its source said. A 304 without one gets
     * libmicrohttpd's "Content-Length: 0": without any, libmicrohttpd 0.9.75 would close the
     * connection after it, between servers a new handshake for each */
    if (strcmp(x->req->method, "HEAD") == 0) {
        resp->head_length_set = true;
        if (!ss_headers_content_length(&up->headers, &resp->head_length))
            resp->head_length = UINT64_MAX; /* libmicrohttpd's "unknown" */
    } else if (up->status == 304) {
        resp->head_length_set = ss_headers_content_length(&up->headers, &resp->head_length) &&
                                resp->head_length != UINT64_MAX;
    }
    free(resp->body);
    resp->body = up->body;
    resp->body_len = up->body_len;
    up->body = NULL;
    up->body_len = 0;
    return SS_OK;
}

/*
 * The X-Road fields of an upstream answer that an error answered anew
 * carries as the answer passed on would (X-Road-Error and X-Road-Id it has).
 */
static ss_error copy_xroad_fields(struct exchange *x, const struct ss_upstream_response *up)
{
    const struct ss_headers *conn = connection_fields(up);
    for (size_t i = 0; i < up->headers.n; i++) {
        const struct ss_header *f = &up->headers.items[i];
        if (!ss_rest_header_reserved(f->name) || !response_field_passes(conn, f->name, true) ||
            strcasecmp(f->name, "X-Road-Error") == 0 || ss_headers_get(&x->resp->headers, f->name))
            continue;
        if (ss_headers_add(&x->resp->headers, f->name, f->value))
            return ss_errf(SS_ERR_UPSTREAM, "the answer's header fields: %s", ss_errmsg());
    }
    return SS_OK;
}

/* The longest URL this server sends a request to. */
#define URL_MAX 8192

static ss_error set_url(struct exchange *x, const char *what, const char *fmt, ...) SS_PRINTF(3, 4);

/* x->url as fmt makes it, in as much memory as it takes; what names it in the error. */
static ss_error set_url(struct exchange *x, const char *what, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= URL_MAX)
        return ss_errf(SS_ERR_LIMIT, "%s URL too long", what);
    char *url = malloc((size_t)n + 1);
    if (!url)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    va_start(ap, fmt);
    vsnprintf(url, (size_t)n + 1, fmt, ap);
    va_end(ap);
    free(x->url);
    x->url = url;
    return SS_OK;
}

/* The outbound message for this exchange: the request as received, to url. */
static struct ss_upstream_request outbound(const struct exchange *x, const char *url,
                                           const struct ss_headers *fields,
                                           const struct ss_upstream_tls *tls)
{
    const struct ss_limits *l = &x->d->cfg->limits;
    /* a peer's answer: what its server proxy may send, and the fields libmicrohttpd adds (Date,
     * Content-Length, Connection) */
    size_t answer_bytes =
        tls ? ss_http_answer_field_bytes(&x->d->server_limits) + 256 : l->max_answer_header_bytes;
    return (struct ss_upstream_request){.method = x->req->method,
                                        .url = url,
                                        .headers = fields,
                                        .body = x->req->body,
                                        .body_len = x->req->body_len,
                                        .connect_timeout_ms = l->connect_timeout * 1000u,
                                        .timeout_ms = l->backend_timeout * 1000u,
                                        .max_response_bytes = l->max_body_bytes,
                                        .max_response_headers = answer_bytes,
                                        .tls = tls,
                                        .service = tls ? NULL : ss_daemon_service_tls(x->d)};
}

/* Fields sent on: what the client may send, plus the X-Road fields added here. */
static void outbound_fields_init(const struct exchange *x, struct ss_headers *fields)
{
    const struct ss_limits *l = &x->d->cfg->limits;
    ss_headers_init(fields, l->max_headers + SS_ENVELOPE_ADDED_FIELDS,
                    l->max_header_bytes + SS_ENVELOPE_ADDED_BYTES);
}

/*
 * The one point every exchange passes, on both sides: message is the
 * outbound request exactly as sent, response the answer exactly as
 * received.
 */
static ss_error forward(struct exchange *x, const struct ss_upstream_request *message,
                        struct ss_upstream_response *response)
{
    uint64_t from = ss_monotonic_us();
    ss_error err = ss_upstream_send(x->d->upstream, message, response);
    x->waiting_us += ss_monotonic_us() - from;
    x->forwarded = true;
    return err;
}

static void finish(struct exchange *x)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    long ms = (now.tv_sec - x->start.tv_sec) * 1000 + (now.tv_nsec - x->start.tv_nsec) / 1000000;
    double total =
        (double)(now.tv_sec - x->start.tv_sec) + (double)(now.tv_nsec - x->start.tv_nsec) / 1e9;
    const char *relayed = ss_headers_get(&x->resp->headers, "X-Road-Error");
    const char *outcome = x->outcome[0] ? x->outcome : relayed ? relayed : "ok";
    ss_metrics_exchange(x->d->metrics, x->server_proxy ? SS_METRICS_INBOUND : SS_METRICS_OUTBOUND,
                        x->client_str[0] ? x->client_str : "-",
                        x->service_str[0] ? x->service_str : "-", outcome, total, x->forwarded,
                        (double)x->waiting_us / 1e6);
    if (x->resp->status && !x->outcome[0] && !relayed)
        ss_log_info("%s: %s %s client=%s service=%s purpose=%s request-id=%s status=%u %ldms",
                    x->server_proxy ? "server-proxy" : "client-proxy", x->req->method,
                    x->server_proxy ? "served" : "forwarded", x->client_str, x->service_str,
                    x->purpose ? x->purpose : "-", x->request_id, x->resp->status, ms);
    ss_trust_unref(x->trust);
    ss_envelope_cleanup(&x->request_env);
}

/* ---- client proxy ---- */

/*
 * The information system: over HTTPS, whatever the client, it shows a certificate that
 * tls_client_ca issued (the listener only asks for one, so that a refusal is an X-Road
 * error, not a failed handshake); a client bound to a certificate comes over HTTPS with
 * that one.
 */
static ss_error authenticate_is(struct exchange *x)
{
    const struct ss_hosted_client *hc = ss_config_client(x->d->cfg, &x->client);
    bool bound = hc && hc->has_is_cert;
    if (!x->req->tls && !bound)
        return SS_OK;
    if (!x->req->tls)
        return ss_errf(SS_ERR_CLIENT_NOT_HOSTED,
                       "client %s must connect over HTTPS with its certificate", x->client_str);
    uint8_t fp[32];
    ss_error err =
        ss_trust_verify_is(ss_daemon_is_cas(x->d), x->req->peer_certs, x->req->n_peer_certs, fp);
    if (err)
        return ss_errf(SS_ERR_CLIENT_NOT_HOSTED, "IS certificate refused: %s", ss_errmsg());
    if (bound && !ss_trust_fingerprint_equal(fp, hc->is_cert_sha256))
        return ss_errf(SS_ERR_CLIENT_NOT_HOSTED,
                       "the IS certificate is not the one bound to client %s", x->client_str);
    return SS_OK;
}

/*
 * Of a SOAP message's HTTP fields only Content-Type and SOAPAction are
 * kept (the X-Road message protocol 4.0, section 2.2), request and
 * response alike.
 */
static ss_error copy_soap_fields(const struct ss_headers *in, struct ss_headers *out)
{
    static const char *const kept[] = {"Content-Type", "SOAPAction"};
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++) {
        const char *v = ss_headers_get(in, kept[i]);
        ss_error err = v ? ss_headers_add(out, kept[i], v) : SS_OK;
        if (err)
            return err;
    }
    return SS_OK;
}

static ss_error build_outbound_fields(struct exchange *x, struct ss_headers *fields)
{
    outbound_fields_init(x, fields);
    ss_error err;
    if (x->soap) {
        ss_rest_uuid(x->request_id);
        if ((err = copy_soap_fields(&x->req->headers, fields)) ||
            (err = ss_headers_add(fields, "X-Road-Id", x->message_id)) ||
            (err = ss_headers_add(fields, "X-Road-Client", x->client_str)) ||
            (err = ss_headers_add(fields, "X-Road-Request-Id", x->request_id)))
            return err;
        return SS_OK;
    }
    if ((err = ss_rest_copy_end_to_end(&x->req->headers, fields)))
        return err;
    const char *id = ss_headers_get(&x->req->headers, "X-Road-Id");
    if (id && !ss_manifest_query_id_valid(id))
        return ss_errf(SS_ERR_BAD_HEADER, "X-Road-Id must be 1 to %d visible ASCII characters",
                       SS_MANIFEST_QUERY_ID_MAX);
    if (id)
        snprintf(x->message_id, sizeof x->message_id, "%s", id);
    else
        ss_rest_uuid(x->message_id);
    ss_rest_uuid(x->request_id);
    ss_headers_remove(fields, "X-Road-Id");
    if (!ss_headers_get(fields, "Accept") &&
        (err = ss_headers_add(fields, "Accept", "application/json")))
        return err;
    if ((err = ss_headers_add(fields, "X-Road-Id", x->message_id)) ||
        (err = ss_headers_add(fields, "X-Road-Client", x->client_str)) ||
        (err = ss_headers_add(fields, "X-Road-Request-Id", x->request_id)))
        return err;
    return SS_OK;
}

/*
 * The provider's answer must be bound to this request (X-Road-Request-Hash).
 * Only an error the provider's server raised before it could read the
 * request may come unbound, and only in the X-Road error form: it is
 * answered anew from its parsed fields (*answered set), so no other byte
 * of an unbound answer reaches the information system.
 */
static ss_error check_binding(struct exchange *x, const struct ss_upstream_response *up,
                              const char *hash, bool *answered)
{
    *answered = false;
    const char *got = ss_headers_get(&up->headers, "X-Road-Request-Hash");
    if (got && strcmp(got, hash) == 0)
        return SS_OK;
    if (got)
        return ss_errf(SS_ERR_UPSTREAM, "the provider's response is bound to another request "
                                        "(X-Road-Request-Hash differs)");
    const char *type = ss_headers_get(&up->headers, "X-Road-Error");
    struct ss_rest_error e;
    if (up->status < 400 || up->status > 599 || !type ||
        ss_rest_parse_error(up->body, up->body_len, &e) != SS_OK || strcmp(e.type, type) != 0)
        return ss_errf(SS_ERR_UPSTREAM, "the provider's response is not bound to this request "
                                        "(X-Road-Request-Hash missing, and not an X-Road error)");
    ss_log_warn("client-proxy: the provider's server refused request-id=%s before reading it: "
                "%s (its detail %s)",
                x->request_id, e.type, e.detail);
    relay_error(x, (unsigned)up->status, &e);
    log_refusal(x, x->resp->status, e.type);
    *answered = true;
    return SS_OK;
}

/* Fills the digests and identifiers every manifest of this exchange carries. */
static void manifest_init(const struct exchange *x, enum ss_manifest_kind kind,
                          struct ss_manifest *m)
{
    memset(m, 0, sizeof *m);
    m->kind = kind;
    m->time = time(NULL);
    snprintf(m->query_id, sizeof m->query_id, "%s", x->message_id);
    snprintf(m->request_id, sizeof m->request_id, "%s", x->request_id);
    snprintf(m->client, sizeof m->client, "%s", x->client_str);
    snprintf(m->service, sizeof m->service, "%s", x->service_str);
    if (x->purpose)
        snprintf(m->purpose, sizeof m->purpose, "%s", x->purpose);
    if (x->subject) {
        ss_seal_subject_hash(x->d, x->subject, m->subject_hash);
        m->has_subject = true;
    }
}

/*
 * Checks that a manifest names this exchange and binds the message as it
 * arrived (request: method, target; response: status), field by field.
 */
static ss_error manifest_matches(const struct exchange *x, const struct ss_manifest *m,
                                 enum ss_manifest_kind kind, const char *method, const char *target,
                                 unsigned status, const struct ss_headers *fields,
                                 const uint8_t *body, size_t body_len)
{
    struct ss_manifest want;
    manifest_init(x, kind, &want);
    const char *bad = NULL;
    uint8_t line[32], headers[32], digest[32];
    if (method)
        ss_envelope_line_digest(method, target, line);
    else
        ss_envelope_status_digest(status, line);
    ss_error err = ss_envelope_fields_digest(fields, headers);
    if (err)
        return err;
    ss_envelope_sha256(body, body_len, digest);
    if (m->kind != kind)
        bad = "kind";
    else if (strcmp(m->query_id, want.query_id) != 0)
        bad = "query-id";
    else if (strcmp(m->request_id, want.request_id) != 0)
        bad = "request-id";
    else if (strcmp(m->client, want.client) != 0)
        bad = "client";
    else if (strcmp(m->service, want.service) != 0)
        bad = "service";
    else if (strcmp(m->purpose, want.purpose) != 0)
        bad = "purpose";
    else if (m->has_subject != (x->subject != NULL))
        bad = "subject-hash";
    else if (memcmp(m->line_sha256, line, 32) != 0)
        bad = method ? "request-line-sha256" : "status-line-sha256";
    else if (memcmp(m->headers_sha256, headers, 32) != 0)
        bad = "headers-sha256";
    else if (memcmp(m->body_sha256, digest, 32) != 0)
        bad = "body-sha256";
    else if (kind == SS_MANIFEST_RESPONSE &&
             (m->status != status ||
              memcmp(m->request_manifest_sha256, x->request_manifest_sha256, 32) != 0))
        bad = m->status != status ? "status" : "request-manifest-sha256";
    if (bad)
        return ss_errf(SS_ERR_BAD_SIGNATURE,
                       "the signed manifest does not match the message (%s differs)", bad);
    return SS_OK;
}

/* The member whose key signs for a client or provider subsystem. */
static struct ss_client_id member_id(const struct ss_client_id *id)
{
    struct ss_client_id m = *id;
    m.subsystem[0] = '\0';
    return m;
}

/*
 * The consumer's side of the provider's answer: an answer that is not an
 * X-Road error raised by the provider's server must carry the provider
 * member's signature over a manifest that binds it to our request.
 */
static ss_error check_answer(struct exchange *x, const struct ss_upstream_response *up,
                             struct ss_envelope *env)
{
    ss_error err = ss_envelope_take(&up->headers, env);
    if (err == SS_ERR_MISSING_SIGNATURE && up->status >= 400 &&
        ss_headers_get(&up->headers, "X-Road-Error"))
        return SS_OK; /* an error the provider's server raised, passed on as such */
    if (err)
        return err;
    struct ss_manifest m;
    struct ss_client_id provider = member_id(&x->target.service.provider);
    if ((err = ss_seal_check(x->d, x->trust, env, &provider, &m)))
        return err;
    return manifest_matches(x, &m, SS_MANIFEST_RESPONSE, NULL, NULL, (unsigned)up->status,
                            &up->headers, up->body, up->body_len);
}

/*
 * The SOAP message of an answer, on the heap (a message is 8 kB, and a
 * fiber's stack stays shallow); whose names the answer in the error.
 */
static ss_error parse_soap_answer(const struct ss_upstream_response *up, const char *whose,
                                  struct ss_mime_soap *part, struct ss_soap_message **out)
{
    *out = NULL;
    struct ss_soap_message *m = malloc(sizeof *m);
    if (!m)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    const char *ct = ss_headers_get(&up->headers, "Content-Type");
    ss_error err = ss_mime_soap_locate(ct, up->body, up->body_len, part);
    if (!err)
        err = ss_soap_parse(up->body + part->start, part->len, part->charset, true, m);
    if (err) {
        free(m);
        return ss_errf(SS_ERR_UPSTREAM, "%s answer is not a SOAP message: %s", whose, ss_errmsg());
    }
    *out = m;
    return SS_OK;
}

/*
 * The SOAP part of an answer: a SOAP message, and unless it is a Fault it
 * carries the request's X-Road header fields and the requestHash of the
 * request as the information system sent it.
 */
static ss_error check_soap_answer(struct exchange *x, const struct ss_upstream_response *up)
{
    struct ss_mime_soap part;
    struct ss_soap_message *m;
    ss_error err = parse_soap_answer(up, "the provider's", &part, &m);
    if (err)
        return err;
    if (m->fault)
        err = SS_OK;
    else if (ss_soap_echoed(x->envelope, m))
        err = ss_errf(SS_ERR_UPSTREAM_INCONSISTENT, "%s", ss_errmsg());
    else if (strcmp(m->request_hash, x->soap_hash) != 0)
        err = ss_errf(SS_ERR_UPSTREAM_INCONSISTENT,
                      "the answer's requestHash is not the hash of this request");
    free(m);
    return err;
}

/*
 * The server a request names (X-Road-Security-Server, or securityServer in
 * a SOAP header): a server the registry lists, hosting the provider.
 */
static ss_error target_server(const struct exchange *x, const struct ss_registry *reg,
                              const struct ss_reg_server **out)
{
    char name[SS_ID_STR_MAX];
    (void)ss_server_id_format(&x->target_server, name, sizeof name);
    const struct ss_reg_server *s =
        ss_registry_server(reg, &x->target_server.owner, x->target_server.code);
    if (!s)
        return ss_errf(SS_ERR_INVALID_SECURITY_SERVER,
                       "the security server %s is not in the registry", name);
    if (!ss_registry_server_hosts(s, &x->target.service.provider))
        return ss_errf(SS_ERR_INVALID_SECURITY_SERVER,
                       "the security server %s does not host the provider of %s", name,
                       x->service_str);
    *out = s;
    return SS_OK;
}

static ss_error consume(struct exchange *x)
{
    x->out_target = x->soap ? "/" : x->req->target;
    ss_error err = begin(x);
    if (err)
        return err;
    if ((err = check_hosted(x, &x->client, x->client_str, SS_ERR_CLIENT_NOT_HOSTED)) ||
        (err = authenticate_is(x)))
        return err;
    /* a traversal attempt is refused here already, not only by the provider */
    if ((err = ss_policy_path_check(x->target.path, x->target.path_len)))
        return ss_errf(SS_ERR_PROTOCOL, "%s", ss_errmsg());
    const struct ss_registry *reg = ss_trust_registry(x->trust);
    const struct ss_client_id *provider = &x->target.service.provider;
    if (strcmp(provider->instance, reg->instance) != 0 || !ss_registry_client_exists(reg, provider))
        return ss_errf(SS_ERR_UNKNOWN_SERVICE, "provider of %s is not in the registry",
                       x->service_str);
    const struct ss_reg_server *servers[8];
    size_t n_servers = ss_registry_servers_for_client(reg, provider, servers, 8);
    if (n_servers == 0)
        return ss_errf(SS_ERR_UNKNOWN_SERVICE, "no security server hosts the provider of %s",
                       x->service_str);
    if (n_servers > 8)
        n_servers = 8;
    if (x->has_target_server) {
        /* the request names the server it is for: that one, or none */
        if ((err = target_server(x, reg, &servers[0])))
            return err;
        n_servers = 1;
    }

    if (ss_seal_overdue(x->d))
        return ss_errf(SS_ERR_TIMESTAMPING, "timestamping is overdue: new exchanges are refused");

    struct ss_headers fields;
    struct ss_upstream_response up = {0};
    struct ss_envelope answer_env = {0};
    if ((err = build_outbound_fields(x, &fields)))
        goto out;
    char hash[SS_REQUEST_HASH_B64];
    /* the provider computes the same over what it receives; its answer must echo it */
    ss_rest_request_hash(x->req->method, x->out_target, &fields, x->req->body, x->req->body_len,
                         hash);
    /* sign the request as it goes out; its record is written while it travels, and is durable
     * before anything is answered */
    struct ss_manifest m;
    manifest_init(x, SS_MANIFEST_REQUEST, &m);
    ss_envelope_line_digest(x->req->method, x->out_target, m.line_sha256);
    ss_envelope_sha256(x->req->body, x->req->body_len, m.body_sha256);
    struct ss_client_id client_member = member_id(&x->client);
    if ((err = ss_envelope_fields_digest(&fields, m.headers_sha256)) ||
        (err = ss_seal_sign(x->d, &client_member, &m, &x->request_env)))
        goto out;
    ss_envelope_sha256(x->request_env.manifest, x->request_env.manifest_len,
                       x->request_manifest_sha256);
    err = log_start(x, "request", x->req->method, x->out_target, 0, &fields, x->req->body,
                    x->req->body_len, &x->request_env, NULL, false, &x->request_log);
    /* after a logging failure, nothing leaves before its own record is durable */
    if (!err && atomic_load(&x->d->log_failing))
        err = request_log_wait(x, SS_OK);
    if (err)
        goto out;
    x->request_logged = true;
    if ((err = ss_envelope_add(&fields, &x->request_env)))
        goto out;
    for (size_t i = 0; !err && i < n_servers; i++) {
        if ((err = set_url(x, "request", "https://%s%s", servers[i]->address, x->out_target)))
            break;
        struct ss_upstream_tls tls = {.trust = x->trust, .expected = servers[i]};
        ss_daemon_identity(x->d, &tls.cert_pem, &tls.key_pem);
        struct ss_upstream_request message = outbound(x, x->url, &fields, &tls);
        err = forward(x, &message, &up);
        /* another server hosting the provider may be reachable: only network errors move on */
        if (err == SS_ERR_NETWORK && i + 1 < n_servers) {
            ss_log_warn("client-proxy: %s unreachable, trying the next server: %s",
                        servers[i]->address, ss_errmsg());
            err = SS_OK;
            continue;
        }
        break;
    }
    if ((err = request_log_wait(x, err)))
        goto out;
    bool answered = false;
    if ((err = check_binding(x, &up, hash, &answered)) || answered)
        goto out;
    if ((err = check_answer(x, &up, &answer_env)))
        goto out;
    /* the answer is logged as it arrived before the information system sees it; a SOAP answer
     * that does not match the request is logged with the error it is refused with */
    const char *type = ss_headers_get(&up.headers, "X-Road-Error");
    char soap_type[SS_REST_ERROR_TYPE_MAX + 1];
    ss_error refused = SS_OK;
    if (x->soap && !type && (refused = check_soap_answer(x, &up))) {
        ss_error saved = refused;
        char why[512];
        snprintf(why, sizeof why, "%s", ss_errmsg());
        (void)ss_exchange_error_status(refused, false, soap_type, sizeof soap_type);
        type = soap_type;
        refused = ss_errf(saved, "%s", why);
    }
    if ((err = log_message(x, "response", NULL, NULL, (unsigned)up.status, &up.headers, up.body,
                           up.body_len, answer_env.manifest ? &answer_env : NULL, type, false)))
        goto out;
    x->refusal_logged = true; /* an error answer from the provider is logged above */
    if (type && up.sends > 1 && strcmp(type, "Client.DuplicateRequest") == 0) {
        /* libcurl sent the request again after the connection closed without an answer, and
         * the provider's server refused the copy: it may have had the first (or the information
         * system sent this query id before); either way the service's answer is unknown */
        err = ss_errf(SS_ERR_UPSTREAM,
                      "the provider's security server closed the connection without an answer, "
                      "and refused the request when it was sent again as one it already had: "
                      "whether the service received it is unknown");
        goto out;
    }
    if ((err = refused))
        goto out;
    if (type && (x->soap || ss_rest_error_media(&x->req->headers))) {
        /* the provider's server refused: the information system gets it as a SOAP Fault, or
         * in XML when it accepts XML (the log keeps the answer as it came) */
        struct ss_rest_error e;
        if (ss_rest_parse_error(up.body, up.body_len, &e) == SS_OK && strcmp(e.type, type) == 0) {
            relay_error(x, (unsigned)up.status, &e);
            if (!x->soap)
                err = copy_xroad_fields(x, &up);
            goto out;
        }
        if (x->soap) {
            err = ss_errf(SS_ERR_UPSTREAM, "the provider's error answer is not in the X-Road form");
            goto out;
        }
    }
    err = copy_response(x, &up, true);
out:
    err = request_log_wait(x, err);
    ss_envelope_cleanup(&answer_env);
    ss_upstream_response_cleanup(&up);
    ss_headers_cleanup(&fields);
    return err;
}

/*
 * listClients (pr-meta section 2): GET /listClients[?xRoadInstance=X], the
 * members and subsystems of the registry in force, answered here; XML, or
 * JSON for Accept: application/json.
 */
static bool list_clients_request(const struct ss_http_request *req)
{
    const char *t = req->target ? req->target : "";
    return req->method && (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0) &&
           strncmp(t, "/listClients", 12) == 0 && (t[12] == '\0' || t[12] == '?');
}

static ss_error list_clients(struct exchange *x)
{
    ss_error err = start(x);
    if (err)
        return err;
    const char *q = strchr(x->req->target, '?');
    char instance[SS_ID_PART_MAX + 2];
    ss_rest_query_param(q ? q : "", q ? strlen(q) : 0, "xRoadInstance", instance, sizeof instance);
    /* XML unless the client weighs JSON above it (pr-mrest) */
    static const char *const forms[] = {"text/xml", "application/json"};
    bool json = ss_rest_accept(&x->req->headers, forms, 2) == 1;
    char *body = NULL;
    size_t len = 0;
    if ((err = ss_meta_clients(ss_trust_registry(x->trust), instance, json, &body, &len)))
        return err;
    x->resp->status = 200;
    err = ss_http_set_body(x->resp, body, len,
                           json ? "application/json; charset=utf-8" : "text/xml; charset=utf-8");
    free(body);
    return err;
}

void ss_exchange_client_proxy(void *cls, const struct ss_http_request *req,
                              struct ss_http_response *resp)
{
    struct exchange *x = exchange_new(cls, req, resp, false);
    if (!x)
        return;
    ss_error err;
    if (!list_clients_request(req))
        err = consume(x);
    else if (!(err = authenticate_is(x))) /* over HTTPS too, only with an IS certificate */
        err = list_clients(x);
    if (err)
        fail_err(x, err);
    finish(x);
    exchange_free(x);
}

/* ---- server proxy ---- */

/*
 * Authenticates the peer server for a request of client, in the order of
 * cost: chain to an approved CA, then the pin (a server the registry lists
 * as hosting client), and only then the certificate's status, so that no
 * unregistered peer can make this server ask an OCSP responder. Chain and
 * status hold for the connection under one registry, while the status is
 * fresh; the pin is checked for every request. Without may_ask (the gate,
 * on an HTTP thread that serves other connections meanwhile) a status not
 * cached yet is left to the handler, which asks the responder in its fiber.
 */
static ss_error authenticate_peer(const struct ss_trust *trust, const struct ss_http_request *req,
                                  const struct ss_client_id *client, bool may_ask)
{
    const struct ss_registry *reg = ss_trust_registry(trust);
    struct ss_http_conn *conn = req->conn;
    time_t now = time(NULL);
    uint8_t fp[32];
    bool fresh = conn && conn->verified_serial == reg->serial &&
                 now - conn->verified_at < reg->settings.ocsp_freshness;
    bool known = fresh && conn->peer == SS_PEER_VERIFIED;
    /* the gate verified the chain, and left the status to the handler */
    bool chained = fresh && conn->peer == SS_PEER_CHAIN;
    ss_error err;
    if (known || chained)
        memcpy(fp, conn->peer_sha256, 32);
    else if ((err = ss_trust_verify_chain(trust, req->peer_certs, req->n_peer_certs, false, fp)))
        return err;
    if ((err = ss_trust_check_client_server(trust, fp, client)))
        return err;
    if (known)
        return SS_OK;
    err = may_ask ? ss_trust_check_status(trust, req->peer_certs, req->n_peer_certs, 0)
                  : ss_trust_check_status_cached(trust, req->peer_certs, req->n_peer_certs);
    bool deferred = !may_ask && err == SS_ERR_NOT_FOUND; /* the handler asks */
    if (err && !deferred)
        return err;
    if (!conn)
        return SS_OK;
    if (!chained) {
        memcpy(conn->peer_sha256, fp, 32);
        conn->verified_serial = reg->serial;
        conn->verified_at = now;
    }
    conn->peer = deferred ? SS_PEER_CHAIN : SS_PEER_VERIFIED;
    return SS_OK;
}

ss_error ss_exchange_server_proxy_gate(void *cls, const struct ss_http_request *req)
{
    struct ss_daemon *d = cls;
    ss_error err;
    struct ss_trust *trust = ss_regstore_acquire(d->registry, &err);
    if (!trust)
        return err;
    struct ss_client_id client;
    err = request_client(req, d->cfg->limits.max_identifier_bytes, &client);
    if (!err)
        err = authenticate_peer(trust, req, &client, false);
    ss_trust_unref(trust);
    return err;
}

/*
 * The policy decision. A SOAP request has no method and no path for it: it
 * is covered by the rules that name neither. The service's version is not
 * part of access control (the X-Road message protocol 4.0, section 3.1).
 */
static ss_error decide(struct exchange *x, const char *method, const char *path)
{
    struct ss_policy_set *set = ss_daemon_policies(x->d);
    struct ss_service_id service = x->target.service;
    service.service_version[0] = '\0';
    struct ss_policy_request preq = {.client = &x->client,
                                     .service = &service,
                                     .purpose = x->purpose,
                                     .method = method,
                                     .path = path,
                                     .now = time(NULL),
                                     .registry = ss_trust_registry(x->trust)};
    struct ss_policy_decision dec;
    ss_error err = ss_policy_decide(set, &preq, &dec);
    ss_policy_set_unref(set);
    if (err == SS_OK && dec.allow)
        return SS_OK;
    if (dec.outcome == SS_POLICY_METHOD_NOT_ALLOWED || dec.outcome == SS_POLICY_PATH_NOT_ALLOWED)
        err = SS_ERR_OPERATION_DENIED;
    /* the reason goes to the operator log under the detail id; the client gets a fixed text */
    if (dec.line > 0)
        return ss_errf(err ? err : SS_ERR_ACCESS_DENIED, "policy %s: %s (%s:%ld)",
                       ss_policy_outcome_name(dec.outcome), dec.reason, dec.file, dec.line);
    return ss_errf(err ? err : SS_ERR_ACCESS_DENIED, "policy %s: %s",
                   ss_policy_outcome_name(dec.outcome), dec.reason);
}

static ss_error backend_url(const struct ss_service_map *map, const struct ss_rest_target *t,
                            struct exchange *x)
{
    size_t base = strlen(map->url);
    while (base > 0 && map->url[base - 1] == '/' && t->path_len > 0)
        base--;
    return set_url(x, "backend", "%.*s%.*s%.*s", (int)base, map->url, (int)t->path_len, t->path,
                   (int)t->query_len, t->query);
}

/*
 * The consumer's signature over the request as it arrived: the envelope
 * is there, signed by the client's member, fresh, and its manifest binds
 * this very request.
 */
static ss_error check_request(struct exchange *x)
{
    ss_error err = ss_envelope_take(&x->req->headers, &x->request_env);
    if (err)
        return err;
    struct ss_manifest m;
    struct ss_client_id client_member = member_id(&x->client);
    if ((err = ss_seal_check(x->d, x->trust, &x->request_env, &client_member, &m)))
        return err;
    ss_envelope_sha256(x->request_env.manifest, x->request_env.manifest_len,
                       x->request_manifest_sha256);
    return manifest_matches(x, &m, SS_MANIFEST_REQUEST, x->req->method, x->req->target, 0,
                            &x->req->headers, x->req->body, x->req->body_len);
}

/* Signs the answer as it will leave, logs it, and adds the evidence to it. */
static ss_error seal_answer(struct exchange *x)
{
    struct ss_http_response *resp = x->resp;
    struct ss_manifest m;
    manifest_init(x, SS_MANIFEST_RESPONSE, &m);
    m.status = resp->status;
    memcpy(m.request_manifest_sha256, x->request_manifest_sha256, 32);
    ss_envelope_status_digest(resp->status, m.line_sha256);
    ss_envelope_sha256(resp->body, resp->body_len, m.body_sha256);
    struct ss_client_id provider = member_id(&x->target.service.provider);
    struct ss_envelope env = {0};
    ss_error err;
    if ((err = ss_envelope_fields_digest(&resp->headers, m.headers_sha256)) ||
        (err = ss_seal_sign(x->d, &provider, &m, &env)) ||
        (err = log_message(x, "response", NULL, NULL, resp->status, &resp->headers, resp->body,
                           resp->body_len, &env, NULL, false)) ||
        (err = ss_envelope_add(&resp->headers, &env))) {
        ss_envelope_cleanup(&env);
        return err;
    }
    ss_envelope_cleanup(&env);
    return SS_OK;
}

/*
 * A SOAP register service's answer: status 200, or 500 with a Fault; a
 * SOAP message; unless it is a Fault, it echoes the request's X-Road header
 * fields and gets the requestHash of the request (any of its own is cut
 * out). A Fault of the service's own passes as it is.
 */
static ss_error soap_service_answer(struct exchange *x, struct ss_upstream_response *up)
{
    if (up->status != 200 && up->status != 500)
        return ss_errf(SS_ERR_UPSTREAM, "the register service answered with HTTP status %ld",
                       up->status);
    struct ss_mime_soap part;
    struct ss_soap_message *m;
    ss_error err = parse_soap_answer(up, "the register service's", &part, &m);
    if (err)
        return err;
    if (m->fault) {
        ss_log_info("server-proxy: the register service answered request-id=%s with a Fault "
                    "(%.100s)",
                    x->request_id, m->fault_code);
        free(m);
        return SS_OK;
    }
    uint8_t *spliced = NULL;
    size_t spliced_len = 0;
    if (up->status != 200)
        err = ss_errf(SS_ERR_UPSTREAM, "the register service answered with status 500 but no "
                                       "Fault");
    else if (ss_soap_echoed(x->envelope, m) ||
             ss_soap_with_request_hash(up->body + part.start, part.len, m, x->soap_hash, &spliced,
                                       &spliced_len))
        err = ss_errf(SS_ERR_UPSTREAM_INCONSISTENT, "%s", ss_errmsg());
    free(m);
    if (err)
        return err;
    size_t tail = up->body_len - part.start - part.len;
    uint8_t *body = malloc(part.start + spliced_len + tail);
    if (!body) {
        free(spliced);
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    }
    memcpy(body, up->body, part.start);
    memcpy(body + part.start, spliced, spliced_len);
    memcpy(body + part.start + spliced_len, up->body + part.start + part.len, tail);
    free(spliced);
    free(up->body);
    up->body = body;
    up->body_len = part.start + spliced_len + tail;
    return SS_OK;
}

/* ---- metaservices (meta.h), answered by the provider's server ---- */

/* What the policy says of one service, gathered for listMethods and allowedMethods. */
struct endpoints {
    const char *service_code;
    bool soap;      /* only rules that name no method and no path cover a SOAP call */
    size_t matched; /* rules for this service (that cover the client, when asked for one) */
    struct ss_meta_endpoint *items;
    size_t n, cap;
    bool failed;
};

static void add_endpoint(struct endpoints *e, const char *method, const char *path)
{
    if (e->failed || !ss_grow(&e->items, &e->cap, e->n + 1, sizeof *e->items, 8)) {
        e->failed = true;
        return;
    }
    e->items[e->n++] = (struct ss_meta_endpoint){.method = method, .path = path ? path : "**"};
}

static void on_rule(void *ctx, const struct ss_policy_endpoint *rule)
{
    struct endpoints *e = ctx;
    if (strcmp(rule->service_code, e->service_code) != 0 ||
        (e->soap && (rule->n_methods > 0 || rule->path)))
        return;
    e->matched++;
    if (rule->n_methods == 0)
        add_endpoint(e, "*", rule->path);
    for (size_t i = 0; i < rule->n_methods; i++)
        add_endpoint(e, rule->methods[i], rule->path);
}

/*
 * The rules of the policy for service code that the client (any, when
 * !for_client) may use, in the way this exchange speaks; returns how many.
 */
static size_t service_endpoints(struct exchange *x, struct ss_policy_set *set, const char *code,
                                bool for_client, struct endpoints *e)
{
    *e = (struct endpoints){.service_code = code, .soap = x->soap};
    (void)ss_policy_endpoints(set, &x->target.service.provider, for_client ? &x->client : NULL,
                              ss_trust_registry(x->trust), time(NULL), on_rule, e);
    return e->matched;
}

static ss_error answer_with(struct ss_upstream_response *up, const char *content_type, char *body,
                            size_t len)
{
    ss_headers_init(&up->headers, 4, 4096);
    up->status = 200;
    up->body = (uint8_t *)body;
    up->body_len = len;
    up->body_cap = 0; /* not from the budget for bodies in transit */
    return ss_headers_add(&up->headers, "Content-Type", content_type);
}

/* listMethods and allowedMethods: the provider's SOAP or REST services, with their endpoints. */
static ss_error list_methods(struct exchange *x, bool allowed, struct ss_upstream_response *up)
{
    const struct ss_config *cfg = x->d->cfg;
    struct ss_policy_set *set = ss_daemon_policies(x->d);
    struct ss_meta_service *list = calloc(cfg->n_services + 1, sizeof *list);
    struct endpoints *eps = calloc(cfg->n_services + 1, sizeof *eps);
    size_t n = 0;
    ss_error err = list && eps ? SS_OK : ss_errf(SS_ERR_NOMEM, "out of memory");
    for (size_t i = 0; !err && i < cfg->n_services; i++) {
        const struct ss_service_map *s = &cfg->services[i];
        if (!ss_client_id_equal(&s->service.provider, &x->target.service.provider) ||
            (s->type == SS_SERVICE_SOAP) != x->soap)
            continue;
        size_t rules = service_endpoints(x, set, s->service.service_code, allowed, &eps[n]);
        if (eps[n].failed)
            err = ss_errf(SS_ERR_NOMEM, "out of memory");
        if (allowed && rules == 0) {
            free(eps[n].items);
            continue;
        }
        list[n] = (struct ss_meta_service){.id = s->service,
                                           .type = s->type == SS_SERVICE_SOAP      ? "WSDL"
                                                   : s->type == SS_SERVICE_OPENAPI ? "OPENAPI"
                                                                                   : "REST",
                                           .endpoints = eps[n].items,
                                           .n_endpoints = eps[n].n};
        /* a SOAP service is named with the version its WSDL gives it (pr-meta C.3) */
        if (s->description && s->type == SS_SERVICE_SOAP)
            snprintf(list[n].id.service_version, sizeof list[n].id.service_version, "%s",
                     x->d->descriptions[i].version);
        n++;
    }
    char *body = NULL, *content = NULL;
    size_t len = 0, content_len = 0;
    if (!err && x->soap) {
        err = ss_meta_methods_xml(allowed ? "allowedMethodsResponse" : "listMethodsResponse", list,
                                  n, &content, &content_len);
        if (!err)
            err = ss_meta_soap_answer(x->req->body + x->part.start, x->part.len, x->envelope,
                                      content, &body, &len);
    } else if (!err) {
        err = ss_meta_methods_json(list, n, &body, &len);
    }
    for (size_t i = 0; eps && i < n; i++)
        free(list[i].endpoints);
    free(list);
    free(eps);
    free(content);
    ss_policy_set_unref(set);
    if (!err)
        err = answer_with(
            up, x->soap ? "text/xml; charset=utf-8" : "application/json; charset=utf-8", body, len);
    else
        free(body);
    return err;
}

/* getWsdl and getOpenAPI: the description file of a service the client may use. */
static ss_error describe(struct exchange *x, const char *code, struct ss_upstream_response *up)
{
    struct ss_service_id id = {.provider = x->target.service.provider};
    if (!ss_id_part_valid(code, strlen(code), SS_ID_PART_MAX))
        return ss_errf(SS_ERR_PROTOCOL, "the service code to describe is missing or malformed");
    snprintf(id.service_code, sizeof id.service_code, "%s", code);
    const struct ss_service_map *s = ss_config_service(x->d->cfg, &id);
    /* access first: a client no rule of the service admits learns nothing of it */
    struct ss_policy_set *set = ss_daemon_policies(x->d);
    struct endpoints e;
    size_t rules = service_endpoints(x, set, code, true, &e);
    free(e.items);
    ss_policy_set_unref(set);
    if (rules == 0)
        return ss_errf(SS_ERR_ACCESS_DENIED, "no rule for service %s allows client %s", code,
                       x->client_str);
    enum ss_service_type want = x->soap ? SS_SERVICE_SOAP : SS_SERVICE_OPENAPI;
    if (!s || s->type != want || !s->description)
        return ss_errf(SS_ERR_UNKNOWN_SERVICE, "service %s has no %s description here", code,
                       x->soap ? "WSDL" : "OpenAPI");
    /* read at the start (daemon.c), the WSDL's endpoints hidden already */
    const struct ss_description *desc = &x->d->descriptions[s - x->d->cfg->services];
    /* a version asked for names the service with it (pr-meta 4): the WSDL's own, or none */
    if (x->soap && x->envelope->wsdl_version[0] &&
        strcmp(x->envelope->wsdl_version, desc->version) != 0)
        return ss_errf(SS_ERR_UNKNOWN_SERVICE, "service %s has %s%s here, not version %s", code,
                       desc->version[0] ? "version " : "no version",
                       desc->version, x->envelope->wsdl_version);
    char *body = NULL, *type = NULL;
    size_t len = 0;
    ss_error err = SS_OK;
    if (x->soap) {
        err = ss_meta_wsdl_answer(x->req->body + x->part.start, x->part.len, x->envelope,
                                  desc->text, desc->len, &body, &len, &type);
    } else {
        size_t n = strlen(s->description);
        bool json = n > 5 && strcmp(s->description + n - 5, ".json") == 0;
        type = strdup(json ? "application/json; charset=utf-8" : "text/yaml; charset=utf-8");
        body = malloc(desc->len + 1);
        if (body)
            memcpy(body, desc->text, desc->len);
        len = desc->len;
        if (!type || !body)
            err = ss_errf(SS_ERR_NOMEM, "out of memory");
    }
    if (!err)
        err = answer_with(up, type, body, len);
    else
        free(body);
    free(type);
    return err;
}

static ss_error metaservice(struct exchange *x, enum ss_meta_kind kind,
                            struct ss_upstream_response *up)
{
    char code[SS_ID_PART_MAX + 2];
    switch (kind) {
    case SS_META_LIST_METHODS:
    case SS_META_ALLOWED_METHODS:
        return list_methods(x, kind == SS_META_ALLOWED_METHODS, up);
    case SS_META_GET_WSDL:
        return describe(x, x->envelope->wsdl_code, up);
    case SS_META_GET_OPENAPI:
        ss_rest_query_param(x->target.query, x->target.query_len, "serviceCode", code, sizeof code);
        return describe(x, code, up);
    case SS_META_NONE:
        break;
    }
    return ss_errf(SS_ERR_INTERNAL, "not a metaservice");
}

static ss_error provide(struct exchange *x)
{
    ss_error err = begin(x);
    if (err)
        return err;
    if ((err = authenticate_peer(x->trust, x->req, &x->client, true)))
        return err;
    const char *rid = ss_headers_get(&x->req->headers, "X-Road-Request-Id");
    const char *mid = ss_headers_get(&x->req->headers, "X-Road-Id");
    if (!rid || strlen(rid) >= sizeof x->request_id || !mid || !ss_manifest_query_id_valid(mid))
        return ss_errf(SS_ERR_BAD_HEADER, "X-Road-Id or X-Road-Request-Id missing or malformed");
    snprintf(x->request_id, sizeof x->request_id, "%s", rid);
    snprintf(x->message_id, sizeof x->message_id, "%s", mid);
    /* a request for another server is not served here (PR-TARGETSS) */
    struct ss_server_id self = {.owner = x->d->cfg->owner};
    snprintf(self.code, sizeof self.code, "%s", x->d->cfg->server_code);
    if (x->has_target_server && !ss_server_id_equal(&x->target_server, &self)) {
        char name[SS_ID_STR_MAX], self_name[SS_ID_STR_MAX];
        (void)ss_server_id_format(&x->target_server, name, sizeof name);
        (void)ss_server_id_format(&self, self_name, sizeof self_name);
        return ss_errf(SS_ERR_INVALID_SECURITY_SERVER,
                       "the request is for the security server %s, not for this one (%s)", name,
                       self_name);
    }
    const struct ss_client_id *provider = &x->target.service.provider;
    char provider_str[SS_ID_STR_MAX];
    (void)ss_client_id_format(provider, provider_str, sizeof provider_str);
    if ((err = check_hosted(x, provider, provider_str, SS_ERR_UNKNOWN_SERVICE)))
        return err;
    enum ss_meta_kind meta = ss_meta_kind(x->target.service.service_code, x->soap);
    const struct ss_service_map *map = ss_config_service(x->d->cfg, &x->target.service);
    if (!map && !meta)
        return ss_errf(SS_ERR_UNKNOWN_SERVICE, "service %s is not offered here", x->service_str);
    /* a SOAP service gets SOAP messages only, with every SOAP check, and a REST one REST */
    if (map && !meta && (map->type == SS_SERVICE_SOAP) != x->soap)
        return ss_errf(SS_ERR_PROTOCOL, "service %s speaks %s: send it %s", x->service_str,
                       x->soap ? "REST" : "SOAP",
                       x->soap ? "a REST request (/r1/...)" : "a SOAP message");
    /* a SOAP service is named with the version its WSDL gives it: another is another service */
    if (map && !meta && x->soap && map->description && x->target.service.service_version[0]) {
        const char *have = x->d->descriptions[map - x->d->cfg->services].version;
        if (have[0] && strcmp(have, x->target.service.service_version) != 0)
            return ss_errf(SS_ERR_UNKNOWN_SERVICE, "service %s is offered here in version %s",
                           x->service_str, have);
    }
    if (ss_seal_overdue(x->d))
        return ss_errf(SS_ERR_TIMESTAMPING, "timestamping is overdue: new exchanges are refused");
    if ((err = check_request(x)))
        return err;
    if (meta) {
        /* open to every registered client; getWsdl and getOpenAPI check the service itself */
        if (!x->soap && strcmp(x->req->method, "GET") != 0 && strcmp(x->req->method, "HEAD") != 0)
            return ss_errf(SS_ERR_PROTOCOL, "the metaservice %s answers GET (and HEAD) only",
                           x->target.service.service_code);
    } else if (x->soap) {
        err = decide(x, NULL, NULL);
    } else {
        if ((err = ss_policy_path_check(x->target.path, x->target.path_len)))
            return ss_errf(SS_ERR_PROTOCOL, "%s", ss_errmsg());
        char *path = strndup(x->target.path, x->target.path_len);
        if (!path)
            return ss_errf(SS_ERR_NOMEM, "out of memory");
        err = decide(x, x->req->method, path);
        free(path);
    }
    if (err)
        return err;
    /* logged before anything is forwarded; a second one of this client and query id within the
     * clock-skew window is refused here (and that refusal is the record) */
    err = log_message(x, "request", x->req->method, x->req->target, 0, &x->req->headers,
                      x->req->body, x->req->body_len, &x->request_env, NULL, true);
    if (err == SS_ERR_DUPLICATE) {
        x->refusal_logged = true;
        return err;
    }
    if (err)
        return err;
    x->request_logged = true;

    struct ss_headers fields;
    outbound_fields_init(x, &fields);
    struct ss_upstream_response up = {0};
    if (meta) {
        if ((err = metaservice(x, meta, &up)))
            goto out;
        /* HEAD: the answer to GET without its content, its length said (RFC 9110 9.3.2); what
         * is signed and logged is what goes out */
        if (strcmp(x->req->method, "HEAD") == 0) {
            char n[24];
            snprintf(n, sizeof n, "%zu", up.body_len);
            free(up.body);
            up.body = NULL;
            up.body_len = 0;
            if ((err = ss_headers_add(&up.headers, "Content-Length", n)))
                goto out;
        }
    } else if (x->soap) {
        /* the register service reads who asks, for what, from the envelope */
        if ((err = copy_soap_fields(&x->req->headers, &fields)) ||
            (err = backend_url(map, &x->target, x)))
            goto out;
    } else {
        /* the register service learns who asks, for what, in which exchange */
        if ((err = ss_rest_copy_end_to_end(&x->req->headers, &fields)) ||
            (err = ss_headers_add(&fields, "X-Road-Client", x->client_str)) ||
            (err = ss_headers_add(&fields, "X-Road-Service", x->service_str)) ||
            (err = ss_headers_add(&fields, "X-Road-Request-Id", x->request_id)) ||
            (err = backend_url(map, &x->target, x)))
            goto out;
    }
    struct ss_upstream_request message = outbound(x, x->url, &fields, NULL);
    if (!meta && (err = forward(x, &message, &up)))
        goto out;
    if (x->soap && (err = soap_service_answer(x, &up)))
        goto out;
    if ((err = copy_response(x, &up, false)))
        goto out;
    struct ss_headers *h = &x->resp->headers;
    if ((err = ss_headers_add(h, "X-Road-Id", x->message_id)) ||
        (err = ss_headers_add(h, "X-Road-Client", x->client_str)) ||
        (err = ss_headers_add(h, "X-Road-Service", x->service_str)) ||
        (err = ss_headers_add(h, "X-Road-Request-Id", x->request_id)) ||
        (err = ss_headers_add(h, "X-Road-Request-Hash", x->request_hash)))
        goto out;
    if ((err = seal_answer(x)))
        goto out;
    x->refusal_logged = true; /* the answer is in the log */
out:
    ss_upstream_response_cleanup(&up);
    ss_headers_cleanup(&fields);
    return err;
}

void ss_exchange_server_proxy(void *cls, const struct ss_http_request *req,
                              struct ss_http_response *resp)
{
    struct exchange *x = exchange_new(cls, req, resp, true);
    if (!x)
        return;
    /* computed over what was received, before anything can fail: every answer is bound */
    ss_rest_request_hash(req->method, req->target, &req->headers, req->body, req->body_len,
                         x->request_hash);
    ss_error err = provide(x);
    if (err)
        fail_err(x, err);
    finish(x);
    exchange_free(x);
}
