/* A growing text buffer with XML and JSON escaping, see text.h. */
#include "text.h"

#include "ss_grow.h"

#include <libxml/entities.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ss_text_put(struct ss_text *t, const char *s, size_t n)
{
    if (t->failed || !ss_grow(&t->p, &t->cap, t->len + n + 1, 1, 512)) {
        t->failed = true;
        return;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

void ss_text_puts(struct ss_text *t, const char *s)
{
    ss_text_put(t, s, strlen(s));
}

void ss_text_xml(struct ss_text *t, const char *s)
{
    char *kept = strdup(s);
    if (!kept) {
        t->failed = true;
        return;
    }
    size_t n = 0;
    for (const char *p = s; *p; p++)
        if ((unsigned char)*p >= 0x20 || *p == '\t' || *p == '\n')
            kept[n++] = *p;
    kept[n] = '\0';
    /* libxml2's escaping of &, <, >, and of " for attribute values */
    xmlChar *x = xmlEncodeSpecialChars(NULL, (const xmlChar *)kept);
    free(kept);
    if (!x) {
        t->failed = true;
        return;
    }
    ss_text_puts(t, (const char *)x);
    xmlFree(x);
}

void ss_text_json(struct ss_text *t, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            char e[2] = {'\\', (char)c};
            ss_text_put(t, e, 2);
        } else if (c < 0x20 || c == 0x7f) {
            char e[8];
            snprintf(e, sizeof e, "\\u%04x", c);
            ss_text_put(t, e, 6);
        } else {
            ss_text_put(t, (const char *)&c, 1);
        }
    }
}

ss_error ss_text_take(struct ss_text *t, char **out, size_t *len)
{
    if (t->failed || !t->p) {
        free(t->p);
        *t = (struct ss_text){0};
        *out = NULL;
        *len = 0;
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    }
    *out = t->p;
    *len = t->len;
    *t = (struct ss_text){0};
    return SS_OK;
}
