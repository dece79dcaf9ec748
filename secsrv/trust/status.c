/*
 * status: certificate status from the OCSP responders the registry lists,
 * over the network (ss_upstream_fetch). The checks of a response are
 * trust.c's (ss_trust_ocsp_check); this module only asks.
 */
#include "clock.h"
#include "ss_hex.h"
#include "trust.h"
#include "upstream.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/*
 * Asks the responders of leaf's CA in turn, each with a fresh nonce, until
 * one gives a good status; a revocation is final. On SS_OK *answer (if not
 * NULL) holds the response (malloc'd) and *until when it stops counting.
 * With deadline_us (see ss_trust_check_status), *cut tells whether the
 * deadline decided the outcome: a responder not asked for want of time, or
 * one that timed out with less than its time (a refusal, a bad answer or
 * a timeout with the full time are the responder's own).
 */
static ss_error ask(const struct ss_trust *t, const struct ss_der *leaf, uint8_t **answer,
                    size_t *answer_len, time_t *until, uint64_t deadline_us, bool *cut)
{
    *cut = false;
    uint8_t nonce[SS_TRUST_OCSP_NONCE];
    randombytes_buf(nonce, sizeof nonce);
    uint8_t *req = NULL;
    size_t req_len = 0;
    const struct ss_reg_ca *ca = NULL;
    ss_error err = ss_trust_ocsp_request(t, leaf, nonce, sizeof nonce, &req, &req_len, &ca);
    if (err)
        return err;
    if (ca->n_ocsp == 0) {
        free(req);
        return ss_errf(SS_ERR_PEER_UNTRUSTED,
                       "approved CA '%s' lists no OCSP responder: the certificate status cannot "
                       "be checked",
                       ca->name);
    }
    err = SS_ERR_PEER_UNTRUSTED;
    for (size_t i = 0; i < ca->n_ocsp && err && err != SS_ERR_CERT_REVOKED; i++) {
        const char *url = ca->ocsp[i].url;
        uint8_t *der = NULL;
        size_t len = 0;
        unsigned timeout_ms = SS_TRUST_OCSP_TIMEOUT * 1000u;
        bool short_of_time = false;
        if (deadline_us) {
            uint64_t now = ss_monotonic_us();
            uint64_t left_ms = now < deadline_us ? (deadline_us - now) / 1000u : 0;
            if (left_ms < timeout_ms) {
                short_of_time = true;
                timeout_ms = (unsigned)left_ms;
            }
            if (timeout_ms == 0) { /* (0 would be no limit at all to libcurl) */
                *cut = true;
                if (i == 0) /* else the last responder's failure says more */
                    err = ss_errf(SS_ERR_PEER_UNTRUSTED,
                                  "OCSP responder %s not asked: the connection's time is up", url);
                break;
            }
        }
        err = ss_upstream_fetch(url, "application/ocsp-request", req, req_len,
                                SS_TRUST_OCSP_MAX_BYTES, timeout_ms, &der, &len);
        if (err == SS_ERR_UPSTREAM_TIMEOUT && short_of_time)
            *cut = true;
        if (err) {
            err = ss_errf(SS_ERR_PEER_UNTRUSTED, "OCSP responder %s: %s", url, ss_errmsg());
            continue;
        }
        err = ss_trust_ocsp_check(t, leaf, der, len, nonce, sizeof nonce, until);
        if (err) {
            err = ss_errf(err, "OCSP responder %s: %s", url, ss_errmsg());
            free(der);
        } else if (answer) {
            *answer = der;
            *answer_len = len;
        } else {
            free(der);
        }
    }
    free(req);
    return err;
}

/* The cached status of the leaf of certs, whose fingerprint goes to fp. */
static ss_error cached_status(const struct ss_trust *t, const struct ss_der *certs, size_t n,
                              uint8_t fp[32], time_t now)
{
    if (n == 0)
        return ss_errf(SS_ERR_PEER_UNTRUSTED, "peer presented no certificate");
    ss_trust_fingerprint(&certs[0], fp);
    return ss_trust_status_lookup(t, fp, now);
}

ss_error ss_trust_check_status_cached(const struct ss_trust *t, const struct ss_der *certs,
                                      size_t n)
{
    uint8_t fp[32];
    return cached_status(t, certs, n, fp, time(NULL));
}

ss_error ss_trust_check_status(const struct ss_trust *t, const struct ss_der *certs, size_t n,
                               uint64_t deadline_us)
{
    uint8_t fp[32];
    time_t now = time(NULL);
    ss_error err = cached_status(t, certs, n, fp, now);
    if (err != SS_ERR_NOT_FOUND)
        return err;
    time_t until = 0;
    bool cut = false;
    err = ask(t, &certs[0], NULL, NULL, &until, deadline_us, &cut);
    if (err) {
        char hex[65];
        ss_hex_sha256_format(fp, hex);
        err = ss_errf(err, "peer certificate %s: %s", hex, ss_errmsg());
        if (!cut || err == SS_ERR_CERT_REVOKED)
            ss_trust_status_store(t, fp, now + SS_TRUST_NEGATIVE_TTL, err, ss_errmsg());
    } else {
        ss_trust_status_store(t, fp, until, SS_OK, "");
    }
    return err;
}

ss_error ss_trust_ocsp_fetch(const struct ss_trust *t, const struct ss_der *leaf, uint8_t **der,
                             size_t *len, time_t *good_until)
{
    *der = NULL;
    *len = 0;
    bool cut;
    return ask(t, leaf, der, len, good_until, 0, &cut);
}
