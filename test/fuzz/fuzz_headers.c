/*
 * Fuzz target for the header rules of the REST protocol (secsrv/protocol/
 * rest.c): the input's lines ("Name: value", CRLF or LF) become a bounded
 * header list (64 fields, 16 KiB, as a client's request), on which run
 * ss_rest_check_fields, ss_rest_copy_end_to_end, ss_rest_request_hash and
 * the purpose and subject checks; the whole input also goes to
 * ss_rest_parse_error. A line without a colon, with an empty name or with a
 * NUL byte gives no field.
 *
 * Invariants: check_fields refuses exactly the lists with a repeated
 * X-Road-* or X-Secsrv-* field (X-Road-Client included), a field that reads
 * as one with '_' for '-', or a Connection field naming one; the copy holds every end-to-end field in order and no
 * filtered or reserved field and none that a Connection field names; the
 * request hash is the same twice, skips filtered fields, ignores the case
 * of names, and is 88 base64 characters; an accepted purpose or subject has
 * the documented length and characters; an accepted error body is exactly
 * {"type":T,"message":M,"detail":D} with T, M and D of the documented form.
 */
#include "rest.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FIELDS 64
#define MAX_BYTES (16 * 1024)

static void die(const char *what)
{
    fprintf(stderr, "fuzz_headers: %s\n", what);
    abort();
}

static bool protected_name(const char *name)
{
    return strncasecmp(name, "X-Road-", 7) == 0 || strncasecmp(name, "X-Secsrv-", 9) == 0;
}

static bool is_blank_or_comma(char c)
{
    return c == ',' || c == ' ' || c == '\t';
}

/*
 * Calls f(token, len, arg) for each token of every Connection field of h
 * (a list of tokens separated by commas and blanks, RFC 9110 7.6.1); stops
 * and returns true as soon as f does.
 */
static bool any_connection_token(const struct ss_headers *h,
                                 bool (*f)(const char *, size_t, const void *), const void *arg)
{
    for (size_t i = 0; i < h->n; i++) {
        if (strcasecmp(h->items[i].name, "Connection") != 0)
            continue;
        const char *p = h->items[i].value;
        while (*p) {
            while (*p && is_blank_or_comma(*p))
                p++;
            const char *start = p;
            while (*p && !is_blank_or_comma(*p))
                p++;
            if (p > start && f(start, (size_t)(p - start), arg))
                return true;
        }
    }
    return false;
}

static bool token_is_protected(const char *tok, size_t len, const void *arg)
{
    (void)arg;
    return (len >= 7 && strncasecmp(tok, "X-Road-", 7) == 0) ||
           (len >= 9 && strncasecmp(tok, "X-Secsrv-", 9) == 0);
}

static bool token_is_name(const char *tok, size_t len, const void *arg)
{
    const char *name = arg;
    return strlen(name) == len && strncasecmp(tok, name, len) == 0;
}

/* A name with '_' that reads as an X-Road or X-Secsrv field once each '_' is a '-' (what CGI
 * makes of it). */
static bool underscore_twin(const char *name)
{
    if (!strchr(name, '_'))
        return false;
    char dashed[64];
    size_t n = strnlen(name, sizeof dashed - 1);
    for (size_t i = 0; i < n; i++)
        dashed[i] = name[i] == '_' ? '-' : name[i];
    dashed[n] = '\0';
    return protected_name(dashed);
}

static void check_fields(const struct ss_headers *in)
{
    bool bad = any_connection_token(in, token_is_protected, NULL);
    for (size_t i = 0; i < in->n && !bad; i++) {
        const char *name = in->items[i].name;
        bad = (protected_name(name) && ss_headers_count(in, name) > 1) || underscore_twin(name);
    }
    ss_error err = ss_rest_check_fields(in);
    if (err != SS_OK && err != SS_ERR_BAD_HEADER)
        die("check_fields: unexpected error code");
    if (bad && err == SS_OK)
        die("check_fields accepted a repeated protected field or a Connection naming one");
    if (!bad && err != SS_OK)
        die("check_fields refused a list it should accept");
}

static bool end_to_end(const struct ss_headers *in, const char *name)
{
    return !ss_rest_header_filtered(name) && !ss_rest_header_reserved(name) &&
           !any_connection_token(in, token_is_name, name);
}

static void check_copy(const struct ss_headers *in)
{
    struct ss_headers out;
    ss_headers_init(&out, MAX_FIELDS + 8, MAX_BYTES + 4096);
    ss_error err = ss_rest_copy_end_to_end(in, &out);
    if (err != SS_OK)
        die("copy_end_to_end failed on a list within the bounds of the copy");
    size_t j = 0;
    for (size_t i = 0; i < in->n; i++) {
        const struct ss_header *f = &in->items[i];
        if (!end_to_end(in, f->name))
            continue;
        if (j >= out.n || strcmp(out.items[j].name, f->name) != 0 ||
            strcmp(out.items[j].value, f->value) != 0)
            die("copy_end_to_end lost or reordered an end-to-end field");
        j++;
    }
    for (size_t k = 0; k < out.n; k++) {
        const char *name = out.items[k].name;
        if (ss_rest_header_filtered(name) || ss_rest_header_reserved(name))
            die("copy_end_to_end copied a filtered or reserved field");
        if (any_connection_token(in, token_is_name, name))
            die("copy_end_to_end copied a field that a Connection field names");
    }
    if (j != out.n)
        die("copy_end_to_end added a field");
    ss_headers_cleanup(&out);
}

static void check_b64(const char *s)
{
    if (strlen(s) != SS_REQUEST_HASH_B64 - 1)
        die("request hash of the wrong length");
    for (size_t i = 0; s[i]; i++) {
        char c = s[i];
        bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                  c == '+' || c == '/' || (c == '=' && i >= SS_REQUEST_HASH_B64 - 3);
        if (!ok)
            die("request hash is not base64");
    }
}

static void check_hash(const struct ss_headers *in, const uint8_t *body, size_t body_len)
{
    static const char method[] = "POST";
    static const char target[] = "/r1/DE-NORD/MUN/13004000/melde/person?q=1";
    char a[SS_REQUEST_HASH_B64], b[SS_REQUEST_HASH_B64], c[SS_REQUEST_HASH_B64];
    ss_rest_request_hash(method, target, in, body, body_len, a);
    ss_rest_request_hash(method, target, in, body, body_len, b);
    check_b64(a);
    if (strcmp(a, b) != 0)
        die("request hash differs for the same request");

    /* the same fields without the filtered ones, and with the names in upper case */
    struct ss_headers other;
    ss_headers_init(&other, 0, 0);
    for (size_t i = 0; i < in->n; i++) {
        if (ss_rest_header_filtered(in->items[i].name))
            continue;
        char *upper = strdup(in->items[i].name);
        if (!upper)
            die("out of memory");
        for (char *p = upper; *p; p++)
            if (*p >= 'a' && *p <= 'z')
                *p = (char)(*p - 'a' + 'A');
        if (ss_headers_add(&other, upper, in->items[i].value) != SS_OK)
            die("cannot build the comparison list");
        free(upper);
    }
    ss_rest_request_hash(method, target, &other, body, body_len, c);
    if (strcmp(a, c) != 0)
        die("request hash depends on filtered fields or on the case of names");
    ss_headers_cleanup(&other);

    /* the body counts */
    if (body_len > 0) {
        ss_rest_request_hash(method, target, in, body, 0, c);
        check_b64(c);
        if (strcmp(a, c) == 0)
            die("request hash does not depend on the body");
    }
}

static void check_values(const struct ss_headers *in)
{
    for (size_t i = 0; i < in->n; i++) {
        const char *v = in->items[i].value;
        size_t n = strlen(v);
        ss_error err = ss_rest_check_purpose(v);
        if (err == SS_OK) {
            if (n == 0 || n > SS_PURPOSE_MAX ||
                strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                          "abcdefghijklmnopqrstuvwxyz"
                          "0123456789.:/_-") != n)
                die("check_purpose accepted a value out of its form");
        } else if (err != SS_ERR_BAD_HEADER) {
            die("check_purpose: unexpected error code");
        }
        err = ss_rest_check_subject(v);
        if (err == SS_OK) {
            if (n == 0 || n > SS_SUBJECT_MAX)
                die("check_subject accepted a value of the wrong length");
            for (size_t k = 0; k < n; k++)
                if ((unsigned char)v[k] < 0x21 || (unsigned char)v[k] > 0x7e)
                    die("check_subject accepted a blank or a non-printable character");
        } else if (err != SS_ERR_BAD_HEADER) {
            die("check_subject: unexpected error code");
        }
    }
}

static bool is_hex_lower(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

static bool is_hex(char c)
{
    return is_hex_lower(c) || (c >= 'A' && c <= 'F');
}

static void check_error_body(const uint8_t *data, size_t size)
{
    struct ss_rest_error e;
    ss_error err = ss_rest_parse_error(data, size, &e);
    if (err != SS_OK) {
        if (err != SS_ERR_PROTOCOL)
            die("parse_error: unexpected error code");
        return;
    }
    size_t tn = strlen(e.type), mn = strlen(e.message);
    if (tn == 0 || tn > SS_REST_ERROR_TYPE_MAX ||
        strspn(e.type, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz.") != tn)
        die("parse_error accepted a type out of its form");
    if (mn > SS_REST_ERROR_MESSAGE_MAX)
        die("parse_error accepted a message that is too long");
    for (size_t i = 0; i < mn; i++) {
        unsigned char c = (unsigned char)e.message[i];
        if (c < 0x20 || c >= 0x7f)
            die("parse_error accepted a message with a non-printable character");
        if (c == '"')
            die("parse_error accepted a message with an unescaped quote");
        if (c != '\\')
            continue;
        char next = e.message[i + 1];
        if (next == '"' || next == '\\') {
            i++;
        } else if (next == 'u' && mn - i >= 6 && is_hex(e.message[i + 2]) &&
                   is_hex(e.message[i + 3]) && is_hex(e.message[i + 4]) &&
                   is_hex(e.message[i + 5])) {
            i += 5;
        } else {
            die("parse_error accepted a message with an escape other than \\\" \\\\ \\uXXXX");
        }
    }
    /* a UUID: 8-4-4-4-12 hex digits */
    if (strlen(e.detail) != 36)
        die("parse_error accepted a detail that is not 36 characters");
    for (size_t i = 0; i < 36; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? e.detail[i] != '-' : !is_hex_lower(e.detail[i]))
            die("parse_error accepted a detail that is not a UUID");
    }
    /* the body is exactly these members, then whitespace */
    char *want = malloc(tn + mn + 36 + 64);
    if (!want)
        die("out of memory");
    int w =
        snprintf(want, tn + mn + 36 + 64, "{\"type\":\"%s\",\"message\":\"%s\",\"detail\":\"%s\"}",
                 e.type, e.message, e.detail);
    if (w < 0 || (size_t)w > size || memcmp(data, want, (size_t)w) != 0)
        die("parse_error accepted a body that is not its parts");
    for (size_t i = (size_t)w; i < size; i++)
        if (!strchr(" \t\r\n", data[i]) || data[i] == '\0')
            die("parse_error accepted a body with more than whitespace after it");
    free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ss_headers in;
    ss_headers_init(&in, MAX_FIELDS, MAX_BYTES);
    const char *s = (const char *)data;
    size_t off = 0;
    while (off < size) {
        const char *lf = memchr(s + off, '\n', size - off);
        size_t end = lf ? (size_t)(lf - s) : size;
        size_t len = end - off;
        if (len > 0 && s[off + len - 1] == '\r')
            len--;
        const char *line = s + off;
        off = lf ? end + 1 : size;
        const char *colon = memchr(line, ':', len);
        if (!colon || colon == line || memchr(line, '\0', len))
            continue;
        size_t name_len = (size_t)(colon - line);
        const char *v = colon + 1;
        size_t vlen = len - name_len - 1;
        while (vlen > 0 && (*v == ' ' || *v == '\t')) {
            v++;
            vlen--;
        }
        if (ss_headers_addn(&in, line, name_len, v, vlen) != SS_OK)
            break; /* full, as a server would refuse the request */
    }
    check_fields(&in);
    check_copy(&in);
    check_hash(&in, data, size);
    check_values(&in);
    check_error_body(data, size);
    ss_headers_cleanup(&in);
    return 0;
}
