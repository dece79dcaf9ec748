/* The message-log store's interface (store.h): the store named by a spec, and dispatch. */
#include "store_impl.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ss_error ss_store_open(const char *spec, bool read_only, uint64_t max_bytes, struct ss_store **out)
{
    *out = NULL;
    if (strncmp(spec, "sqlite:", 7) == 0 && spec[7])
        return ss_store_open_sqlite(spec + 7, read_only, max_bytes, out);
    if (strncmp(spec, "postgresql:", 11) == 0 && spec[11])
        return ss_store_open_pg(spec + 11, read_only, max_bytes, out);
    return ss_errf(SS_ERR_CONFIG,
                   "message log store '%.40s' is neither sqlite:PATH nor postgresql:CONNINFO",
                   spec);
}

const char *ss_store_label(const struct ss_store *s)
{
    return s->label;
}

char *ss_store_spec(const char *arg)
{
    bool named = strncmp(arg, "sqlite:", 7) == 0 || strncmp(arg, "postgresql:", 11) == 0;
    size_t n = strlen(arg) + 8;
    char *spec = malloc(n);
    if (spec)
        snprintf(spec, n, "%s%s", named ? "" : "sqlite:", arg);
    return spec;
}

bool ss_store_is_file(const char *spec)
{
    return strncmp(spec, "sqlite:", 7) == 0;
}

void ss_store_close(struct ss_store *s)
{
    if (s)
        s->ops->close(s);
}

ss_error ss_store_tail(struct ss_store *s, int64_t *id, uint8_t hash[32])
{
    return s->ops->tail(s, id, hash);
}

ss_error ss_store_begin(struct ss_store *s)
{
    return s->ops->begin(s);
}

ss_error ss_store_commit(struct ss_store *s)
{
    return s->ops->commit(s);
}

ss_error ss_store_snapshot(struct ss_store *s)
{
    return s->ops->snapshot(s);
}

void ss_store_rollback(struct ss_store *s)
{
    s->ops->rollback(s);
}

ss_error ss_store_insert(struct ss_store *s, const struct ss_record *r)
{
    return s->ops->insert(s, r);
}

ss_error ss_store_seen(struct ss_store *s, const char *client, const char *query_id,
                       int64_t since_ms, bool *seen)
{
    return s->ops->seen(s, client, query_id, since_ms, seen);
}

ss_error ss_store_pending(struct ss_store *s, size_t *count, int64_t *oldest_ms)
{
    return s->ops->pending(s, count, oldest_ms);
}

ss_error ss_store_take_pending(struct ss_store *s, size_t max, int64_t **ids,
                               uint8_t (**hashes)[32], size_t *n)
{
    return s->ops->take_pending(s, max, ids, hashes, n);
}

size_t ss_store_in_a_row(const int64_t *ids, size_t n)
{
    size_t run = n ? 1 : 0;
    while (run < n && ids[run] == ids[run - 1] + 1)
        run++;
    return run;
}

/* Whether ids[0..n) are first..last in a row, as a timestamped batch must be. */
static ss_error batch_in_a_row(const struct ss_store *s, int64_t first, int64_t last,
                               const int64_t *ids, size_t n)
{
    /* a record's leaf is found by its number: the batch must be the numbers in a row */
    bool in_a_row = n > 0 && first >= 1 && ids[0] == first && last >= first &&
                    (uint64_t)(last - first) == n - 1 && ss_store_in_a_row(ids, n) == n;
    if (!in_a_row)
        return ss_errf(SS_ERR_INTERNAL,
                       "message log %s: records to timestamp are not %lld to %lld in a row",
                       s->label, (long long)first, (long long)last);
    return SS_OK;
}

ss_error ss_store_add_timestamp(struct ss_store *s, struct ss_timestamp *ts, const int64_t *ids,
                                const struct ss_merkle_tree *tree)
{
    ss_error err = batch_in_a_row(s, ts->first_id, ts->last_id, ids, tree->n);
    return err ? err : s->ops->add_timestamp(s, ts, tree);
}

ss_error ss_store_stamped_before(const char *store, const struct ss_timestamp *ts, int64_t covered)
{
    return ss_errf(SS_ERR_IO,
                   "message log %s: records %lld to %lld are already timestamped (up to %lld): "
                   "not again",
                   store, (long long)ts->first_id, (long long)ts->last_id, (long long)covered);
}

ss_error ss_store_lease(struct ss_store *s, bool *held)
{
    return s->ops->lease(s, held);
}

ss_error ss_store_node_seen(struct ss_store *s, const char *node, const char *config)
{
    return s->ops->node_seen ? s->ops->node_seen(s, node, config) : SS_OK;
}

ss_error ss_store_nodes(struct ss_store *s, unsigned fresh_s, ss_store_node_visit fn, void *arg)
{
    return s->ops->nodes ? s->ops->nodes(s, fresh_s, fn, arg) : SS_OK;
}

/*
 * A visit that hands each record its inclusion path: the store gives it for
 * records of older timestamps (stamps) and NULL for the others, whose path
 * is read off their batch's stored tree (the last one read is kept, so that
 * a visit in order reads each tree once).
 */
struct with_paths {
    struct ss_store *s;
    ss_store_visit fn;
    void *arg;
    bool paths;                 /* read paths off the trees (else: NULL for those) */
    int64_t ts_id, first_id;    /* the tree held: of timestamp ts_id (0: none) */
    struct ss_merkle_tree tree; /* no nodes: the timestamp keeps no tree that loads */
};

/* Takes a timestamp's tree, lent by the store; one that does not load (a damaged log) gives no
 * path, and the record's check says so. */
static ss_error take_tree(void *arg, int64_t first_id, int64_t last_id, const uint8_t *nodes,
                          size_t len)
{
    struct with_paths *w = arg;
    w->first_id = first_id;
    if (!nodes || first_id < 1 || last_id < first_id || last_id - first_id >= SS_MERKLE_MAX_LEAVES)
        return SS_OK;
    ss_error err = ss_merkle_tree_load((size_t)(last_id - first_id + 1), nodes, len, &w->tree);
    return err == SS_ERR_NOMEM ? err : SS_OK;
}

static ss_error visit_with_path(void *arg, const struct ss_record *r, int64_t ts_id,
                                const char *ts_path)
{
    struct with_paths *w = arg;
    if (!w->paths)
        return w->fn(w->arg, r, ts_id, ts_path);
    if (ts_path || !ts_id)
        return w->fn(w->arg, r, ts_id, ts_path ? ts_path : "");
    if (w->ts_id != ts_id) {
        ss_merkle_tree_free(&w->tree);
        w->ts_id = ts_id;
        ss_error err = w->s->ops->tree(w->s, ts_id, take_tree, w);
        if (err)
            return err;
    }
    char path[SS_MERKLE_PATH_TEXT_MAX] = SS_STORE_NO_PATH;
    if (w->tree.nodes && r->id >= w->first_id && (size_t)(r->id - w->first_id) < w->tree.n)
        ss_merkle_tree_path_format(&w->tree, (size_t)(r->id - w->first_id), path);
    return w->fn(w->arg, r, ts_id, path);
}

ss_error ss_store_each(struct ss_store *s, int64_t from_id, int64_t to_id, ss_store_visit fn,
                       void *arg)
{
    struct with_paths w = {.s = s, .fn = fn, .arg = arg, .paths = true};
    ss_error err = s->ops->each(s, from_id, to_id, visit_with_path, &w);
    ss_merkle_tree_free(&w.tree);
    return err;
}

ss_error ss_store_search(struct ss_store *s, const struct ss_store_filter *f, ss_store_visit fn,
                         void *arg)
{
    struct with_paths w = {.s = s, .fn = fn, .arg = arg, .paths = f->paths};
    ss_error err = s->ops->search(s, f, visit_with_path, &w);
    ss_merkle_tree_free(&w.tree);
    return err;
}

ss_error ss_store_id_range(struct ss_store *s, int64_t from_ms, int64_t to_ms, int64_t *first,
                           int64_t *last)
{
    return s->ops->id_range(s, from_ms, to_ms, first, last);
}

ss_error ss_store_count(struct ss_store *s, const struct ss_store_filter *f, const char *by,
                        ss_store_count_visit fn, void *arg)
{
    static const char *const dims[] = {"client",  "service",    "status",
                                       "purpose", "error_type", "side"};
    for (size_t i = 0; i < sizeof dims / sizeof dims[0]; i++)
        if (strcmp(by, dims[i]) == 0)
            return s->ops->count(s, f, dims[i], fn, arg);
    return ss_errf(SS_ERR_INTERNAL, "cannot count by '%s'", by);
}

enum ss_outcome ss_store_outcome(unsigned status, const char *error_type)
{
    if (error_type[0])
        return SS_OUTCOME_REFUSED;
    return status >= 200 && status < 300 ? SS_OUTCOME_ANSWERED : SS_OUTCOME_FAILED;
}

ss_error ss_store_exchanges(struct ss_store *s, const struct ss_store_filter *f, int outcome,
                            enum ss_exchange_order order, bool desc, uint64_t offset,
                            uint64_t limit, ss_store_exchange_visit fn, void *arg, uint64_t *total)
{
    if ((unsigned)order > SS_ORDER_STATUS)
        return ss_errf(SS_ERR_INTERNAL, "no such order");
    return s->ops->exchanges(s, f, outcome, order, desc, offset, limit, fn, arg, total);
}

ss_error ss_store_daily(struct ss_store *s, const struct ss_store_filter *f, ss_store_day_visit fn,
                        void *arg)
{
    return s->ops->daily(s, f, fn, arg);
}

void ss_store_summary_range(struct ss_store_summary *out, int64_t *next, int64_t first,
                            int64_t last)
{
    /* timestamps cover the numbers in order from the first record: what lies between two is a
     * gap (or what lies before the first) */
    out->timestamps++;
    if (first > *next) {
        if (!out->gaps)
            out->first_gap_id = *next;
        out->gaps += (uint64_t)(first - *next);
    }
    if (last + 1 > *next)
        *next = last + 1;
}

ss_error ss_store_summary(struct ss_store *s, int64_t now, struct ss_store_summary *out)
{
    memset(out, 0, sizeof *out);
    return s->ops->summary(s, now, out);
}

ss_error ss_store_purge(struct ss_store *s, int64_t now, uint64_t *purged, uint64_t *kept_v1)
{
    *purged = *kept_v1 = 0;
    return s->ops->purge(s, now, purged, kept_v1);
}

ss_error ss_store_vacuum(struct ss_store *s)
{
    return s->ops->vacuum(s);
}

ss_error ss_store_add_registry(struct ss_store *s, uint64_t serial, int64_t since_ms,
                               const uint8_t *xml, size_t xml_len, const uint8_t *sig,
                               size_t sig_len)
{
    return s->ops->add_registry(s, serial, since_ms, xml, xml_len, sig, sig_len);
}

ss_error ss_store_each_registry(struct ss_store *s, ss_store_registry_visit fn, void *arg)
{
    return s->ops->each_registry(s, fn, arg);
}

ss_error ss_store_each_timestamp(struct ss_store *s, ss_store_timestamp_visit fn, void *arg)
{
    return s->ops->timestamps(s, 0, fn, arg);
}

ss_error ss_store_timestamps(struct ss_store *s, int64_t id, ss_store_timestamp_visit fn, void *arg)
{
    return s->ops->timestamps(s, id, fn, arg);
}
