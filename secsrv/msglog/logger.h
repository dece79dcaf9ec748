/*
 * logger: the process that alone writes the message log. It opens the
 * store before dropping its privileges, takes records from network
 * processes over IPC, and appends them with group commit: every record
 * waiting when the writer comes round goes into one transaction, and each
 * is answered once that transaction is on disk. It chains each record to
 * the one before (msglog/record.h), refuses a second server-side request of
 * the same client and query id within the clock-skew window (atomically,
 * in the same transaction), and timestamps: at the configured interval or
 * after a number of records it builds a hash tree over the records not yet
 * timestamped, asks a TSA the registry lists for one RFC 3161 token over
 * its root, verifies it and stores it with every record's inclusion path.
 * Past the grace period without a token every answer carries the
 * "timestamping overdue" flag, and the network process refuses new
 * exchanges until a TSA answers again and the backlog is timestamped.
 *
 * Protocol: SS_IPC_LOG_APPEND {record (ss_record_put), u32 replay check,
 * str duplicate error type, u32 duplicate status} -> SS_IPC_LOGGED {u32
 * error, str reason, u64 id, u32 flags}; SS_IPC_LOGGER_STATUS ->
 * SS_IPC_LOGGER_STATE {u32 writable, u32 timestamping ok, i64 oldest
 * untimestamped (ms, 0 none), u64 untimestamped, str last error, u64
 * commits, u64 records, u64 largest group, u64 timestamps, u64 queued,
 * histogram group sizes, histogram commit seconds, str how this node differs
 * from the other nodes of a shared store ("" : it does not)} (a histogram:
 * u32 n, n u64 bucket counts, u64 count, u64 sum in microunits);
 * SS_IPC_NODE_CONFIG {str what this node holds, ss_nodes_config} (from the
 * parent, after a reload; no answer);
 * SS_IPC_REGISTRY {bytes xml, bytes signature} (no answer).
 */
#ifndef SS_LOGGER_H
#define SS_LOGGER_H

#include "config.h"
#include "ipc.h"
#include "metrics.h"

#include <stdbool.h>
#include <stdint.h>

#define SS_LOGGED_DUPLICATE 1u         /* the record was refused as a replay */
#define SS_LOGGED_TIMESTAMP_OVERDUE 2u /* no timestamp for longer than the grace period */

/* What the logger reports (SS_IPC_LOGGER_STATE). */
struct ss_logger_status {
    bool writable, timestamping_ok;
    uint64_t oldest_untimestamped_ms; /* 0: none */
    uint64_t untimestamped;
    char last_error[300];
    uint64_t commits, records, largest_group, timestamps;
    uint64_t queued;           /* records waiting for their commit group */
    struct ss_hist group_size; /* records per commit group (ss_hist_sizes) */
    struct ss_hist commit;     /* seconds per commit, fsync included (ss_hist_seconds) */
    char node_differs[400];    /* on a shared store: how this node differs from the others */
};

/* Reads an SS_IPC_LOGGER_STATE message; SS_ERR_PROTOCOL when malformed. */
ss_error ss_logger_status_read(const struct ss_ipc_msg *m, struct ss_logger_status *out);

/* Runs the logger process; returns its exit status. */
int ss_logger_main(const struct ss_config *cfg, int ctl, int link);

#endif
