#include "upstream.h"
#include "budget.h"
#include "clock.h"
#include "fiber.h"
#include "ss_grow.h"
#include "ss_sha256.h"

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define POOL_MAX 128
/*
 * How long a pooled connection may have been idle and still be used again (seconds). A
 * server closes an idle connection when its own keep-alive time is up; a request sent on it
 * at that moment finds it closed before any answer, and a request that may not be sent twice
 * then fails (see on_prereq). Keeping the reuse window well inside the servers' windows makes
 * that rare: register services' HTTP servers keep idle connections 2 s (gunicorn) to 75 s
 * (nginx), mostly 5 s; another security server keeps them connection_timeout (30 s by
 * default). libcurl counts whole seconds: with 1, a connection idle for 2 s or more is not
 * used again; with 10, one idle for 11 s. Under load connections never idle this long, so
 * the limits cost nothing there.
 */
#define BACKEND_MAX_IDLE_S 1L
#define PEER_MAX_IDLE_S 10L
/* a service's connection is opened anew, and its certificate judged again, at least this often */
#define SERVICE_MAX_LIFE_S 600L

/*
 * An idle handle keeps its connections open. Its tag is whether it carries
 * TLS, the registry serial its peer was verified under and a digest of the
 * fingerprints the registry pins for that peer (all zero: no peer
 * verification, e.g. backends), so a connection is reused only for a server
 * that accepts every certificate the handshake could have accepted, under
 * the registry that admitted it: libcurl would reuse a connection for any
 * host name that matches without case, without a new handshake. A peer's
 * connection also lives no longer than the registry's OCSP freshness, so
 * that its certificate's status is checked again as often as an inbound
 * connection's (set_tls).
 */
struct pool_tag {
    bool tls;        /* the handle's transfers carry TLS, to a peer (set_once) */
    uint64_t serial; /* a peer's: the registry's; a service's: [service-tls]'s generation */
    uint8_t pin[32];
};

/*
 * An easy handle with a multi handle of its own: the multi holds the
 * connection (so the tag above still decides its reuse) and lets a fiber
 * wait for the sockets without holding its thread (drive()).
 */
struct handle {
    CURL *h;
    CURLM *m;
};

struct pooled {
    struct handle hd;
    struct pool_tag tag;
    uint64_t released; /* the pool's count when it came back: the lowest goes when it is full */
};

struct ss_upstream {
    pthread_mutex_t mu;
    struct pooled idle[POOL_MAX];
    size_t n_idle;
    uint64_t releases;
};

/* ---- one transfer, driven by its sockets ---- */

/* The sockets curl waits on for one transfer, and when it wants to be called again. */
struct drive {
    struct pollfd fds[8];
    unsigned n;
    uint64_t due_us; /* monotonic: when curl wants to be called again; 0: no timer */
    bool too_many;
};

static int on_socket(CURL *e, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)e;
    (void)socketp;
    struct drive *d = userp;
    if (!d) /* outside drive(): an idle connection, nobody waits on it */
        return 0;
    unsigned i = 0;
    while (i < d->n && d->fds[i].fd != fd)
        i++;
    if (what == CURL_POLL_REMOVE) {
        if (i < d->n)
            d->fds[i] = d->fds[--d->n];
        return 0;
    }
    if (i == d->n) {
        if (d->n == sizeof d->fds / sizeof d->fds[0]) {
            d->too_many = true;
            return -1;
        }
        d->n++;
    }
    d->fds[i] = (struct pollfd){.fd = fd,
                                .events = (short)((what & CURL_POLL_IN ? POLLIN : 0) |
                                                  (what & CURL_POLL_OUT ? POLLOUT : 0))};
    return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    struct drive *d = userp;
    if (d)
        d->due_us = timeout_ms < 0 ? 0 : ss_monotonic_us() + (uint64_t)timeout_ms * 1000u;
    return 0;
}

/*
 * curl_easy_perform, by way of hd's multi handle: waits with
 * ss_fiber_poll, so a fiber gives its thread to others meanwhile (and a
 * plain thread polls). The transfer's own timeouts end it.
 */
static CURLcode drive(struct handle *hd)
{
    struct drive d = {0};
    curl_multi_setopt(hd->m, CURLMOPT_SOCKETDATA, &d);
    curl_multi_setopt(hd->m, CURLMOPT_TIMERDATA, &d);
    CURLcode rc = CURLE_OK;
    if (curl_multi_add_handle(hd->m, hd->h) != CURLM_OK) {
        rc = CURLE_OUT_OF_MEMORY;
        goto out;
    }
    int running = 1;
    CURLMcode mc = curl_multi_socket_action(hd->m, CURL_SOCKET_TIMEOUT, 0, &running);
    while (mc == CURLM_OK && running && !d.too_many) {
        /* curl's timer, and a second at most: a lost timer costs a second, not the transfer */
        uint64_t now = ss_monotonic_us();
        int wait = !d.due_us || d.due_us > now + 1000000u ? 1000
                   : d.due_us <= now                      ? 0
                                                          : (int)((d.due_us - now + 999) / 1000);
        struct pollfd fds[sizeof d.fds / sizeof d.fds[0]];
        unsigned n = d.n;
        memcpy(fds, d.fds, n * sizeof fds[0]);
        int r = ss_fiber_poll(fds, n, wait);
        if (r < 0 && errno != EINTR) {
            rc = CURLE_RECV_ERROR;
            break;
        }
        if (r <= 0) {
            mc = curl_multi_socket_action(hd->m, CURL_SOCKET_TIMEOUT, 0, &running);
            continue;
        }
        for (unsigned i = 0; i < n && mc == CURLM_OK; i++) {
            if (!fds[i].revents)
                continue;
            int ev = (fds[i].revents & POLLIN ? CURL_CSELECT_IN : 0) |
                     (fds[i].revents & POLLOUT ? CURL_CSELECT_OUT : 0) |
                     (fds[i].revents & (POLLERR | POLLHUP | POLLNVAL) ? CURL_CSELECT_ERR : 0);
            mc = curl_multi_socket_action(hd->m, fds[i].fd, ev, &running);
        }
    }
    if (d.too_many)
        rc = CURLE_OUT_OF_MEMORY;
    else if (mc != CURLM_OK)
        rc = mc == CURLM_OUT_OF_MEMORY ? CURLE_OUT_OF_MEMORY : CURLE_RECV_ERROR;
    else {
        int left;
        CURLMsg *msg;
        while ((msg = curl_multi_info_read(hd->m, &left)))
            if (msg->msg == CURLMSG_DONE && msg->easy_handle == hd->h)
                rc = msg->data.result;
    }
    curl_multi_remove_handle(hd->m, hd->h);
out:
    curl_multi_setopt(hd->m, CURLMOPT_SOCKETDATA, NULL);
    curl_multi_setopt(hd->m, CURLMOPT_TIMERDATA, NULL);
    return rc;
}

static void handle_close(struct handle *hd)
{
    if (hd->m && hd->h)
        curl_multi_remove_handle(hd->m, hd->h);
    if (hd->m)
        curl_multi_cleanup(hd->m);
    if (hd->h)
        curl_easy_cleanup(hd->h);
    hd->h = NULL;
    hd->m = NULL;
}

ss_error ss_upstream_new(struct ss_upstream **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&(*out)->mu, NULL);
    return SS_OK;
}

void ss_upstream_drop_peers(struct ss_upstream *u)
{
    pthread_mutex_lock(&u->mu);
    for (size_t i = u->n_idle; i > 0; i--) {
        struct pooled *p = &u->idle[i - 1];
        if (!p->tag.tls)
            continue;
        handle_close(&p->hd);
        *p = u->idle[--u->n_idle];
    }
    pthread_mutex_unlock(&u->mu);
}

void ss_upstream_free(struct ss_upstream *u)
{
    if (!u)
        return;
    for (size_t i = 0; i < u->n_idle; i++)
        handle_close(&u->idle[i].hd);
    pthread_mutex_destroy(&u->mu);
    free(u);
}

/* ---- receiving ---- */

struct sink {
    struct ss_upstream_response *resp;
    size_t max_body;
    bool too_large;
    bool busy; /* the budget for bodies in transit is used up */
    ss_error header_error;
    char header_problem[160]; /* what was wrong with them */
    bool resendable;          /* the request may go out a second time (on_prereq) */
    bool resend_refused;      /* it would have, and was not */
    bool final;               /* the header section being read is a final answer's (not 1xx) */
    bool header_ended;        /* the blank line after the final answer's fields has come */
};

/*
 * libcurl calls this each time it is about to send the request on a
 * connection. A second time means that a reused connection closed before
 * any answer and libcurl is trying again on a new one; the request may
 * have reached the other side. Only a method that may be repeated goes
 * again (RFC 9110 9.2.2), or a request to another security server, which
 * refuses a second copy of a request it logged (Client.DuplicateRequest).
 */
static int on_prereq(void *userp, char *primary_ip, char *local_ip, int primary_port,
                     int local_port)
{
    (void)primary_ip, (void)local_ip, (void)primary_port, (void)local_port;
    struct sink *s = userp;
    if (!s)
        return CURL_PREREQFUNC_OK;
    if (++s->resp->sends > 1 && !s->resendable) {
        s->resend_refused = true;
        return CURL_PREREQFUNC_ABORT;
    }
    return CURL_PREREQFUNC_OK;
}

/* The methods a client may send again when it cannot tell whether the first copy arrived. */
static bool idempotent(const char *method)
{
    static const char *const names[] = {"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (strcmp(method, names[i]) == 0)
            return true;
    return false;
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    struct sink *s = userp;
    size_t n = size * nmemb;
    struct ss_upstream_response *r = s->resp;
    if (r->body_len + n > s->max_body) {
        s->too_large = true;
        return 0;
    }
    ss_error err = ss_budget_grow(&r->body, &r->body_cap, r->body_len + n, s->max_body);
    if (err) {
        s->busy = err == SS_ERR_BUSY;
        return 0;
    }
    memcpy(r->body + r->body_len, data, n);
    r->body_len += n;
    return n;
}

ss_error ss_upstream_parse_header_line(struct ss_headers *headers, const char *data, size_t n)
{
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        /* a new status line (after 1xx): start over */
        size_t max_count = headers->max_count, max_bytes = headers->max_bytes;
        ss_headers_cleanup(headers);
        ss_headers_init(headers, max_count, max_bytes);
        return SS_OK;
    }
    size_t len = n;
    if (len >= 2 && data[len - 2] == '\r' && data[len - 1] == '\n')
        len -= 2;
    else if (len >= 1 && data[len - 1] == '\n')
        len -= 1;
    if (len == 0)
        return SS_OK;
    if (data[0] == ' ' || data[0] == '\t')
        return ss_errf(SS_ERR_UPSTREAM, "a folded header line (obs-fold) in an answer");
    const char *colon = memchr(data, ':', len);
    if (!colon || colon == data)
        return ss_errf(SS_ERR_UPSTREAM, "a header line without a field name in an answer");
    size_t name_len = (size_t)(colon - data);
    const char *v = colon + 1;
    size_t vlen = len - name_len - 1;
    ss_headers_value_trim(&v, &vlen);
    const char *problem = ss_headers_field_problem(data, name_len, v, vlen);
    if (problem)
        return ss_errf(SS_ERR_UPSTREAM, "%s in an answer", problem);
    return ss_headers_addn(headers, data, name_len, v, vlen);
}

/*
 * libcurl hands over the trailer section of a chunked answer as header lines after the body.
 * Trailer fields are not merged into the header section (RFC 9110 6.5.1): a service's
 * trailing Content-Type or Set-Cookie would reach the client as a second one. They are
 * dropped, which a recipient that removes the chunked coding may do.
 */
static size_t on_header(char *data, size_t size, size_t nmemb, void *userp)
{
    struct sink *s = userp;
    size_t n = size * nmemb;
    if (s->header_ended)
        return n; /* a trailer field, whatever it looks like ("HTTP/1.1: 200" included) */
    if (n >= 5 && memcmp(data, "HTTP/", 5) == 0) {
        /* a status line: a 1xx answer's section is followed by another */
        const char *sp = memchr(data, ' ', n);
        s->final = !(sp && (size_t)(sp - data) + 1 < n && sp[1] == '1');
    } else if ((n == 2 && data[0] == '\r' && data[1] == '\n') || (n == 1 && data[0] == '\n')) {
        s->header_ended = s->final;
    }
    ss_error err = ss_upstream_parse_header_line(&s->resp->headers, data, n);
    if (err) {
        s->header_error = err;
        snprintf(s->header_problem, sizeof s->header_problem, "%s", ss_errmsg());
        return 0;
    }
    return n;
}

/* ---- peer verification ---- */

struct verify_state {
    const struct ss_upstream_tls *tls;             /* a peer server's connection, or */
    const struct ss_upstream_service_tls *service; /* a register service's */
    const char *url;                               /* the service's, for its host */
    uint64_t deadline_us; /* the end of the connection's time (CLOCK_MONOTONIC), 0: none */
    ss_error err;
    char reason[300];
};

/* The host of a service's URL, as its certificate names it (an IDN in punycode). */
static void url_host(const char *url, char *out, size_t size)
{
    CURLU *u = curl_url();
    char *host = NULL;
    out[0] = '\0';
    if (u && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, CURLU_PUNYCODE) == CURLUE_OK)
        snprintf(out, size, "%s", host);
    curl_free(host);
    curl_url_cleanup(u);
}

/* The system's CAs, for what ss_upstream_fetch fetches over https://: loaded once, at the first
 * handshake that needs them (a plain http:// fetch never does); NULL when they cannot be, then
 * nothing over https:// is trusted. */
static struct ss_ca_store *system_cas;

static void load_system_cas(void)
{
    if (ss_ca_store_system(&system_cas) != SS_OK)
        system_cas = NULL;
}

/* The CAs a service's certificate must chain to (NULL: none). */
static const struct ss_ca_store *service_cas(const struct ss_upstream_service_tls *st)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    if (!st)
        return NULL;
    if (!st->system_cas)
        return st->cas;
    pthread_once(&once, load_system_cas);
    return system_cas;
}

static int verify_peer(X509_STORE_CTX *ctx, void *arg)
{
    struct verify_state *vs = arg;
    if (!vs) { /* a handshake no request prepared for (none should be): nothing is trusted */
        X509_STORE_CTX_set_error(ctx, X509_V_ERR_APPLICATION_VERIFICATION);
        return 0;
    }
    X509 *leaf = X509_STORE_CTX_get0_cert(ctx);
    STACK_OF(X509) *untrusted = X509_STORE_CTX_get0_untrusted(ctx);
    unsigned char *ders[SS_TRUST_MAX_CHAIN] = {0};
    struct ss_der certs[SS_TRUST_MAX_CHAIN];
    size_t n = 0;
    int ok = 0;
    int len = leaf ? i2d_X509(leaf, &ders[0]) : -1;
    if (len > 0) {
        certs[n].data = ders[n];
        certs[n].len = (size_t)len;
        n++;
    }
    for (int i = 0; untrusted && i < sk_X509_num(untrusted) && n < SS_TRUST_MAX_CHAIN; i++) {
        X509 *x = sk_X509_value(untrusted, i);
        if (x == leaf || X509_cmp(x, leaf) == 0)
            continue;
        len = i2d_X509(x, &ders[n]);
        if (len <= 0)
            break;
        certs[n].data = ders[n];
        certs[n].len = (size_t)len;
        n++;
    }
    if (vs->tls) {
        vs->err = ss_trust_check_server(vs->tls->trust, certs, n, vs->tls->expected);
        if (!vs->err)
            vs->err = ss_trust_check_status(vs->tls->trust, certs, n, vs->deadline_us);
    } else {
        char host[256];
        url_host(vs->url ? vs->url : "", host, sizeof host);
        const struct ss_ca_store *cas = service_cas(vs->service);
        if (cas) {
            if (ss_trust_verify_service(cas, certs, n, host))
                vs->err = SS_ERR_SERVICE_TLS;
        } else {
            vs->err = ss_errf(SS_ERR_SERVICE_TLS,
                              "no CA to verify the server of %s against (for services: "
                              "[service-tls] ca)",
                              host);
        }
    }
    if (vs->err) {
        snprintf(vs->reason, sizeof vs->reason, "%s", ss_errmsg());
        X509_STORE_CTX_set_error(ctx, X509_V_ERR_APPLICATION_VERIFICATION);
    } else {
        ok = 1;
    }
    for (size_t i = 0; i < n; i++)
        OPENSSL_free(ders[i]);
    return ok;
}

static CURLcode on_ssl_ctx(CURL *h, void *sslctx, void *arg)
{
    (void)h;
    SSL_CTX *ctx = sslctx;
    SSL_CTX_set_cert_verify_callback(ctx, verify_peer, arg);
    /* a resumed session would skip the decision above */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    /* the decision is made once, in the handshake that opens the connection: no
     * renegotiation may ask for another when arg no longer exists */
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION);
    /* a pooled connection mostly waits (for its turn, for the peer's answer): it gives its
     * 34 kB of record buffers back while nothing is pending in them */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    return CURLE_OK;
}

/* The request's part of TLS: our key and certificate (they change on reload) and the
 * state its peer decision fills. The rest is set once (set_once). */
static void set_tls(CURL *h, const struct ss_upstream_tls *tls, struct verify_state *vs)
{
    struct curl_blob cert = {(void *)(uintptr_t)tls->cert_pem, strlen(tls->cert_pem),
                             CURL_BLOB_NOCOPY};
    struct curl_blob key = {(void *)(uintptr_t)tls->key_pem, strlen(tls->key_pem),
                            CURL_BLOB_NOCOPY};
    curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, &cert);
    curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, &key);
    curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, vs);
    long life = ss_trust_registry(tls->trust)->settings.ocsp_freshness;
    if (life > 0)
        curl_easy_setopt(h, CURLOPT_MAXLIFETIME_CONN, life);
}

/* A service's part of TLS, should its URL be https:// (libcurl also reads "https:/h" so, and
 * decides by the scheme alone): the decision's state, and the certificate shown when the
 * service asks for one. */
static void set_service_tls(CURL *h, const struct ss_upstream_request *req, struct verify_state *vs)
{
    const struct ss_upstream_service_tls *st = req->service;
    struct curl_blob cert = {0}, key = {0};
    if (st && st->cert_pem && st->key_pem) {
        cert = (struct curl_blob){(void *)(uintptr_t)st->cert_pem, strlen(st->cert_pem),
                                  CURL_BLOB_NOCOPY};
        key = (struct curl_blob){(void *)(uintptr_t)st->key_pem, strlen(st->key_pem),
                                 CURL_BLOB_NOCOPY};
    }
    curl_easy_setopt(h, CURLOPT_SSLCERT_BLOB, cert.data ? &cert : NULL);
    curl_easy_setopt(h, CURLOPT_SSLKEY_BLOB, key.data ? &key : NULL);
    curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, vs);
}

/* ---- the pool ---- */

/*
 * What is the same for every transfer of a handle, set when it is made:
 * curl_easy_reset and two dozen options again for each request would copy
 * the same strings each time. Only what a request brings is set per
 * request (ss_upstream_send); a handle tagged with a peer only ever
 * carries TLS to that peer, one without carries requests to services
 * (plain HTTP, or TLS for an https:// URL).
 */
static bool set_once(CURL *h, const struct pool_tag *tag)
{
    bool ok = curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https") == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L) == CURLE_OK &&
              /* the target goes out byte for byte as checked and hashed: no dot-segment
               * removal */
              curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_PREREQFUNCTION, on_prereq) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L) == CURLE_OK &&
              curl_easy_setopt(h, CURLOPT_MAXAGE_CONN,
                               tag->tls ? PEER_MAX_IDLE_S : BACKEND_MAX_IDLE_S) == CURLE_OK &&
              /* curl copies each request over TLS into its upload buffer, 64 kB by default and
               * one per request in flight: a TLS record's 16 kB is as much as it sends at once */
              curl_easy_setopt(h, CURLOPT_UPLOAD_BUFFERSIZE, 16384L) == CURLE_OK;
    if (ok && !tag->tls)
        ok = curl_easy_setopt(h, CURLOPT_MAXLIFETIME_CONN, SERVICE_MAX_LIFE_S) == CURLE_OK;
    /* TLS as for peers on every handle: a service's https:// URL gets the same versions and
     * suites, and the decision of verify_peer, never libcurl's own */
    if (ok) {
        ok = curl_easy_setopt(h, CURLOPT_SSLCERTTYPE, "PEM") == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_SSLKEYTYPE, "PEM") == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK &&
             /* identity is the pinned fingerprint, not the host name */
             curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_CAINFO, NULL) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_CAPATH, NULL) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_SSL_SESSIONID_CACHE, 0L) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_SSL_CIPHER_LIST, ss_tls_openssl_ciphers12()) == CURLE_OK &&
             curl_easy_setopt(h, CURLOPT_TLS13_CIPHERS, ss_tls_openssl_suites13()) == CURLE_OK;
    }
    return ok;
}

static bool same_tag(const struct pool_tag *a, const struct pool_tag *b)
{
    return a->tls == b->tls && a->serial == b->serial && memcmp(a->pin, b->pin, sizeof a->pin) == 0;
}

/*
 * An idle handle with tag's connection, or a new one (false: out of
 * memory). Handles of peers admitted under an older registry than tag's,
 * and of services reached under an older [service-tls], can never be taken
 * again: they are closed on the way.
 */
static bool acquire(struct ss_upstream *u, const struct pool_tag *tag, struct handle *out)
{
    *out = (struct handle){0};
    struct handle stale[POOL_MAX];
    size_t n_stale = 0;
    pthread_mutex_lock(&u->mu);
    for (size_t i = u->n_idle; i > 0; i--) {
        struct pooled *p = &u->idle[i - 1];
        /* a peer's under an older registry; a service's under an older [service-tls] (a
         * fetch's handles, generation 0, are in a pool of their own) */
        bool old = p->tag.tls == tag->tls && p->tag.serial < tag->serial;
        if (!old && (out->h || !same_tag(&p->tag, tag)))
            continue;
        if (old)
            stale[n_stale++] = p->hd;
        else
            *out = p->hd;
        *p = u->idle[--u->n_idle]; /* one already looked at, or p itself */
    }
    pthread_mutex_unlock(&u->mu);
    for (size_t i = 0; i < n_stale; i++)
        handle_close(&stale[i]);
    if (out->h)
        return true;
    out->h = curl_easy_init();
    out->m = curl_multi_init();
    if (out->h && out->m &&
        curl_multi_setopt(out->m, CURLMOPT_SOCKETFUNCTION, on_socket) == CURLM_OK &&
        curl_multi_setopt(out->m, CURLMOPT_TIMERFUNCTION, on_timer) == CURLM_OK &&
        set_once(out->h, tag))
        return true;
    handle_close(out);
    return false;
}

/* Keeps hd for reuse; when the pool is full, the handle idle the longest makes room. */
static void release(struct ss_upstream *u, struct handle *hd, const struct pool_tag *tag)
{
    struct handle out = {0};
    pthread_mutex_lock(&u->mu);
    size_t at = u->n_idle;
    if (at == POOL_MAX) {
        at = 0;
        for (size_t i = 1; i < u->n_idle; i++)
            if (u->idle[i].released < u->idle[at].released)
                at = i;
        out = u->idle[at].hd;
    } else
        u->n_idle++;
    u->idle[at] = (struct pooled){*hd, *tag, ++u->releases};
    hd->h = NULL;
    hd->m = NULL;
    pthread_mutex_unlock(&u->mu);
    handle_close(&out);
}

/* ---- sending ---- */

/* scheme://host:port of url: what an error may name (never a path or query). */
static void origin_of(const char *url, char *out, size_t size)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t host = strcspn(p, "/?#");
    snprintf(out, size, "%.*s%.*s", (int)(p - url), url, (int)host, p);
}

static ss_error map_curl_error(CURLcode rc, const struct sink *s, const struct verify_state *vs,
                               const char *full_url, const char *errbuf)
{
    char url[300];
    origin_of(full_url, url, sizeof url);
    if (vs->err)
        return ss_errf(vs->err, "%s", vs->reason);
    if (s->too_large)
        return ss_errf(SS_ERR_TOO_LARGE, "response from %s larger than %zu bytes", url,
                       s->max_body);
    if (s->busy)
        return ss_errf(SS_ERR_BUSY,
                       "response from %s dropped: the memory for bodies in transit is used up "
                       "(%zu bytes)",
                       url, ss_budget_used());
    if (s->header_error)
        return ss_errf(SS_ERR_UPSTREAM, "response header fields from %s exceed the limits: %s", url,
                       s->header_problem);
    if (s->resend_refused)
        return ss_errf(SS_ERR_UPSTREAM,
                       "%s closed the connection before it answered (a request that may not be "
                       "repeated is not sent twice)",
                       url);
    /* the peer closed the connection in the handshake, with no alert and before any decision
     * of ours refused it (a server at its limit of handshakes, say): nothing was sent, and
     * another server of the provider may take the request */
    if (rc == CURLE_SSL_CONNECT_ERROR && strstr(errbuf, "SSL_ERROR_SYSCALL"))
        return ss_errf(SS_ERR_NETWORK, "%s: closed the connection in the TLS handshake (%s)", url,
                       errbuf);
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        return ss_errf(SS_ERR_UPSTREAM_TIMEOUT, "%s: timed out (%s)", url, errbuf);
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
        return ss_errf(SS_ERR_NETWORK, "%s: cannot connect (%s)", url, errbuf);
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
        return ss_errf(vs->tls ? SS_ERR_TLS : SS_ERR_SERVICE_TLS, "%s: TLS failed (%s)", url,
                       errbuf);
    default:
        return ss_errf(SS_ERR_UPSTREAM, "%s: %s", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
    }
}

ss_error ss_upstream_send(struct ss_upstream *u, const struct ss_upstream_request *req,
                          struct ss_upstream_response *resp)
{
    ss_error result = SS_OK;
    struct curl_slist *list = NULL;
    memset(resp, 0, sizeof *resp);
    /* a peer's answer: the service's fields, X-Road's, the evidence and libmicrohttpd's */
    ss_headers_init(&resp->headers, SS_ANSWER_FIELDS_MAX + 32, req->max_response_headers);
    struct pool_tag tag = {0};
    if (req->tls) {
        tag.tls = true;
        tag.serial = ss_trust_registry(req->tls->trust)->serial;
        /* the expected server, by all its registered certificates: the handshake accepts any
         * of them, so a connection is reused only for a server that accepts the same */
        const struct ss_reg_server *peer = req->tls->expected;
        ss_sha256(peer->auth_sha256[0], peer->n_auth * sizeof peer->auth_sha256[0], tag.pin);
    } else if (req->service) {
        tag.serial = req->service->generation;
    }
    struct handle hd;
    if (!acquire(u, &tag, &hd))
        return ss_errf(SS_ERR_NOMEM, "cannot create an HTTP client handle");
    CURL *h = hd.h;

    /* each line as curl takes it, in one buffer on the heap: a fiber's stack stays shallow;
     * the fields are as long as the limits of the listener they came through let them be */
    char *line = NULL;
    size_t line_cap = 0;
    for (size_t i = 0; i < req->headers->n; i++) {
        const struct ss_header *f = &req->headers->items[i];
        size_t name_len = strlen(f->name), value_len = strlen(f->value);
        size_t len = name_len + (value_len ? 2 + value_len : 1);
        struct curl_slist *l = NULL;
        if (ss_grow(&line, &line_cap, len + 1, 1, 256)) {
            memcpy(line, f->name, name_len);
            if (value_len) {
                memcpy(line + name_len, ": ", 2);
                memcpy(line + name_len + 2, f->value, value_len);
            } else
                line[name_len] = ';';
            line[len] = '\0';
            l = curl_slist_append(list, line);
        }
        if (!l) {
            result = ss_errf(SS_ERR_NOMEM, "out of memory");
            goto out;
        }
        list = l;
    }
    /* fields curl would add on its own are sent only if the request has them */
    static const char *const defaults[][2] = {{"Expect", "Expect:"},
                                              {"Accept", "Accept:"},
                                              {"User-Agent", "User-Agent:"},
                                              {"Content-Type", "Content-Type:"}};
    for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++) {
        if (ss_headers_get(req->headers, defaults[i][0]))
            continue;
        struct curl_slist *l = curl_slist_append(list, defaults[i][1]);
        if (!l) {
            result = ss_errf(SS_ERR_NOMEM, "out of memory");
            goto out;
        }
        list = l;
    }

    struct sink sink = {.resp = resp,
                        .max_body = req->max_response_bytes,
                        .resendable = req->tls || idempotent(req->method)};
    /* libcurl's timer does not run while the handshake waits in verify_peer: a status it
     * asks a responder for there gets what is left of the time for the connection, of which
     * the handshake is part */
    unsigned limit_ms = req->connect_timeout_ms && req->connect_timeout_ms < req->timeout_ms
                            ? req->connect_timeout_ms
                            : req->timeout_ms;
    struct verify_state vs = {.tls = req->tls,
                              .service = req->service,
                              .url = req->url,
                              .deadline_us =
                                  limit_ms ? ss_monotonic_us() + (uint64_t)limit_ms * 1000u : 0};
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, req->url);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)req->connect_timeout_ms);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)req->timeout_ms);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, list);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &sink);
    curl_easy_setopt(h, CURLOPT_PREREQDATA, &sink);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)req->max_response_bytes);
    /* the method: first undo what the handle's last request set (a body, a method name, HEAD;
     * setting a body makes a POST, so it goes first) */
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)-1);
    curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, NULL);
    curl_easy_setopt(h, CURLOPT_NOBODY, 0L);
    curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
    /* the connection of a HEAD is not used again: a service that sends a body to HEAD all the
     * same would have its bytes read as the next request's answer */
    curl_easy_setopt(h, CURLOPT_FORBID_REUSE, strcmp(req->method, "HEAD") == 0 ? 1L : 0L);
    if (strcmp(req->method, "GET") == 0 && req->body_len == 0) {
        /* as set */
    } else if (strcmp(req->method, "HEAD") == 0) {
        curl_easy_setopt(h, CURLOPT_NOBODY, 1L);
    } else {
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req->method);
        if (req->body_len > 0 || strcmp(req->method, "POST") == 0 ||
            strcmp(req->method, "PUT") == 0 || strcmp(req->method, "PATCH") == 0) {
            curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->body ? (const char *)req->body : "");
            curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        }
    }
    if (req->tls)
        set_tls(h, req->tls, &vs);
    else
        set_service_tls(h, req, &vs);
    CURLcode rc = drive(&hd);
    if (rc != CURLE_OK) {
        result = map_curl_error(rc, &sink, &vs, req->url, errbuf);
        goto out;
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp->status);
out:
    free(line);
    curl_slist_free_all(list);
    /* the handle keeps its connection only for exchanges that went well, and not after a 204
     * or 304 framed as if it had a body (chunked, or a 204 with a length; a 304's length is
     * the GET's, RFC 9110 8.6): the bytes a service sends all the same would be read as the
     * next request's answer */
    uint64_t announced = 0;
    bool stray = !result && (resp->status == 204 || resp->status == 304) &&
                 (ss_headers_get(&resp->headers, "Transfer-Encoding") ||
                  (resp->status == 204 && ss_headers_content_length(&resp->headers, &announced) &&
                   announced > 0));
    if (result || stray) {
        handle_close(&hd);
        if (result)
            ss_upstream_response_cleanup(resp);
    } else {
        /* nothing of this request stays pointed to by the idle handle */
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
        curl_easy_setopt(h, CURLOPT_SSL_CTX_DATA, NULL);
        curl_easy_setopt(h, CURLOPT_ERRORBUFFER, NULL);
        curl_easy_setopt(h, CURLOPT_WRITEDATA, NULL);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, NULL);
        curl_easy_setopt(h, CURLOPT_PREREQDATA, NULL);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
        release(u, &hd, &tag);
    }
    return result;
}

void ss_upstream_response_cleanup(struct ss_upstream_response *resp)
{
    ss_headers_cleanup(&resp->headers);
    ss_budget_free(&resp->body, &resp->body_cap);
    resp->body_len = 0;
}

ss_error ss_upstream_fetch(const char *url, const char *content_type, const uint8_t *body,
                           size_t body_len, size_t max, unsigned timeout_ms, uint8_t **buf,
                           size_t *len)
{
    *buf = NULL;
    *len = 0;
    if (timeout_ms == 0) /* to libcurl, 0 would be no limit */
        return ss_errf(SS_ERR_UPSTREAM_TIMEOUT, "%s: no time left to ask", url);
    struct ss_upstream *u = NULL;
    ss_error err = ss_upstream_new(&u);
    if (err)
        return err;
    struct ss_headers fields;
    ss_headers_init(&fields, 0, 0);
    if (content_type && (err = ss_headers_add(&fields, "Content-Type", content_type))) {
        ss_upstream_free(u);
        return err;
    }
    /* over https://, the server's certificate chains to a CA of the system's, for its name */
    static const struct ss_upstream_service_tls web = {.system_cas = true};
    struct ss_upstream_request req = {.method = content_type ? "POST" : "GET",
                                      .url = url,
                                      .headers = &fields,
                                      .body = body,
                                      .body_len = body_len,
                                      .connect_timeout_ms = timeout_ms,
                                      .timeout_ms = timeout_ms,
                                      .max_response_bytes = max,
                                      .max_response_headers = 64 * 1024,
                                      .service = &web};
    struct ss_upstream_response resp;
    err = ss_upstream_send(u, &req, &resp);
    ss_upstream_free(u);
    ss_headers_cleanup(&fields);
    if (err)
        return err;
    if (resp.status != 200) {
        long status = resp.status;
        ss_upstream_response_cleanup(&resp);
        return ss_errf(SS_ERR_NOT_FOUND, "HTTP status %ld", status);
    }
    ss_headers_cleanup(&resp.headers);
    ss_budget_give(resp.body_cap); /* the caller owns the body from here */
    *buf = resp.body ? resp.body : calloc(1, 1);
    *len = resp.body_len;
    return *buf ? SS_OK : ss_errf(SS_ERR_NOMEM, "out of memory");
}
