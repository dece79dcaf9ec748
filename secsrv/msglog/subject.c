/* The data-subject reference and its keyed hash (see subject.h). */
#include "subject.h"

#include "keys.h"
#include "ss_id.h"

#include <sodium.h>
#include <string.h>

bool ss_subject_valid(const char *s)
{
    return ss_visible_ascii(s, strnlen(s, SS_SUBJECT_MAX + 1), SS_SUBJECT_MAX);
}

ss_error ss_subject_key_read(const char *path, uint8_t key[32])
{
    ss_error err = ss_key_file_read(path, "subject key", key);
    return err == SS_ERR_CONFIG
               ? ss_errf(err, "%s (e.g. made with 'openssl rand -hex 32')", ss_errmsg())
               : err;
}

void ss_subject_hash(const uint8_t key[32], const char *subject, uint8_t out[32])
{
    crypto_generichash(out, 32, (const unsigned char *)subject, strlen(subject), key, 32);
}
