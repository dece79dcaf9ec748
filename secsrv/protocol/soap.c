/* The X-Road message protocol 4.0 (SOAP 1.1), see soap.h. */
#include "soap.h"
#include "ss_sha256.h"

#include "subject.h"
#include "ss_text.h"

#include <iconv.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* What the SAX hooks learn while libxml2 builds the tree. */
struct hooks {
    const uint8_t *xml;
    size_t len;
    int depth;
    bool in_header; /* inside the Envelope's SOAP Header */
    char why[200];  /* a refusal of ours, stopping the parse */
    char error[200];
    long error_line;
    size_t header_end, hash_start, hash_end, env_start, body_start;
    int hash_count;
    startElementNsSAX2Func start;
    endElementNsSAX2Func end;
};

static void refuse(xmlParserCtxtPtr ctxt, struct hooks *h, const char *why)
{
    if (!h->why[0])
        snprintf(h->why, sizeof h->why, "%s", why);
    xmlStopParser(ctxt);
}

/* The '<' that starts the tag ending before off. Tags hold no '<' of their own. */
static size_t tag_start(const struct hooks *h, size_t off)
{
    while (off > 0 && h->xml[off - 1] != '<')
        off--;
    return off > 0 ? off - 1 : 0;
}

static bool is(const xmlChar *a, const char *b)
{
    return a && strcmp((const char *)a, b) == 0;
}

static void on_start(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri,
                     int n_ns, const xmlChar **ns, int n_attr, int n_defaulted,
                     const xmlChar **attrs)
{
    xmlParserCtxtPtr ctxt = ctx;
    struct hooks *h = ctxt->_private;
    if (++h->depth > SS_SOAP_MAX_DEPTH) {
        refuse(ctxt, h, "elements nested deeper than 128");
        return;
    }
    if (n_attr + n_ns > SS_SOAP_MAX_ATTRIBUTES) {
        refuse(ctxt, h, "an element with more than 64 attributes");
        return;
    }
    /* SOAP's own elements only: others of these names may follow the Body */
    bool soap = is(uri, SS_SOAP_NS_ENV);
    if (soap &&
        ((h->depth == 1 && is(local, "Envelope")) || (h->depth == 2 && is(local, "Body")))) {
        long at = xmlByteConsumed(ctxt);
        if (at > 0 && (size_t)at <= h->len)
            *(h->depth == 1 ? &h->env_start : &h->body_start) = tag_start(h, (size_t)at);
    }
    if (soap && h->depth == 2 && is(local, "Header"))
        h->in_header = true;
    if (h->in_header && h->depth == 3 && is(local, "requestHash") && is(uri, SS_SOAP_NS_XROAD)) {
        long at = xmlByteConsumed(ctxt);
        if (at > 0 && (size_t)at <= h->len)
            h->hash_start = tag_start(h, (size_t)at);
        h->hash_count++;
    }
    h->start(ctx, local, prefix, uri, n_ns, ns, n_attr, n_defaulted, attrs);
}

static void on_end(void *ctx, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri)
{
    xmlParserCtxtPtr ctxt = ctx;
    struct hooks *h = ctxt->_private;
    /* the offset only where one is wanted */
    long at = h->depth == 2 || (h->in_header && h->depth == 3) ? xmlByteConsumed(ctxt) : -1;
    if (at > 0 && (size_t)at <= h->len) {
        size_t t = tag_start(h, (size_t)at);
        /* an end tag, not an empty <Header/>, which has no place inside for a field */
        if (h->depth == 2 && is(local, "Header") && is(uri, SS_SOAP_NS_ENV) && t + 1 < h->len &&
            h->xml[t + 1] == '/')
            h->header_end = t;
        else if (h->in_header && h->depth == 3 && is(local, "requestHash") &&
                 is(uri, SS_SOAP_NS_XROAD))
            h->hash_end = (size_t)at;
    }
    if (h->depth == 2)
        h->in_header = false;
    h->depth--;
    h->end(ctx, local, prefix, uri);
}

/* Any document type declaration: refused before its declarations are read. */
static void on_doctype(void *ctx, const xmlChar *name, const xmlChar *external_id,
                       const xmlChar *system_id)
{
    (void)name;
    (void)external_id;
    (void)system_id;
    xmlParserCtxtPtr ctxt = ctx;
    refuse(ctxt, ctxt->_private, "a document type declaration (not allowed in SOAP)");
}

/* A processing instruction (the XML declaration is none): SOAP 1.1 section 3 forbids them as it
 * forbids a DTD, and a service may act on one that secsrv passed without reading. */
static void on_pi(void *ctx, const xmlChar *target, const xmlChar *data)
{
    (void)target;
    (void)data;
    xmlParserCtxtPtr ctxt = ctx;
    refuse(ctxt, ctxt->_private, "a processing instruction (not allowed in SOAP)");
}

static void on_error(void *ctx, xmlErrorPtr e)
{
    struct hooks *h = ((xmlParserCtxtPtr)ctx)->_private;
    if (h->error[0] || !e || !e->message)
        return;
    snprintf(h->error, sizeof h->error, "%s", e->message);
    size_t n = strlen(h->error);
    while (n > 0 && (h->error[n - 1] == '\n' || h->error[n - 1] == ' '))
        h->error[--n] = '\0';
    h->error_line = e->line;
}

/* ---- reading the tree ---- */

static bool in(const xmlNode *n, const char *uri, const char *name)
{
    return n->type == XML_ELEMENT_NODE && n->ns && is(n->ns->href, uri) && is(n->name, name);
}

/* The next element after n (itself when it is one); text between elements must be blank. */
static const xmlNode *element(const xmlNode *n, bool *stray)
{
    for (; n; n = n->next) {
        if (n->type == XML_ELEMENT_NODE)
            return n;
        if (n->type == XML_TEXT_NODE || n->type == XML_CDATA_SECTION_NODE) {
            for (const xmlChar *c = n->content; c && *c; c++)
                if (*c != ' ' && *c != '\t' && *c != '\r' && *c != '\n')
                    *stray = true;
        } else if (n->type != XML_COMMENT_NODE) { /* (processing instructions are refused) */
            *stray = true;                        /* an entity reference */
        }
    }
    return NULL;
}

static ss_error bad(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static ss_error bad(const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return ss_errf(SS_ERR_PROTOCOL, "%s", msg);
}

/*
 * A leaf's text in one piece: a reader that takes the element's first text
 * node would see "12345" in 12345<!---->67 or 12345<![CDATA[67]]>, where the
 * content read here is "1234567".
 */
static ss_error one_piece(const xmlNode *n, const char *what)
{
    for (const xmlNode *c = n->children; c; c = c->next)
        if (c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE &&
            c->type != XML_COMMENT_NODE)
            return bad("%s must hold text only", what);
    if (n->children && (n->children->next || n->children->type == XML_COMMENT_NODE))
        return bad("%s must be one piece of text, without a comment or a second text or CDATA"
                   " section in it",
                   what);
    return SS_OK;
}

/* The text of a leaf element (no child element) into out; what names it in errors. */
static ss_error leaf_text(const xmlNode *n, const char *what, char *out, size_t size)
{
    ss_error err = one_piece(n, what);
    if (err)
        return err;
    xmlChar *text = xmlNodeGetContent(n);
    size_t len = text ? strlen((const char *)text) : 0;
    bool control = false;
    for (size_t i = 0; i < len; i++)
        control |= text[i] < 0x20 || text[i] == 0x7f;
    if (len >= size || len == 0)
        err = bad("%s must hold 1 to %zu bytes", what, size - 1);
    else if (control) /* they may end up in HTTP header fields and operator logs */
        err = bad("%s must not hold control characters", what);
    else
        memcpy(out, text, len + 1);
    xmlFree(text);
    return err;
}

/*
 * userId and issue: any string, empty, long or with line breaks (xs:string in
 * the protocol's schema; X-Road's own clients send <issue/>, its test
 * messages an issue over several lines). secsrv only checks that the answer
 * holds the same (PR-MESS 2.2), so it keeps the SHA-256 of the text.
 */
static ss_error text_digest(const xmlNode *n, const char *what, uint8_t out[32])
{
    ss_error err = one_piece(n, what);
    if (err)
        return err;
    xmlChar *text = xmlNodeGetContent(n);
    ss_sha256(text ? (const char *)text : "", text ? strlen((const char *)text) : 0, out);
    xmlFree(text);
    return SS_OK;
}

/*
 * requestHash: base64, which may be wrapped over lines (whitespace is dropped); out is left
 * empty when it is anything else (in more than one piece, not base64, too long), which no
 * request's hash matches.
 */
static void hash_text(const xmlNode *n, char *out, size_t size)
{
    out[0] = '\0';
    if (one_piece(n, "requestHash"))
        return;
    xmlChar *text = xmlNodeGetContent(n);
    size_t o = 0;
    bool ok = text != NULL;
    for (const xmlChar *c = text; ok && *c; c++) {
        if (*c == ' ' || *c == '\t' || *c == '\r' || *c == '\n')
            continue;
        ok = o + 1 < size && ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') ||
                              (*c >= '0' && *c <= '9') || *c == '+' || *c == '/' || *c == '=');
        out[o++] = (char)*c;
    }
    xmlFree(text);
    out[ok ? o : 0] = '\0';
}

/* One identifier part, checked like every other X-Road identifier part. */
static ss_error id_part(const xmlNode **at, const char *name, bool optional, const char *what,
                        char *out)
{
    bool stray = false;
    const xmlNode *n = element(*at, &stray);
    out[0] = '\0';
    if (stray)
        return bad("%s: text between its parts", what);
    if (!n || !in(n, SS_SOAP_NS_ID, name)) {
        if (optional)
            return SS_OK;
        return bad("%s: the part %s is missing or out of order", what, name);
    }
    char text[SS_ID_PART_MAX + 2];
    ss_error err = leaf_text(n, name, text, sizeof text);
    if (!err && !ss_id_part_valid(text, strlen(text), SS_ID_PART_MAX))
        err = bad("%s: %s '%.60s' is not an X-Road identifier part", what, name, text);
    if (!err)
        memcpy(out, text, strlen(text) + 1);
    *at = n->next;
    return err;
}

/* An identifier element's objectType attribute ("" when absent). */
static void object_type_of(const xmlNode *n, char out[32])
{
    xmlChar *type = xmlGetNsProp(n, (const xmlChar *)"objectType", (const xmlChar *)SS_SOAP_NS_ID);
    snprintf(out, 32, "%s", type ? (const char *)type : "");
    xmlFree(type);
}

/* No element or text after an identifier's last part. */
static ss_error identifier_end(const xmlNode *at, const char *what)
{
    bool stray = false;
    if (element(at, &stray) || stray)
        return bad("%s: an element or text after its last part", what);
    return SS_OK;
}

/* The parts that name a member, in the schema's order: xRoadInstance, memberClass, memberCode. */
static ss_error member_parts(const xmlNode **at, const char *what, struct ss_client_id *c)
{
    ss_error err;
    if ((err = id_part(at, "xRoadInstance", false, what, c->instance)) ||
        (err = id_part(at, "memberClass", false, what, c->member_class)) ||
        (err = id_part(at, "memberCode", false, what, c->member_code)))
        return err;
    return SS_OK;
}

/* client (MEMBER or SUBSYSTEM) or service (SERVICE) with the parts in the schema's order. */
static ss_error identifier(const xmlNode *n, bool service, struct ss_client_id *id,
                           struct ss_service_id *sid)
{
    const char *what = service ? "service" : "client";
    char object_type[32];
    object_type_of(n, object_type);
    if (service ? strcmp(object_type, "SERVICE") != 0
                : strcmp(object_type, "MEMBER") != 0 && strcmp(object_type, "SUBSYSTEM") != 0)
        return bad("%s: objectType must be %s, not '%.32s'", what,
                   service ? "SERVICE" : "MEMBER or SUBSYSTEM", object_type);
    struct ss_client_id *c = service ? &sid->provider : id;
    const xmlNode *at = n->children;
    ss_error err;
    if ((err = member_parts(&at, what, c)) ||
        (err = id_part(&at, "subsystemCode", true, what, c->subsystem)))
        return err;
    if (service && ((err = id_part(&at, "serviceCode", false, what, sid->service_code)) ||
                    (err = id_part(&at, "serviceVersion", true, what, sid->service_version))))
        return err;
    if ((err = identifier_end(at, what)))
        return err;
    if (!service && (strcmp(object_type, "SUBSYSTEM") == 0) != (c->subsystem[0] != '\0'))
        return bad("client: objectType %s %s a subsystemCode", object_type,
                   c->subsystem[0] ? "does not allow" : "needs");
    return SS_OK;
}

/* securityServer (SERVER), of the security server targeting extension (PR-TARGETSS). */
static ss_error server_identifier(const xmlNode *n, struct ss_server_id *id)
{
    const char *what = "securityServer";
    char object_type[32];
    object_type_of(n, object_type);
    if (strcmp(object_type, "SERVER") != 0)
        return bad("%s: objectType must be SERVER, not '%.32s'", what, object_type);
    const xmlNode *at = n->children;
    struct ss_client_id *o = &id->owner;
    o->subsystem[0] = '\0';
    ss_error err;
    if ((err = member_parts(&at, what, o)) ||
        (err = id_part(&at, "serverCode", false, what, id->code)))
        return err;
    return identifier_end(at, what);
}

/* One header field of ours or X-Road's, each at most once. */
static ss_error header_field(const xmlNode *n, struct ss_soap_message *m, unsigned *seen)
{
    static const char *const names[] = {"client",      "service",       "id",
                                        "userId",      "issue",         "protocolVersion",
                                        "requestHash", "securityServer"};
    if (n->ns && is(n->ns->href, SS_SOAP_NS_XROAD)) {
        size_t k = 0;
        while (k < sizeof names / sizeof names[0] && !is(n->name, names[k]))
            k++;
        if (k == sizeof names / sizeof names[0]) {
            if (is(n->name, "centralService"))
                return bad("centralService is not supported: name the service");
            /* a field protocol 4.0 does not define (a later minor version's, an extension's):
             * not acted on, and passed as it is, signed with the message (X-Road ignores
             * them too) */
            return SS_OK;
        }
        if (*seen & (1u << k))
            return bad("the header field %s appears twice", names[k]);
        *seen |= 1u << k;
        switch (k) {
        case 0:
            m->has_client = true;
            return identifier(n, false, &m->client, NULL);
        case 1:
            m->has_service = true;
            return identifier(n, true, NULL, &m->service);
        case 2:
            return leaf_text(n, "id", m->id, sizeof m->id);
        case 3:
            m->has_user_id = true;
            return text_digest(n, "userId", m->user_id_sha256);
        case 4:
            m->has_issue = true;
            return text_digest(n, "issue", m->issue_sha256);
        case 5:
            return leaf_text(n, "protocolVersion", m->protocol_version, sizeof m->protocol_version);
        case 6:
            /* whatever it holds is no error: in a request it has no meaning (PR-MESS 2.2: a
             * request should not carry one) and is passed as it is; in an answer a service's is
             * ignored and replaced, and a peer's is compared with the request's hash, which an
             * empty one never matches */
            hash_text(n, m->request_hash, sizeof m->request_hash);
            return SS_OK;
        default:
            m->has_security_server = true;
            return server_identifier(n, &m->security_server);
        }
    }
    if (in(n, SS_SOAP_NS_REPR, "representedParty")) {
        if (m->has_represented_party)
            return bad("the header field representedParty appears twice");
        m->has_represented_party = true;
        bool stray = false;
        const xmlNode *c = element(n->children, &stray);
        if (c && in(c, SS_SOAP_NS_REPR, "partyClass")) {
            ss_error err = leaf_text(c, "partyClass", m->party_class, sizeof m->party_class);
            if (err)
                return err;
            c = element(c->next, &stray);
        }
        if (!c || !in(c, SS_SOAP_NS_REPR, "partyCode"))
            return bad("representedParty needs a partyCode");
        ss_error err = leaf_text(c, "partyCode", m->party_code, sizeof m->party_code);
        if (!err && (element(c->next, &stray) || stray))
            err = bad("representedParty: an element or text after partyCode");
        return err;
    }
    if (n->ns && is(n->ns->href, SS_SOAP_NS_SECSRV)) {
        if (is(n->name, "purpose") || is(n->name, "subject")) {
            bool purpose = is(n->name, "purpose");
            if (purpose ? m->has_purpose : m->has_subject)
                return bad("the header field %s appears twice", n->name);
            *(purpose ? &m->has_purpose : &m->has_subject) = true;
            return purpose ? leaf_text(n, "purpose", m->purpose, sizeof m->purpose)
                           : leaf_text(n, "subject", m->subject, sizeof m->subject);
        }
        return bad("the header field %.60s is not one of secsrv's", n->name);
    }
    return SS_OK; /* another party's header: passed on as it is */
}

/*
 * An element after the Body, and what it holds (top: the element itself): qualified, of
 * no namespace whose fields secsrv reads (a service that looks for //ss:subject or
 * //xrd:client would find one there that the policy and the log never saw), and not named
 * as a Header or Body of any SOAP version.
 */
static ss_error after_body(const xmlNode *t, bool top)
{
    static const char *const read_here[] = {SS_SOAP_NS_ENV, SS_SOAP_NS_XROAD, SS_SOAP_NS_ID,
                                            SS_SOAP_NS_REPR, SS_SOAP_NS_SECSRV};
    if (top && !t->ns)
        return bad("an element after the Body that is not namespace-qualified (line %ld)",
                   xmlGetLineNo(t));
    for (size_t i = 0; t->ns && i < sizeof read_here / sizeof read_here[0]; i++)
        if (is(t->ns->href, read_here[i]))
            return bad("an element of %s after the Body (line %ld)", read_here[i], xmlGetLineNo(t));
    if (top && (is(t->name, "Header") || is(t->name, "Body")))
        return bad("an element named %s after the Body (line %ld)", (const char *)t->name,
                   xmlGetLineNo(t));
    for (const xmlNode *c = t->children; c; c = c->next) {
        ss_error err = c->type == XML_ELEMENT_NODE ? after_body(c, false) : SS_OK;
        if (err)
            return err;
    }
    return SS_OK;
}

static ss_error read_envelope(xmlDocPtr doc, bool response, struct ss_soap_message *m)
{
    const xmlNode *env = xmlDocGetRootElement(doc);
    if (!env || !in(env, SS_SOAP_NS_ENV, "Envelope"))
        return bad("not a SOAP 1.1 envelope (root element Envelope in " SS_SOAP_NS_ENV ")");
    bool stray = false;
    const xmlNode *n = element(env->children, &stray);
    unsigned seen = 0;
    if (n && in(n, SS_SOAP_NS_ENV, "Header")) {
        for (const xmlNode *f = element(n->children, &stray); f; f = element(f->next, &stray)) {
            ss_error err = header_field(f, m, &seen);
            if (err)
                return err;
        }
        n = element(n->next, &stray);
    }
    if (!n || !in(n, SS_SOAP_NS_ENV, "Body"))
        return bad("the envelope has no Body after its Header");
    const xmlNode *body = n;
    /* after the Body, SOAP 1.1 section 4 allows namespace-qualified elements of other
     * namespaces than its own; they pass as they are, signed with the message */
    for (const xmlNode *t = element(body->next, &stray); t; t = element(t->next, &stray)) {
        ss_error err = after_body(t, true);
        if (err)
            return err;
    }
    if (stray)
        return bad("text outside the Header's and the Body's elements");
    const xmlNode *first = element(body->children, &stray);
    if (!first || stray)
        return bad("the Body must hold one element (document/literal wrapped)");
    snprintf(m->body_name, sizeof m->body_name, "%s", (const char *)first->name);
    snprintf(m->body_ns, sizeof m->body_ns, "%s", first->ns ? (const char *)first->ns->href : "");
    if (in(first, SS_SOAP_NS_ENV, "Fault")) {
        if (!response)
            return bad("a request's Body cannot be a Fault");
        m->fault = true;
        for (const xmlNode *f = element(first->children, &stray); f; f = element(f->next, &stray)) {
            if (is(f->name, "faultcode"))
                (void)leaf_text(f, "faultcode", m->fault_code, sizeof m->fault_code);
            else if (is(f->name, "faultstring"))
                (void)leaf_text(f, "faultstring", m->fault_string, sizeof m->fault_string);
        }
        return SS_OK;
    }
    if (element(first->next, &stray) || stray)
        return bad("the Body must hold one element and nothing else (document/literal wrapped)");
    if (response)
        return SS_OK;
    if (in(first, SS_SOAP_NS_XROAD, "getWsdl")) {
        /* the metaservice's argument: serviceCode, then an optional serviceVersion */
        const xmlNode *c = element(first->children, &stray);
        ss_error err = c && in(c, SS_SOAP_NS_XROAD, "serviceCode")
                           ? leaf_text(c, "serviceCode", m->wsdl_code, sizeof m->wsdl_code)
                           : bad("getWsdl needs a serviceCode");
        if (!err && (c = element(c->next, &stray)) && in(c, SS_SOAP_NS_XROAD, "serviceVersion")) {
            err = leaf_text(c, "serviceVersion", m->wsdl_version, sizeof m->wsdl_version);
            c = element(c->next, &stray);
        }
        if (!err && (c || stray))
            err = bad("getWsdl holds serviceCode and serviceVersion only");
        if (err)
            return err;
    }
    if (!m->has_client)
        return bad("the header field client is missing");
    if (!m->has_service)
        return bad("the header field service is missing");
    if (!m->id[0])
        return bad("the header field id is missing");
    if (!m->protocol_version[0])
        return bad("the header field protocolVersion is missing");
    /* "any protocols with the same major version number are compatible" (PR-MESS 2.2) */
    const char *minor = m->protocol_version + 2;
    if (strncmp(m->protocol_version, "4.", 2) != 0 ||
        !(strcmp(minor, "x") == 0 || (minor[0] && strspn(minor, "0123456789") == strlen(minor))))
        return bad("protocolVersion must be 4.x (X-Road message protocol 4), not '%.16s'",
                   m->protocol_version);
    if (strcmp(m->body_name, m->service.service_code) != 0)
        return bad("the Body's element %.60s is not named as the service code %.60s", m->body_name,
                   m->service.service_code);
    if (m->has_subject && !ss_subject_valid(m->subject))
        return bad("subject must be 1 to %d printable ASCII characters without spaces",
                   SS_SUBJECT_MAX);
    return SS_OK;
}

/* ---- the schemas of schemas/, compiled in ---- */

extern const unsigned char ss_schema_soap_envelope_xsd[], ss_schema_xroad_xsd[],
    ss_schema_identifiers_xsd[], ss_schema_representation_xsd[], ss_schema_secsrv_soap_xsd[];
extern const size_t ss_schema_soap_envelope_xsd_len, ss_schema_xroad_xsd_len,
    ss_schema_identifiers_xsd_len, ss_schema_representation_xsd_len, ss_schema_secsrv_soap_xsd_len;

static const struct {
    const char *name;
    const unsigned char *xsd;
    const size_t *len;
} schema_files[] = {
    {"xroad.xsd", ss_schema_xroad_xsd, &ss_schema_xroad_xsd_len},
    {"identifiers.xsd", ss_schema_identifiers_xsd, &ss_schema_identifiers_xsd_len},
    {"representation.xsd", ss_schema_representation_xsd, &ss_schema_representation_xsd_len},
    {"secsrv-soap.xsd", ss_schema_secsrv_soap_xsd, &ss_schema_secsrv_soap_xsd_len},
};

static pthread_once_t schema_once = PTHREAD_ONCE_INIT;
static xmlSchemaPtr schema;
static char schema_problem[256];
static xmlExternalEntityLoader default_loader;
static _Thread_local bool compiling;

/* While the schemas compile, their imports are served from memory, and nothing else is. */
static xmlParserInputPtr schema_loader(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
    if (!compiling)
        return default_loader ? default_loader(url, id, ctxt) : NULL;
    const char *base = url ? strrchr(url, '/') : NULL;
    base = base ? base + 1 : url;
    for (size_t i = 0; base && i < sizeof schema_files / sizeof schema_files[0]; i++) {
        if (strcmp(base, schema_files[i].name) != 0)
            continue;
        xmlParserInputBufferPtr buf = xmlParserInputBufferCreateMem(
            (const char *)schema_files[i].xsd, (int)*schema_files[i].len, XML_CHAR_ENCODING_UTF8);
        return buf ? xmlNewIOInputStream(ctxt, buf, XML_CHAR_ENCODING_UTF8) : NULL;
    }
    return NULL;
}

static void schema_error(void *ctx, xmlErrorPtr e)
{
    char *out = ctx;
    if (!out[0] && e && e->message)
        snprintf(out, 200, "line %d: %s", e->line, e->message);
}

static void schema_compile(void)
{
    default_loader = xmlGetExternalEntityLoader();
    xmlSetExternalEntityLoader(schema_loader);
    compiling = true;
    xmlSchemaParserCtxtPtr p = xmlSchemaNewMemParserCtxt((const char *)ss_schema_soap_envelope_xsd,
                                                         (int)ss_schema_soap_envelope_xsd_len);
    if (p) {
        xmlSchemaSetParserStructuredErrors(p, schema_error, schema_problem);
        schema = xmlSchemaParse(p);
        xmlSchemaFreeParserCtxt(p);
    }
    compiling = false;
    if (!schema && !schema_problem[0])
        snprintf(schema_problem, sizeof schema_problem, "out of memory");
}

ss_error ss_soap_schema_init(void)
{
    (void)pthread_once(&schema_once, schema_compile);
    return schema ? SS_OK
                  : ss_errf(SS_ERR_INTERNAL, "the SOAP schemas do not compile: %s", schema_problem);
}

/* A URI reference v[0..n) as an attribute holds it: no blanks or control characters, at most
 * 1024 bytes. */
static bool uri_text(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] <= 0x20 || v[i] == 0x7f)
            return false;
    return n <= 1024;
}

#define SOAP_ACTOR_NEXT "http://schemas.xmlsoap.org/soap/actor/next"

/* Whether header entry n is one the servers read (X-Road's, the represented party's, ours). */
static bool read_here(const xmlNode *n)
{
    const char *ns = n->ns ? (const char *)n->ns->href : "";
    return strcmp(ns, SS_SOAP_NS_XROAD) == 0 || strcmp(ns, SS_SOAP_NS_REPR) == 0 ||
           strcmp(ns, SS_SOAP_NS_SECSRV) == 0;
}

/*
 * SOAP 1.1's own attributes, where section 4 puts them: encodingStyle on
 * any element (a list of URIs, or "" for none), mustUnderstand ("0" or
 * "1") and actor (a URI; on a field the servers read, only "next") on a
 * header entry. Each is checked here and
 * taken out of the parsed tree before the schemas see it, since the
 * header fields' schemas (X-Road's Annex B) know no attributes of SOAP's.
 * The message itself is not changed: the service gets it as sent, and is
 * the SOAP node for which mustUnderstand and actor are meant (the servers
 * carry header entries they do not read on to it). The Body's entries are
 * the service's and not looked into.
 */
static ss_error soap_attributes(xmlNodePtr n, int depth)
{
    for (; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        bool entry = depth == 2;
        for (xmlAttrPtr a = n->properties, next; a; a = next) {
            next = a->next;
            if (!a->ns || !is(a->ns->href, SS_SOAP_NS_ENV))
                continue;
            xmlChar *value = xmlNodeGetContent((xmlNodePtr)a);
            const char *v = value ? (const char *)value : "";
            const char *name = (const char *)a->name, *problem = NULL;
            if (strcmp(name, "encodingStyle") == 0) {
                for (const char *p = v; *p && !problem;) {
                    size_t w = strcspn(p, " \t\r\n");
                    if (!uri_text(p, w))
                        problem = "a list of URIs";
                    p += w;
                    p += strspn(p, " \t\r\n");
                }
            } else if (entry && strcmp(name, "mustUnderstand") == 0) {
                if (strcmp(v, "0") != 0 && strcmp(v, "1") != 0)
                    problem = "0 or 1";
            } else if (entry && strcmp(name, "actor") == 0) {
                if (!v[0] || !uri_text(v, strlen(v)))
                    problem = "a URI";
                else if (read_here(n) && strcmp(v, SOAP_ACTOR_NEXT) != 0)
                    problem = "none or " SOAP_ACTOR_NEXT " on a field the servers read (one "
                              "meant for another SOAP node is not the service's to act on)";
            } else {
                xmlFree(value);
                continue; /* for the schemas to judge */
            }
            xmlFree(value);
            if (problem)
                return bad("the SOAP attribute %s of %.64s (line %ld) must be %s", name,
                           (const char *)n->name, xmlGetLineNo(n), problem);
            xmlRemoveProp(a);
        }
        if (depth == 1 && !in(n, SS_SOAP_NS_ENV, "Header"))
            continue; /* the Body's and what follows it are the service's */
        ss_error err = soap_attributes(n->children, depth + 1);
        if (err)
            return err;
    }
    return SS_OK;
}

/* The document against soap-envelope.xsd and the header fields' schemas. */
static ss_error schema_valid(xmlDocPtr doc)
{
    ss_error err = ss_soap_schema_init();
    if (err)
        return err;
    xmlSchemaValidCtxtPtr v = xmlSchemaNewValidCtxt(schema);
    if (!v)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    char why[200] = "";
    xmlSchemaSetValidStructuredErrors(v, schema_error, why);
    int rc = xmlSchemaValidateDoc(v, doc);
    xmlSchemaFreeValidCtxt(v);
    if (rc == 0)
        return SS_OK;
    size_t n = strlen(why);
    while (n > 0 && (why[n - 1] == '\n' || why[n - 1] == ' '))
        why[--n] = '\0';
    return rc < 0 ? ss_errf(SS_ERR_INTERNAL, "SOAP schema validation failed internally")
                  : bad("the message does not match the SOAP schemas (%s)", why[0] ? why : "?");
}

/*
 * The character sets a message may come in: UTF-8, and single-byte sets that keep ASCII's
 * bytes for ASCII's characters and give every other byte one character of its own (US-ASCII,
 * ISO 8859, the Windows code pages 1250 to 1254, 1256 and 1257; not 1255 and 1258, whose
 * decoders join a letter and a combining mark into one character), so that the markup is the
 * same bytes in all of them and an offset in the document read as UTF-8 is the input's
 * offset of the same character (where a requestHash is put in). Names as IANA registers them,
 * in any case, the number in plain digits; canon gets the name in lower case ("" when name is
 * none of these).
 */
static bool charset_known(const char *name, size_t len, char canon[16])
{
    canon[0] = '\0';
    char low[16];
    if (len == 0 || len >= sizeof low)
        return false;
    for (size_t i = 0; i < len; i++)
        low[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] - 'A' + 'a' : name[i]);
    low[len] = '\0';
    bool ok = strcmp(low, "utf-8") == 0 || strcmp(low, "us-ascii") == 0;
    const char *digits = NULL;
    size_t max_digits = 0;
    if (!ok && strncmp(low, "iso-8859-", 9) == 0)
        digits = low + 9, max_digits = 2;
    else if (!ok && strncmp(low, "windows-", 8) == 0)
        digits = low + 8, max_digits = 4;
    size_t nd = digits ? strspn(digits, "0123456789") : 0;
    if (digits && nd > 0 && nd <= max_digits && digits[nd] == '\0' && digits[0] != '0') {
        unsigned long n = strtoul(digits, NULL, 10);
        ok = max_digits == 2 ? n >= 1 && n <= 16 && n != 12
                             : n >= 1250 && n <= 1257 && n != 1255;
    }
    if (ok)
        memcpy(canon, low, len + 1);
    return ok;
}

static const char CHARSETS[] =
    "UTF-8, US-ASCII, ISO-8859-n or windows-1250 to -1254, -1256 and -1257";

/*
 * The character set of the document: the charset parameter of its Content-Type (param, NULL
 * or "" when there is none), else its XML declaration's encoding, else UTF-8; where both name
 * one, they must agree, or the service might read the document otherwise. A byte order mark
 * other than UTF-8's, a NUL byte (UTF-16 or UCS-4 without a mark) or a first character other
 * than '<' is refused: libxml2 would guess at those on its own (4C 6F A7 94 as EBCDIC).
 */
static ss_error document_charset(const uint8_t *xml, size_t len, const char *param,
                                 char charset[16])
{
    char given[16] = "";
    if (param && param[0] && !charset_known(param, strlen(param), given))
        return bad("charset %.32s is not accepted (%s are)", param, CHARSETS);
    if (len >= 2 && ((xml[0] == 0xfe && xml[1] == 0xff) || (xml[0] == 0xff && xml[1] == 0xfe)))
        return bad("UTF-16 is not accepted (a UTF-16 byte order mark; %s are)", CHARSETS);
    if (memchr(xml, 0, len))
        return bad("a NUL byte (UTF-16 and UCS-4 are not accepted; %s are)", CHARSETS);
    const uint8_t *p = xml;
    size_t n = len;
    bool bom = n >= 3 && p[0] == 0xef && p[1] == 0xbb && p[2] == 0xbf;
    if (bom) {
        p += 3;
        n -= 3;
    }
    size_t lead = 0;
    while (lead < n && (p[lead] == ' ' || p[lead] == '\t' || p[lead] == '\r' || p[lead] == '\n'))
        lead++;
    if (lead == n || p[lead] != '<')
        return bad("not well-formed XML (the document does not begin with '<')");
    char declared[16] = "";
    if (n >= 5 && memcmp(p, "<?xml", 5) == 0) {
        const uint8_t *end = memchr(p, '>', n);
        size_t decl = end ? (size_t)(end - p) : n;
        for (size_t i = 0; i + 8 <= decl; i++) {
            if (memcmp(p + i, "encoding", 8) != 0)
                continue;
            size_t k = i + 8;
            while (k < decl && (p[k] == ' ' || p[k] == '=' || p[k] == '"' || p[k] == '\''))
                k++;
            size_t e = k;
            while (e < decl && p[e] != '"' && p[e] != '\'' && p[e] != ' ' && p[e] != '?')
                e++;
            if (!charset_known((const char *)p + k, e - k, declared))
                return bad("encoding %.*s is not accepted (%s are)", (int)(e - k < 32 ? e - k : 32),
                           (const char *)p + k, CHARSETS);
            break;
        }
    }
    if (given[0] && declared[0] && strcmp(given, declared) != 0)
        return bad("the charset parameter (%s) and the XML declaration's encoding (%s) differ",
                   given, declared);
    snprintf(charset, 16, "%s", given[0] ? given : declared[0] ? declared : "utf-8");
    if (bom && strcmp(charset, "utf-8") != 0)
        return bad("a UTF-8 byte order mark in a document in %s", charset);
    return SS_OK;
}

/*
 * The document in UTF-8 (*out, *out_len; the caller frees it): each byte of a single-byte set
 * one character. A byte the set leaves undefined, or a decoder that joins or splits
 * characters, is refused: the offsets would not be the input's.
 */
static ss_error to_utf8(const uint8_t *xml, size_t len, const char *cs, uint8_t **out,
                        size_t *out_len)
{
    *out = NULL;
    iconv_t cd = iconv_open("UTF-8", cs);
    if (cd == (iconv_t)-1)
        return bad("charset %s cannot be read here", cs);
    size_t cap = len * 3 + 1; /* a character of these sets is at most 3 bytes in UTF-8 */
    uint8_t *u = malloc(cap);
    if (!u) {
        iconv_close(cd);
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    }
    char *in = (char *)(uintptr_t)xml, *o = (char *)u;
    size_t in_left = len, o_left = cap;
    size_t rc = iconv(cd, &in, &in_left, &o, &o_left);
    iconv_close(cd);
    size_t n = cap - o_left, chars = 0;
    for (size_t i = 0; i < n; i++)
        chars += (u[i] & 0xc0) != 0x80;
    if (rc == (size_t)-1 || in_left != 0 || chars != len) {
        free(u);
        return bad("not a document in %s (byte %zu has no character of its own there)", cs,
                   len - in_left);
    }
    *out = u;
    *out_len = n;
    return SS_OK;
}

/* The input's offset of the character at UTF-8 offset off (one byte a character there). */
static size_t input_offset(const uint8_t *u, size_t off)
{
    size_t chars = 0;
    for (size_t i = 0; i < off; i++)
        chars += (u[i] & 0xc0) != 0x80;
    return chars;
}

static ss_error parse_utf8(const uint8_t *xml, size_t len, bool response,
                           struct ss_soap_message *out);

ss_error ss_soap_parse(const uint8_t *xml, size_t len, const char *charset, bool response,
                       struct ss_soap_message *out)
{
    memset(out, 0, sizeof *out);
    if (len == 0 || len > (size_t)INT32_MAX / 3)
        return bad("an empty message, or one too large to read");
    char cs[16];
    ss_error err = document_charset(xml, len, charset, cs);
    if (err)
        return err;
    if (strcmp(cs, "utf-8") == 0)
        return parse_utf8(xml, len, response, out);
    /* read as UTF-8 (libxml2 itself would convert back what is left of the input for each
     * offset asked for), the offsets then taken back to the input's bytes */
    uint8_t *u = NULL;
    size_t u_len = 0;
    if ((err = to_utf8(xml, len, cs, &u, &u_len)))
        return err;
    err = parse_utf8(u, u_len, response, out);
    if (!err) {
        size_t *offsets[] = {&out->header_end, &out->env_start, &out->body_start,
                             &out->hash_start, &out->hash_end};
        for (size_t i = 0; i < sizeof offsets / sizeof offsets[0]; i++)
            *offsets[i] = input_offset(u, *offsets[i]);
    }
    free(u);
    return err;
}

/* The document in UTF-8 (its declaration's encoding aside: ss_soap_parse judged it). */
static ss_error parse_utf8(const uint8_t *xml, size_t len, bool response,
                           struct ss_soap_message *out)
{
    ss_error err = SS_OK;
    xmlParserCtxtPtr ctxt = xmlCreateMemoryParserCtxt((const char *)xml, (int)len);
    if (!ctxt)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    struct hooks h = {.xml = xml, .len = len};
    ctxt->_private = &h;
    h.start = ctxt->sax->startElementNs;
    h.end = ctxt->sax->endElementNs;
    ctxt->sax->startElementNs = on_start;
    ctxt->sax->endElementNs = on_end;
    ctxt->sax->internalSubset = on_doctype;
    ctxt->sax->externalSubset = on_doctype;
    ctxt->sax->processingInstruction = on_pi;
    ctxt->sax->serror = on_error;
    ctxt->sax->warning = NULL;
    ctxt->sax->error = NULL;
    ctxt->vctxt.error = NULL;
    ctxt->vctxt.warning = NULL;
    /* no network, no entity substitution, no DTD loading or attributes from one */
    (void)xmlCtxtUseOptions(ctxt, XML_PARSE_NONET | XML_PARSE_NOWARNING | XML_PARSE_NOERROR |
                                      XML_PARSE_IGNORE_ENC);
    (void)xmlParseDocument(ctxt);
    xmlDocPtr doc = ctxt->myDoc;
    /* namespace well-formed too: an attribute twice under two prefixes of one namespace, or an
     * undeclared prefix, is read one way here and may be read another way by the service */
    bool well_formed = ctxt->wellFormed && ctxt->nsWellFormed && !h.why[0];
    ctxt->myDoc = NULL;
    xmlFreeParserCtxt(ctxt);
    if (h.why[0])
        err = bad("%s", h.why);
    else if (!well_formed || !doc)
        err = bad("not well-formed XML (line %ld: %s)", h.error_line, h.error[0] ? h.error : "?");
    else if (h.hash_count > 1)
        err = bad("the header field requestHash appears twice");
    if (!err)
        err = read_envelope(doc, response, out);
    if (!err)
        err = soap_attributes(xmlDocGetRootElement(doc), 0);
    if (!err)
        err = schema_valid(doc);
    xmlFreeDoc(doc);
    if (!err) {
        out->header_end = h.header_end;
        out->env_start = h.env_start;
        out->body_start = h.body_start;
        out->hash_start = h.hash_count ? h.hash_start : 0;
        out->hash_end = h.hash_count ? h.hash_end : 0;
        if (out->hash_end < out->hash_start || out->hash_end > out->header_end)
            out->hash_start = out->hash_end = 0;
    }
    return err;
}

ss_error ss_soap_echoed(const struct ss_soap_message *req, const struct ss_soap_message *resp)
{
    const char *field = NULL;
    if (resp->has_client != req->has_client ||
        (req->has_client && !ss_client_id_equal(&req->client, &resp->client)))
        field = "client";
    else if (resp->has_service != req->has_service ||
             (req->has_service &&
              (!ss_client_id_equal(&req->service.provider, &resp->service.provider) ||
               strcmp(req->service.service_code, resp->service.service_code) != 0 ||
               strcmp(req->service.service_version, resp->service.service_version) != 0)))
        field = "service";
    else if (strcmp(req->id, resp->id) != 0)
        field = "id";
    else if (req->has_user_id != resp->has_user_id ||
             memcmp(req->user_id_sha256, resp->user_id_sha256, 32) != 0)
        field = "userId";
    else if (req->has_issue != resp->has_issue ||
             memcmp(req->issue_sha256, resp->issue_sha256, 32) != 0)
        field = "issue";
    else if (strcmp(req->protocol_version, resp->protocol_version) != 0)
        field = "protocolVersion";
    else if (req->has_represented_party != resp->has_represented_party ||
             strcmp(req->party_class, resp->party_class) != 0 ||
             strcmp(req->party_code, resp->party_code) != 0)
        field = "representedParty";
    else if (req->has_security_server != resp->has_security_server ||
             (req->has_security_server &&
              !ss_server_id_equal(&req->security_server, &resp->security_server)))
        field = "securityServer";
    return field ? bad("the service did not echo the request's header field %s", field) : SS_OK;
}

void ss_soap_request_hash(const uint8_t *request, size_t len, char out[128])
{
    uint8_t digest[crypto_hash_sha512_BYTES];
    crypto_hash_sha512(digest, request, len);
    sodium_bin2base64(out, 128, digest, sizeof digest, sodium_base64_VARIANT_ORIGINAL);
}

ss_error ss_soap_with_request_hash(const uint8_t *xml, size_t len, const struct ss_soap_message *m,
                                   const char *hash, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (!m->header_end || m->header_end >= len)
        return bad("the response has no Header to put the requestHash in");
    char field[256];
    int n = snprintf(field, sizeof field,
                     "<requestHash xmlns=\"" SS_SOAP_NS_XROAD "\" algorithmId=\"%s\">%s"
                     "</requestHash>",
                     SS_SOAP_HASH_ALGORITHM, hash);
    if (n < 0 || (size_t)n >= sizeof field)
        return ss_errf(SS_ERR_INTERNAL, "requestHash too long");
    size_t cut = m->hash_end > m->hash_start ? m->hash_end - m->hash_start : 0;
    uint8_t *p = malloc(len - cut + (size_t)n);
    if (!p)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    size_t w = 0;
    if (cut) { /* the service's own requestHash goes */
        memcpy(p, xml, m->hash_start);
        memcpy(p + m->hash_start, xml + m->hash_end, m->header_end - m->hash_end);
        w = m->header_end - cut;
    } else {
        memcpy(p, xml, m->header_end);
        w = m->header_end;
    }
    memcpy(p + w, field, (size_t)n);
    w += (size_t)n;
    memcpy(p + w, xml + m->header_end, len - m->header_end);
    w += len - m->header_end;
    *out = p;
    *out_len = w;
    return SS_OK;
}

ss_error ss_soap_fault(const char *code, const char *message, const char *detail_id, char **out,
                       size_t *out_len)
{
    struct ss_text t = {0};
    ss_text_puts(&t, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                     "<SOAP-ENV:Envelope xmlns:SOAP-ENV=\"" SS_SOAP_NS_ENV
                     "\"><SOAP-ENV:Body><SOAP-ENV:Fault>");
    ss_text_element(&t, "faultcode", code);
    ss_text_element(&t, "faultstring", message);
    ss_text_puts(&t, "<faultactor></faultactor><detail>");
    ss_text_element(&t, "faultDetail", detail_id ? detail_id : "");
    ss_text_puts(&t, "</detail></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>\n");
    return ss_text_take(&t, out, out_len);
}
