/*
 * ts_soap.c — soap mode of ss-testserver: the vehicle register of the
 * Landeshauptstadt Schwerin (Kfz-Zulassungsbehörde) as a SOAP service of
 * the X-Road message protocol 4.0, with fictitious vehicles and holders.
 *
 *   GET  ...?wsdl   the service description (the file given with --data)
 *   POST ...        a halterauskunft request (text/xml, or multipart/related
 *                   with attachments, SOAP part first), answered with a
 *                   halterauskunftResponse that copies the request's Header
 *                   byte for byte, as the protocol requires. A multipart
 *                   request is answered as multipart: the answer's SOAP part,
 *                   then the request's attachments as they came.
 *
 * Some licence plates (kennzeichen) stand for a misbehaving service, for the
 * integration tests:
 *
 *   SN-NOECHO 1   an answer whose Header does not copy the request's
 *   SN-NOXML 1    an answer that is not XML (text/plain)
 *   SN-FAULT 1    a SOAP Fault of the service's own (HTTP 500)
 *
 * A text/xml request in another character set than UTF-8 (its charset parameter) is answered
 * in that character set.
 *
 * An unknown plate is answered with the protocol's non-technical fault
 * element inside the response. The service is written apart from secsrv's
 * own parsers (it reads the envelope with libxml2 and the multipart body
 * with a few lines of its own), so the two do not share a mistake.
 */
#define _GNU_SOURCE /* memmem, strcasestr */
#include "testserver.h"

#include <iconv.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define NS_ENV "http://schemas.xmlsoap.org/soap/envelope/"
#define NS_KFZ "urn:de-nord:mv:kfz-zulassung:halterauskunft:1"
#define TS_SOAP_ANSWER_MAX (256 * 1024)

struct ts_wsdl {
    char *text;
    size_t len;
};

struct ts_wsdl *ts_wsdl_load(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        return NULL;
    }
    struct ts_wsdl *w = calloc(1, sizeof *w);
    struct ts_buf buf;
    ts_buf_init(&buf, 1024 * 1024);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        ts_buf_append(&buf, chunk, n);
    fclose(f);
    if (!w || buf.failed || buf.len == 0) {
        fprintf(stderr, "%s: empty, too large or out of memory\n", path);
        ts_buf_cleanup(&buf);
        free(w);
        return NULL;
    }
    w->text = ts_buf_take(&buf, &w->len);
    return w;
}

void ts_wsdl_free(struct ts_wsdl *w)
{
    if (w) {
        free(w->text);
        free(w);
    }
}

static const struct vehicle {
    const char *plate, *make, *model, *fuel, *first_registration, *holder, *street, *city;
} vehicles[] = {
    {"SN-AB 123", "Volkswagen", "Golf 1.5 TSI", "Benzin", "2019-03-14", "Karin Wendt",
     "Mecklenburgstraße 12", "19053 Schwerin"},
    {"SN-KL 4711", "Opel", "Corsa F", "Benzin", "2016-07-01", "Jörg Petersen", "Am Packhof 3",
     "19053 Schwerin"},
    {"SN-E 2024", "Renault", "Zoe R135", "Elektro", "2021-11-30", "Beispiel Carsharing GmbH",
     "Wittenburger Straße 118", "19059 Schwerin"},
    {"SN-HB 77", "Mercedes-Benz", "Sprinter 316 CDI", "Diesel", "2018-05-22",
     "Fiktiv Bau GmbH & Co. KG", "Ludwigsluster Chaussee 40", "19061 Schwerin"},
};

static void put_escaped(struct ts_buf *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<':
            ts_buf_puts(b, "&lt;");
            break;
        case '>':
            ts_buf_puts(b, "&gt;");
            break;
        case '&':
            ts_buf_puts(b, "&amp;");
            break;
        case '"':
            ts_buf_puts(b, "&quot;");
            break;
        default:
            ts_buf_append(b, s, 1);
        }
    }
}

static void element(struct ts_buf *b, const char *name, const char *value)
{
    ts_buf_puts(b, "<k:");
    ts_buf_puts(b, name);
    ts_buf_puts(b, ">");
    put_escaped(b, value);
    ts_buf_puts(b, "</k:");
    ts_buf_puts(b, name);
    ts_buf_puts(b, ">");
}

/* The response element for plate. */
static void answer_body(struct ts_buf *b, const char *plate)
{
    ts_buf_puts(b, "<k:halterauskunftResponse xmlns:k=\"" NS_KFZ "\">");
    element(b, "kennzeichen", plate);
    const struct vehicle *v = NULL;
    for (size_t i = 0; i < sizeof vehicles / sizeof vehicles[0]; i++)
        if (strcmp(vehicles[i].plate, plate) == 0)
            v = &vehicles[i];
    if (v) {
        ts_buf_puts(b, "<k:fahrzeug>");
        element(b, "hersteller", v->make);
        element(b, "typ", v->model);
        element(b, "kraftstoff", v->fuel);
        element(b, "erstzulassung", v->first_registration);
        ts_buf_puts(b, "</k:fahrzeug><k:halter>");
        element(b, "name", v->holder);
        element(b, "strasse", v->street);
        element(b, "ort", v->city);
        ts_buf_puts(b, "</k:halter>");
    } else {
        ts_buf_puts(b, "<k:fault>");
        element(b, "faultCode", "nicht_gefunden");
        element(b, "faultString", "Kein Fahrzeug mit diesem Kennzeichen zugelassen");
        ts_buf_puts(b, "</k:fault>");
    }
    ts_buf_puts(b, "</k:halterauskunftResponse>");
}

/* The charset parameter of a Content-Type, as written ("" when none). */
static void charset_of(const char *ct, char *out, size_t size)
{
    out[0] = '\0';
    const char *p = ct ? strcasestr(ct, "charset=") : NULL;
    if (!p)
        return;
    p += 8;
    if (*p == '"')
        p++;
    size_t n = strcspn(p, "\"; \t");
    snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), p);
}

/* The UTF-8 text of from[start..) turned into charset, in place; false if it cannot be. */
static bool convert_tail(struct ts_buf *b, size_t start, const char *charset)
{
    iconv_t cd = iconv_open(charset, "UTF-8");
    if (cd == (iconv_t)-1)
        return false;
    size_t in_left = b->len - start;
    char *copy = malloc(in_left + 1), *out = malloc(in_left * 4 + 16);
    bool ok = copy && out;
    if (ok) {
        memcpy(copy, b->data + start, in_left);
        char *in = copy, *o = out;
        size_t out_left = in_left * 4 + 16;
        ok = iconv(cd, &in, &in_left, &o, &out_left) != (size_t)-1 && in_left == 0;
        if (ok) {
            b->len = start;
            ts_buf_append(b, out, (size_t)(o - out));
            ok = !b->failed;
        }
    }
    free(copy);
    free(out);
    iconv_close(cd);
    return ok;
}

static enum MHD_Result queue_text(struct MHD_Connection *conn, struct ts_request *req,
                                  const char *method, unsigned status, const char *type,
                                  const char *text, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)(uintptr_t)text, MHD_RESPMEM_MUST_COPY);
    if (r && MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type) != MHD_YES) {
        MHD_destroy_response(r);
        r = NULL;
    }
    return ts_queue(conn, req, method, status, r);
}

static enum MHD_Result fault(struct MHD_Connection *conn, struct ts_request *req,
                             const char *method, const char *code, const char *text)
{
    struct ts_buf b;
    ts_buf_init(&b, 8192);
    ts_buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<SOAP-ENV:Envelope "
                    "xmlns:SOAP-ENV=\"" NS_ENV "\"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>");
    put_escaped(&b, code);
    ts_buf_puts(&b, "</faultcode><faultstring>");
    put_escaped(&b, text);
    ts_buf_puts(&b, "</faultstring></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>\n");
    enum MHD_Result r =
        b.failed ? MHD_NO
                 : queue_text(conn, req, method, 500, "text/xml; charset=utf-8", b.data, b.len);
    ts_buf_cleanup(&b);
    return r;
}

/* The boundary parameter of a multipart Content-Type (quoted or not). */
static bool boundary_of(const char *ct, char *out, size_t size)
{
    const char *p = strcasestr(ct, "boundary=");
    if (!p)
        return false;
    p += 9;
    size_t n = *p == '"' ? strcspn(++p, "\"") : strcspn(p, "; \t");
    if (n == 0 || n >= size)
        return false;
    memcpy(out, p, n);
    out[n] = '\0';
    return true;
}

/*
 * The first part of a multipart body: its content [*start, *end) and where
 * the delimiter after it begins (*end, at its line break). Lines end
 * with CRLF, or with a bare LF when the first delimiter's does (as many
 * services' parsers read them); *eol_out is the one it has.
 */
static bool first_part(const char *body, size_t len, const char *boundary, size_t *start,
                       size_t *end, char *part_type, size_t type_size, const char **eol_out)
{
    char delim[128];
    int dn = snprintf(delim, sizeof delim, "--%s", boundary);
    const char *p = memmem(body, len, delim, (size_t)dn);
    if (!p || (size_t)(p - body) + (size_t)dn + 1 > len)
        return false;
    const char *eol = p[dn] == '\n' ? "\n" : "\r\n";
    size_t el = strlen(eol);
    *eol_out = eol;
    if ((size_t)(p - body) + (size_t)dn + el > len || memcmp(p + dn, eol, el) != 0)
        return false;
    const char *headers = p + dn + el;
    char blank_line[5];
    snprintf(blank_line, sizeof blank_line, "%s%s", eol, eol);
    const char *blank = memmem(headers, len - (size_t)(headers - body), blank_line, 2 * el);
    if (!blank)
        return false;
    part_type[0] = '\0';
    for (const char *line = headers; line < blank;) {
        const char *le = memmem(line, (size_t)(blank + el - line), eol, el);
        if (le - line > 13 && strncasecmp(line, "Content-Type:", 13) == 0) {
            const char *v = line + 13;
            while (*v == ' ')
                v++;
            size_t n = 0;
            while (v + n < le && v[n] != ';' && v[n] != ' ')
                n++;
            snprintf(part_type, type_size, "%.*s", (int)n, v);
        }
        line = le + el;
    }
    *start = (size_t)(blank + 2 * el - body);
    dn = snprintf(delim, sizeof delim, "%s--%s", eol, boundary);
    const char *next = memmem(body + *start, len - *start, delim, (size_t)dn);
    if (!next)
        return false;
    *end = (size_t)(next - body);
    return true;
}

static const xmlNode *child(const xmlNode *n, const char *name)
{
    for (n = n ? n->children : NULL; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && (!name || strcmp((const char *)n->name, name) == 0))
            return n;
    return NULL;
}

enum MHD_Result ts_soap_answer(const struct ts_server *srv, struct MHD_Connection *conn,
                               struct ts_request *req, const char *method)
{
    if (strcmp(method, "GET") == 0 && strcmp(req->query, "wsdl") == 0)
        return queue_text(conn, req, method, 200, "text/xml; charset=utf-8", srv->wsdl->text,
                          srv->wsdl->len);
    if (strcmp(method, "POST") != 0)
        return fault(conn, req, method, "SOAP-ENV:Client", "POST a SOAP message, or GET ?wsdl");
    if (req->body.failed)
        return fault(conn, req, method, "SOAP-ENV:Client", "the message is too large");
    const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
    const char *body = req->body.data ? req->body.data : "";
    size_t len = req->body.len, start = 0, end = len;
    /* what arrived, for the tests: the body's digest, and whether an X-Road field came along */
    struct ts_sha256 h;
    uint8_t digest[32];
    ts_sha256_init(&h);
    ts_sha256_update(&h, body, len);
    ts_sha256_final(&h, digest);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", digest[i]);
    fprintf(stderr, "ss-testserver: soap request sha256 %s soapaction=%s x-road-fields=%s\n", hex,
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "SOAPAction") ? "yes" : "no",
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Road-Client") ||
                    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Road-Id")
                ? "yes"
                : "no");
    char boundary[128] = "", part_type[128] = "text/xml";
    const char *eol = "\r\n"; /* the answer's line break: the request's */
    bool multipart = ct && strncasecmp(ct, "multipart/related", 17) == 0;
    if (multipart &&
        (!boundary_of(ct, boundary, sizeof boundary) ||
         !first_part(body, len, boundary, &start, &end, part_type, sizeof part_type, &eol)))
        return fault(conn, req, method, "SOAP-ENV:Client", "malformed multipart message");
    xmlDocPtr doc = xmlReadMemory(body + start, (int)(end - start), "request.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    const xmlNode *env = doc ? xmlDocGetRootElement(doc) : NULL;
    const xmlNode *soap_body = NULL;
    for (const xmlNode *n = env ? env->children : NULL; n; n = n->next)
        if (n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, "Body") == 0)
            soap_body = n;
    const xmlNode *call = child(soap_body, NULL);
    const xmlNode *plate_node = child(call, "kennzeichen");
    if (!call || strcmp((const char *)call->name, "halterauskunft") != 0 || !plate_node) {
        xmlFreeDoc(doc);
        return fault(conn, req, method, "SOAP-ENV:Client",
                     "expected a halterauskunft request with a kennzeichen");
    }
    xmlChar *plate_text = xmlNodeGetContent(plate_node);
    char plate[64];
    snprintf(plate, sizeof plate, "%s", plate_text ? (const char *)plate_text : "");
    xmlFree(plate_text);
    char prefix[64] = "";
    if (soap_body->ns && soap_body->ns->prefix)
        snprintf(prefix, sizeof prefix, "%s:", (const char *)soap_body->ns->prefix);
    xmlFreeDoc(doc);

    if (strcmp(plate, "SN-NOXML 1") == 0) {
        static const char text[] = "Fahrzeugregister: Wartungsarbeiten\n";
        return queue_text(conn, req, method, 200, "text/plain; charset=utf-8", text,
                          sizeof text - 1);
    }
    if (strcmp(plate, "SN-FAULT 1") == 0)
        return fault(conn, req, method, "SOAP-ENV:Server",
                     "Fahrzeugregister vorübergehend nicht erreichbar");

    /* the request's bytes up to its Body, then the answer's Body */
    char tag[80];
    snprintf(tag, sizeof tag, "<%sBody", prefix);
    const char *at = memmem(body + start, end - start, tag, strlen(tag));
    if (!at)
        return fault(conn, req, method, "SOAP-ENV:Client", "no Body start tag");
    struct ts_buf out;
    ts_buf_init(&out, TS_SOAP_ANSWER_MAX);
    if (multipart) {
        ts_buf_puts(&out, "--");
        ts_buf_puts(&out, boundary);
        ts_buf_puts(&out, eol);
        ts_buf_puts(&out, "Content-Type: ");
        ts_buf_puts(&out, part_type);
        ts_buf_puts(&out, strcmp(part_type, "application/xop+xml") == 0
                              ? "; charset=UTF-8; type=\"text/xml\""
                              : "; charset=UTF-8");
        const char *fields[] = {"Content-Transfer-Encoding: 8bit", "Content-ID: <rootpart>", ""};
        for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
            ts_buf_puts(&out, eol);
            ts_buf_puts(&out, fields[i]);
        }
        ts_buf_puts(&out, eol);
    }
    if (strcmp(plate, "SN-NOECHO 1") == 0) {
        ts_buf_puts(&out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
        ts_buf_puts(&out, prefix);
        ts_buf_puts(&out, prefix[0] ? "Envelope xmlns:" : "Envelope xmlns");
        ts_buf_append(&out, prefix, prefix[0] ? strlen(prefix) - 1 : 0);
        ts_buf_puts(&out, "=\"" NS_ENV "\" xmlns:xrd=\"http://x-road.eu/xsd/xroad.xsd\"><");
        ts_buf_puts(&out, prefix);
        ts_buf_puts(&out, "Header><xrd:protocolVersion>4.0</xrd:protocolVersion></");
        ts_buf_puts(&out, prefix);
        ts_buf_puts(&out, "Header>");
    } else {
        ts_buf_append(&out, body + start, (size_t)(at - (body + start)));
    }
    size_t body_at = out.len;
    ts_buf_puts(&out, "<");
    ts_buf_puts(&out, prefix);
    ts_buf_puts(&out, "Body>");
    answer_body(&out, plate);
    ts_buf_puts(&out, "</");
    ts_buf_puts(&out, prefix);
    ts_buf_puts(&out, "Body></");
    ts_buf_puts(&out, prefix);
    ts_buf_puts(&out, "Envelope>\n");
    char type[512];
    if (multipart) {
        ts_buf_append(&out, body + end, len - end); /* the attachments, and the close delimiter */
        snprintf(type, sizeof type,
                 "multipart/related; type=\"%s\"; start=\"<rootpart>\"; boundary=\"%s\"", part_type,
                 boundary);
    } else {
        char charset[40];
        charset_of(ct, charset, sizeof charset);
        if (charset[0] && strcasecmp(charset, "utf-8") != 0) {
            /* the answer in the request's character set: the copied part is in it already */
            if (!convert_tail(&out, body_at, charset)) {
                ts_buf_cleanup(&out);
                return fault(conn, req, method, "SOAP-ENV:Client", "an unknown charset");
            }
            snprintf(type, sizeof type, "text/xml; charset=%s", charset);
        } else {
            snprintf(type, sizeof type, "text/xml; charset=utf-8");
        }
    }
    enum MHD_Result r =
        out.failed ? MHD_NO : queue_text(conn, req, method, 200, type, out.data, out.len);
    ts_buf_cleanup(&out);
    return r;
}
