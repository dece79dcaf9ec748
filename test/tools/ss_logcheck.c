/*
 * ss-logcheck — checks the hash chain of a message log for the tests:
 * numbers run from 1 without a gap, every record's hash is the hash of its
 * fields (recomputed), and every record names the hash of the one before.
 * Prints "N records, chain intact" and exits 0, or names the first record
 * that breaks it and exits 1.
 *
 * With --from ID it checks the records from ID on (ID - 1 gives the hash the
 * first must name) and prints "records ID to LAST, chain intact": a test
 * that checks after each crash checks what was added since, not the whole
 * log again.
 *
 * With --rehash it plays the forger the DPO tool must catch: it rewrites
 * every record's content commitment, previous-record hash and own hash in
 * number order, so that
 * a log edited behind the logger's back has an intact chain again.
 *
 *   ss-logcheck [--from ID] sqlite:PATH
 *   ss-logcheck --rehash PATH
 */
#include "record.h"
#include "store.h"

#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct walk {
    int64_t expect_id;
    bool seeded; /* prev holds the hash the next record must name */
    uint8_t prev[32];
    const char *broken;
    int64_t at;
};

static ss_error visit(void *arg, const struct ss_record *r, int64_t ts_id, const char *ts_path)
{
    (void)ts_id;
    (void)ts_path;
    struct walk *w = arg;
    uint8_t hash[32];
    ss_record_hash(r, hash);
    if (r->id != w->expect_id)
        w->broken = "a record number is missing";
    else if (w->seeded && memcmp(r->prev_hash, w->prev, 32) != 0)
        w->broken = "the record does not name the hash of the one before";
    else if (memcmp(hash, r->hash, 32) != 0)
        w->broken = "the record's hash is not the hash of its fields";
    if (w->broken) {
        w->at = r->id;
        return SS_ERR_INTERNAL;
    }
    memcpy(w->prev, r->hash, 32);
    w->seeded = true;
    w->expect_id++;
    return SS_OK;
}

struct rehash {
    sqlite3 *db;
    sqlite3_stmt *update;
    uint8_t prev[32];
};

static ss_error rehash_one(void *arg, const struct ss_record *r, int64_t ts_id, const char *ts_path)
{
    (void)ts_id;
    (void)ts_path;
    struct rehash *h = arg;
    struct ss_record copy = *r;
    memcpy(copy.prev_hash, h->prev, 32);
    if (copy.has_salt)
        ss_record_commit(&copy, copy.content);
    ss_record_hash(&copy, copy.hash);
    sqlite3_reset(h->update);
    sqlite3_bind_blob(h->update, 1, copy.prev_hash, 32, SQLITE_STATIC);
    sqlite3_bind_blob(h->update, 2, copy.hash, 32, SQLITE_STATIC);
    if (copy.has_content)
        sqlite3_bind_blob(h->update, 3, copy.content, 32, SQLITE_STATIC);
    else
        sqlite3_bind_null(h->update, 3);
    sqlite3_bind_int64(h->update, 4, copy.id);
    if (sqlite3_step(h->update) != SQLITE_DONE)
        return ss_errf(SS_ERR_IO, "update: %s", sqlite3_errmsg(h->db));
    memcpy(h->prev, copy.hash, 32);
    return SS_OK;
}

/* Reads with one connection, writes with another, in one transaction. */
static int rehash(const char *path)
{
    char spec[4200];
    snprintf(spec, sizeof spec, "sqlite:%s", path);
    struct rehash h = {0};
    struct ss_store *s = NULL;
    if (sqlite3_open(path, &h.db) != SQLITE_OK ||
        sqlite3_exec(h.db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(h.db,
                           "UPDATE records SET prev_hash = ?, hash = ?, content = ? WHERE id = ?",
                           -1, &h.update, NULL) != SQLITE_OK) {
        fprintf(stderr, "ss-logcheck: %s: %s\n", path, sqlite3_errmsg(h.db));
        return 1;
    }
    /* the reader sees the store as it was before this transaction: that is what is rehashed */
    ss_error err = ss_store_open(spec, true, 0, &s);
    if (!err)
        err = ss_store_each(s, 1, 0, rehash_one, &h);
    ss_store_close(s);
    sqlite3_finalize(h.update);
    int rc = sqlite3_exec(h.db, err ? "ROLLBACK" : "COMMIT", NULL, NULL, NULL);
    sqlite3_close(h.db);
    if (err || rc != SQLITE_OK) {
        fprintf(stderr, "ss-logcheck: %s\n", err ? ss_errmsg() : "commit failed");
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--rehash") == 0)
        return rehash(argv[2]);
    long long from = 1;
    if (argc == 4 && strcmp(argv[1], "--from") == 0) {
        char *end = NULL;
        from = strtoll(argv[2], &end, 10);
        if (!*argv[2] || *end || from < 1) {
            fprintf(stderr, "ss-logcheck: --from %s: not a record number\n", argv[2]);
            return 2;
        }
        argv += 2;
        argc -= 2;
    }
    if (argc != 2) {
        fprintf(stderr, "usage: ss-logcheck [--from ID] sqlite:PATH\n");
        return 2;
    }
    struct ss_store *s = NULL;
    if (ss_store_open(argv[1], true, 0, &s) != SS_OK) {
        fprintf(stderr, "ss-logcheck: %s\n", ss_errmsg());
        return 1;
    }
    /* from the record before: its own hash is checked, and it gives the one the next must name */
    int64_t start = from > 1 ? (int64_t)from - 1 : 1;
    struct walk w = {.expect_id = start, .seeded = start == 1};
    ss_error err = ss_store_each(s, start, 0, visit, &w);
    ss_store_close(s);
    if (w.broken) {
        printf("record %lld: %s\n", (long long)w.at, w.broken);
        return 1;
    }
    if (err) {
        fprintf(stderr, "ss-logcheck: %s\n", ss_errmsg());
        return 1;
    }
    if (from > 1 && w.expect_id == start) {
        printf("record %lld: not in the log\n", (long long)start);
        return 1;
    }
    if (from > 1)
        printf("records %lld to %lld, chain intact\n", from, (long long)(w.expect_id - 1));
    else
        printf("%lld records, chain intact\n", (long long)(w.expect_id - 1));
    return 0;
}
