/*
 * Fuzz target for the envelope (secsrv/protocol/envelope.c). The input is
 * a message head as text: a start line ("METHOD TARGET", or a status of
 * digits), header lines "Name: value" up to an empty line, then the body.
 * Lines end with LF or CRLF; a line whose name is not a token or that holds
 * a NUL is left out (the HTTP reader refuses those before the envelope
 * sees them). The fields go into a struct ss_headers, and then:
 *
 *   - ss_envelope_take() must return exactly the code this target works
 *     out itself from the documented rules (each evidence field at most
 *     once, all four or none, the path "-" or non-empty and of bounded
 *     length, the manifest and the signature strict padded base64 of at
 *     least one byte, decoded here with a decoder of its own, the OCSP
 *     response that too or empty: no staple, which the verifier refuses).
 *     On SS_OK the parts are those bytes (no staple for an empty
 *     X-Secsrv-Ocsp), the path "" for "-" or the field's value; a path that
 *     ss_merkle_path_parse() accepts is also accepted by this target's own
 *     reading of the documented form and formats back to the same text
 *     (and the other way round). ss_envelope_add() of what was taken,
 *     taken again, gives the same parts.
 *   - ss_envelope_fields_digest() gives the same digest twice, the digest
 *     computed here (documented filter, stable sort by lower-case name,
 *     "name: value\r\n"), and the same digest for the fields shuffled
 *     (deterministically, from the input) so that fields of one name keep
 *     their order among themselves.
 *   - ss_envelope_raw() gives exactly the bytes built here ("METHOD
 *     TARGET\r\n" or "%03u\r\n", every field but the evidence fields as
 *     "name: value\r\n", "\r\n", the body), so its length too.
 * No PKI is needed.
 */
#include "envelope.h"

#include <openssl/evp.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FIELDS 64
#define MAX_FIELD_BYTES 65536

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_envelope: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

/* ---- reading the input ---- */

static bool token_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The next line of [*p, end) without its LF or CRLF; false at the end. */
static bool next_line(const uint8_t **p, const uint8_t *end, const uint8_t **line, size_t *len)
{
    if (*p >= end)
        return false;
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    const uint8_t *stop = nl ? nl : end;
    *line = *p;
    *len = (size_t)(stop - *p);
    if (*len && (*line)[*len - 1] == '\r')
        (*len)--;
    *p = nl ? nl + 1 : end;
    return true;
}

struct message {
    char method[64], target[1024]; /* method "" for a response */
    unsigned status;
    struct ss_headers h;
    const uint8_t *body;
    size_t body_len;
};

static void read_start_line(const uint8_t *line, size_t len, struct message *msg)
{
    const uint8_t *sp = memchr(line, ' ', len);
    msg->method[0] = '\0';
    msg->status = 200;
    if (sp && !memchr(line, '\0', len) && (size_t)(sp - line) < sizeof msg->method &&
        len - (size_t)(sp - line) - 1 < sizeof msg->target) {
        size_t m = (size_t)(sp - line);
        memcpy(msg->method, line, m);
        msg->method[m] = '\0';
        memcpy(msg->target, sp + 1, len - m - 1);
        msg->target[len - m - 1] = '\0';
        if (m == 0)
            snprintf(msg->method, sizeof msg->method, "GET");
        return;
    }
    unsigned v = 0;
    for (size_t i = 0; i < len && i < 9 && line[i] >= '0' && line[i] <= '9'; i++)
        v = v * 10 + (unsigned)(line[i] - '0');
    msg->status = v;
}

static void read_message(const uint8_t *data, size_t size, struct message *msg)
{
    const uint8_t *p = data, *end = data + size, *line = NULL;
    size_t len = 0;
    ss_headers_init(&msg->h, MAX_FIELDS, MAX_FIELD_BYTES);
    msg->body = end;
    msg->body_len = 0;
    if (!next_line(&p, end, &line, &len)) {
        read_start_line(data, 0, msg);
        return;
    }
    read_start_line(line, len, msg);
    while (next_line(&p, end, &line, &len)) {
        if (len == 0) {
            msg->body = p;
            msg->body_len = (size_t)(end - p);
            return;
        }
        const uint8_t *colon = memchr(line, ':', len);
        if (!colon || colon == line || memchr(line, '\0', len))
            continue;
        size_t name_len = (size_t)(colon - line);
        bool token = true;
        for (size_t i = 0; i < name_len && token; i++)
            token = token_char(line[i]);
        if (!token)
            continue;
        const uint8_t *v = colon + 1, *v_end = line + len;
        while (v < v_end && (*v == ' ' || *v == '\t'))
            v++;
        ss_error err = ss_headers_addn(&msg->h, (const char *)line, name_len, (const char *)v,
                                       (size_t)(v_end - v));
        if (err == SS_ERR_LIMIT)
            continue;
        if (err)
            die("ss_headers_addn", ss_errmsg());
    }
}

/* ---- base64 (RFC 4648, with padding), decoded strictly ---- */

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/* Decodes s into out (strlen(s) bytes of room); false unless strict and non-empty. */
static bool b64_decode(const char *s, uint8_t *out, size_t *out_len)
{
    size_t n = strlen(s);
    *out_len = 0;
    if (n == 0 || n % 4 != 0)
        return false;
    size_t pad = s[n - 1] == '=' ? (s[n - 2] == '=' ? 2 : 1) : 0;
    for (size_t i = 0; i < n - pad; i++)
        if (b64_value(s[i]) < 0)
            return false;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        for (int k = 0; k < 4; k++)
            v[k] = i + (size_t)k < n - pad ? b64_value(s[i + (size_t)k]) : 0;
        uint32_t q =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        size_t chunk = i + 4 < n ? 3 : 3 - pad;
        if (chunk < 3 && (q & (chunk == 1 ? 0xffffu : 0xffu)) != 0)
            return false; /* bits beyond the last byte must be zero */
        for (size_t k = 0; k < chunk; k++)
            out[o++] = (uint8_t)(q >> (16 - 8 * k));
    }
    *out_len = o;
    return o > 0;
}

/* ---- inclusion paths, read here from the documented form ---- */

/* "L HEX" or "R HEX" steps (HEX: 64 lower-case digits) separated by one space. */
static bool path_form(const char *s)
{
    size_t n = strlen(s), steps = 0, i = 0;
    while (i < n) {
        if (steps > 0 && s[i++] != ' ')
            return false;
        if (n - i < 66 || (s[i] != 'L' && s[i] != 'R') || s[i + 1] != ' ')
            return false;
        for (size_t k = i + 2; k < i + 66; k++)
            if (!((s[k] >= '0' && s[k] <= '9') || (s[k] >= 'a' && s[k] <= 'f')))
                return false;
        i += 66;
        steps++;
    }
    return steps <= SS_MERKLE_MAX_DEPTH;
}

static void check_path(const char *path)
{
    struct ss_merkle_path steps;
    bool parsed = ss_merkle_path_parse(path, strlen(path), &steps) == SS_OK;
    if (parsed != path_form(path))
        die(parsed ? "ss_merkle_path_parse accepted a path not in the documented form"
                   : "ss_merkle_path_parse refused a path in the documented form",
            NULL);
    if (!parsed)
        return;
    static char text[SS_MERKLE_PATH_TEXT_MAX];
    ss_merkle_path_format(&steps, text);
    if (strcmp(text, path) != 0)
        die("an inclusion path does not format back to its text", NULL);
}

/* ---- ss_envelope_take ---- */

static const char *const evidence_names[4] = {SS_HDR_MANIFEST, SS_HDR_SIGNATURE,
                                              SS_HDR_SIGNATURE_PATH, SS_HDR_OCSP};

static const char *value_of(const struct ss_headers *h, const char *name)
{
    for (size_t i = 0; i < h->n; i++)
        if (strcasecmp(h->items[i].name, name) == 0)
            return h->items[i].value;
    return NULL;
}

struct part {
    uint8_t *bytes;
    size_t len;
};

/* The code ss_envelope_take must give, and the parts on SS_OK. */
static ss_error expected_take(const struct ss_headers *h, struct part parts[3], const char **path)
{
    size_t count[4] = {0}, present = 0;
    for (size_t i = 0; i < h->n; i++)
        for (int k = 0; k < 4; k++)
            count[k] += strcasecmp(h->items[i].name, evidence_names[k]) == 0;
    for (int k = 0; k < 4; k++) {
        if (count[k] > 1)
            return SS_ERR_BAD_SIGNATURE;
        present += count[k];
    }
    if (present == 0)
        return SS_ERR_MISSING_SIGNATURE;
    if (present != 4)
        return SS_ERR_BAD_SIGNATURE;
    *path = value_of(h, SS_HDR_SIGNATURE_PATH);
    if (strcmp(*path, "-") == 0)
        *path = "";
    else if (!(*path)[0] || strlen(*path) >= SS_MERKLE_PATH_TEXT_MAX)
        return SS_ERR_BAD_SIGNATURE;
    static const char *const b64_names[3] = {SS_HDR_MANIFEST, SS_HDR_SIGNATURE, SS_HDR_OCSP};
    for (int k = 0; k < 3; k++) {
        const char *v = value_of(h, b64_names[k]);
        parts[k].bytes = malloc(strlen(v) + 1);
        if (!parts[k].bytes)
            die("out of memory", NULL);
        if (k == 2 && !v[0])
            continue; /* an empty X-Secsrv-Ocsp: no staple, for the verifier to refuse */
        if (!b64_decode(v, parts[k].bytes, &parts[k].len))
            return SS_ERR_BAD_SIGNATURE;
    }
    return SS_OK;
}

static void same_parts(const struct ss_envelope *e, const struct part parts[3], const char *path,
                       const char *what)
{
    const uint8_t *got[3] = {e->manifest, e->cms, e->ocsp};
    size_t got_len[3] = {e->manifest_len, e->cms_len, e->ocsp_len};
    for (int k = 0; k < 3; k++) {
        if (k == 2 && parts[k].len == 0) {
            if (got[k] || got_len[k])
                die(what, "an empty X-Secsrv-Ocsp gave a staple");
            continue;
        }
        if (!got[k] || got_len[k] == 0 || got_len[k] != parts[k].len ||
            memcmp(got[k], parts[k].bytes, parts[k].len) != 0)
            die(what, "a part is empty or not the bytes its field encodes");
    }
    if (strnlen(e->path, sizeof e->path) == sizeof e->path || strcmp(e->path, path) != 0)
        die(what, "the path is not the field's value");
}

static void check_take(const struct ss_headers *h)
{
    struct part parts[3] = {{NULL, 0}, {NULL, 0}, {NULL, 0}};
    const char *path = NULL;
    ss_error want = expected_take(h, parts, &path);
    struct ss_envelope e;
    ss_error got = ss_envelope_take(h, &e);
    if (got != want) {
        char detail[160];
        snprintf(detail, sizeof detail, "%s, expected %s (%s)", ss_error_name(got),
                 ss_error_name(want), got ? ss_errmsg() : "");
        die("ss_envelope_take", detail);
    }
    if (got) {
        if (!*ss_errmsg())
            die("refused without a reason", NULL);
        if (e.manifest || e.cms || e.ocsp)
            die("ss_envelope_take failed but left parts behind", NULL);
    } else {
        same_parts(&e, parts, path, "ss_envelope_take");
        if (e.path[0])
            check_path(e.path);
        /* what is taken and added again is taken back the same */
        struct ss_headers again;
        ss_headers_init(&again, 0, 0);
        if (ss_envelope_add(&again, &e) != SS_OK)
            die("ss_envelope_add", ss_errmsg());
        struct ss_envelope back;
        if (ss_envelope_take(&again, &back) != SS_OK)
            die("ss_envelope_take refused what ss_envelope_add wrote", ss_errmsg());
        same_parts(&back, parts, path, "ss_envelope_add then ss_envelope_take");
        ss_envelope_cleanup(&back);
        ss_headers_cleanup(&again);
    }
    ss_envelope_cleanup(&e);
    for (int k = 0; k < 3; k++)
        free(parts[k].bytes);
}

/* ---- ss_envelope_fields_digest ---- */

/* Left out of the digest: the hop-by-hop fields of rest.h, Date, the evidence. */
static bool digested(const char *name)
{
    static const char *const skipped[] = {"Connection",
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
                                          "Expect",
                                          "Date",
                                          SS_HDR_MANIFEST,
                                          SS_HDR_SIGNATURE,
                                          SS_HDR_SIGNATURE_PATH,
                                          SS_HDR_OCSP};
    for (size_t i = 0; i < sizeof skipped / sizeof skipped[0]; i++)
        if (strcasecmp(name, skipped[i]) == 0)
            return false;
    return true;
}

static int lower(int c)
{
    return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static int name_cmp(const char *a, const char *b)
{
    for (;; a++, b++) {
        int d = lower((unsigned char)*a) - lower((unsigned char)*b);
        if (d || !*a)
            return d;
    }
}

static void my_digest(const struct ss_headers *h, uint8_t out[32])
{
    size_t order[MAX_FIELDS + 4], n = 0;
    for (size_t i = 0; i < h->n; i++)
        if (digested(h->items[i].name))
            order[n++] = i;
    /* a stable selection: the least name first, the earliest of equal names first */
    for (size_t i = 0; i < n; i++) {
        size_t best = i;
        for (size_t j = i + 1; j < n; j++)
            if (name_cmp(h->items[order[j]].name, h->items[order[best]].name) < 0)
                best = j;
        size_t v = order[best];
        memmove(&order[i + 1], &order[i], (best - i) * sizeof order[0]);
        order[i] = v;
    }
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned int len = 32;
    if (!md || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
        die("SHA-256", NULL);
    for (size_t i = 0; i < n; i++) {
        const struct ss_header *f = &h->items[order[i]];
        for (const char *c = f->name; *c; c++) {
            char lc = (char)lower((unsigned char)*c);
            EVP_DigestUpdate(md, &lc, 1);
        }
        EVP_DigestUpdate(md, ": ", 2);
        EVP_DigestUpdate(md, f->value, strlen(f->value));
        EVP_DigestUpdate(md, "\r\n", 2);
    }
    EVP_DigestFinal_ex(md, out, &len);
    EVP_MD_CTX_free(md);
}

static uint64_t next_random(uint64_t *state)
{
    /* splitmix64 */
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* h's fields in a shuffled order in which fields of one name keep their order. */
static void shuffled(const struct ss_headers *h, uint64_t seed, struct ss_headers *out)
{
    size_t perm[MAX_FIELDS + 4], n = h->n;
    for (size_t i = 0; i < n; i++)
        perm[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)(next_random(&seed) % i);
        size_t t = perm[i - 1];
        perm[i - 1] = perm[j];
        perm[j] = t;
    }
    /* the slots each name got, refilled with that name's fields in their first order */
    bool done[MAX_FIELDS + 4] = {false};
    for (size_t i = 0; i < n; i++) {
        if (done[i])
            continue;
        const char *name = h->items[perm[i]].name;
        size_t next_original = 0;
        for (size_t s = i; s < n; s++) {
            if (done[s] || name_cmp(h->items[perm[s]].name, name) != 0)
                continue;
            while (name_cmp(h->items[next_original].name, name) != 0)
                next_original++;
            perm[s] = next_original++;
            done[s] = true;
        }
    }
    ss_headers_init(out, 0, 0);
    for (size_t i = 0; i < n; i++)
        if (ss_headers_add(out, h->items[perm[i]].name, h->items[perm[i]].value) != SS_OK)
            die("ss_headers_add", ss_errmsg());
}

static void check_digest(const struct ss_headers *h, uint64_t seed)
{
    uint8_t a[32], b[32], mine[32], other[32];
    if (ss_envelope_fields_digest(h, a) != SS_OK || ss_envelope_fields_digest(h, b) != SS_OK)
        die("ss_envelope_fields_digest", ss_errmsg());
    if (memcmp(a, b, 32) != 0)
        die("ss_envelope_fields_digest differs between two calls", NULL);
    my_digest(h, mine);
    if (memcmp(a, mine, 32) != 0)
        die("ss_envelope_fields_digest is not the documented digest", NULL);
    struct ss_headers sh;
    shuffled(h, seed, &sh);
    if (ss_envelope_fields_digest(&sh, other) != SS_OK)
        die("ss_envelope_fields_digest", ss_errmsg());
    if (memcmp(a, other, 32) != 0)
        die("the digest changed when fields of different names were reordered", NULL);
    ss_headers_cleanup(&sh);
}

/* ---- ss_envelope_raw ---- */

static void check_raw(const struct message *msg)
{
    const char *method = msg->method[0] ? msg->method : NULL;
    const struct ss_headers *h = &msg->h;
    /* the length, worked out first, then the bytes */
    char start[sizeof msg->method + sizeof msg->target + 16];
    int r = method ? snprintf(start, sizeof start, "%s %s\r\n", method, msg->target)
                   : snprintf(start, sizeof start, "%03u\r\n", msg->status);
    if (r < 0 || (size_t)r >= sizeof start)
        die("start line", NULL);
    size_t want_len = (size_t)r + 2 + msg->body_len;
    for (size_t i = 0; i < h->n; i++)
        if (!ss_envelope_field(h->items[i].name))
            want_len += strlen(h->items[i].name) + 2 + strlen(h->items[i].value) + 2;
    uint8_t *want = malloc(want_len ? want_len : 1);
    if (!want)
        die("out of memory", NULL);
    size_t o = 0;
    memcpy(want, start, (size_t)r);
    o += (size_t)r;
    for (size_t i = 0; i < h->n; i++) {
        if (!ss_envelope_field(h->items[i].name)) {
            size_t nl = strlen(h->items[i].name), vl = strlen(h->items[i].value);
            memcpy(want + o, h->items[i].name, nl);
            memcpy(want + o + nl, ": ", 2);
            memcpy(want + o + nl + 2, h->items[i].value, vl);
            memcpy(want + o + nl + 2 + vl, "\r\n", 2);
            o += nl + vl + 4;
        }
    }
    memcpy(want + o, "\r\n", 2);
    o += 2;
    if (msg->body_len)
        memcpy(want + o, msg->body, msg->body_len);
    o += msg->body_len;
    if (o != want_len)
        die("the target's own length accounting is off", NULL);

    uint8_t *raw = NULL;
    size_t raw_len = 0;
    if (ss_envelope_raw(method, method ? msg->target : NULL, msg->status, h, msg->body,
                        msg->body_len, &raw, &raw_len) != SS_OK)
        die("ss_envelope_raw", ss_errmsg());
    if (!raw || raw_len != want_len)
        die("ss_envelope_raw: the length is not the one worked out", NULL);
    if (memcmp(raw, want, want_len) != 0)
        die("ss_envelope_raw: the bytes are not the documented form", NULL);
    free(raw);
    free(want);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct message msg;
    read_message(data, size, &msg);
    uint64_t seed = 0x5ec5e1f0u ^ (uint64_t)size;
    for (size_t i = 0; i < size && i < 64; i++)
        seed = seed * 131 + data[i];
    check_take(&msg.h);
    check_digest(&msg.h, seed);
    check_raw(&msg);
    ss_headers_cleanup(&msg.h);
    return 0;
}
