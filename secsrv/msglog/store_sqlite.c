/* The SQLite message-log store (see store.h). */
#include "store_impl.h"
#include "ss_sha256.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BUSY_TIMEOUT_MS 10000 /* how long a connection waits for another's lock */
#define SCHEMA_VERSION "5"
#define EVIDENCE_SEEN 8 /* evidence rows remembered: a batch's signature, the OCSP responses */

struct sq_store {
    struct ss_store base;
    sqlite3 *db;
    sqlite3_stmt *insert, *seen, *pending, *take, *add_ts, *tail;
    sqlite3_stmt *put_evidence, *get_evidence;
    /* evidence rows this connection wrote or found lately; forgotten on a rollback, which
     * may have taken the rows back */
    struct {
        uint8_t sha256[32];
        int64_t id;
    } evidence_seen[EVIDENCE_SEEN];
    size_t evidence_next;
    char path[4096];
    unsigned busy_ms;    /* how long a lock held by another connection is waited for */
    uint64_t busy_since; /* when the wait began (µs on the monotonic clock) */
    uint64_t busy_last;  /* when the wait's last sleep ended */
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS records ("
    " id INTEGER PRIMARY KEY, logged_ms INTEGER NOT NULL, side TEXT NOT NULL,"
    " direction TEXT NOT NULL, query_id TEXT NOT NULL, request_id TEXT NOT NULL,"
    " client TEXT NOT NULL, service TEXT NOT NULL, purpose TEXT NOT NULL, subject_hash BLOB,"
    " status INTEGER NOT NULL, error_type TEXT NOT NULL, retain_until INTEGER NOT NULL,"
    " message_sha256 BLOB NOT NULL, message BLOB, manifest BLOB, signature BLOB,"
    " sig_path TEXT NOT NULL, ocsp BLOB, prev_hash BLOB NOT NULL, hash BLOB NOT NULL,"
    " content BLOB, salt BLOB, sealed INTEGER NOT NULL DEFAULT 0,"
    " signature_id INTEGER, ocsp_id INTEGER);"
    /* signatures and OCSP responses, each once: a batch's messages share one signature and a
     * signer's messages one OCSP response until it is refreshed; a record refers to them
     * (signature_id, ocsp_id) unless it holds its own (version 3 records) */
    "CREATE TABLE IF NOT EXISTS evidence ("
    " id INTEGER PRIMARY KEY, sha256 BLOB NOT NULL UNIQUE, data BLOB NOT NULL);"
    "CREATE INDEX IF NOT EXISTS records_replay ON records (client, query_id, logged_ms)"
    " WHERE side = 'server' AND direction = 'request';"
    "CREATE TABLE IF NOT EXISTS timestamps ("
    " id INTEGER PRIMARY KEY, first_id INTEGER NOT NULL, last_id INTEGER NOT NULL,"
    " root BLOB NOT NULL, token BLOB NOT NULL, gen_time INTEGER NOT NULL, tsa TEXT NOT NULL,"
    " tree BLOB);"
    /* which timestamp covers a record: the first one ending at or after it */
    "CREATE INDEX IF NOT EXISTS timestamps_last ON timestamps (last_id);"
    /* the inclusion paths of timestamps made before version 5, a row for each record; since,
     * each timestamp keeps its batch's tree (tree), and a path is read off it when asked */
    "CREATE TABLE IF NOT EXISTS stamps ("
    " id INTEGER PRIMARY KEY, ts_id INTEGER NOT NULL, ts_path TEXT NOT NULL);"
    /* every members registry the server had in force, as published (signed), from when the
     * logger first had it: what a later verification judges each record by */
    "CREATE TABLE IF NOT EXISTS registries ("
    " serial INTEGER PRIMARY KEY, since_ms INTEGER NOT NULL, xml BLOB NOT NULL,"
    " sig BLOB NOT NULL);"
    "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', '" SCHEMA_VERSION "');";

/*
 * Version 1 kept ts_id and ts_path in the records themselves; version 2
 * keeps them in stamps. Run in one transaction on a writable store.
 */
static const char migrate_1_to_2[] =
    "BEGIN IMMEDIATE;"
    "INSERT INTO stamps (id, ts_id, ts_path)"
    " SELECT id, ts_id, ts_path FROM records WHERE ts_id IS NOT NULL;"
    "DROP INDEX IF EXISTS records_pending;"
    "ALTER TABLE records DROP COLUMN ts_path;"
    "ALTER TABLE records DROP COLUMN ts_id;"
    "UPDATE meta SET value = '2' WHERE key = 'schema_version';"
    "COMMIT;";

/*
 * Version 3 adds the registries table (created with the schema above) and
 * the columns of version 2 records (content commitment, salt, sealed).
 */
static const char migrate_2_to_3[] =
    "BEGIN IMMEDIATE;"
    "ALTER TABLE records ADD COLUMN content BLOB;"
    "ALTER TABLE records ADD COLUMN salt BLOB;"
    "ALTER TABLE records ADD COLUMN sealed INTEGER NOT NULL DEFAULT 0;"
    "UPDATE meta SET value = '3' WHERE key = 'schema_version';"
    "COMMIT;";

/* The records with their signature and OCSP response in place: what reading takes, and what
 * an auditor queries with sqlite3 (created by the migration, and kept by every writable open). */
#define SIGNED_RECORDS_VIEW                                                                        \
    "CREATE VIEW IF NOT EXISTS signed_records AS SELECT r.id AS id, logged_ms, side, direction,"   \
    " query_id, request_id, client, service, purpose, subject_hash, status, error_type,"           \
    " retain_until, message_sha256, message, manifest,"                                            \
    " coalesce(r.signature, es.data) AS signature, sig_path, coalesce(r.ocsp, eo.data) AS ocsp,"   \
    " prev_hash, hash, content, salt, sealed"                                                      \
    " FROM records r LEFT JOIN evidence es ON es.id = r.signature_id"                              \
    " LEFT JOIN evidence eo ON eo.id = r.ocsp_id;"

/*
 * Version 4 keeps each signature and OCSP response once, in evidence
 * (created with the schema above); the records of version 3 keep theirs.
 */
static const char migrate_3_to_4[] =
    "BEGIN IMMEDIATE;"
    "ALTER TABLE records ADD COLUMN signature_id INTEGER;"
    "ALTER TABLE records ADD COLUMN ocsp_id INTEGER;" SIGNED_RECORDS_VIEW
    "UPDATE meta SET value = '4' WHERE key = 'schema_version';"
    "COMMIT;";

/*
 * Version 5 keeps each timestamp's tree with it instead of a path row for
 * each record (stamps keeps those of the earlier timestamps): storing a
 * batch of 65,536 records took the write lock for half a second and wrote
 * 70 MB of paths; the tree is 64 bytes a record, written at once.
 */
static const char migrate_4_to_5[] = "BEGIN IMMEDIATE;"
                                     "ALTER TABLE timestamps ADD COLUMN tree BLOB;"
                                     "UPDATE meta SET value = '5' WHERE key = 'schema_version';"
                                     "COMMIT;";

static const char signed_records_view[] = SIGNED_RECORDS_VIEW;

/* the first record not yet timestamped: timestamps cover the records in order */
#define UNSTAMPED "id > coalesce((SELECT last_id FROM timestamps ORDER BY id DESC LIMIT 1), 0)"

static ss_error db_error(struct sq_store *s, const char *what)
{
    int code = sqlite3_extended_errcode(s->db);
    const char *msg = sqlite3_errmsg(s->db);
    if ((code & 0xff) == SQLITE_FULL)
        return ss_errf(SS_ERR_LIMIT, "message log %s: store full (%s)", s->path, what);
    return ss_errf(SS_ERR_IO, "message log %s: %s: %s", s->path, what, msg);
}

static ss_error prepare(struct sq_store *s, sqlite3_stmt **st, const char *sql)
{
    if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL) != SQLITE_OK)
        return db_error(s, "prepare");
    return SS_OK;
}

/* The store's schema version, as text ("" when it has none). */
static ss_error schema_version(struct sq_store *s, char *out, size_t size)
{
    sqlite3_stmt *st = NULL;
    out[0] = '\0';
    if (sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE key = 'schema_version'", -1, &st,
                           NULL) != SQLITE_OK) {
        sqlite3_finalize(st);
        return ss_errf(SS_ERR_IO, "message log %s: not a secsrv message log", s->path);
    }
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0))
        snprintf(out, size, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    if (!out[0])
        return ss_errf(SS_ERR_IO, "message log %s: not a secsrv message log", s->path);
    return SS_OK;
}

static void sq_close(struct ss_store *base);
static const struct ss_store_ops sq_ops;

/*
 * Waiting for a lock another connection holds (the logger's stamper, or an
 * audit in another process): a retry after 0.1, 0.2, 0.4 ... ms, 2 ms at
 * most, for busy_ms in all. SQLite's own wait sleeps 1, 2, 5, 10, 15, 20,
 * 25 ms ..., so that a writer held off for 40 ms slept until 53: what
 * every exchange waiting for its record waited too.
 */
static uint64_t mono_us(void)
{
    struct timespec mono; /* the store library stands below core's clock.c */
    clock_gettime(CLOCK_MONOTONIC, &mono);
    return (uint64_t)mono.tv_sec * 1000000u + (uint64_t)mono.tv_nsec / 1000u;
}

static int busy_wait(void *arg, int count)
{
    struct sq_store *s = arg;
    uint64_t now = mono_us();
    /* SQLite counts the retries of one statement, not of one lock: a wait that begins
     * well after the last retry ended is a new one. "Well after" is a second: a starved
     * thread (a loaded machine) may come back from its 2 ms sleep 50 ms late, and a wait
     * that took each late return for a new one would never reach busy_ms */
    if (count == 0 || now - s->busy_last > 1000000u)
        s->busy_since = now;
    if (now - s->busy_since >= (uint64_t)s->busy_ms * 1000u)
        return 0;
    unsigned us = count < 5 ? 100u << count : 2000u;
    struct timespec ts = {0, (long)us * 1000L};
    nanosleep(&ts, NULL);
    s->busy_last = mono_us();
    return 1;
}

/* How long this connection waits for another's lock (0: not at all). */
static void busy_limit(struct sq_store *s, unsigned ms)
{
    s->busy_ms = ms;
    sqlite3_busy_handler(s->db, ms ? busy_wait : NULL, s);
}

ss_error ss_store_open_sqlite(const char *path, bool read_only, uint64_t max_bytes,
                              struct ss_store **out)
{
    *out = NULL;
    struct sq_store *s = calloc(1, sizeof *s);
    if (!s)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    s->base.ops = &sq_ops;
    s->base.label = s->path;
    snprintf(s->path, sizeof s->path, "%s", path);
    int flags = read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    ss_error err = SS_OK;
    if (sqlite3_open_v2(s->path, &s->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
        err = s->db ? db_error(s, "open") : ss_errf(SS_ERR_NOMEM, "out of memory");
        goto out;
    }
    busy_limit(s, BUSY_TIMEOUT_MS);
    char *msg = NULL;
    if (!read_only) {
        /* a writer appends: it touches the right edge of each tree and the index pages of
         * recent keys, which 512 kB hold (SQLite's 2 MB default was 2 MB more of the logger's
         * resident memory, for no measurable speed); the kernel's page cache holds the rest */
        if (sqlite3_exec(
                s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA cache_size=-512;",
                NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(s->db, schema, NULL, NULL, &msg) != SQLITE_OK) {
            err = ss_errf(SS_ERR_IO, "message log %s: %s", s->path, msg ? msg : "cannot set up");
            sqlite3_free(msg);
            goto out;
        }
        if (max_bytes) {
            char pragma[96];
            long long pages = (long long)(max_bytes / 4096);
            snprintf(pragma, sizeof pragma, "PRAGMA page_size=4096; PRAGMA max_page_count=%lld;",
                     pages > 16 ? pages : 16);
            if (sqlite3_exec(s->db, pragma, NULL, NULL, NULL) != SQLITE_OK) {
                err = db_error(s, "max size");
                goto out;
            }
        }
    }
    char found[16] = "";
    if ((err = schema_version(s, found, sizeof found)))
        goto out;
    static const struct {
        const char *from, *sql;
    } steps[] = {
        {"1", migrate_1_to_2}, {"2", migrate_2_to_3}, {"3", migrate_3_to_4}, {"4", migrate_4_to_5}};
    for (size_t i = 0; !read_only && i < sizeof steps / sizeof steps[0]; i++) {
        if (strcmp(found, steps[i].from) != 0)
            continue;
        msg = NULL;
        if (sqlite3_exec(s->db, steps[i].sql, NULL, NULL, &msg) != SQLITE_OK) {
            err = ss_errf(SS_ERR_IO, "message log %s: cannot migrate from schema version %s: %s",
                          s->path, steps[i].from, msg ? msg : "?");
            sqlite3_free(msg);
            (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            goto out;
        }
        if ((err = schema_version(s, found, sizeof found)))
            goto out;
    }
    if (strcmp(found, SCHEMA_VERSION) != 0) {
        err = ss_errf(SS_ERR_IO, "message log %s: schema version %s, not %s%s", s->path, found,
                      SCHEMA_VERSION,
                      strcmp(found, SCHEMA_VERSION) < 0 && strlen(found) == 1
                          ? " (the server migrates it when its logger next opens it)"
                          : "");
        goto out;
    }
    if (!read_only && sqlite3_exec(s->db, signed_records_view, NULL, NULL, NULL) != SQLITE_OK) {
        err = db_error(s, "view");
        goto out;
    }
    /* what the purge looks for (SS_STORE_PURGE_PICK), on the columns of the latest schema:
     * after the migrations */
    if (!read_only && sqlite3_exec(s->db,
                                   "CREATE INDEX IF NOT EXISTS records_expiry ON records"
                                   " (retain_until) WHERE salt IS NOT NULL",
                                   NULL, NULL, NULL) != SQLITE_OK) {
        err = db_error(s, "index");
        goto out;
    }
    if ((err = prepare(s, &s->tail, "SELECT id, hash FROM records ORDER BY id DESC LIMIT 1")) ||
        (err = prepare(s, &s->pending,
                       "SELECT count(*), min(logged_ms) FROM records WHERE " UNSTAMPED)) ||
        (err = prepare(s, &s->take,
                       "SELECT id, hash FROM records WHERE " UNSTAMPED " ORDER BY id LIMIT ?")))
        goto out;
    if (!read_only &&
        ((err = prepare(s, &s->insert,
                        "INSERT INTO records (id, logged_ms, side, direction, query_id,"
                        " request_id, client, service, purpose, subject_hash, status, error_type,"
                        " retain_until, message_sha256, message, manifest, signature, sig_path,"
                        " ocsp, prev_hash, hash, content, salt, sealed, signature_id, ocsp_id)"
                        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")) ||
         (err = prepare(s, &s->put_evidence,
                        "INSERT INTO evidence (sha256, data) VALUES (?, ?)"
                        " ON CONFLICT (sha256) DO NOTHING")) ||
         (err = prepare(s, &s->get_evidence, "SELECT id FROM evidence WHERE sha256 = ?")) ||
         (err = prepare(s, &s->seen,
                        "SELECT 1 FROM records WHERE side = 'server' AND direction = 'request'"
                        " AND client = ? AND query_id = ? AND logged_ms >= ? AND"
                        " error_type != 'Client.DuplicateRequest' LIMIT 1")) ||
         (err = prepare(s, &s->add_ts,
                        "INSERT INTO timestamps (first_id, last_id, root, token, gen_time, tsa,"
                        " tree) VALUES (?,?,?,?,?,?,?)"))))
        goto out;
    *out = &s->base;
    return SS_OK;
out:
    sq_close(&s->base);
    return err;
}

static void sq_close(struct ss_store *base)
{
    struct sq_store *s = (struct sq_store *)base;
    if (!s)
        return;
    sqlite3_stmt *all[] = {s->insert, s->seen, s->pending,      s->take,
                           s->add_ts, s->tail, s->put_evidence, s->get_evidence};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        sqlite3_finalize(all[i]);
    /* a writer that stops leaves every record in the file itself, not only in its
     * write-ahead log: a copy of the file alone is the whole log (what a reader holds now
     * stays for the next checkpoint; nothing waits for it) */
    if (s->insert) {
        busy_limit(s, 0);
        (void)sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    }
    sqlite3_close(s->db);
    free(s);
}

static ss_error sq_tail(struct ss_store *base, int64_t *id, uint8_t hash[32])
{
    struct sq_store *s = (struct sq_store *)base;
    *id = 0;
    memset(hash, 0, 32);
    sqlite3_reset(s->tail);
    int rc = sqlite3_step(s->tail);
    if (rc == SQLITE_ROW) {
        *id = sqlite3_column_int64(s->tail, 0);
        if (sqlite3_column_bytes(s->tail, 1) != 32) {
            sqlite3_reset(s->tail);
            return ss_errf(SS_ERR_IO, "message log %s: the last record's hash is damaged", s->path);
        }
        memcpy(hash, sqlite3_column_blob(s->tail, 1), 32);
        rc = SQLITE_DONE;
    }
    sqlite3_reset(s->tail);
    return rc == SQLITE_DONE ? SS_OK : db_error(s, "read the tail");
}

static ss_error exec(struct sq_store *s, const char *sql)
{
    return sqlite3_exec(s->db, sql, NULL, NULL, NULL) == SQLITE_OK ? SS_OK : db_error(s, sql);
}

static ss_error sq_begin(struct ss_store *base)
{
    struct sq_store *s = (struct sq_store *)base;
    return exec(s, "BEGIN IMMEDIATE");
}

/* deferred: the snapshot is the one the first read finds (WAL keeps it for the reader) */
static ss_error sq_snapshot(struct ss_store *base)
{
    struct sq_store *s = (struct sq_store *)base;
    return exec(s, "BEGIN DEFERRED");
}

static ss_error sq_commit(struct ss_store *base)
{
    struct sq_store *s = (struct sq_store *)base;
    ss_error err = exec(s, "COMMIT");
    if (err)
        memset(s->evidence_seen, 0, sizeof s->evidence_seen);
    return err;
}

static void sq_rollback(struct ss_store *base)
{
    struct sq_store *s = (struct sq_store *)base;
    memset(s->evidence_seen, 0, sizeof s->evidence_seen);
    if (!sqlite3_get_autocommit(s->db))
        (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static void bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n)
{
    if (p && n)
        sqlite3_bind_blob64(st, i, p, n, SQLITE_STATIC);
    else
        sqlite3_bind_null(st, i);
}

/* A row id, or NULL for 0 (none). */
static void bind_id(sqlite3_stmt *st, int i, int64_t id)
{
    if (id)
        sqlite3_bind_int64(st, i, id);
    else
        sqlite3_bind_null(st, i);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
    sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

static ss_error read_only(const struct sq_store *s)
{
    return ss_errf(SS_ERR_IO, "message log %s: opened read-only", s->path);
}

/* The evidence row holding p (added when there is none yet); *id 0 for nothing. */
static ss_error evidence_id(struct sq_store *s, const uint8_t *p, size_t n, int64_t *id)
{
    *id = 0;
    if (!p || !n)
        return SS_OK;
    uint8_t sha[32];
    ss_sha256(p, n, sha);
    for (size_t i = 0; i < EVIDENCE_SEEN; i++) {
        if (s->evidence_seen[i].id && memcmp(s->evidence_seen[i].sha256, sha, 32) == 0) {
            *id = s->evidence_seen[i].id;
            return SS_OK;
        }
    }
    sqlite3_stmt *st = s->put_evidence;
    sqlite3_reset(st);
    bind_blob(st, 1, sha, 32);
    bind_blob(st, 2, p, n);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE)
        return db_error(s, "append evidence");
    if (sqlite3_changes(s->db) == 1) {
        *id = sqlite3_last_insert_rowid(s->db);
    } else {
        st = s->get_evidence;
        sqlite3_reset(st);
        bind_blob(st, 1, sha, 32);
        if (sqlite3_step(st) == SQLITE_ROW)
            *id = sqlite3_column_int64(st, 0);
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        if (!*id)
            return db_error(s, "find evidence");
    }
    memcpy(s->evidence_seen[s->evidence_next].sha256, sha, 32);
    s->evidence_seen[s->evidence_next].id = *id;
    s->evidence_next = (s->evidence_next + 1) % EVIDENCE_SEEN;
    return SS_OK;
}

static ss_error sq_insert(struct ss_store *base, const struct ss_record *r)
{
    struct sq_store *s = (struct sq_store *)base;
    if (!s->insert)
        return read_only(s);
    int64_t signature_id = 0, ocsp_id = 0;
    ss_error err;
    if ((err = evidence_id(s, r->signature, r->signature_len, &signature_id)) ||
        (err = evidence_id(s, r->ocsp, r->ocsp_len, &ocsp_id)))
        return err;
    sqlite3_stmt *st = s->insert;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, r->id);
    sqlite3_bind_int64(st, 2, r->logged_ms);
    bind_text(st, 3, r->side);
    bind_text(st, 4, r->direction);
    bind_text(st, 5, r->query_id);
    bind_text(st, 6, r->request_id);
    bind_text(st, 7, r->client);
    bind_text(st, 8, r->service);
    bind_text(st, 9, r->purpose);
    bind_blob(st, 10, r->subject_hash, r->has_subject ? 32 : 0);
    sqlite3_bind_int64(st, 11, r->status);
    bind_text(st, 12, r->error_type);
    sqlite3_bind_int64(st, 13, r->retain_until);
    bind_blob(st, 14, r->message_sha256, 32);
    bind_blob(st, 15, r->message, r->message_len);
    bind_blob(st, 16, r->manifest, r->manifest_len);
    sqlite3_bind_null(st, 17); /* in evidence */
    bind_text(st, 18, r->sig_path);
    sqlite3_bind_null(st, 19);
    bind_blob(st, 20, r->prev_hash, 32);
    bind_blob(st, 21, r->hash, 32);
    bind_blob(st, 22, r->content, r->has_content ? 32 : 0);
    bind_blob(st, 23, r->salt, r->has_salt ? 32 : 0);
    sqlite3_bind_int(st, 24, r->sealed);
    bind_id(st, 25, signature_id);
    bind_id(st, 26, ocsp_id);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? SS_OK : db_error(s, "append");
}

static ss_error sq_seen(struct ss_store *base, const char *client, const char *query_id,
                        int64_t since_ms, bool *seen)
{
    struct sq_store *s = (struct sq_store *)base;
    *seen = false;
    if (!s->seen)
        return read_only(s);
    sqlite3_stmt *st = s->seen;
    sqlite3_reset(st);
    bind_text(st, 1, client);
    bind_text(st, 2, query_id);
    sqlite3_bind_int64(st, 3, since_ms);
    int rc = sqlite3_step(st);
    *seen = rc == SQLITE_ROW;
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_ROW || rc == SQLITE_DONE ? SS_OK : db_error(s, "replay check");
}

static ss_error sq_pending(struct ss_store *base, size_t *count, int64_t *oldest_ms)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_reset(s->pending);
    int rc = sqlite3_step(s->pending);
    *count = 0;
    *oldest_ms = 0;
    if (rc == SQLITE_ROW) {
        *count = (size_t)sqlite3_column_int64(s->pending, 0);
        *oldest_ms = sqlite3_column_int64(s->pending, 1);
    }
    sqlite3_reset(s->pending);
    return rc == SQLITE_ROW ? SS_OK : db_error(s, "count untimestamped records");
}

static ss_error sq_take_pending(struct ss_store *base, size_t max, int64_t **ids,
                                uint8_t (**hashes)[32], size_t *n)
{
    struct sq_store *s = (struct sq_store *)base;
    *ids = NULL;
    *hashes = NULL;
    *n = 0;
    int64_t *id = malloc(max * sizeof *id);
    uint8_t(*h)[32] = malloc(max * sizeof *h);
    if (!id || !h) {
        free(id);
        free(h);
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    }
    sqlite3_reset(s->take);
    sqlite3_bind_int64(s->take, 1, (sqlite3_int64)max);
    int rc = SQLITE_DONE;
    size_t k = 0;
    ss_error err = SS_OK;
    while (k < max && (rc = sqlite3_step(s->take)) == SQLITE_ROW) {
        id[k] = sqlite3_column_int64(s->take, 0);
        /* a record left out would lie inside the token's range without its proof */
        if (sqlite3_column_bytes(s->take, 1) != 32) {
            err = ss_errf(SS_ERR_IO, "message log %s: record %lld has a hash of %d bytes", s->path,
                          (long long)id[k], sqlite3_column_bytes(s->take, 1));
            break;
        }
        memcpy(h[k], sqlite3_column_blob(s->take, 1), 32);
        k++;
    }
    if (!err && rc != SQLITE_ROW && rc != SQLITE_DONE)
        err = db_error(s, "read untimestamped records");
    sqlite3_reset(s->take);
    if (err) {
        free(id);
        free(h);
        return err;
    }
    *ids = id;
    *hashes = h;
    *n = k;
    return SS_OK;
}

static ss_error sq_add_timestamp(struct ss_store *base, struct ss_timestamp *ts,
                                 const struct ss_merkle_tree *tree)
{
    struct sq_store *s = (struct sq_store *)base;
    if (!s->add_ts)
        return read_only(s);
    ss_error err = sq_begin(&s->base);
    if (err)
        return err;
    sqlite3_stmt *st = NULL;
    int64_t covered = 0;
    if (sqlite3_prepare_v2(s->db, "SELECT coalesce(max(last_id), 0) FROM timestamps", -1, &st,
                           NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        covered = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (ts->first_id <= covered) {
        sq_rollback(&s->base);
        return ss_store_stamped_before(s->path, ts, covered);
    }
    st = s->add_ts;
    sqlite3_reset(st);
    sqlite3_bind_int64(st, 1, ts->first_id);
    sqlite3_bind_int64(st, 2, ts->last_id);
    bind_blob(st, 3, ts->root, 32);
    bind_blob(st, 4, ts->token, ts->token_len);
    sqlite3_bind_int64(st, 5, ts->gen_time);
    bind_text(st, 6, ts->tsa);
    bind_blob(st, 7, tree->nodes, ss_merkle_tree_size(tree));
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) {
        err = db_error(s, "store a timestamp");
        sq_rollback(&s->base);
        return err;
    }
    ts->id = sqlite3_last_insert_rowid(s->db);
    return sq_commit(&s->base);
}

/* A text column into out; false when it is neither NULL nor text that fits. */
static bool column_text(sqlite3_stmt *st, int i, char *out, size_t size)
{
    int type = sqlite3_column_type(st, i);
    const unsigned char *t = sqlite3_column_text(st, i);
    size_t n = (size_t)sqlite3_column_bytes(st, i);
    out[0] = '\0';
    if (type == SQLITE_NULL)
        return true;
    if (type != SQLITE_TEXT || !t || n >= size || strlen((const char *)t) != n)
        return false;
    memcpy(out, t, n + 1);
    return true;
}

static const uint8_t *column_blob(sqlite3_stmt *st, int i, size_t *n)
{
    *n = (size_t)sqlite3_column_bytes(st, i);
    return *n ? sqlite3_column_blob(st, i) : NULL;
}

/* A 32-byte digest column; false when it is not NULL (and null_ok) or exactly 32 bytes. */
static bool column_digest(sqlite3_stmt *st, int i, bool null_ok, uint8_t out[32], bool *present)
{
    memset(out, 0, 32);
    if (present)
        *present = false;
    int type = sqlite3_column_type(st, i);
    if (type == SQLITE_NULL)
        return null_ok;
    if (type != SQLITE_BLOB || sqlite3_column_bytes(st, i) != 32)
        return false;
    memcpy(out, sqlite3_column_blob(st, i), 32);
    if (present)
        *present = true;
    return true;
}

/* A blob column that may be NULL; false for any other type. */
static bool column_bytes(sqlite3_stmt *st, int i, const uint8_t **p, size_t *n)
{
    int type = sqlite3_column_type(st, i);
    *p = NULL;
    *n = 0;
    if (type == SQLITE_NULL)
        return true;
    if (type != SQLITE_BLOB)
        return false;
    *p = column_blob(st, i, n);
    return true;
}

/*
 * One row of SS_STORE_RECORD_COLUMNS into r, strictly: a field of the wrong type or
 * size is named, not read as empty (it would otherwise hash as if absent).
 */
static ss_error read_record(struct sq_store *s, sqlite3_stmt *st, struct ss_record *r,
                            int64_t *ts_id, char ts_path[SS_MERKLE_PATH_TEXT_MAX], bool *has_path)
{
    memset(r, 0, sizeof *r);
    const char *bad = NULL;
    r->id = sqlite3_column_int64(st, 0);
    static const char *const names[] = {
        "id",           "logged_ms",      "side",    "direction",    "query_id",  "request_id",
        "client",       "service",        "purpose", "subject_hash", "status",    "error_type",
        "retain_until", "message_sha256", "message", "manifest",     "signature", "sig_path",
        "ocsp",         "prev_hash",      "hash",    "ts_id",        "ts_path",   "content",
        "salt",         "sealed"};
    static const int integers[] = {0, 1, 10, 12, 25};
    for (size_t i = 0; i < sizeof integers / sizeof integers[0] && !bad; i++)
        if (sqlite3_column_type(st, integers[i]) != SQLITE_INTEGER)
            bad = names[integers[i]];
    r->logged_ms = sqlite3_column_int64(st, 1);
    int64_t status = sqlite3_column_int64(st, 10);
    r->status = status >= 0 && status <= 999 ? (unsigned)status : 0;
    if (!bad && (status < 0 || status > 999))
        bad = "status";
    r->retain_until = sqlite3_column_int64(st, 12);
    struct {
        int col;
        char *out;
        size_t size;
    } texts[] = {{2, r->side, sizeof r->side},          {3, r->direction, sizeof r->direction},
                 {4, r->query_id, sizeof r->query_id},  {5, r->request_id, sizeof r->request_id},
                 {6, r->client, sizeof r->client},      {7, r->service, sizeof r->service},
                 {8, r->purpose, sizeof r->purpose},    {11, r->error_type, sizeof r->error_type},
                 {17, r->sig_path, sizeof r->sig_path}, {22, ts_path, SS_MERKLE_PATH_TEXT_MAX}};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0] && !bad; i++)
        if (!column_text(st, texts[i].col, texts[i].out, texts[i].size))
            bad = names[texts[i].col];
    if (!bad && !column_digest(st, 9, true, r->subject_hash, &r->has_subject))
        bad = "subject_hash";
    if (!bad && !column_digest(st, 13, false, r->message_sha256, NULL))
        bad = "message_sha256";
    if (!bad && !column_bytes(st, 14, &r->message, &r->message_len))
        bad = "message";
    if (!bad && !column_bytes(st, 15, &r->manifest, &r->manifest_len))
        bad = "manifest";
    if (!bad && !column_bytes(st, 16, &r->signature, &r->signature_len))
        bad = "signature";
    if (!bad && !column_bytes(st, 18, &r->ocsp, &r->ocsp_len))
        bad = "ocsp";
    if (!bad && !column_digest(st, 19, false, r->prev_hash, NULL))
        bad = "prev_hash";
    if (!bad && !column_digest(st, 20, false, r->hash, NULL))
        bad = "hash";
    if (!bad && !column_digest(st, 23, true, r->content, &r->has_content))
        bad = "content";
    if (!bad && !column_digest(st, 24, true, r->salt, &r->has_salt))
        bad = "salt";
    int64_t sealed = sqlite3_column_int64(st, 25);
    if (!bad && sealed != 0 && sealed != 1)
        bad = "sealed";
    r->sealed = sealed == 1;
    *ts_id = sqlite3_column_type(st, 21) == SQLITE_NULL ? 0 : sqlite3_column_int64(st, 21);
    *has_path = sqlite3_column_type(st, 22) != SQLITE_NULL;
    if (bad)
        return ss_errf(SS_ERR_PROTOCOL, "message log %s: record %lld: the field %s is malformed",
                       s->path, (long long)r->id, bad);
    return SS_OK;
}

/* Runs st (bound) and hands every row to fn as a record. */
static ss_error visit_rows(struct sq_store *s, sqlite3_stmt *st, ss_store_visit fn, void *arg)
{
    ss_error err = SS_OK;
    int rc = SQLITE_DONE;
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct ss_record r;
        int64_t ts_id = 0;
        char ts_path[SS_MERKLE_PATH_TEXT_MAX];
        bool has_path = false;
        err = read_record(s, st, &r, &ts_id, ts_path, &has_path);
        if (!err)
            err = fn(arg, &r, ts_id, has_path ? ts_path : NULL);
    }
    if (!err && rc != SQLITE_DONE)
        err = db_error(s, "read");
    sqlite3_finalize(st);
    return err;
}

static ss_error sq_each(struct ss_store *base, int64_t from_id, int64_t to_id, ss_store_visit fn,
                        void *arg)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT " SS_STORE_RECORD_COLUMNS
                           " FROM signed_records r LEFT JOIN stamps s USING (id)"
                           " WHERE r.id >= ? AND (? = 0 OR r.id <= ?) ORDER BY r.id",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(s, "read");
    sqlite3_bind_int64(st, 1, from_id);
    sqlite3_bind_int64(st, 2, to_id);
    sqlite3_bind_int64(st, 3, to_id);
    return visit_rows(s, st, fn, arg);
}

/*
 * The WHERE clause of a filter: every condition is fixed text with numbered
 * parameters; only the values are bound, never written into the SQL.
 */
static const char filter_sql[] =
    " WHERE (?1 = 0 OR r.logged_ms >= ?1) AND (?2 = 0 OR r.logged_ms < ?2)"
    " AND (?3 = 0 OR r.id >= ?3) AND (?4 = 0 OR r.id <= ?4)"
    " AND (?5 IS NULL OR r.client = ?5 OR substr(r.client, 1, length(?5) + 1) = ?5 || '/')"
    " AND (?6 IS NULL OR r.service = ?6 OR substr(r.service, 1, length(?6) + 1) = ?6 || '/')"
    " AND (?7 IS NULL OR r.query_id = ?7) AND (?8 IS NULL OR r.purpose = ?8)"
    " AND (?9 = 0 OR r.status = ?9) AND (?10 IS NULL OR r.error_type = ?10)"
    " AND (?11 IS NULL OR r.subject_hash = ?11) AND (?12 IS NULL OR r.side = ?12)";

static void bind_filter(sqlite3_stmt *st, const struct ss_store_filter *f)
{
    sqlite3_bind_int64(st, 1, f->from_ms);
    sqlite3_bind_int64(st, 2, f->to_ms);
    sqlite3_bind_int64(st, 3, f->from_id);
    sqlite3_bind_int64(st, 4, f->to_id);
    const char *texts[] = {f->client, f->service, f->query_id, f->purpose};
    for (int i = 0; i < 4; i++)
        if (texts[i])
            bind_text(st, 5 + i, texts[i]);
    sqlite3_bind_int64(st, 9, f->status);
    if (f->error_type)
        bind_text(st, 10, f->error_type);
    if (f->has_subject)
        bind_blob(st, 11, f->subject_hash, 32);
    if (f->side)
        bind_text(st, 12, f->side);
}

static ss_error sq_search(struct ss_store *base, const struct ss_store_filter *f, ss_store_visit fn,
                          void *arg)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_stmt *st = NULL;
    char sql[2048];
    int n = snprintf(sql, sizeof sql,
                     "SELECT " SS_STORE_RECORD_COLUMNS
                     " FROM signed_records r LEFT JOIN stamps s USING (id)%s"
                     " ORDER BY r.id",
                     filter_sql);
    if (n < 0 || (size_t)n >= sizeof sql ||
        sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_error(s, "search");
    bind_filter(st, f);
    return visit_rows(s, st, fn, arg);
}

static ss_error sq_count(struct ss_store *base, const struct ss_store_filter *f, const char *by,
                         ss_store_count_visit fn, void *arg)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_stmt *st = NULL;
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT CAST(r.%s AS TEXT), count(*) FROM records r%s GROUP BY r.%s ORDER BY 2 DESC,"
             " 1",
             by, filter_sql, by);
    if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_error(s, "count");
    bind_filter(st, f);
    ss_error err = SS_OK;
    int rc = SQLITE_DONE;
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const unsigned char *key = sqlite3_column_text(st, 0);
        err = fn(arg, key ? (const char *)key : "", (uint64_t)sqlite3_column_int64(st, 1));
    }
    if (!err && rc != SQLITE_DONE)
        err = db_error(s, "count");
    sqlite3_finalize(st);
    return err;
}

static ss_error prepare_exchanges(struct sq_store *s, const char *tail,
                                  const struct ss_store_filter *f, sqlite3_stmt **st)
{
    char sql[4096];
    int n = snprintf(sql, sizeof sql, SS_STORE_EXCHANGES_SQL, filter_sql);
    if (n < 0 || (size_t)n >= sizeof sql ||
        (size_t)snprintf(sql + n, sizeof sql - (size_t)n, "%s", tail) >= sizeof sql - (size_t)n)
        return ss_errf(SS_ERR_INTERNAL, "exchange query too long");
    if (sqlite3_prepare_v2(s->db, sql, -1, st, NULL) != SQLITE_OK)
        return db_error(s, "list the exchanges");
    bind_filter(*st, f);
    return SS_OK;
}

static ss_error sq_exchanges(struct ss_store *base, const struct ss_store_filter *f, int outcome,
                             enum ss_exchange_order order, bool desc, uint64_t offset,
                             uint64_t limit, ss_store_exchange_visit fn, void *arg, uint64_t *total)
{
    struct sq_store *s = (struct sq_store *)base;
    static const char *const by[] = {"t", "client", "service", "purpose", "status"};
    const char *dir = desc ? "DESC" : "ASC";
    char tail[256];
    snprintf(tail, sizeof tail,
             "SELECT req, resp, t, side, request_id, query_id, client, service, purpose, status,"
             " error_type FROM y WHERE (?13 < 0 OR outcome = ?13)"
             " ORDER BY %s %s, t %s, coalesce(req, resp) %s LIMIT ?14 OFFSET ?15",
             by[order], dir, dir, dir);
    sqlite3_stmt *st = NULL;
    ss_error err =
        prepare_exchanges(s, "SELECT count(*) FROM y WHERE (?13 < 0 OR outcome = ?13)", f, &st);
    if (err)
        return err;
    sqlite3_bind_int(st, 13, outcome);
    *total = sqlite3_step(st) == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
    sqlite3_finalize(st);
    if ((err = prepare_exchanges(s, tail, f, &st)))
        return err;
    sqlite3_bind_int(st, 13, outcome);
    sqlite3_bind_int64(st, 14, limit ? (int64_t)(limit > INT64_MAX ? INT64_MAX : limit) : -1);
    sqlite3_bind_int64(st, 15, offset > INT64_MAX ? INT64_MAX : (int64_t)offset);
    int rc = SQLITE_DONE;
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct ss_store_exchange e = {.request_record = sqlite3_column_int64(st, 0),
                                      .response_record = sqlite3_column_int64(st, 1),
                                      .logged_ms = sqlite3_column_int64(st, 2),
                                      .status = (unsigned)sqlite3_column_int(st, 9)};
        if (!column_text(st, 3, e.side, sizeof e.side) ||
            !column_text(st, 4, e.request_id, sizeof e.request_id) ||
            !column_text(st, 5, e.query_id, sizeof e.query_id) ||
            !column_text(st, 6, e.client, sizeof e.client) ||
            !column_text(st, 7, e.service, sizeof e.service) ||
            !column_text(st, 8, e.purpose, sizeof e.purpose) ||
            !column_text(st, 10, e.error_type, sizeof e.error_type))
            err = ss_errf(SS_ERR_IO, "message log %s: a record of exchange %lld is malformed",
                          s->path,
                          (long long)(e.request_record ? e.request_record : e.response_record));
        else
            err = fn(arg, &e);
    }
    if (!err && rc != SQLITE_DONE)
        err = db_error(s, "list the exchanges");
    sqlite3_finalize(st);
    return err;
}

static ss_error sq_daily(struct ss_store *base, const struct ss_store_filter *f,
                         ss_store_day_visit fn, void *arg)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_stmt *st = NULL;
    ss_error err = prepare_exchanges(
        s,
        "SELECT strftime('%Y-%m-%d', t / 1000, 'unixepoch') AS day, sum(outcome = 0),"
        " sum(outcome = 1), sum(outcome = 2) FROM y GROUP BY day ORDER BY day",
        f, &st);
    if (err)
        return err;
    int rc = SQLITE_DONE;
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        char day[11];
        uint64_t counts[3];
        for (int i = 0; i < 3; i++)
            counts[i] = (uint64_t)sqlite3_column_int64(st, 1 + i);
        if (!column_text(st, 0, day, sizeof day))
            err = ss_errf(SS_ERR_IO, "message log %s: a record has a bad time", s->path);
        else
            err = fn(arg, day, counts);
    }
    if (!err && rc != SQLITE_DONE)
        err = db_error(s, "count the exchanges per day");
    sqlite3_finalize(st);
    return err;
}

static ss_error sq_summary(struct ss_store *base, int64_t now, struct ss_store_summary *out)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(
            s->db,
            "SELECT count(*), coalesce(min(id), 0), coalesce(max(id), 0),"
            " coalesce(min(logged_ms), 0), coalesce(max(logged_ms), 0),"
            " coalesce(sum(retain_until < ?1 AND (message IS NOT NULL OR subject_hash IS NOT NULL"
            " OR manifest IS NOT NULL)), 0),"
            " coalesce(sum(content IS NOT NULL AND salt IS NULL), 0) FROM records",
            -1, &st, NULL) != SQLITE_OK)
        return db_error(s, "summarise");
    sqlite3_bind_int64(st, 1, now);
    if (sqlite3_step(st) != SQLITE_ROW) {
        sqlite3_finalize(st);
        return db_error(s, "summarise");
    }
    out->records = (uint64_t)sqlite3_column_int64(st, 0);
    out->first_id = sqlite3_column_int64(st, 1);
    out->last_id = sqlite3_column_int64(st, 2);
    out->first_ms = sqlite3_column_int64(st, 3);
    out->last_ms = sqlite3_column_int64(st, 4);
    out->due_purge = (uint64_t)sqlite3_column_int64(st, 5);
    out->purged = (uint64_t)sqlite3_column_int64(st, 6);
    sqlite3_finalize(st);
    size_t pending = 0;
    ss_error err = sq_pending(&s->base, &pending, &out->oldest_unstamped_ms);
    if (err)
        return err;
    out->unstamped = pending;
    /* timestamps cover the numbers in order from the first record: what lies between two is a
     * gap (or what lies before the first) */
    if (sqlite3_prepare_v2(s->db, "SELECT first_id, last_id FROM timestamps ORDER BY first_id", -1,
                           &st, NULL) != SQLITE_OK)
        return db_error(s, "summarise the timestamps");
    int64_t next = out->first_id ? out->first_id : 1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        ss_store_summary_range(out, &next, sqlite3_column_int64(st, 0),
                               sqlite3_column_int64(st, 1));
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return db_error(s, "summarise the timestamps");
    return SS_OK;
}

static ss_error sq_id_range(struct ss_store *base, int64_t from_ms, int64_t to_ms, int64_t *first,
                            int64_t *last)
{
    struct sq_store *s = (struct sq_store *)base;
    *first = 1;
    *last = 0;
    sqlite3_stmt *st = NULL;
    /* from the record after the last one logged before the range, to the one before the first
     * logged after it: records deleted inside the range still fall inside these numbers */
    if (sqlite3_prepare_v2(s->db,
                           "SELECT (SELECT max(id) FROM records WHERE ?1 != 0 AND logged_ms < ?1),"
                           " (SELECT min(id) FROM records WHERE ?2 != 0 AND logged_ms >= ?2)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(s, "read");
    sqlite3_bind_int64(st, 1, from_ms);
    sqlite3_bind_int64(st, 2, to_ms);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        if (sqlite3_column_type(st, 0) != SQLITE_NULL)
            *first = sqlite3_column_int64(st, 0) + 1;
        if (sqlite3_column_type(st, 1) != SQLITE_NULL)
            *last = sqlite3_column_int64(st, 1) - 1;
        if (to_ms && *last == 0 && sqlite3_column_type(st, 1) != SQLITE_NULL)
            *last = -1; /* the range ends before the first record */
    }
    sqlite3_finalize(st);
    return rc == SQLITE_ROW ? SS_OK : db_error(s, "read");
}

static ss_error sq_purge(struct ss_store *base, int64_t now, uint64_t *purged, uint64_t *kept_v1)
{
    struct sq_store *s = (struct sq_store *)base;
    if (!s->insert)
        return read_only(s);
    /* freed bytes are overwritten, so that nothing purged stays in the file's free space */
    ss_error err = exec(s, "PRAGMA secure_delete = ON");
    if (err)
        return err;
    sqlite3_stmt *st = NULL;
    /* a batch at a time (SS_STORE_PURGE_PICK); the message digest goes too (zeros): it would
     * let a guessed message be tested */
    if (sqlite3_prepare_v2(
            s->db,
            "UPDATE records SET message = NULL, subject_hash = NULL, manifest = NULL,"
            " salt = NULL, sealed = 0, message_sha256 = zeroblob(32) WHERE id IN"
            " (" SS_STORE_PURGE_PICK("?") ")",
            -1, &st, NULL) != SQLITE_OK)
        return db_error(s, "purge");
    for (;;) {
        if ((err = sq_begin(&s->base)))
            break;
        sqlite3_reset(st);
        sqlite3_bind_int64(st, 1, now);
        int rc = sqlite3_step(st);
        uint64_t n = (uint64_t)sqlite3_changes(s->db);
        if (rc != SQLITE_DONE) {
            err = db_error(s, "purge");
            sq_rollback(&s->base);
            break;
        }
        if ((err = sq_commit(&s->base)))
            break;
        *purged += n;
        if (n == 0)
            break;
    }
    sqlite3_finalize(st);
    if (err)
        return err;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT count(*) FROM records WHERE retain_until < ? AND content IS NULL"
                           " AND (message IS NOT NULL OR subject_hash IS NOT NULL)",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, now);
        if (sqlite3_step(st) == SQLITE_ROW)
            *kept_v1 = (uint64_t)sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    /* the old page images in the write-ahead log go too. The checkpoint holds off the writer
     * while it waits for readers (an audit, the console): it does not wait, and what it cannot
     * do now the next purge does */
    int log = 0, done = 0;
    busy_limit(s, 0);
    int rc = sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, &log, &done);
    busy_limit(s, BUSY_TIMEOUT_MS);
    if (rc != SQLITE_OK)
        return ss_errf(SS_ERR_IO,
                       "message log %s: %llu records purged, but the write-ahead log could not "
                       "be emptied yet (%s); the next purge tries again",
                       s->path, (unsigned long long)*purged, sqlite3_errmsg(s->db));
    return SS_OK;
}

static ss_error sq_vacuum(struct ss_store *base)
{
    struct sq_store *s = (struct sq_store *)base;
    if (!s->insert)
        return read_only(s);
    return exec(s, "VACUUM");
}

static ss_error sq_add_registry(struct ss_store *base, uint64_t serial, int64_t since_ms,
                                const uint8_t *xml, size_t xml_len, const uint8_t *sig,
                                size_t sig_len)
{
    struct sq_store *s = (struct sq_store *)base;
    if (!s->insert)
        return read_only(s);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR IGNORE INTO registries (serial, since_ms, xml, sig)"
                           " VALUES (?,?,?,?)",
                           -1, &st, NULL) != SQLITE_OK)
        return db_error(s, "store a registry");
    sqlite3_bind_int64(st, 1, (sqlite3_int64)serial);
    sqlite3_bind_int64(st, 2, since_ms);
    bind_blob(st, 3, xml, xml_len);
    bind_blob(st, 4, sig, sig_len);
    int rc = sqlite3_step(st);
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? SS_OK : db_error(s, "store a registry");
}

static ss_error sq_each_registry(struct ss_store *base, ss_store_registry_visit fn, void *arg)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db,
                           "SELECT serial, since_ms, xml, sig FROM registries ORDER BY serial", -1,
                           &st, NULL) != SQLITE_OK)
        return db_error(s, "read the registries");
    ss_error err = SS_OK;
    int rc = SQLITE_DONE;
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const uint8_t *xml = NULL, *sig = NULL;
        size_t xml_len = 0, sig_len = 0;
        if (!column_bytes(st, 2, &xml, &xml_len) || !column_bytes(st, 3, &sig, &sig_len))
            err = ss_errf(SS_ERR_IO, "message log %s: registry %lld is malformed", s->path,
                          (long long)sqlite3_column_int64(st, 0));
        else
            err = fn(arg, (uint64_t)sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), xml,
                     xml_len, sig, sig_len);
    }
    if (!err && rc != SQLITE_DONE)
        err = db_error(s, "read the registries");
    sqlite3_finalize(st);
    return err;
}

static ss_error sq_tree(struct ss_store *base, int64_t id, ss_store_tree_visit fn, void *arg)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT first_id, last_id, tree FROM timestamps WHERE id = ?", -1,
                           &st, NULL) != SQLITE_OK)
        return db_error(s, "read a timestamp's tree");
    sqlite3_bind_int64(st, 1, id);
    ss_error err = SS_OK;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        size_t n = 0;
        const uint8_t *b =
            sqlite3_column_type(st, 2) == SQLITE_BLOB ? column_blob(st, 2, &n) : NULL;
        err = fn(arg, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), b, n);
    } else if (rc != SQLITE_DONE) {
        err = db_error(s, "read a timestamp's tree");
    }
    sqlite3_finalize(st);
    return err;
}

static ss_error sq_timestamps(struct ss_store *base, int64_t id, ss_store_timestamp_visit fn,
                              void *arg)
{
    struct sq_store *s = (struct sq_store *)base;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(
            s->db,
            "SELECT id, first_id, last_id, root, token, gen_time, tsa FROM timestamps"
            " WHERE ?1 = 0 OR id = ?1 ORDER BY id",
            -1, &st, NULL) != SQLITE_OK)
        return db_error(s, "read the timestamps");
    sqlite3_bind_int64(st, 1, id);
    ss_error err = SS_OK;
    int rc = SQLITE_DONE;
    while (!err && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        struct ss_timestamp ts = {.id = sqlite3_column_int64(st, 0),
                                  .first_id = sqlite3_column_int64(st, 1),
                                  .last_id = sqlite3_column_int64(st, 2),
                                  .gen_time = sqlite3_column_int64(st, 5)};
        if (!column_digest(st, 3, false, ts.root, NULL) ||
            !column_bytes(st, 4, &ts.token, &ts.token_len) ||
            !column_text(st, 6, ts.tsa, sizeof ts.tsa))
            err = ss_errf(SS_ERR_IO, "message log %s: timestamp %lld is malformed", s->path,
                          (long long)ts.id);
        else
            err = fn(arg, &ts);
    }
    if (!err && rc != SQLITE_DONE)
        err = db_error(s, "read the timestamps");
    sqlite3_finalize(st);
    return err;
}

/* One process writes a SQLite log (the logger's lock file): it timestamps too. */
static ss_error sq_lease(struct ss_store *base, bool *held)
{
    (void)base;
    *held = true;
    return SS_OK;
}

static const struct ss_store_ops sq_ops = {
    .close = sq_close,
    .tail = sq_tail,
    .begin = sq_begin,
    .commit = sq_commit,
    .rollback = sq_rollback,
    .snapshot = sq_snapshot,
    .insert = sq_insert,
    .seen = sq_seen,
    .pending = sq_pending,
    .take_pending = sq_take_pending,
    .add_timestamp = sq_add_timestamp,
    .lease = sq_lease,
    .each = sq_each,
    .search = sq_search,
    .count = sq_count,
    .exchanges = sq_exchanges,
    .daily = sq_daily,
    .summary = sq_summary,
    .id_range = sq_id_range,
    .purge = sq_purge,
    .vacuum = sq_vacuum,
    .add_registry = sq_add_registry,
    .each_registry = sq_each_registry,
    .timestamps = sq_timestamps,
    .tree = sq_tree,
};
