/*
 * Fuzz target for the OCSP response check (secsrv/trust/trust.c): the input
 * goes to ss_trust_ocsp_check() as the DER response about two fixed
 * certificates of the test PKI (ss-sh-kiel, good, and ss-revoked), without a
 * nonce, with a fixed nonce and with the nonce the input itself carries.
 *
 * The trust snapshot is built once, from a registry that approves the
 * federation root with its intermediate and lists ocsp.pem as its responder
 * (ocspFreshness at its maximum, so that the responses in the PKI's
 * samples/ocsp/ stay fresh for a year after it was made). Needs SS_TEST_PKI
 * (deploy/pki.sh); without it the target says so and aborts. The committed
 * corpus holds unsuccessful responses made by hand and responses of a
 * throwaway PKI (keys the test PKI does not know); the signed seeds that
 * pass come from the PKI's samples/ocsp/.
 *
 * Whatever the check accepts (good or revoked) is checked again with OpenSSL
 * directly: the input is exactly one successful OCSP response, signed by the
 * responder or the intermediate, fresh, with that status for that
 * certificate, echoing the nonce asked for; a good status counts until a
 * time between now and now + ocspFreshness, give or take SS_TRUST_OCSP_SKEW.
 */
#include "trust.h"
#include "certfile.h"

#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/x509.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FRESHNESS 31622400L /* the largest ocspFreshness the registry schema allows */
#define N_LEAVES 2
#define NONCE_MAX 64

static const char *const leaf_files[N_LEAVES] = {"servers/ss-sh-kiel/auth.pem",
                                                 "servers/ss-revoked/auth.pem"};

/* What every input is checked against, built on the first call. */
static struct fixture {
    struct ss_trust *trust;
    struct ss_der leaf[N_LEAVES];
    /* for the independent check with OpenSSL */
    OCSP_CERTID *id[N_LEAVES];
    X509_STORE *store;        /* the root */
    STACK_OF(X509) * signers; /* intermediate and responder */
} fx;

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_ocsp: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

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

static char *base64_of(const uint8_t *der, size_t len)
{
    char *b64 = NULL;
    if (ss_certfile_base64(der, len, &b64) != SS_OK)
        die("base64", ss_errmsg());
    return b64;
}

static void fixture_init(void)
{
    const char *pki = getenv("SS_TEST_PKI");
    if (!pki || !*pki)
        die("SS_TEST_PKI is not set", "point it at a PKI made by deploy/pki.sh DIR");
    uint8_t *root_der = NULL, *im_der = NULL, *ocsp_der = NULL;
    size_t root_len = 0, im_len = 0, ocsp_len = 0;
    X509 *root = load_x509(pki, "root-ca.pem", &root_der, &root_len);
    X509 *im = load_x509(pki, "intermediate-ca.pem", &im_der, &im_len);
    X509 *responder = load_x509(pki, "ocsp.pem", &ocsp_der, &ocsp_len);

    char *root_b64 = base64_of(root_der, root_len);
    char *im_b64 = base64_of(im_der, im_len);
    char *ocsp_b64 = base64_of(ocsp_der, ocsp_len);
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
    if (ss_registry_parse("fuzz-ocsp.xml", (const uint8_t *)doc, (size_t)r, &reg) != SS_OK)
        die("registry refused", ss_errmsg());
    if (reg->settings.ocsp_freshness != FRESHNESS)
        die("registry has another ocspFreshness", NULL);
    if (ss_trust_new(reg, &fx.trust) != SS_OK)
        die("trust snapshot", ss_errmsg());
    ss_registry_unref(reg);
    free(doc);
    free(ocsp_b64);
    free(im_b64);
    free(root_b64);

    for (int i = 0; i < N_LEAVES; i++) {
        uint8_t *der = NULL;
        size_t len = 0;
        X509 *leaf = load_x509(pki, leaf_files[i], &der, &len);
        fx.leaf[i].data = der; /* kept for the life of the process */
        fx.leaf[i].len = len;
        fx.id[i] = OCSP_cert_to_id(NULL, leaf, im);
        if (!fx.id[i])
            die("OCSP_cert_to_id", leaf_files[i]);
        X509_free(leaf);
    }
    fx.store = X509_STORE_new();
    fx.signers = sk_X509_new_null();
    if (!fx.store || !fx.signers || !X509_STORE_add_cert(fx.store, root) ||
        !sk_X509_push(fx.signers, im) || !sk_X509_push(fx.signers, responder))
        die("out of memory", NULL);
    X509_free(root);
    free(root_der);
    free(im_der);
    free(ocsp_der);
}

/* The nonce a basic response carries (the content of its nonce extension). */
static bool response_nonce(OCSP_BASICRESP *basic, uint8_t *out, size_t *len)
{
    int at = OCSP_BASICRESP_get_ext_by_NID(basic, NID_id_pkix_OCSP_Nonce, -1);
    if (at < 0)
        return false;
    ASN1_OCTET_STRING *ext = X509_EXTENSION_get_data(OCSP_BASICRESP_get_ext(basic, at));
    const unsigned char *p = ASN1_STRING_get0_data(ext);
    ASN1_OCTET_STRING *inner = d2i_ASN1_OCTET_STRING(NULL, &p, ASN1_STRING_length(ext));
    bool ok = inner && ASN1_STRING_length(inner) > 0 && ASN1_STRING_length(inner) <= NONCE_MAX;
    if (ok) {
        *len = (size_t)ASN1_STRING_length(inner);
        memcpy(out, ASN1_STRING_get0_data(inner), *len);
    }
    ASN1_OCTET_STRING_free(inner);
    return ok;
}

/*
 * Checks what ss_trust_ocsp_check accepted (status V_OCSP_CERTSTATUS_GOOD or
 * _REVOKED) with OpenSSL directly; aborts on any disagreement.
 */
static void confirm(const uint8_t *data, size_t size, int leaf, int want_status,
                    const uint8_t *nonce, size_t nonce_len)
{
    if (size == 0 || size > SS_TRUST_OCSP_MAX_BYTES)
        die("accepted a response of out-of-range size", NULL);
    const unsigned char *p = data;
    OCSP_RESPONSE *resp = d2i_OCSP_RESPONSE(NULL, &p, (long)size);
    if (!resp || p != data + size)
        die("accepted bytes that are not exactly one OCSP response", NULL);
    if (OCSP_response_status(resp) != OCSP_RESPONSE_STATUS_SUCCESSFUL)
        die("accepted an unsuccessful OCSP response", NULL);
    OCSP_BASICRESP *basic = OCSP_response_get1_basic(resp);
    if (!basic)
        die("accepted a response that is not a basic response", NULL);
    if (OCSP_basic_verify(basic, fx.signers, fx.store, OCSP_NOINTERN) != 1)
        die("accepted a response not signed by the responder or the CA", NULL);
    int status = -1, reason = -1;
    ASN1_GENERALIZEDTIME *rev = NULL, *this_update = NULL, *next_update = NULL;
    if (!OCSP_resp_find_status(basic, fx.id[leaf], &status, &reason, &rev, &this_update,
                               &next_update))
        die("accepted a response about another certificate", NULL);
    if (status != want_status)
        die("the status accepted is not the one in the response", NULL);
    /* a minute of slack: the check ran a moment ago, a sample may sit on the boundary */
    if (!OCSP_check_validity(this_update, next_update, SS_TRUST_OCSP_SKEW + 60, FRESHNESS + 60))
        die("accepted a response that is stale or expired", NULL);
    if (nonce) {
        uint8_t got[NONCE_MAX];
        size_t got_len = 0;
        if (!response_nonce(basic, got, &got_len) || got_len != nonce_len ||
            memcmp(got, nonce, nonce_len) != 0)
            die("accepted a response without the nonce asked for", NULL);
    }
    ERR_clear_error();
    OCSP_BASICRESP_free(basic);
    OCSP_RESPONSE_free(resp);
}

static void check_one(const uint8_t *data, size_t size, int leaf, const uint8_t *nonce,
                      size_t nonce_len)
{
    time_t good_until = 0;
    time_t before = time(NULL);
    ss_error err =
        ss_trust_ocsp_check(fx.trust, &fx.leaf[leaf], data, size, nonce, nonce_len, &good_until);
    time_t after = time(NULL);
    switch (err) {
    case SS_OK:
        /* a good status never counts for longer than ocspFreshness (thisUpdate may lie up
         * to the skew ahead), nor ends before the skew tolerated for nextUpdate */
        if (good_until > after + SS_TRUST_OCSP_SKEW + FRESHNESS ||
            good_until < before - SS_TRUST_OCSP_SKEW)
            die("good_until out of range", NULL);
        confirm(data, size, leaf, V_OCSP_CERTSTATUS_GOOD, nonce, nonce_len);
        break;
    case SS_ERR_CERT_REVOKED:
        confirm(data, size, leaf, V_OCSP_CERTSTATUS_REVOKED, nonce, nonce_len);
        break;
    case SS_ERR_PEER_UNTRUSTED:
    case SS_ERR_NOMEM:
        if (!*ss_errmsg())
            die("refused without a reason", NULL);
        break;
    default:
        die("unexpected error code", ss_error_name(err));
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        fixture_init();
        ready = true;
    }
    static const uint8_t fixed_nonce[SS_TRUST_OCSP_NONCE] = {0x5e, 0xc5, 0x12, 0x0c, 0x4e, 0x6f,
                                                             0x6e, 0x63, 0x65, 0x00, 0x01, 0x02,
                                                             0x03, 0xfe, 0xff, 0x7f};
    /* the nonce in the input, if it has one: lets signed samples pass the nonce check */
    uint8_t own[NONCE_MAX];
    size_t own_len = 0;
    bool has_own = false;
    const unsigned char *p = data;
    OCSP_RESPONSE *resp =
        size <= SS_TRUST_OCSP_MAX_BYTES ? d2i_OCSP_RESPONSE(NULL, &p, (long)size) : NULL;
    OCSP_BASICRESP *basic = resp ? OCSP_response_get1_basic(resp) : NULL;
    if (basic)
        has_own = response_nonce(basic, own, &own_len);
    OCSP_BASICRESP_free(basic);
    OCSP_RESPONSE_free(resp);
    ERR_clear_error();

    for (int leaf = 0; leaf < N_LEAVES; leaf++) {
        check_one(data, size, leaf, NULL, 0);
        check_one(data, size, leaf, fixed_nonce, sizeof fixed_nonce);
        if (has_own)
            check_one(data, size, leaf, own, own_len);
    }
    return 0;
}
