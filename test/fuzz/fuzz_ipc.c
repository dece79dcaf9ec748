/*
 * Fuzz target for the IPC frames and payload readers (secsrv/proc/ipc.c,
 * secsrv/msglog/record_ipc.c). The input goes into one end of a
 * socketpair (what does not fit into the socket's buffer at once from a
 * second thread), which is then closed; this thread receives frames from
 * the other end with ss_ipc_recv() and a small maximum, until it fails;
 * then again with the buffered ss_ipc_inbuf_recv(), which must give the
 * same frames and the same failure.
 *
 *   - Each result is the one this target works out from the input itself
 *     (16-byte header in host order: u32 length, u16 type, u16 flags, u64
 *     id): SS_OK with exactly the type, id and payload bytes and no
 *     descriptor; SS_ERR_IO at the end of the stream, inside a header or
 *     inside a payload (the link ended); SS_ERR_PROTOCOL for flags or a
 *     length over the maximum.
 *   - Every payload is read as the signer reads SS_IPC_SIGN (str member,
 *     bytes manifest; secsrv/signer/signer.c take_sign), as the logger
 *     reads SS_IPC_LOG_APPEND (ss_record_get, u32, str, u32;
 *     secsrv/msglog/logger.c take_append) and SS_IPC_REGISTRY (bytes, bytes;
 *     ss_regstore_read, which must take exactly that and the same bytes),
 *     and as the network process reads the answers SS_IPC_SIGNED and
 *     SS_IPC_LOGGED (secsrv/proxy/seal.c).
 *     Each ss_ipc_get_* is shadowed by a reader of this target's own: same
 *     value, same position, same failure, pointers and lengths inside the
 *     payload (which is malloc'd to its exact length, so AddressSanitizer
 *     sees any read past it), and ss_ipc_reader_done() true exactly when
 *     every read succeeded and the payload was read to its end.
 *   - ss_record_get() accepts exactly what this target's own reading of the
 *     format accepts (the order of ss_record_put, the field bounds, side
 *     and direction, has_message 0 or 1), with the same fields; what it
 *     accepts is written back with ss_record_put() and read again to the
 *     same fields, reading the whole buffer. The signer's payload is
 *     round-tripped likewise.
 * No PKI is needed.
 */
#include "evidence.h"
#include "ipc.h"
#include "manifest.h"
#include "record_ipc.h"
#include "registry.h"
#include "regstore.h"
#include "ss_sha256.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FRAME_MAX 1024 /* the largest payload ss_ipc_recv takes here */
#define HEADER 16

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "fuzz_ipc: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
    abort();
}

/* ---- the writing end ---- */

struct writer {
    int fd;
    const uint8_t *data;
    size_t size;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    size_t off = 0;
    while (off < w->size) {
        ssize_t n = send(w->fd, w->data + off, w->size - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* the reader stopped and closed its end */
        off += (size_t)n;
    }
    close(w->fd);
    return NULL;
}

/* ---- a shadow of the bounded reader ---- */

struct shadow {
    struct ss_ipc_reader r;
    const uint8_t *base; /* the payload (NULL when empty) */
    size_t len, off;
    bool failed;
};

static void shadow_init(struct shadow *s, const struct ss_ipc_msg *m)
{
    ss_ipc_reader_init(&s->r, m);
    s->base = m->payload;
    s->len = m->len;
    s->off = 0;
    s->failed = false;
}

/* Position and failure agree; the reader never points outside the payload. */
static void agree(const struct shadow *s, const char *what)
{
    if (s->r.failed != s->failed)
        die(what, s->failed ? "a failed read went unnoticed" : "a good read counted as failed");
    if (s->r.end != (s->base ? s->base + s->len : NULL))
        die(what, "the reader's end moved");
    size_t at = (size_t)(s->r.p - s->base);
    if (at > s->len)
        die(what, "the reader points past the payload");
    if (!s->failed && at != s->off)
        die(what, "the reader is not where the format says");
    if (ss_ipc_reader_done(&s->r) != (!s->failed && s->off == s->len))
        die(what, "ss_ipc_reader_done disagrees");
}

static bool take(struct shadow *s, size_t n, size_t *at)
{
    if (s->failed || s->len - s->off < n) {
        s->failed = true;
        return false;
    }
    *at = s->off;
    s->off += n;
    return true;
}

static uint32_t get_u32(struct shadow *s)
{
    uint32_t got = ss_ipc_get_u32(&s->r), want = 0;
    size_t at = 0;
    if (take(s, 4, &at))
        memcpy(&want, s->base + at, 4);
    agree(s, "ss_ipc_get_u32");
    if (got != want)
        die("ss_ipc_get_u32", "another value");
    return got;
}

static uint64_t get_u64(struct shadow *s)
{
    uint64_t got = ss_ipc_get_u64(&s->r), want = 0;
    size_t at = 0;
    if (take(s, 8, &at))
        memcpy(&want, s->base + at, 8);
    agree(s, "ss_ipc_get_u64");
    if (got != want)
        die("ss_ipc_get_u64", "another value");
    return got;
}

/* The shadow of bytes: u32 length, at most max, then that many bytes. */
static bool shadow_bytes(struct shadow *s, size_t max, size_t *at, size_t *n)
{
    size_t lat = 0;
    uint32_t len = 0;
    *n = 0;
    if (!take(s, 4, &lat))
        return false;
    memcpy(&len, s->base + lat, 4);
    if (len > max || !take(s, len, at)) {
        s->failed = true;
        return false;
    }
    *n = len;
    return true;
}

static const uint8_t *get_bytes(struct shadow *s, size_t max, size_t *n)
{
    const uint8_t *got = ss_ipc_get_bytes(&s->r, max, n);
    size_t at = 0, want_n = 0;
    bool ok = shadow_bytes(s, max, &at, &want_n);
    agree(s, "ss_ipc_get_bytes");
    if (!ok) {
        if (got || *n)
            die("ss_ipc_get_bytes", "a failed read returned bytes");
        return NULL;
    }
    if (!got || *n != want_n || got != s->base + at || *n > max)
        die("ss_ipc_get_bytes", "not the bytes the length names");
    return got;
}

/* A string into a heap buffer of exactly size bytes. */
static char *get_str(struct shadow *s, size_t size)
{
    char *out = malloc(size);
    if (!out)
        die("out of memory", NULL);
    memset(out, 'x', size);
    ss_ipc_get_str(&s->r, out, size);
    size_t at = 0, n = 0;
    bool ok = shadow_bytes(s, size - 1, &at, &n) && !memchr(s->base + at, '\0', n);
    if (!ok)
        s->failed = true;
    agree(s, "ss_ipc_get_str");
    if (!ok) {
        if (out[0] != '\0')
            die("ss_ipc_get_str", "a failed read left a string behind");
    } else if (memcmp(out, s->base + at, n) != 0 || out[n] != '\0') {
        die("ss_ipc_get_str", "not the string the length names");
    }
    return out;
}

/* ---- the signer's SS_IPC_SIGN ---- */

static void read_sign(const struct ss_ipc_msg *m)
{
    struct shadow s;
    shadow_init(&s, m);
    char *member = get_str(&s, SS_ID_STR_MAX);
    size_t len = 0;
    const uint8_t *manifest = get_bytes(&s, SS_MANIFEST_MAX, &len);
    bool accepted = ss_ipc_reader_done(&s.r) && len > 0;
    if (accepted != (!s.failed && s.off == s.len && len > 0))
        die("take_sign", "accepted other than the format says");
    if (accepted) {
        struct ss_ipc_buf b = {0};
        ss_ipc_put_str(&b, member);
        ss_ipc_put_bytes(&b, manifest, len);
        if (b.failed || b.len != m->len || memcmp(b.data, m->payload, m->len) != 0)
            die("take_sign", "written back, the request is other bytes");
        ss_ipc_buf_cleanup(&b);
    }
    free(member);
}

/* ---- the network process's SS_IPC_SIGNED and SS_IPC_LOGGED (secsrv/proxy/seal.c) ---- */

static void read_signed(const struct ss_ipc_msg *m)
{
    struct shadow s;
    shadow_init(&s, m);
    size_t cms_len = 0, ocsp_len = 0;
    (void)get_u32(&s);
    free(get_str(&s, 2048));
    (void)get_bytes(&s, SS_EVIDENCE_CMS_MAX, &cms_len);
    free(get_str(&s, SS_MERKLE_PATH_TEXT_MAX));
    (void)get_bytes(&s, SS_TRUST_OCSP_MAX_BYTES, &ocsp_len);
    agree(&s, "the answer to SS_IPC_SIGN");
}

static void read_logged(const struct ss_ipc_msg *m)
{
    struct shadow s;
    shadow_init(&s, m);
    (void)get_u32(&s);
    free(get_str(&s, 300));
    (void)get_u64(&s);
    (void)get_u32(&s);
    agree(&s, "the answer to SS_IPC_LOG_APPEND");
}

/* ---- the logger's SS_IPC_REGISTRY ---- */

/* ss_regstore_read takes what the shadow reading takes, the same bytes, and their digest. */
static void read_registry(const struct ss_ipc_msg *m)
{
    struct shadow s;
    shadow_init(&s, m);
    size_t xml_len = 0, sig_len = 0;
    const uint8_t *xml = get_bytes(&s, SS_REGISTRY_MAX_BYTES, &xml_len);
    const uint8_t *sig = get_bytes(&s, SS_REGISTRY_SIG_MAX_BYTES, &sig_len);
    agree(&s, "take_registry");
    struct ss_regstore_handed h;
    bool ok = ss_regstore_read(m, &h);
    if (ok != ss_ipc_reader_done(&s.r))
        die("ss_regstore_read", ok ? "a malformed message taken" : "a good message refused");
    if (!ok)
        return;
    uint8_t digest[32];
    ss_sha256(xml, xml_len, digest);
    if (h.xml != xml || h.xml_len != xml_len || h.sig != sig || h.sig_len != sig_len ||
        memcmp(h.sha256, digest, 32) != 0)
        die("ss_regstore_read", "not the document and signature the message carries");
}

/* ---- the logger's SS_IPC_LOG_APPEND ---- */

struct blob {
    const uint8_t *p; /* into the payload, NULL when absent */
    size_t n;
    bool ok;
};

/* The record as this target reads the format of ss_record_put. */
struct expected_record {
    bool ok;
    char side[8], direction[9], query_id[256], request_id[37], client[SS_ID_STR_MAX],
        service[SS_ID_STR_MAX], purpose[65], error_type[129], sig_path[SS_MERKLE_PATH_TEXT_MAX];
    struct blob subject, digest, message, manifest, signature, ocsp;
    uint32_t status, has_message;
    uint64_t retain_until;
};

struct cursor {
    const uint8_t *base;
    size_t len, off;
    bool failed;
};

static bool c_take(struct cursor *c, size_t n, size_t *at)
{
    if (c->failed || c->len - c->off < n) {
        c->failed = true;
        return false;
    }
    *at = c->off;
    c->off += n;
    return true;
}

static uint64_t c_uint(struct cursor *c, size_t n)
{
    size_t at = 0;
    uint32_t v32 = 0;
    uint64_t v64 = 0;
    if (!c_take(c, n, &at))
        return 0;
    if (n == 4) {
        memcpy(&v32, c->base + at, 4);
        return v32;
    }
    memcpy(&v64, c->base + at, 8);
    return v64;
}

static struct blob c_bytes(struct cursor *c, size_t max)
{
    struct blob b = {NULL, 0, false};
    size_t at = 0;
    uint64_t len = c_uint(c, 4);
    if (c->failed || len > max || !c_take(c, (size_t)len, &at)) {
        c->failed = true;
        return b;
    }
    b.p = c->base + at;
    b.n = (size_t)len;
    b.ok = true;
    return b;
}

static void c_str(struct cursor *c, char *out, size_t size)
{
    struct blob b = c_bytes(c, size - 1);
    out[0] = '\0';
    if (!b.ok || memchr(b.p, '\0', b.n)) {
        c->failed = true;
        return;
    }
    memcpy(out, b.p, b.n);
    out[b.n] = '\0';
}

static void expected_record(const uint8_t *base, size_t len, struct expected_record *e, size_t *end)
{
    struct cursor c = {base, len, 0, false};
    memset(e, 0, sizeof *e);
    c_str(&c, e->side, sizeof e->side);
    c_str(&c, e->direction, sizeof e->direction);
    c_str(&c, e->query_id, sizeof e->query_id);
    c_str(&c, e->request_id, sizeof e->request_id);
    c_str(&c, e->client, sizeof e->client);
    c_str(&c, e->service, sizeof e->service);
    c_str(&c, e->purpose, sizeof e->purpose);
    e->subject = c_bytes(&c, 32);
    e->status = (uint32_t)c_uint(&c, 4);
    c_str(&c, e->error_type, sizeof e->error_type);
    e->retain_until = c_uint(&c, 8);
    e->digest = c_bytes(&c, 32);
    e->has_message = (uint32_t)c_uint(&c, 4);
    e->message = c_bytes(&c, SS_RECORD_MESSAGE_MAX);
    e->manifest = c_bytes(&c, 65536);
    e->signature = c_bytes(&c, 65536);
    c_str(&c, e->sig_path, sizeof e->sig_path);
    e->ocsp = c_bytes(&c, 65536);
    e->ok = !c.failed && (e->subject.n == 0 || e->subject.n == 32) && e->digest.n == 32 &&
            (strcmp(e->side, "client") == 0 || strcmp(e->side, "server") == 0) &&
            (strcmp(e->direction, "request") == 0 || strcmp(e->direction, "response") == 0) &&
            e->has_message <= 1;
    *end = c.off;
}

static bool same_blob(const uint8_t *p, size_t n, const uint8_t *q, size_t m)
{
    return n == m && (n == 0 || memcmp(p, q, n) == 0);
}

/* Two records hold the same fields (a record's message_len counts only with its message). */
static bool same_record(const struct ss_record *a, const struct ss_record *b)
{
    return strcmp(a->side, b->side) == 0 && strcmp(a->direction, b->direction) == 0 &&
           strcmp(a->query_id, b->query_id) == 0 && strcmp(a->request_id, b->request_id) == 0 &&
           strcmp(a->client, b->client) == 0 && strcmp(a->service, b->service) == 0 &&
           strcmp(a->purpose, b->purpose) == 0 && a->has_subject == b->has_subject &&
           (!a->has_subject || memcmp(a->subject_hash, b->subject_hash, 32) == 0) &&
           a->status == b->status && strcmp(a->error_type, b->error_type) == 0 &&
           a->retain_until == b->retain_until &&
           memcmp(a->message_sha256, b->message_sha256, 32) == 0 &&
           (a->message == NULL) == (b->message == NULL) &&
           (!a->message || same_blob(a->message, a->message_len, b->message, b->message_len)) &&
           (a->manifest == NULL) == (a->manifest_len == 0) &&
           (b->manifest == NULL) == (b->manifest_len == 0) &&
           same_blob(a->manifest, a->manifest_len, b->manifest, b->manifest_len) &&
           (a->signature == NULL) == (a->signature_len == 0) &&
           (b->signature == NULL) == (b->signature_len == 0) &&
           same_blob(a->signature, a->signature_len, b->signature, b->signature_len) &&
           strcmp(a->sig_path, b->sig_path) == 0 && (a->ocsp == NULL) == (a->ocsp_len == 0) &&
           (b->ocsp == NULL) == (b->ocsp_len == 0) &&
           same_blob(a->ocsp, a->ocsp_len, b->ocsp, b->ocsp_len);
}

/* The fields ss_record_get gave are the ones the format holds. */
static void check_record(const struct ss_record *r, const struct expected_record *e)
{
    bool same =
        strcmp(r->side, e->side) == 0 && strcmp(r->direction, e->direction) == 0 &&
        strcmp(r->query_id, e->query_id) == 0 && strcmp(r->request_id, e->request_id) == 0 &&
        strcmp(r->client, e->client) == 0 && strcmp(r->service, e->service) == 0 &&
        strcmp(r->purpose, e->purpose) == 0 && r->has_subject == (e->subject.n == 32) &&
        (!r->has_subject || memcmp(r->subject_hash, e->subject.p, 32) == 0) &&
        r->status == e->status && strcmp(r->error_type, e->error_type) == 0 &&
        (uint64_t)r->retain_until == e->retain_until &&
        memcmp(r->message_sha256, e->digest.p, 32) == 0 &&
        (r->message != NULL) == (e->has_message == 1) &&
        (!r->message || (r->message == e->message.p && r->message_len == e->message.n)) &&
        r->manifest == (e->manifest.n ? e->manifest.p : NULL) && r->manifest_len == e->manifest.n &&
        r->signature == (e->signature.n ? e->signature.p : NULL) &&
        r->signature_len == e->signature.n && strcmp(r->sig_path, e->sig_path) == 0 &&
        r->ocsp == (e->ocsp.n ? e->ocsp.p : NULL) && r->ocsp_len == e->ocsp.n;
    if (!same)
        die("ss_record_get", "the fields are not the ones the format holds");
}

static void read_append(const struct ss_ipc_msg *m)
{
    struct expected_record *e = malloc(sizeof *e);
    if (!e)
        die("out of memory", NULL);
    size_t end = 0;
    expected_record(m->payload, m->len, e, &end);
    struct shadow s;
    shadow_init(&s, m);
    struct ss_record rec;
    bool ok = ss_record_get(&s.r, &rec);
    if (ok != e->ok)
        die("ss_record_get", ok ? "accepted a malformed record" : "refused a well-formed record");
    if ((size_t)(s.r.p - s.base) > s.len)
        die("ss_record_get", "the reader points past the payload");
    if (ok) {
        check_record(&rec, e);
        if (s.r.failed || (size_t)(s.r.p - s.base) != end)
            die("ss_record_get", "the reader is not at the record's end");
        /* the rest of take_append, from where the record ends */
        s.off = end;
        (void)get_u32(&s);
        free(get_str(&s, 129));
        (void)get_u32(&s);

        /* written back and read again: the same record, the whole buffer */
        struct ss_ipc_buf b = {0};
        ss_record_put(&b, &rec);
        if (b.failed)
            die("ss_record_put", "failed on a record ss_record_get accepted");
        struct ss_ipc_msg copy = {.type = SS_IPC_LOG_APPEND, .payload = b.data, .len = b.len};
        struct ss_ipc_reader r2;
        struct ss_record back;
        ss_ipc_reader_init(&r2, &copy);
        if (!ss_record_get(&r2, &back) || !ss_ipc_reader_done(&r2))
            die("ss_record_get", "refused what ss_record_put wrote");
        if (!same_record(&rec, &back))
            die("ss_record_put then ss_record_get", "the fields changed");
        ss_ipc_buf_cleanup(&b);
    }
    free(e);
}

/* ---- frames ---- */

/* What ss_ipc_recv (and ss_ipc_inbuf_recv) must give for the stream's bytes from off on. */
static ss_error expected_frame(const uint8_t *data, size_t size, size_t off, uint32_t *len)
{
    size_t rem = size - off;
    if (rem < HEADER)
        return SS_ERR_IO; /* closed (rem 0) or truncated inside the header */
    uint16_t flags;
    memcpy(len, data + off, 4);
    memcpy(&flags, data + off + 6, 2);
    if (flags != 0 || *len > FRAME_MAX)
        return SS_ERR_PROTOCOL;
    return rem - HEADER < *len ? SS_ERR_IO : SS_OK; /* a payload cut short: the link ended */
}

/* Sends data into a socketpair and receives frames from it until one fails (buffered: with
 * ss_ipc_inbuf_recv, which must give what ss_ipc_recv gives). */
static void run_stream(const uint8_t *data, size_t size, bool buffered)
{
    const char *fn = buffered ? "ss_ipc_inbuf_recv" : "ss_ipc_recv";
    struct ss_ipc_inbuf in = {0};
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        die("socketpair", strerror(errno));
    /* most inputs fit into the socket's buffer at once; a second thread writes the rest */
    size_t sent = 0;
    while (sent < size) {
        ssize_t n = send(sv[1], data + sent, size - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        sent += (size_t)n;
    }
    struct writer w = {sv[1], data + sent, size - sent};
    pthread_t thread;
    bool threaded = sent < size;
    if (!threaded)
        close(sv[1]);
    else if (pthread_create(&thread, NULL, writer_main, &w) != 0)
        die("cannot start the writer thread", NULL);
    size_t off = 0;
    for (;;) {
        uint32_t len = 0;
        ss_error want = expected_frame(data, size, off, &len);
        struct ss_ipc_msg m;
        ss_error got = buffered ? ss_ipc_inbuf_recv(&in, sv[0], FRAME_MAX, &m)
                                : ss_ipc_recv(sv[0], FRAME_MAX, &m);
        if (got != want) {
            char detail[160];
            snprintf(detail, sizeof detail, "%s, expected %s at offset %zu (%s)",
                     ss_error_name(got), ss_error_name(want), off, got ? ss_errmsg() : "");
            die(fn, detail);
        }
        if (got) {
            if (!*ss_errmsg())
                die(fn, "failed without a reason");
            if (m.payload || m.fd != -1)
                die(fn, "failed but left a payload or descriptor");
            break;
        }
        uint16_t type;
        uint64_t id;
        memcpy(&type, data + off + 4, 2);
        memcpy(&id, data + off + 8, 8);
        if (m.type != type || m.id != id || m.len != len || m.fd != -1 ||
            (len == 0) != (m.payload == NULL) ||
            (len && memcmp(m.payload, data + off + HEADER, len) != 0))
            die(fn, "the frame is not the one sent");
        if (buffered && in.end - in.start > size - off - HEADER - len)
            die(fn, "holds bytes that were never sent");
        read_sign(&m);
        read_append(&m);
        read_registry(&m);
        read_signed(&m);
        read_logged(&m);
        ss_ipc_msg_cleanup(&m);
        off += HEADER + len;
    }
    ss_ipc_inbuf_cleanup(&in);
    close(sv[0]);
    if (threaded)
        pthread_join(thread, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run_stream(data, size, false);
    run_stream(data, size, true);
    return 0;
}
