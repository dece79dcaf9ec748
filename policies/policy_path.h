/*
 * policy_path: REST request paths as the access policy sees them. It owns
 * the refusal of path traversal in request paths (dot segments, encoded
 * slashes, backslashes, empty segments), the syntax of path patterns in
 * policy files, and glob matching of one against the other: `*` matches
 * characters within one segment, `**` matches any number of whole segments,
 * including none. Everything is bounded by SS_POLICY_PATH_MAX and
 * SS_POLICY_PATTERN_MAX and runs in time proportional to the product of
 * path and pattern lengths, whatever the input.
 */
#ifndef SS_POLICY_PATH_H
#define SS_POLICY_PATH_H

#include "ss_error.h"

#include <stdbool.h>
#include <stddef.h>

#define SS_POLICY_PATH_MAX 8192    /* bytes of a request path, query excluded */
#define SS_POLICY_PATTERN_MAX 1024 /* bytes of a path pattern in a policy file */
#define SS_POLICY_SEGMENTS_MAX 256 /* segments of a request path or a pattern */

/*
 * Checks the request path path[0..len) (the raw, still percent-encoded path
 * after the service identifier: "" or starting with '/'). The path ends at
 * the first '?'; the query is only checked for NUL and control bytes.
 * Refused with SS_ERR_PROTOCOL and a reason: a path not starting with '/',
 * "." or ".." segments (also before a ';' parameter), empty segments other
 * than a trailing slash, a backslash, NUL or control bytes, malformed
 * percent escapes, and percent-encoded '/', '\', '.', '%' or control bytes.
 */
ss_error ss_policy_path_check(const char *path, size_t len) SS_MUST_CHECK;

/*
 * Checks a path pattern from a policy file. On refusal returns
 * SS_ERR_POLICY and writes a reason (without file or line) to why.
 */
ss_error ss_policy_path_pattern_check(const char *pattern, char *why, size_t why_size) SS_MUST_CHECK
    SS_NONNULL(1, 2);

/*
 * True if the request path path[0..len) (already accepted by
 * ss_policy_path_check) matches pattern (accepted by
 * ss_policy_path_pattern_check). "" is matched as "/"; the query is ignored.
 */
bool ss_policy_path_match(const char *pattern, const char *path, size_t len) SS_NONNULL(1);

#endif
