/*
 * Fuzz target for the strict rules at the HTTP door (secsrv/net/door.c and
 * ss_headers_field_problem in secsrv/net/headers.c). The input's first line
 * is "METHOD TARGET", or "METHOD TARGET HTTP/1.0" for a request of that
 * version (else it is HTTP/1.1); each further line (LF-separated, a trailing CR kept
 * as a byte of the value) is "Name:value" with the bytes as given, NULs
 * included. Each field goes through ss_headers_field_problem with its exact
 * lengths; the fields it accepts form the list the door checks.
 *
 * Invariants: a field is accepted exactly when its name is a non-empty run
 * of token characters and its value has no byte below 0x20 but tab and no
 * 0x7f; the door accepts a request only if its method is GET, HEAD, POST,
 * PUT, PATCH, DELETE or OPTIONS (another token but CONNECT and TRACE is
 * SS_ERR_METHOD, checked before the rest), its target is non-empty without bytes <= 0x20 or
 * 0x7f, there is at most one Host field (and one in an HTTP/1.1 request),
 * each Host value is uri-host [":" port] (an IP-literal in brackets: an IPv6
 * address, with an RFC 6874 zone, or IPvFuture; or unreserved, sub-delims and
 * %XX; the port digits; or empty),
 * Transfer-Encoding and
 * Content-Length do not both appear, every Content-Length is the same
 * non-empty run of digits, and Transfer-Encoding appears at most once, as
 * "chunked" in any case, and not at all in an HTTP/1.0 request; a refusal
 * is SS_ERR_PROTOCOL. The fields the list holds, laid out as libmicrohttpd
 * 0.9 reads a header section in place (door.h), pass the layout walk, and
 * fail it as soon as the first one is not handed over, a value's line end
 * is not the NUL NUL of CRLF, or the section is one byte shorter (a bare LF
 * at its end). ss_door_target keeps a target that is not in the absolute-form,
 * and takes an absolute-form one as a "/"-led part that ends it.
 */
#include "door.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what)
{
    fprintf(stderr, "fuzz_door: %s\n", what);
    abort();
}

/* A NUL-terminated copy of n bytes (the input is not a C string). */
static char *copy(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        die("out of memory");
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static bool tchar(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && memchr("!#$%&'*+-.^_`|~", c, 15) != NULL);
}

static bool field_ok(const uint8_t *n, size_t nl, const uint8_t *v, size_t vl)
{
    if (!nl)
        return false;
    for (size_t i = 0; i < nl; i++)
        if (!tchar(n[i]))
            return false;
    for (size_t i = 0; i < vl; i++)
        if ((v[i] < 0x20 && v[i] != '\t') || v[i] == 0x7f)
            return false;
    return true;
}

/* Whether method is one a service is called with. */
static bool known_method(const char *method)
{
    static const char *const known[] = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"};
    for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
        if (!strcmp(method, known[i]))
            return true;
    return false;
}

/* Whether the door must answer method with SS_ERR_METHOD: a token it does not carry. */
static bool method_unknown(const char *method)
{
    if (!*method)
        return false;
    for (const char *p = method; *p; p++)
        if (!tchar((unsigned char)*p))
            return false;
    return strcmp(method, "CONNECT") && strcmp(method, "TRACE") && !known_method(method);
}

/* What RFC 3986 3.2.2 and RFC 6874 put between an IP-literal's brackets: IPvFuture, or an
 * IPv6 address (as libc reads one) with "%25" and a zone of unreserved and %XX. */
static bool literal_ok(const char *p, size_t n)
{
    static const char sub[] = "-._~!$&'()*+,;=";
    if (n && (p[0] == 'v' || p[0] == 'V')) {
        size_t h = 1;
        while (h < n && isxdigit((unsigned char)p[h]))
            h++;
        if (h == 1 || h + 1 >= n || p[h] != '.')
            return false;
        for (size_t i = h + 1; i < n; i++)
            if (!isalnum((unsigned char)p[i]) && p[i] != ':' && !strchr(sub, p[i]))
                return false;
        return true;
    }
    size_t addr = n;
    for (size_t i = 0; i < n; i++)
        if (p[i] == '%') {
            addr = i;
            break;
        }
    if (addr < n) {
        if (n - addr < 4 || p[addr + 1] != '2' || p[addr + 2] != '5')
            return false;
        for (size_t i = addr + 3; i < n; i++) {
            if (p[i] == '%') {
                if (i + 2 >= n || !isxdigit((unsigned char)p[i + 1]) ||
                    !isxdigit((unsigned char)p[i + 2]))
                    return false;
                i += 2;
            } else if (!isalnum((unsigned char)p[i]) && !strchr("-._~", p[i])) {
                return false;
            }
        }
    }
    char buf[64];
    struct in6_addr a;
    if (addr == 0 || addr >= sizeof buf)
        return false;
    memcpy(buf, p, addr);
    buf[addr] = '\0';
    return inet_pton(AF_INET6, buf, &a) == 1;
}

/* A Host value as RFC 3986 3.2.2-3.2.3 writes uri-host [":" port], split at its colon first. */
static bool host_ok(const char *v)
{
    static const char sub[] = "-._~!$&'()*+,;=";
    size_t n = strlen(v), host_len;
    if (v[0] == '[') {
        const char *close = memchr(v, ']', n);
        if (!close || !literal_ok(v + 1, (size_t)(close - v) - 1))
            return false;
        host_len = (size_t)(close - v) + 1;
    } else {
        const char *colon = memchr(v, ':', n);
        host_len = colon ? (size_t)(colon - v) : n;
        for (size_t i = 0; i < host_len; i++) {
            if (v[i] == '%') {
                if (i + 2 >= host_len || !isxdigit((unsigned char)v[i + 1]) ||
                    !isxdigit((unsigned char)v[i + 2]))
                    return false;
                i += 2;
            } else if (!isalnum((unsigned char)v[i]) && !strchr(sub, v[i])) {
                return false;
            }
        }
    }
    if (host_len == n)
        return true;
    return v[host_len] == ':' && strspn(v + host_len + 1, "0123456789") == n - host_len - 1;
}

/* What the door must say of the fields in h, method, target and version (NUL-free). */
static bool door_ok(const char *method, const char *target, bool http10,
                    const struct ss_headers *h)
{
    size_t ml = strlen(method);
    if (!ml)
        return false;
    for (size_t i = 0; i < ml; i++)
        if (!tchar((unsigned char)method[i]))
            return false;
    if (!known_method(method) || !*target)
        return false;
    for (const char *p = target; *p; p++)
        if ((unsigned char)*p <= 0x20 || (unsigned char)*p == 0x7f)
            return false;
    size_t hosts = 0, codings = 0, lengths = 0;
    const char *first_length = NULL;
    for (size_t i = 0; i < h->n; i++) {
        const char *name = h->items[i].name, *value = h->items[i].value;
        if (!strcasecmp(name, "Host")) {
            if (!host_ok(value))
                return false;
            hosts++;
        }
        if (!strcasecmp(name, "Transfer-Encoding")) {
            codings++;
            if (strcasecmp(value, "chunked") != 0)
                return false;
        }
        if (!strcasecmp(name, "Content-Length")) {
            lengths++;
            if (!*value || strspn(value, "0123456789") != strlen(value))
                return false;
            if (first_length && strcmp(first_length, value) != 0)
                return false;
            first_length = value;
        }
    }
    return hosts <= 1 && (hosts == 1 || http10) && codings <= 1 && !(codings && lengths) &&
           !(codings && http10);
}

/* h's fields as libmicrohttpd 0.9 leaves them in its read buffer, walked as the door walks. */
static void check_layout(const struct ss_headers *h)
{
    static const char line[] = "GET / HTTP/1.1"; /* the version at 6 */
    size_t size = sizeof line + 1 + 2;
    for (size_t i = 0; i < h->n; i++)
        size += strlen(h->items[i].name) + 2 + strlen(h->items[i].value) + 2;
    char *buf = calloc(1, size), *p = buf + sizeof line + 1;
    const char **names = calloc(h->n + 1, sizeof *names);
    char **values = calloc(h->n + 1, sizeof *values);
    if (!buf || !names || !values)
        die("out of memory");
    memcpy(buf, line, sizeof line - 1);
    for (size_t i = 0; i < h->n; i++) {
        size_t nl = strlen(h->items[i].name), vl = strlen(h->items[i].value);
        names[i] = memcpy(p, h->items[i].name, nl);
        p += nl + 1;
        *p++ = ' ';
        values[i] = memcpy(p, h->items[i].value, vl);
        p += vl + 2;
    }
    size_t section = (size_t)(p - buf) + 2; /* to the empty line's NUL NUL */
    const char *at = NULL, *problem = ss_door_layout_start(buf + 6, &at);
    for (size_t i = 0; !problem && i < h->n; i++)
        problem = ss_door_layout_field(&at, names[i], strlen(names[i]), values[i], strlen(values[i]));
    if (problem || ss_door_layout_end(at, buf, section))
        die("a header section read as libmicrohttpd reads it fails the layout walk");
    if (!ss_door_layout_end(at, buf, section - 1))
        die("a section one byte shorter than its fields (a bare LF at its end) passes");
    if (h->n) {
        /* the first field not handed over */
        ss_door_layout_start(buf + 6, &at);
        if (h->n > 1 && !ss_door_layout_field(&at, names[1], strlen(names[1]), values[1],
                                              strlen(values[1])))
            die("a field after one not handed over passes the layout walk");
        if (h->n == 1 && !ss_door_layout_end(at, buf, section))
            die("a section whose one field was not handed over passes the layout walk");
        /* a value whose line did not end in CRLF */
        size_t vl = strlen(values[0]);
        values[0][vl + 1] = 'x';
        ss_door_layout_start(buf + 6, &at);
        if (!ss_door_layout_field(&at, names[0], strlen(names[0]), values[0], vl))
            die("a value not ended by NUL NUL passes the layout walk");
        values[0][vl + 1] = '\0';
    }
    free(buf);
    free(names);
    free(values);
}

/* The target as the handlers read it: the target as received, or a part of it that ends it
 * and starts with "/" (the path and query of an absolute-form target), or "/" before such a
 * part that starts with "?" or is empty; NULL only with a problem named. */
static void check_target(const char *target)
{
    const char *why = NULL;
    size_t tl = strlen(target);
    char *origin = ss_door_target(target, tl, &why);
    if (!origin) {
        if (!why)
            die("a target refused without a reason");
        if (!strstr(target, "://"))
            die("a target not in the absolute-form refused");
        return;
    }
    if (why)
        die("a target both taken and refused");
    size_t ol = strlen(origin);
    bool kept = strcmp(origin, target) == 0;
    bool tail = origin[0] == '/' && ol < tl && strcmp(target + tl - ol, origin) == 0;
    bool rooted = origin[0] == '/' && (ol == 1 || origin[1] == '?') && ol - 1 < tl &&
                  strcmp(target + tl - (ol - 1), origin + 1) == 0;
    if (!kept && !tail && !rooted)
        die("a target taken as something it does not end with");
    if (!kept && !strstr(target, "://"))
        die("a target not in the absolute-form changed");
    free(origin);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *end = data + size, *nl = memchr(data, '\n', size);
    const uint8_t *line_end = nl ? nl : end;
    /* the request line: METHOD SP TARGET, both without NUL */
    const uint8_t *sp = memchr(data, ' ', (size_t)(line_end - data));
    if (!sp || memchr(data, 0, (size_t)(line_end - data)))
        return 0;
    char *method = copy(data, (size_t)(sp - data));
    static const char v10[] = " HTTP/1.0";
    size_t target_len = (size_t)(line_end - sp - 1);
    bool http10 = target_len >= sizeof v10 - 1 &&
                  memcmp(line_end - (sizeof v10 - 1), v10, sizeof v10 - 1) == 0;
    if (http10)
        target_len -= sizeof v10 - 1;
    char *target = copy(sp + 1, target_len);
    struct ss_headers h;
    ss_headers_init(&h, 64, 16 * 1024);
    for (const uint8_t *p = nl ? nl + 1 : end; p < end;) {
        const uint8_t *e = memchr(p, '\n', (size_t)(end - p));
        if (!e)
            e = end;
        const uint8_t *colon = memchr(p, ':', (size_t)(e - p));
        if (colon) {
            size_t name_len = (size_t)(colon - p), value_len = (size_t)(e - colon - 1);
            const char *problem = ss_headers_field_problem((const char *)p, name_len,
                                                           (const char *)colon + 1, value_len);
            if ((problem == NULL) != field_ok(p, name_len, colon + 1, value_len))
                die("field rule disagrees");
            if (!problem &&
                ss_headers_addn(&h, (const char *)p, name_len, (const char *)colon + 1, value_len))
                break; /* the list is full */
        }
        p = e + 1;
    }
    check_layout(&h);
    check_target(target);
    ss_error err = ss_door_check(method, target, http10 ? "HTTP/1.0" : "HTTP/1.1", &h);
    if ((err == SS_ERR_METHOD) != method_unknown(method))
        die(err == SS_ERR_METHOD ? "a method refused as unknown that is not"
                                 : "an unknown method not refused as one");
    if (err != SS_OK && err != SS_ERR_PROTOCOL && err != SS_ERR_METHOD)
        die("a refusal that is not SS_ERR_PROTOCOL or SS_ERR_METHOD");
    if ((err == SS_OK) != door_ok(method, target, http10, &h))
        die(err ? "a request within the rules refused" : "a request against the rules accepted");
    ss_headers_cleanup(&h);
    free(method);
    free(target);
    return 0;
}
