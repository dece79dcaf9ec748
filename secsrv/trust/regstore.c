#include "regstore.h"
#include "clock.h"
#include "ipc.h"
#include "log.h"
#include "ss_hex.h"
#include "ss_xml.h"
#include "upstream.h"
#include "ss_sha256.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct ss_regstore {
    const struct ss_config *cfg;
    struct ss_reg_anchor anchor;
    char xml_path[4096];
    char sig_path[4096];
    char floor_path[4096];
    pthread_mutex_t accept_mu; /* one acceptance at a time: verify, write, swap */
    pthread_mutex_t mu;        /* the fields below */
    pthread_cond_t cond;
    struct ss_trust *current;
    uint64_t accepted_serial;
    uint8_t accepted_sha256[32]; /* of the document in force */
    bool have_floor;             /* accepted_* known from the floor file or an acceptance */
    uint8_t *raw_xml, *raw_sig;  /* the document and signature in force, as published */
    size_t raw_xml_len, raw_sig_len;
    unsigned failures; /* refreshes failed in a row */
    pthread_t thread;
    bool running, stopping;
    bool persist;
    ss_regstore_changed on_change;
    void *on_change_cls;
};

/*
 * The rollback floor: the serial and SHA-256 of the newest registry this
 * server accepted, "SERIAL HEX\n" in state_dir/registry.floor, written
 * atomically after each acceptance. It outlives the cached copy, so an
 * older registry is refused after a restart even when no copy is left.
 */
static ss_error load_floor(struct ss_regstore *rs)
{
    bool found = false;
    uint64_t serial = 0;
    ss_error err =
        ss_mark_read(rs->floor_path, "SERIAL SHA256", &found, &serial, rs->accepted_sha256);
    if (err == SS_ERR_CONFIG)
        return ss_errf(SS_ERR_REGISTRY,
                       "%s (remove it only if you know the registry serial in force)", ss_errmsg());
    if (err || !found)
        return err;
    rs->accepted_serial = serial;
    rs->have_floor = true;
    return SS_OK;
}

static ss_error store_floor(struct ss_regstore *rs, uint64_t serial, const uint8_t sha256[32])
{
    return ss_mark_write(rs->floor_path, serial, sha256);
}

ss_error ss_regstore_new(const struct ss_config *cfg, struct ss_regstore **out)
{
    *out = NULL;
    struct ss_regstore *rs = calloc(1, sizeof *rs);
    if (!rs)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    rs->cfg = cfg;
    rs->persist = true;
    pthread_mutex_init(&rs->accept_mu, NULL);
    pthread_mutex_init(&rs->mu, NULL);
    ss_cond_init(&rs->cond);
    ss_error err = ss_reg_anchor_load(cfg->registry_anchor, &rs->anchor);
    if (err) {
        ss_regstore_free(rs);
        return err;
    }
    int a = snprintf(rs->xml_path, sizeof rs->xml_path, "%s/registry.xml", cfg->state_dir);
    int b = snprintf(rs->sig_path, sizeof rs->sig_path, "%s/registry.xml.p7s", cfg->state_dir);
    int c = snprintf(rs->floor_path, sizeof rs->floor_path, "%s/registry.floor", cfg->state_dir);
    if (a < 0 || b < 0 || c < 0 || (size_t)b >= sizeof rs->sig_path ||
        (size_t)c >= sizeof rs->floor_path) {
        ss_regstore_free(rs);
        return ss_errf(SS_ERR_CONFIG, "state_dir path too long");
    }
    *out = rs;
    return SS_OK;
}

ss_error ss_regstore_load_floor(struct ss_regstore *rs)
{
    return load_floor(rs);
}

void ss_regstore_set_persist(struct ss_regstore *rs, bool persist)
{
    rs->persist = persist;
}

void ss_regstore_on_change(struct ss_regstore *rs, ss_regstore_changed fn, void *cls)
{
    rs->on_change = fn;
    rs->on_change_cls = cls;
}

void ss_regstore_free(struct ss_regstore *rs)
{
    if (!rs)
        return;
    ss_regstore_stop(rs);
    ss_trust_unref(rs->current);
    ss_reg_anchor_cleanup(&rs->anchor);
    pthread_cond_destroy(&rs->cond);
    pthread_mutex_destroy(&rs->mu);
    pthread_mutex_destroy(&rs->accept_mu);
    free(rs->raw_xml);
    free(rs->raw_sig);
    free(rs);
}

/* Whether a registry of serial and digest may follow the floor (caller holds mu). */
static ss_error check_floor(const struct ss_regstore *rs, const char *source, uint64_t serial,
                            const uint8_t digest[32])
{
    if (!rs->have_floor || serial > rs->accepted_serial)
        return SS_OK;
    if (serial < rs->accepted_serial)
        return ss_errf(SS_ERR_REGISTRY_ROLLBACK,
                       "%s: serial %llu is older than serial %llu already accepted (rollback "
                       "refused)",
                       source, (unsigned long long)serial, (unsigned long long)rs->accepted_serial);
    if (sodium_memcmp(digest, rs->accepted_sha256, 32) != 0)
        return ss_errf(SS_ERR_REGISTRY_ROLLBACK,
                       "%s: serial %llu was already accepted with different content (refused)",
                       source, (unsigned long long)serial);
    return SS_OK;
}

/*
 * Verifies xml+sig and swaps them in; write_copy keeps them as the last
 * good copy. One acceptance runs at a time, and the floor is checked again
 * under the lock right before the swap.
 */
static ss_error accept_registry(struct ss_regstore *rs, const char *source, const uint8_t *xml,
                                size_t xml_len, const uint8_t *sig, size_t sig_len, bool write_copy)
{
    uint8_t digest[32];
    ss_sha256(xml, xml_len, digest);
    pthread_mutex_lock(&rs->accept_mu);
    pthread_mutex_lock(&rs->mu);
    uint64_t floor = rs->have_floor ? rs->accepted_serial : 0;
    bool same = rs->current && sodium_memcmp(digest, rs->accepted_sha256, 32) == 0;
    pthread_mutex_unlock(&rs->mu);
    if (same) {
        pthread_mutex_unlock(&rs->accept_mu);
        return SS_OK; /* the document in force, again */
    }
    struct ss_registry *reg = NULL;
    struct ss_trust *trust = NULL;
    ss_error err =
        ss_registry_load(source, xml, xml_len, sig, sig_len, &rs->anchor, time(NULL), floor, &reg);
    if (!err) {
        pthread_mutex_lock(&rs->mu);
        err = check_floor(rs, source, reg->serial, digest);
        pthread_mutex_unlock(&rs->mu);
    }
    if (!err)
        err = ss_trust_new(reg, &trust);
    ss_registry_unref(reg);
    /* signature first: a crash between the two leaves a pair that fails to verify and is
     * ignored at the next start, never a wrong registry; the floor follows the copy */
    if (!err && rs->persist && write_copy &&
        (err = ss_file_write_atomic(rs->sig_path, sig, sig_len)) == SS_OK &&
        (err = ss_file_write_atomic(rs->xml_path, xml, xml_len)) != SS_OK && rs->raw_sig) {
        /* the document could not follow its signature (a full disk): the copy's own signature
         * goes back, so that the pair on disk still verifies at the next start */
        char why[512];
        snprintf(why, sizeof why, "%s", ss_errmsg());
        if (ss_file_write_atomic(rs->sig_path, rs->raw_sig, rs->raw_sig_len) != SS_OK)
            ss_log_error("registry: the cached copy's signature could not be put back: %s",
                         ss_errmsg());
        err = ss_errf(err, "%s", why);
    }
    const struct ss_registry *r = trust ? ss_trust_registry(trust) : NULL;
    if (!err && rs->persist)
        err = store_floor(rs, r->serial, digest);
    if (err) {
        ss_trust_unref(trust);
        pthread_mutex_unlock(&rs->accept_mu);
        return err;
    }
    uint8_t *raw_xml = malloc(xml_len ? xml_len : 1), *raw_sig = malloc(sig_len ? sig_len : 1);
    if (!raw_xml || !raw_sig) {
        free(raw_xml);
        free(raw_sig);
        ss_trust_unref(trust);
        pthread_mutex_unlock(&rs->accept_mu);
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    }
    memcpy(raw_xml, xml, xml_len);
    memcpy(raw_sig, sig, sig_len);
    pthread_mutex_lock(&rs->mu);
    err = check_floor(rs, source, r->serial, digest);
    struct ss_trust *old = NULL;
    if (!err) {
        free(rs->raw_xml);
        free(rs->raw_sig);
        rs->raw_xml = raw_xml;
        rs->raw_sig = raw_sig;
        rs->raw_xml_len = xml_len;
        rs->raw_sig_len = sig_len;
        raw_xml = raw_sig = NULL;
        old = rs->current;
        rs->current = trust;
        rs->accepted_serial = r->serial;
        rs->have_floor = true;
        memcpy(rs->accepted_sha256, digest, 32);
    }
    pthread_mutex_unlock(&rs->mu);
    pthread_mutex_unlock(&rs->accept_mu);
    free(raw_xml);
    free(raw_sig);
    if (err) {
        ss_trust_unref(trust);
        return err;
    }
    ss_trust_unref(old);
    /* what hangs on the registry first (pooled connections closed, the other processes
     * told): the line below says all of it is done */
    if (rs->on_change)
        rs->on_change(rs->on_change_cls);
    char expires[21];
    ss_time_format(r->expires, expires);
    ss_log_info("registry: serial %llu from %s in force (instance %s, %zu members, %zu servers, "
                "expires %s)",
                (unsigned long long)r->serial, source, r->instance, r->n_members, r->n_servers,
                expires);
    return SS_OK;
}

ss_error ss_regstore_load_cached(struct ss_regstore *rs)
{
    uint8_t *xml = NULL, *sig = NULL;
    size_t xml_len = 0, sig_len = 0;
    ss_error err = ss_file_read(rs->xml_path, SS_REGISTRY_MAX_BYTES, &xml, &xml_len);
    if (err == SS_ERR_NOT_FOUND)
        return SS_OK;
    if (!err)
        err = ss_file_read(rs->sig_path, SS_REGISTRY_SIG_MAX_BYTES, &sig, &sig_len);
    if (!err)
        err = accept_registry(rs, rs->xml_path, xml, xml_len, sig, sig_len, false);
    free(xml);
    free(sig);
    if (err == SS_ERR_REGISTRY_EXPIRED) {
        ss_log_warn("registry: cached copy not used: %s", ss_errmsg());
        return SS_OK;
    }
    return err;
}

ss_error ss_regstore_refresh(struct ss_regstore *rs)
{
    uint8_t *xml = NULL, *sig = NULL;
    size_t xml_len = 0, sig_len = 0;
    const struct ss_config *cfg = rs->cfg;
    unsigned timeout = cfg->limits.backend_timeout * 1000u; /* ms */
    ss_error err = ss_upstream_fetch(cfg->registry_url, NULL, NULL, 0, SS_REGISTRY_MAX_BYTES,
                                     timeout, &xml, &xml_len);
    if (!err)
        err = ss_upstream_fetch(cfg->registry_sig_url, NULL, NULL, 0, SS_REGISTRY_SIG_MAX_BYTES,
                                timeout, &sig, &sig_len);
    if (err)
        err = ss_errf(err, "%s: %s", cfg->registry_url, ss_errmsg());
    else
        err = accept_registry(rs, cfg->registry_url, xml, xml_len, sig, sig_len, true);
    free(xml);
    free(sig);
    pthread_mutex_lock(&rs->mu);
    rs->failures = err ? rs->failures + 1 : 0;
    pthread_mutex_unlock(&rs->mu);
    return err;
}

/*
 * Seconds until the next refresh: the refresh interval, or after failed
 * attempts 1, 2, 4, ... seconds (never more than the interval), so that a
 * server that started without a registry gets one soon.
 */
static unsigned refresh_interval(struct ss_regstore *rs)
{
    unsigned interval = rs->cfg->registry_refresh;
    pthread_mutex_lock(&rs->mu);
    if (!interval && rs->current)
        interval = (unsigned)ss_trust_registry(rs->current)->settings.refresh_interval;
    unsigned failures = rs->failures;
    pthread_mutex_unlock(&rs->mu);
    if (!interval)
        interval = 300;
    if (failures > 0) {
        unsigned backoff = 1u << (failures - 1 < 16 ? failures - 1 : 16);
        if (backoff < interval)
            return backoff;
    }
    return interval;
}

static void *refresh_loop(void *arg)
{
    struct ss_regstore *rs = arg;
    for (;;) {
        struct timespec until = ss_deadline_after_us((uint64_t)refresh_interval(rs) * 1000000u);
        pthread_mutex_lock(&rs->mu);
        while (!rs->stopping && pthread_cond_timedwait(&rs->cond, &rs->mu, &until) != ETIMEDOUT) {
        }
        bool stop = rs->stopping;
        pthread_mutex_unlock(&rs->mu);
        if (stop)
            break;
        if (ss_regstore_refresh(rs) != SS_OK)
            ss_log_warn("registry: refresh failed, keeping the registry in force: %s", ss_errmsg());
    }
    return NULL;
}

ss_error ss_regstore_start(struct ss_regstore *rs)
{
    if (pthread_create(&rs->thread, NULL, refresh_loop, rs) != 0)
        return ss_errf(SS_ERR_INTERNAL, "cannot start the registry refresh thread");
    rs->running = true;
    return SS_OK;
}

void ss_regstore_stop(struct ss_regstore *rs)
{
    if (!rs->running)
        return;
    pthread_mutex_lock(&rs->mu);
    rs->stopping = true;
    pthread_cond_broadcast(&rs->cond);
    pthread_mutex_unlock(&rs->mu);
    pthread_join(rs->thread, NULL);
    rs->running = false;
}

struct ss_trust *ss_regstore_last(struct ss_regstore *rs)
{
    pthread_mutex_lock(&rs->mu);
    struct ss_trust *t = ss_trust_ref(rs->current);
    pthread_mutex_unlock(&rs->mu);
    return t;
}

struct ss_trust *ss_regstore_acquire(struct ss_regstore *rs, ss_error *err)
{
    struct ss_trust *t = ss_regstore_last(rs);
    if (!t) {
        *err = ss_errf(SS_ERR_REGISTRY_UNAVAILABLE, "no verified registry is available");
        return NULL;
    }
    const struct ss_registry *reg = ss_trust_registry(t);
    if (ss_registry_expired(reg, time(NULL))) {
        char when[21];
        ss_time_format(reg->expires, when);
        ss_trust_unref(t);
        *err =
            ss_errf(SS_ERR_REGISTRY_EXPIRED,
                    "the registry in force expired at %s and no newer one could be obtained", when);
        return NULL;
    }
    *err = SS_OK;
    return t;
}

ss_error ss_regstore_put(struct ss_regstore *rs, struct ss_ipc_buf *b)
{
    pthread_mutex_lock(&rs->mu);
    bool have = rs->raw_xml != NULL;
    if (have) {
        ss_ipc_put_bytes(b, rs->raw_xml, rs->raw_xml_len);
        ss_ipc_put_bytes(b, rs->raw_sig, rs->raw_sig_len);
    }
    pthread_mutex_unlock(&rs->mu);
    if (!have)
        return ss_errf(SS_ERR_REGISTRY_UNAVAILABLE, "no registry in force");
    if (b->failed)
        return ss_errf(SS_ERR_NOMEM, "out of memory for the registry message");
    return SS_OK;
}

bool ss_regstore_read(const struct ss_ipc_msg *m, struct ss_regstore_handed *out)
{
    struct ss_ipc_reader r;
    ss_ipc_reader_init(&r, m);
    *out = (struct ss_regstore_handed){0};
    out->xml = ss_ipc_get_bytes(&r, SS_REGISTRY_MAX_BYTES, &out->xml_len);
    out->sig = ss_ipc_get_bytes(&r, SS_REGISTRY_SIG_MAX_BYTES, &out->sig_len);
    if (!ss_ipc_reader_done(&r))
        return false;
    ss_sha256(out->xml, out->xml_len, out->sha256);
    return true;
}

ss_error ss_regstore_verify(const struct ss_regstore_handed *h, const struct ss_reg_anchor *anchor,
                            uint64_t floor, struct ss_trust **out)
{
    *out = NULL;
    struct ss_registry *reg = NULL;
    ss_error err = ss_registry_load("registry from the network process", h->xml, h->xml_len, h->sig,
                                    h->sig_len, anchor, time(NULL), floor, &reg);
    if (!err)
        err = ss_trust_new(reg, out);
    ss_registry_unref(reg);
    return err;
}
