/* Verification of a stored message log (see audit.h). */
#include "audit.h"

#include "evidence.h"
#include "keys.h"
#include "manifest.h"
#include "merkle.h"
#include "record.h"
#include "ss_grow.h"
#include "ss_hex.h"
#include "ss_sha256.h"
#include "trust.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* signatures remembered: a batch's messages lie close together in a log */
#define AUDIT_CACHE_ENTRIES 256

void ss_tsa_list_cleanup(struct ss_tsa_list *l)
{
    free(l->auth);
    free(l->cas);
    memset(l, 0, sizeof *l);
}

bool ss_tsa_list_build(const struct ss_registry *reg, struct ss_tsa_list *l)
{
    memset(l, 0, sizeof *l);
    size_t n_cas = 0;
    for (size_t i = 0; i < reg->n_cas; i++)
        n_cas += 1 + reg->cas[i].n_intermediates;
    l->auth = calloc(reg->n_tsas ? reg->n_tsas : 1, sizeof *l->auth);
    l->cas = calloc(n_cas ? n_cas : 1, sizeof *l->cas);
    if (!l->auth || !l->cas) {
        ss_tsa_list_cleanup(l);
        return false;
    }
    for (size_t i = 0; i < reg->n_cas; i++) {
        const struct ss_reg_ca *ca = &reg->cas[i];
        l->cas[l->n_cas++] = (struct ss_tsp_cert){ca->cert.der, ca->cert.len};
        for (size_t j = 0; j < ca->n_intermediates; j++)
            l->cas[l->n_cas++] =
                (struct ss_tsp_cert){ca->intermediates[j].der, ca->intermediates[j].len};
    }
    for (size_t i = 0; i < reg->n_tsas; i++)
        l->auth[l->n++] = (struct ss_tsp_authority){
            {reg->tsas[i].cert.der, reg->tsas[i].cert.len}, l->cas, l->n_cas};
    return true;
}

struct kept {
    uint64_t serial;
    int64_t since_ms;
    struct ss_trust *trust;
};

struct ss_kept_registries {
    struct kept *regs;
    size_t n, cap;
    const struct ss_reg_anchor *anchor; /* while loading */
};

struct batch {
    int64_t id, first_id, last_id;
    int64_t gen_time; /* the token's, Unix time */
    uint8_t root[32];
};

struct audit {
    const struct ss_audit_options *o;
    struct ss_audit_report *rep;
    struct ss_kept_registries *kept;
    struct batch *ts;
    size_t n_ts, cap_ts;
    struct ss_sig_cache *cache;
    int64_t from, to; /* the range asked for (to 0: to the end): its tokens are verified */
    /* the walk */
    int64_t expect_id;
    uint8_t prev[32];
    size_t at_ts;          /* the batch the walk is in (n_ts: past the last) */
    uint8_t (*leaves)[32]; /* of the batch so far */
    size_t n_leaves;
};

/* Records the first broken point; the walk stops on the error this returns. */
static ss_error broken(struct audit *a, int64_t record, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static ss_error broken(struct audit *a, int64_t record, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->rep->broken, sizeof a->rep->broken, fmt, ap);
    va_end(ap);
    a->rep->broken_record = record;
    if (record)
        return ss_errf(SS_ERR_BAD_SIGNATURE, "record %lld: %s", (long long)record, a->rep->broken);
    return ss_errf(SS_ERR_BAD_SIGNATURE, "%s", a->rep->broken);
}

/* ---- the registries kept in the log ---- */

static ss_error take_registry(void *arg, uint64_t serial, int64_t since_ms, const uint8_t *xml,
                              size_t xml_len, const uint8_t *sig, size_t sig_len)
{
    struct ss_kept_registries *k = arg;
    uint64_t floor = k->n ? k->regs[k->n - 1].serial + 1 : 0;
    if (k->n && since_ms < k->regs[k->n - 1].since_ms)
        return ss_errf(SS_ERR_BAD_SIGNATURE,
                       "registry serial %llu is kept as in force before the one before it",
                       (unsigned long long)serial);
    char name[64];
    snprintf(name, sizeof name, "registry serial %llu", (unsigned long long)serial);
    struct ss_registry *reg = NULL;
    /* it was in force from since_ms: not expired then */
    ss_error err = ss_registry_load(name, xml, xml_len, sig, sig_len, k->anchor,
                                    (time_t)(since_ms / 1000), floor, &reg);
    if (err)
        return ss_errf(SS_ERR_BAD_SIGNATURE, "%s", ss_errmsg());
    if (reg->serial != serial) {
        ss_registry_unref(reg);
        return ss_errf(SS_ERR_BAD_SIGNATURE, "%s is kept under serial %llu", name,
                       (unsigned long long)serial);
    }
    bool room = ss_grow(&k->regs, &k->cap, k->n + 1, sizeof *k->regs, 4);
    struct ss_trust *t = NULL;
    if (!room || (err = ss_trust_new(reg, &t))) {
        ss_registry_unref(reg);
        return room ? err : ss_errf(SS_ERR_NOMEM, "out of memory");
    }
    ss_registry_unref(reg);
    k->regs[k->n++] = (struct kept){serial, since_ms, t};
    return SS_OK;
}

ss_error ss_kept_registries_load(struct ss_store *s, const struct ss_reg_anchor *anchor,
                                 struct ss_kept_registries **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    (*out)->anchor = anchor;
    ss_error err = ss_store_each_registry(s, take_registry, *out);
    (*out)->anchor = NULL;
    if (err) {
        ss_kept_registries_free(*out);
        *out = NULL;
    }
    return err;
}

void ss_kept_registries_free(struct ss_kept_registries *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->n; i++)
        ss_trust_unref(k->regs[i].trust);
    free(k->regs);
    free(k);
}

size_t ss_kept_registries_count(const struct ss_kept_registries *k)
{
    return k->n;
}

struct ss_trust *ss_kept_registry(const struct ss_kept_registries *k, int64_t ms, size_t nth)
{
    long at = -1;
    for (size_t i = 0; i < k->n && k->regs[i].since_ms <= ms; i++)
        at = (long)i;
    if (at < 0 && k->n && k->regs[0].since_ms <= ms + SS_AUDIT_REGISTRY_LAG_MS)
        at = 0;
    if (at < 0)
        return NULL;
    size_t i = (size_t)at + nth;
    if (i >= k->n || (nth > 0 && k->regs[i].since_ms > ms + SS_AUDIT_REGISTRY_LAG_MS))
        return NULL;
    return k->regs[i].trust;
}

/* ---- the timestamps ---- */

static ss_error take_timestamp(void *arg, const struct ss_timestamp *ts)
{
    struct audit *a = arg;
    int64_t expect = a->n_ts ? a->ts[a->n_ts - 1].last_id + 1 : 1;
    if (ts->first_id != expect || ts->last_id < ts->first_id ||
        ts->last_id - ts->first_id >= SS_MERKLE_MAX_LEAVES)
        return broken(a, ts->first_id,
                      "timestamp %lld covers records %lld to %lld, not a batch from record %lld",
                      (long long)ts->id, (long long)ts->first_id, (long long)ts->last_id,
                      (long long)expect);
    /* the batches are chained whole, a token is verified where the range needs it: the check of
     * one exchange does not verify every token of a year's log */
    bool in_range = ts->last_id >= a->from && (!a->to || ts->first_id <= a->to);
    int64_t when = ts->gen_time * 1000;
    if (in_range && !ss_kept_registry(a->kept, when, 0))
        return broken(a, ts->first_id, "no members registry is kept for timestamp %lld's time",
                      (long long)ts->id);
    ss_error err = in_range ? SS_ERR_BAD_SIGNATURE : SS_OK;
    char why[300] = "";
    /* the registry in force at genTime, or the next when it came within the lag */
    struct ss_trust *t = NULL;
    for (size_t nth = 0; err && (t = ss_kept_registry(a->kept, when, nth)); nth++) {
        struct ss_tsa_list list;
        if (!ss_tsa_list_build(ss_trust_registry(t), &list))
            return ss_errf(SS_ERR_NOMEM, "out of memory");
        struct ss_tsp_token token = {0};
        err = ss_tsp_verify_token(ts->token, ts->token_len, ts->root, NULL, 0, list.auth, list.n,
                                  &token);
        if (!err && token.gen_time != ts->gen_time)
            err = ss_errf(SS_ERR_BAD_SIGNATURE, "the token's genTime is not the one stored");
        if (err && !why[0])
            snprintf(why, sizeof why, "%s", ss_errmsg());
        ss_tsp_token_cleanup(&token);
        ss_tsa_list_cleanup(&list);
    }
    if (err)
        return broken(a, ts->first_id, "timestamp %lld (records %lld to %lld): %s",
                      (long long)ts->id, (long long)ts->first_id, (long long)ts->last_id, why);
    /* one timestamper after the other: later records, later tokens (TSAs' clocks may differ by
     * the clock skew) */
    if (a->n_ts && ts->gen_time < a->ts[a->n_ts - 1].gen_time - (int64_t)a->o->clock_skew)
        return broken(a, ts->first_id,
                      "timestamp %lld's genTime is %lld s before the one of timestamp %lld, which "
                      "covers earlier records",
                      (long long)ts->id, (long long)(a->ts[a->n_ts - 1].gen_time - ts->gen_time),
                      (long long)a->ts[a->n_ts - 1].id);
    if (!ss_grow(&a->ts, &a->cap_ts, a->n_ts + 1, sizeof *a->ts, 64))
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    a->ts[a->n_ts] = (struct batch){ts->id, ts->first_id, ts->last_id, ts->gen_time, {0}};
    memcpy(a->ts[a->n_ts].root, ts->root, 32);
    a->n_ts++;
    if (in_range)
        a->rep->timestamps++;
    return SS_OK;
}

/* The batch holding record id (index), or n_ts. */
static size_t batch_of(const struct audit *a, int64_t id)
{
    size_t lo = 0, hi = a->n_ts;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (a->ts[mid].last_id < id)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < a->n_ts && a->ts[lo].first_id <= id ? lo : a->n_ts;
}

/* ---- the records ---- */

static bool is_one_of(const char *s, const char *a, const char *b)
{
    return strcmp(s, a) == 0 || strcmp(s, b) == 0;
}

/* id names member (INSTANCE/CLASS/CODE) or one of its subsystems or services. */
static bool of_member(const char *id, const char *member)
{
    size_t n = strlen(member);
    return n && strncmp(id, member, n) == 0 && (id[n] == '\0' || id[n] == '/');
}

/* What the manifest says against what the record says, and the message's digests. */
static ss_error check_manifest(struct audit *a, const struct ss_record *r,
                               const struct ss_manifest *m)
{
    bool response = strcmp(r->direction, "response") == 0;
    /* the subject hash is keyed per server: only a manifest this server made has its own */
    bool own = response == (strcmp(r->side, "server") == 0);
    const char *field = NULL;
    if ((m->kind == SS_MANIFEST_RESPONSE) != response)
        field = "kind";
    else if (strcmp(m->query_id, r->query_id) != 0)
        field = "query-id";
    else if (strcmp(m->request_id, r->request_id) != 0)
        field = "request-id";
    else if (strcmp(m->client, r->client) != 0)
        field = "client";
    else if (strcmp(m->service, r->service) != 0)
        field = "service";
    else if (strcmp(m->purpose, r->purpose) != 0)
        field = "purpose";
    else if (m->has_subject != r->has_subject ||
             (m->has_subject && own && memcmp(m->subject_hash, r->subject_hash, 32) != 0))
        field = "subject-hash";
    else if (response && !r->error_type[0] && m->status != r->status)
        field = "status";
    if (field)
        return broken(a, r->id, "the signed manifest names another %s than the record", field);
    if (!r->message || r->error_type[0])
        return SS_OK;
    /* the message as logged: its first line, the header fields, an empty line, the body */
    const uint8_t *p = r->message, *end = p + r->message_len;
    const uint8_t *eol = memchr(p, '\r', r->message_len);
    const uint8_t *body = NULL;
    for (const uint8_t *q = p; q + 4 <= end; q++)
        if (memcmp(q, "\r\n\r\n", 4) == 0) {
            body = q + 4;
            break;
        }
    if (!eol || !body)
        return broken(a, r->id, "the logged message has no first line or no end of its header");
    uint8_t d[32];
    ss_sha256(p, (size_t)(eol - p), d);
    if (memcmp(d, m->line_sha256, 32) != 0)
        return broken(a, r->id, "the logged message's first line is not the one signed");
    ss_sha256(body, (size_t)(end - body), d);
    if (memcmp(d, m->body_sha256, 32) != 0)
        return broken(a, r->id, "the logged message's body is not the one signed");
    return SS_OK;
}

static ss_error check_signature(struct audit *a, const struct ss_record *r)
{
    struct ss_manifest m;
    if (ss_manifest_parse(r->manifest, r->manifest_len, &m) != SS_OK)
        return r->error_type[0] ? SS_OK : broken(a, r->id, "the signed manifest: %s", ss_errmsg());
    if (!ss_kept_registry(a->kept, r->logged_ms, 0))
        return broken(a, r->id, "no members registry is kept for the record's time");
    struct ss_sig_verified v;
    ss_error err = SS_ERR_BAD_SIGNATURE;
    char why[400] = "";
    struct ss_trust *t = NULL;
    for (size_t nth = 0; err && (t = ss_kept_registry(a->kept, r->logged_ms, nth)); nth++) {
        ss_trust_set_clock(t, (time_t)(r->logged_ms / 1000));
        err = ss_evidence_verify(t, a->cache, r->manifest, r->manifest_len, r->signature,
                                 r->signature_len, r->sig_path[0] == '-' ? "" : r->sig_path,
                                 r->ocsp, r->ocsp_len, &v);
        if (err && !why[0])
            snprintf(why, sizeof why, "%s", ss_errmsg());
    }
    if (err) {
        if (r->error_type[0]) { /* refused: perhaps for this very signature */
            a->rep->refused_unverified++;
            return SS_OK;
        }
        return broken(a, r->id, "the signature: %s", why);
    }
    a->rep->signed_records++;
    if (!v.cached)
        a->rep->signatures++;
    char member[SS_ID_STR_MAX];
    (void)ss_client_id_format(&v.member, member, sizeof member);
    bool response = strcmp(r->direction, "response") == 0;
    const char *sender = response ? r->service : r->client;
    if (!of_member(sender, member))
        return broken(a, r->id, "signed by %s, not by the %s's member (%s)", member,
                      response ? "service" : "client", sender);
    time_t logged = (time_t)(r->logged_ms / 1000);
    long skew = (long)a->o->clock_skew;
    if (v.signing_time > logged + skew || v.signing_time < logged - skew)
        return broken(a, r->id, "signed %lds from the time it was logged (more than %lds)",
                      (long)(v.signing_time - logged), skew);
    return check_manifest(a, r, &m);
}

/* At the end of a batch: the tree over its records is the one timestamped. */
static ss_error close_batch(struct audit *a, int64_t last)
{
    const struct batch *b = &a->ts[a->at_ts];
    uint8_t root[32];
    if (ss_merkle_build((const uint8_t(*)[32])a->leaves, a->n_leaves, root, NULL))
        return ss_errf(SS_ERR_NOMEM, "%s", ss_errmsg());
    if (memcmp(root, b->root, 32) != 0)
        return broken(a, last, "the records %lld to %lld are not the ones timestamp %lld covers",
                      (long long)b->first_id, (long long)b->last_id, (long long)b->id);
    a->n_leaves = 0;
    a->at_ts++;
    return SS_OK;
}

/*
 * The record's content against its commitment (version 2) or its digest
 * (version 1). A purged record (commitment without salt) must be past its
 * retention deadline and hold no content. A sealed message is opened with
 * the DPO's secret key when given; *plain is r with the plain message, for
 * the signature check, or with none when it stays sealed.
 */
static ss_error check_content(struct audit *a, const struct ss_record *r, bool *purged,
                              struct ss_record *plain, uint8_t **opened)
{
    struct ss_audit_report *rep = a->rep;
    *plain = *r;
    *purged = false;
    *opened = NULL;
    uint8_t h[32];
    if (r->has_salt) {
        if (!r->has_content)
            return broken(a, r->id, "a salt without a content commitment");
        ss_record_commit(r, h);
        if (memcmp(h, r->content, 32) != 0)
            return broken(a, r->id, "its content is not the content it committed to");
    } else if (r->has_content) {
        if (r->message || r->manifest || r->has_subject || r->sealed)
            return broken(a, r->id, "purged, yet it holds content");
        if (r->retain_until > a->o->now)
            return broken(a, r->id, "its content is gone before its retention deadline");
        rep->purged++;
        *purged = true;
        return SS_OK;
    } else if (r->sealed) {
        return broken(a, r->id, "a sealed message in a record without a content commitment");
    }
    if (!r->message) {
        rep->without_message++;
        return SS_OK;
    }
    if (r->sealed) {
        rep->sealed++;
        plain->message = NULL; /* not checked against the manifest unless opened */
        plain->message_len = 0;
        if (!a->o->dpo_secret)
            return SS_OK;
        uint8_t *m = NULL;
        size_t len = 0;
        if (ss_dpo_open(a->o->dpo_public, a->o->dpo_secret, r->message, r->message_len, &m, &len))
            return broken(a, r->id, "%s", ss_errmsg());
        ss_sha256(m, len, h);
        if (memcmp(h, r->message_sha256, 32) != 0) {
            ss_dpo_plain_free(m, len);
            return broken(a, r->id, "the sealed message is not the one its digest names");
        }
        /* opened, it is checked against the signed manifest like a plain one */
        plain->message = m;
        plain->message_len = len;
        *opened = m;
        rep->opened++;
        return SS_OK;
    }
    ss_sha256(r->message, r->message_len, h);
    if (memcmp(h, r->message_sha256, 32) != 0)
        return broken(a, r->id, "the logged message is not the one its digest names");
    rep->messages++;
    return SS_OK;
}

static ss_error take_record(void *arg, const struct ss_record *r, int64_t ts_id,
                            const char *ts_path)
{
    struct audit *a = arg;
    struct ss_audit_report *rep = a->rep;
    if (r->id != a->expect_id)
        return broken(a, a->expect_id,
                      r->id > a->expect_id ? "missing (the next record is %lld)"
                                           : "out of order (record %lld follows)",
                      (long long)r->id);
    if (memcmp(r->prev_hash, a->prev, 32) != 0)
        return broken(a, r->id, "does not name the hash of the record before it");
    uint8_t h[32];
    ss_record_hash(r, h);
    if (memcmp(h, r->hash, 32) != 0)
        return broken(a, r->id, "its hash is not the hash of its fields");
    if (!is_one_of(r->side, "client", "server") || !is_one_of(r->direction, "request", "response"))
        return broken(a, r->id, "side '%s' or direction '%s' is not one a record has", r->side,
                      r->direction);
    ss_error err = SS_OK;
    bool purged = false;
    struct ss_record plain_copy;
    uint8_t *opened = NULL;
    if ((err = check_content(a, r, &purged, &plain_copy, &opened)))
        return err;
    if (purged) {
        /* what remains is bound by the chain and the timestamps; the signature covered the
         * manifest, which is gone */
    } else if (r->signature) {
        err = r->manifest ? check_signature(a, &plain_copy)
                          : broken(a, r->id, "a signature without a manifest");
    } else if (!r->error_type[0]) {
        err = broken(a, r->id, "an exchange that was not refused, logged without a signature");
    }
    if (opened)
        ss_dpo_plain_free(opened, plain_copy.message_len);
    if (err)
        return err;
    /* the record's place in its timestamp */
    if (a->at_ts < a->n_ts && r->id >= a->ts[a->at_ts].first_id) {
        const struct batch *b = &a->ts[a->at_ts];
        struct ss_merkle_path path;
        uint8_t root[32];
        if (ts_id != b->id)
            return broken(a, r->id, "its inclusion path is not the one of timestamp %lld",
                          (long long)b->id);
        /* a token says the record existed at genTime: not before it was logged */
        int64_t logged = r->logged_ms / 1000;
        if (logged > b->gen_time + (int64_t)a->o->clock_skew)
            return broken(a, r->id,
                          "logged %lld s after the genTime of timestamp %lld, which covers it",
                          (long long)(logged - b->gen_time), (long long)b->id);
        if (b->gen_time > logged + (int64_t)a->o->grace + (int64_t)a->o->clock_skew)
            rep->stamped_late++;
        if (strcmp(ts_path, SS_STORE_NO_PATH) == 0)
            return broken(a, r->id,
                          "no inclusion path: timestamp %lld keeps no tree that covers it",
                          (long long)b->id);
        if (ss_merkle_path_parse(ts_path, strlen(ts_path), &path) != SS_OK)
            return broken(a, r->id, "its inclusion path does not parse: %s", ss_errmsg());
        ss_merkle_leaf(r->hash, 32, a->leaves[a->n_leaves]);
        ss_merkle_follow(a->leaves[a->n_leaves], &path, root);
        a->n_leaves++;
        if (memcmp(root, b->root, 32) != 0)
            return broken(a, r->id, "its inclusion path does not lead to timestamp %lld's root",
                          (long long)b->id);
        rep->stamped++;
        if (r->id == b->last_id && (err = close_batch(a, r->id)))
            return err;
    } else {
        if (ts_id)
            return broken(a, r->id, "an inclusion path, but no timestamp covers the record");
        rep->unstamped++;
        /* a healthy server timestamps within its grace period, or refuses exchanges */
        if (r->logged_ms / 1000 < a->o->now - (int64_t)a->o->grace)
            rep->unstamped_late++;
    }
    rep->records++;
    rep->last_id = r->id;
    if (a->o->progress && rep->records % 256 == 0)
        a->o->progress(a->o->progress_arg, r->id);
    memcpy(a->prev, r->hash, 32);
    a->expect_id++;
    return SS_OK;
}

/* The hash of the record before from (zeros before the first). */
static ss_error take_prev(void *arg, const struct ss_record *r, int64_t ts_id, const char *ts_path)
{
    (void)ts_id;
    (void)ts_path;
    struct audit *a = arg;
    memcpy(a->prev, r->hash, 32);
    a->expect_id = r->id + 1;
    return SS_OK;
}

/* The number of the log's last record (0: none). */
static ss_error last_id(struct ss_store *s, int64_t *id)
{
    uint8_t hash[32];
    return ss_store_tail(s, id, hash);
}

ss_error ss_audit_verify(struct ss_store *s, const struct ss_reg_anchor *anchor,
                         const struct ss_audit_options *o, struct ss_audit_report *report)
{
    memset(report, 0, sizeof *report);
    struct audit a = {.o = o, .rep = report, .expect_id = 1};
    ss_error err = ss_sig_cache_new(AUDIT_CACHE_ENTRIES, &a.cache);
    /* the timestamps are read before the records: both from one state of a log being written */
    bool snapshot = !err && (err = ss_store_snapshot(s)) == SS_OK;
    if (!err && (err = ss_kept_registries_load(s, anchor, &a.kept)) == SS_ERR_BAD_SIGNATURE)
        err = broken(&a, 0, "%s", ss_errmsg());
    if (!err)
        report->registries = ss_kept_registries_count(a.kept);
    /* the range first (in the same state of the log), so that only its tokens are verified */
    int64_t from = o->from_id > 0 ? o->from_id : 1, to = o->to_id;
    if (!err && (o->from_ms || o->to_ms))
        err = ss_store_id_range(s, o->from_ms, o->to_ms, &from, &to);
    if (!err && o->from_id > from)
        from = o->from_id;
    if (!err && o->to_id && (!to || o->to_id < to))
        to = o->to_id;
    a.from = from;
    a.to = to < 0 ? 0 : to;
    if (!err && to >= 0)
        err = ss_store_each_timestamp(s, take_timestamp, &a);
    if (err)
        goto out;
    if (to < 0) {
        report->first_id = 1;
        goto out; /* the range ends before the first record */
    }
    /* whole timestamp batches, so that their trees can be rebuilt */
    a.at_ts = batch_of(&a, from);
    if (a.at_ts < a.n_ts)
        from = a.ts[a.at_ts].first_id;
    else
        a.at_ts = a.n_ts && from > a.ts[a.n_ts - 1].last_id ? a.n_ts : 0;
    size_t last_batch = to ? batch_of(&a, to) : a.n_ts;
    if (to && last_batch < a.n_ts)
        to = a.ts[last_batch].last_id;
    if (to && to < from) {
        report->first_id = from;
        goto out; /* nothing in the range */
    }
    a.leaves = malloc(SS_MERKLE_MAX_LEAVES * sizeof *a.leaves);
    if (!a.leaves) {
        err = ss_errf(SS_ERR_NOMEM, "out of memory");
        goto out;
    }
    report->first_id = from;
    a.expect_id = from > 1 ? 0 : 1;
    if (from > 1 && (err = ss_store_each(s, from - 1, from - 1, take_prev, &a)))
        goto out;
    if (a.expect_id != from) {
        /* a range that begins after the log's last record holds nothing: not a gap, unless a
         * timestamp names records from there on */
        int64_t last = 0;
        if ((err = last_id(s, &last)))
            goto out;
        if (last < from - 1 && !(a.n_ts && a.ts[a.n_ts - 1].last_id >= from - 1)) {
            report->first_id = from;
            goto out;
        }
        err = broken(&a, from - 1, "missing");
        goto out;
    }
    err = ss_store_each(s, from, to, take_record, &a);
    if (err == SS_ERR_PROTOCOL) /* a stored field of the wrong type or size */
        err = broken(&a, a.expect_id, "%s", ss_errmsg());
    /* every timestamp that begins in the range was walked to its end: no record it covers is
     * gone, whatever records are left */
    size_t walked_to = a.n_ts;
    while (to && walked_to > 0 && a.ts[walked_to - 1].first_id > to)
        walked_to--;
    if (!err && a.at_ts < walked_to)
        err = broken(&a, a.n_leaves ? a.expect_id : a.ts[a.at_ts].first_id,
                     "missing: timestamp %lld covers records %lld to %lld",
                     (long long)a.ts[a.at_ts].id, (long long)a.ts[a.at_ts].first_id,
                     (long long)a.ts[a.at_ts].last_id);
    /* a range that ends before its end was reached: the records up to its end are gone if the
     * log goes on after them (not yet timestamped, no timestamp says so) */
    int64_t last = 0;
    if (!err && to && a.expect_id <= to && (err = last_id(s, &last)) == SS_OK &&
        last >= a.expect_id)
        err = broken(&a, a.expect_id, "missing");
out:
    if (snapshot)
        ss_store_rollback(s);
    ss_kept_registries_free(a.kept);
    free(a.ts);
    free(a.leaves);
    ss_sig_cache_free(a.cache);
    return err;
}
