/*
 * signer: the process that alone holds the members' signing keys. It
 * loads each key named in [signer] (before the process drops its
 * privileges), checks that it matches its certificate and that the
 * certificate follows the profile (msglog/evidence.h), keeps a fresh OCSP
 * response for every signing certificate (asked of the responder the
 * registry lists, refreshed well within ocspFreshness), and signs
 * manifests on request over IPC: a request that finds the signer idle is
 * signed directly; requests that arrive while it signs wait and are signed
 * together, as one batch over a hash tree, each answer carrying its
 * inclusion path. The registry reaches it from the network process and is
 * verified here against the pinned authority certificate.
 *
 * Protocol: SS_IPC_SIGN {str member "INSTANCE/CLASS/MEMBER", bytes
 * manifest} -> SS_IPC_SIGNED {u32 error, str reason, bytes cms, str path,
 * bytes ocsp}; SS_IPC_SIGNER_STATUS -> SS_IPC_SIGNER_STATE {u32 n, then per
 * key: str member, u32 usable, str reason, u64 ocsp good until, u64 ocsp
 * obtained at (0: never); then u64 batches, u64 messages, u64 largest batch};
 * SS_IPC_REGISTRY {bytes xml, bytes signature} (no answer).
 */
#ifndef SS_SIGNER_H
#define SS_SIGNER_H

#include "config.h"
#include "ipc.h"
#include "ss_error.h"
#include "ss_id.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the signer reports (SS_IPC_SIGNER_STATE). */
struct ss_signer_key_status {
    char member[SS_ID_STR_MAX];
    bool usable;
    char why[300];
    uint64_t ocsp_until, ocsp_at; /* Unix seconds; 0: none */
};
struct ss_signer_status {
    struct ss_signer_key_status *keys;
    size_t n;
    uint64_t batches, messages, largest_batch;
};

/* Reads an SS_IPC_SIGNER_STATE message (out->keys malloc'd); SS_ERR_PROTOCOL when malformed. */
ss_error ss_signer_status_read(const struct ss_ipc_msg *m, struct ss_signer_status *out);
void ss_signer_status_cleanup(struct ss_signer_status *s);

/* The largest signing key or certificate file (with its chain) the signer reads. */
#define SS_SIGNING_FILE_MAX (256u * 1024)

/*
 * Runs the signer process: ctl is its control link to the parent, link
 * its first link to a network process. Returns the exit status.
 */
int ss_signer_main(const struct ss_config *cfg, int ctl, int link);

/* For secsrv -n: every key loads, matches its certificate and follows the profile. */
void ss_signer_check_keys(struct ss_config *cfg);

#endif
