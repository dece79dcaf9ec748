/*
 * audit: verifies a stored message log end to end, as a data-protection
 * officer needs it proven, with the checks the daemon makes when the
 * messages arrive (one implementation of each: ss_record_hash,
 * ss_evidence_verify, ss_tsp_verify_token, the hash trees).
 *
 * For each record in order: its number follows the one before, it names the
 * previous record's hash, its hash is the hash of its fields, the stored
 * message has the digest the record names; a signed record's manifest
 * parses and names what the record names, its signature verifies (chain to
 * an approved CA at the signing time, stapled OCSP response fresh and good
 * at the time the record was logged) against the members registry in force
 * when it was logged, by the member the record says sent it; an exchange
 * record that was not refused carries a signature. For each timestamp: it
 * follows the one before without a gap or overlap, the hash tree over its
 * records' hashes has the stored root and gives each record its stored
 * inclusion path, and the RFC 3161 token over that root verifies against
 * the time-stamping authorities of the registry in force at its genTime.
 * Each registry kept in the log verifies against the registry authority's
 * certificate (the anchor). A version 2 record's content (salt, subject
 * hash, message, manifest, sealed box) must match its commitment; a purged
 * one (no salt, no content) must be past its retention deadline, and is
 * verified by its hash (the chain and its timestamp). A sealed message is
 * checked against its digest when the DPO's secret key is given.
 *
 * The trust snapshots are the audit's own, judged as of each record's time.
 */
#ifndef SS_AUDIT_H
#define SS_AUDIT_H

#include "registry.h"
#include "ss_error.h"
#include "store.h"
#include "trust.h"
#include "tsp.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The registry's time-stamping authorities, as ss_tsp_verify wants them (borrowed from reg). */
struct ss_tsa_list {
    struct ss_tsp_authority *auth;
    struct ss_tsp_cert *cas;
    size_t n, n_cas;
};
bool ss_tsa_list_build(const struct ss_registry *reg, struct ss_tsa_list *l);
void ss_tsa_list_cleanup(struct ss_tsa_list *l);

/*
 * The members registries a log keeps, each verified against the registry
 * authority's certificate, in serial order. ss_kept_registry(k, ms, 0) is
 * the one in force at ms (NULL: none kept for then); nth > 0 the later ones
 * that reached the log within SS_AUDIT_REGISTRY_LAG_MS after ms (the
 * network process takes a new registry a moment before its logger keeps
 * it), NULL beyond.
 */
#define SS_AUDIT_REGISTRY_LAG_MS 60000
struct ss_kept_registries;
ss_error ss_kept_registries_load(struct ss_store *s, const struct ss_reg_anchor *anchor,
                                 struct ss_kept_registries **out) SS_MUST_CHECK;
void ss_kept_registries_free(struct ss_kept_registries *k);
size_t ss_kept_registries_count(const struct ss_kept_registries *k);
struct ss_trust *ss_kept_registry(const struct ss_kept_registries *k, int64_t ms, size_t nth);

struct ss_audit_options {
    int64_t from_id, to_id; /* 0: from the first, to the last */
    int64_t from_ms, to_ms; /* logged times (to exclusive); 0: open */
    unsigned clock_skew;    /* seconds a signing time may lie from the logged time */
    unsigned grace;         /* seconds a record may wait for its timestamp */
    int64_t now;            /* Unix time: content purged before its deadline is a break */
    /* the DPO's secret key (guarded memory) and public key, to open sealed messages; or NULL */
    const uint8_t *dpo_secret;
    uint8_t dpo_public[32];
    /* called now and then with the record being checked (may be NULL) */
    void (*progress)(void *arg, int64_t record);
    void *progress_arg;
};

struct ss_audit_report {
    int64_t first_id, last_id; /* what was walked (widened to whole timestamp batches) */
    uint64_t records, signed_records, signatures, refused_unverified;
    uint64_t messages;        /* plain messages checked against their digests */
    uint64_t sealed, opened;  /* sealed messages; of them opened with the DPO's key and checked */
    uint64_t without_message; /* logged as metadata only */
    uint64_t purged;          /* content removed after the retention deadline */
    uint64_t timestamps, stamped, unstamped, registries;
    /* records without a timestamp for longer than the grace period: a server stopped before
     * its timestamper caught up, or timestamps removed (the chain alone then protects them) */
    uint64_t unstamped_late;
    /* records whose timestamp came more than the grace period after they were logged: a server
     * stopped before its timestamper caught up, or records rewritten and timestamped again */
    uint64_t stamped_late;
    /* the first broken point: record (0 if none is to blame) and reason */
    int64_t broken_record;
    char broken[600];
};

/* True if a report without a break carries a warning (unstamped_late, stamped_late). */
static inline bool ss_audit_warned(const struct ss_audit_report *rep)
{
    return rep->unstamped_late || rep->stamped_late;
}

/*
 * Verifies s (opened read-only will do) against the registry authority's
 * certificate anchor. SS_OK when everything checked holds; SS_ERR_BAD_SIGNATURE
 * with report->broken (and ss_errmsg()) naming the first broken point;
 * another error when the store cannot be read.
 */
ss_error ss_audit_verify(struct ss_store *s, const struct ss_reg_anchor *anchor,
                         const struct ss_audit_options *o,
                         struct ss_audit_report *report) SS_MUST_CHECK SS_NONNULL(1, 2, 3, 4);

#endif
