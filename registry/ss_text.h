/*
 * ss_text: a growing text buffer for what secsrv and its tools write
 * themselves (SOAP faults, metaservice answers, evidence packages' commands),
 * with XML and JSON escaping. Once an append fails for want of memory the
 * buffer stays failed; ss_text_take reports it.
 */
#ifndef SS_TEXT_H
#define SS_TEXT_H

#include "ss_error.h"

#include <stdbool.h>
#include <stddef.h>

struct ss_text {
    char *p;
    size_t len, cap;
    bool failed;
};

void ss_text_put(struct ss_text *t, const char *s, size_t n);
void ss_text_puts(struct ss_text *t, const char *s);
/* fmt and its arguments, as printf writes them, however long. */
void ss_text_printf(struct ss_text *t, const char *fmt, ...) SS_PRINTF(2, 3);
/*
 * s as XML character data or attribute value: control characters but tab
 * and LF dropped, a byte that is not part of valid UTF-8 written as '?'
 */
void ss_text_xml(struct ss_text *t, const char *s);
/* <name>s</name>, s written as ss_text_xml writes it */
void ss_text_element(struct ss_text *t, const char *name, const char *s);
/* s (UTF-8) as the inside of a JSON string; control characters and DEL as \u00XX */
void ss_text_json(struct ss_text *t, const char *s);
/* How many of the n bytes at s are valid UTF-8 from the start (n: all of them). */
size_t ss_text_utf8_end(const char *s, size_t n);
/* Hands the text (NUL-terminated, malloc'd) to the caller; SS_ERR_NOMEM if an append failed. */
ss_error ss_text_take(struct ss_text *t, char **out, size_t *len) SS_MUST_CHECK;

#endif
