/*
 * Fuzz target for RFC 3161 timestamp verification (secsrv/msglog/tsp.c):
 * the input goes to ss_tsp_verify() as a TimeStampResp and to
 * ss_tsp_verify_token() as a bare token, over a fixed digest, against the
 * test PKI's TSA (tsa.pem with the intermediate and root as its CAs, and
 * tsa.pem alone as a pin-only trust anchor): without a nonce, with a fixed
 * nonce, and with the nonce the input itself carries.
 *
 * The digest is FUZZ_DIGEST_HEX below: real samples are made with
 *   openssl ts -query -digest FUZZ_DIGEST_HEX -sha256 [-cert] -out q.tsq
 *   openssl ts -reply -config $SS_TEST_PKI/tsa.cnf -queryfile q.tsq [-token_out]
 * Needs SS_TEST_PKI (deploy/pki.sh); without it the target says so and
 * aborts. Samples from another PKI ("foreign-*" in the corpus) reach only
 * as far as the signer check there.
 *
 * Whatever is accepted is checked again: the token kept is a part of the
 * input and verifies on its own to the same result, and OpenSSL alone
 * confirms that tsa.pem signed it over the digest.
 */
#include "tsp.h"
#include "certfile.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pkcs7.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_DIGEST_HEX "9f2c1e0d5b7a4c3e8d6f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f"

/* What every input is checked against, built on the first call. */
static struct fixture {
    bool ready;
    uint8_t digest[32];
    uint8_t *der[3]; /* tsa, intermediate, root */
    size_t len[3];
    struct ss_tsp_cert cas[2];
    struct ss_tsp_authority tsas[2]; /* with its CAs; pinned alone */
    X509 *tsa;                       /* for the independent check */
    X509_STORE *store;               /* intermediate and root */
} fx;

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_tsp: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

static void fixture_init(void)
{
    const char *pki = getenv("SS_TEST_PKI");
    if (!pki || !*pki)
        die("SS_TEST_PKI is not set", "point it at a PKI made by deploy/pki.sh DIR");
    static const char *const files[3] = {"tsa.pem", "intermediate-ca.pem", "root-ca.pem"};
    for (int i = 0; i < 3; i++) {
        char path[4096];
        int r = snprintf(path, sizeof path, "%s/%s", pki, files[i]);
        if (r < 0 || (size_t)r >= sizeof path)
            die("path too long", files[i]);
        if (ss_certfile_read_first(path, &fx.der[i], &fx.len[i]) != SS_OK)
            die("cannot read a certificate of the test PKI", ss_errmsg());
    }
    for (int i = 0; i < 32; i++)
        fx.digest[i] = (uint8_t)(hex_value(FUZZ_DIGEST_HEX[2 * i]) << 4 |
                                 hex_value(FUZZ_DIGEST_HEX[2 * i + 1]));
    fx.cas[0] = (struct ss_tsp_cert){fx.der[1], fx.len[1]};
    fx.cas[1] = (struct ss_tsp_cert){fx.der[2], fx.len[2]};
    fx.tsas[0] = (struct ss_tsp_authority){{fx.der[0], fx.len[0]}, fx.cas, 2};
    fx.tsas[1] = (struct ss_tsp_authority){{fx.der[0], fx.len[0]}, NULL, 0};
    fx.tsa = ss_certfile_x509(fx.der[0], fx.len[0]);
    fx.store = X509_STORE_new();
    X509 *im = ss_certfile_x509(fx.der[1], fx.len[1]);
    X509 *root = ss_certfile_x509(fx.der[2], fx.len[2]);
    if (!fx.tsa || !fx.store || !im || !root || !X509_STORE_add_cert(fx.store, im) ||
        !X509_STORE_add_cert(fx.store, root))
        die("cannot load the test PKI's certificates", NULL);
    X509_free(im);
    X509_free(root);
    fx.ready = true;
}

/* The nonce of a token (or of the token in a response), if there is one. */
static bool input_nonce(const uint8_t *data, size_t size, uint8_t *out, size_t *len)
{
    const unsigned char *p = data;
    TS_TST_INFO *tst = NULL;
    TS_RESP *resp = d2i_TS_RESP(NULL, &p, (long)size);
    if (resp && TS_RESP_get_tst_info(resp)) {
        tst = TS_TST_INFO_dup(TS_RESP_get_tst_info(resp));
    } else {
        p = data;
        PKCS7 *token = d2i_PKCS7(NULL, &p, (long)size);
        tst = token ? PKCS7_to_TS_TST_INFO(token) : NULL;
        PKCS7_free(token);
    }
    TS_RESP_free(resp);
    ERR_clear_error();
    const ASN1_INTEGER *nonce = tst ? TS_TST_INFO_get_nonce(tst) : NULL;
    BIGNUM *bn = nonce ? ASN1_INTEGER_to_BN(nonce, NULL) : NULL;
    bool ok =
        bn && !BN_is_negative(bn) && BN_num_bytes(bn) > 0 && BN_num_bytes(bn) <= SS_TSP_NONCE_MAX;
    if (ok)
        *len = (size_t)BN_bn2bin(bn, out);
    BN_free(bn);
    TS_TST_INFO_free(tst);
    return ok;
}

/* Where needle occurs in hay. */
static bool contains(const uint8_t *hay, size_t hay_len, const uint8_t *needle, size_t len)
{
    for (size_t i = 0; len <= hay_len && i <= hay_len - len; i++)
        if (memcmp(hay + i, needle, len) == 0)
            return true;
    return false;
}

/* Checks an accepted token with OpenSSL alone; aborts on any disagreement. */
static void confirm(const uint8_t *data, size_t size, const struct ss_tsp_token *t)
{
    if (!t->der || t->len == 0 || t->len > size || !contains(data, size, t->der, t->len))
        die("the token kept is not a part of the input", NULL);
    if (t->tsa != 0)
        die("accepted with a TSA index out of range", NULL);
    struct ss_tsp_token again;
    if (ss_tsp_verify_token(t->der, t->len, fx.digest, NULL, 0, fx.tsas, 1, &again) != SS_OK)
        die("the token kept does not verify on its own", ss_errmsg());
    if (again.gen_time != t->gen_time || strcmp(again.serial, t->serial) != 0)
        die("the token kept verifies to another result", NULL);
    ss_tsp_token_cleanup(&again);

    const unsigned char *p = t->der;
    PKCS7 *token = d2i_PKCS7(NULL, &p, (long)t->len);
    TS_TST_INFO *tst = token ? PKCS7_to_TS_TST_INFO(token) : NULL;
    STACK_OF(X509) *certs = sk_X509_new_null();
    if (!tst || !certs || !sk_X509_push(certs, fx.tsa))
        die("accepted a token OpenSSL cannot read", NULL);
    X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(fx.store), t->gen_time);
    X509 *signer = NULL;
    if (TS_RESP_verify_signature(token, certs, fx.store, &signer) != 1)
        die("accepted a token whose signature OpenSSL refuses", NULL);
    if (X509_cmp(signer, fx.tsa) != 0)
        die("accepted a token signed by another certificate", NULL);
    const ASN1_OCTET_STRING *md = TS_MSG_IMPRINT_get_msg(TS_TST_INFO_get_msg_imprint(tst));
    if (ASN1_STRING_length(md) != 32 || memcmp(ASN1_STRING_get0_data(md), fx.digest, 32) != 0)
        die("accepted a token over another digest", NULL);
    X509_free(signer);
    sk_X509_free(certs);
    TS_TST_INFO_free(tst);
    PKCS7_free(token);
    ERR_clear_error();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!fx.ready)
        fixture_init();
    static const uint8_t fixed_nonce[SS_TSP_NONCE_LEN] = {0x5e, 0xc5, 0x72, 0x00, 0x01};
    uint8_t own_nonce[SS_TSP_NONCE_MAX];
    size_t own_len = 0;
    bool has_nonce = input_nonce(data, size, own_nonce, &own_len);

    struct ss_tsp_token t;
    for (int form = 0; form < 2; form++) {
        for (int n = 0; n < 3; n++) {
            const uint8_t *nonce = n == 0 ? NULL : n == 1 ? fixed_nonce : own_nonce;
            size_t nonce_len = n == 0 ? 0 : n == 1 ? sizeof fixed_nonce : own_len;
            if (n == 2 && !has_nonce)
                continue;
            ss_error e =
                form == 0
                    ? ss_tsp_verify(data, size, fx.digest, nonce, nonce_len, fx.tsas, 1, &t)
                    : ss_tsp_verify_token(data, size, fx.digest, nonce, nonce_len, fx.tsas, 1, &t);
            if (e == SS_OK) {
                confirm(data, size, &t);
                ss_tsp_token_cleanup(&t);
            } else if (t.der != NULL) {
                die("a refusal left a token behind", NULL);
            }
        }
        /* pin-only trust: the same decision but for the chain */
        ss_error e = form == 0
                         ? ss_tsp_verify(data, size, fx.digest, NULL, 0, &fx.tsas[1], 1, &t)
                         : ss_tsp_verify_token(data, size, fx.digest, NULL, 0, &fx.tsas[1], 1, &t);
        if (e == SS_OK)
            ss_tsp_token_cleanup(&t);
    }
    return 0;
}
