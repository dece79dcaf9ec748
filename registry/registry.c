/*
 * Builds the immutable registry model from a validated document, checks the
 * cross-references the schema cannot express, and answers look-ups.
 */
#include "registry.h"
#include "ss_hex.h"
#include "ss_xml.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

extern const unsigned char ss_schema_registry_xsd[];
extern const size_t ss_schema_registry_xsd_len;

/* ---- addresses ---- */

static bool host_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.';
}

static ss_error check_ipv6(const char *address, const char *host, size_t hlen)
{
    char text[INET6_ADDRSTRLEN], canon[INET6_ADDRSTRLEN];
    struct in6_addr a;
    if (hlen < 2 || hlen >= sizeof text)
        return ss_errf(SS_ERR_CONFIG, "bad address '%.64s': an IPv6 host is [2 to 45 characters]",
                       address);
    memcpy(text, host, hlen);
    text[hlen] = '\0';
    if (inet_pton(AF_INET6, text, &a) != 1)
        return ss_errf(SS_ERR_CONFIG, "bad address '%.64s': not an IPv6 address", address);
    if (IN6_IS_ADDR_V4MAPPED(&a)) {
        char v4[INET_ADDRSTRLEN];
        if (!inet_ntop(AF_INET, &a.s6_addr[12], v4, sizeof v4))
            v4[0] = '\0';
        return ss_errf(SS_ERR_CONFIG, "bad address '%.64s': write the IPv4 address as %s", address,
                       v4);
    }
    if (!inet_ntop(AF_INET6, &a, canon, sizeof canon) || strcasecmp(canon, text) != 0)
        return ss_errf(SS_ERR_CONFIG, "bad address '%.64s': write the IPv6 address as [%s]",
                       address, canon);
    return SS_OK;
}

static ss_error check_host(const char *address, const char *host, size_t hlen)
{
    if (hlen == 0 || hlen > 253)
        return ss_errf(SS_ERR_CONFIG, "bad address '%.64s': a host name has 1 to 253 characters",
                       address);
    for (size_t i = 0; i < hlen; i++)
        if (!host_char(host[i]))
            return ss_errf(SS_ERR_CONFIG,
                           "bad address '%.64s': a host name has only A-Z a-z 0-9 '-' and '.'"
                           " (write IPv6 as [addr]:port)",
                           address);
    if (host[hlen - 1] == '.')
        return ss_errf(SS_ERR_CONFIG, "bad address '%.64s': write the host without a trailing dot",
                       address);
    size_t label = 0;
    for (size_t i = 0; i <= hlen; i++) {
        if (i < hlen && host[i] != '.') {
            label++;
            continue;
        }
        if (label == 0 || label > 63)
            return ss_errf(SS_ERR_CONFIG,
                           "bad address '%.64s': each dot-separated part of a host name has 1 to"
                           " 63 characters",
                           address);
        label = 0;
    }
    /* what a resolver reads as an IPv4 address must be written as one, in one way */
    char text[254];
    memcpy(text, host, hlen);
    text[hlen] = '\0';
    struct in_addr a;
    if (inet_aton(text, &a) != 0) {
        char canon[INET_ADDRSTRLEN];
        if (!inet_ntop(AF_INET, &a, canon, sizeof canon) || strcmp(canon, text) != 0)
            return ss_errf(SS_ERR_CONFIG,
                           "bad address '%.64s': write the IPv4 address as four decimal numbers,"
                           " %s",
                           address, canon);
    }
    return SS_OK;
}

ss_error ss_reg_address_check(const char *address)
{
    const char *colon = strrchr(address, ':');
    if (!colon || colon == address)
        return ss_errf(SS_ERR_CONFIG, "bad address '%.64s': expected HOST:PORT", address);
    size_t hlen = (size_t)(colon - address);
    ss_error err;
    if (address[0] == '[') {
        if (hlen < 2 || colon[-1] != ']')
            return ss_errf(SS_ERR_CONFIG, "bad address '%.64s': expected [IPv6]:PORT", address);
        err = check_ipv6(address, address + 1, hlen - 2);
    } else {
        err = check_host(address, address, hlen);
    }
    if (err)
        return err;
    const char *port = colon + 1;
    size_t plen = strlen(port);
    unsigned long value = 0;
    if (plen == 0 || plen > 5)
        return ss_errf(SS_ERR_CONFIG, "bad address '%.64s': port must be 1 to 65535", address);
    for (size_t i = 0; i < plen; i++) {
        if (port[i] < '0' || port[i] > '9')
            return ss_errf(SS_ERR_CONFIG, "bad address '%.64s': port must be 1 to 65535", address);
        value = value * 10 + (unsigned long)(port[i] - '0');
    }
    if (value < 1 || value > 65535)
        return ss_errf(SS_ERR_CONFIG, "bad address '%.64s': port must be 1 to 65535", address);
    if (port[0] == '0')
        return ss_errf(SS_ERR_CONFIG, "bad address '%.64s': write the port without leading zeros",
                       address);
    return SS_OK;
}

/* ---- time ---- */

void ss_time_format(time_t t, char out[21])
{
    struct tm tm;
    /* four digits of year always, so that ss_time_parse reads back what this writes */
    if (!gmtime_r(&t, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
        memcpy(out, "0000-01-01T00:00:00Z", 21);
        return;
    }
    char text[80];
    snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    memcpy(out, text, 20);
    out[20] = '\0';
}

static bool parse_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool ss_time_parse(const char *s, time_t *out)
{
    struct tm tm = {0};
    int y, mo, d, h, mi, se;
    if (!s || strlen(s) != 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' ||
        s[16] != ':' || s[19] != 'Z')
        return false;
    if (!parse_digits(s, 4, &y) || !parse_digits(s + 5, 2, &mo) || !parse_digits(s + 8, 2, &d) ||
        !parse_digits(s + 11, 2, &h) || !parse_digits(s + 14, 2, &mi) ||
        !parse_digits(s + 17, 2, &se))
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return false;
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = se;
    struct tm asked = tm; /* timegm normalises its argument in place */
    time_t t = timegm(&tm);
    /* 2026-02-30 would become March 2: such a date is refused */
    struct tm back;
    if (!gmtime_r(&t, &back) || back.tm_year != asked.tm_year || back.tm_mon != asked.tm_mon ||
        back.tm_mday != asked.tm_mday || back.tm_hour != asked.tm_hour ||
        back.tm_min != asked.tm_min || back.tm_sec != asked.tm_sec)
        return false;
    *out = t;
    return true;
}

/* ---- freeing ---- */

static void blob_cleanup(struct ss_reg_blob *b)
{
    free(b->der);
}

static void registry_free(struct ss_registry *reg)
{
    if (!reg)
        return;
    for (size_t i = 0; i < reg->n_classes; i++) {
        free(reg->classes[i].code);
        free(reg->classes[i].description);
    }
    free(reg->classes);
    for (size_t i = 0; i < reg->n_members; i++) {
        struct ss_reg_member *m = &reg->members[i];
        free(m->member_class);
        free(m->member_code);
        free(m->name);
        for (size_t j = 0; j < m->n_subsystems; j++)
            free(m->subsystems[j]);
        free(m->subsystems);
    }
    free(reg->members);
    for (size_t i = 0; i < reg->n_servers; i++) {
        free(reg->servers[i].code);
        free(reg->servers[i].address);
        free(reg->servers[i].clients);
    }
    free(reg->servers);
    for (size_t i = 0; i < reg->n_groups; i++) {
        free(reg->groups[i].code);
        free(reg->groups[i].description);
        free(reg->groups[i].members);
    }
    free(reg->groups);
    for (size_t i = 0; i < reg->n_cas; i++) {
        struct ss_reg_ca *ca = &reg->cas[i];
        free(ca->name);
        blob_cleanup(&ca->cert);
        for (size_t j = 0; j < ca->n_intermediates; j++)
            blob_cleanup(&ca->intermediates[j]);
        free(ca->intermediates);
        for (size_t j = 0; j < ca->n_ocsp; j++) {
            free(ca->ocsp[j].url);
            blob_cleanup(&ca->ocsp[j].cert);
        }
        free(ca->ocsp);
    }
    free(reg->cas);
    for (size_t i = 0; i < reg->n_tsas; i++) {
        free(reg->tsas[i].name);
        free(reg->tsas[i].url);
        blob_cleanup(&reg->tsas[i].cert);
    }
    free(reg->tsas);
    free(reg);
}

struct ss_registry *ss_registry_ref(struct ss_registry *reg)
{
    if (reg)
        atomic_fetch_add_explicit((_Atomic int *)&reg->refs, 1, memory_order_relaxed);
    return reg;
}

void ss_registry_unref(struct ss_registry *reg)
{
    if (reg && atomic_fetch_sub_explicit((_Atomic int *)&reg->refs, 1, memory_order_acq_rel) == 1)
        registry_free(reg);
}

/* ---- building the model ---- */

struct build {
    const char *name;
    struct ss_registry *reg;
};

static ss_error dup_attr(struct build *b, xmlNodePtr node, const char *attr, char **out)
{
    const char *v = ss_xml_attr(node, attr);
    if (!v)
        return ss_errf(SS_ERR_REGISTRY_SCHEMA, "%s:%ld: missing attribute %s", b->name,
                       ss_xml_line(node), attr);
    *out = strdup(v);
    return *out ? SS_OK : ss_errf(SS_ERR_NOMEM, "out of memory");
}

static ss_error dup_text(xmlNodePtr node, char **out)
{
    char *t = ss_xml_text(node);
    *out = t ? strdup(t) : NULL;
    xmlFree(t);
    return *out ? SS_OK : ss_errf(SS_ERR_NOMEM, "out of memory");
}

/* Decodes the base64 text of node into a DER certificate and checks it parses. */
static ss_error cert_blob(struct build *b, xmlNodePtr node, struct ss_reg_blob *out)
{
    ss_error result = SS_OK;
    char *text = ss_xml_text(node);
    if (!text)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    size_t tlen = strlen(text);
    /* strip whitespace the document may carry inside base64 */
    size_t w = 0;
    for (size_t i = 0; i < tlen; i++)
        if (text[i] != ' ' && text[i] != '\n' && text[i] != '\r' && text[i] != '\t')
            text[w++] = text[i];
    text[w] = '\0';
    uint8_t *der = malloc(w / 4 * 3 + 3);
    int n = der ? EVP_DecodeBlock(der, (const unsigned char *)text, (int)w) : -1;
    if (n < 0) {
        result = ss_errf(SS_ERR_REGISTRY_SCHEMA, "%s:%ld: certificate is not valid base64", b->name,
                         ss_xml_line(node));
        goto out;
    }
    /* EVP_DecodeBlock counts padding bytes as data: trim them. */
    if (w >= 1 && text[w - 1] == '=')
        n--;
    if (w >= 2 && text[w - 2] == '=')
        n--;
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, n);
    if (!x || p != der + n) {
        X509_free(x);
        result =
            ss_errf(SS_ERR_REGISTRY_SCHEMA, "%s:%ld: certificate is not a DER X.509 certificate",
                    b->name, ss_xml_line(node));
        goto out;
    }
    X509_free(x);
    out->der = der;
    out->len = (size_t)n;
    der = NULL;
out:
    free(der);
    xmlFree(text);
    return result;
}

static ss_error client_ref(struct build *b, xmlNodePtr node, const char *attr,
                           struct ss_client_id *out)
{
    const char *v = ss_xml_attr(node, attr);
    if (!v || ss_client_id_parse_local(v, b->reg->instance, out) != SS_OK)
        return ss_errf(SS_ERR_REGISTRY_SCHEMA, "%s:%ld: bad %s reference", b->name,
                       ss_xml_line(node), attr);
    if (!ss_registry_client_exists(b->reg, out))
        return ss_errf(SS_ERR_REGISTRY_SCHEMA, "%s:%ld: %s refers to unknown %s %s", b->name,
                       ss_xml_line(node), attr, out->subsystem[0] ? "subsystem" : "member", v);
    return SS_OK;
}

static ss_error build_settings(struct build *b, xmlNodePtr node)
{
    struct {
        const char *attr;
        long *dst;
    } fields[] = {
        {"ocspFreshness", &b->reg->settings.ocsp_freshness},
        {"timestampingInterval", &b->reg->settings.timestamping_interval},
        {"registryValidity", &b->reg->settings.registry_validity},
        {"refreshInterval", &b->reg->settings.refresh_interval},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        const char *v = ss_xml_attr(node, fields[i].attr);
        char *end = NULL;
        long x = v ? strtol(v, &end, 10) : 0;
        if (!v || *end != '\0' || x <= 0)
            return ss_errf(SS_ERR_REGISTRY_SCHEMA, "%s:%ld: bad %s", b->name, ss_xml_line(node),
                           fields[i].attr);
        *fields[i].dst = x;
    }
    return SS_OK;
}

static ss_error build_member(struct build *b, xmlNodePtr node, struct ss_reg_member *m)
{
    ss_error err;
    const char *state = ss_xml_attr(node, "state");
    if ((err = dup_attr(b, node, "class", &m->member_class)) ||
        (err = dup_attr(b, node, "code", &m->member_code)))
        return err;
    snprintf(m->state, sizeof m->state, "%s", state ? state : "");
    size_t n = ss_xml_count_children(node, "subsystem");
    m->subsystems = calloc(n ? n : 1, sizeof *m->subsystems);
    if (!m->subsystems)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    for (xmlNodePtr c = node->children; c; c = c->next) {
        if (ss_xml_is(c, "name")) {
            if ((err = dup_text(c, &m->name)))
                return err;
        } else if (ss_xml_is(c, "subsystem")) {
            if ((err = dup_attr(b, c, "code", &m->subsystems[m->n_subsystems])))
                return err;
            m->n_subsystems++;
        }
    }
    return SS_OK;
}

static ss_error build_server(struct build *b, xmlNodePtr node, struct ss_reg_server *s)
{
    ss_error err;
    if ((err = client_ref(b, node, "owner", &s->owner)) ||
        (err = dup_attr(b, node, "code", &s->code)) ||
        (err = dup_attr(b, node, "address", &s->address)))
        return err;
    /* the port a connection needs; the one spelling of an endpoint is the tool's to hold
     * (ss_registry_check_servers), so that a document signed before it still loads */
    const char *colon = strrchr(s->address, ':');
    unsigned long port = colon ? strtoul(colon + 1, NULL, 10) : 0;
    if (port < 1 || port > 65535)
        return ss_errf(SS_ERR_REGISTRY_SCHEMA, "%s:%ld: address %s: port must be 1 to 65535",
                       b->name, ss_xml_line(node), s->address);
    const char *pin = ss_xml_attr(node, "authSha256");
    if (!pin || !ss_hex_sha256_parse(pin, s->auth_sha256[0]))
        return ss_errf(SS_ERR_REGISTRY_SCHEMA, "%s:%ld: bad authSha256", b->name,
                       ss_xml_line(node));
    s->n_auth = 1;
    for (xmlNodePtr c = node->children; c; c = c->next) {
        if (!ss_xml_is(c, "authCertificate"))
            continue;
        pin = ss_xml_attr(c, "sha256");
        if (s->n_auth == SS_REG_MAX_AUTH)
            return ss_errf(SS_ERR_REGISTRY_SCHEMA,
                           "%s:%ld: more than %d authentication certificates for one server",
                           b->name, ss_xml_line(c), SS_REG_MAX_AUTH);
        if (!pin || !ss_hex_sha256_parse(pin, s->auth_sha256[s->n_auth]))
            return ss_errf(SS_ERR_REGISTRY_SCHEMA, "%s:%ld: bad authCertificate sha256", b->name,
                           ss_xml_line(c));
        for (size_t i = 0; i < s->n_auth; i++)
            if (memcmp(s->auth_sha256[i], s->auth_sha256[s->n_auth], 32) == 0)
                return ss_errf(SS_ERR_REGISTRY_SCHEMA,
                               "%s:%ld: authentication certificate %s is registered twice for "
                               "server %s",
                               b->name, ss_xml_line(c), pin, s->code);
        s->n_auth++;
    }
    size_t n = ss_xml_count_children(node, "client");
    s->clients = calloc(n ? n : 1, sizeof *s->clients);
    if (!s->clients)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    for (xmlNodePtr c = node->children; c; c = c->next) {
        if (!ss_xml_is(c, "client"))
            continue;
        if ((err = client_ref(b, c, "id", &s->clients[s->n_clients])))
            return err;
        s->n_clients++;
    }
    return SS_OK;
}

/*
 * Builds the next server of reg; its address must be another server's in
 * no spelling (host names are compared without case, as DNS and libcurl's
 * connection reuse compare them).
 */
static ss_error build_server_unique(struct build *b, xmlNodePtr node, struct ss_registry *reg)
{
    struct ss_reg_server *s = &reg->servers[reg->n_servers++];
    ss_error err = build_server(b, node, s);
    for (size_t i = 0; !err && i + 1 < reg->n_servers; i++)
        if (strcasecmp(reg->servers[i].address, s->address) == 0)
            err = ss_errf(SS_ERR_REGISTRY_SCHEMA,
                          "%s:%ld: address %s is already used by server %s (host names are"
                          " compared without case)",
                          b->name, ss_xml_line(node), s->address, reg->servers[i].code);
    return err;
}

struct pin_ref {
    const uint8_t *pin;
    size_t server;
};

static int pin_ref_cmp(const void *a, const void *b)
{
    const struct pin_ref *x = a, *y = b;
    int c = memcmp(x->pin, y->pin, 32);
    return c ? c : (x->server > y->server) - (x->server < y->server);
}

/*
 * A TLS authentication certificate belongs to one server: the proxies take
 * whoever holds it for that server and its clients. Sorted, so that 10,000
 * servers with four certificates each are checked in n log n.
 */
static ss_error check_pins_unique(const struct ss_registry *reg)
{
    size_t n = 0;
    for (size_t i = 0; i < reg->n_servers; i++)
        n += reg->servers[i].n_auth;
    if (n < 2)
        return SS_OK;
    struct pin_ref *refs = malloc(n * sizeof *refs);
    if (!refs)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    n = 0;
    for (size_t i = 0; i < reg->n_servers; i++)
        for (size_t k = 0; k < reg->servers[i].n_auth; k++)
            refs[n++] = (struct pin_ref){reg->servers[i].auth_sha256[k], i};
    qsort(refs, n, sizeof *refs, pin_ref_cmp);
    ss_error err = SS_OK;
    for (size_t i = 1; i < n && !err; i++) {
        if (memcmp(refs[i - 1].pin, refs[i].pin, 32) != 0)
            continue;
        /* within one server, build_server already refused it */
        const struct ss_reg_server *first = &reg->servers[refs[i - 1].server];
        const struct ss_reg_server *again = &reg->servers[refs[i].server];
        char hex[65];
        ss_hex_sha256_format(refs[i].pin, hex);
        err = ss_errf(SS_ERR_REGISTRY,
                      "authentication certificate %s of server %s/%s/%s is already registered "
                      "for server %s/%s/%s",
                      hex, again->owner.member_class, again->owner.member_code, again->code,
                      first->owner.member_class, first->owner.member_code, first->code);
    }
    free(refs);
    return err;
}

ss_error ss_registry_check_servers(const struct ss_registry *reg)
{
    for (size_t i = 0; i < reg->n_servers; i++) {
        const struct ss_reg_server *s = &reg->servers[i];
        if (ss_reg_address_check(s->address))
            return ss_errf(SS_ERR_REGISTRY, "server %s/%s/%s: %s", s->owner.member_class,
                           s->owner.member_code, s->code, ss_errmsg());
    }
    return check_pins_unique(reg);
}

static ss_error build_group(struct build *b, xmlNodePtr node, struct ss_reg_group *g)
{
    ss_error err;
    if ((err = dup_attr(b, node, "code", &g->code)) ||
        (err = dup_attr(b, node, "description", &g->description)))
        return err;
    size_t n = ss_xml_count_children(node, "member");
    g->members = calloc(n ? n : 1, sizeof *g->members);
    if (!g->members)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    for (xmlNodePtr c = node->children; c; c = c->next) {
        if (!ss_xml_is(c, "member"))
            continue;
        if ((err = client_ref(b, c, "id", &g->members[g->n_members])))
            return err;
        g->n_members++;
    }
    return SS_OK;
}

static ss_error build_ca(struct build *b, xmlNodePtr node, struct ss_reg_ca *ca)
{
    ss_error err;
    if ((err = dup_attr(b, node, "name", &ca->name)))
        return err;
    size_t ni = ss_xml_count_children(node, "intermediate"),
           no = ss_xml_count_children(node, "ocspResponder");
    ca->intermediates = calloc(ni ? ni : 1, sizeof *ca->intermediates);
    ca->ocsp = calloc(no ? no : 1, sizeof *ca->ocsp);
    if (!ca->intermediates || !ca->ocsp)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    for (xmlNodePtr c = node->children; c; c = c->next) {
        if (ss_xml_is(c, "certificate")) {
            if ((err = cert_blob(b, c, &ca->cert)))
                return err;
        } else if (ss_xml_is(c, "intermediate")) {
            if ((err = cert_blob(b, c, &ca->intermediates[ca->n_intermediates])))
                return err;
            ca->n_intermediates++;
        } else if (ss_xml_is(c, "ocspResponder")) {
            struct ss_reg_ocsp *o = &ca->ocsp[ca->n_ocsp++];
            if ((err = dup_attr(b, c, "url", &o->url)))
                return err;
            for (xmlNodePtr k = c->children; k; k = k->next)
                if (ss_xml_is(k, "certificate") && (err = cert_blob(b, k, &o->cert)))
                    return err;
        }
    }
    return SS_OK;
}

static ss_error build_tsa(struct build *b, xmlNodePtr node, struct ss_reg_tsa *t)
{
    ss_error err;
    if ((err = dup_attr(b, node, "name", &t->name)) || (err = dup_attr(b, node, "url", &t->url)))
        return err;
    for (xmlNodePtr c = node->children; c; c = c->next)
        if (ss_xml_is(c, "certificate") && (err = cert_blob(b, c, &t->cert)))
            return err;
    return SS_OK;
}

/* Allocates one array per element kind, sized from the document. */
static ss_error alloc_arrays(struct ss_registry *reg, xmlNodePtr root)
{
    size_t nc = ss_xml_count_children(root, "memberClass"),
           nm = ss_xml_count_children(root, "member"),
           ns = ss_xml_count_children(root, "securityServer"),
           ng = ss_xml_count_children(root, "globalGroup"),
           nca = ss_xml_count_children(root, "certificationAuthority"),
           nt = ss_xml_count_children(root, "timestampingAuthority");
    reg->classes = calloc(nc ? nc : 1, sizeof *reg->classes);
    reg->members = calloc(nm ? nm : 1, sizeof *reg->members);
    reg->servers = calloc(ns ? ns : 1, sizeof *reg->servers);
    reg->groups = calloc(ng ? ng : 1, sizeof *reg->groups);
    reg->cas = calloc(nca ? nca : 1, sizeof *reg->cas);
    reg->tsas = calloc(nt ? nt : 1, sizeof *reg->tsas);
    if (!reg->classes || !reg->members || !reg->servers || !reg->groups || !reg->cas || !reg->tsas)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    return SS_OK;
}

static ss_error build_root(struct build *b, xmlNodePtr root)
{
    struct ss_registry *reg = b->reg;
    ss_error err;
    const char *instance = ss_xml_attr(root, "instance");
    const char *serial = ss_xml_attr(root, "serial");
    snprintf(reg->instance, sizeof reg->instance, "%s", instance ? instance : "");
    char *end = NULL;
    reg->serial = serial ? strtoull(serial, &end, 10) : 0;
    if (!serial || *end != '\0')
        return ss_errf(SS_ERR_REGISTRY_SCHEMA, "%s:%ld: bad serial", b->name, ss_xml_line(root));
    if (!ss_time_parse(ss_xml_attr(root, "issued"), &reg->issued) ||
        !ss_time_parse(ss_xml_attr(root, "expires"), &reg->expires))
        return ss_errf(SS_ERR_REGISTRY_SCHEMA, "%s:%ld: bad issued or expires time", b->name,
                       ss_xml_line(root));
    if (reg->expires <= reg->issued)
        return ss_errf(SS_ERR_REGISTRY_SCHEMA, "%s:%ld: expires is not after issued", b->name,
                       ss_xml_line(root));
    if ((err = alloc_arrays(reg, root)))
        return err;
    /* Members first: servers and groups refer to them. */
    for (xmlNodePtr c = root->children; c; c = c->next) {
        if (ss_xml_is(c, "settings")) {
            err = build_settings(b, c);
        } else if (ss_xml_is(c, "memberClass")) {
            struct ss_reg_member_class *mc = &reg->classes[reg->n_classes++];
            if (!(err = dup_attr(b, c, "code", &mc->code)))
                err = dup_text(c, &mc->description);
        } else if (ss_xml_is(c, "member")) {
            err = build_member(b, c, &reg->members[reg->n_members++]);
        } else {
            continue;
        }
        if (err)
            return err;
    }
    for (xmlNodePtr c = root->children; c; c = c->next) {
        if (ss_xml_is(c, "securityServer"))
            err = build_server_unique(b, c, reg);
        else if (ss_xml_is(c, "globalGroup"))
            err = build_group(b, c, &reg->groups[reg->n_groups++]);
        else if (ss_xml_is(c, "certificationAuthority"))
            err = build_ca(b, c, &reg->cas[reg->n_cas++]);
        else if (ss_xml_is(c, "timestampingAuthority"))
            err = build_tsa(b, c, &reg->tsas[reg->n_tsas++]);
        else
            continue;
        if (err)
            return err;
    }
    return SS_OK;
}

ss_error ss_registry_parse(const char *name, const uint8_t *xml, size_t len,
                           struct ss_registry **out)
{
    ss_error result = SS_OK;
    xmlDocPtr doc = NULL;
    struct ss_registry *reg = NULL;
    *out = NULL;

    result = ss_xml_parse(name, xml, len, SS_REGISTRY_MAX_BYTES, &doc);
    if (result)
        goto out;
    result = ss_xml_validate(name, doc, ss_schema_registry_xsd, ss_schema_registry_xsd_len);
    if (result)
        goto out;
    reg = calloc(1, sizeof *reg);
    if (!reg) {
        result = ss_errf(SS_ERR_NOMEM, "out of memory");
        goto out;
    }
    reg->refs = 1;
    struct build b = {.name = name, .reg = reg};
    result = build_root(&b, xmlDocGetRootElement(doc));
    if (result)
        goto out;
    *out = reg;
    reg = NULL;
out:
    registry_free(reg);
    xmlFreeDoc(doc);
    return result;
}

bool ss_registry_expired(const struct ss_registry *reg, time_t now)
{
    return now >= reg->expires;
}

ss_error ss_registry_load(const char *name, const uint8_t *xml, size_t xml_len, const uint8_t *sig,
                          size_t sig_len, const struct ss_reg_anchor *anchor, time_t now,
                          uint64_t min_serial, struct ss_registry **out)
{
    *out = NULL;
    ss_error err = ss_registry_verify_signature(xml, xml_len, sig, sig_len, anchor);
    if (err)
        return ss_errf(err, "%s: %s", name, ss_errmsg());
    struct ss_registry *reg = NULL;
    if ((err = ss_registry_parse(name, xml, xml_len, &reg)))
        return err;
    char when[21];
    if (ss_registry_expired(reg, now)) {
        ss_time_format(reg->expires, when);
        ss_registry_unref(reg);
        return ss_errf(SS_ERR_REGISTRY_EXPIRED, "%s: registry expired at %s", name, when);
    }
    if (reg->issued > now + 300) {
        ss_time_format(reg->issued, when);
        ss_registry_unref(reg);
        return ss_errf(SS_ERR_REGISTRY, "%s: registry issued in the future (%s)", name, when);
    }
    if (reg->serial < min_serial) {
        uint64_t serial = reg->serial;
        ss_registry_unref(reg);
        return ss_errf(SS_ERR_REGISTRY_ROLLBACK,
                       "%s: serial %llu is lower than %llu already accepted (rollback refused)",
                       name, (unsigned long long)serial, (unsigned long long)min_serial);
    }
    *out = reg;
    return SS_OK;
}

/* ---- look-ups ---- */

const struct ss_reg_member *ss_registry_member(const struct ss_registry *reg,
                                               const char *member_class, const char *member_code)
{
    for (size_t i = 0; i < reg->n_members; i++)
        if (strcmp(reg->members[i].member_class, member_class) == 0 &&
            strcmp(reg->members[i].member_code, member_code) == 0)
            return &reg->members[i];
    return NULL;
}

bool ss_registry_client_exists(const struct ss_registry *reg, const struct ss_client_id *id)
{
    if (strcmp(id->instance, reg->instance) != 0)
        return false;
    const struct ss_reg_member *m = ss_registry_member(reg, id->member_class, id->member_code);
    if (!m)
        return false;
    if (!id->subsystem[0])
        return true;
    for (size_t i = 0; i < m->n_subsystems; i++)
        if (strcmp(m->subsystems[i], id->subsystem) == 0)
            return true;
    return false;
}

const struct ss_reg_server *ss_registry_server(const struct ss_registry *reg,
                                               const struct ss_client_id *owner,
                                               const char *server_code)
{
    for (size_t i = 0; i < reg->n_servers; i++)
        if (ss_client_id_same_member(&reg->servers[i].owner, owner) &&
            strcmp(reg->servers[i].code, server_code) == 0)
            return &reg->servers[i];
    return NULL;
}

bool ss_registry_server_hosts(const struct ss_reg_server *server, const struct ss_client_id *client)
{
    for (size_t i = 0; i < server->n_clients; i++)
        if (ss_client_id_equal(&server->clients[i], client))
            return true;
    return false;
}

size_t ss_registry_servers_for_client(const struct ss_registry *reg,
                                      const struct ss_client_id *client,
                                      const struct ss_reg_server **out, size_t max)
{
    size_t n = 0;
    for (size_t i = 0; i < reg->n_servers; i++) {
        if (!ss_registry_server_hosts(&reg->servers[i], client))
            continue;
        if (n < max)
            out[n] = &reg->servers[i];
        n++;
    }
    return n;
}

const struct ss_reg_group *ss_registry_group(const struct ss_registry *reg, const char *code)
{
    for (size_t i = 0; i < reg->n_groups; i++)
        if (strcmp(reg->groups[i].code, code) == 0)
            return &reg->groups[i];
    return NULL;
}

bool ss_registry_group_has(const struct ss_registry *reg, const char *group_code,
                           const struct ss_client_id *client)
{
    const struct ss_reg_group *g = ss_registry_group(reg, group_code);
    if (!g)
        return false;
    for (size_t i = 0; i < g->n_members; i++) {
        const struct ss_client_id *m = &g->members[i];
        if (m->subsystem[0] ? ss_client_id_equal(m, client) : ss_client_id_same_member(m, client))
            return true;
    }
    return false;
}

bool ss_registry_server_auth(const struct ss_reg_server *s, const uint8_t fp[32])
{
    unsigned diff_all = 1;
    for (size_t i = 0; i < s->n_auth; i++) {
        unsigned diff = 0;
        for (size_t k = 0; k < 32; k++)
            diff |= (unsigned)(s->auth_sha256[i][k] ^ fp[k]);
        diff_all &= diff != 0;
    }
    return s->n_auth > 0 && diff_all == 0;
}
