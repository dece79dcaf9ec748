/*
 * http: the inbound HTTP(S) server, on libmicrohttpd. It owns sockets,
 * GnuTLS (inbound TLS), request limits and timeouts. It hands a handler a
 * complete, bounded request: the raw request target exactly as received,
 * the header fields in order, the body, and the peer's DER certificates.
 * It makes no trust decision itself: the handler asks trust.c.
 * A request that breaks a limit never reaches the handler; the error hook
 * builds its answer instead.
 */
#ifndef SS_HTTP_H
#define SS_HTTP_H

#include "config.h"
#include "fiber.h"
#include "headers.h"
#include "ss_error.h"
#include "trust.h"

#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define SS_HTTP_MAX_PEER_CERTS SS_TRUST_MAX_CHAIN

/* What a handler may remember about one connection (e.g. a verified peer). */
struct ss_http_conn {
    /* how far the peer's certificates were verified (under verified_serial, at verified_at) */
    enum { SS_PEER_UNKNOWN, SS_PEER_CHAIN, SS_PEER_VERIFIED } peer;
    uint64_t verified_serial; /* registry serial the verification was made under */
    time_t verified_at;
    uint8_t peer_sha256[32];
};

struct ss_http_request {
    const char *method;
    const char *target; /* raw request target: path and query, not decoded */
    struct ss_headers headers;
    const uint8_t *body;
    size_t body_len;
    bool tls;
    struct ss_der peer_certs[SS_HTTP_MAX_PEER_CERTS];
    size_t n_peer_certs;
    struct ss_http_conn *conn;
    char remote[64];
};

struct ss_http_response {
    unsigned status;
    struct ss_headers headers;
    uint8_t *body; /* owned, malloc'd */
    size_t body_len;
    bool sensitive; /* the body holds secrets (e.g. opened messages): wiped once sent */
    /* an answer to HEAD or a 304 passed on: the Content-Length the answer to GET would have
     * had, as its source said (RFC 9110 8.6, 9.3.2), or UINT64_MAX when it said none (then the
     * answer has none, and its connection closes); the body is empty */
    bool head_length_set;
    uint64_t head_length;
};

typedef void (*ss_http_handler)(void *cls, const struct ss_http_request *req,
                                struct ss_http_response *resp);
/*
 * Called once a request's header fields have arrived, before its body is
 * read, on an HTTP thread that serves other connections: it must not wait
 * (no network). An error refuses the request at once (the error hook answers).
 */
typedef ss_error (*ss_http_gate)(void *cls, const struct ss_http_request *req);
typedef void (*ss_http_error_hook)(void *cls, const struct ss_http_request *req, ss_error err,
                                   struct ss_http_response *resp);

struct ss_http_options {
    const char *name;   /* for the operator log, e.g. "client-proxy" */
    const char *listen; /* HOST:PORT, port 0 = ephemeral */
    int listen_fd;      /* a socket already listening on listen (ss_http_listen), or -1 */
    const struct ss_limits *limits;
    /* TLS when cert_pem is set; with trust_pem a client certificate is asked for, and with
     * require_client_cert a handshake without one fails (whether a certificate is trusted,
     * the handler decides) */
    const char *cert_pem;
    const char *key_pem;
    const char *trust_pem;
    bool require_client_cert;
    ss_http_handler handler;
    ss_http_gate gate; /* may be NULL */
    ss_http_error_hook on_error;
    void *cls;
    /* where answers are made, each in a fiber (handlers and error hooks may wait on other
     * processes and servers; an answer that waits holds no thread, and its connection waits
     * suspended); several servers may share one, freed only after they have stopped */
    struct ss_sched *pool;
};

struct ss_http_server;

ss_error ss_http_start(const struct ss_http_options *opts,
                       struct ss_http_server **out) SS_MUST_CHECK SS_NONNULL(1, 2);
uint16_t ss_http_port(const struct ss_http_server *srv);
/*
 * The certificate (chain) and key a TLS listener presents from the next
 * handshake on (a rotated certificate, on reload); the one before stays
 * for handshakes under way.
 */
ss_error ss_http_set_identity(struct ss_http_server *srv, const char *cert_pem,
                              const char *key_pem) SS_MUST_CHECK;
void ss_http_stop(struct ss_http_server *srv);

/* A listener's connections, for the metrics. */
struct ss_http_stats {
    uint64_t open;           /* open now */
    uint64_t accepted;       /* accepted since start */
    uint64_t refused_limit;  /* refused at accept: max_connections or the per-address limit */
    uint64_t refused_door;   /* closed after a request the door refused (400, see door.h) */
    uint64_t refused_unauth; /* refused at accept: too many unauthenticated from its address */
    uint64_t evicted_unauth; /* cut unauthenticated: the oldest, for a new one (in all too many) */
    uint64_t unfinished; /* TLS connections closed before a request line, not by the server */
    uint64_t cut_slow;       /* cut for missing the header deadline */
};
void ss_http_stats(struct ss_http_server *srv, struct ss_http_stats *out);

/* Sets resp's body to a copy of data; sets Content-Type if type is given. */
ss_error ss_http_set_body(struct ss_http_response *resp, const void *data, size_t len,
                          const char *type) SS_MUST_CHECK;

/*
 * Binds and listens on address (HOST:PORT, numeric); *port is the port
 * bound (useful with port 0). A failure names the errno.
 */
ss_error ss_http_listen(const char *name, const char *address, int *fd,
                        uint16_t *port) SS_MUST_CHECK SS_NONNULL(1, 2, 3, 4);

/* Splits "HOST:PORT" / "[V6]:PORT"; host is written to host (size bytes). */
bool ss_http_split_address(const char *address, char *host, size_t size, uint16_t *port);

/* The header fields an answer of a listener with limits l may carry, names and values summed. */
size_t ss_http_answer_field_bytes(const struct ss_limits *l);

/* The memory of one connection of a listener with limits l: libmicrohttpd zeroes all of it
 * each time the connection is reused, so it is resident from the second request on. */
size_t ss_http_connection_bytes(const struct ss_limits *l);

#endif
