/*
 * trust: every trust decision about a TLS peer, made with OpenSSL from the
 * peer's DER certificates, whichever stack carried the handshake (GnuTLS in
 * libmicrohttpd inbound, OpenSSL in libcurl outbound). A trust snapshot is
 * built from one registry (its approved CAs) and holds a reference to it,
 * so a decision and the look-ups it relies on always see one registry.
 *
 * It also owns the TLS policy: the allowed protocol versions and suites,
 * rendered once for GnuTLS (priority string) and once for OpenSSL.
 */
#ifndef SS_TRUST_H
#define SS_TRUST_H

#include "registry.h"
#include "ss_error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SS_TRUST_MAX_CHAIN 10

struct ss_der {
    const uint8_t *data;
    size_t len;
};

struct ss_trust;

/* Builds a snapshot from reg (takes a reference on reg). */
ss_error ss_trust_new(struct ss_registry *reg, struct ss_trust **out) SS_MUST_CHECK;
struct ss_trust *ss_trust_ref(struct ss_trust *t);
void ss_trust_unref(struct ss_trust *t);
const struct ss_registry *ss_trust_registry(const struct ss_trust *t);

/*
 * Makes every check of t judge validity (certificates, OCSP freshness) as of
 * at instead of now (0: now again). For a snapshot that one thread owns, as
 * the DPO tool's verification of an old log; the daemon never sets it.
 */
void ss_trust_set_clock(struct ss_trust *t, time_t at);
/* The time t judges by: its clock, or now. */
time_t ss_trust_now(const struct ss_trust *t);

/* The registry's CA or intermediate that issued leaf (borrowed from the registry). */
ss_error ss_trust_issuer(const struct ss_trust *t, const struct ss_der *leaf,
                         struct ss_der *issuer) SS_MUST_CHECK;

/* Whether cert (DER) is one of the registry's approved CAs or their intermediates. */
bool ss_trust_lists(const struct ss_trust *t, const struct ss_der *cert);

/*
 * Verifies a peer chain (leaf first) to one of the registry's approved CAs at
 * the current time, for purpose "server" (is_server) or "client"; writes the
 * leaf's SHA-256 fingerprint.
 */
ss_error ss_trust_verify_chain(const struct ss_trust *t, const struct ss_der *certs, size_t n,
                               bool is_server, uint8_t leaf_sha256[32]) SS_MUST_CHECK;

/*
 * Verifies a signing certificate chain (leaf first; the registry's
 * intermediates may complete it) to an approved CA as it stood at time at
 * (the signing time); any purpose, the signature profile is checked by its
 * caller. With window, writes the span in which every certificate of the
 * chain is valid (another time inside it would verify the same).
 * SS_ERR_BAD_CERTIFICATE with the reason.
 */
ss_error ss_trust_verify_signer(const struct ss_trust *t, const struct ss_der *certs, size_t n,
                                time_t at, uint8_t leaf_sha256[32], time_t window[2]) SS_MUST_CHECK;

#define SS_TRUST_OCSP_TIMEOUT 5       /* seconds for one OCSP exchange */
#define SS_TRUST_OCSP_MAX_BYTES 65536 /* one OCSP response */
#define SS_TRUST_OCSP_SKEW 300        /* seconds of clock skew allowed in thisUpdate/nextUpdate */
#define SS_TRUST_OCSP_NONCE 16        /* bytes of the nonce in our requests */
#define SS_TRUST_OCSP_NONCE_MAX 64    /* longest nonce a response is checked against */
#define SS_TRUST_NEGATIVE_TTL 10      /* seconds a failed status check is remembered */

/*
 * The status of a peer's certificate (leaf first; its issuer must be an
 * approved CA or one of their intermediates), from the OCSP responder the
 * registry lists for that CA. The response must be signed by that CA or a
 * responder the registry lists for it, carry the request's nonce, and be no
 * older than the registry's ocspFreshness. A good status is cached for
 * that long in the snapshot, a failure for SS_TRUST_NEGATIVE_TTL seconds
 * (bounded). Fails closed: SS_ERR_CERT_REVOKED for a revoked certificate,
 * SS_ERR_PEER_UNTRUSTED for no responder, no answer or unknown status.
 * Call it only after the peer's pin was checked, so that no unregistered
 * peer can make this server ask a responder. deadline_us (CLOCK_MONOTONIC,
 * ss_monotonic_us; 0 for none) is when the asking must end, the end of the
 * connection's time for an outbound handshake: a responder gets at most
 * the milliseconds left, and a failure for want of time is not remembered
 * (the next connection may have more).
 */
ss_error ss_trust_check_status(const struct ss_trust *t, const struct ss_der *certs, size_t n,
                               uint64_t deadline_us) SS_MUST_CHECK;
/*
 * The same from the cache alone, without asking a responder (for a thread
 * that must not wait on the network): SS_ERR_NOT_FOUND when the status is
 * not known yet.
 */
ss_error ss_trust_check_status_cached(const struct ss_trust *t, const struct ss_der *certs,
                                      size_t n) SS_MUST_CHECK;

/* Fetches a fresh good OCSP response about leaf (to staple it); *der is malloc'd. */
ss_error ss_trust_ocsp_fetch(const struct ss_trust *t, const struct ss_der *leaf, uint8_t **der,
                             size_t *len, time_t *good_until) SS_MUST_CHECK;

/*
 * An OCSP request (DER, malloc'd) about leaf carrying nonce, and the
 * approved CA that issued leaf (whose responders to ask).
 */
ss_error ss_trust_ocsp_request(const struct ss_trust *t, const struct ss_der *leaf,
                               const uint8_t *nonce, size_t nonce_len, uint8_t **der, size_t *len,
                               const struct ss_reg_ca **ca) SS_MUST_CHECK;

/*
 * The snapshot's status cache: SS_OK for a fresh good status, the cached
 * failure, or SS_ERR_NOT_FOUND; and remembering an outcome until a time.
 */
ss_error ss_trust_status_lookup(const struct ss_trust *t, const uint8_t fp[32], time_t now);
void ss_trust_status_store(const struct ss_trust *t, const uint8_t fp[32], time_t until,
                           ss_error err, const char *reason);

/*
 * Checks one DER OCSP response about leaf (whose issuer must be an approved
 * CA or intermediate): signed by a responder the registry lists for that CA
 * (or the CA), fresh (ocspFreshness), carrying nonce (1 to
 * SS_TRUST_OCSP_NONCE_MAX bytes) when nonce is not NULL, and status good.
 * Writes until when the good status stops counting. The issuer is found by
 * name and key identifier: verify leaf's chain before asking about its status.
 */
ss_error ss_trust_ocsp_check(const struct ss_trust *t, const struct ss_der *leaf,
                             const uint8_t *der, size_t len, const uint8_t *nonce, size_t nonce_len,
                             time_t *good_until) SS_MUST_CHECK;

/* The peer is the security server expected (fingerprint as registered). */
ss_error ss_trust_check_server(const struct ss_trust *t, const struct ss_der *certs, size_t n,
                               const struct ss_reg_server *expected) SS_MUST_CHECK;

/*
 * The peer is a security server that the registry lists as hosting client.
 * A known-good leaf fingerprint (verified on this connection under the same
 * registry serial) may be passed to skip the chain check.
 */
ss_error ss_trust_check_client_server(const struct ss_trust *t, const uint8_t leaf_sha256[32],
                                      const struct ss_client_id *client) SS_MUST_CHECK;

/*
 * The CAs that issue client certificates (information systems', DPOs'),
 * loaded once from a PEM file; CRLs in the same file make the leaf's
 * revocation checked (a CRL is then needed from its issuer, and fresh).
 */
struct ss_ca_store;
ss_error ss_ca_store_load(const char *ca_file, struct ss_ca_store **out) SS_MUST_CHECK;
/* The same from the file's text (a reload hands it over); name says where it came from. */
ss_error ss_ca_store_load_pem(const char *pem, const char *name,
                              struct ss_ca_store **out) SS_MUST_CHECK;
/* The system's CAs (OpenSSL's default paths): for what is fetched over https:// and checked
 * apart (the registry, by its signature; time-stamps; OCSP responses). */
ss_error ss_ca_store_system(struct ss_ca_store **out) SS_MUST_CHECK;
void ss_ca_store_free(struct ss_ca_store *cas);

/* Verifies an IS certificate chain against cas, writing its fingerprint. */
ss_error ss_trust_verify_is(const struct ss_ca_store *cas, const struct ss_der *certs, size_t n,
                            uint8_t leaf_sha256[32]) SS_MUST_CHECK;

/*
 * Verifies the certificate chain of a register service reached over
 * https:// against cas (its own CAs, not the federation's): a chain to one
 * of them, valid now, for TLS servers, and issued to host, the URL's host
 * (a DNS name, or an address literal, "[...]" for IPv6).
 */
ss_error ss_trust_verify_service(const struct ss_ca_store *cas, const struct ss_der *certs,
                                 size_t n, const char *host) SS_MUST_CHECK;

/* SHA-256 of a DER blob; constant-time comparison of two fingerprints. */
void ss_trust_fingerprint(const struct ss_der *cert, uint8_t out[32]);
bool ss_trust_fingerprint_equal(const uint8_t a[32], const uint8_t b[32]);

/* The same for PEM text; writes the (first) certificate's fingerprint. */
ss_error ss_trust_check_keypair_pem(const char *cert_pem, const char *key_pem,
                                    uint8_t cert_sha256[32]) SS_MUST_CHECK;
/* Checks that key_file holds the private key of the certificate in cert_file. */
ss_error ss_trust_check_keypair(const char *cert_file, const char *key_file) SS_MUST_CHECK;
/* SHA-256 fingerprint of the first certificate in a PEM file. */
ss_error ss_trust_cert_file_fingerprint(const char *cert_file, uint8_t out[32]) SS_MUST_CHECK;
/* Reads a PEM file (certificates or key, at most SS_TRUST_PEM_MAX bytes) into a
 * NUL-terminated string. */
#define SS_TRUST_PEM_MAX (1024u * 1024u)
ss_error ss_trust_read_pem(const char *path, char **out) SS_MUST_CHECK;
/* Frees what ss_trust_read_pem read (NULL: nothing), wiped first: it may be a key. */
void ss_trust_free_pem(char *text);

/* TLS policy rendered for each stack. */
const char *ss_tls_gnutls_priorities(void);
const char *ss_tls_openssl_ciphers12(void);
const char *ss_tls_openssl_suites13(void);

#endif
