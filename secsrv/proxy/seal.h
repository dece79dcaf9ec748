/*
 * seal: what the network process does with evidence, over IPC to the
 * signer and the logger: sign a manifest with a member's key (the answer
 * is the envelope to send), append a record to the message log (durable
 * when ss_seal_log or ss_seal_log_finish returns; ss_seal_log_start only
 * sends it), and check a peer's envelope against the message as it arrived
 * (manifest fields, digests, signature, profile, freshness). Every call
 * but ss_seal_log_start waits for its answer (with a deadline); the IPC
 * underneath is asynchronous, so an event-driven caller can later do
 * without the waits.
 */
#ifndef SS_SEAL_H
#define SS_SEAL_H

#include "daemon.h"
#include "envelope.h"
#include "manifest.h"
#include "record.h"

#define SS_SEAL_IPC_TIMEOUT_MS 15000

/* The keyed BLAKE2b-256 of a data-subject reference. */
void ss_seal_subject_hash(const struct ss_daemon *d, const char *subject, uint8_t out[32]);

/* Formats m and has the signer sign it with member's key; fills env (manifest included). */
ss_error ss_seal_sign(struct ss_daemon *d, const struct ss_client_id *member,
                      const struct ss_manifest *m, struct ss_envelope *env) SS_MUST_CHECK;

/*
 * Appends r to the message log and waits until it is durable. With
 * replay_check (a server-side request), a record of the same client and
 * query id within the clock-skew window makes this SS_ERR_DUPLICATE (the
 * record is kept as that refusal). Learns from the answer whether
 * timestamping is overdue (d->ts_overdue). SS_ERR_LOGGING when the log
 * cannot take it.
 */
ss_error ss_seal_log(struct ss_daemon *d, const struct ss_record *r, bool replay_check,
                     int64_t *id) SS_MUST_CHECK;

/*
 * ss_seal_log() in two steps, for a caller that has other work to do
 * while the record becomes durable: the start sends r (which the caller
 * may free at once), the finish waits as ss_seal_log() does. Every start
 * is finished, on every path, before anything is answered. While the
 * logger's last answer was a failure (d->log_failing), a caller finishes
 * at once, so that nothing leaves on a log known to refuse it.
 */
struct ss_seal_pending {
    struct ss_ipc_call call;
    bool started;
    bool timed_out; /* after the finish: the logger did not answer in time */
    char client[SS_ID_STR_MAX];
    char query_id[sizeof((struct ss_record *)0)->query_id];
};

void ss_seal_log_start(struct ss_daemon *d, const struct ss_record *r, bool replay_check,
                       struct ss_seal_pending *p);
ss_error ss_seal_log_finish(struct ss_daemon *d, struct ss_seal_pending *p,
                            int64_t *id) SS_MUST_CHECK;

/*
 * Checks env as the signature of a message from member: the manifest
 * parses, the signature verifies under the registry of trust, names
 * member, and was made within the clock skew of now. *m is the manifest.
 */
ss_error ss_seal_check(struct ss_daemon *d, const struct ss_trust *trust,
                       const struct ss_envelope *env, const struct ss_client_id *member,
                       struct ss_manifest *m) SS_MUST_CHECK;

/*
 * True while timestamping is overdue (new exchanges are refused): the flag
 * the logger's last answer set, confirmed with the logger when it is set.
 */
bool ss_seal_overdue(struct ss_daemon *d);

#endif
