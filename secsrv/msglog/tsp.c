#include "tsp.h"
#include "certfile.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TEXT_MAX 160 /* bytes of a peer-supplied name or text shown in a reason */

/* The last OpenSSL error with its detail, as text (the queue is left as is). */
static const char *ossl_reason(void)
{
    static _Thread_local char buf[256];
    const char *data = NULL;
    int flags = 0;
    unsigned long e = ERR_peek_last_error_all(NULL, NULL, NULL, &data, &flags);
    if (!e) {
        snprintf(buf, sizeof buf, "no detail from OpenSSL");
    } else {
        const char *reason = ERR_reason_error_string(e);
        bool has_data = data && *data && (flags & ERR_TXT_STRING);
        snprintf(buf, sizeof buf, "%s%s%s", reason ? reason : "unknown OpenSSL error",
                 has_data ? ": " : "", has_data ? data : "");
    }
    return buf;
}

/* True if the OpenSSL error queue holds lib/reason; empties the queue. */
static bool ossl_queue_has(int lib, int reason)
{
    bool found = false;
    unsigned long e;
    while ((e = ERR_get_error()) != 0)
        found = found || (ERR_GET_LIB(e) == lib && ERR_GET_REASON(e) == reason);
    return found;
}

/* An X.509 name as RFC 2253 text, all non-ASCII escaped, cut to TEXT_MAX. */
static const char *name_text(const X509_NAME *name, char buf[TEXT_MAX + 4])
{
    BIO *bio = BIO_new(BIO_s_mem());
    int n = -1;
    if (bio && X509_NAME_print_ex(bio, name, 0, XN_FLAG_RFC2253) >= 0)
        n = BIO_read(bio, buf, TEXT_MAX);
    BIO_free(bio);
    if (n < 0)
        n = 0;
    buf[n] = '\0';
    if (n == TEXT_MAX)
        memcpy(buf + n, "...", 4);
    return buf;
}

/*
 * Writes a non-negative INTEGER of at most SS_TSP_SERIAL_MAX bytes as
 * lowercase hex without leading zeros ("0" for zero); false otherwise.
 */
static bool integer_hex(const ASN1_INTEGER *v, char out[2 * SS_TSP_SERIAL_MAX + 1])
{
    static const char digits[] = "0123456789abcdef";
    if (!v || ASN1_STRING_type(v) != V_ASN1_INTEGER)
        return false;
    const unsigned char *p = ASN1_STRING_get0_data(v);
    int len = ASN1_STRING_length(v);
    while (len > 0 && *p == 0) {
        p++;
        len--;
    }
    if (len > SS_TSP_SERIAL_MAX)
        return false;
    size_t n = 0;
    for (int i = 0; i < len; i++) {
        if (n > 0 || p[i] >> 4)
            out[n++] = digits[p[i] >> 4];
        out[n++] = digits[p[i] & 15];
    }
    if (n == 0)
        out[n++] = '0';
    out[n] = '\0';
    return true;
}

/* A statusString or name sent by the TSA, reduced to printable ASCII. */
static void clean_text(const unsigned char *in, int len, char *out, size_t size)
{
    size_t n = 0;
    for (int i = 0; i < len && n + 1 < size; i++)
        out[n++] = (in[i] >= 0x20 && in[i] < 0x7f) ? (char)in[i] : '?';
    out[n] = '\0';
}

static const char *status_name(long status)
{
    static const char *const names[] = {"granted", "grantedWithMods",   "rejection",
                                        "waiting", "revocationWarning", "revocationNotification"};
    return status >= 0 && status < 6 ? names[status] : "unknown";
}

/* The refusal for a TimeStampResp whose status is not granted. */
static ss_error status_refusal(const TS_STATUS_INFO *si, long status)
{
    static const struct {
        int bit;
        const char *name;
    } failures[] = {
        {TS_INFO_BAD_ALG, "badAlg"},
        {TS_INFO_BAD_REQUEST, "badRequest"},
        {TS_INFO_BAD_DATA_FORMAT, "badDataFormat"},
        {TS_INFO_TIME_NOT_AVAILABLE, "timeNotAvailable"},
        {TS_INFO_UNACCEPTED_POLICY, "unacceptedPolicy"},
        {TS_INFO_UNACCEPTED_EXTENSION, "unacceptedExtension"},
        {TS_INFO_ADD_INFO_NOT_AVAILABLE, "addInfoNotAvailable"},
        {TS_INFO_SYSTEM_FAILURE, "systemFailure"},
    };
    char fail[160] = "";
    size_t used = 0;
    const ASN1_BIT_STRING *bits = TS_STATUS_INFO_get0_failure_info(si);
    for (size_t i = 0; bits && i < sizeof failures / sizeof failures[0]; i++) {
        if (ASN1_BIT_STRING_get_bit(bits, failures[i].bit)) {
            int w = snprintf(fail + used, sizeof fail - used, "%s%s", used ? "," : ", failInfo ",
                             failures[i].name);
            if (w > 0 && (size_t)w < sizeof fail - used)
                used += (size_t)w;
        }
    }
    char text[TEXT_MAX] = "";
    const STACK_OF(ASN1_UTF8STRING) *strings = TS_STATUS_INFO_get0_text(si);
    if (sk_ASN1_UTF8STRING_num(strings) > 0) {
        const ASN1_UTF8STRING *s = sk_ASN1_UTF8STRING_value(strings, 0);
        clean_text(ASN1_STRING_get0_data(s), ASN1_STRING_length(s), text, sizeof text);
    }
    return ss_errf(SS_ERR_UPSTREAM, "TSA did not grant the timestamp: status %ld (%s)%s%s%s%s",
                   status, status_name(status), fail, text[0] ? ", \"" : "", text,
                   text[0] ? "\"" : "");
}

/*
 * RFC 3161 section 2.3: the TSA certificate has exactly one extended key
 * usage, id-kp-timeStamping, in a critical extension.
 */
static bool timestamping_eku(const X509 *x)
{
    int critical = -1;
    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(x, NID_ext_key_usage, &critical, NULL);
    bool ok = eku && critical == 1 && sk_ASN1_OBJECT_num(eku) == 1 &&
              OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, 0)) == NID_time_stamp;
    EXTENDED_KEY_USAGE_free(eku);
    return ok;
}

/* The imprint must be SHA-256 (parameters absent or NULL) over digest. */
static ss_error check_imprint(const TS_TST_INFO *tst, const uint8_t digest[32])
{
    TS_MSG_IMPRINT *imprint = TS_TST_INFO_get_msg_imprint((TS_TST_INFO *)(uintptr_t)tst);
    X509_ALGOR *alg = imprint ? TS_MSG_IMPRINT_get_algo(imprint) : NULL;
    ASN1_OCTET_STRING *md = imprint ? TS_MSG_IMPRINT_get_msg(imprint) : NULL;
    if (!alg || !md)
        return ss_errf(SS_ERR_PROTOCOL, "token has no message imprint");
    const ASN1_OBJECT *oid = NULL;
    int param_type = V_ASN1_UNDEF;
    X509_ALGOR_get0(&oid, &param_type, NULL, alg);
    if (OBJ_obj2nid(oid) != NID_sha256)
        return ss_errf(SS_ERR_PROTOCOL, "token imprint algorithm is not SHA-256");
    if (param_type != V_ASN1_UNDEF && param_type != V_ASN1_NULL)
        return ss_errf(SS_ERR_PROTOCOL, "token imprint algorithm has parameters");
    if (ASN1_STRING_length(md) != 32 || memcmp(ASN1_STRING_get0_data(md), digest, 32) != 0)
        return ss_errf(SS_ERR_PROTOCOL, "token is over another digest than the one requested");
    return SS_OK;
}

static ss_error check_nonce(const TS_TST_INFO *tst, const uint8_t *nonce, size_t nonce_len)
{
    const ASN1_INTEGER *got = TS_TST_INFO_get_nonce(tst);
    if (!got)
        return ss_errf(SS_ERR_PROTOCOL, "token carries no nonce, but the request had one");
    BIGNUM *want = BN_bin2bn(nonce, (int)nonce_len, NULL);
    BIGNUM *have = ASN1_INTEGER_to_BN(got, NULL);
    ss_error result = SS_OK;
    if (!want || !have)
        result = ss_errf(SS_ERR_NOMEM, "out of memory");
    else if (BN_cmp(want, have) != 0)
        result = ss_errf(SS_ERR_PROTOCOL, "token nonce differs from the request's (a replay?)");
    BN_free(want);
    BN_free(have);
    return result;
}

/* genTime as time_t (GeneralizedTime, UTC; fractions of seconds dropped). */
static ss_error gen_time(const TS_TST_INFO *tst, time_t *out)
{
    const ASN1_GENERALIZEDTIME *t = TS_TST_INFO_get_time(tst);
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!t || ASN1_STRING_type(t) != V_ASN1_GENERALIZEDTIME || !ASN1_TIME_to_tm(t, &tm))
        return ss_errf(SS_ERR_PROTOCOL, "token genTime is missing or malformed");
    time_t v = timegm(&tm);
    if (v == (time_t)-1)
        return ss_errf(SS_ERR_PROTOCOL, "token genTime is out of range");
    *out = v;
    return SS_OK;
}

/*
 * Which listed TSA the only SignerInfo names (by issuer and serial number);
 * sets *index and *cert (a new reference). Every listed certificate must
 * parse: the registry checked them, so a failure here is a broken caller.
 */
static ss_error find_tsa(PKCS7_SIGNER_INFO *si, const struct ss_tsp_authority *tsas, size_t n_tsas,
                         size_t *index, X509 **cert)
{
    const PKCS7_ISSUER_AND_SERIAL *ias = si->issuer_and_serial;
    if (!ias || !ias->issuer || !ias->serial)
        return ss_errf(SS_ERR_PROTOCOL, "token SignerInfo names no certificate");
    for (size_t i = 0; i < n_tsas; i++) {
        X509 *x = ss_certfile_x509(tsas[i].cert.der, tsas[i].cert.len);
        if (!x)
            return ss_errf(SS_ERR_BAD_CERTIFICATE, "certificate of listed TSA %zu does not parse",
                           i);
        if (X509_NAME_cmp(ias->issuer, X509_get_issuer_name(x)) == 0 &&
            ASN1_INTEGER_cmp(ias->serial, X509_get0_serialNumber(x)) == 0) {
            *index = i;
            *cert = x;
            return SS_OK;
        }
        X509_free(x);
    }
    char issuer[TEXT_MAX + 4], serial[2 * SS_TSP_SERIAL_MAX + 1];
    if (!integer_hex(ias->serial, serial))
        memcpy(serial, "?", 2);
    return ss_errf(SS_ERR_BAD_SIGNATURE,
                   "token is signed by a certificate of no listed TSA (issuer %s, serial %s)",
                   name_text(ias->issuer, issuer), serial);
}

/* The trust for one TSA: its CA certificates, or the pinned one alone. */
static ss_error tsa_store(const struct ss_tsp_authority *tsa, X509 *pinned, time_t at,
                          X509_STORE **out)
{
    X509_STORE *store = X509_STORE_new();
    if (!store)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < tsa->n_cas; i++) {
        X509 *ca = ss_certfile_x509(tsa->cas[i].der, tsa->cas[i].len);
        if (!ca) {
            X509_STORE_free(store);
            return ss_errf(SS_ERR_BAD_CERTIFICATE, "CA certificate %zu of the TSA does not parse",
                           i);
        }
        int ok = X509_STORE_add_cert(store, ca);
        X509_free(ca);
        if (!ok) {
            X509_STORE_free(store);
            return ss_errf(SS_ERR_CRYPTO, "cannot add a TSA CA certificate (%s)", ossl_reason());
        }
    }
    X509_VERIFY_PARAM *param = X509_STORE_get0_param(store);
    if (tsa->n_cas == 0 && (!X509_STORE_add_cert(store, pinned) ||
                            !X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_PARTIAL_CHAIN))) {
        X509_STORE_free(store);
        return ss_errf(SS_ERR_CRYPTO, "cannot trust the pinned TSA certificate (%s)",
                       ossl_reason());
    }
    /* the TSA certificate must have been valid when it signed */
    X509_VERIFY_PARAM_set_time(param, at);
    *out = store;
    return SS_OK;
}

/*
 * A TimeStampReq over digest (sha256 with NULL parameters, as `openssl ts
 * -query` writes it), with nonce when not NULL, certReq TRUE.
 */
static ss_error build_req(const uint8_t digest[32], const uint8_t *nonce, size_t nonce_len,
                          TS_REQ **out)
{
    ss_error result = SS_OK;
    TS_REQ *req = TS_REQ_new();
    TS_MSG_IMPRINT *imprint = TS_MSG_IMPRINT_new();
    X509_ALGOR *alg = X509_ALGOR_new();
    BIGNUM *bn = NULL;
    ASN1_INTEGER *nonce_int = NULL;
    if (nonce) {
        bn = BN_bin2bn(nonce, (int)nonce_len, NULL);
        nonce_int = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
    }
    if (!req || !imprint || !alg || (nonce && !nonce_int) ||
        !X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, NULL) ||
        !TS_MSG_IMPRINT_set_algo(imprint, alg) ||
        !TS_MSG_IMPRINT_set_msg(imprint, (unsigned char *)(uintptr_t)digest, 32) ||
        !TS_REQ_set_version(req, 1) || !TS_REQ_set_msg_imprint(req, imprint) ||
        (nonce_int && !TS_REQ_set_nonce(req, nonce_int)) || !TS_REQ_set_cert_req(req, 1)) {
        result = ss_errf(SS_ERR_NOMEM, "cannot build a TimeStampReq (%s)", ossl_reason());
        TS_REQ_free(req);
        req = NULL;
    }
    ASN1_INTEGER_free(nonce_int);
    BN_free(bn);
    X509_ALGOR_free(alg);
    TS_MSG_IMPRINT_free(imprint);
    *out = req;
    return result;
}

/*
 * Signature, ESS signing certificate, chain, version, imprint, nonce and
 * TSA name through OpenSSL's TS verifier, with the pinned certificate as
 * the only candidate signer (the SignerInfo names it, find_tsa made sure,
 * and certificates passed in are searched before those in the token).
 */
static ss_error check_signature(PKCS7 *token, X509 *pinned, const struct ss_tsp_authority *tsa,
                                time_t at, const uint8_t digest[32], const uint8_t *nonce,
                                size_t nonce_len)
{
    ss_error result = SS_OK;
    TS_REQ *req = NULL;
    TS_VERIFY_CTX *ctx = NULL;
    X509_STORE *store = NULL;
    STACK_OF(X509) *certs = NULL;

    if ((result = build_req(digest, nonce, nonce_len, &req)))
        goto out;
    if ((result = tsa_store(tsa, pinned, at, &store)))
        goto out;
    /* imprint with its algorithm, nonce if any, version, TSA name vs signer */
    ctx = TS_REQ_to_TS_VERIFY_CTX(req, NULL);
    certs = sk_X509_new_null();
    if (!ctx || !certs || !X509_up_ref(pinned)) {
        result = ss_errf(SS_ERR_NOMEM, "out of memory");
        goto out;
    }
    if (!sk_X509_push(certs, pinned)) {
        X509_free(pinned);
        result = ss_errf(SS_ERR_NOMEM, "out of memory");
        goto out;
    }
    TS_VERIFY_CTX_add_flags(ctx, TS_VFY_SIGNATURE);
    TS_VERIFY_CTX_set_certs(ctx, certs); /* the context owns what it is given */
    certs = NULL;
    TS_VERIFY_CTX_set_store(ctx, store);
    store = NULL;
    ERR_clear_error();
    if (TS_RESP_verify_token(ctx, token) != 1) {
        const char *why = ossl_reason(); /* before the queue is read */
        if (ossl_queue_has(ERR_LIB_TS, TS_R_CERTIFICATE_VERIFY_ERROR))
            result = ss_errf(SS_ERR_BAD_CERTIFICATE,
                             "TSA certificate is not valid for timestamping at genTime (%s)", why);
        else
            result = ss_errf(SS_ERR_BAD_SIGNATURE, "token signature does not verify (%s)", why);
    }
out:
    ERR_clear_error();
    sk_X509_pop_free(certs, X509_free);
    X509_STORE_free(store);
    TS_VERIFY_CTX_free(ctx);
    TS_REQ_free(req);
    return result;
}

/*
 * Verifies token (parsed from exactly bytes[0..len)) and fills *out. The
 * cheap checks (structure, imprint, nonce, which TSA) come before any
 * signature or chain work.
 */
static ss_error verify_token(const uint8_t *bytes, size_t len, PKCS7 *token,
                             const uint8_t digest[32], const uint8_t *nonce, size_t nonce_len,
                             const struct ss_tsp_authority *tsas, size_t n_tsas,
                             struct ss_tsp_token *out)
{
    ss_error result = SS_OK;
    TS_TST_INFO *tst = NULL;
    X509 *pinned = NULL;
    struct ss_tsp_token t;
    memset(&t, 0, sizeof t);

    if (!PKCS7_type_is_signed(token)) {
        result = ss_errf(SS_ERR_PROTOCOL, "token is not a CMS SignedData");
        goto out;
    }
    STACK_OF(PKCS7_SIGNER_INFO) *signers = PKCS7_get_signer_info(token);
    if (sk_PKCS7_SIGNER_INFO_num(signers) != 1) {
        result = ss_errf(SS_ERR_PROTOCOL, "token must have exactly one signer, has %d",
                         sk_PKCS7_SIGNER_INFO_num(signers));
        goto out;
    }
    tst = PKCS7_to_TS_TST_INFO(token);
    if (!tst) {
        result = ss_errf(SS_ERR_PROTOCOL, "token does not hold a TSTInfo (%s)", ossl_reason());
        goto out;
    }
    if (TS_TST_INFO_get_version(tst) != 1) {
        result = ss_errf(SS_ERR_PROTOCOL, "TSTInfo version %ld, expected 1",
                         TS_TST_INFO_get_version(tst));
        goto out;
    }
    if ((result = check_imprint(tst, digest)))
        goto out;
    if (nonce && (result = check_nonce(tst, nonce, nonce_len)))
        goto out;
    if ((result = gen_time(tst, &t.gen_time)))
        goto out;
    if (!integer_hex(TS_TST_INFO_get_serial(tst), t.serial)) {
        result =
            ss_errf(SS_ERR_PROTOCOL, "token serial number is missing, negative or over %d bytes",
                    SS_TSP_SERIAL_MAX);
        goto out;
    }
    if ((result = find_tsa(sk_PKCS7_SIGNER_INFO_value(signers, 0), tsas, n_tsas, &t.tsa, &pinned)))
        goto out;
    if (!timestamping_eku(pinned)) {
        result = ss_errf(SS_ERR_BAD_CERTIFICATE,
                         "certificate of listed TSA %zu lacks the critical extended key usage "
                         "timeStamping (as its only one)",
                         t.tsa);
        goto out;
    }
    if ((result =
             check_signature(token, pinned, &tsas[t.tsa], t.gen_time, digest, nonce, nonce_len)))
        goto out;
    t.der = malloc(len);
    if (!t.der) {
        result = ss_errf(SS_ERR_NOMEM, "out of memory");
        goto out;
    }
    memcpy(t.der, bytes, len);
    t.len = len;
    *out = t;
out:
    ERR_clear_error();
    X509_free(pinned);
    TS_TST_INFO_free(tst);
    return result;
}

static ss_error check_args(const uint8_t *in, size_t len, const uint8_t *nonce, size_t nonce_len,
                           const struct ss_tsp_authority *tsas, size_t n_tsas)
{
    if (!tsas || n_tsas == 0)
        return ss_errf(SS_ERR_INTERNAL, "no TSA to verify a timestamp against");
    if (nonce && (nonce_len == 0 || nonce_len > SS_TSP_NONCE_MAX))
        return ss_errf(SS_ERR_INTERNAL, "a nonce has 1 to %d bytes, not %zu", SS_TSP_NONCE_MAX,
                       nonce_len);
    if (len > SS_TSP_RESPONSE_MAX)
        return ss_errf(SS_ERR_TOO_LARGE, "timestamp larger than %d bytes", SS_TSP_RESPONSE_MAX);
    if (!in || len == 0)
        return ss_errf(SS_ERR_PROTOCOL, "timestamp is empty");
    return SS_OK;
}

ss_error ss_tsp_verify_token(const uint8_t *bytes, size_t len, const uint8_t digest[32],
                             const uint8_t *nonce, size_t nonce_len,
                             const struct ss_tsp_authority *tsas, size_t n_tsas,
                             struct ss_tsp_token *out)
{
    memset(out, 0, sizeof *out);
    ss_error result = check_args(bytes, len, nonce, nonce_len, tsas, n_tsas);
    if (result)
        return result;
    const unsigned char *p = bytes;
    PKCS7 *token = d2i_PKCS7(NULL, &p, (long)len);
    if (!token || p != bytes + len)
        result = ss_errf(SS_ERR_PROTOCOL, "not exactly one DER TimeStampToken");
    else
        result = verify_token(bytes, len, token, digest, nonce, nonce_len, tsas, n_tsas, out);
    ERR_clear_error();
    PKCS7_free(token);
    return result;
}

ss_error ss_tsp_verify(const uint8_t *bytes, size_t len, const uint8_t digest[32],
                       const uint8_t *nonce, size_t nonce_len, const struct ss_tsp_authority *tsas,
                       size_t n_tsas, struct ss_tsp_token *out)
{
    memset(out, 0, sizeof *out);
    ss_error result = check_args(bytes, len, nonce, nonce_len, tsas, n_tsas);
    if (result)
        return result;
    TS_RESP *resp = NULL;
    PKCS7 *token = NULL;
    const unsigned char *p = bytes;
    resp = d2i_TS_RESP(NULL, &p, (long)len);
    if (!resp || p != bytes + len) {
        result = ss_errf(SS_ERR_PROTOCOL, "not exactly one DER TimeStampResp");
        goto out;
    }
    const TS_STATUS_INFO *si = TS_RESP_get_status_info(resp);
    long status = ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(si));
    if (status != TS_STATUS_GRANTED && status != TS_STATUS_GRANTED_WITH_MODS) {
        result = status_refusal(si, status);
        goto out;
    }
    /*
     * The token's own bytes, to verify and to keep: the response is
     * SEQUENCE { PKIStatusInfo, TimeStampToken }. d2i_TS_RESP has checked
     * the structure, so this walk only measures it.
     */
    long content_len = 0;
    int tag = 0, xclass = 0;
    p = bytes;
    int ret = ASN1_get_object(&p, &content_len, &tag, &xclass, (long)len);
    TS_STATUS_INFO *skipped = NULL;
    if (!(ret & 0x80) && tag == V_ASN1_SEQUENCE)
        skipped = d2i_TS_STATUS_INFO(NULL, &p, (long)len - (p - bytes));
    const unsigned char *start = p;
    if (skipped)
        token = d2i_PKCS7(NULL, &p, (long)len - (p - bytes));
    TS_STATUS_INFO_free(skipped);
    if (!token) {
        result = ss_errf(SS_ERR_PROTOCOL, "TimeStampResp holds no token");
        goto out;
    }
    result = verify_token(start, (size_t)(p - start), token, digest, nonce, nonce_len, tsas, n_tsas,
                          out);
out:
    ERR_clear_error();
    PKCS7_free(token);
    TS_RESP_free(resp);
    return result;
}

ss_error ss_tsp_request(const uint8_t digest[32], uint8_t nonce[SS_TSP_NONCE_LEN], uint8_t **der,
                        size_t *len)
{
    ss_error result = SS_OK;
    TS_REQ *req = NULL;
    unsigned char *encoded = NULL;
    *der = NULL;
    *len = 0;

    if (RAND_bytes(nonce, SS_TSP_NONCE_LEN) != 1) {
        result = ss_errf(SS_ERR_CRYPTO, "no random nonce (%s)", ossl_reason());
        goto out;
    }
    if ((result = build_req(digest, nonce, SS_TSP_NONCE_LEN, &req)))
        goto out;
    int n = i2d_TS_REQ(req, &encoded);
    if (n <= 0) {
        result = ss_errf(SS_ERR_CRYPTO, "cannot encode a TimeStampReq (%s)", ossl_reason());
        goto out;
    }
    *der = malloc((size_t)n);
    if (!*der) {
        result = ss_errf(SS_ERR_NOMEM, "out of memory");
        goto out;
    }
    memcpy(*der, encoded, (size_t)n);
    *len = (size_t)n;
out:
    ERR_clear_error();
    OPENSSL_free(encoded);
    TS_REQ_free(req);
    return result;
}

void ss_tsp_token_cleanup(struct ss_tsp_token *t)
{
    if (!t)
        return;
    free(t->der);
    memset(t, 0, sizeof *t);
}
