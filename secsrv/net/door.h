/*
 * door: what an HTTP request must be before any part of it is used, on
 * both proxies (RFC 9110, RFC 9112). libmicrohttpd reads requests
 * leniently; what it lets through that a register service or another
 * HTTP stack could read differently is refused here, so that no two
 * parties can disagree about where a request ends or which fields it has:
 *   - a method that is not a token, and CONNECT and TRACE;
 *   - a request target with a control character or a blank;
 *   - a field name that is not a token (a blank before the colon), a
 *     control character but tab in a value (NUL, bare CR) — checked as
 *     fields arrive, see ss_headers_field_problem;
 *   - Content-Length with Transfer-Encoding, a Content-Length that is not
 *     digits, Content-Length fields that differ, a transfer coding other
 *     than chunked, Transfer-Encoding in an HTTP/1.0 request (whose framing
 *     RFC 9112 section 6.1 makes faulty), and more than one Host field.
 * A refused request is answered 400 and its connection closed.
 */
#ifndef SS_DOOR_H
#define SS_DOOR_H

#include "headers.h"
#include "ss_error.h"

/* SS_OK, or SS_ERR_PROTOCOL naming what is wrong (version as received; NULL: HTTP/1.1). */
ss_error ss_door_check(const char *method, const char *target, const char *version,
                       const struct ss_headers *h) SS_MUST_CHECK;

#endif
