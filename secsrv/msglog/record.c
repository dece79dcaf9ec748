#include "record.h"
#include "ss_sha256.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One field of the hashed encoding: a 4-byte big-endian length, then the bytes. */
static void field(struct ss_sha256 *md, const void *p, size_t n)
{
    uint8_t len[4] = {(uint8_t)(n >> 24), (uint8_t)(n >> 16), (uint8_t)(n >> 8), (uint8_t)n};
    ss_sha256_update(md, len, 4);
    if (n)
        ss_sha256_update(md, p, n);
}

static void field_str(struct ss_sha256 *md, const char *s)
{
    field(md, s, strlen(s));
}

static void field_int(struct ss_sha256 *md, long long v)
{
    char text[32];
    int n = snprintf(text, sizeof text, "%lld", v);
    field(md, text, (size_t)n);
}

/* SHA-256 of a part, or nothing when the part is absent. */
static void field_digest(struct ss_sha256 *md, const uint8_t *p, size_t n)
{
    if (!p || !n) {
        field(md, NULL, 0);
        return;
    }
    uint8_t d[32];
    ss_sha256(p, n, d);
    field(md, d, 32);
}

void ss_record_commit(const struct ss_record *r, uint8_t out[32])
{
    struct ss_sha256 st, *md = &st;
    ss_sha256_init(md);
    field_str(md, "secsrv-content 1");
    field(md, r->salt, 32);
    field(md, r->subject_hash, r->has_subject ? 32 : 0);
    field(md, r->message_sha256, 32);
    field_digest(md, r->manifest, r->manifest_len);
    field_digest(md, r->sealed ? r->message : NULL, r->sealed ? r->message_len : 0);
    ss_sha256_final(md, out);
}

/* Version 1: the subject hash and the manifest's digest in the record's own hash. */
static void hash_v1(const struct ss_record *r, uint8_t out[32])
{
    struct ss_sha256 st, *md = &st;
    ss_sha256_init(md);
    field_str(md, "secsrv-record 1");
    field_int(md, r->id);
    field_int(md, r->logged_ms);
    field_str(md, r->side);
    field_str(md, r->direction);
    field_str(md, r->query_id);
    field_str(md, r->request_id);
    field_str(md, r->client);
    field_str(md, r->service);
    field_str(md, r->purpose);
    field(md, r->subject_hash, r->has_subject ? 32 : 0);
    field_int(md, r->status);
    field_str(md, r->error_type);
    field_int(md, r->retain_until);
    field(md, r->message_sha256, 32);
    field_digest(md, r->manifest, r->manifest_len);
    field_digest(md, r->signature, r->signature_len);
    field_str(md, r->sig_path);
    field_digest(md, r->ocsp, r->ocsp_len);
    field(md, r->prev_hash, 32);
    ss_sha256_final(md, out);
}

void ss_record_hash(const struct ss_record *r, uint8_t out[32])
{
    if (!r->has_content) {
        hash_v1(r, out);
        return;
    }
    struct ss_sha256 st, *md = &st;
    ss_sha256_init(md);
    field_str(md, "secsrv-record 2");
    field_int(md, r->id);
    field_int(md, r->logged_ms);
    field_str(md, r->side);
    field_str(md, r->direction);
    field_str(md, r->query_id);
    field_str(md, r->request_id);
    field_str(md, r->client);
    field_str(md, r->service);
    field_str(md, r->purpose);
    field_int(md, r->status);
    field_str(md, r->error_type);
    field_int(md, r->retain_until);
    field_digest(md, r->signature, r->signature_len);
    field_str(md, r->sig_path);
    field_digest(md, r->ocsp, r->ocsp_len);
    field(md, r->content, 32);
    field(md, r->prev_hash, 32);
    ss_sha256_final(md, out);
}
