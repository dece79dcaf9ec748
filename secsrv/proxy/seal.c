#include "seal.h"
#include "evidence.h"
#include "log.h"
#include "logger.h"
#include "record_ipc.h"
#include "subject.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ss_seal_subject_hash(const struct ss_daemon *d, const char *subject, uint8_t out[32])
{
    ss_subject_hash(d->subject_key, subject, out);
}

static void member_of(const struct ss_client_id *id, char *out, size_t size)
{
    struct ss_client_id m = *id;
    m.subsystem[0] = '\0';
    (void)ss_client_id_format(&m, out, size);
}

ss_error ss_seal_sign(struct ss_daemon *d, const struct ss_client_id *member,
                      const struct ss_manifest *m, struct ss_envelope *env)
{
    memset(env, 0, sizeof *env);
    /* formatted into the envelope that keeps it (on the heap: a fiber's stack stays shallow) */
    if (!(env->manifest = malloc(SS_MANIFEST_MAX)))
        return ss_errf(SS_ERR_SIGNING, "out of memory");
    struct ss_ipc_msg reply = {.fd = -1};
    size_t len = 0;
    ss_error err = ss_manifest_format(m, (char *)env->manifest, SS_MANIFEST_MAX, &len);
    if (err) {
        err = ss_errf(SS_ERR_SIGNING, "manifest: %s", ss_errmsg());
        goto fail;
    }
    char who[SS_ID_STR_MAX];
    member_of(member, who, sizeof who);
    struct ss_ipc_buf b = {0};
    ss_ipc_put_str(&b, who);
    ss_ipc_put_bytes(&b, env->manifest, len);
    err = ss_ipc_client_call(d->signer, SS_IPC_SIGN, &b, SS_SEAL_IPC_TIMEOUT_MS, &reply);
    ss_ipc_buf_cleanup(&b);
    if (err) {
        err = ss_errf(SS_ERR_SIGNING, "signer: %s", ss_errmsg());
        goto fail;
    }
    struct ss_ipc_reader r;
    ss_ipc_reader_init(&r, &reply);
    uint32_t code = ss_ipc_get_u32(&r);
    char reason[2048];
    ss_ipc_get_str(&r, reason, sizeof reason);
    size_t cms_len = 0, ocsp_len = 0;
    const uint8_t *cms = ss_ipc_get_bytes(&r, SS_EVIDENCE_CMS_MAX, &cms_len);
    ss_ipc_get_str(&r, env->path, sizeof env->path);
    const uint8_t *ocsp = ss_ipc_get_bytes(&r, SS_TRUST_OCSP_MAX_BYTES, &ocsp_len);
    if (reply.type != SS_IPC_SIGNED || !ss_ipc_reader_done(&r)) {
        err = ss_errf(SS_ERR_SIGNING, "signer: malformed answer");
        goto fail;
    }
    if (code) {
        err = ss_errf(SS_ERR_SIGNING, "signer: %s", reason);
        goto fail;
    }
    /* the manifest as signed, in as much memory as it takes */
    uint8_t *kept = realloc(env->manifest, len ? len : 1);
    if (kept)
        env->manifest = kept;
    env->manifest_len = len;
    env->cms = malloc(cms_len ? cms_len : 1);
    env->ocsp = malloc(ocsp_len ? ocsp_len : 1);
    if (!env->cms || !env->ocsp || !cms_len || !ocsp_len) {
        err = ss_errf(SS_ERR_SIGNING, "signer: no signature or OCSP response in the answer");
        goto fail;
    }
    memcpy(env->cms, cms, cms_len);
    env->cms_len = cms_len;
    memcpy(env->ocsp, ocsp, ocsp_len);
    env->ocsp_len = ocsp_len;
    ss_ipc_msg_cleanup(&reply);
    return SS_OK;
fail:
    ss_envelope_cleanup(env);
    ss_ipc_msg_cleanup(&reply);
    return err;
}

void ss_seal_log_start(struct ss_daemon *d, const struct ss_record *rec, bool replay_check,
                       struct ss_seal_pending *p)
{
    struct ss_ipc_buf b = {0};
    ss_record_put(&b, rec);
    ss_ipc_put_u32(&b, replay_check);
    ss_ipc_put_str(&b, "Client.DuplicateRequest");
    ss_ipc_put_u32(&b, 409);
    ss_ipc_call_start(d->logger, SS_IPC_LOG_APPEND, &b, SS_SEAL_IPC_TIMEOUT_MS, &p->call);
    ss_ipc_buf_cleanup(&b);
    p->started = true;
    snprintf(p->client, sizeof p->client, "%s", rec->client);
    snprintf(p->query_id, sizeof p->query_id, "%s", rec->query_id);
}

ss_error ss_seal_log_finish(struct ss_daemon *d, struct ss_seal_pending *p, int64_t *id)
{
    *id = 0;
    p->started = false;
    struct ss_ipc_msg reply;
    ss_error err = ss_ipc_call_wait(&p->call, &reply);
    atomic_store(&d->log_failing, true); /* until the answer says otherwise */
    p->timed_out = err == SS_ERR_UPSTREAM_TIMEOUT;
    if (err)
        return ss_errf(SS_ERR_LOGGING, "logger: %s", ss_errmsg());
    struct ss_ipc_reader r;
    ss_ipc_reader_init(&r, &reply);
    uint32_t code = ss_ipc_get_u32(&r);
    char reason[300];
    ss_ipc_get_str(&r, reason, sizeof reason);
    uint64_t rid = ss_ipc_get_u64(&r);
    uint32_t flags = ss_ipc_get_u32(&r);
    bool ok = reply.type == SS_IPC_LOGGED && ss_ipc_reader_done(&r);
    ss_ipc_msg_cleanup(&reply);
    if (!ok)
        return ss_errf(SS_ERR_LOGGING, "logger: malformed answer");
    atomic_store(&d->ts_overdue, (flags & SS_LOGGED_TIMESTAMP_OVERDUE) != 0);
    if (code)
        return ss_errf(SS_ERR_LOGGING, "logger: %s", reason);
    atomic_store(&d->log_failing, false);
    *id = (int64_t)rid;
    if (flags & SS_LOGGED_DUPLICATE)
        return ss_errf(SS_ERR_DUPLICATE,
                       "a request of client %s with query id %s was logged within the last %us "
                       "(a duplicate or a replay; refusal logged as record %llu)",
                       p->client, p->query_id, ss_config_replay_window(d->cfg),
                       (unsigned long long)rid);
    return SS_OK;
}

ss_error ss_seal_log(struct ss_daemon *d, const struct ss_record *rec, bool replay_check,
                     int64_t *id)
{
    struct ss_seal_pending p;
    ss_seal_log_start(d, rec, replay_check, &p);
    return ss_seal_log_finish(d, &p, id);
}

ss_error ss_seal_check(struct ss_daemon *d, const struct ss_trust *trust,
                       const struct ss_envelope *env, const struct ss_client_id *member,
                       struct ss_manifest *m)
{
    ss_error err = ss_manifest_parse(env->manifest, env->manifest_len, m);
    if (err)
        return ss_errf(SS_ERR_BAD_SIGNATURE, "%s", ss_errmsg());
    struct ss_sig_verified v;
    err = ss_evidence_verify(trust, d->sig_cache, env->manifest, env->manifest_len, env->cms,
                             env->cms_len, env->path, env->ocsp, env->ocsp_len, &v);
    if (err)
        return err;
    if (!ss_client_id_same_member(&v.member, member) ||
        strcmp(v.member.instance, member->instance) != 0) {
        char got[SS_ID_STR_MAX], want[SS_ID_STR_MAX];
        (void)ss_client_id_format(&v.member, got, sizeof got);
        member_of(member, want, sizeof want);
        return ss_errf(SS_ERR_BAD_SIGNATURE, "signed by a certificate of %s, not of %s", got, want);
    }
    time_t now = time(NULL);
    long skew = (long)d->cfg->clock_skew;
    if (v.signing_time < now - skew || v.signing_time > now + skew)
        return ss_errf(SS_ERR_STALE_SIGNATURE,
                       "signing time %lds from now, more than the %lds allowed",
                       (long)(v.signing_time - now), skew);
    if (m->time < now - skew || m->time > now + skew)
        return ss_errf(SS_ERR_STALE_SIGNATURE, "manifest time %lds from now, more than %lds",
                       (long)(m->time - now), skew);
    return SS_OK;
}

bool ss_seal_overdue(struct ss_daemon *d)
{
    if (!atomic_load(&d->ts_overdue))
        return false;
    /* the flag is as old as the last record: ask whether it still holds */
    struct ss_ipc_msg m;
    if (ss_ipc_client_call(d->logger, SS_IPC_LOGGER_STATUS, NULL, SS_SEAL_IPC_TIMEOUT_MS, &m))
        return true;
    struct ss_logger_status st;
    bool ok = ss_logger_status_read(&m, &st) == SS_OK && st.timestamping_ok;
    ss_ipc_msg_cleanup(&m);
    atomic_store(&d->ts_overdue, !ok);
    return !ok;
}
