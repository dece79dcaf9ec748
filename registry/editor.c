#include "editor.h"
#include "certfile.h"
#include "ss_id.h"
#include "ss_xml.h"

#include <errno.h>
#include <libxml/tree.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <libxml/xmlstring.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NAME_MAX_CHARS 512 /* the schema's Name type */
#define URL_MAX_REST 2000  /* the schema's HttpUrl type, after the scheme */
#define REF_MAX (3 * (SS_ID_PART_MAX + 1))

struct ss_editor {
    char *path;
    xmlDocPtr doc;
    xmlNodePtr root;
    char instance[SS_ID_PART_MAX + 1];
};

/* The children of <registry>, in the order the schema's sequence demands. */
static const char *const section_order[] = {
    "settings",
    "memberClass",
    "member",
    "securityServer",
    "globalGroup",
    "certificationAuthority",
    "timestampingAuthority",
};

static const xmlChar *xs(const char *s)
{
    return (const xmlChar *)s;
}

/* ---- small checks on arguments ---- */

static const char id_chars[] = "A-Z a-z 0-9 ' ( ) + , - . = ?";

static ss_error check_identifier(const char *what, const char *s)
{
    if (!ss_id_part_valid(s, strlen(s), SS_ID_PART_MAX))
        return ss_errf(SS_ERR_BAD_IDENTIFIER, "bad %s '%.64s': 1 to %d characters out of %s", what,
                       s, SS_ID_PART_MAX, id_chars);
    return SS_OK;
}

/* A Name of the schema: UTF-8, 1..512 characters, no tab, line break or control. */
static ss_error check_name(const char *what, const char *s)
{
    if (!*s)
        return ss_errf(SS_ERR_CONFIG, "%s must not be empty", what);
    if (!xmlCheckUTF8(xs(s)))
        return ss_errf(SS_ERR_CONFIG, "%s is not valid UTF-8", what);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return ss_errf(SS_ERR_CONFIG,
                           "%s must not contain tabs, line breaks or control characters", what);
    if (xmlUTF8Strlen(xs(s)) > NAME_MAX_CHARS)
        return ss_errf(SS_ERR_CONFIG, "%s is longer than %d characters", what, NAME_MAX_CHARS);
    return SS_OK;
}

static ss_error check_url(const char *what, const char *url)
{
    size_t skip = 0;
    if (strncmp(url, "https://", 8) == 0)
        skip = 8;
    else if (strncmp(url, "http://", 7) == 0)
        skip = 7;
    else
        return ss_errf(SS_ERR_CONFIG, "%s '%.64s' must start with http:// or https://", what, url);
    size_t rest = strlen(url + skip);
    if (rest == 0 || rest > URL_MAX_REST)
        return ss_errf(SS_ERR_CONFIG, "%s must have 1 to %d characters after the scheme", what,
                       URL_MAX_REST);
    for (const unsigned char *p = (const unsigned char *)url; *p; p++)
        if (*p <= 0x20 || *p >= 0x7f)
            return ss_errf(SS_ERR_CONFIG,
                           "%s must be printable ASCII without spaces (percent-encode the rest)",
                           what);
    return SS_OK;
}

static ss_error check_seconds(const char *what, long v)
{
    if (v < 1 || v > SS_EDITOR_MAX_SECONDS)
        return ss_errf(SS_ERR_CONFIG, "%s must be 1 to %ld seconds, not %ld", what,
                       SS_EDITOR_MAX_SECONDS, v);
    return SS_OK;
}

ss_error ss_editor_normalize_sha256(const char *hex, char out[65])
{
    size_t n = 0;
    out[0] = '\0';
    for (const char *p = hex; *p; p++) {
        char c = *p;
        if (c == ':')
            continue;
        if (c >= 'A' && c <= 'F')
            c = (char)(c - 'A' + 'a');
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return ss_errf(SS_ERR_CONFIG, "bad SHA-256 fingerprint: '%c' is not a hex digit",
                           (unsigned char)*p >= 0x20 && (unsigned char)*p < 0x7f ? *p : '?');
        if (n == 64)
            return ss_errf(SS_ERR_CONFIG, "bad SHA-256 fingerprint: more than 64 hex digits");
        out[n++] = c;
    }
    if (n != 64)
        return ss_errf(SS_ERR_CONFIG, "bad SHA-256 fingerprint: %zu hex digits instead of 64", n);
    out[64] = '\0';
    return SS_OK;
}

/* ---- identifiers ---- */

enum ref_kind {
    REF_MEMBER,    /* CLASS/CODE */
    REF_SUBSYSTEM, /* CLASS/CODE/SUBSYSTEM */
    REF_CLIENT,    /* either */
    REF_SERVER,    /* OWNERCLASS/OWNERCODE/SERVERCODE, server code in .subsystem */
};

static ss_error parse_ref(const struct ss_editor *ed, const char *s, enum ref_kind kind,
                          struct ss_client_id *out)
{
    static const char *const forms[] = {"CLASS/CODE", "CLASS/CODE/SUBSYSTEM",
                                        "CLASS/CODE[/SUBSYSTEM]",
                                        "OWNERCLASS/OWNERCODE/SERVERCODE"};
    if (ss_client_id_parse_local(s, ed->instance, out) != SS_OK)
        return ss_errf(SS_ERR_BAD_IDENTIFIER,
                       "bad identifier '%.64s': expected %s, each part 1 to %d characters out of "
                       "%s",
                       s, forms[kind], SS_ID_PART_MAX, id_chars);
    bool has_third = out->subsystem[0] != '\0';
    if ((kind == REF_MEMBER && has_third) ||
        ((kind == REF_SUBSYSTEM || kind == REF_SERVER) && !has_third))
        return ss_errf(SS_ERR_BAD_IDENTIFIER, "bad identifier '%.64s': expected %s", s,
                       forms[kind]);
    return SS_OK;
}

static void ref_format(const struct ss_client_id *id, char *buf, size_t size)
{
    if (!ss_client_id_format_local(id, buf, size))
        snprintf(buf, size, "?");
}

/* "CLASS/CODE" of id, ignoring the third part. */
static void member_format(const struct ss_client_id *id, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", id->member_class, id->member_code);
}

/* ---- the tree ---- */

static bool attr_is(xmlNodePtr node, const char *attr, const char *value)
{
    const char *v = ss_xml_attr(node, attr);
    return v && strcmp(v, value) == 0;
}

/* First element child named element whose attributes match (attr2 may be NULL). */
static xmlNodePtr find_child(xmlNodePtr parent, const char *element, const char *attr1,
                             const char *value1, const char *attr2, const char *value2)
{
    for (xmlNodePtr c = parent->children; c; c = c->next) {
        if (!ss_xml_is(c, element))
            continue;
        if (attr1 && !attr_is(c, attr1, value1))
            continue;
        if (attr2 && !attr_is(c, attr2, value2))
            continue;
        return c;
    }
    return NULL;
}

static ss_error check_room(xmlNodePtr parent, const char *element, size_t max, const char *what)
{
    if (ss_xml_count_children(parent, element) >= max)
        return ss_errf(SS_ERR_LIMIT, "the registry allows at most %zu %s", max, what);
    return SS_OK;
}

static int section_rank(xmlNodePtr node)
{
    if (!node || node->type != XML_ELEMENT_NODE)
        return -1;
    for (size_t i = 0; i < sizeof section_order / sizeof section_order[0]; i++)
        if (ss_xml_is(node, section_order[i]))
            return (int)i;
    return -1;
}

/* Inserts node after the last child of <registry> that may precede it. */
static void insert_section(struct ss_editor *ed, xmlNodePtr node)
{
    int rank = section_rank(node);
    xmlNodePtr after = NULL;
    for (xmlNodePtr c = ed->root->children; c; c = c->next) {
        int r = section_rank(c);
        if (r >= 0 && r <= rank)
            after = c;
    }
    if (after)
        xmlAddNextSibling(after, node);
    else if (ed->root->children)
        xmlAddPrevSibling(ed->root->children, node);
    else
        xmlAddChild(ed->root, node);
}

static void remove_node(xmlNodePtr node)
{
    xmlUnlinkNode(node);
    xmlFreeNode(node);
}

static ss_error set_attr(xmlNodePtr node, const char *name, const char *value)
{
    if (!xmlSetProp(node, xs(name), xs(value)))
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    return SS_OK;
}

/* A new element; text (may be NULL) is stored as character data, escaped on output. */
static ss_error new_element(struct ss_editor *ed, const char *name, const char *text,
                            xmlNodePtr *out)
{
    *out = xmlNewDocRawNode(ed->doc, NULL, xs(name), text ? xs(text) : NULL);
    if (!*out)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    return SS_OK;
}

/* As new_element, appended to parent. */
static ss_error append_element(struct ss_editor *ed, xmlNodePtr parent, const char *name,
                               const char *text, xmlNodePtr *out)
{
    ss_error err = new_element(ed, name, text, out);
    if (err)
        return err;
    if (!xmlAddChild(parent, *out)) {
        xmlFreeNode(*out);
        *out = NULL;
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    }
    return SS_OK;
}

/*
 * Drops whitespace-only text between elements, so the serialiser can indent.
 * The schema has no mixed content, so such text never carries data.
 */
static void strip_blank_text(xmlNodePtr node)
{
    bool has_element = false;
    for (xmlNodePtr c = node->children; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            has_element = true;
    xmlNodePtr c = node->children;
    while (c) {
        xmlNodePtr next = c->next;
        if (has_element && c->type == XML_TEXT_NODE && xmlIsBlankNode(c))
            remove_node(c);
        else if (c->type == XML_ELEMENT_NODE)
            strip_blank_text(c);
        c = next;
    }
}

static xmlNodePtr find_member(const struct ss_editor *ed, const char *member_class,
                              const char *member_code)
{
    return find_child(ed->root, "member", "class", member_class, "code", member_code);
}

static xmlNodePtr find_server(const struct ss_editor *ed, const struct ss_client_id *owner,
                              const char *server_code)
{
    char owner_ref[REF_MAX];
    member_format(owner, owner_ref, sizeof owner_ref);
    return find_child(ed->root, "securityServer", "owner", owner_ref, "code", server_code);
}

/* The member or subsystem id must exist in the document. */
static ss_error require_client(const struct ss_editor *ed, const struct ss_client_id *id)
{
    xmlNodePtr member = find_member(ed, id->member_class, id->member_code);
    if (!member)
        return ss_errf(SS_ERR_NOT_FOUND, "unknown member %s/%s", id->member_class, id->member_code);
    if (id->subsystem[0] && !find_child(member, "subsystem", "code", id->subsystem, NULL, NULL))
        return ss_errf(SS_ERR_NOT_FOUND, "unknown subsystem %s/%s/%s", id->member_class,
                       id->member_code, id->subsystem);
    return SS_OK;
}

/* Looks up "OWNERCLASS/OWNERCODE/SERVERCODE". */
static ss_error lookup_server(const struct ss_editor *ed, const char *server, xmlNodePtr *out)
{
    struct ss_client_id id;
    ss_error err = parse_ref(ed, server, REF_SERVER, &id);
    if (err)
        return err;
    *out = find_server(ed, &id, id.subsystem);
    if (!*out)
        return ss_errf(SS_ERR_NOT_FOUND, "unknown server %s/%s/%s", id.member_class, id.member_code,
                       id.subsystem);
    return SS_OK;
}

/*
 * True if ref (a client reference in the document) names target: exactly, or,
 * when target is a member (no subsystem), the member or one of its subsystems.
 */
static bool ref_covers(const char *ref, const struct ss_client_id *target)
{
    char want[REF_MAX];
    if (!ref)
        return false;
    if (target->subsystem[0]) {
        ref_format(target, want, sizeof want);
        return strcmp(ref, want) == 0;
    }
    member_format(target, want, sizeof want);
    size_t n = strlen(want);
    return strncmp(ref, want, n) == 0 && (ref[n] == '\0' || ref[n] == '/');
}

/* Finds the first place that still refers to target; describes it in why. */
static bool find_reference(const struct ss_editor *ed, const struct ss_client_id *target, char *why,
                           size_t size)
{
    char owner[REF_MAX];
    member_format(target, owner, sizeof owner);
    for (xmlNodePtr s = ed->root->children; s; s = s->next) {
        if (!ss_xml_is(s, "securityServer"))
            continue;
        const char *server_owner = ss_xml_attr(s, "owner");
        const char *server_code = ss_xml_attr(s, "code");
        if (!target->subsystem[0] && server_owner && strcmp(server_owner, owner) == 0) {
            snprintf(why, size, "it owns server %s/%s", owner, server_code ? server_code : "?");
            return true;
        }
        for (xmlNodePtr c = s->children; c; c = c->next) {
            const char *id = ss_xml_is(c, "client") ? ss_xml_attr(c, "id") : NULL;
            if (ref_covers(id, target)) {
                snprintf(why, size, "%s is hosted on server %s/%s", id,
                         server_owner ? server_owner : "?", server_code ? server_code : "?");
                return true;
            }
        }
    }
    for (xmlNodePtr g = ed->root->children; g; g = g->next) {
        if (!ss_xml_is(g, "globalGroup"))
            continue;
        for (xmlNodePtr m = g->children; m; m = m->next) {
            const char *id = ss_xml_is(m, "member") ? ss_xml_attr(m, "id") : NULL;
            if (ref_covers(id, target)) {
                const char *code = ss_xml_attr(g, "code");
                snprintf(why, size, "%s is a member of global group %s", id, code ? code : "?");
                return true;
            }
        }
    }
    return false;
}

/* Base64 text of a certificate after checking it is one. */
static ss_error cert_text(const char *what, const struct ss_editor_cert *cert, char **out)
{
    struct ss_cert_info info;
    *out = NULL;
    if (!cert->der || cert->len == 0)
        return ss_errf(SS_ERR_BAD_CERTIFICATE, "%s: no certificate given", what);
    if (ss_certfile_describe(cert->der, cert->len, &info) != SS_OK)
        return ss_errf(SS_ERR_BAD_CERTIFICATE, "%s is not a DER X.509 certificate", what);
    return ss_certfile_base64(cert->der, cert->len, out);
}

static ss_error append_cert(struct ss_editor *ed, xmlNodePtr parent, const char *element,
                            const char *what, const struct ss_editor_cert *cert)
{
    char *b64 = NULL;
    xmlNodePtr node = NULL;
    ss_error err = cert_text(what, cert, &b64);
    if (!err)
        err = append_element(ed, parent, element, b64, &node);
    free(b64);
    return err;
}

/* ---- what an approved CA's and a TSA's certificates must be ---- */

/*
 * Checked when the authority adds them, so that a registry never approves a
 * certificate that no server could use: the servers check chains, OCSP
 * responders and TSA tokens with OpenSSL, which would refuse everything
 * such a certificate stands for, far from the change that caused it. A
 * document signed earlier is loaded as it is.
 */

/* The certificate named what, parsed; an error names it when it is none, or has expired. */
static ss_error cert_parse(const char *what, const struct ss_editor_cert *cert, X509 **out)
{
    *out = NULL;
    if (!cert->der || cert->len == 0)
        return ss_errf(SS_ERR_BAD_CERTIFICATE, "%s: no certificate given", what);
    X509 *x = ss_certfile_x509(cert->der, cert->len);
    if (!x)
        return ss_errf(SS_ERR_BAD_CERTIFICATE, "%s is not a DER X.509 certificate", what);
    if (X509_cmp_current_time(X509_get0_notAfter(x)) <= 0) {
        struct ss_cert_info info;
        struct tm tm;
        char when[32] = "?";
        if (ss_certfile_describe(cert->der, cert->len, &info) == SS_OK &&
            gmtime_r(&info.not_after, &tm))
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        X509_free(x);
        return ss_errf(SS_ERR_BAD_CERTIFICATE, "%s expired at %s", what, when);
    }
    *out = x;
    return SS_OK;
}

/* A CA certificate: basicConstraints CA:TRUE, and keyCertSign if it has a keyUsage. */
static bool is_ca(X509 *x)
{
    return X509_check_ca(x) == 1;
}

/* whether issuer issued x (names, key identifiers, signature) */
static bool issued_by(X509 *x, X509 *issuer)
{
    EVP_PKEY *key = X509_get0_pubkey(issuer);
    return X509_check_issued(issuer, x) == X509_V_OK && key && X509_verify(x, key) == 1;
}

static ss_error check_ca_certs(const struct ss_editor_cert *root,
                               const struct ss_editor_cert *intermediates, size_t n_intermediates,
                               const struct ss_editor_cert *ocsp_cert)
{
    X509 *top = NULL, *responder = NULL;
    STACK_OF(X509) *inter = sk_X509_new_null();
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    ss_error err = SS_OK;
    if (!inter || !store || !ctx) {
        err = ss_errf(SS_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((err = cert_parse("CA certificate", root, &top)))
        goto out;
    if (!is_ca(top)) {
        err = ss_errf(SS_ERR_BAD_CERTIFICATE,
                      "CA certificate is not a CA's (it needs basicConstraints CA:TRUE, and "
                      "keyCertSign where it has a keyUsage)");
        goto out;
    }
    if (!issued_by(top, top)) {
        err = ss_errf(SS_ERR_BAD_CERTIFICATE,
                      "CA certificate is not self-signed: give the root of its chain, and the "
                      "others as intermediates");
        goto out;
    }
    for (size_t i = 0; i < n_intermediates; i++) {
        X509 *x = NULL;
        char what[64];
        snprintf(what, sizeof what, "intermediate certificate %zu", i + 1);
        if ((err = cert_parse(what, &intermediates[i], &x)))
            goto out;
        if (!sk_X509_push(inter, x)) {
            X509_free(x);
            err = ss_errf(SS_ERR_NOMEM, "out of memory");
            goto out;
        }
        if (!is_ca(x)) {
            err = ss_errf(SS_ERR_BAD_CERTIFICATE,
                          "%s is not a CA's (it needs basicConstraints "
                          "CA:TRUE, and keyCertSign where it has a keyUsage)",
                          what);
            goto out;
        }
    }
    /* each intermediate chains to the CA certificate, through the other intermediates */
    if (!X509_STORE_add_cert(store, top)) {
        err = ss_errf(SS_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (int i = 0; i < sk_X509_num(inter); i++) {
        if (!X509_STORE_CTX_init(ctx, store, sk_X509_value(inter, i), inter)) {
            err = ss_errf(SS_ERR_NOMEM, "out of memory");
            goto out;
        }
        int ok = X509_verify_cert(ctx);
        int why = X509_STORE_CTX_get_error(ctx);
        X509_STORE_CTX_cleanup(ctx);
        if (ok != 1) {
            err = ss_errf(SS_ERR_BAD_CERTIFICATE,
                          "intermediate certificate %d does not chain to the CA certificate: %s",
                          i + 1, X509_verify_cert_error_string(why));
            goto out;
        }
    }
    if (!ocsp_cert)
        goto out;
    /* the responder: the CA itself or one of its intermediates, or delegated by one of them
     * (RFC 6960 4.2.2.2: issued by it, with the OCSPSigning extended key usage) */
    if ((err = cert_parse("OCSP responder certificate", ocsp_cert, &responder)))
        goto out;
    if (X509_cmp(responder, top) == 0)
        goto out;
    bool issued = issued_by(responder, top);
    for (int i = 0; i < sk_X509_num(inter); i++) {
        if (X509_cmp(responder, sk_X509_value(inter, i)) == 0)
            goto out;
        issued = issued || issued_by(responder, sk_X509_value(inter, i));
    }
    if (!issued)
        err = ss_errf(SS_ERR_BAD_CERTIFICATE,
                      "OCSP responder certificate was issued neither by the CA certificate nor "
                      "by one of its intermediates");
    else if (!(X509_get_extension_flags(responder) & EXFLAG_XKUSAGE) ||
             !(X509_get_extended_key_usage(responder) & XKU_OCSP_SIGN))
        err = ss_errf(SS_ERR_BAD_CERTIFICATE,
                      "OCSP responder certificate lacks the OCSPSigning extended key usage");
out:
    X509_free(responder);
    X509_free(top);
    sk_X509_pop_free(inter, X509_free);
    X509_STORE_free(store);
    X509_STORE_CTX_free(ctx);
    return err;
}

/* A TSA's certificate: the timeStamping extended key usage, critical and alone (RFC 3161 2.3). */
static ss_error check_tsa_cert(const struct ss_editor_cert *cert)
{
    X509 *x = NULL;
    ss_error err = cert_parse("TSA certificate", cert, &x);
    if (err)
        return err;
    if (X509_check_purpose(x, X509_PURPOSE_TIMESTAMP_SIGN, 0) != 1)
        err = ss_errf(SS_ERR_BAD_CERTIFICATE,
                      "TSA certificate is not a time-stamping authority's (RFC 3161 2.3: the "
                      "timeStamping extended key usage, critical and alone)");
    X509_free(x);
    return err;
}

/* ---- create, open, save ---- */

static ss_error check_settings(const struct ss_reg_settings *s, bool allow_zero)
{
    struct {
        const char *what;
        long value;
    } fields[] = {
        {"ocspFreshness", s->ocsp_freshness},
        {"timestampingInterval", s->timestamping_interval},
        {"registryValidity", s->registry_validity},
        {"refreshInterval", s->refresh_interval},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (allow_zero && fields[i].value == 0)
            continue;
        ss_error err = check_seconds(fields[i].what, fields[i].value);
        if (err)
            return err;
    }
    return SS_OK;
}

static ss_error apply_settings(xmlNodePtr node, const struct ss_reg_settings *s)
{
    struct {
        const char *attr;
        long value;
    } fields[] = {
        {"ocspFreshness", s->ocsp_freshness},
        {"timestampingInterval", s->timestamping_interval},
        {"registryValidity", s->registry_validity},
        {"refreshInterval", s->refresh_interval},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (fields[i].value == 0)
            continue;
        char text[32];
        snprintf(text, sizeof text, "%ld", fields[i].value);
        ss_error err = set_attr(node, fields[i].attr, text);
        if (err)
            return err;
    }
    return SS_OK;
}

static ss_error set_validity(xmlNodePtr root, time_t issued, time_t expires)
{
    char when[21];
    ss_error err;
    ss_time_format(issued, when);
    if ((err = set_attr(root, "issued", when)))
        return err;
    ss_time_format(expires, when);
    return set_attr(root, "expires", when);
}

/* Serialises doc and checks the bytes with the registry parser. */
static ss_error serialize_checked(const char *name, xmlDocPtr doc, uint8_t **xml, size_t *len)
{
    ss_error result = SS_OK;
    xmlChar *mem = NULL;
    int size = 0;
    uint8_t *copy = NULL;
    struct ss_registry *reg = NULL;
    *xml = NULL;
    *len = 0;

    xmlDocDumpFormatMemoryEnc(doc, &mem, &size, "UTF-8", 1);
    if (!mem || size <= 0) {
        result = ss_errf(SS_ERR_NOMEM, "%s: cannot serialise the document", name);
        goto out;
    }
    copy = malloc((size_t)size + 1);
    if (!copy) {
        result = ss_errf(SS_ERR_NOMEM, "out of memory");
        goto out;
    }
    memcpy(copy, mem, (size_t)size);
    copy[size] = '\0';
    result = ss_registry_parse(name, copy, (size_t)size, &reg);
    if (!result)
        result = ss_registry_check_servers(reg);
    if (result) {
        char reason[400];
        snprintf(reason, sizeof reason, "%s", ss_errmsg()); /* ss_errf overwrites it */
        result = ss_errf(result, "the changed document does not validate, %s not written: %s", name,
                         reason);
        goto out;
    }
    *xml = copy;
    *len = (size_t)size;
    copy = NULL;
out:
    ss_registry_unref(reg);
    free(copy);
    xmlFree(mem);
    return result;
}

/* Writes a file that must not exist yet: a temporary file, then link() into place. */
static ss_error write_new_file(const char *path, const uint8_t *buf, size_t len)
{
    char tmp[4096];
    int r = snprintf(tmp, sizeof tmp, "%s.new.%ld", path, (long)getpid());
    if (r < 0 || (size_t)r >= sizeof tmp)
        return ss_errf(SS_ERR_IO, "%s: path too long", path);
    ss_error err = ss_file_write_atomic(tmp, buf, len);
    if (err)
        return err;
    if (link(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        if (e == EEXIST)
            return ss_errf(SS_ERR_IO, "%s: already exists; init never replaces a registry", path);
        return ss_errf(SS_ERR_IO, "%s: %s", path, strerror(e));
    }
    unlink(tmp);
    return SS_OK;
}

ss_error ss_editor_create(const char *path, const char *instance,
                          const struct ss_reg_settings *settings, time_t now)
{
    ss_error result = SS_OK;
    xmlDocPtr doc = NULL;
    uint8_t *xml = NULL;
    size_t len = 0;
    struct stat st;
    xmlNodePtr root = NULL, node = NULL;

    if ((result = check_identifier("instance", instance)) ||
        (result = check_settings(settings, false)))
        return result;
    if (lstat(path, &st) == 0)
        return ss_errf(SS_ERR_IO, "%s: already exists; init never replaces a registry", path);
    if (errno != ENOENT)
        return ss_errf(SS_ERR_IO, "%s: %s", path, strerror(errno));

    doc = xmlNewDoc(xs("1.0"));
    root = doc ? xmlNewDocNode(doc, NULL, xs("registry"), NULL) : NULL;
    if (!root) {
        result = ss_errf(SS_ERR_NOMEM, "out of memory");
        goto out;
    }
    xmlDocSetRootElement(doc, root);
    if ((result = set_attr(root, "version", "1")) ||
        (result = set_attr(root, "instance", instance)) ||
        (result = set_attr(root, "serial", "0")) ||
        (result = set_validity(root, now, now + (time_t)settings->registry_validity)))
        goto out;
    node = xmlNewChild(root, NULL, xs("settings"), NULL);
    if (!node) {
        result = ss_errf(SS_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((result = apply_settings(node, settings)))
        goto out;
    if ((result = serialize_checked(path, doc, &xml, &len)))
        goto out;
    result = write_new_file(path, xml, len);
out:
    free(xml);
    xmlFreeDoc(doc);
    return result;
}

ss_error ss_editor_open(const char *path, struct ss_editor **out)
{
    ss_error result = SS_OK;
    uint8_t *buf = NULL;
    size_t len = 0;
    struct ss_registry *reg = NULL;
    xmlDocPtr doc = NULL;
    struct ss_editor *ed = NULL;
    *out = NULL;

    if ((result = ss_file_read(path, SS_REGISTRY_MAX_BYTES, &buf, &len)))
        goto out;
    /* Validate the file as it is, so problems point at its own lines. */
    if ((result = ss_registry_parse(path, buf, len, &reg)))
        goto out;
    if ((result = ss_xml_parse(path, buf, len, SS_REGISTRY_MAX_BYTES, &doc)))
        goto out;
    ed = calloc(1, sizeof *ed);
    if (!ed || !(ed->path = strdup(path))) {
        result = ss_errf(SS_ERR_NOMEM, "out of memory");
        goto out;
    }
    snprintf(ed->instance, sizeof ed->instance, "%s", reg->instance);
    ed->doc = doc;
    ed->root = xmlDocGetRootElement(doc);
    doc = NULL;
    strip_blank_text(ed->root);
    *out = ed;
    ed = NULL;
out:
    ss_editor_free(ed);
    xmlFreeDoc(doc);
    ss_registry_unref(reg);
    free(buf);
    return result;
}

void ss_editor_free(struct ss_editor *ed)
{
    if (!ed)
        return;
    xmlFreeDoc(ed->doc);
    free(ed->path);
    free(ed);
}

ss_error ss_editor_serialize(struct ss_editor *ed, uint8_t **xml, size_t *len)
{
    return serialize_checked(ed->path, ed->doc, xml, len);
}

ss_error ss_editor_save(struct ss_editor *ed)
{
    uint8_t *xml = NULL;
    size_t len = 0;
    ss_error err = ss_editor_serialize(ed, &xml, &len);
    if (!err)
        err = ss_file_write_atomic(ed->path, xml, len);
    free(xml);
    return err;
}

/* ---- additions ---- */

ss_error ss_editor_add_member_class(struct ss_editor *ed, const char *code, const char *description)
{
    ss_error err;
    xmlNodePtr node = NULL;
    if ((err = check_identifier("member class code", code)) ||
        (err = check_name("member class description", description)))
        return err;
    if (find_child(ed->root, "memberClass", "code", code, NULL, NULL))
        return ss_errf(SS_ERR_REGISTRY, "member class %s already exists", code);
    if ((err = check_room(ed->root, "memberClass", 64, "member classes")) ||
        (err = new_element(ed, "memberClass", description, &node)))
        return err;
    if ((err = set_attr(node, "code", code))) {
        xmlFreeNode(node);
        return err;
    }
    insert_section(ed, node);
    return SS_OK;
}

ss_error ss_editor_add_member(struct ss_editor *ed, const char *member, const char *name,
                              const char *state)
{
    ss_error err;
    struct ss_client_id id;
    xmlNodePtr node = NULL, child = NULL;
    if ((err = parse_ref(ed, member, REF_MEMBER, &id)) || (err = check_name("member name", name)))
        return err;
    if (strcmp(state, "SH") != 0 && strcmp(state, "MV") != 0)
        return ss_errf(SS_ERR_CONFIG, "state must be SH or MV, not '%.16s'", state);
    if (!find_child(ed->root, "memberClass", "code", id.member_class, NULL, NULL))
        return ss_errf(SS_ERR_NOT_FOUND, "unknown member class %s", id.member_class);
    if (find_member(ed, id.member_class, id.member_code))
        return ss_errf(SS_ERR_REGISTRY, "member %s/%s already exists", id.member_class,
                       id.member_code);
    if ((err = check_room(ed->root, "member", 100000, "members")) ||
        (err = new_element(ed, "member", NULL, &node)))
        return err;
    if ((err = set_attr(node, "class", id.member_class)) ||
        (err = set_attr(node, "code", id.member_code)) || (err = set_attr(node, "state", state)) ||
        (err = append_element(ed, node, "name", name, &child))) {
        xmlFreeNode(node);
        return err;
    }
    insert_section(ed, node);
    return SS_OK;
}

ss_error ss_editor_add_subsystem(struct ss_editor *ed, const char *subsystem)
{
    ss_error err;
    struct ss_client_id id;
    xmlNodePtr member = NULL, node = NULL;
    if ((err = parse_ref(ed, subsystem, REF_SUBSYSTEM, &id)))
        return err;
    member = find_member(ed, id.member_class, id.member_code);
    if (!member)
        return ss_errf(SS_ERR_NOT_FOUND, "unknown member %s/%s", id.member_class, id.member_code);
    if (find_child(member, "subsystem", "code", id.subsystem, NULL, NULL))
        return ss_errf(SS_ERR_REGISTRY, "subsystem %s/%s/%s already exists", id.member_class,
                       id.member_code, id.subsystem);
    if ((err = check_room(member, "subsystem", 1000, "subsystems per member")) ||
        (err = append_element(ed, member, "subsystem", NULL, &node)))
        return err;
    return set_attr(node, "code", id.subsystem);
}

/*
 * No other server may use address in any spelling (host names compared
 * without case); except may be the server being changed.
 */
static ss_error check_address_free(const struct ss_editor *ed, const char *address,
                                   xmlNodePtr except)
{
    for (xmlNodePtr other = ed->root->children; other; other = other->next) {
        const char *used =
            ss_xml_is(other, "securityServer") ? ss_xml_attr(other, "address") : NULL;
        if (!used || other == except || strcasecmp(used, address) != 0)
            continue;
        const char *owner = ss_xml_attr(other, "owner");
        const char *code = ss_xml_attr(other, "code");
        return ss_errf(SS_ERR_REGISTRY, "address %s is already used by server %s/%s", address,
                       owner ? owner : "?", code ? code : "?");
    }
    return SS_OK;
}

/* True if server node lists fingerprint (normalised) among its certificates. */
static bool server_has_pin(xmlNodePtr server, const char *fingerprint)
{
    const char *first = ss_xml_attr(server, "authSha256");
    return (first && strcasecmp(first, fingerprint) == 0) ||
           find_child(server, "authCertificate", "sha256", fingerprint, NULL, NULL);
}

/*
 * A TLS authentication certificate belongs to one server; except may be
 * the server being changed.
 */
static ss_error check_pin_free(const struct ss_editor *ed, const char *fingerprint,
                               xmlNodePtr except)
{
    for (xmlNodePtr other = ed->root->children; other; other = other->next) {
        if (!ss_xml_is(other, "securityServer") || other == except ||
            !server_has_pin(other, fingerprint))
            continue;
        const char *owner = ss_xml_attr(other, "owner");
        const char *code = ss_xml_attr(other, "code");
        return ss_errf(SS_ERR_REGISTRY,
                       "authentication certificate %s is already registered for server %s/%s",
                       fingerprint, owner ? owner : "?", code ? code : "?");
    }
    return SS_OK;
}

ss_error ss_editor_add_server(struct ss_editor *ed, const char *owner, const char *server_code,
                              const char *address, const char *auth_sha256)
{
    ss_error err;
    struct ss_client_id id;
    char fingerprint[65], owner_ref[REF_MAX];
    xmlNodePtr node = NULL;
    if ((err = parse_ref(ed, owner, REF_MEMBER, &id)) ||
        (err = check_identifier("server code", server_code)) ||
        (err = ss_reg_address_check(address)) ||
        (err = ss_editor_normalize_sha256(auth_sha256, fingerprint)) ||
        (err = require_client(ed, &id)))
        return err;
    member_format(&id, owner_ref, sizeof owner_ref);
    if (find_server(ed, &id, server_code))
        return ss_errf(SS_ERR_REGISTRY, "server %s/%s already exists", owner_ref, server_code);
    if ((err = check_address_free(ed, address, NULL)) ||
        (err = check_pin_free(ed, fingerprint, NULL)) ||
        (err = check_room(ed->root, "securityServer", 10000, "security servers")) ||
        (err = new_element(ed, "securityServer", NULL, &node)))
        return err;
    if ((err = set_attr(node, "owner", owner_ref)) || (err = set_attr(node, "code", server_code)) ||
        (err = set_attr(node, "address", address)) ||
        (err = set_attr(node, "authSha256", fingerprint))) {
        xmlFreeNode(node);
        return err;
    }
    insert_section(ed, node);
    return SS_OK;
}

ss_error ss_editor_add_client(struct ss_editor *ed, const char *server, const char *client)
{
    ss_error err;
    struct ss_client_id id;
    char ref[REF_MAX];
    xmlNodePtr node = NULL, child = NULL;
    if ((err = lookup_server(ed, server, &node)) ||
        (err = parse_ref(ed, client, REF_CLIENT, &id)) || (err = require_client(ed, &id)))
        return err;
    ref_format(&id, ref, sizeof ref);
    if (find_child(node, "client", "id", ref, NULL, NULL))
        return ss_errf(SS_ERR_REGISTRY, "server %s already hosts %s", server, ref);
    if ((err = check_room(node, "client", 10000, "clients per server")) ||
        (err = append_element(ed, node, "client", NULL, &child)))
        return err;
    return set_attr(child, "id", ref);
}

ss_error ss_editor_add_server_auth(struct ss_editor *ed, const char *server,
                                   const char *auth_sha256)
{
    ss_error err;
    xmlNodePtr node = NULL, child = NULL;
    char fingerprint[65];
    if ((err = lookup_server(ed, server, &node)) ||
        (err = ss_editor_normalize_sha256(auth_sha256, fingerprint)))
        return err;
    if (server_has_pin(node, fingerprint))
        return ss_errf(SS_ERR_REGISTRY, "server %s already has authentication certificate %s",
                       server, fingerprint);
    if ((err = check_pin_free(ed, fingerprint, node)) ||
        (err = check_room(node, "authCertificate", SS_REG_MAX_AUTH - 1,
                          "authentication certificates per server besides the first")) ||
        (err = new_element(ed, "authCertificate", NULL, &child)))
        return err;
    if ((err = set_attr(child, "sha256", fingerprint))) {
        xmlFreeNode(child);
        return err;
    }
    /* before the hosted clients, as the schema orders them */
    xmlNodePtr client = find_child(node, "client", NULL, NULL, NULL, NULL);
    if (client)
        xmlAddPrevSibling(client, child);
    else
        xmlAddChild(node, child);
    return SS_OK;
}

ss_error ss_editor_remove_server_auth(struct ss_editor *ed, const char *server,
                                      const char *auth_sha256)
{
    ss_error err;
    xmlNodePtr node = NULL;
    char fingerprint[65];
    if ((err = lookup_server(ed, server, &node)) ||
        (err = ss_editor_normalize_sha256(auth_sha256, fingerprint)))
        return err;
    xmlNodePtr next = find_child(node, "authCertificate", NULL, NULL, NULL, NULL);
    const char *first = ss_xml_attr(node, "authSha256");
    if (first && strcasecmp(first, fingerprint) == 0) {
        /* the first one goes: the next takes its place */
        if (!next)
            return ss_errf(SS_ERR_REGISTRY,
                           "%s is the only authentication certificate of server %s; add its "
                           "successor first",
                           fingerprint, server);
        if ((err = set_attr(node, "authSha256", ss_xml_attr(next, "sha256"))))
            return err;
        remove_node(next);
        return SS_OK;
    }
    xmlNodePtr found = find_child(node, "authCertificate", "sha256", fingerprint, NULL, NULL);
    if (!found)
        return ss_errf(SS_ERR_NOT_FOUND, "server %s has no authentication certificate %s", server,
                       fingerprint);
    remove_node(found);
    return SS_OK;
}

ss_error ss_editor_add_group(struct ss_editor *ed, const char *code, const char *description)
{
    ss_error err;
    xmlNodePtr node = NULL;
    if ((err = check_identifier("global group code", code)) ||
        (err = check_name("group description", description)))
        return err;
    if (find_child(ed->root, "globalGroup", "code", code, NULL, NULL))
        return ss_errf(SS_ERR_REGISTRY, "global group %s already exists", code);
    if ((err = check_room(ed->root, "globalGroup", 10000, "global groups")) ||
        (err = new_element(ed, "globalGroup", NULL, &node)))
        return err;
    if ((err = set_attr(node, "code", code)) ||
        (err = set_attr(node, "description", description))) {
        xmlFreeNode(node);
        return err;
    }
    insert_section(ed, node);
    return SS_OK;
}

static ss_error lookup_group(const struct ss_editor *ed, const char *code, xmlNodePtr *out)
{
    ss_error err = check_identifier("global group code", code);
    if (err)
        return err;
    *out = find_child(ed->root, "globalGroup", "code", code, NULL, NULL);
    if (!*out)
        return ss_errf(SS_ERR_NOT_FOUND, "unknown global group %s", code);
    return SS_OK;
}

ss_error ss_editor_add_group_member(struct ss_editor *ed, const char *group, const char *client)
{
    ss_error err;
    struct ss_client_id id;
    char ref[REF_MAX];
    xmlNodePtr node = NULL, child = NULL;
    if ((err = lookup_group(ed, group, &node)) || (err = parse_ref(ed, client, REF_CLIENT, &id)) ||
        (err = require_client(ed, &id)))
        return err;
    ref_format(&id, ref, sizeof ref);
    if (find_child(node, "member", "id", ref, NULL, NULL))
        return ss_errf(SS_ERR_REGISTRY, "%s is already in global group %s", ref, group);
    if ((err = check_room(node, "member", 100000, "members per global group")) ||
        (err = append_element(ed, node, "member", NULL, &child)))
        return err;
    return set_attr(child, "id", ref);
}

ss_error ss_editor_add_ca(struct ss_editor *ed, const char *name, const struct ss_editor_cert *root,
                          const struct ss_editor_cert *intermediates, size_t n_intermediates,
                          const char *ocsp_url, const struct ss_editor_cert *ocsp_cert)
{
    ss_error err;
    xmlNodePtr node = NULL, ocsp = NULL;
    if ((err = check_name("CA name", name)))
        return err;
    if (find_child(ed->root, "certificationAuthority", "name", name, NULL, NULL))
        return ss_errf(SS_ERR_REGISTRY, "certification authority \"%s\" already exists", name);
    if (n_intermediates > SS_EDITOR_MAX_INTERMEDIATES)
        return ss_errf(SS_ERR_LIMIT, "a CA has at most %d intermediate certificates",
                       SS_EDITOR_MAX_INTERMEDIATES);
    if (n_intermediates > 0 && !intermediates)
        return ss_errf(SS_ERR_INTERNAL, "intermediate certificates missing");
    if (!ocsp_url != !ocsp_cert)
        return ss_errf(SS_ERR_CONFIG, "an OCSP responder needs both a URL and a certificate");
    if (ocsp_url && (err = check_url("OCSP URL", ocsp_url)))
        return err;
    if ((err = check_ca_certs(root, intermediates, n_intermediates, ocsp_cert)))
        return err;
    if ((err = check_room(ed->root, "certificationAuthority", 100, "certification authorities")) ||
        (err = new_element(ed, "certificationAuthority", NULL, &node)))
        return err;
    if ((err = set_attr(node, "name", name)) ||
        (err = append_cert(ed, node, "certificate", "CA certificate", root)))
        goto out;
    for (size_t i = 0; i < n_intermediates; i++)
        if ((err = append_cert(ed, node, "intermediate", "intermediate certificate",
                               &intermediates[i])))
            goto out;
    if (ocsp_url &&
        ((err = append_element(ed, node, "ocspResponder", NULL, &ocsp)) ||
         (err = set_attr(ocsp, "url", ocsp_url)) ||
         (err = append_cert(ed, ocsp, "certificate", "OCSP responder certificate", ocsp_cert))))
        goto out;
    insert_section(ed, node);
    node = NULL; /* now part of the document */
out:
    xmlFreeNode(node);
    return err;
}

ss_error ss_editor_add_tsa(struct ss_editor *ed, const char *name, const char *url,
                           const struct ss_editor_cert *cert)
{
    ss_error err;
    xmlNodePtr node = NULL;
    if ((err = check_name("TSA name", name)) || (err = check_url("TSA URL", url)))
        return err;
    if (find_child(ed->root, "timestampingAuthority", "name", name, NULL, NULL))
        return ss_errf(SS_ERR_REGISTRY, "time-stamping authority \"%s\" already exists", name);
    if ((err = check_tsa_cert(cert)))
        return err;
    if ((err = check_room(ed->root, "timestampingAuthority", 100, "time-stamping authorities")) ||
        (err = new_element(ed, "timestampingAuthority", NULL, &node)))
        return err;
    if ((err = set_attr(node, "name", name)) || (err = set_attr(node, "url", url)) ||
        (err = append_cert(ed, node, "certificate", "TSA certificate", cert))) {
        xmlFreeNode(node);
        return err;
    }
    insert_section(ed, node);
    return SS_OK;
}

/* ---- removals ---- */

ss_error ss_editor_remove_member_class(struct ss_editor *ed, const char *code)
{
    ss_error err = check_identifier("member class code", code);
    if (err)
        return err;
    xmlNodePtr node = find_child(ed->root, "memberClass", "code", code, NULL, NULL);
    if (!node)
        return ss_errf(SS_ERR_NOT_FOUND, "unknown member class %s", code);
    xmlNodePtr user = find_child(ed->root, "member", "class", code, NULL, NULL);
    if (user) {
        size_t n = 0;
        for (xmlNodePtr c = ed->root->children; c; c = c->next)
            if (ss_xml_is(c, "member") && attr_is(c, "class", code))
                n++;
        const char *member_code = ss_xml_attr(user, "code");
        return ss_errf(SS_ERR_REGISTRY,
                       "cannot remove member class %s: %zu member%s still use%s it (first %s/%s)",
                       code, n, n == 1 ? "" : "s", n == 1 ? "s" : "", code,
                       member_code ? member_code : "?");
    }
    remove_node(node);
    return SS_OK;
}

ss_error ss_editor_remove_member(struct ss_editor *ed, const char *member)
{
    struct ss_client_id id;
    char why[2 * REF_MAX + 64];
    ss_error err = parse_ref(ed, member, REF_MEMBER, &id);
    if (err)
        return err;
    xmlNodePtr node = find_member(ed, id.member_class, id.member_code);
    if (!node)
        return ss_errf(SS_ERR_NOT_FOUND, "unknown member %s/%s", id.member_class, id.member_code);
    if (find_reference(ed, &id, why, sizeof why))
        return ss_errf(SS_ERR_REGISTRY, "cannot remove member %s/%s: %s", id.member_class,
                       id.member_code, why);
    remove_node(node);
    return SS_OK;
}

ss_error ss_editor_remove_subsystem(struct ss_editor *ed, const char *subsystem)
{
    struct ss_client_id id;
    char why[2 * REF_MAX + 64];
    ss_error err = parse_ref(ed, subsystem, REF_SUBSYSTEM, &id);
    if (err || (err = require_client(ed, &id)))
        return err;
    if (find_reference(ed, &id, why, sizeof why))
        return ss_errf(SS_ERR_REGISTRY, "cannot remove subsystem %s/%s/%s: %s", id.member_class,
                       id.member_code, id.subsystem, why);
    xmlNodePtr member = find_member(ed, id.member_class, id.member_code);
    remove_node(find_child(member, "subsystem", "code", id.subsystem, NULL, NULL));
    return SS_OK;
}

ss_error ss_editor_remove_server(struct ss_editor *ed, const char *owner, const char *server_code)
{
    struct ss_client_id id;
    ss_error err;
    if ((err = parse_ref(ed, owner, REF_MEMBER, &id)) ||
        (err = check_identifier("server code", server_code)))
        return err;
    xmlNodePtr node = find_server(ed, &id, server_code);
    if (!node)
        return ss_errf(SS_ERR_NOT_FOUND, "unknown server %s/%s/%s", id.member_class, id.member_code,
                       server_code);
    remove_node(node);
    return SS_OK;
}

/*
 * Removes parent's <element id="client"/> if there is one (*found says);
 * ref receives the client reference as the document writes it.
 */
static ss_error remove_client_ref(struct ss_editor *ed, xmlNodePtr parent, const char *element,
                                  const char *client, char ref[REF_MAX], bool *found)
{
    struct ss_client_id id;
    ss_error err = parse_ref(ed, client, REF_CLIENT, &id);
    if (err)
        return err;
    ref_format(&id, ref, REF_MAX);
    xmlNodePtr child = find_child(parent, element, "id", ref, NULL, NULL);
    *found = child != NULL;
    if (child)
        remove_node(child);
    return SS_OK;
}

ss_error ss_editor_remove_client(struct ss_editor *ed, const char *server, const char *client)
{
    char ref[REF_MAX];
    xmlNodePtr node = NULL;
    bool found = false;
    ss_error err;
    if ((err = lookup_server(ed, server, &node)) ||
        (err = remove_client_ref(ed, node, "client", client, ref, &found)))
        return err;
    if (!found)
        return ss_errf(SS_ERR_NOT_FOUND, "server %s does not host %s", server, ref);
    return SS_OK;
}

ss_error ss_editor_remove_group(struct ss_editor *ed, const char *code)
{
    xmlNodePtr node = NULL;
    ss_error err = lookup_group(ed, code, &node);
    if (err)
        return err;
    remove_node(node);
    return SS_OK;
}

ss_error ss_editor_remove_group_member(struct ss_editor *ed, const char *group, const char *client)
{
    char ref[REF_MAX];
    xmlNodePtr node = NULL;
    bool found = false;
    ss_error err;
    if ((err = lookup_group(ed, group, &node)) ||
        (err = remove_client_ref(ed, node, "member", client, ref, &found)))
        return err;
    if (!found)
        return ss_errf(SS_ERR_NOT_FOUND, "%s is not in global group %s", ref, group);
    return SS_OK;
}

ss_error ss_editor_remove_ca(struct ss_editor *ed, const char *name)
{
    xmlNodePtr node = find_child(ed->root, "certificationAuthority", "name", name, NULL, NULL);
    if (!node)
        return ss_errf(SS_ERR_NOT_FOUND, "unknown certification authority \"%.128s\"", name);
    remove_node(node);
    return SS_OK;
}

ss_error ss_editor_remove_tsa(struct ss_editor *ed, const char *name)
{
    xmlNodePtr node = find_child(ed->root, "timestampingAuthority", "name", name, NULL, NULL);
    if (!node)
        return ss_errf(SS_ERR_NOT_FOUND, "unknown time-stamping authority \"%.128s\"", name);
    remove_node(node);
    return SS_OK;
}

/* ---- changes ---- */

ss_error ss_editor_set_server(struct ss_editor *ed, const char *owner, const char *server_code,
                              const char *address, const char *auth_sha256)
{
    struct ss_client_id id;
    char fingerprint[65];
    ss_error err;
    if ((err = parse_ref(ed, owner, REF_MEMBER, &id)) ||
        (err = check_identifier("server code", server_code)))
        return err;
    if (!address && !auth_sha256)
        return ss_errf(SS_ERR_CONFIG, "nothing to change: give an address or a fingerprint");
    if ((address && (err = ss_reg_address_check(address))) ||
        (auth_sha256 && (err = ss_editor_normalize_sha256(auth_sha256, fingerprint))))
        return err;
    xmlNodePtr node = find_server(ed, &id, server_code);
    if (!node)
        return ss_errf(SS_ERR_NOT_FOUND, "unknown server %s/%s/%s", id.member_class, id.member_code,
                       server_code);
    if (address && ((err = check_address_free(ed, address, node)) ||
                    (err = set_attr(node, "address", address))))
        return err;
    if (auth_sha256 && ((err = check_pin_free(ed, fingerprint, node)) ||
                        (err = set_attr(node, "authSha256", fingerprint))))
        return err;
    return SS_OK;
}

ss_error ss_editor_set_settings(struct ss_editor *ed, const struct ss_reg_settings *settings)
{
    ss_error err = check_settings(settings, true);
    if (err)
        return err;
    if (!settings->ocsp_freshness && !settings->timestamping_interval &&
        !settings->registry_validity && !settings->refresh_interval)
        return ss_errf(SS_ERR_CONFIG, "nothing to change: give at least one setting");
    xmlNodePtr node = find_child(ed->root, "settings", NULL, NULL, NULL, NULL);
    if (!node)
        return ss_errf(SS_ERR_REGISTRY_SCHEMA, "%s: no settings element", ed->path);
    return apply_settings(node, settings);
}

static ss_error read_number(const struct ss_editor *ed, xmlNodePtr node, const char *attr,
                            uint64_t *out)
{
    const char *v = ss_xml_attr(node, attr);
    char *end = NULL;
    unsigned long long x = 0;
    if (v && *v >= '0' && *v <= '9') {
        errno = 0;
        x = strtoull(v, &end, 10);
    }
    if (!end || errno != 0 || *end != '\0')
        return ss_errf(SS_ERR_REGISTRY_SCHEMA, "%s:%ld: bad %s", ed->path, ss_xml_line(node), attr);
    *out = (uint64_t)x;
    return SS_OK;
}

ss_error ss_editor_stamp(struct ss_editor *ed, uint64_t min_serial, time_t now)
{
    uint64_t serial = 0, validity = 0;
    char text[32];
    ss_error err;
    xmlNodePtr settings = find_child(ed->root, "settings", NULL, NULL, NULL, NULL);
    if (!settings)
        return ss_errf(SS_ERR_REGISTRY_SCHEMA, "%s: no settings element", ed->path);
    if ((err = read_number(ed, ed->root, "serial", &serial)) ||
        (err = read_number(ed, settings, "registryValidity", &validity)))
        return err;
    if (serial == UINT64_MAX)
        return ss_errf(SS_ERR_REGISTRY, "%s: serial cannot grow any further", ed->path);
    if (validity < 1 || validity > (uint64_t)SS_EDITOR_MAX_SECONDS)
        return ss_errf(SS_ERR_REGISTRY_SCHEMA, "%s: registryValidity out of range", ed->path);
    serial++;
    if (min_serial > serial)
        serial = min_serial;
    snprintf(text, sizeof text, "%llu", (unsigned long long)serial);
    if ((err = set_attr(ed->root, "serial", text)))
        return err;
    return set_validity(ed->root, now, now + (time_t)validity);
}

xmlNodePtr ss_editor_root(struct ss_editor *ed)
{
    return ed->root;
}
