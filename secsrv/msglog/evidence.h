/*
 * evidence: checking a message signature the way a receiving server and,
 * later, a data-protection officer check it, with one implementation.
 *
 * A signature is a detached CMS SignedData (RFC 5652; SHA-256 or stronger,
 * signing time, ESS signing-certificate-v2) by a member's signing
 * certificate, over either the message's manifest itself or, for a batch,
 * the batch document "secsrv-batch-root: HEX\n" naming the root of a hash
 * tree whose leaf for this message is ss_merkle_leaf(manifest); the
 * inclusion path then leads from that leaf to the root.
 *
 * The certificate profile ties a certificate to a member: the subject's
 * serialNumber attribute is "INSTANCE/CLASS/MEMBER", keyUsage allows
 * digitalSignature or nonRepudiation, the key is ECDSA P-256/P-384 or RSA
 * of at least 3072 bits (BSI TR-02102), and the chain leads to a CA the
 * registry approves, valid at the signing time. A stapled OCSP response
 * from a responder the registry lists must say "good" and be fresh.
 *
 * Verified signatures are remembered in a bounded cache, so a batch
 * signature is checked once for all the messages it covers.
 */
#ifndef SS_EVIDENCE_H
#define SS_EVIDENCE_H

#include "ss_error.h"
#include "ss_id.h"
#include "trust.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SS_EVIDENCE_CMS_MAX 32768 /* bytes of one signature */
#define SS_EVIDENCE_BATCH_PREFIX "secsrv-batch-root: "
#define SS_EVIDENCE_BATCH_LEN (sizeof SS_EVIDENCE_BATCH_PREFIX - 1 + 64 + 1)

/* The document a batch signature covers: "secsrv-batch-root: HEX\n" (no NUL). */
void ss_evidence_batch_content(const uint8_t root[32], char out[SS_EVIDENCE_BATCH_LEN + 1]);

/* The member a signing certificate (DER) names under the profile above. */
ss_error ss_evidence_cert_member(const uint8_t *der, size_t len, const char *instance,
                                 struct ss_client_id *member) SS_MUST_CHECK SS_NONNULL(1, 3, 4);

/* The signing certificate a signature carries (DER, malloc'd); no check is made. */
ss_error ss_evidence_signer_cert(const uint8_t *cms, size_t cms_len, uint8_t **der,
                                 size_t *der_len) SS_MUST_CHECK;

/* What an OCSP response says about its first certificate, for people to read. */
struct ss_ocsp_info {
    char status[12];     /* "good", "revoked", "unknown", or the response status */
    char responder[512]; /* by name (RFC 2253) or "key SHA1HEX" */
    time_t produced_at, this_update, next_update, revoked_at; /* 0: absent */
};
/* Describes a DER OCSP response; no signature is checked (ss_evidence_verify does). */
ss_error ss_ocsp_describe(const uint8_t *der, size_t len, struct ss_ocsp_info *out) SS_MUST_CHECK
    SS_NONNULL(1, 3);

struct ss_sig_cache;
ss_error ss_sig_cache_new(size_t max_entries, struct ss_sig_cache **out) SS_MUST_CHECK;
void ss_sig_cache_free(struct ss_sig_cache *c);

/* What was checked, when a signature verifies. */
struct ss_sig_verified {
    struct ss_client_id member; /* whose certificate signed */
    uint8_t signer_sha256[32];  /* the signing certificate's fingerprint */
    time_t signing_time;
    bool batch;  /* signed as part of a batch (an inclusion path was given) */
    bool cached; /* the signature had been verified before */
};

/*
 * Verifies the signature cms (DER) over manifest, with path ("" or NULL:
 * signed directly; else the inclusion path text of a batch) and the
 * stapled OCSP response ocsp, against the registry of t. Checks the CMS
 * structure and attributes, the signature, the certificate profile, the
 * chain at the signing time and the OCSP staple. What the caller checks
 * itself: that out->member is the member it expects and that the signing
 * time is recent enough. cache may be NULL.
 * Errors: SS_ERR_BAD_SIGNATURE (form, signature, profile),
 * SS_ERR_BAD_CERTIFICATE (chain), SS_ERR_SIGNER_REVOKED, SS_ERR_VALIDATION_INFO
 * (OCSP staple missing, stale, from a responder the registry does not list,
 * or not good).
 */
ss_error ss_evidence_verify(const struct ss_trust *t, struct ss_sig_cache *cache,
                            const uint8_t *manifest, size_t manifest_len, const uint8_t *cms,
                            size_t cms_len, const char *path, const uint8_t *ocsp, size_t ocsp_len,
                            struct ss_sig_verified *out) SS_MUST_CHECK SS_NONNULL(1, 3, 5, 10);

#endif
