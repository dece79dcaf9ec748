#include "evidence.h"
#include "certfile.h"
#include "merkle.h"
#include "registry.h"
#include "ss_hex.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/ess.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* ---- the cache of verified signatures ---- */

struct cache_entry {
    uint8_t key[32];
    uint64_t serial; /* registry serial the verification was made under */
    time_t until;
    struct ss_sig_verified result;
};

struct ss_sig_cache {
    pthread_mutex_t mu;
    struct cache_entry *entries;
    size_t n, max, next; /* next: the slot replaced when full (round robin) */
};

#define CACHE_TTL 60 /* seconds a verification is reused */

ss_error ss_sig_cache_new(size_t max_entries, struct ss_sig_cache **out)
{
    *out = NULL;
    struct ss_sig_cache *c = calloc(1, sizeof *c);
    if (!c || !(c->entries = calloc(max_entries ? max_entries : 1, sizeof *c->entries))) {
        free(c);
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    }
    c->max = max_entries ? max_entries : 1;
    pthread_mutex_init(&c->mu, NULL);
    *out = c;
    return SS_OK;
}

void ss_sig_cache_free(struct ss_sig_cache *c)
{
    if (!c)
        return;
    pthread_mutex_destroy(&c->mu);
    free(c->entries);
    free(c);
}

static bool cache_get(struct ss_sig_cache *c, const uint8_t key[32], uint64_t serial, time_t now,
                      struct ss_sig_verified *out)
{
    bool hit = false;
    pthread_mutex_lock(&c->mu);
    for (size_t i = 0; i < c->n && !hit; i++) {
        const struct cache_entry *e = &c->entries[i];
        if (e->serial == serial && now < e->until && memcmp(e->key, key, 32) == 0) {
            *out = e->result;
            hit = true;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return hit;
}

static void cache_put(struct ss_sig_cache *c, const uint8_t key[32], uint64_t serial, time_t until,
                      const struct ss_sig_verified *v)
{
    pthread_mutex_lock(&c->mu);
    size_t slot;
    if (c->n < c->max) {
        slot = c->n++;
    } else {
        slot = c->next;
        c->next = (c->next + 1) % c->max;
    }
    struct cache_entry *e = &c->entries[slot];
    memcpy(e->key, key, 32);
    e->serial = serial;
    e->until = until;
    e->result = *v;
    pthread_mutex_unlock(&c->mu);
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
static ss_error verify_cms(const struct ss_trust *t, const uint8_t *content, size_t content_len,
                           const uint8_t *cms_der, size_t cms_len, const uint8_t *ocsp,
                           size_t ocsp_len, struct ss_sig_verified *out, time_t *good_until)
{
    ss_error result = SS_OK;
    CMS_ContentInfo *cms = NULL;
    BIO *data = NULL;
    STACK_OF(X509) *certs = NULL;
    unsigned char *ders[SS_TRUST_MAX_CHAIN] = {0};
    struct ss_der chain[SS_TRUST_MAX_CHAIN];
    size_t n_chain = 0;

    const unsigned char *p = cms_der;
    cms = d2i_CMS_ContentInfo(NULL, &p, (long)cms_len);
    if (!cms || p != cms_der + cms_len || OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed ||
        !CMS_is_detached(cms)) {
        result = ss_errf(SS_ERR_BAD_SIGNATURE, "not a detached CMS SignedData");
        goto out;
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
    if (CMS_verify(cms, NULL, NULL, data, NULL, CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) != 1) {
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
    certs = CMS_get1_certs(cms);
    if (!signer || !certs) {
        result = ss_errf(SS_ERR_BAD_SIGNATURE, "the signer's certificate is not in the signature");
        goto out;
    }
    /* the chain as presented: the signer first, then the other certificates carried */
    int len = i2d_X509(signer, &ders[0]);
    if (len <= 0) {
        result = ss_errf(SS_ERR_BAD_SIGNATURE, "signer certificate does not encode");
        goto out;
    }
    chain[n_chain++] = (struct ss_der){ders[0], (size_t)len};
    for (int i = 0; i < sk_X509_num(certs) && n_chain < SS_TRUST_MAX_CHAIN; i++) {
        X509 *x = sk_X509_value(certs, i);
        if (X509_cmp(x, signer) == 0)
            continue;
        len = i2d_X509(x, &ders[n_chain]);
        if (len <= 0)
            break;
        chain[n_chain] = (struct ss_der){ders[n_chain], (size_t)len};
        n_chain++;
    }
    if ((result = check_ess(si, signer, certs)))
        goto out;
    const char *instance = ss_trust_registry(t)->instance;
    if ((result = profile_member(signer, instance, &out->member)))
        goto out;
    if ((result = ss_trust_verify_signer(t, chain, n_chain, out->signing_time, out->signer_sha256)))
        goto out;
    if (!ocsp || !ocsp_len) {
        result = ss_errf(SS_ERR_VALIDATION_INFO, "no OCSP response stapled to the signature");
        goto out;
    }
    result = ss_trust_ocsp_check(t, &chain[0], ocsp, ocsp_len, NULL, 0, good_until);
    if (result == SS_ERR_CERT_REVOKED)
        result = ss_errf(SS_ERR_SIGNER_REVOKED, "the signing certificate is revoked (OCSP)");
    else if (result)
        result = ss_errf(SS_ERR_VALIDATION_INFO, "signing certificate: %s", ss_errmsg());
out:
    ERR_clear_error();
    for (size_t i = 0; i < SS_TRUST_MAX_CHAIN; i++)
        OPENSSL_free(ders[i]);
    sk_X509_pop_free(certs, X509_free);
    BIO_free_all(data);
    CMS_ContentInfo_free(cms);
    return result;
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
    unsigned int klen = 32;
    uint8_t cd[32];
    ss_merkle_leaf(content, content_len, cd);
    uint64_t lengths[2] = {cms_len, ocsp_len};
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(md, cd, 32) != 1 || EVP_DigestUpdate(md, lengths, sizeof lengths) != 1 ||
        EVP_DigestUpdate(md, cms, cms_len) != 1 ||
        (ocsp_len && EVP_DigestUpdate(md, ocsp, ocsp_len) != 1) ||
        EVP_DigestFinal_ex(md, key, &klen) != 1) {
        EVP_MD_CTX_free(md);
        return ss_errf(SS_ERR_CRYPTO, "SHA-256 failed");
    }
    EVP_MD_CTX_free(md);
    uint64_t serial = ss_trust_registry(t)->serial;
    time_t now = time(NULL);
    bool batch_flag = out->batch;
    if (cache && cache_get(cache, key, serial, now, out)) {
        out->cached = true;
        out->batch = batch_flag;
        return SS_OK;
    }
    time_t good_until = 0;
    ss_error err =
        verify_cms(t, content, content_len, cms, cms_len, ocsp, ocsp_len, out, &good_until);
    if (err) {
        memset(out, 0, sizeof *out); /* nothing of a failed check is to be relied on */
        return err;
    }
    out->batch = batch_flag;
    /* reused for a minute at most, and never beyond the staple's freshness */
    time_t until = now + CACHE_TTL;
    if (good_until < until)
        until = good_until;
    if (cache)
        cache_put(cache, key, serial, until, out);
    return SS_OK;
}
