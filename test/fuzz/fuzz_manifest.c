/*
 * Fuzz target for manifests (secsrv/msglog/manifest.c): the input goes to
 * ss_manifest_parse(). The text form is canonical, so whatever parses is
 * checked three ways:
 *
 *   - every field has its documented form: the query id 1-255 visible
 *     ASCII bytes, the request id 36, client and service non-empty visible
 *     ASCII, the purpose empty or visible ASCII other than "-", the status
 *     100-599 in a response and 0 in a request, fields a kind does not
 *     carry zero, the time a second of the years 0000-9999;
 *   - this target writes the text from the fields itself (its own hex and
 *     time formatting, the key order of the header's documentation) and
 *     gets back exactly the input;
 *   - ss_manifest_format() gives back exactly the input, needs exactly
 *     len + 1 bytes (SS_ERR_LIMIT with one less, never a byte past the
 *     buffer), and its output parses to the same fields.
 *
 * A parse that fails must fail with SS_ERR_PROTOCOL and a reason; every
 * accepted input is refused without its last byte. No PKI is needed; the
 * test PKI's samples/manifest/ holds manifests made by deploy/pki.sh.
 */
#include "manifest.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_manifest: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

/* 1 to max bytes of 0x21-0x7e, NUL-terminated within size. */
static bool visible(const char *s, size_t size, size_t max)
{
    size_t n = strnlen(s, size);
    if (n == size || n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

static bool all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return false;
    return true;
}

static void check_fields(const struct ss_manifest *m)
{
    if (m->kind != SS_MANIFEST_REQUEST && m->kind != SS_MANIFEST_RESPONSE)
        die("kind out of range", NULL);
    if (!visible(m->query_id, sizeof m->query_id, SS_MANIFEST_QUERY_ID_MAX) ||
        !ss_manifest_query_id_valid(m->query_id))
        die("query id not 1-255 visible ASCII bytes", NULL);
    if (!visible(m->request_id, sizeof m->request_id, 36) || strlen(m->request_id) != 36)
        die("request id not 36 visible ASCII bytes", NULL);
    if (!visible(m->client, sizeof m->client, sizeof m->client - 1))
        die("client empty or not visible ASCII", NULL);
    if (!visible(m->service, sizeof m->service, sizeof m->service - 1))
        die("service empty or not visible ASCII", NULL);
    if (m->purpose[0] && (!visible(m->purpose, sizeof m->purpose, SS_MANIFEST_PURPOSE_MAX) ||
                          strcmp(m->purpose, "-") == 0))
        die("purpose neither empty nor visible ASCII", NULL);
    if (!m->has_subject && !all_zero(m->subject_hash, 32))
        die("subject hash set without has_subject", NULL);
    if (m->kind == SS_MANIFEST_RESPONSE) {
        if (m->status < 100 || m->status > 599)
            die("response status outside 100-599", NULL);
    } else if (m->status != 0 || !all_zero(m->request_manifest_sha256, 32)) {
        die("request with response fields", NULL);
    }
    struct tm tm;
    if (!gmtime_r(&m->time, &tm) || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
        die("time outside the years 0000-9999", NULL);
}

/* ---- the text, written here without the module's code ---- */

struct text {
    char buf[SS_MANIFEST_MAX + 1];
    size_t len;
    bool overflow;
};

static void add(struct text *t, const char *key, const char *value)
{
    size_t k = strlen(key), v = strlen(value);
    if (t->overflow || t->len + k + 2 + v + 1 > sizeof t->buf) {
        t->overflow = true;
        return;
    }
    memcpy(t->buf + t->len, key, k);
    memcpy(t->buf + t->len + k, ": ", 2);
    memcpy(t->buf + t->len + k + 2, value, v);
    t->buf[t->len + k + 2 + v] = '\n';
    t->len += k + 2 + v + 1;
}

static void add_hex(struct text *t, const char *key, const uint8_t h[32])
{
    static const char digits[] = "0123456789abcdef";
    char hex[65];
    for (int i = 0; i < 32; i++) {
        hex[2 * i] = digits[h[i] >> 4];
        hex[2 * i + 1] = digits[h[i] & 15];
    }
    hex[64] = '\0';
    add(t, key, hex);
}

static void render(const struct ss_manifest *m, struct text *t)
{
    struct tm tm;
    char when[80], status[16];
    gmtime_r(&m->time, &tm);
    snprintf(when, sizeof when, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
    snprintf(status, sizeof status, "%u", m->status);
    bool request = m->kind == SS_MANIFEST_REQUEST;
    t->len = 0;
    t->overflow = false;
    add(t, "secsrv-manifest", "1");
    add(t, "kind", request ? "request" : "response");
    add(t, "time", when);
    add(t, "query-id", m->query_id);
    add(t, "request-id", m->request_id);
    add(t, "client", m->client);
    add(t, "service", m->service);
    add(t, "purpose", m->purpose[0] ? m->purpose : "-");
    if (m->has_subject)
        add_hex(t, "subject-hash", m->subject_hash);
    else
        add(t, "subject-hash", "-");
    if (!request) {
        add(t, "status", status);
        add_hex(t, "request-manifest-sha256", m->request_manifest_sha256);
    }
    add_hex(t, request ? "request-line-sha256" : "status-line-sha256", m->line_sha256);
    add_hex(t, "headers-sha256", m->headers_sha256);
    add_hex(t, "body-sha256", m->body_sha256);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ss_manifest m;
    ss_error err = ss_manifest_parse(data, size, &m);
    if (err) {
        if (err != SS_ERR_PROTOCOL)
            die("unexpected error code", ss_error_name(err));
        if (!*ss_errmsg())
            die("refused without a reason", NULL);
        return 0;
    }
    if (size == 0 || size > SS_MANIFEST_MAX)
        die("accepted a manifest of out-of-range size", NULL);
    check_fields(&m);

    static struct text mine;
    render(&m, &mine);
    if (mine.overflow || mine.len != size || memcmp(mine.buf, data, size) != 0)
        die("the input is not the canonical text of the fields it parsed to", NULL);

    /* the module's own formatter, into a heap buffer of exactly the room it may use */
    char *out = malloc(size + 1);
    if (!out)
        die("out of memory", NULL);
    size_t len = 0;
    err = ss_manifest_format(&m, out, size + 1, &len);
    if (err)
        die("ss_manifest_format refused what ss_manifest_parse accepted", ss_errmsg());
    if (len != size || memcmp(out, data, size) != 0)
        die("ss_manifest_format does not give back the input", NULL);
    struct ss_manifest back;
    if (ss_manifest_parse((const uint8_t *)out, len, &back) != SS_OK ||
        memcmp(&back, &m, sizeof m) != 0)
        die("the formatted text parses to other fields", NULL);
    free(out);
    out = malloc(size);
    if (!out)
        die("out of memory", NULL);
    if (ss_manifest_format(&m, out, size, &len) != SS_ERR_LIMIT || len != 0)
        die("ss_manifest_format fitted len + 1 bytes into len", NULL);
    free(out);

    /* the last line ends with its newline: nothing shorter is a manifest */
    if (ss_manifest_parse(data, size - 1, &back) == SS_OK)
        die("accepted both the input and the input without its last byte", NULL);
    return 0;
}
