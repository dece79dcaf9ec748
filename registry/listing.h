/*
 * listing: prints a parsed registry for people (aligned text, members
 * grouped by state) or for programs (one JSON document). Certificates are
 * decoded to show their subject and validity. The JSON output escapes every
 * string, including names and certificate subjects, and replaces bytes that
 * are not UTF-8; it never fails half-way on content, only on a write error.
 */
#ifndef SS_LISTING_H
#define SS_LISTING_H

#include "registry.h"
#include "ss_error.h"

#include <stdio.h>
#include <time.h>

/* Human-readable listing; now decides whether "expired" is shown. */
ss_error ss_listing_text(FILE *out, const char *name, const struct ss_registry *reg,
                         time_t now) SS_MUST_CHECK SS_NONNULL(1, 2, 3);

/* One JSON object describing everything in reg. */
ss_error ss_listing_json(FILE *out, const char *name, const struct ss_registry *reg,
                         time_t now) SS_MUST_CHECK SS_NONNULL(1, 2, 3);

#endif
