/*
 * regstore: the registry in force on this server. At start it loads the
 * last good copy from the state directory, then downloads the published
 * document and signature, verifies them (pinned authority, expiry,
 * rollback), keeps them on disk as the new last good copy, and swaps them
 * in atomically. A refresh thread repeats this every refresh interval. A
 * failed download or verification leaves the registry in force untouched.
 * ss_regstore_acquire() refuses once the registry in force has expired.
 */
#ifndef SS_REGSTORE_H
#define SS_REGSTORE_H

#include "config.h"
#include "ss_error.h"
#include "trust.h"

#include <stdbool.h>
#include <time.h>

struct ss_regstore;

/* Called after a new registry is swapped in (e.g. to drop pooled connections). */
typedef void (*ss_regstore_changed)(void *cls);

/* Reads the registry authority's anchor (root's file: call before dropping privileges). */
ss_error ss_regstore_new(const struct ss_config *cfg, struct ss_regstore **out) SS_MUST_CHECK;
/*
 * Reads the rollback floor from the state directory (the dropped user's:
 * call after dropping privileges, before loading or downloading); a
 * malformed floor is an error that keeps the server from starting.
 */
ss_error ss_regstore_load_floor(struct ss_regstore *rs) SS_MUST_CHECK;
void ss_regstore_free(struct ss_regstore *rs);
/* Whether accepted registries are written to the state directory (default yes). */
void ss_regstore_set_persist(struct ss_regstore *rs, bool persist);
void ss_regstore_on_change(struct ss_regstore *rs, ss_regstore_changed fn, void *cls);

/* Loads the cached copy if it verifies (no error if there is none). */
ss_error ss_regstore_load_cached(struct ss_regstore *rs) SS_MUST_CHECK;
/* Downloads, verifies and swaps in the published registry once. */
ss_error ss_regstore_refresh(struct ss_regstore *rs) SS_MUST_CHECK;
/* Starts / stops the refresh thread. */
ss_error ss_regstore_start(struct ss_regstore *rs) SS_MUST_CHECK;
void ss_regstore_stop(struct ss_regstore *rs);

/*
 * The trust snapshot of the registry in force, with a reference the caller
 * drops with ss_trust_unref(). NULL with SS_ERR_REGISTRY_UNAVAILABLE or
 * SS_ERR_REGISTRY_EXPIRED (and a reason) when exchanges must not be served.
 */
struct ss_trust *ss_regstore_acquire(struct ss_regstore *rs, ss_error *err);
/* The registry last accepted, expired or not (a reference, or NULL): for figures, never for a
 * trust decision. */
struct ss_trust *ss_regstore_last(struct ss_regstore *rs);

/*
 * ---- handing the registry on ----
 *
 * The network process hands the registry in force to the signer and the
 * logger in one SS_IPC_REGISTRY message: the document and its signature as
 * published. They do not trust the network process: each verifies the
 * registry again against its own pinned anchor before it uses it.
 */
struct ss_ipc_buf;
struct ss_ipc_msg;

/* The registry in force as an SS_IPC_REGISTRY payload. */
ss_error ss_regstore_put(struct ss_regstore *rs, struct ss_ipc_buf *b) SS_MUST_CHECK;

/* A registry as it was handed on; the pointers are into the message. */
struct ss_regstore_handed {
    const uint8_t *xml, *sig;
    size_t xml_len, sig_len;
    uint8_t sha256[32]; /* of the document: the same one again needs no second check */
};
/* Reads an SS_IPC_REGISTRY payload; false when it is malformed. */
bool ss_regstore_read(const struct ss_ipc_msg *m, struct ss_regstore_handed *out) SS_MUST_CHECK;
/*
 * Verifies a handed registry (signed by the anchor's authority, not
 * expired, serial not below floor) and makes its trust snapshot.
 */
ss_error ss_regstore_verify(const struct ss_regstore_handed *h, const struct ss_reg_anchor *anchor,
                            uint64_t floor, struct ss_trust **out) SS_MUST_CHECK;

#endif
