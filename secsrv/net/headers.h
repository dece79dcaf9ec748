/*
 * headers: an ordered list of HTTP header fields (name, value), owned
 * copies, with a maximum count and total size so no peer can grow it
 * without bound. Look-ups are case-insensitive on the name.
 */
#ifndef SS_HEADERS_H
#define SS_HEADERS_H

#include "arena.h"
#include "ss_error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The most header fields an answer has: one read from upstream, one sent. */
#define SS_ANSWER_FIELDS_MAX 256

struct ss_header {
    char *name;
    char *value;
};

struct ss_headers {
    struct ss_header *items;
    struct ss_arena strings; /* the names and values, freed together */
    size_t n, cap;
    size_t bytes;     /* sum of name and value lengths */
    size_t max_count; /* 0 = unbounded by count */
    size_t max_bytes; /* 0 = unbounded by size */
};

void ss_headers_init(struct ss_headers *h, size_t max_count, size_t max_bytes);
void ss_headers_cleanup(struct ss_headers *h);
/* Appends a copy; SS_ERR_LIMIT when a maximum would be passed. */
ss_error ss_headers_add(struct ss_headers *h, const char *name, const char *value) SS_MUST_CHECK;
ss_error ss_headers_addn(struct ss_headers *h, const char *name, size_t name_len, const char *value,
                         size_t value_len) SS_MUST_CHECK;
/* The value of the last field named name, or NULL. */
const char *ss_headers_get(const struct ss_headers *h, const char *name);
/* Number of fields named name. */
size_t ss_headers_count(const struct ss_headers *h, const char *name);
/* True if c may appear in a field name (an RFC 9110 token character). */
bool ss_headers_token_char(char c);
/* The length a message's Content-Length fields give (UINT64_MAX when larger): true when it has
 * one or more and all are the same run of digits (as the door lets requests in). */
bool ss_headers_content_length(const struct ss_headers *h, uint64_t *out);
/* Drops the blanks (SP, HTAB) before and after a field value: they are not part of it
 * (RFC 9110 5.5). */
void ss_headers_value_trim(const char **value, size_t *len);
/*
 * Why name: value is not a field RFC 9110 allows, or NULL when it is: the
 * name must be a token (no blank before the colon), the value may hold no
 * control character but tab (no NUL, no bare CR or LF).
 */
const char *ss_headers_field_problem(const char *name, size_t name_len, const char *value,
                                     size_t value_len);
/* Removes every field named name. */
void ss_headers_remove(struct ss_headers *h, const char *name);

#endif
