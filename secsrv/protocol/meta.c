/* The answers of the X-Road metaservices, see meta.h. */
#define _GNU_SOURCE /* memmem */
#include "meta.h"

#include "ss_id.h"
#include "ss_text.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_WSDL "http://schemas.xmlsoap.org/wsdl/"
#define NS_WSDL_SOAP "http://schemas.xmlsoap.org/wsdl/soap/"
#define NS_WSDL_SOAP12 "http://schemas.xmlsoap.org/wsdl/soap12/"
#define NS_WSDL_HTTP "http://schemas.xmlsoap.org/wsdl/http/"

enum ss_meta_kind ss_meta_kind(const char *code, bool soap)
{
    if (strcmp(code, "listMethods") == 0)
        return SS_META_LIST_METHODS;
    if (strcmp(code, "allowedMethods") == 0)
        return SS_META_ALLOWED_METHODS;
    if (soap && strcmp(code, "getWsdl") == 0)
        return SS_META_GET_WSDL;
    if (!soap && strcmp(code, "getOpenAPI") == 0)
        return SS_META_GET_OPENAPI;
    return SS_META_NONE;
}

/* <NAME>value</NAME> (an id: part), nothing for an empty value */
static void id_part(struct ss_text *t, const char *name, const char *value)
{
    if (value[0])
        ss_text_element(t, name, value);
}

static void client_parts(struct ss_text *t, const struct ss_client_id *c)
{
    id_part(t, "id:xRoadInstance", c->instance);
    id_part(t, "id:memberClass", c->member_class);
    id_part(t, "id:memberCode", c->member_code);
    id_part(t, "id:subsystemCode", c->subsystem);
}

/* "name":"value", with a comma before all but the first */
static void json_member(struct ss_text *t, bool *first, const char *name, const char *value)
{
    if (!value[0])
        return;
    ss_text_puts(t, *first ? "\"" : ",\"");
    *first = false;
    ss_text_puts(t, name);
    ss_text_puts(t, "\":\"");
    ss_text_json(t, value);
    ss_text_puts(t, "\"");
}

static void client_json(struct ss_text *t, const struct ss_client_id *c, const char *type,
                        bool *first)
{
    json_member(t, first, "object_type", type);
    json_member(t, first, "xroad_instance", c->instance);
    json_member(t, first, "member_class", c->member_class);
    json_member(t, first, "member_code", c->member_code);
    json_member(t, first, "subsystem_code", c->subsystem);
}

static void one_client(struct ss_text *t, bool json, bool *first, const struct ss_client_id *c,
                       const char *name)
{
    const char *type = c->subsystem[0] ? "SUBSYSTEM" : "MEMBER";
    if (json) {
        ss_text_puts(t, *first ? "{\"id\":{" : ",{\"id\":{");
        *first = false;
        bool in_id = true;
        client_json(t, c, type, &in_id);
        ss_text_puts(t, "},\"name\":\"");
        ss_text_json(t, name);
        ss_text_puts(t, "\"}");
        return;
    }
    ss_text_puts(t, "<xrd:member><xrd:id id:objectType=\"");
    ss_text_puts(t, type);
    ss_text_puts(t, "\">");
    client_parts(t, c);
    ss_text_puts(t, "</xrd:id>");
    ss_text_element(t, "xrd:name", name);
    ss_text_puts(t, "</xrd:member>");
}

ss_error ss_meta_clients(const struct ss_registry *reg, const char *instance, bool json, char **out,
                         size_t *len)
{
    struct ss_text t = {0};
    bool ours = !instance || !instance[0] || strcmp(instance, reg->instance) == 0;
    ss_text_puts(&t, json ? "{\"member\":["
                          : "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xrd:clientList "
                            "xmlns:xrd=\"" SS_SOAP_NS_XROAD "\" xmlns:id=\"" SS_SOAP_NS_ID "\">");
    bool first = true;
    for (size_t i = 0; ours && i < reg->n_members; i++) {
        const struct ss_reg_member *m = &reg->members[i];
        struct ss_client_id c = {0};
        snprintf(c.instance, sizeof c.instance, "%s", reg->instance);
        snprintf(c.member_class, sizeof c.member_class, "%s", m->member_class);
        snprintf(c.member_code, sizeof c.member_code, "%s", m->member_code);
        one_client(&t, json, &first, &c, m->name);
        for (size_t k = 0; k < m->n_subsystems; k++) {
            snprintf(c.subsystem, sizeof c.subsystem, "%s", m->subsystems[k]);
            one_client(&t, json, &first, &c, m->name);
        }
    }
    ss_text_puts(&t, json ? "]}\n" : "</xrd:clientList>\n");
    return ss_text_take(&t, out, len);
}

ss_error ss_meta_methods_xml(const char *element, const struct ss_meta_service *s, size_t n,
                             char **out, size_t *len)
{
    struct ss_text t = {0};
    ss_text_puts(&t, "<xrd:");
    ss_text_puts(&t, element);
    ss_text_puts(&t, " xmlns:xrd=\"" SS_SOAP_NS_XROAD "\" xmlns:id=\"" SS_SOAP_NS_ID "\">");
    for (size_t i = 0; i < n; i++) {
        ss_text_puts(&t, "<xrd:service id:objectType=\"SERVICE\">");
        client_parts(&t, &s[i].id.provider);
        id_part(&t, "id:serviceCode", s[i].id.service_code);
        id_part(&t, "id:serviceVersion", s[i].id.service_version);
        ss_text_puts(&t, "</xrd:service>");
    }
    ss_text_puts(&t, "</xrd:");
    ss_text_puts(&t, element);
    ss_text_puts(&t, ">");
    return ss_text_take(&t, out, len);
}

ss_error ss_meta_methods_json(const struct ss_meta_service *s, size_t n, char **out, size_t *len)
{
    struct ss_text t = {0};
    ss_text_puts(&t, "{\"service\":[");
    for (size_t i = 0; i < n; i++) {
        ss_text_puts(&t, i ? ",{" : "{");
        bool first = true;
        client_json(&t, &s[i].id.provider, "SERVICE", &first);
        json_member(&t, &first, "service_code", s[i].id.service_code);
        json_member(&t, &first, "service_version", s[i].id.service_version);
        json_member(&t, &first, "service_type", s[i].type);
        ss_text_puts(&t, ",\"endpoint_list\":[");
        for (size_t k = 0; k < s[i].n_endpoints; k++) {
            bool efirst = true;
            ss_text_puts(&t, k ? ",{" : "{");
            json_member(&t, &efirst, "method", s[i].endpoints[k].method);
            json_member(&t, &efirst, "path", s[i].endpoints[k].path);
            ss_text_puts(&t, "}");
        }
        ss_text_puts(&t, "]}");
    }
    ss_text_puts(&t, "]}\n");
    return ss_text_take(&t, out, len);
}

/* The qualified name of the start tag at xml[at] ("<name ..."), or 0 bytes. */
static size_t qname_at(const uint8_t *xml, size_t len, size_t at, const char **name)
{
    *name = (const char *)xml + at + 1;
    size_t n = 0;
    while (at + 1 + n < len && !strchr(" \t\r\n/>", xml[at + 1 + n]))
        n++;
    return at < len && xml[at] == '<' ? n : 0;
}

ss_error ss_meta_soap_answer(const uint8_t *xml, size_t len, const struct ss_soap_message *m,
                             const char *content, char **out, size_t *out_len)
{
    const char *env, *body;
    size_t env_n = qname_at(xml, len, m->env_start, &env);
    size_t body_n = qname_at(xml, len, m->body_start, &body);
    if (!env_n || !body_n || m->body_start >= len)
        return ss_errf(SS_ERR_INTERNAL, "the request's Envelope or Body tag was not found");
    const char *colon = memchr(body, ':', body_n);
    struct ss_text t = {0};
    ss_text_put(&t, (const char *)xml, m->body_start);
    ss_text_puts(&t, "<");
    ss_text_put(&t, body, body_n);
    /* the Body's namespace again: the request may have declared it on its own Body tag */
    if (colon) {
        ss_text_puts(&t, " xmlns:");
        ss_text_put(&t, body, (size_t)(colon - body));
    } else {
        ss_text_puts(&t, " xmlns");
    }
    ss_text_puts(&t, "=\"" SS_SOAP_NS_ENV "\">");
    ss_text_puts(&t, content);
    ss_text_puts(&t, "</");
    ss_text_put(&t, body, body_n);
    ss_text_puts(&t, "></");
    ss_text_put(&t, env, env_n);
    ss_text_puts(&t, ">\n");
    return ss_text_take(&t, out, out_len);
}

ss_error ss_meta_wsdl_answer(const uint8_t *xml, size_t len, const struct ss_soap_message *m,
                             const char *wsdl, size_t wsdl_len, char **out, size_t *out_len,
                             char **content_type)
{
    *out = *content_type = NULL;
    struct ss_text c = {0};
    ss_text_puts(&c, "<xrd:getWsdlResponse xmlns:xrd=\"" SS_SOAP_NS_XROAD "\">");
    ss_text_element(&c, "xrd:serviceCode", m->wsdl_code);
    if (m->wsdl_version[0])
        ss_text_element(&c, "xrd:serviceVersion", m->wsdl_version);
    ss_text_puts(&c, "</xrd:getWsdlResponse>");
    char *content = NULL, *soap = NULL;
    size_t content_len = 0, soap_len = 0;
    ss_error err = ss_text_take(&c, &content, &content_len);
    if (!err)
        err = ss_meta_soap_answer(xml, len, m, content, &soap, &soap_len);
    free(content);
    if (err)
        return err;
    /* a boundary that occurs in neither part */
    char boundary[48];
    do {
        uint8_t r[12];
        randombytes_buf(r, sizeof r);
        memcpy(boundary, "secsrv-wsdl-", 12);
        sodium_bin2hex(boundary + 12, sizeof boundary - 12, r, sizeof r);
    } while (strstr(soap, boundary) || (wsdl_len && memmem(wsdl, wsdl_len, boundary, 36)));
    struct ss_text t = {0};
    ss_text_puts(&t, "--");
    ss_text_puts(&t, boundary);
    ss_text_puts(&t, "\r\nContent-Type: text/xml; charset=UTF-8\r\nContent-Transfer-Encoding: "
                     "8bit\r\nContent-ID: <rootpart>\r\n\r\n");
    ss_text_put(&t, soap, soap_len);
    ss_text_puts(&t, "\r\n--");
    ss_text_puts(&t, boundary);
    ss_text_puts(&t, "\r\nContent-Type: text/xml; charset=UTF-8\r\nContent-Transfer-Encoding: "
                     "8bit\r\nContent-ID: <wsdl>\r\n\r\n");
    ss_text_put(&t, wsdl, wsdl_len);
    ss_text_puts(&t, "\r\n--");
    ss_text_puts(&t, boundary);
    ss_text_puts(&t, "--\r\n");
    free(soap);
    struct ss_text ct = {0};
    ss_text_puts(&ct, "multipart/related; type=\"text/xml\"; start=\"<rootpart>\"; boundary=\"");
    ss_text_puts(&ct, boundary);
    ss_text_puts(&ct, "\"");
    size_t ct_len;
    ss_error body_err = ss_text_take(&t, out, out_len);
    ss_error ct_err = ss_text_take(&ct, content_type, &ct_len);
    if (body_err || ct_err) {
        free(*out);
        free(*content_type);
        *out = *content_type = NULL;
        err = body_err ? body_err : ct_err;
    }
    return err;
}

static bool is_address(const xmlNode *n)
{
    if (n->type != XML_ELEMENT_NODE || !n->ns || strcmp((const char *)n->name, "address") != 0)
        return false;
    const char *ns = (const char *)n->ns->href;
    return strcmp(ns, NS_WSDL_SOAP) == 0 || strcmp(ns, NS_WSDL_SOAP12) == 0 ||
           strcmp(ns, NS_WSDL_HTTP) == 0;
}

static void hide(xmlNode *n)
{
    for (; n; n = n->next) {
        if (is_address(n) && xmlHasProp(n, (const xmlChar *)"location"))
            (void)xmlSetProp(n, (const xmlChar *)"location",
                             (const xmlChar *)SS_META_HIDDEN_ENDPOINT);
        hide(n->children);
    }
}

/* The first xrd:version under a wsdl:operation named code, below n. */
static const xmlNode *operation_version(const xmlNode *n, const char *code)
{
    for (; n; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        if (n->ns && strcmp((const char *)n->ns->href, NS_WSDL) == 0 &&
            strcmp((const char *)n->name, "operation") == 0) {
            xmlChar *name = xmlGetProp(n, (const xmlChar *)"name");
            bool named = name && strcmp((const char *)name, code) == 0;
            xmlFree(name);
            for (const xmlNode *c = named ? n->children : NULL; c; c = c->next)
                if (c->type == XML_ELEMENT_NODE && c->ns &&
                    strcmp((const char *)c->ns->href, SS_SOAP_NS_XROAD) == 0 &&
                    strcmp((const char *)c->name, "version") == 0)
                    return c;
            continue;
        }
        const xmlNode *found = operation_version(n->children, code);
        if (found)
            return found;
    }
    return NULL;
}

ss_error ss_meta_wsdl_version(const char *name, const char *wsdl, size_t len, const char *code,
                              char *version, size_t size)
{
    version[0] = '\0';
    if (len > (size_t)INT32_MAX)
        return ss_errf(SS_ERR_TOO_LARGE, "%s: too large", name);
    xmlDocPtr doc = xmlReadMemory(wsdl, (int)len, name, NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return ss_errf(SS_ERR_UPSTREAM, "%s: not well-formed XML", name);
    const xmlNode *v = operation_version(xmlDocGetRootElement(doc), code);
    xmlChar *text = v ? xmlNodeGetContent(v) : NULL;
    ss_error err = SS_OK;
    if (text) {
        const char *p = (const char *)text;
        size_t n = strlen(p);
        while (n && strchr(" \t\r\n", p[n - 1]))
            n--;
        while (n && strchr(" \t\r\n", *p)) {
            p++;
            n--;
        }
        if (!ss_id_part_valid(p, n, size - 1))
            err = ss_errf(SS_ERR_CONFIG, "%s: the version of operation %s is not an X-Road "
                                         "identifier part", name, code);
        else
            snprintf(version, size, "%.*s", (int)n, p);
    }
    xmlFree(text);
    xmlFreeDoc(doc);
    return err;
}

ss_error ss_meta_wsdl_hide(const char *name, const uint8_t *wsdl, size_t len, char **out,
                           size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (len > (size_t)INT32_MAX)
        return ss_errf(SS_ERR_TOO_LARGE, "%s: too large", name);
    xmlDocPtr doc = xmlReadMemory((const char *)wsdl, (int)len, name, NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc)
        return ss_errf(SS_ERR_UPSTREAM, "%s: not well-formed XML", name);
    if (doc->intSubset) {
        xmlFreeDoc(doc);
        return ss_errf(SS_ERR_UPSTREAM, "%s: a document type declaration", name);
    }
    hide(xmlDocGetRootElement(doc));
    xmlChar *text = NULL;
    int n = 0;
    xmlDocDumpMemoryEnc(doc, &text, &n, "UTF-8");
    xmlFreeDoc(doc);
    if (!text)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    *out = malloc((size_t)n + 1);
    if (*out) {
        memcpy(*out, text, (size_t)n + 1);
        *out_len = (size_t)n;
    }
    xmlFree(text);
    return *out ? SS_OK : ss_errf(SS_ERR_NOMEM, "out of memory");
}
