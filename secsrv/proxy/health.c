#include "health.h"
#include "daemon.h"
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEALTH_IPC_TIMEOUT_MS 2000

/* A bounded JSON text being built. */
struct out {
    char buf[16384];
    size_t len;
    size_t n_reasons;
};

static void add(struct out *o, const char *fmt, ...) SS_PRINTF(2, 3);

static void add(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->buf + o->len, sizeof o->buf - o->len, fmt, ap);
    va_end(ap);
    if (n > 0)
        o->len += (size_t)n < sizeof o->buf - o->len ? (size_t)n : sizeof o->buf - o->len - 1;
}

/* Appends s as JSON string content (quotes, backslashes and controls escaped). */
static void add_escaped(struct out *o, const char *s)
{
    for (; *s && o->len + 8 < sizeof o->buf; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            add(o, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            add(o, "\\u%04x", c);
        else
            o->buf[o->len++] = (char)c;
    }
    o->buf[o->len] = '\0';
}

/* The reasons are gathered first, the figures after them. */
struct health {
    struct out reasons;
    struct out figures;
};

static void reason(struct health *h, const char *what, const char *why)
{
    add(&h->reasons, "%s\"", h->reasons.n_reasons++ ? "," : "");
    add_escaped(&h->reasons, what);
    if (why && why[0]) {
        add(&h->reasons, ": ");
        add_escaped(&h->reasons, why);
    }
    add(&h->reasons, "\"");
}

static void check_registry(struct ss_daemon *d, struct health *h)
{
    ss_error err;
    struct ss_trust *t = ss_regstore_acquire(d->registry, &err);
    if (!t) {
        reason(h, "registry", ss_errmsg());
        return;
    }
    const struct ss_registry *reg = ss_trust_registry(t);
    char expires[21];
    ss_time_format(reg->expires, expires);
    add(&h->figures, ",\"registry\":{\"serial\":%llu,\"expires\":\"%s\"}",
        (unsigned long long)reg->serial, expires);
    ss_trust_unref(t);
}

static void check_signer(struct ss_daemon *d, struct health *h)
{
    struct ss_ipc_msg m;
    if (ss_ipc_client_call(d->signer, SS_IPC_SIGNER_STATUS, NULL, HEALTH_IPC_TIMEOUT_MS, &m)) {
        reason(h, "signer", ss_errmsg());
        return;
    }
    struct ss_ipc_reader r;
    ss_ipc_reader_init(&r, &m);
    uint32_t n = ss_ipc_get_u32(&r);
    add(&h->figures, ",\"signer\":{\"keys\":[");
    for (uint32_t i = 0; i < n && !r.failed; i++) {
        char member[SS_ID_STR_MAX], why[300];
        ss_ipc_get_str(&r, member, sizeof member);
        uint32_t usable = ss_ipc_get_u32(&r);
        ss_ipc_get_str(&r, why, sizeof why);
        uint64_t until = ss_ipc_get_u64(&r);
        char when[21] = "-";
        if (until)
            ss_time_format((time_t)until, when);
        add(&h->figures, "%s{\"member\":\"", i ? "," : "");
        add_escaped(&h->figures, member);
        add(&h->figures, "\",\"usable\":%s,\"ocsp_good_until\":\"%s\"}", usable ? "true" : "false",
            when);
        if (!usable) {
            char what[SS_ID_STR_MAX + 32];
            snprintf(what, sizeof what, "signing key of %s", member);
            reason(h, what, why);
        }
    }
    uint64_t batches = ss_ipc_get_u64(&r), messages = ss_ipc_get_u64(&r),
             largest = ss_ipc_get_u64(&r);
    if (!ss_ipc_reader_done(&r))
        reason(h, "signer", "malformed status");
    add(&h->figures, "],\"batches\":%llu,\"messages\":%llu,\"largest_batch\":%llu}",
        (unsigned long long)batches, (unsigned long long)messages, (unsigned long long)largest);
    ss_ipc_msg_cleanup(&m);
}

static void check_logger(struct ss_daemon *d, struct health *h)
{
    struct ss_ipc_msg m;
    if (ss_ipc_client_call(d->logger, SS_IPC_LOGGER_STATUS, NULL, HEALTH_IPC_TIMEOUT_MS, &m)) {
        reason(h, "message log", ss_errmsg());
        return;
    }
    struct ss_ipc_reader r;
    ss_ipc_reader_init(&r, &m);
    uint32_t writable = ss_ipc_get_u32(&r), ts_ok = ss_ipc_get_u32(&r);
    uint64_t oldest = ss_ipc_get_u64(&r), pending = ss_ipc_get_u64(&r);
    char last[300];
    ss_ipc_get_str(&r, last, sizeof last);
    uint64_t commits = ss_ipc_get_u64(&r), records = ss_ipc_get_u64(&r),
             largest = ss_ipc_get_u64(&r), tokens = ss_ipc_get_u64(&r);
    if (!ss_ipc_reader_done(&r)) {
        reason(h, "message log", "malformed status");
    } else {
        if (!writable)
            reason(h, "message log not writable", last);
        if (!ts_ok) {
            char why[128];
            snprintf(why, sizeof why, "%llu records waiting longer than the grace period of %us",
                     (unsigned long long)pending, d->cfg->ts_grace);
            reason(h, "timestamping", why);
        }
    }
    add(&h->figures,
        ",\"message_log\":{\"commits\":%llu,\"records\":%llu,\"largest_group\":%llu,"
        "\"timestamps\":%llu,\"untimestamped\":%llu,\"oldest_untimestamped_ms\":%llu}",
        (unsigned long long)commits, (unsigned long long)records, (unsigned long long)largest,
        (unsigned long long)tokens, (unsigned long long)pending, (unsigned long long)oldest);
    ss_ipc_msg_cleanup(&m);
}

static void respond(struct ss_http_response *resp, unsigned status, const char *body)
{
    resp->status = status;
    if (ss_http_set_body(resp, body, strlen(body), "application/json; charset=utf-8"))
        resp->status = 500;
}

void ss_health_handler(void *cls, const struct ss_http_request *req, struct ss_http_response *resp)
{
    struct ss_daemon *d = cls;
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        respond(resp, 405, "{\"status\":\"method not allowed\"}");
        if (ss_headers_add(&resp->headers, "Allow", "GET, HEAD"))
            resp->status = 500;
        return;
    }
    struct health *h = calloc(1, sizeof *h);
    if (!h) {
        respond(resp, 500, "{\"status\":\"failing\",\"reasons\":[\"out of memory\"]}");
        return;
    }
    check_registry(d, h);
    check_signer(d, h);
    check_logger(d, h);
    bool ok = h->reasons.n_reasons == 0;
    struct out *body = malloc(sizeof *body);
    if (body) {
        body->len = 0;
        add(body, "{\"status\":\"%s\",\"reasons\":[%s]%s}\n", ok ? "ok" : "failing", h->reasons.buf,
            h->figures.buf);
        respond(resp, ok ? 200 : 500, body->buf);
        if (!ok)
            ss_log_warn("health: failing: %s", h->reasons.buf);
    } else {
        respond(resp, 500, "{\"status\":\"failing\",\"reasons\":[\"out of memory\"]}");
    }
    free(body);
    free(h);
}

void ss_health_error(void *cls, const struct ss_http_request *req, ss_error err,
                     struct ss_http_response *resp)
{
    (void)cls;
    (void)req;
    (void)err;
    respond(resp, 400, "{\"status\":\"bad request\"}");
}
