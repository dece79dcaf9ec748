#include "trust.h"
#include "certfile.h"
#include "ss_hex.h"
#include "upstream.h"
#include "ss_xml.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The TLS policy: TLS 1.3, and TLS 1.2 with ECDHE and AEAD suites only. One
 * row per bulk cipher, with its name in each stack.
 */
static const struct tls_suite {
    const char *gnutls;    /* GnuTLS cipher keyword */
    const char *openssl12; /* OpenSSL TLS 1.2 suites */
    const char *openssl13; /* OpenSSL TLS 1.3 suite */
} tls_suites[] = {
    {"+AES-256-GCM", "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384",
     "TLS_AES_256_GCM_SHA384"},
    {"+AES-128-GCM", "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256",
     "TLS_AES_128_GCM_SHA256"},
    {"+CHACHA20-POLY1305", "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305",
     "TLS_CHACHA20_POLY1305_SHA256"},
};
#define N_SUITES (sizeof tls_suites / sizeof tls_suites[0])

static char gnutls_prio[512], openssl12[512], openssl13[256];

static void render_policy_once(void)
{
    size_t g = 0, o12 = 0, o13 = 0;
    g += (size_t)snprintf(gnutls_prio, sizeof gnutls_prio,
                          "NONE:+VERS-TLS1.3:+VERS-TLS1.2:+AEAD:+ECDHE-ECDSA:+ECDHE-RSA:"
                          "+SIGN-ALL:-SIGN-RSA-SHA1:-SIGN-ECDSA-SHA1:-SIGN-RSA-MD5:"
                          "+GROUP-X25519:+GROUP-SECP256R1:+GROUP-SECP384R1:+COMP-NULL:"
                          "+CTYPE-X509:%%SAFE_RENEGOTIATION");
    for (size_t i = 0; i < N_SUITES; i++) {
        g += (size_t)snprintf(gnutls_prio + g, sizeof gnutls_prio - g, ":%s", tls_suites[i].gnutls);
        o12 += (size_t)snprintf(openssl12 + o12, sizeof openssl12 - o12, "%s%s", i ? ":" : "",
                                tls_suites[i].openssl12);
        o13 += (size_t)snprintf(openssl13 + o13, sizeof openssl13 - o13, "%s%s", i ? ":" : "",
                                tls_suites[i].openssl13);
    }
}

static void render_policy(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, render_policy_once);
}

const char *ss_tls_gnutls_priorities(void)
{
    render_policy();
    return gnutls_prio;
}

const char *ss_tls_openssl_ciphers12(void)
{
    render_policy();
    return openssl12;
}

const char *ss_tls_openssl_suites13(void)
{
    render_policy();
    return openssl13;
}

/* Good OCSP statuses of this snapshot, by certificate fingerprint. */
struct ocsp_cache {
    pthread_mutex_t mu;
    struct ocsp_good {
        uint8_t fp[32];
        time_t until;
    } * entries;
    size_t n, cap;
};

struct ss_trust {
    struct ss_registry *reg;
    X509_STORE *store;
    STACK_OF(X509) * intermediates;
    struct ocsp_cache *ocsp;
    _Atomic int refs;
};

static X509 *der_to_x509(const uint8_t *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (x && p != der + len) {
        X509_free(x);
        return NULL;
    }
    return x;
}

ss_error ss_trust_new(struct ss_registry *reg, struct ss_trust **out)
{
    *out = NULL;
    struct ss_trust *t = calloc(1, sizeof *t);
    if (!t)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    atomic_init(&t->refs, 1);
    t->reg = ss_registry_ref(reg);
    t->store = X509_STORE_new();
    t->intermediates = sk_X509_new_null();
    t->ocsp = calloc(1, sizeof *t->ocsp);
    if (t->ocsp)
        pthread_mutex_init(&t->ocsp->mu, NULL);
    if (!t->store || !t->intermediates || !t->ocsp) {
        ss_trust_unref(t);
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < reg->n_cas; i++) {
        const struct ss_reg_ca *ca = &reg->cas[i];
        X509 *x = der_to_x509(ca->cert.der, ca->cert.len);
        if (!x || !X509_STORE_add_cert(t->store, x)) {
            X509_free(x);
            ss_trust_unref(t);
            return ss_errf(SS_ERR_BAD_CERTIFICATE, "approved CA '%s' cannot be used", ca->name);
        }
        X509_free(x);
        for (size_t j = 0; j < ca->n_intermediates; j++) {
            X509 *im = der_to_x509(ca->intermediates[j].der, ca->intermediates[j].len);
            if (!im || !sk_X509_push(t->intermediates, im)) {
                X509_free(im);
                ss_trust_unref(t);
                return ss_errf(SS_ERR_BAD_CERTIFICATE, "intermediate of '%s' cannot be used",
                               ca->name);
            }
        }
    }
    *out = t;
    return SS_OK;
}

struct ss_trust *ss_trust_ref(struct ss_trust *t)
{
    if (t)
        atomic_fetch_add(&t->refs, 1);
    return t;
}

void ss_trust_unref(struct ss_trust *t)
{
    if (!t || atomic_fetch_sub(&t->refs, 1) != 1)
        return;
    X509_STORE_free(t->store);
    sk_X509_pop_free(t->intermediates, X509_free);
    if (t->ocsp) {
        pthread_mutex_destroy(&t->ocsp->mu);
        free(t->ocsp->entries);
        free(t->ocsp);
    }
    ss_registry_unref(t->reg);
    free(t);
}

const struct ss_registry *ss_trust_registry(const struct ss_trust *t)
{
    return t->reg;
}

void ss_trust_fingerprint(const struct ss_der *cert, uint8_t out[32])
{
    unsigned int n = 32;
    EVP_Digest(cert->data, cert->len, out, &n, EVP_sha256(), NULL);
}

bool ss_trust_fingerprint_equal(const uint8_t a[32], const uint8_t b[32])
{
    return sodium_memcmp(a, b, 32) == 0;
}

/* Verifies certs (leaf first) against store, with extra untrusted certs. */
static ss_error verify_with_store(X509_STORE *store, STACK_OF(X509) * extra,
                                  const struct ss_der *certs, size_t n, int purpose,
                                  uint8_t leaf_sha256[32])
{
    ss_error result = SS_OK;
    X509 *leaf = NULL;
    STACK_OF(X509) *chain = NULL;
    X509_STORE_CTX *ctx = NULL;

    if (n == 0)
        return ss_errf(SS_ERR_PEER_UNTRUSTED, "peer presented no certificate");
    if (n > SS_TRUST_MAX_CHAIN)
        return ss_errf(SS_ERR_PEER_UNTRUSTED, "peer presented a chain of %zu certificates", n);
    leaf = der_to_x509(certs[0].data, certs[0].len);
    chain = sk_X509_new_null();
    if (!leaf || !chain) {
        result = ss_errf(SS_ERR_PEER_UNTRUSTED, "peer certificate does not parse");
        goto out;
    }
    for (size_t i = 1; i < n; i++) {
        X509 *x = der_to_x509(certs[i].data, certs[i].len);
        if (!x || !sk_X509_push(chain, x)) {
            X509_free(x);
            result = ss_errf(SS_ERR_PEER_UNTRUSTED, "peer chain certificate %zu does not parse", i);
            goto out;
        }
    }
    for (int i = 0; extra && i < sk_X509_num(extra); i++) {
        X509 *x = sk_X509_value(extra, i);
        if (!X509_up_ref(x) || !sk_X509_push(chain, x)) {
            result = ss_errf(SS_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    ctx = X509_STORE_CTX_new();
    if (!ctx || !X509_STORE_CTX_init(ctx, store, leaf, chain)) {
        result = ss_errf(SS_ERR_NOMEM, "out of memory");
        goto out;
    }
    X509_STORE_CTX_set_purpose(ctx, purpose);
    X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT);
    if (X509_verify_cert(ctx) != 1) {
        /* named by fingerprint: a subject name may be a person's */
        int e = X509_STORE_CTX_get_error(ctx);
        uint8_t fp[32];
        char hex[65];
        ss_trust_fingerprint(&certs[0], fp);
        ss_hex_sha256_format(fp, hex);
        result = ss_errf(SS_ERR_PEER_UNTRUSTED, "peer certificate %s rejected: %s", hex,
                         X509_verify_cert_error_string(e));
        goto out;
    }
    ss_trust_fingerprint(&certs[0], leaf_sha256);
out:
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    sk_X509_pop_free(chain, X509_free);
    X509_free(leaf);
    return result;
}

ss_error ss_trust_verify_chain(const struct ss_trust *t, const struct ss_der *certs, size_t n,
                               bool is_server, uint8_t leaf_sha256[32])
{
    if (t->reg->n_cas == 0)
        return ss_errf(SS_ERR_PEER_UNTRUSTED, "the registry approves no certification authority");
    return verify_with_store(t->store, t->intermediates, certs, n,
                             is_server ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT,
                             leaf_sha256);
}

ss_error ss_trust_check_server(const struct ss_trust *t, const struct ss_der *certs, size_t n,
                               const struct ss_reg_server *expected)
{
    uint8_t fp[32];
    ss_error err = ss_trust_verify_chain(t, certs, n, true, fp);
    if (err)
        return err;
    if (!ss_trust_fingerprint_equal(fp, expected->auth_sha256)) {
        char got[65];
        ss_hex_sha256_format(fp, got);
        return ss_errf(SS_ERR_PEER_NOT_REGISTERED,
                       "peer certificate %s is not the one registered for server %s/%s/%s", got,
                       expected->owner.member_class, expected->owner.member_code, expected->code);
    }
    return SS_OK;
}

ss_error ss_trust_check_client_server(const struct ss_trust *t, const uint8_t leaf_sha256[32],
                                      const struct ss_client_id *client)
{
    bool match = false;
    /* no early exit: the time taken does not depend on which server matched */
    for (size_t i = 0; i < t->reg->n_servers; i++) {
        const struct ss_reg_server *s = &t->reg->servers[i];
        if (ss_registry_server_hosts(s, client))
            match |= ss_trust_fingerprint_equal(leaf_sha256, s->auth_sha256);
    }
    if (match)
        return SS_OK;
    char got[65];
    ss_hex_sha256_format(leaf_sha256, got);
    return ss_errf(SS_ERR_PEER_NOT_REGISTERED,
                   "peer certificate %s is not registered for a server hosting the client", got);
}

/* ---- certificate status (OCSP) ---- */

static bool ocsp_cached(struct ocsp_cache *c, const uint8_t fp[32], time_t now)
{
    bool good = false;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n && !good; i++)
        good = memcmp(c->entries[i].fp, fp, 32) == 0 && now < c->entries[i].until;
    pthread_mutex_unlock(&c->mu);
    return good;
}

static void ocsp_remember(struct ocsp_cache *c, const uint8_t fp[32], time_t until)
{
    pthread_mutex_lock(&c->mu);
    size_t i = 0;
    while (i < c->n && memcmp(c->entries[i].fp, fp, 32) != 0)
        i++;
    if (i == c->n && c->n == c->cap && c->cap < 4096) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct ocsp_good *e = realloc(c->entries, cap * sizeof *e);
        if (e) {
            c->entries = e;
            c->cap = cap;
        }
    }
    if (i < c->cap) {
        memcpy(c->entries[i].fp, fp, 32);
        c->entries[i].until = until;
        if (i == c->n)
            c->n++;
    }
    pthread_mutex_unlock(&c->mu);
}

/* The approved CA (and its certificate) that issued leaf, from the registry. */
static const struct ss_reg_ca *find_issuer(const struct ss_trust *t, X509 *leaf, X509 **issuer)
{
    for (size_t i = 0; i < t->reg->n_cas; i++) {
        const struct ss_reg_ca *ca = &t->reg->cas[i];
        for (size_t j = 0; j <= ca->n_intermediates; j++) {
            const struct ss_reg_blob *b = j == 0 ? &ca->cert : &ca->intermediates[j - 1];
            X509 *x = der_to_x509(b->der, b->len);
            if (x && X509_check_issued(x, leaf) == X509_V_OK) {
                *issuer = x;
                return ca;
            }
            X509_free(x);
        }
    }
    return NULL;
}

/* Asks one responder; SS_OK with *until set if the certificate is good. */
static ss_error ask_responder(const struct ss_trust *t, const struct ss_reg_ocsp *responder,
                              X509 *leaf, X509 *issuer, time_t *until)
{
    ss_error result = SS_OK;
    OCSP_REQUEST *req = NULL;
    OCSP_CERTID *id = NULL;
    OCSP_RESPONSE *resp = NULL;
    OCSP_BASICRESP *basic = NULL;
    STACK_OF(X509) *signers = NULL;
    X509 *rcert = NULL;
    unsigned char *der = NULL;
    uint8_t *answer = NULL;
    size_t answer_len = 0;

    req = OCSP_REQUEST_new();
    id = OCSP_cert_to_id(NULL, leaf, issuer);
    OCSP_CERTID *id_copy = id ? OCSP_CERTID_dup(id) : NULL;
    if (!req || !id_copy || !OCSP_request_add0_id(req, id_copy)) {
        OCSP_CERTID_free(id_copy);
        result = ss_errf(SS_ERR_CRYPTO, "cannot build an OCSP request");
        goto out;
    }
    if (!OCSP_request_add1_nonce(req, NULL, -1)) {
        result = ss_errf(SS_ERR_CRYPTO, "cannot build an OCSP request");
        goto out;
    }
    int der_len = i2d_OCSP_REQUEST(req, &der);
    if (der_len <= 0) {
        result = ss_errf(SS_ERR_CRYPTO, "cannot encode an OCSP request");
        goto out;
    }
    result = ss_upstream_fetch(responder->url, "application/ocsp-request", der, (size_t)der_len,
                               64 * 1024, SS_TRUST_OCSP_TIMEOUT, &answer, &answer_len);
    if (result) {
        result =
            ss_errf(SS_ERR_PEER_UNTRUSTED, "OCSP responder %s: %s", responder->url, ss_errmsg());
        goto out;
    }
    const unsigned char *p = answer;
    resp = d2i_OCSP_RESPONSE(NULL, &p, (long)answer_len);
    if (!resp || OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL ||
        !(basic = OCSP_response_get1_basic(resp))) {
        result = ss_errf(SS_ERR_PEER_UNTRUSTED, "OCSP responder %s gave no valid answer",
                         responder->url);
        goto out;
    }
    if (OCSP_check_nonce(req, basic) != 1) {
        result = ss_errf(SS_ERR_PEER_UNTRUSTED, "OCSP answer does not carry the request's nonce");
        goto out;
    }
    /* the signer must be the registered responder or the issuing CA itself */
    signers = sk_X509_dup(t->intermediates);
    rcert = der_to_x509(responder->cert.der, responder->cert.len);
    if (!signers || !rcert || !sk_X509_push(signers, rcert)) {
        result = ss_errf(SS_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (OCSP_basic_verify(basic, signers, t->store, OCSP_NOINTERN) != 1) {
        result =
            ss_errf(SS_ERR_PEER_UNTRUSTED, "OCSP answer not signed by the registered responder");
        goto out;
    }
    int status = -1, reason = -1;
    ASN1_GENERALIZEDTIME *revoked = NULL, *this_update = NULL, *next_update = NULL;
    if (!OCSP_resp_find_status(basic, id, &status, &reason, &revoked, &this_update, &next_update)) {
        result = ss_errf(SS_ERR_PEER_UNTRUSTED, "OCSP answer has no status for the certificate");
        goto out;
    }
    long freshness = t->reg->settings.ocsp_freshness;
    if (!OCSP_check_validity(this_update, next_update, 300, freshness)) {
        result =
            ss_errf(SS_ERR_PEER_UNTRUSTED, "OCSP answer older than %lds or expired", freshness);
        goto out;
    }
    if (status != V_OCSP_CERTSTATUS_GOOD) {
        result = ss_errf(SS_ERR_PEER_UNTRUSTED, "peer certificate is %s (OCSP)",
                         status == V_OCSP_CERTSTATUS_REVOKED ? "revoked" : "of unknown status");
        goto out;
    }
    *until = time(NULL) + freshness;
    struct tm tm;
    if (next_update && ASN1_TIME_to_tm(next_update, &tm) == 1 && timegm(&tm) < *until)
        *until = timegm(&tm);
out:
    ERR_clear_error();
    free(answer);
    OPENSSL_free(der);
    sk_X509_free(signers); /* shallow: its certificates belong to the snapshot, or are rcert */
    X509_free(rcert);
    OCSP_BASICRESP_free(basic);
    OCSP_RESPONSE_free(resp);
    OCSP_CERTID_free(id);
    OCSP_REQUEST_free(req);
    return result;
}

ss_error ss_trust_check_status(const struct ss_trust *t, const struct ss_der *certs, size_t n)
{
    if (n == 0)
        return ss_errf(SS_ERR_PEER_UNTRUSTED, "peer presented no certificate");
    uint8_t fp[32];
    ss_trust_fingerprint(&certs[0], fp);
    time_t now = time(NULL);
    if (ocsp_cached(t->ocsp, fp, now))
        return SS_OK;
    X509 *leaf = der_to_x509(certs[0].data, certs[0].len);
    X509 *issuer = NULL;
    const struct ss_reg_ca *ca = leaf ? find_issuer(t, leaf, &issuer) : NULL;
    ss_error err;
    if (!ca) {
        err = ss_errf(SS_ERR_PEER_UNTRUSTED, "peer certificate not issued by an approved CA");
    } else if (ca->n_ocsp == 0) {
        err = ss_errf(SS_ERR_PEER_UNTRUSTED,
                      "approved CA '%s' lists no OCSP responder: the certificate status cannot "
                      "be checked",
                      ca->name);
    } else {
        time_t until = 0;
        err = SS_ERR_PEER_UNTRUSTED;
        /* the first responder that answers decides; a revocation is final */
        for (size_t i = 0; i < ca->n_ocsp && err; i++) {
            err = ask_responder(t, &ca->ocsp[i], leaf, issuer, &until);
            if (err && strstr(ss_errmsg(), "revoked"))
                break;
        }
        if (!err)
            ocsp_remember(t->ocsp, fp, until);
    }
    X509_free(issuer);
    X509_free(leaf);
    return err;
}

ss_error ss_trust_verify_peer(const struct ss_trust *t, const struct ss_der *certs, size_t n,
                              bool is_server, uint8_t leaf_sha256[32])
{
    ss_error err = ss_trust_verify_chain(t, certs, n, is_server, leaf_sha256);
    return err ? err : ss_trust_check_status(t, certs, n);
}

bool ss_trust_server_registered(const struct ss_trust *t, const uint8_t leaf_sha256[32])
{
    bool match = false;
    for (size_t i = 0; i < t->reg->n_servers; i++)
        match |= ss_trust_fingerprint_equal(leaf_sha256, t->reg->servers[i].auth_sha256);
    return match;
}

struct ss_ca_store {
    X509_STORE *store;
};

ss_error ss_ca_store_load(const char *ca_file, struct ss_ca_store **out)
{
    *out = NULL;
    struct ss_ca_store *cas = calloc(1, sizeof *cas);
    if (!cas || !(cas->store = X509_STORE_new())) {
        free(cas);
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    }
    if (X509_STORE_load_file(cas->store, ca_file) != 1) {
        ERR_clear_error();
        ss_ca_store_free(cas);
        return ss_errf(SS_ERR_CONFIG, "%s: cannot load IS CA certificates", ca_file);
    }
    *out = cas;
    return SS_OK;
}

void ss_ca_store_free(struct ss_ca_store *cas)
{
    if (!cas)
        return;
    X509_STORE_free(cas->store);
    free(cas);
}

ss_error ss_trust_verify_is(const struct ss_ca_store *cas, const struct ss_der *certs, size_t n,
                            uint8_t leaf_sha256[32])
{
    return verify_with_store(cas->store, NULL, certs, n, X509_PURPOSE_SSL_CLIENT, leaf_sha256);
}

ss_error ss_trust_check_keypair(const char *cert_file, const char *key_file)
{
    BIO *b = BIO_new_file(cert_file, "r");
    X509 *cert = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (!cert) {
        ERR_clear_error();
        return ss_errf(SS_ERR_BAD_CERTIFICATE, "%s: cannot read a PEM certificate", cert_file);
    }
    b = BIO_new_file(key_file, "r");
    EVP_PKEY *key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    ss_error err = SS_OK;
    if (!key)
        err = ss_errf(SS_ERR_CRYPTO, "%s: cannot read a PEM private key", key_file);
    else if (X509_check_private_key(cert, key) != 1)
        err = ss_errf(SS_ERR_CRYPTO, "%s does not hold the key of %s", key_file, cert_file);
    ERR_clear_error();
    EVP_PKEY_free(key);
    X509_free(cert);
    return err;
}

ss_error ss_trust_cert_file_fingerprint(const char *cert_file, uint8_t out[32])
{
    uint8_t *der = NULL;
    size_t len = 0;
    ss_error err = ss_certfile_read(cert_file, &der, &len);
    if (err)
        return err;
    struct ss_der d = {der, len};
    ss_trust_fingerprint(&d, out);
    free(der);
    return SS_OK;
}

ss_error ss_trust_read_pem(const char *path, char **out)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    *out = NULL;
    ss_error err = ss_file_read(path, 1024 * 1024, &buf, &len);
    if (err)
        return err;
    *out = (char *)buf; /* NUL-terminated by ss_file_read */
    return SS_OK;
}
