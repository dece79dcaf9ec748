/*
 * form: the fields of a request target's query string and of an
 * application/x-www-form-urlencoded body (the console's forms), read
 * strictly from untrusted bytes (WHATWG's application/x-www-form-urlencoded
 * parser, less what it would guess at): empty sequences between '&' are
 * skipped; at most SS_FORM_MAX_FIELDS fields, each
 * name 1 to 31 of [A-Za-z0-9_-] and given once, each value
 * percent-decoded ('+' a space) to at most SS_FORM_MAX_VALUE bytes of
 * UTF-8 without control characters. Anything else is an error naming the
 * field, never a guess.
 */
#ifndef SS_FORM_H
#define SS_FORM_H

#include "ss_error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SS_FORM_MAX_FIELDS 24
#define SS_FORM_MAX_VALUE 1024
#define SS_FORM_MAX_BYTES (SS_FORM_MAX_FIELDS * (3 * SS_FORM_MAX_VALUE + 34))

struct ss_form {
    struct ss_form_field {
        char name[32];
        char *value; /* NUL-terminated, in storage */
    } fields[SS_FORM_MAX_FIELDS];
    size_t n;
    char *storage;
    size_t storage_len;
};

/* Reads data (len bytes, the part after '?' of a target, or a body). SS_ERR_PROTOCOL on bad
 * input, with ss_errmsg() naming what; out is empty then. */
ss_error ss_form_parse(const char *data, size_t len, struct ss_form *out) SS_MUST_CHECK;
/* The value of name, or NULL when the form has none. */
const char *ss_form_get(const struct ss_form *f, const char *name);
/* Frees the values (wiping them: a form may carry a key). */
void ss_form_cleanup(struct ss_form *f);

/* UTC "YYYY-MM-DD" (midnight) or "YYYY-MM-DDTHH:MM:SSZ", exactly, as ms since the epoch. */
bool ss_form_time(const char *s, int64_t *ms);

#endif
