/*
 * proc: what every child process of secsrv shares: its set-up after fork
 * (name, dying with the parent, no new privileges, no core dumps for the
 * signer), dropping root privileges to the configured user, and the serve
 * loop of the signer and the logger: one thread polls the control link to
 * the parent, the links to network processes and a signal descriptor; each
 * request goes to a handler, and answers may be sent from any thread.
 */
#ifndef SS_PROC_H
#define SS_PROC_H

#include "ipc.h"
#include "ss_error.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

/* After fork: names the process (secsrv-NAME), dies with the parent, blocks the
 * stop signals (for ss_serve_run or sigwait). secret: never dumpable. */
void ss_proc_child_setup(const char *name, bool secret);

/* Tells the parent over ctl that this child has started and serves. */
void ss_proc_ready(int ctl);
/* Answers the parent's watchdog (an SS_IPC_PING read from ctl): this child's loop is alive. */
void ss_proc_answer_ping(int ctl, const struct ss_ipc_msg *ping) SS_NONNULL(2);

/* When running as root: drop to user (groups, gid, uid), for good. user NULL or "": stay. */
ss_error ss_proc_drop(const char *user) SS_MUST_CHECK;
/* The uid and gid of user, who must exist and not be root (SS_ERR_CONFIG says which). */
ss_error ss_proc_user(const char *user, uid_t *uid, gid_t *gid) SS_MUST_CHECK SS_NONNULL(1, 2, 3);
/*
 * Calls fn(arg) with the file-system identity of user (what ss_proc_drop drops to: its uid and
 * gid for permission checks, the rest unchanged), then takes root's back; without a user or
 * when not root, calls fn as it is. For a file of user's own that root without
 * CAP_DAC_OVERRIDE may not read, before the privileges go. The calling thread only.
 */
ss_error ss_proc_as_user(const char *user, ss_error (*fn)(void *arg), void *arg) SS_MUST_CHECK;
/*
 * Sends sig to pid, a child that may have dropped to user: a root parent
 * without CAP_KILL (the packaged unit's bounding set) cannot signal it
 * itself, so a short-lived helper process that takes the user's identity
 * does. Returns 0 or an errno value.
 */
int ss_proc_signal(pid_t pid, int sig, const char *user);

/* True if the process runs as root. */
bool ss_proc_is_root(void);

#define SS_SERVE_MAX_LINKS 8

struct ss_serve;

/* A link as a handle: stays invalid once its link is gone, even if the slot is reused. */
typedef uint64_t ss_link;

/* The link of a message from the parent (the control link): no answer goes back on it. */
#define SS_SERVE_PARENT ((ss_link)0)

/* The largest message from the parent: SS_IPC_ATTACH, a node's configuration (nodes.h), or
 * a signing key's files (SS_IPC_SIGNING_KEY, two of SS_SIGNING_FILE_MAX). */
#define SS_SERVE_CTL_MAX (600u * 1024)

/* Called in the serve thread for every request; msg is the handler's to clean up. A handler
 * tells the parent's messages by link SS_SERVE_PARENT, and refuses any it does not expect
 * from there, or that it expects from there only. */
typedef void (*ss_serve_handler)(void *cls, ss_link link, struct ss_ipc_msg *msg);

/*
 * Serves until the parent's control link closes or SIGTERM/SIGINT arrives.
 * first_link (if >= 0) is the first network link; a new one comes as
 * SS_IPC_ATTACH on ctl and replaces it (what the old one still held is not
 * read); the parent's other messages go to the handler.
 * max_frame bounds each request. Returns 0.
 */
int ss_serve_run(int ctl, int first_link, size_t max_frame, ss_serve_handler handler, void *cls);

/* Answers on a link (from any thread); a link that is gone drops the answer. */
void ss_serve_reply(ss_link link, uint16_t type, uint64_t id, const struct ss_ipc_buf *payload);

/*
 * Answers gathered to go out together, as ss_serve_reply would send them
 * one by one: each link's in one write, so that a group's answers cost the
 * network process one read and one wake-up. Start from {0}; send empties.
 * ss_serve_batch_add with b NULL sends the answer at once (ss_serve_reply).
 */
struct ss_serve_batch {
    ss_link link[SS_SERVE_MAX_LINKS];
    struct ss_ipc_buf frames[SS_SERVE_MAX_LINKS];
};
void ss_serve_batch_add(struct ss_serve_batch *b, ss_link link, uint16_t type, uint64_t id,
                        const struct ss_ipc_buf *payload);
void ss_serve_batch_send(struct ss_serve_batch *b) SS_NONNULL(1);

#endif
