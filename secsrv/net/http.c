#include "http.h"
#include "budget.h"
#include "clock.h"
#include "door.h"
#include "fiber.h"
#include "log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/*
 * The certificate chain and key a TLS listener presents, parsed once. The
 * handshake takes the current one (pick_identity); a replaced one stays
 * until the server stops, for handshakes that took it a moment before.
 */
struct tls_identity {
    gnutls_pcert_st pcert[SS_HTTP_MAX_PEER_CERTS];
    unsigned n;
    gnutls_privkey_t key;
    struct tls_identity *older;
};

struct ss_http_server {
    struct ss_http_options opts;
    struct ss_limits limits;
    struct MHD_Daemon *daemon;
    char *trust_pem;
    bool tls;
    struct tls_identity *identity; /* under mu */
    /* jobs of this server in the pool; under mu */
    pthread_mutex_t mu;
    pthread_cond_t idle;
    size_t in_flight;
    bool stopping;
    /* open connections and their header deadlines; under mu */
    struct conn_slot *conns;
    pthread_cond_t reaper_wake;
    pthread_t reaper;
    bool reaper_running, reaper_stop;
    unsigned long cut_slow; /* connections cut for missing their header deadline */
    /* connections not yet past their TLS handshake and first request header; under mu */
    struct conn_slot *unauth;
    unsigned n_unauth;
    struct tally *tally; /* unauth_make_room's count by group: tally_cap entries, all free */
    size_t tally_cap;    /* a power of two, at least twice max_unauthenticated + 1 */
    size_t *touched;     /* the entries it used, to free them again (tally_cap / 2) */
    /* for the metrics; under mu */
    uint64_t open, accepted, refused_limit, refused_door, refused_unauth, evicted_unauth;
    uint64_t unfinished; /* TLS connections closed before a request line, not by the server */
    unsigned long unfinished_unlogged; /* of them, not yet in the operator log */
    uint64_t unfinished_logged_us;     /* when they were last (monotonic; 0: never) */
};

/*
 * One open connection. Its header phase (the TLS handshake and the first
 * request's header block, or a later request's from the end of the one
 * before) must end by deadline: libmicrohttpd's own timeout only counts
 * silence, so a client trickling a byte now and then would hold the
 * connection for ever. The reaper cuts (shutdown) what misses its deadline.
 */
/* a group of addresses for the half-open limits (group_of): the family, then 4 or 8 bytes */
#define GROUP_LEN 9

struct conn_slot {
    struct ss_http_conn pub; /* what the handlers see (first: the same address) */
    struct ss_http_server *srv;
    /* the peer's address, and whether the connection is still unauthenticated (in the
     * server's unauth list) */
    struct sockaddr_storage peer;
    socklen_t peer_len;
    uint8_t group[GROUP_LEN]; /* the group of addresses it counts in (group_of) */
    bool unauth;
    struct conn_slot *unauth_prev, *unauth_next;
    int fd;
    bool in_headers;
    bool cut;             /* the server cut it: its header deadline missed, or evicted */
    bool request_line;    /* a request line came (its TLS handshake was done); set and read
                             only by the HTTP thread that serves the connection */
    uint64_t deadline_us; /* monotonic */
    struct conn_slot *prev, *next;
};

/*
 * Where answers are made: making one may wait (on the signer, the logger,
 * a peer, a backend), so it is done in a fiber, never on the HTTP threads;
 * the connection is suspended meanwhile, and a waiting answer costs its
 * fiber's stack, not a thread.
 */
struct job {
    struct ss_task task;
    struct ss_http_server *srv;
    struct MHD_Connection *con;
    struct request_ctx *ctx;
};

/*
 * An oversized body up to this many bytes is read and dropped before the
 * answer: a client that sends its body without waiting (no "Expect:
 * 100-continue") is still writing when the answer comes, and closing on
 * unread data would reset the connection and lose the answer. Beyond it the
 * answer goes at once and the connection is closed.
 */
#define DROP_MAX (1024 * 1024)
/* stack of an HTTP thread (answers are made on fibers of their own, fiber.c) */
#define HTTP_THREAD_STACK (512 * 1024)

/* One request in flight. */
struct request_ctx {
    struct ss_http_request req;
    char *target;      /* as the handlers read it (ss_door_target) */
    size_t target_len; /* as received */
    uint8_t *body;
    size_t body_cap;
    ss_error error;   /* a limit broken while the request arrived */
    char errmsg[512]; /* its message (the worker that answers has its own) */
    size_t dropped;   /* bytes of an oversized body read and dropped */
    bool started;
    bool answered; /* an answer job was submitted */
    bool ready;    /* ... and has ended: resp holds the answer */
    bool queued;   /* the answer went to the HTTP layer */
    bool close;    /* refused at the door: the connection ends with the answer */
    struct ss_http_server *srv;
    struct ss_http_response resp;
    uint64_t start_us; /* monotonic: when its request line arrived */
    const char *line;  /* in libmicrohttpd's read buffer: where the next field must begin */
    const char *last_key; /* there too: the name of the last header field handed over */
};

/* Records err (SS_OK: none) with the calling thread's message; returns it. */
static ss_error fail(struct request_ctx *ctx, ss_error err)
{
    ctx->error = err;
    if (err)
        snprintf(ctx->errmsg, sizeof ctx->errmsg, "%s", ss_errmsg());
    return err;
}

/* Starts or ends slot's header phase; the caller holds srv->mu. */
static void header_phase_locked(struct conn_slot *slot, bool on, unsigned seconds)
{
    slot->in_headers = on;
    if (on)
        slot->deadline_us = ss_monotonic_us() + (uint64_t)seconds * 1000000u;
}

/* The same, taking srv->mu. */
static void header_phase(struct ss_http_server *srv, struct conn_slot *slot, bool on,
                         unsigned seconds)
{
    if (!slot)
        return;
    pthread_mutex_lock(&srv->mu);
    header_phase_locked(slot, on, seconds);
    pthread_mutex_unlock(&srv->mu);
}

static struct conn_slot *slot_of(struct MHD_Connection *con)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(con, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return ci ? (struct conn_slot *)ci->socket_context : NULL;
}

/*
 * The group of addresses a half-open connection counts in for the limits on them: an IPv4
 * address (an IPv4-mapped IPv6 one too) alone, an IPv6 address by its /64, which one
 * subscriber holds whole. Family first, then the bytes.
 */
static void group_of(const struct sockaddr *a, uint8_t out[GROUP_LEN])
{
    memset(out, 0, GROUP_LEN);
    if (a->sa_family == AF_INET) {
        out[0] = 4;
        memcpy(out + 1, &((const struct sockaddr_in *)(const void *)a)->sin_addr, 4);
    } else if (a->sa_family == AF_INET6) {
        const struct in6_addr *in6 = &((const struct sockaddr_in6 *)(const void *)a)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(in6)) {
            out[0] = 4;
            memcpy(out + 1, in6->s6_addr + 12, 4);
        } else {
            out[0] = 6;
            memcpy(out + 1, in6->s6_addr, 8);
        }
    }
}

/* The connection is past its TLS handshake and first request header (under srv->mu). */
static void unauth_end(struct ss_http_server *srv, struct conn_slot *slot)
{
    if (!slot->unauth)
        return;
    slot->unauth = false;
    if (slot->unauth_prev)
        slot->unauth_prev->unauth_next = slot->unauth_next;
    else
        srv->unauth = slot->unauth_next;
    if (slot->unauth_next)
        slot->unauth_next->unauth_prev = slot->unauth_prev;
    srv->n_unauth--;
}

/*
 * Whether a new connection from group may be accepted on a TLS listener:
 * connections not yet past their handshake and first request header are
 * limited per group of addresses (group_of), apart from the connections of
 * peers already past them, so that anonymous clients holding half-open
 * handshakes cannot crowd out the others. In all they are limited too, but
 * a new one within its group's limit is not refused for that: it takes a
 * place (unauth_make_room). Whoever holds half-open handshakes from many
 * addresses would otherwise shut out every new peer for as long as they
 * renew them.
 */
static bool unauth_room(const struct ss_http_server *srv, const uint8_t group[GROUP_LEN])
{
    if (!srv->limits.max_unauthenticated_per_ip)
        return true;
    unsigned same = 0;
    for (const struct conn_slot *c = srv->unauth; c; c = c->unauth_next)
        same += memcmp(c->group, group, GROUP_LEN) == 0;
    return same < srv->limits.max_unauthenticated_per_ip;
}

/* unauth_make_room's count of one group's half-open connections */
struct tally {
    const uint8_t *group; /* NULL: a free entry */
    unsigned count;
    size_t oldest_at;         /* its oldest's place in the list (0: the newest) */
    struct conn_slot *oldest; /* NULL for the new connection's group alone */
};

/* The tally entry of group g (a free one taken for it, and noted in touched). */
static struct tally *tally_of(struct ss_http_server *srv, const uint8_t g[GROUP_LEN],
                              size_t *n_touched)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */
    for (size_t k = 0; k < GROUP_LEN; k++)
        h = (h ^ g[k]) * 1099511628211ull;
    size_t mask = srv->tally_cap - 1, i = (size_t)h & mask;
    while (srv->tally[i].group && memcmp(srv->tally[i].group, g, GROUP_LEN) != 0)
        i = (i + 1) & mask;
    if (!srv->tally[i].group) {
        srv->tally[i] = (struct tally){.group = g};
        srv->touched[(*n_touched)++] = i;
    }
    return &srv->tally[i];
}

/*
 * With max_unauthenticated half-open connections, one is cut for a new one
 * from group: the oldest of the group that holds the most, the new one
 * counted in (of those that hold as many, the one whose oldest is oldest).
 * A flood from a few addresses, or from one IPv6 /64, thus cuts its own,
 * and a peer's connections, few at a time, get in and stay; to cut them,
 * an attacker needs more addresses than a peer holds connections, all
 * holding as many. Only connections still in their header phase are cut,
 * not one whose request is being taken in. Under srv->mu.
 */
static void unauth_make_room(struct ss_http_server *srv, const uint8_t group[GROUP_LEN])
{
    if (srv->n_unauth < srv->limits.max_unauthenticated || !srv->tally)
        return;
    size_t n_touched = 0, at = 0;
    tally_of(srv, group, &n_touched)->count++; /* the new connection */
    /* at most half the table's entries taken, so that a free one is always near */
    for (struct conn_slot *c = srv->unauth; c && n_touched < srv->tally_cap / 2;
         c = c->unauth_next, at++) {
        if (!c->in_headers)
            continue;
        struct tally *t = tally_of(srv, c->group, &n_touched);
        t->count++;
        t->oldest = c; /* the list runs from the newest */
        t->oldest_at = at;
    }
    const struct tally *best = NULL;
    for (size_t i = 0; i < n_touched; i++) {
        const struct tally *t = &srv->tally[srv->touched[i]];
        if (t->oldest && (!best || t->count > best->count ||
                          (t->count == best->count && t->oldest_at > best->oldest_at)))
            best = t;
    }
    struct conn_slot *victim = best ? best->oldest : NULL;
    for (size_t i = 0; i < n_touched; i++)
        srv->tally[srv->touched[i]] = (struct tally){0};
    if (!victim)
        return;
    unauth_end(srv, victim);
    victim->cut = true;
    victim->in_headers = false; /* counted as evicted, not again at its header deadline */
    srv->evicted_unauth++;
    if (victim->fd >= 0)
        (void)shutdown(victim->fd, SHUT_RDWR); /* closed when the HTTP layer sees it */
}

/*
 * A first look, before libmicrohttpd sets the connection up. The HTTP
 * threads accept at once, so two of them may both see room for the last
 * place: the decision that counts is taken again, under the lock that
 * also takes the place, when the connection starts (on_connection).
 */
static enum MHD_Result accept_policy(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    struct ss_http_server *srv = cls;
    (void)addrlen;
    if (!srv->tls) /* no handshake to wait for: max_connections_per_ip alone */
        return MHD_YES;
    pthread_mutex_lock(&srv->mu);
    uint8_t group[GROUP_LEN];
    group_of(addr, group);
    bool ok = unauth_room(srv, group);
    if (!ok)
        srv->refused_unauth++;
    pthread_mutex_unlock(&srv->mu);
    return ok ? MHD_YES : MHD_NO;
}

static void *reaper_main(void *arg)
{
    struct ss_http_server *srv = arg;
    pthread_mutex_lock(&srv->mu);
    while (!srv->reaper_stop) {
        uint64_t now = ss_monotonic_us();
        unsigned long cut = 0;
        for (struct conn_slot *c = srv->conns; c; c = c->next) {
            if (!c->in_headers || c->deadline_us > now)
                continue;
            /* the socket stays open until the HTTP layer has seen the end (and told us) */
            (void)shutdown(c->fd, SHUT_RDWR);
            c->in_headers = false;
            c->cut = true;
            cut++;
        }
        srv->cut_slow += cut;
        if (cut)
            ss_log_warn("%s: %lu connection(s) cut: no complete request header within %us "
                        "(%lu so far)",
                        srv->opts.name, cut, srv->limits.header_timeout, srv->cut_slow);
        /* the first at once, then one line a minute at most: a load balancer's probes or a
         * flood make one line, not a stream */
        if (srv->unfinished_unlogged &&
            (!srv->unfinished_logged_us || now - srv->unfinished_logged_us >= 60000000u)) {
            ss_log_warn("%s: %lu TLS connection(s) closed before their first request: a failed "
                        "handshake (no client certificate where one is required, a protocol "
                        "version or cipher suite outside the TLS policy, not TLS) or the "
                        "client's own close (%llu so far)",
                        srv->opts.name, srv->unfinished_unlogged,
                        (unsigned long long)srv->unfinished);
            srv->unfinished_unlogged = 0;
            srv->unfinished_logged_us = now;
        }
        struct timespec wake = ss_deadline_after_us(1000000u);
        pthread_cond_timedwait(&srv->reaper_wake, &srv->mu, &wake);
    }
    pthread_mutex_unlock(&srv->mu);
    return NULL;
}

bool ss_http_split_address(const char *address, char *host, size_t size, uint16_t *port)
{
    const char *colon;
    const char *h = address;
    size_t hlen;
    if (address[0] == '[') {
        const char *end = strchr(address, ']');
        if (!end || end[1] != ':')
            return false;
        h = address + 1;
        hlen = (size_t)(end - h);
        colon = end + 1;
    } else {
        colon = strrchr(address, ':');
        if (!colon)
            return false;
        hlen = (size_t)(colon - address);
    }
    if (hlen == 0 || hlen >= size)
        return false;
    char *endp = NULL;
    long p = strtol(colon + 1, &endp, 10);
    if (colon[1] == '\0' || *endp != '\0' || p < 0 || p > 65535)
        return false;
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    *port = (uint16_t)p;
    return true;
}

ss_error ss_http_set_body(struct ss_http_response *resp, const void *data, size_t len,
                          const char *type)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    if (len)
        memcpy(copy, data, len);
    free(resp->body);
    resp->body = copy;
    resp->body_len = len;
    if (type) {
        ss_headers_remove(&resp->headers, "Content-Type");
        return ss_headers_add(&resp->headers, "Content-Type", type);
    }
    return SS_OK;
}

/* Keeps the raw request target: no decoding, the handler decodes part by part. */
static size_t unescape_none(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls;
    (void)c;
    return strlen(s);
}

/* A request the door refuses for problem: answered 400, its connection closed. */
static void refuse(struct request_ctx *ctx, const char *problem)
{
    fail(ctx, ss_errf(SS_ERR_PROTOCOL, "%s", problem));
    ctx->close = true;
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *con)
{
    struct ss_http_server *srv = cls;
    /* a TLS connection's first request line: it is past its handshake (the flag is read
     * when the connection closes, in this thread) */
    struct conn_slot *slot = srv->tls ? slot_of(con) : NULL;
    if (slot && !slot->request_line)
        slot->request_line = true;
    struct request_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx)
        return NULL;
    ctx->srv = srv;
    ss_headers_init(&ctx->req.headers, srv->limits.max_headers, srv->limits.max_header_bytes);
    size_t n = strlen(uri);
    if (n > srv->limits.max_url_bytes) {
        fail(ctx, ss_errf(SS_ERR_LIMIT, "request URL of %zu bytes exceeds the limit of %zu", n,
                          srv->limits.max_url_bytes));
        n = 0;
    }
    /* libmicrohttpd records each '&'-separated argument; the pool holds max_query_arguments
     * of them (beyond what it holds, libmicrohttpd cuts the connection off itself) */
    const char *query = memchr(uri, '?', n), *end = uri + n;
    const char *cut = NULL; /* where the arguments libmicrohttpd is to record end */
    size_t args = query && query + 1 < end ? 1 : 0;
    for (const char *p = query ? query + 1 : end; p < end; p++) {
        /* an '&' ends an argument; one at the very end starts none */
        args += *p == '&' && p + 1 < end;
        if (args > srv->limits.max_query_arguments && !cut)
            cut = p;
    }
    if (!ctx->error && cut)
        fail(ctx, ss_errf(SS_ERR_LIMIT, "more than %zu query arguments",
                          srv->limits.max_query_arguments));
    const char *problem = NULL;
    char *taken = ctx->error ? NULL : ss_door_target(uri, n, &problem);
    if (problem)
        refuse(ctx, problem);
    /* a refused request keeps its target as received: the refusal is answered */
    ctx->target = ctx->error ? strndup(uri, n) : taken;
    ctx->target_len = n;
    ctx->start_us = ss_monotonic_us();
    if (ctx->error && !cut && (query = strchr(uri, '?')))
        cut = query + 1; /* libmicrohttpd reads the arguments from the byte after the '?' */
    /* A refused request's arguments are never used: libmicrohttpd is left only those its pool
     * holds, so that the refusal is answered, not the connection cut off. The target lies in
     * libmicrohttpd's read buffer, which it writes itself (the request line is read in place,
     * see door.h), and it looks for the arguments' end only after this callback. A target with
     * a NUL hides its arguments from uri here: such a request is refused by the door
     * (ss_door_layout_line), or cut off when its arguments overflow the pool first. */
    if (cut)
        *(char *)(uintptr_t)cut = '\0';
    return ctx;
}

/* What is wrong with a field as it lies in the read buffer (at: where its line must begin,
 * moved past it) and as it is; NULL: nothing. */
static const char *field_problem(const char **at, const char *key, size_t key_size,
                                 const char *value, size_t value_size)
{
    const char *problem = value ? ss_door_layout_field(at, key, key_size, value, value_size)
                                : "a header field without a value";
    return problem ? problem : ss_headers_field_problem(key, key_size, value, value_size);
}

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                      size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    struct request_ctx *ctx = cls;
    if (ctx->error)
        return MHD_NO;
    const char *problem = field_problem(&ctx->line, key, key_size, value, value_size);
    if (problem) {
        refuse(ctx, problem);
        return MHD_NO;
    }
    ctx->last_key = key;
    /* the blanks after the value are not part of it (libmicrohttpd drops only those before) */
    size_t raw_size = value_size;
    ss_headers_value_trim(&value, &value_size);
    /* but libmicrohttpd frames the body by the value it holds: "chunked " is no chunked to it,
     * and it would read the body until the connection closes */
    if (value_size != raw_size && key_size == 17 && strncasecmp(key, "Transfer-Encoding", 17) == 0) {
        refuse(ctx, "a Transfer-Encoding with blanks after its value");
        return MHD_NO;
    }
    ss_error err = ss_headers_addn(&ctx->req.headers, key, key_size, value, value_size);
    if (err)
        fail(ctx, err);
    return err ? MHD_NO : MHD_YES;
}

/*
 * A field of a chunked request's trailer section. secsrv takes none (X-Road gives them no
 * use, and they would never be forwarded): a request with one is refused. Its lines cannot be
 * held to the header section's rules as those are: libmicrohttpd 0.9.75 reads the section
 * leniently (bare LF line ends included) and says nothing of where it ended, so that a
 * request behind it could not be told from the section's last bytes. libmicrohttpd lists the
 * last header field among the trailer fields when the section's first line comes in two
 * reads: that one, the header field itself (its name where the header section's is), is not
 * the request's trailer.
 */
static enum MHD_Result check_trailer(void *cls, enum MHD_ValueKind kind, const char *key,
                                     size_t key_size, const char *value, size_t value_size)
{
    (void)kind;
    (void)key_size;
    (void)value;
    (void)value_size;
    struct request_ctx *ctx = cls;
    if (key == ctx->last_key)
        return MHD_YES;
    refuse(ctx, "a chunked body with trailer fields (secsrv takes none)");
    return MHD_NO;
}

/* The request's fields, each checked as it was read (see door.h) and as it is. */
static void collect_headers(struct MHD_Connection *con, struct request_ctx *ctx, const char *method,
                            const char *version)
{
    const char *problem = !method || !version
                              ? "a request line without a method or a version"
                              : ss_door_layout_line(method, ctx->target_len, version);
    if (!problem)
        problem = ss_door_layout_start(version, &ctx->line);
    if (!problem) {
        MHD_get_connection_values_n(con, MHD_HEADER_KIND, collect_header, ctx);
        if (ctx->error)
            return;
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(con, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
        problem = ss_door_layout_end(ctx->line, method, info ? info->header_size : 0);
    }
    if (problem)
        refuse(ctx, problem);
}

/* The peer's address and, over TLS, its certificates; a chain longer than the trust checks
 * take is refused here, not cut short without a word. */
static ss_error fill_peer(struct ss_http_server *srv, struct MHD_Connection *con,
                          struct ss_http_request *req)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        const struct sockaddr *sa = ci->client_addr;
        char host[INET6_ADDRSTRLEN] = "?";
        uint16_t port = 0;
        if (sa->sa_family == AF_INET) {
            const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
            inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
            port = ntohs(in->sin_port);
        } else if (sa->sa_family == AF_INET6) {
            const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
            inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
            port = ntohs(in6->sin6_port);
        }
        snprintf(req->remote, sizeof req->remote, "%s:%u", host, port);
    }
    struct conn_slot *slot = slot_of(con);
    req->conn = slot ? &slot->pub : NULL;
    if (!srv->tls)
        return SS_OK;
    req->tls = true;
    ci = MHD_get_connection_info(con, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session)
        return SS_OK;
    unsigned int n = 0;
    const gnutls_datum_t *list =
        gnutls_certificate_get_peers((gnutls_session_t)ci->tls_session, &n);
    if (list && n > SS_HTTP_MAX_PEER_CERTS)
        return ss_errf(SS_ERR_PEER_UNTRUSTED,
                       "peer presented a chain of %u certificates (at most %d)", n,
                       SS_HTTP_MAX_PEER_CERTS);
    for (unsigned int i = 0; list && i < n; i++) {
        req->peer_certs[i].data = list[i].data;
        req->peer_certs[i].len = list[i].size;
        req->n_peer_certs++;
    }
    return SS_OK;
}

/* A sensitive answer's body, wiped when libmicrohttpd is done with it. */
struct wiped_body {
    uint8_t *data;
    size_t len;
};

static void wipe_body(void *cls)
{
    struct wiped_body *w = cls;
    sodium_memzero(w->data, w->len);
    free(w->data);
    free(w);
}

/* The body of an answer to HEAD, which libmicrohttpd never asks for. */
static ssize_t no_body(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    (void)pos;
    (void)buf;
    (void)max;
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

static enum MHD_Result send_response(struct MHD_Connection *con, struct ss_http_response *resp)
{
    struct MHD_Response *r = NULL;
    if (resp->head_length_set) {
        /* the headers of the answer to GET, Content-Length among them, and no body */
        r = MHD_create_response_from_callback(resp->head_length, 4096, no_body, NULL, NULL);
        if (!r)
            return MHD_NO;
        /* a length unknown would be answered chunked, and libmicrohttpd 0.9.75 then sends the
         * last chunk even to HEAD: the answer has no length, and the connection closes after
         * it, as in HTTP/1.0 */
        if (resp->head_length == MHD_SIZE_UNKNOWN &&
            MHD_set_response_options(r, MHD_RF_HTTP_1_0_COMPATIBLE_STRICT, MHD_RO_END) != MHD_YES) {
            MHD_destroy_response(r);
            return MHD_NO;
        }
        free(resp->body);
    } else if (resp->sensitive) {
        struct wiped_body *w = malloc(sizeof *w);
        if (!w)
            return MHD_NO;
        *w = (struct wiped_body){resp->body, resp->body_len};
        r = MHD_create_response_from_buffer_with_free_callback_cls(resp->body_len, resp->body,
                                                                   wipe_body, w);
        if (!r) {
            free(w);
            return MHD_NO;
        }
    } else {
        r = MHD_create_response_from_buffer_with_free_callback(resp->body_len, resp->body, free);
        if (!r)
            return MHD_NO;
    }
    resp->body = NULL;
    /* a field that cannot be added ends the connection: no answer loses a field silently */
    for (size_t i = 0; i < resp->headers.n; i++) {
        if (MHD_add_response_header(r, resp->headers.items[i].name, resp->headers.items[i].value) !=
            MHD_YES) {
            ss_log_error("cannot add header field %.64s to an answer; connection closed",
                         resp->headers.items[i].name);
            MHD_destroy_response(r);
            return MHD_NO;
        }
    }
    enum MHD_Result ret = MHD_queue_response(con, resp->status, r);
    MHD_destroy_response(r);
    return ret;
}

/* An answer's fields: the service's and those a server adds (X-Road's, evidence, Connection). */
#define ANSWER_FIELDS (SS_ANSWER_FIELDS_MAX + 16)

size_t ss_http_answer_field_bytes(const struct ss_limits *l)
{
    return l->max_answer_header_bytes + 64; /* and Connection: close */
}

/*
 * libmicrohttpd holds a connection's request and the header of its answer in one pool: the
 * request line and fields as read, a record of about 64 bytes per field and per query
 * argument, then the answer's status line, its fields with ": " and CRLF each, and the fields
 * libmicrohttpd adds (Date, Content-Length, Connection). A request or an answer that does not
 * fit is cut off without an answer, so the pool holds the largest of both; the last 2 kB take
 * the status line, libmicrohttpd's fields and the pool's alignment.
 */
size_t ss_http_connection_bytes(const struct ss_limits *l)
{
    return l->max_url_bytes + l->max_header_bytes + l->max_headers * (64 + 4) +
           l->max_query_arguments * 64 + ss_http_answer_field_bytes(l) + ANSWER_FIELDS * 4 + 2048;
}

/* Runs in a worker: fills ctx->resp from the handler, or from the error hook. */
static void build_answer(struct ss_http_server *srv, struct request_ctx *ctx)
{
    struct ss_http_response *resp = &ctx->resp;
    resp->status = 500;
    ss_headers_init(&resp->headers, ANSWER_FIELDS, ss_http_answer_field_bytes(&srv->limits));
    ctx->req.target = ctx->target;
    ctx->req.body = ctx->body;
    if (ctx->error) {
        (void)ss_errf(ctx->error, "%s", ctx->errmsg); /* the message, on this thread too */
        srv->opts.on_error(srv->opts.cls, &ctx->req, ctx->error, resp);
    } else
        srv->opts.handler(srv->opts.cls, &ctx->req, resp);
}

/* A fiber's task: makes the answer, and wakes the connection to send it. */
static void run_job(void *arg)
{
    struct job *j = arg;
    struct ss_http_server *srv = j->srv;
    build_answer(srv, j->ctx);
    j->ctx->ready = true;
    MHD_resume_connection(j->con);
    free(j);
    pthread_mutex_lock(&srv->mu);
    if (--srv->in_flight == 0)
        pthread_cond_broadcast(&srv->idle);
    pthread_mutex_unlock(&srv->mu);
}

/* Hands the request to a fiber and suspends its connection until its answer is made. */
static enum MHD_Result answer(struct ss_http_server *srv, struct MHD_Connection *con,
                              struct request_ctx *ctx)
{
    if (ctx->answered)
        return MHD_YES;
    struct job *j = calloc(1, sizeof *j);
    if (!j)
        return MHD_NO;
    *j = (struct job){.task = {.fn = run_job, .arg = j}, .srv = srv, .con = con, .ctx = ctx};
    pthread_mutex_lock(&srv->mu);
    bool stopping = srv->stopping;
    if (!stopping)
        srv->in_flight++;
    pthread_mutex_unlock(&srv->mu);
    if (stopping) {
        free(j);
        return MHD_NO; /* the server is stopping: the connection ends */
    }
    ctx->answered = true;
    MHD_suspend_connection(con);
    ss_sched_submit(srv->opts.pool, &j->task);
    return MHD_YES;
}

/* Back on the HTTP thread once the answer job ended: queues the answer. */
static enum MHD_Result send_answer(struct MHD_Connection *con, struct request_ctx *ctx)
{
    if (ctx->queued)
        return MHD_YES;
    ctx->queued = true;
    if (ctx->close) {
        pthread_mutex_lock(&ctx->srv->mu);
        ctx->srv->refused_door++;
        pthread_mutex_unlock(&ctx->srv->mu);
        ss_headers_remove(&ctx->resp.headers, "Connection");
        if (ss_headers_add(&ctx->resp.headers, "Connection", "close"))
            return MHD_NO; /* the connection ends without an answer */
    }
    return send_response(con, &ctx->resp);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *con, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    (void)url;
    struct ss_http_server *srv = cls;
    struct request_ctx *ctx = *con_cls;
    if (!ctx || !ctx->target)
        return MHD_NO;
    if (ctx->ready)
        return send_answer(con, ctx);
    if (ctx->answered)
        return MHD_YES; /* the answer is being made */
    if (!ctx->started) {
        ctx->started = true;
        struct conn_slot *slot = slot_of(con);
        header_phase(srv, slot, false, 0); /* the header block is in */
        if (slot) {
            pthread_mutex_lock(&srv->mu);
            unauth_end(srv, slot);
            pthread_mutex_unlock(&srv->mu);
        }
        ctx->req.method = method;
        ctx->req.target = ctx->target;
        ss_error peer = fill_peer(srv, con, &ctx->req);
        if (peer && !ctx->error) { /* an error found earlier (the target's limits) stands */
            fail(ctx, peer);
            ctx->close = true;
        }
        if (!ctx->error)
            collect_headers(con, ctx, method, version);
        if (!ctx->error &&
            fail(ctx, ss_door_check(method, ctx->target, version, &ctx->req.headers)))
            ctx->close = true;
        /* the gate runs here, on the HTTP thread: it decides from what is known without
         * waiting (the connection's verdict on the peer, the chain and pin, a cached
         * certificate status); the handler, in a fiber, asks an OCSP responder if need be */
        if (!ctx->error && srv->opts.gate)
            fail(ctx, srv->opts.gate(srv->opts.cls, &ctx->req));
        if (ctx->error)
            return answer(srv, con, ctx); /* answered before the body is read */
        uint64_t n = 0;
        if (ss_headers_content_length(&ctx->req.headers, &n)) {
            if (n > srv->limits.max_body_bytes) {
                fail(ctx,
                     ss_errf(SS_ERR_LIMIT, "request body of %llu bytes exceeds the limit of %zu",
                             (unsigned long long)n, srv->limits.max_body_bytes));
                /* a client waiting for "100 Continue" gets the answer instead and sends
                 * nothing; one already sending is read to the end if that is not too much */
                const char *expect = MHD_lookup_connection_value(con, MHD_HEADER_KIND, "Expect");
                if ((expect && strcasecmp(expect, "100-continue") == 0) || n > DROP_MAX)
                    return answer(srv, con, ctx);
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (ss_monotonic_us() - ctx->start_us > (uint64_t)srv->limits.request_timeout * 1000000u) {
            ss_log_warn("%s: request from %s took longer than %us to arrive, connection cut",
                        srv->opts.name, ctx->req.remote[0] ? ctx->req.remote : "peer",
                        srv->limits.request_timeout);
            return MHD_NO;
        }
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (!ctx->error && ctx->req.body_len + n > srv->limits.max_body_bytes)
            fail(ctx, ss_errf(SS_ERR_LIMIT, "request body exceeds the limit of %zu bytes",
                              srv->limits.max_body_bytes));
        if (!ctx->error) {
            ss_error err = ss_budget_grow(&ctx->body, &ctx->body_cap, ctx->req.body_len + n,
                                          srv->limits.max_body_bytes);
            if (err == SS_ERR_NOMEM)
                return MHD_NO;
            if (err) {
                /* no memory for more bodies now: nothing of this one is kept */
                fail(ctx, ss_errf(SS_ERR_BUSY,
                                  "the memory for request bodies in transit is used up "
                                  "(%zu bytes)",
                                  ss_budget_used()));
                ss_budget_free(&ctx->body, &ctx->body_cap);
                ctx->req.body_len = 0;
            }
        }
        if (ctx->error) {
            ctx->dropped += n;
            return ctx->dropped > DROP_MAX ? answer(srv, con, ctx) : MHD_YES;
        }
        memcpy(ctx->body + ctx->req.body_len, upload_data, n);
        ctx->req.body_len += n;
        return MHD_YES;
    }
    if (!ctx->error)
        MHD_get_connection_values_n(con, MHD_FOOTER_KIND, check_trailer, ctx);
    return answer(srv, con, ctx);
}

static void on_completed(void *cls, struct MHD_Connection *con, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct ss_http_server *srv = cls;
    (void)toe;
    /* the next request's header block is due within the keep-alive time and the header time */
    header_phase(srv, slot_of(con), true,
                 srv->limits.connection_timeout + srv->limits.header_timeout);
    struct request_ctx *ctx = *con_cls;
    if (!ctx)
        return;
    ss_headers_cleanup(&ctx->req.headers);
    ss_headers_cleanup(&ctx->resp.headers);
    free(ctx->resp.body);
    free(ctx->target);
    ss_budget_free(&ctx->body, &ctx->body_cap);
    free(ctx);
    *con_cls = NULL;
}

static void on_connection(void *cls, struct MHD_Connection *con, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct ss_http_server *srv = cls;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn_slot *slot = calloc(1, sizeof *slot);
        *socket_context = slot;
        const union MHD_ConnectionInfo *fdi =
            MHD_get_connection_info(con, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (slot) {
            slot->srv = srv;
            slot->fd = fdi ? fdi->connect_fd : -1;
            const union MHD_ConnectionInfo *ai =
                MHD_get_connection_info(con, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
            if (ai && ai->client_addr) {
                slot->peer_len = ai->client_addr->sa_family == AF_INET6
                                     ? sizeof(struct sockaddr_in6)
                                     : sizeof(struct sockaddr_in);
                memcpy(&slot->peer, ai->client_addr, slot->peer_len);
            }
            pthread_mutex_lock(&srv->mu);
            srv->open++;
            slot->next = srv->conns;
            if (srv->conns)
                srv->conns->prev = slot;
            srv->conns = slot;
            group_of((const struct sockaddr *)&slot->peer, slot->group);
            bool refused = srv->tls && !unauth_room(srv, slot->group);
            if (refused) {
                /* another HTTP thread took the address's last place since accept_policy looked */
                srv->refused_unauth++;
            } else {
                srv->accepted++;
                /* the TLS handshake and the first header block are due, from now on: in the
                 * same hold of the lock, so that the new connection can be cut (by eviction
                 * or its deadline) from the moment it counts */
                header_phase_locked(slot, slot->fd >= 0, srv->limits.header_timeout);
                if (srv->tls) {
                    unauth_make_room(srv, slot->group);
                    slot->unauth = true;
                    slot->unauth_next = srv->unauth;
                    if (srv->unauth)
                        srv->unauth->unauth_prev = slot;
                    srv->unauth = slot;
                    srv->n_unauth++;
                }
            }
            pthread_mutex_unlock(&srv->mu);
            if (refused && slot->fd >= 0)
                (void)shutdown(slot->fd, SHUT_RDWR); /* closed when the HTTP layer sees it */
        }
        if (srv->opts.require_client_cert) {
            /* no certificate, no handshake: nothing is read from an anonymous peer */
            const union MHD_ConnectionInfo *ci =
                MHD_get_connection_info(con, MHD_CONNECTION_INFO_GNUTLS_SESSION);
            if (ci && ci->tls_session)
                gnutls_certificate_server_set_request((gnutls_session_t)ci->tls_session,
                                                      GNUTLS_CERT_REQUIRE);
        }
    } else {
        struct conn_slot *slot = *socket_context;
        if (slot) {
            pthread_mutex_lock(&srv->mu);
            /* no request line, and not cut by the server: a failed handshake, or the client's
             * close. libmicrohttpd's own refusal of a header too large (431) comes after the
             * request line; only one of a request line too long to read is counted too */
            if (slot->unauth && !slot->cut && !slot->request_line) {
                srv->unfinished++;
                srv->unfinished_unlogged++;
            }
            unauth_end(srv, slot);
            srv->open--;
            if (slot->prev)
                slot->prev->next = slot->next;
            else
                srv->conns = slot->next;
            if (slot->next)
                slot->next->prev = slot->prev;
            pthread_mutex_unlock(&srv->mu);
        }
        free(slot);
        *socket_context = NULL;
    }
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap) SS_PRINTF(2, 0);

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct ss_http_server *srv = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && msg[n - 1] == '\n')
        msg[--n] = '\0';
    /* libmicrohttpd refuses a connection over max_connections or the per-address limit */
    if (strstr(msg, "reached connection limit")) {
        pthread_mutex_lock(&srv->mu);
        srv->refused_limit++;
        pthread_mutex_unlock(&srv->mu);
    }
    ss_log_debug("%s: %s", srv->opts.name, msg);
}

static ss_error resolve(const char *listen, struct sockaddr_storage *ss)
{
    char host[256];
    uint16_t port;
    if (!ss_http_split_address(listen, host, sizeof host, &port))
        return ss_errf(SS_ERR_CONFIG, "listen address '%s' is not HOST:PORT", listen);
    struct addrinfo hints = {.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
                             .ai_socktype = SOCK_STREAM};
    struct addrinfo *ai = NULL;
    char portstr[8];
    snprintf(portstr, sizeof portstr, "%u", port);
    if (getaddrinfo(host, portstr, &hints, &ai) != 0 || !ai)
        return ss_errf(SS_ERR_CONFIG, "listen address '%s' is not a numeric address", listen);
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    return SS_OK;
}

/* Binds and listens on addr itself, so that a failure names its errno. */
static ss_error open_listener(const char *name, const char *listen_addr,
                              const struct sockaddr_storage *addr, int *out)
{
    socklen_t len =
        addr->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    int fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return ss_errf(SS_ERR_IO, "%s: cannot create a socket for %s: %s", name, listen_addr,
                       strerror(errno));
    int on = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (addr->ss_family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    const char *step = "bind";
    if (bind(fd, (const struct sockaddr *)addr, len) != 0 ||
        (step = "listen", listen(fd, SOMAXCONN) != 0)) {
        int e = errno;
        close(fd);
        return ss_errf(SS_ERR_IO, "%s: cannot %s %s: %s (errno %d)", name, step, listen_addr,
                       strerror(e), e);
    }
    *out = fd;
    return SS_OK;
}

ss_error ss_http_listen(const char *name, const char *address, int *fd, uint16_t *port)
{
    *fd = -1;
    *port = 0;
    struct sockaddr_storage addr;
    ss_error err = resolve(address, &addr);
    if (err || (err = open_listener(name, address, &addr, fd)))
        return err;
    struct sockaddr_storage bound;
    socklen_t len = sizeof bound;
    if (getsockname(*fd, (struct sockaddr *)&bound, &len) != 0) {
        close(*fd);
        *fd = -1;
        return ss_errf(SS_ERR_IO, "%s: getsockname: %s", name, strerror(errno));
    }
    *port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)(void *)&bound)->sin6_port
                                              : ((struct sockaddr_in *)(void *)&bound)->sin_port);
    return SS_OK;
}

static void identity_free(struct tls_identity *id)
{
    while (id) {
        struct tls_identity *older = id->older;
        for (unsigned i = 0; i < id->n; i++)
            gnutls_pcert_deinit(&id->pcert[i]);
        if (id->key)
            gnutls_privkey_deinit(id->key);
        free(id);
        id = older;
    }
}

static ss_error identity_new(const char *name, const char *cert_pem, const char *key_pem,
                             struct tls_identity **out)
{
    *out = NULL;
    struct tls_identity *id = calloc(1, sizeof *id);
    if (!id)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    gnutls_datum_t cert = {(unsigned char *)(uintptr_t)cert_pem, (unsigned)strlen(cert_pem)};
    gnutls_datum_t key = {(unsigned char *)(uintptr_t)key_pem, (unsigned)strlen(key_pem)};
    id->n = SS_HTTP_MAX_PEER_CERTS;
    if (gnutls_pcert_list_import_x509_raw(id->pcert, &id->n, &cert, GNUTLS_X509_FMT_PEM,
                                          GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED) < 0) {
        id->n = 0;
        identity_free(id);
        return ss_errf(SS_ERR_TLS, "%s: the TLS certificate does not parse", name);
    }
    if (gnutls_privkey_init(&id->key) < 0 ||
        gnutls_privkey_import_x509_raw(id->key, &key, GNUTLS_X509_FMT_PEM, NULL, 0) < 0) {
        identity_free(id);
        return ss_errf(SS_ERR_TLS, "%s: the TLS key does not parse", name);
    }
    *out = id;
    return SS_OK;
}

/* GnuTLS asks which certificate to present: the listener's current one. */
static int pick_identity(gnutls_session_t session, const gnutls_datum_t *req_ca_dn, int nreqs,
                         const gnutls_pk_algorithm_t *pk_algos, int pk_algos_length,
                         gnutls_pcert_st **pcert, unsigned int *pcert_length,
                         gnutls_privkey_t *pkey)
{
    (void)req_ca_dn;
    (void)nreqs;
    (void)pk_algos;
    (void)pk_algos_length;
    struct MHD_Connection *con = gnutls_session_get_ptr(session);
    struct conn_slot *slot = con ? slot_of(con) : NULL;
    if (!slot)
        return -1;
    struct ss_http_server *srv = slot->srv;
    pthread_mutex_lock(&srv->mu);
    struct tls_identity *id = srv->identity;
    pthread_mutex_unlock(&srv->mu);
    if (!id)
        return -1;
    *pcert = id->pcert;
    *pcert_length = id->n;
    *pkey = id->key;
    return 0;
}

ss_error ss_http_set_identity(struct ss_http_server *srv, const char *cert_pem, const char *key_pem)
{
    if (!srv->tls)
        return ss_errf(SS_ERR_INTERNAL, "%s: not a TLS listener", srv->opts.name);
    struct tls_identity *id = NULL;
    ss_error err = identity_new(srv->opts.name, cert_pem, key_pem, &id);
    if (err)
        return err;
    pthread_mutex_lock(&srv->mu);
    id->older = srv->identity;
    srv->identity = id;
    pthread_mutex_unlock(&srv->mu);
    return SS_OK;
}

ss_error ss_http_start(const struct ss_http_options *opts, struct ss_http_server **out)
{
    *out = NULL;
    struct sockaddr_storage addr;
    ss_error err = resolve(opts->listen, &addr);
    if (err)
        return err;
    int fd = opts->listen_fd;
    if (fd < 0 && (err = open_listener(opts->name, opts->listen, &addr, &fd)))
        return err;
    struct ss_http_server *srv = calloc(1, sizeof *srv);
    if (!srv) {
        close(fd);
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    }
    srv->opts = *opts;
    srv->limits = *opts->limits;
    srv->opts.limits = &srv->limits;
    if (opts->cert_pem) { /* a TLS listener: half-open connections are counted by group */
        srv->tally_cap = 16;
        while (srv->tally_cap < 2 * ((size_t)srv->limits.max_unauthenticated + 1))
            srv->tally_cap *= 2;
        srv->tally = calloc(srv->tally_cap, sizeof *srv->tally);
        srv->touched = calloc(srv->tally_cap / 2, sizeof *srv->touched);
        if (!srv->tally || !srv->touched) {
            free(srv->tally);
            free(srv->touched);
            free(srv);
            close(fd);
            return ss_errf(SS_ERR_NOMEM, "out of memory");
        }
    }
    pthread_mutex_init(&srv->mu, NULL);
    pthread_cond_init(&srv->idle, NULL);
    ss_cond_init(&srv->reaper_wake);
    /* a few event-driven HTTP threads; what may wait runs in the pool's workers */
    unsigned flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (addr.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    size_t mem = ss_http_connection_bytes(&srv->limits);
    struct MHD_OptionItem tls_opts[5];
    size_t nt = 0;
    if (opts->cert_pem) {
        flags |= MHD_USE_TLS;
        srv->tls = true;
        if ((err = identity_new(opts->name, opts->cert_pem, opts->key_pem, &srv->identity))) {
            close(fd);
            ss_http_stop(srv);
            return err;
        }
        tls_opts[nt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_CERT_CALLBACK, 0,
                                                 (void *)(uintptr_t)pick_identity};
        tls_opts[nt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0,
                                                 (void *)(uintptr_t)ss_tls_gnutls_priorities()};
        if (opts->trust_pem) {
            srv->trust_pem = strdup(opts->trust_pem);
            tls_opts[nt++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, srv->trust_pem};
        }
    }
    tls_opts[nt] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    /* libmicrohttpd's own strictness is off: in 0.9.75 it closes the connection without an
     * answer on a blank in the target, and answers a missing Host twice, in HTML. The door
     * (door.h) refuses those, and what the strict mode refused besides, with 400 and the
     * X-Road error body; test_exchange holds both proxies to it. */
    srv->daemon = MHD_start_daemon(
        flags, 0, accept_policy, srv, on_request, srv, MHD_OPTION_LISTEN_SOCKET, fd,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv, MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, srv, MHD_OPTION_UNESCAPE_CALLBACK,
        unescape_none, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned int)srv->limits.connection_timeout, MHD_OPTION_CONNECTION_LIMIT,
        (unsigned int)srv->limits.max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
        (unsigned int)srv->limits.max_connections_per_ip, MHD_OPTION_CONNECTION_MEMORY_LIMIT, mem,
        MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)srv->limits.http_threads,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)HTTP_THREAD_STACK, MHD_OPTION_EXTERNAL_LOGGER,
        on_mhd_log, srv, MHD_OPTION_STRICT_FOR_CLIENT, 0, MHD_OPTION_ARRAY, tls_opts,
        MHD_OPTION_END);
    if (!srv->daemon) {
        close(fd);
        ss_http_stop(srv);
        return ss_errf(SS_ERR_IO,
                       "%s: cannot serve on %s (the HTTP server did not start: bad TLS key or "
                       "certificate, or out of resources)",
                       opts->name, opts->listen);
    }
    if (pthread_create(&srv->reaper, NULL, reaper_main, srv) != 0) {
        ss_http_stop(srv);
        return ss_errf(SS_ERR_IO, "%s: cannot start the connection reaper", opts->name);
    }
    srv->reaper_running = true;
    *out = srv;
    return SS_OK;
}

uint16_t ss_http_port(const struct ss_http_server *srv)
{
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return di ? di->port : 0;
}

void ss_http_stop(struct ss_http_server *srv)
{
    if (!srv)
        return;
    if (srv->reaper_running) {
        pthread_mutex_lock(&srv->mu);
        srv->reaper_stop = true;
        pthread_cond_signal(&srv->reaper_wake);
        pthread_mutex_unlock(&srv->mu);
        pthread_join(srv->reaper, NULL);
    }
    if (srv->daemon) {
        /* no new answers; those being made resume their connections first */
        pthread_mutex_lock(&srv->mu);
        srv->stopping = true;
        while (srv->in_flight > 0)
            pthread_cond_wait(&srv->idle, &srv->mu);
        pthread_mutex_unlock(&srv->mu);
        MHD_stop_daemon(srv->daemon);
    }
    pthread_mutex_destroy(&srv->mu);
    pthread_cond_destroy(&srv->idle);
    pthread_cond_destroy(&srv->reaper_wake);
    identity_free(srv->identity);
    free(srv->trust_pem);
    free(srv->tally);
    free(srv->touched);
    free(srv);
}

void ss_http_stats(struct ss_http_server *srv, struct ss_http_stats *out)
{
    pthread_mutex_lock(&srv->mu);
    *out = (struct ss_http_stats){.open = srv->open,
                                  .accepted = srv->accepted,
                                  .refused_limit = srv->refused_limit,
                                  .refused_unauth = srv->refused_unauth,
                                  .evicted_unauth = srv->evicted_unauth,
                                  .unfinished = srv->unfinished,
                                  .refused_door = srv->refused_door,
                                  .cut_slow = srv->cut_slow};
    pthread_mutex_unlock(&srv->mu);
}
