#include "manifest.h"
#include "registry.h"
#include "ss_hex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool ss_manifest_query_id_valid(const char *s)
{
    return ss_visible_ascii(s, strnlen(s, SS_MANIFEST_QUERY_ID_MAX + 1), SS_MANIFEST_QUERY_ID_MAX);
}

/* A bounded writer. */
struct writer {
    char *out;
    size_t size, len;
    bool overflow;
};

static void put(struct writer *w, const char *key, const char *value)
{
    int n = snprintf(w->out + w->len, w->size - w->len, "%s: %s\n", key, value);
    if (n < 0 || (size_t)n >= w->size - w->len) {
        w->overflow = true;
        return;
    }
    w->len += (size_t)n;
}

static void put_hash(struct writer *w, const char *key, const uint8_t h[32])
{
    char hex[65];
    ss_hex_sha256_format(h, hex);
    put(w, key, hex);
}

/* The characters each field may hold; all fields are single-line. */
static bool id_text_valid(const char *s)
{
    return ss_visible_ascii(s, strlen(s), SIZE_MAX);
}

ss_error ss_manifest_format(const struct ss_manifest *m, char *out, size_t size, size_t *len)
{
    *len = 0;
    if (!ss_manifest_query_id_valid(m->query_id) || strlen(m->request_id) != 36 ||
        !id_text_valid(m->client) || !id_text_valid(m->service) ||
        (m->purpose[0] && !id_text_valid(m->purpose)))
        return ss_errf(SS_ERR_INTERNAL, "a manifest field is empty or not visible ASCII");
    struct writer w = {out, size, 0, false};
    char when[21], status[16];
    ss_time_format(m->time, when);
    put(&w, "secsrv-manifest", "1");
    put(&w, "kind", m->kind == SS_MANIFEST_REQUEST ? "request" : "response");
    put(&w, "time", when);
    put(&w, "query-id", m->query_id);
    put(&w, "request-id", m->request_id);
    put(&w, "client", m->client);
    put(&w, "service", m->service);
    put(&w, "purpose", m->purpose[0] ? m->purpose : "-");
    if (m->has_subject)
        put_hash(&w, "subject-hash", m->subject_hash);
    else
        put(&w, "subject-hash", "-");
    if (m->kind == SS_MANIFEST_RESPONSE) {
        snprintf(status, sizeof status, "%u", m->status);
        put(&w, "status", status);
        put_hash(&w, "request-manifest-sha256", m->request_manifest_sha256);
    }
    put_hash(&w, m->kind == SS_MANIFEST_REQUEST ? "request-line-sha256" : "status-line-sha256",
             m->line_sha256);
    put_hash(&w, "headers-sha256", m->headers_sha256);
    put_hash(&w, "body-sha256", m->body_sha256);
    if (w.overflow)
        return ss_errf(SS_ERR_LIMIT, "manifest larger than %zu bytes", size);
    *len = w.len;
    return SS_OK;
}

/* A bounded reader of "key: value\n" lines. */
struct reader {
    const uint8_t *p, *end;
};

/* Reads the line "key: VALUE\n" into value (at most max bytes). */
static bool get(struct reader *r, const char *key, char *value, size_t max)
{
    size_t klen = strlen(key);
    if ((size_t)(r->end - r->p) < klen + 2 || memcmp(r->p, key, klen) != 0 || r->p[klen] != ':' ||
        r->p[klen + 1] != ' ')
        return false;
    const uint8_t *v = r->p + klen + 2;
    const uint8_t *nl = memchr(v, '\n', (size_t)(r->end - v));
    if (!nl || !ss_visible_ascii((const char *)v, (size_t)(nl - v), max))
        return false;
    memcpy(value, v, (size_t)(nl - v));
    value[nl - v] = '\0';
    r->p = nl + 1;
    return true;
}

static bool get_hash(struct reader *r, const char *key, uint8_t out[32], bool *absent)
{
    char v[65];
    if (!get(r, key, v, 64))
        return false;
    if (absent && strcmp(v, "-") == 0) {
        *absent = true;
        return true;
    }
    if (absent)
        *absent = false;
    if (strlen(v) != 64)
        return false;
    for (size_t i = 0; i < 64; i++)
        if (ss_hex_digit(v[i]) < 0 || (v[i] >= 'A' && v[i] <= 'F'))
            return false;
    return ss_hex_sha256_parse(v, out);
}

ss_error ss_manifest_parse(const uint8_t *text, size_t len, struct ss_manifest *out)
{
    memset(out, 0, sizeof *out);
    if (!text || len > SS_MANIFEST_MAX)
        return ss_errf(SS_ERR_PROTOCOL, "manifest empty or larger than %d bytes", SS_MANIFEST_MAX);
    struct reader r = {text, text + len};
    char v[SS_ID_STR_MAX];
    const char *bad = NULL;
    bool absent = false;
    if (!get(&r, "secsrv-manifest", v, 8) || strcmp(v, "1") != 0)
        bad = "secsrv-manifest";
    else if (!get(&r, "kind", v, 16) || (strcmp(v, "request") != 0 && strcmp(v, "response") != 0))
        bad = "kind";
    if (!bad)
        out->kind = strcmp(v, "request") == 0 ? SS_MANIFEST_REQUEST : SS_MANIFEST_RESPONSE;
    if (!bad && (!get(&r, "time", v, 20) || !ss_time_parse(v, &out->time)))
        bad = "time";
    if (!bad && !get(&r, "query-id", out->query_id, SS_MANIFEST_QUERY_ID_MAX))
        bad = "query-id";
    if (!bad && (!get(&r, "request-id", out->request_id, 36) || strlen(out->request_id) != 36))
        bad = "request-id";
    if (!bad && !get(&r, "client", out->client, sizeof out->client - 1))
        bad = "client";
    if (!bad && !get(&r, "service", out->service, sizeof out->service - 1))
        bad = "service";
    if (!bad && !get(&r, "purpose", out->purpose, SS_MANIFEST_PURPOSE_MAX))
        bad = "purpose";
    if (!bad && strcmp(out->purpose, "-") == 0)
        out->purpose[0] = '\0';
    if (!bad && !get_hash(&r, "subject-hash", out->subject_hash, &absent))
        bad = "subject-hash";
    out->has_subject = !absent;
    if (!bad && out->kind == SS_MANIFEST_RESPONSE) {
        char *end = NULL;
        if (!get(&r, "status", v, 3) || v[0] < '1' || v[0] > '5' ||
            (out->status = (unsigned)strtoul(v, &end, 10), *end != '\0') || strlen(v) != 3)
            bad = "status";
        else if (!get_hash(&r, "request-manifest-sha256", out->request_manifest_sha256, NULL))
            bad = "request-manifest-sha256";
    }
    const char *line_key =
        out->kind == SS_MANIFEST_REQUEST ? "request-line-sha256" : "status-line-sha256";
    if (!bad && !get_hash(&r, line_key, out->line_sha256, NULL))
        bad = line_key;
    if (!bad && !get_hash(&r, "headers-sha256", out->headers_sha256, NULL))
        bad = "headers-sha256";
    if (!bad && !get_hash(&r, "body-sha256", out->body_sha256, NULL))
        bad = "body-sha256";
    if (!bad && r.p != r.end)
        bad = "end (extra bytes)";
    if (bad)
        return ss_errf(SS_ERR_PROTOCOL, "manifest: line '%s' missing or malformed", bad);
    return SS_OK;
}
