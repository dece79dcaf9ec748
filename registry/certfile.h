/*
 * certfile: X.509 certificates as the registry authority's tool handles
 * them. Reads exactly one certificate from a PEM or DER file and returns its
 * DER bytes; derives what the registry stores or shows from DER: the
 * lowercase hex SHA-256 fingerprint, base64 text, subject and validity.
 * Every function checks that the bytes really are one DER certificate and
 * nothing else, and reports a readable reason through ss_errf().
 */
#ifndef SS_CERTFILE_H
#define SS_CERTFILE_H

#include "ss_error.h"

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SS_CERTFILE_MAX_BYTES (1u << 20)
#define SS_CERTFILE_SUBJECT_MAX 512

struct ss_cert_info {
    char subject[SS_CERTFILE_SUBJECT_MAX]; /* RFC 2253 form, UTF-8, may be truncated */
    char issuer[SS_CERTFILE_SUBJECT_MAX];  /* likewise */
    char serial[100];                      /* hex */
    time_t not_before;
    time_t not_after;
};

/* Reads the one certificate in path (PEM or DER) into *der (malloc'd). */
ss_error ss_certfile_read(const char *path, uint8_t **der, size_t *len) SS_MUST_CHECK
    SS_NONNULL(1, 2, 3);
/* As ss_certfile_read, for a file that may hold a chain: its first certificate. */
ss_error ss_certfile_read_first(const char *path, uint8_t **der, size_t *len) SS_MUST_CHECK
    SS_NONNULL(1, 2, 3);

/* OpenSSL's certificate and BIO types, for the modules that already use OpenSSL. */
struct x509_st;
struct bio_st;

/*
 * The detached content of a CMS signature, as a BIO for CMS_verify (free
 * it with BIO_free_all). Not a bare memory BIO: OpenSSL 3.0's CMS_verify
 * copies those and leaks the copy when the signature is malformed.
 */
struct bio_st *ss_certfile_cms_content(const void *data, size_t len);
/* Parses der[0..len) as exactly one certificate; NULL if it is not. */
struct x509_st *ss_certfile_x509(const uint8_t *der, size_t len);
/* The first certificate of a PEM or DER file (a chain is allowed), parsed. */
ss_error ss_certfile_load_first(const char *path, struct x509_st **out) SS_MUST_CHECK
    SS_NONNULL(1, 2);

/* Writes the SHA-256 of der as 64 lowercase hex digits plus NUL. */
ss_error ss_certfile_sha256_hex(const uint8_t *der, size_t len, char out[65]) SS_MUST_CHECK
    SS_NONNULL(1, 3);

/* Base64 of der on one line, NUL-terminated, malloc'd into *out. */
ss_error ss_certfile_base64(const uint8_t *der, size_t len, char **out) SS_MUST_CHECK
    SS_NONNULL(1, 3);

/* Subject, issuer, serial number and validity period of the DER certificate. */
ss_error ss_certfile_describe(const uint8_t *der, size_t len,
                              struct ss_cert_info *info) SS_MUST_CHECK SS_NONNULL(1, 3);

#endif
