/*
 * manifest: what a message signature covers. A manifest is a small text
 * document, one "key: value" line per field in a fixed order, naming the
 * exchange (client, service, query id, request id, purpose, keyed hash of
 * the data-subject reference, time) and binding the raw message by SHA-256
 * digests of its request line (or status), its header fields and its body;
 * a response manifest also binds the request's manifest. Its exact form is
 * documented in secsrv/msglog/README.md. Formatting and parsing are exact
 * inverses; the parser accepts nothing else (no reordering, no spaces,
 * no missing or extra line).
 */
#ifndef SS_MANIFEST_H
#define SS_MANIFEST_H

#include "ss_error.h"
#include "ss_id.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SS_MANIFEST_MAX 8192         /* bytes of a formatted manifest */
#define SS_MANIFEST_QUERY_ID_MAX 255 /* X-Road-Id */
#define SS_MANIFEST_PURPOSE_MAX 64

enum ss_manifest_kind { SS_MANIFEST_REQUEST, SS_MANIFEST_RESPONSE };

struct ss_manifest {
    enum ss_manifest_kind kind;
    time_t time;                                 /* when the sender made it, UTC */
    char query_id[SS_MANIFEST_QUERY_ID_MAX + 1]; /* visible ASCII */
    char request_id[37];                         /* UUID */
    char client[SS_ID_STR_MAX];                  /* INSTANCE/CLASS/MEMBER[/SUBSYSTEM] */
    char service[SS_ID_STR_MAX];                 /* INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE[/V] */
    char purpose[SS_MANIFEST_PURPOSE_MAX + 1];   /* "" when the request carries none */
    bool has_subject;
    uint8_t subject_hash[32]; /* keyed BLAKE2b of the data-subject reference */
    uint8_t line_sha256[32];  /* request: "METHOD TARGET"; response: the status as digits */
    uint8_t headers_sha256[32];
    uint8_t body_sha256[32];
    /* response only */
    unsigned status;
    uint8_t request_manifest_sha256[32];
};

/* Writes m as text into out (size bytes); *len is its length. */
ss_error ss_manifest_format(const struct ss_manifest *m, char *out, size_t size,
                            size_t *len) SS_MUST_CHECK SS_NONNULL(1, 2, 4);
/* Parses exactly the text ss_manifest_format writes. */
ss_error ss_manifest_parse(const uint8_t *text, size_t len, struct ss_manifest *out) SS_MUST_CHECK
    SS_NONNULL(3);

/* True if s is a query id a manifest can carry: 1-255 bytes of 0x21-0x7e. */
bool ss_manifest_query_id_valid(const char *s);

#endif
