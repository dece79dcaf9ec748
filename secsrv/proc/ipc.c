/* pipe2 and MSG_CMSG_CLOEXEC */
#define _GNU_SOURCE
#include "ipc.h"
#include "log.h"
#include "ss_grow.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

struct frame_header {
    uint32_t len;
    uint16_t type;
    uint16_t flags; /* 0 */
    uint64_t id;
};

void ss_ipc_msg_cleanup(struct ss_ipc_msg *m)
{
    if (!m)
        return;
    free(m->payload);
    m->payload = NULL;
    m->len = 0;
    if (m->fd >= 0)
        close(m->fd);
    m->fd = -1;
}

static ss_error send_all(int sock, struct msghdr *mh, size_t total);

ss_error ss_ipc_send(int sock, uint16_t type, uint64_t id, const void *payload, size_t len, int fd)
{
    if (len > SS_IPC_MAX_PAYLOAD)
        return ss_errf(SS_ERR_LIMIT, "IPC message of %zu bytes is over the limit", len);
    struct frame_header h = {.len = (uint32_t)len, .type = type, .flags = 0, .id = id};
    struct iovec iov[2] = {{&h, sizeof h}, {(void *)(uintptr_t)payload, len}};
    int niov = len ? 2 : 1;
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } control;
    struct msghdr mh = {.msg_iov = iov, .msg_iovlen = (size_t)niov};
    if (fd >= 0) {
        memset(&control, 0, sizeof control);
        mh.msg_control = control.buf;
        mh.msg_controllen = sizeof control.buf;
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    }
    return send_all(sock, &mh, sizeof h + len);
}

/* Sends the whole of mh's iovecs (total bytes); its descriptor goes with the first bytes. */
static ss_error send_all(int sock, struct msghdr *mh, size_t total)
{
    size_t sent = 0;
    while (sent < total) {
        ssize_t n = sendmsg(sock, mh, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return ss_errf(SS_ERR_IO, "IPC send: %s", n < 0 ? strerror(errno) : "closed");
        sent += (size_t)n;
        mh->msg_control = NULL; /* the descriptor went with the first bytes */
        mh->msg_controllen = 0;
        size_t skip = (size_t)n;
        while (mh->msg_iovlen > 0 && skip >= mh->msg_iov[0].iov_len) {
            skip -= mh->msg_iov[0].iov_len;
            mh->msg_iov++;
            mh->msg_iovlen--;
        }
        if (mh->msg_iovlen > 0) {
            mh->msg_iov[0].iov_base = (char *)mh->msg_iov[0].iov_base + skip;
            mh->msg_iov[0].iov_len -= skip;
        }
    }
    return SS_OK;
}

/* Reads exactly n bytes; the first read may carry a descriptor. */
static ss_error read_full(int sock, void *buf, size_t n, int *fd)
{
    size_t got = 0;
    while (got < n) {
        union {
            struct cmsghdr align;
            char buf[CMSG_SPACE(sizeof(int))];
        } control;
        struct iovec iov = {(char *)buf + got, n - got};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
        if (fd) {
            mh.msg_control = control.buf;
            mh.msg_controllen = sizeof control.buf;
        }
        ssize_t r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return ss_errf(SS_ERR_IO, "IPC receive: %s", strerror(errno));
        if (r == 0)
            return ss_errf(SS_ERR_IO, got ? "IPC receive: truncated frame" : "IPC link closed");
        if (fd) {
            for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm)) {
                if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS &&
                    cm->cmsg_len == CMSG_LEN(sizeof(int))) {
                    int passed;
                    memcpy(&passed, CMSG_DATA(cm), sizeof passed);
                    if (*fd >= 0)
                        close(passed); /* one descriptor per frame */
                    else
                        *fd = passed;
                }
            }
            fd = NULL;
        }
        got += (size_t)r;
    }
    return SS_OK;
}

/* A header no receiver takes: flags set, or more bytes than max. */
static ss_error frame_refused(const struct frame_header *h, size_t max)
{
    if (h->flags != 0 || h->len > max || h->len > SS_IPC_MAX_PAYLOAD)
        return ss_errf(SS_ERR_PROTOCOL, "IPC frame of type %u with %u bytes refused", h->type,
                       h->len);
    return SS_OK;
}

ss_error ss_ipc_recv(int sock, size_t max, struct ss_ipc_msg *out)
{
    memset(out, 0, sizeof *out);
    out->fd = -1;
    struct frame_header h;
    ss_error err = read_full(sock, &h, sizeof h, &out->fd);
    if (err)
        return err;
    if ((err = frame_refused(&h, max))) {
        ss_ipc_msg_cleanup(out);
        return err;
    }
    out->type = h.type;
    out->id = h.id;
    out->len = h.len;
    if (h.len) {
        out->payload = malloc(h.len);
        if (!out->payload) {
            ss_ipc_msg_cleanup(out);
            return ss_errf(SS_ERR_NOMEM, "out of memory");
        }
        /* cut short by the end of the link (its process died): the link ended */
        if ((err = read_full(sock, out->payload, h.len, NULL))) {
            ss_ipc_msg_cleanup(out);
            return err;
        }
    }
    return SS_OK;
}

/* ---- buffered receiving ---- */

/* what a buffer keeps between frames; a larger frame grows it for its time */
#define INBUF_KEEP (64u * 1024)

void ss_ipc_inbuf_reset(struct ss_ipc_inbuf *in)
{
    if (in->cap > INBUF_KEEP) {
        free(in->data);
        in->data = NULL;
        in->cap = 0;
    }
    in->start = in->end = 0;
}

void ss_ipc_inbuf_cleanup(struct ss_ipc_inbuf *in)
{
    free(in->data);
    memset(in, 0, sizeof *in);
}

bool ss_ipc_inbuf_ready(const struct ss_ipc_inbuf *in)
{
    return in->end - in->start >= sizeof(struct frame_header);
}

/* Reads until the buffer holds need bytes past start (need <= header + the largest payload). */
static ss_error inbuf_fill(struct ss_ipc_inbuf *in, int sock, size_t need)
{
    while (in->end - in->start < need) {
        if (in->cap - in->start < need) {
            if (in->start) { /* the frame's beginning to the front */
                memmove(in->data, in->data + in->start, in->end - in->start);
                in->end -= in->start;
                in->start = 0;
            }
            if (in->cap < need) {
                size_t cap = need > INBUF_KEEP ? need : INBUF_KEEP;
                uint8_t *d = realloc(in->data, cap);
                if (!d)
                    return ss_errf(SS_ERR_NOMEM, "out of memory");
                in->data = d;
                in->cap = cap;
            }
        }
        ssize_t r = recv(sock, in->data + in->end, in->cap - in->end, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return ss_errf(SS_ERR_IO, "IPC receive: %s", strerror(errno));
        if (r == 0)
            return ss_errf(SS_ERR_IO, in->end > in->start ? "IPC receive: truncated frame"
                                                          : "IPC link closed");
        in->end += (size_t)r;
    }
    return SS_OK;
}

ss_error ss_ipc_inbuf_recv(struct ss_ipc_inbuf *in, int sock, size_t max, struct ss_ipc_msg *out)
{
    memset(out, 0, sizeof *out);
    out->fd = -1;
    struct frame_header h;
    ss_error err = inbuf_fill(in, sock, sizeof h);
    if (err)
        return err;
    memcpy(&h, in->data + in->start, sizeof h);
    if ((err = frame_refused(&h, max)))
        return err;
    /* a link that ends in the middle of a frame (its process died) is a link that ended */
    if ((err = inbuf_fill(in, sock, sizeof h + h.len)))
        return err;
    if (h.len) {
        out->payload = malloc(h.len);
        if (!out->payload)
            return ss_errf(SS_ERR_NOMEM, "out of memory");
        memcpy(out->payload, in->data + in->start + sizeof h, h.len);
    }
    out->type = h.type;
    out->id = h.id;
    out->len = h.len;
    in->start += sizeof h + h.len;
    if (in->start == in->end)
        ss_ipc_inbuf_reset(in);
    return SS_OK;
}

/* ---- payloads ---- */

void ss_ipc_buf_cleanup(struct ss_ipc_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

static void put_raw(struct ss_ipc_buf *b, const void *p, size_t n)
{
    if (b->failed)
        return;
    if (n > SS_IPC_MAX_PAYLOAD - b->len) {
        b->failed = true;
        return;
    }
    if (!ss_grow(&b->data, &b->cap, b->len + n, 1, 256)) {
        b->failed = true;
        return;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
}

void ss_ipc_buf_reserve(struct ss_ipc_buf *b, size_t n)
{
    if (!b->failed && (n > SS_IPC_MAX_PAYLOAD - b->len || !ss_grow(&b->data, &b->cap, b->len + n, 1, 256)))
        b->failed = true;
}

void ss_ipc_frame_put(struct ss_ipc_buf *out, uint16_t type, uint64_t id, const void *payload,
                      size_t len)
{
    if (len > SS_IPC_MAX_PAYLOAD) {
        out->failed = true;
        return;
    }
    struct frame_header h = {.len = (uint32_t)len, .type = type, .flags = 0, .id = id};
    put_raw(out, &h, sizeof h);
    put_raw(out, payload, len);
}

ss_error ss_ipc_send_frames(int sock, const struct ss_ipc_buf *frames)
{
    if (frames->failed)
        return ss_errf(SS_ERR_NOMEM, "IPC: frames too large or out of memory");
    struct iovec iov = {frames->data, frames->len};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    return send_all(sock, &mh, frames->len);
}

void ss_ipc_put_u32(struct ss_ipc_buf *b, uint32_t v)
{
    put_raw(b, &v, sizeof v);
}

void ss_ipc_put_u64(struct ss_ipc_buf *b, uint64_t v)
{
    put_raw(b, &v, sizeof v);
}

void ss_ipc_put_bytes(struct ss_ipc_buf *b, const void *p, size_t n)
{
    if (n > UINT32_MAX) {
        b->failed = true;
        return;
    }
    ss_ipc_put_u32(b, (uint32_t)n);
    put_raw(b, p, n);
}

void ss_ipc_put_str(struct ss_ipc_buf *b, const char *s)
{
    ss_ipc_put_bytes(b, s ? s : "", s ? strlen(s) : 0);
}

void ss_ipc_reader_init(struct ss_ipc_reader *r, const struct ss_ipc_msg *m)
{
    r->p = m->payload;
    r->end = m->payload ? m->payload + m->len : NULL;
    r->failed = false;
}

static bool get_raw(struct ss_ipc_reader *r, void *out, size_t n)
{
    if (r->failed || (size_t)(r->end - r->p) < n) {
        r->failed = true;
        memset(out, 0, n);
        return false;
    }
    memcpy(out, r->p, n);
    r->p += n;
    return true;
}

uint32_t ss_ipc_get_u32(struct ss_ipc_reader *r)
{
    uint32_t v = 0;
    get_raw(r, &v, sizeof v);
    return v;
}

uint64_t ss_ipc_get_u64(struct ss_ipc_reader *r)
{
    uint64_t v = 0;
    get_raw(r, &v, sizeof v);
    return v;
}

const uint8_t *ss_ipc_get_bytes(struct ss_ipc_reader *r, size_t max, size_t *n)
{
    *n = 0;
    uint32_t len = ss_ipc_get_u32(r);
    if (r->failed || len > max || (size_t)(r->end - r->p) < len) {
        r->failed = true;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += len;
    *n = len;
    return p;
}

void ss_ipc_get_str(struct ss_ipc_reader *r, char *out, size_t size)
{
    size_t n = 0;
    const uint8_t *p = ss_ipc_get_bytes(r, size - 1, &n);
    if (p && memchr(p, '\0', n))
        r->failed = true;
    if (!p || r->failed) {
        out[0] = '\0';
        return;
    }
    memcpy(out, p, n);
    out[n] = '\0';
}

bool ss_ipc_reader_done(const struct ss_ipc_reader *r)
{
    return !r->failed && r->p == r->end;
}

/* ---- the asynchronous client ---- */

#define BUCKETS 1024
/* links replaced and not yet closed by the reader, at most */
#define RETIRED_MAX 4

struct pending {
    uint64_t id;
    ss_ipc_done done;
    void *arg;
    struct timespec deadline;
    struct pending *next;
};

/*
 * What a link could not take at once: whole frames, the first perhaps begun. A sender never
 * waits for the peer to read (a thread that waited would hold every fiber on it, and those
 * waiting for the lock, health's call among them); the reader thread writes the rest when the
 * socket takes it. A link on which nothing went for SS_IPC_SEND_TIMEOUT counts as broken.
 */
struct outq {
    uint8_t *data;
    size_t head, len, cap; /* data[head..len) is still to go */
    struct timespec since; /* when the queue last moved (or began) */
};

/* Frames waiting, at most (one larger frame may wait alone). */
#define OUTQ_MAX ((size_t)SS_IPC_MAX_PAYLOAD)

struct ss_ipc_client {
    char name[32];
    pthread_mutex_t mu;      /* pending, fd, attached, next_id, stopping */
    pthread_mutex_t send_mu; /* out, and the order of frames on the link; never held to wait */
    struct outq out;
    unsigned stall_ms; /* a link that takes nothing this long is given up */
    struct pending *buckets[BUCKETS];
    size_t n_pending;
    uint64_t next_id;
    int fd;
    uint32_t serial; /* the parent's number for the link fd */
    bool attached;   /* a new link is in place: on_attach is due */
    int wake[2];     /* self-pipe: attach and stop wake the reader */
    /* replaced links, shut down, for the reader to close: it may be reading one, and a number
     * closed under it could be reused at once (by an accepted connection) */
    int retired[RETIRED_MAX];
    size_t n_retired;
    struct ss_ipc_inbuf in; /* the reader's own */
    bool stopping;
    pthread_t reader;
    void (*on_attach)(void *arg);
    void *on_attach_arg;
    void (*on_broken)(void *arg, uint32_t serial);
    void *on_broken_arg;
};

static struct pending *take_pending(struct ss_ipc_client *c, uint64_t id)
{
    struct pending **pp = &c->buckets[id % BUCKETS];
    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            struct pending *p = *pp;
            *pp = p->next;
            c->n_pending--;
            return p;
        }
    }
    return NULL;
}

/* Unlinks every pending request (with mu held) into a list to fail. */
static struct pending *take_all(struct ss_ipc_client *c)
{
    struct pending *all = NULL;
    for (size_t i = 0; i < BUCKETS; i++) {
        while (c->buckets[i]) {
            struct pending *p = c->buckets[i];
            c->buckets[i] = p->next;
            p->next = all;
            all = p;
        }
    }
    c->n_pending = 0;
    return all;
}

static void fail_list(struct ss_ipc_client *c, struct pending *list, ss_error code, const char *why)
{
    while (list) {
        struct pending *p = list;
        list = p->next;
        ss_errf(code, "%s: %s", c->name, why);
        p->done(p->arg, code, NULL);
        free(p);
    }
}

static bool expired(const struct timespec *now, const struct timespec *deadline)
{
    return now->tv_sec > deadline->tv_sec ||
           (now->tv_sec == deadline->tv_sec && now->tv_nsec >= deadline->tv_nsec);
}

/* t + ms. */
static struct timespec after_ms(struct timespec t, unsigned ms)
{
    t.tv_sec += ms / 1000;
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) {
        t.tv_sec++;
        t.tv_nsec -= 1000000000L;
    }
    return t;
}

/* Takes the pending requests whose deadline passed (with mu held). */
static struct pending *take_expired(struct ss_ipc_client *c)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    struct pending *out = NULL;
    for (size_t i = 0; i < BUCKETS && c->n_pending; i++) {
        struct pending **pp = &c->buckets[i];
        while (*pp) {
            if (expired(&now, &(*pp)->deadline)) {
                struct pending *p = *pp;
                *pp = p->next;
                c->n_pending--;
                p->next = out;
                out = p;
            } else {
                pp = &(*pp)->next;
            }
        }
    }
    return out;
}

static void wake(struct ss_ipc_client *c)
{
    char b = 1;
    (void)!write(c->wake[1], &b, 1);
}

static size_t outq_waiting(const struct outq *q)
{
    return q->len - q->head;
}

static void outq_clear(struct outq *q)
{
    q->head = q->len = 0;
    if (q->cap > 1024 * 1024) { /* a large frame went: its room goes too */
        free(q->data);
        q->data = NULL;
        q->cap = 0;
    }
}

/* Appends the bytes of parts (all, or none when out of memory). */
static bool outq_put(struct outq *q, const struct iovec *parts, size_t n_parts)
{
    size_t n = 0;
    for (size_t i = 0; i < n_parts; i++)
        n += parts[i].iov_len;
    if (q->head == q->len)
        q->head = q->len = 0;
    else if (q->head > q->cap / 2) { /* the sent half is room again */
        memmove(q->data, q->data + q->head, q->len - q->head);
        q->len -= q->head;
        q->head = 0;
    }
    if (!ss_grow(&q->data, &q->cap, q->len + n, 1, 4096))
        return false;
    for (size_t i = 0; i < n_parts; i++) {
        if (parts[i].iov_len)
            memcpy(q->data + q->len, parts[i].iov_base, parts[i].iov_len);
        q->len += parts[i].iov_len;
    }
    return true;
}

/*
 * Writes what the queue holds, as far as the socket takes it without waiting (send_mu held).
 * A link that fails is shut down: the reader fails what waits on it.
 */
static void outq_flush(struct outq *q, int fd)
{
    while (q->head < q->len) {
        ssize_t n = send(fd, q->data + q->head, q->len - q->head, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            (void)shutdown(fd, SHUT_RDWR);
            break;
        }
        q->head += (size_t)n;
        clock_gettime(CLOCK_MONOTONIC, &q->since);
    }
    outq_clear(q);
}

/* Reads one answer on fd and completes its request; false when the link broke. */
static bool take_answer(struct ss_ipc_client *c, int fd)
{
    struct ss_ipc_msg msg;
    ss_error err = ss_ipc_inbuf_recv(&c->in, fd, SS_IPC_MAX_PAYLOAD, &msg);
    if (err) {
        char why[200];
        snprintf(why, sizeof why, "link broken: %s", ss_errmsg());
        ss_ipc_inbuf_reset(&c->in);
        pthread_mutex_lock(&c->send_mu);
        pthread_mutex_lock(&c->mu);
        struct pending *all = NULL;
        bool broke = c->fd == fd; /* not replaced meanwhile */
        uint32_t serial = c->serial;
        void (*on_broken)(void *, uint32_t) = broke && !c->stopping ? c->on_broken : NULL;
        void *on_broken_arg = c->on_broken_arg;
        if (broke) {
            all = take_all(c);
            close(c->fd);
            c->fd = -1;
            outq_clear(&c->out);
        }
        pthread_mutex_unlock(&c->mu);
        pthread_mutex_unlock(&c->send_mu);
        fail_list(c, all, SS_ERR_IO, why);
        if (on_broken)
            on_broken(on_broken_arg, serial);
        return false;
    }
    pthread_mutex_lock(&c->mu);
    struct pending *p = take_pending(c, msg.id);
    pthread_mutex_unlock(&c->mu);
    if (p) {
        p->done(p->arg, SS_OK, &msg);
        free(p);
    }
    ss_ipc_msg_cleanup(&msg);
    return true;
}

static void *reader_main(void *arg)
{
    struct ss_ipc_client *c = arg;
    for (;;) {
        pthread_mutex_lock(&c->mu);
        bool stop = c->stopping;
        bool attached = c->attached;
        c->attached = false;
        int fd = c->fd;
        struct pending *late = take_expired(c);
        int retired[RETIRED_MAX];
        size_t n_retired = c->n_retired;
        memcpy(retired, c->retired, sizeof retired);
        c->n_retired = 0;
        pthread_mutex_unlock(&c->mu);
        for (size_t i = 0; i < n_retired; i++)
            close(retired[i]);
        fail_list(c, late, SS_ERR_UPSTREAM_TIMEOUT, "no answer in time");
        if (stop)
            break;
        if (attached) {
            ss_ipc_inbuf_reset(&c->in); /* what the old link brought is no part of the new one's */
            if (c->on_attach)
                c->on_attach(c->on_attach_arg);
        }
        /* frames the link could not take at once: written as it takes them, and a link that
         * took nothing for SS_IPC_SEND_TIMEOUT is given up */
        bool want_out = false, stalled = false;
        if (fd >= 0) {
            pthread_mutex_lock(&c->send_mu);
            if (c->fd == fd && outq_waiting(&c->out)) {
                struct timespec now, limit = after_ms(c->out.since, c->stall_ms);
                clock_gettime(CLOCK_MONOTONIC, &now);
                if (expired(&now, &limit)) {
                    stalled = true;
                    (void)shutdown(fd, SHUT_RDWR);
                    outq_clear(&c->out);
                } else {
                    want_out = true;
                }
            }
            pthread_mutex_unlock(&c->send_mu);
        }
        if (stalled)
            ss_log(SS_LOG_WARN, "%s: the peer took nothing for %u ms: the link is given up",
                   c->name, c->stall_ms);
        struct pollfd pfd[2] = {{c->wake[0], POLLIN, 0},
                                {fd, (short)(POLLIN | (want_out ? POLLOUT : 0)), 0}};
        int n = poll(pfd, fd >= 0 ? 2 : 1, 100);
        if (n < 0 && errno != EINTR)
            break;
        if (n > 0 && (pfd[0].revents & POLLIN)) {
            char drain[64];
            while (read(c->wake[0], drain, sizeof drain) == (ssize_t)sizeof drain) {
            }
        }
        if (fd >= 0 && n > 0 && (pfd[1].revents & POLLOUT)) {
            pthread_mutex_lock(&c->send_mu);
            if (c->fd == fd)
                outq_flush(&c->out, fd);
            pthread_mutex_unlock(&c->send_mu);
        }
        if (fd < 0 || n <= 0 || !(pfd[1].revents & (POLLIN | POLLHUP | POLLERR)))
            continue;
        /* every frame the last read brought, before the next wait */
        while (take_answer(c, fd) && ss_ipc_inbuf_ready(&c->in)) {
        }
    }
    return NULL;
}

ss_error ss_ipc_client_new(const char *name, struct ss_ipc_client **out)
{
    *out = NULL;
    struct ss_ipc_client *c = calloc(1, sizeof *c);
    if (!c)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    snprintf(c->name, sizeof c->name, "%s", name);
    c->fd = -1;
    c->next_id = 1;
    c->stall_ms = SS_IPC_SEND_TIMEOUT * 1000;
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->send_mu, NULL);
    if (pipe2(c->wake, O_CLOEXEC | O_NONBLOCK) != 0) {
        pthread_mutex_destroy(&c->mu);
        pthread_mutex_destroy(&c->send_mu);
        free(c);
        return ss_errf(SS_ERR_IO, "pipe: %s", strerror(errno));
    }
    if (pthread_create(&c->reader, NULL, reader_main, c) != 0) {
        close(c->wake[0]);
        close(c->wake[1]);
        pthread_mutex_destroy(&c->mu);
        pthread_mutex_destroy(&c->send_mu);
        free(c);
        return ss_errf(SS_ERR_INTERNAL, "cannot start the IPC reader thread");
    }
    *out = c;
    return SS_OK;
}

void ss_ipc_client_free(struct ss_ipc_client *c)
{
    if (!c)
        return;
    pthread_mutex_lock(&c->mu);
    c->stopping = true;
    pthread_mutex_unlock(&c->mu);
    wake(c);
    pthread_join(c->reader, NULL);
    pthread_mutex_lock(&c->mu);
    struct pending *all = take_all(c);
    for (size_t i = 0; i < c->n_retired; i++)
        close(c->retired[i]);
    c->n_retired = 0;
    pthread_mutex_unlock(&c->mu);
    fail_list(c, all, SS_ERR_IO, "stopping");
    if (c->fd >= 0)
        close(c->fd);
    close(c->wake[0]);
    close(c->wake[1]);
    ss_ipc_inbuf_cleanup(&c->in);
    free(c->out.data);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->send_mu);
    free(c);
}

void ss_ipc_client_on_attach(struct ss_ipc_client *c, void (*fn)(void *arg), void *arg)
{
    pthread_mutex_lock(&c->mu);
    c->on_attach = fn;
    c->on_attach_arg = arg;
    pthread_mutex_unlock(&c->mu);
}

void ss_ipc_client_on_broken(struct ss_ipc_client *c, void (*fn)(void *arg, uint32_t serial),
                             void *arg)
{
    pthread_mutex_lock(&c->mu);
    c->on_broken = fn;
    c->on_broken_arg = arg;
    pthread_mutex_unlock(&c->mu);
}

ss_error ss_ipc_client_attach(struct ss_ipc_client *c, int fd, uint32_t serial)
{
    /* a peer that stops in the middle of a frame must not hold the reader for ever (sends
     * never wait: send_on_link) */
    struct timeval tv = {.tv_sec = SS_IPC_SEND_TIMEOUT};
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0) {
        close(fd);
        return ss_errf(SS_ERR_IO, "%s: setsockopt: %s", c->name, strerror(errno));
    }
    pthread_mutex_lock(&c->send_mu); /* no send is under way on the old link */
    pthread_mutex_lock(&c->mu);
    struct pending *broken = take_all(c);
    if (c->fd >= 0) {
        /* the reader closes it: it ends whatever wait or read the reader has on it */
        (void)shutdown(c->fd, SHUT_RDWR);
        if (c->n_retired < RETIRED_MAX)
            c->retired[c->n_retired++] = c->fd;
        else
            close(c->fd); /* replaced RETIRED_MAX times before the reader ran: it reads none */
    }
    c->fd = fd;
    c->serial = serial;
    c->attached = true;
    outq_clear(&c->out); /* the old link's frames, for requests failed here */
    pthread_mutex_unlock(&c->mu);
    pthread_mutex_unlock(&c->send_mu);
    fail_list(c, broken, SS_ERR_IO, "the link was replaced");
    wake(c);
    return SS_OK;
}

void ss_ipc_client_stall_limit(struct ss_ipc_client *c, unsigned ms)
{
    pthread_mutex_lock(&c->send_mu);
    c->stall_ms = ms;
    pthread_mutex_unlock(&c->send_mu);
    wake(c);
}

bool ss_ipc_client_linked(struct ss_ipc_client *c)
{
    pthread_mutex_lock(&c->mu);
    bool linked = c->fd >= 0;
    pthread_mutex_unlock(&c->mu);
    return linked;
}

/*
 * Sends one frame without waiting: at once if the link takes it, the rest queued for the
 * reader thread to write; refused when the queue is full (the peer is not keeping up) and
 * bounded (a request, which fails then; a notice is queued whatever the queue holds).
 */
static ss_error send_on_link(struct ss_ipc_client *c, int fd, uint16_t type, uint64_t id,
                             const struct ss_ipc_buf *payload, bool bounded)
{
    if (payload && payload->failed)
        return ss_errf(SS_ERR_LIMIT, "%s: request too large or out of memory", c->name);
    size_t len = payload ? payload->len : 0;
    struct frame_header h = {.len = (uint32_t)len, .type = type, .flags = 0, .id = id};
    struct iovec iov[2] = {{&h, sizeof h}, {payload ? payload->data : NULL, len}};
    size_t total = sizeof h + len;
    ss_error err = SS_OK;
    bool queued = false;
    pthread_mutex_lock(&c->send_mu);
    pthread_mutex_lock(&c->mu);
    bool current = c->fd == fd; /* the reader closes a link only while holding send_mu */
    pthread_mutex_unlock(&c->mu);
    size_t sent = 0;
    if (!current) {
        err = ss_errf(SS_ERR_IO, "%s: the link broke", c->name);
    } else if (outq_waiting(&c->out) == 0) {
        struct msghdr mh = {.msg_iov = iov, .msg_iovlen = len ? 2 : 1};
        ssize_t n;
        do
            n = sendmsg(fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
        while (n < 0 && errno == EINTR);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
            err = ss_errf(SS_ERR_IO, "%s: IPC send: %s", c->name, strerror(errno));
        else
            sent = n > 0 ? (size_t)n : 0;
    } else if (bounded && outq_waiting(&c->out) + total > OUTQ_MAX) {
        err = ss_errf(SS_ERR_IO, "%s: the process is not keeping up (%zu bytes wait for it)",
                      c->name, outq_waiting(&c->out));
        current = false; /* nothing of this frame went: the link is still in step */
    }
    if (!err && sent < total) {
        /* the part the link did not take, in order after what waits already */
        for (size_t i = 0, skip = sent; i < 2; i++) {
            size_t k = skip < iov[i].iov_len ? skip : iov[i].iov_len;
            iov[i].iov_base = (char *)iov[i].iov_base + k;
            iov[i].iov_len -= k;
            skip -= k;
        }
        bool was_empty = outq_waiting(&c->out) == 0;
        if (!outq_put(&c->out, iov, 2)) {
            err = ss_errf(SS_ERR_NOMEM, "%s: out of memory", c->name);
            current = sent > 0; /* half a frame went: the link is out of step */
        } else {
            if (was_empty)
                clock_gettime(CLOCK_MONOTONIC, &c->out.since);
            queued = true;
        }
    }
    /* a send that failed may have left half a frame: the next frame would be read from its
     * middle, so the link ends here (the reader fails what waits on it and reports it) */
    if (current && err)
        (void)shutdown(fd, SHUT_RDWR);
    pthread_mutex_unlock(&c->send_mu);
    if (queued)
        wake(c); /* the reader watches the link for room */
    return err;
}

void ss_ipc_client_submit(struct ss_ipc_client *c, uint16_t type, const struct ss_ipc_buf *payload,
                          unsigned timeout_ms, ss_ipc_done done, void *arg)
{
    struct pending *p = calloc(1, sizeof *p);
    if (!p) {
        ss_errf(SS_ERR_NOMEM, "out of memory");
        done(arg, SS_ERR_NOMEM, NULL);
        return;
    }
    p->done = done;
    p->arg = arg;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    p->deadline = after_ms(now, timeout_ms);
    pthread_mutex_lock(&c->mu);
    int fd = c->fd;
    /* once mu is let go, p is the reader's: a broken link fails and frees it at once */
    uint64_t id = 0;
    if (fd >= 0) {
        id = p->id = c->next_id++;
        p->next = c->buckets[id % BUCKETS];
        c->buckets[id % BUCKETS] = p;
        c->n_pending++;
    }
    pthread_mutex_unlock(&c->mu);
    if (fd < 0) {
        free(p);
        ss_errf(SS_ERR_IO, "%s: no link (the process is not running, or is being started again)", c->name);
        done(arg, SS_ERR_IO, NULL);
        return;
    }
    ss_error err = send_on_link(c, fd, type, id, payload, true);
    if (!err)
        return;
    char why[200];
    snprintf(why, sizeof why, "%s", ss_errmsg());
    pthread_mutex_lock(&c->mu);
    struct pending *mine = take_pending(c, id); /* unless the reader failed it already */
    pthread_mutex_unlock(&c->mu);
    if (mine) {
        mine->next = NULL;
        fail_list(c, mine, err, why);
    }
}

static void call_done(void *arg, ss_error err, struct ss_ipc_msg *msg)
{
    struct ss_ipc_call *st = arg;
    st->err = err;
    if (err)
        snprintf(st->reason, sizeof st->reason, "%s", ss_errmsg());
    if (msg) {
        st->reply = *msg;
        msg->payload = NULL; /* kept */
        msg->len = 0;
        msg->fd = -1;
    }
    ss_wait_done(&st->done); /* what was written above is the waiter's after this */
}

void ss_ipc_call_start(struct ss_ipc_client *c, uint16_t type, const struct ss_ipc_buf *payload,
                       unsigned timeout_ms, struct ss_ipc_call *call)
{
    memset(call, 0, sizeof *call);
    call->reply.fd = -1;
    ss_wait_init(&call->done);
    ss_ipc_client_submit(c, type, payload, timeout_ms, call_done, call);
}

ss_error ss_ipc_call_wait(struct ss_ipc_call *call, struct ss_ipc_msg *reply)
{
    ss_wait_for(&call->done);
    ss_wait_destroy(&call->done);
    if (call->err)
        return ss_errf(call->err, "%s", call->reason);
    *reply = call->reply;
    return SS_OK;
}

ss_error ss_ipc_client_call(struct ss_ipc_client *c, uint16_t type,
                            const struct ss_ipc_buf *payload, unsigned timeout_ms,
                            struct ss_ipc_msg *reply)
{
    struct ss_ipc_call call;
    ss_ipc_call_start(c, type, payload, timeout_ms, &call);
    return ss_ipc_call_wait(&call, reply);
}

ss_error ss_ipc_client_notify(struct ss_ipc_client *c, uint16_t type,
                              const struct ss_ipc_buf *payload)
{
    pthread_mutex_lock(&c->mu);
    int fd = c->fd;
    pthread_mutex_unlock(&c->mu);
    if (fd < 0)
        return ss_errf(SS_ERR_IO, "%s: no link", c->name);
    /* a notice (the registry in force, a reload) has no request to fail and no second
     * chance: it waits whatever the queue holds */
    return send_on_link(c, fd, type, 0, payload, false);
}
