/*
 * keys: the small key files of the message log and sealing to the DPO.
 *
 * A key file holds 64 hex digits (32 bytes) and perhaps a newline: the
 * subject key (keys the data-subject hash), and the data-protection
 * officer's X25519 key pair for confidentiality at rest. When the server's
 * configuration names the DPO's public key ([log] dpo_public_key), the
 * logger stores each message as a libsodium sealed box to it
 * (crypto_box_seal: an ephemeral X25519 key, XSalsa20-Poly1305), so that
 * the server cannot read back what it logged; only the holder of the secret
 * key (secsrv-log show --secret-key) can. Secrets are read into guarded
 * memory (sodium_malloc) and wiped after use.
 */
#ifndef SS_KEYS_H
#define SS_KEYS_H

#include "ss_error.h"

#include <stddef.h>
#include <stdint.h>

#define SS_SEAL_OVERHEAD 48 /* bytes a sealed box adds (crypto_box_SEALBYTES) */

/* Reads a key file of 64 hex digits into key; what names it in errors. Wipes what it read. */
ss_error ss_key_file_read(const char *path, const char *what, uint8_t key[32]) SS_MUST_CHECK;

/* Writes key as 64 hex digits and a newline to a new file of mode mode (it must not exist). */
ss_error ss_key_file_write(const char *path, const uint8_t key[32], unsigned mode) SS_MUST_CHECK;

/* A new DPO key pair: the secret key to secret_path (0600), the public one to public_path. */
ss_error ss_dpo_keygen(const char *secret_path, const char *public_path) SS_MUST_CHECK;

/* The DPO's secret key in guarded memory (free with ss_dpo_secret_free), and its public key. */
ss_error ss_dpo_secret_read(const char *path, uint8_t **secret,
                            uint8_t public_key[32]) SS_MUST_CHECK;
void ss_dpo_secret_free(uint8_t *secret);

/* Seals len bytes to public_key: *out (malloc'd) holds len + SS_SEAL_OVERHEAD bytes. */
ss_error ss_dpo_seal(const uint8_t public_key[32], const uint8_t *msg, size_t len, uint8_t **out,
                     size_t *out_len) SS_MUST_CHECK;

/*
 * Opens a sealed box; *out (sodium_malloc'd: free with ss_dpo_plain_free,
 * which wipes it) holds the message. SS_ERR_BAD_SIGNATURE when the key does
 * not open it (another key, or the box was changed).
 */
ss_error ss_dpo_open(const uint8_t public_key[32], const uint8_t *secret, const uint8_t *box,
                     size_t len, uint8_t **out, size_t *out_len) SS_MUST_CHECK;
void ss_dpo_plain_free(uint8_t *plain, size_t len);

#endif
