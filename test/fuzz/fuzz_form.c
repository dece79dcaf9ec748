/*
 * Fuzz target for the console's query-string and form reader
 * (secsrv/tools/form.c) and the page writers it feeds (page.c): the input
 * is a query string or form body.
 *
 * Invariants: an accepted form has at most SS_FORM_MAX_FIELDS fields, each
 * name 1 to 31 of [A-Za-z0-9_-] and given once, each value at most
 * SS_FORM_MAX_VALUE bytes of UTF-8 without a control character, and
 * ss_form_get finds each field's own value; a refused one leaves the form
 * empty. Written into a page, no value brings an unescaped < > " ' or &
 * into HTML text, anything but unreserved characters and %XX into a URL
 * component, or a raw control character, quote or < into a JSON string.
 */
#include "form.h"
#include "page.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what)
{
    fprintf(stderr, "fuzz_form: %s\n", what);
    abort();
}

static bool is_hex(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

static void check_written(const char *value)
{
    struct ss_page p;
    ss_page_init(&p, 1 << 20);
    ss_page_text(&p, value);
    size_t len = 0;
    char *html = ss_page_take(&p, &len);
    if (!html)
        die("a value did not fit a page");
    for (size_t i = 0; i < len; i++) {
        if (strchr("<>\"'", html[i]))
            die("HTML text holds a raw < > \" or '");
        if (html[i] == '&' && strncmp(html + i, "&amp;", 5) != 0 &&
            strncmp(html + i, "&lt;", 4) != 0 && strncmp(html + i, "&gt;", 4) != 0 &&
            strncmp(html + i, "&quot;", 6) != 0 && strncmp(html + i, "&#39;", 5) != 0)
            die("HTML text holds a raw &");
    }
    free(html);
    ss_page_init(&p, 1 << 20);
    ss_page_url(&p, value);
    char *url = ss_page_take(&p, &len);
    for (size_t i = 0; url && i < len; i++) {
        char c = url[i];
        if (c == '%') {
            if (i + 2 >= len)
                die("a URL escape cut short");
            if (!is_hex(url[i + 1]) || !is_hex(url[i + 2]))
                die("a URL escape that is not %XX");
            i += 2;
        } else if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '-' || c == '_' || c == '.' || c == '~')) {
            die("a URL component holds a reserved character");
        }
    }
    free(url);
    ss_page_init(&p, 1 << 20);
    ss_page_json(&p, value);
    char *json = ss_page_take(&p, &len);
    if (!json || len < 2 || json[0] != '"' || json[len - 1] != '"')
        die("a JSON string without its quotes");
    for (size_t i = 1; i + 1 < len; i++) {
        unsigned char c = (unsigned char)json[i];
        if (c < 0x20 || c == 0x7f || c == '<' || c == '>' || c == '&' || c == '"')
            die("a JSON string holds a raw control character, quote, < > or &");
        if (c == '\\')
            i++; /* the escaped character */
    }
    free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ss_form f;
    ss_error err = ss_form_parse((const char *)data, size, &f);
    if (err) {
        if (f.n || f.storage)
            die("a refused form is not empty");
        return 0;
    }
    if (f.n > SS_FORM_MAX_FIELDS)
        die("too many fields");
    for (size_t i = 0; i < f.n; i++) {
        const char *name = f.fields[i].name, *value = f.fields[i].value;
        size_t n = strlen(name);
        if (n == 0 || n > 31)
            die("a name of the wrong length");
        for (size_t k = 0; k < n; k++)
            if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-",
                        name[k]))
                die("a name with a character outside [A-Za-z0-9_-]");
        if (strlen(value) > SS_FORM_MAX_VALUE)
            die("a value too long");
        for (const unsigned char *v = (const unsigned char *)value; *v; v++)
            if (*v < 0x20 || *v == 0x7f)
                die("a value with a control character");
        if (ss_form_get(&f, name) != value)
            die("a name found with another field's value");
        for (size_t k = 0; k < i; k++)
            if (strcmp(f.fields[k].name, name) == 0)
                die("a name given twice");
        check_written(value);
    }
    ss_form_cleanup(&f);
    return 0;
}
