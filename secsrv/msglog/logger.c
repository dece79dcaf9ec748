#include "logger.h"
#include "clock.h"
#include "nodes.h"

#include "audit.h"
#include "ipc.h"
#include "keys.h"
#include "gather.h"
#include "log.h"
#include "merkle.h"
#include "proc.h"
#include "record_ipc.h"
#include "regstore.h"
#include "registry.h"
#include "store.h"
#include "trust.h"
#include "tsp.h"
#include "upstream.h"
#include "ss_sha256.h"
#include "ss_xml.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#define LOGGER_FRAME_MAX SS_IPC_MAX_PAYLOAD
#define GROUP_MAX 1024   /* records in one transaction */
#define PURGE_RETRY_S 60 /* a purge that did not finish (a reader held the log) is tried again */
#define MARK_EVERY_S 2   /* the mark follows the chain's end at most this often */

struct append {
    ss_link link;
    uint64_t id;
    uint64_t arrived_us;   /* monotonic */
    struct ss_ipc_msg msg; /* the record points into it */
    struct ss_record rec;
    bool replay_check;
    char dup_type[129];
    unsigned dup_status;
    bool duplicate;  /* found to be a replay: stored as a refusal */
    uint8_t *sealed; /* the message sealed to the DPO's key (malloc'd), or NULL */
    struct append *next;
};

static struct {
    const struct ss_config *cfg;
    struct ss_reg_anchor anchor;
    bool seal; /* messages are stored sealed to the DPO's public key */
    uint8_t dpo_pk[32];
    struct ss_store *writer;  /* the appending connection */
    struct ss_store *stamper; /* the timestamping connection */
    pthread_mutex_t mu;
    pthread_cond_t work; /* records waiting, or stopping (the writer) */
    pthread_cond_t tick; /* a registry arrived, or stopping (the timestamper) */
    struct append *head, **tail;
    size_t queued;
    uint64_t last_group_us; /* monotonic: when the last group was taken */
    bool stopping;
    struct ss_trust *trust;
    uint8_t registry_sha256[32];
    /* the registry in force, as published, until the timestamper has kept it in the store */
    struct kept_registry {
        uint64_t serial;
        int64_t since_ms;
        uint8_t *xml, *sig;
        size_t xml_len, sig_len;
    } unsaved;
    /* the chain's end, known to the writer thread only */
    int64_t last_id;
    uint8_t last_hash[32];
    /* the mark (writer thread; see mark_check): its file ("" when there is no state_dir), the
     * record it names, when it was written; and the SQLite file as opened (file_still_there) */
    char mark_path[4096];
    int64_t marked_id;
    uint64_t marked_us;
    bool mark_failing;
    int file_fd; /* the SQLite file, as opened (-1: none) */
    /* state for answers and status (under mu) */
    bool writable;
    bool full; /* the last write failed for want of room (SS_ERR_LIMIT) */
    char last_error[300];
    _Atomic bool overdue;
    int64_t oldest_pending_ms;
    uint64_t pending;
    uint64_t commits, records, largest_group, timestamps;
    struct ss_hist group_size, commit;
    /* on a shared store: what this node holds (from the parent) and whether the others agree */
    char node_config[SS_NODES_CONFIG_MAX];
    char node_differs[400]; /* "" when it holds what the nodes hold */
} lg = {.mu = PTHREAD_MUTEX_INITIALIZER, .file_fd = -1}; /* work and tick: ss_logger_main */

static int64_t now_ms(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* ---- the mark: a record this server knows it wrote ---- */

/*
 * state_dir/messagelog.mark holds "RECORD SHA256": the number and hash of a record this
 * server's logger wrote, moved on to the chain's end at most every MARK_EVERY_S seconds while
 * records come, and when the logger stops; always a record already durable. At start the log
 * must hold that record with that hash. SQLite creates an empty file in place of one removed,
 * and a new chain would begin as if nothing had been lost: a log removed, replaced by another
 * or rolled back to an older copy is refused instead, and with it every exchange, until the
 * operator puts the log back or removes the mark to begin a new log on purpose (secsrv-backup
 * restore removes it with the log it puts back).
 */
#define MARK_REMEDY "put the log back, or remove the mark to begin a new log on purpose"

/* A record as the mark names it, or as the store has it. */
struct mark {
    bool found;
    uint64_t id;
    uint8_t hash[32];
};

static ss_error keep_record(void *arg, const struct ss_record *r, int64_t ts_id,
                           const char *ts_path)
{
    (void)ts_id;
    (void)ts_path;
    struct mark *out = arg;
    out->found = true;
    out->id = (uint64_t)r->id;
    memcpy(out->hash, r->hash, 32);
    return SS_OK;
}

static ss_error mark_read(void *arg)
{
    struct mark *m = arg;
    ss_error err = ss_mark_read(lg.mark_path, "RECORD SHA256", &m->found, &m->id, m->hash);
    if (!err && m->found && (m->id == 0 || m->id > INT64_MAX))
        err = ss_errf(SS_ERR_CONFIG, "%s: record %llu: records are numbered from 1",
                      lg.mark_path, (unsigned long long)m->id);
    if (err == SS_ERR_CONFIG)
        return ss_errf(SS_ERR_LOGGING, "%s (remove it only to begin a new message log)",
                       ss_errmsg());
    return err;
}

/* Before the store is opened (and privileges dropped): the mark, read as the user the logger
 * becomes, whose own the state directory is. */
static ss_error mark_load(struct mark *m)
{
    if (!lg.cfg->state_dir)
        return SS_OK;
    int n = snprintf(lg.mark_path, sizeof lg.mark_path, "%s/messagelog.mark", lg.cfg->state_dir);
    if (n < 0 || (size_t)n >= sizeof lg.mark_path)
        return ss_errf(SS_ERR_CONFIG, "state_dir path too long");
    ss_error err = ss_proc_as_user(lg.cfg->user, mark_read, m);
    /* opening would create the file: say what is missing before */
    const char *path = ss_config_sqlite_path(lg.cfg);
    struct stat st;
    if (!err && m->found && path && stat(path, &st) != 0 && errno == ENOENT)
        return ss_errf(SS_ERR_LOGGING,
                       "message log %s does not exist, but this server wrote record %llu to it "
                       "(%s): %s",
                       path, (unsigned long long)m->id, lg.mark_path, MARK_REMEDY);
    return err;
}

/* After the store is open: whether it holds the record the mark names. */
static ss_error mark_check(const struct mark *m)
{
    if (!m->found)
        return SS_OK;
    const char *label = ss_store_label(lg.writer);
    if (m->id > (uint64_t)lg.last_id)
        return ss_errf(SS_ERR_LOGGING,
                       "message log %s ends at record %lld, but this server wrote record %llu to "
                       "it (%s): the log was removed, replaced or rolled back; %s",
                       label, (long long)lg.last_id, (unsigned long long)m->id, lg.mark_path,
                       MARK_REMEDY);
    struct mark found = {0};
    ss_error err = ss_store_each(lg.writer, (int64_t)m->id, (int64_t)m->id, keep_record, &found);
    if (err)
        return err;
    if (!found.found || found.id != m->id)
        return ss_errf(SS_ERR_LOGGING,
                       "record %llu, which this server wrote (%s), is missing from message log "
                       "%s; %s",
                       (unsigned long long)m->id, lg.mark_path, label, MARK_REMEDY);
    if (sodium_memcmp(found.hash, m->hash, 32) != 0)
        return ss_errf(SS_ERR_LOGGING,
                       "record %llu of message log %s is not the one this server wrote (%s has "
                       "another hash): the log was replaced; %s",
                       (unsigned long long)m->id, label, lg.mark_path, MARK_REMEDY);
    lg.marked_id = (int64_t)m->id;
    return SS_OK;
}

/* Moves the mark to the chain's end when MARK_EVERY_S have passed (now: at once). */
static void mark_follow(bool now)
{
    if (!lg.mark_path[0] || lg.last_id == lg.marked_id)
        return;
    uint64_t t = ss_monotonic_us();
    if (!now && t - lg.marked_us < MARK_EVERY_S * 1000000u)
        return;
    if (ss_mark_write(lg.mark_path, (uint64_t)lg.last_id, lg.last_hash) != SS_OK) {
        if (!lg.mark_failing)
            ss_log_error("logger: the mark of the message log's end cannot be written (it "
                         "stays at record %lld): %s",
                         (long long)lg.marked_id, ss_errmsg());
        lg.mark_failing = true;
        lg.marked_us = t;
        return;
    }
    if (lg.mark_failing)
        ss_log_info("logger: the mark of the message log's end is written again");
    lg.mark_failing = false;
    lg.marked_id = lg.last_id;
    lg.marked_us = t;
}

/*
 * Whether the SQLite file opened is still in place: records written into one removed, or
 * replaced by another, would go where no one will read them. Asked of a descriptor of its own
 * (opened before the privileges went: the logger's user may not reach the path): a file no
 * name refers to any more has no links.
 */
static ss_error file_still_there(void)
{
    struct stat st;
    if (lg.file_fd < 0)
        return SS_OK;
    if (fstat(lg.file_fd, &st) != 0)
        return ss_errf(SS_ERR_IO, "message log %s: %s", ss_store_label(lg.writer), strerror(errno));
    if (st.st_nlink == 0)
        return ss_errf(SS_ERR_IO,
                       "message log %s was removed or replaced since it was opened (put it back "
                       "and restart the server)",
                       ss_store_label(lg.writer));
    return SS_OK;
}

/* ---- appending ---- */

/* Adds a's answer to out (NULL: sends it at once). */
static void answer(struct ss_serve_batch *out, const struct append *a, ss_error err,
                   const char *reason, int64_t id, uint32_t flags)
{
    struct ss_ipc_buf b = {0};
    ss_ipc_put_u32(&b, (uint32_t)err);
    ss_ipc_put_str(&b, reason);
    ss_ipc_put_u64(&b, (uint64_t)id);
    ss_ipc_put_u32(&b, flags | (atomic_load(&lg.overdue) ? SS_LOGGED_TIMESTAMP_OVERDUE : 0));
    ss_serve_batch_add(out, a->link, SS_IPC_LOGGED, a->id, &b);
    ss_ipc_buf_cleanup(&b);
}

static void free_appends(struct append *a)
{
    while (a) {
        struct append *next = a->next;
        ss_ipc_msg_cleanup(&a->msg);
        free(a->sealed);
        free(a);
        a = next;
    }
}

/* What the last write (or probe) of the store says of it, for health. Under lg.mu. */
static void note_store(ss_error err, const char *reason)
{
    lg.writable = !err;
    lg.full = err == SS_ERR_LIMIT;
    snprintf(lg.last_error, sizeof lg.last_error, "%s", reason);
}

/* Writes one group in one transaction; answers each record once it is durable. */
static void write_group(struct append *group, size_t n)
{
    int64_t id = 0;
    uint8_t prev[32];
    int64_t when = now_ms();
    /* the chain's end as the store has it inside this transaction: on a shared store the other
     * nodes append to the same chain */
    ss_error err = file_still_there();
    if (!err)
        err = ss_store_begin(lg.writer);
    if (!err)
        err = ss_store_tail(lg.writer, &id, prev);
    for (struct append *a = group; !err && a; a = a->next) {
        struct ss_record *r = &a->rec;
        if (a->replay_check) {
            bool seen = false;
            int64_t since = when - (int64_t)ss_config_replay_window(lg.cfg) * 1000;
            err = ss_store_seen(lg.writer, r->client, r->query_id, since, &seen);
            a->duplicate = !err && seen;
            if (a->duplicate) {
                snprintf(r->error_type, sizeof r->error_type, "%s", a->dup_type);
                r->status = a->dup_status;
            }
        }
        r->id = ++id;
        r->logged_ms = when;
        memcpy(r->prev_hash, prev, 32);
        ss_record_hash(r, r->hash);
        memcpy(prev, r->hash, 32);
        if (!err)
            err = ss_store_insert(lg.writer, r);
    }
    uint64_t commit_from = ss_monotonic_us();
    if (!err)
        err = ss_store_commit(lg.writer);
    double commit_s = (double)(ss_monotonic_us() - commit_from) / 1e6;
    char reason[300] = "";
    if (!err) {
        lg.last_id = id;
        memcpy(lg.last_hash, prev, 32);
        /* a file removed while the group was written took the group with it: committed to a
         * file no one will read, so not logged (the mark still moves on, to say how far the
         * lost log got) */
        if ((err = file_still_there()) != SS_OK) {
            snprintf(reason, sizeof reason, "%s", ss_errmsg());
            ss_log_error("logger: %zu records not written: %s", n, reason);
        }
    } else {
        snprintf(reason, sizeof reason, "%s", ss_errmsg());
        ss_store_rollback(lg.writer);
        ss_log_error("logger: %zu records not written: %s", n, reason);
    }
    pthread_mutex_lock(&lg.mu);
    note_store(err, reason);
    if (!err) {
        lg.commits++;
        lg.records += n;
        if (n > lg.largest_group)
            lg.largest_group = n;
        ss_hist_observe(&lg.group_size, &ss_hist_sizes, (double)n);
        ss_hist_observe(&lg.commit, &ss_hist_seconds, commit_s);
    }
    pthread_mutex_unlock(&lg.mu);
    /* the group's answers in one write per network process */
    struct ss_serve_batch out = {0};
    for (struct append *a = group; a; a = a->next)
        answer(&out, a, err, reason, err ? 0 : a->rec.id,
               !err && a->duplicate ? SS_LOGGED_DUPLICATE : 0);
    ss_serve_batch_send(&out);
}

/*
 * Whether the store takes a write transaction (begin, the chain's end, commit), asked by the
 * writer when no group has come for a while: a store that went away while nobody wrote, or
 * came back after a failed write, is seen without an exchange to find it. The health check
 * reads writable: a node whose balancer keeps it out after a failure would otherwise never
 * be healthy again. Called without lg.mu.
 */
static void probe_writer(void)
{
    int64_t id = 0;
    uint8_t prev[32];
    ss_error err = file_still_there();
    if (!err)
        err = ss_store_begin(lg.writer);
    if (!err && (err = ss_store_tail(lg.writer, &id, prev)) == SS_OK)
        err = ss_store_commit(lg.writer);
    char reason[300] = "";
    if (err) {
        snprintf(reason, sizeof reason, "%s", ss_errmsg());
        ss_store_rollback(lg.writer);
    }
    pthread_mutex_lock(&lg.mu);
    /* a transaction without records has room in a full store: only a record shows it */
    if (err || !lg.full) {
        if (!err && !lg.writable)
            ss_log_info("logger: the message log takes writes again");
        else if (err && lg.writable)
            ss_log_error("logger: the message log takes no writes: %s", reason);
        note_store(err, reason);
    }
    pthread_mutex_unlock(&lg.mu);
}

/* seconds without a group before the writer probes the store: after a failed write, and
 * while all is well */
#define PROBE_FAILED_S 1
#define PROBE_IDLE_S 5

static void *writer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&lg.mu);
    for (;;) {
        if (!lg.head) {
            if (lg.stopping)
                break;
            struct timespec wake = ss_deadline_after_us(
                (uint64_t)(lg.writable ? PROBE_IDLE_S : PROBE_FAILED_S) * 1000000u);
            if (pthread_cond_timedwait(&lg.work, &lg.mu, &wake) == ETIMEDOUT && !lg.head &&
                !lg.stopping) {
                pthread_mutex_unlock(&lg.mu);
                probe_writer();
                mark_follow(false);
                pthread_mutex_lock(&lg.mu);
            }
            continue;
        }
        /* under load a group gathers (see gather.h); one reading of the clock, so that a
         * wait computed after the due time cannot wrap around to centuries */
        uint64_t now_us = ss_monotonic_us();
        uint64_t due = lg.stopping ? 0
                                   : ss_gather_due(lg.last_group_us, lg.head->arrived_us, lg.queued,
                                                   GROUP_MAX, lg.cfg->log_group_wait_us, now_us);
        if (due) {
            struct timespec wake = ss_deadline_after_us(due > now_us ? due - now_us : 0);
            pthread_cond_timedwait(&lg.work, &lg.mu, &wake);
            continue;
        }
        lg.last_group_us = ss_monotonic_us();
        struct append *group = lg.head, **cut = &lg.head;
        size_t n = 0;
        while (*cut && n < GROUP_MAX) {
            cut = &(*cut)->next;
            n++;
        }
        lg.head = *cut;
        *cut = NULL;
        lg.queued -= n;
        if (!lg.head)
            lg.tail = &lg.head;
        pthread_mutex_unlock(&lg.mu);
        write_group(group, n);
        free_appends(group);
        mark_follow(false);
        pthread_mutex_lock(&lg.mu);
    }
    pthread_mutex_unlock(&lg.mu);
    mark_follow(true);
    return NULL;
}

/* ---- timestamping ---- */

/*
 * Asks the registry's TSAs in turn for a token over root; the first good one counts. A token
 * whose genTime is further from this server's clock than the clock skew is not good: the
 * records it covers were written just now, and a TSA whose clock is off would date them
 * before they existed, or after.
 */
static ss_error obtain_token(const struct ss_registry *reg, const uint8_t root[32],
                             struct ss_tsp_token *token, char *tsa_name, size_t name_size)
{
    struct ss_tsa_list list;
    if (reg->n_tsas == 0)
        return ss_errf(SS_ERR_REGISTRY, "the registry lists no time-stamping authority");
    if (!ss_tsa_list_build(reg, &list))
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    ss_error err = SS_ERR_UPSTREAM;
    char reasons[600] = "";
    for (size_t i = 0; i < reg->n_tsas && err; i++) {
        uint8_t nonce[SS_TSP_NONCE_LEN];
        uint8_t *req = NULL, *resp = NULL;
        size_t req_len = 0, resp_len = 0;
        err = ss_tsp_request(root, nonce, &req, &req_len);
        time_t asked = time(NULL);
        if (!err)
            err = ss_upstream_fetch(reg->tsas[i].url, "application/timestamp-query", req, req_len,
                                    SS_TSP_RESPONSE_MAX, 10000, &resp, &resp_len);
        /* only this TSA's certificate may have signed what this TSA answered */
        if (!err)
            err = ss_tsp_verify(resp, resp_len, root, nonce, sizeof nonce, &list.auth[i], 1, token);
        time_t answered = time(NULL), skew = (time_t)lg.cfg->clock_skew;
        if (!err && (token->gen_time < asked - skew || token->gen_time > answered + skew)) {
            char when[21];
            ss_time_format(token->gen_time, when);
            err = ss_errf(SS_ERR_UPSTREAM,
                          "the token's genTime %s is %+lld s from this server's clock (the clock "
                          "skew allowed is %lld s)",
                          when,
                          (long long)(token->gen_time < asked ? token->gen_time - asked
                                                              : token->gen_time - answered),
                          (long long)skew);
            ss_tsp_token_cleanup(token);
        }
        if (err) {
            size_t used = strlen(reasons);
            snprintf(reasons + used, sizeof reasons - used, "%s%s: %s", used ? "; " : "",
                     reg->tsas[i].name, ss_errmsg());
        } else {
            snprintf(tsa_name, name_size, "%s", reg->tsas[i].name);
        }
        free(req);
        free(resp);
    }
    ss_tsa_list_cleanup(&list);
    return err ? ss_errf(err, "%s", reasons) : SS_OK;
}

/* Timestamps up to SS_MERKLE_MAX_LEAVES records not yet timestamped; *done counts them. */
static ss_error timestamp_batch(const struct ss_registry *reg, size_t *done)
{
    *done = 0;
    int64_t *ids = NULL;
    uint8_t(*hashes)[32] = NULL;
    struct ss_merkle_tree tree = {0};
    size_t n = 0;
    ss_error err = ss_store_take_pending(lg.stamper, SS_MERKLE_MAX_LEAVES, &ids, &hashes, &n);
    if (err || n == 0)
        goto out;
    /* a batch is record numbers in a row (a record's leaf is found by its number): a log that
     * lacks records (deleted behind the server's back) has the run before the gap stamped, and
     * the rest in the next round */
    size_t run = ss_store_in_a_row(ids, n);
    if (run < n) {
        ss_log_error("logger: the message log lacks records %lld to %lld (secsrv-log verify "
                     "reports it); the records on either side are timestamped apart",
                     (long long)ids[run - 1] + 1, (long long)ids[run] - 1);
        n = run;
    }
    /* the record hashes become the leaves, in place */
    for (size_t i = 0; i < n; i++)
        ss_merkle_leaf(hashes[i], 32, hashes[i]);
    struct ss_timestamp ts = {.first_id = ids[0], .last_id = ids[n - 1]};
    if ((err = ss_merkle_tree_build((const uint8_t(*)[32])hashes, n, &tree)))
        goto out;
    free(hashes);
    hashes = NULL;
    memcpy(ts.root, ss_merkle_tree_root(&tree), 32);
    struct ss_tsp_token token = {0};
    if ((err = obtain_token(reg, ts.root, &token, ts.tsa, sizeof ts.tsa)))
        goto out;
    ts.token = token.der;
    ts.token_len = token.len;
    ts.gen_time = token.gen_time;
    err = ss_store_add_timestamp(lg.stamper, &ts, ids, &tree);
    ss_tsp_token_cleanup(&token);
    if (!err) {
        *done = n;
        pthread_mutex_lock(&lg.mu);
        lg.timestamps++;
        pthread_mutex_unlock(&lg.mu);
        ss_log_info("logger: records %lld to %lld timestamped (%zu in one token from %s)",
                    (long long)ts.first_id, (long long)ts.last_id, n, ts.tsa);
    }
out:
    free(ids);
    free(hashes);
    ss_merkle_tree_free(&tree);
    return err;
}

static void kept_registry_free(struct kept_registry *k)
{
    free(k->xml);
    free(k->sig);
    memset(k, 0, sizeof *k);
}

/*
 * Keeps the registry now in force in the store, so that a verification of
 * the log, years later, judges each record by the registry of its time. On
 * failure it is tried again on the next round, unless a newer one came.
 */
static void keep_registry(struct kept_registry *k)
{
    if (!k->xml)
        return;
    if (ss_store_add_registry(lg.stamper, k->serial, k->since_ms, k->xml, k->xml_len, k->sig,
                              k->sig_len) == SS_OK) {
        kept_registry_free(k);
        return;
    }
    ss_log_warn("logger: registry serial %llu not kept in the message log yet: %s",
                (unsigned long long)k->serial, ss_errmsg());
    pthread_mutex_lock(&lg.mu);
    if (!lg.unsaved.xml) {
        lg.unsaved = *k;
        memset(k, 0, sizeof *k);
    }
    pthread_mutex_unlock(&lg.mu);
    kept_registry_free(k);
}

/*
 * Removes the content of records past their retention deadline (see
 * ss_store_purge); false when it did not finish (it is tried again soon).
 */
static bool purge_expired(void)
{
    uint64_t purged = 0, kept = 0;
    bool ok = ss_store_purge(lg.stamper, (int64_t)time(NULL), &purged, &kept) == SS_OK;
    /* what was committed is purged, also when what came after it failed (a reader holding
     * the old pages of the write-ahead log, which the next purge empties) */
    if (!ok)
        ss_log_warn("logger: purge: %s", ss_errmsg());
    if (purged)
        ss_log_info("logger: content of %llu records past their retention deadline purged",
                    (unsigned long long)purged);
    if (kept)
        ss_log_warn("logger: %llu records of schema version 1 are past their retention deadline; "
                    "their content cannot be purged without breaking the chain",
                    (unsigned long long)kept);
    return ok;
}

/*
 * On a shared store: says which node this is and what it holds, and looks
 * whether the nodes seen lately (SS_NODES_FRESH) hold the same;
 * a node that differs from them says so in its status (its health check
 * fails, so the load balancer keeps it out). A store out of reach leaves
 * the last finding as it is (the writer reports the store).
 */
static void check_nodes(void)
{
    const char *node = lg.cfg->node;
    char config[SS_NODES_CONFIG_MAX];
    pthread_mutex_lock(&lg.mu);
    memcpy(config, lg.node_config, sizeof config);
    pthread_mutex_unlock(&lg.mu);
    if (!config[0]) /* not a node of a shared store (the parent states only for one) */
        return;
    bool agrees = true;
    char why[sizeof lg.node_differs];
    if (ss_store_node_seen(lg.stamper, node, config) != SS_OK ||
        ss_nodes_check(lg.stamper, node, config, SS_NODES_FRESH, &agrees, why, sizeof why) != SS_OK)
        return;
    pthread_mutex_lock(&lg.mu);
    bool was = lg.node_differs[0] != '\0';
    snprintf(lg.node_differs, sizeof lg.node_differs, "%s", agrees ? "" : why);
    pthread_mutex_unlock(&lg.mu);
    if (!agrees && !was)
        ss_log_error("logger: node %s %s: its health check fails until it holds what the "
                     "others hold",
                     node, why);
    else if (agrees && was)
        ss_log_info("logger: node %s holds what the other nodes hold again", node);
}

static void *stamper_main(void *arg)
{
    (void)arg;
    time_t last_token = time(NULL);
    time_t next_try = 0, next_purge = 0;
    unsigned failures = 0;
    /* the last reading of what waits for a timestamp: when, and the oldest record then */
    int64_t read_ms = now_ms(), read_oldest = 0;
    pthread_mutex_lock(&lg.mu);
    while (!lg.stopping) {
        struct ss_trust *t = ss_trust_ref(lg.trust);
        struct kept_registry keep = lg.unsaved;
        memset(&lg.unsaved, 0, sizeof lg.unsaved);
        pthread_mutex_unlock(&lg.mu);
        keep_registry(&keep);
        check_nodes();
        /* on a shared store one node timestamps and purges (the lease's holder); when it goes,
         * its lease goes with its connection, and another node's next round takes it */
        bool lead = false;
        if (ss_store_lease(lg.stamper, &lead) != SS_OK)
            lead = false; /* the store is out of reach: the writer says so */
        if (lead && lg.cfg->log_purge_interval && time(NULL) >= next_purge) {
            next_purge = time(NULL) + lg.cfg->log_purge_interval;
            if (!purge_expired() && lg.cfg->log_purge_interval > PURGE_RETRY_S)
                next_purge = time(NULL) + PURGE_RETRY_S;
        }
        size_t pending = 0, done = 0;
        int64_t oldest = 0;
        ss_error err = ss_store_pending(lg.stamper, &pending, &oldest);
        bool known = !err;
        time_t now = time(NULL);
        unsigned interval = lg.cfg->ts_interval;
        if (!interval && t)
            interval = (unsigned)ss_trust_registry(t)->settings.timestamping_interval;
        if (!interval)
            interval = 60;
        bool due = pending > 0 && (pending >= lg.cfg->ts_batch || now - last_token >= interval);
        if (!err && t && due && lead && now >= next_try) {
            err = timestamp_batch(ss_trust_registry(t), &done);
            if (err) {
                failures++;
                unsigned wait = failures < 6 ? 1u << (failures - 1) : 32;
                next_try = now + (wait < interval ? wait : interval);
                ss_log_warn("logger: timestamping failed (attempt %u, next in %lds): %s", failures,
                            (long)(next_try - now), ss_errmsg());
            } else {
                if (failures)
                    ss_log_info("logger: timestamping works again after %u failed attempts",
                                failures);
                failures = 0;
                next_try = 0;
                last_token = now;
                known = ss_store_pending(lg.stamper, &pending, &oldest) == SS_OK;
            }
        }
        if (known) {
            read_ms = now_ms();
            read_oldest = pending ? oldest : 0;
        } else {
            /* the store cannot say what waits: what waited at the last reading still does,
             * and what came since is no older than that reading; the grace runs on */
            pending = lg.pending;
            oldest = read_oldest ? read_oldest : read_ms;
        }
        bool overdue = (pending > 0 || !known) && oldest > 0 &&
                       now_ms() - oldest > (int64_t)lg.cfg->ts_grace * 1000;
        bool was = atomic_exchange(&lg.overdue, overdue);
        if (overdue != was) /* logged once the flag is what the line says */
            ss_log_warn("logger: timestamping %s (%llu records waiting, grace %us)",
                        overdue ? "overdue: new exchanges are refused" : "back within its grace",
                        (unsigned long long)pending, lg.cfg->ts_grace);
        ss_trust_unref(t);
        pthread_mutex_lock(&lg.mu);
        if (known) {
            lg.pending = pending;
            lg.oldest_pending_ms = pending ? oldest : 0;
        }
        if (known && done > 0 && pending > 0)
            continue; /* a backlog: the next batch at once */
        struct timespec wake = ss_deadline_after_us(1000000u);
        pthread_cond_timedwait(&lg.tick, &lg.mu, &wake);
    }
    pthread_mutex_unlock(&lg.mu);
    return NULL;
}

/* ---- requests ---- */

static void take_registry(struct ss_ipc_msg *m)
{
    struct ss_regstore_handed h;
    if (!ss_regstore_read(m, &h)) {
        ss_log_error("logger: malformed registry message");
        abort();
    }
    pthread_mutex_lock(&lg.mu);
    uint64_t floor = lg.trust ? ss_trust_registry(lg.trust)->serial : 0;
    bool same = lg.trust && memcmp(h.sha256, lg.registry_sha256, 32) == 0;
    pthread_mutex_unlock(&lg.mu);
    if (same)
        return;
    /* verified here again: the network process is not trusted with it */
    struct ss_trust *t = NULL;
    ss_error err = ss_regstore_verify(&h, &lg.anchor, floor, &t);
    if (err) {
        ss_log_warn("logger: registry refused: %s", ss_errmsg());
        return;
    }
    struct kept_registry keep = {.serial = ss_trust_registry(t)->serial,
                                 .since_ms = now_ms(),
                                 .xml = malloc(h.xml_len ? h.xml_len : 1),
                                 .sig = malloc(h.sig_len ? h.sig_len : 1),
                                 .xml_len = h.xml_len,
                                 .sig_len = h.sig_len};
    if (!keep.xml || !keep.sig) {
        kept_registry_free(&keep);
        ss_log_warn("logger: out of memory: registry serial %llu not kept in the message log",
                    (unsigned long long)ss_trust_registry(t)->serial);
    } else {
        memcpy(keep.xml, h.xml, h.xml_len);
        memcpy(keep.sig, h.sig, h.sig_len);
    }
    pthread_mutex_lock(&lg.mu);
    struct ss_trust *old = lg.trust;
    lg.trust = t;
    memcpy(lg.registry_sha256, h.sha256, 32);
    kept_registry_free(&lg.unsaved);
    lg.unsaved = keep;
    pthread_cond_broadcast(&lg.tick);
    pthread_mutex_unlock(&lg.mu);
    ss_trust_unref(old);
    ss_log_info("logger: registry serial %llu in force",
                (unsigned long long)ss_trust_registry(t)->serial);
}

/*
 * A version 2 record's content: a fresh salt, the message sealed to the
 * DPO's key when configured, and the commitment over them (the chain hash
 * follows when the record gets its number). Here, in the IPC thread, so
 * that sealing runs beside the writer.
 */
static bool prepare_content(struct append *a)
{
    struct ss_record *r = &a->rec;
    if (lg.seal && r->message) {
        size_t len = 0;
        if (ss_dpo_seal(lg.dpo_pk, r->message, r->message_len, &a->sealed, &len) != SS_OK)
            return false;
        r->message = a->sealed;
        r->message_len = len;
        r->sealed = true;
    }
    randombytes_buf(r->salt, sizeof r->salt);
    r->has_salt = true;
    ss_record_commit(r, r->content);
    r->has_content = true;
    return true;
}

static void take_append(ss_link link, struct ss_ipc_msg *m)
{
    struct append *a = calloc(1, sizeof *a);
    if (!a) {
        struct append tmp = {.link = link, .id = m->id};
        answer(NULL, &tmp, SS_ERR_NOMEM, "out of memory", 0, 0);
        ss_ipc_msg_cleanup(m);
        return;
    }
    a->link = link;
    a->id = m->id;
    a->msg = *m; /* the record points into its payload */
    m->payload = NULL;
    m->fd = -1;
    struct ss_ipc_reader r;
    ss_ipc_reader_init(&r, &a->msg);
    bool ok = ss_record_get(&r, &a->rec);
    a->replay_check = ss_ipc_get_u32(&r) != 0;
    ss_ipc_get_str(&r, a->dup_type, sizeof a->dup_type);
    a->dup_status = ss_ipc_get_u32(&r);
    if (!ok || !ss_ipc_reader_done(&r)) {
        ss_log_error("logger: malformed record from the network process");
        abort();
    }
    if (!prepare_content(a)) {
        answer(NULL, a, SS_ERR_LOGGING, ss_errmsg(), 0, 0);
        free_appends(a);
        return;
    }
    a->arrived_us = ss_monotonic_us();
    pthread_mutex_lock(&lg.mu);
    *lg.tail = a;
    lg.tail = &a->next;
    lg.queued++;
    pthread_cond_signal(&lg.work);
    pthread_mutex_unlock(&lg.mu);
}

static void put_hist(struct ss_ipc_buf *b, const struct ss_hist *h)
{
    ss_ipc_put_u32(b, SS_HIST_MAX);
    for (size_t i = 0; i < SS_HIST_MAX; i++)
        ss_ipc_put_u64(b, h->bucket[i]);
    ss_ipc_put_u64(b, h->count);
    ss_ipc_put_u64(b, (uint64_t)(h->sum * 1e6));
}

static void get_hist(struct ss_ipc_reader *r, struct ss_hist *h)
{
    if (ss_ipc_get_u32(r) != SS_HIST_MAX)
        r->failed = true;
    for (size_t i = 0; i < SS_HIST_MAX && !r->failed; i++)
        h->bucket[i] = ss_ipc_get_u64(r);
    h->count = ss_ipc_get_u64(r);
    h->sum = (double)ss_ipc_get_u64(r) / 1e6;
}

ss_error ss_logger_status_read(const struct ss_ipc_msg *m, struct ss_logger_status *out)
{
    memset(out, 0, sizeof *out);
    struct ss_ipc_reader r;
    ss_ipc_reader_init(&r, m);
    out->writable = ss_ipc_get_u32(&r) != 0;
    out->timestamping_ok = ss_ipc_get_u32(&r) != 0;
    out->oldest_untimestamped_ms = ss_ipc_get_u64(&r);
    out->untimestamped = ss_ipc_get_u64(&r);
    ss_ipc_get_str(&r, out->last_error, sizeof out->last_error);
    out->commits = ss_ipc_get_u64(&r);
    out->records = ss_ipc_get_u64(&r);
    out->largest_group = ss_ipc_get_u64(&r);
    out->timestamps = ss_ipc_get_u64(&r);
    out->queued = ss_ipc_get_u64(&r);
    get_hist(&r, &out->group_size);
    get_hist(&r, &out->commit);
    ss_ipc_get_str(&r, out->node_differs, sizeof out->node_differs);
    return ss_ipc_reader_done(&r) ? SS_OK
                                  : ss_errf(SS_ERR_PROTOCOL, "a malformed message-log status");
}

static void take_status(ss_link link, const struct ss_ipc_msg *m)
{
    struct ss_ipc_buf b = {0};
    pthread_mutex_lock(&lg.mu);
    ss_ipc_put_u32(&b, lg.writable);
    ss_ipc_put_u32(&b, !atomic_load(&lg.overdue));
    ss_ipc_put_u64(&b, (uint64_t)lg.oldest_pending_ms);
    ss_ipc_put_u64(&b, lg.pending);
    ss_ipc_put_str(&b, lg.last_error);
    ss_ipc_put_u64(&b, lg.commits);
    ss_ipc_put_u64(&b, lg.records);
    ss_ipc_put_u64(&b, lg.largest_group);
    ss_ipc_put_u64(&b, lg.timestamps);
    ss_ipc_put_u64(&b, lg.queued);
    put_hist(&b, &lg.group_size);
    put_hist(&b, &lg.commit);
    ss_ipc_put_str(&b, lg.node_differs);
    pthread_mutex_unlock(&lg.mu);
    ss_serve_reply(link, SS_IPC_LOGGER_STATE, m->id, &b);
    ss_ipc_buf_cleanup(&b);
}

/* From the parent, after a reload: what this node holds now. */
static void take_node_config(const struct ss_ipc_msg *m)
{
    struct ss_ipc_reader r;
    ss_ipc_reader_init(&r, m);
    char config[SS_NODES_CONFIG_MAX];
    ss_ipc_get_str(&r, config, sizeof config);
    if (!ss_ipc_reader_done(&r)) {
        ss_log_error("logger: a malformed node configuration message");
        abort();
    }
    pthread_mutex_lock(&lg.mu);
    memcpy(lg.node_config, config, sizeof config);
    pthread_cond_broadcast(&lg.tick);
    pthread_mutex_unlock(&lg.mu);
}

static void handle(void *cls, ss_link link, struct ss_ipc_msg *m)
{
    (void)cls;
    /* what this node holds comes from the parent only, and the parent sends nothing else */
    if ((link == SS_SERVE_PARENT) != (m->type == SS_IPC_NODE_CONFIG)) {
        ss_log_error("logger: IPC message type %u from %s", m->type,
                     link == SS_SERVE_PARENT ? "the parent" : "a network process");
        abort();
    }
    switch (m->type) {
    case SS_IPC_LOG_APPEND:
        take_append(link, m);
        return;
    case SS_IPC_REGISTRY:
        take_registry(m);
        break;
    case SS_IPC_LOGGER_STATUS:
        take_status(link, m);
        break;
    case SS_IPC_NODE_CONFIG:
        take_node_config(m);
        break;
    default:
        ss_log_error("logger: unexpected IPC message type %u", m->type);
        abort();
    }
    ss_ipc_msg_cleanup(m);
}

/*
 * One logger at a time per store: a logger of a daemon that was killed may
 * still be finishing its last group when its successor starts.
 */
static int lock_store(const char *path)
{
    char lock[4200];
    snprintf(lock, sizeof lock, "%s.lock", path);
    int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0) {
        ss_log_error("logger: %s: %s", lock, strerror(errno));
        return -1;
    }
    for (int i = 0; i < 300; i++) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0)
            return fd;
        if (i == 0)
            ss_log_warn("logger: %s is held by another logger; waiting", lock);
        usleep(100000);
    }
    ss_log_error("logger: %s is still held after 30 s", lock);
    close(fd);
    return -1;
}

int ss_logger_main(const struct ss_config *cfg, int ctl, int link)
{
    ss_proc_child_setup("logger", false);
    lg.cfg = cfg;
    lg.tail = &lg.head;
    ss_cond_init(&lg.work);
    ss_cond_init(&lg.tick);
    int status = 1, lock = -1;
    pthread_t writer, stamper;
    bool writer_runs = false, stamper_runs = false;
    struct mark mark = {0};
    const char *path = ss_config_sqlite_path(cfg);
    /* the log holds personal data: readable by this process's user alone */
    umask(077);
    /* everything that needs root, before the privileges go; a shared store is written by the
     * loggers of all nodes at once (its transactions take the chain in turn) */
    if (path && (lock = lock_store(path)) < 0)
        goto out;
    /* a shared store records which node wrote each record (its application_name) */
    if (cfg->node)
        setenv("PGAPPNAME", cfg->node, 1);
    if (cfg->node_config)
        snprintf(lg.node_config, sizeof lg.node_config, "%s", cfg->node_config);
    lg.seal = cfg->dpo_public_key != NULL;
    if ((lg.seal && ss_key_file_read(cfg->dpo_public_key, "DPO public key", lg.dpo_pk) != SS_OK) ||
        mark_load(&mark) != SS_OK ||
        ss_reg_anchor_load(cfg->registry_anchor, &lg.anchor) != SS_OK ||
        ss_store_open(cfg->log_store, false, cfg->log_max_bytes, &lg.writer) != SS_OK ||
        ss_store_open(cfg->log_store, false, cfg->log_max_bytes, &lg.stamper) != SS_OK ||
        ss_store_tail(lg.writer, &lg.last_id, lg.last_hash) != SS_OK ||
        mark_check(&mark) != SS_OK) {
        ss_log_error("logger: %s", ss_errmsg());
        goto out;
    }
    if (path && (lg.file_fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        ss_log_error("logger: message log %s: %s", path, strerror(errno));
        goto out;
    }
    lg.writable = true;
    if (ss_proc_drop(cfg->user) != SS_OK) {
        ss_log_error("logger: %s", ss_errmsg());
        goto out;
    }
    writer_runs = pthread_create(&writer, NULL, writer_main, NULL) == 0;
    stamper_runs = writer_runs && pthread_create(&stamper, NULL, stamper_main, NULL) == 0;
    if (!stamper_runs) {
        ss_log_error("logger: cannot start its threads");
        goto out;
    }
    ss_log_info("logger: message log %s open, %lld records (node %s)", ss_store_label(lg.writer),
                (long long)lg.last_id, cfg->node ? cfg->node : "-");
    ss_proc_ready(ctl);
    status = ss_serve_run(ctl, link, LOGGER_FRAME_MAX, handle, NULL);
out:
    pthread_mutex_lock(&lg.mu);
    lg.stopping = true;
    pthread_cond_broadcast(&lg.work);
    pthread_cond_broadcast(&lg.tick);
    pthread_mutex_unlock(&lg.mu);
    if (writer_runs)
        pthread_join(writer, NULL);
    if (stamper_runs)
        pthread_join(stamper, NULL);
    free_appends(lg.head);
    kept_registry_free(&lg.unsaved);
    ss_store_close(lg.writer);
    ss_store_close(lg.stamper);
    ss_trust_unref(lg.trust);
    ss_reg_anchor_cleanup(&lg.anchor);
    if (lock >= 0)
        close(lock);
    if (lg.file_fd >= 0)
        close(lg.file_fd);
    return status;
}
