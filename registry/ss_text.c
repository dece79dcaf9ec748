/* A growing text buffer with XML and JSON escaping, see text.h. */
#include "ss_text.h"

#include "ss_grow.h"

#include <libxml/entities.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ss_text_put(struct ss_text *t, const char *s, size_t n)
{
    if (t->failed || !ss_grow(&t->p, &t->cap, t->len + n + 1, 1, 512)) {
        t->failed = true;
        return;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

void ss_text_puts(struct ss_text *t, const char *s)
{
    ss_text_put(t, s, strlen(s));
}

void ss_text_printf(struct ss_text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (t->failed || n < 0 || !ss_grow(&t->p, &t->cap, t->len + (size_t)n + 1, 1, 512)) {
        t->failed = true;
        return;
    }
    va_start(ap, fmt);
    vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
    va_end(ap);
    t->len += (size_t)n;
}

/* The length of the valid UTF-8 sequence at p (of avail bytes), or 0; *c is its code point. */
static size_t utf8_char(const unsigned char *p, size_t avail, uint32_t *c)
{
    *c = p[0];
    if (p[0] < 0x80)
        return 1;
    size_t n = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc2 ? 2 : 0;
    if (n == 0 || n > avail || p[0] > 0xf4)
        return 0;
    *c = p[0] & (0x7f >> n);
    for (size_t i = 1; i < n; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        *c = *c << 6 | (p[i] & 0x3f);
    }
    bool overlong = (n == 3 && *c < 0x800) || (n == 4 && *c < 0x10000);
    bool excluded = (*c >= 0xd800 && *c <= 0xdfff) || *c > 0x10ffff;
    return overlong || excluded ? 0 : n;
}

/* The same, 0 also for the two code points XML 1.0 excludes. */
static size_t xml_char(const unsigned char *p, size_t avail)
{
    uint32_t c;
    size_t n = utf8_char(p, avail, &c);
    return c == 0xfffe || c == 0xffff ? 0 : n;
}

size_t ss_text_utf8_end(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t at = 0;
    uint32_t c;
    for (size_t len; at < n && (len = utf8_char(p + at, n - at, &c)) != 0;)
        at += len;
    return at;
}

void ss_text_xml(struct ss_text *t, const char *s)
{
    /* what XML may hold: valid UTF-8 (else '?'), no control characters but tab and LF */
    char *kept = malloc(strlen(s) + 1);
    if (!kept) {
        t->failed = true;
        return;
    }
    size_t n = 0;
    const unsigned char *end = (const unsigned char *)s + strlen(s);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        size_t len = xml_char(p, (size_t)(end - p));
        if (len == 0) {
            kept[n++] = '?';
            p++;
        } else if (len == 1 && *p < 0x20 && *p != '\t' && *p != '\n') {
            p++;
        } else {
            memcpy(kept + n, p, len);
            n += len;
            p += len;
        }
    }
    kept[n] = '\0';
    /* libxml2's escaping of &, <, >, and of " for attribute values */
    xmlChar *x = xmlEncodeSpecialChars(NULL, (const xmlChar *)kept);
    free(kept);
    if (!x) {
        t->failed = true;
        return;
    }
    ss_text_puts(t, (const char *)x);
    xmlFree(x);
}

void ss_text_json(struct ss_text *t, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            ss_text_put(t, e, 2);
        } else if (c < 0x20 || c == 0x7f) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", c);
            ss_text_put(t, e, 6);
        } else {
            ss_text_put(t, (const char *)&c, 1);
        }
    }
}

ss_error ss_text_take(struct ss_text *t, char **out, size_t *len)
{
    if (t->failed || !t->p) {
        free(t->p);
        *t = (struct ss_text){0};
        *out = NULL;
        *len = 0;
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    }
    *out = t->p;
    *len = t->len;
    *t = (struct ss_text){0};
    return SS_OK;
}

void ss_text_element(struct ss_text *t, const char *name, const char *s)
{
    ss_text_puts(t, "<");
    ss_text_puts(t, name);
    ss_text_puts(t, ">");
    ss_text_xml(t, s);
    ss_text_puts(t, "</");
    ss_text_puts(t, name);
    ss_text_puts(t, ">");
}
