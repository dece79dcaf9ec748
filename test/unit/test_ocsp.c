/*
 * Unit tests of the OCSP response check (ss_trust_ocsp_check in
 * secsrv/trust/trust.c) with the test PKI: a registry generated here
 * approves the federation root with its intermediate and lists ocsp.pem as
 * the responder (ocspFreshness 3600 s); responses are built here with
 * OpenSSL's OCSP API from the PKI's keys and certificates, about ss-sh-kiel
 * unless said otherwise.
 *
 * Accepted: good (good_until from thisUpdate + ocspFreshness, or an earlier
 * nextUpdate), signed by the intermediate itself, without certificates in
 * the response, without nonce when none is asked for. Refused, each with
 * its code and reason: revoked, unknown, signers the registry does not
 * list (TSA, rogue server, root, a look-alike of the responder, the
 * responder of a registry that lists none), a broken signature, stale,
 * expired, not yet valid, wrong or missing nonce, about another
 * certificate, unsuccessful, garbage, empty, oversized, trailing bytes,
 * and a certificate from outside the federation.
 *
 * Needs SS_TEST_PKI (deploy/pki.sh).
 */
#include "trust.h"

#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#define FRESHNESS 3600

/* A certificate of the PKI, parsed and as DER. */
struct cert {
    X509 *x509;
    uint8_t *der;
    size_t len;
};

struct fixture {
    char pki[512];
    struct cert root, intermediate, responder, tsa, rogue_server, kiel, revoked, schwerin;
    EVP_PKEY *root_key, *intermediate_key, *responder_key, *tsa_key, *rogue_key;
    struct ss_registry *reg;
    struct ss_trust *trust;
};

static struct fixture *F;

static const uint8_t NONCE[SS_TRUST_OCSP_NONCE] = {0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
                                                   0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10};
static const uint8_t OTHER_NONCE[SS_TRUST_OCSP_NONCE] = {
    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x11};

/* ---- the PKI ---- */

static void pki_path(char *out, size_t size, const char *rel)
{
    int r = snprintf(out, size, "%s/%s", F->pki, rel);
    assert_true(r > 0 && (size_t)r < size);
}

static void load_cert(struct cert *c, const char *rel)
{
    char path[1024];
    pki_path(path, sizeof path, rel);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    c->x509 = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(c->x509);
    unsigned char *der = NULL;
    int n = i2d_X509(c->x509, &der);
    assert_true(n > 0);
    c->der = malloc((size_t)n);
    assert_non_null(c->der);
    memcpy(c->der, der, (size_t)n);
    c->len = (size_t)n;
    OPENSSL_free(der);
}

static void free_cert(struct cert *c)
{
    X509_free(c->x509);
    free(c->der);
}

static EVP_PKEY *load_key(const char *rel)
{
    char path[1024];
    pki_path(path, sizeof path, rel);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    EVP_PKEY *k = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(k);
    return k;
}

static char *b64(const struct cert *c)
{
    char *out = malloc(4 * ((c->len + 2) / 3) + 1);
    assert_non_null(out);
    assert_true(EVP_EncodeBlock((unsigned char *)out, c->der, (int)c->len) > 0);
    return out;
}

/* The registry of this test: the federation CA, with or without ocsp.pem as responder. */
static struct ss_registry *make_registry(bool with_responder)
{
    char *root = b64(&F->root), *im = b64(&F->intermediate), *ocsp = b64(&F->responder);
    size_t n = strlen(root) + strlen(im) + strlen(ocsp) + 1024;
    char *doc = malloc(n);
    assert_non_null(doc);
    int r = snprintf(doc, n,
                     "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                     "<registry version=\"1\" instance=\"DE-NORD\" serial=\"1\" "
                     "issued=\"2026-01-01T00:00:00Z\" expires=\"2036-01-01T00:00:00Z\">\n"
                     "  <settings ocspFreshness=\"%d\" timestampingInterval=\"60\" "
                     "registryValidity=\"86400\" refreshInterval=\"300\"/>\n"
                     "  <certificationAuthority name=\"DE-NORD Root\">\n"
                     "    <certificate>%s</certificate>\n"
                     "    <intermediate>%s</intermediate>\n"
                     "%s%s%s"
                     "  </certificationAuthority>\n"
                     "</registry>\n",
                     FRESHNESS, root, im,
                     with_responder ? "    <ocspResponder url=\"http://127.0.0.1:18888/\">"
                                      "<certificate>"
                                    : "",
                     with_responder ? ocsp : "",
                     with_responder ? "</certificate></ocspResponder>\n" : "");
    assert_true(r > 0 && (size_t)r < n);
    struct ss_registry *reg = NULL;
    if (ss_registry_parse("ocsp.xml", (const uint8_t *)doc, (size_t)r, &reg) != SS_OK)
        fail_msg("registry refused: %s", ss_errmsg());
    free(doc);
    free(ocsp);
    free(im);
    free(root);
    return reg;
}

/* ---- responses ---- */

enum nonce_mode { NO_NONCE, NONCE_ADD1, NONCE_COPY };

/* What a response says and who signs it; times are seconds from now. */
struct spec {
    const struct cert *about;
    const struct cert *also_about; /* a second status in the same response, or NULL */
    int status;                    /* V_OCSP_CERTSTATUS_... */
    long this_update;
    bool has_next_update;
    long next_update;
    enum nonce_mode nonce_mode;
    const uint8_t *nonce; /* NONCE unless set */
    const struct cert *signer;
    EVP_PKEY *key;
    unsigned long sign_flags; /* OCSP_NOCERTS, OCSP_RESPID_KEY */
};

static struct spec good_spec(void)
{
    return (struct spec){.about = &F->kiel,
                         .status = V_OCSP_CERTSTATUS_GOOD,
                         .this_update = -60,
                         .nonce_mode = NONCE_COPY,
                         .signer = &F->responder,
                         .key = F->responder_key};
}

static void add_status(OCSP_BASICRESP *bs, const struct cert *about, int status, time_t now,
                       const struct spec *s)
{
    OCSP_CERTID *id = OCSP_cert_to_id(NULL, about->x509, F->intermediate.x509);
    ASN1_TIME *this_update = X509_time_adj_ex(NULL, 0, s->this_update, &now);
    ASN1_TIME *next_update =
        s->has_next_update ? X509_time_adj_ex(NULL, 0, s->next_update, &now) : NULL;
    ASN1_TIME *revoked_at =
        status == V_OCSP_CERTSTATUS_REVOKED ? X509_time_adj_ex(NULL, -1, 0, &now) : NULL;
    assert_non_null(id);
    assert_non_null(this_update);
    assert_non_null(OCSP_basic_add1_status(
        bs, id, status,
        status == V_OCSP_CERTSTATUS_REVOKED ? OCSP_REVOKED_STATUS_KEYCOMPROMISE : -1, revoked_at,
        this_update, next_update));
    ASN1_TIME_free(revoked_at);
    ASN1_TIME_free(next_update);
    ASN1_TIME_free(this_update);
    OCSP_CERTID_free(id);
}

/* A DER OCSP response (malloc'd) as s says, made at now. */
static uint8_t *make_response(const struct spec *s, time_t now, size_t *len)
{
    OCSP_BASICRESP *bs = OCSP_BASICRESP_new();
    assert_non_null(bs);
    add_status(bs, s->about, s->status, now, s);
    if (s->also_about)
        add_status(bs, s->also_about, V_OCSP_CERTSTATUS_GOOD, now, s);
    const uint8_t *nonce = s->nonce ? s->nonce : NONCE;
    if (s->nonce_mode == NONCE_ADD1) {
        assert_int_equal(
            OCSP_basic_add1_nonce(bs, (unsigned char *)(uintptr_t)nonce, SS_TRUST_OCSP_NONCE), 1);
    } else if (s->nonce_mode == NONCE_COPY) {
        /* as a responder answers a request: the request's nonce extension, copied */
        OCSP_REQUEST *req = OCSP_REQUEST_new();
        assert_non_null(req);
        assert_int_equal(
            OCSP_request_add1_nonce(req, (unsigned char *)(uintptr_t)nonce, SS_TRUST_OCSP_NONCE),
            1);
        assert_int_equal(OCSP_copy_nonce(bs, req), 1);
        OCSP_REQUEST_free(req);
    }
    assert_int_equal(
        OCSP_basic_sign(bs, s->signer->x509, s->key, EVP_sha256(), NULL, s->sign_flags), 1);
    OCSP_RESPONSE *resp = OCSP_response_create(OCSP_RESPONSE_STATUS_SUCCESSFUL, bs);
    assert_non_null(resp);
    unsigned char *der = NULL;
    int n = i2d_OCSP_RESPONSE(resp, &der);
    assert_true(n > 0);
    uint8_t *out = malloc((size_t)n + 1); /* room for a trailing byte */
    assert_non_null(out);
    memcpy(out, der, (size_t)n);
    *len = (size_t)n;
    OPENSSL_free(der);
    OCSP_RESPONSE_free(resp);
    OCSP_BASICRESP_free(bs);
    return out;
}

/* Checks a response built from s about leaf; returns the code, writes good_until. */
static ss_error check_spec(const struct ss_trust *t, const struct spec *s, const struct cert *leaf,
                           const uint8_t *nonce, time_t now, time_t *good_until)
{
    size_t len = 0;
    uint8_t *der = make_response(s, now, &len);
    struct ss_der d = {leaf->der, leaf->len};
    *good_until = 0;
    ss_error err =
        ss_trust_ocsp_check(t, &d, der, len, nonce, nonce ? SS_TRUST_OCSP_NONCE : 0, good_until);
    free(der);
    return err;
}

/* Expects s to be refused with code, for a reason containing reason. */
static void expect_refused(const struct spec *s, const uint8_t *nonce, ss_error code,
                           const char *reason)
{
    time_t good_until = 0;
    ss_error err = check_spec(F->trust, s, &F->kiel, nonce, time(NULL), &good_until);
    if (err != code || !strstr(ss_errmsg(), reason))
        fail_msg("expected %s (%s), got %s: %s", ss_error_name(code), reason, ss_error_name(err),
                 ss_errmsg());
}

/* Expects s to be accepted; returns good_until. */
static time_t expect_good(const struct ss_trust *t, const struct spec *s, const uint8_t *nonce,
                          time_t now)
{
    time_t good_until = 0;
    ss_error err = check_spec(t, s, &F->kiel, nonce, now, &good_until);
    if (err != SS_OK)
        fail_msg("good response refused: %s: %s", ss_error_name(err), ss_errmsg());
    return good_until;
}

/* A certificate with the responder's subject and issuer, holding the rogue server's key. */
static X509 *look_alike_responder(void)
{
    X509 *x = X509_new();
    assert_non_null(x);
    assert_int_equal(X509_set_version(x, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), 4711), 1);
    assert_int_equal(X509_set_subject_name(x, X509_get_subject_name(F->responder.x509)), 1);
    assert_int_equal(X509_set_issuer_name(x, X509_get_issuer_name(F->responder.x509)), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -3600));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
    assert_int_equal(X509_set_pubkey(x, F->rogue_key), 1);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, F->responder.x509, x, NULL, NULL, 0);
    X509_EXTENSION *eku = X509V3_EXT_conf_nid(NULL, &ctx, NID_ext_key_usage, "OCSPSigning");
    assert_non_null(eku);
    assert_int_equal(X509_add_ext(x, eku, -1), 1);
    X509_EXTENSION_free(eku);
    assert_true(X509_sign(x, F->rogue_key, EVP_sha256()) > 0);
    return x;
}

/* ---- set-up ---- */

static int setup(void **state)
{
    (void)state;
    const char *pki = getenv("SS_TEST_PKI");
    if (!pki || !*pki) {
        fprintf(stderr, "SS_TEST_PKI is not set (create one with deploy/pki.sh DIR)\n");
        return -1;
    }
    F = calloc(1, sizeof *F);
    if (!F)
        return -1;
    snprintf(F->pki, sizeof F->pki, "%s", pki);
    load_cert(&F->root, "root-ca.pem");
    load_cert(&F->intermediate, "intermediate-ca.pem");
    load_cert(&F->responder, "ocsp.pem");
    load_cert(&F->tsa, "tsa.pem");
    load_cert(&F->rogue_server, "rogue/server.pem");
    load_cert(&F->kiel, "servers/ss-sh-kiel/auth.pem");
    load_cert(&F->revoked, "servers/ss-revoked/auth.pem");
    load_cert(&F->schwerin, "servers/ss-mv-schwerin/auth.pem");
    F->root_key = load_key("root-ca.key");
    F->intermediate_key = load_key("intermediate-ca.key");
    F->responder_key = load_key("ocsp.key");
    F->tsa_key = load_key("tsa.key");
    F->rogue_key = load_key("rogue/server.key");
    F->reg = make_registry(true);
    if (ss_trust_new(F->reg, &F->trust) != SS_OK)
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (!F)
        return 0;
    ss_trust_unref(F->trust);
    ss_registry_unref(F->reg);
    EVP_PKEY_free(F->rogue_key);
    EVP_PKEY_free(F->tsa_key);
    EVP_PKEY_free(F->responder_key);
    EVP_PKEY_free(F->intermediate_key);
    EVP_PKEY_free(F->root_key);
    struct cert *all[] = {&F->root,         &F->intermediate, &F->responder, &F->tsa,
                          &F->rogue_server, &F->kiel,         &F->revoked,   &F->schwerin};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free_cert(all[i]);
    free(F);
    F = NULL;
    return 0;
}

/* ---- accepted ---- */

static void test_good(void **state)
{
    (void)state;
    time_t now = time(NULL);
    struct spec s = good_spec();
    time_t until = expect_good(F->trust, &s, NONCE, now);
    /* counts from thisUpdate for ocspFreshness: in the future, no later than that */
    assert_true(until > now);
    assert_true(until <= now + s.this_update + FRESHNESS);
    assert_int_equal(until, now + s.this_update + FRESHNESS);

    /* the nonce added directly rather than copied from a request: the same */
    s.nonce_mode = NONCE_ADD1;
    assert_int_equal(expect_good(F->trust, &s, NONCE, now), now + s.this_update + FRESHNESS);
}

static void test_good_until_next_update(void **state)
{
    (void)state;
    time_t now = time(NULL);
    struct spec s = good_spec();
    /* a nextUpdate before thisUpdate + ocspFreshness ends the good status earlier */
    s.has_next_update = true;
    s.next_update = 600;
    assert_int_equal(expect_good(F->trust, &s, NONCE, now), now + 600);
    /* a later one does not extend it */
    s.next_update = 7 * 86400;
    assert_int_equal(expect_good(F->trust, &s, NONCE, now), now + s.this_update + FRESHNESS);
}

static void test_good_within_freshness(void **state)
{
    (void)state;
    time_t now = time(NULL);
    struct spec s = good_spec();
    s.this_update = -(FRESHNESS - 100);
    time_t until = expect_good(F->trust, &s, NONCE, now);
    assert_int_equal(until, now + 100);
}

static void test_signed_by_issuing_ca(void **state)
{
    (void)state;
    time_t now = time(NULL);
    struct spec s = good_spec();
    s.signer = &F->intermediate;
    s.key = F->intermediate_key;
    assert_int_equal(expect_good(F->trust, &s, NONCE, now), now + s.this_update + FRESHNESS);
}

static void test_responder_found_in_registry(void **state)
{
    (void)state;
    time_t now = time(NULL);
    struct spec s = good_spec();
    /* no certificate in the response, responder named by key: the registry's is used */
    s.sign_flags = OCSP_NOCERTS | OCSP_RESPID_KEY;
    (void)expect_good(F->trust, &s, NONCE, now);
}

static void test_no_nonce_asked(void **state)
{
    (void)state;
    time_t now = time(NULL);
    struct spec s = good_spec();
    /* nonce not required and absent */
    s.nonce_mode = NO_NONCE;
    assert_int_equal(expect_good(F->trust, &s, NULL, now), now + s.this_update + FRESHNESS);
    /* nonce not required and present: it does not matter */
    s.nonce_mode = NONCE_COPY;
    (void)expect_good(F->trust, &s, NULL, now);
}

static void test_one_of_several_statuses(void **state)
{
    (void)state;
    time_t now = time(NULL);
    struct spec s = good_spec();
    s.about = &F->schwerin;
    s.also_about = &F->kiel;
    (void)expect_good(F->trust, &s, NONCE, now);
}

/* ---- the status ---- */

static void test_revoked(void **state)
{
    (void)state;
    struct spec s = good_spec();
    s.about = &F->revoked;
    s.status = V_OCSP_CERTSTATUS_REVOKED;
    time_t good_until = 12345;
    struct ss_der leaf = {F->revoked.der, F->revoked.len};
    size_t len = 0;
    uint8_t *der = make_response(&s, time(NULL), &len);
    assert_int_equal(
        ss_trust_ocsp_check(F->trust, &leaf, der, len, NONCE, sizeof NONCE, &good_until),
        SS_ERR_CERT_REVOKED);
    assert_non_null(strstr(ss_errmsg(), "certificate is revoked"));
    free(der);

    /* a good certificate said to be revoked is revoked */
    s.about = &F->kiel;
    expect_refused(&s, NONCE, SS_ERR_CERT_REVOKED, "certificate is revoked");
}

static void test_unknown(void **state)
{
    (void)state;
    struct spec s = good_spec();
    s.status = V_OCSP_CERTSTATUS_UNKNOWN;
    expect_refused(&s, NONCE, SS_ERR_PEER_UNTRUSTED, "of unknown status");
}

static void test_about_another_certificate(void **state)
{
    (void)state;
    struct spec s = good_spec();
    s.about = &F->schwerin;
    expect_refused(&s, NONCE, SS_ERR_PEER_UNTRUSTED, "no status for the certificate");
}

/* ---- the signer ---- */

static void test_unlisted_signers(void **state)
{
    (void)state;
    const char *reason = "not signed by a responder the registry lists";
    struct spec s = good_spec();
    /* the time-stamping authority: a certificate of the federation CA, no responder */
    s.signer = &F->tsa;
    s.key = F->tsa_key;
    expect_refused(&s, NONCE, SS_ERR_PEER_UNTRUSTED, reason);
    /* a revocation from it does not count either */
    s.status = V_OCSP_CERTSTATUS_REVOKED;
    expect_refused(&s, NONCE, SS_ERR_PEER_UNTRUSTED, reason);
    s.status = V_OCSP_CERTSTATUS_GOOD;

    /* the rogue CA's server */
    s.signer = &F->rogue_server;
    s.key = F->rogue_key;
    expect_refused(&s, NONCE, SS_ERR_PEER_UNTRUSTED, reason);

    /* the root: approved, but it did not issue the certificate */
    s.signer = &F->root;
    s.key = F->root_key;
    expect_refused(&s, NONCE, SS_ERR_PEER_UNTRUSTED, reason);

    /* a look-alike of the responder (same subject and issuer, another key), both ways of
     * naming the responder */
    struct cert look_alike = {.x509 = look_alike_responder()};
    s.signer = &look_alike;
    s.key = F->rogue_key;
    expect_refused(&s, NONCE, SS_ERR_PEER_UNTRUSTED, reason);
    s.sign_flags = OCSP_RESPID_KEY;
    expect_refused(&s, NONCE, SS_ERR_PEER_UNTRUSTED, reason);
    X509_free(look_alike.x509);
}

static void test_responder_not_listed(void **state)
{
    (void)state;
    /* ocsp.pem is a proper delegated responder of the intermediate, but this registry
     * does not list it */
    struct ss_registry *reg = make_registry(false);
    struct ss_trust *t = NULL;
    assert_int_equal(ss_trust_new(reg, &t), SS_OK);
    struct spec s = good_spec();
    time_t good_until = 0;
    assert_int_equal(check_spec(t, &s, &F->kiel, NONCE, time(NULL), &good_until),
                     SS_ERR_PEER_UNTRUSTED);
    assert_non_null(strstr(ss_errmsg(), "not signed by a responder the registry lists"));
    /* the CA itself still may sign */
    s.signer = &F->intermediate;
    s.key = F->intermediate_key;
    (void)expect_good(t, &s, NONCE, time(NULL));
    ss_trust_unref(t);
    ss_registry_unref(reg);
}

static void test_broken_signature(void **state)
{
    (void)state;
    struct spec s = good_spec();
    size_t len = 0;
    uint8_t *der = make_response(&s, time(NULL), &len);
    /* the last byte of the response belongs to the signature when no certificate follows;
     * with the responder's certificate included, change a byte of the response data instead:
     * the nonce, 16 bytes that appear once */
    uint8_t *at = NULL;
    for (size_t i = 0; i + sizeof NONCE <= len; i++)
        if (memcmp(der + i, NONCE, sizeof NONCE) == 0)
            at = der + i;
    assert_non_null(at);
    at[0] ^= 0x01;
    struct ss_der leaf = {F->kiel.der, F->kiel.len};
    time_t good_until = 0;
    uint8_t changed[sizeof NONCE];
    memcpy(changed, NONCE, sizeof NONCE);
    changed[0] ^= 0x01;
    /* asked with the changed nonce, so that the signature is what fails */
    assert_int_equal(
        ss_trust_ocsp_check(F->trust, &leaf, der, len, changed, sizeof changed, &good_until),
        SS_ERR_PEER_UNTRUSTED);
    assert_non_null(strstr(ss_errmsg(), "not signed by a responder the registry lists"));
    free(der);
}

/* ---- time ---- */

static void test_stale(void **state)
{
    (void)state;
    struct spec s = good_spec();
    s.this_update = -(FRESHNESS + 120);
    expect_refused(&s, NONCE, SS_ERR_PEER_UNTRUSTED, "older than 3600s");
}

/*
 * A snapshot judged as of another time (the DPO tool judges each record of
 * a log as of when it was logged): a response whose thisUpdate lies two
 * hours ahead is refused now but good as of then, good until freshness
 * after its thisUpdate; one made after that time, or one fresh now but
 * judged a day later, is refused. (Later rather than earlier times: the
 * test PKI may be minutes old, and no certificate is valid before it.)
 */
static void test_judged_as_of_a_time(void **state)
{
    (void)state;
    time_t now = time(NULL), then = now + 2 * FRESHNESS;
    struct spec s = good_spec();
    s.this_update = 2 * FRESHNESS - 60; /* a minute before then */
    time_t good_until = 0;
    assert_int_equal(check_spec(F->trust, &s, &F->kiel, NONCE, now, &good_until),
                     SS_ERR_PEER_UNTRUSTED);
    ss_trust_set_clock(F->trust, then);
    assert_int_equal(ss_trust_now(F->trust), then);
    time_t until = expect_good(F->trust, &s, NONCE, now);
    assert_int_equal(until, now + s.this_update + FRESHNESS);
    /* made after the time judged: from the future, then */
    s.this_update = 2 * FRESHNESS + SS_TRUST_OCSP_SKEW + 300;
    assert_int_equal(check_spec(F->trust, &s, &F->kiel, NONCE, now, &good_until),
                     SS_ERR_PEER_UNTRUSTED);
    /* fresh now, judged a day later: stale */
    s = good_spec();
    ss_trust_set_clock(F->trust, now + 86400);
    assert_int_equal(check_spec(F->trust, &s, &F->kiel, NONCE, now, &good_until),
                     SS_ERR_PEER_UNTRUSTED);
    ss_trust_set_clock(F->trust, 0);
    assert_true(ss_trust_now(F->trust) >= now);
    expect_good(F->trust, &s, NONCE, now);
}

/* Whatever a test did to the shared snapshot's clock, the next one judges as of now. */
static int clock_now(void **state)
{
    (void)state;
    ss_trust_set_clock(F->trust, 0);
    return 0;
}

static void test_next_update_past(void **state)
{
    (void)state;
    struct spec s = good_spec();
    s.this_update = -1800;
    s.has_next_update = true;
    s.next_update = -(SS_TRUST_OCSP_SKEW + 300);
    expect_refused(&s, NONCE, SS_ERR_PEER_UNTRUSTED, "or expired");
}

static void test_this_update_future(void **state)
{
    (void)state;
    struct spec s = good_spec();
    s.this_update = SS_TRUST_OCSP_SKEW + 300;
    expect_refused(&s, NONCE, SS_ERR_PEER_UNTRUSTED, "or expired");
}

/* ---- the nonce ---- */

static void test_wrong_nonce(void **state)
{
    (void)state;
    struct spec s = good_spec();
    s.nonce = OTHER_NONCE;
    expect_refused(&s, NONCE, SS_ERR_PEER_UNTRUSTED, "does not carry the nonce");
    s.nonce_mode = NONCE_ADD1;
    expect_refused(&s, NONCE, SS_ERR_PEER_UNTRUSTED, "does not carry the nonce");
}

static void test_missing_nonce(void **state)
{
    (void)state;
    struct spec s = good_spec();
    s.nonce_mode = NO_NONCE;
    expect_refused(&s, NONCE, SS_ERR_PEER_UNTRUSTED, "does not carry the nonce");
}

/* ---- the bytes ---- */

static ss_error check_bytes(const uint8_t *der, size_t len)
{
    struct ss_der leaf = {F->kiel.der, F->kiel.len};
    time_t good_until = 0;
    return ss_trust_ocsp_check(F->trust, &leaf, der, len, NULL, 0, &good_until);
}

static void test_unsuccessful(void **state)
{
    (void)state;
    const int statuses[] = {OCSP_RESPONSE_STATUS_MALFORMEDREQUEST,
                            OCSP_RESPONSE_STATUS_INTERNALERROR, OCSP_RESPONSE_STATUS_TRYLATER,
                            OCSP_RESPONSE_STATUS_SIGREQUIRED, OCSP_RESPONSE_STATUS_UNAUTHORIZED};
    for (size_t i = 0; i < sizeof statuses / sizeof statuses[0]; i++) {
        OCSP_RESPONSE *resp = OCSP_response_create(statuses[i], NULL);
        assert_non_null(resp);
        unsigned char *der = NULL;
        int n = i2d_OCSP_RESPONSE(resp, &der);
        assert_true(n > 0);
        assert_int_equal(check_bytes(der, (size_t)n), SS_ERR_PEER_UNTRUSTED);
        assert_non_null(strstr(ss_errmsg(), "not a successful OCSP response"));
        OPENSSL_free(der);
        OCSP_RESPONSE_free(resp);
    }
}

static void test_garbage(void **state)
{
    (void)state;
    static const uint8_t text[] = "HTTP/1.1 200 OK\r\n\r\ngood";
    assert_int_equal(check_bytes(text, sizeof text - 1), SS_ERR_PEER_UNTRUSTED);
    assert_non_null(strstr(ss_errmsg(), "not a successful OCSP response"));
    /* DER, but not an OCSP response: a certificate */
    assert_int_equal(check_bytes(F->kiel.der, F->kiel.len), SS_ERR_PEER_UNTRUSTED);
    assert_non_null(strstr(ss_errmsg(), "not a successful OCSP response"));
    /* a good response cut short */
    struct spec s = good_spec();
    size_t len = 0;
    uint8_t *der = make_response(&s, time(NULL), &len);
    assert_int_equal(check_bytes(der, len - 1), SS_ERR_PEER_UNTRUSTED);
    assert_non_null(strstr(ss_errmsg(), "not a successful OCSP response"));
    free(der);
}

static void test_empty(void **state)
{
    (void)state;
    static const uint8_t none[1] = {0};
    assert_int_equal(check_bytes(none, 0), SS_ERR_PEER_UNTRUSTED);
    assert_non_null(strstr(ss_errmsg(), "empty or larger than"));
}

static void test_oversized(void **state)
{
    (void)state;
    /* a good response, followed by padding up to one byte over the limit */
    struct spec s = good_spec();
    size_t len = 0;
    uint8_t *good = make_response(&s, time(NULL), &len);
    uint8_t *big = calloc(1, SS_TRUST_OCSP_MAX_BYTES + 1);
    assert_non_null(big);
    memcpy(big, good, len);
    assert_int_equal(check_bytes(big, SS_TRUST_OCSP_MAX_BYTES + 1), SS_ERR_PEER_UNTRUSTED);
    assert_non_null(strstr(ss_errmsg(), "larger than 65536 bytes"));
    /* at the limit it is read, and refused for the padding */
    assert_int_equal(check_bytes(big, SS_TRUST_OCSP_MAX_BYTES), SS_ERR_PEER_UNTRUSTED);
    assert_non_null(strstr(ss_errmsg(), "not a successful OCSP response"));
    free(big);
    free(good);
}

static void test_trailing_bytes(void **state)
{
    (void)state;
    struct spec s = good_spec();
    s.nonce_mode = NO_NONCE;
    size_t len = 0;
    uint8_t *der = make_response(&s, time(NULL), &len);
    assert_int_equal(check_bytes(der, len), SS_OK);
    der[len] = 0x00; /* make_response leaves room for one more byte */
    assert_int_equal(check_bytes(der, len + 1), SS_ERR_PEER_UNTRUSTED);
    assert_non_null(strstr(ss_errmsg(), "not a successful OCSP response"));
    free(der);
}

/* ---- the certificate ---- */

static void test_certificate_outside_federation(void **state)
{
    (void)state;
    struct spec s = good_spec();
    size_t len = 0;
    uint8_t *der = make_response(&s, time(NULL), &len);
    time_t good_until = 0;
    struct ss_der rogue = {F->rogue_server.der, F->rogue_server.len};
    assert_int_equal(
        ss_trust_ocsp_check(F->trust, &rogue, der, len, NONCE, sizeof NONCE, &good_until),
        SS_ERR_PEER_UNTRUSTED);
    assert_non_null(strstr(ss_errmsg(), "not issued by an approved CA"));
    static const uint8_t junk[] = {0x30, 0x03, 0x02, 0x01, 0x00};
    struct ss_der bad = {junk, sizeof junk};
    assert_int_equal(
        ss_trust_ocsp_check(F->trust, &bad, der, len, NONCE, sizeof NONCE, &good_until),
        SS_ERR_PEER_UNTRUSTED);
    assert_non_null(strstr(ss_errmsg(), "certificate does not parse"));
    free(der);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_good_until_next_update),
        cmocka_unit_test(test_good_within_freshness),
        cmocka_unit_test(test_signed_by_issuing_ca),
        cmocka_unit_test(test_responder_found_in_registry),
        cmocka_unit_test(test_no_nonce_asked),
        cmocka_unit_test(test_one_of_several_statuses),
        cmocka_unit_test(test_revoked),
        cmocka_unit_test(test_unknown),
        cmocka_unit_test(test_about_another_certificate),
        cmocka_unit_test(test_unlisted_signers),
        cmocka_unit_test(test_responder_not_listed),
        cmocka_unit_test(test_broken_signature),
        cmocka_unit_test(test_stale),
        cmocka_unit_test_teardown(test_judged_as_of_a_time, clock_now),
        cmocka_unit_test(test_next_update_past),
        cmocka_unit_test(test_this_update_future),
        cmocka_unit_test(test_wrong_nonce),
        cmocka_unit_test(test_missing_nonce),
        cmocka_unit_test(test_unsuccessful),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_oversized),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_certificate_outside_federation),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
