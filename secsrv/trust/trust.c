#include "trust.h"
#include "certfile.h"
#include "ss_hex.h"
#include "ss_sha256.h"
#include "ss_xml.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>
#include <arpa/inet.h>
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

/*
 * Certificate statuses of this snapshot, by certificate fingerprint: a good
 * status for as long as the response is fresh, a failure (revoked, unknown,
 * no answer) for SS_TRUST_NEGATIVE_TTL seconds, so that a peer cannot make
 * this server ask a responder again and again. Bounded: when full, the
 * entry that expires first gives way.
 */
#define STATUS_CACHE_MAX 1024
struct status_cache {
    pthread_mutex_t mu;
    struct status_entry {
        uint8_t fp[32];
        time_t until;
        ss_error err;
        char reason[160];
    } entries[STATUS_CACHE_MAX];
    size_t n;
};

struct ss_trust {
    struct ss_registry *reg;
    X509_STORE *store;
    STACK_OF(X509) * intermediates;
    struct status_cache *status;
    time_t clock; /* 0: judge as of now; else as of this time (ss_trust_set_clock) */
    _Atomic int refs;
};

void ss_trust_set_clock(struct ss_trust *t, time_t at)
{
    t->clock = at;
    X509_VERIFY_PARAM *param = X509_STORE_get0_param(t->store);
    if (at)
        X509_VERIFY_PARAM_set_time(param, at);
    else
        X509_VERIFY_PARAM_clear_flags(param, X509_V_FLAG_USE_CHECK_TIME);
}

time_t ss_trust_now(const struct ss_trust *t)
{
    return t->clock ? t->clock : time(NULL);
}

/*
 * OCSP thisUpdate/nextUpdate against now, as RFC 6960 section 3.2 asks, with
 * skew seconds of tolerance: thisUpdate not in the future and not older
 * than max_age, nextUpdate (if any) not past and not before thisUpdate.
 */
static bool ocsp_times_valid(const ASN1_GENERALIZEDTIME *this_update,
                             const ASN1_GENERALIZEDTIME *next_update, time_t now, long skew,
                             long max_age)
{
    time_t late = now + skew, early = now - skew, oldest = now - max_age;
    if (!this_update || X509_cmp_time(this_update, &late) >= 0 ||
        X509_cmp_time(this_update, &oldest) < 0)
        return false;
    if (!next_update)
        return true;
    if (X509_cmp_time(next_update, &early) < 0)
        return false;
    return ASN1_TIME_compare(next_update, this_update) >= 0;
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
    t->status = calloc(1, sizeof *t->status);
    if (t->status)
        pthread_mutex_init(&t->status->mu, NULL);
    if (!t->store || !t->intermediates || !t->status) {
        ss_trust_unref(t);
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < reg->n_cas; i++) {
        const struct ss_reg_ca *ca = &reg->cas[i];
        X509 *x = ss_certfile_x509(ca->cert.der, ca->cert.len);
        /* OpenSSL fills lazy caches (key identifiers, purposes) of an X509 on first use;
         * filled here, before the snapshot is shared, threads only ever read them */
        if (x)
            (void)X509_check_purpose(x, -1, 0);
        if (!x || !X509_STORE_add_cert(t->store, x)) {
            X509_free(x);
            ss_trust_unref(t);
            return ss_errf(SS_ERR_BAD_CERTIFICATE, "approved CA '%s' cannot be used", ca->name);
        }
        X509_free(x);
        for (size_t j = 0; j < ca->n_intermediates; j++) {
            X509 *im = ss_certfile_x509(ca->intermediates[j].der, ca->intermediates[j].len);
            if (im)
                (void)X509_check_purpose(im, -1, 0);
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

static bool blob_is(const struct ss_reg_blob *b, const struct ss_der *cert)
{
    return b->len == cert->len && memcmp(b->der, cert->data, cert->len) == 0;
}

bool ss_trust_lists(const struct ss_trust *t, const struct ss_der *cert)
{
    for (size_t i = 0; i < t->reg->n_cas; i++) {
        const struct ss_reg_ca *ca = &t->reg->cas[i];
        if (blob_is(&ca->cert, cert))
            return true;
        for (size_t j = 0; j < ca->n_intermediates; j++)
            if (blob_is(&ca->intermediates[j], cert))
                return true;
    }
    return false;
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
    if (t->status) {
        pthread_mutex_destroy(&t->status->mu);
        free(t->status);
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
    ss_sha256(cert->data, cert->len, out);
}

bool ss_trust_fingerprint_equal(const uint8_t a[32], const uint8_t b[32])
{
    return sodium_memcmp(a, b, 32) == 0;
}

/* The span in which every certificate of chain is valid. */
static void chain_window(STACK_OF(X509) * chain, time_t *from, time_t *to)
{
    *from = 0;
    *to = (time_t)INT64_MAX;
    for (int i = 0; i < sk_X509_num(chain); i++) {
        X509 *x = sk_X509_value(chain, i);
        struct tm tm;
        time_t t;
        if (ASN1_TIME_to_tm(X509_get0_notBefore(x), &tm) == 1 && (t = timegm(&tm)) > *from)
            *from = t;
        if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) == 1 && (t = timegm(&tm)) < *to)
            *to = t;
    }
}

/* Verifies certs (leaf first) against store, with extra untrusted certs. */
static ss_error verify_with_store(X509_STORE *store, STACK_OF(X509) * extra,
                                  const struct ss_der *certs, size_t n, int purpose, time_t at,
                                  uint8_t leaf_sha256[32], time_t window[2])
{
    ss_error result = SS_OK;
    X509 *leaf = NULL;
    STACK_OF(X509) *chain = NULL;
    X509_STORE_CTX *ctx = NULL;

    if (n == 0)
        return ss_errf(SS_ERR_PEER_UNTRUSTED, "peer presented no certificate");
    if (n > SS_TRUST_MAX_CHAIN)
        return ss_errf(SS_ERR_PEER_UNTRUSTED, "peer presented a chain of %zu certificates", n);
    leaf = ss_certfile_x509(certs[0].data, certs[0].len);
    chain = sk_X509_new_null();
    if (!leaf || !chain) {
        result = ss_errf(SS_ERR_PEER_UNTRUSTED, "peer certificate does not parse");
        goto out;
    }
    for (size_t i = 1; i < n; i++) {
        X509 *x = ss_certfile_x509(certs[i].data, certs[i].len);
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
    if (at)
        X509_STORE_CTX_set_time(ctx, 0, at); /* the chain as it was at that time */
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
    if (window)
        chain_window(X509_STORE_CTX_get0_chain(ctx), &window[0], &window[1]);
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
                             is_server ? X509_PURPOSE_SSL_SERVER : X509_PURPOSE_SSL_CLIENT, 0,
                             leaf_sha256, NULL);
}

ss_error ss_trust_verify_signer(const struct ss_trust *t, const struct ss_der *certs, size_t n,
                                time_t at, uint8_t leaf_sha256[32], time_t window[2])
{
    if (t->reg->n_cas == 0)
        return ss_errf(SS_ERR_BAD_CERTIFICATE, "the registry approves no certification authority");
    ss_error err = verify_with_store(t->store, t->intermediates, certs, n, X509_PURPOSE_ANY, at,
                                     leaf_sha256, window);
    return err ? ss_errf(SS_ERR_BAD_CERTIFICATE, "signing %s", ss_errmsg()) : SS_OK;
}

ss_error ss_trust_check_server(const struct ss_trust *t, const struct ss_der *certs, size_t n,
                               const struct ss_reg_server *expected)
{
    uint8_t fp[32];
    ss_error err = ss_trust_verify_chain(t, certs, n, true, fp);
    if (err)
        return err;
    if (!ss_registry_server_auth(expected, fp)) {
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
            match |= ss_registry_server_auth(s, leaf_sha256);
    }
    if (match)
        return SS_OK;
    char got[65];
    ss_hex_sha256_format(leaf_sha256, got);
    return ss_errf(SS_ERR_PEER_NOT_REGISTERED,
                   "peer certificate %s is not registered for a server hosting the client", got);
}

/* ---- certificate status (OCSP) ---- */

/* SS_OK for a fresh good status, the cached failure, or SS_ERR_NOT_FOUND. */
static ss_error status_cached(struct status_cache *c, const uint8_t fp[32], time_t now)
{
    ss_error err = SS_ERR_NOT_FOUND;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n; i++) {
        const struct status_entry *e = &c->entries[i];
        if (memcmp(e->fp, fp, 32) != 0 || now >= e->until)
            continue;
        err = e->err ? ss_errf(e->err, "%s (cached)", e->reason) : SS_OK;
        break;
    }
    pthread_mutex_unlock(&c->mu);
    return err;
}

static void status_remember(struct status_cache *c, const uint8_t fp[32], time_t until,
                            ss_error err, const char *reason)
{
    pthread_mutex_lock(&c->mu);
    size_t slot = c->n;
    for (size_t i = 0; i < c->n; i++) {
        if (memcmp(c->entries[i].fp, fp, 32) == 0) {
            slot = i;
            break;
        }
    }
    if (slot == STATUS_CACHE_MAX) {
        slot = 0;
        for (size_t i = 1; i < c->n; i++)
            if (c->entries[i].until < c->entries[slot].until)
                slot = i;
    }
    struct status_entry *e = &c->entries[slot];
    memcpy(e->fp, fp, 32);
    e->until = until;
    e->err = err;
    snprintf(e->reason, sizeof e->reason, "%s", reason);
    if (slot == c->n)
        c->n++;
    pthread_mutex_unlock(&c->mu);
}

/* The approved CA (and its certificate) that issued leaf, from the registry. */
static const struct ss_reg_ca *find_issuer(const struct ss_trust *t, X509 *leaf, X509 **issuer,
                                           const struct ss_reg_blob **blob)
{
    for (size_t i = 0; i < t->reg->n_cas; i++) {
        const struct ss_reg_ca *ca = &t->reg->cas[i];
        for (size_t j = 0; j <= ca->n_intermediates; j++) {
            const struct ss_reg_blob *b = j == 0 ? &ca->cert : &ca->intermediates[j - 1];
            X509 *x = ss_certfile_x509(b->der, b->len);
            if (x && X509_check_issued(x, leaf) == X509_V_OK) {
                *issuer = x;
                if (blob)
                    *blob = b;
                return ca;
            }
            X509_free(x);
        }
    }
    return NULL;
}

ss_error ss_trust_issuer(const struct ss_trust *t, const struct ss_der *leaf, struct ss_der *issuer)
{
    X509 *x = ss_certfile_x509(leaf->data, leaf->len), *found = NULL;
    const struct ss_reg_blob *blob = NULL;
    bool ok = x && find_issuer(t, x, &found, &blob);
    X509_free(x);
    X509_free(found);
    if (!ok)
        return ss_errf(SS_ERR_NOT_FOUND, "the certificate's issuer is not a CA the registry lists");
    *issuer = (struct ss_der){blob->der, blob->len};
    return SS_OK;
}

/* What a status check is about: the certificate, its issuer and approved CA. */
struct status_subject {
    X509 *leaf;
    X509 *issuer;
    const struct ss_reg_ca *ca;
    OCSP_CERTID *id;
};

static void status_subject_cleanup(struct status_subject *s)
{
    OCSP_CERTID_free(s->id);
    X509_free(s->issuer);
    X509_free(s->leaf);
}

static ss_error status_subject_init(const struct ss_trust *t, const struct ss_der *leaf,
                                    struct status_subject *s)
{
    memset(s, 0, sizeof *s);
    s->leaf = ss_certfile_x509(leaf->data, leaf->len);
    if (!s->leaf)
        return ss_errf(SS_ERR_PEER_UNTRUSTED, "certificate does not parse");
    s->ca = find_issuer(t, s->leaf, &s->issuer, NULL);
    if (!s->ca)
        return ss_errf(SS_ERR_PEER_UNTRUSTED, "certificate not issued by an approved CA");
    s->id = OCSP_cert_to_id(NULL, s->leaf, s->issuer);
    if (!s->id)
        return ss_errf(SS_ERR_CRYPTO, "cannot identify the certificate for OCSP");
    return SS_OK;
}

/* Checks a DER OCSP response about s; see ss_trust_ocsp_check. */
static ss_error check_response(const struct ss_trust *t, const struct status_subject *s,
                               const uint8_t *der, size_t len, const uint8_t *nonce,
                               size_t nonce_len, time_t *good_until)
{
    ss_error result = SS_OK;
    OCSP_RESPONSE *resp = NULL;
    OCSP_BASICRESP *basic = NULL;
    OCSP_REQUEST *req = NULL;
    STACK_OF(X509) *signers = NULL;

    if (len == 0 || len > SS_TRUST_OCSP_MAX_BYTES)
        return ss_errf(SS_ERR_PEER_UNTRUSTED, "OCSP response empty or larger than %d bytes",
                       SS_TRUST_OCSP_MAX_BYTES);
    if (nonce && (nonce_len == 0 || nonce_len > SS_TRUST_OCSP_NONCE_MAX))
        return ss_errf(SS_ERR_INTERNAL, "a nonce of %zu bytes cannot be checked", nonce_len);
    const unsigned char *p = der;
    resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
    if (!resp || p != der + len || OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL ||
        !(basic = OCSP_response_get1_basic(resp))) {
        result = ss_errf(SS_ERR_PEER_UNTRUSTED, "not a successful OCSP response");
        goto out;
    }
    if (nonce) {
        /* the response must echo the nonce of the request it answers */
        req = OCSP_REQUEST_new();
        if (!req ||
            !OCSP_request_add1_nonce(req, (unsigned char *)(uintptr_t)nonce, (int)nonce_len)) {
            result = ss_errf(SS_ERR_NOMEM, "out of memory");
            goto out;
        }
        if (OCSP_check_nonce(req, basic) != 1) {
            result = ss_errf(SS_ERR_PEER_UNTRUSTED, "OCSP response does not carry the nonce");
            goto out;
        }
    }
    /* the signer must be a responder the registry lists for this CA, or the CA that issued the
     * certificate (the first certificate pushed after the snapshot's intermediates) */
    signers = sk_X509_dup(t->intermediates);
    if (!signers || !X509_up_ref(s->issuer) || !sk_X509_push(signers, s->issuer)) {
        result = ss_errf(SS_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < s->ca->n_ocsp; i++) {
        X509 *r = ss_certfile_x509(s->ca->ocsp[i].cert.der, s->ca->ocsp[i].cert.len);
        if (!r || !sk_X509_push(signers, r)) {
            X509_free(r);
            result = ss_errf(SS_ERR_NOMEM, "out of memory");
            goto out;
        }
    }
    if (OCSP_basic_verify(basic, signers, t->store, OCSP_NOINTERN) != 1) {
        result = ss_errf(SS_ERR_PEER_UNTRUSTED,
                         "OCSP response not signed by a responder the registry lists");
        goto out;
    }
    int status = -1, reason = -1;
    ASN1_GENERALIZEDTIME *revoked = NULL, *this_update = NULL, *next_update = NULL;
    if (!OCSP_resp_find_status(basic, s->id, &status, &reason, &revoked, &this_update,
                               &next_update)) {
        result = ss_errf(SS_ERR_PEER_UNTRUSTED, "OCSP response has no status for the certificate");
        goto out;
    }
    long freshness = t->reg->settings.ocsp_freshness;
    time_t now = ss_trust_now(t);
    if (!ocsp_times_valid(this_update, next_update, now, SS_TRUST_OCSP_SKEW, freshness)) {
        result =
            ss_errf(SS_ERR_PEER_UNTRUSTED, "OCSP response older than %lds or expired", freshness);
        goto out;
    }
    if (status == V_OCSP_CERTSTATUS_REVOKED) {
        result = ss_errf(SS_ERR_CERT_REVOKED, "certificate is revoked (OCSP)");
        goto out;
    }
    if (status != V_OCSP_CERTSTATUS_GOOD) {
        result = ss_errf(SS_ERR_PEER_UNTRUSTED, "certificate is of unknown status (OCSP)");
        goto out;
    }
    /* good until freshness after thisUpdate, never after nextUpdate, never beyond now+freshness
     * (a thisUpdate within the skew in the future gains nothing) */
    struct tm tm;
    time_t produced = now;
    if (ASN1_TIME_to_tm(this_update, &tm) == 1 && timegm(&tm) < now)
        produced = timegm(&tm);
    *good_until = produced + freshness;
    if (next_update && ASN1_TIME_to_tm(next_update, &tm) == 1 && timegm(&tm) < *good_until)
        *good_until = timegm(&tm);
    if (*good_until <= now) {
        result = ss_errf(SS_ERR_PEER_UNTRUSTED, "OCSP response expired (nextUpdate passed)");
        goto out;
    }
out:
    ERR_clear_error();
    /* the responder certificates were pushed after the snapshot's intermediates */
    for (int i = sk_X509_num(t->intermediates); signers && i < sk_X509_num(signers); i++)
        X509_free(sk_X509_value(signers, i));
    sk_X509_free(signers);
    OCSP_REQUEST_free(req);
    OCSP_BASICRESP_free(basic);
    OCSP_RESPONSE_free(resp);
    return result;
}

ss_error ss_trust_ocsp_check(const struct ss_trust *t, const struct ss_der *leaf,
                             const uint8_t *der, size_t len, const uint8_t *nonce, size_t nonce_len,
                             time_t *good_until)
{
    struct status_subject s;
    ss_error err = status_subject_init(t, leaf, &s);
    if (!err)
        err = check_response(t, &s, der, len, nonce, nonce_len, good_until);
    status_subject_cleanup(&s);
    return err;
}

ss_error ss_trust_ocsp_request(const struct ss_trust *t, const struct ss_der *leaf,
                               const uint8_t *nonce, size_t nonce_len, uint8_t **der, size_t *len,
                               const struct ss_reg_ca **ca)
{
    *der = NULL;
    *len = 0;
    *ca = NULL;
    struct status_subject s;
    OCSP_REQUEST *req = NULL;
    unsigned char *enc = NULL;
    ss_error err = status_subject_init(t, leaf, &s);
    if (err)
        goto out;
    req = OCSP_REQUEST_new();
    OCSP_CERTID *id = OCSP_CERTID_dup(s.id);
    if (!req || !id || !OCSP_request_add0_id(req, id)) {
        OCSP_CERTID_free(id);
        err = ss_errf(SS_ERR_CRYPTO, "cannot build an OCSP request");
        goto out;
    }
    int n = -1;
    if (!OCSP_request_add1_nonce(req, (unsigned char *)(uintptr_t)nonce, (int)nonce_len) ||
        (n = i2d_OCSP_REQUEST(req, &enc)) <= 0 || !(*der = malloc((size_t)n))) {
        err = ss_errf(SS_ERR_CRYPTO, "cannot encode an OCSP request");
        goto out;
    }
    memcpy(*der, enc, (size_t)n);
    *len = (size_t)n;
    *ca = s.ca;
out:
    ERR_clear_error();
    OPENSSL_free(enc);
    OCSP_REQUEST_free(req);
    status_subject_cleanup(&s);
    return err;
}

ss_error ss_trust_status_lookup(const struct ss_trust *t, const uint8_t fp[32], time_t now)
{
    return status_cached(t->status, fp, now);
}

void ss_trust_status_store(const struct ss_trust *t, const uint8_t fp[32], time_t until,
                           ss_error err, const char *reason)
{
    status_remember(t->status, fp, until, err, reason);
}

struct ss_ca_store {
    X509_STORE *store;
};

/* An empty store (NULL: out of memory, with the error set). */
static struct ss_ca_store *ca_store_new(void)
{
    struct ss_ca_store *cas = calloc(1, sizeof *cas);
    if (!cas || !(cas->store = X509_STORE_new())) {
        free(cas);
        (void)ss_errf(SS_ERR_NOMEM, "out of memory");
        return NULL;
    }
    return cas;
}

ss_error ss_ca_store_load_pem(const char *pem, const char *name, struct ss_ca_store **out)
{
    *out = NULL;
    struct ss_ca_store *cas = ca_store_new();
    if (!cas)
        return SS_ERR_NOMEM;
    BIO *bio = BIO_new_mem_buf(pem, -1);
    STACK_OF(X509_INFO) *infos = bio ? PEM_X509_INFO_read_bio(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    int certs = 0, crls = 0;
    bool ok = infos != NULL;
    for (int i = 0; ok && i < sk_X509_INFO_num(infos); i++) {
        X509_INFO *info = sk_X509_INFO_value(infos, i);
        if (info->x509) {
            ok = X509_STORE_add_cert(cas->store, info->x509) == 1;
            certs++;
        }
        if (ok && info->crl) {
            ok = X509_STORE_add_crl(cas->store, info->crl) == 1;
            crls++;
        }
    }
    sk_X509_INFO_pop_free(infos, X509_INFO_free);
    ERR_clear_error();
    if (!ok || certs == 0) {
        ss_ca_store_free(cas);
        return ss_errf(SS_ERR_CONFIG, "%s: cannot load CA certificates (%s)", name,
                       ok ? "none in it" : "not PEM certificates and CRLs");
    }
    /* CRLs in the file: a client's certificate is then checked against its issuer's CRL (a
     * missing or expired one refuses it) */
    if (crls)
        X509_STORE_set_flags(cas->store, X509_V_FLAG_CRL_CHECK);
    *out = cas;
    return SS_OK;
}

ss_error ss_ca_store_load(const char *ca_file, struct ss_ca_store **out)
{
    *out = NULL;
    char *pem = NULL;
    /* a file the configuration names: unreadable, it is the configuration's problem */
    ss_error err = ss_trust_read_pem(ca_file, &pem) ? ss_errf(SS_ERR_CONFIG, "%s", ss_errmsg())
                                                    : ss_ca_store_load_pem(pem, ca_file, out);
    free(pem);
    return err;
}

ss_error ss_ca_store_system(struct ss_ca_store **out)
{
    *out = NULL;
    struct ss_ca_store *cas = ca_store_new();
    if (!cas)
        return SS_ERR_NOMEM;
    if (X509_STORE_set_default_paths(cas->store) != 1) {
        ERR_clear_error();
        ss_ca_store_free(cas);
        return ss_errf(SS_ERR_CONFIG, "cannot load the system's CA certificates");
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
    return verify_with_store(cas->store, NULL, certs, n, X509_PURPOSE_SSL_CLIENT, 0, leaf_sha256,
                             NULL);
}

ss_error ss_trust_verify_service(const struct ss_ca_store *cas, const struct ss_der *certs,
                                 size_t n, const char *host)
{
    uint8_t fp[32];
    ss_error err =
        verify_with_store(cas->store, NULL, certs, n, X509_PURPOSE_SSL_SERVER, 0, fp, NULL);
    if (err)
        return err;
    /* the name the URL gives: an address literal ([...] for IPv6) or a DNS name (RFC 6125) */
    char name[256];
    size_t len = strlen(host);
    if (len >= 2 && host[0] == '[' && host[len - 1] == ']') {
        host++;
        len -= 2;
    } else if (len > 1 && host[len - 1] == '.') {
        len--; /* "register.example." is the name "register.example" */
    }
    if (len == 0 || len >= sizeof name)
        return ss_errf(SS_ERR_PEER_UNTRUSTED, "the service's host name is not usable");
    memcpy(name, host, len);
    name[len] = '\0';
    X509 *leaf = ss_certfile_x509(certs[0].data, certs[0].len);
    unsigned char ip[16];
    bool literal = inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;
    int ok = !leaf     ? 0
             : literal ? X509_check_ip_asc(leaf, name, 0)
                       : X509_check_host(leaf, name, len,
                                         X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS |
                                             X509_CHECK_FLAG_NEVER_CHECK_SUBJECT,
                                         NULL);
    X509_free(leaf);
    ERR_clear_error();
    if (ok != 1) {
        char hex[65];
        ss_hex_sha256_format(fp, hex);
        return ss_errf(SS_ERR_PEER_UNTRUSTED, "service certificate %s is not issued to %s", hex,
                       name);
    }
    return SS_OK;
}

ss_error ss_trust_check_keypair_pem(const char *cert_pem, const char *key_pem,
                                    uint8_t cert_sha256[32])
{
    BIO *cb = BIO_new_mem_buf(cert_pem, -1), *kb = BIO_new_mem_buf(key_pem, -1);
    X509 *cert = cb ? PEM_read_bio_X509(cb, NULL, NULL, NULL) : NULL;
    EVP_PKEY *key = kb ? PEM_read_bio_PrivateKey(kb, NULL, NULL, NULL) : NULL;
    ss_error err = SS_OK;
    unsigned char *der = NULL;
    int len = cert ? i2d_X509(cert, &der) : -1;
    if (!cert || len <= 0)
        err = ss_errf(SS_ERR_CRYPTO, "the certificate is not PEM");
    else if (!key)
        err = ss_errf(SS_ERR_CRYPTO, "the key is not a PEM private key");
    else if (X509_check_private_key(cert, key) != 1)
        err = ss_errf(SS_ERR_CRYPTO, "the key is not the certificate's");
    if (!err) {
        struct ss_der d = {der, (size_t)len};
        ss_trust_fingerprint(&d, cert_sha256);
    }
    OPENSSL_free(der);
    ERR_clear_error();
    EVP_PKEY_free(key);
    X509_free(cert);
    BIO_free(cb);
    BIO_free(kb);
    return err;
}

ss_error ss_trust_check_keypair(const char *cert_file, const char *key_file)
{
    X509 *cert = NULL;
    ss_error err = ss_certfile_load_first(cert_file, &cert);
    if (err)
        return err;
    BIO *b = BIO_new_file(key_file, "r");
    EVP_PKEY *key = b ? PEM_read_bio_PrivateKey(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
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
    ss_error err = ss_certfile_read_first(cert_file, &der, &len);
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
    ss_error err = ss_file_read(path, SS_TRUST_PEM_MAX, &buf, &len);
    if (err)
        return err;
    *out = (char *)buf; /* NUL-terminated by ss_file_read */
    return SS_OK;
}

void ss_trust_free_pem(char *text)
{
    if (text) {
        sodium_memzero(text, strlen(text));
        free(text);
    }
}
