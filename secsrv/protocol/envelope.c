#include "envelope.h"
#include "rest.h"
#include "ss_sha256.h"

#include <limits.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool ss_envelope_field(const char *name)
{
    return ss_rest_header_evidence(name);
}

void ss_envelope_cleanup(struct ss_envelope *e)
{
    free(e->manifest);
    free(e->cms);
    free(e->ocsp);
    memset(e, 0, sizeof *e);
}

static ss_error add_base64(struct ss_headers *h, const char *name, const uint8_t *p, size_t n)
{
    if (n > INT_MAX / 4 * 3)
        return ss_errf(SS_ERR_TOO_LARGE, "%s too large", name);
    char *text = malloc((n + 2) / 3 * 4 + 1);
    if (!text)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    EVP_EncodeBlock((unsigned char *)text, p, (int)n);
    ss_error err = ss_headers_add(h, name, text);
    free(text);
    return err;
}

ss_error ss_envelope_add(struct ss_headers *h, const struct ss_envelope *e)
{
    ss_error err;
    if ((err = add_base64(h, SS_HDR_MANIFEST, e->manifest, e->manifest_len)) ||
        (err = add_base64(h, SS_HDR_SIGNATURE, e->cms, e->cms_len)) ||
        (err = ss_headers_add(h, SS_HDR_SIGNATURE_PATH, e->path[0] ? e->path : "-")) ||
        (err = add_base64(h, SS_HDR_OCSP, e->ocsp, e->ocsp_len)))
        return err;
    return SS_OK;
}

/* A base64 digit's value plus one (RFC 4648, section 4); 0 for any other byte. */
static const uint8_t b64_value[256] = {
    ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,  ['G'] = 7,  ['H'] = 8,
    ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
    ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
    ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
    ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64,
};

static int b64_digit(unsigned char c)
{
    return (int)b64_value[c] - 1;
}

/*
 * Decodes padded base64 strictly: the RFC 4648 alphabet and nothing else,
 * '=' only as the last one or two characters, and no bits left over, so
 * that one text and only one stands for given bytes. Returns the length,
 * or 0 for text that is empty or not such base64.
 */
static size_t b64_decode(const char *v, size_t n, uint8_t *out)
{
    if (n == 0 || n % 4)
        return 0;
    size_t pad = v[n - 1] == '=' ? (v[n - 2] == '=' ? 2 : 1) : 0;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int d[4];
        size_t digits = i + 4 == n ? 4 - pad : 4;
        for (size_t k = 0; k < 4; k++) {
            d[k] = k < digits ? b64_digit((unsigned char)v[i + k]) : 0;
            if (d[k] < 0)
                return 0;
        }
        uint32_t w =
            (uint32_t)d[0] << 18 | (uint32_t)d[1] << 12 | (uint32_t)d[2] << 6 | (uint32_t)d[3];
        out[o++] = (uint8_t)(w >> 16);
        if (digits > 2)
            out[o++] = (uint8_t)(w >> 8);
        if (digits > 3)
            out[o++] = (uint8_t)w;
        if ((digits == 2 && (w & 0xffff)) || (digits == 3 && (w & 0xff)))
            return 0; /* bits left over: not the canonical text */
    }
    return o;
}

static ss_error take_base64(const struct ss_headers *h, const char *name, uint8_t **out,
                            size_t *len)
{
    const char *v = ss_headers_get(h, name);
    size_t n = strlen(v);
    uint8_t *bin = malloc(n / 4 * 3 + 1);
    if (!bin)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    if ((*len = b64_decode(v, n, bin)) == 0) {
        free(bin);
        return ss_errf(SS_ERR_BAD_SIGNATURE, "%s is not base64", name);
    }
    *out = bin;
    return SS_OK;
}

ss_error ss_envelope_take(const struct ss_headers *h, struct ss_envelope *e)
{
    memset(e, 0, sizeof *e);
    static const char *const names[] = {SS_HDR_MANIFEST, SS_HDR_SIGNATURE, SS_HDR_SIGNATURE_PATH,
                                        SS_HDR_OCSP};
    size_t present = 0;
    for (size_t i = 0; i < 4; i++) {
        size_t n = ss_headers_count(h, names[i]);
        if (n > 1)
            return ss_errf(SS_ERR_BAD_SIGNATURE, "%s appears %zu times", names[i], n);
        present += n;
    }
    if (present == 0)
        return ss_errf(SS_ERR_MISSING_SIGNATURE, "the message carries no signature");
    if (present != 4)
        return ss_errf(SS_ERR_BAD_SIGNATURE, "the message carries only part of its evidence");
    const char *path = ss_headers_get(h, SS_HDR_SIGNATURE_PATH);
    if (strcmp(path, "-") == 0)
        path = ""; /* signed directly */
    else if (!path[0])
        return ss_errf(SS_ERR_BAD_SIGNATURE, "%s is empty", SS_HDR_SIGNATURE_PATH);
    if (strlen(path) >= sizeof e->path)
        return ss_errf(SS_ERR_BAD_SIGNATURE, "%s too long", SS_HDR_SIGNATURE_PATH);
    snprintf(e->path, sizeof e->path, "%s", path);
    ss_error err;
    if ((err = take_base64(h, SS_HDR_MANIFEST, &e->manifest, &e->manifest_len)) ||
        (err = take_base64(h, SS_HDR_SIGNATURE, &e->cms, &e->cms_len)) ||
        (ss_headers_get(h, SS_HDR_OCSP)[0] && /* empty: no staple (the verifier says so) */
         (err = take_base64(h, SS_HDR_OCSP, &e->ocsp, &e->ocsp_len)))) {
        ss_envelope_cleanup(e);
        return err;
    }
    return SS_OK;
}

void ss_envelope_sha256(const void *p, size_t n, uint8_t out[32])
{
    ss_sha256(p, n, out);
}

void ss_envelope_line_digest(const char *method, const char *target, uint8_t out[32])
{
    struct ss_sha256 md;
    ss_sha256_init(&md);
    ss_sha256_update(&md, (const unsigned char *)method, strlen(method));
    ss_sha256_update(&md, (const unsigned char *)" ", 1);
    ss_sha256_update(&md, (const unsigned char *)target, strlen(target));
    ss_sha256_final(&md, out);
}

void ss_envelope_status_digest(unsigned status, uint8_t out[32])
{
    char text[16];
    int n = snprintf(text, sizeof text, "%03u", status);
    ss_envelope_sha256(text, (size_t)n, out);
}

static bool digested(const char *name)
{
    return !ss_rest_header_filtered(name) && !ss_envelope_field(name) &&
           strcasecmp(name, "Date") != 0;
}

ss_error ss_envelope_fields_digest(const struct ss_headers *h, uint8_t out[32])
{
    size_t *order = malloc((h->n ? h->n : 1) * sizeof *order);
    if (!order)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < h->n; i++)
        if (digested(h->items[i].name))
            order[n++] = i;
    /* insertion sort by name, case-insensitive: stable, and the lists are short */
    for (size_t i = 1; i < n; i++) {
        size_t v = order[i], j = i;
        while (j > 0 && strcasecmp(h->items[order[j - 1]].name, h->items[v].name) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = v;
    }
    struct ss_sha256 md;
    ss_sha256_init(&md);
    for (size_t i = 0; i < n; i++) {
        const struct ss_header *f = &h->items[order[i]];
        char lower[256];
        size_t k = 0;
        for (const char *c = f->name; *c; c++) {
            lower[k++] = (*c >= 'A' && *c <= 'Z') ? (char)(*c - 'A' + 'a') : *c;
            if (k == sizeof lower) {
                ss_sha256_update(&md, (const unsigned char *)lower, k);
                k = 0;
            }
        }
        ss_sha256_update(&md, (const unsigned char *)lower, k);
        ss_sha256_update(&md, (const unsigned char *)": ", 2);
        ss_sha256_update(&md, (const unsigned char *)f->value, strlen(f->value));
        ss_sha256_update(&md, (const unsigned char *)"\r\n", 2);
    }
    ss_sha256_final(&md, out);
    free(order);
    return SS_OK;
}

ss_error ss_envelope_raw(const char *method, const char *target, unsigned status,
                         const struct ss_headers *h, const uint8_t *body, size_t body_len,
                         uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    size_t cap = 64 + body_len + (method ? strlen(method) + strlen(target) : 0);
    for (size_t i = 0; i < h->n; i++)
        cap += strlen(h->items[i].name) + strlen(h->items[i].value) + 4;
    uint8_t *buf = malloc(cap);
    if (!buf)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    size_t o = 0;
    if (method)
        o += (size_t)snprintf((char *)buf, cap, "%s %s\r\n", method, target);
    else
        o += (size_t)snprintf((char *)buf, cap, "%03u\r\n", status);
    for (size_t i = 0; i < h->n; i++) {
        if (ss_envelope_field(h->items[i].name))
            continue;
        o += (size_t)snprintf((char *)buf + o, cap - o, "%s: %s\r\n", h->items[i].name,
                              h->items[i].value);
    }
    memcpy(buf + o, "\r\n", 2);
    o += 2;
    if (body_len)
        memcpy(buf + o, body, body_len);
    o += body_len;
    *out = buf;
    *out_len = o;
    return SS_OK;
}
