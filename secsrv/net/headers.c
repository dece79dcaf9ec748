#include "headers.h"
#include "ss_grow.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

void ss_headers_init(struct ss_headers *h, size_t max_count, size_t max_bytes)
{
    memset(h, 0, sizeof *h);
    h->max_count = max_count;
    h->max_bytes = max_bytes;
    ss_arena_init(&h->strings, 1024);
}

void ss_headers_cleanup(struct ss_headers *h)
{
    ss_arena_free(&h->strings);
    free(h->items);
    h->items = NULL;
    h->n = h->cap = h->bytes = 0;
}

ss_error ss_headers_addn(struct ss_headers *h, const char *name, size_t name_len, const char *value,
                         size_t value_len)
{
    if (h->max_count && h->n >= h->max_count)
        return ss_errf(SS_ERR_LIMIT, "more than %zu header fields", h->max_count);
    if (h->max_bytes && h->bytes + name_len + value_len > h->max_bytes)
        return ss_errf(SS_ERR_LIMIT, "header fields larger than %zu bytes", h->max_bytes);
    if (!ss_grow(&h->items, &h->cap, h->n + 1, sizeof *h->items, 16))
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    if (memchr(name, '\0', name_len) || memchr(value, '\0', value_len))
        return ss_errf(SS_ERR_BAD_HEADER, "a header field with a NUL byte");
    /* copied by length: the input need not end in a NUL */
    char *n = ss_arena_strndup(&h->strings, name, name_len);
    char *v = n ? ss_arena_strndup(&h->strings, value, value_len) : NULL;
    if (!v)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    h->items[h->n].name = n;
    h->items[h->n].value = v;
    h->n++;
    h->bytes += name_len + value_len;
    return SS_OK;
}

ss_error ss_headers_add(struct ss_headers *h, const char *name, const char *value)
{
    return ss_headers_addn(h, name, strlen(name), value, strlen(value));
}

const char *ss_headers_get(const struct ss_headers *h, const char *name)
{
    for (size_t i = h->n; i > 0; i--)
        if (strcasecmp(h->items[i - 1].name, name) == 0)
            return h->items[i - 1].value;
    return NULL;
}

size_t ss_headers_count(const struct ss_headers *h, const char *name)
{
    size_t c = 0;
    for (size_t i = 0; i < h->n; i++)
        c += strcasecmp(h->items[i].name, name) == 0;
    return c;
}

void ss_headers_remove(struct ss_headers *h, const char *name)
{
    size_t w = 0;
    for (size_t i = 0; i < h->n; i++) {
        if (strcasecmp(h->items[i].name, name) == 0) {
            /* its copies stay in the arena until the list is cleaned up */
            h->bytes -= strlen(h->items[i].name) + strlen(h->items[i].value);
        } else {
            h->items[w++] = h->items[i];
        }
    }
    h->n = w;
}

bool ss_headers_token_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           (c && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

bool ss_headers_content_length(const struct ss_headers *h, uint64_t *out)
{
    const char *first = NULL;
    for (size_t i = 0; i < h->n; i++) {
        const char *v = h->items[i].value;
        if (strcasecmp(h->items[i].name, "Content-Length") != 0)
            continue;
        size_t n = strlen(v);
        if (n == 0 || strspn(v, "0123456789") != n || (first && strcmp(first, v) != 0))
            return false;
        first = v;
    }
    if (!first)
        return false;
    *out = strtoull(first, NULL, 10); /* UINT64_MAX beyond it */
    return true;
}

void ss_headers_value_trim(const char **value, size_t *len)
{
    const char *v = *value;
    size_t n = *len;
    while (n > 0 && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    *value = v;
    *len = n;
}

const char *ss_headers_field_problem(const char *name, size_t name_len, const char *value,
                                     size_t value_len)
{
    if (name_len == 0)
        return "a header field without a name";
    for (size_t i = 0; i < name_len; i++)
        if (!ss_headers_token_char(name[i]))
            return "a header field name that is not a token";
    for (size_t i = 0; i < value_len; i++) {
        unsigned char c = (unsigned char)value[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return "a control character in a header field value";
    }
    return NULL;
}
