#include "ss_sha256.h"

#include <openssl/evp.h>
#include <pthread.h>

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void fetch(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *md(void)
{
    pthread_once(&sha256_once, fetch);
    return sha256_md;
}

void ss_sha256(const void *p, size_t n, uint8_t out[32])
{
    const EVP_MD *m = md();
    unsigned int len = 0;
    if (m && EVP_Digest(p, n, out, &len, m, NULL) == 1 && len == 32)
        return;
    crypto_hash_sha256(out, p, n);
}

void ss_sha256_init(struct ss_sha256 *h)
{
    const EVP_MD *m = md();
    h->evp = m ? EVP_MD_CTX_new() : NULL;
    if (h->evp && EVP_DigestInit_ex2(h->evp, m, NULL) == 1)
        return;
    EVP_MD_CTX_free(h->evp);
    h->evp = NULL;
    crypto_hash_sha256_init(&h->fallback);
}

void ss_sha256_update(struct ss_sha256 *h, const void *p, size_t n)
{
    if (!n)
        return;
    if (h->evp) {
        /* SHA-256 in OpenSSL's default provider cannot fail on valid input */
        (void)EVP_DigestUpdate(h->evp, p, n);
        return;
    }
    crypto_hash_sha256_update(&h->fallback, p, n);
}

void ss_sha256_final(struct ss_sha256 *h, uint8_t out[32])
{
    if (h->evp) {
        unsigned int len = 0;
        (void)EVP_DigestFinal_ex(h->evp, out, &len);
        EVP_MD_CTX_free(h->evp);
        h->evp = NULL;
        return;
    }
    crypto_hash_sha256_final(&h->fallback, out);
}
