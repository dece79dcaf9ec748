/*
 * ss-logcheck — checks the hash chain of a message log for the tests:
 * numbers run from 1 without a gap, every record's hash is the hash of its
 * fields (recomputed), and every record names the hash of the one before.
 * Prints "N records, chain intact" and exits 0, or names the first record
 * that breaks it and exits 1.
 *
 *   ss-logcheck sqlite:PATH
 */
#include "record.h"
#include "store.h"

#include <stdio.h>
#include <string.h>

struct walk {
    int64_t expect_id;
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
    else if (memcmp(r->prev_hash, w->prev, 32) != 0)
        w->broken = "the record does not name the hash of the one before";
    else if (memcmp(hash, r->hash, 32) != 0)
        w->broken = "the record's hash is not the hash of its fields";
    if (w->broken) {
        w->at = r->id;
        return SS_ERR_INTERNAL;
    }
    memcpy(w->prev, r->hash, 32);
    w->expect_id++;
    return SS_OK;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: ss-logcheck sqlite:PATH\n");
        return 2;
    }
    struct ss_store *s = NULL;
    if (ss_store_open(argv[1], true, 0, &s) != SS_OK) {
        fprintf(stderr, "ss-logcheck: %s\n", ss_errmsg());
        return 1;
    }
    struct walk w = {.expect_id = 1};
    ss_error err = ss_store_each(s, 1, 0, visit, &w);
    ss_store_close(s);
    if (w.broken) {
        printf("record %lld: %s\n", (long long)w.at, w.broken);
        return 1;
    }
    if (err) {
        fprintf(stderr, "ss-logcheck: %s\n", ss_errmsg());
        return 1;
    }
    printf("%lld records, chain intact\n", (long long)(w.expect_id - 1));
    return 0;
}
