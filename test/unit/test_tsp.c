/*
 * Unit tests of RFC 3161 timestamps (secsrv/msglog/tsp.c) with the test
 * PKI. Responses are made in-process with OpenSSL's TS_RESP_CTX from the
 * PKI's tsa.key/tsa.pem, and for the negative cases with other keys:
 * certificates made here (another TSA of the federation, a rogue TSA, a
 * look-alike with the listed TSA's issuer and serial, a TSA whose EKU is not
 * critical) and the registry authority's, which has no timeStamping EKU
 * (TS_RESP_CTX refuses such signers, so those tokens are signed with CMS).
 * Stock openssl must interoperate both ways: a reply of `openssl ts -reply`
 * verifies here, and the token we keep verifies with `openssl ts -verify`.
 *
 * Needs SS_TEST_PKI (deploy/pki.sh) and the openssl command.
 */
#include "test/unit/support/certs.h"
#include "tsp.h"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <setjmp.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define TEST_POLICY "2.25.186917434622349591339196620938924350722"
#define MAX_TEMP_FILES 16

struct blob {
    uint8_t *data;
    size_t len;
};

/* A certificate with its key and DER. */
struct signer {
    X509 *cert;
    EVP_PKEY *key;
    struct blob der;
};

struct fixture {
    char pki[512];
    char tmp[64];
    char *temp_files[MAX_TEMP_FILES];
    size_t n_temp_files;
    struct signer tsa;          /* tsa.pem, the listed TSA */
    struct signer intermediate; /* intermediate-ca.pem */
    struct signer root;         /* root-ca.pem (certificate only) */
    struct signer rogue_ca;     /* rogue/rogue-ca.pem */
    struct signer authority;    /* registry-authority.pem: no timeStamping EKU */
    struct signer other_tsa;    /* made here: a second TSA of the federation */
    struct signer rogue_tsa;    /* made here: a TSA under the rogue CA */
    struct signer lookalike;    /* made here: the listed TSA's issuer DN and serial */
    struct signer noncritical;  /* made here: timeStamping EKU, not critical */
    STACK_OF(X509) * chain;     /* intermediate and root, for tokens */
    struct ss_tsp_cert cas[2];  /* intermediate and root, for the verifier */
    struct ss_tsp_authority listed;
    uint8_t digest[32];
    uint64_t serial;
};

static struct fixture *F;

/* ---- helpers ---- */

static void pki_path(char *out, size_t size, const char *rel)
{
    int r = snprintf(out, size, "%s/%s", F->pki, rel);
    assert_true(r > 0 && (size_t)r < size);
}

/* A path in the temporary directory, removed at teardown. */
static const char *temp_path(const char *name)
{
    assert_true(F->n_temp_files < MAX_TEMP_FILES);
    char path[256];
    int r = snprintf(path, sizeof path, "%s/%s", F->tmp, name);
    assert_true(r > 0 && (size_t)r < sizeof path);
    for (size_t i = 0; i < F->n_temp_files; i++)
        if (strcmp(F->temp_files[i], path) == 0)
            return F->temp_files[i];
    F->temp_files[F->n_temp_files] = strdup(path);
    assert_non_null(F->temp_files[F->n_temp_files]);
    return F->temp_files[F->n_temp_files++];
}

static void cert_der(X509 *x, struct blob *out)
{
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    assert_true(n > 0);
    out->data = malloc((size_t)n);
    assert_non_null(out->data);
    memcpy(out->data, der, (size_t)n);
    out->len = (size_t)n;
    OPENSSL_free(der);
}

static void load_signer(struct signer *s, const char *cert_rel, const char *key_rel)
{
    char path[1024];
    pki_path(path, sizeof path, cert_rel);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    s->cert = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(s->cert);
    cert_der(s->cert, &s->der);
    if (!key_rel)
        return;
    pki_path(path, sizeof path, key_rel);
    f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    s->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(s->key);
}

static void signer_cleanup(struct signer *s)
{
    X509_free(s->cert);
    EVP_PKEY_free(s->key);
    free(s->der.data);
}

/*
 * A leaf certificate for cn issued by issuer (issuer NULL: a self-signed CA
 * with subject issuer_dn), valid from an hour ago for a day, with the given
 * extendedKeyUsage value (NULL: none). serial NULL: a random one.
 */
static void make_signer(struct signer *s, const struct signer *issuer, const char *cn,
                        const char *eku, const ASN1_INTEGER *serial)
{
    s->key = EVP_EC_gen("P-256");
    assert_non_null(s->key);
    s->cert = X509_new();
    assert_non_null(s->cert);
    assert_int_equal(X509_set_version(s->cert, 2), 1);
    if (serial) {
        assert_int_equal(X509_set_serialNumber(s->cert, (ASN1_INTEGER *)(uintptr_t)serial), 1);
    } else {
        unsigned char rnd[16];
        assert_int_equal(RAND_bytes(rnd, sizeof rnd), 1);
        rnd[0] &= 0x7f;
        BIGNUM *bn = BN_bin2bn(rnd, sizeof rnd, NULL);
        assert_non_null(bn);
        assert_non_null(BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(s->cert)));
        BN_free(bn);
    }
    X509_NAME *name = X509_NAME_new();
    assert_non_null(name);
    assert_int_equal(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                                (const unsigned char *)"secsrv test_tsp", -1, -1,
                                                0),
                     1);
    assert_int_equal(
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0),
        1);
    assert_int_equal(X509_set_subject_name(s->cert, name), 1);
    X509_NAME_free(name);
    assert_int_equal(
        X509_set_issuer_name(s->cert, X509_get_subject_name(issuer ? issuer->cert : s->cert)), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(s->cert), -3600));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(s->cert), 86400));
    assert_int_equal(X509_set_pubkey(s->cert, s->key), 1);
    X509 *issuer_cert = issuer ? issuer->cert : s->cert;
    if (issuer) {
        ss_test_add_ext(s->cert, issuer_cert, NID_basic_constraints, "CA:FALSE");
        ss_test_add_ext(s->cert, issuer_cert, NID_key_usage,
                        "critical,digitalSignature,nonRepudiation");
    } else {
        ss_test_add_ext(s->cert, issuer_cert, NID_basic_constraints, "critical,CA:TRUE");
        ss_test_add_ext(s->cert, issuer_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
    }
    if (eku)
        ss_test_add_ext(s->cert, issuer_cert, NID_ext_key_usage, eku);
    ss_test_add_ext(s->cert, issuer_cert, NID_subject_key_identifier, "hash");
    if (issuer)
        ss_test_add_ext(s->cert, issuer_cert, NID_authority_key_identifier, "keyid:always");
    assert_true(X509_sign(s->cert, issuer ? issuer->key : s->key, EVP_sha256()) > 0);
    cert_der(s->cert, &s->der);
}

/* The DER of a TimeStampReq over digest with the imprint algorithm md,
 * with a nonce when nonce is not NULL, certReq TRUE. */
static void make_request(const uint8_t *digest, size_t digest_len, const EVP_MD *md,
                         const uint8_t *nonce, size_t nonce_len, struct blob *out)
{
    TS_REQ *req = TS_REQ_new();
    TS_MSG_IMPRINT *imprint = TS_MSG_IMPRINT_new();
    X509_ALGOR *alg = X509_ALGOR_new();
    assert_true(req && imprint && alg);
    assert_int_equal(X509_ALGOR_set0(alg, OBJ_nid2obj(EVP_MD_get_type(md)), V_ASN1_NULL, NULL), 1);
    assert_int_equal(TS_MSG_IMPRINT_set_algo(imprint, alg), 1);
    assert_int_equal(
        TS_MSG_IMPRINT_set_msg(imprint, (unsigned char *)(uintptr_t)digest, (int)digest_len), 1);
    assert_int_equal(TS_REQ_set_version(req, 1), 1);
    assert_int_equal(TS_REQ_set_msg_imprint(req, imprint), 1);
    if (nonce) {
        BIGNUM *bn = BN_bin2bn(nonce, (int)nonce_len, NULL);
        ASN1_INTEGER *n = BN_to_ASN1_INTEGER(bn, NULL);
        assert_non_null(n);
        assert_int_equal(TS_REQ_set_nonce(req, n), 1);
        ASN1_INTEGER_free(n);
        BN_free(bn);
    }
    assert_int_equal(TS_REQ_set_cert_req(req, 1), 1);
    unsigned char *der = NULL;
    int n = i2d_TS_REQ(req, &der);
    assert_true(n > 0);
    out->data = malloc((size_t)n);
    assert_non_null(out->data);
    memcpy(out->data, der, (size_t)n);
    out->len = (size_t)n;
    OPENSSL_free(der);
    X509_ALGOR_free(alg);
    TS_MSG_IMPRINT_free(imprint);
    TS_REQ_free(req);
}

static ASN1_INTEGER *next_serial(TS_RESP_CTX *ctx, void *data)
{
    (void)ctx;
    (void)data;
    ASN1_INTEGER *serial = ASN1_INTEGER_new();
    if (serial && !ASN1_INTEGER_set_uint64(serial, ++F->serial)) {
        ASN1_INTEGER_free(serial);
        return NULL;
    }
    return serial;
}

static int shifted_time(TS_RESP_CTX *ctx, void *data, long *sec, long *usec)
{
    (void)ctx;
    *sec = (long)(time(NULL) + *(const long *)data);
    *usec = 0;
    return 1;
}

/* A TS_RESP for req made by TS_RESP_CTX with signer s, which grants SHA-256
 * imprints (and SHA-512 ones if sha512); the time is shifted by *shift
 * seconds when shift is not NULL. */
static TS_RESP *respond_resp(const struct blob *req, const struct signer *s, const long *shift,
                             bool sha512)
{
    TS_RESP_CTX *ctx = TS_RESP_CTX_new();
    assert_non_null(ctx);
    assert_int_equal(TS_RESP_CTX_set_signer_cert(ctx, s->cert), 1);
    assert_int_equal(TS_RESP_CTX_set_signer_key(ctx, s->key), 1);
    assert_int_equal(TS_RESP_CTX_set_certs(ctx, F->chain), 1);
    ASN1_OBJECT *policy = OBJ_txt2obj(TEST_POLICY, 1);
    assert_non_null(policy);
    assert_int_equal(TS_RESP_CTX_set_def_policy(ctx, policy), 1);
    ASN1_OBJECT_free(policy);
    assert_int_equal(TS_RESP_CTX_add_md(ctx, EVP_sha256()), 1);
    if (sha512)
        assert_int_equal(TS_RESP_CTX_add_md(ctx, EVP_sha512()), 1);
    assert_int_equal(TS_RESP_CTX_set_signer_digest(ctx, EVP_sha256()), 1);
    assert_int_equal(TS_RESP_CTX_set_ess_cert_id_digest(ctx, EVP_sha256()), 1);
    assert_int_equal(TS_RESP_CTX_set_accuracy(ctx, 1, 0, 0), 1);
    TS_RESP_CTX_add_flags(ctx, TS_TSA_NAME);
    TS_RESP_CTX_set_serial_cb(ctx, next_serial, NULL);
    if (shift)
        TS_RESP_CTX_set_time_cb(ctx, shifted_time, (void *)(uintptr_t)shift);
    BIO *in = BIO_new_mem_buf(req->data, (int)req->len);
    assert_non_null(in);
    TS_RESP *resp = TS_RESP_create_response(ctx, in);
    assert_non_null(resp);
    BIO_free(in);
    TS_RESP_CTX_free(ctx);
    return resp;
}

static void resp_der(TS_RESP *resp, struct blob *out)
{
    unsigned char *der = NULL;
    int n = i2d_TS_RESP(resp, &der);
    assert_true(n > 0);
    out->data = malloc((size_t)n);
    assert_non_null(out->data);
    memcpy(out->data, der, (size_t)n);
    out->len = (size_t)n;
    OPENSSL_free(der);
}

static void respond(const struct blob *req, const struct signer *s, struct blob *out)
{
    TS_RESP *resp = respond_resp(req, s, NULL, false);
    resp_der(resp, out);
    TS_RESP_free(resp);
}

/* The token of a DER TimeStampResp, re-encoded. */
static void token_of(const struct blob *resp, struct blob *out)
{
    const unsigned char *p = resp->data;
    TS_RESP *r = d2i_TS_RESP(NULL, &p, (long)resp->len);
    assert_non_null(r);
    assert_non_null(TS_RESP_get_token(r));
    unsigned char *der = NULL;
    int n = i2d_PKCS7(TS_RESP_get_token(r), &der);
    assert_true(n > 0);
    out->data = malloc((size_t)n);
    assert_non_null(out->data);
    memcpy(out->data, der, (size_t)n);
    out->len = (size_t)n;
    OPENSSL_free(der);
    TS_RESP_free(r);
}

/* A fresh request of ours over F->digest and the response of s to it. */
static void fresh(const struct signer *s, uint8_t nonce[SS_TSP_NONCE_LEN], struct blob *resp)
{
    struct blob req = {0};
    assert_int_equal(ss_tsp_request(F->digest, nonce, &req.data, &req.len), SS_OK);
    respond(&req, s, resp);
    free(req.data);
}

/*
 * A token with the TSTInfo of a good one, but signed with CMS (ESS
 * signingCertificateV2 included, as CAdES) by cert/key: TS_RESP_CTX
 * refuses signers without the critical timeStamping EKU.
 */
static void cms_token(const struct signer *s, struct blob *out)
{
    uint8_t nonce[SS_TSP_NONCE_LEN];
    struct blob req = {0};
    assert_int_equal(ss_tsp_request(F->digest, nonce, &req.data, &req.len), SS_OK);
    TS_RESP *resp = respond_resp(&req, &F->tsa, NULL, false);
    unsigned char *tst = NULL;
    int tst_len = i2d_TS_TST_INFO(TS_RESP_get_tst_info(resp), &tst);
    assert_true(tst_len > 0);
    BIO *content = BIO_new_mem_buf(tst, tst_len);
    assert_non_null(content);
    unsigned flags = CMS_BINARY | CMS_PARTIAL | CMS_NOSMIMECAP;
    CMS_ContentInfo *cms = CMS_sign(NULL, NULL, F->chain, NULL, flags);
    assert_non_null(cms);
    assert_int_equal(CMS_set1_eContentType(cms, OBJ_nid2obj(NID_id_smime_ct_TSTInfo)), 1);
    assert_non_null(CMS_add1_signer(cms, s->cert, s->key, EVP_sha256(), flags | CMS_CADES));
    assert_int_equal(CMS_final(cms, content, NULL, CMS_BINARY), 1);
    unsigned char *der = NULL;
    int n = i2d_CMS_ContentInfo(cms, &der);
    assert_true(n > 0);
    out->data = malloc((size_t)n);
    assert_non_null(out->data);
    memcpy(out->data, der, (size_t)n);
    out->len = (size_t)n;
    OPENSSL_free(der);
    CMS_ContentInfo_free(cms);
    BIO_free(content);
    OPENSSL_free(tst);
    TS_RESP_free(resp);
    free(req.data);
}

static struct ss_tsp_authority authority_of(const struct signer *s)
{
    struct ss_tsp_authority a = {{s->der.data, s->der.len}, F->cas, 2};
    return a;
}

static ss_error verify(const struct blob *resp, const uint8_t *nonce,
                       const struct ss_tsp_authority *tsas, size_t n, struct ss_tsp_token *out)
{
    return ss_tsp_verify(resp->data, resp->len, F->digest, nonce, nonce ? SS_TSP_NONCE_LEN : 0,
                         tsas, n, out);
}

/* Expects a refusal with code and a reason containing needle. */
static void expect_refusal(ss_error got, ss_error code, const char *needle,
                           const struct ss_tsp_token *out)
{
    if (got != code)
        fail_msg("expected %s, got %s: %s", ss_error_name(code), ss_error_name(got), ss_errmsg());
    if (needle && !strstr(ss_errmsg(), needle))
        fail_msg("reason \"%s\" does not mention \"%s\"", ss_errmsg(), needle);
    assert_null(out->der);
    assert_int_equal(out->len, 0);
}

static void write_file(const char *path, const struct blob *b)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(b->data, 1, b->len, f), b->len);
    assert_int_equal(fclose(f), 0);
}

static void read_file(const char *path, struct blob *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    out->data = malloc(SS_TSP_RESPONSE_MAX);
    assert_non_null(out->data);
    out->len = fread(out->data, 1, SS_TSP_RESPONSE_MAX, f);
    fclose(f);
    assert_true(out->len > 0);
}

/* Runs an openssl command line (paths single-quoted by the caller);
 * returns its exit status, showing its output when it fails. */
static int run(const char *fmt, ...) SS_PRINTF(1, 2);
static int run(const char *fmt, ...)
{
    char cmd[4096];
    const char *log = temp_path("openssl.log");
    va_list ap;
    va_start(ap, fmt);
    cmd[0] = '(';
    int n = vsnprintf(cmd + 1, sizeof cmd - 1, fmt, ap);
    va_end(ap);
    assert_true(n > 0 && (size_t)n < sizeof cmd - 300);
    snprintf(cmd + 1 + n, sizeof cmd - 1 - (size_t)n, ") >'%s' 2>&1", log);
    int status = system(cmd);
    int code = (status != -1 && WIFEXITED(status)) ? WEXITSTATUS(status) : -1;
    if (code != 0) {
        fprintf(stderr, "command exited %d: %s\n", code, cmd);
        FILE *f = fopen(log, "r");
        char line[512];
        while (f && fgets(line, sizeof line, f))
            fprintf(stderr, "  %s", line);
        if (f)
            fclose(f);
    }
    return code;
}

/* Where needle first occurs in hay, or NULL. */
static uint8_t *find(uint8_t *hay, size_t hay_len, const uint8_t *needle, size_t len)
{
    for (size_t i = 0; len <= hay_len && i <= hay_len - len; i++)
        if (memcmp(hay + i, needle, len) == 0)
            return hay + i;
    return NULL;
}

static void hex(const uint8_t *in, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++)
        snprintf(out + 2 * i, 3, "%02x", in[i]);
}

/* ---- requests ---- */

static void test_request_shape(void **state)
{
    (void)state;
    uint8_t nonce[SS_TSP_NONCE_LEN], nonce2[SS_TSP_NONCE_LEN];
    struct blob der = {0}, der2 = {0};
    assert_int_equal(ss_tsp_request(F->digest, nonce, &der.data, &der.len), SS_OK);
    assert_int_equal(ss_tsp_request(F->digest, nonce2, &der2.data, &der2.len), SS_OK);
    assert_memory_not_equal(nonce, nonce2, SS_TSP_NONCE_LEN);

    const unsigned char *p = der.data;
    TS_REQ *req = d2i_TS_REQ(NULL, &p, (long)der.len);
    assert_non_null(req);
    assert_ptr_equal(p, der.data + der.len);
    assert_int_equal(TS_REQ_get_version(req), 1);
    assert_int_equal(TS_REQ_get_cert_req(req), 1);
    assert_null(TS_REQ_get_policy_id(req));
    assert_null(TS_REQ_get_exts(req));
    TS_MSG_IMPRINT *imprint = TS_REQ_get_msg_imprint(req);
    const ASN1_OBJECT *oid = NULL;
    X509_ALGOR_get0(&oid, NULL, NULL, TS_MSG_IMPRINT_get_algo(imprint));
    assert_int_equal(OBJ_obj2nid(oid), NID_sha256);
    ASN1_OCTET_STRING *msg = TS_MSG_IMPRINT_get_msg(imprint);
    assert_int_equal(ASN1_STRING_length(msg), 32);
    assert_memory_equal(ASN1_STRING_get0_data(msg), F->digest, 32);
    BIGNUM *want = BN_bin2bn(nonce, SS_TSP_NONCE_LEN, NULL);
    BIGNUM *got = ASN1_INTEGER_to_BN(TS_REQ_get_nonce(req), NULL);
    assert_non_null(want);
    assert_non_null(got);
    assert_int_equal(BN_cmp(want, got), 0);
    BN_free(want);
    BN_free(got);
    TS_REQ_free(req);
    free(der.data);
    free(der2.data);
}

/* ---- good responses and tokens ---- */

static void test_good_response(void **state)
{
    (void)state;
    uint8_t nonce[SS_TSP_NONCE_LEN];
    struct blob resp = {0}, token = {0};
    fresh(&F->tsa, nonce, &resp);
    struct ss_tsp_token out;
    time_t before = time(NULL);
    ss_error e = verify(&resp, nonce, &F->listed, 1, &out);
    if (e)
        fail_msg("%s: %s", ss_error_name(e), ss_errmsg());
    assert_true(out.gen_time >= before - 5 && out.gen_time <= time(NULL) + 5);
    char serial[32];
    snprintf(serial, sizeof serial, "%llx", (unsigned long long)F->serial);
    assert_string_equal(out.serial, serial);
    assert_int_equal(out.tsa, 0);
    /* the token's own bytes, exactly as they are in the response */
    token_of(&resp, &token);
    assert_int_equal(out.len, token.len);
    assert_memory_equal(out.der, token.data, token.len);
    assert_memory_equal(out.der, resp.data + resp.len - token.len, token.len);

    /* stored and read again: the bare token verifies, with or without nonce */
    struct ss_tsp_token again;
    e = ss_tsp_verify_token(out.der, out.len, F->digest, nonce, sizeof nonce, &F->listed, 1,
                            &again);
    if (e)
        fail_msg("%s: %s", ss_error_name(e), ss_errmsg());
    assert_int_equal(again.gen_time, out.gen_time);
    assert_string_equal(again.serial, out.serial);
    assert_memory_equal(again.der, out.der, out.len);
    ss_tsp_token_cleanup(&again);
    assert_null(again.der);
    assert_int_equal(
        ss_tsp_verify_token(out.der, out.len, F->digest, NULL, 0, &F->listed, 1, &again), SS_OK);
    ss_tsp_token_cleanup(&again);
    assert_int_equal(verify(&resp, NULL, &F->listed, 1, &again), SS_OK);
    ss_tsp_token_cleanup(&again);

    /* each function takes only its own form */
    expect_refusal(ss_tsp_verify(out.der, out.len, F->digest, NULL, 0, &F->listed, 1, &again),
                   SS_ERR_PROTOCOL, "TimeStampResp", &again);
    expect_refusal(
        ss_tsp_verify_token(resp.data, resp.len, F->digest, NULL, 0, &F->listed, 1, &again),
        SS_ERR_PROTOCOL, "TimeStampToken", &again);
    ss_tsp_token_cleanup(&out);
    ss_tsp_token_cleanup(&out); /* twice is fine */
    ss_tsp_token_cleanup(NULL);
    free(token.data);
    free(resp.data);
}

static void test_second_authority(void **state)
{
    (void)state;
    uint8_t nonce[SS_TSP_NONCE_LEN];
    struct blob resp = {0};
    fresh(&F->tsa, nonce, &resp);
    struct ss_tsp_authority two[2] = {authority_of(&F->other_tsa), F->listed};
    struct ss_tsp_token out;
    assert_int_equal(verify(&resp, nonce, two, 2, &out), SS_OK);
    assert_int_equal(out.tsa, 1);
    ss_tsp_token_cleanup(&out);
    free(resp.data);
    /* and the other one signs for itself */
    fresh(&F->other_tsa, nonce, &resp);
    assert_int_equal(verify(&resp, nonce, two, 2, &out), SS_OK);
    assert_int_equal(out.tsa, 0);
    ss_tsp_token_cleanup(&out);
    free(resp.data);
}

static void test_granted_with_mods(void **state)
{
    (void)state;
    uint8_t nonce[SS_TSP_NONCE_LEN];
    struct blob req = {0}, resp = {0};
    assert_int_equal(ss_tsp_request(F->digest, nonce, &req.data, &req.len), SS_OK);
    TS_RESP *r = respond_resp(&req, &F->tsa, NULL, false);
    assert_int_equal(
        TS_STATUS_INFO_set_status(TS_RESP_get_status_info(r), TS_STATUS_GRANTED_WITH_MODS), 1);
    resp_der(r, &resp);
    struct ss_tsp_token out;
    assert_int_equal(verify(&resp, nonce, &F->listed, 1, &out), SS_OK);
    ss_tsp_token_cleanup(&out);
    TS_RESP_free(r);
    free(resp.data);
    free(req.data);
}

/* Without CA certificates the pinned certificate is the trust anchor. */
static void test_pin_only(void **state)
{
    (void)state;
    uint8_t nonce[SS_TSP_NONCE_LEN];
    struct blob resp = {0};
    fresh(&F->tsa, nonce, &resp);
    struct ss_tsp_authority pin = {{F->tsa.der.data, F->tsa.der.len}, NULL, 0};
    struct ss_tsp_token out;
    assert_int_equal(verify(&resp, nonce, &pin, 1, &out), SS_OK);
    ss_tsp_token_cleanup(&out);
    free(resp.data);
}

/* ---- tokens that do not answer the request ---- */

static void test_wrong_digest(void **state)
{
    (void)state;
    uint8_t nonce[SS_TSP_NONCE_LEN], other[32];
    struct blob resp = {0};
    fresh(&F->tsa, nonce, &resp);
    memcpy(other, F->digest, 32);
    other[31] ^= 1;
    struct ss_tsp_token out;
    expect_refusal(
        ss_tsp_verify(resp.data, resp.len, other, nonce, sizeof nonce, &F->listed, 1, &out),
        SS_ERR_PROTOCOL, "digest", &out);
    free(resp.data);
}

static void test_imprint_not_sha256(void **state)
{
    (void)state;
    /* a SHA-512 imprint whose first 32 bytes are our digest */
    uint8_t long_digest[64];
    memcpy(long_digest, F->digest, 32);
    memset(long_digest + 32, 0xab, 32);
    uint8_t nonce[SS_TSP_NONCE_LEN] = {1, 2, 3};
    struct blob req = {0}, resp = {0};
    make_request(long_digest, 64, EVP_sha512(), nonce, sizeof nonce, &req);
    /* a TSA that grants it */
    TS_RESP *r = respond_resp(&req, &F->tsa, NULL, true);
    resp_der(r, &resp);
    TS_RESP_free(r);
    struct ss_tsp_token out;
    expect_refusal(verify(&resp, nonce, &F->listed, 1, &out), SS_ERR_PROTOCOL, "SHA-256", &out);
    free(resp.data);
    /* a TSA that grants SHA-256 only answers rejection, badAlg */
    respond(&req, &F->tsa, &resp);
    expect_refusal(verify(&resp, nonce, &F->listed, 1, &out), SS_ERR_UPSTREAM, "badAlg", &out);
    assert_non_null(strstr(ss_errmsg(), "rejection"));
    free(resp.data);
    free(req.data);
}

static void test_wrong_nonce(void **state)
{
    (void)state;
    uint8_t nonce[SS_TSP_NONCE_LEN];
    struct blob resp = {0};
    fresh(&F->tsa, nonce, &resp);
    nonce[5] ^= 0x40;
    struct ss_tsp_token out;
    expect_refusal(verify(&resp, nonce, &F->listed, 1, &out), SS_ERR_PROTOCOL, "nonce", &out);
    /* a nonce of other length but equal value is the same INTEGER */
    nonce[5] ^= 0x40;
    uint8_t padded[SS_TSP_NONCE_LEN + 2] = {0, 0};
    memcpy(padded + 2, nonce, sizeof nonce);
    assert_int_equal(
        ss_tsp_verify(resp.data, resp.len, F->digest, padded, sizeof padded, &F->listed, 1, &out),
        SS_OK);
    ss_tsp_token_cleanup(&out);
    free(resp.data);
}

static void test_missing_nonce(void **state)
{
    (void)state;
    uint8_t nonce[SS_TSP_NONCE_LEN] = {9, 9, 9};
    struct blob req = {0}, resp = {0};
    make_request(F->digest, 32, EVP_sha256(), NULL, 0, &req);
    respond(&req, &F->tsa, &resp);
    struct ss_tsp_token out;
    expect_refusal(verify(&resp, nonce, &F->listed, 1, &out), SS_ERR_PROTOCOL, "no nonce", &out);
    /* without a nonce to compare, the token is fine */
    assert_int_equal(verify(&resp, NULL, &F->listed, 1, &out), SS_OK);
    ss_tsp_token_cleanup(&out);
    free(resp.data);
    free(req.data);
}

/* ---- the TSA declines ---- */

static void test_status_rejection(void **state)
{
    (void)state;
    static const struct {
        uint8_t status;
        const char *name;
    } cases[] = {{TS_STATUS_REJECTION, "rejection"},
                 {TS_STATUS_WAITING, "waiting"},
                 {TS_STATUS_REVOCATION_NOTIFICATION, "revocationNotification"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* TimeStampResp { PKIStatusInfo { status, statusString { "try\nlater" },
         * failInfo timeNotAvailable (bit 14) } }, no token */
        uint8_t der[] = {0x30, 0x17, 0x30, 0x15, 0x02, 0x01, cases[i].status,
                         0x30, 0x0b, 0x0c, 0x09, 't',  'r',  'y',
                         '\n', 'l',  'a',  't',  'e',  'r',  0x03,
                         0x03, 0x01, 0x00, 0x02};
        struct blob resp = {der, sizeof der};
        struct ss_tsp_token out;
        expect_refusal(verify(&resp, NULL, &F->listed, 1, &out), SS_ERR_UPSTREAM, cases[i].name,
                       &out);
        assert_non_null(strstr(ss_errmsg(), "timeNotAvailable"));
        assert_non_null(strstr(ss_errmsg(), "\"try?later\"")); /* control character replaced */
    }
    /* granted, but no token: not a TimeStampResp */
    uint8_t granted[] = {0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x00};
    struct blob resp = {granted, sizeof granted};
    struct ss_tsp_token out;
    expect_refusal(verify(&resp, NULL, &F->listed, 1, &out), SS_ERR_PROTOCOL, NULL, &out);
}

/* ---- signers other than a listed TSA ---- */

static void test_other_federation_tsa(void **state)
{
    (void)state;
    uint8_t nonce[SS_TSP_NONCE_LEN];
    struct blob resp = {0};
    fresh(&F->other_tsa, nonce, &resp); /* valid chain and EKU, but not listed */
    struct ss_tsp_token out;
    expect_refusal(verify(&resp, nonce, &F->listed, 1, &out), SS_ERR_BAD_SIGNATURE, "no listed TSA",
                   &out);
    free(resp.data);
    /* the registry authority's key, with tsa.pem listed */
    struct blob token = {0};
    cms_token(&F->authority, &token);
    expect_refusal(
        ss_tsp_verify_token(token.data, token.len, F->digest, NULL, 0, &F->listed, 1, &out),
        SS_ERR_BAD_SIGNATURE, "no listed TSA", &out);
    free(token.data);
}

static void test_rogue_tsa(void **state)
{
    (void)state;
    uint8_t nonce[SS_TSP_NONCE_LEN];
    struct blob resp = {0};
    fresh(&F->rogue_tsa, nonce, &resp);
    struct ss_tsp_token out;
    expect_refusal(verify(&resp, nonce, &F->listed, 1, &out), SS_ERR_BAD_SIGNATURE, "no listed TSA",
                   &out);
    free(resp.data);
}

/* The listed TSA's issuer name and serial on a rogue certificate: the pin
 * holds because the listed certificate, not the token's, is the signer's. */
static void test_lookalike_tsa(void **state)
{
    (void)state;
    uint8_t nonce[SS_TSP_NONCE_LEN];
    struct blob resp = {0};
    fresh(&F->lookalike, nonce, &resp);
    struct ss_tsp_token out;
    expect_refusal(verify(&resp, nonce, &F->listed, 1, &out), SS_ERR_BAD_SIGNATURE,
                   "signature does not verify", &out);
    free(resp.data);
}

static void test_listed_without_eku(void **state)
{
    (void)state;
    struct blob token = {0};
    struct ss_tsp_token out;
    /* control: the CMS-made token of the real TSA verifies */
    cms_token(&F->tsa, &token);
    ss_error e =
        ss_tsp_verify_token(token.data, token.len, F->digest, NULL, 0, &F->listed, 1, &out);
    if (e)
        fail_msg("%s: %s", ss_error_name(e), ss_errmsg());
    ss_tsp_token_cleanup(&out);
    free(token.data);

    /* the registry authority's certificate has no EKU at all */
    struct ss_tsp_authority authority = authority_of(&F->authority);
    cms_token(&F->authority, &token);
    expect_refusal(
        ss_tsp_verify_token(token.data, token.len, F->digest, NULL, 0, &authority, 1, &out),
        SS_ERR_BAD_CERTIFICATE, "timeStamping", &out);
    free(token.data);

    /* a timeStamping EKU that is not critical */
    struct ss_tsp_authority noncritical = authority_of(&F->noncritical);
    cms_token(&F->noncritical, &token);
    expect_refusal(
        ss_tsp_verify_token(token.data, token.len, F->digest, NULL, 0, &noncritical, 1, &out),
        SS_ERR_BAD_CERTIFICATE, "timeStamping", &out);
    free(token.data);
}

/* The listed certificate must chain to the CAs given with it. */
static void test_wrong_ca(void **state)
{
    (void)state;
    uint8_t nonce[SS_TSP_NONCE_LEN];
    struct blob resp = {0};
    fresh(&F->tsa, nonce, &resp);
    struct ss_tsp_cert rogue = {F->rogue_ca.der.data, F->rogue_ca.der.len};
    struct ss_tsp_authority a = {{F->tsa.der.data, F->tsa.der.len}, &rogue, 1};
    struct ss_tsp_token out;
    expect_refusal(verify(&resp, nonce, &a, 1, &out), SS_ERR_BAD_CERTIFICATE, "genTime", &out);
    /* and a rogue TSA listed with the federation's CAs does not chain either */
    free(resp.data);
    fresh(&F->rogue_tsa, nonce, &resp);
    struct ss_tsp_authority r = authority_of(&F->rogue_tsa);
    expect_refusal(verify(&resp, nonce, &r, 1, &out), SS_ERR_BAD_CERTIFICATE, "genTime", &out);
    free(resp.data);
}

/* Certificates are checked as of genTime: a token dated after the TSA
 * certificate expired is refused. */
static void test_expired_at_gen_time(void **state)
{
    (void)state;
    uint8_t nonce[SS_TSP_NONCE_LEN];
    struct blob req = {0}, resp = {0};
    assert_int_equal(ss_tsp_request(F->digest, nonce, &req.data, &req.len), SS_OK);
    long shift = 4L * 366 * 86400; /* tsa.pem is valid for 1095 days */
    TS_RESP *r = respond_resp(&req, &F->tsa, &shift, false);
    resp_der(r, &resp);
    struct ss_tsp_token out;
    expect_refusal(verify(&resp, nonce, &F->listed, 1, &out), SS_ERR_BAD_CERTIFICATE, "expired",
                   &out);
    TS_RESP_free(r);
    free(resp.data);
    free(req.data);
}

/* ---- damaged input ---- */

static void test_tampered(void **state)
{
    (void)state;
    uint8_t nonce[SS_TSP_NONCE_LEN];
    struct blob resp = {0};
    fresh(&F->tsa, nonce, &resp);
    struct ss_tsp_token out;
    /* the signature value is the last element of the response */
    resp.data[resp.len - 1] ^= 0x01;
    expect_refusal(verify(&resp, nonce, &F->listed, 1, &out), SS_ERR_BAD_SIGNATURE, "signature",
                   &out);
    resp.data[resp.len - 1] ^= 0x01;
    assert_int_equal(verify(&resp, nonce, &F->listed, 1, &out), SS_OK);
    ss_tsp_token_cleanup(&out);
    /* the policy OID in TSTInfo (signed content) changed: its last byte */
    ASN1_OBJECT *policy = OBJ_txt2obj(TEST_POLICY, 1);
    assert_non_null(policy);
    unsigned char *oid = NULL;
    int oid_len = i2d_ASN1_OBJECT(policy, &oid);
    assert_true(oid_len > 2);
    uint8_t *at = find(resp.data, resp.len, oid, (size_t)oid_len);
    assert_non_null(at);
    at[oid_len - 1] ^= 0x01;
    OPENSSL_free(oid);
    ASN1_OBJECT_free(policy);
    expect_refusal(verify(&resp, nonce, &F->listed, 1, &out), SS_ERR_BAD_SIGNATURE, "signature",
                   &out);
    free(resp.data);
}

static void test_truncated(void **state)
{
    (void)state;
    uint8_t nonce[SS_TSP_NONCE_LEN];
    struct blob resp = {0}, token = {0};
    fresh(&F->tsa, nonce, &resp);
    token_of(&resp, &token);
    struct ss_tsp_token out;
    for (size_t n = 0; n < resp.len; n++)
        expect_refusal(
            ss_tsp_verify(resp.data, n, F->digest, nonce, sizeof nonce, &F->listed, 1, &out),
            SS_ERR_PROTOCOL, NULL, &out);
    for (size_t n = 0; n < token.len; n++)
        expect_refusal(
            ss_tsp_verify_token(token.data, n, F->digest, nonce, sizeof nonce, &F->listed, 1, &out),
            SS_ERR_PROTOCOL, NULL, &out);
    free(token.data);
    free(resp.data);
}

static void test_garbage(void **state)
{
    (void)state;
    static const uint8_t hello[] = "hello, TSA";
    static const uint8_t indefinite[] = {0x30, 0x80, 0x30, 0x80, 0x00, 0x00, 0x00, 0x00};
    static const uint8_t empty_seq[] = {0x30, 0x00};
    static const uint8_t huge_len[] = {0x30, 0x84, 0x7f, 0xff, 0xff, 0xff,
                                       0x30, 0x03, 0x02, 0x01, 0x00};
    const struct {
        const uint8_t *data;
        size_t len;
    } cases[] = {{hello, sizeof hello - 1},
                 {indefinite, sizeof indefinite},
                 {empty_seq, sizeof empty_seq},
                 {huge_len, sizeof huge_len}};
    struct ss_tsp_token out;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        expect_refusal(
            ss_tsp_verify(cases[i].data, cases[i].len, F->digest, NULL, 0, &F->listed, 1, &out),
            SS_ERR_PROTOCOL, NULL, &out);
        expect_refusal(ss_tsp_verify_token(cases[i].data, cases[i].len, F->digest, NULL, 0,
                                           &F->listed, 1, &out),
                       SS_ERR_PROTOCOL, NULL, &out);
    }
    uint8_t random[2048];
    assert_int_equal(RAND_bytes(random, sizeof random), 1);
    expect_refusal(ss_tsp_verify(random, sizeof random, F->digest, NULL, 0, &F->listed, 1, &out),
                   SS_ERR_PROTOCOL, NULL, &out);
    expect_refusal(ss_tsp_verify(NULL, 0, F->digest, NULL, 0, &F->listed, 1, &out), SS_ERR_PROTOCOL,
                   "empty", &out);
}

static void test_trailing_bytes(void **state)
{
    (void)state;
    uint8_t nonce[SS_TSP_NONCE_LEN];
    struct blob resp = {0}, token = {0};
    fresh(&F->tsa, nonce, &resp);
    token_of(&resp, &token);
    uint8_t *longer = malloc(resp.len + 1);
    assert_non_null(longer);
    memcpy(longer, resp.data, resp.len);
    longer[resp.len] = 0;
    struct ss_tsp_token out;
    expect_refusal(
        ss_tsp_verify(longer, resp.len + 1, F->digest, nonce, sizeof nonce, &F->listed, 1, &out),
        SS_ERR_PROTOCOL, "exactly one", &out);
    free(longer);
    longer = malloc(token.len + 2);
    assert_non_null(longer);
    memcpy(longer, token.data, token.len);
    longer[token.len] = 0;
    longer[token.len + 1] = 0;
    expect_refusal(ss_tsp_verify_token(longer, token.len + 2, F->digest, nonce, sizeof nonce,
                                       &F->listed, 1, &out),
                   SS_ERR_PROTOCOL, "exactly one", &out);
    free(longer);
    free(token.data);
    free(resp.data);
}

static void test_oversized(void **state)
{
    (void)state;
    uint8_t nonce[SS_TSP_NONCE_LEN];
    struct blob resp = {0};
    fresh(&F->tsa, nonce, &resp);
    uint8_t *big = calloc(1, SS_TSP_RESPONSE_MAX + 1);
    assert_non_null(big);
    memcpy(big, resp.data, resp.len);
    struct ss_tsp_token out;
    expect_refusal(ss_tsp_verify(big, SS_TSP_RESPONSE_MAX + 1, F->digest, nonce, sizeof nonce,
                                 &F->listed, 1, &out),
                   SS_ERR_TOO_LARGE, "65536", &out);
    expect_refusal(ss_tsp_verify_token(big, SS_TSP_RESPONSE_MAX + 1, F->digest, nonce, sizeof nonce,
                                       &F->listed, 1, &out),
                   SS_ERR_TOO_LARGE, NULL, &out);
    /* at the limit it is read, and refused for what it is */
    expect_refusal(ss_tsp_verify(big, SS_TSP_RESPONSE_MAX, F->digest, nonce, sizeof nonce,
                                 &F->listed, 1, &out),
                   SS_ERR_PROTOCOL, NULL, &out);
    free(big);
    free(resp.data);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    uint8_t nonce[SS_TSP_NONCE_LEN];
    struct blob resp = {0};
    fresh(&F->tsa, nonce, &resp);
    struct ss_tsp_token out;
    expect_refusal(verify(&resp, nonce, &F->listed, 0, &out), SS_ERR_INTERNAL, NULL, &out);
    expect_refusal(verify(&resp, nonce, NULL, 1, &out), SS_ERR_INTERNAL, NULL, &out);
    expect_refusal(ss_tsp_verify(resp.data, resp.len, F->digest, nonce, 0, &F->listed, 1, &out),
                   SS_ERR_INTERNAL, NULL, &out);
    uint8_t long_nonce[SS_TSP_NONCE_MAX + 1] = {0};
    expect_refusal(ss_tsp_verify(resp.data, resp.len, F->digest, long_nonce, sizeof long_nonce,
                                 &F->listed, 1, &out),
                   SS_ERR_INTERNAL, NULL, &out);
    /* a listed certificate that is not one */
    static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x01};
    struct ss_tsp_authority broken = {{junk, sizeof junk}, F->cas, 2};
    expect_refusal(verify(&resp, nonce, &broken, 1, &out), SS_ERR_BAD_CERTIFICATE, "parse", &out);
    free(resp.data);
}

/* ---- stock openssl, both ways ---- */

static void test_openssl_reply_verifies(void **state)
{
    (void)state;
    char digest_hex[65], cnf_src[1024], chain[1024], tsa_pem[1024];
    hex(F->digest, 32, digest_hex);
    pki_path(cnf_src, sizeof cnf_src, "tsa.cnf");
    pki_path(chain, sizeof chain, "ca-chain.pem");
    pki_path(tsa_pem, sizeof tsa_pem, "tsa.pem");
    const char *query = temp_path("q.tsq"), *reply = temp_path("r.tsr");
    const char *cnf = temp_path("tsa.cnf"), *serial = temp_path("tsa.serial");
    const char *token_file = temp_path("token.der");

    /* the PKI's tsa.cnf with its serial file here, so that tests running
     * at the same time do not share $SS_TEST_PKI/tsa.serial (a later key
     * of the same section wins) */
    assert_int_equal(run("cp '%s' '%s' && printf '\\nserial = %s\\n' >>'%s' && echo 01 >'%s'",
                         cnf_src, cnf, serial, cnf, serial),
                     0);
    assert_int_equal(run("openssl ts -query -digest %s -sha256 -cert -out '%s'", digest_hex, query),
                     0);
    assert_int_equal(
        run("openssl ts -reply -config '%s' -queryfile '%s' -out '%s'", cnf, query, reply), 0);

    struct blob q = {0}, r = {0};
    read_file(query, &q);
    read_file(reply, &r);
    const unsigned char *p = q.data;
    TS_REQ *req = d2i_TS_REQ(NULL, &p, (long)q.len);
    assert_non_null(req);
    assert_non_null(TS_REQ_get_nonce(req));
    uint8_t nonce[SS_TSP_NONCE_MAX];
    BIGNUM *bn = ASN1_INTEGER_to_BN(TS_REQ_get_nonce(req), NULL);
    assert_non_null(bn);
    int nonce_len = BN_bn2bin(bn, nonce);
    assert_true(nonce_len > 0 && nonce_len <= SS_TSP_NONCE_MAX);
    BN_free(bn);
    TS_REQ_free(req);

    struct ss_tsp_token out;
    ss_error e =
        ss_tsp_verify(r.data, r.len, F->digest, nonce, (size_t)nonce_len, &F->listed, 1, &out);
    if (e)
        fail_msg("%s: %s", ss_error_name(e), ss_errmsg());
    const unsigned char *rp = r.data;
    TS_RESP *parsed = d2i_TS_RESP(NULL, &rp, (long)r.len);
    assert_non_null(parsed);
    char serial_hex[32];
    snprintf(serial_hex, sizeof serial_hex, "%lx",
             ASN1_INTEGER_get(TS_TST_INFO_get_serial(TS_RESP_get_tst_info(parsed))));
    TS_RESP_free(parsed);
    assert_string_equal(out.serial, serial_hex);
    nonce[0] ^= 1;
    struct ss_tsp_token bad;
    expect_refusal(
        ss_tsp_verify(r.data, r.len, F->digest, nonce, (size_t)nonce_len, &F->listed, 1, &bad),
        SS_ERR_PROTOCOL, "nonce", &bad);

    /* what we keep verifies with stock openssl, and only for its digest */
    struct blob kept = {out.der, out.len};
    write_file(token_file, &kept);
    assert_int_equal(run("openssl ts -verify -digest %s -in '%s' -token_in -CAfile '%s' "
                         "-untrusted '%s'",
                         digest_hex, token_file, chain, tsa_pem),
                     0);
    digest_hex[0] = digest_hex[0] == '0' ? '1' : '0';
    fprintf(stderr, "(a failure of openssl ts -verify is expected next)\n");
    assert_int_not_equal(run("openssl ts -verify -digest %s -in '%s' -token_in -CAfile '%s' "
                             "-untrusted '%s'",
                             digest_hex, token_file, chain, tsa_pem),
                         0);
    ss_tsp_token_cleanup(&out);
    free(q.data);
    free(r.data);
}

static void test_our_token_verifies_with_openssl(void **state)
{
    (void)state;
    uint8_t nonce[SS_TSP_NONCE_LEN];
    struct blob resp = {0};
    fresh(&F->tsa, nonce, &resp);
    struct ss_tsp_token out;
    assert_int_equal(verify(&resp, nonce, &F->listed, 1, &out), SS_OK);
    char digest_hex[65], chain[1024], tsa_pem[1024];
    hex(F->digest, 32, digest_hex);
    pki_path(chain, sizeof chain, "ca-chain.pem");
    pki_path(tsa_pem, sizeof tsa_pem, "tsa.pem");
    const char *token_file = temp_path("ours.der");
    struct blob kept = {out.der, out.len};
    write_file(token_file, &kept);
    assert_int_equal(run("openssl ts -verify -digest %s -in '%s' -token_in -CAfile '%s' "
                         "-untrusted '%s'",
                         digest_hex, token_file, chain, tsa_pem),
                     0);
    ss_tsp_token_cleanup(&out);
    free(resp.data);
}

/* ---- fixture ---- */

static int setup(void **state)
{
    (void)state;
    const char *pki = getenv("SS_TEST_PKI");
    if (!pki || !*pki) {
        fprintf(stderr, "SS_TEST_PKI is not set (create one with deploy/pki.sh DIR)\n");
        return -1;
    }
    if (strchr(pki, '\'')) {
        fprintf(stderr, "SS_TEST_PKI must not contain a single quote\n");
        return -1;
    }
    F = calloc(1, sizeof *F);
    if (!F)
        return -1;
    snprintf(F->pki, sizeof F->pki, "%s", pki);
    snprintf(F->tmp, sizeof F->tmp, "/tmp/test_tsp.XXXXXX");
    if (!mkdtemp(F->tmp))
        return -1;
    load_signer(&F->tsa, "tsa.pem", "tsa.key");
    load_signer(&F->intermediate, "intermediate-ca.pem", "intermediate-ca.key");
    load_signer(&F->root, "root-ca.pem", NULL);
    load_signer(&F->rogue_ca, "rogue/rogue-ca.pem", "rogue/rogue-ca.key");
    load_signer(&F->authority, "registry-authority.pem", "registry-authority.key");
    make_signer(&F->other_tsa, &F->intermediate, "Another Time-Stamping Authority",
                "critical,timeStamping", NULL);
    make_signer(&F->rogue_tsa, &F->rogue_ca, "DE-NORD Time-Stamping Authority",
                "critical,timeStamping", NULL);
    make_signer(&F->noncritical, &F->intermediate, "Non-critical Time-Stamping Authority",
                "timeStamping", NULL);
    /* a self-signed CA named like the intermediate issues the look-alike */
    struct signer fake_ca = {0};
    make_signer(&fake_ca, NULL, "fake", NULL, NULL);
    assert_int_equal(
        X509_set_subject_name(fake_ca.cert, X509_get_subject_name(F->intermediate.cert)), 1);
    assert_int_equal(
        X509_set_issuer_name(fake_ca.cert, X509_get_subject_name(F->intermediate.cert)), 1);
    assert_true(X509_sign(fake_ca.cert, fake_ca.key, EVP_sha256()) > 0);
    make_signer(&F->lookalike, &fake_ca, "DE-NORD Time-Stamping Authority", "critical,timeStamping",
                X509_get0_serialNumber(F->tsa.cert));
    signer_cleanup(&fake_ca);

    F->chain = sk_X509_new_null();
    if (!F->chain || !sk_X509_push(F->chain, F->intermediate.cert) ||
        !sk_X509_push(F->chain, F->root.cert))
        return -1;
    F->cas[0] = (struct ss_tsp_cert){F->intermediate.der.data, F->intermediate.der.len};
    F->cas[1] = (struct ss_tsp_cert){F->root.der.data, F->root.der.len};
    F->listed = authority_of(&F->tsa);
    EVP_Digest("secsrv test_tsp batch root", 26, F->digest, NULL, EVP_sha256(), NULL);
    F->serial = 4000;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (!F)
        return 0;
    for (size_t i = 0; i < F->n_temp_files; i++) {
        unlink(F->temp_files[i]);
        free(F->temp_files[i]);
    }
    rmdir(F->tmp);
    sk_X509_free(F->chain); /* the certificates belong to the signers */
    struct signer *all[] = {&F->tsa,       &F->intermediate, &F->root,
                            &F->rogue_ca,  &F->authority,    &F->other_tsa,
                            &F->rogue_tsa, &F->lookalike,    &F->noncritical};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        signer_cleanup(all[i]);
    free(F);
    F = NULL;
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_shape),
        cmocka_unit_test(test_good_response),
        cmocka_unit_test(test_second_authority),
        cmocka_unit_test(test_granted_with_mods),
        cmocka_unit_test(test_pin_only),
        cmocka_unit_test(test_wrong_digest),
        cmocka_unit_test(test_imprint_not_sha256),
        cmocka_unit_test(test_wrong_nonce),
        cmocka_unit_test(test_missing_nonce),
        cmocka_unit_test(test_status_rejection),
        cmocka_unit_test(test_other_federation_tsa),
        cmocka_unit_test(test_rogue_tsa),
        cmocka_unit_test(test_lookalike_tsa),
        cmocka_unit_test(test_listed_without_eku),
        cmocka_unit_test(test_wrong_ca),
        cmocka_unit_test(test_expired_at_gen_time),
        cmocka_unit_test(test_tampered),
        cmocka_unit_test(test_truncated),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_openssl_reply_verifies),
        cmocka_unit_test(test_our_token_verifies_with_openssl),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
