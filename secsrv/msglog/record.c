#include "record.h"
#include "ss_grow.h"
#include "ss_sha256.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Where the encoding goes: into a SHA-256 (hashing), into a buffer (an
 * export's preimage file, with the offsets of the digests in it), or both.
 * One encoder serves both, so that an exported preimage is byte for byte
 * what the chain hashes.
 */
struct sink {
    struct ss_sha256 *md;
    struct ss_record_encoding *out;
    bool failed;
};

static void put(struct sink *k, const void *p, size_t n)
{
    if (k->md && n)
        ss_sha256_update(k->md, p, n);
    if (!k->out || k->failed || !n)
        return;
    struct ss_record_encoding *e = k->out;
    if (!ss_grow(&e->data, &e->cap, e->len + n, 1, 1024)) {
        k->failed = true;
        return;
    }
    memcpy(e->data + e->len, p, n);
    e->len += n;
}

/* One field of the encoding: a 4-byte big-endian length, then the bytes. Returns where they start.
 */
static size_t field(struct sink *k, const void *p, size_t n)
{
    uint8_t len[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    put(k, len, 4);
    size_t at = k->out ? k->out->len : 0;
    put(k, p, n);
    return at;
}

static void field_str(struct sink *k, const char *s)
{
    field(k, s, strlen(s));
}

static void field_int(struct sink *k, long long v)
{
    char text[32];
    int n = snprintf(text, sizeof text, "%lld", v);
    field(k, text, (size_t)n);
}

/* SHA-256 of a part, or nothing when the part is absent; where it starts (0 when absent). */
static size_t field_digest(struct sink *k, const uint8_t *p, size_t n)
{
    if (!p || !n) {
        field(k, NULL, 0);
        return 0;
    }
    uint8_t d[32];
    ss_sha256(p, n, d);
    return field(k, d, 32);
}

static void encode_content(const struct ss_record *r, struct sink *k)
{
    struct ss_record_encoding *e = k->out;
    field_str(k, "secsrv-content 1");
    field(k, r->salt, 32);
    field(k, r->subject_hash, r->has_subject ? 32 : 0);
    size_t message = field(k, r->message_sha256, 32);
    /* how the message is stored, so that a message removed is seen, not taken for metadata */
    field_str(k, !r->message ? "none" : r->sealed ? "sealed" : "plain");
    size_t manifest = field_digest(k, r->manifest, r->manifest_len);
    size_t sealed = field_digest(k, r->sealed ? r->message : NULL, r->sealed ? r->message_len : 0);
    if (e) {
        e->message_sha256_at = message;
        e->manifest_at = manifest;
        e->sealed_at = sealed;
    }
}

/*
 * The record's own encoding. Version 2 (r->has_content) binds the content
 * through its commitment; version 1 holds the subject hash and the message
 * and manifest digests itself, where version 2 has nothing.
 */
static void encode_record(const struct ss_record *r, struct sink *k)
{
    struct ss_record_encoding *e = k->out;
    bool v1 = !r->has_content;
    size_t message = 0, manifest = 0, content = 0;
    field_str(k, v1 ? "secsrv-record 1" : "secsrv-record 2");
    field_int(k, r->id);
    field_int(k, r->logged_ms);
    field_str(k, r->side);
    field_str(k, r->direction);
    field_str(k, r->query_id);
    field_str(k, r->request_id);
    field_str(k, r->client);
    field_str(k, r->service);
    field_str(k, r->purpose);
    if (v1)
        field(k, r->subject_hash, r->has_subject ? 32 : 0);
    field_int(k, r->status);
    field_str(k, r->error_type);
    field_int(k, r->retain_until);
    if (v1) {
        message = field(k, r->message_sha256, 32);
        manifest = field_digest(k, r->manifest, r->manifest_len);
    }
    size_t signature = field_digest(k, r->signature, r->signature_len);
    field_str(k, r->sig_path);
    size_t ocsp = field_digest(k, r->ocsp, r->ocsp_len);
    if (!v1)
        content = field(k, r->content, 32);
    field(k, r->prev_hash, 32);
    if (e) {
        e->message_sha256_at = message;
        e->manifest_at = manifest;
        e->signature_at = signature;
        e->ocsp_at = ocsp;
        e->content_at = content;
    }
}

void ss_record_commit(const struct ss_record *r, uint8_t out[32])
{
    struct ss_sha256 md;
    ss_sha256_init(&md);
    struct sink k = {.md = &md};
    encode_content(r, &k);
    ss_sha256_final(&md, out);
}

void ss_record_hash(const struct ss_record *r, uint8_t out[32])
{
    struct ss_sha256 md;
    ss_sha256_init(&md);
    struct sink k = {.md = &md};
    encode_record(r, &k);
    ss_sha256_final(&md, out);
}

ss_error ss_record_encode(const struct ss_record *r, bool content, struct ss_record_encoding *out)
{
    memset(out, 0, sizeof *out);
    struct sink k = {.out = out};
    if (content)
        encode_content(r, &k);
    else
        encode_record(r, &k);
    if (k.failed) {
        ss_record_encoding_free(out);
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    }
    return SS_OK;
}

void ss_record_encoding_free(struct ss_record_encoding *e)
{
    free(e->data);
    memset(e, 0, sizeof *e);
}
