/*
 * Unit tests of the message-log stores (secsrv/msglog/store_sqlite.c, and
 * store_pg.c when SS_TEST_PG names a throw-away PostgreSQL server: the
 * same tests run on both, each on a database of its own) and of record
 * hashing (secsrv/msglog/record.c): records go in whole and
 * come back field by field, the chain hash changes with every field, the
 * replay look-up finds only server-side requests within the window, the
 * timestamp bookkeeping marks exactly the records of a batch, a size cap
 * makes inserts fail without damaging what is stored, a failed
 * transaction leaves nothing behind, and a read-only store refuses writes.
 * Kept registries, searches, counts and time ranges select what they say;
 * a stored field of the wrong type or size is named, never read as absent.
 * On PostgreSQL also: two connections append to one chain in turn, one
 * holds the timestamp lease at a time, a batch is never stamped twice, a
 * broken connection is opened again, and a database on another machine
 * needs a verified TLS connection.
 */
#include "record.h"
#include "ss_sha256.h"
#include "store.h"
#include "store_impl.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>
#include <pthread.h>

static char dir[64];
static char spec[512];
/* the PostgreSQL server's connection string (SS_TEST_PG), and this test's database */
static const char *pg_base;
static char pg_db[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_store.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(spec, sizeof spec, "sqlite:%s/log.db", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

/* Runs sql on database db of the test server; false when it failed. */
static bool pg_run(const char *db, const char *sql)
{
    char conninfo[512];
    snprintf(conninfo, sizeof conninfo, "%s dbname=%s", pg_base, db);
    PGconn *c = PQconnectdb(conninfo);
    PGresult *res = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(res);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok)
        fprintf(stderr, "# %s: %s", sql, PQerrorMessage(c));
    PQclear(res);
    PQfinish(c);
    return ok;
}

static int setup_pg(void **state)
{
    static unsigned n;
    if (setup(state) != 0)
        return -1;
    snprintf(pg_db, sizeof pg_db, "test_store_%ld_%u", (long)getpid(), ++n);
    char sql[128];
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", pg_db);
    if (!pg_run("postgres", sql))
        return -1;
    snprintf(spec, sizeof spec, "postgresql:%s dbname=%s", pg_base, pg_db);
    return 0;
}

static int teardown_pg(void **state)
{
    char sql[128];
    snprintf(sql, sizeof sql, "DROP DATABASE %s WITH (FORCE)", pg_db);
    bool dropped = pg_run("postgres", sql);
    return teardown(state) == 0 && dropped ? 0 : -1;
}

static void fill(struct ss_record *r, int64_t id, const uint8_t prev[32], const char *side,
                 const char *direction, const char *query_id, int64_t when)
{
    static const uint8_t body[] = "GET /r1/x\r\n\r\n";
    memset(r, 0, sizeof *r);
    r->id = id;
    r->logged_ms = when;
    snprintf(r->side, sizeof r->side, "%s", side);
    snprintf(r->direction, sizeof r->direction, "%s", direction);
    snprintf(r->query_id, sizeof r->query_id, "%s", query_id);
    snprintf(r->request_id, sizeof r->request_id, "0b6d7a3e-5b1a-4c47-9d51-2f0c8e2a9b11");
    snprintf(r->client, sizeof r->client, "DE-NORD/GOV/MIKWS-SH/Meldeauskunft");
    snprintf(r->service, sizeof r->service, "DE-NORD/MUN/13004000/Einwohnermeldeamt/x");
    snprintf(r->purpose, sizeof r->purpose, "BMG-34");
    r->has_subject = true;
    memset(r->subject_hash, 0x5a, 32);
    r->status = 200;
    r->retain_until = when / 1000 + 730 * 86400;
    memset(r->message_sha256, 0x11, 32);
    r->message = body;
    r->message_len = sizeof body - 1;
    r->manifest = (const uint8_t *)"manifest";
    r->manifest_len = 8;
    r->signature = (const uint8_t *)"cms";
    r->signature_len = 3;
    r->ocsp = (const uint8_t *)"ocsp";
    r->ocsp_len = 4;
    memcpy(r->prev_hash, prev, 32);
    ss_record_hash(r, r->hash);
}

static void test_hash_covers_every_field(void **state)
{
    (void)state;
    uint8_t zero[32] = {0}, base[32], other[32];
    struct ss_record r;
    fill(&r, 1, zero, "server", "request", "q1", 1000);
    memcpy(base, r.hash, 32);
    /* the same record hashes the same */
    ss_record_hash(&r, other);
    assert_memory_equal(base, other, 32);
#define CHANGED(stmt)                                                                              \
    do {                                                                                           \
        struct ss_record c = r;                                                                    \
        stmt;                                                                                      \
        ss_record_hash(&c, other);                                                                 \
        assert_memory_not_equal(base, other, 32);                                                  \
    } while (0)
    CHANGED(c.id = 2);
    CHANGED(c.logged_ms = 1001);
    CHANGED(c.side[0] = 'c');
    CHANGED(c.direction[0] = 'x');
    CHANGED(c.query_id[0] = 'Q');
    CHANGED(c.request_id[0] = '1');
    CHANGED(c.client[0] = 'X');
    CHANGED(c.service[0] = 'X');
    CHANGED(c.purpose[0] = 'X');
    CHANGED(c.has_subject = false);
    CHANGED(c.subject_hash[31] ^= 1);
    CHANGED(c.status = 403);
    CHANGED(snprintf(c.error_type, sizeof c.error_type, "Client.X"));
    CHANGED(c.retain_until++);
    CHANGED(c.message_sha256[0] ^= 1);
    CHANGED(c.manifest = (const uint8_t *)"Manifest");
    CHANGED(c.signature = (const uint8_t *)"CMS");
    CHANGED(snprintf(c.sig_path, sizeof c.sig_path, "L 00"));
    CHANGED(c.ocsp = (const uint8_t *)"OCSP");
    CHANGED(c.prev_hash[0] ^= 1);
#undef CHANGED
    /* the raw message itself is covered through its digest only: it may be purged */
    struct ss_record purged = r;
    purged.message = NULL;
    purged.message_len = 0;
    ss_record_hash(&purged, other);
    assert_memory_equal(base, other, 32);
}

static void test_append_and_read_back(void **state)
{
    (void)state;
    struct ss_store *s = NULL;
    assert_int_equal(ss_store_open(spec, false, 0, &s), SS_OK);
    int64_t id = -1;
    uint8_t tail[32];
    assert_int_equal(ss_store_tail(s, &id, tail), SS_OK);
    assert_int_equal(id, 0);
    uint8_t prev[32] = {0};
    struct ss_record r[3];
    assert_int_equal(ss_store_begin(s), SS_OK);
    for (int i = 0; i < 3; i++) {
        fill(&r[i], i + 1, prev, i ? "client" : "server", "request", i ? "q2" : "q1", 10000 + i);
        memcpy(prev, r[i].hash, 32);
        assert_int_equal(ss_store_insert(s, &r[i]), SS_OK);
    }
    assert_int_equal(ss_store_commit(s), SS_OK);
    assert_int_equal(ss_store_tail(s, &id, tail), SS_OK);
    assert_int_equal(id, 3);
    assert_memory_equal(tail, r[2].hash, 32);

    /* a failed transaction leaves nothing behind */
    struct ss_record dup;
    fill(&dup, 3, prev, "server", "request", "q9", 20000); /* id 3 exists */
    assert_int_equal(ss_store_begin(s), SS_OK);
    struct ss_record ok4;
    fill(&ok4, 4, prev, "server", "request", "q4", 20000);
    assert_int_equal(ss_store_insert(s, &ok4), SS_OK);
    assert_int_equal(ss_store_insert(s, &dup), SS_ERR_IO);
    ss_store_rollback(s);
    assert_int_equal(ss_store_tail(s, &id, tail), SS_OK);
    assert_int_equal(id, 3);
    ss_store_close(s);

    /* read back, read-only, field by field */
    assert_int_equal(ss_store_open(spec, true, 0, &s), SS_OK);
    struct ss_record one = r[0];
    assert_int_equal(ss_store_begin(s), SS_OK);
    assert_int_equal(ss_store_insert(s, &one), SS_ERR_IO);
    ss_store_rollback(s);
    ss_store_close(s);
}

struct collect {
    int n;
    struct ss_record want[3];
    int64_t want_ts[3];                         /* 0: not timestamped */
    char want_path[3][SS_MERKLE_PATH_TEXT_MAX]; /* "" when not timestamped */
};

static ss_error check_each(void *arg, const struct ss_record *got, int64_t ts_id,
                           const char *ts_path)
{
    struct collect *c = arg;
    const struct ss_record *w = &c->want[c->n++];
    assert_int_equal(got->id, w->id);
    assert_int_equal(got->logged_ms, w->logged_ms);
    assert_string_equal(got->side, w->side);
    assert_string_equal(got->query_id, w->query_id);
    assert_string_equal(got->client, w->client);
    assert_true(got->has_subject);
    assert_memory_equal(got->subject_hash, w->subject_hash, 32);
    assert_int_equal(got->message_len, w->message_len);
    assert_memory_equal(got->message, w->message, w->message_len);
    assert_memory_equal(got->prev_hash, w->prev_hash, 32);
    assert_memory_equal(got->hash, w->hash, 32);
    uint8_t again[32];
    ss_record_hash(got, again);
    assert_memory_equal(again, got->hash, 32);
    assert_int_equal(ts_id, c->want_ts[c->n - 1]);
    assert_string_equal(ts_path, c->want_path[c->n - 1]);
    return SS_OK;
}

/* A search that did not ask for paths: none, timestamped or not. */
static ss_error no_path(void *arg, const struct ss_record *got, int64_t ts_id, const char *ts_path)
{
    (void)got;
    (void)ts_id;
    assert_null(ts_path);
    (*(int *)arg)++;
    return SS_OK;
}

/* Appends n chained requests of side, logged at ms, ms + 1 ...: what c wants read back. */
static void append_wanted(struct ss_store *s, struct collect *c, int n, const char *side,
                          int64_t ms)
{
    uint8_t prev[32] = {0};
    assert_int_equal(ss_store_begin(s), SS_OK);
    for (int i = 0; i < n; i++) {
        fill(&c->want[i], i + 1, prev, side, "request", "q", ms + i);
        memcpy(prev, c->want[i].hash, 32);
        assert_int_equal(ss_store_insert(s, &c->want[i]), SS_OK);
    }
    assert_int_equal(ss_store_commit(s), SS_OK);
}

/* s has count records not yet timestamped, the oldest logged at oldest_ms. */
static void expect_pending(struct ss_store *s, size_t count, int64_t oldest_ms)
{
    size_t pending = 0;
    int64_t oldest = 0;
    assert_int_equal(ss_store_pending(s, &pending, &oldest), SS_OK);
    assert_int_equal(pending, count);
    assert_int_equal(oldest, oldest_ms);
}

static void test_each_and_timestamps(void **state)
{
    (void)state;
    struct ss_store *s = NULL;
    assert_int_equal(ss_store_open(spec, false, 0, &s), SS_OK);
    struct collect c = {0};
    append_wanted(s, &c, 3, "server", 50000);
    assert_int_equal(ss_store_each(s, 1, 0, check_each, &c), SS_OK);
    assert_int_equal(c.n, 3);

    expect_pending(s, 3, 50000);
    int64_t *ids = NULL;
    uint8_t(*hashes)[32] = NULL;
    size_t n = 0;
    assert_int_equal(ss_store_take_pending(s, 2, &ids, &hashes, &n), SS_OK);
    assert_int_equal(n, 2);
    assert_int_equal(ids[0], 1);
    assert_memory_equal(hashes[1], c.want[1].hash, 32);
    struct ss_merkle_path paths[2] = {{0}};
    uint8_t leaves[2][32], root[32];
    for (size_t i = 0; i < 2; i++)
        ss_merkle_leaf(hashes[i], 32, leaves[i]);
    assert_int_equal(ss_merkle_build((const uint8_t(*)[32])leaves, 2, root, paths), SS_OK);
    /* the store reads each path off the tree: the same paths ss_merkle_build gives */
    struct ss_merkle_tree tree;
    assert_int_equal(ss_merkle_tree_build((const uint8_t(*)[32])leaves, 2, &tree), SS_OK);
    assert_memory_equal(ss_merkle_tree_root(&tree), root, 32);
    struct ss_timestamp ts = {.first_id = 1,
                              .last_id = 2,
                              .token = (const uint8_t *)"tok",
                              .token_len = 3,
                              .gen_time = 1795000000};
    snprintf(ts.tsa, sizeof ts.tsa, "test TSA");
    /* a batch whose records are not the numbers in a row is refused (a record's leaf is
     * found by its number) */
    int64_t skips[2] = {1, 3};
    assert_int_equal(ss_store_add_timestamp(s, &ts, skips, &tree), SS_ERR_INTERNAL);
    assert_non_null(strstr(ss_errmsg(), "not 1 to 2 in a row"));
    expect_pending(s, 3, 50000);
    assert_int_equal(ss_store_add_timestamp(s, &ts, ids, &tree), SS_OK);
    ss_merkle_tree_free(&tree);
    assert_true(ts.id > 0);
    expect_pending(s, 1, 50002);
    /* the next batch starts after the stamped ones */
    int64_t *rest = NULL;
    uint8_t(*rest_hashes)[32] = NULL;
    assert_int_equal(ss_store_take_pending(s, 10, &rest, &rest_hashes, &n), SS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(rest[0], 3);
    free(rest);
    free(rest_hashes);
    /* each stamped record reads back with its tree and path, the others without */
    c.n = 0;
    for (size_t i = 0; i < 2; i++) {
        c.want_ts[i] = ts.id;
        ss_merkle_path_format(&paths[i], c.want_path[i]);
        assert_true(c.want_path[i][0]);
    }
    assert_int_equal(ss_store_each(s, 1, 0, check_each, &c), SS_OK);
    assert_int_equal(c.n, 3);
    /* a search hands the paths when asked, and only then (reading a tree costs) */
    struct ss_store_filter with = {.from_id = 1, .paths = true}, without = {.from_id = 1};
    c.n = 0;
    assert_int_equal(ss_store_search(s, &with, check_each, &c), SS_OK);
    assert_int_equal(c.n, 3);
    int bare = 0;
    assert_int_equal(ss_store_search(s, &without, no_path, &bare), SS_OK);
    assert_int_equal(bare, 3);
    free(ids);
    free(hashes);

    /* the replay look-up: server-side requests of this client and query id, in the window */
    bool seen = false;
    assert_int_equal(ss_store_seen(s, "DE-NORD/GOV/MIKWS-SH/Meldeauskunft", "q", 49000, &seen),
                     SS_OK);
    assert_true(seen);
    assert_int_equal(ss_store_seen(s, "DE-NORD/GOV/MIKWS-SH/Meldeauskunft", "q", 60000, &seen),
                     SS_OK);
    assert_false(seen);
    assert_int_equal(ss_store_seen(s, "DE-NORD/GOV/MIKWS-SH/Other", "q", 0, &seen), SS_OK);
    assert_false(seen);
    assert_int_equal(ss_store_seen(s, "DE-NORD/GOV/MIKWS-SH/Meldeauskunft", "q2", 0, &seen), SS_OK);
    assert_false(seen);
    ss_store_close(s);
}

/*
 * Appends records with 64 KiB messages (incompressible: each a new pattern)
 * until the store is full, within max of them; then checks that the error
 * says so and that what was stored is intact.
 */
static void fill_until_full(struct ss_store *s, int max)
{
    static uint8_t big[64 * 1024];
    uint8_t prev[32] = {0};
    int64_t last = 0;
    ss_error err = SS_OK;
    for (int i = 1; i <= max && !err; i++) {
        struct ss_record r;
        fill(&r, i, prev, "client", "request", "q", i);
        for (size_t k = 0; k < sizeof big; k++)
            big[k] = (uint8_t)((k * 2654435761u + (unsigned)i * 40503u) >> 13);
        r.message = big;
        r.message_len = sizeof big;
        ss_record_hash(&r, r.hash);
        assert_int_equal(ss_store_begin(s), SS_OK);
        err = ss_store_insert(s, &r);
        if (!err)
            err = ss_store_commit(s);
        if (err) {
            ss_store_rollback(s);
            break;
        }
        memcpy(prev, r.hash, 32);
        last = i;
    }
    assert_int_equal(err, SS_ERR_LIMIT); /* a write probe without records would not see it */
    assert_non_null(strstr(ss_errmsg(), "store full"));
    assert_true(last > 0 && last < max);
    /* what was stored is intact */
    int64_t id = 0;
    uint8_t tail[32];
    assert_int_equal(ss_store_tail(s, &id, tail), SS_OK);
    assert_int_equal(id, last);
    assert_memory_equal(tail, prev, 32);
}

static void test_size_cap(void **state)
{
    (void)state;
    struct ss_store *s = NULL;
    assert_int_equal(ss_store_open(spec, false, 256 * 1024, &s), SS_OK);
    fill_until_full(s, 64);
    ss_store_close(s);
}

/* A store as schema version 1 wrote it: the timestamp columns in the records. */
static const char schema_1[] =
    "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE records ( id INTEGER PRIMARY KEY, logged_ms INTEGER NOT NULL, side TEXT NOT"
    " NULL, direction TEXT NOT NULL, query_id TEXT NOT NULL, request_id TEXT NOT NULL, client"
    " TEXT NOT NULL, service TEXT NOT NULL, purpose TEXT NOT NULL, subject_hash BLOB, status"
    " INTEGER NOT NULL, error_type TEXT NOT NULL, retain_until INTEGER NOT NULL, message_sha256"
    " BLOB NOT NULL, message BLOB, manifest BLOB, signature BLOB, sig_path TEXT NOT NULL, ocsp"
    " BLOB, prev_hash BLOB NOT NULL, hash BLOB NOT NULL, ts_id INTEGER, ts_path TEXT);"
    "CREATE INDEX records_replay ON records (client, query_id, logged_ms) WHERE side = 'server'"
    " AND direction = 'request';"
    "CREATE INDEX records_pending ON records (id) WHERE ts_id IS NULL;"
    "CREATE TABLE timestamps ( id INTEGER PRIMARY KEY, first_id INTEGER NOT NULL, last_id"
    " INTEGER NOT NULL, root BLOB NOT NULL, token BLOB NOT NULL, gen_time INTEGER NOT NULL, tsa"
    " TEXT NOT NULL);"
    "INSERT INTO meta VALUES ('schema_version', '1');";

struct evidence_seen {
    int n;
    const char *signature[3];
};

static ss_error check_evidence(void *arg, const struct ss_record *got, int64_t ts_id,
                               const char *ts_path)
{
    (void)ts_id;
    (void)ts_path;
    struct evidence_seen *e = arg;
    const char *want = e->signature[e->n++];
    assert_int_equal(got->signature_len, strlen(want));
    assert_memory_equal(got->signature, want, strlen(want));
    assert_int_equal(got->ocsp_len, 4);
    assert_memory_equal(got->ocsp, "ocsp", 4);
    uint8_t again[32];
    ss_record_hash(got, again);
    assert_memory_equal(again, got->hash, 32);
    return SS_OK;
}

/* How many rows a query on the test's SQLite store counts (the sqlite3 shell). */
static long count_rows(const char *sql)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "sqlite3 -readonly %s/log.db \"%s\"", dir, sql);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    long n = -1;
    assert_int_equal(fscanf(p, "%ld", &n), 1);
    pclose(p);
    return n;
}

/* fill(), with the signature sig (the OCSP response stays fill's). */
static void fill_signed(struct ss_record *r, int64_t id, const uint8_t prev[32],
                        const char *direction, const char *query_id, int64_t when, const char *sig)
{
    fill(r, id, prev, "client", direction, query_id, when);
    r->signature = (const uint8_t *)sig;
    r->signature_len = strlen(sig);
    ss_record_hash(r, r->hash);
}

/*
 * A signature and an OCSP response that records share are stored once and
 * read back in place; one whose transaction was rolled back is written
 * again, never referred to where it is gone.
 */
static void test_evidence_once(void **state)
{
    (void)state;
    struct ss_store *s = NULL;
    assert_int_equal(ss_store_open(spec, false, 0, &s), SS_OK);
    uint8_t prev[32] = {0};
    struct ss_record r[3], lost;
    fill_signed(&lost, 1, prev, "request", "q0", 9000, "cms-B");
    assert_int_equal(ss_store_begin(s), SS_OK);
    assert_int_equal(ss_store_insert(s, &lost), SS_OK);
    ss_store_rollback(s);
    struct evidence_seen e = {.signature = {"cms-A", "cms-A", "cms-B"}};
    assert_int_equal(ss_store_begin(s), SS_OK);
    for (int i = 0; i < 3; i++) {
        fill_signed(&r[i], i + 1, prev, "request", i ? "q2" : "q1", 9000 + i, e.signature[i]);
        memcpy(prev, r[i].hash, 32);
        assert_int_equal(ss_store_insert(s, &r[i]), SS_OK);
    }
    assert_int_equal(ss_store_commit(s), SS_OK);
    assert_int_equal(ss_store_each(s, 1, 0, check_evidence, &e), SS_OK);
    assert_int_equal(e.n, 3);
    ss_store_close(s);
    /* opened again, the store finds a signature it holds (not in the writer's memory now) */
    assert_int_equal(ss_store_open(spec, false, 0, &s), SS_OK);
    struct ss_record again;
    fill_signed(&again, 4, prev, "response", "q2", 9003, "cms-A");
    assert_int_equal(ss_store_begin(s), SS_OK);
    assert_int_equal(ss_store_insert(s, &again), SS_OK);
    assert_int_equal(ss_store_commit(s), SS_OK);
    struct evidence_seen e4 = {.signature = {"cms-A"}};
    assert_int_equal(ss_store_each(s, 4, 4, check_evidence, &e4), SS_OK);
    assert_int_equal(e4.n, 1);
    ss_store_close(s);
    /* cms-A, cms-B and the one OCSP response */
    assert_int_equal(count_rows("SELECT count(*) FROM evidence"), 3);
    assert_int_equal(
        count_rows("SELECT count(*) FROM records WHERE signature IS NULL AND ocsp IS NULL"
                   " AND signature_id IS NOT NULL AND ocsp_id IS NOT NULL"),
        4);
    assert_int_equal(count_rows("SELECT count(DISTINCT ocsp_id) FROM records"), 1);
}

/* Timestamps record id (r) in a batch of its own, as a logger of today would; its number. */
static int64_t stamp_alone(struct ss_store *s, int64_t id, const struct ss_record *r)
{
    uint8_t leaf[32];
    ss_merkle_leaf(r->hash, 32, leaf);
    struct ss_merkle_tree tree;
    assert_int_equal(ss_merkle_tree_build((const uint8_t(*)[32])leaf, 1, &tree), SS_OK);
    struct ss_timestamp ts = {.first_id = id,
                              .last_id = id,
                              .token = (const uint8_t *)"t",
                              .token_len = 1,
                              .gen_time = 1795000001};
    assert_int_equal(ss_store_add_timestamp(s, &ts, &id, &tree), SS_OK);
    ss_merkle_tree_free(&tree);
    return ts.id;
}

static void test_migrate_from_1(void **state)
{
    (void)state;
    /* write two records with version 2, then turn the file into what version 1 wrote */
    struct collect c = {0};
    uint8_t prev[32] = {0};
    for (int i = 0; i < 2; i++) {
        fill(&c.want[i], i + 1, prev, "client", "request", "q", 7000 + i);
        memcpy(prev, c.want[i].hash, 32);
    }
    char path[128], cmd[4096];
    snprintf(path, sizeof path, "%s/log.db", dir);
    struct ss_store *s = NULL;
    assert_int_equal(ss_store_open(spec, false, 0, &s), SS_OK);
    assert_int_equal(ss_store_begin(s), SS_OK);
    for (int i = 0; i < 2; i++)
        assert_int_equal(ss_store_insert(s, &c.want[i]), SS_OK);
    assert_int_equal(ss_store_commit(s), SS_OK);
    ss_store_close(s);
    char old[128];
    snprintf(old, sizeof old, "%s/old.db", dir);
    FILE *f = fopen(old, "w");
    assert_non_null(f);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "sqlite3 %s \"%s ATTACH '%s' AS v2; INSERT INTO records SELECT id, logged_ms, side,"
             " direction, query_id, request_id, client, service, purpose, subject_hash, status,"
             " error_type, retain_until, message_sha256, message, manifest, signature, sig_path,"
             " ocsp, prev_hash, hash, NULL, NULL FROM v2.signed_records;"
             " INSERT INTO timestamps VALUES (1, 1, 1, x'00', x'00', 1795000000,"
             " 'TSA'); UPDATE records SET ts_id = 1, ts_path = 'L00' WHERE id = 1;\" && mv %s %s",
             old, schema_1, path, old, path);
    assert_int_equal(system(cmd), 0); /* the sqlite3 shell (installed with the tools) */
    snprintf(cmd, sizeof cmd, "rm -f %s-wal %s-shm", path, path);
    assert_int_equal(system(cmd), 0);
    /* read-only, an old store is refused with the way out */
    assert_int_equal(ss_store_open(spec, true, 0, &s), SS_ERR_IO);
    assert_non_null(strstr(ss_errmsg(), "migrates it when its logger next opens it"));
    /* writable, it is migrated: the timestamp of record 1 kept, record 2 still waiting */
    assert_int_equal(ss_store_open(spec, false, 0, &s), SS_OK);
    c.want_ts[0] = 1;
    snprintf(c.want_path[0], sizeof c.want_path[0], "L00");
    assert_int_equal(ss_store_each(s, 1, 0, check_each, &c), SS_OK);
    assert_int_equal(c.n, 2);
    expect_pending(s, 1, 7001);
    /* a timestamp made since keeps its tree: record 2 reads its path off it, record 1 still
     * its path of before */
    int64_t ts_id = stamp_alone(s, 2, &c.want[1]);
    c.n = 0;
    c.want_ts[1] = ts_id;
    c.want_path[1][0] = '\0'; /* the path in a tree of one leaf */
    assert_int_equal(ss_store_each(s, 1, 0, check_each, &c), SS_OK);
    assert_int_equal(c.n, 2);
    expect_pending(s, 0, 0);
    ss_store_close(s);
    /* a damaged tree gives a path that does not parse (an audit reports the record) */
    snprintf(cmd, sizeof cmd, "sqlite3 %s \"UPDATE timestamps SET tree = x'0011' WHERE id = %lld\"",
             path, (long long)ts_id);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(ss_store_open(spec, false, 0, &s), SS_OK);
    c.n = 0;
    snprintf(c.want_path[1], sizeof c.want_path[1], "%s", SS_STORE_NO_PATH);
    assert_int_equal(ss_store_each(s, 1, 0, check_each, &c), SS_OK);
    assert_int_equal(c.n, 2);
    ss_store_close(s);
    /* and opens read-only from then on */
    assert_int_equal(ss_store_open(spec, true, 0, &s), SS_OK);
    ss_store_close(s);
}

static ss_error count_visit(void *arg, const struct ss_record *r, int64_t ts_id,
                            const char *ts_path)
{
    (void)r;
    (void)ts_id;
    (void)ts_path;
    (*(int *)arg)++;
    return SS_OK;
}

static int found(struct ss_store *s, const struct ss_store_filter *f)
{
    int n = 0;
    assert_int_equal(ss_store_search(s, f, count_visit, &n), SS_OK);
    return n;
}

struct counted {
    char values[8][64];
    uint64_t counts[8];
    size_t n;
};

static ss_error counted_visit(void *arg, const char *value, uint64_t count)
{
    struct counted *c = arg;
    assert_true(c->n < 8);
    snprintf(c->values[c->n], sizeof c->values[0], "%s", value);
    c->counts[c->n++] = count;
    return SS_OK;
}

/* four records: two exchanges of two clients, one refused, at 1000, 2000, 3000, 4000 ms */
static struct ss_store *searchable(void)
{
    struct ss_store *s = NULL;
    assert_int_equal(ss_store_open(spec, false, 0, &s), SS_OK);
    uint8_t prev[32] = {0};
    assert_int_equal(ss_store_begin(s), SS_OK);
    for (int i = 1; i <= 4; i++) {
        struct ss_record r;
        fill(&r, i, prev, i % 2 ? "client" : "server", "request", i <= 2 ? "q1" : "q2", i * 1000);
        if (i > 2)
            snprintf(r.client, sizeof r.client, "DE-NORD/GOV/LR-VG/Buergeramt");
        if (i == 4) {
            r.status = 403;
            snprintf(r.error_type, sizeof r.error_type, "Client.AccessDenied");
            r.purpose[0] = '\0';
            r.has_subject = false;
        }
        ss_record_hash(&r, r.hash);
        assert_int_equal(ss_store_insert(s, &r), SS_OK);
        memcpy(prev, r.hash, 32);
    }
    assert_int_equal(ss_store_commit(s), SS_OK);
    return s;
}

static void test_search_and_count(void **state)
{
    (void)state;
    struct ss_store *s = searchable();
    struct ss_store_filter f = {0};
    assert_int_equal(found(s, &f), 4);
    f.client = "DE-NORD/GOV/LR-VG"; /* a member: its subsystems */
    assert_int_equal(found(s, &f), 2);
    f.client = "DE-NORD/GOV/LR"; /* not a prefix ending before a '/' */
    assert_int_equal(found(s, &f), 0);
    f = (struct ss_store_filter){.from_ms = 2000, .to_ms = 4000};
    assert_int_equal(found(s, &f), 2);
    f = (struct ss_store_filter){.query_id = "q1", .side = "server"};
    assert_int_equal(found(s, &f), 1);
    f = (struct ss_store_filter){.status = 403, .error_type = "Client.AccessDenied"};
    assert_int_equal(found(s, &f), 1);
    f = (struct ss_store_filter){.has_subject = true};
    memset(f.subject_hash, 0x5a, 32);
    assert_int_equal(found(s, &f), 3);
    f.subject_hash[0] ^= 1;
    assert_int_equal(found(s, &f), 0);
    f = (struct ss_store_filter){.purpose = "BMG-34", .from_id = 2, .to_id = 3};
    assert_int_equal(found(s, &f), 2);
    /* a value is only ever bound, never SQL */
    f = (struct ss_store_filter){.client = "x' OR '1'='1"};
    assert_int_equal(found(s, &f), 0);

    struct counted c = {0};
    f = (struct ss_store_filter){0};
    assert_int_equal(ss_store_count(s, &f, "status", counted_visit, &c), SS_OK);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.values[0], "200");
    assert_int_equal(c.counts[0], 3);
    assert_string_equal(c.values[1], "403");
    assert_int_equal(ss_store_count(s, &f, "hash", counted_visit, &c), SS_ERR_INTERNAL);

    int64_t first = 0, last = 0;
    assert_int_equal(ss_store_id_range(s, 2000, 4000, &first, &last), SS_OK);
    assert_int_equal(first, 2);
    assert_int_equal(last, 3);
    assert_int_equal(ss_store_id_range(s, 9000, 0, &first, &last), SS_OK);
    assert_true(first > last);
    ss_store_close(s);
}

struct listed {
    struct ss_store_exchange e[8];
    size_t n;
};

static ss_error list_visit(void *arg, const struct ss_store_exchange *e)
{
    struct listed *l = arg;
    assert_true(l->n < 8);
    l->e[l->n++] = *e;
    return SS_OK;
}

static void stamp(struct ss_store *s, int64_t first, int64_t last)
{
    int64_t ids[8];
    uint8_t leaves[8][32];
    size_t n = (size_t)(last - first + 1);
    for (size_t i = 0; i < n; i++) {
        ids[i] = first + (int64_t)i;
        memset(leaves[i], (int)i + 1, 32);
    }
    struct ss_merkle_tree tree;
    assert_int_equal(ss_merkle_tree_build((const uint8_t(*)[32])leaves, n, &tree), SS_OK);
    struct ss_timestamp ts = {.first_id = first,
                              .last_id = last,
                              .token = (const uint8_t *)"tok",
                              .token_len = 3,
                              .gen_time = 1795000000};
    memcpy(ts.root, ss_merkle_tree_root(&tree), 32);
    assert_int_equal(ss_store_add_timestamp(s, &ts, ids, &tree), SS_OK);
    ss_merkle_tree_free(&tree);
}

/*
 * Exchanges: A answered (request 1, response 2), B refused before an answer (3), C failed
 * (request 4, response 5 with 502), and A again as the provider's server saw it (6, 7).
 */
static void test_exchanges_and_summary(void **state)
{
    (void)state;
    struct ss_store *s = NULL;
    assert_int_equal(ss_store_open(spec, false, 0, &s), SS_OK);
    static const struct {
        const char *side, *dir, *rid, *error;
        unsigned status;
    } rows[] = {{"client", "request", "A", "", 200},
                {"client", "response", "A", "", 200},
                {"client", "request", "B", "Client.AccessDenied", 403},
                {"client", "request", "C", "", 502},
                {"client", "response", "C", "", 502},
                {"server", "request", "A", "", 200},
                {"server", "response", "A", "", 200}};
    uint8_t prev[32] = {0};
    assert_int_equal(ss_store_begin(s), SS_OK);
    for (int i = 0; i < 7; i++) {
        struct ss_record r;
        fill(&r, i + 1, prev, rows[i].side, rows[i].dir, rows[i].rid,
             86400000LL * (i < 3 ? 1 : 2) + i);
        snprintf(r.request_id, sizeof r.request_id, "%s", rows[i].rid);
        snprintf(r.error_type, sizeof r.error_type, "%s", rows[i].error);
        r.status = rows[i].status;
        if (rows[i].rid[0] == 'C')
            snprintf(r.client, sizeof r.client, "DE-NORD/GOV/LR-VG/Buergeramt");
        if (i == 1)
            r.retain_until = 1000; /* long past */
        ss_record_hash(&r, r.hash);
        assert_int_equal(ss_store_insert(s, &r), SS_OK);
        memcpy(prev, r.hash, 32);
    }
    assert_int_equal(ss_store_commit(s), SS_OK);

    struct listed l = {0};
    uint64_t total = 0;
    struct ss_store_filter f = {0};
    assert_int_equal(
        ss_store_exchanges(s, &f, -1, SS_ORDER_TIME, false, 0, 0, list_visit, &l, &total), SS_OK);
    assert_int_equal(total, 4);
    assert_int_equal(l.n, 4);
    assert_string_equal(l.e[0].request_id, "A");
    assert_int_equal(l.e[0].request_record, 1);
    assert_int_equal(l.e[0].response_record, 2);
    assert_string_equal(l.e[1].request_id, "B");
    assert_int_equal(l.e[1].response_record, 0);
    assert_string_equal(l.e[1].error_type, "Client.AccessDenied");
    assert_int_equal(ss_store_outcome(l.e[1].status, l.e[1].error_type), SS_OUTCOME_REFUSED);
    assert_int_equal(ss_store_outcome(l.e[2].status, l.e[2].error_type), SS_OUTCOME_FAILED);
    assert_string_equal(l.e[3].side, "server");
    /* by outcome, a page at a time, newest first */
    l.n = 0;
    assert_int_equal(ss_store_exchanges(s, &f, SS_OUTCOME_ANSWERED, SS_ORDER_TIME, true, 0, 1,
                                        list_visit, &l, &total),
                     SS_OK);
    assert_int_equal(total, 2);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.e[0].request_record, 6);
    l.n = 0;
    assert_int_equal(ss_store_exchanges(s, &f, SS_OUTCOME_ANSWERED, SS_ORDER_TIME, true, 1, 1,
                                        list_visit, &l, &total),
                     SS_OK);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.e[0].request_record, 1);
    l.n = 0;
    assert_int_equal(
        ss_store_exchanges(s, &f, -1, SS_ORDER_STATUS, true, 0, 0, list_visit, &l, &total), SS_OK);
    assert_int_equal(l.e[0].status, 502);
    assert_int_equal(l.e[1].status, 403);
    /* the filter narrows the records before they are grouped */
    l.n = 0;
    f.client = "DE-NORD/GOV/LR-VG";
    assert_int_equal(
        ss_store_exchanges(s, &f, -1, SS_ORDER_CLIENT, false, 0, 0, list_visit, &l, &total), SS_OK);
    assert_int_equal(total, 1);
    assert_string_equal(l.e[0].request_id, "C");
    l.n = 0;
    f = (struct ss_store_filter){.from_ms = 2 * 86400000LL};
    assert_int_equal(
        ss_store_exchanges(s, &f, -1, SS_ORDER_TIME, false, 100, 10, list_visit, &l, &total),
        SS_OK);
    assert_int_equal(total, 2);
    assert_int_equal(l.n, 0); /* past the last page */

    /* the summary: timestamps over 1-3 and 6-7 leave 4-5 in a gap; record 2 is due for purge */
    stamp(s, 1, 3);
    stamp(s, 6, 7);
    struct ss_store_summary sum;
    assert_int_equal(ss_store_summary(s, 2000000, &sum), SS_OK);
    assert_int_equal(sum.records, 7);
    assert_int_equal(sum.first_id, 1);
    assert_int_equal(sum.last_id, 7);
    assert_int_equal(sum.timestamps, 2);
    assert_int_equal(sum.unstamped, 0);
    assert_int_equal(sum.gaps, 2);
    assert_int_equal(sum.first_gap_id, 4);
    assert_int_equal(sum.due_purge, 1);
    assert_int_equal(sum.purged, 0);
    uint64_t purged = 0, kept = 0;
    /* a version 1 record's content cannot go (its hash covers it): it stays due, and says so */
    assert_int_equal(ss_store_purge(s, 2000000, &purged, &kept), SS_OK);
    assert_int_equal(kept, 1);
    assert_int_equal(ss_store_summary(s, 2000000, &sum), SS_OK);
    assert_int_equal(sum.due_purge, 1);
    ss_store_close(s);
}

static ss_error registry_visit(void *arg, uint64_t serial, int64_t since_ms, const uint8_t *xml,
                               size_t xml_len, const uint8_t *sig, size_t sig_len)
{
    struct counted *c = arg;
    assert_true(c->n < 8);
    snprintf(c->values[c->n], sizeof c->values[0], "%llu %lld %.*s %.*s",
             (unsigned long long)serial, (long long)since_ms, (int)xml_len, (const char *)xml,
             (int)sig_len, (const char *)sig);
    c->n++;
    return SS_OK;
}

static void test_registries_kept(void **state)
{
    (void)state;
    struct ss_store *s = NULL;
    assert_int_equal(ss_store_open(spec, false, 0, &s), SS_OK);
    const uint8_t *x = (const uint8_t *)"<r/>", *sig = (const uint8_t *)"sig";
    assert_int_equal(ss_store_add_registry(s, 7, 5000, x, 4, sig, 3), SS_OK);
    assert_int_equal(ss_store_add_registry(s, 7, 9000, x, 4, sig, 3), SS_OK); /* once */
    assert_int_equal(ss_store_add_registry(s, 3, 1000, x, 4, sig, 3), SS_OK);
    struct counted c = {0};
    assert_int_equal(ss_store_each_registry(s, registry_visit, &c), SS_OK);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.values[0], "3 1000 <r/> sig");
    assert_string_equal(c.values[1], "7 5000 <r/> sig");
    ss_store_close(s);
    assert_int_equal(ss_store_open(spec, true, 0, &s), SS_OK);
    assert_int_equal(ss_store_add_registry(s, 8, 1, x, 4, sig, 3), SS_ERR_IO);
    ss_store_close(s);
}

static void test_malformed_field_named(void **state)
{
    (void)state;
    struct ss_store *s = searchable();
    ss_store_close(s);
    static const char *const edits[][2] = {
        {"UPDATE records SET subject_hash = x'00' WHERE id = 4", "subject_hash"},
        {"UPDATE records SET hash = 'text' WHERE id = 2", "hash"},
        {"UPDATE records SET status = 'x' WHERE id = 2", "status"},
        {"UPDATE records SET manifest = 'text' WHERE id = 2", "manifest"},
        {"UPDATE records SET client = x'41' WHERE id = 2", "client"},
        {"UPDATE records SET purpose = printf('%.100c', 'a') WHERE id = 2", "purpose"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        char copy[160], cmd[1200];
        snprintf(copy, sizeof copy, "%s/edit%zu.db", dir, i);
        snprintf(cmd, sizeof cmd, "sqlite3 %s \".backup %s\" && sqlite3 %s \"%s\"", spec + 7, copy,
                 copy, edits[i][0]);
        assert_int_equal(system(cmd), 0);
        char other[200];
        snprintf(other, sizeof other, "sqlite:%s", copy);
        assert_int_equal(ss_store_open(other, true, 0, &s), SS_OK);
        int n = 0;
        assert_int_equal(ss_store_each(s, 1, 0, count_visit, &n), SS_ERR_PROTOCOL);
        if (!strstr(ss_errmsg(), edits[i][1]))
            fail_msg("%s: %s", edits[i][0], ss_errmsg());
        ss_store_close(s);
    }
}

/*
 * A record whose hash cannot be read stops the next timestamp: skipped, it
 * would lie inside the token's range without its proof.
 */
static void test_pending_hash_damaged(void **state)
{
    (void)state;
    struct ss_store *s = searchable();
    ss_store_close(s);
    char cmd[600];
    snprintf(cmd, sizeof cmd, "sqlite3 %s \"UPDATE records SET hash = x'00' WHERE id = 2\"",
             spec + 7);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(ss_store_open(spec, false, 0, &s), SS_OK);
    int64_t *ids = NULL;
    uint8_t(*hashes)[32] = NULL;
    size_t n = 7;
    assert_int_equal(ss_store_take_pending(s, 10, &ids, &hashes, &n), SS_ERR_IO);
    assert_null(ids);
    assert_null(hashes);
    assert_int_equal(n, 0);
    if (!strstr(ss_errmsg(), "record 2"))
        fail_msg("%s", ss_errmsg());
    ss_store_close(s);
}

/* The purge finds what has expired through an index, not by reading the whole log. */
static void test_purge_uses_index(void **state)
{
    (void)state;
    struct ss_store *s = searchable();
    uint64_t purged = 0, kept = 0;
    /* two past their deadline, of version 1: due, and kept (their hash covers the content) */
    assert_int_equal(ss_store_purge(s, 730 * 86400 + 3, &purged, &kept), SS_OK);
    assert_int_equal(purged, 0);
    assert_int_equal(kept, 2);
    ss_store_close(s);
    char cmd[800], plan[4096] = "";
    snprintf(cmd, sizeof cmd, "sqlite3 %s \"EXPLAIN QUERY PLAN %s\"", spec + 7,
             SS_STORE_PURGE_PICK("5"));
    FILE *f = popen(cmd, "r");
    assert_non_null(f);
    size_t got = fread(plan, 1, sizeof plan - 1, f);
    plan[got] = '\0';
    assert_int_equal(pclose(f), 0);
    if (!strstr(plan, "records_expiry"))
        fail_msg("the purge's query plan: %s", plan);
}

/*
 * The encoding an export shows is what the chain hashes, and each digest
 * sits where the encoding says: version 2 (record and content) and 1.
 */
static void test_encoding_is_what_is_hashed(void **state)
{
    (void)state;
    uint8_t zero[32] = {0}, h[32], d[32];
    struct ss_record r;
    fill(&r, 7, zero, "client", "request", "q7", 5000);
    memset(r.salt, 0x33, 32);
    r.has_salt = true;
    ss_record_commit(&r, r.content);
    r.has_content = true;
    struct ss_record_encoding rec, content;
    assert_int_equal(ss_record_encode(&r, false, &rec), SS_OK);
    assert_int_equal(ss_record_encode(&r, true, &content), SS_OK);
    ss_record_hash(&r, h);
    ss_sha256(rec.data, rec.len, d);
    assert_memory_equal(h, d, 32);
    ss_sha256(content.data, content.len, d);
    assert_memory_equal(r.content, d, 32);
    assert_memory_equal(rec.data + rec.content_at, r.content, 32);
    ss_sha256(r.signature, r.signature_len, d);
    assert_memory_equal(rec.data + rec.signature_at, d, 32);
    ss_sha256(r.ocsp, r.ocsp_len, d);
    assert_memory_equal(rec.data + rec.ocsp_at, d, 32);
    assert_memory_equal(content.data + content.message_sha256_at, r.message_sha256, 32);
    ss_sha256(r.manifest, r.manifest_len, d);
    assert_memory_equal(content.data + content.manifest_at, d, 32);
    assert_int_equal(content.sealed_at, 0); /* not sealed */
    /* the commitment covers the salt and the content, not the metadata */
    struct ss_record c = r;
    c.salt[0] ^= 1;
    ss_record_commit(&c, d);
    assert_memory_not_equal(d, r.content, 32);
    c = r;
    c.status = 500;
    ss_record_commit(&c, d);
    assert_memory_equal(d, r.content, 32);
    ss_record_hash(&c, d);
    assert_memory_not_equal(d, h, 32);
    ss_record_encoding_free(&rec);
    ss_record_encoding_free(&content);
    /* version 1: the digests in the record's own encoding */
    fill(&r, 8, zero, "server", "request", "q8", 6000);
    assert_int_equal(ss_record_encode(&r, false, &rec), SS_OK);
    ss_record_hash(&r, h);
    ss_sha256(rec.data, rec.len, d);
    assert_memory_equal(h, d, 32);
    assert_memory_equal(rec.data + rec.message_sha256_at, r.message_sha256, 32);
    assert_int_equal(rec.content_at, 0);
    ss_record_encoding_free(&rec);
}

static void test_bad_specs(void **state)
{
    (void)state;
    struct ss_store *s = NULL;
    assert_int_equal(ss_store_open("postgresql:x", false, 0, &s), SS_ERR_CONFIG);
    assert_int_equal(ss_store_open("sqlite:", false, 0, &s), SS_ERR_CONFIG);
    char missing[200];
    snprintf(missing, sizeof missing, "sqlite:%s/no/such/dir/log.db", dir);
    assert_int_equal(ss_store_open(missing, false, 0, &s), SS_ERR_IO);
    /* a file that is not a message log */
    char other[100];
    snprintf(other, sizeof other, "%s/other.db", dir);
    FILE *f = fopen(other, "w");
    assert_non_null(f);
    fputs("not a database", f);
    fclose(f);
    snprintf(missing, sizeof missing, "sqlite:%s", other);
    assert_int_equal(ss_store_open(missing, false, 0, &s), SS_ERR_IO);
    assert_null(s);
}

/* ---- PostgreSQL only ---- */

/* A record numbered after s's tail, chained to it, appended in a transaction of its own. */
static void append_next(struct ss_store *s, const char *query_id)
{
    assert_int_equal(ss_store_begin(s), SS_OK);
    int64_t id = 0;
    uint8_t prev[32];
    assert_int_equal(ss_store_tail(s, &id, prev), SS_OK);
    struct ss_record r;
    fill(&r, id + 1, prev, "server", "request", query_id, 1000 + id);
    assert_int_equal(ss_store_insert(s, &r), SS_OK);
    assert_int_equal(ss_store_commit(s), SS_OK);
}

static ss_error chain_visit(void *arg, const struct ss_record *r, int64_t ts_id,
                            const char *ts_path)
{
    (void)ts_id;
    (void)ts_path;
    uint8_t *prev = arg;
    assert_memory_equal(r->prev_hash, prev, 32);
    uint8_t again[32];
    ss_record_hash(r, again);
    assert_memory_equal(again, r->hash, 32);
    memcpy(prev, r->hash, 32);
    return SS_OK;
}

struct seen_state {
    int records, stamped, timestamps;
};

static ss_error seen_record(void *arg, const struct ss_record *r, int64_t ts_id,
                            const char *ts_path)
{
    (void)r;
    (void)ts_path;
    struct seen_state *st = arg;
    st->records++;
    st->stamped += ts_id != 0;
    return SS_OK;
}

static ss_error seen_timestamp(void *arg, const struct ss_timestamp *ts)
{
    (void)ts;
    ((struct seen_state *)arg)->timestamps++;
    return SS_OK;
}

static struct seen_state seen_now(struct ss_store *s)
{
    struct seen_state st = {0};
    assert_int_equal(ss_store_each_timestamp(s, seen_timestamp, &st), SS_OK);
    assert_int_equal(ss_store_each(s, 1, 0, seen_record, &st), SS_OK);
    return st;
}

/*
 * A reader's snapshot: what a writer appends and stamps meanwhile stays unseen until the
 * reader lets the snapshot go (an audit reads the timestamps, then the records).
 */
static void test_snapshot(void **state)
{
    (void)state;
    struct ss_store *w = NULL, *r = NULL;
    assert_int_equal(ss_store_open(spec, false, 0, &w), SS_OK);
    for (int i = 0; i < 3; i++)
        append_next(w, "before");
    assert_int_equal(ss_store_open(spec, true, 0, &r), SS_OK);
    assert_int_equal(ss_store_snapshot(r), SS_OK);
    struct seen_state st = seen_now(r);
    assert_int_equal(st.timestamps, 0);
    assert_int_equal(st.records, 3);
    append_next(w, "during");
    stamp(w, 1, 4);
    st = seen_now(r);
    assert_int_equal(st.timestamps, 0);
    assert_int_equal(st.records, 3);
    assert_int_equal(st.stamped, 0);
    ss_store_rollback(r);
    st = seen_now(r);
    assert_int_equal(st.timestamps, 1);
    assert_int_equal(st.records, 4);
    assert_int_equal(st.stamped, 4);
    /* a snapshot on a writable store takes no lock from another writer, which appends at once */
    struct ss_store *w2 = NULL;
    assert_int_equal(ss_store_open(spec, false, 0, &w2), SS_OK);
    assert_int_equal(ss_store_snapshot(w), SS_OK);
    assert_int_equal(seen_now(w).records, 4);
    append_next(w2, "beside");
    assert_int_equal(seen_now(w).records, 4);
    ss_store_rollback(w);
    assert_int_equal(seen_now(w).records, 5);
    ss_store_close(w2);
    ss_store_close(r);
    ss_store_close(w);
}

struct held {
    struct ss_store *s;
    bool done;
};

static void *append_later(void *arg)
{
    struct held *h = arg;
    append_next(h->s, "b-waited");
    __atomic_store_n(&h->done, true, __ATOMIC_SEQ_CST);
    return NULL;
}

/* Two nodes' connections append to one chain: one transaction at a time, each after the tail. */
static void test_pg_one_chain(void **state)
{
    (void)state;
    struct ss_store *a = NULL, *b = NULL;
    assert_int_equal(ss_store_open(spec, false, 0, &a), SS_OK);
    assert_int_equal(ss_store_open(spec, false, 0, &b), SS_OK);
    for (int i = 0; i < 5; i++) {
        append_next(a, "a");
        append_next(b, "b");
    }
    /* while a holds the chain, b's append waits for it */
    assert_int_equal(ss_store_begin(a), SS_OK);
    struct held h = {.s = b};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, append_later, &h), 0);
    usleep(300000);
    assert_false(__atomic_load_n(&h.done, __ATOMIC_SEQ_CST));
    int64_t id = 0;
    uint8_t prev[32];
    assert_int_equal(ss_store_tail(a, &id, prev), SS_OK);
    struct ss_record r;
    fill(&r, id + 1, prev, "server", "request", "a-first", 5000);
    assert_int_equal(ss_store_insert(a, &r), SS_OK);
    assert_int_equal(ss_store_commit(a), SS_OK);
    pthread_join(t, NULL);
    assert_true(h.done);
    assert_int_equal(ss_store_tail(b, &id, prev), SS_OK);
    assert_int_equal(id, 12);
    uint8_t walk[32] = {0};
    assert_int_equal(ss_store_each(a, 1, 0, chain_visit, walk), SS_OK);
    assert_memory_equal(walk, prev, 32);
    ss_store_close(a);
    ss_store_close(b);
}

/* One connection holds the timestamp lease; when it goes, another takes it. No batch twice. */
static void test_pg_lease_and_stamps(void **state)
{
    (void)state;
    struct ss_store *a = NULL, *b = NULL;
    assert_int_equal(ss_store_open(spec, false, 0, &a), SS_OK);
    assert_int_equal(ss_store_open(spec, false, 0, &b), SS_OK);
    bool held = false;
    assert_int_equal(ss_store_lease(a, &held), SS_OK);
    assert_true(held);
    assert_int_equal(ss_store_lease(a, &held), SS_OK);
    assert_true(held);
    assert_int_equal(ss_store_lease(b, &held), SS_OK);
    assert_false(held);
    for (int i = 0; i < 3; i++)
        append_next(a, "q");
    int64_t *ids = NULL;
    uint8_t(*hashes)[32] = NULL;
    size_t n = 0;
    assert_int_equal(ss_store_take_pending(b, 10, &ids, &hashes, &n), SS_OK);
    assert_int_equal(n, 3);
    uint8_t leaves[3][32];
    for (size_t i = 0; i < n; i++)
        ss_merkle_leaf(hashes[i], 32, leaves[i]);
    struct ss_merkle_tree tree;
    assert_int_equal(ss_merkle_tree_build((const uint8_t(*)[32])leaves, n, &tree), SS_OK);
    struct ss_timestamp ts = {.first_id = 1,
                              .last_id = 3,
                              .token = (const uint8_t *)"tok",
                              .token_len = 3,
                              .gen_time = 1795000000};
    memcpy(ts.root, ss_merkle_tree_root(&tree), 32);
    snprintf(ts.tsa, sizeof ts.tsa, "test TSA");
    assert_int_equal(ss_store_add_timestamp(a, &ts, ids, &tree), SS_OK);
    /* the same batch again (a node that took it before the other stored it): refused */
    assert_int_equal(ss_store_add_timestamp(b, &ts, ids, &tree), SS_ERR_IO);
    assert_non_null(strstr(ss_errmsg(), "already timestamped"));
    ss_merkle_tree_free(&tree);
    expect_pending(b, 0, 0);
    free(ids);
    free(hashes);
    ss_store_close(a); /* its session, and the lease, end */
    /* the server ends the session after the client has gone: the lease is free a moment later */
    for (int i = 0; i < 200; i++) {
        assert_int_equal(ss_store_lease(b, &held), SS_OK);
        if (held)
            break;
        usleep(10000);
    }
    assert_true(held);
    ss_store_close(b);
}

/* A connection the server ended is opened again on the next call; a transaction in it is lost. */
static void test_pg_reconnect(void **state)
{
    (void)state;
    struct ss_store *s = NULL;
    assert_int_equal(ss_store_open(spec, false, 0, &s), SS_OK);
    append_next(s, "before");
    bool held = false;
    assert_int_equal(ss_store_lease(s, &held), SS_OK);
    assert_true(held);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s' AND"
             " pid != pg_backend_pid()",
             pg_db);
    /* inside a transaction: the append fails, and says why */
    assert_int_equal(ss_store_begin(s), SS_OK);
    assert_true(pg_run("postgres", sql));
    int64_t id = 0;
    uint8_t prev[32];
    assert_int_equal(ss_store_tail(s, &id, prev), SS_ERR_IO);
    ss_store_rollback(s);
    /* between calls: opened again, and the lease taken again */
    append_next(s, "after");
    assert_true(pg_run("postgres", sql));
    assert_int_equal(ss_store_tail(s, &id, prev), SS_OK);
    assert_int_equal(id, 2);
    assert_int_equal(ss_store_lease(s, &held), SS_OK);
    assert_true(held);
    ss_store_close(s);
}

/*
 * A PostgreSQL store of schema version 3 (paths in stamps, no trees) is
 * migrated when opened writable: its timestamps' paths still read from
 * stamps, a new timestamp keeps its tree.
 */
static void test_pg_migrate_from_3(void **state)
{
    (void)state;
    struct ss_store *s = NULL;
    struct collect c = {0};
    assert_int_equal(ss_store_open(spec, false, 0, &s), SS_OK);
    append_wanted(s, &c, 2, "client", 7000);
    ss_store_close(s);
    /* as version 3 left it: record 1 timestamped with its path in stamps */
    assert_true(pg_run(pg_db, "ALTER TABLE timestamps DROP COLUMN tree;"
                              " DROP INDEX timestamps_last;"
                              " UPDATE meta SET value = '3' WHERE key = 'schema_version';"
                              " INSERT INTO timestamps (id, first_id, last_id, root, token,"
                              " gen_time, tsa) VALUES (1, 1, 1, '\\x00', '\\x00', 1795000000,"
                              " 'TSA'); INSERT INTO stamps VALUES (1, 1, 'L00');"
                              " SELECT setval('timestamps_id_seq', 1)"));
    assert_int_equal(ss_store_open(spec, true, 0, &s), SS_ERR_IO);
    assert_non_null(strstr(ss_errmsg(), "schema version 3, not 4"));
    assert_int_equal(ss_store_open(spec, false, 0, &s), SS_OK);
    int64_t ts_id = stamp_alone(s, 2, &c.want[1]);
    c.want_ts[0] = 1;
    snprintf(c.want_path[0], sizeof c.want_path[0], "L00");
    c.want_ts[1] = ts_id;
    assert_int_equal(ss_store_each(s, 1, 0, check_each, &c), SS_OK);
    assert_int_equal(c.n, 2);
    ss_store_close(s);
    assert_int_equal(ss_store_open(spec, true, 0, &s), SS_OK);
    ss_store_close(s);
}

static void test_pg_size_cap(void **state)
{
    (void)state;
    char sql[200];
    snprintf(sql, sizeof sql, "SELECT pg_database_size('%s')", pg_db);
    char conninfo[512];
    snprintf(conninfo, sizeof conninfo, "%s dbname=%s", pg_base, pg_db);
    struct ss_store *s = NULL;
    assert_int_equal(ss_store_open(spec, false, 0, &s), SS_OK); /* the schema */
    ss_store_close(s);
    PGconn *c = PQconnectdb(conninfo);
    PGresult *res = PQexec(c, sql);
    assert_int_equal(PQresultStatus(res), PGRES_TUPLES_OK);
    uint64_t size = strtoull(PQgetvalue(res, 0, 0), NULL, 10);
    PQclear(res);
    PQfinish(c);
    assert_int_equal(ss_store_open(spec, false, size + 1024 * 1024, &s), SS_OK);
    fill_until_full(s, 200);
    ss_store_close(s);
}

static void test_pg_malformed_field_named(void **state)
{
    (void)state;
    static const char *const edits[][2] = {
        {"UPDATE records SET subject_hash = '\\x00' WHERE id = 4", "subject_hash"},
        {"UPDATE records SET hash = 'text' WHERE id = 2", "hash"},
        {"UPDATE records SET status = 1000 WHERE id = 2", "status"},
        {"UPDATE records SET sealed = 2 WHERE id = 2", "sealed"},
        {"UPDATE records SET purpose = repeat('a', 100) WHERE id = 2", "purpose"},
        {"UPDATE records SET prev_hash = '' WHERE id = 3", "prev_hash"},
    };
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        assert_true(pg_run(pg_db, "DROP VIEW IF EXISTS signed_records; DROP TABLE IF EXISTS"
                                  " records, stamps, timestamps, meta, registries"));
        struct ss_store *s = searchable();
        ss_store_close(s);
        assert_true(pg_run(pg_db, edits[i][0]));
        assert_int_equal(ss_store_open(spec, true, 0, &s), SS_OK);
        int n = 0;
        assert_int_equal(ss_store_each(s, 1, 0, count_visit, &n), SS_ERR_PROTOCOL);
        if (!strstr(ss_errmsg(), edits[i][1]))
            fail_msg("%s: %s", edits[i][0], ss_errmsg());
        ss_store_close(s);
    }
}

static void test_pg_bad_specs(void **state)
{
    (void)state;
    struct ss_store *s = NULL;
    assert_int_equal(ss_store_open("postgresql:", false, 0, &s), SS_ERR_CONFIG);
    assert_int_equal(ss_store_open("postgresql:no_such_key=1", false, 0, &s), SS_ERR_CONFIG);
    assert_null(s);
    /* no server there: a clear error, the password not in it */
    char missing[256];
    snprintf(missing, sizeof missing, "postgresql:host=%s/none dbname=x password=geheim", dir);
    assert_int_equal(ss_store_open(missing, false, 0, &s), SS_ERR_IO);
    assert_non_null(strstr(ss_errmsg(), "cannot reach the database"));
    assert_null(strstr(ss_errmsg(), "geheim"));
    /* a database that is not a message log, opened read-only */
    snprintf(missing, sizeof missing, "postgresql:%s dbname=postgres", pg_base);
    assert_int_equal(ss_store_open(missing, true, 0, &s), SS_ERR_IO);
    assert_non_null(strstr(ss_errmsg(), "not a secsrv message log"));
    assert_null(s);
}

/* What one node list gives: "name=config@since" per node. */
struct node_list {
    char text[1024];
    int64_t since[8];
    size_t n;
};

static void list_node(void *arg, const char *node, const char *config, int64_t since_ms,
                      int64_t age_ms)
{
    struct node_list *l = arg;
    size_t used = strlen(l->text);
    snprintf(l->text + used, sizeof l->text - used, "%s%s=%s", used ? " " : "", node, config);
    assert_true(age_ms >= 0 && age_ms < 10000);
    if (l->n < 8)
        l->since[l->n++] = since_ms;
}

/* A store of one writer keeps no list of nodes, and says so by listing none. */
static void test_nodes_none_in_sqlite(void **state)
{
    (void)state;
    struct ss_store *s = NULL;
    assert_int_equal(ss_store_open(spec, false, 0, &s), SS_OK);
    assert_int_equal(ss_store_node_seen(s, "n1", "server=1"), SS_OK);
    struct node_list l = {0};
    assert_int_equal(ss_store_nodes(s, 10, list_node, &l), SS_OK);
    assert_int_equal(l.n, 0);
    ss_store_close(s);
}

/* The nodes of a shared store: each says what it holds; since when stays while it holds the same.
 */
static void test_pg_nodes(void **state)
{
    (void)state;
    struct ss_store *a = NULL, *b = NULL, *r = NULL;
    assert_int_equal(ss_store_open(spec, false, 0, &a), SS_OK);
    assert_int_equal(ss_store_open(spec, false, 0, &b), SS_OK);
    assert_int_equal(ss_store_node_seen(a, "n1", "server=1;policies=2"), SS_OK);
    assert_int_equal(ss_store_node_seen(b, "n2", "server=1;policies=2"), SS_OK);
    struct node_list l = {0};
    assert_int_equal(ss_store_nodes(a, 10, list_node, &l), SS_OK);
    assert_string_equal(l.text, "n1=server=1;policies=2 n2=server=1;policies=2");
    /* n1 has held it for an hour: the same again keeps that, another starts it anew */
    assert_true(
        pg_run(pg_db, "UPDATE nodes SET since = now() - interval '1 hour' WHERE node = 'n1'"));
    memset(&l, 0, sizeof l);
    assert_int_equal(ss_store_nodes(b, 10, list_node, &l), SS_OK);
    int64_t since = l.since[0];
    assert_true(l.since[1] - since > 3500000);
    assert_int_equal(ss_store_node_seen(a, "n1", "server=1;policies=2"), SS_OK);
    memset(&l, 0, sizeof l);
    assert_int_equal(ss_store_nodes(b, 10, list_node, &l), SS_OK);
    assert_int_equal(l.since[0], since);
    assert_int_equal(ss_store_node_seen(a, "n1", "server=1;policies=3"), SS_OK);
    memset(&l, 0, sizeof l);
    assert_int_equal(ss_store_nodes(b, 10, list_node, &l), SS_OK);
    assert_string_equal(l.text, "n1=server=1;policies=3 n2=server=1;policies=2");
    assert_true(l.since[0] - since > 3500000);
    /* a node last seen a minute ago is not listed within ten seconds */
    assert_true(
        pg_run(pg_db, "UPDATE nodes SET seen = now() - interval '1 minute' WHERE node = 'n2'"));
    memset(&l, 0, sizeof l);
    assert_int_equal(ss_store_nodes(b, 10, list_node, &l), SS_OK);
    assert_string_equal(l.text, "n1=server=1;policies=3");
    assert_int_equal(ss_store_node_seen(b, "n2", "server=1;policies=2"), SS_OK);
    /* a reader may list, not say */
    assert_int_equal(ss_store_open(spec, true, 0, &r), SS_OK);
    memset(&l, 0, sizeof l);
    assert_int_equal(ss_store_nodes(r, 10, list_node, &l), SS_OK);
    assert_int_equal(l.n, 2);
    assert_int_not_equal(ss_store_node_seen(r, "n3", "server=1"), SS_OK);
    ss_store_close(r);
    ss_store_close(a);
    ss_store_close(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_covers_every_field),
        cmocka_unit_test_setup_teardown(test_append_and_read_back, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_and_timestamps, setup, teardown),
        cmocka_unit_test_setup_teardown(test_size_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migrate_from_1, setup, teardown),
        cmocka_unit_test_setup_teardown(test_evidence_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_search_and_count, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exchanges_and_summary, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registries_kept, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_field_named, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pending_hash_damaged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_purge_uses_index, setup, teardown),
        cmocka_unit_test(test_encoding_is_what_is_hashed),
        cmocka_unit_test_setup_teardown(test_bad_specs, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nodes_none_in_sqlite, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot, setup, teardown),
    };
    int failed = cmocka_run_group_tests_name("sqlite", tests, NULL, NULL);
    pg_base = getenv("SS_TEST_PG");
    if (!pg_base || !*pg_base)
        return failed;
    const struct CMUnitTest pg[] = {
        cmocka_unit_test_setup_teardown(test_append_and_read_back, setup_pg, teardown_pg),
        cmocka_unit_test_setup_teardown(test_each_and_timestamps, setup_pg, teardown_pg),
        cmocka_unit_test_setup_teardown(test_search_and_count, setup_pg, teardown_pg),
        cmocka_unit_test_setup_teardown(test_exchanges_and_summary, setup_pg, teardown_pg),
        cmocka_unit_test_setup_teardown(test_registries_kept, setup_pg, teardown_pg),
        cmocka_unit_test_setup_teardown(test_snapshot, setup_pg, teardown_pg),
        cmocka_unit_test_setup_teardown(test_pg_one_chain, setup_pg, teardown_pg),
        cmocka_unit_test_setup_teardown(test_pg_lease_and_stamps, setup_pg, teardown_pg),
        cmocka_unit_test_setup_teardown(test_pg_migrate_from_3, setup_pg, teardown_pg),
        cmocka_unit_test_setup_teardown(test_pg_reconnect, setup_pg, teardown_pg),
        cmocka_unit_test_setup_teardown(test_pg_size_cap, setup_pg, teardown_pg),
        cmocka_unit_test_setup_teardown(test_pg_malformed_field_named, setup_pg, teardown_pg),
        cmocka_unit_test_setup_teardown(test_pg_bad_specs, setup_pg, teardown_pg),
        cmocka_unit_test_setup_teardown(test_pg_nodes, setup_pg, teardown_pg),
    };
    return failed + cmocka_run_group_tests_name("postgresql", pg, NULL, NULL);
}
