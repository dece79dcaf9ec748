/*
 * Fuzz target for the evidence package reader (secsrv/tools/asic.c): the
 * input goes to ss_asic_read() as a package from elsewhere. Whatever it
 * accepts must hold what the reader promises:
 *
 *   - the first entry is "mimetype" holding exactly the ASiC-E type;
 *   - every entry's data lies inside the input, entries do not overlap and
 *     follow each other in order;
 *   - every name is 1-255 printable ASCII bytes, relative, without an
 *     empty, "." or ".." part, and no name repeats;
 *   - written again by ss_asic_new/add/finish (all entries but the
 *     mimetype and META-INF/manifest.xml), the package reads back with the
 *     same names and bytes, and a manifest listing each of them.
 *
 * A refusal must be SS_ERR_PROTOCOL with a reason (or SS_ERR_NOMEM). No
 * PKI is needed; corpus/package/ holds small packages as the writer makes
 * them.
 */
#include "asic.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_package: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

static bool contains(const uint8_t *hay, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(hay + i, needle, n) == 0)
            return true;
    return false;
}

static void check_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > SS_ASIC_NAME_MAX || name[0] == '/' || name[n - 1] == '/')
        die("an unsafe name was accepted", name);
    for (size_t i = 0; i < n; i++)
        if (name[i] < 0x21 || name[i] > 0x7e)
            die("a name with a byte outside printable ASCII was accepted", name);
    if (strstr(name, "//") || strncmp(name, "../", 3) == 0 || strncmp(name, "./", 2) == 0 ||
        strstr(name, "/../") || strstr(name, "/./") || strcmp(name, "..") == 0 ||
        strcmp(name, ".") == 0 || (n >= 3 && strcmp(name + n - 3, "/..") == 0) ||
        (n >= 2 && strcmp(name + n - 2, "/.") == 0))
        die("a name with an empty, '.' or '..' part was accepted", name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ss_asic_entry *e = NULL;
    size_t n = 0;
    ss_error err = ss_asic_read(data, size, &e, &n);
    if (err) {
        if (err != SS_ERR_PROTOCOL && err != SS_ERR_NOMEM)
            die("a refusal with an unexpected code", ss_errmsg());
        if (!ss_errmsg()[0])
            die("a refusal without a reason", NULL);
        return 0;
    }
    if (n == 0 || strcmp(e[0].name, "mimetype") != 0 || e[0].len != strlen(SS_ASIC_MIMETYPE) ||
        memcmp(e[0].data, SS_ASIC_MIMETYPE, e[0].len) != 0)
        die("accepted without the mimetype first", NULL);
    const uint8_t *end_of_last = data;
    for (size_t i = 0; i < n; i++) {
        check_name(e[i].name);
        if (e[i].data < end_of_last || e[i].data + e[i].len > data + size)
            die("an entry's data overlaps another or lies outside the input", e[i].name);
        end_of_last = e[i].data + e[i].len;
        for (size_t k = 0; k < i; k++)
            if (strcmp(e[k].name, e[i].name) == 0)
                die("a repeated name was accepted", e[i].name);
    }
    /* written again, it reads back the same */
    struct ss_asic *a = NULL;
    if (ss_asic_new(&a) != SS_OK)
        return free(e), 0;
    size_t kept = 0;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(e[i].name, "META-INF/manifest.xml") == 0)
            continue;
        if (ss_asic_add(a, e[i].name, e[i].data, e[i].len) != SS_OK)
            die("an accepted entry cannot be written again", ss_errmsg());
        kept++;
    }
    uint8_t *again = NULL;
    size_t again_len = 0;
    if (ss_asic_finish(a, &again, &again_len) != SS_OK)
        die("an accepted package cannot be written again", ss_errmsg());
    ss_asic_free(a);
    struct ss_asic_entry *e2 = NULL;
    size_t n2 = 0;
    if (ss_asic_read(again, again_len, &e2, &n2) != SS_OK)
        die("a package the writer made does not read back", ss_errmsg());
    if (n2 != kept + 2 || strcmp(e2[n2 - 1].name, "META-INF/manifest.xml") != 0)
        die("a package read back has other entries", NULL);
    for (size_t i = 1, j = 1; i < n; i++) {
        if (strcmp(e[i].name, "META-INF/manifest.xml") == 0)
            continue;
        if (strcmp(e[i].name, e2[j].name) != 0 || e[i].len != e2[j].len ||
            memcmp(e[i].data, e2[j].data, e[i].len) != 0)
            die("an entry read back differs", e[i].name);
        char needle[SS_ASIC_NAME_MAX + 32];
        snprintf(needle, sizeof needle, "full-path=\"%s\"", e[i].name);
        const struct ss_asic_entry *m = &e2[n2 - 1];
        if (!contains(m->data, m->len, needle))
            die("the manifest does not list an entry", e[i].name);
        j++;
    }
    free(e2);
    free(again);
    free(e);
    return 0;
}
