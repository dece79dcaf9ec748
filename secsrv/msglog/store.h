/*
 * store: where the message log lives. The interface is what the logger and
 * the DPO tool need, implemented by the embedded SQLite store
 * ("sqlite:PATH", WAL mode, synchronous=FULL: a commit is on disk when it
 * returns) and the PostgreSQL store ("postgresql:CONNINFO", a libpq
 * connection string or URI, shared by the nodes of one server). Appends
 * happen in transactions the logger groups (begin, many inserts, commit:
 * one fsync for all); a record is written whole or not at all. On a shared
 * store begin also takes the chain: the nodes append to one chain, one
 * transaction at a time, and each reads the tail inside its transaction.
 * The schema is created and versioned here.
 */
#ifndef SS_STORE_H
#define SS_STORE_H

#include "merkle.h"
#include "record.h"
#include "ss_error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ss_store;

/*
 * Opens (and, writable, creates) the store named by spec. max_bytes (0: no
 * limit) caps the store's size: beyond it an insert fails with SS_ERR_IO
 * ("store full"), and nothing already stored is touched.
 */
ss_error ss_store_open(const char *spec, bool read_only, uint64_t max_bytes,
                       struct ss_store **out) SS_MUST_CHECK SS_NONNULL(1, 4);
void ss_store_close(struct ss_store *s);

/* What messages call the store: its path, or its connection without the password. */
const char *ss_store_label(const struct ss_store *s);

/* The spec a command-line argument names (malloc'd): sqlite:PATH, postgresql:CONNINFO, or a
 * path (a SQLite file). */
char *ss_store_spec(const char *arg);

/* Whether the store is a file of this machine (sqlite:), which one process writes at a time. */
bool ss_store_is_file(const char *spec);

/* The last record's number and hash (0 and zeros when the log is empty). */
ss_error ss_store_tail(struct ss_store *s, int64_t *id, uint8_t hash[32]) SS_MUST_CHECK;

ss_error ss_store_begin(struct ss_store *s) SS_MUST_CHECK;
ss_error ss_store_commit(struct ss_store *s) SS_MUST_CHECK;
void ss_store_rollback(struct ss_store *s);

/*
 * Reads after this, up to ss_store_rollback, see one state of the log: what
 * writers commit meanwhile (records, timestamps over them) stays unseen, so
 * a reader that walks timestamps and then records never meets a record
 * stamped after it read the timestamps. Nothing is locked against writers.
 */
ss_error ss_store_snapshot(struct ss_store *s) SS_MUST_CHECK;

/* Inserts r as it is (id, times and hashes already set). */
ss_error ss_store_insert(struct ss_store *s, const struct ss_record *r) SS_MUST_CHECK;

/*
 * True if a server-side request record of client with query_id, logged at
 * or after since_ms and not itself refused as a duplicate, exists.
 */
ss_error ss_store_seen(struct ss_store *s, const char *client, const char *query_id,
                       int64_t since_ms, bool *seen) SS_MUST_CHECK;

/* Records not yet timestamped: how many, and when the oldest was logged. */
ss_error ss_store_pending(struct ss_store *s, size_t *count, int64_t *oldest_ms) SS_MUST_CHECK;

/* Up to max records not yet timestamped, oldest first: numbers and hashes (malloc'd). */
ss_error ss_store_take_pending(struct ss_store *s, size_t max, int64_t **ids,
                               uint8_t (**hashes)[32], size_t *n) SS_MUST_CHECK;

struct ss_timestamp {
    int64_t id; /* set by the store */
    int64_t first_id, last_id;
    uint8_t root[32];
    const uint8_t *token; /* DER TimeStampToken */
    size_t token_len;
    int64_t gen_time; /* Unix time the TSA stated */
    char tsa[256];    /* the TSA's name in the registry */
};

/*
 * Whether this connection may timestamp (*held): one writer of a SQLite
 * log always may; on a shared store one node at a time holds the lease
 * (until its connection ends), and the others leave the timestamping to it.
 */
ss_error ss_store_lease(struct ss_store *s, bool *held) SS_MUST_CHECK;

/*
 * The nodes that write a shared store: ss_store_node_seen says that node
 * holds config now (since when it holds it the store keeps, by its own
 * clock), ss_store_nodes calls fn for each node seen in the last fresh_s
 * seconds, by name. A store of one writer (SQLite) has no such list: the
 * first does nothing and the second calls fn for none.
 */
ss_error ss_store_node_seen(struct ss_store *s, const char *node, const char *config) SS_MUST_CHECK;
typedef void (*ss_store_node_visit)(void *arg, const char *node, const char *config,
                                    int64_t since_ms, int64_t age_ms);
ss_error ss_store_nodes(struct ss_store *s, unsigned fresh_s, ss_store_node_visit fn,
                        void *arg) SS_MUST_CHECK;

/*
 * Stores ts with its tree over the records ids[0..tree->n), which must be
 * ts->first_id to ts->last_id in a row (a record's inclusion path is read
 * off the tree when the record is read); refused when ts does not begin
 * right after the last timestamped record (another node timestamped them
 * first).
 */
ss_error ss_store_add_timestamp(struct ss_store *s, struct ss_timestamp *ts, const int64_t *ids,
                                const struct ss_merkle_tree *tree) SS_MUST_CHECK;
/* How many of ids[0..n) are numbers in a row from ids[0] (0 when n is). */
size_t ss_store_in_a_row(const int64_t *ids, size_t n);

/*
 * Calls fn for every record with from_id <= id <= to_id (to_id 0: to the end),
 * in order. A stored field of the wrong type or size is an error naming the
 * record and the field (SS_ERR_IO), never read as absent.
 */
typedef ss_error (*ss_store_visit)(void *arg, const struct ss_record *r, int64_t ts_id,
                                   const char *ts_path);
/* The ts_path of a record whose timestamp keeps no tree that covers it (a damaged log). */
#define SS_STORE_NO_PATH "(its timestamp keeps no tree that covers it)"
ss_error ss_store_each(struct ss_store *s, int64_t from_id, int64_t to_id, ss_store_visit fn,
                       void *arg) SS_MUST_CHECK;

/*
 * Which records a search or a count covers: every field set narrows it (0 or
 * NULL: any). Times are logged times in ms, from inclusive, to exclusive.
 * client and service match exactly or as a prefix ending at a '/' (a
 * member matches its subsystems, a service code its versions).
 */
struct ss_store_filter {
    int64_t from_ms, to_ms;
    int64_t from_id, to_id;
    const char *client, *service, *query_id, *purpose, *error_type, *side;
    unsigned status;
    bool has_subject;
    uint8_t subject_hash[32];
    /* hand fn each timestamped record's inclusion path (reading its batch's tree: a few ms
     * for each batch a search meets); without, ts_path is NULL unless the log keeps the
     * record's path apart (timestamps of schema versions before the trees) */
    bool paths;
};

/* Calls fn for every record f selects, in order. */
ss_error ss_store_search(struct ss_store *s, const struct ss_store_filter *f, ss_store_visit fn,
                         void *arg) SS_MUST_CHECK;

/*
 * The numbers a time range [from_ms, to_ms) spans (0: open): from the record
 * after the last one logged before from_ms to the one before the first
 * logged at or after to_ms (*last 0: to the end; first > last when the
 * range holds no number). Records deleted from the range stay inside it.
 */
ss_error ss_store_id_range(struct ss_store *s, int64_t from_ms, int64_t to_ms, int64_t *first,
                           int64_t *last) SS_MUST_CHECK;

/* How many records f selects per value of the field by (client, service, status, purpose,
 * error_type or side), most first. */
typedef ss_error (*ss_store_count_visit)(void *arg, const char *value, uint64_t count);
ss_error ss_store_count(struct ss_store *s, const struct ss_store_filter *f, const char *by,
                        ss_store_count_visit fn, void *arg) SS_MUST_CHECK;

/*
 * Exchanges, as a log holds them: the records f selects, one row per
 * request on one side (side, client, query id and request id), with its request's and
 * answer's record numbers (0: none) and its outcome: the answer's status
 * and error type, or the request's when it was refused before an answer.
 */
struct ss_store_exchange {
    int64_t request_record, response_record;
    int64_t logged_ms; /* the first record's */
    char side[8];
    char request_id[37];
    char query_id[256];
    char client[SS_ID_STR_MAX];
    char service[SS_ID_STR_MAX];
    char purpose[65];
    unsigned status;
    char error_type[129];
};

/* Answered (2xx, no error type), refused (an error type), or failed (neither). */
enum ss_outcome { SS_OUTCOME_ANSWERED, SS_OUTCOME_REFUSED, SS_OUTCOME_FAILED };
enum ss_outcome ss_store_outcome(unsigned status, const char *error_type);

/* The order of a page of exchanges. */
enum ss_exchange_order {
    SS_ORDER_TIME,
    SS_ORDER_CLIENT,
    SS_ORDER_SERVICE,
    SS_ORDER_PURPOSE,
    SS_ORDER_STATUS
};

/*
 * Calls fn for the exchanges f selects, with outcome (-1: any), in order
 * (by the field, then by time; desc reverses both), skipping offset and
 * at most limit of them (0: all); *total counts them all.
 */
typedef ss_error (*ss_store_exchange_visit)(void *arg, const struct ss_store_exchange *e);
ss_error ss_store_exchanges(struct ss_store *s, const struct ss_store_filter *f, int outcome,
                            enum ss_exchange_order order, bool desc, uint64_t offset,
                            uint64_t limit, ss_store_exchange_visit fn, void *arg,
                            uint64_t *total) SS_MUST_CHECK;

/* The exchanges f selects per UTC day ("YYYY-MM-DD") and outcome, by day. */
typedef ss_error (*ss_store_day_visit)(void *arg, const char *day, const uint64_t counts[3]);
ss_error ss_store_daily(struct ss_store *s, const struct ss_store_filter *f, ss_store_day_visit fn,
                        void *arg) SS_MUST_CHECK;

/* What a log holds, at a glance. */
struct ss_store_summary {
    uint64_t records;
    int64_t first_id, last_id, first_ms, last_ms;
    uint64_t timestamps;
    uint64_t unstamped; /* records after the last timestamp */
    int64_t oldest_unstamped_ms;
    /* numbers neither a timestamp nor the tail after the last one covers, with the first */
    uint64_t gaps;
    int64_t first_gap_id;
    uint64_t due_purge; /* content kept past its retention deadline (as of now) */
    uint64_t purged;    /* content removed after its deadline */
};
ss_error ss_store_summary(struct ss_store *s, int64_t now,
                          struct ss_store_summary *out) SS_MUST_CHECK;

/*
 * Removes the content of version 2 records past their retention deadline
 * (retain_until < now): message, subject hash, manifest and salt; the
 * content commitment stays, so the chain still verifies. Freed space is
 * overwritten and the write-ahead log emptied. *purged counts the records
 * purged now, also on an error: what was purged before it is gone (an error
 * may say only that the old pages could not be emptied yet, a reader holding
 * them); *kept_v1 the version 1 records past their deadline whose content
 * cannot be purged (their hash covers it directly).
 */
ss_error ss_store_purge(struct ss_store *s, int64_t now, uint64_t *purged,
                        uint64_t *kept_v1) SS_MUST_CHECK;

/* Rewrites the store file without its free space (needs the store to itself for a while). */
ss_error ss_store_vacuum(struct ss_store *s) SS_MUST_CHECK;

/*
 * Keeps a members registry (the signed document as published) from since_ms
 * on, once per serial; and calls fn for each kept, by serial.
 */
ss_error ss_store_add_registry(struct ss_store *s, uint64_t serial, int64_t since_ms,
                               const uint8_t *xml, size_t xml_len, const uint8_t *sig,
                               size_t sig_len) SS_MUST_CHECK;
typedef ss_error (*ss_store_registry_visit)(void *arg, uint64_t serial, int64_t since_ms,
                                            const uint8_t *xml, size_t xml_len, const uint8_t *sig,
                                            size_t sig_len);
ss_error ss_store_each_registry(struct ss_store *s, ss_store_registry_visit fn,
                                void *arg) SS_MUST_CHECK;

/* Calls fn for every timestamp, in order (the token is borrowed for the call). */
typedef ss_error (*ss_store_timestamp_visit)(void *arg, const struct ss_timestamp *ts);
ss_error ss_store_each_timestamp(struct ss_store *s, ss_store_timestamp_visit fn,
                                 void *arg) SS_MUST_CHECK;
/* The same for the one timestamp numbered id (0: all). */
ss_error ss_store_timestamps(struct ss_store *s, int64_t id, ss_store_timestamp_visit fn,
                             void *arg) SS_MUST_CHECK;

#endif
