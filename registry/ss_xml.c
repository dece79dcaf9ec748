#include "ss_xml.h"

#include "ss_hex.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <libxml/parser.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlschemas.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Collects the first libxml2 error of a parse or validation as name:line: msg. */
struct xml_errctx {
    const char *name;
    char msg[400];
    bool set;
};

static void on_structured_error(void *ctx, xmlErrorPtr error)
{
    struct xml_errctx *ec = ctx;
    if (ec->set || error == NULL)
        return;
    char text[300];
    snprintf(text, sizeof text, "%s", error->message ? error->message : "XML error");
    size_t n = strlen(text);
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == ' '))
        text[--n] = '\0';
    snprintf(ec->msg, sizeof ec->msg, "%s:%d: %s", ec->name, error->line, text);
    ec->set = true;
}

/* libxml2's error handlers are per thread; these bracket one operation. */
static void errors_capture(struct xml_errctx *ec)
{
    xmlSetStructuredErrorFunc(ec, on_structured_error);
}

static void errors_release(void)
{
    xmlSetStructuredErrorFunc(NULL, NULL);
}

static int tree_depth_ok(xmlNodePtr node, int depth)
{
    for (; node; node = node->next) {
        if (node->type == XML_ENTITY_REF_NODE || node->type == XML_DTD_NODE ||
            node->type == XML_ENTITY_DECL)
            return -(int)xmlGetLineNo(node) - 1;
        if (node->type != XML_ELEMENT_NODE)
            continue;
        if (depth > SS_XML_MAX_DEPTH)
            return -(int)xmlGetLineNo(node) - 1;
        int r = tree_depth_ok(node->children, depth + 1);
        if (r < 0)
            return r;
    }
    return 0;
}

/* The line of the first occurrence of needle in buf (1 if none). */
static long line_of(const void *buf, size_t len, const char *needle)
{
    const char *p = buf;
    size_t n = strlen(needle);
    long line = 1;
    for (size_t i = 0; i + n <= len; i++) {
        if (memcmp(p + i, needle, n) == 0)
            return line;
        if (p[i] == '\n')
            line++;
    }
    return 1;
}

ss_error ss_xml_parse(const char *name, const void *buf, size_t len, size_t max_bytes,
                      xmlDocPtr *out)
{
    *out = NULL;
    if (len > max_bytes)
        return ss_errf(SS_ERR_TOO_LARGE, "%s: document of %zu bytes exceeds the limit of %zu", name,
                       len, max_bytes);
    if (len > (size_t)INT32_MAX)
        return ss_errf(SS_ERR_TOO_LARGE, "%s: document too large", name);

    xmlParserCtxtPtr ctxt = xmlNewParserCtxt();
    if (!ctxt)
        return ss_errf(SS_ERR_NOMEM, "%s: out of memory", name);
    struct xml_errctx ec = {.name = name};
    errors_capture(&ec);
    /* No network, no entity expansion, no DTD load/validation, no XInclude; line numbers past
     * 65535 too (a registry of 100,000 members has them) */
    int opts = XML_PARSE_NONET | XML_PARSE_NOCDATA | XML_PARSE_NOBLANKS | XML_PARSE_BIG_LINES;
    xmlDocPtr doc = xmlCtxtReadMemory(ctxt, buf, (int)len, name, NULL, opts);
    xmlFreeParserCtxt(ctxt);
    errors_release();
    if (!doc) {
        if (!ec.set)
            snprintf(ec.msg, sizeof ec.msg, "%s:1: not well-formed XML", name);
        return ss_errf(SS_ERR_PROTOCOL, "%s", ec.msg);
    }
    if (doc->intSubset || doc->extSubset) {
        xmlFreeDoc(doc);
        return ss_errf(SS_ERR_PROTOCOL, "%s:%ld: document type declarations are not allowed", name,
                       line_of(buf, len, "<!DOCTYPE"));
    }
    int r = tree_depth_ok(xmlDocGetRootElement(doc), 1);
    if (r < 0) {
        xmlFreeDoc(doc);
        return ss_errf(SS_ERR_PROTOCOL, "%s:%d: nesting deeper than %d or entity reference", name,
                       -r - 1, SS_XML_MAX_DEPTH);
    }
    *out = doc;
    return SS_OK;
}

ss_error ss_xml_validate(const char *name, xmlDocPtr doc, const unsigned char *xsd, size_t xsd_len)
{
    ss_error result = SS_OK;
    xmlDocPtr xsd_doc = NULL;
    xmlSchemaParserCtxtPtr pctxt = NULL;
    xmlSchemaPtr schema = NULL;
    xmlSchemaValidCtxtPtr vctxt = NULL;
    struct xml_errctx ec = {.name = name};

    result = ss_xml_parse("schema", xsd, xsd_len, xsd_len, &xsd_doc);
    if (result)
        return ss_errf(SS_ERR_INTERNAL, "built-in schema does not parse: %s", ss_errmsg());
    errors_capture(&ec);
    pctxt = xmlSchemaNewDocParserCtxt(xsd_doc);
    schema = pctxt ? xmlSchemaParse(pctxt) : NULL;
    if (!schema) {
        result = ss_errf(SS_ERR_INTERNAL, "built-in schema does not compile: %s", ec.msg);
        goto out;
    }
    vctxt = xmlSchemaNewValidCtxt(schema);
    if (!vctxt) {
        result = ss_errf(SS_ERR_NOMEM, "%s: out of memory", name);
        goto out;
    }
    ec.set = false;
    ec.msg[0] = '\0';
    if (xmlSchemaValidateDoc(vctxt, doc) != 0) {
        if (!ec.set)
            snprintf(ec.msg, sizeof ec.msg, "%s:1: does not match its schema", name);
        result = ss_errf(SS_ERR_REGISTRY_SCHEMA, "%s", ec.msg);
    }
out:
    errors_release();
    xmlSchemaFreeValidCtxt(vctxt);
    xmlSchemaFree(schema);
    xmlSchemaFreeParserCtxt(pctxt);
    xmlFreeDoc(xsd_doc);
    return result;
}

const char *ss_xml_attr(xmlNodePtr node, const char *name)
{
    xmlAttrPtr a = xmlHasProp(node, (const xmlChar *)name);
    if (!a || !a->children || a->children->type != XML_TEXT_NODE)
        return NULL;
    return (const char *)a->children->content;
}

char *ss_xml_text(xmlNodePtr node)
{
    return (char *)xmlNodeGetContent(node);
}

bool ss_xml_is(xmlNodePtr node, const char *name)
{
    return node && node->type == XML_ELEMENT_NODE &&
           xmlStrcmp(node->name, (const xmlChar *)name) == 0;
}

size_t ss_xml_count_children(xmlNodePtr parent, const char *name)
{
    size_t n = 0;
    for (xmlNodePtr c = parent->children; c; c = c->next)
        if (ss_xml_is(c, name))
            n++;
    return n;
}

long ss_xml_line(xmlNodePtr node)
{
    long line = xmlGetLineNo(node);
    return line > 0 ? line : 1;
}

ss_error ss_file_read(const char *path, size_t max_bytes, uint8_t **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ss_errf(errno == ENOENT ? SS_ERR_NOT_FOUND : SS_ERR_IO, "%s: %s", path,
                       strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return ss_errf(SS_ERR_IO, "%s: not a regular file", path);
    }
    if ((uint64_t)st.st_size > max_bytes) {
        close(fd);
        return ss_errf(SS_ERR_TOO_LARGE, "%s: %lld bytes exceeds the limit of %zu", path,
                       (long long)st.st_size, max_bytes);
    }
    size_t want = (size_t)st.st_size;
    uint8_t *data = malloc(want + 1);
    if (!data) {
        close(fd);
        return ss_errf(SS_ERR_NOMEM, "%s: out of memory", path);
    }
    size_t got = 0;
    while (got < want) {
        ssize_t r = read(fd, data + got, want - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got != want) {
        explicit_bzero(data, got); /* the file may be a key */
        free(data);
        return ss_errf(SS_ERR_IO, "%s: short read", path);
    }
    data[got] = '\0';
    *buf = data;
    *len = got;
    return SS_OK;
}

/*
 * Removes the temporary files of earlier writes of path (PATH.tmp.PID) that a process killed
 * mid-write left: its process is gone, and the file has not changed for a minute (a writer
 * of another PID namespace sharing the directory is long done by then). Best effort.
 */
static void sweep_stale_tmp(const char *path)
{
    char dir[4096], base[4096];
    snprintf(dir, sizeof dir, "%s", path);
    snprintf(base, sizeof base, "%s", path);
    const char *name = basename(base);
    size_t name_len = strlen(name);
    DIR *d = opendir(dirname(dir));
    if (!d)
        return;
    time_t now = time(NULL);
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        const char *n = e->d_name;
        if (strncmp(n, name, name_len) != 0 || strncmp(n + name_len, ".tmp.", 5) != 0)
            continue;
        const char *digits = n + name_len + 5;
        if (!isdigit((unsigned char)digits[0]))
            continue;
        char *end = NULL;
        long pid = strtol(digits, &end, 10);
        if (pid <= 0 || pid > INT_MAX || *end || pid == (long)getpid())
            continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) /* alive, or not ours to tell */
            continue;
        struct stat st;
        if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
            now - st.st_mtime >= 60)
            (void)unlinkat(dirfd(d), n, 0);
    }
    closedir(d);
}

ss_error ss_file_write_atomic(const char *path, const void *buf, size_t len)
{
    sweep_stale_tmp(path);
    char tmp[4096];
    int r = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (r < 0 || (size_t)r >= sizeof tmp)
        return ss_errf(SS_ERR_IO, "%s: path too long", path);
    /* the file keeps its mode; a new one is 0644 less the umask */
    struct stat st;
    bool exists = stat(path, &st) == 0 && S_ISREG(st.st_mode);
    mode_t mode = exists ? st.st_mode & 07777 : 0644;
    /* a new file of ours: never one planted at the temporary name, nor a link's target; one
     * left by a process of the same number that died mid-write goes first */
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0 && errno == EEXIST && unlink(tmp) == 0)
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
        return ss_errf(SS_ERR_IO, "%s: %s", tmp, strerror(errno));
    if (exists && fchmod(fd, mode) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return ss_errf(SS_ERR_IO, "%s: %s", tmp, strerror(e));
    }
    const uint8_t *p = buf;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return ss_errf(SS_ERR_IO, "%s: %s", tmp, strerror(e));
        }
        p += w;
        left -= (size_t)w;
    }
    int synced = fsync(fd) == 0 ? 0 : errno;
    int closed = close(fd) == 0 ? 0 : errno;
    if (synced || closed) {
        unlink(tmp);
        return ss_errf(SS_ERR_IO, "%s: %s", tmp, strerror(synced ? synced : closed));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return ss_errf(SS_ERR_IO, "%s: %s", path, strerror(e));
    }
    /* Make the rename durable. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    int dfd = open(dirname(dir), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
    return SS_OK;
}

ss_error ss_mark_read(const char *path, const char *form, bool *found, uint64_t *number,
                      uint8_t sha256[32])
{
    *found = false;
    uint8_t *buf = NULL;
    size_t len = 0;
    ss_error err = ss_file_read(path, 256, &buf, &len);
    if (err == SS_ERR_NOT_FOUND)
        return SS_OK;
    if (err)
        return err;
    char *end = NULL;
    const char *text = (const char *)buf; /* NUL-terminated by ss_file_read */
    errno = 0;
    unsigned long long n = strtoull(text, &end, 10);
    char hex[65] = "";
    bool ok = errno == 0 && end != text && text[0] >= '0' && text[0] <= '9' && *end == ' ' &&
              (size_t)(end + 66 - text) == len && end[65] == '\n';
    if (ok) {
        memcpy(hex, end + 1, 64);
        ok = ss_hex_sha256_parse(hex, sha256);
    }
    free(buf);
    if (!ok)
        return ss_errf(SS_ERR_CONFIG, "%s: not '%s'", path, form);
    *number = n;
    *found = true;
    return SS_OK;
}

ss_error ss_mark_write(const char *path, uint64_t number, const uint8_t sha256[32])
{
    char hex[65], text[96];
    ss_hex_sha256_format(sha256, hex);
    int n = snprintf(text, sizeof text, "%llu %s\n", (unsigned long long)number, hex);
    return ss_file_write_atomic(path, text, (size_t)n);
}
