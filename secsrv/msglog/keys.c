/* Key files and sealing to the DPO (see keys.h). */
#include "keys.h"

#include "ss_hex.h"
#include "ss_xml.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

ss_error ss_key_file_read(const char *path, const char *what, uint8_t key[32])
{
    uint8_t *buf = NULL;
    size_t len = 0;
    ss_error err = ss_file_read(path, 4096, &buf, &len);
    if (err)
        return err;
    size_t size = len;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    bool ok = len == 64;
    for (size_t i = 0; ok && i < 64; i++)
        ok = ss_hex_digit((char)buf[i]) >= 0;
    if (ok)
        ok = ss_hex_sha256_parse((const char *)buf, key);
    sodium_memzero(buf, size);
    free(buf);
    return ok ? SS_OK : ss_errf(SS_ERR_CONFIG, "%s: the %s must be 64 hex digits", path, what);
}

ss_error ss_key_file_write(const char *path, const uint8_t key[32], unsigned mode)
{
    char hex[66];
    ss_hex_sha256_format(key, hex);
    hex[64] = '\n';
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
    ss_error err = SS_OK;
    if (fd < 0 || write(fd, hex, 65) != 65 || fsync(fd) != 0)
        err = ss_errf(SS_ERR_IO, "%s: cannot write the key: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    sodium_memzero(hex, sizeof hex);
    return err;
}

ss_error ss_dpo_keygen(const char *secret_path, const char *public_path)
{
    uint8_t pk[crypto_box_PUBLICKEYBYTES];
    uint8_t *sk = sodium_malloc(crypto_box_SECRETKEYBYTES);
    if (!sk)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    crypto_box_keypair(pk, sk);
    ss_error err = ss_key_file_write(secret_path, sk, 0600);
    if (!err && (err = ss_key_file_write(public_path, pk, 0644)))
        (void)unlink(secret_path);
    sodium_free(sk);
    return err;
}

ss_error ss_dpo_secret_read(const char *path, uint8_t **secret, uint8_t public_key[32])
{
    *secret = sodium_malloc(crypto_box_SECRETKEYBYTES);
    if (!*secret)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    ss_error err = ss_key_file_read(path, "DPO secret key", *secret);
    if (!err && crypto_scalarmult_base(public_key, *secret) != 0)
        err = ss_errf(SS_ERR_CONFIG, "%s: not a usable X25519 secret key", path);
    if (err) {
        sodium_free(*secret);
        *secret = NULL;
    }
    return err;
}

void ss_dpo_secret_free(uint8_t *secret)
{
    sodium_free(secret); /* wipes it */
}

ss_error ss_dpo_seal(const uint8_t public_key[32], const uint8_t *msg, size_t len, uint8_t **out,
                     size_t *out_len)
{
    *out = malloc(len + crypto_box_SEALBYTES);
    *out_len = 0;
    if (!*out)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    if (crypto_box_seal(*out, msg, len, public_key) != 0) {
        free(*out);
        *out = NULL;
        return ss_errf(SS_ERR_CRYPTO, "cannot seal the message to the DPO's key");
    }
    *out_len = len + crypto_box_SEALBYTES;
    return SS_OK;
}

ss_error ss_dpo_open(const uint8_t public_key[32], const uint8_t *secret, const uint8_t *box,
                     size_t len, uint8_t **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (len < crypto_box_SEALBYTES)
        return ss_errf(SS_ERR_BAD_SIGNATURE, "a sealed message shorter than a sealed box");
    size_t n = len - crypto_box_SEALBYTES;
    uint8_t *plain = sodium_malloc(n ? n : 1);
    if (!plain)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    if (crypto_box_seal_open(plain, box, len, public_key, secret) != 0) {
        sodium_free(plain);
        return ss_errf(SS_ERR_BAD_SIGNATURE,
                       "the secret key does not open the sealed message (another key?)");
    }
    *out = plain;
    *out_len = n;
    return SS_OK;
}

void ss_dpo_plain_free(uint8_t *plain, size_t len)
{
    (void)len;
    sodium_free(plain); /* wipes it */
}
