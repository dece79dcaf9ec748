#include "door.h"
#include "policy.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* the most blanks between a colon and its value that are read (a line is bounded far lower) */
#define LAYOUT_GAP_MAX (64 * 1024)

static bool is_token(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!ss_headers_token_char(*s))
            return false;
    return true;
}

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* a character of a URI authority without user information (RFC 3986 3.2) */
static bool authority_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("-._~%!$&'()*+,;=:[]", c));
}

/* The inside of an IP-literal's brackets (RFC 3986 3.2.2): an IPv6 address, or IPvFuture. */
static bool ip_literal(const char *s, size_t n)
{
    if (n && (s[0] == 'v' || s[0] == 'V')) { /* "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ) */
        size_t i = 1;
        while (i < n && isxdigit((unsigned char)s[i]))
            i++;
        if (i == 1 || i + 1 >= n || s[i] != '.')
            return false;
        for (i++; i < n; i++)
            if (!authority_char(s[i]) || strchr("%[]", s[i]))
                return false;
        return true;
    }
    /* IPv6addrz (RFC 6874): the address, "%25" and a zone of unreserved or escaped bytes */
    const char *zone = memchr(s, '%', n);
    if (zone) {
        size_t z = (size_t)(zone - s);
        if (n - z < 4 || memcmp(zone, "%25", 3) != 0)
            return false;
        for (size_t i = z + 3; i < n; i++) {
            char c = s[i];
            if (c == '%' ? i + 2 >= n || !isxdigit((unsigned char)s[i + 1]) ||
                               !isxdigit((unsigned char)s[i + 2])
                         : !(isalnum((unsigned char)c) || (c && strchr("-._~", c))))
                return false;
            if (c == '%')
                i += 2;
        }
        n = z;
    }
    char buf[INET6_ADDRSTRLEN + 8];
    struct in6_addr a;
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    return inet_pton(AF_INET6, buf, &a) == 1;
}

/*
 * A Host field value: uri-host [ ":" port ] (RFC 9112 3.2, RFC 3986
 * 3.2.2-3.2.3), or empty; no user information, no blanks, nothing else.
 */
static bool host_value(const char *p)
{
    if (*p == '[') {
        const char *start = ++p, *end = strchr(p, ']');
        if (!end || !ip_literal(start, (size_t)(end - start)))
            return false;
        p = end + 1;
    } else { /* IPv4address / reg-name: no ':' (the port's) nor brackets; '%' escapes a byte */
        for (; *p && *p != ':'; p++) {
            if (*p == '%' && (!isxdigit((unsigned char)p[1]) || !isxdigit((unsigned char)p[2])))
                return false;
            if (!authority_char(*p) || *p == '[' || *p == ']')
                return false;
        }
    }
    if (*p == ':')
        for (p++; *p >= '0' && *p <= '9'; p++) {
        }
    return *p == '\0';
}

char *ss_door_target(const char *target, size_t len, const char **problem)
{
    *problem = NULL;
    /* scheme ":" "//" (RFC 3986 3.1): anything else is not the absolute-form, and is left
     * to the checks */
    size_t i = 0;
    if (len && isalpha((unsigned char)target[0]))
        for (i = 1; i < len &&
                    (isalnum((unsigned char)target[i]) || (target[i] && strchr("+-.", target[i])));
             i++) {
        }
    if (i == 0 || len - i < 3 || memcmp(target + i, "://", 3) != 0)
        return strndup(target, len);
    if (!((i == 4 && strncasecmp(target, "http", 4) == 0) ||
          (i == 5 && strncasecmp(target, "https", 5) == 0))) {
        *problem = "an absolute-form request target of a scheme other than http or https";
        return NULL;
    }
    size_t a = i + 3, e = a;
    while (e < len && target[e] != '/' && target[e] != '?') {
        if (target[e] == '@') {
            *problem = "an absolute-form request target with user information";
            return NULL;
        }
        if (!authority_char(target[e])) {
            *problem = "an absolute-form request target whose host is not a URI authority";
            return NULL;
        }
        e++;
    }
    if (e == a) {
        *problem = "an absolute-form request target without a host";
        return NULL;
    }
    char *authority = strndup(target + a, e - a);
    if (!authority)
        return NULL;
    bool ok = authority[0] != ':' && host_value(authority); /* a host, not empty (RFC 9110 4.2.1) */
    free(authority);
    if (!ok) {
        *problem = "an absolute-form request target whose host is not a URI authority";
        return NULL;
    }
    bool root = e == len || target[e] == '?'; /* an empty path is "/" */
    char *out = malloc(len - e + 2);
    if (out) {
        out[0] = '/';
        memcpy(out + root, target + e, len - e);
        out[root + len - e] = '\0';
    }
    return out;
}

ss_error ss_door_check(const char *method, const char *target, const char *version,
                       const struct ss_headers *h)
{
    if (!method || !is_token(method))
        return ss_errf(SS_ERR_PROTOCOL, "the request method is not a token");
    if (strcmp(method, "CONNECT") == 0 || strcmp(method, "TRACE") == 0)
        return ss_errf(SS_ERR_PROTOCOL, "method %s is not allowed", method);
    /* methods are case-sensitive (RFC 9110 9.1): "delete" is not DELETE to a policy that
     * names DELETE, but a register service might read it as one */
    if (!ss_policy_method_known(method, strlen(method)))
        return ss_errf(
            SS_ERR_METHOD,
            "method %s is not implemented (a service is called with one of " SS_POLICY_METHODS
            "; methods are case-sensitive)",
            method);
    if (!target || !*target)
        return ss_errf(SS_ERR_PROTOCOL, "the request target is empty");
    for (const char *p = target; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f)
            return ss_errf(SS_ERR_PROTOCOL,
                           "the request target holds a control character or a blank");
    const char *length = NULL;
    size_t hosts = 0;
    bool coding = false;
    for (size_t i = 0; i < h->n; i++) {
        const struct ss_header *f = &h->items[i];
        if (strcasecmp(f->name, "Host") == 0) {
            if (!host_value(f->value))
                return ss_errf(SS_ERR_PROTOCOL, "a Host field that is not a host and port");
            hosts++;
        } else if (strcasecmp(f->name, "Transfer-Encoding") == 0) {
            if (coding || strcasecmp(f->value, "chunked") != 0)
                return ss_errf(SS_ERR_PROTOCOL, "a transfer coding other than chunked");
            coding = true;
        } else if (strcasecmp(f->name, "Content-Length") == 0) {
            if (!all_digits(f->value))
                return ss_errf(SS_ERR_PROTOCOL, "a Content-Length that is not a number");
            if (length && strcmp(length, f->value) != 0)
                return ss_errf(SS_ERR_PROTOCOL, "Content-Length fields that differ");
            length = f->value;
        }
    }
    if (length && coding)
        return ss_errf(SS_ERR_PROTOCOL, "both Content-Length and Transfer-Encoding");
    /* an HTTP/1.0 recipient may not know chunked: a hop behind could frame it otherwise */
    if (coding && version && strcmp(version, "HTTP/1.0") == 0)
        return ss_errf(SS_ERR_PROTOCOL, "Transfer-Encoding in an HTTP/1.0 request");
    if (hosts > 1)
        return ss_errf(SS_ERR_PROTOCOL, "more than one Host field");
    /* RFC 9112 3.2: an HTTP/1.1 request without Host is answered 400 */
    if (hosts == 0 && (!version || strcmp(version, "HTTP/1.0") != 0))
        return ss_errf(SS_ERR_PROTOCOL, "an HTTP/1.1 request without a Host field");
    return SS_OK;
}

static const char obs_fold[] = "a field line continued on the next line (obs-fold)";
static const char not_crlf[] = "a NUL in a header field value, or a line not ended by CRLF";
static const char not_field[] = "a header line that is not a field (one without a name, say)";
static const char not_end[] =
    "a header section that does not end where its fields do (a line without a name, or a bare LF)";

const char *ss_door_layout_start(const char *version, const char **at)
{
    size_t n = strlen(version);
    *at = NULL;
    if (version[n + 1] != '\0')
        return not_crlf;
    *at = version + n + 2;
    return NULL;
}

const char *ss_door_layout_field(const char **at, const char *name, size_t name_len,
                                 const char *value, size_t value_len)
{
    /* addresses, compared as numbers: a moved name may lie anywhere in the pool */
    uintptr_t colon = (uintptr_t)name + name_len, v = (uintptr_t)value;
    if (v <= colon || v - colon > LAYOUT_GAP_MAX || name[name_len] != '\0')
        return obs_fold;
    for (const char *p = name + name_len + 1; p < value; p++)
        if (*p != ' ' && *p != '\t')
            return obs_fold;
    if (name != *at)
        return not_field; /* a line before this one was not handed over */
    if (value[value_len] != '\0' || value[value_len + 1] != '\0')
        return not_crlf;
    *at = value + value_len + 2;
    return NULL;
}

const char *ss_door_layout_line(const char *method, size_t target_len, const char *version)
{
    size_t method_len = strlen(method);
    if ((uintptr_t)version < (uintptr_t)method ||
        (uintptr_t)version - (uintptr_t)method != method_len + 1 + target_len + 1)
        return "a request line with more than one blank between its parts, or a NUL in its "
               "target";
    return NULL;
}

const char *ss_door_layout_end(const char *at, const char *method, size_t header_size)
{
    /* the length first: nothing past the section is read */
    if ((uintptr_t)at < (uintptr_t)method || (uintptr_t)at - (uintptr_t)method + 2 != header_size)
        return not_end;
    return at[0] == '\0' && at[1] == '\0' ? NULL : not_end;
}
