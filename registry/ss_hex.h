/*
 * ss_hex: hexadecimal digits and SHA-256 fingerprints as text, one
 * implementation for every place that reads or writes them (percent
 * escapes, registry pins, configuration bindings, log lines).
 */
#ifndef SS_HEX_H
#define SS_HEX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The value of one hex digit (either case), or -1. */
int ss_hex_digit(char c);
/*
 * Parses a SHA-256 fingerprint: exactly 64 hex digits, either case, with
 * optional ':' separators (as `openssl x509 -fingerprint` prints them).
 */
bool ss_hex_sha256_parse(const char *hex, uint8_t out[32]);
/* Writes 64 lower-case hex digits and a NUL. */
void ss_hex_sha256_format(const uint8_t in[32], char out[65]);
/*
 * Percent-decodes src[0..n) (RFC 3986 2.1) into dst, NUL-terminated; '+'
 * becomes a space when plus_space (HTML form data). The decoded length, or
 * -1 for a truncated or malformed escape or when it does not fit in size.
 */
long ss_hex_percent_decode(const char *src, size_t n, bool plus_space, char *dst, size_t size);

#endif
