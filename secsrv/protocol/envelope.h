/*
 * envelope: how a message travels between two security servers with its
 * evidence. The information system's X-Road REST message stays as it is;
 * the sending server adds four header fields, each base64 (RFC 4648, with
 * padding) except the path:
 *
 *   X-Secsrv-Manifest        the manifest the signature covers (msglog/manifest.h)
 *   X-Secsrv-Signature       the detached CMS SignedData (DER)
 *   X-Secsrv-Signature-Path  the inclusion path of a batch signature ("-": signed directly)
 *   X-Secsrv-Ocsp            the OCSP response for the signing certificate (DER)
 *
 * The receiver rebuilds what the manifest binds from the message as it
 * arrived: the digest of the request line ("METHOD TARGET") or of the
 * status (three digits), of the header fields, and of the body, each
 * SHA-256. The header digest covers every field except the hop-by-hop
 * ones (rest.h), Date, and these four, as "name: value\r\n" with the name
 * in lower case, in the order of a stable sort by name: the order two HTTP
 * stacks keep may differ, a field's value may not. The body is never
 * re-serialised: its digest is over the bytes as received.
 */
#ifndef SS_ENVELOPE_H
#define SS_ENVELOPE_H

#include "headers.h"
#include "merkle.h"
#include "ss_error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SS_HDR_MANIFEST "X-Secsrv-Manifest"
#define SS_HDR_SIGNATURE "X-Secsrv-Signature"
#define SS_HDR_SIGNATURE_PATH "X-Secsrv-Signature-Path"
#define SS_HDR_OCSP "X-Secsrv-Ocsp"

/*
 * What a security server adds to the header fields of the message it
 * passes on, at most: on a request, Accept, X-Road-Id, X-Road-Client and
 * X-Road-Request-Id beside the four evidence fields; on a response, the
 * evidence fields and X-Road's. A server allows its outbound messages this
 * much beyond its [limits], and its server proxy takes this much beyond
 * them, so that a request within the consumer's limits is not refused by
 * the provider for what the consumer's server added. The evidence takes
 * about 3.5 kB with one certificate and an OCSP response of a few hundred
 * bytes; the rest leaves room for longer keys, a certificate chain and a
 * full inclusion path.
 */
#define SS_ENVELOPE_ADDED_FIELDS 8
#define SS_ENVELOPE_ADDED_BYTES 16384

/* True for the four evidence fields. */
bool ss_envelope_field(const char *name);

/* The evidence one message carries (owned, malloc'd parts). */
struct ss_envelope {
    uint8_t *manifest;
    size_t manifest_len;
    uint8_t *cms;
    size_t cms_len;
    char path[SS_MERKLE_PATH_TEXT_MAX];
    uint8_t *ocsp;
    size_t ocsp_len;
};

void ss_envelope_cleanup(struct ss_envelope *e);

/* Adds the evidence fields to h. */
ss_error ss_envelope_add(struct ss_headers *h, const struct ss_envelope *e) SS_MUST_CHECK;

/*
 * Reads the evidence fields of h. SS_ERR_MISSING_SIGNATURE when none is
 * there, SS_ERR_BAD_SIGNATURE when one is missing, doubled or not base64
 * (RFC 4648 alphabet only). An empty X-Secsrv-Ocsp means no staple (the
 * verifier refuses that). The path is taken as text; the verifier parses it.
 */
ss_error ss_envelope_take(const struct ss_headers *h, struct ss_envelope *e) SS_MUST_CHECK;

/* The digest of the header fields, as described above. */
ss_error ss_envelope_fields_digest(const struct ss_headers *h, uint8_t out[32]) SS_MUST_CHECK;

/* SHA-256 of "METHOD TARGET", of the three status digits, and of bytes. */
void ss_envelope_line_digest(const char *method, const char *target, uint8_t out[32]);
void ss_envelope_status_digest(unsigned status, uint8_t out[32]);
void ss_envelope_sha256(const void *p, size_t n, uint8_t out[32]);

/*
 * The raw message as the log keeps it (without the evidence fields, which
 * the record holds on their own): "METHOD TARGET\r\n" or "STATUS\r\n", the
 * fields "name: value\r\n" as they are, "\r\n", the body. Malloc'd.
 */
ss_error ss_envelope_raw(const char *method, const char *target, unsigned status,
                         const struct ss_headers *h, const uint8_t *body, size_t body_len,
                         uint8_t **out, size_t *out_len) SS_MUST_CHECK;

#endif
