#include "form.h"
#include "registry.h"
#include "ss_hex.h"

#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Whether p[0..n) is UTF-8 (shortest forms, no surrogates) without control characters. */
static bool clean_utf8(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = p[i];
        if (c < 0x20 || c == 0x7f)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t len = c >= 0xc2 && c <= 0xdf   ? 2
                     : c >= 0xe0 && c <= 0xef ? 3
                     : c >= 0xf0 && c <= 0xf4 ? 4
                                              : 0;
        if (!len || i + len > n)
            return false;
        for (size_t k = 1; k < len; k++)
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
        if ((c == 0xe0 && p[i + 1] < 0xa0) || (c == 0xed && p[i + 1] >= 0xa0) ||
            (c == 0xf0 && p[i + 1] < 0x90) || (c == 0xf4 && p[i + 1] >= 0x90))
            return false;
        if (c == 0xc2 && p[i + 1] < 0xa0) /* C1 controls */
            return false;
        i += len;
    }
    return true;
}

static bool name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

ss_error ss_form_parse(const char *data, size_t len, struct ss_form *out)
{
    memset(out, 0, sizeof *out);
    if (len > SS_FORM_MAX_BYTES)
        return ss_errf(SS_ERR_PROTOCOL, "form: %zu bytes, more than the %u allowed", len,
                       (unsigned)SS_FORM_MAX_BYTES);
    if (len == 0)
        return SS_OK;
    out->storage_len = len + SS_FORM_MAX_FIELDS + 1;
    out->storage = malloc(out->storage_len);
    if (!out->storage)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    size_t used = 0;
    ss_error err = SS_OK;
    for (size_t at = 0; at <= len && !err;) {
        const char *start = data + at;
        const char *end = memchr(start, '&', len - at);
        size_t flen = end ? (size_t)(end - start) : len - at;
        at += flen + 1;
        if (flen == 0) /* between two '&', or before or after all: skipped, as browsers do */
            continue;
        const char *eq = memchr(start, '=', flen);
        size_t nlen = eq ? (size_t)(eq - start) : flen;
        if (nlen == 0 || nlen >= sizeof out->fields[0].name) {
            err = ss_errf(SS_ERR_PROTOCOL, "form: a field name of %zu characters (1 to %zu)", nlen,
                          sizeof out->fields[0].name - 1);
            break;
        }
        for (size_t i = 0; i < nlen; i++)
            if (!name_char(start[i])) {
                err = ss_errf(SS_ERR_PROTOCOL,
                              "form: a field name with a character other than A-Z a-z 0-9 _ -");
                break;
            }
        if (err)
            break;
        if (out->n == SS_FORM_MAX_FIELDS) {
            err = ss_errf(SS_ERR_PROTOCOL, "form: more than %d fields", SS_FORM_MAX_FIELDS);
            break;
        }
        struct ss_form_field *f = &out->fields[out->n];
        memcpy(f->name, start, nlen);
        f->name[nlen] = '\0';
        for (size_t i = 0; i < out->n; i++)
            if (strcmp(out->fields[i].name, f->name) == 0) {
                err = ss_errf(SS_ERR_PROTOCOL, "form: field '%s' given twice", f->name);
                break;
            }
        if (err)
            break;
        const char *v = eq ? eq + 1 : start + flen;
        size_t vlen = eq ? flen - nlen - 1 : 0;
        f->value = out->storage + used;
        long dlen = ss_hex_percent_decode(v, vlen, true, f->value, vlen + 1);
        if (dlen < 0) {
            err = ss_errf(SS_ERR_PROTOCOL,
                          "form: field '%s': a '%%' not followed by two hex digits", f->name);
        } else if ((size_t)dlen > SS_FORM_MAX_VALUE) {
            err = ss_errf(SS_ERR_PROTOCOL, "form: field '%s': more than %d bytes", f->name,
                          SS_FORM_MAX_VALUE);
        } else if (!clean_utf8((const unsigned char *)f->value, (size_t)dlen)) {
            err = ss_errf(SS_ERR_PROTOCOL,
                          "form: field '%s': not UTF-8 text, or a control character", f->name);
        } else {
            used += (size_t)dlen + 1;
            out->n++;
        }
    }
    if (err)
        ss_form_cleanup(out);
    return err;
}

const char *ss_form_get(const struct ss_form *f, const char *name)
{
    for (size_t i = 0; i < f->n; i++)
        if (strcmp(f->fields[i].name, name) == 0)
            return f->fields[i].value;
    return NULL;
}

void ss_form_cleanup(struct ss_form *f)
{
    if (f->storage) {
        sodium_memzero(f->storage, f->storage_len);
        free(f->storage);
    }
    memset(f, 0, sizeof *f);
}

bool ss_form_time(const char *s, int64_t *ms)
{
    char full[21];
    if (strlen(s) == 10)
        snprintf(full, sizeof full, "%sT00:00:00Z", s);
    else
        snprintf(full, sizeof full, "%.20s", s);
    time_t t = 0;
    if (strlen(s) > 20 || !ss_time_parse(full, &t) || t < 0)
        return false;
    *ms = (int64_t)t * 1000;
    return true;
}
