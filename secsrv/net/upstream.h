/*
 * upstream: every outbound HTTP(S) exchange, on libcurl (OpenSSL). Owns a
 * pool of easy handles, so connections to peer servers and backends are
 * kept alive and reused. Between security servers it presents this
 * server's authentication certificate and lets trust.c decide on the
 * peer's chain during the handshake, before a byte of the request is sent
 * (fail closed). Redirects are never followed; responses are bounded.
 */
#ifndef SS_UPSTREAM_H
#define SS_UPSTREAM_H

#include "headers.h"
#include "ss_error.h"
#include "trust.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ss_upstream;

/* Mutual TLS towards another security server. */
struct ss_upstream_tls {
    const char *cert_pem; /* this server's authentication certificate (+ chain), PEM text */
    const char *key_pem;  /* its key, PEM text (held in memory: the files may be root's) */
    const struct ss_trust *trust;
    const struct ss_reg_server *expected; /* the peer must be this server */
};

/*
 * A register service reached over https://: the CAs its certificate must
 * chain to (ss_trust_verify_service: its name must be the URL's host), and
 * the certificate (PEM, with its chain) and key this server shows when the
 * service asks for one (NULL: none).
 */
struct ss_upstream_service_tls {
    const struct ss_ca_store *cas; /* NULL: no service is trusted over https://, but... */
    bool system_cas; /* ...the system's CAs, loaded at the first handshake that needs them */
    const char *cert_pem;
    const char *key_pem;
    /* a connection made under one generation is not used under another (a reload's new CAs
     * or certificate); 0: the fetches' own */
    uint64_t generation;
};

struct ss_upstream_request {
    const char *method;
    const char *url;
    const struct ss_headers *headers;
    const uint8_t *body;
    size_t body_len;
    unsigned connect_timeout_ms; /* for the connection, its TLS handshake included */
    unsigned timeout_ms;         /* for the whole exchange */
    size_t max_response_bytes;
    size_t max_response_headers;       /* bytes */
    const struct ss_upstream_tls *tls; /* another security server's; NULL: a service's */
    const struct ss_upstream_service_tls *service; /* a service's, for an https:// url */
};

struct ss_upstream_response {
    long status;
    struct ss_headers headers;
    uint8_t *body;
    size_t body_len;
    size_t body_cap; /* taken from the budget for bodies in transit (budget.h) */
    /* times the request went out: libcurl sends it again on a new connection when a reused
     * one closes before any answer (a GET, or to another security server; see upstream.c) */
    unsigned sends;
};

ss_error ss_upstream_new(struct ss_upstream **out) SS_MUST_CHECK;
void ss_upstream_free(struct ss_upstream *u);
/*
 * Closes the pooled connections to peers (after a registry change: pins may have moved; they
 * would not be used again, their tags name the old serial). Connections to register services
 * stay: their trust is [service-tls]'s, which a registry does not change.
 */
void ss_upstream_drop_peers(struct ss_upstream *u);

/*
 * Sends req and fills resp (which the caller cleans up). Errors:
 * SS_ERR_PEER_UNTRUSTED / SS_ERR_PEER_NOT_REGISTERED (TLS peer refused),
 * SS_ERR_NETWORK (connect), SS_ERR_UPSTREAM_TIMEOUT, SS_ERR_TOO_LARGE.
 */
ss_error ss_upstream_send(struct ss_upstream *u, const struct ss_upstream_request *req,
                          struct ss_upstream_response *resp) SS_MUST_CHECK SS_NONNULL(1, 2, 3);
void ss_upstream_response_cleanup(struct ss_upstream_response *resp);

/*
 * Takes one response header line as libcurl hands it over (with its CRLF)
 * into headers: a status line starts the list over (after a 1xx answer),
 * a field is added with the blanks around its value removed. Read strictly
 * (RFC 9112): a folded line, a line without a name, a name that is not a
 * token and a control character in a value are SS_ERR_UPSTREAM (the answer
 * is refused); SS_ERR_LIMIT when headers' bounds would be passed.
 */
ss_error ss_upstream_parse_header_line(struct ss_headers *headers, const char *line,
                                       size_t len) SS_MUST_CHECK SS_NONNULL(1);

/*
 * One request outside an exchange: a GET, or a POST of body when
 * content_type is given (registry download, OCSP). At most max bytes of
 * answer, which must have status 200, within timeout_ms milliseconds (0:
 * none left, a timeout at once).
 * *buf is malloc'd.
 */
ss_error ss_upstream_fetch(const char *url, const char *content_type, const uint8_t *body,
                           size_t body_len, size_t max, unsigned timeout_ms, uint8_t **buf,
                           size_t *len) SS_MUST_CHECK SS_NONNULL(1, 7, 8);

#endif
