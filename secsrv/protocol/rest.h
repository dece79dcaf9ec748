/*
 * rest: the X-Road message protocol for REST, as pure functions on bytes.
 * Parses the request target /r1/INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE
 * [/path][?query] (each identifier part percent-decoded on its own and
 * checked), decides which header fields pass end to end, and computes the
 * request hash that binds a response to its request (the evidence fields
 * left out, as they are added after it):
 * base64(SHA-512(SHA-512(headers) || SHA-512(body))), or base64(SHA-512(
 * headers)) without a body, where headers is the request line and every
 * field as transmitted between the servers except the hop-by-hop ones
 * (ss_rest_header_filtered), "name: value\r\n" each, names in lower case.
 */
#ifndef SS_REST_H
#define SS_REST_H

#include "headers.h"
#include "ss_error.h"
#include "policy.h"
#include "ss_id.h"
#include "subject.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The request headers secsrv defines for once-only exchanges. */
#define SS_HDR_PURPOSE "X-Secsrv-Purpose" /* purpose / legal-basis code */
#define SS_HDR_SUBJECT "X-Secsrv-Subject" /* reference to the person concerned */
#define SS_PURPOSE_MAX SS_POLICY_PURPOSE_MAX
#define SS_REQUEST_HASH_B64 89 /* base64 of 64 bytes + NUL */

struct ss_rest_target {
    struct ss_service_id service;
    const char *path; /* into the target: "" or "/..." (raw, not decoded) */
    size_t path_len;
    const char *query; /* into the target: "" or "?..." (raw) */
    size_t query_len;
};

/* Parses a raw request target. max_id bounds each identifier part. */
ss_error ss_rest_parse_target(const char *target, size_t len, size_t max_id,
                              struct ss_rest_target *out) SS_MUST_CHECK SS_NONNULL(1, 4);

/* True if a field of this name is hop-by-hop or must not leak (Host, Server...). */
bool ss_rest_header_filtered(const char *name);
/* True for the fields that carry a message's evidence between servers (envelope.h). */
bool ss_rest_header_evidence(const char *name);
/* True if the field is one secsrv sets itself (X-Road-Request-Hash, the evidence fields, ...). */
bool ss_rest_header_reserved(const char *name);

/* True if any Connection field of h lists name (RFC 9110 7.6.1: every one counts, and the
 * fields it names are hop-by-hop). */
bool ss_rest_named_by_connection(const struct ss_headers *h, const char *name);

/*
 * Copies the end-to-end request fields of in to out: drops filtered and
 * reserved fields, and those the Connection field names.
 */
ss_error ss_rest_copy_end_to_end(const struct ss_headers *in, struct ss_headers *out) SS_MUST_CHECK;

/*
 * Refuses header fields that would let the value secsrv checks differ from
 * the value that is forwarded: more than one X-Road-* or X-Secsrv-* field
 * of a name (X-Road-Client among them: with two, a filter in front of secsrv
 * and secsrv could each act for another client), and a Connection field
 * naming any of them (which would strip it after the check).
 */
ss_error ss_rest_check_fields(const struct ss_headers *fields) SS_MUST_CHECK;

/*
 * The party a client acts for (X-Road's security server extension, PR-REST
 * 4.3): "[CLASS/]CODE", each part an identifier part (percent-encoded as in
 * X-Road-Client). Anything else is SS_ERR_BAD_HEADER.
 */
#define SS_HDR_REPRESENTED_PARTY "X-Road-Represented-Party"
ss_error ss_rest_check_represented_party(const char *value) SS_MUST_CHECK;

/* Checks a purpose code ([A-Za-z0-9.:/_-], 1..64) and a subject reference. */
ss_error ss_rest_check_purpose(const char *purpose) SS_MUST_CHECK;
ss_error ss_rest_check_subject(const char *subject) SS_MUST_CHECK;

/* The request hash of method, target, fields (filtered ones skipped) and body. */
void ss_rest_request_hash(const char *method, const char *target, const struct ss_headers *fields,
                          const uint8_t *body, size_t body_len, char out[SS_REQUEST_HASH_B64]);

/*
 * An X-Road error answer {"type":T,"message":M,"detail":D}, read strictly:
 * exactly these members in this order, T of [A-Za-z.] (at most 128), M a
 * JSON string of printable ASCII whose escapes are \" \\ or \uXXXX only
 * (kept escaped, at most 1024 bytes), D a UUID; trailing whitespace only.
 */
#define SS_REST_ERROR_TYPE_MAX 128
#define SS_REST_ERROR_MESSAGE_MAX 1024
struct ss_rest_error {
    char type[SS_REST_ERROR_TYPE_MAX + 1];
    char message[SS_REST_ERROR_MESSAGE_MAX + 1]; /* JSON-escaped, as it appeared */
    char detail[37];
};
ss_error ss_rest_parse_error(const uint8_t *body, size_t len,
                             struct ss_rest_error *out) SS_MUST_CHECK SS_NONNULL(3);

/*
 * Which of n media types (at most SS_REST_FORMS_MAX; forms[0] the default)
 * an answer takes, negotiated from the Accept fields as RFC 9110 12.5.1
 * says: the one with the highest weight, each weighed by the most specific
 * media range naming it; of equals the one named by the more specific
 * range, then the one named first, then the one earlier in forms. 0 when none is acceptable or no Accept field is given.
 * A q that is not a qvalue (12.4.2) leaves its range out.
 */
#define SS_REST_FORMS_MAX 4
int ss_rest_accept(const struct ss_headers *fields, const char *const *forms, int n);

/*
 * The media type an X-Road error answer to a REST client takes (PR-REST
 * 4.6), by ss_rest_accept of JSON, application/xml and text/xml:
 * "text/xml" or "application/xml"; NULL for JSON.
 */
const char *ss_rest_error_media(const struct ss_headers *fields);

/* The error answer in XML: <error><type/><message/><detail/></error>, each text escaped. */
ss_error ss_rest_error_xml(const char *type, const char *message, const char *detail, char **out,
                           size_t *len) SS_MUST_CHECK;

/*
 * The value of parameter name in a raw query (query[0..len), "?a=b&c=d" or
 * ""), percent-decoded, into out; "" when absent. False (out "") when the
 * value does not fit, has a malformed escape or decodes to a NUL.
 */
bool ss_rest_query_param(const char *query, size_t len, const char *name, char *out, size_t size);

/* A random UUID (version 4) as text. */
void ss_rest_uuid(char out[37]);

/*
 * The most the X-Road fields of an answer take, names and values summed,
 * with identifier parts of at most id_part bytes: X-Road-Id, X-Road-Client,
 * X-Road-Service, X-Road-Request-Id, X-Road-Request-Hash, X-Road-Error
 * and Content-Type.
 */
size_t ss_rest_answer_xroad_bytes(size_t id_part);

#endif
