/*
 * ss_sha256: SHA-256 for every digest secsrv computes (manifests, message
 * and record hashes, hash trees, registry documents, fingerprints). It runs
 * on OpenSSL's implementation, fetched once, which uses the CPU's SHA
 * instructions where there are any; should OpenSSL fail to allocate a
 * context, libsodium computes the same digest, so no caller needs an error
 * path for hashing.
 */
#ifndef SS_SHA256_H
#define SS_SHA256_H

#include <sodium.h>
#include <stddef.h>
#include <stdint.h>

struct evp_md_ctx_st;

struct ss_sha256 {
    struct evp_md_ctx_st *evp; /* NULL: the libsodium state below is used */
    crypto_hash_sha256_state fallback;
};

void ss_sha256(const void *p, size_t n, uint8_t out[32]);

void ss_sha256_init(struct ss_sha256 *h);
void ss_sha256_update(struct ss_sha256 *h, const void *p, size_t n);
/* Writes the digest and releases h. */
void ss_sha256_final(struct ss_sha256 *h, uint8_t out[32]);

#endif
