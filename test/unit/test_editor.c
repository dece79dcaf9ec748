/*
 * Unit tests of the registry editor (registry/editor.c) and the certificate
 * file helpers (registry/certfile.c): every add, remove and set on a real
 * file in a temporary directory, the refusals (duplicates, unknown
 * references, bad identifiers, addresses and fingerprints, removals that
 * would leave a dangling reference), and that a refused edit leaves the file
 * byte-identical. Certificates are made in-process, so no PKI is needed.
 *
 * The editor is linked into the secsrv-registry tool rather than into
 * ss_registry, so this test compiles its sources in the same way.
 */
#include "certfile.h"
#include "editor.h"
#include "ss_xml.h"
#include "test/unit/support/certs.h"

#include <libxml/tree.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#define NOW ((time_t)1767225600) /* 2026-01-01T00:00:00Z */

struct fixture {
    char dir[64];
    char path[128];
    uint8_t *cert; /* a self-signed DER CA certificate */
    size_t cert_len;
    uint8_t *cert2; /* another one */
    size_t cert2_len;
};

/* ---- helpers ---- */

/* What a made certificate is for: its extensions. */
enum cert_kind {
    CERT_CA,        /* basicConstraints critical CA:TRUE, keyCertSign */
    CERT_LEAF,      /* no extensions */
    CERT_OCSP,      /* CA:FALSE, extendedKeyUsage OCSPSigning */
    CERT_TSA,       /* CA:FALSE, extendedKeyUsage critical timeStamping */
    CERT_TSA_LAX,   /* extendedKeyUsage timeStamping, not critical */
    CERT_CA_NO_SIGN /* CA:TRUE, but keyUsage without keyCertSign */
};

struct made {
    X509 *x;
    EVP_PKEY *key;
    uint8_t *der;
    size_t len;
};

/* A certificate named cn, of that kind, issued by issuer (self-signed when NULL), valid from a
 * day ago until until_s seconds from now (in the past when negative). */
static void make(struct made *m, const char *cn, enum cert_kind kind, const struct made *issuer,
                 long until_s)
{
    static long serial = 7;
    m->key = EVP_EC_gen("P-256");
    m->x = X509_new();
    assert_non_null(m->key);
    assert_non_null(m->x);
    X509 *x = m->x;
    X509_NAME *name = X509_get_subject_name(x);
    assert_int_equal(X509_set_version(x, 2), 1);
    assert_int_equal(ASN1_INTEGER_set(X509_get_serialNumber(x), serial++), 1);
    assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), -86400L));
    assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), until_s));
    assert_int_equal(X509_set_pubkey(x, m->key), 1);
    assert_int_equal(
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0),
        1);
    X509 *signer = issuer ? issuer->x : x;
    assert_int_equal(X509_set_issuer_name(x, X509_get_subject_name(signer)), 1);
    /* the extensions of each kind: basicConstraints, keyUsage, extendedKeyUsage */
    static const char *const exts[][3] = {
        [CERT_CA] = {"critical,CA:TRUE", "critical,keyCertSign,cRLSign", NULL},
        [CERT_LEAF] = {NULL, NULL, NULL},
        [CERT_OCSP] = {"CA:FALSE", NULL, "OCSPSigning"},
        [CERT_TSA] = {"CA:FALSE", NULL, "critical,timeStamping"},
        [CERT_TSA_LAX] = {NULL, NULL, "timeStamping"},
        [CERT_CA_NO_SIGN] = {"critical,CA:TRUE", "critical,digitalSignature", NULL},
    };
    static const int nids[3] = {NID_basic_constraints, NID_key_usage, NID_ext_key_usage};
    for (size_t i = 0; i < 3; i++)
        if (exts[kind][i])
            ss_test_add_ext(x, signer, nids[i], exts[kind][i]);
    assert_true(X509_sign(x, issuer ? issuer->key : m->key, EVP_sha256()) > 0);
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    assert_true(n > 0);
    m->der = malloc((size_t)n);
    assert_non_null(m->der);
    memcpy(m->der, der, (size_t)n);
    m->len = (size_t)n;
    OPENSSL_free(der);
}

static void made_free(struct made *m)
{
    X509_free(m->x);
    EVP_PKEY_free(m->key);
    free(m->der);
}

static struct ss_editor_cert as_cert(const struct made *m)
{
    return (struct ss_editor_cert){m->der, m->len};
}

/* A self-signed CA certificate named cn, valid for a year (DER, malloc'd). */
static uint8_t *make_cert(const char *cn, size_t *len)
{
    struct made m;
    make(&m, cn, CERT_CA, NULL, 86400L * 365);
    uint8_t *der = m.der;
    *len = m.len;
    m.der = NULL;
    made_free(&m);
    return der;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof *f);
    assert_non_null(f);
    snprintf(f->dir, sizeof f->dir, "/tmp/test_editor.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof f->path, "%s/r.xml", f->dir);
    struct ss_reg_settings s = {.ocsp_freshness = 3600,
                                .timestamping_interval = 60,
                                .registry_validity = 86400,
                                .refresh_interval = 600};
    assert_int_equal(ss_editor_create(f->path, "DE-NORD", &s, NOW), SS_OK);
    f->cert = make_cert("Test Root CA", &f->cert_len);
    f->cert2 = make_cert("Test Authority \xc3\xa4", &f->cert2_len);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    char p[160];
    static const char *const names[] = {"r.xml", "c.pem",   "c.der",   "two.pem",
                                        "junk",  "bad.xml", "hand.xml"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(p, sizeof p, "%s/%s", f->dir, names[i]);
        unlink(p);
    }
    rmdir(f->dir);
    free(f->cert);
    free(f->cert2);
    free(f);
    return 0;
}

static uint8_t *slurp(const char *path, size_t *len)
{
    uint8_t *buf = NULL;
    assert_int_equal(ss_file_read(path, SS_REGISTRY_MAX_BYTES, &buf, len), SS_OK);
    return buf;
}

static void spit(const char *path, const void *buf, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(buf, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
}

static struct ss_editor *open_ed(const struct fixture *f)
{
    struct ss_editor *ed = NULL;
    assert_int_equal(ss_editor_open(f->path, &ed), SS_OK);
    assert_non_null(ed);
    return ed;
}

static void save_close(struct ss_editor *ed)
{
    assert_int_equal(ss_editor_save(ed), SS_OK);
    ss_editor_free(ed);
}

static struct ss_registry *parse_file(const struct fixture *f)
{
    size_t len = 0;
    uint8_t *buf = slurp(f->path, &len);
    struct ss_registry *reg = NULL;
    assert_int_equal(ss_registry_parse(f->path, buf, len, &reg), SS_OK);
    free(buf);
    return reg;
}

static void assert_msg_contains(const char *needle)
{
    if (!strstr(ss_errmsg(), needle))
        fail_msg("message \"%s\" lacks \"%s\"", ss_errmsg(), needle);
}

/* Two classes, SH and MV members with subsystems, one server each. */
static void populate(const struct fixture *f)
{
    struct ss_editor *ed = open_ed(f);
    assert_int_equal(ss_editor_add_member_class(ed, "GOV", "Landesbeh\xc3\xb6rden"), SS_OK);
    assert_int_equal(ss_editor_add_member_class(ed, "MUN", "Kommunen"), SS_OK);
    assert_int_equal(ss_editor_add_member(ed, "GOV/MIKWS-SH", "Innenministerium SH", "SH"), SS_OK);
    assert_int_equal(ss_editor_add_member(ed, "MUN/13004000", "Landeshauptstadt Schwerin", "MV"),
                     SS_OK);
    assert_int_equal(ss_editor_add_subsystem(ed, "GOV/MIKWS-SH/Meldeauskunft"), SS_OK);
    assert_int_equal(ss_editor_add_subsystem(ed, "MUN/13004000/Einwohnermeldeamt"), SS_OK);
    assert_int_equal(ss_editor_add_server(ed, "GOV/MIKWS-SH", "ss1", "127.0.0.1:8443",
                                          "0123456789abcdef0123456789abcdef"
                                          "0123456789abcdef0123456789abcdef"),
                     SS_OK);
    assert_int_equal(ss_editor_add_server(ed, "MUN/13004000", "ss1", "[::1]:8444",
                                          "fedcba9876543210fedcba9876543210"
                                          "fedcba9876543210fedcba9876543210"),
                     SS_OK);
    save_close(ed);
}

/* ---- tests ---- */

static void test_create(void **state)
{
    struct fixture *f = *state;
    struct ss_registry *reg = parse_file(f);
    assert_string_equal(reg->instance, "DE-NORD");
    assert_int_equal(reg->serial, 0);
    assert_int_equal(reg->issued, NOW);
    assert_int_equal(reg->expires, NOW + 86400);
    assert_int_equal(reg->settings.ocsp_freshness, 3600);
    assert_int_equal(reg->settings.refresh_interval, 600);
    ss_registry_unref(reg);

    /* init never replaces a file */
    size_t len0 = 0, len1 = 0;
    uint8_t *before = slurp(f->path, &len0);
    struct ss_reg_settings s = {1, 1, 1, 1};
    assert_int_equal(ss_editor_create(f->path, "OTHER", &s, NOW), SS_ERR_IO);
    assert_msg_contains("already exists");
    uint8_t *after = slurp(f->path, &len1);
    assert_int_equal(len0, len1);
    assert_memory_equal(before, after, len0);
    free(before);
    free(after);
}

static void test_create_refusals(void **state)
{
    struct fixture *f = *state;
    char other[160];
    snprintf(other, sizeof other, "%s/bad.xml", f->dir);
    struct ss_reg_settings s = {3600, 60, 86400, 600};
    assert_int_equal(ss_editor_create(other, "DE NORD", &s, NOW), SS_ERR_BAD_IDENTIFIER);
    assert_int_equal(access(other, F_OK), -1);
    s.registry_validity = 0;
    assert_int_equal(ss_editor_create(other, "DE-NORD", &s, NOW), SS_ERR_CONFIG);
    s.registry_validity = SS_EDITOR_MAX_SECONDS + 1;
    assert_int_equal(ss_editor_create(other, "DE-NORD", &s, NOW), SS_ERR_CONFIG);
    assert_int_equal(access(other, F_OK), -1);
}

static void test_member_class(void **state)
{
    struct fixture *f = *state;
    struct ss_editor *ed = open_ed(f);
    assert_int_equal(ss_editor_add_member_class(ed, "GOV", "State & <authorities>"), SS_OK);
    assert_int_equal(ss_editor_add_member_class(ed, "GOV", "again"), SS_ERR_REGISTRY);
    assert_string_equal(ss_errmsg(), "member class GOV already exists");
    assert_int_equal(ss_editor_add_member_class(ed, "G_V", "bad"), SS_ERR_BAD_IDENTIFIER);
    assert_int_equal(ss_editor_add_member_class(ed, "", "empty"), SS_ERR_BAD_IDENTIFIER);
    assert_int_equal(ss_editor_add_member_class(ed, "MUN", "two\nlines"), SS_ERR_CONFIG);
    assert_int_equal(ss_editor_add_member_class(ed, "MUN", ""), SS_ERR_CONFIG);
    assert_int_equal(ss_editor_add_member_class(ed, "MUN", "bad \xff utf-8"), SS_ERR_CONFIG);
    save_close(ed);

    struct ss_registry *reg = parse_file(f);
    assert_int_equal(reg->n_classes, 1);
    assert_string_equal(reg->classes[0].description, "State & <authorities>");
    ss_registry_unref(reg);

    ed = open_ed(f);
    assert_int_equal(ss_editor_remove_member_class(ed, "MUN"), SS_ERR_NOT_FOUND);
    assert_int_equal(ss_editor_remove_member_class(ed, "GOV"), SS_OK);
    save_close(ed);
    reg = parse_file(f);
    assert_int_equal(reg->n_classes, 0);
    ss_registry_unref(reg);
}

static void test_member(void **state)
{
    struct fixture *f = *state;
    populate(f);
    struct ss_editor *ed = open_ed(f);
    assert_int_equal(ss_editor_add_member(ed, "GOV/MIKWS-SH", "x", "SH"), SS_ERR_REGISTRY);
    assert_string_equal(ss_errmsg(), "member GOV/MIKWS-SH already exists");
    assert_int_equal(ss_editor_add_member(ed, "JUS/OLG-SH", "x", "SH"), SS_ERR_NOT_FOUND);
    assert_string_equal(ss_errmsg(), "unknown member class JUS");
    assert_int_equal(ss_editor_add_member(ed, "GOV/Kiel Stadt", "x", "SH"), SS_ERR_BAD_IDENTIFIER);
    assert_int_equal(ss_editor_add_member(ed,
                                          "GOV/L\xc3\xbc"
                                          "beck",
                                          "x", "SH"),
                     SS_ERR_BAD_IDENTIFIER);
    assert_int_equal(ss_editor_add_member(ed, "GOV/A_B", "x", "SH"), SS_ERR_BAD_IDENTIFIER);
    assert_int_equal(ss_editor_add_member(ed, "GOV", "x", "SH"), SS_ERR_BAD_IDENTIFIER);
    assert_int_equal(ss_editor_add_member(ed, "GOV/X/Y", "x", "SH"), SS_ERR_BAD_IDENTIFIER);
    assert_int_equal(ss_editor_add_member(ed, "GOV//", "x", "SH"), SS_ERR_BAD_IDENTIFIER);
    assert_int_equal(ss_editor_add_member(ed, "GOV/IM-MV", "x", "HH"), SS_ERR_CONFIG);
    assert_int_equal(ss_editor_add_member(ed, "GOV/IM-MV", "", "MV"), SS_ERR_CONFIG);
    assert_int_equal(ss_editor_add_member(ed, "GOV/IM-MV", "Innenministerium MV", "MV"), SS_OK);
    save_close(ed);

    struct ss_registry *reg = parse_file(f);
    assert_int_equal(reg->n_members, 3);
    const struct ss_reg_member *m = ss_registry_member(reg, "GOV", "IM-MV");
    assert_non_null(m);
    assert_string_equal(m->state, "MV");
    assert_string_equal(m->name, "Innenministerium MV");
    ss_registry_unref(reg);

    ed = open_ed(f);
    assert_int_equal(ss_editor_remove_member(ed, "GOV/NOPE"), SS_ERR_NOT_FOUND);
    assert_int_equal(ss_editor_remove_member(ed, "GOV/IM-MV"), SS_OK);
    save_close(ed);
    reg = parse_file(f);
    assert_int_equal(reg->n_members, 2);
    ss_registry_unref(reg);
}

static void test_subsystem(void **state)
{
    struct fixture *f = *state;
    populate(f);
    struct ss_editor *ed = open_ed(f);
    assert_int_equal(ss_editor_add_subsystem(ed, "GOV/MIKWS-SH/Meldeauskunft"), SS_ERR_REGISTRY);
    assert_string_equal(ss_errmsg(), "subsystem GOV/MIKWS-SH/Meldeauskunft already exists");
    assert_int_equal(ss_editor_add_subsystem(ed, "GOV/NOPE/Meldeauskunft"), SS_ERR_NOT_FOUND);
    assert_string_equal(ss_errmsg(), "unknown member GOV/NOPE");
    assert_int_equal(ss_editor_add_subsystem(ed, "GOV/MIKWS-SH"), SS_ERR_BAD_IDENTIFIER);
    assert_int_equal(ss_editor_add_subsystem(ed, "GOV/MIKWS-SH/Melde auskunft"),
                     SS_ERR_BAD_IDENTIFIER);
    assert_int_equal(ss_editor_add_subsystem(ed, "GOV/MIKWS-SH/Statistik"), SS_OK);
    save_close(ed);

    struct ss_registry *reg = parse_file(f);
    const struct ss_reg_member *m = ss_registry_member(reg, "GOV", "MIKWS-SH");
    assert_int_equal(m->n_subsystems, 2);
    assert_string_equal(m->subsystems[1], "Statistik");
    ss_registry_unref(reg);

    ed = open_ed(f);
    assert_int_equal(ss_editor_remove_subsystem(ed, "GOV/MIKWS-SH/Nope"), SS_ERR_NOT_FOUND);
    assert_int_equal(ss_editor_remove_subsystem(ed, "GOV/MIKWS-SH/Statistik"), SS_OK);
    save_close(ed);
    reg = parse_file(f);
    assert_int_equal(ss_registry_member(reg, "GOV", "MIKWS-SH")->n_subsystems, 1);
    ss_registry_unref(reg);
}

static void test_server(void **state)
{
    struct fixture *f = *state;
    populate(f);
    struct ss_editor *ed = open_ed(f);
    const char *fp = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:"
                     "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";
    assert_int_equal(ss_editor_add_server(ed, "GOV/MIKWS-SH", "ss1", "h:1", fp), SS_ERR_REGISTRY);
    assert_string_equal(ss_errmsg(), "server GOV/MIKWS-SH/ss1 already exists");
    assert_int_equal(ss_editor_add_server(ed, "GOV/MIKWS-SH", "ss2", "127.0.0.1:8443", fp),
                     SS_ERR_REGISTRY);
    assert_msg_contains("already used by server GOV/MIKWS-SH/ss1");
    assert_int_equal(ss_editor_add_server(ed, "GOV/NOPE", "ss2", "h:1", fp), SS_ERR_NOT_FOUND);
    assert_int_equal(ss_editor_add_server(ed, "GOV/MIKWS-SH/Meldeauskunft", "ss2", "h:1", fp),
                     SS_ERR_BAD_IDENTIFIER);
    assert_int_equal(ss_editor_add_server(ed, "GOV/MIKWS-SH", "s s", "h:1", fp),
                     SS_ERR_BAD_IDENTIFIER);

    /* addresses */
    static const char *const bad_addresses[] = {
        "host",
        "host:",
        ":8443",
        "host:0",
        "host:65536",
        "host:123456",
        "host:80a",
        "ho st:80",
        "h_st:80",
        "[::1]",
        "[]:80",
        "[zz::1]:80",
        "::1:8443",
        "host:-1",
        "",
        /* one endpoint, one spelling */
        "host:0443",
        "host.:443",
        "a..b:80",
        ".a:80",
        "[0:0::1]:80",
        "[::ffff:127.0.0.1]:80",
        "127.1:80",
        "0x7f.0.0.1:80",
        "010.0.0.1:80",
        "2130706433:80",
    };
    for (size_t i = 0; i < sizeof bad_addresses / sizeof bad_addresses[0]; i++) {
        if (ss_editor_add_server(ed, "GOV/MIKWS-SH", "ss2", bad_addresses[i], fp) != SS_ERR_CONFIG)
            fail_msg("address '%s' was accepted", bad_addresses[i]);
        assert_msg_contains("address");
    }
    assert_int_equal(ss_reg_address_check("ss.kiel.de-nord.example:443"), SS_OK);
    assert_int_equal(ss_reg_address_check("10.0.0.1:65535"), SS_OK);
    assert_int_equal(ss_reg_address_check("[2001:db8::1]:1"), SS_OK);
    assert_int_equal(ss_reg_address_check("[2001:DB8::1]:1"), SS_OK);
    assert_int_equal(ss_reg_address_check("[2001:db8:0:0::1]:1"), SS_ERR_CONFIG);
    assert_msg_contains("[2001:db8::1]");
    assert_int_equal(ss_reg_address_check("[::ffff:7f00:1]:1"), SS_ERR_CONFIG);
    assert_msg_contains("as 127.0.0.1");
    assert_int_equal(ss_reg_address_check("127.000.000.001:1"), SS_ERR_CONFIG);
    assert_msg_contains("127.0.0.1");
    assert_int_equal(ss_reg_address_check("1foo.example:1"), SS_OK);

    /* fingerprints */
    char out[65];
    assert_int_equal(ss_editor_normalize_sha256(fp, out), SS_OK);
    assert_string_equal(out, "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789");
    assert_int_equal(ss_editor_add_server(ed, "GOV/MIKWS-SH", "ss2", "h:1", "abc"), SS_ERR_CONFIG);
    assert_msg_contains("fingerprint");
    assert_int_equal(ss_editor_add_server(ed, "GOV/MIKWS-SH", "ss2", "h:1",
                                          "g123456789abcdef0123456789abcdef"
                                          "0123456789abcdef0123456789abcdef"),
                     SS_ERR_CONFIG);
    assert_int_equal(ss_editor_add_server(ed, "GOV/MIKWS-SH", "ss2", "h:1",
                                          "0123456789abcdef0123456789abcdef"
                                          "0123456789abcdef0123456789abcdef00"),
                     SS_ERR_CONFIG);

    assert_int_equal(ss_editor_add_server(ed, "GOV/MIKWS-SH", "ss2", "ss2.example:8443", fp),
                     SS_OK);
    /* host names are compared without case */
    assert_int_equal(ss_editor_add_server(ed, "GOV/MIKWS-SH", "ss3", "SS2.Example:8443", fp),
                     SS_ERR_REGISTRY);
    assert_msg_contains("already used by server GOV/MIKWS-SH/ss2");
    /* a certificate belongs to one server */
    assert_int_equal(ss_editor_add_server(ed, "GOV/MIKWS-SH", "ss3", "ss3.example:8443", fp),
                     SS_ERR_REGISTRY);
    assert_msg_contains("is already registered for server GOV/MIKWS-SH/ss2");
    save_close(ed);

    struct ss_registry *reg = parse_file(f);
    assert_int_equal(reg->n_servers, 3);
    assert_string_equal(reg->servers[2].code, "ss2");
    assert_int_equal(reg->servers[2].auth_sha256[0][0], 0xab);
    assert_int_equal(reg->servers[2].n_auth, 1);
    ss_registry_unref(reg);

    /* set */
    ed = open_ed(f);
    assert_int_equal(ss_editor_set_server(ed, "GOV/MIKWS-SH", "ss2", NULL, NULL), SS_ERR_CONFIG);
    assert_int_equal(ss_editor_set_server(ed, "GOV/MIKWS-SH", "ss9", "h:1", NULL),
                     SS_ERR_NOT_FOUND);
    assert_int_equal(ss_editor_set_server(ed, "GOV/MIKWS-SH", "ss2", "[::1]:8444", NULL),
                     SS_ERR_REGISTRY);
    assert_int_equal(ss_editor_set_server(ed, "GOV/MIKWS-SH", "ss2", "bad address", NULL),
                     SS_ERR_CONFIG);
    assert_int_equal(ss_editor_set_server(ed, "GOV/MIKWS-SH", "ss2", NULL, "xyz"), SS_ERR_CONFIG);
    /* its own address again is fine */
    assert_int_equal(ss_editor_set_server(ed, "GOV/MIKWS-SH", "ss2", "ss2.example:8443", NULL),
                     SS_OK);
    assert_int_equal(
        ss_editor_set_server(ed, "GOV/MIKWS-SH", "ss2", "ss2.example:9443",
                             "1111111111111111111111111111111111111111111111111111111111111111"),
        SS_OK);
    save_close(ed);
    reg = parse_file(f);
    assert_string_equal(reg->servers[2].address, "ss2.example:9443");
    assert_int_equal(reg->servers[2].auth_sha256[0][31], 0x11);
    ss_registry_unref(reg);

    /* a rotation: the next certificate beside the first, then the first goes */
    static const char next[] = "2222222222222222222222222222222222222222222222222222222222222222";
    static const char first[] = "1111111111111111111111111111111111111111111111111111111111111111";
    ed = open_ed(f);
    assert_int_equal(ss_editor_remove_server_auth(ed, "GOV/MIKWS-SH/ss2", first), SS_ERR_REGISTRY);
    assert_msg_contains("only authentication certificate");
    assert_int_equal(ss_editor_add_server_auth(ed, "GOV/MIKWS-SH/ss2", first), SS_ERR_REGISTRY);
    assert_int_equal(ss_editor_add_server_auth(ed, "GOV/MIKWS-SH/ss2", "xyz"), SS_ERR_CONFIG);
    assert_int_equal(ss_editor_add_server_auth(ed, "GOV/MIKWS-SH/ss9", next), SS_ERR_NOT_FOUND);
    assert_int_equal(ss_editor_add_server_auth(ed, "GOV/MIKWS-SH/ss2", next), SS_OK);
    assert_int_equal(ss_editor_add_server_auth(ed, "GOV/MIKWS-SH/ss2", next), SS_ERR_REGISTRY);
    /* ... and not to another server too */
    assert_int_equal(ss_editor_add_server_auth(ed, "GOV/MIKWS-SH/ss1", next), SS_ERR_REGISTRY);
    assert_msg_contains("is already registered for server GOV/MIKWS-SH/ss2");
    assert_int_equal(ss_editor_set_server(ed, "GOV/MIKWS-SH", "ss1", NULL, first), SS_ERR_REGISTRY);
    assert_msg_contains("is already registered for server GOV/MIKWS-SH/ss2");
    assert_int_equal(ss_editor_add_server_auth(
                         ed, "GOV/MIKWS-SH/ss2",
                         "3333333333333333333333333333333333333333333333333333333333333333"),
                     SS_OK);
    assert_int_equal(ss_editor_add_server_auth(
                         ed, "GOV/MIKWS-SH/ss2",
                         "4444444444444444444444444444444444444444444444444444444444444444"),
                     SS_OK);
    assert_int_equal(ss_editor_add_server_auth(
                         ed, "GOV/MIKWS-SH/ss2",
                         "5555555555555555555555555555555555555555555555555555555555555555"),
                     SS_ERR_LIMIT);
    save_close(ed);
    reg = parse_file(f);
    assert_int_equal(reg->servers[2].n_auth, 4);
    assert_int_equal(reg->servers[2].auth_sha256[1][0], 0x22);
    ss_registry_unref(reg);
    ed = open_ed(f);
    assert_int_equal(ss_editor_remove_server_auth(ed, "GOV/MIKWS-SH/ss2", first), SS_OK);
    assert_int_equal(ss_editor_remove_server_auth(
                         ed, "GOV/MIKWS-SH/ss2",
                         "4444444444444444444444444444444444444444444444444444444444444444"),
                     SS_OK);
    assert_int_equal(ss_editor_remove_server_auth(ed, "GOV/MIKWS-SH/ss2", first), SS_ERR_NOT_FOUND);
    save_close(ed);
    reg = parse_file(f);
    assert_int_equal(reg->servers[2].n_auth, 2);
    assert_int_equal(reg->servers[2].auth_sha256[0][0], 0x22); /* the next took the first's place */
    assert_int_equal(reg->servers[2].auth_sha256[1][0], 0x33);
    ss_registry_unref(reg);

    ed = open_ed(f);
    assert_int_equal(ss_editor_remove_server(ed, "GOV/MIKWS-SH", "ss9"), SS_ERR_NOT_FOUND);
    assert_int_equal(ss_editor_remove_server(ed, "GOV/MIKWS-SH", "ss2"), SS_OK);
    save_close(ed);
    reg = parse_file(f);
    assert_int_equal(reg->n_servers, 2);
    ss_registry_unref(reg);
}

static void test_client(void **state)
{
    struct fixture *f = *state;
    populate(f);
    struct ss_editor *ed = open_ed(f);
    assert_int_equal(ss_editor_add_client(ed, "GOV/MIKWS-SH/ss1", "GOV/MIKWS-SH/Meldeauskunft"),
                     SS_OK);
    assert_int_equal(ss_editor_add_client(ed, "GOV/MIKWS-SH/ss1", "GOV/MIKWS-SH/Meldeauskunft"),
                     SS_ERR_REGISTRY);
    assert_string_equal(ss_errmsg(), "server GOV/MIKWS-SH/ss1 already hosts "
                                     "GOV/MIKWS-SH/Meldeauskunft");
    assert_int_equal(ss_editor_add_client(ed, "GOV/MIKWS-SH/ss1", "GOV/MIKWS-SH"), SS_OK);
    assert_int_equal(ss_editor_add_client(ed, "GOV/MIKWS-SH/ss9", "GOV/MIKWS-SH"),
                     SS_ERR_NOT_FOUND);
    assert_string_equal(ss_errmsg(), "unknown server GOV/MIKWS-SH/ss9");
    assert_int_equal(ss_editor_add_client(ed, "GOV/MIKWS-SH", "GOV/MIKWS-SH"),
                     SS_ERR_BAD_IDENTIFIER);
    assert_int_equal(ss_editor_add_client(ed, "GOV/MIKWS-SH/ss1", "GOV/MIKWS-SH/Nope"),
                     SS_ERR_NOT_FOUND);
    assert_string_equal(ss_errmsg(), "unknown subsystem GOV/MIKWS-SH/Nope");
    assert_int_equal(ss_editor_add_client(ed, "GOV/MIKWS-SH/ss1", "MUN/99999999"),
                     SS_ERR_NOT_FOUND);
    save_close(ed);

    struct ss_registry *reg = parse_file(f);
    assert_int_equal(reg->servers[0].n_clients, 2);
    ss_registry_unref(reg);

    ed = open_ed(f);
    assert_int_equal(ss_editor_remove_client(ed, "GOV/MIKWS-SH/ss1", "MUN/13004000"),
                     SS_ERR_NOT_FOUND);
    assert_int_equal(ss_editor_remove_client(ed, "GOV/MIKWS-SH/ss1", "GOV/MIKWS-SH"), SS_OK);
    save_close(ed);
    reg = parse_file(f);
    assert_int_equal(reg->servers[0].n_clients, 1);
    ss_registry_unref(reg);
}

static void test_group(void **state)
{
    struct fixture *f = *state;
    populate(f);
    struct ss_editor *ed = open_ed(f);
    assert_int_equal(ss_editor_add_group(ed, "meldebehoerden", "Meldebeh\xc3\xb6rden"), SS_OK);
    assert_int_equal(ss_editor_add_group(ed, "meldebehoerden", "again"), SS_ERR_REGISTRY);
    assert_int_equal(ss_editor_add_group(ed, "bad code", "x"), SS_ERR_BAD_IDENTIFIER);
    assert_int_equal(ss_editor_add_group(ed, "x", "tab\there"), SS_ERR_CONFIG);
    assert_int_equal(ss_editor_add_group_member(ed, "meldebehoerden", "MUN/13004000"), SS_OK);
    assert_int_equal(ss_editor_add_group_member(ed, "meldebehoerden", "GOV/MIKWS-SH/Meldeauskunft"),
                     SS_OK);
    assert_int_equal(ss_editor_add_group_member(ed, "meldebehoerden", "MUN/13004000"),
                     SS_ERR_REGISTRY);
    assert_int_equal(ss_editor_add_group_member(ed, "nope", "MUN/13004000"), SS_ERR_NOT_FOUND);
    assert_int_equal(ss_editor_add_group_member(ed, "meldebehoerden", "MUN/1"), SS_ERR_NOT_FOUND);
    save_close(ed);

    struct ss_registry *reg = parse_file(f);
    assert_int_equal(reg->n_groups, 1);
    assert_int_equal(reg->groups[0].n_members, 2);
    struct ss_client_id id;
    assert_int_equal(ss_client_id_parse_local("MUN/13004000/Einwohnermeldeamt", "DE-NORD", &id),
                     SS_OK);
    assert_true(ss_registry_group_has(reg, "meldebehoerden", &id));
    ss_registry_unref(reg);

    ed = open_ed(f);
    assert_int_equal(ss_editor_remove_group_member(ed, "meldebehoerden", "GOV/MIKWS-SH"),
                     SS_ERR_NOT_FOUND);
    assert_int_equal(ss_editor_remove_group_member(ed, "meldebehoerden", "MUN/13004000"), SS_OK);
    assert_int_equal(ss_editor_remove_group(ed, "nope"), SS_ERR_NOT_FOUND);
    assert_int_equal(ss_editor_remove_group(ed, "meldebehoerden"), SS_OK);
    save_close(ed);
    reg = parse_file(f);
    assert_int_equal(reg->n_groups, 0);
    ss_registry_unref(reg);
}

static void test_remove_referenced(void **state)
{
    struct fixture *f = *state;
    populate(f);
    struct ss_editor *ed = open_ed(f);
    assert_int_equal(ss_editor_add_client(ed, "GOV/MIKWS-SH/ss1", "MUN/13004000/Einwohnermeldeamt"),
                     SS_OK);
    assert_int_equal(ss_editor_add_group(ed, "g", "Gruppe"), SS_OK);
    assert_int_equal(ss_editor_add_group_member(ed, "g", "GOV/MIKWS-SH/Meldeauskunft"), SS_OK);
    save_close(ed);

    ed = open_ed(f);
    assert_int_equal(ss_editor_remove_member_class(ed, "GOV"), SS_ERR_REGISTRY);
    assert_msg_contains("still use");
    assert_int_equal(ss_editor_remove_member(ed, "GOV/MIKWS-SH"), SS_ERR_REGISTRY);
    assert_string_equal(ss_errmsg(),
                        "cannot remove member GOV/MIKWS-SH: it owns server GOV/MIKWS-SH/ss1");
    /* a member whose subsystem is hosted by someone else's server */
    assert_int_equal(ss_editor_remove_server(ed, "MUN/13004000", "ss1"), SS_OK);
    assert_int_equal(ss_editor_remove_member(ed, "MUN/13004000"), SS_ERR_REGISTRY);
    assert_msg_contains("MUN/13004000/Einwohnermeldeamt is hosted on server GOV/MIKWS-SH/ss1");
    assert_int_equal(ss_editor_remove_subsystem(ed, "MUN/13004000/Einwohnermeldeamt"),
                     SS_ERR_REGISTRY);
    assert_int_equal(
        ss_editor_remove_client(ed, "GOV/MIKWS-SH/ss1", "MUN/13004000/Einwohnermeldeamt"), SS_OK);
    assert_int_equal(ss_editor_remove_member(ed, "MUN/13004000"), SS_OK);
    assert_int_equal(ss_editor_remove_member_class(ed, "MUN"), SS_OK);
    /* a subsystem in a group */
    assert_int_equal(ss_editor_remove_server(ed, "GOV/MIKWS-SH", "ss1"), SS_OK);
    assert_int_equal(ss_editor_remove_subsystem(ed, "GOV/MIKWS-SH/Meldeauskunft"), SS_ERR_REGISTRY);
    assert_msg_contains("is a member of global group g");
    assert_int_equal(ss_editor_remove_member(ed, "GOV/MIKWS-SH"), SS_ERR_REGISTRY);
    assert_int_equal(ss_editor_remove_group(ed, "g"), SS_OK);
    assert_int_equal(ss_editor_remove_member(ed, "GOV/MIKWS-SH"), SS_OK);
    save_close(ed);

    struct ss_registry *reg = parse_file(f);
    assert_int_equal(reg->n_members, 0);
    assert_int_equal(reg->n_servers, 0);
    assert_int_equal(reg->n_classes, 1);
    ss_registry_unref(reg);
}

/* A document from before the one-spelling rule still opens; the tool writes it again only
 * once the server's address is mended, and says which server to mend. */
static void test_old_spelling_mended(void **state)
{
    struct fixture *f = *state;
    populate(f);
    struct ss_editor *ed = open_ed(f);
    assert_int_equal(
        ss_editor_add_server(ed, "GOV/MIKWS-SH", "ss2", "ss2.example:8443",
                             "1111111111111111111111111111111111111111111111111111111111111111"),
        SS_OK);
    save_close(ed);
    size_t len = 0;
    uint8_t *buf = NULL;
    assert_int_equal(ss_file_read(f->path, SS_REGISTRY_MAX_BYTES, &buf, &len), SS_OK);
    const char *found = strstr((const char *)buf, "ss2.example:8443");
    assert_non_null(found);
    size_t head = (size_t)(found - (const char *)buf);
    char *text = malloc(len + 2);
    assert_non_null(text);
    memcpy(text, buf, head);
    memcpy(text + head, "ss2.example:08443", 17);
    memcpy(text + head + 17, buf + head + 16, len - head - 16);
    spit(f->path, text, len + 1);
    free(text);
    free(buf);
    ed = open_ed(f); /* it opens */
    assert_int_equal(ss_editor_add_member_class(ed, "XYZ", "Other"), SS_OK);
    uint8_t *xml = NULL;
    assert_int_equal(ss_editor_serialize(ed, &xml, &len), SS_ERR_REGISTRY);
    assert_msg_contains("server GOV/MIKWS-SH/ss2: bad address 'ss2.example:08443'");
    assert_int_equal(ss_editor_set_server(ed, "GOV/MIKWS-SH", "ss2", "ss2.example:8443", NULL),
                     SS_OK);
    save_close(ed);
}

static void test_ca_tsa(void **state)
{
    struct fixture *f = *state;
    const long year = 86400L * 365;
    /* a root, two intermediates below it, a delegated responder, a TSA */
    struct made im1, im2, resp, tsa;
    struct made top = {0};
    make(&top, "Test Root CA", CERT_CA, NULL, year);
    make(&im1, "Test Intermediate 1", CERT_CA, &top, year);
    make(&im2, "Test Intermediate 2", CERT_CA, &im1, year);
    make(&resp, "Test OCSP", CERT_OCSP, &im2, year);
    make(&tsa, "Test TSA", CERT_TSA, &top, year);
    struct ss_editor_cert root = as_cert(&top), ocsp = as_cert(&resp), tsa_cert = as_cert(&tsa);
    /* given in either order */
    struct ss_editor_cert inter[2] = {as_cert(&im2), as_cert(&im1)};
    uint8_t junk[64];
    memset(junk, 0x30, sizeof junk);
    struct ss_editor_cert bad = {junk, sizeof junk};

    struct ss_editor *ed = open_ed(f);
    assert_int_equal(
        ss_editor_add_ca(ed, "Test CA", &root, inter, 2, "http://ocsp.example/", &ocsp), SS_OK);
    assert_int_equal(ss_editor_add_ca(ed, "Test CA", &root, NULL, 0, NULL, NULL), SS_ERR_REGISTRY);
    assert_int_equal(ss_editor_add_ca(ed, "CA 2", &bad, NULL, 0, NULL, NULL),
                     SS_ERR_BAD_CERTIFICATE);
    assert_int_equal(ss_editor_add_ca(ed, "CA 2", &root, &bad, 1, NULL, NULL),
                     SS_ERR_BAD_CERTIFICATE);
    assert_int_equal(ss_editor_add_ca(ed, "CA 2", &root, NULL, 0, "http://ocsp.example/", NULL),
                     SS_ERR_CONFIG);
    assert_int_equal(ss_editor_add_ca(ed, "CA 2", &root, NULL, 0, "ftp://ocsp.example/", &ocsp),
                     SS_ERR_CONFIG);
    assert_int_equal(ss_editor_add_ca(ed, "CA 2", &root, NULL, 0, "http://a b/", &ocsp),
                     SS_ERR_CONFIG);
    assert_int_equal(ss_editor_add_ca(ed, "CA 2", &root, NULL, 11, NULL, NULL), SS_ERR_LIMIT);
    assert_int_equal(ss_editor_add_tsa(ed, "Test TSA", "https://tsa.example/tsr", &tsa_cert),
                     SS_OK);
    assert_int_equal(ss_editor_add_tsa(ed, "Test TSA", "https://tsa.example/tsr", &tsa_cert),
                     SS_ERR_REGISTRY);
    assert_int_equal(ss_editor_add_tsa(ed, "TSA 2", "tsa.example", &tsa_cert), SS_ERR_CONFIG);
    assert_int_equal(ss_editor_add_tsa(ed, "TSA 2", "https://tsa.example/", &bad),
                     SS_ERR_BAD_CERTIFICATE);
    save_close(ed);

    struct ss_registry *reg = parse_file(f);
    assert_int_equal(reg->n_cas, 1);
    assert_int_equal(reg->cas[0].cert.len, top.len);
    assert_memory_equal(reg->cas[0].cert.der, top.der, top.len);
    assert_int_equal(reg->cas[0].n_intermediates, 2);
    assert_int_equal(reg->cas[0].n_ocsp, 1);
    assert_string_equal(reg->cas[0].ocsp[0].url, "http://ocsp.example/");
    assert_int_equal(reg->n_tsas, 1);
    assert_memory_equal(reg->tsas[0].cert.der, tsa.der, tsa.len);
    ss_registry_unref(reg);
    made_free(&top);
    made_free(&im1);
    made_free(&im2);
    made_free(&resp);
    made_free(&tsa);

    ed = open_ed(f);
    assert_int_equal(ss_editor_remove_ca(ed, "Nope"), SS_ERR_NOT_FOUND);
    assert_int_equal(ss_editor_remove_ca(ed, "Test CA"), SS_OK);
    assert_int_equal(ss_editor_remove_tsa(ed, "Nope"), SS_ERR_NOT_FOUND);
    assert_int_equal(ss_editor_remove_tsa(ed, "Test TSA"), SS_OK);
    save_close(ed);
    reg = parse_file(f);
    assert_int_equal(reg->n_cas, 0);
    assert_int_equal(reg->n_tsas, 0);
    ss_registry_unref(reg);
}

static void test_settings_and_stamp(void **state)
{
    struct fixture *f = *state;
    struct ss_editor *ed = open_ed(f);
    struct ss_reg_settings none = {0}, too_big = {.ocsp_freshness = SS_EDITOR_MAX_SECONDS + 1};
    struct ss_reg_settings negative = {.refresh_interval = -5};
    struct ss_reg_settings some = {.registry_validity = 7200, .refresh_interval = 30};
    assert_int_equal(ss_editor_set_settings(ed, &none), SS_ERR_CONFIG);
    assert_int_equal(ss_editor_set_settings(ed, &too_big), SS_ERR_CONFIG);
    assert_int_equal(ss_editor_set_settings(ed, &negative), SS_ERR_CONFIG);
    assert_int_equal(ss_editor_set_settings(ed, &some), SS_OK);
    assert_int_equal(ss_editor_stamp(ed, 0, NOW + 100), SS_OK);
    save_close(ed);

    struct ss_registry *reg = parse_file(f);
    assert_int_equal(reg->settings.registry_validity, 7200);
    assert_int_equal(reg->settings.refresh_interval, 30);
    assert_int_equal(reg->settings.ocsp_freshness, 3600);
    assert_int_equal(reg->serial, 1);
    assert_int_equal(reg->issued, NOW + 100);
    assert_int_equal(reg->expires, NOW + 100 + 7200);
    ss_registry_unref(reg);

    ed = open_ed(f);
    assert_int_equal(ss_editor_stamp(ed, 0, NOW + 200), SS_OK);  /* 2 */
    assert_int_equal(ss_editor_stamp(ed, 50, NOW + 200), SS_OK); /* max(3, 50) */
    assert_int_equal(ss_editor_stamp(ed, 10, NOW + 200), SS_OK); /* max(51, 10) */
    save_close(ed);
    reg = parse_file(f);
    assert_int_equal(reg->serial, 51);
    ss_registry_unref(reg);
}

/* A change the schema refuses never reaches the file. */
static void test_failed_save_leaves_file(void **state)
{
    struct fixture *f = *state;
    populate(f);
    size_t len0 = 0, len1 = 0;
    uint8_t *before = slurp(f->path, &len0);

    struct ss_editor *ed = open_ed(f);
    assert_int_equal(ss_editor_add_member(ed, "GOV/IM-MV", "Innenministerium MV", "MV"), SS_OK);
    static const xmlChar bogus[] = "bogus";
    assert_non_null(xmlNewChild(ss_editor_root(ed), NULL, bogus, NULL));
    assert_int_equal(ss_editor_save(ed), SS_ERR_REGISTRY_SCHEMA);
    assert_msg_contains("does not validate");
    assert_msg_contains("bogus");
    ss_editor_free(ed);

    /* refused edits through the API, then a save of the untouched tree */
    ed = open_ed(f);
    assert_int_equal(ss_editor_add_member(ed, "GOV/MIKWS-SH", "x", "SH"), SS_ERR_REGISTRY);
    assert_int_equal(ss_editor_remove_member(ed, "GOV/MIKWS-SH"), SS_ERR_REGISTRY);
    ss_editor_free(ed);

    uint8_t *after = slurp(f->path, &len1);
    assert_int_equal(len0, len1);
    assert_memory_equal(before, after, len0);
    free(before);
    free(after);

    /* saving without a change reproduces the file exactly */
    before = slurp(f->path, &len0);
    ed = open_ed(f);
    save_close(ed);
    after = slurp(f->path, &len1);
    assert_int_equal(len0, len1);
    assert_memory_equal(before, after, len0);
    free(before);
    free(after);
}

/* A hand-edited file: errors name its own lines; comments survive, layout is redone. */
static void test_hand_edited(void **state)
{
    struct fixture *f = *state;
    char path[160];
    struct ss_editor *ed = NULL;
    snprintf(path, sizeof path, "%s/hand.xml", f->dir);
    static const char bad[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<registry version=\"1\" instance=\"DE-NORD\" serial=\"3\"\n"
        "    issued=\"2026-01-01T00:00:00Z\" expires=\"2026-02-01T00:00:00Z\">\n"
        "  <settings ocspFreshness=\"1\" timestampingInterval=\"1\"\n"
        "      registryValidity=\"1\" refreshInterval=\"1\"/>\n"
        "  <bogus/>\n"
        "</registry>\n";
    spit(path, bad, sizeof bad - 1);
    assert_int_equal(ss_editor_open(path, &ed), SS_ERR_REGISTRY_SCHEMA);
    assert_null(ed);
    char want[200];
    snprintf(want, sizeof want, "%s:6:", path);
    if (strncmp(ss_errmsg(), want, strlen(want)) != 0)
        fail_msg("expected '%s...', got '%s'", want, ss_errmsg());

    static const char good[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<registry version=\"1\" instance=\"DE-NORD\" serial=\"3\"\n"
        "    issued=\"2026-01-01T00:00:00Z\" expires=\"2026-02-01T00:00:00Z\">\n"
        "      <settings ocspFreshness=\"1\" timestampingInterval=\"1\"\n"
        "      registryValidity=\"1\" refreshInterval=\"1\"/>\n"
        "  <!-- Landesbehoerden -->\n"
        "<memberClass code=\"GOV\">State</memberClass>\n"
        "        <member class=\"GOV\" code=\"A\" state=\"SH\">  <name>A</name>\n"
        "   </member>\n"
        "</registry>\n";
    spit(path, good, sizeof good - 1);
    assert_int_equal(ss_editor_open(path, &ed), SS_OK);
    assert_int_equal(ss_editor_add_member_class(ed, "MUN", "Kommunen"), SS_OK);
    assert_int_equal(ss_editor_add_subsystem(ed, "GOV/A/S"), SS_OK);
    assert_int_equal(ss_editor_save(ed), SS_OK);
    ss_editor_free(ed);

    size_t len = 0;
    char *text = (char *)slurp(path, &len);
    assert_non_null(strstr(text, "<!-- Landesbehoerden -->"));
    assert_non_null(strstr(text, "\n  <memberClass code=\"GOV\">State</memberClass>\n"
                                 "  <memberClass code=\"MUN\">Kommunen</memberClass>\n"
                                 "  <member class=\"GOV\" code=\"A\" state=\"SH\">\n"
                                 "    <name>A</name>\n"
                                 "    <subsystem code=\"S\"/>\n"
                                 "  </member>\n"));
    free(text);
}

/* A certificate no server could use for what it is added as is refused, naming why. */
static void test_ca_tsa_refusals(void **state)
{
    struct fixture *f = *state;
    const long year = 86400L * 365;
    struct made top, im, resp, tsa, leaf, stranger, stranger_resp, old, old_im, no_sign, lax_resp,
        lax_tsa, old_tsa, old_resp;
    make(&top, "Test Root CA", CERT_CA, NULL, year);
    make(&im, "Test Intermediate", CERT_CA, &top, year);
    make(&resp, "Test OCSP", CERT_OCSP, &im, year);
    make(&tsa, "Test TSA", CERT_TSA, &top, year);
    make(&leaf, "Test Leaf", CERT_LEAF, NULL, year);
    make(&stranger, "Test Root CA", CERT_CA, NULL, year); /* same name, another key */
    make(&stranger_resp, "Stranger OCSP", CERT_OCSP, &stranger, year);
    make(&old, "Old Root CA", CERT_CA, NULL, -60);
    make(&old_im, "Old Intermediate", CERT_CA, &top, -60);
    make(&no_sign, "No Sign CA", CERT_CA_NO_SIGN, NULL, year);
    make(&lax_resp, "Lax OCSP", CERT_LEAF, &im, year);
    make(&lax_tsa, "Lax TSA", CERT_TSA_LAX, &top, year);
    make(&old_tsa, "Old TSA", CERT_TSA, &top, -60);
    make(&old_resp, "Old OCSP", CERT_OCSP, &im, -60);
    struct ss_editor_cert c_top = as_cert(&top), c_im = as_cert(&im), c_resp = as_cert(&resp),
                          c_leaf = as_cert(&leaf), c_stranger = as_cert(&stranger),
                          c_stranger_resp = as_cert(&stranger_resp), c_old = as_cert(&old),
                          c_old_im = as_cert(&old_im), c_no_sign = as_cert(&no_sign),
                          c_lax_resp = as_cert(&lax_resp), c_lax_tsa = as_cert(&lax_tsa),
                          c_old_tsa = as_cert(&old_tsa), c_old_resp = as_cert(&old_resp);
    const char *url = "http://ocsp.example/";
    struct ss_editor *ed = open_ed(f);
    struct {
        const struct ss_editor_cert *root, *inter, *ocsp;
        const char *why;
    } cases[] = {
        {&c_leaf, NULL, NULL, "CA certificate is not a CA's"},
        {&c_no_sign, NULL, NULL, "CA certificate is not a CA's"},
        {&c_im, NULL, NULL, "CA certificate is not self-signed"},
        {&c_old, NULL, NULL, "CA certificate expired at "},
        {&c_top, &c_leaf, NULL, "intermediate certificate 1 is not a CA's"},
        {&c_top, &c_stranger, NULL, "intermediate certificate 1 does not chain"},
        {&c_top, &c_old_im, NULL, "intermediate certificate 1 expired at "},
        {&c_top, &c_im, &c_stranger_resp, "issued neither by the CA certificate nor"},
        {&c_top, &c_im, &c_lax_resp, "lacks the OCSPSigning extended key usage"},
        {&c_top, &c_im, &c_old_resp, "OCSP responder certificate expired at "},
        {&c_top, NULL, &c_resp, "issued neither by the CA certificate nor"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(ss_editor_add_ca(ed, "CA", cases[i].root, cases[i].inter,
                                          cases[i].inter ? 1 : 0, cases[i].ocsp ? url : NULL,
                                          cases[i].ocsp),
                         SS_ERR_BAD_CERTIFICATE);
        assert_msg_contains(cases[i].why);
    }
    assert_int_equal(ss_editor_add_tsa(ed, "T", "http://t.example/", &c_lax_tsa),
                     SS_ERR_BAD_CERTIFICATE);
    assert_msg_contains("TSA certificate is not a time-stamping authority's");
    assert_int_equal(ss_editor_add_tsa(ed, "T", "http://t.example/", &c_top),
                     SS_ERR_BAD_CERTIFICATE);
    assert_msg_contains("TSA certificate is not a time-stamping authority's");
    assert_int_equal(ss_editor_add_tsa(ed, "T", "http://t.example/", &c_old_tsa),
                     SS_ERR_BAD_CERTIFICATE);
    assert_msg_contains("TSA certificate expired at ");
    /* the CA itself, or an intermediate, answers for its own certificates */
    assert_int_equal(ss_editor_add_ca(ed, "CA 1", &c_top, &c_im, 1, url, &c_top), SS_OK);
    assert_int_equal(ss_editor_add_ca(ed, "CA 2", &c_top, &c_im, 1, url, &c_im), SS_OK);
    save_close(ed);
    struct made *all[] = {&top, &im,     &resp,    &tsa,      &leaf,    &stranger, &stranger_resp,
                          &old, &old_im, &no_sign, &lax_resp, &lax_tsa, &old_tsa,  &old_resp};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        made_free(all[i]);
}

/* New elements land where the schema's sequence wants them. */
static void test_schema_order(void **state)
{
    struct fixture *f = *state;
    struct ss_editor_cert cert = {f->cert, f->cert_len};
    struct made tsa;
    make(&tsa, "T", CERT_TSA, NULL, 86400L);
    struct ss_editor_cert tsa_cert = as_cert(&tsa);
    struct ss_editor *ed = open_ed(f);
    assert_int_equal(ss_editor_add_tsa(ed, "T", "http://t.example/", &tsa_cert), SS_OK);
    made_free(&tsa);
    assert_int_equal(ss_editor_add_ca(ed, "C", &cert, NULL, 0, NULL, NULL), SS_OK);
    assert_int_equal(ss_editor_add_member_class(ed, "GOV", "G"), SS_OK);
    assert_int_equal(ss_editor_add_group(ed, "grp", "Group"), SS_OK);
    assert_int_equal(ss_editor_add_member(ed, "GOV/B", "B", "MV"), SS_OK);
    assert_int_equal(
        ss_editor_add_server(ed, "GOV/B", "s", "b.example:1",
                             "2222222222222222222222222222222222222222222222222222222222222222"),
        SS_OK);
    assert_int_equal(ss_editor_add_member_class(ed, "MUN", "M"), SS_OK);
    assert_int_equal(ss_editor_add_member(ed, "GOV/A", "A", "SH"), SS_OK);
    save_close(ed);
    size_t len = 0;
    char *text = (char *)slurp(f->path, &len);
    const char *order[] = {"<settings",
                           "<memberClass code=\"GOV\"",
                           "<memberClass code=\"MUN\"",
                           "<member class=\"GOV\" code=\"B\"",
                           "<member class=\"GOV\" code=\"A\"",
                           "<securityServer",
                           "<globalGroup",
                           "<certificationAuthority",
                           "<timestampingAuthority"};
    const char *prev = text;
    for (size_t i = 0; i < sizeof order / sizeof order[0]; i++) {
        const char *at = strstr(text, order[i]);
        assert_non_null(at);
        assert_true(at >= prev);
        prev = at;
    }
    free(text);
}

static void test_certfile(void **state)
{
    struct fixture *f = *state;
    char pem_path[160], der_path[160], two_path[160], junk_path[160];
    snprintf(pem_path, sizeof pem_path, "%s/c.pem", f->dir);
    snprintf(der_path, sizeof der_path, "%s/c.der", f->dir);
    snprintf(two_path, sizeof two_path, "%s/two.pem", f->dir);
    snprintf(junk_path, sizeof junk_path, "%s/junk", f->dir);

    /* PEM and DER of the same certificate give the same bytes */
    char *b64 = NULL;
    assert_int_equal(ss_certfile_base64(f->cert, f->cert_len, &b64), SS_OK);
    char pem[8192];
    int n = snprintf(pem, sizeof pem, "-----BEGIN CERTIFICATE-----\n");
    size_t b64_len = strlen(b64);
    for (size_t i = 0; i < b64_len; i += 64)
        n += snprintf(pem + n, sizeof pem - (size_t)n, "%.64s\n", b64 + i);
    n += snprintf(pem + n, sizeof pem - (size_t)n, "-----END CERTIFICATE-----\n");
    spit(pem_path, pem, (size_t)n);
    spit(der_path, f->cert, f->cert_len);
    free(b64);

    uint8_t *der = NULL;
    size_t len = 0;
    assert_int_equal(ss_certfile_read(pem_path, &der, &len), SS_OK);
    assert_int_equal(len, f->cert_len);
    assert_memory_equal(der, f->cert, len);
    free(der);
    assert_int_equal(ss_certfile_read(der_path, &der, &len), SS_OK);
    assert_memory_equal(der, f->cert, len);
    free(der);

    /* two certificates in one file, junk, a missing file */
    char two[16384];
    int m = snprintf(two, sizeof two, "%s%s", pem, pem);
    spit(two_path, two, (size_t)m);
    assert_int_equal(ss_certfile_read(two_path, &der, &len), SS_ERR_BAD_CERTIFICATE);
    assert_msg_contains("more than one");
    spit(junk_path, "not a certificate at all", 24);
    assert_int_equal(ss_certfile_read(junk_path, &der, &len), SS_ERR_BAD_CERTIFICATE);
    assert_null(der);
    char missing[200];
    snprintf(missing, sizeof missing, "%s/missing.pem", f->dir);
    assert_int_equal(ss_certfile_read(missing, &der, &len), SS_ERR_NOT_FOUND);

    /* fingerprint: SHA-256 of the DER, lowercase hex */
    unsigned char md[32];
    unsigned int md_len = 0;
    char hex[65], want[65];
    assert_int_equal(EVP_Digest(f->cert, f->cert_len, md, &md_len, EVP_sha256(), NULL), 1);
    for (int i = 0; i < 32; i++)
        snprintf(want + 2 * i, 3, "%02x", md[i]);
    assert_int_equal(ss_certfile_sha256_hex(f->cert, f->cert_len, hex), SS_OK);
    assert_string_equal(hex, want);
    assert_int_equal(ss_certfile_sha256_hex(f->cert, f->cert_len - 1, hex), SS_ERR_BAD_CERTIFICATE);

    struct ss_cert_info info;
    assert_int_equal(ss_certfile_describe(f->cert2, f->cert2_len, &info), SS_OK);
    assert_string_equal(info.subject, "CN=Test Authority \xc3\xa4");
    assert_true(info.not_after - info.not_before >= 86400L * 364);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create, setup, teardown),
        cmocka_unit_test_setup_teardown(test_create_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_member_class, setup, teardown),
        cmocka_unit_test_setup_teardown(test_member, setup, teardown),
        cmocka_unit_test_setup_teardown(test_subsystem, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_spelling_mended, setup, teardown),
        cmocka_unit_test_setup_teardown(test_client, setup, teardown),
        cmocka_unit_test_setup_teardown(test_group, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_referenced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ca_tsa, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ca_tsa_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_settings_and_stamp, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failed_save_leaves_file, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hand_edited, setup, teardown),
        cmocka_unit_test_setup_teardown(test_schema_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_certfile, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
