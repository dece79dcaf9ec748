/* The data-subject reference and its keyed hash (see subject.h). */
#include "subject.h"

#include "ss_hex.h"
#include "ss_xml.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

bool ss_subject_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > SS_SUBJECT_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

ss_error ss_subject_key_read(const char *path, uint8_t key[32])
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
    return ok ? SS_OK
              : ss_errf(SS_ERR_CONFIG,
                        "%s: the subject key must be 64 hex digits (e.g. made with "
                        "'openssl rand -hex 32')",
                        path);
}

void ss_subject_hash(const uint8_t key[32], const char *subject, uint8_t out[32])
{
    crypto_generichash(out, 32, (const unsigned char *)subject, strlen(subject), key, 32);
}
