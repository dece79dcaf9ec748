/*
 * ts_util.c — helpers of ss-testserver: a bounded growable buffer with JSON
 * string escaping, and SHA-256 (FIPS 180-4) for hashing request bodies
 * without holding them in memory.
 */
#include "testserver.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- bounded buffer ---------------------------------------------------- */

void ts_buf_init(struct ts_buf *buf, size_t max)
{
    buf->data = NULL;
    buf->len = 0;
    buf->cap = 0;
    buf->max = max;
    buf->failed = false;
}

void ts_buf_cleanup(struct ts_buf *buf)
{
    free(buf->data);
    ts_buf_init(buf, buf->max);
}

char *ts_buf_take(struct ts_buf *buf, size_t *len)
{
    char *data = buf->data;
    *len = buf->len;
    ts_buf_init(buf, buf->max);
    return data;
}

static bool buf_reserve(struct ts_buf *buf, size_t extra)
{
    if (buf->failed)
        return false;
    if (extra > buf->max - buf->len) {
        buf->failed = true;
        return false;
    }
    size_t need = buf->len + extra;
    if (need <= buf->cap)
        return true;
    size_t cap = buf->cap ? buf->cap : 256;
    while (cap < need)
        cap = cap > buf->max / 2 ? buf->max : cap * 2;
    char *data = realloc(buf->data, cap);
    if (data == NULL) {
        buf->failed = true;
        return false;
    }
    buf->data = data;
    buf->cap = cap;
    return true;
}

bool ts_buf_append(struct ts_buf *buf, const void *bytes, size_t len)
{
    if (len == 0)
        return !buf->failed;
    if (!buf_reserve(buf, len))
        return false;
    memcpy(buf->data + buf->len, bytes, len);
    buf->len += len;
    return true;
}

bool ts_buf_puts(struct ts_buf *buf, const char *text)
{
    return ts_buf_append(buf, text, strlen(text));
}

bool ts_buf_uint(struct ts_buf *buf, uint64_t value)
{
    char digits[24];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)value);
    if (n < 0 || (size_t)n >= sizeof digits)
        return false;
    return ts_buf_append(buf, digits, (size_t)n);
}

bool ts_buf_json_string(struct ts_buf *buf, const char *bytes, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    if (!ts_buf_append(buf, "\"", 1))
        return false;
    size_t run = 0; /* start of the bytes not yet copied */
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)bytes[i];
        if (c != '"' && c != '\\' && c >= 0x20 && c != 0x7f)
            continue;
        ts_buf_append(buf, bytes + run, i - run);
        run = i + 1;
        if (c == '"' || c == '\\') {
            char esc[2] = {'\\', (char)c};
            ts_buf_append(buf, esc, sizeof esc);
        } else {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            ts_buf_append(buf, esc, sizeof esc);
        }
    }
    ts_buf_append(buf, bytes + run, len - run);
    return ts_buf_append(buf, "\"", 1);
}

/* ---- SHA-256 ------------------------------------------------------------ */

static const uint32_t sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static uint32_t rotr32(uint32_t x, unsigned n)
{
    return (x >> n) | (x << (32 - n));
}

static void sha256_block(uint32_t state[8], const uint8_t block[64])
{
    uint32_t w[64];
    for (unsigned t = 0; t < 16; t++)
        w[t] = (uint32_t)block[4 * t] << 24 | (uint32_t)block[4 * t + 1] << 16 |
               (uint32_t)block[4 * t + 2] << 8 | (uint32_t)block[4 * t + 3];
    for (unsigned t = 16; t < 64; t++) {
        uint32_t s0 = rotr32(w[t - 15], 7) ^ rotr32(w[t - 15], 18) ^ (w[t - 15] >> 3);
        uint32_t s1 = rotr32(w[t - 2], 17) ^ rotr32(w[t - 2], 19) ^ (w[t - 2] >> 10);
        w[t] = w[t - 16] + s0 + w[t - 7] + s1;
    }
    uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
    uint32_t e = state[4], f = state[5], g = state[6], h = state[7];
    for (unsigned t = 0; t < 64; t++) {
        uint32_t sum1 = rotr32(e, 6) ^ rotr32(e, 11) ^ rotr32(e, 25);
        uint32_t choose = (e & f) ^ (~e & g);
        uint32_t t1 = h + sum1 + choose + sha256_k[t] + w[t];
        uint32_t sum0 = rotr32(a, 2) ^ rotr32(a, 13) ^ rotr32(a, 22);
        uint32_t majority = (a & b) ^ (a & c) ^ (b & c);
        uint32_t t2 = sum0 + majority;
        h = g;
        g = f;
        f = e;
        e = d + t1;
        d = c;
        c = b;
        b = a;
        a = t1 + t2;
    }
    state[0] += a;
    state[1] += b;
    state[2] += c;
    state[3] += d;
    state[4] += e;
    state[5] += f;
    state[6] += g;
    state[7] += h;
}

void ts_sha256_init(struct ts_sha256 *ctx)
{
    static const uint32_t initial[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(ctx->state, initial, sizeof initial);
    ctx->total = 0;
    ctx->used = 0;
}

void ts_sha256_update(struct ts_sha256 *ctx, const void *bytes, size_t len)
{
    const uint8_t *p = bytes;
    ctx->total += len;
    if (ctx->used > 0) {
        size_t take = sizeof ctx->block - ctx->used;
        if (take > len)
            take = len;
        memcpy(ctx->block + ctx->used, p, take);
        ctx->used += take;
        p += take;
        len -= take;
        if (ctx->used < sizeof ctx->block)
            return;
        sha256_block(ctx->state, ctx->block);
        ctx->used = 0;
    }
    while (len >= sizeof ctx->block) {
        sha256_block(ctx->state, p);
        p += sizeof ctx->block;
        len -= sizeof ctx->block;
    }
    memcpy(ctx->block, p, len);
    ctx->used = len;
}

void ts_sha256_final(struct ts_sha256 *ctx, uint8_t digest[32])
{
    uint64_t bits = ctx->total * 8;
    ctx->block[ctx->used++] = 0x80;
    if (ctx->used > 56) {
        memset(ctx->block + ctx->used, 0, sizeof ctx->block - ctx->used);
        sha256_block(ctx->state, ctx->block);
        ctx->used = 0;
    }
    memset(ctx->block + ctx->used, 0, 56 - ctx->used);
    for (unsigned i = 0; i < 8; i++)
        ctx->block[56 + i] = (uint8_t)(bits >> (56 - 8 * i));
    sha256_block(ctx->state, ctx->block);
    for (unsigned i = 0; i < 8; i++) {
        digest[4 * i] = (uint8_t)(ctx->state[i] >> 24);
        digest[4 * i + 1] = (uint8_t)(ctx->state[i] >> 16);
        digest[4 * i + 2] = (uint8_t)(ctx->state[i] >> 8);
        digest[4 * i + 3] = (uint8_t)ctx->state[i];
    }
}

char *ts_read_file(const char *path, size_t max, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        fprintf(stderr, "ss-testserver: %s: %s\n", path, strerror(errno));
        return NULL;
    }
    char *text = malloc(max + 2);
    size_t n = text ? fread(text, 1, max + 1, f) : 0;
    bool bad = text == NULL || ferror(f) || n > max;
    fclose(f);
    if (bad) {
        fprintf(stderr, "ss-testserver: %s: cannot read (larger than %zu bytes?)\n", path, max);
        free(text);
        return NULL;
    }
    text[n] = '\0';
    *len = n;
    return text;
}
