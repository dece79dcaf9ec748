/*
 * mime: where the SOAP envelope lies in an HTTP body, read from the raw
 * bytes and never rewritten.
 *
 * A body of Content-Type text/xml is the envelope. A body of Content-Type
 * multipart/related (SOAP with attachments, MTOM/XOP) is read as RFC 2046
 * says, strictly: every delimiter "--boundary" at the start of a line
 * ended by CRLF, part headers of CRLF-ended lines closed by an empty one,
 * at most SS_MIME_MAX_PARTS parts and SS_MIME_MAX_PART_HEADERS header
 * lines a part, and a close delimiter "--boundary--". A body whose lines
 * all end with a bare LF instead, around its delimiters and in its part
 * headers, is read the same way with LF for CRLF, as X-Road reads it;
 * one that mixes the two is refused (other parsers would split it into
 * other parts). Two more leniencies X-Road's own messages need, neither
 * of which lets two parsers find other parts: part header fields may be
 * folded (RFC 5322), and a body may end with a delimiter that lacks the
 * close delimiter's "--". Refused, because parsers would read them apart:
 * a line of blanks alone in a part header, a fold inside the value of a
 * Content-Type, Content-ID or Content-Transfer-Encoding (one right after
 * the colon, as Axis2 writes it, is read alike by all), blanks after a
 * Content-ID, and a byte order mark before the first delimiter. The SOAP
 * part must be the first (the X-Road message protocol 4.0, section 2.4):
 * when the start parameter names a root, the first part's Content-ID must be it.
 * Its Content-Type is text/xml, or application/xop+xml for MTOM, with
 * Content-Transfer-Encoding 8bit, 7bit or binary (or none). The other
 * parts are left as they are: they are covered by the signature and the
 * log because the whole body is.
 */
#ifndef SS_MIME_H
#define SS_MIME_H

#include "ss_error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SS_MIME_MAX_PARTS 256
#define SS_MIME_MAX_PART_HEADERS 32
#define SS_MIME_MAX_HEADER_LINE 1024

struct ss_mime_soap {
    size_t start, len; /* the envelope's bytes in the body */
    size_t parts;      /* 1 for text/xml */
    bool multipart;
    bool mtom;    /* the SOAP part is application/xop+xml */
    bool bare_lf; /* its lines end with a bare LF, not CRLF */
    char charset[32]; /* its charset parameter as given ("": none); the SOAP parser judges it */
};

/*
 * Finds the envelope in body[0..len) sent with content_type (NULL: none).
 * SS_ERR_PROTOCOL with a reason naming what was wrong, SS_ERR_LIMIT past
 * the limits above.
 */
ss_error ss_mime_soap_locate(const char *content_type, const uint8_t *body, size_t len,
                             struct ss_mime_soap *out) SS_MUST_CHECK SS_NONNULL(4);

/* True when content_type names a SOAP 1.1 message (text/xml or multipart/related). */
bool ss_mime_is_soap(const char *content_type);

/*
 * The value of parameter name of a Content-Type value (token or quoted
 * string, unquoted) into out; false when absent, malformed or too long.
 * media gets the media type in lower case when not NULL.
 */
bool ss_mime_param(const char *content_type, const char *name, char *out, size_t size);
bool ss_mime_media_type(const char *content_type, char *out, size_t size);

#endif
