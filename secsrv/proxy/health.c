#include "health.h"
#include "daemon.h"
#include "log.h"
#include "logger.h"
#include "signer.h"
#include "ss_text.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEALTH_IPC_TIMEOUT_MS 2000

/* A JSON text being built; it grows as the keys and reasons need (each key's reason may
 * carry a responder's error of hundreds of bytes). */
struct out {
    struct ss_text t;
    size_t n_reasons;
};

/* The reasons are gathered first, the figures after them. */
struct health {
    struct out reasons;
    struct out figures;
};

static void reason(struct health *h, const char *what, const char *why)
{
    ss_text_printf(&h->reasons.t, "%s\"", h->reasons.n_reasons++ ? "," : "");
    ss_text_json(&h->reasons.t, what);
    if (why && why[0]) {
        ss_text_printf(&h->reasons.t, ": ");
        ss_text_json(&h->reasons.t, why);
    }
    ss_text_printf(&h->reasons.t, "\"");
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
    ss_text_printf(&h->figures.t, ",\"registry\":{\"serial\":%llu,\"expires\":\"%s\"}",
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
    struct ss_signer_status st;
    if (ss_signer_status_read(&m, &st)) {
        reason(h, "signer", "malformed status");
        ss_ipc_msg_cleanup(&m);
        return;
    }
    ss_text_printf(&h->figures.t, ",\"signer\":{\"keys\":[");
    for (size_t i = 0; i < st.n; i++) {
        const struct ss_signer_key_status *k = &st.keys[i];
        char when[21] = "-";
        if (k->ocsp_until)
            ss_time_format((time_t)k->ocsp_until, when);
        ss_text_printf(&h->figures.t, "%s{\"member\":\"", i ? "," : "");
        ss_text_json(&h->figures.t, k->member);
        ss_text_printf(&h->figures.t, "\",\"usable\":%s,\"ocsp_good_until\":\"%s\"}",
                       k->usable ? "true" : "false", when);
        if (!k->usable) {
            char what[SS_ID_STR_MAX + 32];
            snprintf(what, sizeof what, "signing key of %s", k->member);
            reason(h, what, k->why);
        }
    }
    ss_text_printf(&h->figures.t, "],\"batches\":%llu,\"messages\":%llu,\"largest_batch\":%llu}",
                   (unsigned long long)st.batches, (unsigned long long)st.messages,
                   (unsigned long long)st.largest_batch);
    ss_signer_status_cleanup(&st);
    ss_ipc_msg_cleanup(&m);
}

static void check_logger(struct ss_daemon *d, struct health *h)
{
    struct ss_ipc_msg m;
    if (ss_ipc_client_call(d->logger, SS_IPC_LOGGER_STATUS, NULL, HEALTH_IPC_TIMEOUT_MS, &m)) {
        reason(h, "message log", ss_errmsg());
        return;
    }
    struct ss_logger_status *st = malloc(sizeof *st);
    if (!st || ss_logger_status_read(&m, st)) {
        reason(h, "message log", st ? "malformed status" : "out of memory");
        free(st);
        ss_ipc_msg_cleanup(&m);
        return;
    }
    if (!st->writable)
        reason(h, "message log not writable", st->last_error);
    if (st->node_differs[0])
        reason(h, "node", st->node_differs);
    if (!st->timestamping_ok) {
        char why[128];
        snprintf(why, sizeof why, "%llu records waiting longer than the grace period of %us",
                 (unsigned long long)st->untimestamped, d->cfg->ts_grace);
        reason(h, "timestamping", why);
    }
    ss_text_printf(&h->figures.t,
                   ",\"message_log\":{\"commits\":%llu,\"records\":%llu,\"largest_group\":%llu,"
                   "\"timestamps\":%llu,\"untimestamped\":%llu,\"oldest_untimestamped_ms\":%llu}",
                   (unsigned long long)st->commits, (unsigned long long)st->records,
                   (unsigned long long)st->largest_group, (unsigned long long)st->timestamps,
                   (unsigned long long)st->untimestamped,
                   (unsigned long long)st->oldest_untimestamped_ms);
    free(st);
    ss_ipc_msg_cleanup(&m);
}

static void respond(struct ss_http_response *resp, unsigned status, const char *body)
{
    resp->status = status;
    if (ss_http_set_body(resp, body, strlen(body), "application/json; charset=utf-8"))
        resp->status = 500;
}

/* GET and HEAD are answered; any other method gets 405 here (false). */
static bool read_only(const struct ss_http_request *req, struct ss_http_response *resp)
{
    if (strcmp(req->method, "GET") == 0 || strcmp(req->method, "HEAD") == 0)
        return true;
    respond(resp, 405, "{\"status\":\"method not allowed\"}");
    if (ss_headers_add(&resp->headers, "Allow", "GET, HEAD"))
        resp->status = 500;
    return false;
}

void ss_health_handler(void *cls, const struct ss_http_request *req, struct ss_http_response *resp)
{
    struct ss_daemon *d = cls;
    if (!read_only(req, resp))
        return;
    struct health *h = calloc(1, sizeof *h);
    if (!h) {
        respond(resp, 500, "{\"status\":\"failing\",\"reasons\":[\"out of memory\"]}");
        return;
    }
    check_registry(d, h);
    check_signer(d, h);
    check_logger(d, h);
    bool ok = h->reasons.n_reasons == 0;
    struct out body = {0};
    ss_text_printf(&body.t, "{\"status\":\"%s\",\"node\":\"", ok ? "ok" : "failing");
    ss_text_json(&body.t, d->cfg->node ? d->cfg->node : "");
    ss_text_printf(&body.t, "\",\"reasons\":[");
    ss_text_put(&body.t, h->reasons.t.p ? h->reasons.t.p : "", h->reasons.t.len);
    ss_text_printf(&body.t, "]");
    ss_text_put(&body.t, h->figures.t.p ? h->figures.t.p : "", h->figures.t.len);
    ss_text_printf(&body.t, "}\n");
    char *text = NULL;
    size_t len = 0;
    bool built =
        !h->reasons.t.failed && !h->figures.t.failed && ss_text_take(&body.t, &text, &len) == SS_OK;
    if (built) {
        respond(resp, ok ? 200 : 500, text);
        if (!ok)
            ss_log_warn("health: failing: %.*s", (int)h->reasons.t.len, h->reasons.t.p);
    } else {
        respond(resp, 500, "{\"status\":\"failing\",\"reasons\":[\"out of memory\"]}");
    }
    free(text);
    free(body.t.p);
    free(h->reasons.t.p);
    free(h->figures.t.p);
    free(h);
}

void ss_health_error(void *cls, const struct ss_http_request *req, ss_error err,
                     struct ss_http_response *resp)
{
    (void)cls;
    (void)req;
    if (err == SS_ERR_METHOD)
        respond(resp, 501, "{\"status\":\"method not implemented\"}");
    else
        respond(resp, 400, "{\"status\":\"bad request\"}");
}

/* ---- metrics ---- */

static void gauge(struct ss_text *t, const char *name, const char *help, double v)
{
    ss_prom_family(t, name, "gauge", help);
    ss_prom_sample(t, name, NULL, 0, v);
}

static void counter(struct ss_text *t, const char *name, const char *help, double v)
{
    ss_prom_family(t, name, "counter", help);
    ss_prom_sample(t, name, NULL, 0, v);
}

static void metrics_registry(struct ss_daemon *d, struct ss_text *t)
{
    ss_error err;
    struct ss_trust *valid = ss_regstore_acquire(d->registry, &err);
    gauge(t, "secsrv_registry_valid", "1 when a valid members registry is in force, else 0.",
          valid ? 1 : 0);
    ss_trust_unref(valid);
    /* the last one accepted, so that its expiry goes below zero rather than out of sight */
    struct ss_trust *tr = ss_regstore_last(d->registry);
    if (!tr)
        return;
    const struct ss_registry *reg = ss_trust_registry(tr);
    gauge(t, "secsrv_registry_serial",
          "Serial of the members registry last accepted (in force unless it expired).",
          (double)reg->serial);
    gauge(t, "secsrv_registry_expiry_seconds",
          "Seconds until the members registry last accepted expires (negative: expired).",
          (double)(reg->expires - time(NULL)));
    ss_trust_unref(tr);
}

static void metrics_logger(struct ss_daemon *d, struct ss_text *t)
{
    struct ss_ipc_msg m;
    struct ss_logger_status *st = malloc(sizeof *st);
    bool up = st && ss_ipc_client_call(d->logger, SS_IPC_LOGGER_STATUS, NULL, HEALTH_IPC_TIMEOUT_MS,
                                       &m) == SS_OK;
    if (up) {
        up = ss_logger_status_read(&m, st) == SS_OK;
        ss_ipc_msg_cleanup(&m);
    }
    gauge(t, "secsrv_log_up", "1 when the logger process answered, else 0.", up ? 1 : 0);
    if (up) {
        gauge(t, "secsrv_log_writable", "1 when the message log takes records, else 0.",
              st->writable);
        gauge(t, "secsrv_log_queue_records", "Records waiting for their commit group.",
              (double)st->queued);
        counter(t, "secsrv_log_records_total", "Records committed to the message log.",
                (double)st->records);
        ss_prom_family(t, "secsrv_log_group_records", "histogram",
                       "Records per commit group (one transaction, one fsync).");
        ss_prom_hist(t, "secsrv_log_group_records", NULL, 0, &ss_hist_sizes, &st->group_size);
        ss_prom_family(t, "secsrv_log_commit_seconds", "histogram",
                       "Time of one commit of the message log, its fsync included.");
        ss_prom_hist(t, "secsrv_log_commit_seconds", NULL, 0, &ss_hist_seconds, &st->commit);
        gauge(t, "secsrv_log_untimestamped_records", "Records no timestamp covers yet.",
              (double)st->untimestamped);
        int64_t age_ms = st->oldest_untimestamped_ms
                             ? (int64_t)time(NULL) * 1000 - (int64_t)st->oldest_untimestamped_ms
                             : 0;
        double oldest = age_ms > 0 ? (double)age_ms / 1000 : 0;
        gauge(t, "secsrv_log_untimestamped_oldest_seconds",
              "Age of the oldest record no timestamp covers yet (0: none).", oldest);
        counter(t, "secsrv_log_timestamps_total", "Timestamp tokens obtained and stored.",
                (double)st->timestamps);
        gauge(t, "secsrv_node_agrees",
              "0 when this node holds other keys, policies or settings than the other nodes of "
              "its shared message log (its health check fails), else 1.",
              st->node_differs[0] ? 0 : 1);
        gauge(t, "secsrv_log_timestamping_ok",
              "0 when records have waited longer than the grace period for a timestamp "
              "(new exchanges are refused), else 1.",
              st->timestamping_ok);
    }
    free(st);
}

static void metrics_signer(struct ss_daemon *d, struct ss_text *t)
{
    struct ss_ipc_msg m;
    struct ss_signer_status st = {0};
    bool up = ss_ipc_client_call(d->signer, SS_IPC_SIGNER_STATUS, NULL, HEALTH_IPC_TIMEOUT_MS,
                                 &m) == SS_OK;
    if (up) {
        up = ss_signer_status_read(&m, &st) == SS_OK;
        ss_ipc_msg_cleanup(&m);
    }
    gauge(t, "secsrv_signer_up", "1 when the signer process answered, else 0.", up ? 1 : 0);
    if (!up)
        return;
    time_t now = time(NULL);
    ss_prom_family(t, "secsrv_signing_key_usable", "gauge",
                   "1 when the member's signing key can sign (fresh OCSP response), else 0.");
    for (size_t i = 0; i < st.n; i++) {
        const char *labels[] = {"member", st.keys[i].member};
        ss_prom_sample(t, "secsrv_signing_key_usable", labels, 1, st.keys[i].usable);
    }
    ss_prom_family(t, "secsrv_ocsp_response_age_seconds", "gauge",
                   "Seconds since this server obtained the OCSP response it staples to the "
                   "member's signatures (absent: none yet).");
    for (size_t i = 0; i < st.n; i++) {
        const char *labels[] = {"member", st.keys[i].member};
        if (st.keys[i].ocsp_at)
            ss_prom_sample(t, "secsrv_ocsp_response_age_seconds", labels, 1,
                           (double)(now - (time_t)st.keys[i].ocsp_at));
    }
    ss_prom_family(t, "secsrv_ocsp_response_valid_seconds", "gauge",
                   "Seconds the OCSP response stays fresh enough to staple (negative: stale).");
    for (size_t i = 0; i < st.n; i++) {
        const char *labels[] = {"member", st.keys[i].member};
        if (st.keys[i].ocsp_until)
            ss_prom_sample(t, "secsrv_ocsp_response_valid_seconds", labels, 1,
                           (double)((time_t)st.keys[i].ocsp_until - now));
    }
    counter(t, "secsrv_signer_signatures_total", "Messages signed.", (double)st.messages);
    counter(t, "secsrv_signer_batches_total", "Signing batches (one signature over a hash tree).",
            (double)st.batches);
    ss_signer_status_cleanup(&st);
}

static void metrics_connections(struct ss_daemon *d, struct ss_text *t)
{
    const struct {
        const char *name;
        struct ss_http_server *srv;
    } all[] = {{"client-proxy", d->client_proxy},
               {"client-proxy-tls", d->client_proxy_tls},
               {"server-proxy", d->server_proxy}};
    static const struct {
        const char *name, *type, *help;
    } fam[] = {
        {"secsrv_connections_open", "gauge", "Connections open now, by listener."},
        {"secsrv_connections_accepted_total", "counter", "Connections accepted, by listener."},
        {"secsrv_connections_refused_total", "counter",
         "Connections refused or cut, by listener and reason: limit (max_connections or the "
         "per-address limit), door (a request the HTTP door refused), slow (the header deadline "
         "missed), unauthenticated (TLS: max_unauthenticated_per_ip), evicted (TLS: the oldest "
         "not past its handshake and first header, for a new one beyond max_unauthenticated), "
         "unfinished (TLS: closed before a request line, not by the server: a failed "
         "handshake or the client's close)."},
    };
    struct ss_http_stats st[3];
    for (size_t i = 0; i < 3; i++)
        if (all[i].srv)
            ss_http_stats(all[i].srv, &st[i]);
    for (size_t f = 0; f < 3; f++) {
        ss_prom_family(t, fam[f].name, fam[f].type, fam[f].help);
        for (size_t i = 0; i < 3; i++) {
            if (!all[i].srv)
                continue;
            if (f < 2) {
                const char *labels[] = {"listener", all[i].name};
                ss_prom_sample(t, fam[f].name, labels, 1,
                               (double)(f == 0 ? st[i].open : st[i].accepted));
                continue;
            }
            const char *why[] = {"limit",           "door",    "slow",
                                 "unauthenticated", "evicted", "unfinished"};
            const uint64_t n[] = {st[i].refused_limit,  st[i].refused_door,   st[i].cut_slow,
                                  st[i].refused_unauth, st[i].evicted_unauth, st[i].unfinished};
            for (size_t k = 0; k < sizeof why / sizeof why[0]; k++) {
                const char *labels[] = {"listener", all[i].name, "reason", why[k]};
                ss_prom_sample(t, fam[f].name, labels, 2, (double)n[k]);
            }
        }
    }
}

void ss_metrics_handler(void *cls, const struct ss_http_request *req, struct ss_http_response *resp)
{
    struct ss_daemon *d = cls;
    if (!read_only(req, resp))
        return;
    struct ss_text t = {0};
    ss_metrics_render(d->metrics, &t);
    metrics_logger(d, &t);
    metrics_signer(d, &t);
    metrics_registry(d, &t);
    metrics_connections(d, &t);
    char *body = NULL;
    size_t len = 0;
    if (ss_text_take(&t, &body, &len)) {
        respond(resp, 500, "out of memory\n");
        return;
    }
    resp->status = 200;
    if (ss_http_set_body(resp, body, len, "text/plain; version=0.0.4; charset=utf-8"))
        resp->status = 500;
    free(body);
}
