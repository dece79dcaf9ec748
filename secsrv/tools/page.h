/*
 * page: an answer being written, a growable buffer with a maximum, and
 * the writers that put untrusted text into it escaped for where it
 * stands: element text and double-quoted attribute values (page_text),
 * raw bytes shown as text (page_bytes: what is not UTF-8 or is a control
 * character becomes \xNN), a query-string component (page_url) and a JSON
 * string (page_json, with < > & escaped too). Whatever came from a log, a
 * registry or a request goes through one of them; page_raw is for the
 * page's own markup and numbers only. Past the maximum the page fails
 * (page->failed) and takes nothing more.
 */
#ifndef SS_PAGE_H
#define SS_PAGE_H

#include "ss_error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ss_page {
    char *data;
    size_t len, cap, max;
    bool failed;
    bool sensitive; /* holds secrets: every copy left behind (growth, cleanup) is wiped */
};

void ss_page_init(struct ss_page *p, size_t max);
void ss_page_cleanup(struct ss_page *p);
/* Takes the page's bytes (malloc'd; the page is empty after); NULL when it failed. */
char *ss_page_take(struct ss_page *p, size_t *len);

void ss_page_raw(struct ss_page *p, const char *fmt, ...) SS_PRINTF(2, 3);
void ss_page_text(struct ss_page *p, const char *s);
void ss_page_bytes(struct ss_page *p, const uint8_t *s, size_t n);
void ss_page_url(struct ss_page *p, const char *s);
void ss_page_json(struct ss_page *p, const char *s);

#endif
