/*
 * tsp: RFC 3161 time-stamp requests and their verification, without any
 * network (the caller carries the bytes to the TSA and back). A request asks
 * for a token over a 32-byte digest (the root of a batch's hash tree) with
 * the imprint algorithm SHA-256, a fresh 128-bit nonce and certReq TRUE.
 * A token is accepted only if it is signed by one of the TSA certificates
 * the caller pins (as the members registry lists them), that certificate
 * carries the critical timeStamping EKU and chains to the CA certificates
 * given with it as of the token's genTime, and the imprint (and nonce, when
 * asked) match. Every refusal has a reason through ss_errf(). No state is
 * kept: the functions are safe to call from any thread.
 */
#ifndef SS_TSP_H
#define SS_TSP_H

#include "ss_error.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SS_TSP_RESPONSE_MAX 65536 /* bytes of a TimeStampResp or token we read */
#define SS_TSP_NONCE_LEN 16       /* bytes of the nonce ss_tsp_request makes */
#define SS_TSP_NONCE_MAX 64       /* longest nonce ss_tsp_verify compares */
#define SS_TSP_SERIAL_MAX 32      /* bytes of a serial number we accept (RFC: >= 20) */

/* A DER certificate, borrowed. */
struct ss_tsp_cert {
    const uint8_t *der;
    size_t len;
};

/*
 * One TSA a token may come from: its certificate as pinned (the signer must
 * be exactly this certificate), and the CA certificates that its chain
 * needs, all trusted as given (intermediate and root; order is free). With
 * n_cas == 0 the pinned certificate is itself the trust anchor: its validity
 * and purpose are still checked, but no issuer. Everything is borrowed.
 */
struct ss_tsp_authority {
    struct ss_tsp_cert cert;
    const struct ss_tsp_cert *cas;
    size_t n_cas;
};

/* What a verified token says. */
struct ss_tsp_token {
    time_t gen_time;                        /* genTime, UTC, fractions dropped */
    char serial[2 * SS_TSP_SERIAL_MAX + 1]; /* serialNumber, lowercase hex, no leading zeros */
    size_t tsa;                             /* index into the authorities of the signer */
    uint8_t *der;                           /* the TimeStampToken alone, exact bytes (malloc'd) */
    size_t len;
};

/*
 * Makes a DER TimeStampReq (version 1, messageImprint {sha256, digest},
 * a fresh random nonce written to nonce, certReq TRUE, no policy) into
 * *der (malloc'd, *len bytes).
 */
ss_error ss_tsp_request(const uint8_t digest[32], uint8_t nonce[SS_TSP_NONCE_LEN], uint8_t **der,
                        size_t *len) SS_MUST_CHECK SS_NONNULL(1, 2, 3, 4);

/*
 * Verifies a DER TimeStampResp as a TSA answers it over HTTP: the status must
 * be granted or grantedWithMods, and the token in it must verify as with
 * ss_tsp_verify_token. nonce (nonce_len bytes, big-endian, as
 * ss_tsp_request made it) must equal the token's nonce; NULL skips that
 * check. On success fills *out (release it with ss_tsp_token_cleanup);
 * on failure *out holds nothing to free.
 *
 * Errors: SS_ERR_TOO_LARGE (over SS_TSP_RESPONSE_MAX), SS_ERR_PROTOCOL (not
 * exactly one DER TimeStampResp, or a token that does not answer this
 * request: imprint, nonce, version), SS_ERR_UPSTREAM (the TSA declined:
 * status other than granted), SS_ERR_BAD_SIGNATURE (signer not a listed TSA,
 * signature or ESS signing certificate wrong), SS_ERR_BAD_CERTIFICATE (the
 * listed TSA certificate is unusable: no critical timeStamping EKU, or no
 * valid chain to its CAs at genTime), SS_ERR_NOMEM, SS_ERR_INTERNAL (bad
 * arguments).
 */
ss_error ss_tsp_verify(const uint8_t *resp, size_t resp_len, const uint8_t digest[32],
                       const uint8_t *nonce, size_t nonce_len, const struct ss_tsp_authority *tsas,
                       size_t n_tsas, struct ss_tsp_token *out) SS_MUST_CHECK SS_NONNULL(3, 8);

/*
 * The same for a bare TimeStampToken (a DER CMS SignedData over a TSTInfo),
 * as ss_tsp_token.der stores it; `openssl ts -verify -token_in` reads the
 * same bytes. A TimeStampResp is refused here, and a token by
 * ss_tsp_verify: the caller says which one it holds.
 */
ss_error ss_tsp_verify_token(const uint8_t *token, size_t token_len, const uint8_t digest[32],
                             const uint8_t *nonce, size_t nonce_len,
                             const struct ss_tsp_authority *tsas, size_t n_tsas,
                             struct ss_tsp_token *out) SS_MUST_CHECK SS_NONNULL(3, 8);

/* Frees what *t holds and clears it; NULL and a cleared token are fine. */
void ss_tsp_token_cleanup(struct ss_tsp_token *t);

#endif
