#include "evidence.h"
#include "certfile.h"
#include "merkle.h"
#include "registry.h"
#include "ss_hex.h"
#include "ss_sha256.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void ss_evidence_batch_content(const uint8_t root[32], char out[SS_EVIDENCE_BATCH_LEN + 1])
{
    char hex[65];
    ss_hex_sha256_format(root, hex);
    snprintf(out, SS_EVIDENCE_BATCH_LEN + 1, "%s%s\n", SS_EVIDENCE_BATCH_PREFIX, hex);
}

/* ---- the certificate profile ---- */

static ss_error key_strong(X509 *cert)
{
    EVP_PKEY *key = X509_get0_pubkey(cert);
    if (!key)
        return ss_errf(SS_ERR_BAD_SIGNATURE, "signing certificate has no usable key");
    int bits = EVP_PKEY_get_bits(key);
    if (EVP_PKEY_is_a(key, "EC")) {
        char group[64] = "";
        size_t glen = 0;
        if (EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &glen) != 1 ||
            (strcmp(group, "prime256v1") != 0 && strcmp(group, "secp384r1") != 0))
            return ss_errf(SS_ERR_BAD_SIGNATURE, "signing key on curve %s: P-256 or P-384 required",
                           group);
        return SS_OK;
    }
    if (EVP_PKEY_is_a(key, "RSA") || EVP_PKEY_is_a(key, "RSA-PSS")) {
        if (bits < 3072)
            return ss_errf(SS_ERR_BAD_SIGNATURE,
                           "RSA signing key of %d bits: at least 3072 required", bits);
        return SS_OK;
    }
    return ss_errf(SS_ERR_BAD_SIGNATURE, "signing key type not allowed (ECDSA or RSA)");
}

static ss_error profile_member(X509 *cert, const char *instance, struct ss_client_id *member)
{
    X509_NAME *subject = X509_get_subject_name(cert);
    int at = X509_NAME_get_index_by_NID(subject, NID_serialNumber, -1);
    if (at < 0 || X509_NAME_get_index_by_NID(subject, NID_serialNumber, at) >= 0)
        return ss_errf(SS_ERR_BAD_SIGNATURE,
                       "signing certificate must name one member in its subject's serialNumber");
    ASN1_STRING *value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
    const unsigned char *text = ASN1_STRING_get0_data(value);
    int len = ASN1_STRING_length(value);
    if (!text || len <= 0 || memchr(text, '\0', (size_t)len))
        return ss_errf(SS_ERR_BAD_SIGNATURE, "signing certificate's serialNumber is empty");
    ss_error err =
        ss_client_id_parse((const char *)text, (size_t)len, SS_ID_PART_MAX, false, member);
    if (err || member->subsystem[0])
        return ss_errf(SS_ERR_BAD_SIGNATURE,
                       "signing certificate's serialNumber is not INSTANCE/CLASS/MEMBER");
    if (instance && strcmp(member->instance, instance) != 0)
        return ss_errf(SS_ERR_BAD_SIGNATURE, "signing certificate names a member of instance %s",
                       member->instance);
    uint32_t usage = X509_get_key_usage(cert);
    if (usage != UINT32_MAX && !(usage & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION)))
        return ss_errf(SS_ERR_BAD_SIGNATURE, "signing certificate's keyUsage allows no signatures");
    return key_strong(cert);
}

ss_error ss_evidence_cert_member(const uint8_t *der, size_t len, const char *instance,
                                 struct ss_client_id *member)
{
    memset(member, 0, sizeof *member);
    X509 *cert = ss_certfile_x509(der, len);
    if (!cert)
        return ss_errf(SS_ERR_BAD_SIGNATURE, "signing certificate does not parse");
    ss_error err = profile_member(cert, instance, member);
    X509_free(cert);
    ERR_clear_error();
    return err;
}

/* ---- the caches of verified signatures, signing chains and staples ---- */

/*
 * Three bounded rings, each replaced round robin, each entry bound to the
 * registry serial it was checked under:
 *   sigs:    SHA-256 over what was signed, the signature and the staple ->
 *            the whole result, for a minute and never past the staple's
 *            freshness (the messages of one batch share one signature);
 *   chains:  SHA-256 over the certificates the signature carried -> the
 *            member and the span in which the chain verifies, so a signing
 *            time inside it needs no new path validation;
 *   staples: SHA-256 over the signer's fingerprint and the staple -> how
 *            long it is fresh (a signer staples the same response to every
 *            message until it renews it).
 */
#define CACHE_TTL 60       /* seconds a verified signature is reused */
#define CHAIN_TTL 300      /* seconds a verified signing chain is reused */
#define CACHE_SMALL_MAX 64 /* chains, staples and certificates remembered */
#define INFLIGHT_MAX 64    /* signatures being checked at once, each by one thread */

struct cache_entry {
    uint8_t key[32];
    uint64_t serial; /* registry serial the check was made under */
    time_t until;
    time_t from, to; /* chains: the validity span of the chain */
    struct ss_sig_verified result;
};

struct ring {
    struct cache_entry *entries;
    size_t n, max, next; /* next: the slot replaced when full */
};

/* parsed certificates: SHA-256 of the DER -> the X509 (decoding a key is costly) */
struct cert_entry {
    uint8_t key[32];
    X509 *cert;
};

/*
 * The messages of one batch arrive together and share a signature: the
 * first thread to miss it claims its key and checks it; the others wanting
 * the same key wait for that check to settle instead of repeating it.
 */
struct ss_sig_cache {
    pthread_mutex_t mu;
    pthread_cond_t settled; /* a claimed check ended */
    uint8_t inflight[INFLIGHT_MAX][32];
    size_t n_inflight;
    struct ring sigs, chains, staples;
    struct cert_entry certs[CACHE_SMALL_MAX];
    size_t certs_next;
};

static bool ring_init(struct ring *r, size_t max)
{
    r->max = max ? max : 1;
    r->entries = calloc(r->max, sizeof *r->entries);
    return r->entries != NULL;
}

ss_error ss_sig_cache_new(size_t max_entries, struct ss_sig_cache **out)
{
    *out = NULL;
    struct ss_sig_cache *c = calloc(1, sizeof *c);
    if (!c)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->settled, NULL);
    if (!ring_init(&c->sigs, max_entries) || !ring_init(&c->chains, CACHE_SMALL_MAX) ||
        !ring_init(&c->staples, CACHE_SMALL_MAX)) {
        ss_sig_cache_free(c);
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    }
    *out = c;
    return SS_OK;
}

void ss_sig_cache_free(struct ss_sig_cache *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->settled);
    for (size_t i = 0; i < CACHE_SMALL_MAX; i++)
        X509_free(c->certs[i].cert);
    free(c->sigs.entries);
    free(c->chains.entries);
    free(c->staples.entries);
    free(c);
}

/* Copies the live entry under key into out; false when there is none. Under c->mu. */
static bool ring_find(const struct ring *r, const uint8_t key[32], uint64_t serial, time_t now,
                      struct cache_entry *out)
{
    for (size_t i = 0; i < r->n; i++) {
        const struct cache_entry *e = &r->entries[i];
        if (e->serial == serial && now < e->until && memcmp(e->key, key, 32) == 0) {
            *out = *e;
            return true;
        }
    }
    return false;
}

static bool cache_get(struct ss_sig_cache *c, struct ring *r, const uint8_t key[32],
                      uint64_t serial, time_t now, struct cache_entry *out)
{
    pthread_mutex_lock(&c->mu);
    bool hit = ring_find(r, key, serial, now, out);
    pthread_mutex_unlock(&c->mu);
    return hit;
}

/*
 * A signature's entry, waiting while another thread checks the same key;
 * false on a miss, with *claimed set when this thread now owns the check
 * (and must settle it; when INFLIGHT_MAX checks run, it checks unclaimed).
 */
static bool sig_get_or_claim(struct ss_sig_cache *c, const uint8_t key[32], uint64_t serial,
                             time_t now, struct cache_entry *out, bool *claimed)
{
    *claimed = false;
    pthread_mutex_lock(&c->mu);
    for (;;) {
        if (ring_find(&c->sigs, key, serial, now, out)) {
            pthread_mutex_unlock(&c->mu);
            return true;
        }
        size_t i = 0;
        while (i < c->n_inflight && memcmp(c->inflight[i], key, 32) != 0)
            i++;
        if (i == c->n_inflight)
            break;
        /* then look again: a failure is not cached. This blocks the thread, fibers and all
         * (fiber.h): a claim is settled by a check that never waits on anything */
        pthread_cond_wait(&c->settled, &c->mu);
    }
    if (c->n_inflight < INFLIGHT_MAX) {
        memcpy(c->inflight[c->n_inflight++], key, 32);
        *claimed = true;
    }
    pthread_mutex_unlock(&c->mu);
    return false;
}

/* Ends this thread's claim on key (its result, if good, is in the cache by now). */
static void sig_settle(struct ss_sig_cache *c, const uint8_t key[32])
{
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n_inflight; i++) {
        if (memcmp(c->inflight[i], key, 32) == 0) {
            memcpy(c->inflight[i], c->inflight[--c->n_inflight], 32);
            break;
        }
    }
    pthread_cond_broadcast(&c->settled);
    pthread_mutex_unlock(&c->mu);
}

/* Remembers e under key in ring r of c. */
static void cache_put(struct ss_sig_cache *c, struct ring *r, const uint8_t key[32],
                      struct cache_entry e)
{
    memcpy(e.key, key, 32);
    pthread_mutex_lock(&c->mu);
    size_t slot;
    if (r->n < r->max) {
        slot = r->n++;
    } else {
        slot = r->next;
        r->next = (r->next + 1) % r->max;
    }
    r->entries[slot] = e;
    pthread_mutex_unlock(&c->mu);
}

/* SHA-256 over parts, each preceded by its length, after a label naming the ring. */
static void cache_key(const char *label, const struct ss_der *parts, size_t n, uint8_t key[32])
{
    struct ss_sha256 st;
    ss_sha256_init(&st);
    ss_sha256_update(&st, (const unsigned char *)label, strlen(label) + 1);
    for (size_t i = 0; i < n; i++) {
        uint64_t len = parts[i].len;
        ss_sha256_update(&st, (const unsigned char *)&len, sizeof len);
        if (parts[i].len)
            ss_sha256_update(&st, parts[i].data, parts[i].len);
    }
    ss_sha256_final(&st, key);
}

/*
 * The certificate der, parsed, with a reference for the caller: from the
 * cache (c may be NULL) or decoded and remembered. NULL if it does not parse.
 */
static X509 *cert_get(struct ss_sig_cache *c, const struct ss_der *der)
{
    uint8_t key[32];
    cache_key("certificate", der, 1, key);
    X509 *x = NULL;
    if (c) {
        pthread_mutex_lock(&c->mu);
        for (size_t i = 0; i < CACHE_SMALL_MAX && !x; i++)
            if (c->certs[i].cert && memcmp(c->certs[i].key, key, 32) == 0 &&
                X509_up_ref(c->certs[i].cert))
                x = c->certs[i].cert;
        pthread_mutex_unlock(&c->mu);
        if (x)
            return x;
    }
    x = ss_certfile_x509(der->data, der->len);
    if (!x)
        return NULL;
    /* OpenSSL fills lazy caches of an X509 on first use; filled now, before it is shared */
    (void)X509_check_purpose(x, -1, 0);
    if (c && X509_up_ref(x)) {
        pthread_mutex_lock(&c->mu);
        struct cert_entry *e = &c->certs[c->certs_next];
        c->certs_next = (c->certs_next + 1) % CACHE_SMALL_MAX;
        X509 *old = e->cert;
        memcpy(e->key, key, 32);
        e->cert = x;
        pthread_mutex_unlock(&c->mu);
        X509_free(old);
    }
    return x;
}

/* ---- the certificates a signature carries ---- */

/* One DER element at p (n bytes available): tag, header and contents length; false when the
 * bytes are not strict DER of the forms a signature uses (low tag numbers, minimal lengths). */
static bool der_element(const uint8_t *p, size_t n, uint8_t *tag, size_t *hdr, size_t *len)
{
    if (n < 2 || (p[0] & 0x1f) == 0x1f)
        return false;
    *tag = p[0];
    size_t l = p[1], h = 2;
    if (l & 0x80) {
        size_t k = l & 0x7f;
        if (k == 0 || k > 4 || n < 2 + k || p[2] == 0)
            return false; /* indefinite (BER), too long, or not minimal */
        l = 0;
        for (size_t i = 0; i < k; i++)
            l = (l << 8) | p[2 + i];
        if (l < 0x80)
            return false;
        h += k;
    }
    if (l > n - h)
        return false;
    *hdr = h;
    *len = l;
    return true;
}

static size_t der_header_len(size_t len)
{
    if (len < 0x80)
        return 2;
    size_t h = 2; /* the tag, the count of length bytes, then those */
    for (size_t l = len; l; l >>= 8)
        h++;
    return h;
}

static uint8_t *der_put_header(uint8_t *out, uint8_t tag, size_t len)
{
    size_t h = der_header_len(len);
    *out++ = tag;
    if (h == 2) {
        *out++ = (uint8_t)len;
        return out;
    }
    *out++ = (uint8_t)(0x80 | (h - 2));
    for (size_t i = h - 2; i > 0; i--)
        *out++ = (uint8_t)(len >> (8 * (i - 1)));
    return out;
}

/*
 * Splits a DER ContentInfo holding a SignedData into the same without its
 * certificates field (*bare, malloc'd) and the certificates it carried (as
 * slices of der), so that the certificates can be decoded once and reused.
 * False when der is not of that plain form (BER, other certificate choices,
 * more than SS_TRUST_MAX_CHAIN): the caller then decodes it whole.
 */
static bool cms_split(const uint8_t *der, size_t len, uint8_t **bare, size_t *bare_len,
                      struct ss_der *certs, size_t *n_certs)
{
    uint8_t tag;
    size_t h, l, oh, ol, eh, el, sh, sl;
    *bare = NULL;
    *n_certs = 0;
    /* ContentInfo ::= SEQUENCE { contentType OID, [0] EXPLICIT SignedData }, alone in der */
    if (!der_element(der, len, &tag, &h, &l) || tag != 0x30 || h + l != len)
        return false;
    const uint8_t *p = der + h, *end = der + len;
    if (!der_element(p, (size_t)(end - p), &tag, &oh, &ol) || tag != 0x06)
        return false;
    const uint8_t *oid = p;
    size_t oid_total = oh + ol;
    p += oid_total;
    if (!der_element(p, (size_t)(end - p), &tag, &eh, &el) || tag != 0xa0 || p + eh + el != end)
        return false;
    p += eh;
    if (!der_element(p, (size_t)(end - p), &tag, &sh, &sl) || tag != 0x30 || p + sh + sl != end)
        return false;
    p += sh;
    /* SignedData ::= SEQUENCE { version, digestAlgorithms, encapContentInfo,
     *                           certificates [0] IMPLICIT OPTIONAL, crls [1], signerInfos } */
    const uint8_t *head = p;
    for (int i = 0; i < 3; i++) {
        if (!der_element(p, (size_t)(end - p), &tag, &h, &l))
            return false;
        p += h + l;
    }
    const uint8_t *cert_field = p;
    if (!der_element(p, (size_t)(end - p), &tag, &h, &l) || tag != 0xa0)
        return false; /* none carried: nothing to split */
    const uint8_t *c = p + h, *cend = p + h + l;
    while (c < cend) {
        size_t ch, cl;
        if (*n_certs == SS_TRUST_MAX_CHAIN || !der_element(c, (size_t)(cend - c), &tag, &ch, &cl) ||
            tag != 0x30)
            return false;
        certs[(*n_certs)++] = (struct ss_der){c, ch + cl};
        c += ch + cl;
    }
    const uint8_t *tail = cend;
    size_t inner = (size_t)(cert_field - head) + (size_t)(end - tail);
    size_t explicit_len = der_header_len(inner) + inner;
    size_t ci_len = oid_total + der_header_len(explicit_len) + explicit_len;
    size_t total = der_header_len(ci_len) + ci_len;
    uint8_t *out = malloc(total), *o = out;
    if (!out)
        return false;
    o = der_put_header(o, 0x30, ci_len);
    memcpy(o, oid, oid_total);
    o += oid_total;
    o = der_put_header(o, 0xa0, explicit_len);
    o = der_put_header(o, 0x30, inner);
    memcpy(o, head, (size_t)(cert_field - head));
    o += cert_field - head;
    memcpy(o, tail, (size_t)(end - tail));
    *bare = out;
    *bare_len = total;
    return true;
}

/* ---- verification ---- */

static bool digest_strong(X509_ALGOR *alg)
{
    const ASN1_OBJECT *obj = NULL;
    X509_ALGOR_get0(&obj, NULL, NULL, alg);
    int nid = OBJ_obj2nid(obj);
    return nid == NID_sha256 || nid == NID_sha384 || nid == NID_sha512;
}

static bool signing_time(CMS_SignerInfo *si, time_t *out)
{
    int at = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
    if (at < 0 || CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, at) >= 0)
        return false;
    X509_ATTRIBUTE *attr = CMS_signed_get_attr(si, at);
    ASN1_TYPE *v = X509_ATTRIBUTE_get0_type(attr, 0);
    if (X509_ATTRIBUTE_count(attr) != 1 || !v ||
        (v->type != V_ASN1_UTCTIME && v->type != V_ASN1_GENERALIZEDTIME))
        return false;
    struct tm tm;
    if (ASN1_TIME_to_tm((const ASN1_TIME *)v->value.asn1_string, &tm) != 1)
        return false;
    *out = timegm(&tm);
    return true;
}

/*
 * The ESS signing-certificate-v2 attribute names the signer's certificate
 * first (and, if it lists more, the certificates after it are among those
 * the signature carries).
 */
static ss_error check_ess(CMS_SignerInfo *si, X509 *signer, STACK_OF(X509) * carried)
{
    int at = CMS_signed_get_attr_by_NID(si, NID_id_smime_aa_signingCertificateV2, -1);
    X509_ATTRIBUTE *attr = at >= 0 ? CMS_signed_get_attr(si, at) : NULL;
    ASN1_TYPE *v =
        attr && X509_ATTRIBUTE_count(attr) == 1 ? X509_ATTRIBUTE_get0_type(attr, 0) : NULL;
    if (!v || v->type != V_ASN1_SEQUENCE)
        return ss_errf(SS_ERR_BAD_SIGNATURE, "malformed ESS signing-certificate-v2 attribute");
    const unsigned char *p = v->value.sequence->data;
    ESS_SIGNING_CERT_V2 *ess = d2i_ESS_SIGNING_CERT_V2(NULL, &p, v->value.sequence->length);
    STACK_OF(X509) *chain = sk_X509_new_null();
    int ok = ess && chain && sk_X509_push(chain, signer);
    for (int i = 0; ok && carried && i < sk_X509_num(carried); i++)
        if (X509_cmp(sk_X509_value(carried, i), signer) != 0)
            ok = sk_X509_push(chain, sk_X509_value(carried, i)) > 0;
    ok = ok && OSSL_ESS_check_signing_certs(NULL, ess, chain, 1) == 1;
    sk_X509_free(chain); /* shallow: the certificates belong to the signature */
    ESS_SIGNING_CERT_V2_free(ess);
    ERR_clear_error();
    return ok ? SS_OK
              : ss_errf(SS_ERR_BAD_SIGNATURE,
                        "the ESS signing-certificate-v2 attribute names another certificate");
}

/* The CMS checks proper: form, attributes, signature; then profile, chain and status. */
static ss_error verify_cms(const struct ss_trust *t, struct ss_sig_cache *cache,
                           const uint8_t *content, size_t content_len, const uint8_t *cms_der,
                           size_t cms_len, const uint8_t *ocsp, size_t ocsp_len,
                           struct ss_sig_verified *out, time_t *good_until)
{
    uint64_t serial = ss_trust_registry(t)->serial;
    time_t now = ss_trust_now(t);
    struct cache_entry hit;
    uint8_t key[32];
    ss_error result = SS_OK;
    CMS_ContentInfo *cms = NULL;
    BIO *data = NULL;
    STACK_OF(X509) *certs = NULL; /* carried, in order */
    uint8_t *bare = NULL;
    size_t bare_len = 0;
    struct ss_der carried[SS_TRUST_MAX_CHAIN]; /* their encodings */
    unsigned char *ders[SS_TRUST_MAX_CHAIN] = {0};
    size_t n_carried = 0;
    struct ss_der chain[SS_TRUST_MAX_CHAIN];
    size_t n_chain = 0;

    /* the certificates are decoded apart (and their decodings reused) when the signature is
     * of the plain DER form; else OpenSSL decodes all of it */
    bool split = cms_split(cms_der, cms_len, &bare, &bare_len, carried, &n_carried);
    const unsigned char *start = split ? bare : cms_der, *p = start;
    size_t whole = split ? bare_len : cms_len;
    cms = d2i_CMS_ContentInfo(NULL, &p, (long)whole);
    if (!cms || p != start + whole || OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed ||
        !CMS_is_detached(cms)) {
        result = ss_errf(SS_ERR_BAD_SIGNATURE, "not a detached CMS SignedData");
        goto out;
    }
    if (split) {
        certs = sk_X509_new_null();
        for (size_t i = 0; certs && i < n_carried; i++) {
            X509 *x = cert_get(cache, &carried[i]);
            if (!x || !sk_X509_push(certs, x)) {
                X509_free(x);
                result = ss_errf(SS_ERR_BAD_SIGNATURE,
                                 "certificate %zu carried by the signature does not parse", i + 1);
                goto out;
            }
        }
        if (!certs) {
            result = ss_errf(SS_ERR_NOMEM, "out of memory");
            goto out;
        }
    } else {
        certs = CMS_get1_certs(cms);
        for (int i = 0; certs && i < sk_X509_num(certs); i++) {
            int len = n_carried < SS_TRUST_MAX_CHAIN
                          ? i2d_X509(sk_X509_value(certs, i), &ders[n_carried])
                          : -1;
            if (len <= 0) {
                result = ss_errf(SS_ERR_BAD_SIGNATURE,
                                 "the signature carries more than %d certificates or one that "
                                 "does not encode",
                                 SS_TRUST_MAX_CHAIN);
                goto out;
            }
            carried[n_carried] = (struct ss_der){ders[n_carried], (size_t)len};
            n_carried++;
        }
    }
    STACK_OF(CMS_SignerInfo) *signers = CMS_get0_SignerInfos(cms);
    if (sk_CMS_SignerInfo_num(signers) != 1) {
        result = ss_errf(SS_ERR_BAD_SIGNATURE, "a message signature has exactly one signer");
        goto out;
    }
    CMS_SignerInfo *si = sk_CMS_SignerInfo_value(signers, 0);
    X509_ALGOR *dig = NULL;
    CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, NULL);
    if (!dig || !digest_strong(dig)) {
        result = ss_errf(SS_ERR_BAD_SIGNATURE, "signature digest must be SHA-256 or stronger");
        goto out;
    }
    if (!signing_time(si, &out->signing_time)) {
        result = ss_errf(SS_ERR_BAD_SIGNATURE, "signature without one signing time");
        goto out;
    }
    if (CMS_signed_get_attr_by_NID(si, NID_id_smime_aa_signingCertificateV2, -1) < 0) {
        result = ss_errf(SS_ERR_BAD_SIGNATURE,
                         "signature without the ESS signing-certificate-v2 attribute");
        goto out;
    }
    data = ss_certfile_cms_content(content, content_len);
    if (!data) {
        result = ss_errf(SS_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* the signature; the ESS binding to the signer's certificate and the chain are checked
     * below, the chain against the registry as it stood at the signing time */
    if (CMS_verify(cms, split ? certs : NULL, NULL, data, NULL,
                   CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) != 1) {
        char why[160] = "";
        unsigned long e = ERR_peek_last_error();
        if (e)
            ERR_error_string_n(e, why, sizeof why);
        result =
            ss_errf(SS_ERR_BAD_SIGNATURE, "the signature does not match the message (%s)", why);
        goto out;
    }
    X509 *signer = NULL;
    CMS_SignerInfo_get0_algs(si, NULL, &signer, NULL, NULL);
    int at = -1;
    for (int i = 0; signer && certs && i < sk_X509_num(certs) && at < 0; i++)
        if (X509_cmp(sk_X509_value(certs, i), signer) == 0)
            at = i;
    if (at < 0) {
        result = ss_errf(SS_ERR_BAD_SIGNATURE, "the signer's certificate is not in the signature");
        goto out;
    }
    /* the chain as presented: the signer first, then the other certificates carried */
    chain[n_chain++] = carried[at];
    for (size_t i = 0; i < n_carried; i++)
        if (X509_cmp(sk_X509_value(certs, (int)i), signer) != 0)
            chain[n_chain++] = carried[i];
    if ((result = check_ess(si, signer, certs)))
        goto out;
    /* the profile and the chain at the signing time, unless this chain was verified under
     * this registry for a span that holds the signing time */
    cache_key("chain", chain, n_chain, key);
    if (cache && cache_get(cache, &cache->chains, key, serial, now, &hit) &&
        out->signing_time >= hit.from && out->signing_time <= hit.to) {
        out->member = hit.result.member;
        memcpy(out->signer_sha256, hit.result.signer_sha256, 32);
    } else {
        const char *instance = ss_trust_registry(t)->instance;
        time_t window[2];
        if ((result = profile_member(signer, instance, &out->member)) ||
            (result = ss_trust_verify_signer(t, chain, n_chain, out->signing_time,
                                             out->signer_sha256, window)))
            goto out;
        if (cache)
            cache_put(cache, &cache->chains, key,
                      (struct cache_entry){.serial = serial,
                                           .until = now + CHAIN_TTL,
                                           .from = window[0],
                                           .to = window[1],
                                           .result = *out});
    }
    if (!ocsp || !ocsp_len) {
        result = ss_errf(SS_ERR_VALIDATION_INFO, "no OCSP response stapled to the signature");
        goto out;
    }
    /* the staple, unless this one was found good for this certificate and is still fresh */
    struct ss_der staple[2] = {{out->signer_sha256, 32}, {ocsp, ocsp_len}};
    cache_key("staple", staple, 2, key);
    if (cache && cache_get(cache, &cache->staples, key, serial, now, &hit)) {
        *good_until = hit.until;
        goto out;
    }
    result = ss_trust_ocsp_check(t, &chain[0], ocsp, ocsp_len, NULL, 0, good_until);
    if (result == SS_ERR_CERT_REVOKED) {
        result = ss_errf(SS_ERR_SIGNER_REVOKED, "the signing certificate is revoked (OCSP)");
    } else if (result) {
        result = ss_errf(SS_ERR_VALIDATION_INFO, "signing certificate: %s", ss_errmsg());
    } else {
        if (cache)
            cache_put(cache, &cache->staples, key,
                      (struct cache_entry){.serial = serial, .until = *good_until});
    }
out:
    ERR_clear_error();
    for (size_t i = 0; i < SS_TRUST_MAX_CHAIN; i++)
        OPENSSL_free(ders[i]);
    free(bare);
    sk_X509_pop_free(certs, X509_free);
    BIO_free_all(data);
    CMS_ContentInfo_free(cms);
    return result;
}

ss_error ss_evidence_signer_cert(const uint8_t *cms_der, size_t cms_len, uint8_t **der,
                                 size_t *der_len)
{
    *der = NULL;
    *der_len = 0;
    const unsigned char *p = cms_der;
    CMS_ContentInfo *cms =
        cms_len <= SS_EVIDENCE_CMS_MAX ? d2i_CMS_ContentInfo(NULL, &p, (long)cms_len) : NULL;
    STACK_OF(X509) *certs = cms ? CMS_get1_certs(cms) : NULL;
    STACK_OF(CMS_SignerInfo) *signers = cms ? CMS_get0_SignerInfos(cms) : NULL;
    ss_error err = ss_errf(SS_ERR_BAD_SIGNATURE, "the signature does not carry its signer's "
                                                 "certificate");
    if (signers && sk_CMS_SignerInfo_num(signers) == 1) {
        CMS_SignerInfo *si = sk_CMS_SignerInfo_value(signers, 0);
        for (int i = 0; certs && i < sk_X509_num(certs); i++) {
            X509 *x = sk_X509_value(certs, i);
            unsigned char *enc = NULL;
            int n = 0;
            if (CMS_SignerInfo_cert_cmp(si, x) == 0 && (n = i2d_X509(x, &enc)) > 0) {
                *der = malloc((size_t)n);
                if (*der) {
                    memcpy(*der, enc, (size_t)n);
                    *der_len = (size_t)n;
                    err = SS_OK;
                } else {
                    err = ss_errf(SS_ERR_NOMEM, "out of memory");
                }
                OPENSSL_free(enc);
                break;
            }
        }
    }
    sk_X509_pop_free(certs, X509_free);
    CMS_ContentInfo_free(cms);
    ERR_clear_error();
    return err;
}

ss_error ss_evidence_verify(const struct ss_trust *t, struct ss_sig_cache *cache,
                            const uint8_t *manifest, size_t manifest_len, const uint8_t *cms,
                            size_t cms_len, const char *path, const uint8_t *ocsp, size_t ocsp_len,
                            struct ss_sig_verified *out)
{
    memset(out, 0, sizeof *out);
    if (cms_len == 0 || cms_len > SS_EVIDENCE_CMS_MAX)
        return ss_errf(SS_ERR_BAD_SIGNATURE, "signature empty or larger than %d bytes",
                       SS_EVIDENCE_CMS_MAX);
    /* what the CMS signs: the manifest, or the root its inclusion path leads to */
    char batch[SS_EVIDENCE_BATCH_LEN + 1];
    const uint8_t *content = manifest;
    size_t content_len = manifest_len;
    if (path && path[0]) {
        struct ss_merkle_path steps;
        ss_error err = ss_merkle_path_parse(path, strlen(path), &steps);
        if (err)
            return ss_errf(SS_ERR_BAD_SIGNATURE, "%s", ss_errmsg());
        uint8_t leaf[32], root[32];
        ss_merkle_leaf(manifest, manifest_len, leaf);
        ss_merkle_follow(leaf, &steps, root);
        ss_evidence_batch_content(root, batch);
        content = (const uint8_t *)batch;
        content_len = SS_EVIDENCE_BATCH_LEN;
        out->batch = true;
    }
    if (ocsp_len > SS_TRUST_OCSP_MAX_BYTES)
        return ss_errf(SS_ERR_VALIDATION_INFO, "stapled OCSP response larger than %d bytes",
                       SS_TRUST_OCSP_MAX_BYTES);
    /* the cache key binds what is signed, the signature and the staple, each with its length,
     * so that no byte can move from one to the other */
    uint8_t key[32];
    struct ss_der parts[3] = {{content, content_len}, {cms, cms_len}, {ocsp, ocsp_len}};
    cache_key("signature", parts, 3, key);
    uint64_t serial = ss_trust_registry(t)->serial;
    time_t now = ss_trust_now(t);
    bool batch_flag = out->batch;
    struct cache_entry hit;
    bool claimed = false;
    if (cache && sig_get_or_claim(cache, key, serial, now, &hit, &claimed)) {
        *out = hit.result;
        out->cached = true;
        out->batch = batch_flag;
        return SS_OK;
    }
    time_t good_until = 0;
    ss_error err =
        verify_cms(t, cache, content, content_len, cms, cms_len, ocsp, ocsp_len, out, &good_until);
    if (err) {
        memset(out, 0, sizeof *out); /* nothing of a failed check is to be relied on */
    } else {
        out->batch = batch_flag;
        /* reused for a minute at most, and never beyond the staple's freshness */
        time_t until = now + CACHE_TTL;
        if (good_until < until)
            until = good_until;
        if (cache)
            cache_put(cache, &cache->sigs, key,
                      (struct cache_entry){.serial = serial, .until = until, .result = *out});
    }
    if (claimed)
        sig_settle(cache, key);
    return err;
}

/* ---- descriptions for people ---- */

static time_t asn1_time(const ASN1_TIME *t)
{
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return timegm(&tm);
}

ss_error ss_ocsp_describe(const uint8_t *der, size_t len, struct ss_ocsp_info *out)
{
    memset(out, 0, sizeof *out);
    const unsigned char *p = der;
    OCSP_RESPONSE *resp = len <= LONG_MAX ? d2i_OCSP_RESPONSE(NULL, &p, (long)len) : NULL;
    if (!resp || p != der + len) {
        OCSP_RESPONSE_free(resp);
        ERR_clear_error();
        return ss_errf(SS_ERR_VALIDATION_INFO, "not a DER OCSP response");
    }
    int rs = OCSP_response_status(resp);
    OCSP_BASICRESP *basic =
        rs == OCSP_RESPONSE_STATUS_SUCCESSFUL ? OCSP_response_get1_basic(resp) : NULL;
    OCSP_SINGLERESP *single = basic && OCSP_resp_count(basic) > 0 ? OCSP_resp_get0(basic, 0) : NULL;
    if (!single) {
        snprintf(out->status, sizeof out->status, "%.11s", OCSP_response_status_str(rs));
    } else {
        int reason = 0;
        ASN1_GENERALIZEDTIME *rev = NULL, *thisupd = NULL, *nextupd = NULL;
        int st = OCSP_single_get0_status(single, &reason, &rev, &thisupd, &nextupd);
        snprintf(out->status, sizeof out->status, "%s",
                 st == V_OCSP_CERTSTATUS_GOOD      ? "good"
                 : st == V_OCSP_CERTSTATUS_REVOKED ? "revoked"
                                                   : "unknown");
        out->this_update = asn1_time(thisupd);
        out->next_update = asn1_time(nextupd);
        out->revoked_at = asn1_time(rev);
        out->produced_at = asn1_time(OCSP_resp_get0_produced_at(basic));
        const ASN1_OCTET_STRING *key_id = NULL;
        const X509_NAME *name = NULL;
        if (OCSP_resp_get0_id(basic, &key_id, &name) == 1) {
            if (name) {
                BIO *b = BIO_new(BIO_s_mem());
                int n = b && X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253) >= 0
                            ? BIO_read(b, out->responder, (int)sizeof out->responder - 1)
                            : 0;
                out->responder[n > 0 ? n : 0] = '\0';
                BIO_free(b);
            } else if (key_id) {
                static const char digits[] = "0123456789abcdef";
                const unsigned char *k = ASN1_STRING_get0_data(key_id);
                int n = ASN1_STRING_length(key_id);
                size_t at = (size_t)snprintf(out->responder, sizeof out->responder, "key ");
                for (int i = 0; i < n && i < 64; i++) {
                    out->responder[at++] = digits[k[i] >> 4];
                    out->responder[at++] = digits[k[i] & 15];
                }
                out->responder[at] = '\0';
            }
        }
    }
    OCSP_BASICRESP_free(basic);
    OCSP_RESPONSE_free(resp);
    ERR_clear_error();
    return SS_OK;
}
