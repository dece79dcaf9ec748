/*
 * Fuzz target for message signatures (secsrv/msglog/evidence.c): the input
 * goes to ss_evidence_verify() as the detached CMS signature over a fixed
 * request manifest, signed directly. A second call splits the input: its
 * first byte, if even, means no inclusion path (bit 1 set: the path "")
 * and the rest is the signature; if odd, the bytes up to the first LF are
 * the inclusion path of a batch signature and the bytes after it the
 * signature.
 *
 * The trust snapshot is built once, from a registry that approves the
 * federation root with its intermediate and lists ocsp.pem as its responder
 * (ocspFreshness at its maximum), as in fuzz_ocsp.c; the OCSP staple is a
 * good response about members/GOV-MIKWS-SH/sign.pem, made once with the
 * responder's key. Needs SS_TEST_PKI (deploy/pki.sh); without it the target
 * says so and aborts. The committed corpus holds DER made by hand and
 * signatures of a throwaway PKI; the signatures that verify come from the
 * PKI's samples/evidence/, made by deploy/pki.sh over the same fixed
 * manifest (samples/manifest/evidence-request).
 *
 * A refusal has one of the documented codes and a reason. What is accepted
 * is checked again with OpenSSL directly: exactly one DER SignedData,
 * detached, one signer, SHA-256 or stronger; CMS_verify() with
 * CMS_NO_SIGNER_CERT_VERIFY over the content worked out here (the manifest,
 * or "secsrv-batch-root: ROOT\n" with ROOT followed from the manifest's
 * leaf along the path as this target reads the documented form); the
 * signer's certificate is the one reported (fingerprint), names the member
 * reported in its serialNumber, is named by the ESS signing-certificate-v2
 * attribute and chains to the root at the signing time reported, which is
 * the signing-time attribute's. The same signature is refused over the
 * manifest with one byte changed, and a cache gives the same result again.
 */
#include "certfile.h"
#include "evidence.h"
#include "manifest.h"
#include "merkle.h"
#include "trust.h"

#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FRESHNESS 31622400L /* the largest ocspFreshness the registry schema allows */
#define PATH_MAX_TEXT (2 * SS_MERKLE_PATH_TEXT_MAX)

/* The manifest every signature is checked over: samples/manifest/evidence-request. */
static const char fixed_manifest[] =
    "secsrv-manifest: 1\n"
    "kind: request\n"
    "time: 2026-11-18T11:06:40Z\n"
    "query-id: fuzz-evidence-1\n"
    "request-id: 6f1c2a9e-3b7d-4e21-8c55-0d9a7b3e4f12\n"
    "client: DE-NORD/GOV/MIKWS-SH/Meldeauskunft\n"
    "service: DE-NORD/MUN/13004000/Einwohnermeldeamt/meldeauskunft\n"
    "purpose: BMG-34\n"
    "subject-hash: 1c19303ce350ff9968357bb4986a251f929ebf91057dec7f50b5580423c3b1fc\n"
    "request-line-sha256: cebbfe3d9c38e5cbce9a2fe3acb4e827584d68fdfb034d3adf98a05fe604e671\n"
    "headers-sha256: 02125fa0320f6a136d5478a06c5be28dde22d8f94e6c66bf468c171a63387ff9\n"
    "body-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n";

static struct fixture {
    struct ss_trust *trust;
    uint8_t manifest[sizeof fixed_manifest - 1];
    size_t manifest_len;
    uint8_t *staple;
    size_t staple_len;
    /* for the independent check with OpenSSL */
    X509_STORE *store;             /* the root */
    STACK_OF(X509) * intermediate; /* the intermediate */
} fx;

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_evidence: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

/* ---- the fixture ---- */

static X509 *load_x509(const char *pki, const char *rel, uint8_t **der, size_t *len)
{
    char path[4096];
    int r = snprintf(path, sizeof path, "%s/%s", pki, rel);
    if (r < 0 || (size_t)r >= sizeof path)
        die("path too long", rel);
    if (ss_certfile_read_first(path, der, len) != SS_OK)
        die("cannot read a certificate of the test PKI", ss_errmsg());
    X509 *x = ss_certfile_x509(*der, *len);
    if (!x)
        die("certificate does not parse", path);
    return x;
}

static EVP_PKEY *load_key(const char *pki, const char *rel)
{
    char path[4096];
    int r = snprintf(path, sizeof path, "%s/%s", pki, rel);
    if (r < 0 || (size_t)r >= sizeof path)
        die("path too long", rel);
    FILE *f = fopen(path, "r");
    if (!f)
        die("cannot open", path);
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    if (!key)
        die("cannot read the key", path);
    return key;
}

static char *base64_of(const uint8_t *der, size_t len)
{
    char *b64 = NULL;
    if (ss_certfile_base64(der, len, &b64) != SS_OK)
        die("base64", ss_errmsg());
    return b64;
}

static void make_trust(const uint8_t *root, size_t root_len, const uint8_t *im, size_t im_len,
                       const uint8_t *ocsp, size_t ocsp_len)
{
    char *root_b64 = base64_of(root, root_len);
    char *im_b64 = base64_of(im, im_len);
    char *ocsp_b64 = base64_of(ocsp, ocsp_len);
    static const char fmt[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<registry version=\"1\" instance=\"DE-NORD\" serial=\"1\" "
        "issued=\"2026-01-01T00:00:00Z\" expires=\"2036-01-01T00:00:00Z\">\n"
        "  <settings ocspFreshness=\"%ld\" timestampingInterval=\"60\" "
        "registryValidity=\"86400\" refreshInterval=\"300\"/>\n"
        "  <certificationAuthority name=\"DE-NORD Root\">\n"
        "    <certificate>%s</certificate>\n"
        "    <intermediate>%s</intermediate>\n"
        "    <ocspResponder url=\"http://127.0.0.1:18888/\"><certificate>%s</certificate>"
        "</ocspResponder>\n"
        "  </certificationAuthority>\n"
        "</registry>\n";
    size_t cap = sizeof fmt + strlen(root_b64) + strlen(im_b64) + strlen(ocsp_b64) + 32;
    char *doc = malloc(cap);
    if (!doc)
        die("out of memory", NULL);
    int r = snprintf(doc, cap, fmt, FRESHNESS, root_b64, im_b64, ocsp_b64);
    if (r < 0 || (size_t)r >= cap)
        die("registry document does not fit", NULL);
    struct ss_registry *reg = NULL;
    if (ss_registry_parse("fuzz-evidence.xml", (const uint8_t *)doc, (size_t)r, &reg) != SS_OK)
        die("registry refused", ss_errmsg());
    if (ss_trust_new(reg, &fx.trust) != SS_OK)
        die("trust snapshot", ss_errmsg());
    ss_registry_unref(reg);
    free(doc);
    free(ocsp_b64);
    free(im_b64);
    free(root_b64);
}

/* A good OCSP response about leaf (issued by issuer), signed by the responder. */
static void make_staple(X509 *leaf, X509 *issuer, X509 *responder, EVP_PKEY *key)
{
    OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
    OCSP_CERTID *id = OCSP_cert_to_id(NULL, leaf, issuer);
    time_t now = time(NULL);
    ASN1_TIME *this_update = X509_time_adj_ex(NULL, 0, -60, &now);
    if (!bs || !id || !this_update ||
        !OCSP_basic_add1_status(bs, id, V_OCSP_CERTSTATUS_GOOD, -1, NULL, this_update, NULL) ||
        !OCSP_basic_sign(bs, responder, key, EVP_sha256(), NULL, 0))
        die("cannot make the OCSP staple", NULL);
    OCSP_RESPONSE *resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
    unsigned char *der = NULL;
    int len = resp ? i2d_OCSP_RESPONSE(resp, &der) : -1;
    if (len <= 0)
        die("cannot encode the OCSP staple", NULL);
    fx.staple = malloc((size_t)len);
    if (!fx.staple)
        die("out of memory", NULL);
    memcpy(fx.staple, der, (size_t)len);
    fx.staple_len = (size_t)len;
    OPENSSL_free(der);
    OCSP_RESPONSE_free(resp);
    ASN1_TIME_free(this_update);
    OCSP_CERTID_free(id);
    OCSP_BASICRESP_free(bs);
}

static void fixture_init(void)
{
    const char *pki = getenv("SS_TEST_PKI");
    if (!pki || !*pki)
        die("SS_TEST_PKI is not set", "point it at a PKI made by deploy/pki.sh DIR");
    memcpy(fx.manifest, fixed_manifest, sizeof fx.manifest);
    fx.manifest_len = sizeof fx.manifest;
    struct ss_manifest m;
    if (ss_manifest_parse(fx.manifest, fx.manifest_len, &m) != SS_OK)
        die("the fixed manifest does not parse", ss_errmsg());

    uint8_t *root_der = NULL, *im_der = NULL, *ocsp_der = NULL, *member_der = NULL;
    size_t root_len = 0, im_len = 0, ocsp_len = 0, member_len = 0;
    X509 *root = load_x509(pki, "root-ca.pem", &root_der, &root_len);
    X509 *im = load_x509(pki, "intermediate-ca.pem", &im_der, &im_len);
    X509 *responder = load_x509(pki, "ocsp.pem", &ocsp_der, &ocsp_len);
    X509 *member = load_x509(pki, "members/GOV-MIKWS-SH/sign.pem", &member_der, &member_len);
    make_trust(root_der, root_len, im_der, im_len, ocsp_der, ocsp_len);
    EVP_PKEY *key = load_key(pki, "ocsp.key");
    make_staple(member, im, responder, key);
    EVP_PKEY_free(key);

    fx.store = X509_STORE_new();
    fx.intermediate = sk_X509_new_null();
    if (!fx.store || !fx.intermediate || !X509_STORE_add_cert(fx.store, root) ||
        !sk_X509_push(fx.intermediate, im))
        die("out of memory", NULL);
    X509_free(member);
    X509_free(responder);
    X509_free(root);
    free(member_der);
    free(ocsp_der);
    free(im_der);
    free(root_der);
    ERR_clear_error();
}

/* ---- what a signature covers, worked out here ---- */

static void sha256_parts(const void *a, size_t alen, const void *b, size_t blen, const void *c,
                         size_t clen, uint8_t out[32])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int len = 32;
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(md, a, alen) != 1 || EVP_DigestUpdate(md, b, blen) != 1 ||
        EVP_DigestUpdate(md, c, clen) != 1 || EVP_DigestFinal_ex(md, out, &len) != 1)
        die("SHA-256", NULL);
    EVP_MD_CTX_free(md);
}

static int hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/*
 * The batch document the path leads to from the manifest's leaf
 * (secsrv/msglog/merkle.h: leaf SHA-256(0x00 || data), node SHA-256(0x01 ||
 * left || right), steps "L HEX" / "R HEX" separated by one space, at most
 * SS_MERKLE_MAX_DEPTH). False if the path is not in that form.
 */
static bool batch_document(const char *path, char *out, size_t size)
{
    static const uint8_t zero = 0x00, one = 0x01;
    uint8_t h[32];
    sha256_parts(&zero, 1, fx.manifest, fx.manifest_len, "", 0, h);
    size_t n = strlen(path), i = 0, steps = 0;
    while (i < n) {
        if (steps > 0 && path[i++] != ' ')
            return false;
        if (n - i < 66 || (path[i] != 'L' && path[i] != 'R') || path[i + 1] != ' ' ||
            ++steps > SS_MERKLE_MAX_DEPTH)
            return false;
        uint8_t sibling[32];
        for (size_t k = 0; k < 32; k++) {
            int hi = hex_value(path[i + 2 + 2 * k]), lo = hex_value(path[i + 3 + 2 * k]);
            if (hi < 0 || lo < 0)
                return false;
            sibling[k] = (uint8_t)(hi << 4 | lo);
        }
        uint8_t cur[32];
        memcpy(cur, h, 32);
        if (path[i] == 'L')
            sha256_parts(&one, 1, sibling, 32, cur, 32, h);
        else
            sha256_parts(&one, 1, cur, 32, sibling, 32, h);
        i += 66;
    }
    if (steps == 0)
        return false;
    int r = snprintf(out, size, "secsrv-batch-root: ");
    for (int k = 0; k < 32 && r > 0; k++)
        r += snprintf(out + r, size - (size_t)r, "%02x", h[k]);
    r += snprintf(out + r, size - (size_t)r, "\n");
    return r == (int)strlen(SS_EVIDENCE_BATCH_PREFIX) + 65;
}

/* ---- the independent check of an accepted signature ---- */

static bool contains(const uint8_t *hay, size_t n, const uint8_t *needle, size_t m)
{
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(hay + i, needle, m) == 0)
            return true;
    return false;
}

/* The ESS signing-certificate-v2 attribute holds a SHA-2 hash of signer. */
static bool ess_names(CMS_SignerInfo *si, X509 *signer)
{
    int at = CMS_signed_get_attr_by_NID(si, NID_id_smime_aa_signingCertificateV2, -1);
    if (at < 0)
        return false;
    ASN1_TYPE *v = X509_ATTRIBUTE_get0_type(CMS_signed_get_attr(si, at), 0);
    if (!v || v->type != V_ASN1_SEQUENCE)
        return false;
    const EVP_MD *mds[3] = {EVP_sha256(), EVP_sha384(), EVP_sha512()};
    for (int i = 0; i < 3; i++) {
        uint8_t h[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        if (X509_digest(signer, mds[i], h, &len) == 1 &&
            contains(v->value.sequence->data, (size_t)v->value.sequence->length, h, len))
            return true;
    }
    return false;
}

static void confirm(const uint8_t *cms_der, size_t cms_len, const char *path,
                    const struct ss_sig_verified *out)
{
    if (cms_len == 0 || cms_len > SS_EVIDENCE_CMS_MAX)
        die("accepted a signature of out-of-range size", NULL);
    bool batch = path && path[0];
    if (out->batch != batch)
        die("batch flag other than the path given", NULL);
    char doc[SS_EVIDENCE_BATCH_LEN + 16];
    const void *content = fx.manifest;
    size_t content_len = fx.manifest_len;
    if (batch) {
        if (!batch_document(path, doc, sizeof doc))
            die("accepted an inclusion path not in the documented form", path);
        content = doc;
        content_len = strlen(doc);
    }
    const unsigned char *p = cms_der;
    CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long)cms_len);
    if (!cms || p != cms_der + cms_len)
        die("accepted bytes that are not exactly one DER CMS structure", NULL);
    if (OBJ_obj2nid(CMS_get0_type(cms)) != NID_pkcs7_signed || !CMS_is_detached(cms))
        die("accepted something other than a detached SignedData", NULL);
    STACK_OF(CMS_SignerInfo) *infos = CMS_get0_SignerInfos(cms);
    if (sk_CMS_SignerInfo_num(infos) != 1)
        die("accepted a signature without exactly one signer", NULL);
    CMS_SignerInfo *si = sk_CMS_SignerInfo_value(infos, 0);
    X509_ALGOR *dig = NULL;
    CMS_SignerInfo_get0_algs(si, NULL, NULL, &dig, NULL);
    const ASN1_OBJECT *dig_obj = NULL;
    X509_ALGOR_get0(&dig_obj, NULL, NULL, dig);
    int dig_nid = OBJ_obj2nid(dig_obj);
    if (dig_nid != NID_sha256 && dig_nid != NID_sha384 && dig_nid != NID_sha512)
        die("accepted a digest weaker than SHA-256", NULL);

    BIO *in = ss_certfile_cms_content(content, content_len);
    if (!in)
        die("out of memory", NULL);
    if (CMS_verify(cms, NULL, NULL, in, NULL, CMS_BINARY | CMS_NO_SIGNER_CERT_VERIFY) != 1)
        die("OpenSSL's CMS_verify refuses the signature",
            batch ? "over the batch document" : "over the manifest");
    BIO_free_all(in);
    STACK_OF(X509) *signers = CMS_get0_signers(cms);
    X509 *signer = signers && sk_X509_num(signers) == 1 ? sk_X509_value(signers, 0) : NULL;
    if (!signer)
        die("no signer certificate after CMS_verify", NULL);
    uint8_t fp[32];
    unsigned int fp_len = 0;
    if (X509_digest(signer, EVP_sha256(), fp, &fp_len) != 1 ||
        memcmp(fp, out->signer_sha256, 32) != 0)
        die("the fingerprint reported is not the signer's", NULL);

    /* the member: the subject's serialNumber */
    char serial[3 * (SS_ID_PART_MAX + 1)], want[3 * (SS_ID_PART_MAX + 1) + 3];
    X509_NAME *subject = X509_get_subject_name(signer);
    if (X509_NAME_get_text_by_NID(subject, NID_serialNumber, serial, sizeof serial) <= 0)
        die("accepted a signer certificate without serialNumber", NULL);
    snprintf(want, sizeof want, "%s/%s/%s", out->member.instance, out->member.member_class,
             out->member.member_code);
    if (strcmp(serial, want) != 0 || strcmp(out->member.instance, "DE-NORD") != 0 ||
        out->member.subsystem[0])
        die("the member reported is not the one the certificate names", serial);
    if (!ess_names(si, signer))
        die("accepted a signature whose ESS signing-certificate-v2 names another certificate",
            NULL);

    /* the signing time, and the chain as it stood then */
    int at = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
    ASN1_TYPE *st = at >= 0 ? X509_ATTRIBUTE_get0_type(CMS_signed_get_attr(si, at), 0) : NULL;
    if (!st || (st->type != V_ASN1_UTCTIME && st->type != V_ASN1_GENERALIZEDTIME) ||
        ASN1_TIME_cmp_time_t((const ASN1_TIME *)st->value.asn1_string, out->signing_time) != 0)
        die("the signing time reported is not the attribute's", NULL);
    STACK_OF(X509) *carried = CMS_get1_certs(cms);
    STACK_OF(X509) *untrusted = sk_X509_dup(fx.intermediate);
    for (int i = 0; carried && untrusted && i < sk_X509_num(carried); i++)
        sk_X509_push(untrusted, sk_X509_value(carried, i));
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    if (!ctx || !untrusted || !X509_STORE_CTX_init(ctx, fx.store, signer, untrusted))
        die("out of memory", NULL);
    X509_STORE_CTX_set_time(ctx, 0, out->signing_time);
    if (X509_verify_cert(ctx) != 1)
        die("the signer's certificate does not chain to the root at the signing time",
            X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)));
    X509_STORE_CTX_free(ctx);
    sk_X509_free(untrusted);
    sk_X509_pop_free(carried, X509_free);
    sk_X509_free(signers);
    CMS_ContentInfo_free(cms);
    ERR_clear_error();
}

/* ---- the calls ---- */

static void check_one(const uint8_t *cms, size_t cms_len, const char *path)
{
    struct ss_sig_verified out;
    ss_error err = ss_evidence_verify(fx.trust, NULL, fx.manifest, fx.manifest_len, cms, cms_len,
                                      path, fx.staple, fx.staple_len, &out);
    switch (err) {
    case SS_OK:
        break;
    case SS_ERR_BAD_SIGNATURE:
    case SS_ERR_BAD_CERTIFICATE:
    case SS_ERR_SIGNER_REVOKED:
    case SS_ERR_VALIDATION_INFO:
    case SS_ERR_NOMEM:
        if (!*ss_errmsg())
            die("refused without a reason", NULL);
        return;
    default:
        die("unexpected error code", ss_error_name(err));
    }
    if (out.cached)
        die("a result from a cache that was not given", NULL);
    confirm(cms, cms_len, path, &out);

    /* bound to every byte of the manifest: a few positions, each changed */
    struct ss_sig_verified other;
    size_t pos[] = {0, fx.manifest_len / 2, fx.manifest_len - 1};
    for (size_t k = 0; k < sizeof pos / sizeof pos[0]; k++) {
        fx.manifest[pos[k]] ^= 0x20;
        err = ss_evidence_verify(fx.trust, NULL, fx.manifest, fx.manifest_len, cms, cms_len, path,
                                 fx.staple, fx.staple_len, &other);
        fx.manifest[pos[k]] ^= 0x20;
        if (err != SS_ERR_BAD_SIGNATURE)
            die("accepted a signature over a changed manifest", ss_error_name(err));
    }
    /* a cache gives the same answer again, saying so */
    struct ss_sig_cache *cache = NULL;
    if (ss_sig_cache_new(4, &cache) != SS_OK)
        die("ss_sig_cache_new", ss_errmsg());
    for (int round = 0; round < 2; round++) {
        err = ss_evidence_verify(fx.trust, cache, fx.manifest, fx.manifest_len, cms, cms_len, path,
                                 fx.staple, fx.staple_len, &other);
        if (err != SS_OK || other.cached != (round == 1) || other.batch != out.batch ||
            other.signing_time != out.signing_time ||
            memcmp(other.signer_sha256, out.signer_sha256, 32) != 0 ||
            memcmp(&other.member, &out.member, sizeof out.member) != 0)
            die("a cache changed the result", ss_error_name(err));
    }
    ss_sig_cache_free(cache);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        fixture_init();
        ready = true;
    }
    static const uint8_t none[1];
    if (size == 0)
        data = none;
    check_one(data, size, NULL);
    if (size == 0)
        return 0;

    /* the first byte chooses: even, no path ("" with bit 1); odd, a path up to LF */
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    if ((data[0] & 1) == 0) {
        check_one(rest, n, (data[0] & 2) ? "" : NULL);
        return 0;
    }
    static char path[PATH_MAX_TEXT];
    const uint8_t *nl = memchr(rest, '\n', n);
    size_t path_len = nl ? (size_t)(nl - rest) : n;
    if (path_len >= sizeof path)
        path_len = sizeof path - 1;
    memcpy(path, rest, path_len);
    path[path_len] = '\0';
    const uint8_t *cms = nl ? nl + 1 : rest + n;
    check_one(cms, (size_t)(rest + n - cms), path);
    return 0;
}
