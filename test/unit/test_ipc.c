/*
 * Unit tests of the IPC module (secsrv/proc/ipc.c): frames round-trip with
 * and without a passed descriptor, oversized and truncated frames are
 * refused, the payload reader never reads past its end or its bounds, a
 * buffered receiver takes a burst of frames in one read and refuses what
 * ss_ipc_recv refuses, answers sent together in one write each reach their
 * request, and
 * the asynchronous client completes every request exactly once: with the
 * answer, on a broken or replaced link, or at its deadline. The gathering
 * rule of the queue workers (secsrv/proc/gather.c) takes at once when quiet,
 * full or switched off, and otherwise waits until the first item's due time.
 */
#include "clock.h"
#include "gather.h"
#include "ipc.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cmocka.h>

static void pair(int sv[2])
{
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void test_frame_round_trip(void **state)
{
    (void)state;
    int sv[2];
    pair(sv);
    struct ss_ipc_buf b = {0};
    ss_ipc_put_u32(&b, 7);
    ss_ipc_put_u64(&b, 0x1122334455667788ull);
    ss_ipc_put_str(&b, "DE-NORD/GOV/MIKWS-SH");
    ss_ipc_put_bytes(&b, "\0\1\2", 3);
    ss_ipc_put_str(&b, NULL);
    assert_false(b.failed);
    assert_int_equal(ss_ipc_send(sv[0], SS_IPC_SIGN, 42, b.data, b.len, -1), SS_OK);
    struct ss_ipc_msg m;
    assert_int_equal(ss_ipc_recv(sv[1], 1024, &m), SS_OK);
    assert_int_equal(m.type, SS_IPC_SIGN);
    assert_int_equal(m.id, 42);
    assert_int_equal(m.fd, -1);
    struct ss_ipc_reader r;
    ss_ipc_reader_init(&r, &m);
    assert_int_equal(ss_ipc_get_u32(&r), 7);
    assert_true(ss_ipc_get_u64(&r) == 0x1122334455667788ull);
    char s[64];
    ss_ipc_get_str(&r, s, sizeof s);
    assert_string_equal(s, "DE-NORD/GOV/MIKWS-SH");
    size_t n = 0;
    const uint8_t *p = ss_ipc_get_bytes(&r, 16, &n);
    assert_int_equal(n, 3);
    assert_memory_equal(p, "\0\1\2", 3);
    ss_ipc_get_str(&r, s, sizeof s);
    assert_string_equal(s, "");
    assert_true(ss_ipc_reader_done(&r));
    ss_ipc_msg_cleanup(&m);
    ss_ipc_buf_cleanup(&b);
    close(sv[0]);
    close(sv[1]);
}

static void test_fd_passing(void **state)
{
    (void)state;
    int sv[2], inner[2];
    pair(sv);
    pair(inner);
    assert_int_equal(ss_ipc_send(sv[0], SS_IPC_ATTACH, 0, NULL, 0, inner[1]), SS_OK);
    close(inner[1]);
    struct ss_ipc_msg m;
    assert_int_equal(ss_ipc_recv(sv[1], 16, &m), SS_OK);
    assert_int_equal(m.type, SS_IPC_ATTACH);
    assert_true(m.fd >= 0);
    /* the passed descriptor is the other end of inner */
    assert_int_equal(write(m.fd, "x", 1), 1);
    char c = 0;
    assert_int_equal(read(inner[0], &c, 1), 1);
    assert_int_equal(c, 'x');
    assert_true(fcntl(m.fd, F_GETFD) & FD_CLOEXEC);
    ss_ipc_msg_cleanup(&m);
    assert_int_equal(m.fd, -1);
    close(inner[0]);
    close(sv[0]);
    close(sv[1]);
}

static void test_refusals(void **state)
{
    (void)state;
    int sv[2];
    pair(sv);
    uint8_t big[100] = {0};
    assert_int_equal(ss_ipc_send(sv[0], SS_IPC_SIGN, 1, big, sizeof big, -1), SS_OK);
    struct ss_ipc_msg m;
    assert_int_equal(ss_ipc_recv(sv[1], 99, &m), SS_ERR_PROTOCOL);
    assert_null(m.payload);
    /* a truncated frame: the header promises more than arrives */
    uint32_t h[4] = {50, SS_IPC_SIGN, 0, 0};
    assert_int_equal(write(sv[0], h, sizeof h), (ssize_t)sizeof h);
    assert_int_equal(write(sv[0], "abc", 3), 3);
    close(sv[0]);
    int rest = sv[1];
    /* the rest of the first frame is still queued: drain it first */
    uint8_t drain[100];
    assert_int_equal(read(rest, drain, sizeof drain), (ssize_t)sizeof drain);
    assert_int_equal(ss_ipc_recv(rest, 1024, &m), SS_ERR_IO); /* the link ended in a frame */
    assert_int_equal(ss_ipc_recv(rest, 1024, &m), SS_ERR_IO);
    assert_non_null(strstr(ss_errmsg(), "closed"));
    close(rest);
    /* nonzero flags are refused */
    pair(sv);
    uint32_t bad[4] = {0, SS_IPC_SIGN | (1u << 16), 0, 0};
    assert_int_equal(write(sv[0], bad, sizeof bad), (ssize_t)sizeof bad);
    assert_int_equal(ss_ipc_recv(sv[1], 1024, &m), SS_ERR_PROTOCOL);
    close(sv[0]);
    close(sv[1]);
}

/* Sends frames of ids 1..n (payload: i bytes of i) from a thread: a large one may not fit at once.
 */
struct burst {
    int fd;
    unsigned n;
    size_t big; /* frame 1's payload length instead, when nonzero */
};

static void *send_burst(void *arg)
{
    struct burst *b = arg;
    for (unsigned i = 1; i <= b->n; i++) {
        size_t len = i == 1 && b->big ? b->big : i;
        uint8_t *p = malloc(len);
        assert_non_null(p);
        memset(p, (int)i, len);
        assert_int_equal(ss_ipc_send(b->fd, SS_IPC_LOGGED, i, p, len, -1), SS_OK);
        free(p);
    }
    return NULL;
}

/* Writes the rest of a frame a moment later. */
struct late {
    int fd;
    const uint8_t *p;
    size_t n;
};

static void *write_late(void *arg)
{
    struct late *l = arg;
    usleep(1000);
    assert_int_equal(write(l->fd, l->p, l->n), (ssize_t)l->n);
    return NULL;
}

static void take_burst(struct ss_ipc_inbuf *in, int fd, const struct burst *b)
{
    for (unsigned i = 1; i <= b->n; i++) {
        struct ss_ipc_msg m;
        assert_int_equal(ss_ipc_inbuf_recv(in, fd, 1u << 20, &m), SS_OK);
        size_t len = i == 1 && b->big ? b->big : i;
        assert_int_equal(m.type, SS_IPC_LOGGED);
        assert_int_equal(m.id, i);
        assert_int_equal(m.len, len);
        assert_int_equal(m.fd, -1);
        for (size_t k = 0; k < len; k++)
            assert_int_equal(m.payload[k], (uint8_t)i);
        ss_ipc_msg_cleanup(&m);
    }
}

static void test_inbuf(void **state)
{
    (void)state;
    int sv[2];
    pair(sv);
    struct ss_ipc_inbuf in = {0};
    assert_false(ss_ipc_inbuf_ready(&in));
    /* a burst: the first receive reads it all, the others take it from the buffer */
    struct burst b = {sv[0], 20, 0};
    send_burst(&b);
    struct ss_ipc_msg m;
    assert_int_equal(ss_ipc_inbuf_recv(&in, sv[1], 1024, &m), SS_OK);
    assert_int_equal(m.id, 1);
    ss_ipc_msg_cleanup(&m);
    char peek;
    assert_int_equal(recv(sv[1], &peek, 1, MSG_PEEK | MSG_DONTWAIT), -1);
    for (unsigned i = 2; i <= b.n; i++) {
        assert_true(ss_ipc_inbuf_ready(&in));
        assert_int_equal(ss_ipc_inbuf_recv(&in, sv[1], 1024, &m), SS_OK);
        assert_int_equal(m.id, i);
        assert_int_equal(m.len, i);
        ss_ipc_msg_cleanup(&m);
    }
    assert_false(ss_ipc_inbuf_ready(&in));
    /* a frame larger than the buffer keeps, amid small ones, from a thread (it outgrows the
     * socket's buffer); afterwards the buffer gives the memory back */
    b = (struct burst){sv[0], 5, 3u << 17};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, send_burst, &b), 0);
    take_burst(&in, sv[1], &b);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_false(ss_ipc_inbuf_ready(&in));
    assert_true(in.cap <= 64u * 1024);
    /* a frame split anywhere, even inside its header, comes out whole */
    uint8_t frame[16 + 5] = {5, 0, 0, 0, SS_IPC_SIGNED, 0,   0,   0,   9,  0, 0, 0,
                             0, 0, 0, 0, 'h',           'e', 'l', 'l', 'o'};
    for (size_t cut = 1; cut < sizeof frame; cut++) {
        assert_int_equal(write(sv[0], frame, cut), (ssize_t)cut);
        /* the rest arrives while the receiver waits for it */
        struct late rest = {sv[0], frame + cut, sizeof frame - cut};
        assert_int_equal(pthread_create(&t, NULL, write_late, &rest), 0);
        assert_int_equal(ss_ipc_inbuf_recv(&in, sv[1], 1024, &m), SS_OK);
        assert_int_equal(pthread_join(t, NULL), 0);
        assert_int_equal(m.type, SS_IPC_SIGNED);
        assert_int_equal(m.id, 9);
        assert_int_equal(m.len, 5);
        assert_memory_equal(m.payload, "hello", 5);
        ss_ipc_msg_cleanup(&m);
        assert_false(ss_ipc_inbuf_ready(&in));
    }
    /* what ss_ipc_recv refuses, this refuses alike: a frame over the maximum, flags */
    uint8_t big[100] = {0};
    assert_int_equal(ss_ipc_send(sv[0], SS_IPC_SIGN, 1, big, sizeof big, -1), SS_OK);
    assert_int_equal(ss_ipc_inbuf_recv(&in, sv[1], 99, &m), SS_ERR_PROTOCOL);
    assert_null(m.payload);
    ss_ipc_inbuf_reset(&in);
    uint8_t drain[100];
    assert_int_equal(recv(sv[1], drain, sizeof drain, MSG_DONTWAIT), -1); /* all was read */
    uint32_t bad[4] = {0, SS_IPC_SIGN | (1u << 16), 0, 0};
    assert_int_equal(write(sv[0], bad, sizeof bad), (ssize_t)sizeof bad);
    assert_int_equal(ss_ipc_inbuf_recv(&in, sv[1], 1024, &m), SS_ERR_PROTOCOL);
    ss_ipc_inbuf_reset(&in);
    /* a truncated frame, then the end: a link that ended (its process died while it sent),
     * which the serve loop drops, not a malformed frame, on which it would stop */
    uint32_t h[4] = {50, SS_IPC_SIGN, 0, 0};
    assert_int_equal(write(sv[0], h, sizeof h), (ssize_t)sizeof h);
    assert_int_equal(write(sv[0], "abc", 3), 3);
    close(sv[0]);
    assert_int_equal(ss_ipc_inbuf_recv(&in, sv[1], 1024, &m), SS_ERR_IO);
    assert_non_null(strstr(ss_errmsg(), "truncated"));
    ss_ipc_inbuf_reset(&in);
    assert_int_equal(ss_ipc_inbuf_recv(&in, sv[1], 1024, &m), SS_ERR_IO);
    assert_non_null(strstr(ss_errmsg(), "closed"));
    ss_ipc_inbuf_cleanup(&in);
    assert_null(in.data);
    close(sv[1]);
}

static void test_reader_bounds(void **state)
{
    (void)state;
    struct ss_ipc_buf b = {0};
    ss_ipc_put_bytes(&b, "hello", 5);
    ss_ipc_put_u32(&b, 9);
    struct ss_ipc_msg m = {.payload = b.data, .len = b.len, .fd = -1};
    struct ss_ipc_reader r;
    size_t n = 99;
    /* over its bound */
    ss_ipc_reader_init(&r, &m);
    assert_null(ss_ipc_get_bytes(&r, 4, &n));
    assert_int_equal(n, 0);
    assert_false(ss_ipc_reader_done(&r));
    /* a string with a NUL inside */
    struct ss_ipc_buf z = {0};
    ss_ipc_put_bytes(&z, "a\0b", 3);
    struct ss_ipc_msg mz = {.payload = z.data, .len = z.len, .fd = -1};
    char s[8];
    ss_ipc_reader_init(&r, &mz);
    ss_ipc_get_str(&r, s, sizeof s);
    assert_string_equal(s, "");
    assert_false(ss_ipc_reader_done(&r));
    /* past the end */
    ss_ipc_reader_init(&r, &m);
    assert_non_null(ss_ipc_get_bytes(&r, 5, &n));
    assert_int_equal(ss_ipc_get_u32(&r), 9);
    assert_true(ss_ipc_reader_done(&r));
    assert_int_equal(ss_ipc_get_u64(&r), 0);
    assert_false(ss_ipc_reader_done(&r));
    /* not read to the end */
    ss_ipc_reader_init(&r, &m);
    assert_non_null(ss_ipc_get_bytes(&r, 5, &n));
    assert_false(ss_ipc_reader_done(&r));
    /* a length prefix longer than the payload */
    uint32_t lie[2] = {1000, 0};
    struct ss_ipc_msg ml = {.payload = (uint8_t *)lie, .len = sizeof lie, .fd = -1};
    ss_ipc_reader_init(&r, &ml);
    assert_null(ss_ipc_get_bytes(&r, 4096, &n));
    ss_ipc_buf_cleanup(&b);
    ss_ipc_buf_cleanup(&z);
}

/* A peer that answers each request with its id and payload reversed, until told to stop. */
struct echo_peer {
    int fd;
    int answer; /* answer this many requests, then close */
    int ignore; /* or read this many and never answer */
};

static void *echo_main(void *arg)
{
    struct echo_peer *p = arg;
    for (int i = 0; i < p->answer + p->ignore; i++) {
        struct ss_ipc_msg m;
        if (ss_ipc_recv(p->fd, 4096, &m))
            break;
        if (i < p->answer) {
            uint8_t out[4096];
            for (size_t k = 0; k < m.len; k++)
                out[k] = m.payload[m.len - 1 - k];
            if (ss_ipc_send(p->fd, (uint16_t)(m.type + 1), m.id, out, m.len, -1))
                break;
        }
        ss_ipc_msg_cleanup(&m);
    }
    if (!p->ignore)
        close(p->fd);
    return NULL;
}

static void test_client_call(void **state)
{
    (void)state;
    int sv[2];
    pair(sv);
    struct echo_peer peer = {.fd = sv[1], .answer = 3};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, echo_main, &peer), 0);
    struct ss_ipc_client *c = NULL;
    assert_int_equal(ss_ipc_client_new("test", &c), SS_OK);
    assert_int_equal(ss_ipc_client_attach(c, sv[0], 0), SS_OK);
    for (int i = 0; i < 3; i++) {
        struct ss_ipc_buf b = {0};
        ss_ipc_put_str(&b, "abc");
        struct ss_ipc_msg reply;
        assert_int_equal(ss_ipc_client_call(c, SS_IPC_SIGN, &b, 2000, &reply), SS_OK);
        assert_int_equal(reply.type, SS_IPC_SIGNED);
        assert_int_equal(reply.len, 7);
        assert_memory_equal(reply.payload, "cba\0\0\0\3", 7);
        ss_ipc_msg_cleanup(&reply);
        ss_ipc_buf_cleanup(&b);
    }
    /* the peer closed after three answers: the next call fails, it does not hang */
    pthread_join(t, NULL);
    struct ss_ipc_msg reply;
    assert_int_not_equal(ss_ipc_client_call(c, SS_IPC_SIGN, NULL, 2000, &reply), SS_OK);
    ss_ipc_client_free(c);
}

/* Answers requests of ids in any order, all in one write (as a signer's batch or a logger's group).
 */
static void *answer_together(void *arg)
{
    int fd = *(int *)arg;
    struct ss_ipc_buf frames = {0};
    uint64_t ids[5];
    for (int i = 0; i < 5; i++) {
        struct ss_ipc_msg m;
        assert_int_equal(ss_ipc_recv(fd, 64, &m), SS_OK);
        ids[i] = m.id;
        ss_ipc_msg_cleanup(&m);
    }
    for (int i = 4; i >= 0; i--) {
        char answer[16];
        int n = snprintf(answer, sizeof answer, "answer %llu", (unsigned long long)ids[i]);
        ss_ipc_frame_put(&frames, SS_IPC_LOGGED, ids[i], answer, (size_t)n);
    }
    assert_int_equal(ss_ipc_send_frames(fd, &frames), SS_OK);
    ss_ipc_buf_cleanup(&frames);
    return NULL;
}

static void test_answers_together(void **state)
{
    (void)state;
    int sv[2];
    pair(sv);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, answer_together, &sv[1]), 0);
    struct ss_ipc_client *c = NULL;
    assert_int_equal(ss_ipc_client_new("test", &c), SS_OK);
    assert_int_equal(ss_ipc_client_attach(c, sv[0], 0), SS_OK);
    struct ss_ipc_call calls[5];
    for (int i = 0; i < 5; i++)
        ss_ipc_call_start(c, SS_IPC_LOG_APPEND, NULL, 2000, &calls[i]);
    for (int i = 0; i < 5; i++) {
        struct ss_ipc_msg m;
        assert_int_equal(ss_ipc_call_wait(&calls[i], &m), SS_OK);
        assert_int_equal(m.type, SS_IPC_LOGGED);
        char want[16];
        int n = snprintf(want, sizeof want, "answer %llu", (unsigned long long)m.id);
        assert_int_equal(m.len, (size_t)n);
        assert_memory_equal(m.payload, want, m.len);
        ss_ipc_msg_cleanup(&m);
    }
    pthread_join(t, NULL);
    ss_ipc_client_free(c);
    close(sv[1]);
    /* frames that cannot be (over the limit) are never sent */
    struct ss_ipc_buf frames = {0};
    ss_ipc_frame_put(&frames, SS_IPC_LOGGED, 1, "x", (size_t)SS_IPC_MAX_PAYLOAD + 1);
    assert_true(frames.failed);
    pair(sv);
    assert_int_not_equal(ss_ipc_send_frames(sv[0], &frames), SS_OK);
    char peek;
    assert_int_equal(recv(sv[1], &peek, 1, MSG_DONTWAIT), -1);
    ss_ipc_buf_cleanup(&frames);
    close(sv[0]);
    close(sv[1]);
}

/* Two requests on their way at once, waited for in the other order: each gets its own answer. */
static void test_call_start_wait(void **state)
{
    (void)state;
    int sv[2];
    pair(sv);
    struct echo_peer peer = {.fd = sv[1], .answer = 2};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, echo_main, &peer), 0);
    struct ss_ipc_client *c = NULL;
    assert_int_equal(ss_ipc_client_new("test", &c), SS_OK);
    assert_int_equal(ss_ipc_client_attach(c, sv[0], 0), SS_OK);
    struct ss_ipc_buf a = {0}, b = {0};
    ss_ipc_put_str(&a, "first");
    ss_ipc_put_str(&b, "second");
    struct ss_ipc_call ca, cb;
    ss_ipc_call_start(c, SS_IPC_SIGN, &a, 2000, &ca);
    ss_ipc_call_start(c, SS_IPC_LOG_APPEND, &b, 2000, &cb);
    struct ss_ipc_msg ra, rb;
    assert_int_equal(ss_ipc_call_wait(&cb, &rb), SS_OK);
    assert_int_equal(ss_ipc_call_wait(&ca, &ra), SS_OK);
    assert_int_equal(ra.type, SS_IPC_SIGNED);
    assert_int_equal(rb.type, SS_IPC_LOGGED);
    assert_int_equal(ra.len, a.len);
    assert_int_equal(rb.len, b.len);
    assert_memory_equal(rb.payload, "dnoces\0\0\0\6", rb.len);
    ss_ipc_msg_cleanup(&ra);
    ss_ipc_msg_cleanup(&rb);
    ss_ipc_buf_cleanup(&a);
    ss_ipc_buf_cleanup(&b);
    pthread_join(t, NULL);
    ss_ipc_client_free(c);
}

static void test_client_timeout_and_replace(void **state)
{
    (void)state;
    int sv[2];
    pair(sv);
    struct echo_peer silent = {.fd = sv[1], .ignore = 1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, echo_main, &silent), 0);
    struct ss_ipc_client *c = NULL;
    assert_int_equal(ss_ipc_client_new("test", &c), SS_OK);
    struct ss_ipc_msg reply;
    /* no link yet */
    assert_int_equal(ss_ipc_client_call(c, SS_IPC_SIGN, NULL, 100, &reply), SS_ERR_IO);
    assert_int_equal(ss_ipc_client_attach(c, sv[0], 0), SS_OK);
    for (int i = 0; i < 100 && !ss_ipc_client_linked(c); i++)
        usleep(1000);
    assert_int_equal(ss_ipc_client_call(c, SS_IPC_SIGN, NULL, 200, &reply),
                     SS_ERR_UPSTREAM_TIMEOUT);
    pthread_join(t, NULL);
    close(sv[1]);
    /* a new link replaces the old one and works */
    int sv2[2];
    pair(sv2);
    struct echo_peer peer = {.fd = sv2[1], .answer = 1};
    assert_int_equal(pthread_create(&t, NULL, echo_main, &peer), 0);
    assert_int_equal(ss_ipc_client_attach(c, sv2[0], 0), SS_OK);
    /* the reader switches links asynchronously; a call may race it once */
    ss_error err = SS_ERR_IO;
    for (int i = 0; i < 100 && err; i++) {
        err = ss_ipc_client_call(c, SS_IPC_LOG_APPEND, NULL, 2000, &reply);
        if (err)
            usleep(1000);
    }
    assert_int_equal(err, SS_OK);
    assert_int_equal(reply.type, SS_IPC_LOGGED);
    ss_ipc_msg_cleanup(&reply);
    pthread_join(t, NULL);
    ss_ipc_client_free(c);
}

/* What on_broken reported. */
static struct {
    pthread_mutex_t mu;
    int calls;
    uint32_t serial;
} broken = {PTHREAD_MUTEX_INITIALIZER, 0, 0};

static void note_broken(void *arg, uint32_t serial)
{
    (void)arg;
    pthread_mutex_lock(&broken.mu);
    broken.calls++;
    broken.serial = serial;
    pthread_mutex_unlock(&broken.mu);
}

static int broken_calls(void)
{
    pthread_mutex_lock(&broken.mu);
    int n = broken.calls;
    pthread_mutex_unlock(&broken.mu);
    return n;
}

/*
 * A peer that stops reading in the middle of a frame: the client gives the
 * link up at its stall limit with part of the frame gone, and the link ends
 * there, so that no later frame is read from the middle of that one;
 * on_broken names it.
 */
static void test_half_sent_frame(void **state)
{
    (void)state;
    int sv[2];
    pair(sv);
    struct ss_ipc_client *c = NULL;
    assert_int_equal(ss_ipc_client_new("test", &c), SS_OK);
    ss_ipc_client_on_broken(c, note_broken, NULL);
    broken.calls = 0;
    assert_int_equal(ss_ipc_client_attach(c, sv[0], 7), SS_OK);
    /* its stall limit is shortened for the test */
    ss_ipc_client_stall_limit(c, 200);
    struct ss_ipc_buf big = {0};
    size_t n = 8u * 1024 * 1024; /* more than the socket holds */
    uint8_t *junk = calloc(1, n);
    assert_non_null(junk);
    ss_ipc_put_bytes(&big, junk, n);
    free(junk);
    struct ss_ipc_msg reply;
    assert_int_not_equal(ss_ipc_client_call(c, SS_IPC_LOG_APPEND, &big, 5000, &reply), SS_OK);
    ss_ipc_buf_cleanup(&big);
    for (int i = 0; i < 2000 && broken_calls() == 0; i++)
        usleep(1000);
    assert_int_equal(broken_calls(), 1);
    assert_int_equal(broken.serial, 7);
    assert_false(ss_ipc_client_linked(c));
    /* the peer reads part of a frame, then the end of the link (not a wait for more) */
    struct timeval patience = {.tv_sec = 2};
    assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience), 0);
    size_t got = 0;
    char buf[65536];
    ssize_t r;
    while ((r = recv(sv[1], buf, sizeof buf, 0)) > 0)
        got += (size_t)r;
    assert_int_equal(r, 0);
    assert_true(got > 0 && got < n);
    close(sv[1]);
    /* a link that is replaced is no broken link: the one that breaks is the one in use, by
     * its own number */
    pair(sv);
    assert_int_equal(ss_ipc_client_attach(c, sv[0], 8), SS_OK);
    int sv2[2];
    pair(sv2);
    assert_int_equal(ss_ipc_client_attach(c, sv2[0], 9), SS_OK);
    close(sv[1]);
    close(sv2[1]);
    for (int i = 0; i < 2000 && broken_calls() == 1; i++)
        usleep(1000);
    /* nor is the link of a client that stops; the stop joins the reader, so any report that
     * was to come (the replaced link's, this one's) has come when it returns */
    int sv3[2];
    pair(sv3);
    assert_int_equal(ss_ipc_client_attach(c, sv3[0], 10), SS_OK);
    ss_ipc_client_free(c);
    close(sv3[1]);
    assert_int_equal(broken_calls(), 2);
    assert_int_equal(broken.serial, 9);
}

/* Reads n frames (each answered at once) and records their ids in order. */
struct draining_peer {
    int fd;
    size_t n;
    uint64_t *ids;
    int go[2]; /* a byte on go[0]: start reading */
};

static void *drain_main(void *arg)
{
    struct draining_peer *p = arg;
    char b;
    assert_int_equal(read(p->go[0], &b, 1), 1);
    struct ss_ipc_inbuf in = {0};
    for (size_t i = 0; i < p->n; i++) {
        struct ss_ipc_msg m;
        assert_int_equal(ss_ipc_inbuf_recv(&in, p->fd, SS_IPC_MAX_PAYLOAD, &m), SS_OK);
        p->ids[i] = m.id;
        assert_int_equal(ss_ipc_send(p->fd, SS_IPC_LOGGED, m.id, NULL, 0, -1), SS_OK);
        ss_ipc_msg_cleanup(&m);
    }
    ss_ipc_inbuf_cleanup(&in);
    return NULL;
}

/*
 * A peer that does not read for a while (a logger stopped, or busy with a slow disk): sending
 * to it never holds the sender; what the link cannot take waits in the client and goes out in
 * order once the peer reads, every request answered; past the client's bound a send fails at
 * once (the peer is not keeping up) and the link stays in step.
 */
static void test_slow_peer(void **state)
{
    (void)state;
    int sv[2];
    pair(sv);
    enum { FRAMES = 40 };
    uint64_t ids[FRAMES] = {0};
    struct draining_peer peer = {.fd = sv[1], .n = FRAMES, .ids = ids};
    assert_int_equal(pipe(peer.go), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, drain_main, &peer), 0);
    struct ss_ipc_client *c = NULL;
    assert_int_equal(ss_ipc_client_new("test", &c), SS_OK);
    assert_int_equal(ss_ipc_client_attach(c, sv[0], 0), SS_OK);
    /* 40 frames of 1 MiB: far more than the socket holds while nobody reads */
    size_t size = 1024 * 1024;
    uint8_t *junk = calloc(1, size);
    assert_non_null(junk);
    struct ss_ipc_buf frame = {0};
    ss_ipc_put_bytes(&frame, junk, size);
    struct ss_ipc_call calls[FRAMES];
    for (int i = 0; i < FRAMES; i++)
        ss_ipc_call_start(c, SS_IPC_LOG_APPEND, &frame, 30000, &calls[i]);
    /* all of them are on their way (none failed, none waited for the peer); past the bound,
     * a send fails at once and nothing of it goes */
    struct ss_ipc_buf huge = {0};
    ss_ipc_buf_reserve(&huge, SS_IPC_MAX_PAYLOAD - 64);
    huge.len = SS_IPC_MAX_PAYLOAD - 64;
    memset(huge.data, 0, huge.len);
    struct ss_ipc_msg reply;
    assert_int_equal(ss_ipc_client_call(c, SS_IPC_LOG_APPEND, &huge, 30000, &reply), SS_ERR_IO);
    assert_non_null(strstr(ss_errmsg(), "not keeping up"));
    ss_ipc_buf_cleanup(&huge);
    assert_true(ss_ipc_client_linked(c));
    /* the peer reads now: every frame arrives whole, in the order sent, and is answered */
    assert_int_equal(write(peer.go[1], "g", 1), 1);
    for (int i = 0; i < FRAMES; i++) {
        struct ss_ipc_msg m;
        assert_int_equal(ss_ipc_call_wait(&calls[i], &m), SS_OK);
        assert_int_equal(m.type, SS_IPC_LOGGED);
        ss_ipc_msg_cleanup(&m);
    }
    pthread_join(t, NULL);
    for (int i = 1; i < FRAMES; i++)
        assert_true(ids[i] == ids[i - 1] + 1);
    assert_true(ss_ipc_client_linked(c));
    ss_ipc_buf_cleanup(&frame);
    free(junk);
    ss_ipc_client_free(c);
    close(sv[1]);
    close(peer.go[0]);
    close(peer.go[1]);
}

static void test_gather_due(void **state)
{
    (void)state;
    const uint64_t wait = 1000, now = 1000000;
    /* quiet: the last take was four waits ago or longer */
    assert_int_equal(ss_gather_due(now - 4 * wait, now, 1, 256, wait, now), 0);
    assert_int_equal(ss_gather_due(0, now, 1, 256, wait, now), 0);
    /* busy: the first item waits until it arrived + wait */
    assert_int_equal(ss_gather_due(now - 100, now - 300, 3, 256, wait, now), now - 300 + wait);
    /* ... and is taken when that time has come */
    assert_int_equal(ss_gather_due(now - 100, now - wait, 3, 256, wait, now), 0);
    /* full, or gathering switched off */
    assert_int_equal(ss_gather_due(now - 100, now - 300, 256, 256, wait, now), 0);
    assert_int_equal(ss_gather_due(now - 100, now - 300, 3, 256, 0, now), 0);
    /* deadlines lie ahead */
    struct timespec a = ss_deadline_after_us(0), b = ss_deadline_after_us(1500000);
    double gap = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    assert_true(gap >= 1.5 && gap < 60);
    assert_true(b.tv_nsec >= 0 && b.tv_nsec < 1000000000);
    /* ... on the clock the conditions wait on: a wait of 50 ms ends after about that long,
     * neither at once nor (a deadline on another clock) decades later */
    pthread_cond_t c;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    ss_cond_init(&c);
    pthread_mutex_lock(&mu);
    uint64_t from = ss_monotonic_us();
    struct timespec until = ss_deadline_after_us(50000);
    int rc = 0;
    while (rc != ETIMEDOUT)
        rc = pthread_cond_timedwait(&c, &mu, &until);
    uint64_t waited = ss_monotonic_us() - from;
    pthread_mutex_unlock(&mu);
    pthread_cond_destroy(&c);
    assert_true(waited >= 45000 && waited < 5000000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_round_trip),
        cmocka_unit_test(test_fd_passing),
        cmocka_unit_test(test_gather_due),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_inbuf),
        cmocka_unit_test(test_reader_bounds),
        cmocka_unit_test(test_client_call),
        cmocka_unit_test(test_call_start_wait),
        cmocka_unit_test(test_answers_together),
        cmocka_unit_test(test_client_timeout_and_replace),
        cmocka_unit_test(test_half_sent_frame),
        cmocka_unit_test(test_slow_peer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
