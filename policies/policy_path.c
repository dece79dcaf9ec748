#include "policy_path.h"
#include "ss_hex.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* One segment of a path or a pattern: s[0..len), not NUL-terminated. */
struct segment {
    const char *s;
    size_t len;
};

static bool is_control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* Length of the path part of path[0..len): up to the first '?'. */
static size_t path_part_len(const char *path, size_t len)
{
    const char *q = memchr(path, '?', len);
    return q ? (size_t)(q - path) : len;
}

/* True if the segment's name (the part before any ';') is "." or "..". */
static bool is_dot_segment(const char *s, size_t len)
{
    const char *semi = memchr(s, ';', len);
    size_t name = semi ? (size_t)(semi - s) : len;
    return (name == 1 && s[0] == '.') || (name == 2 && s[0] == '.' && s[1] == '.');
}

static ss_error check_escape(const char *seg, size_t len, size_t i)
{
    if (len - i < 3)
        return ss_errf(SS_ERR_PROTOCOL, "request path has a truncated percent escape");
    int hi = ss_hex_digit(seg[i + 1]);
    int lo = ss_hex_digit(seg[i + 2]);
    if (hi < 0 || lo < 0)
        return ss_errf(SS_ERR_PROTOCOL, "request path has a malformed percent escape");
    unsigned char v = (unsigned char)(hi * 16 + lo);
    if (v == '/' || v == '\\' || v == '.' || v == '%')
        return ss_errf(SS_ERR_PROTOCOL, "request path has a percent-encoded '%c'", (char)v);
    if (is_control(v))
        return ss_errf(SS_ERR_PROTOCOL, "request path has a percent-encoded control byte");
    return SS_OK;
}

/*
 * Whether byte b after byte prev (each as sent or percent-decoded) ends an
 * overlong UTF-8 sequence: a character encoded in more bytes than it needs,
 * which is no UTF-8 at all, and the classic way of passing "." or "/" by a
 * check to a lax decoder behind it ("%c0%ae" for "."; the 5- and 6-byte
 * forms of old decoders, lead bytes F8-FD, are no UTF-8 either). Only the
 * lead bytes followed by a continuation byte count, so that a Latin-1 path
 * ("%C1" for "Á") still passes.
 */
static bool overlong(unsigned char prev, unsigned char b)
{
    return ((prev == 0xc0 || prev == 0xc1 || prev >= 0xf8) && b >= 0x80 && b <= 0xbf) ||
           (prev == 0xe0 && b >= 0x80 && b <= 0x9f) || (prev == 0xf0 && b >= 0x80 && b <= 0x8f);
}

static ss_error check_request_segment(const char *seg, size_t len)
{
    if (is_dot_segment(seg, len))
        return ss_errf(SS_ERR_PROTOCOL, "request path has a '.' or '..' segment");
    unsigned char prev = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char b = (unsigned char)seg[i];
        if (seg[i] == '\\')
            return ss_errf(SS_ERR_PROTOCOL, "request path has a backslash");
        if (seg[i] == '%') {
            ss_error err = check_escape(seg, len, i);
            if (err)
                return err;
            b = (unsigned char)(ss_hex_digit(seg[i + 1]) * 16 + ss_hex_digit(seg[i + 2]));
            i += 2;
        }
        if (overlong(prev, b))
            return ss_errf(SS_ERR_PROTOCOL, "request path has an overlong UTF-8 sequence");
        prev = b;
    }
    return SS_OK;
}

ss_error ss_policy_path_check(const char *path, size_t len)
{
    if (len == 0)
        return SS_OK;
    if (path == NULL)
        return ss_errf(SS_ERR_PROTOCOL, "request path missing");
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)path[i];
        if (c == '\0')
            return ss_errf(SS_ERR_PROTOCOL, "request path has a NUL byte");
        if (is_control(c))
            return ss_errf(SS_ERR_PROTOCOL, "request path has a control byte");
    }
    size_t plen = path_part_len(path, len);
    if (plen > SS_POLICY_PATH_MAX)
        return ss_errf(SS_ERR_PROTOCOL, "request path longer than %d bytes", SS_POLICY_PATH_MAX);
    if (plen == 0 || path[0] != '/')
        return ss_errf(SS_ERR_PROTOCOL, "request path does not start with '/'");
    size_t n_segments = 0;
    size_t start = 1;
    for (size_t i = 1; i <= plen; i++) {
        if (i < plen && path[i] != '/')
            continue;
        if (++n_segments > SS_POLICY_SEGMENTS_MAX)
            return ss_errf(SS_ERR_PROTOCOL, "request path has more than %d segments",
                           SS_POLICY_SEGMENTS_MAX);
        if (i == start && i < plen)
            return ss_errf(SS_ERR_PROTOCOL, "request path has an empty segment ('//')");
        ss_error err = check_request_segment(path + start, i - start);
        if (err)
            return err;
        start = i + 1;
    }
    return SS_OK;
}

static bool pattern_char_ok(unsigned char c, char *why, size_t why_size)
{
    if (c == '%') {
        snprintf(why, why_size, "path pattern must not contain percent escapes");
        return false;
    }
    if (c == '\\') {
        snprintf(why, why_size, "path pattern must not contain a backslash");
        return false;
    }
    if (c == '?' || c == '#') {
        snprintf(why, why_size, "path pattern must not contain a query or fragment");
        return false;
    }
    if (c <= 0x20 || c >= 0x7f) {
        snprintf(why, why_size, "path pattern must be printable ASCII without spaces");
        return false;
    }
    return true;
}

static bool pattern_segment_ok(const char *seg, size_t len, char *why, size_t why_size)
{
    if (is_dot_segment(seg, len)) {
        snprintf(why, why_size, "path pattern must not contain '.' or '..' segments");
        return false;
    }
    const char *dstar = NULL;
    for (size_t i = 0; i + 1 < len; i++)
        if (seg[i] == '*' && seg[i + 1] == '*') {
            dstar = seg + i;
            break;
        }
    if (dstar && len != 2) {
        snprintf(why, why_size, "'**' must be a whole path segment");
        return false;
    }
    return true;
}

ss_error ss_policy_path_pattern_check(const char *pattern, char *why, size_t why_size)
{
    size_t len = strnlen(pattern, SS_POLICY_PATTERN_MAX + 1);
    if (len > SS_POLICY_PATTERN_MAX) {
        snprintf(why, why_size, "path pattern longer than %d bytes", SS_POLICY_PATTERN_MAX);
        return SS_ERR_POLICY;
    }
    if (len == 0 || pattern[0] != '/') {
        snprintf(why, why_size, "path pattern must start with '/'");
        return SS_ERR_POLICY;
    }
    for (size_t i = 0; i < len; i++)
        if (!pattern_char_ok((unsigned char)pattern[i], why, why_size))
            return SS_ERR_POLICY;
    size_t n_segments = 0;
    size_t start = 1;
    for (size_t i = 1; i <= len; i++) {
        if (i < len && pattern[i] != '/')
            continue;
        if (++n_segments > SS_POLICY_SEGMENTS_MAX) {
            snprintf(why, why_size, "path pattern has more than %d segments",
                     SS_POLICY_SEGMENTS_MAX);
            return SS_ERR_POLICY;
        }
        if (i == start && i < len) {
            snprintf(why, why_size, "path pattern must not contain an empty segment ('//')");
            return SS_ERR_POLICY;
        }
        if (!pattern_segment_ok(pattern + start, i - start, why, why_size))
            return SS_ERR_POLICY;
        start = i + 1;
    }
    return SS_OK;
}

/*
 * Splits s[0..len) (which starts with '/') into segments after the leading
 * slash; "/" is one empty segment. Returns the count, or SIZE_MAX if there
 * are more than max.
 */
static size_t split_segments(const char *s, size_t len, struct segment *out, size_t max)
{
    size_t n = 0;
    size_t start = 1;
    for (size_t i = 1; i <= len; i++) {
        if (i < len && s[i] != '/')
            continue;
        if (n == max)
            return SIZE_MAX;
        out[n].s = s + start;
        out[n].len = i - start;
        n++;
        start = i + 1;
    }
    return n;
}

static bool is_double_star(const struct segment *seg)
{
    return seg->len == 2 && seg->s[0] == '*' && seg->s[1] == '*';
}

/*
 * Glob match of one segment: '*' matches any run of characters but ';'. An
 * empty segment is matched only by an empty pattern segment.
 *
 * ';' starts a path parameter, which many backends (servlet containers
 * among them) drop before they route: "/files/a.docx;.pdf" is served as
 * "/files/a.docx", and "/persons/;x" as "/persons/". A '*' that took the
 * ';' would let the patterns "*.pdf" and "*" in those places allow them. A
 * pattern that spells out a ';' still matches it.
 */
static bool segment_match(const struct segment *pat, const struct segment *seg)
{
    if (pat->len == 0 || seg->len == 0)
        return pat->len == seg->len;
    size_t p = 0, s = 0;
    size_t star = SIZE_MAX, mark = 0;
    while (s < seg->len) {
        if (p < pat->len && pat->s[p] != '*' && pat->s[p] == seg->s[s]) {
            p++;
            s++;
        } else if (p < pat->len && pat->s[p] == '*') {
            star = p++;
            mark = s;
        } else if (star != SIZE_MAX && seg->s[mark] != ';') {
            p = star + 1;
            s = ++mark;
        } else {
            return false;
        }
    }
    while (p < pat->len && pat->s[p] == '*')
        p++;
    return p == pat->len;
}

bool ss_policy_path_match(const char *pattern, const char *path, size_t len)
{
    struct segment pat[SS_POLICY_SEGMENTS_MAX];
    struct segment seg[SS_POLICY_SEGMENTS_MAX];
    if (path == NULL || len == 0) {
        path = "/";
        len = 1;
    }
    len = path_part_len(path, len);
    if (len == 0 || path[0] != '/' || pattern[0] != '/')
        return false;
    size_t np = split_segments(pattern, strnlen(pattern, SS_POLICY_PATTERN_MAX + 1), pat,
                               SS_POLICY_SEGMENTS_MAX);
    size_t ns = split_segments(path, len, seg, SS_POLICY_SEGMENTS_MAX);
    if (np == SIZE_MAX || ns == SIZE_MAX)
        return false;

    /* '**' matches any run of segments: backtrack to the last one seen. */
    size_t p = 0, s = 0;
    size_t star = SIZE_MAX, mark = 0;
    while (s < ns) {
        if (p < np && is_double_star(&pat[p])) {
            star = p++;
            mark = s;
        } else if (p < np && segment_match(&pat[p], &seg[s])) {
            p++;
            s++;
        } else if (star != SIZE_MAX) {
            p = star + 1;
            s = ++mark;
        } else {
            return false;
        }
    }
    while (p < np && is_double_star(&pat[p]))
        p++;
    return p == np;
}
