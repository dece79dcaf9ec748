/*
 * store_impl: what a message-log store implements (store.h dispatches to
 * it). A store's own struct begins with struct ss_store.
 */
#ifndef SS_STORE_IMPL_H
#define SS_STORE_IMPL_H

#include "store.h"

/*
 * The records one purge transaction empties: past their deadline (param,
 * in the store's placeholder style) and still holding content, a batch at
 * a time so that the writer never waits long. Both stores index
 * retain_until over the records with content (records_expiry), so that
 * this is a lookup, not a scan of the whole log under the write lock.
 */
#define SS_STORE_PURGE_PICK(param)                                                                 \
    "SELECT id FROM records WHERE retain_until < " param " AND salt IS NOT NULL LIMIT 1000"

/*
 * A record's columns, in the order both stores read them (r: records, s:
 * stamps). The timestamp that covers a record is the one whose range holds
 * its number (the first one ending at or after it, if it begins at or
 * before it); its inclusion path is in stamps only for timestamps made
 * before the stores kept each batch's tree (a NULL ts_path: store.c reads
 * the path off the tree).
 */
#define SS_STORE_RECORD_COLUMNS                                                                    \
    "r.id, logged_ms, side, direction, query_id, request_id, client, service, purpose,"            \
    " subject_hash, status, error_type, retain_until, message_sha256, message, manifest,"          \
    " signature, sig_path, ocsp, prev_hash, hash,"                                                 \
    " coalesce(s.ts_id, (SELECT CASE WHEN t.first_id <= r.id THEN t.id END FROM timestamps t"      \
    " WHERE t.last_id >= r.id ORDER BY t.last_id LIMIT 1)), s.ts_path, content, salt, sealed"

/*
 * Both stores' SQL for the exchanges a filter selects (x, the filter's
 * WHERE clause at %s) with their outcome (y), as ss_store_outcome says. An
 * exchange's records share side, client, query id and request id (a peer
 * chooses the request id, so it alone decides nothing); a record without a
 * request id (none was made) is an exchange of its own.
 */
#define SS_STORE_EXCHANGES_SQL                                                                     \
    "WITH x AS (SELECT min(CASE WHEN r.direction = 'request' THEN r.id END) AS req,"               \
    " max(CASE WHEN r.direction = 'response' THEN r.id END) AS resp, min(r.logged_ms) AS t,"       \
    " r.side AS side, r.request_id AS request_id, max(r.query_id) AS query_id,"                    \
    " max(r.client) AS client, max(r.service) AS service, max(r.purpose) AS purpose,"              \
    " coalesce(max(CASE WHEN r.direction = 'response' THEN r.status END), max(r.status))"          \
    " AS status,"                                                                                  \
    " coalesce(max(CASE WHEN r.direction = 'response' THEN r.error_type END),"                     \
    " max(r.error_type)) AS error_type FROM records r%s"                                           \
    " GROUP BY r.side, r.client, r.query_id, r.request_id,"                                        \
    " CASE WHEN r.request_id = '' THEN r.id ELSE 0 END),"                                          \
    " y AS (SELECT *, CASE WHEN error_type != '' THEN 1 WHEN status BETWEEN 200 AND 299 THEN 0"    \
    " ELSE 2 END AS outcome FROM x) "

typedef ss_error (*ss_store_tree_visit)(void *arg, int64_t first_id, int64_t last_id,
                                        const uint8_t *nodes, size_t len);

struct ss_store_ops {
    void (*close)(struct ss_store *s);
    ss_error (*tail)(struct ss_store *s, int64_t *id, uint8_t hash[32]);
    ss_error (*begin)(struct ss_store *s);
    ss_error (*commit)(struct ss_store *s);
    void (*rollback)(struct ss_store *s);
    ss_error (*snapshot)(struct ss_store *s);
    ss_error (*insert)(struct ss_store *s, const struct ss_record *r);
    ss_error (*seen)(struct ss_store *s, const char *client, const char *query_id, int64_t since_ms,
                     bool *seen);
    ss_error (*pending)(struct ss_store *s, size_t *count, int64_t *oldest_ms);
    ss_error (*take_pending)(struct ss_store *s, size_t max, int64_t **ids, uint8_t (**hashes)[32],
                             size_t *n);
    /* ts over the records first_id..last_id, leaf i of tree being record first_id + i */
    ss_error (*add_timestamp)(struct ss_store *s, struct ss_timestamp *ts,
                              const struct ss_merkle_tree *tree);
    ss_error (*lease)(struct ss_store *s, bool *held);
    /* NULL in a store of one writer */
    ss_error (*node_seen)(struct ss_store *s, const char *node, const char *config);
    ss_error (*nodes)(struct ss_store *s, unsigned fresh_s, ss_store_node_visit fn, void *arg);
    ss_error (*each)(struct ss_store *s, int64_t from_id, int64_t to_id, ss_store_visit fn,
                     void *arg);
    ss_error (*search)(struct ss_store *s, const struct ss_store_filter *f, ss_store_visit fn,
                       void *arg);
    ss_error (*count)(struct ss_store *s, const struct ss_store_filter *f, const char *by,
                      ss_store_count_visit fn, void *arg);
    ss_error (*exchanges)(struct ss_store *s, const struct ss_store_filter *f, int outcome,
                          enum ss_exchange_order order, bool desc, uint64_t offset, uint64_t limit,
                          ss_store_exchange_visit fn, void *arg, uint64_t *total);
    ss_error (*daily)(struct ss_store *s, const struct ss_store_filter *f, ss_store_day_visit fn,
                      void *arg);
    ss_error (*summary)(struct ss_store *s, int64_t now, struct ss_store_summary *out);
    ss_error (*id_range)(struct ss_store *s, int64_t from_ms, int64_t to_ms, int64_t *first,
                         int64_t *last);
    ss_error (*purge)(struct ss_store *s, int64_t now, uint64_t *purged, uint64_t *kept_v1);
    ss_error (*vacuum)(struct ss_store *s);
    ss_error (*add_registry)(struct ss_store *s, uint64_t serial, int64_t since_ms,
                             const uint8_t *xml, size_t xml_len, const uint8_t *sig,
                             size_t sig_len);
    ss_error (*each_registry)(struct ss_store *s, ss_store_registry_visit fn, void *arg);
    ss_error (*timestamps)(struct ss_store *s, int64_t id, ss_store_timestamp_visit fn, void *arg);
    /* timestamp id's range and its tree's nodes (NULL when it keeps none), lent to fn for the
     * call; fn is not called when there is no such timestamp */
    ss_error (*tree)(struct ss_store *s, int64_t id, ss_store_tree_visit fn, void *arg);
};

struct ss_store {
    const struct ss_store_ops *ops;
    const char *label; /* what messages call it (no password): the store's own text */
};

ss_error ss_store_open_sqlite(const char *path, bool read_only, uint64_t max_bytes,
                              struct ss_store **out) SS_MUST_CHECK;
ss_error ss_store_open_pg(const char *conninfo, bool read_only, uint64_t max_bytes,
                          struct ss_store **out) SS_MUST_CHECK;

/*
 * One timestamp's range [first, last], in order of first, into a summary's
 * count of timestamps and gaps; *next is the first number not yet covered.
 */
void ss_store_summary_range(struct ss_store_summary *out, int64_t *next, int64_t first,
                            int64_t last);

/* The error for a timestamp over records a stored one already covers (up to covered). */
ss_error ss_store_stamped_before(const char *store, const struct ss_timestamp *ts, int64_t covered);

#endif
