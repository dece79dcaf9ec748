/*
 * ts_register.c — register mode of ss-testserver: a sample population
 * register (Melderegister) of the Landeshauptstadt Schwerin with fictitious
 * persons, loaded from a JSON array of person objects.
 *
 *   GET .../persons/{id}             200 with the person, 404 when unknown
 *   GET .../persons?familyName=NAME  200 with the array of exact matches
 *   anything else                    404 (405 for methods other than GET/HEAD)
 *
 * Paths match by suffix, so the register answers under whatever base URL a
 * security server forwards to. Answers are built from the file only; no
 * request data is ever copied into a response. The loader checks the whole
 * file (a small strict JSON reader with depth and size limits) and reports
 * FILE:LINE: reason on error.
 */
#include "testserver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TS_PERSONS_FILE_MAX (4 * 1024 * 1024)
#define TS_PERSONS_MAX 10000
#define TS_JSON_DEPTH_MAX 32
#define TS_FIELD_MAX 1024
#define TS_ANSWER_MAX (8 * 1024 * 1024)

struct person {
    char *id;
    size_t id_len;
    char *family_name;
    size_t family_name_len;
    char *json; /* the object as in the file, without insignificant whitespace */
    size_t json_len;
};

struct ts_persons {
    struct person *items;
    size_t count;
};

/* A bounded cursor over the file; the first error is reported and sticks. */
struct reader {
    const char *file;
    const char *text;
    size_t len;
    size_t pos;
    bool failed;
};

static bool fail(struct reader *rd, const char *reason)
{
    if (rd->failed)
        return false;
    rd->failed = true;
    unsigned long line = 1;
    for (size_t i = 0; i < rd->pos && i < rd->len; i++)
        if (rd->text[i] == '\n')
            line++;
    fprintf(stderr, "%s:%lu: %s\n", rd->file, line, reason);
    return false;
}

static void skip_space(struct reader *rd)
{
    while (rd->pos < rd->len) {
        char c = rd->text[rd->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            return;
        rd->pos++;
    }
}

/* Consumes c after optional whitespace. */
static bool consume(struct reader *rd, char c)
{
    skip_space(rd);
    if (rd->pos < rd->len && rd->text[rd->pos] == c) {
        rd->pos++;
        return true;
    }
    return false;
}

static bool expect(struct reader *rd, char c, const char *reason)
{
    return consume(rd, c) || fail(rd, reason);
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool read_hex4(struct reader *rd, unsigned *value)
{
    if (rd->len - rd->pos < 4)
        return fail(rd, "truncated \\u escape");
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hex_value(rd->text[rd->pos + (size_t)i]);
        if (h < 0)
            return fail(rd, "bad \\u escape");
        v = v << 4 | (unsigned)h;
    }
    rd->pos += 4;
    *value = v;
    return true;
}

static void put_utf8(struct ts_buf *out, unsigned cp)
{
    unsigned char b[4];
    size_t n;
    if (cp < 0x80) {
        b[0] = (unsigned char)cp;
        n = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xc0 | cp >> 6);
        b[1] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xe0 | cp >> 12);
        b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        b[2] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        b[0] = (unsigned char)(0xf0 | cp >> 18);
        b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
        b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
        b[3] = (unsigned char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    ts_buf_append(out, b, n);
}

/* Reads a string; when out is given, appends its decoded bytes. */
static bool read_string(struct reader *rd, struct ts_buf *out)
{
    if (!expect(rd, '"', "expected a string"))
        return false;
    while (rd->pos < rd->len) {
        unsigned char c = (unsigned char)rd->text[rd->pos++];
        if (c == '"')
            return out == NULL || !out->failed || fail(rd, "string too long");
        if (c < 0x20)
            return fail(rd, "control character in string");
        if (c != '\\') {
            if (out != NULL)
                ts_buf_append(out, &c, 1);
            continue;
        }
        if (rd->pos >= rd->len)
            break;
        char e = rd->text[rd->pos++];
        static const char escaped[] = "\"\\/bfnrt";
        static const char decoded[] = "\"\\/\b\f\n\r\t";
        const char *plain = e != '\0' ? strchr(escaped, e) : NULL;
        if (plain != NULL) {
            if (out != NULL)
                ts_buf_append(out, &decoded[plain - escaped], 1);
            continue;
        }
        if (e != 'u')
            return fail(rd, "bad escape in string");
        unsigned cp;
        if (!read_hex4(rd, &cp))
            return false;
        if (cp >= 0xdc00 && cp <= 0xdfff)
            return fail(rd, "lone low surrogate");
        if (cp >= 0xd800 && cp <= 0xdbff) {
            unsigned low;
            if (rd->len - rd->pos < 2 || rd->text[rd->pos] != '\\' || rd->text[rd->pos + 1] != 'u')
                return fail(rd, "high surrogate without low surrogate");
            rd->pos += 2;
            if (!read_hex4(rd, &low))
                return false;
            if (low < 0xdc00 || low > 0xdfff)
                return fail(rd, "high surrogate without low surrogate");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
        }
        if (out != NULL)
            put_utf8(out, cp);
    }
    return fail(rd, "unterminated string");
}

static bool is_digit(struct reader *rd)
{
    return rd->pos < rd->len && rd->text[rd->pos] >= '0' && rd->text[rd->pos] <= '9';
}

static bool read_number(struct reader *rd)
{
    if (rd->pos < rd->len && rd->text[rd->pos] == '-')
        rd->pos++;
    if (!is_digit(rd))
        return fail(rd, "bad number");
    if (rd->text[rd->pos] == '0')
        rd->pos++;
    else
        while (is_digit(rd))
            rd->pos++;
    if (rd->pos < rd->len && rd->text[rd->pos] == '.') {
        rd->pos++;
        if (!is_digit(rd))
            return fail(rd, "bad number");
        while (is_digit(rd))
            rd->pos++;
    }
    if (rd->pos < rd->len && (rd->text[rd->pos] == 'e' || rd->text[rd->pos] == 'E')) {
        rd->pos++;
        if (rd->pos < rd->len && (rd->text[rd->pos] == '+' || rd->text[rd->pos] == '-'))
            rd->pos++;
        if (!is_digit(rd))
            return fail(rd, "bad number");
        while (is_digit(rd))
            rd->pos++;
    }
    return true;
}

static bool read_literal(struct reader *rd, const char *word)
{
    size_t n = strlen(word);
    if (rd->len - rd->pos < n || memcmp(rd->text + rd->pos, word, n) != 0)
        return fail(rd, "unexpected character");
    rd->pos += n;
    return true;
}

static bool read_value(struct reader *rd, unsigned depth);

static bool read_object(struct reader *rd, unsigned depth)
{
    if (!expect(rd, '{', "expected an object"))
        return false;
    if (consume(rd, '}'))
        return true;
    do {
        if (!read_string(rd, NULL) || !expect(rd, ':', "expected ':'") ||
            !read_value(rd, depth + 1))
            return false;
    } while (consume(rd, ','));
    return expect(rd, '}', "expected ',' or '}'");
}

static bool read_array(struct reader *rd, unsigned depth)
{
    if (!expect(rd, '[', "expected an array"))
        return false;
    if (consume(rd, ']'))
        return true;
    do {
        if (!read_value(rd, depth + 1))
            return false;
    } while (consume(rd, ','));
    return expect(rd, ']', "expected ',' or ']'");
}

static bool read_value(struct reader *rd, unsigned depth)
{
    if (depth > TS_JSON_DEPTH_MAX)
        return fail(rd, "nested too deeply");
    skip_space(rd);
    if (rd->pos >= rd->len)
        return fail(rd, "unexpected end of file");
    switch (rd->text[rd->pos]) {
    case '{':
        return read_object(rd, depth);
    case '[':
        return read_array(rd, depth);
    case '"':
        return read_string(rd, NULL);
    case 't':
        return read_literal(rd, "true");
    case 'f':
        return read_literal(rd, "false");
    case 'n':
        return read_literal(rd, "null");
    default:
        return read_number(rd);
    }
}

/* Copies the checked JSON text without whitespace outside strings. */
static char *compact(const char *text, size_t len, size_t *out_len)
{
    char *out = malloc(len + 1);
    if (out == NULL)
        return NULL;
    size_t n = 0;
    bool in_string = false;
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (in_string) {
            out[n++] = c;
            if (c == '\\' && i + 1 < len)
                out[n++] = text[++i];
            else if (c == '"')
                in_string = false;
        } else if (c != ' ' && c != '\t' && c != '\n' && c != '\r') {
            out[n++] = c;
            in_string = c == '"';
        }
    }
    out[n] = '\0';
    *out_len = n;
    return out;
}

static bool take_field(struct reader *rd, struct ts_buf *value, char **field, size_t *field_len,
                       const char *name)
{
    if (*field != NULL) {
        char reason[64];
        snprintf(reason, sizeof reason, "duplicate \"%s\"", name);
        return fail(rd, reason);
    }
    if (!ts_buf_append(value, "", 1)) /* terminator, not counted */
        return fail(rd, "field too long");
    value->len--;
    *field = ts_buf_take(value, field_len);
    return true;
}

/* Reads one person object and keeps its id, family name and text. */
static bool read_person(struct reader *rd, struct person *p)
{
    skip_space(rd);
    size_t start = rd->pos;
    if (!expect(rd, '{', "expected a person object"))
        return false;
    if (!consume(rd, '}')) {
        do {
            struct ts_buf key;
            ts_buf_init(&key, TS_FIELD_MAX);
            bool ok = read_string(rd, &key) && expect(rd, ':', "expected ':'");
            bool is_id = ok && key.len == 2 && memcmp(key.data, "id", 2) == 0;
            bool is_family = ok && key.len == 10 && memcmp(key.data, "familyName", 10) == 0;
            ts_buf_cleanup(&key);
            if (!ok)
                return false;
            if (!is_id && !is_family) {
                if (!read_value(rd, 2))
                    return false;
                continue;
            }
            skip_space(rd);
            struct ts_buf value;
            ts_buf_init(&value, TS_FIELD_MAX);
            ok = read_string(rd, &value) &&
                 (is_id
                      ? take_field(rd, &value, &p->id, &p->id_len, "id")
                      : take_field(rd, &value, &p->family_name, &p->family_name_len, "familyName"));
            ts_buf_cleanup(&value);
            if (!ok)
                return false;
        } while (consume(rd, ','));
        if (!expect(rd, '}', "expected ',' or '}'"))
            return false;
    }
    if (p->id == NULL || p->id_len == 0)
        return fail(rd, "person without a string \"id\"");
    if (p->family_name == NULL)
        return fail(rd, "person without a string \"familyName\"");
    p->json = compact(rd->text + start, rd->pos - start, &p->json_len);
    return p->json != NULL || fail(rd, "out of memory");
}

void ts_persons_free(struct ts_persons *persons)
{
    if (persons == NULL)
        return;
    for (size_t i = 0; i < persons->count; i++) {
        free(persons->items[i].id);
        free(persons->items[i].family_name);
        free(persons->items[i].json);
    }
    free(persons->items);
    free(persons);
}

struct ts_persons *ts_persons_load(const char *path)
{
    struct ts_persons *persons = NULL;
    size_t len = 0;
    char *text = ts_read_file(path, TS_PERSONS_FILE_MAX, &len);
    if (text == NULL)
        return NULL;
    struct reader rd = {.file = path, .text = text, .len = len};
    persons = calloc(1, sizeof *persons);
    if (persons == NULL) {
        fail(&rd, "out of memory");
        goto out;
    }
    if (!expect(&rd, '[', "expected a JSON array of persons"))
        goto out;
    if (!consume(&rd, ']')) {
        do {
            if (persons->count == TS_PERSONS_MAX) {
                fail(&rd, "too many persons");
                goto out;
            }
            if (persons->count % 64 == 0) {
                struct person *items =
                    realloc(persons->items, (persons->count + 64) * sizeof *items);
                if (items == NULL) {
                    fail(&rd, "out of memory");
                    goto out;
                }
                persons->items = items;
            }
            struct person *p = &persons->items[persons->count++];
            memset(p, 0, sizeof *p);
            if (!read_person(&rd, p))
                goto out;
            for (size_t i = 0; i + 1 < persons->count; i++)
                if (persons->items[i].id_len == p->id_len &&
                    memcmp(persons->items[i].id, p->id, p->id_len) == 0) {
                    fail(&rd, "duplicate person id");
                    goto out;
                }
        } while (consume(&rd, ','));
        if (!expect(&rd, ']', "expected ',' or ']'"))
            goto out;
    }
    skip_space(&rd);
    if (rd.pos != rd.len)
        fail(&rd, "text after the array");
out:
    free(text);
    if (rd.failed) {
        ts_persons_free(persons);
        return NULL;
    }
    fprintf(stderr, "ss-testserver: %s: %zu persons\n", path, persons->count);
    return persons;
}

/* ---- answers ------------------------------------------------------------- */

static enum MHD_Result reply(struct MHD_Connection *conn, struct ts_request *req,
                             const char *method, unsigned int status, const char *json, size_t len,
                             enum MHD_ResponseMemoryMode memory)
{
    struct MHD_Response *response =
        MHD_create_response_from_buffer(len, (void *)(uintptr_t)json, memory);
    if (response == NULL) {
        if (memory == MHD_RESPMEM_MUST_FREE)
            free((void *)(uintptr_t)json);
        return MHD_NO;
    }
    if (MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "application/json; charset=utf-8") != MHD_YES ||
        MHD_add_response_header(response, "X-Register", "Melderegister Schwerin (Testdaten)") !=
            MHD_YES) {
        MHD_destroy_response(response);
        return MHD_NO;
    }
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED &&
        MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") != MHD_YES) {
        MHD_destroy_response(response);
        return MHD_NO;
    }
    return ts_queue(conn, req, method, status, response);
}

static enum MHD_Result reply_fixed(struct MHD_Connection *conn, struct ts_request *req,
                                   const char *method, unsigned int status, const char *json)
{
    return reply(conn, req, method, status, json, strlen(json), MHD_RESPMEM_PERSISTENT);
}

static enum MHD_Result answer_by_family_name(const struct ts_persons *persons,
                                             struct MHD_Connection *conn, struct ts_request *req,
                                             const char *method)
{
    const char *name = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "familyName");
    if (name == NULL)
        return reply_fixed(conn, req, method, MHD_HTTP_BAD_REQUEST,
                           "{\"error\":\"query parameter familyName is required\"}");
    size_t name_len = strlen(name);
    struct ts_buf out;
    ts_buf_init(&out, TS_ANSWER_MAX);
    ts_buf_puts(&out, "[");
    bool first = true;
    for (size_t i = 0; i < persons->count; i++) {
        const struct person *p = &persons->items[i];
        if (p->family_name_len != name_len || memcmp(p->family_name, name, name_len) != 0)
            continue;
        if (!first)
            ts_buf_puts(&out, ",");
        ts_buf_append(&out, p->json, p->json_len);
        first = false;
    }
    if (!ts_buf_puts(&out, "]")) {
        ts_buf_cleanup(&out);
        return MHD_NO;
    }
    size_t len;
    char *json = ts_buf_take(&out, &len);
    return reply(conn, req, method, MHD_HTTP_OK, json, len, MHD_RESPMEM_MUST_FREE);
}

enum MHD_Result ts_register_answer(const struct ts_server *srv, struct MHD_Connection *conn,
                                   struct ts_request *req, const char *method)
{
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply_fixed(conn, req, method, MHD_HTTP_METHOD_NOT_ALLOWED,
                           "{\"error\":\"method not allowed\"}");
    if (ts_path_ends_with(req, "/persons"))
        return answer_by_family_name(srv->persons, conn, req, method);

    /* .../persons/{id}: the last segment, preceded by "/persons/" */
    const char *path = req->target;
    size_t slash = req->path_len;
    while (slash > 0 && path[slash - 1] != '/')
        slash--;
    static const char marker[] = "/persons/";
    size_t marker_len = sizeof marker - 1;
    if (slash >= marker_len && slash < req->path_len &&
        memcmp(path + slash - marker_len, marker, marker_len) == 0) {
        const char *id = path + slash;
        size_t id_len = req->path_len - slash;
        for (size_t i = 0; i < srv->persons->count; i++) {
            const struct person *p = &srv->persons->items[i];
            if (p->id_len == id_len && memcmp(p->id, id, id_len) == 0)
                return reply(conn, req, method, MHD_HTTP_OK, p->json, p->json_len,
                             MHD_RESPMEM_PERSISTENT);
        }
    }
    return reply_fixed(conn, req, method, MHD_HTTP_NOT_FOUND, "{\"error\":\"not found\"}");
}
