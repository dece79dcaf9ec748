/*
 * door: what an HTTP request must be before any part of it is used, on
 * both proxies (RFC 9110, RFC 9112). libmicrohttpd reads requests
 * leniently; what it lets through that a register service or another
 * HTTP stack could read differently is refused here, so that no two
 * parties can disagree about where a request ends or which fields it has:
 *   - a method that is not a token, and CONNECT and TRACE; a token other
 *     than GET, HEAD, POST, PUT, PATCH, DELETE and OPTIONS is answered 501;
 *   - an absolute-form target other than an http or https URI with a
 *     host, or with user information (ss_door_target);
 *   - a request target with a control character or a blank; a request
 *     line with more than one blank between its parts or a NUL in its
 *     target (ss_door_layout_line);
 *   - a field name that is not a token (a blank before the colon), a
 *     control character but tab in a value (NUL, bare CR) — checked as
 *     fields arrive, see ss_headers_field_problem;
 *   - Content-Length with Transfer-Encoding, a Content-Length that is not
 *     digits, Content-Length fields that differ, a transfer coding other
 *     than chunked, Transfer-Encoding in an HTTP/1.0 request (whose framing
 *     RFC 9112 section 6.1 makes faulty), and more than one Host field, or
 *     none in an HTTP/1.1 request (RFC 9112 3.2).
 * A refused request is answered 400 and its connection closed.
 *
 * libmicrohttpd 0.9 reads some malformed header sections leniently and
 * leaves no trace of it in the field strings it hands over, only in where
 * they lie. It reads the section in place, in its read buffer: the request
 * line's CRLF becomes NUL NUL, and each line "name:" SP* value CRLF becomes
 *   name NUL SP* value NUL NUL
 * so that the fields, in order, tile the section from the end of the
 * request line to the NUL NUL of the empty line that ends it. Where that
 * tiling breaks, a line was read otherwise:
 *   - an obs-fold continuation (a line that starts with SP or HT) is
 *     appended to the field NAME, which is moved elsewhere in the pool
 *     ("X-A: 1" CRLF " B" is handed over as "X-AB: 1");
 *   - a NUL ends a value early, and a bare LF ends a line: the byte after
 *     the value's NUL is not the NUL that the LF of CRLF became;
 *   - a line without a name (": v") ends the fields handed over, with the
 *     lines after it unread: the section does not end where they do;
 *   - a bare LF ending the last field line or the empty line: the section
 *     is shorter than the tiling (libmicrohttpd counts its bytes from the
 *     request line's first, leading empty lines not counted).
 * RFC 9112 lets a server refuse all of these (5.2: obs-fold with 400; 2.2:
 * a bare LF need not be read as a line end; 5.1: a field name is a token),
 * and the door does (ss_door_layout_*). Should a later libmicrohttpd keep
 * field strings elsewhere, every request is refused: a change the first
 * test shows, never a silent gap.
 */
#ifndef SS_DOOR_H
#define SS_DOOR_H

#include "headers.h"
#include "ss_error.h"

/*
 * The request target as the handlers read it (RFC 9112 3.2). A server must accept the
 * absolute-form ("http://host:port/path?query"), which clients send to a proxy: an http
 * or https URI is reduced to its path and query ("/" for an empty path); its authority is
 * dropped, as the Host field is (secsrv routes by path, never by host). Any other target
 * is kept as received, for the checks after. A malloc'd string; NULL when out of memory or,
 * with *problem set, when an absolute-form target is malformed.
 */
char *ss_door_target(const char *target, size_t len, const char **problem);

/*
 * SS_OK, or SS_ERR_PROTOCOL naming what is wrong (version as received; NULL: HTTP/1.1);
 * SS_ERR_METHOD for a method other than GET, HEAD, POST, PUT, PATCH, DELETE and OPTIONS.
 */
ss_error ss_door_check(const char *method, const char *target, const char *version,
                       const struct ss_headers *h) SS_MUST_CHECK;

/*
 * The tiling above, walked: ss_door_layout_start sets *at, from the
 * request's version string, to where the first field must begin;
 * ss_door_layout_field, for each field in the order handed over (name and
 * value as given, value not NULL), checks it and moves *at to where the
 * next must begin; ss_door_layout_end checks that the section ends at *at,
 * header_size bytes (as libmicrohttpd counts them) after the first byte of
 * the method (the request line's first byte, as handed over).
 * Each returns NULL, or what is wrong (a request line not ended by CRLF,
 * say, for the first).
 */
const char *ss_door_layout_start(const char *version, const char **at);
/*
 * The request line, read in place as "method NUL target NUL version": NULL when the target
 * (target_len bytes as the URI callback saw it, up to its first NUL) and one blank on either
 * side fill the span from the method to the version. libmicrohttpd 0.9 skips extra blanks
 * before the target and takes a NUL in it: the callback would see a shorter target than
 * the one whose arguments it reads.
 */
const char *ss_door_layout_line(const char *method, size_t target_len, const char *version);
const char *ss_door_layout_field(const char **at, const char *name, size_t name_len,
                                 const char *value, size_t value_len);
const char *ss_door_layout_end(const char *at, const char *method, size_t header_size);

#endif
