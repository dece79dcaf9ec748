#include "page.h"

#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ss_page_init(struct ss_page *p, size_t max)
{
    memset(p, 0, sizeof *p);
    p->max = max;
}

static bool room(struct ss_page *p, size_t n);

void ss_page_cleanup(struct ss_page *p)
{
    if (p->sensitive && p->data)
        sodium_memzero(p->data, p->cap);
    free(p->data);
    memset(p, 0, sizeof *p);
}

char *ss_page_take(struct ss_page *p, size_t *len)
{
    if (!p->failed && !p->data && room(p, 0)) /* an empty page is an empty string */
        p->data[0] = '\0';
    char *d = p->failed ? NULL : p->data;
    *len = d ? p->len : 0;
    if (d)
        p->data = NULL;
    ss_page_cleanup(p);
    return d;
}

static bool room(struct ss_page *p, size_t n)
{
    if (p->failed)
        return false;
    if (p->len + n + 1 > p->max) {
        p->failed = true;
        return false;
    }
    if (p->len + n + 1 > p->cap) {
        size_t cap = p->cap ? p->cap : 4096;
        while (cap < p->len + n + 1)
            cap *= 2;
        if (cap > p->max)
            cap = p->max;
        char *d = NULL;
        if (!p->sensitive) {
            d = realloc(p->data, cap);
        } else if ((d = malloc(cap))) { /* no copy of a secret left in freed memory */
            if (p->data) {
                memcpy(d, p->data, p->len + 1);
                sodium_memzero(p->data, p->cap);
                free(p->data);
            }
        }
        if (!d) {
            p->failed = true;
            return false;
        }
        p->data = d;
        p->cap = cap;
    }
    return true;
}

static void put(struct ss_page *p, const char *s, size_t n)
{
    if (!room(p, n))
        return;
    memcpy(p->data + p->len, s, n);
    p->len += n;
    p->data[p->len] = '\0';
}

void ss_page_raw(struct ss_page *p, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n >= 0 && room(p, (size_t)n)) {
        vsnprintf(p->data + p->len, (size_t)n + 1, fmt, again);
        p->len += (size_t)n;
    } else if (n < 0) {
        p->failed = true;
    }
    va_end(again);
}

/* The length of the UTF-8 sequence at s (n bytes left), or 0 when there is none. */
static size_t utf8_len(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len = c < 0x80                 ? 1
                 : c >= 0xc2 && c <= 0xdf ? 2
                 : c >= 0xe0 && c <= 0xef ? 3
                 : c >= 0xf0 && c <= 0xf4 ? 4
                                          : 0;
    if (!len || len > n)
        return 0;
    for (size_t k = 1; k < len; k++)
        if ((s[k] & 0xc0) != 0x80)
            return 0;
    if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0) || (c == 0xf0 && s[1] < 0x90) ||
        (c == 0xf4 && s[1] >= 0x90) || (c == 0xc2 && s[1] < 0xa0))
        return 0;
    return len;
}

/* Text escaped for HTML; with raw_bytes, bytes that are not printable UTF-8 as \xNN. */
static void escape_html(struct ss_page *p, const unsigned char *s, size_t n, bool raw_bytes)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        const char *rep = c == '&'    ? "&amp;"
                          : c == '<'  ? "&lt;"
                          : c == '>'  ? "&gt;"
                          : c == '"'  ? "&quot;"
                          : c == '\'' ? "&#39;"
                                      : NULL;
        size_t len = utf8_len(s + i, n - i);
        if (rep) {
            put(p, rep, strlen(rep));
            i++;
        } else if (raw_bytes && (c == '\n' || c == '\t')) {
            put(p, (const char *)s + i, 1);
            i++;
        } else if (len && (c >= 0x20 && c != 0x7f)) {
            put(p, (const char *)s + i, len);
            i += len;
        } else if (raw_bytes) {
            ss_page_raw(p, "\\x%02x", c);
            i++;
        } else {
            put(p, "\xef\xbf\xbd", 3); /* U+FFFD */
            i++;
        }
    }
}

void ss_page_text(struct ss_page *p, const char *s)
{
    escape_html(p, (const unsigned char *)s, strlen(s), false);
}

void ss_page_bytes(struct ss_page *p, const uint8_t *s, size_t n)
{
    escape_html(p, s, n, true);
}

void ss_page_url(struct ss_page *p, const char *s)
{
    static const char digits[] = "0123456789ABCDEF";
    for (const unsigned char *c = (const unsigned char *)s; *c; c++) {
        if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
            *c == '-' || *c == '_' || *c == '.' || *c == '~') {
            put(p, (const char *)c, 1);
        } else {
            char e[3] = {'%', digits[*c >> 4], digits[*c & 15]};
            put(p, e, 3);
        }
    }
}

void ss_page_json(struct ss_page *p, const char *s)
{
    put(p, "\"", 1);
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        unsigned char c = u[i];
        size_t len = utf8_len(u + i, n - i);
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            put(p, e, 2);
            i++;
        } else if (c < 0x20 || c == 0x7f || c == '<' || c == '>' || c == '&') {
            ss_page_raw(p, "\\u%04x", c);
            i++;
        } else if (len) {
            put(p, (const char *)u + i, len);
            i += len;
        } else {
            put(p, "\\ufffd", 6);
            i++;
        }
    }
    put(p, "\"", 1);
}
