/*
 * subject: the data-subject reference as the message log keeps it. A
 * request may name the person it concerns (X-Secsrv-Subject: 1 to 256
 * printable ASCII characters without spaces); the log stores only the
 * keyed BLAKE2b-256 of it, keyed with the server's subject key (a file of
 * 64 hex digits), so that a data-protection officer who holds the key can
 * find a person's exchanges while the log holds no identifier in clear.
 */
#ifndef SS_SUBJECT_H
#define SS_SUBJECT_H

#include "ss_error.h"

#include <stdbool.h>
#include <stdint.h>

#define SS_SUBJECT_MAX 256

/* Whether s is a data-subject reference the server accepts. */
bool ss_subject_valid(const char *s);

/* Reads the subject key file (64 hex digits, a newline allowed); wipes what it read. */
ss_error ss_subject_key_read(const char *path, uint8_t key[32]) SS_MUST_CHECK;

/* The keyed hash the log stores for subject. */
void ss_subject_hash(const uint8_t key[32], const char *subject, uint8_t out[32]);

#endif
