/*
 * Fuzz target for the reader that finds the SOAP envelope in an HTTP body
 * (secsrv/protocol/mime.c). The input's first line is the Content-Type,
 * the rest the body. Whatever it accepts must hold what the reader
 * promises:
 *
 *   - the envelope lies inside the body, and a text/xml body is all of it;
 *   - in a multipart body the envelope follows an empty line (the end of
 *     its part's header) and is followed by a line break and "--boundary",
 *     CRLF or a bare LF as the body says, and a body of bare LFs has no
 *     "--boundary" after a CRLF (where a parser of CRLFs would split it);
 *   - there are between 1 and SS_MIME_MAX_PARTS parts.
 *
 * A refusal must be SS_ERR_PROTOCOL or SS_ERR_LIMIT with a reason. The
 * parameter reader's values are NUL-terminated inside their buffers.
 * corpus/mime/ holds the protocol's attachment and MTOM examples.
 */
#include "mime.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what)
{
    fprintf(stderr, "fuzz_mime: %s\n", what);
    abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t ct_len = nl ? (size_t)(nl - data) : size;
    char *ct = malloc(ct_len + 1);
    if (!ct)
        return 0;
    memcpy(ct, data, ct_len);
    ct[ct_len] = '\0';
    const uint8_t *body = nl ? nl + 1 : data + size;
    size_t len = size - (size_t)(body - data);

    char media[128], boundary[80];
    if (ss_mime_media_type(ct, media, sizeof media) && strlen(media) >= sizeof media)
        die("a media type longer than its buffer");
    bool has_boundary = ss_mime_param(ct, "boundary", boundary, sizeof boundary);
    if (has_boundary && strlen(boundary) >= sizeof boundary)
        die("a parameter longer than its buffer");

    struct ss_mime_soap s;
    ss_error err = ss_mime_soap_locate(ct, body, len, &s);
    if (err) {
        if ((err != SS_ERR_PROTOCOL && err != SS_ERR_LIMIT) || !ss_errmsg()[0])
            die("a refusal with an unexpected code or no reason");
        free(ct);
        return 0;
    }
    if (s.start > len || s.len > len - s.start)
        die("the envelope lies outside the body");
    if (s.parts < 1 || s.parts > SS_MIME_MAX_PARTS)
        die("a part count outside its limits");
    if (!s.multipart) {
        if (s.start != 0 || s.len != len)
            die("a text/xml envelope that is not the whole body");
    } else {
        if (!has_boundary)
            die("a multipart body read without a boundary");
        size_t b = strlen(boundary);
        const char *brk = s.bare_lf ? "\n" : "\r\n";
        size_t eol = strlen(brk);
        if (s.start < eol || memcmp(body + s.start - eol, brk, eol) != 0 ||
            (s.bare_lf && s.start >= 2 && body[s.start - 2] == '\r'))
            die("a SOAP part that does not follow its header's end");
        size_t end = s.start + s.len;
        if (end + eol + 2 + b > len || memcmp(body + end, brk, eol) != 0 ||
            memcmp(body + end + eol, "--", 2) != 0 ||
            memcmp(body + end + eol + 2, boundary, b) != 0)
            die("a SOAP part not followed by a delimiter");
        for (size_t i = 0; s.bare_lf && i + 4 + b <= len; i++)
            if (memcmp(body + i, "\r\n--", 4) == 0 && memcmp(body + i + 4, boundary, b) == 0)
                die("a body of bare LFs with a delimiter after CRLF");
    }
    free(ct);
    return 0;
}
