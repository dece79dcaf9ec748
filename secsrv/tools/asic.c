/* The ASiC-E evidence package (see asic.h). */
#include "asic.h"
#include "ss_grow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOCAL_SIG 0x04034b50u
#define CENTRAL_SIG 0x02014b50u
#define END_SIG 0x06054b50u
#define LOCAL_LEN 30
#define CENTRAL_LEN 46
#define END_LEN 22
#define VERSION 10 /* 1.0: stored entries */
#define DOS_DATE                                                                                   \
    ((2026 - 1980) << 9 | 1 << 5 | 1) /* a fixed date: the same evidence, the same bytes */

static uint32_t crc_table[256];

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? 0xedb88320u ^ (c >> 1) : c >> 1;
        crc_table[i] = c;
    }
}

static uint32_t crc32_of(const uint8_t *p, size_t n)
{
    if (!crc_table[1])
        crc_init();
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < n; i++)
        c = crc_table[(c ^ p[i]) & 0xff] ^ (c >> 8);
    return c ^ 0xffffffffu;
}

struct buf {
    uint8_t *p;
    size_t len, cap;
    bool failed;
};

static void buf_put(struct buf *b, const void *p, size_t n)
{
    if (b->failed || !n)
        return;
    if (b->len + n > SS_ASIC_MAX_BYTES) {
        b->failed = true;
        return;
    }
    if (!ss_grow(&b->p, &b->cap, b->len + n, 1, 4096)) {
        b->failed = true;
        return;
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static void put16(struct buf *b, unsigned v)
{
    uint8_t x[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    buf_put(b, x, 2);
}

static void put32(struct buf *b, uint32_t v)
{
    uint8_t x[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    buf_put(b, x, 4);
}

struct file {
    char *name;
    uint32_t crc, size, offset;
};

struct ss_asic {
    struct buf data;    /* local headers and contents */
    struct file *files; /* for the central directory */
    size_t n, cap;
};

/* A name the reader accepts: printable ASCII, relative, no "." or ".." part, no empty part. */
static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > SS_ASIC_NAME_MAX || name[0] == '/' || name[n - 1] == '/')
        return false;
    for (size_t i = 0; i < n; i++)
        if (name[i] < 0x21 || name[i] > 0x7e || name[i] == '\\' || name[i] == ':')
            return false;
    for (const char *p = name; *p;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 0 || (len == 1 && p[0] == '.') || (len == 2 && p[0] == '.' && p[1] == '.'))
            return false;
        p += len + (slash ? 1 : 0);
    }
    return true;
}

ss_error ss_asic_add(struct ss_asic *a, const char *name, const void *data, size_t len)
{
    if (!name_ok(name))
        return ss_errf(SS_ERR_INTERNAL, "'%s' is not a name a package may hold", name);
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->files[i].name, name) == 0)
            return ss_errf(SS_ERR_INTERNAL, "'%s' is in the package already", name);
    if (a->n == SS_ASIC_MAX_ENTRIES)
        return ss_errf(SS_ERR_TOO_LARGE, "the package would hold more than %d files",
                       SS_ASIC_MAX_ENTRIES);
    if (len > SS_ASIC_MAX_BYTES)
        return ss_errf(SS_ERR_TOO_LARGE, "'%s' is too large for a package", name);
    if (!ss_grow(&a->files, &a->cap, a->n + 1, sizeof *a->files, 64))
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    struct file f = {.name = strdup(name),
                     .crc = crc32_of(data, len),
                     .size = (uint32_t)len,
                     .offset = (uint32_t)a->data.len};
    if (!f.name)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    struct buf *b = &a->data;
    put32(b, LOCAL_SIG);
    put16(b, VERSION);
    put16(b, 0); /* flags */
    put16(b, 0); /* stored */
    put16(b, 0); /* time */
    put16(b, DOS_DATE);
    put32(b, f.crc);
    put32(b, f.size);
    put32(b, f.size);
    put16(b, (unsigned)strlen(name));
    put16(b, 0); /* no extra field */
    buf_put(b, name, strlen(name));
    buf_put(b, data, len);
    if (b->failed) {
        free(f.name);
        return ss_errf(SS_ERR_TOO_LARGE, "the package would be larger than %u bytes",
                       SS_ASIC_MAX_BYTES);
    }
    a->files[a->n++] = f;
    return SS_OK;
}

ss_error ss_asic_new(struct ss_asic **out)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    ss_error err = ss_asic_add(*out, "mimetype", SS_ASIC_MIMETYPE, strlen(SS_ASIC_MIMETYPE));
    if (err) {
        ss_asic_free(*out);
        *out = NULL;
    }
    return err;
}

void ss_asic_free(struct ss_asic *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++)
        free(a->files[i].name);
    free(a->files);
    free(a->data.p);
    free(a);
}

ss_error ss_asic_finish(struct ss_asic *a, uint8_t **out, size_t *len)
{
    *out = NULL;
    *len = 0;
    /* META-INF/manifest.xml (OpenDocument style, as ASiC-E allows): every file and its type */
    struct buf m = {0};
    static const char head[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<manifest:manifest "
        "xmlns:manifest=\"urn:oasis:names:tc:opendocument:xmlns:manifest:1.0\">\n"
        "  <manifest:file-entry manifest:full-path=\"/\" manifest:media-type=\"" SS_ASIC_MIMETYPE
        "\"/>\n";
    buf_put(&m, head, sizeof head - 1);
    for (size_t i = 1; i < a->n; i++) {
        char line[SS_ASIC_NAME_MAX + 160];
        int n = snprintf(line, sizeof line,
                         "  <manifest:file-entry manifest:full-path=\"%s\" "
                         "manifest:media-type=\"application/octet-stream\"/>\n",
                         a->files[i].name);
        buf_put(&m, line, (size_t)n);
    }
    buf_put(&m, "</manifest:manifest>\n", 21);
    ss_error err = m.failed ? ss_errf(SS_ERR_NOMEM, "out of memory")
                            : ss_asic_add(a, "META-INF/manifest.xml", m.p, m.len);
    free(m.p);
    if (err)
        return err;
    struct buf *b = &a->data;
    uint32_t central = (uint32_t)b->len;
    for (size_t i = 0; i < a->n; i++) {
        const struct file *f = &a->files[i];
        put32(b, CENTRAL_SIG);
        put16(b, 3 << 8 | VERSION); /* made on Unix */
        put16(b, VERSION);
        put16(b, 0);
        put16(b, 0);
        put16(b, 0);
        put16(b, DOS_DATE);
        put32(b, f->crc);
        put32(b, f->size);
        put32(b, f->size);
        put16(b, (unsigned)strlen(f->name));
        put16(b, 0); /* extra */
        put16(b, 0); /* comment */
        put16(b, 0); /* disk */
        put16(b, 0); /* internal attributes */
        put32(b, 0100644u << 16);
        put32(b, f->offset);
        buf_put(b, f->name, strlen(f->name));
    }
    uint32_t central_len = (uint32_t)b->len - central;
    put32(b, END_SIG);
    put16(b, 0);
    put16(b, 0);
    put16(b, (unsigned)a->n);
    put16(b, (unsigned)a->n);
    put32(b, central_len);
    put32(b, central);
    put16(b, 0); /* no comment */
    if (b->failed)
        return ss_errf(SS_ERR_TOO_LARGE, "the package would be larger than %u bytes",
                       SS_ASIC_MAX_BYTES);
    *out = b->p;
    *len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return SS_OK;
}

static uint32_t get16(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8;
}

static uint32_t get32(const uint8_t *p)
{
    return get16(p) | get16(p + 2) << 16;
}

static ss_error bad(const char *why)
{
    return ss_errf(SS_ERR_PROTOCOL, "not an ASiC-E package as secsrv-log writes it: %s", why);
}

ss_error ss_asic_read(const uint8_t *zip, size_t len, struct ss_asic_entry **entries, size_t *n)
{
    *entries = NULL;
    *n = 0;
    if (len > SS_ASIC_MAX_BYTES)
        return bad("larger than 1 GiB");
    if (len < LOCAL_LEN + END_LEN)
        return bad("too short for a ZIP file");
    const uint8_t *end = zip + len - END_LEN;
    if (get32(end) != END_SIG)
        return bad("no end of central directory record at its end (or a comment after it)");
    uint32_t count = get16(end + 10), central_len = get32(end + 12), central = get32(end + 16);
    if (get16(end + 4) || get16(end + 6) || get16(end + 8) != count || get16(end + 20))
        return bad("a multi-part ZIP file or a comment");
    if (count == 0 || (size_t)central + central_len != len - END_LEN)
        return bad("the central directory is not where the end record says");
    struct ss_asic_entry *e = calloc(count, sizeof *e);
    if (!e)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    ss_error err = SS_OK;
    size_t at = central, expect_local = 0;
    for (uint32_t i = 0; i < count && !err; i++) {
        if (at + CENTRAL_LEN > len - END_LEN || get32(zip + at) != CENTRAL_SIG) {
            err = bad("a central directory entry is cut short");
            break;
        }
        const uint8_t *c = zip + at;
        uint32_t flags = get16(c + 8), method = get16(c + 10), crc = get32(c + 16);
        uint32_t csize = get32(c + 20), usize = get32(c + 24), name_len = get16(c + 28);
        uint32_t extra = get16(c + 30), comment = get16(c + 32), local = get32(c + 42);
        if (flags || method || csize != usize) {
            err = bad("an entry is compressed, encrypted or has a data descriptor");
            break;
        }
        if (extra || comment || get16(c + 34)) {
            err = bad("an entry has an extra field or a comment");
            break;
        }
        if (name_len == 0 || name_len > SS_ASIC_NAME_MAX ||
            at + CENTRAL_LEN + name_len > len - END_LEN) {
            err = bad("an entry's name is empty, too long or cut short");
            break;
        }
        memcpy(e[i].name, c + CENTRAL_LEN, name_len);
        e[i].name[name_len] = '\0';
        if (strlen(e[i].name) != name_len || !name_ok(e[i].name)) {
            err = ss_errf(SS_ERR_PROTOCOL,
                          "the package holds a file named '%.60s', which is "
                          "not a safe relative name",
                          e[i].name);
            break;
        }
        for (uint32_t k = 0; k < i && !err; k++)
            if (strcmp(e[k].name, e[i].name) == 0)
                err = ss_errf(SS_ERR_PROTOCOL, "the package holds '%.60s' twice", e[i].name);
        /* the local header: right after the one before, saying the same */
        if (err)
            break;
        if (local != expect_local || (size_t)local + LOCAL_LEN + name_len > central) {
            err = bad("an entry is not where the central directory says");
            break;
        }
        const uint8_t *l = zip + local;
        if (get32(l) != LOCAL_SIG || get16(l + 6) || get16(l + 8) || get32(l + 14) != crc ||
            get32(l + 18) != csize || get32(l + 22) != usize || get16(l + 26) != name_len ||
            get16(l + 28) || memcmp(l + LOCAL_LEN, e[i].name, name_len) != 0) {
            err = bad("a local header does not match its central directory entry");
            break;
        }
        size_t data = (size_t)local + LOCAL_LEN + name_len;
        if (data + usize > central) {
            err = bad("an entry's data runs past the central directory");
            break;
        }
        e[i].data = zip + data;
        e[i].len = usize;
        if (crc32_of(e[i].data, usize) != crc) {
            err = ss_errf(SS_ERR_PROTOCOL, "'%.60s' in the package is damaged (CRC-32)", e[i].name);
            break;
        }
        expect_local = data + usize;
        at += CENTRAL_LEN + name_len;
    }
    if (!err && expect_local != central)
        err = bad("bytes between the entries and the central directory");
    if (!err && at != len - END_LEN)
        err = bad("bytes after the central directory's entries");
    if (!err && (strcmp(e[0].name, "mimetype") != 0 || e[0].len != strlen(SS_ASIC_MIMETYPE) ||
                 memcmp(e[0].data, SS_ASIC_MIMETYPE, e[0].len) != 0))
        err = bad("the first entry is not the mimetype " SS_ASIC_MIMETYPE);
    if (err) {
        free(e);
        return err;
    }
    *entries = e;
    *n = count;
    return SS_OK;
}
