/*
 * Fuzz target for the response header parser of outbound exchanges
 * (secsrv/net/upstream.c): the input is cut into lines the way libcurl
 * hands them to its header callback (each up to and with its LF, the CR
 * kept) and each line goes to ss_upstream_parse_header_line() on a bounded
 * list (64 fields, 16 KiB), as ss_upstream_send() does. libcurl refuses a
 * response with a NUL byte in its header ("Nul byte in header"), so input
 * stops at the first line with one.
 *
 * Invariants after every line: the list stays within its bounds; every
 * field is what the line said (name up to the first colon, value without
 * the blanks around it and the line end); a name is a non-empty token; a
 * value does not start or end with a blank and has no control character
 * but HTAB; a status line empties the list; a line that is not such a
 * field (folded, no name, a non-token name, a control character) is
 * refused with SS_ERR_UPSTREAM; a refusal leaves the list as it was.
 */
#include "upstream.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_FIELDS 64
#define MAX_BYTES (16 * 1024)

static void die(const char *what)
{
    fprintf(stderr, "fuzz_upstream_headers: %s\n", what);
    abort();
}

/* RFC 9110 tchar, written out here on its own */
static bool token_char(char c)
{
    static const char extra[] = "!#$%&'*+-.^_`|~";
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c != '\0' && strchr(extra, c) != NULL);
}

static void check_list(const struct ss_headers *h)
{
    if (h->n > MAX_FIELDS || h->bytes > MAX_BYTES || h->n > h->cap || h->max_count != MAX_FIELDS ||
        h->max_bytes != MAX_BYTES)
        die("the list passed its bounds");
    size_t bytes = 0;
    for (size_t i = 0; i < h->n; i++) {
        const char *name = h->items[i].name, *value = h->items[i].value;
        if (!name || !value)
            die("a field without name or value");
        if (!*name)
            die("a field with an empty name");
        for (const char *c = name; *c; c++)
            if (!token_char(*c))
                die("a field name that is not a token");
        size_t vlen = strlen(value);
        if (vlen && (value[0] == ' ' || value[0] == '\t' || value[vlen - 1] == ' ' ||
                     value[vlen - 1] == '\t'))
            die("a field value with a blank at either end");
        for (const char *c = value; *c; c++)
            if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
                die("a field value with a control character");
        bytes += strlen(name) + strlen(value);
    }
    if (bytes != h->bytes)
        die("the list's byte count is not the size of its fields");
}

/*
 * What a line should give (see ss_upstream_parse_header_line): 1 a field,
 * 0 nothing (an empty line), -1 a refusal.
 */
static int expected_field(const char *line, size_t len, size_t *name_len, const char **value,
                          size_t *value_len)
{
    if (len >= 2 && line[len - 2] == '\r' && line[len - 1] == '\n')
        len -= 2;
    else if (len >= 1 && line[len - 1] == '\n')
        len -= 1;
    if (len == 0)
        return 0;
    const char *colon = memchr(line, ':', len);
    if (line[0] == ' ' || line[0] == '\t' || !colon || colon == line)
        return -1;
    *name_len = (size_t)(colon - line);
    for (size_t i = 0; i < *name_len; i++)
        if (!token_char(line[i]))
            return -1;
    *value = colon + 1;
    *value_len = len - *name_len - 1;
    while (*value_len > 0 && (**value == ' ' || **value == '\t')) {
        (*value)++;
        (*value_len)--;
    }
    while (*value_len > 0 && ((*value)[*value_len - 1] == ' ' || (*value)[*value_len - 1] == '\t'))
        (*value_len)--;
    for (size_t i = 0; i < *value_len; i++) {
        unsigned char c = (unsigned char)(*value)[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return -1;
    }
    return 1;
}

static void take_line(struct ss_headers *h, const char *line, size_t len)
{
    size_t n_before = h->n, bytes_before = h->bytes;
    ss_error err = ss_upstream_parse_header_line(h, line, len);
    check_list(h);
    bool status_line = len >= 5 && memcmp(line, "HTTP/", 5) == 0;
    size_t name_len = 0, value_len = 0;
    const char *value = NULL;
    int expect = status_line ? 0 : expected_field(line, len, &name_len, &value, &value_len);
    bool field = expect == 1;
    if (err == SS_ERR_LIMIT || err == SS_ERR_NOMEM) {
        if (!field)
            die("refused a line that is not a field");
        if (h->n != n_before || h->bytes != bytes_before)
            die("a refused line changed the list");
        return;
    }
    if (err == SS_ERR_UPSTREAM) {
        if (expect != -1)
            die("refused a well-formed line");
        if (h->n != n_before || h->bytes != bytes_before)
            die("a refused line changed the list");
        return;
    }
    if (expect == -1)
        die("accepted a malformed line");
    if (err != SS_OK)
        die("unexpected error code");
    if (status_line) {
        if (h->n != 0 || h->bytes != 0)
            die("a status line did not start the list over");
        return;
    }
    if (!field) {
        if (h->n != n_before)
            die("a line without a field added one");
        return;
    }
    if (h->n != n_before + 1)
        die("a field line did not add one field");
    const struct ss_header *f = &h->items[h->n - 1];
    if (strlen(f->name) != name_len || memcmp(f->name, line, name_len) != 0)
        die("the stored name is not the line's");
    if (strlen(f->value) != value_len || memcmp(f->value, value, value_len) != 0)
        die("the stored value is not the line's");
    if (name_len + value_len > MAX_BYTES)
        die("accepted a field larger than the list");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ss_headers h;
    ss_headers_init(&h, MAX_FIELDS, MAX_BYTES);
    const char *s = (const char *)data;
    size_t off = 0;
    while (off < size) {
        const char *lf = memchr(s + off, '\n', size - off);
        size_t len = lf ? (size_t)(lf - (s + off)) + 1 : size - off;
        if (memchr(s + off, '\0', len))
            break; /* libcurl fails the transfer */
        /* a copy of its own, so that a read past the line is caught */
        char *line = malloc(len ? len : 1);
        if (!line)
            break;
        memcpy(line, s + off, len);
        take_line(&h, line, len);
        free(line);
        off += len;
    }
    ss_headers_cleanup(&h);
    return 0;
}
