/*
 * The registry's detached CMS signature: verification against the pinned
 * authority certificate, and signing for the authority's tool.
 */
#include "registry.h"
#include "certfile.h"
#include "ss_xml.h"

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

static const char *ossl_reason(void)
{
    static _Thread_local char buf[200];
    unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (!e)
        return "unknown OpenSSL error";
    ERR_error_string_n(e, buf, sizeof buf);
    return buf;
}

ss_error ss_reg_anchor_load(const char *path, struct ss_reg_anchor *anchor)
{
    anchor->der = NULL;
    anchor->len = 0;
    return ss_certfile_read(path, &anchor->der, &anchor->len);
}

void ss_reg_anchor_cleanup(struct ss_reg_anchor *anchor)
{
    if (!anchor)
        return;
    free(anchor->der);
    anchor->der = NULL;
    anchor->len = 0;
}

static bool digest_strong(X509_ALGOR *alg)
{
    const ASN1_OBJECT *obj = NULL;
    X509_ALGOR_get0(&obj, NULL, NULL, alg);
    int nid = OBJ_obj2nid(obj);
    return nid == NID_sha256 || nid == NID_sha384 || nid == NID_sha512;
}

ss_error ss_registry_verify_signature(const uint8_t *xml, size_t xml_len, const uint8_t *sig,
                                      size_t sig_len, const struct ss_reg_anchor *anchor)
{
    ss_error result = SS_OK;
    CMS_ContentInfo *cms = NULL;
    X509 *pinned = NULL;
    STACK_OF(X509) *certs = NULL;
    BIO *content = NULL;

    if (!anchor || !anchor->der)
        return ss_errf(SS_ERR_CONFIG, "no registry authority certificate pinned");
    if (sig_len == 0 || sig_len > SS_REGISTRY_SIG_MAX_BYTES)
        return ss_errf(SS_ERR_BAD_SIGNATURE, "signature is empty or larger than %u bytes",
                       SS_REGISTRY_SIG_MAX_BYTES);
    pinned = ss_certfile_x509(anchor->der, anchor->len);
    if (!pinned) {
        result = ss_errf(SS_ERR_BAD_CERTIFICATE, "pinned authority certificate does not parse");
        goto out;
    }
    const unsigned char *p = sig;
    cms = d2i_CMS_ContentInfo(NULL, &p, (long)sig_len);
    if (!cms || p != sig + sig_len) {
        result = ss_errf(SS_ERR_BAD_SIGNATURE, "signature is not a DER CMS structure");
        goto out;
    }
    if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed || !CMS_is_detached(cms)) {
        result = ss_errf(SS_ERR_BAD_SIGNATURE, "signature is not a detached CMS SignedData");
        goto out;
    }
    STACK_OF(CMS_SignerInfo) *signers = CMS_get0_SignerInfos(cms);
    if (sk_CMS_SignerInfo_num(signers) != 1) {
        result = ss_errf(SS_ERR_BAD_SIGNATURE, "signature must have exactly one signer, has %d",
                         sk_CMS_SignerInfo_num(signers));
        goto out;
    }
    CMS_SignerInfo *si = sk_CMS_SignerInfo_value(signers, 0);
    if (CMS_SignerInfo_cert_cmp(si, pinned) != 0) {
        result = ss_errf(SS_ERR_BAD_SIGNATURE,
                         "signed by someone other than the pinned registry authority");
        goto out;
    }
    X509_ALGOR *dig = NULL, *sigalg = NULL;
    CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, &sigalg);
    if (!dig || !digest_strong(dig)) {
        result = ss_errf(SS_ERR_BAD_SIGNATURE, "signature digest must be SHA-256 or stronger");
        goto out;
    }
    certs = sk_X509_new_null();
    content = ss_certfile_cms_content(xml, xml_len);
    if (!certs || !content || !sk_X509_push(certs, pinned)) {
        result = ss_errf(SS_ERR_NOMEM, "out of memory");
        goto out;
    }
    /* The pinned certificate is the trust: only it may be the signer (NOINTERN), and no chain
     * to a CA store is needed (NO_SIGNER_CERT_VERIFY). */
    if (CMS_verify(cms, certs, NULL, content, NULL,
                   CMS_BINARY | CMS_NOINTERN | CMS_NO_SIGNER_CERT_VERIFY) != 1) {
        result = ss_errf(SS_ERR_BAD_SIGNATURE, "signature does not match the document (%s)",
                         ossl_reason());
        goto out;
    }
out:
    ERR_clear_error();
    BIO_free_all(content);
    sk_X509_free(certs);
    X509_free(pinned);
    CMS_ContentInfo_free(cms);
    return result;
}

ss_error ss_registry_sign(const uint8_t *xml, size_t xml_len, const char *key_path,
                          const char *cert_path, const char *chain_path, uint8_t **sig,
                          size_t *sig_len)
{
    ss_error result = SS_OK;
    EVP_PKEY *key = NULL;
    X509 *cert = NULL;
    STACK_OF(X509) *chain = NULL;
    BIO *in = NULL, *bio = NULL;
    CMS_ContentInfo *cms = NULL;
    unsigned char *der = NULL;
    *sig = NULL;
    *sig_len = 0;

    bio = BIO_new_file(key_path, "r");
    key = bio ? PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL) : NULL;
    BIO_free(bio);
    bio = NULL;
    if (!key) {
        result = ss_errf(SS_ERR_CRYPTO, "%s: cannot read private key", key_path);
        goto out;
    }
    if ((result = ss_certfile_load_first(cert_path, &cert)))
        goto out;
    if (X509_check_private_key(cert, key) != 1) {
        result = ss_errf(SS_ERR_CRYPTO, "%s does not match %s", key_path, cert_path);
        goto out;
    }
    chain = sk_X509_new_null();
    if (!chain) {
        result = ss_errf(SS_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (chain_path) {
        bio = BIO_new_file(chain_path, "r");
        X509 *x;
        while (bio && (x = PEM_read_bio_X509(bio, NULL, NULL, NULL)) != NULL)
            if (!sk_X509_push(chain, x))
                X509_free(x);
        BIO_free(bio);
        bio = NULL;
        if (sk_X509_num(chain) == 0) {
            result = ss_errf(SS_ERR_BAD_CERTIFICATE, "%s: no certificates", chain_path);
            goto out;
        }
    }
    in = BIO_new_mem_buf(xml, (int)xml_len);
    unsigned flags = CMS_DETACHED | CMS_BINARY | CMS_PARTIAL;
    cms = in ? CMS_sign(NULL, NULL, chain, NULL, flags) : NULL;
    if (!cms || !CMS_add1_signer(cms, cert, key, EVP_sha256(), flags) ||
        CMS_final(cms, in, NULL, flags) != 1) {
        result = ss_errf(SS_ERR_CRYPTO, "signing failed: %s", ossl_reason());
        goto out;
    }
    int n = i2d_CMS_ContentInfo(cms, &der);
    if (n <= 0) {
        result = ss_errf(SS_ERR_CRYPTO, "cannot encode signature");
        goto out;
    }
    *sig = malloc((size_t)n);
    if (!*sig) {
        result = ss_errf(SS_ERR_NOMEM, "out of memory");
        goto out;
    }
    memcpy(*sig, der, (size_t)n);
    *sig_len = (size_t)n;
out:
    ERR_clear_error();
    OPENSSL_free(der);
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    sk_X509_pop_free(chain, X509_free);
    X509_free(cert);
    EVP_PKEY_free(key);
    return result;
}
