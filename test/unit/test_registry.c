/*
 * Unit tests of the members registry (registry/registry.c, registry_sig.c,
 * ss_xml.c): a document generated here from the test PKI is parsed and
 * looked up; every refusal of the parser names the offending line; the
 * detached CMS signature is made and checked with the PKI's registry
 * authority and refused for a changed document, a broken signature, a
 * look-alike signer, a wrong anchor, a weak digest and an attached
 * signature; loading refuses an expired document and a rollback.
 *
 * Needs SS_TEST_PKI (deploy/pki.sh).
 */
#include "registry.h"
#include "ss_hex.h"
#include "ss_xml.h"

#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#define NAME "reg.xml"
#define ISSUED "2026-01-01T00:00:00Z"
#define EXPIRES "2026-02-01T00:00:00Z"
#define T_ISSUED ((time_t)1767225600)  /* 2026-01-01T00:00:00Z */
#define T_EXPIRES ((time_t)1769904000) /* 2026-02-01T00:00:00Z */
#define T_INSIDE ((time_t)1768435200)  /* 2026-01-15T00:00:00Z */

struct fixture {
    char pki[512];
    char dir[64];
    char *root_b64;         /* root-ca.pem as base64 DER */
    char *intermediate_b64; /* intermediate-ca.pem */
    char *ocsp_b64;
    char *tsa_b64;
    uint8_t *root_der;
    size_t root_der_len;
    char kiel_sha[65];
    char schwerin_sha[65];
    char extra_sha[65];
    char *doc; /* the good document */
};

static struct fixture *F;

/* ---- helpers ---- */

static void pki_path(char *out, size_t size, const char *rel)
{
    int r = snprintf(out, size, "%s/%s", F->pki, rel);
    assert_true(r > 0 && (size_t)r < size);
}

static X509 *read_pem_cert(const char *rel)
{
    char path[1024];
    pki_path(path, sizeof path, rel);
    FILE *f = fopen(path, "r");
    if (!f)
        fail_msg("cannot open %s", path);
    X509 *x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    return x;
}

static uint8_t *cert_der(const char *rel, size_t *len)
{
    X509 *x = read_pem_cert(rel);
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    X509_free(x);
    assert_true(n > 0);
    uint8_t *copy = malloc((size_t)n);
    assert_non_null(copy);
    memcpy(copy, der, (size_t)n);
    OPENSSL_free(der);
    *len = (size_t)n;
    return copy;
}

static char *b64(const uint8_t *data, size_t len)
{
    char *out = malloc(4 * ((len + 2) / 3) + 1);
    assert_non_null(out);
    int n = EVP_EncodeBlock((unsigned char *)out, data, (int)len);
    assert_true(n > 0);
    return out;
}

static char *cert_b64(const char *rel)
{
    size_t len;
    uint8_t *der = cert_der(rel, &len);
    char *s = b64(der, len);
    free(der);
    return s;
}

static void read_sha(const char *rel, char out[65])
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
    memcpy(out, line, 64);
    out[64] = '\0';
}

/* A growable string. */
struct buf {
    char *s;
    size_t len, cap;
};

static void buf_printf(struct buf *b, const char *fmt, ...) SS_PRINTF(2, 3);
static void buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    assert_true(n >= 0);
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = (b->len + (size_t)n + 1) * 2;
        char *s = realloc(b->s, cap);
        assert_non_null(s);
        b->s = s;
        b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

/* The good document, one element per line, with the given root attributes. */
static char *make_doc(const char *serial, const char *issued, const char *expires)
{
    struct buf b = {0};
    buf_printf(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    buf_printf(&b,
               "<registry version=\"1\" instance=\"DE-NORD\" serial=\"%s\" issued=\"%s\" "
               "expires=\"%s\">\n",
               serial, issued, expires);
    buf_printf(&b, "  <settings ocspFreshness=\"3600\" timestampingInterval=\"60\" "
                   "registryValidity=\"86400\" refreshInterval=\"300\"/>\n");
    buf_printf(&b, "  <memberClass code=\"GOV\">Landesbehörde</memberClass>\n");
    buf_printf(&b, "  <memberClass code=\"MUN\">Kommune</memberClass>\n");
    buf_printf(&b, "  <member class=\"GOV\" code=\"ima-sh\" state=\"SH\">\n");
    buf_printf(&b, "    <name>Innenministerium Schleswig-Holstein</name>\n");
    buf_printf(&b, "    <subsystem code=\"melde-client\"/>\n");
    buf_printf(&b, "  </member>\n");
    buf_printf(&b, "  <member class=\"MUN\" code=\"13004000\" state=\"MV\">\n");
    buf_printf(&b, "    <name>Landeshauptstadt Schwerin</name>\n");
    buf_printf(&b, "    <subsystem code=\"melde\"/>\n");
    buf_printf(&b, "    <subsystem code=\"archiv\"/>\n");
    buf_printf(&b, "  </member>\n");
    buf_printf(&b, "  <member class=\"GOV\" code=\"lr-sh\" state=\"SH\">\n");
    buf_printf(&b, "    <name>Landesregierung Schleswig-Holstein</name>\n");
    buf_printf(&b, "  </member>\n");
    buf_printf(&b,
               "  <securityServer owner=\"GOV/ima-sh\" code=\"ss-sh-kiel\" "
               "address=\"127.0.0.1:18443\" authSha256=\"%s\">\n",
               F->kiel_sha);
    buf_printf(&b, "    <client id=\"GOV/ima-sh/melde-client\"/>\n");
    buf_printf(&b, "    <client id=\"GOV/lr-sh\"/>\n");
    buf_printf(&b, "  </securityServer>\n");
    buf_printf(&b,
               "  <securityServer owner=\"MUN/13004000\" code=\"ss-mv-schwerin\" "
               "address=\"127.0.0.2:18443\" authSha256=\"%s\">\n",
               F->schwerin_sha);
    buf_printf(&b, "    <client id=\"MUN/13004000/melde\"/>\n");
    buf_printf(&b, "  </securityServer>\n");
    buf_printf(&b,
               "  <securityServer owner=\"GOV/ima-sh\" code=\"ss-sh-extra\" "
               "address=\"[::1]:18443\" authSha256=\"%s\">\n",
               F->extra_sha);
    buf_printf(&b, "    <client id=\"GOV/ima-sh/melde-client\"/>\n");
    buf_printf(&b, "  </securityServer>\n");
    buf_printf(&b, "  <globalGroup code=\"melde-behoerden\" description=\"Meldebehörden\">\n");
    buf_printf(&b, "    <member id=\"GOV/ima-sh\"/>\n");
    buf_printf(&b, "    <member id=\"MUN/13004000/melde\"/>\n");
    buf_printf(&b, "  </globalGroup>\n");
    buf_printf(&b, "  <globalGroup code=\"leer\" description=\"Leere Gruppe\"/>\n");
    buf_printf(&b, "  <certificationAuthority name=\"DE-NORD Federation Root CA\">\n");
    buf_printf(&b, "    <certificate>%s</certificate>\n", F->root_b64);
    buf_printf(&b, "    <intermediate>%s</intermediate>\n", F->intermediate_b64);
    buf_printf(&b, "    <ocspResponder url=\"http://127.0.0.1:18888/\">\n");
    buf_printf(&b, "      <certificate>%s</certificate>\n", F->ocsp_b64);
    buf_printf(&b, "    </ocspResponder>\n");
    buf_printf(&b, "  </certificationAuthority>\n");
    buf_printf(&b,
               "  <timestampingAuthority name=\"DE-NORD TSA\" url=\"http://127.0.0.1:18889/\">\n");
    buf_printf(&b, "    <certificate>%s</certificate>\n", F->tsa_b64);
    buf_printf(&b, "  </timestampingAuthority>\n");
    buf_printf(&b, "</registry>\n");
    return b.s;
}

/* Returns a copy of doc with the first occurrence of from replaced by to. */
static char *replace(const char *doc, const char *from, const char *to)
{
    const char *p = strstr(doc, from);
    if (!p)
        fail_msg("'%s' is not in the document", from);
    size_t pre = (size_t)(p - doc), flen = strlen(from), tlen = strlen(to);
    size_t rest = strlen(p + flen);
    char *out = malloc(pre + tlen + rest + 1);
    assert_non_null(out);
    memcpy(out, doc, pre);
    memcpy(out + pre, to, tlen);
    memcpy(out + pre + tlen, p + flen, rest + 1);
    return out;
}

/* The 1-based line of the first occurrence of needle in doc. */
static long line_of(const char *doc, const char *needle)
{
    const char *p = strstr(doc, needle);
    if (!p)
        fail_msg("'%s' is not in the document", needle);
    long line = 1;
    for (const char *q = doc; q < p; q++)
        line += *q == '\n';
    return line;
}

static void assert_line(long line)
{
    char want[64];
    snprintf(want, sizeof want, NAME ":%ld:", line);
    if (strncmp(ss_errmsg(), want, strlen(want)) != 0)
        fail_msg("error message '%s' does not start with '%s'", ss_errmsg(), want);
}

static ss_error parse_str(const char *doc, struct ss_registry **out)
{
    ss_errclear();
    return ss_registry_parse(NAME, (const uint8_t *)doc, strlen(doc), out);
}

/* Parses doc (the good document with from replaced by to) and expects err at the
 * line of marker in the changed document. */
static void expect_refused(const char *from, const char *to, ss_error err, const char *marker,
                           const char *reason)
{
    char *doc = replace(F->doc, from, to);
    struct ss_registry *reg = (struct ss_registry *)(uintptr_t)1;
    ss_error got = parse_str(doc, &reg);
    if (got != err)
        fail_msg("replacing '%.60s': got %s (%s), want %s", from, ss_error_name(got), ss_errmsg(),
                 ss_error_name(err));
    assert_null(reg);
    assert_line(line_of(doc, marker));
    if (reason && !strstr(ss_errmsg(), reason))
        fail_msg("error message '%s' does not contain '%s'", ss_errmsg(), reason);
    free(doc);
}

/* The good document with from replaced by to loads, but the authority's tool would not write
 * it (ss_registry_check_servers), saying reason. */
static void expect_tool_refuses(const char *from, const char *to, const char *reason)
{
    char *doc = replace(F->doc, from, to);
    struct ss_registry *reg = NULL;
    ss_error got = parse_str(doc, &reg);
    if (got != SS_OK)
        fail_msg("replacing '%.60s': the document does not load: %s", from, ss_errmsg());
    assert_int_equal(ss_registry_check_servers(reg), SS_ERR_REGISTRY);
    if (!strstr(ss_errmsg(), reason))
        fail_msg("error message '%s' does not contain '%s'", ss_errmsg(), reason);
    ss_registry_unref(reg);
    free(doc);
}

static char *write_file(const char *name, const void *data, size_t len)
{
    char *path = malloc(512);
    assert_non_null(path);
    snprintf(path, 512, "%s/%s", F->dir, name);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    return path;
}

static void sign_with(const char *doc, const char *key_rel, const char *cert_rel, uint8_t **sig,
                      size_t *sig_len)
{
    char key[1024], cert[1024], chain[1024];
    pki_path(key, sizeof key, key_rel);
    pki_path(cert, sizeof cert, cert_rel);
    pki_path(chain, sizeof chain, "ca-chain.pem");
    assert_int_equal(
        ss_registry_sign((const uint8_t *)doc, strlen(doc), key, cert, chain, sig, sig_len), SS_OK);
    assert_non_null(*sig);
    assert_true(*sig_len > 100);
}

static void load_anchor(const char *rel, struct ss_reg_anchor *anchor)
{
    char path[1024];
    pki_path(path, sizeof path, rel);
    assert_int_equal(ss_reg_anchor_load(path, anchor), SS_OK);
    assert_non_null(anchor->der);
}

/* ---- atomic writes ---- */

/* A file in the fixture's directory, seconds_old old (0: as it is). */
static void put_file(const char *name, time_t seconds_old)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", F->dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("half a mark", f);
    fclose(f);
    if (seconds_old) {
        struct timespec t[2] = {{time(NULL) - seconds_old, 0}, {time(NULL) - seconds_old, 0}};
        assert_int_equal(utimensat(AT_FDCWD, path, t, 0), 0);
    }
}

static bool there(const char *name)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", F->dir, name);
    return access(path, F_OK) == 0;
}

/* A write removes what killed writers left of earlier writes, and nothing else. */
static void test_write_sweeps_stale_tmp(void **state)
{
    (void)state;
    pid_t gone = fork();
    assert_true(gone >= 0);
    if (gone == 0)
        _exit(0);
    assert_int_equal(waitpid(gone, NULL, 0), gone);
    char stale[64], alive[64], other[64];
    snprintf(stale, sizeof stale, "state.mark.tmp.%ld", (long)gone);
    snprintf(alive, sizeof alive, "state.mark.tmp.%ld", (long)getppid());
    snprintf(other, sizeof other, "other.mark.tmp.%ld", (long)gone);
    put_file(stale, 3600);
    put_file(alive, 3600);
    put_file(other, 3600);
    put_file("state.mark.tmp.x1", 3600);
    char plus[64];
    snprintf(plus, sizeof plus, "state.mark.tmp.+%ld", (long)gone);
    put_file(plus, 3600);
    char path[600];
    snprintf(path, sizeof path, "%s/state.mark", F->dir);
    uint8_t h[32] = {1};
    assert_int_equal(ss_mark_write(path, 7, h), SS_OK);
    assert_false(there(stale));
    assert_true(there(alive));                /* its writer may still be at it */
    assert_true(there(other));                /* another file's */
    assert_true(there("state.mark.tmp.x1"));  /* not a writer's name */
    assert_true(there(plus));                 /* nor this */
    /* one that changed within the minute stays, even if its process is gone */
    put_file(stale, 0);
    assert_int_equal(ss_mark_write(path, 8, h), SS_OK);
    assert_true(there(stale));
    bool found = false;
    uint64_t n = 0;
    uint8_t got[32];
    assert_int_equal(ss_mark_read(path, "NUMBER SHA256", &found, &n, got), SS_OK);
    assert_true(found);
    assert_int_equal(n, 8);
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
    snprintf(F->dir, sizeof F->dir, "/tmp/test_registry.XXXXXX");
    if (!mkdtemp(F->dir))
        return -1;
    F->root_b64 = cert_b64("root-ca.pem");
    F->intermediate_b64 = cert_b64("intermediate-ca.pem");
    F->ocsp_b64 = cert_b64("ocsp.pem");
    F->tsa_b64 = cert_b64("tsa.pem");
    F->root_der = cert_der("root-ca.pem", &F->root_der_len);
    read_sha("servers/ss-sh-kiel/auth.sha256", F->kiel_sha);
    read_sha("servers/ss-mv-schwerin/auth.sha256", F->schwerin_sha);
    read_sha("servers/ss-sh-extra/auth.sha256", F->extra_sha);
    F->doc = make_doc("42", ISSUED, EXPIRES);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (!F)
        return 0;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", F->dir);
    if (system(cmd) != 0)
        return -1;
    free(F->root_b64);
    free(F->intermediate_b64);
    free(F->ocsp_b64);
    free(F->tsa_b64);
    free(F->root_der);
    free(F->doc);
    free(F);
    F = NULL;
    return 0;
}

/* ---- time ---- */

static void test_time_round_trip(void **state)
{
    (void)state;
    const struct {
        const char *text;
        time_t t;
    } cases[] = {
        {"1970-01-01T00:00:00Z", 0},
        {"2026-01-01T00:00:00Z", T_ISSUED},
        {"2024-02-29T12:34:56Z", 1709210096},
        {"1999-12-31T23:59:59Z", 946684799},
        {"2038-01-19T03:14:08Z", (time_t)2147483648LL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        time_t t = -1;
        assert_true(ss_time_parse(cases[i].text, &t));
        assert_int_equal(t, cases[i].t);
        char out[21];
        ss_time_format(cases[i].t, out);
        assert_string_equal(out, cases[i].text);
    }
}

static void test_time_malformed(void **state)
{
    (void)state;
    const char *bad[] = {
        "",
        "2026-01-01T00:00:00",
        "2026-01-01T00:00:00z",
        "2026-01-01 00:00:00Z",
        "2026-01-01T00:00:00+01:00",
        "2026-01-01T00:00:00.5Z",
        "2026-1-01T00:00:00Z",
        "+026-01-01T00:00:00Z",
        "2026/01/01T00:00:00Z",
        "2026-01-01T00-00-00Z",
        "2026-00-01T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-01-00T00:00:00Z",
        "2026-01-32T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:60:00Z",
        "2026-01-01T00:00:61Z",
        "2026-01-01T0a:00:00Z",
        "2026-01-01T00:00:00ZZ",
        " 2026-01-01T00:00:00Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        time_t t = 12345;
        if (ss_time_parse(bad[i], &t))
            fail_msg("'%s' was accepted", bad[i]);
    }
    time_t t;
    assert_false(ss_time_parse(NULL, &t));
}

/* A day that the month does not have is malformed, not the next month. */
static void test_time_impossible_dates(void **state)
{
    (void)state;
    const char *bad[] = {"2026-02-29T00:00:00Z", "2026-02-30T00:00:00Z", "2026-04-31T00:00:00Z",
                         "2100-02-29T00:00:00Z"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        time_t t = 0;
        if (ss_time_parse(bad[i], &t)) {
            char back[21];
            ss_time_format(t, back);
            fail_msg("'%s' was accepted as %s", bad[i], back);
        }
    }
    time_t t;
    assert_true(ss_time_parse("2000-02-29T00:00:00Z", &t));
}

/* ---- parsing and look-ups ---- */

static void test_parse_good(void **state)
{
    (void)state;
    struct ss_registry *reg = NULL;
    if (parse_str(F->doc, &reg) != SS_OK)
        fail_msg("good document refused: %s", ss_errmsg());
    assert_non_null(reg);
    assert_string_equal(reg->instance, "DE-NORD");
    assert_int_equal(reg->serial, 42);
    assert_int_equal(reg->issued, T_ISSUED);
    assert_int_equal(reg->expires, T_EXPIRES);
    assert_int_equal(reg->settings.ocsp_freshness, 3600);
    assert_int_equal(reg->settings.timestamping_interval, 60);
    assert_int_equal(reg->settings.registry_validity, 86400);
    assert_int_equal(reg->settings.refresh_interval, 300);
    assert_int_equal(reg->n_classes, 2);
    assert_string_equal(reg->classes[0].code, "GOV");
    assert_string_equal(reg->classes[0].description, "Landesbehörde");
    assert_int_equal(reg->n_members, 3);
    assert_int_equal(reg->n_servers, 3);
    assert_int_equal(reg->n_groups, 2);
    assert_int_equal(reg->n_cas, 1);
    assert_string_equal(reg->cas[0].name, "DE-NORD Federation Root CA");
    assert_int_equal(reg->cas[0].cert.len, F->root_der_len);
    assert_memory_equal(reg->cas[0].cert.der, F->root_der, F->root_der_len);
    assert_int_equal(reg->cas[0].n_intermediates, 1);
    assert_int_equal(reg->cas[0].n_ocsp, 1);
    assert_string_equal(reg->cas[0].ocsp[0].url, "http://127.0.0.1:18888/");
    assert_true(reg->cas[0].ocsp[0].cert.len > 100);
    assert_int_equal(reg->n_tsas, 1);
    assert_string_equal(reg->tsas[0].name, "DE-NORD TSA");
    assert_string_equal(reg->tsas[0].url, "http://127.0.0.1:18889/");
    assert_true(reg->tsas[0].cert.len > 100);

    const struct ss_reg_server *kiel = &reg->servers[0];
    assert_string_equal(kiel->code, "ss-sh-kiel");
    assert_string_equal(kiel->address, "127.0.0.1:18443");
    assert_string_equal(kiel->owner.instance, "DE-NORD");
    assert_string_equal(kiel->owner.member_class, "GOV");
    assert_string_equal(kiel->owner.member_code, "ima-sh");
    assert_string_equal(kiel->owner.subsystem, "");
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", kiel->auth_sha256[0][i]);
    assert_string_equal(hex, F->kiel_sha);
    assert_int_equal(kiel->n_clients, 2);
    assert_string_equal(reg->servers[2].address, "[::1]:18443");

    assert_false(ss_registry_expired(reg, T_ISSUED));
    assert_false(ss_registry_expired(reg, T_EXPIRES - 1));
    assert_true(ss_registry_expired(reg, T_EXPIRES));
    ss_registry_unref(reg);
}

static struct ss_client_id cid(const char *s)
{
    struct ss_client_id id;
    if (ss_client_id_parse(s, strlen(s), SS_ID_PART_MAX, false, &id) != SS_OK)
        fail_msg("bad identifier %s in the test", s);
    return id;
}

static void test_lookups(void **state)
{
    (void)state;
    struct ss_registry *reg = NULL;
    assert_int_equal(parse_str(F->doc, &reg), SS_OK);

    /* members */
    const struct ss_reg_member *m = ss_registry_member(reg, "MUN", "13004000");
    assert_non_null(m);
    assert_string_equal(m->name, "Landeshauptstadt Schwerin");
    assert_string_equal(m->state, "MV");
    assert_int_equal(m->n_subsystems, 2);
    assert_string_equal(m->subsystems[0], "melde");
    assert_string_equal(m->subsystems[1], "archiv");
    assert_null(ss_registry_member(reg, "GOV", "13004000"));
    assert_null(ss_registry_member(reg, "MUN", "1300400"));
    assert_null(ss_registry_member(reg, "gov", "ima-sh"));

    /* clients */
    struct ss_client_id id = cid("DE-NORD/GOV/ima-sh");
    assert_true(ss_registry_client_exists(reg, &id));
    id = cid("DE-NORD/GOV/ima-sh/melde-client");
    assert_true(ss_registry_client_exists(reg, &id));
    id = cid("DE-NORD/GOV/ima-sh/melde");
    assert_false(ss_registry_client_exists(reg, &id)); /* a subsystem of another member */
    id = cid("DE-NORD/GOV/nobody");
    assert_false(ss_registry_client_exists(reg, &id));
    id = cid("DE-SUED/GOV/ima-sh");
    assert_false(ss_registry_client_exists(reg, &id)); /* another instance */

    /* servers */
    struct ss_client_id owner = cid("DE-NORD/GOV/ima-sh");
    const struct ss_reg_server *kiel = ss_registry_server(reg, &owner, "ss-sh-kiel");
    assert_non_null(kiel);
    assert_ptr_equal(kiel, &reg->servers[0]);
    assert_null(ss_registry_server(reg, &owner, "ss-mv-schwerin")); /* other owner's code */
    struct ss_client_id mun = cid("DE-NORD/MUN/13004000");
    const struct ss_reg_server *schwerin = ss_registry_server(reg, &mun, "ss-mv-schwerin");
    assert_non_null(schwerin);
    assert_null(ss_registry_server(reg, &mun, "ss-sh-kiel"));

    /* hosting: entries are exact, a member entry does not host its subsystems */
    id = cid("DE-NORD/GOV/ima-sh/melde-client");
    assert_true(ss_registry_server_hosts(kiel, &id));
    assert_false(ss_registry_server_hosts(schwerin, &id));
    id = cid("DE-NORD/GOV/ima-sh");
    assert_false(ss_registry_server_hosts(kiel, &id));
    id = cid("DE-NORD/GOV/lr-sh");
    assert_true(ss_registry_server_hosts(kiel, &id));
    id = cid("DE-NORD/GOV/lr-sh/sub");
    assert_false(ss_registry_server_hosts(kiel, &id));

    const struct ss_reg_server *found[4] = {NULL, NULL, NULL, NULL};
    id = cid("DE-NORD/GOV/ima-sh/melde-client");
    assert_int_equal(ss_registry_servers_for_client(reg, &id, found, 4), 2);
    assert_ptr_equal(found[0], &reg->servers[0]);
    assert_ptr_equal(found[1], &reg->servers[2]);
    assert_null(found[2]);
    /* the total is returned even when out has room for fewer */
    found[0] = found[1] = NULL;
    assert_int_equal(ss_registry_servers_for_client(reg, &id, found, 1), 2);
    assert_ptr_equal(found[0], &reg->servers[0]);
    assert_null(found[1]);
    assert_int_equal(ss_registry_servers_for_client(reg, &id, NULL, 0), 2);
    id = cid("DE-NORD/MUN/13004000/melde");
    assert_int_equal(ss_registry_servers_for_client(reg, &id, found, 4), 1);
    assert_ptr_equal(found[0], schwerin);
    id = cid("DE-NORD/MUN/13004000/archiv");
    assert_int_equal(ss_registry_servers_for_client(reg, &id, found, 4), 0);

    /* groups */
    const struct ss_reg_group *g = ss_registry_group(reg, "melde-behoerden");
    assert_non_null(g);
    assert_string_equal(g->description, "Meldebehörden");
    assert_int_equal(g->n_members, 2);
    assert_null(ss_registry_group(reg, "Melde-behoerden"));
    id = cid("DE-NORD/GOV/ima-sh");
    assert_true(ss_registry_group_has(reg, "melde-behoerden", &id));
    id = cid("DE-NORD/GOV/ima-sh/melde-client"); /* the member entry covers its subsystems */
    assert_true(ss_registry_group_has(reg, "melde-behoerden", &id));
    id = cid("DE-NORD/MUN/13004000/melde");
    assert_true(ss_registry_group_has(reg, "melde-behoerden", &id));
    id = cid("DE-NORD/MUN/13004000"); /* a subsystem entry does not cover the member */
    assert_false(ss_registry_group_has(reg, "melde-behoerden", &id));
    id = cid("DE-NORD/MUN/13004000/archiv");
    assert_false(ss_registry_group_has(reg, "melde-behoerden", &id));
    id = cid("DE-NORD/GOV/lr-sh");
    assert_false(ss_registry_group_has(reg, "melde-behoerden", &id));
    id = cid("DE-SUED/GOV/ima-sh");
    assert_false(ss_registry_group_has(reg, "melde-behoerden", &id));
    id = cid("DE-NORD/GOV/ima-sh");
    assert_false(ss_registry_group_has(reg, "leer", &id));
    assert_false(ss_registry_group_has(reg, "no-such-group", &id));

    ss_registry_unref(reg);
}

static void test_refcount(void **state)
{
    (void)state;
    struct ss_registry *reg = NULL;
    assert_int_equal(parse_str(F->doc, &reg), SS_OK);
    assert_int_equal(reg->refs, 1);
    assert_ptr_equal(ss_registry_ref(reg), reg);
    assert_int_equal(reg->refs, 2);
    ss_registry_unref(reg);
    assert_int_equal(reg->refs, 1);
    ss_registry_unref(reg);
    assert_null(ss_registry_ref(NULL));
    ss_registry_unref(NULL);
}

/* ---- refusals, each with its line ---- */

static void test_refuse_not_well_formed(void **state)
{
    (void)state;
    /* an attribute without quotes */
    expect_refused("<memberClass code=\"MUN\">", "<memberClass code=MUN>", SS_ERR_PROTOCOL,
                   "<memberClass code=MUN>", NULL);
    /* mismatched end tag */
    expect_refused("    <name>Landeshauptstadt Schwerin</name>",
                   "    <name>Landeshauptstadt Schwerin</nam>", SS_ERR_PROTOCOL, "</nam>", NULL);
    /* not XML at all */
    struct ss_registry *reg = NULL;
    assert_int_equal(parse_str("this is not XML", &reg), SS_ERR_PROTOCOL);
    assert_null(reg);
    assert_line(1);
    assert_int_equal(parse_str("", &reg), SS_ERR_PROTOCOL);
    assert_line(1);
    /* a document cut short */
    char *cut = strdup(F->doc);
    assert_non_null(cut);
    cut[strlen(cut) / 2] = '\0';
    assert_int_equal(parse_str(cut, &reg), SS_ERR_PROTOCOL);
    assert_null(reg);
    assert_non_null(strstr(ss_errmsg(), NAME ":"));
    free(cut);
}

static void test_refuse_doctype(void **state)
{
    (void)state;
    struct ss_registry *reg = NULL;
    char *doc =
        replace(F->doc, "<registry ", "<!DOCTYPE registry [\n<!ENTITY x \"y\">\n]>\n<registry ");
    assert_int_equal(parse_str(doc, &reg), SS_ERR_PROTOCOL);
    assert_null(reg);
    assert_non_null(strstr(ss_errmsg(), "document type"));
    free(doc);
    doc = replace(F->doc, "<registry ",
                  "<!DOCTYPE registry SYSTEM \"file:///etc/passwd\">\n<registry ");
    assert_int_equal(parse_str(doc, &reg), SS_ERR_PROTOCOL);
    assert_null(reg);
    assert_non_null(strstr(ss_errmsg(), "document type"));
    free(doc);
    /* an entity used in content: the declaration is refused before anything else */
    doc = replace(F->doc, "<registry ",
                  "<!DOCTYPE registry [<!ENTITY big \"Kommune\">]>\n<registry ");
    char *doc2 = replace(doc, ">Kommune<", ">&big;<");
    assert_int_equal(parse_str(doc2, &reg), SS_ERR_PROTOCOL);
    assert_null(reg);
    free(doc2);
    free(doc);
    /* an undeclared entity is not well-formed */
    expect_refused(">Kommune<", ">&undeclared;<", SS_ERR_PROTOCOL, "&undeclared;", NULL);
}

/* The refusal of a document type declaration names its line, as every other refusal. */
static void test_refuse_doctype_line(void **state)
{
    (void)state;
    expect_refused("<registry ", "<!DOCTYPE registry [\n<!ENTITY x \"y\">\n]>\n<registry ",
                   SS_ERR_PROTOCOL, "<!DOCTYPE", "document type");
    expect_refused("<registry ", "<!DOCTYPE registry SYSTEM \"file:///etc/passwd\">\n<registry ",
                   SS_ERR_PROTOCOL, "<!DOCTYPE", "document type");
}

static void test_refuse_schema(void **state)
{
    (void)state;
    /* an unknown element */
    expect_refused("  <globalGroup code=\"leer\"", "  <unknown/>\n  <globalGroup code=\"leer\"",
                   SS_ERR_REGISTRY_SCHEMA, "<unknown/>", NULL);
    /* a character outside the identifier set */
    expect_refused("code=\"lr-sh\" state", "code=\"lr_sh\" state", SS_ERR_REGISTRY_SCHEMA, "lr_sh",
                   NULL);
    expect_refused("<subsystem code=\"archiv\"/>", "<subsystem code=\"ar chiv\"/>",
                   SS_ERR_REGISTRY_SCHEMA, "ar chiv", NULL);
    /* a missing attribute */
    expect_refused("code=\"lr-sh\" state=\"SH\"", "code=\"lr-sh\"", SS_ERR_REGISTRY_SCHEMA,
                   "code=\"lr-sh\"", NULL);
    /* a state outside the federation */
    expect_refused("code=\"lr-sh\" state=\"SH\"", "code=\"lr-sh\" state=\"HH\"",
                   SS_ERR_REGISTRY_SCHEMA, "state=\"HH\"", NULL);
    /* bad authSha256: upper case, too short, not hex */
    char bad[80];
    snprintf(bad, sizeof bad, "authSha256=\"%s\"", F->schwerin_sha);
    expect_refused(bad, "authSha256=\"ABCDEF\"", SS_ERR_REGISTRY_SCHEMA, "ABCDEF", NULL);
    char upper[80];
    snprintf(upper, sizeof upper, "authSha256=\"%s\"", F->schwerin_sha);
    for (char *p = upper; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    if (strcmp(upper, bad) != 0)
        expect_refused(bad, upper, SS_ERR_REGISTRY_SCHEMA, upper, NULL);
    char nonhex[80];
    snprintf(nonhex, sizeof nonhex, "authSha256=\"%.63sg\"", F->schwerin_sha);
    expect_refused(bad, nonhex, SS_ERR_REGISTRY_SCHEMA, nonhex, NULL);
    /* version fixed at 1 */
    expect_refused("version=\"1\"", "version=\"2\"", SS_ERR_REGISTRY_SCHEMA, "<registry", NULL);
    /* a time that is no xs:dateTime with Z */
    expect_refused("issued=\"" ISSUED "\"", "issued=\"2026-01-01T00:00:00+01:00\"",
                   SS_ERR_REGISTRY_SCHEMA, "<registry", NULL);
    /* an address that is no host:port */
    expect_refused("address=\"127.0.0.2:18443\"", "address=\"127.0.0.2\"", SS_ERR_REGISTRY_SCHEMA,
                   "address=\"127.0.0.2\"", NULL);
    /* elements out of order */
    expect_refused("  <settings ", "  <memberClass code=\"X\">x</memberClass>\n  <settings ",
                   SS_ERR_REGISTRY_SCHEMA, "code=\"X\"", NULL);
    /* a member of an undeclared class */
    expect_refused("class=\"GOV\" code=\"lr-sh\"", "class=\"FOO\" code=\"lr-sh\"",
                   SS_ERR_REGISTRY_SCHEMA, "class=\"FOO\"", NULL);
    /* a non-numeric serial */
    expect_refused("serial=\"42\"", "serial=\"4x2\"", SS_ERR_REGISTRY_SCHEMA, "<registry", NULL);
    /* settings out of range */
    expect_refused("ocspFreshness=\"3600\"", "ocspFreshness=\"0\"", SS_ERR_REGISTRY_SCHEMA,
                   "<settings", NULL);
}

static void test_refuse_duplicates(void **state)
{
    (void)state;
    /* the same member twice */
    expect_refused("  <member class=\"GOV\" code=\"lr-sh\" state=\"SH\">",
                   "  <member class=\"GOV\" code=\"lr-sh\" state=\"SH\">\n"
                   "    <name>Zweimal</name>\n"
                   "  </member>\n"
                   "  <member class=\"GOV\" code=\"lr-sh\"  state=\"MV\">",
                   SS_ERR_REGISTRY_SCHEMA, "code=\"lr-sh\"  state", NULL);
    /* the same subsystem twice in a member */
    expect_refused("    <subsystem code=\"archiv\"/>",
                   "    <subsystem code=\"archiv\"/>\n    <subsystem code=\"archiv\" />",
                   SS_ERR_REGISTRY_SCHEMA, "<subsystem code=\"archiv\" />", NULL);
    /* two servers with the same address */
    expect_refused("address=\"[::1]:18443\"", "address=\"127.0.0.1:18443\"", SS_ERR_REGISTRY_SCHEMA,
                   "code=\"ss-sh-extra\"", NULL);
    /* an endpoint in a second spelling, which a comparison could not see: every server loads
     * such a document (one signed before the rule), the authority's tool refuses to write one */
    expect_tool_refuses("address=\"[::1]:18443\"", "address=\"127.0.0.1:08443\"",
                        "server GOV/ima-sh/ss-sh-extra: bad address '127.0.0.1:08443': write the "
                        "port without leading zeros");
    expect_tool_refuses("address=\"[::1]:18443\"", "address=\"[0::1]:18443\"", "as [::1]");
    expect_tool_refuses("address=\"[::1]:18443\"", "address=\"127.1:18443\"", "127.0.0.1");
    expect_tool_refuses("address=\"[::1]:18443\"", "address=\"kiel.example.:18443\"",
                        "trailing dot");
    /* a port no connection can use: no server loads it */
    expect_refused("address=\"[::1]:18443\"", "address=\"kiel.example:99999\"",
                   SS_ERR_REGISTRY_SCHEMA, "code=\"ss-sh-extra\"", "1 to 65535");
    expect_refused("address=\"[::1]:18443\"", "address=\"kiel.example:0\"",
                   SS_ERR_REGISTRY_SCHEMA, "code=\"ss-sh-extra\"", "1 to 65535");
    /* ... in another spelling: host names are compared without case */
    char *doc = replace(F->doc, "address=\"127.0.0.1:18443\"", "address=\"kiel.example:18443\"");
    char *doc2 = replace(doc, "address=\"[::1]:18443\"", "address=\"Kiel.EXAMPLE:18443\"");
    struct ss_registry *reg = (struct ss_registry *)(uintptr_t)1;
    assert_int_equal(parse_str(doc2, &reg), SS_ERR_REGISTRY_SCHEMA);
    assert_null(reg);
    assert_line(line_of(doc2, "code=\"ss-sh-extra\""));
    if (!strstr(ss_errmsg(), "already used by server ss-sh-kiel"))
        fail_msg("error message '%s' does not name the other server", ss_errmsg());
    free(doc2);
    free(doc);
}

/* A server may have several authentication certificates registered (a rotation). */
static void test_several_auth_certificates(void **state)
{
    (void)state;
    char with[512];
    static const char next_sha[] =
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    snprintf(with, sizeof with,
             "    <authCertificate sha256=\"%s\"/>\n    <client id=\"MUN/13004000/melde\"/>",
             next_sha);
    char *doc = replace(F->doc, "    <client id=\"MUN/13004000/melde\"/>", with);
    struct ss_registry *reg = NULL;
    assert_int_equal(parse_str(doc, &reg), SS_OK);
    const struct ss_reg_server *schwerin = &reg->servers[1];
    assert_int_equal(schwerin->n_auth, 2);
    uint8_t fp[32];
    assert_true(ss_hex_sha256_parse(next_sha, fp));
    assert_true(ss_registry_server_auth(schwerin, fp));
    assert_true(ss_hex_sha256_parse(F->schwerin_sha, fp));
    assert_true(ss_registry_server_auth(schwerin, fp));
    assert_true(ss_hex_sha256_parse(F->kiel_sha, fp));
    assert_false(ss_registry_server_auth(schwerin, fp));
    assert_int_equal(reg->servers[0].n_auth, 1);
    ss_registry_unref(reg);
    free(doc);
    /* the same certificate twice for one server */
    snprintf(with, sizeof with,
             "    <authCertificate sha256=\"%s\"/>\n    <client id=\"MUN/13004000/melde\"/>",
             F->schwerin_sha);
    expect_refused("    <client id=\"MUN/13004000/melde\"/>", with, SS_ERR_REGISTRY_SCHEMA,
                   "<authCertificate", "registered twice");
    /* another server's certificate: a TLS identity belongs to one server */
    snprintf(with, sizeof with,
             "    <authCertificate sha256=\"%s\"/>\n    <client id=\"MUN/13004000/melde\"/>",
             F->extra_sha);
    expect_tool_refuses("    <client id=\"MUN/13004000/melde\"/>", with,
                        "of server GOV/ima-sh/ss-sh-extra is already registered for server "
                        "MUN/13004000/ss-mv-schwerin");
    /* more than four: the schema stops it */
    char many[1024] = "";
    for (int i = 0; i < 4; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many),
                 "    <authCertificate sha256=\"%063d%d\"/>\n", 0, i + 1);
    snprintf(many + strlen(many), sizeof many - strlen(many),
             "    <client id=\"MUN/13004000/melde\"/>");
    doc = replace(F->doc, "    <client id=\"MUN/13004000/melde\"/>", many);
    reg = NULL;
    assert_int_equal(parse_str(doc, &reg), SS_ERR_REGISTRY_SCHEMA);
    assert_null(reg);
    free(doc);
}

static void test_refuse_cross_references(void **state)
{
    (void)state;
    expect_refused("owner=\"MUN/13004000\"", "owner=\"MUN/99999999\"", SS_ERR_REGISTRY_SCHEMA,
                   "owner=\"MUN/99999999\"", "owner refers to unknown member");
    expect_refused("<client id=\"MUN/13004000/melde\"/>", "<client id=\"MUN/13004000/nosuch\"/>",
                   SS_ERR_REGISTRY_SCHEMA, "MUN/13004000/nosuch", "unknown subsystem");
    expect_refused("<client id=\"GOV/lr-sh\"/>", "<client id=\"GOV/nobody\"/>",
                   SS_ERR_REGISTRY_SCHEMA, "GOV/nobody", "unknown member");
    expect_refused("<member id=\"MUN/13004000/melde\"/>", "<member id=\"MUN/13004000/gone\"/>",
                   SS_ERR_REGISTRY_SCHEMA, "MUN/13004000/gone", "unknown subsystem");
    expect_refused("<member id=\"GOV/ima-sh\"/>", "<member id=\"GOV/ima\"/>",
                   SS_ERR_REGISTRY_SCHEMA, "GOV/ima\"", "unknown member");
}

static void test_refuse_certificates(void **state)
{
    (void)state;
    /* not base64 at all */
    char from[128];
    snprintf(from, sizeof from, "<intermediate>%.40s", F->intermediate_b64);
    expect_refused(from, "<intermediate>!!!notbase64!!!", SS_ERR_REGISTRY_SCHEMA, "<intermediate>",
                   NULL);
    /* valid base64, but not a certificate */
    uint8_t junk[96];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (uint8_t)(i * 7 + 1);
    char *junk_b64 = b64(junk, sizeof junk);
    char *doc = replace(F->doc, F->intermediate_b64, junk_b64);
    struct ss_registry *reg = NULL;
    assert_int_equal(parse_str(doc, &reg), SS_ERR_REGISTRY_SCHEMA);
    assert_null(reg);
    assert_line(line_of(doc, "<intermediate>"));
    assert_non_null(strstr(ss_errmsg(), "not a DER X.509"));
    free(doc);
    /* a certificate with trailing bytes */
    size_t len;
    uint8_t *der = cert_der("tsa.pem", &len);
    uint8_t *longer = malloc(len + 3);
    assert_non_null(longer);
    memcpy(longer, der, len);
    memcpy(longer + len, "\x00\x01\x02", 3);
    char *long_b64 = b64(longer, len + 3);
    doc = replace(F->doc, F->tsa_b64, long_b64);
    assert_int_equal(parse_str(doc, &reg), SS_ERR_REGISTRY_SCHEMA);
    assert_line(line_of(doc, long_b64));
    free(doc);
    /* a certificate cut short */
    char *short_b64 = b64(der, len - 20);
    doc = replace(F->doc, F->tsa_b64, short_b64);
    assert_int_equal(parse_str(doc, &reg), SS_ERR_REGISTRY_SCHEMA);
    assert_line(line_of(doc, short_b64));
    free(doc);
    free(short_b64);
    free(long_b64);
    free(longer);
    free(der);
    free(junk_b64);
}

static void test_certificate_with_whitespace(void **state)
{
    (void)state;
    /* base64 wrapped at 64 columns, as PEM writes it, is accepted */
    size_t n = strlen(F->root_b64);
    struct buf b = {0};
    buf_printf(&b, "\n");
    for (size_t i = 0; i < n; i += 64)
        buf_printf(&b, "      %.64s\n", F->root_b64 + i);
    buf_printf(&b, "    ");
    char *doc = replace(F->doc, F->root_b64, b.s);
    struct ss_registry *reg = NULL;
    if (parse_str(doc, &reg) != SS_OK)
        fail_msg("wrapped certificate refused: %s", ss_errmsg());
    assert_int_equal(reg->cas[0].cert.len, F->root_der_len);
    assert_memory_equal(reg->cas[0].cert.der, F->root_der, F->root_der_len);
    ss_registry_unref(reg);
    free(doc);
    free(b.s);
}

static void test_refuse_times(void **state)
{
    (void)state;
    expect_refused("expires=\"" EXPIRES "\"", "expires=\"2025-12-31T00:00:00Z\"",
                   SS_ERR_REGISTRY_SCHEMA, "<registry", "expires is not after issued");
    expect_refused("expires=\"" EXPIRES "\"", "expires=\"" ISSUED "\"", SS_ERR_REGISTRY_SCHEMA,
                   "<registry", "expires is not after issued");
}

static void test_refuse_nesting(void **state)
{
    (void)state;
    struct buf b = {0};
    buf_printf(&b, "  <deep>");
    for (int i = 0; i < SS_XML_MAX_DEPTH + 2; i++)
        buf_printf(&b, "<d>");
    for (int i = 0; i < SS_XML_MAX_DEPTH + 2; i++)
        buf_printf(&b, "</d>");
    buf_printf(&b, "</deep>\n  <globalGroup code=\"leer\"");
    expect_refused("  <globalGroup code=\"leer\"", b.s, SS_ERR_PROTOCOL, "<deep>", "nesting");
    free(b.s);
}

/* The good document padded with comments to exactly total bytes. */
static char *padded_doc(size_t total)
{
    const char *end = "</registry>\n";
    size_t head = strlen(F->doc) - strlen(end);
    char *big = malloc(total + 1);
    assert_non_null(big);
    memcpy(big, F->doc, head);
    size_t pos = head, stop = total - strlen(end);
    while (stop - pos >= 1000) {
        memcpy(big + pos, "<!--", 4);
        memset(big + pos + 4, 'x', 992);
        memcpy(big + pos + 996, "-->\n", 4);
        pos += 1000;
    }
    memset(big + pos, ' ', stop - pos);
    memcpy(big + stop, end, strlen(end) + 1);
    return big;
}

static void test_refuse_oversized(void **state)
{
    (void)state;
    size_t len = SS_REGISTRY_MAX_BYTES + 1;
    char *big = padded_doc(len);
    assert_int_equal(strlen(big), len);
    struct ss_registry *reg = (struct ss_registry *)(uintptr_t)1;
    ss_errclear();
    assert_int_equal(ss_registry_parse(NAME, (const uint8_t *)big, len, &reg), SS_ERR_TOO_LARGE);
    assert_null(reg);
    assert_true(strncmp(ss_errmsg(), NAME ":", strlen(NAME ":")) == 0);
    assert_non_null(strstr(ss_errmsg(), "exceeds"));
    free(big);
    /* exactly at the limit is parsed */
    big = padded_doc(len - 1);
    reg = NULL;
    if (ss_registry_parse(NAME, (const uint8_t *)big, len - 1, &reg) != SS_OK)
        fail_msg("document at the limit refused: %s", ss_errmsg());
    ss_registry_unref(reg);
    free(big);
}

/* ---- anchor ---- */

static void test_anchor_load(void **state)
{
    (void)state;
    struct ss_reg_anchor pem, der;
    load_anchor("registry-authority.pem", &pem);
    /* the same certificate as DER */
    size_t len;
    uint8_t *raw = cert_der("registry-authority.pem", &len);
    char *path = write_file("authority.der", raw, len);
    assert_int_equal(ss_reg_anchor_load(path, &der), SS_OK);
    assert_int_equal(der.len, pem.len);
    assert_memory_equal(der.der, pem.der, pem.len);
    assert_int_equal(pem.len, len);
    assert_memory_equal(pem.der, raw, len);
    ss_reg_anchor_cleanup(&der);
    assert_null(der.der);
    assert_int_equal(der.len, 0);
    free(path);
    free(raw);

    struct ss_reg_anchor bad = {NULL, 0};
    path = write_file("garbage.pem", "-----BEGIN CERTIFICATE-----\nAAAA\n", 33);
    assert_int_equal(ss_reg_anchor_load(path, &bad), SS_ERR_BAD_CERTIFICATE);
    assert_null(bad.der);
    free(path);
    path = write_file("empty.pem", "", 0);
    assert_int_equal(ss_reg_anchor_load(path, &bad), SS_ERR_BAD_CERTIFICATE);
    free(path);
    char missing[600];
    snprintf(missing, sizeof missing, "%s/missing.pem", F->dir);
    assert_int_equal(ss_reg_anchor_load(missing, &bad), SS_ERR_NOT_FOUND);
    ss_reg_anchor_cleanup(&pem);
    ss_reg_anchor_cleanup(NULL);
}

/* ---- signatures ---- */

static void test_sign_verify_load(void **state)
{
    (void)state;
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    struct ss_reg_anchor anchor;
    load_anchor("registry-authority.pem", &anchor);
    sign_with(F->doc, "registry-authority.key", "registry-authority.pem", &sig, &sig_len);
    const uint8_t *xml = (const uint8_t *)F->doc;
    size_t xml_len = strlen(F->doc);
    assert_int_equal(ss_registry_verify_signature(xml, xml_len, sig, sig_len, &anchor), SS_OK);

    struct ss_registry *reg = NULL;
    if (ss_registry_load(NAME, xml, xml_len, sig, sig_len, &anchor, T_INSIDE, 0, &reg) != SS_OK)
        fail_msg("load failed: %s", ss_errmsg());
    assert_non_null(reg);
    assert_int_equal(reg->serial, 42);
    assert_int_equal(reg->refs, 1);
    ss_registry_unref(reg);

    /* a serial equal to the last one accepted is accepted (the same document again) */
    reg = NULL;
    assert_int_equal(
        ss_registry_load(NAME, xml, xml_len, sig, sig_len, &anchor, T_INSIDE, 42, &reg), SS_OK);
    ss_registry_unref(reg);
    /* a lower one is a rollback */
    reg = (struct ss_registry *)(uintptr_t)1;
    assert_int_equal(
        ss_registry_load(NAME, xml, xml_len, sig, sig_len, &anchor, T_INSIDE, 43, &reg),
        SS_ERR_REGISTRY_ROLLBACK);
    assert_null(reg);
    assert_non_null(strstr(ss_errmsg(), NAME));
    assert_non_null(strstr(ss_errmsg(), "42"));
    assert_non_null(strstr(ss_errmsg(), "43"));

    /* expired at now */
    reg = (struct ss_registry *)(uintptr_t)1;
    assert_int_equal(
        ss_registry_load(NAME, xml, xml_len, sig, sig_len, &anchor, T_EXPIRES, 0, &reg),
        SS_ERR_REGISTRY_EXPIRED);
    assert_null(reg);
    assert_non_null(strstr(ss_errmsg(), EXPIRES));
    /* one second before is fine */
    assert_int_equal(
        ss_registry_load(NAME, xml, xml_len, sig, sig_len, &anchor, T_EXPIRES - 1, 0, &reg), SS_OK);
    ss_registry_unref(reg);
    /* issued well in the future is refused; a little clock skew is tolerated */
    reg = (struct ss_registry *)(uintptr_t)1;
    assert_int_equal(
        ss_registry_load(NAME, xml, xml_len, sig, sig_len, &anchor, T_ISSUED - 3600, 0, &reg),
        SS_ERR_REGISTRY);
    assert_null(reg);
    assert_int_equal(
        ss_registry_load(NAME, xml, xml_len, sig, sig_len, &anchor, T_ISSUED - 60, 0, &reg), SS_OK);
    ss_registry_unref(reg);

    free(sig);
    ss_reg_anchor_cleanup(&anchor);
}

static void test_expired_document_signed(void **state)
{
    (void)state;
    /* a document that was valid once, signed properly, loaded today */
    char *doc = make_doc("7", "2020-01-01T00:00:00Z", "2020-02-01T00:00:00Z");
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    struct ss_reg_anchor anchor;
    load_anchor("registry-authority.pem", &anchor);
    sign_with(doc, "registry-authority.key", "registry-authority.pem", &sig, &sig_len);
    struct ss_registry *reg = (struct ss_registry *)(uintptr_t)1;
    assert_int_equal(ss_registry_load(NAME, (const uint8_t *)doc, strlen(doc), sig, sig_len,
                                      &anchor, time(NULL), 0, &reg),
                     SS_ERR_REGISTRY_EXPIRED);
    assert_null(reg);
    assert_non_null(strstr(ss_errmsg(), "2020-02-01T00:00:00Z"));
    free(sig);
    free(doc);
    ss_reg_anchor_cleanup(&anchor);
}

static void test_changed_document(void **state)
{
    (void)state;
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    struct ss_reg_anchor anchor;
    load_anchor("registry-authority.pem", &anchor);
    sign_with(F->doc, "registry-authority.key", "registry-authority.pem", &sig, &sig_len);
    size_t len = strlen(F->doc);
    char *doc = strdup(F->doc);
    assert_non_null(doc);

    /* one byte changed at a few places: start, in an attribute, the last byte */
    size_t where[] = {0, (size_t)(strstr(doc, "127.0.0.2") - doc) + 8, len / 2, len - 1};
    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
        char saved = doc[where[i]];
        doc[where[i]] = (char)(saved ^ 0x01);
        ss_errclear();
        assert_int_equal(
            ss_registry_verify_signature((const uint8_t *)doc, len, sig, sig_len, &anchor),
            SS_ERR_BAD_SIGNATURE);
        struct ss_registry *reg = (struct ss_registry *)(uintptr_t)1;
        assert_int_equal(ss_registry_load(NAME, (const uint8_t *)doc, len, sig, sig_len, &anchor,
                                          T_INSIDE, 0, &reg),
                         SS_ERR_BAD_SIGNATURE);
        assert_null(reg);
        assert_non_null(strstr(ss_errmsg(), NAME));
        doc[where[i]] = saved;
    }
    /* a byte appended or removed */
    char *longer = malloc(len + 2);
    assert_non_null(longer);
    memcpy(longer, F->doc, len);
    longer[len] = '\n';
    longer[len + 1] = '\0';
    assert_int_equal(
        ss_registry_verify_signature((const uint8_t *)longer, len + 1, sig, sig_len, &anchor),
        SS_ERR_BAD_SIGNATURE);
    assert_int_equal(
        ss_registry_verify_signature((const uint8_t *)F->doc, len - 1, sig, sig_len, &anchor),
        SS_ERR_BAD_SIGNATURE);
    /* and the original still verifies */
    assert_int_equal(ss_registry_verify_signature((const uint8_t *)doc, len, sig, sig_len, &anchor),
                     SS_OK);
    free(longer);
    free(doc);
    free(sig);
    ss_reg_anchor_cleanup(&anchor);
}

static void test_broken_signature(void **state)
{
    (void)state;
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    struct ss_reg_anchor anchor;
    load_anchor("registry-authority.pem", &anchor);
    sign_with(F->doc, "registry-authority.key", "registry-authority.pem", &sig, &sig_len);
    const uint8_t *xml = (const uint8_t *)F->doc;
    size_t xml_len = strlen(F->doc);

    /* truncated at several lengths */
    size_t cuts[] = {0, 1, 10, sig_len / 2, sig_len - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++)
        assert_int_equal(ss_registry_verify_signature(xml, xml_len, sig, cuts[i], &anchor),
                         SS_ERR_BAD_SIGNATURE);
    /* trailing garbage */
    uint8_t *longer = malloc(sig_len + 1);
    assert_non_null(longer);
    memcpy(longer, sig, sig_len);
    longer[sig_len] = 0;
    assert_int_equal(ss_registry_verify_signature(xml, xml_len, longer, sig_len + 1, &anchor),
                     SS_ERR_BAD_SIGNATURE);
    free(longer);
    /* garbage */
    uint8_t garbage[512];
    for (size_t i = 0; i < sizeof garbage; i++)
        garbage[i] = (uint8_t)(i * 31 + 7);
    assert_int_equal(ss_registry_verify_signature(xml, xml_len, garbage, sizeof garbage, &anchor),
                     SS_ERR_BAD_SIGNATURE);
    /* the last bytes of the signature value flipped */
    uint8_t *flipped = malloc(sig_len);
    assert_non_null(flipped);
    memcpy(flipped, sig, sig_len);
    flipped[sig_len - 1] ^= 0x5a;
    flipped[sig_len - 2] ^= 0x5a;
    assert_int_equal(ss_registry_verify_signature(xml, xml_len, flipped, sig_len, &anchor),
                     SS_ERR_BAD_SIGNATURE);
    free(flipped);
    /* larger than the limit */
    uint8_t *huge = calloc(1, SS_REGISTRY_SIG_MAX_BYTES + 1);
    assert_non_null(huge);
    memcpy(huge, sig, sig_len);
    assert_int_equal(
        ss_registry_verify_signature(xml, xml_len, huge, SS_REGISTRY_SIG_MAX_BYTES + 1, &anchor),
        SS_ERR_BAD_SIGNATURE);
    free(huge);
    /* no anchor */
    struct ss_reg_anchor none = {NULL, 0};
    assert_int_equal(ss_registry_verify_signature(xml, xml_len, sig, sig_len, &none),
                     SS_ERR_CONFIG);
    assert_int_equal(ss_registry_verify_signature(xml, xml_len, sig, sig_len, NULL), SS_ERR_CONFIG);

    free(sig);
    ss_reg_anchor_cleanup(&anchor);
}

static void test_rogue_signer(void **state)
{
    (void)state;
    uint8_t *sig = NULL;
    size_t sig_len = 0;
    struct ss_reg_anchor anchor;
    load_anchor("registry-authority.pem", &anchor);
    /* the rogue authority has the same subject as the real one */
    X509 *real = read_pem_cert("registry-authority.pem");
    X509 *rogue = read_pem_cert("rogue/registry-authority.pem");
    assert_int_equal(X509_NAME_cmp(X509_get_subject_name(real), X509_get_subject_name(rogue)), 0);
    X509_free(real);
    X509_free(rogue);

    sign_with(F->doc, "rogue/registry-authority.key", "rogue/registry-authority.pem", &sig,
              &sig_len);
    const uint8_t *xml = (const uint8_t *)F->doc;
    size_t xml_len = strlen(F->doc);
    assert_int_equal(ss_registry_verify_signature(xml, xml_len, sig, sig_len, &anchor),
                     SS_ERR_BAD_SIGNATURE);
    struct ss_registry *reg = (struct ss_registry *)(uintptr_t)1;
    assert_int_equal(ss_registry_load(NAME, xml, xml_len, sig, sig_len, &anchor, T_INSIDE, 0, &reg),
                     SS_ERR_BAD_SIGNATURE);
    assert_null(reg);
    free(sig);

    /* the real signature checked against another pinned certificate */
    sign_with(F->doc, "registry-authority.key", "registry-authority.pem", &sig, &sig_len);
    const char *others[] = {"tsa.pem", "rogue/registry-authority.pem", "root-ca.pem"};
    for (size_t i = 0; i < sizeof others / sizeof others[0]; i++) {
        struct ss_reg_anchor other;
        load_anchor(others[i], &other);
        if (ss_registry_verify_signature(xml, xml_len, sig, sig_len, &other) !=
            SS_ERR_BAD_SIGNATURE)
            fail_msg("signature accepted with anchor %s", others[i]);
        ss_reg_anchor_cleanup(&other);
    }
    free(sig);
    ss_reg_anchor_cleanup(&anchor);
}

/* Makes a CMS signature in the test with the authority's key and the given options. */
static uint8_t *cms_sign_custom(const char *doc, const EVP_MD *md, unsigned flags, bool twice,
                                size_t *len)
{
    char path[1024];
    pki_path(path, sizeof path, "registry-authority.key");
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    EVP_PKEY *key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(key);
    X509 *cert = read_pem_cert("registry-authority.pem");
    BIO *in = BIO_new_mem_buf(doc, (int)strlen(doc));
    assert_non_null(in);
    CMS_ContentInfo *cms = CMS_sign(NULL, NULL, NULL, NULL, flags | CMS_PARTIAL);
    assert_non_null(cms);
    assert_non_null(CMS_add1_signer(cms, cert, key, md, flags));
    X509 *cert2 = NULL;
    EVP_PKEY *key2 = NULL;
    if (twice) {
        /* a second signer: a member's signing key */
        pki_path(path, sizeof path, "members/GOV-MIKWS-SH/sign.key");
        f = fopen(path, "r");
        assert_non_null(f);
        key2 = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
        assert_non_null(key2);
        cert2 = read_pem_cert("members/GOV-MIKWS-SH/sign.pem");
        assert_non_null(CMS_add1_signer(cms, cert2, key2, EVP_sha256(), flags));
    }
    assert_int_equal(CMS_final(cms, in, NULL, flags), 1);
    unsigned char *der = NULL;
    int n = i2d_CMS_ContentInfo(cms, &der);
    assert_true(n > 0);
    uint8_t *copy = malloc((size_t)n);
    assert_non_null(copy);
    memcpy(copy, der, (size_t)n);
    *len = (size_t)n;
    OPENSSL_free(der);
    CMS_ContentInfo_free(cms);
    BIO_free(in);
    X509_free(cert2);
    EVP_PKEY_free(key2);
    X509_free(cert);
    EVP_PKEY_free(key);
    return copy;
}

static void test_signature_forms(void **state)
{
    (void)state;
    struct ss_reg_anchor anchor;
    load_anchor("registry-authority.pem", &anchor);
    const uint8_t *xml = (const uint8_t *)F->doc;
    size_t xml_len = strlen(F->doc);
    size_t len;

    /* the same construction as ss_registry_sign is accepted: the checks below are
     * refusals of the form, not of a signature made here */
    uint8_t *sig = cms_sign_custom(F->doc, EVP_sha256(), CMS_DETACHED | CMS_BINARY, false, &len);
    assert_int_equal(ss_registry_verify_signature(xml, xml_len, sig, len, &anchor), SS_OK);
    free(sig);
    sig = cms_sign_custom(F->doc, EVP_sha384(), CMS_DETACHED | CMS_BINARY, false, &len);
    assert_int_equal(ss_registry_verify_signature(xml, xml_len, sig, len, &anchor), SS_OK);
    free(sig);

    /* SHA-1 */
    sig = cms_sign_custom(F->doc, EVP_sha1(), CMS_DETACHED | CMS_BINARY, false, &len);
    assert_int_equal(ss_registry_verify_signature(xml, xml_len, sig, len, &anchor),
                     SS_ERR_BAD_SIGNATURE);
    assert_non_null(strstr(ss_errmsg(), "SHA-256"));
    free(sig);

    /* content attached instead of detached */
    sig = cms_sign_custom(F->doc, EVP_sha256(), CMS_BINARY, false, &len);
    assert_int_equal(ss_registry_verify_signature(xml, xml_len, sig, len, &anchor),
                     SS_ERR_BAD_SIGNATURE);
    assert_non_null(strstr(ss_errmsg(), "detached"));
    free(sig);

    /* two signers */
    sig = cms_sign_custom(F->doc, EVP_sha256(), CMS_DETACHED | CMS_BINARY, true, &len);
    assert_int_equal(ss_registry_verify_signature(xml, xml_len, sig, len, &anchor),
                     SS_ERR_BAD_SIGNATURE);
    assert_non_null(strstr(ss_errmsg(), "one signer"));
    free(sig);

    ss_reg_anchor_cleanup(&anchor);
}

static void test_sign_errors(void **state)
{
    (void)state;
    char key[1024], cert[1024], other_key[1024], missing[1024];
    pki_path(key, sizeof key, "registry-authority.key");
    pki_path(cert, sizeof cert, "registry-authority.pem");
    pki_path(other_key, sizeof other_key, "tsa.key");
    pki_path(missing, sizeof missing, "no-such-file.pem");
    const uint8_t *xml = (const uint8_t *)F->doc;
    size_t xml_len = strlen(F->doc);
    uint8_t *sig = (uint8_t *)(uintptr_t)1;
    size_t sig_len = 1;
    /* a key that does not belong to the certificate */
    assert_int_equal(ss_registry_sign(xml, xml_len, other_key, cert, NULL, &sig, &sig_len),
                     SS_ERR_CRYPTO);
    assert_null(sig);
    assert_int_equal(sig_len, 0);
    assert_int_equal(ss_registry_sign(xml, xml_len, missing, cert, NULL, &sig, &sig_len),
                     SS_ERR_CRYPTO);
    assert_int_equal(ss_registry_sign(xml, xml_len, key, missing, NULL, &sig, &sig_len),
                     SS_ERR_NOT_FOUND);
    assert_int_equal(ss_registry_sign(xml, xml_len, key, cert, missing, &sig, &sig_len),
                     SS_ERR_BAD_CERTIFICATE);
    assert_null(sig);
    /* without a chain it signs */
    assert_int_equal(ss_registry_sign(xml, xml_len, key, cert, NULL, &sig, &sig_len), SS_OK);
    struct ss_reg_anchor anchor;
    load_anchor("registry-authority.pem", &anchor);
    assert_int_equal(ss_registry_verify_signature(xml, xml_len, sig, sig_len, &anchor), SS_OK);
    ss_reg_anchor_cleanup(&anchor);
    free(sig);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_round_trip),
        cmocka_unit_test(test_time_malformed),
        cmocka_unit_test(test_time_impossible_dates),
        cmocka_unit_test(test_parse_good),
        cmocka_unit_test(test_lookups),
        cmocka_unit_test(test_refcount),
        cmocka_unit_test(test_refuse_not_well_formed),
        cmocka_unit_test(test_refuse_doctype),
        cmocka_unit_test(test_refuse_doctype_line),
        cmocka_unit_test(test_refuse_schema),
        cmocka_unit_test(test_refuse_duplicates),
        cmocka_unit_test(test_several_auth_certificates),
        cmocka_unit_test(test_refuse_cross_references),
        cmocka_unit_test(test_refuse_certificates),
        cmocka_unit_test(test_certificate_with_whitespace),
        cmocka_unit_test(test_refuse_times),
        cmocka_unit_test(test_refuse_nesting),
        cmocka_unit_test(test_refuse_oversized),
        cmocka_unit_test(test_anchor_load),
        cmocka_unit_test(test_sign_verify_load),
        cmocka_unit_test(test_expired_document_signed),
        cmocka_unit_test(test_changed_document),
        cmocka_unit_test(test_broken_signature),
        cmocka_unit_test(test_rogue_signer),
        cmocka_unit_test(test_signature_forms),
        cmocka_unit_test(test_sign_errors),
        cmocka_unit_test(test_write_sweeps_stale_tmp),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
