/*
 * Fuzzes the REST request-target parser, the checks applied to the
 * request headers secsrv defines (purpose, subject) and the Accept field's
 * reading for the form of an error answer.
 */
#define _GNU_SOURCE /* strcasestr */
#include "rest.h"
#include "fuzz_text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_text(data, size);
    if (!s)
        return 0;
    struct ss_rest_target t;
    if (ss_rest_parse_target(s, size, 128, &t) == SS_OK) {
        /* the parts a parse yields lie inside the input */
        if (t.path < s || t.path + t.path_len > s + size || t.query + t.query_len != s + size)
            abort();
    }
    size_t n = strlen(s);
    if (ss_rest_check_purpose(s) == SS_OK && (n == 0 || n > SS_PURPOSE_MAX))
        abort();
    if (ss_rest_check_subject(s) == SS_OK && (n == 0 || n > SS_SUBJECT_MAX))
        abort();
    /* the input as an Accept field: an error answer's form is one of three, and XML only
     * when the field names an XML type or a range of types */
    struct ss_headers h;
    ss_headers_init(&h, 0, 0);
    if (ss_headers_add(&h, "Accept", s) == SS_OK) {
        const char *media = ss_rest_error_media(&h);
        if (media && strcmp(media, "text/xml") != 0 && strcmp(media, "application/xml") != 0)
            abort();
        if (media && !strcasestr(s, "xml") && !strchr(s, '*'))
            abort();
    }
    ss_headers_cleanup(&h);
    free(s);
    return 0;
}
