/*
 * Unit tests of peer trust (secsrv/trust.c) with the test PKI: a registry
 * generated here approves the federation root (with its intermediate) and
 * registers ss-sh-kiel and ss-mv-schwerin by their certificate fingerprints.
 * Chains are verified and refused (expired, rogue CA, wrong purpose, none,
 * too many, garbage); a server is matched to the one expected and to the
 * clients it hosts; key pairs are checked; the TLS policy strings allow
 * TLS 1.3 and AEAD suites only.
 *
 * Revocation is not decided here, so ss-revoked is not used.
 * Needs SS_TEST_PKI (deploy/pki.sh).
 */
#include "trust.h"
#include "clock.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/x509.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#define MAX_CERTS 16

/* DER certificates read from a PEM file, leaf first. */
struct chain {
    uint8_t *der[MAX_CERTS];
    struct ss_der certs[MAX_CERTS];
    size_t n;
};

struct fixture {
    char pki[512];
    struct ss_registry *reg;
    struct ss_trust *trust;
    uint8_t kiel_sha[32];
    uint8_t schwerin_sha[32];
    uint8_t extra_sha[32];
};

static struct fixture *F;

/* ---- helpers ---- */

static void pki_path(char *out, size_t size, const char *rel)
{
    int r = snprintf(out, size, "%s/%s", F->pki, rel);
    assert_true(r > 0 && (size_t)r < size);
}

/* Appends every certificate of the PEM file rel to c. */
static void chain_add(struct chain *c, const char *rel)
{
    char path[1024];
    pki_path(path, sizeof path, rel);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    X509 *x;
    size_t before = c->n;
    while ((x = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        assert_true(c->n < MAX_CERTS);
        unsigned char *der = NULL;
        int n = i2d_X509(x, &der);
        X509_free(x);
        assert_true(n > 0);
        c->der[c->n] = malloc((size_t)n);
        assert_non_null(c->der[c->n]);
        memcpy(c->der[c->n], der, (size_t)n);
        OPENSSL_free(der);
        c->certs[c->n].data = c->der[c->n];
        c->certs[c->n].len = (size_t)n;
        c->n++;
    }
    fclose(f);
    assert_true(c->n > before);
}

static void chain_free(struct chain *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->der[i]);
    c->n = 0;
}

static char *b64_cert(const char *rel)
{
    struct chain c = {.n = 0};
    chain_add(&c, rel);
    char *out = malloc(4 * ((c.certs[0].len + 2) / 3) + 1);
    assert_non_null(out);
    assert_true(EVP_EncodeBlock((unsigned char *)out, c.certs[0].data, (int)c.certs[0].len) > 0);
    chain_free(&c);
    return out;
}

static bool hex_to_bytes(const char *hex, uint8_t out[32])
{
    for (int i = 0; i < 32; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char ch = hex[2 * i + k];
            int d = (ch >= '0' && ch <= '9')   ? ch - '0'
                    : (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10
                                               : -1;
            if (d < 0)
                return false;
            v = v * 16 + (unsigned)d;
        }
        out[i] = (uint8_t)v;
    }
    return true;
}

static void read_sha(const char *rel, char hex[65], uint8_t bytes[32])
{
    char path[1024];
    pki_path(path, sizeof path, rel);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    char line[128] = "";
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    assert_true(strlen(line) >= 64);
    memcpy(hex, line, 64);
    hex[64] = '\0';
    assert_true(hex_to_bytes(hex, bytes));
}

/* The registry of this test: the federation CA, two servers, a few clients. */
#define TRUST_DOC_FMT                                                                              \
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"                                                 \
    "<registry version=\"1\" instance=\"DE-NORD\" serial=\"1\" "                                   \
    "issued=\"2026-01-01T00:00:00Z\" expires=\"2036-01-01T00:00:00Z\">\n"                          \
    "  <settings ocspFreshness=\"3600\" timestampingInterval=\"60\" "                              \
    "registryValidity=\"86400\" refreshInterval=\"300\"/>\n"                                       \
    "  <memberClass code=\"GOV\">Landesbehörde</memberClass>\n"                                   \
    "  <memberClass code=\"MUN\">Kommune</memberClass>\n"                                          \
    "  <member class=\"GOV\" code=\"ima-sh\" state=\"SH\">\n"                                      \
    "    <name>Innenministerium</name>\n"                                                          \
    "    <subsystem code=\"melde-client\"/>\n"                                                     \
    "    <subsystem code=\"other\"/>\n"                                                            \
    "  </member>\n"                                                                                \
    "  <member class=\"MUN\" code=\"13004000\" state=\"MV\">\n"                                    \
    "    <name>Schwerin</name>\n"                                                                  \
    "    <subsystem code=\"melde\"/>\n"                                                            \
    "  </member>\n"                                                                                \
    "  <securityServer owner=\"GOV/ima-sh\" code=\"ss-sh-kiel\" address=\"127.0.0.1:18443\" "      \
    "authSha256=\"%s\">\n"                                                                         \
    "    <client id=\"GOV/ima-sh/melde-client\"/>\n"                                               \
    "  </securityServer>\n"                                                                        \
    "  <securityServer owner=\"MUN/13004000\" code=\"ss-mv-schwerin\" "                            \
    "address=\"127.0.0.2:18443\" authSha256=\"%s\">\n"                                             \
    "    <client id=\"MUN/13004000/melde\"/>\n"                                                    \
    "    <client id=\"MUN/13004000\"/>\n"                                                          \
    "  </securityServer>\n"                                                                        \
    "%s%s%s%s%s"                                                                                   \
    "</registry>\n"

static char *make_doc(const char *kiel_hex, const char *schwerin_hex, bool with_ca)
{
    char *root = b64_cert("root-ca.pem");
    char *intermediate = b64_cert("intermediate-ca.pem");
    size_t n = strlen(TRUST_DOC_FMT) + strlen(root) + strlen(intermediate) + 512;
    char *doc = malloc(n);
    assert_non_null(doc);
    int r = snprintf(doc, n, TRUST_DOC_FMT, kiel_hex, schwerin_hex,
                     with_ca ? "  <certificationAuthority name=\"DE-NORD Root\">\n"
                               "    <certificate>"
                             : "",
                     with_ca ? root : "", with_ca ? "</certificate>\n    <intermediate>" : "",
                     with_ca ? intermediate : "",
                     with_ca ? "</intermediate>\n  </certificationAuthority>\n" : "");
    assert_true(r > 0 && (size_t)r < n);
    free(root);
    free(intermediate);
    return doc;
}

static struct ss_registry *parse_doc(const char *doc)
{
    struct ss_registry *reg = NULL;
    if (ss_registry_parse("trust.xml", (const uint8_t *)doc, strlen(doc), &reg) != SS_OK)
        fail_msg("registry refused: %s", ss_errmsg());
    return reg;
}

static struct ss_client_id cid(const char *s)
{
    struct ss_client_id id;
    if (ss_client_id_parse(s, strlen(s), SS_ID_PART_MAX, false, &id) != SS_OK)
        fail_msg("bad identifier %s in the test", s);
    return id;
}

static const struct ss_reg_server *server(const char *owner, const char *code)
{
    struct ss_client_id o = cid(owner);
    const struct ss_reg_server *s = ss_registry_server(F->reg, &o, code);
    assert_non_null(s);
    return s;
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
    char kiel[65], schwerin[65], extra[65];
    read_sha("servers/ss-sh-kiel/auth.sha256", kiel, F->kiel_sha);
    read_sha("servers/ss-mv-schwerin/auth.sha256", schwerin, F->schwerin_sha);
    read_sha("servers/ss-sh-extra/auth.sha256", extra, F->extra_sha);
    char *doc = make_doc(kiel, schwerin, true);
    F->reg = parse_doc(doc);
    free(doc);
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
    free(F);
    F = NULL;
    return 0;
}

/* ---- chains ---- */

static void test_verify_good_chain(void **state)
{
    (void)state;
    struct chain c = {.n = 0};
    chain_add(&c, "servers/ss-sh-kiel/auth-chain.pem");
    assert_int_equal(c.n, 2);
    uint8_t fp[32];
    memset(fp, 0, sizeof fp);
    if (ss_trust_verify_chain(F->trust, c.certs, c.n, true, fp) != SS_OK)
        fail_msg("good chain refused: %s", ss_errmsg());
    assert_memory_equal(fp, F->kiel_sha, 32);
    /* the certificates allow client authentication too */
    memset(fp, 0, sizeof fp);
    assert_int_equal(ss_trust_verify_chain(F->trust, c.certs, c.n, false, fp), SS_OK);
    assert_memory_equal(fp, F->kiel_sha, 32);
    chain_free(&c);

    /* the leaf alone: the registry supplies the intermediate */
    chain_add(&c, "servers/ss-mv-schwerin/auth.pem");
    assert_int_equal(c.n, 1);
    assert_int_equal(ss_trust_verify_chain(F->trust, c.certs, c.n, true, fp), SS_OK);
    assert_memory_equal(fp, F->schwerin_sha, 32);
    chain_free(&c);
}

static void test_fingerprint(void **state)
{
    (void)state;
    struct chain c = {.n = 0};
    chain_add(&c, "servers/ss-sh-kiel/auth.pem");
    uint8_t fp[32];
    ss_trust_fingerprint(&c.certs[0], fp);
    assert_memory_equal(fp, F->kiel_sha, 32);
    assert_true(ss_trust_fingerprint_equal(fp, F->kiel_sha));
    assert_false(ss_trust_fingerprint_equal(fp, F->schwerin_sha));
    uint8_t other[32];
    memcpy(other, fp, 32);
    other[31] ^= 1;
    assert_false(ss_trust_fingerprint_equal(fp, other));
    memcpy(other, fp, 32);
    other[0] ^= 0x80;
    assert_false(ss_trust_fingerprint_equal(fp, other));
    chain_free(&c);
}

static void expect_untrusted(struct chain *c, bool is_server, const char *reason)
{
    uint8_t fp[32];
    memset(fp, 0x11, sizeof fp);
    ss_errclear();
    ss_error err = ss_trust_verify_chain(F->trust, c->certs, c->n, is_server, fp);
    if (err != SS_ERR_PEER_UNTRUSTED)
        fail_msg("got %s (%s), want SS_ERR_PEER_UNTRUSTED", ss_error_name(err), ss_errmsg());
    if (reason && !strstr(ss_errmsg(), reason))
        fail_msg("error message '%s' does not contain '%s'", ss_errmsg(), reason);
    /* no fingerprint is handed out for a refused chain */
    for (int i = 0; i < 32; i++)
        assert_int_equal(fp[i], 0x11);
}

static void test_verify_expired(void **state)
{
    (void)state;
    struct chain c = {.n = 0};
    chain_add(&c, "servers/ss-expired/auth.pem");
    chain_add(&c, "intermediate-ca.pem");
    expect_untrusted(&c, true, "expired");
    expect_untrusted(&c, false, "expired");
    chain_free(&c);
}

static void test_verify_rogue(void **state)
{
    (void)state;
    struct chain c = {.n = 0};
    /* same subject as ss-mv-schwerin, issued by a CA outside the federation */
    chain_add(&c, "rogue/server.pem");
    expect_untrusted(&c, true, NULL);
    /* presenting the rogue CA along does not help */
    chain_add(&c, "rogue/rogue-ca.pem");
    expect_untrusted(&c, true, NULL);
    chain_free(&c);
    /* nor does putting the federation's intermediate and root after it */
    chain_add(&c, "rogue/server.pem");
    chain_add(&c, "ca-chain.pem");
    expect_untrusted(&c, true, NULL);
    chain_free(&c);
    /* a self-signed CA certificate presented as the leaf */
    chain_add(&c, "rogue/rogue-ca.pem");
    expect_untrusted(&c, true, NULL);
    chain_free(&c);
}

static void test_verify_wrong_purpose(void **state)
{
    (void)state;
    /* issued by the federation CA, but for time-stamping only */
    struct chain c = {.n = 0};
    chain_add(&c, "tsa.pem");
    expect_untrusted(&c, true, NULL);
    expect_untrusted(&c, false, NULL);
    chain_free(&c);
}

static void test_verify_no_and_bad_certs(void **state)
{
    (void)state;
    struct chain c = {.n = 0};
    expect_untrusted(&c, true, "no certificate");

    /* more certificates than the maximum chain length */
    chain_add(&c, "servers/ss-sh-kiel/auth.pem");
    while (c.n <= SS_TRUST_MAX_CHAIN)
        chain_add(&c, "intermediate-ca.pem");
    expect_untrusted(&c, true, "chain of");
    chain_free(&c);

    /* garbage instead of a leaf */
    uint8_t junk[64];
    memset(junk, 0x30, sizeof junk);
    struct ss_der bad = {junk, sizeof junk};
    uint8_t fp[32];
    assert_int_equal(ss_trust_verify_chain(F->trust, &bad, 1, true, fp), SS_ERR_PEER_UNTRUSTED);

    /* a good leaf with a byte appended */
    chain_add(&c, "servers/ss-sh-kiel/auth.pem");
    uint8_t *longer = malloc(c.certs[0].len + 1);
    assert_non_null(longer);
    memcpy(longer, c.certs[0].data, c.certs[0].len);
    longer[c.certs[0].len] = 0;
    struct ss_der appended = {longer, c.certs[0].len + 1};
    assert_int_equal(ss_trust_verify_chain(F->trust, &appended, 1, true, fp),
                     SS_ERR_PEER_UNTRUSTED);
    /* and with its signature changed */
    memcpy(longer, c.certs[0].data, c.certs[0].len);
    longer[c.certs[0].len - 3] ^= 0x01;
    struct ss_der tampered = {longer, c.certs[0].len};
    assert_int_equal(ss_trust_verify_chain(F->trust, &tampered, 1, true, fp),
                     SS_ERR_PEER_UNTRUSTED);
    free(longer);

    /* a good leaf followed by garbage in the chain */
    struct ss_der two[2] = {c.certs[0], bad};
    assert_int_equal(ss_trust_verify_chain(F->trust, two, 2, true, fp), SS_ERR_PEER_UNTRUSTED);
    chain_free(&c);
}

static void test_registry_without_ca(void **state)
{
    (void)state;
    char kiel[65], schwerin[65];
    uint8_t b[32];
    read_sha("servers/ss-sh-kiel/auth.sha256", kiel, b);
    read_sha("servers/ss-mv-schwerin/auth.sha256", schwerin, b);
    char *doc = make_doc(kiel, schwerin, false);
    struct ss_registry *reg = parse_doc(doc);
    free(doc);
    assert_int_equal(reg->n_cas, 0);
    struct ss_trust *t = NULL;
    assert_int_equal(ss_trust_new(reg, &t), SS_OK);
    struct chain c = {.n = 0};
    chain_add(&c, "servers/ss-sh-kiel/auth-chain.pem");
    uint8_t fp[32];
    assert_int_equal(ss_trust_verify_chain(t, c.certs, c.n, true, fp), SS_ERR_PEER_UNTRUSTED);
    assert_non_null(strstr(ss_errmsg(), "no certification authority"));
    /* the fingerprint matches, but without an approved CA the server is not trusted */
    const struct ss_reg_server *kiel_server = &reg->servers[0];
    assert_int_equal(ss_trust_check_server(t, c.certs, c.n, kiel_server), SS_ERR_PEER_UNTRUSTED);
    chain_free(&c);
    ss_trust_unref(t);
    ss_registry_unref(reg);
}

static void test_refcounts(void **state)
{
    (void)state;
    char kiel[65], schwerin[65];
    uint8_t b[32];
    read_sha("servers/ss-sh-kiel/auth.sha256", kiel, b);
    read_sha("servers/ss-mv-schwerin/auth.sha256", schwerin, b);
    char *doc = make_doc(kiel, schwerin, true);
    struct ss_registry *reg = parse_doc(doc);
    free(doc);
    assert_int_equal(reg->refs, 1);
    struct ss_trust *t = NULL;
    assert_int_equal(ss_trust_new(reg, &t), SS_OK);
    assert_int_equal(reg->refs, 2);
    assert_ptr_equal(ss_trust_registry(t), reg);
    assert_ptr_equal(ss_trust_ref(t), t);
    ss_trust_unref(t);
    assert_int_equal(reg->refs, 2);
    /* the snapshot keeps the registry alive after its owner lets go */
    ss_registry_unref(reg);
    assert_int_equal(ss_trust_registry(t)->refs, 1);
    assert_string_equal(ss_trust_registry(t)->instance, "DE-NORD");
    ss_trust_unref(t);
    ss_trust_unref(NULL);
    assert_null(ss_trust_ref(NULL));
}

/* ---- servers and clients ---- */

static void test_check_server(void **state)
{
    (void)state;
    const struct ss_reg_server *kiel = server("DE-NORD/GOV/ima-sh", "ss-sh-kiel");
    const struct ss_reg_server *schwerin = server("DE-NORD/MUN/13004000", "ss-mv-schwerin");
    struct chain c = {.n = 0};
    chain_add(&c, "servers/ss-sh-kiel/auth-chain.pem");
    assert_int_equal(ss_trust_check_server(F->trust, c.certs, c.n, kiel), SS_OK);
    /* a valid federation certificate, registered for another server */
    assert_int_equal(ss_trust_check_server(F->trust, c.certs, c.n, schwerin),
                     SS_ERR_PEER_NOT_REGISTERED);
    assert_non_null(strstr(ss_errmsg(), "ss-mv-schwerin"));
    chain_free(&c);

    /* a valid federation certificate that no server is registered with */
    chain_add(&c, "servers/ss-sh-extra/auth-chain.pem");
    assert_int_equal(ss_trust_check_server(F->trust, c.certs, c.n, kiel),
                     SS_ERR_PEER_NOT_REGISTERED);
    chain_free(&c);

    /* the rogue look-alike of ss-mv-schwerin fails the chain first */
    chain_add(&c, "rogue/server.pem");
    assert_int_equal(ss_trust_check_server(F->trust, c.certs, c.n, schwerin),
                     SS_ERR_PEER_UNTRUSTED);
    chain_free(&c);

    /* an expired certificate of the federation CA */
    chain_add(&c, "servers/ss-expired/auth.pem");
    assert_int_equal(ss_trust_check_server(F->trust, c.certs, c.n, kiel), SS_ERR_PEER_UNTRUSTED);
    chain_free(&c);

    assert_int_equal(ss_trust_check_server(F->trust, c.certs, 0, kiel), SS_ERR_PEER_UNTRUSTED);
}

static void test_check_client_server(void **state)
{
    (void)state;
    struct ss_client_id id = cid("DE-NORD/GOV/ima-sh/melde-client");
    assert_int_equal(ss_trust_check_client_server(F->trust, F->kiel_sha, &id), SS_OK);
    /* hosted by the other server */
    assert_int_equal(ss_trust_check_client_server(F->trust, F->schwerin_sha, &id),
                     SS_ERR_PEER_NOT_REGISTERED);
    /* a fingerprint of no registered server */
    assert_int_equal(ss_trust_check_client_server(F->trust, F->extra_sha, &id),
                     SS_ERR_PEER_NOT_REGISTERED);
    /* a subsystem of the same member that kiel does not host */
    id = cid("DE-NORD/GOV/ima-sh/other");
    assert_int_equal(ss_trust_check_client_server(F->trust, F->kiel_sha, &id),
                     SS_ERR_PEER_NOT_REGISTERED);
    /* the member itself is not hosted, only its subsystem */
    id = cid("DE-NORD/GOV/ima-sh");
    assert_int_equal(ss_trust_check_client_server(F->trust, F->kiel_sha, &id),
                     SS_ERR_PEER_NOT_REGISTERED);
    /* schwerin hosts a member entry and a subsystem */
    id = cid("DE-NORD/MUN/13004000");
    assert_int_equal(ss_trust_check_client_server(F->trust, F->schwerin_sha, &id), SS_OK);
    id = cid("DE-NORD/MUN/13004000/melde");
    assert_int_equal(ss_trust_check_client_server(F->trust, F->schwerin_sha, &id), SS_OK);
    assert_int_equal(ss_trust_check_client_server(F->trust, F->kiel_sha, &id),
                     SS_ERR_PEER_NOT_REGISTERED);
    /* an unknown client and another instance */
    id = cid("DE-NORD/GOV/nobody/x");
    assert_int_equal(ss_trust_check_client_server(F->trust, F->kiel_sha, &id),
                     SS_ERR_PEER_NOT_REGISTERED);
    id = cid("DE-SUED/GOV/ima-sh/melde-client");
    assert_int_equal(ss_trust_check_client_server(F->trust, F->kiel_sha, &id),
                     SS_ERR_PEER_NOT_REGISTERED);
    /* one bit off */
    uint8_t off[32];
    memcpy(off, F->kiel_sha, 32);
    off[16] ^= 0x04;
    id = cid("DE-NORD/GOV/ima-sh/melde-client");
    assert_int_equal(ss_trust_check_client_server(F->trust, off, &id), SS_ERR_PEER_NOT_REGISTERED);
}

static void test_verify_is(void **state)
{
    (void)state;
    char ca[1024], rogue[1024], missing[1024];
    pki_path(ca, sizeof ca, "ca-chain.pem");
    pki_path(rogue, sizeof rogue, "rogue/rogue-ca.pem");
    pki_path(missing, sizeof missing, "no-such-ca.pem");
    struct chain c = {.n = 0};
    chain_add(&c, "servers/ss-sh-kiel/auth-chain.pem");
    uint8_t fp[32];
    struct ss_ca_store *ca_store = NULL, *rogue_store = NULL, *none = NULL;
    assert_int_equal(ss_ca_store_load(ca, &ca_store), SS_OK);
    assert_int_equal(ss_ca_store_load(rogue, &rogue_store), SS_OK);
    assert_int_equal(ss_ca_store_load(missing, &none), SS_ERR_CONFIG);
    assert_null(none);
    assert_int_equal(ss_trust_verify_is(ca_store, c.certs, c.n, fp), SS_OK);
    assert_memory_equal(fp, F->kiel_sha, 32);
    assert_int_equal(ss_trust_verify_is(rogue_store, c.certs, c.n, fp), SS_ERR_PEER_UNTRUSTED);
    chain_free(&c);
    chain_add(&c, "servers/ss-expired/auth.pem");
    assert_int_equal(ss_trust_verify_is(ca_store, c.certs, c.n, fp), SS_ERR_PEER_UNTRUSTED);
    chain_free(&c);
    chain_add(&c, "rogue/server.pem");
    assert_int_equal(ss_trust_verify_is(rogue_store, c.certs, c.n, fp), SS_OK);
    assert_int_equal(ss_trust_verify_is(ca_store, c.certs, c.n, fp), SS_ERR_PEER_UNTRUSTED);
    chain_free(&c);
    ss_ca_store_free(rogue_store);
    ss_ca_store_free(ca_store);
}

/* CAs from a file's text (as a reload hands them over): all of it PEM certificates and CRLs,
 * at least one certificate, or nothing is taken. */
static void test_ca_store_pem(void **state)
{
    (void)state;
    char ca[1024];
    pki_path(ca, sizeof ca, "ca-chain.pem");
    char *text = NULL;
    assert_int_equal(ss_trust_read_pem(ca, &text), SS_OK);
    struct ss_ca_store *store = NULL;
    assert_int_equal(ss_ca_store_load_pem(text, "ca.pem", &store), SS_OK);
    struct chain c = {.n = 0};
    chain_add(&c, "servers/ss-sh-kiel/auth-chain.pem");
    uint8_t fp[32];
    assert_int_equal(ss_trust_verify_is(store, c.certs, c.n, fp), SS_OK);
    chain_free(&c);
    ss_ca_store_free(store);

    /* a key in the same file is passed over */
    char key_path[1024];
    char *key = NULL;
    pki_path(key_path, sizeof key_path, "root-ca.key");
    assert_int_equal(ss_trust_read_pem(key_path, &key), SS_OK);
    size_t kn = strlen(text) + strlen(key) + 1;
    char *with_key = malloc(kn);
    assert_non_null(with_key);
    snprintf(with_key, kn, "%s%s", key, text);
    assert_int_equal(ss_ca_store_load_pem(with_key, "ca.pem", &store), SS_OK);
    ss_ca_store_free(store);
    free(with_key);
    ss_trust_free_pem(key);

    /* a CRL alone: no CA */
    char crl_path[1024];
    char *crl = NULL;
    pki_path(crl_path, sizeof crl_path, "ca/intermediate.crl.pem");
    assert_int_equal(ss_trust_read_pem(crl_path, &crl), SS_OK);

    const char *broken = "-----BEGIN CERTIFICATE-----\nMIIBAAAA\n-----END CERTIFICATE-----\n";
    size_t n = strlen(text) + strlen(broken) + 1;
    char *then_broken = malloc(n);
    assert_non_null(then_broken);
    snprintf(then_broken, n, "%s%s", text, broken);
    const struct {
        const char *pem, *why;
    } refused[] = {{"", "none in it"},
                   {"not a certificate\n", "none in it"},
                   {crl, "none in it"},
                   {broken, "not PEM certificates and CRLs"},
                   {then_broken, "not PEM certificates and CRLs"}};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        store = (struct ss_ca_store *)1;
        assert_int_equal(ss_ca_store_load_pem(refused[i].pem, "ca.pem", &store), SS_ERR_CONFIG);
        assert_null(store);
        assert_non_null(strstr(ss_errmsg(), "ca.pem: cannot load CA certificates"));
        assert_non_null(strstr(ss_errmsg(), refused[i].why));
    }
    free(then_broken);
    ss_trust_free_pem(crl);
    ss_trust_free_pem(text);
}

/* A register service's certificate: the chain to the CAs named for services, and its name. */
static void test_verify_service(void **state)
{
    (void)state;
    char ca[1024], rogue[1024];
    pki_path(ca, sizeof ca, "ca-chain.pem");
    pki_path(rogue, sizeof rogue, "rogue/rogue-ca.pem");
    struct ss_ca_store *ca_store = NULL, *rogue_store = NULL;
    assert_int_equal(ss_ca_store_load(ca, &ca_store), SS_OK);
    assert_int_equal(ss_ca_store_load(rogue, &rogue_store), SS_OK);
    struct chain c = {.n = 0};
    /* issued to DNS:localhost and IP:127.0.0.1 */
    chain_add(&c, "servers/ss-sh-kiel/auth-chain.pem");
    assert_int_equal(ss_trust_verify_service(ca_store, c.certs, c.n, "127.0.0.1"), SS_OK);
    assert_int_equal(ss_trust_verify_service(ca_store, c.certs, c.n, "localhost"), SS_OK);
    assert_int_equal(ss_trust_verify_service(ca_store, c.certs, c.n, "LOCALHOST"), SS_OK);
    assert_int_equal(ss_trust_verify_service(ca_store, c.certs, c.n, "localhost."), SS_OK);
    /* a name or an address it was not issued to */
    assert_int_equal(ss_trust_verify_service(ca_store, c.certs, c.n, "127.0.0.2"),
                     SS_ERR_PEER_UNTRUSTED);
    assert_non_null(strstr(ss_errmsg(), "is not issued to 127.0.0.2"));
    assert_int_equal(ss_trust_verify_service(ca_store, c.certs, c.n, "register.example.org"),
                     SS_ERR_PEER_UNTRUSTED);
    assert_int_equal(ss_trust_verify_service(ca_store, c.certs, c.n, "[::1]"),
                     SS_ERR_PEER_UNTRUSTED);
    assert_non_null(strstr(ss_errmsg(), "is not issued to ::1"));
    assert_int_equal(ss_trust_verify_service(ca_store, c.certs, c.n, "localhost.evil"),
                     SS_ERR_PEER_UNTRUSTED);
    assert_int_equal(ss_trust_verify_service(ca_store, c.certs, c.n, ""), SS_ERR_PEER_UNTRUSTED);
    assert_int_equal(ss_trust_verify_service(ca_store, c.certs, c.n, "[]"), SS_ERR_PEER_UNTRUSTED);
    chain_free(&c);
    /* the right name, but not a CA named for services; from a CA outside; expired; a
     * certificate for time stamps only, no TLS server's */
    const struct {
        const char *file;
        const struct ss_ca_store *cas;
        const char *why;
    } refused[] = {{"servers/ss-sh-kiel/auth-chain.pem", rogue_store, "rejected"},
                   {"rogue/server.pem", ca_store, "rejected"},
                   {"servers/ss-expired/auth.pem", ca_store, "expired"},
                   {"tsa.pem", ca_store, "unsuitable certificate purpose"}};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        chain_add(&c, refused[i].file);
        if (ss_trust_verify_service(refused[i].cas, c.certs, c.n, "127.0.0.1") !=
                SS_ERR_PEER_UNTRUSTED ||
            !strstr(ss_errmsg(), refused[i].why))
            fail_msg("%s: not refused for '%s' (%s)", refused[i].file, refused[i].why, ss_errmsg());
        chain_free(&c);
    }
    /* no certificate at all */
    assert_int_equal(ss_trust_verify_service(ca_store, c.certs, 0, "127.0.0.1"),
                     SS_ERR_PEER_UNTRUSTED);
    ss_ca_store_free(rogue_store);
    ss_ca_store_free(ca_store);
    /* the system's CAs load (the test PKI's are not among them) */
    struct ss_ca_store *system = NULL;
    assert_int_equal(ss_ca_store_system(&system), SS_OK);
    chain_add(&c, "servers/ss-sh-kiel/auth-chain.pem");
    assert_int_equal(ss_trust_verify_service(system, c.certs, c.n, "127.0.0.1"),
                     SS_ERR_PEER_UNTRUSTED);
    assert_non_null(strstr(ss_errmsg(), "rejected"));
    chain_free(&c);
    /* and the store holds them: some root of the system's bundle that may serve TLS chains (to
     * itself), so only its name is refused; an empty store would refuse every chain */
    FILE *f = fopen(X509_get_default_cert_file(), "r");
    assert_non_null(f);
    bool chained = false;
    X509 *root;
    while (!chained && (root = PEM_read_X509(f, NULL, NULL, NULL)) != NULL) {
        unsigned char *der = NULL;
        int len = i2d_X509(root, &der);
        X509_free(root);
        assert_true(len > 0);
        struct ss_der d = {der, (size_t)len};
        assert_int_equal(ss_trust_verify_service(system, &d, 1, "name.invalid"),
                         SS_ERR_PEER_UNTRUSTED);
        chained = strstr(ss_errmsg(), "is not issued to name.invalid") != NULL;
        OPENSSL_free(der);
    }
    fclose(f);
    assert_true(chained);
    ss_ca_store_free(system);
}

/* ---- key pairs and PEM files ---- */

static void test_check_keypair(void **state)
{
    (void)state;
    char cert[1024], key[1024], other_key[1024], missing[1024];
    pki_path(cert, sizeof cert, "servers/ss-sh-kiel/auth.pem");
    pki_path(key, sizeof key, "servers/ss-sh-kiel/auth.key");
    pki_path(other_key, sizeof other_key, "servers/ss-mv-schwerin/auth.key");
    pki_path(missing, sizeof missing, "servers/ss-sh-kiel/missing.pem");
    assert_int_equal(ss_trust_check_keypair(cert, key), SS_OK);
    assert_int_equal(ss_trust_check_keypair(cert, other_key), SS_ERR_CRYPTO);
    assert_non_null(strstr(ss_errmsg(), "does not hold the key"));
    /* the chain file starts with the leaf: same answer */
    char chain[1024];
    pki_path(chain, sizeof chain, "servers/ss-sh-kiel/auth-chain.pem");
    assert_int_equal(ss_trust_check_keypair(chain, key), SS_OK);
    assert_int_equal(ss_trust_check_keypair(missing, key), SS_ERR_NOT_FOUND);
    assert_int_equal(ss_trust_check_keypair(cert, missing), SS_ERR_CRYPTO);
    /* files swapped */
    assert_int_equal(ss_trust_check_keypair(key, cert), SS_ERR_BAD_CERTIFICATE);
    assert_int_equal(ss_trust_check_keypair(cert, cert), SS_ERR_CRYPTO);
    /* the same in memory (a reload), with the certificate's fingerprint */
    char *chain_pem = NULL, *key_pem = NULL, *other_pem = NULL;
    assert_int_equal(ss_trust_read_pem(chain, &chain_pem), SS_OK);
    assert_int_equal(ss_trust_read_pem(key, &key_pem), SS_OK);
    assert_int_equal(ss_trust_read_pem(other_key, &other_pem), SS_OK);
    uint8_t fp[32], want[32];
    assert_int_equal(ss_trust_check_keypair_pem(chain_pem, key_pem, fp), SS_OK);
    assert_int_equal(ss_trust_cert_file_fingerprint(cert, want), SS_OK);
    assert_memory_equal(fp, want, 32);
    assert_int_equal(ss_trust_check_keypair_pem(chain_pem, other_pem, fp), SS_ERR_CRYPTO);
    assert_int_equal(ss_trust_check_keypair_pem(key_pem, key_pem, fp), SS_ERR_CRYPTO);
    assert_int_equal(ss_trust_check_keypair_pem(chain_pem, "", fp), SS_ERR_CRYPTO);
    free(chain_pem);
    free(key_pem);
    free(other_pem);
}

static void test_read_pem(void **state)
{
    (void)state;
    char path[1024];
    pki_path(path, sizeof path, "servers/ss-sh-kiel/auth-chain.pem");
    char *pem = NULL;
    assert_int_equal(ss_trust_read_pem(path, &pem), SS_OK);
    assert_non_null(pem);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char want[16384];
    size_t n = fread(want, 1, sizeof want - 1, f);
    fclose(f);
    want[n] = '\0';
    assert_true(n > 0 && n < sizeof want - 1);
    assert_string_equal(pem, want);
    free(pem);
    pem = (char *)(uintptr_t)1;
    pki_path(path, sizeof path, "no-such-file.pem");
    assert_int_equal(ss_trust_read_pem(path, &pem), SS_ERR_NOT_FOUND);
    assert_null(pem);
}

/* ---- certificate status (OCSP), failing closed ---- */

static void test_status_fails_closed(void **state)
{
    (void)state;
    struct chain c = {0};
    chain_add(&c, "servers/ss-sh-kiel/auth.pem");

    /* the fixture's CA lists no responder: the status cannot be known */
    assert_int_equal(ss_trust_check_status(F->trust, c.certs, c.n, 0), SS_ERR_PEER_UNTRUSTED);
    assert_non_null(strstr(ss_errmsg(), "lists no OCSP responder"));
    assert_int_equal(ss_trust_check_status(F->trust, c.certs, 0, 0), SS_ERR_PEER_UNTRUSTED);

    /* a responder that does not answer */
    char kiel[65], schwerin[65];
    uint8_t bytes[32];
    read_sha("servers/ss-sh-kiel/auth.sha256", kiel, bytes);
    read_sha("servers/ss-mv-schwerin/auth.sha256", schwerin, bytes);
    char *doc = make_doc(kiel, schwerin, true);
    char *ocsp = b64_cert("ocsp.pem");
    size_t n = strlen(doc) + strlen(ocsp) + 256;
    char *with = malloc(n);
    assert_non_null(with);
    char *end = strstr(doc, "  </certificationAuthority>");
    assert_non_null(end);
    snprintf(with, n,
             "%.*s    <ocspResponder url=\"http://127.0.0.1:1/\"><certificate>%s"
             "</certificate></ocspResponder>\n%s",
             (int)(end - doc), doc, ocsp, end);
    struct ss_registry *reg = parse_doc(with);
    struct ss_trust *t = NULL;
    assert_int_equal(ss_trust_new(reg, &t), SS_OK);
    assert_int_equal(ss_trust_check_status(t, c.certs, c.n, 0), SS_ERR_PEER_UNTRUSTED);
    assert_non_null(strstr(ss_errmsg(), "OCSP responder http://127.0.0.1:1/"));
    /* the failure is remembered: the responder is not asked again at once */
    assert_int_equal(ss_trust_check_status(t, c.certs, c.n, 0), SS_ERR_PEER_UNTRUSTED);
    assert_non_null(strstr(ss_errmsg(), "(cached)"));

    /* a refusal within the connection's time is the responder's own: remembered */
    ss_trust_unref(t);
    assert_int_equal(ss_trust_new(reg, &t), SS_OK);
    assert_int_equal(ss_trust_check_status(t, c.certs, c.n, ss_monotonic_us() + 4000000u),
                     SS_ERR_PEER_UNTRUSTED);
    assert_null(strstr(ss_errmsg(), "(cached)"));
    assert_int_equal(ss_trust_check_status(t, c.certs, c.n, ss_monotonic_us() + 4000000u),
                     SS_ERR_PEER_UNTRUSTED);
    assert_non_null(strstr(ss_errmsg(), "(cached)"));

    /* the connection's time is up: the responder is not asked, and that is not remembered */
    ss_trust_unref(t);
    assert_int_equal(ss_trust_new(reg, &t), SS_OK);
    assert_int_equal(ss_trust_check_status(t, c.certs, c.n, ss_monotonic_us()),
                     SS_ERR_PEER_UNTRUSTED);
    assert_non_null(strstr(ss_errmsg(), "not asked: the connection's time is up"));
    assert_int_equal(ss_trust_check_status(t, c.certs, c.n, 0), SS_ERR_PEER_UNTRUSTED);
    assert_null(strstr(ss_errmsg(), "(cached)"));
    assert_non_null(strstr(ss_errmsg(), "OCSP responder http://127.0.0.1:1/"));

    /* a certificate from outside the federation has no issuer to ask about */
    struct chain rogue = {0};
    chain_add(&rogue, "rogue/server.pem");
    assert_int_equal(ss_trust_check_status(t, rogue.certs, rogue.n, 0), SS_ERR_PEER_UNTRUSTED);
    assert_non_null(strstr(ss_errmsg(), "not issued by an approved CA"));

    chain_free(&rogue);
    ss_trust_unref(t);
    ss_registry_unref(reg);
    free(with);

    /* a responder that takes the request and never answers: asked for what is left of the
     * connection's time (about 1.9 s here), not for SS_TRUST_OCSP_TIMEOUT */
    int silent = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in at = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t at_len = sizeof at;
    assert_true(silent >= 0 && bind(silent, (struct sockaddr *)&at, sizeof at) == 0 &&
                listen(silent, 4) == 0 &&
                getsockname(silent, (struct sockaddr *)&at, &at_len) == 0);
    char url[64];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/", ntohs(at.sin_port));
    n = strlen(doc) + strlen(ocsp) + 256;
    with = malloc(n);
    assert_non_null(with);
    snprintf(with, n,
             "%.*s    <ocspResponder url=\"%s\"><certificate>%s"
             "</certificate></ocspResponder>\n%s",
             (int)(end - doc), doc, url, ocsp, end);
    reg = parse_doc(with);
    assert_int_equal(ss_trust_new(reg, &t), SS_OK);
    uint64_t started = ss_monotonic_us();
    assert_int_equal(ss_trust_check_status(t, c.certs, c.n, started + 1900000u),
                     SS_ERR_PEER_UNTRUSTED);
    assert_true(ss_monotonic_us() - started < (SS_TRUST_OCSP_TIMEOUT - 1) * 1000000u);
    /* less than a second left is still time to ask in (a failure not remembered: asked again) */
    assert_int_equal(ss_trust_check_status(t, c.certs, c.n, ss_monotonic_us() + 900000u),
                     SS_ERR_PEER_UNTRUSTED);
    assert_null(strstr(ss_errmsg(), "not asked"));
    assert_null(strstr(ss_errmsg(), "(cached)"));
    assert_non_null(strstr(ss_errmsg(), url));
    close(silent);
    ss_trust_unref(t);
    ss_registry_unref(reg);
    free(with);
    free(ocsp);
    free(doc);
    chain_free(&c);
}

/* ---- TLS policy ---- */

/* Copies the next ':'-separated token of *s into tok and advances *s; false at the end. */
static bool next_token(const char **s, char *tok, size_t size)
{
    if (!**s)
        return false;
    const char *end = strchr(*s, ':');
    size_t n = end ? (size_t)(end - *s) : strlen(*s);
    assert_true(n < size);
    memcpy(tok, *s, n);
    tok[n] = '\0';
    *s += n + (end ? 1 : 0);
    return true;
}

/* True if the list s has a token containing needle that is enabled (for GnuTLS:
 * starts with '+'; in an OpenSSL list every token is enabled). */
static bool enables(const char *s, const char *needle, bool gnutls)
{
    char tok[256];
    while (next_token(&s, tok, sizeof tok)) {
        if (gnutls && tok[0] != '+')
            continue;
        if (strstr(tok, needle))
            return true;
    }
    return false;
}

static void test_tls_policy(void **state)
{
    (void)state;
    const char *g = ss_tls_gnutls_priorities();
    const char *o12 = ss_tls_openssl_ciphers12();
    const char *o13 = ss_tls_openssl_suites13();
    assert_non_null(g);
    assert_non_null(o12);
    assert_non_null(o13);
    /* the same strings each time */
    assert_ptr_equal(g, ss_tls_gnutls_priorities());
    assert_string_equal(o12, ss_tls_openssl_ciphers12());

    /* GnuTLS: starts from nothing, TLS 1.3 and 1.2 only, AEAD, ECDHE */
    assert_true(strncmp(g, "NONE:", 5) == 0);
    assert_true(enables(g, "VERS-TLS1.3", true));
    assert_true(enables(g, "AES-256-GCM", true));
    assert_true(enables(g, "ECDHE", true));
    const char *g_never[] = {"VERS-TLS1.1", "VERS-TLS1.0", "VERS-SSL3", "CBC",        "SHA1",
                             "MD5",         "RSA-PSK",     "3DES",      "ARCFOUR",    "CAMELLIA",
                             "NULL-",       "ANON",        "VERS-ALL",  "CIPHER-ALL", "MAC-ALL",
                             "KX-ALL",      "%COMPAT",     "%NO_"};
    for (size_t i = 0; i < sizeof g_never / sizeof g_never[0]; i++)
        if (enables(g, g_never[i], true))
            fail_msg("GnuTLS priorities enable %s: %s", g_never[i], g);
    /* key exchanges without forward secrecy or with finite-field DH */
    const char *kx_never[] = {"+RSA", "+DHE-RSA", "+DHE-DSS", "+PSK", "+SRP"};
    char tok[256];
    const char *list = g;
    while (next_token(&list, tok, sizeof tok))
        for (size_t i = 0; i < sizeof kx_never / sizeof kx_never[0]; i++)
            if (strcmp(tok, kx_never[i]) == 0)
                fail_msg("GnuTLS priorities enable %s: %s", tok, g);
    /* SHA-1 signatures are taken out again after SIGN-ALL */
    if (strstr(g, "+SIGN-ALL")) {
        assert_non_null(strstr(g, "-SIGN-RSA-SHA1"));
        assert_non_null(strstr(g, "-SIGN-ECDSA-SHA1"));
    }

    /* OpenSSL TLS 1.3 suites */
    assert_non_null(strstr(o13, "TLS_AES_256_GCM_SHA384"));
    assert_non_null(strstr(o13, "TLS_AES_128_GCM_SHA256"));
    assert_null(strstr(o13, "CCM_8"));
    /* OpenSSL TLS 1.2 ciphers: ECDHE with AEAD only */
    list = o12;
    int count = 0;
    while (next_token(&list, tok, sizeof tok)) {
        count++;
        if (strncmp(tok, "ECDHE-", 6) != 0)
            fail_msg("TLS 1.2 suite %s is not ECDHE", tok);
        if (!strstr(tok, "GCM") && !strstr(tok, "CHACHA20-POLY1305"))
            fail_msg("TLS 1.2 suite %s is not AEAD", tok);
        if (strstr(tok, "CBC") || strstr(tok, "SHA1") || strstr(tok, "RC4") || strstr(tok, "DES") ||
            (strstr(tok, "-SHA") && !strstr(tok, "-SHA256") && !strstr(tok, "-SHA384")))
            fail_msg("TLS 1.2 suite %s is weak", tok);
        if (tok[0] == '!' || tok[0] == '+' || tok[0] == '-' || strcmp(tok, "ALL") == 0 ||
            strcmp(tok, "DEFAULT") == 0)
            fail_msg("TLS 1.2 list has the keyword %s", tok);
    }
    assert_true(count >= 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_verify_good_chain),
        cmocka_unit_test(test_fingerprint),
        cmocka_unit_test(test_verify_expired),
        cmocka_unit_test(test_verify_rogue),
        cmocka_unit_test(test_verify_wrong_purpose),
        cmocka_unit_test(test_verify_no_and_bad_certs),
        cmocka_unit_test(test_registry_without_ca),
        cmocka_unit_test(test_refcounts),
        cmocka_unit_test(test_check_server),
        cmocka_unit_test(test_check_client_server),
        cmocka_unit_test(test_verify_is),
        cmocka_unit_test(test_ca_store_pem),
        cmocka_unit_test(test_verify_service),
        cmocka_unit_test(test_check_keypair),
        cmocka_unit_test(test_read_pem),
        cmocka_unit_test(test_status_fails_closed),
        cmocka_unit_test(test_tls_policy),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
