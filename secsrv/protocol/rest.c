#include "rest.h"
#include "ss_hex.h"
#include "ss_text.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Finds the end of the next '/'-delimited part starting at s[i]. */
static size_t part_end(const char *s, size_t len, size_t i)
{
    while (i < len && s[i] != '/' && s[i] != '?')
        i++;
    return i;
}

ss_error ss_rest_parse_target(const char *target, size_t len, size_t max_id,
                              struct ss_rest_target *out)
{
    memset(out, 0, sizeof *out);
    if (len < 4 || memcmp(target, "/r1/", 4) != 0)
        return ss_errf(SS_ERR_PROTOCOL, "request target must start with /r1/ (X-Road message "
                                        "protocol for REST, version 1)");
    /*
     * The target goes to the register service byte for byte. Besides control bytes, blanks,
     * non-ASCII and '#', it may not hold what RFC 3986 allows nowhere and no URL serialiser
     * (RFC 3986 or WHATWG URL) leaves unescaped: '"', '<' and '>' anywhere, '`', '{' and '}' in
     * the path. '|', '^', '[', ']' and, in the query, '`', '{' and '}' are left as WHATWG URL
     * clients send them; the register service decides.
     */
    bool in_query = false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)target[i];
        if (c <= 0x20 || c >= 0x7f || c == '#')
            return ss_errf(SS_ERR_PROTOCOL, "request target contains character 0x%02x", c);
        in_query = in_query || c == '?';
        if (strchr("\"<>", c) || (!in_query && strchr("`{}", c)))
            return ss_errf(SS_ERR_PROTOCOL,
                           "request target contains character '%c' unescaped (send it as %%%02X)",
                           c, c);
    }
    struct ss_client_id *p = &out->service.provider;
    char *dst[5] = {p->instance, p->member_class, p->member_code, p->subsystem,
                    out->service.service_code};
    static const char *const names[5] = {"instance", "member class", "member code",
                                         "subsystem code", "service code"};
    size_t i = 4;
    for (int k = 0; k < 5; k++) {
        size_t end = part_end(target, len, i);
        if (end == i)
            return ss_errf(SS_ERR_BAD_IDENTIFIER,
                           "service identifier is missing its %s "
                           "(/r1/INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE)",
                           names[k]);
        ss_error err = ss_id_part_decode(target + i, end - i, max_id, dst[k]);
        if (err)
            return ss_errf(err, "service identifier %s: %s", names[k], ss_errmsg());
        i = end;
        if (k < 4) {
            if (i >= len || target[i] != '/')
                return ss_errf(SS_ERR_BAD_IDENTIFIER,
                               "service identifier is missing its %s "
                               "(/r1/INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE)",
                               names[k + 1]);
            i++;
        }
    }
    const char *q = memchr(target + i, '?', len - i);
    size_t path_end = q ? (size_t)(q - target) : len;
    out->path = target + i;
    out->path_len = path_end - i;
    out->query = target + path_end;
    out->query_len = len - path_end;
    return SS_OK;
}

static bool name_in(const char *name, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(name, list[i]) == 0)
            return true;
    return false;
}

bool ss_rest_header_filtered(const char *name)
{
    static const char *const filtered[] = {"Connection",
                                           "Keep-Alive",
                                           "Proxy-Authenticate",
                                           "Proxy-Authorization",
                                           "Proxy-Connection",
                                           "TE",
                                           "Trailer",
                                           "Transfer-Encoding",
                                           "Upgrade",
                                           "Host",
                                           "User-Agent",
                                           "Server",
                                           "Content-Length",
                                           "Expect"};
    return name_in(name, filtered, sizeof filtered / sizeof filtered[0]);
}

bool ss_rest_header_evidence(const char *name)
{
    static const char *const evidence[] = {"X-Secsrv-Manifest", "X-Secsrv-Signature",
                                           "X-Secsrv-Signature-Path", "X-Secsrv-Ocsp"};
    return name_in(name, evidence, sizeof evidence / sizeof evidence[0]);
}

bool ss_rest_header_reserved(const char *name)
{
    static const char *const reserved[] = {"X-Road-Client", "X-Road-Service", "X-Road-Request-Id",
                                           "X-Road-Request-Hash", "X-Road-Error"};
    return name_in(name, reserved, sizeof reserved / sizeof reserved[0]) ||
           ss_rest_header_evidence(name);
}

/* True if the Connection field value lists name as a token. */
static bool connection_lists(const char *connection, const char *name)
{
    size_t nlen = strlen(name);
    const char *p = connection;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *start = p;
        while (*p && *p != ',' && *p != ' ' && *p != '\t')
            p++;
        if ((size_t)(p - start) == nlen && strncasecmp(start, name, nlen) == 0)
            return true;
    }
    return false;
}

bool ss_rest_named_by_connection(const struct ss_headers *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(h->items[i].name, "Connection") == 0 &&
            connection_lists(h->items[i].value, name))
            return true;
    return false;
}

ss_error ss_rest_copy_end_to_end(const struct ss_headers *in, struct ss_headers *out)
{
    bool connection = ss_headers_get(in, "Connection") != NULL; /* most requests have none */
    for (size_t i = 0; i < in->n; i++) {
        const struct ss_header *f = &in->items[i];
        if (ss_rest_header_filtered(f->name) || ss_rest_header_reserved(f->name))
            continue;
        if (connection && ss_rest_named_by_connection(in, f->name))
            continue;
        ss_error err = ss_headers_add(out, f->name, f->value);
        if (err)
            return err;
    }
    return SS_OK;
}

/* True if name starts with prefix, without case and with '_' read as '-' where allowed. */
static bool has_prefix(const char *name, const char *prefix, bool underscore)
{
    for (; *prefix; name++, prefix++) {
        char c = underscore && *name == '_' ? '-' : *name;
        if (!c || tolower((unsigned char)c) != tolower((unsigned char)*prefix))
            return false;
    }
    return true;
}

static bool protected_name_as(const char *name, bool underscore)
{
    return has_prefix(name, "X-Road-", underscore) || has_prefix(name, "X-Secsrv-", underscore);
}

/* Content_Length and the like: a twin in '_' of a field that frames or routes the request */
static bool framing_twin(const char *name)
{
    static const char *const framing[] = {"Content-Length", "Transfer-Encoding"};
    for (size_t i = 0; i < sizeof framing / sizeof framing[0]; i++)
        if (has_prefix(name, framing[i], true) && name[strlen(framing[i])] == '\0')
            return true;
    return false;
}

static bool protected_name(const char *name)
{
    return protected_name_as(name, false);
}

ss_error ss_rest_check_fields(const struct ss_headers *fields)
{
    for (size_t i = 0; i < fields->n; i++) {
        const char *name = fields->items[i].name;
        if (protected_name(name) && ss_headers_count(fields, name) > 1)
            return ss_errf(SS_ERR_BAD_HEADER, "header field %.64s appears more than once", name);
        /* CGI, WSGI, Rack and PHP read X_Road_Client as X-Road-Client (both become
         * HTTP_X_ROAD_CLIENT): forwarded, it would stand beside the field checked and logged */
        if (strchr(name, '_') && protected_name_as(name, true))
            return ss_errf(SS_ERR_BAD_HEADER,
                           "header field %.64s: X-Road and X-Secsrv fields are written with '-',"
                           " not '_'",
                           name);
        /* the same for the fields that frame or route a request (HTTP_CONTENT_LENGTH) */
        if (strchr(name, '_') && framing_twin(name))
            return ss_errf(SS_ERR_BAD_HEADER,
                           "header field %.64s: a twin in '_' of a field that frames the request",
                           name);
        if (strcasecmp(name, "Connection") != 0)
            continue;
        /* any token with a protected prefix, whether or not such a field is present */
        const char *v = fields->items[i].value;
        for (const char *p = v; *p; p++)
            if ((p == v || p[-1] == ',' || p[-1] == ' ' || p[-1] == '\t') &&
                (strncasecmp(p, "X-Road-", 7) == 0 || strncasecmp(p, "X-Secsrv-", 9) == 0))
                return ss_errf(SS_ERR_BAD_HEADER,
                               "the Connection field may not name X-Road or X-Secsrv fields");
    }
    return SS_OK;
}

ss_error ss_rest_check_represented_party(const char *value)
{
    const char *slash = strchr(value, '/');
    const char *code = slash ? slash + 1 : value;
    char part[SS_ID_PART_MAX + 1];
    ss_error err = SS_OK;
    if (strchr(code, '/'))
        err = ss_errf(SS_ERR_BAD_HEADER, "more than two parts");
    if (!err && slash)
        err = ss_id_part_decode(value, (size_t)(slash - value), SS_ID_PART_MAX, part);
    if (!err)
        err = ss_id_part_decode(code, strlen(code), SS_ID_PART_MAX, part);
    if (err)
        return ss_errf(SS_ERR_BAD_HEADER, "%s must be [CLASS/]CODE: %s", SS_HDR_REPRESENTED_PARTY,
                       ss_errmsg());
    return SS_OK;
}

ss_error ss_rest_check_purpose(const char *purpose)
{
    if (!ss_policy_purpose_valid(purpose))
        return ss_errf(SS_ERR_BAD_HEADER, "%s must be 1 to %d characters of A-Z a-z 0-9 . : / _ -",
                       SS_HDR_PURPOSE, SS_POLICY_PURPOSE_MAX);
    return SS_OK;
}

ss_error ss_rest_check_subject(const char *subject)
{
    return ss_subject_valid(subject)
               ? SS_OK
               : ss_errf(SS_ERR_BAD_HEADER,
                         "%s must be 1 to %d printable ASCII characters without spaces",
                         SS_HDR_SUBJECT, SS_SUBJECT_MAX);
}

static void digest_update_lower(crypto_hash_sha512_state *md, const char *s)
{
    unsigned char buf[256];
    size_t n = strlen(s), off = 0;
    while (off < n) {
        size_t k = n - off < sizeof buf ? n - off : sizeof buf;
        for (size_t i = 0; i < k; i++) {
            char c = s[off + i];
            buf[i] = (unsigned char)((c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c);
        }
        crypto_hash_sha512_update(md, buf, k);
        off += k;
    }
}

static void update_str(crypto_hash_sha512_state *md, const char *s)
{
    crypto_hash_sha512_update(md, (const unsigned char *)s, strlen(s));
}

void ss_rest_request_hash(const char *method, const char *target, const struct ss_headers *fields,
                          const uint8_t *body, size_t body_len, char out[SS_REQUEST_HASH_B64])
{
    unsigned char hh[64], hb[64], final[64];
    crypto_hash_sha512_state md;
    crypto_hash_sha512_init(&md);
    update_str(&md, method);
    update_str(&md, " ");
    update_str(&md, target);
    update_str(&md, "\r\n");
    for (size_t i = 0; i < fields->n; i++) {
        if (ss_rest_header_filtered(fields->items[i].name) ||
            ss_rest_header_evidence(fields->items[i].name))
            continue;
        digest_update_lower(&md, fields->items[i].name);
        update_str(&md, ": ");
        update_str(&md, fields->items[i].value);
        update_str(&md, "\r\n");
    }
    crypto_hash_sha512_final(&md, hh);
    const unsigned char *result = hh;
    if (body_len > 0) {
        crypto_hash_sha512(hb, body, body_len);
        crypto_hash_sha512_init(&md);
        crypto_hash_sha512_update(&md, hh, 64);
        crypto_hash_sha512_update(&md, hb, 64);
        crypto_hash_sha512_final(&md, final);
        result = final;
    }
    EVP_EncodeBlock((unsigned char *)out, result, 64); /* as the envelope encodes */
}

/* A bounded reader over an error body. */
struct cursor {
    const uint8_t *p, *end;
};

static bool take(struct cursor *c, const char *literal)
{
    size_t n = strlen(literal);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, literal, n) != 0)
        return false;
    c->p += n;
    return true;
}

/* Copies a JSON string's content (up to the closing quote) into out, still escaped. */
static bool take_string(struct cursor *c, char *out, size_t max, bool (*allowed)(uint8_t))
{
    size_t n = 0;
    while (c->p < c->end && *c->p != '"') {
        size_t k = 1;
        if (*c->p == '\\') {
            if (c->end - c->p >= 2 && (c->p[1] == '"' || c->p[1] == '\\'))
                k = 2;
            else if (c->end - c->p >= 6 && c->p[1] == 'u' && ss_hex_digit((char)c->p[2]) >= 0 &&
                     ss_hex_digit((char)c->p[3]) >= 0 && ss_hex_digit((char)c->p[4]) >= 0 &&
                     ss_hex_digit((char)c->p[5]) >= 0)
                k = 6;
            else
                return false;
            if (!allowed('\\'))
                return false;
        } else if (!allowed(*c->p)) {
            return false;
        }
        if (n + k > max)
            return false;
        memcpy(out + n, c->p, k);
        n += k;
        c->p += k;
    }
    out[n] = '\0';
    return n > 0 && take(c, "\"");
}

static bool type_char(uint8_t b)
{
    return (b >= 'A' && b <= 'Z') || (b >= 'a' && b <= 'z') || b == '.';
}

static bool message_char(uint8_t b)
{
    return b >= 0x20 && b < 0x7f;
}

static bool uuid_char(uint8_t b)
{
    return (b >= '0' && b <= '9') || (b >= 'a' && b <= 'f') || b == '-';
}

/* 8-4-4-4-12 lower-case hex digits. */
static bool uuid_form(const char *s)
{
    if (strlen(s) != 36)
        return false;
    for (size_t i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash != (s[i] == '-') || (!dash && ss_hex_digit(s[i]) < 0))
            return false;
    }
    return true;
}

ss_error ss_rest_parse_error(const uint8_t *body, size_t len, struct ss_rest_error *out)
{
    memset(out, 0, sizeof *out);
    struct cursor c = {body, body + len};
    if (!body || !take(&c, "{\"type\":\"") ||
        !take_string(&c, out->type, SS_REST_ERROR_TYPE_MAX, type_char) ||
        !take(&c, ",\"message\":\"") ||
        !take_string(&c, out->message, SS_REST_ERROR_MESSAGE_MAX, message_char) ||
        !take(&c, ",\"detail\":\"") || !take_string(&c, out->detail, 36, uuid_char) ||
        !uuid_form(out->detail) || !take(&c, "}"))
        return ss_errf(SS_ERR_PROTOCOL, "not an X-Road error body");
    while (c.p < c.end && (*c.p == ' ' || *c.p == '\r' || *c.p == '\n' || *c.p == '\t'))
        c.p++;
    if (c.p != c.end)
        return ss_errf(SS_ERR_PROTOCOL, "not an X-Road error body");
    return SS_OK;
}

void ss_rest_uuid(char out[37])
{
    uint8_t b[16];
    randombytes_buf(b, sizeof b);
    b[6] = (uint8_t)((b[6] & 0x0f) | 0x40);
    b[8] = (uint8_t)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
}

bool ss_rest_query_param(const char *query, size_t len, const char *name, char *out, size_t size)
{
    out[0] = '\0';
    size_t n = strlen(name);
    const char *end = query + len;
    for (const char *q = len ? query + 1 : end; q < end;) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *stop = amp ? amp : end;
        if ((size_t)(stop - q) > n && strncmp(q, name, n) == 0 && q[n] == '=') {
            /* percent-decoded ('+' is itself in a URI's query) */
            long o = ss_hex_percent_decode(q + n + 1, (size_t)(stop - q) - n - 1, false, out, size);
            if (o < 0 || memchr(out, '\0', (size_t)o)) {
                out[0] = '\0';
                return false;
            }
            return true;
        }
        q = stop + 1;
    }
    return true;
}

/*
 * The weight of a media range from its parameters (what follows the type): 0 to 1000, 1000
 * when it has none; -1 when its q is not a qvalue (RFC 9110 12.4.2).
 */
static int range_weight(const char *p, const char *end)
{
    while (p < end) {
        while (p < end && (*p == ';' || *p == ' ' || *p == '\t'))
            p++;
        const char *stop = p;
        while (stop < end && *stop != ';')
            stop++;
        if (stop - p >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            const char *v = p + 2, *e = stop;
            while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            if (v == e || (*v != '0' && *v != '1'))
                return -1;
            int w = (*v++ - '0') * 1000;
            if (v < e && *v++ != '.')
                return -1;
            for (int scale = 100; v < e; v++, scale /= 10) {
                if (scale == 0 || *v < '0' || *v > '9')
                    return -1;
                w += (*v - '0') * scale;
            }
            return w > 1000 ? -1 : w;
        }
        p = stop;
    }
    return 1000;
}

/* How closely a media range (n bytes) names type t: 3 exactly, 2 by t's top-level type and
 * a wildcard, 1 as the range of all types, 0 not at all. */
static int range_names(const char *range, size_t n, const char *t)
{
    size_t top = (size_t)(strchr(t, '/') - t);
    if (n == strlen(t) && strncasecmp(range, t, n) == 0)
        return 3;
    if (n == top + 2 && strncasecmp(range, t, top + 1) == 0 && range[top + 1] == '*')
        return 2;
    return n == 3 && memcmp(range, "*/*", 3) == 0 ? 1 : 0;
}

int ss_rest_accept(const struct ss_headers *fields, const char *const *forms, int n)
{
    /* for each form, the most specific range that names it: how closely, its weight, and its
     * place among the ranges */
    struct {
        int names, weight;
        size_t place;
    } by[SS_REST_FORMS_MAX] = {{0}};
    if (n > SS_REST_FORMS_MAX)
        n = SS_REST_FORMS_MAX;
    size_t place = 0;
    for (size_t i = 0; i < fields->n; i++) {
        if (strcasecmp(fields->items[i].name, "Accept") != 0)
            continue;
        for (const char *p = fields->items[i].value; *p;) {
            const char *end = p + strcspn(p, ",");
            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
            const char *params = p;
            while (params < end && *params != ';' && *params != ' ' && *params != '\t')
                params++;
            int weight = range_weight(params, end);
            if (params > p && weight >= 0) {
                place++;
                for (int k = 0; k < n; k++) {
                    int names = range_names(p, (size_t)(params - p), forms[k]);
                    if (names > by[k].names) {
                        by[k].names = names;
                        by[k].weight = weight;
                        by[k].place = place;
                    }
                }
            }
            p = *end ? end + 1 : end;
        }
    }
    /* the heaviest form; of equals the one named most specifically, then the one named first,
     * then the one listed first */
    int best = 0;
    for (int k = 1; k < n; k++) {
        int d = by[k].weight - by[best].weight;
        if (!d)
            d = by[k].names - by[best].names;
        if (by[k].names && (!by[best].names || d > 0 || (!d && by[k].place < by[best].place)))
            best = k;
    }
    return by[best].weight == 0 ? 0 : best;
}

const char *ss_rest_error_media(const struct ss_headers *fields)
{
    /* JSON first: the default (PR-REST 4.3) */
    static const char *const forms[] = {"application/json", "application/xml", "text/xml"};
    int k = ss_rest_accept(fields, forms, (int)(sizeof forms / sizeof forms[0]));
    return k == 0 ? NULL : forms[k];
}

ss_error ss_rest_error_xml(const char *type, const char *message, const char *detail, char **out,
                           size_t *len)
{
    struct ss_text t = {0};
    ss_text_puts(&t, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error>");
    ss_text_element(&t, "type", type);
    ss_text_element(&t, "message", message);
    ss_text_element(&t, "detail", detail);
    ss_text_puts(&t, "</error>\n");
    return ss_text_take(&t, out, len);
}

size_t ss_rest_answer_xroad_bytes(size_t id_part)
{
    return (9 + 255) +                     /* X-Road-Id (msglog/manifest.h) */
           (13 + 4 * (id_part + 1)) +      /* X-Road-Client: four parts */
           (14 + 6 * (id_part + 1)) +      /* X-Road-Service: six parts */
           (17 + 36) +                     /* X-Road-Request-Id */
           (19 + SS_REQUEST_HASH_B64) +    /* X-Road-Request-Hash */
           (12 + SS_REST_ERROR_TYPE_MAX) + /* X-Road-Error */
           (12 + 64);                      /* Content-Type */
}
