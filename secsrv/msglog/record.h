/*
 * record: one entry of the message log and its place in the hash chain.
 * A record is written for every request and every response on each side
 * of an exchange, refusals included.
 *
 * A record's hash (version 2) covers its number, time, side, direction,
 * the exchange's identifiers, purpose, status and error type, retention
 * deadline, the SHA-256 of its signature and of the stapled OCSP response,
 * the signature's inclusion path, its content commitment and the hash of
 * the record before it (32 zero bytes for the first), encoded as documented
 * in secsrv/msglog/README.md. The content commitment is a SHA-256 over a
 * random per-record salt, the keyed hash of the data-subject reference, the
 * SHA-256 of the raw message, of the manifest (which names the subject
 * hash) and, when the message is stored sealed to the DPO's key, of the
 * sealed box. After the retention deadline the content (message, subject
 * hash, manifest, salt) can be purged: the commitment stays, so the chain
 * and everything else still verify, and without the salt nothing left can
 * be tested against a person's identifier.
 *
 * Version 1 records (written before version 2) hash the subject hash and
 * the manifest's digest directly and have no commitment; they verify as
 * they were written.
 */
#ifndef SS_RECORD_H
#define SS_RECORD_H

#include "merkle.h"
#include "ss_error.h"
#include "ss_id.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SS_RECORD_MESSAGE_MAX (63u * 1024 * 1024) /* within one IPC frame */

struct ss_record {
    int64_t id;        /* from 1, in chain order; set by the logger */
    int64_t logged_ms; /* when the logger wrote it (Unix time in ms); set by the logger */
    char side[8];      /* "client" (client proxy) or "server" (server proxy) */
    char direction[9]; /* "request" or "response" */
    char query_id[256];
    char request_id[37];
    char client[SS_ID_STR_MAX];  /* "" when the request named none that parsed */
    char service[SS_ID_STR_MAX]; /* "" likewise */
    char purpose[65];
    bool has_subject;
    uint8_t subject_hash[32];
    unsigned status;      /* HTTP status of the answer this record led to or is */
    char error_type[129]; /* "" unless refused */
    int64_t retain_until; /* Unix time after which the content may be purged */
    uint8_t message_sha256[32];
    const uint8_t *message; /* the raw message, or NULL (metadata only, or purged) */
    size_t message_len;
    const uint8_t *manifest; /* NULL for a refusal made before signing */
    size_t manifest_len;
    const uint8_t *signature;
    size_t signature_len;
    char sig_path[SS_MERKLE_PATH_TEXT_MAX];
    const uint8_t *ocsp;
    size_t ocsp_len;
    uint8_t prev_hash[32];
    uint8_t hash[32];
    /* version 2: the content commitment and its salt (the salt is gone once purged) */
    bool has_content;
    uint8_t content[32];
    bool has_salt;
    uint8_t salt[32];
    bool sealed; /* message is a sealed box to the DPO's key; message_sha256 is the plain one's */
};

/* The content commitment of r (r->has_salt: its salt and content fields are all there). */
void ss_record_commit(const struct ss_record *r, uint8_t out[32]);

/*
 * The chain hash of r: version 2 over r->content (r->has_content) and the
 * fields named above, version 1 otherwise. Not over r->hash itself.
 */
void ss_record_hash(const struct ss_record *r, uint8_t out[32]);

/*
 * The bytes the chain hash (content false) or the content commitment
 * (content true, r->has_salt) is taken over, as an export shows them to
 * stock tools, with where each digest sits in them (0: absent or in the
 * other encoding): version 1 records keep the message and manifest digests
 * in the record's own encoding, version 2 records in the content's.
 */
struct ss_record_encoding {
    uint8_t *data;
    size_t len, cap;
    size_t message_sha256_at, manifest_at, sealed_at; /* of the message and manifest */
    size_t signature_at, ocsp_at, content_at;         /* of the record */
};
ss_error ss_record_encode(const struct ss_record *r, bool content,
                          struct ss_record_encoding *out) SS_MUST_CHECK;
void ss_record_encoding_free(struct ss_record_encoding *e);

#endif
