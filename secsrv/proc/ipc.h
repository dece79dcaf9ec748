/*
 * ipc: messages between the processes of one security server, over
 * socketpairs the parent made. A frame is a fixed header (payload length,
 * type, request id; host byte order, both ends run on one machine) and a
 * payload of at most SS_IPC_MAX_PAYLOAD bytes; a file descriptor may ride
 * along (SCM_RIGHTS). Payloads are typed sequences of fields written with
 * ss_ipc_put_* and read back with the bounded ss_ipc_get_* reader; a frame
 * that is too large, truncated or of a type the receiver does not expect
 * is an error the receiver treats as fatal (the parent restarts it).
 *
 * The client side is asynchronous: ss_ipc_client_submit() sends a request
 * with a fresh id and returns at once; a reader thread completes it when
 * the answer arrives (or when the link breaks) by calling its callback.
 * ss_ipc_client_call() waits for the completion, for callers that may
 * block a thread.
 */
#ifndef SS_IPC_H
#define SS_IPC_H

#include "fiber.h"
#include "ss_error.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SS_IPC_MAX_PAYLOAD (64u * 1024 * 1024)
#define SS_IPC_SEND_TIMEOUT                                                                        \
    10 /* seconds a send or a frame may stall before the link counts as broken */

enum ss_ipc_type {
    /* parent -> child */
    SS_IPC_ATTACH = 1, /* a new link (fd) to a peer process; u32 which, u32 serial */
    SS_IPC_RELOAD,     /* reload what can be reloaded: the policies, and the parts in
                          u32 (enum ss_reload_part) as PEM strings, each in its order */
    SS_IPC_PING,       /* u64: a sign of life is asked for -> SS_IPC_PONG with the same u64 */
    SS_IPC_SIGNING_KEY, /* signer, on SIGHUP: u32 index in [signer] keys, str member, bytes
                           key PEM ("" for a key in a token), bytes certificate PEM */
    /* child -> parent */
    SS_IPC_READY = 50, /* the child has started and serves; u64 since when (ss_monotonic_us) */
    SS_IPC_RELINK,     /* network: u32 which, u32 serial: that link broke, its peer may live */
    SS_IPC_PONG,       /* the answer to SS_IPC_PING */
    /* network -> signer */
    SS_IPC_SIGN = 100,    /* str member, bytes manifest -> SIGNED */
    SS_IPC_SIGNED,        /* u32 error, str reason, bytes cms, str path, bytes ocsp */
    SS_IPC_SIGNER_STATUS, /* -> SIGNER_STATE */
    SS_IPC_SIGNER_STATE,  /* u32 count, then per key: str member, u32 ok, str reason */
    /* network -> signer, network -> logger */
    SS_IPC_REGISTRY = 150, /* bytes xml, bytes signature (the receiver verifies them) */
    /* network -> logger */
    SS_IPC_LOG_APPEND = 200, /* a record (msglog/record.h) -> LOGGED */
    SS_IPC_LOGGED,           /* u32 error, str reason, u64 record id, u32 flags */
    SS_IPC_LOGGER_STATUS,    /* -> LOGGER_STATE */
    SS_IPC_LOGGER_STATE,     /* u32 writable, u32 timestamping ok, i64 oldest untimestamped, str */
    SS_IPC_NODE_CONFIG,      /* str what this node holds (parent -> logger, after a reload) */
};

/* The parts of an SS_IPC_RELOAD whose files the parent could read; each is three strings:
 * CAs, certificate, key ("": not set). */
enum ss_reload_part {
    SS_RELOAD_IDENTITY = 1u,    /* "", the authentication certificate, its key */
    SS_RELOAD_SERVICE_TLS = 2u, /* [service-tls] ca, certificate, key ("": not set) */
    SS_RELOAD_CLIENT_TLS = 4u,  /* [client-proxy] tls_client_ca, tls_certificate, tls_key */
};

/* Which link an SS_IPC_ATTACH hands over. */
enum ss_ipc_link { SS_IPC_LINK_SIGNER = 1, SS_IPC_LINK_LOGGER = 2, SS_IPC_LINK_NETWORK = 3 };

struct ss_ipc_msg {
    uint16_t type;
    uint64_t id;
    uint8_t *payload; /* malloc'd (NULL when empty) */
    size_t len;
    int fd; /* a passed descriptor, or -1 */
};

void ss_ipc_msg_cleanup(struct ss_ipc_msg *m);

/* Sends one frame (and fd >= 0 with it); the caller serialises sends on one socket. */
ss_error ss_ipc_send(int sock, uint16_t type, uint64_t id, const void *payload, size_t len,
                     int fd) SS_MUST_CHECK;
/*
 * Receives one frame. SS_ERR_IO with "closed" at end of file, SS_ERR_PROTOCOL
 * for a frame over max bytes or a truncated one.
 */
ss_error ss_ipc_recv(int sock, size_t max, struct ss_ipc_msg *out) SS_MUST_CHECK SS_NONNULL(3);

/*
 * Receiving on a link that carries no descriptors (the network process's
 * links to the signer and the logger, both ways): each read takes what the
 * socket holds, so that a frame costs one read instead of two and a burst
 * of frames one read in all. One reader per buffer; reset it whenever the
 * socket it reads changes.
 */
struct ss_ipc_inbuf {
    uint8_t *data;
    size_t cap, start, end; /* the bytes read and not yet taken: data[start, end) */
};

/* Forgets what the buffer holds (and memory a large frame took). */
void ss_ipc_inbuf_reset(struct ss_ipc_inbuf *in) SS_NONNULL(1);
void ss_ipc_inbuf_cleanup(struct ss_ipc_inbuf *in) SS_NONNULL(1);
/* As ss_ipc_recv, from what the buffer holds first; reads (blocking) only what is missing. */
ss_error ss_ipc_inbuf_recv(struct ss_ipc_inbuf *in, int sock, size_t max,
                           struct ss_ipc_msg *out) SS_MUST_CHECK SS_NONNULL(1, 4);
/*
 * True when the buffer holds the next frame's header: receive it before
 * waiting for the socket (which may have nothing more to say).
 */
bool ss_ipc_inbuf_ready(const struct ss_ipc_inbuf *in) SS_NONNULL(1);

/* ---- payloads ---- */

struct ss_ipc_buf {
    uint8_t *data;
    size_t len, cap;
    bool failed; /* out of memory or over SS_IPC_MAX_PAYLOAD: the message must not be sent */
};

void ss_ipc_buf_cleanup(struct ss_ipc_buf *b);
/*
 * Frames that go out in one write: ss_ipc_frame_put appends one (header
 * and payload, as ss_ipc_send sends it) to out; ss_ipc_send_frames sends
 * such bytes, without a descriptor (the caller serialises sends on sock).
 */
void ss_ipc_frame_put(struct ss_ipc_buf *out, uint16_t type, uint64_t id, const void *payload,
                      size_t len) SS_NONNULL(1);
ss_error ss_ipc_send_frames(int sock, const struct ss_ipc_buf *frames) SS_MUST_CHECK SS_NONNULL(2);
/* Room for n more bytes at once: puts within it do not move the buffer (and leave no copy of
 * a secret in a block given back). */
void ss_ipc_buf_reserve(struct ss_ipc_buf *b, size_t n);
void ss_ipc_put_u32(struct ss_ipc_buf *b, uint32_t v);
void ss_ipc_put_u64(struct ss_ipc_buf *b, uint64_t v);
void ss_ipc_put_bytes(struct ss_ipc_buf *b, const void *p, size_t n);
void ss_ipc_put_str(struct ss_ipc_buf *b, const char *s); /* NULL is "" */

struct ss_ipc_reader {
    const uint8_t *p, *end;
    bool failed; /* a read ran past the end or over its bound */
};

void ss_ipc_reader_init(struct ss_ipc_reader *r, const struct ss_ipc_msg *m);
uint32_t ss_ipc_get_u32(struct ss_ipc_reader *r);
uint64_t ss_ipc_get_u64(struct ss_ipc_reader *r);
/* Points into the payload; at most max bytes. */
const uint8_t *ss_ipc_get_bytes(struct ss_ipc_reader *r, size_t max, size_t *n);
/* Copies a string of at most size-1 bytes without NUL into out. */
void ss_ipc_get_str(struct ss_ipc_reader *r, char *out, size_t size);
/* True if every read succeeded and the payload was read to its end. */
bool ss_ipc_reader_done(const struct ss_ipc_reader *r);

/* ---- the asynchronous client ---- */

struct ss_ipc_client;

/*
 * Called once per request from the reader thread: with the answer (err
 * SS_OK; the callback may keep msg->payload by setting it to NULL), or with
 * err set when the link broke or the request timed out (msg NULL).
 */
typedef void (*ss_ipc_done)(void *arg, ss_error err, struct ss_ipc_msg *msg);

/* A client without a link yet; name is for the operator log ("signer"). */
ss_error ss_ipc_client_new(const char *name, struct ss_ipc_client **out) SS_MUST_CHECK;
/* Ends the reader thread, fails what is pending, closes the link. */
void ss_ipc_client_free(struct ss_ipc_client *c);
/*
 * Gives the client a (new) link; takes ownership of fd. serial is the
 * parent's number for the link (SS_IPC_ATTACH), handed back by on_broken.
 * Requests pending on an old link fail with SS_ERR_IO first. on_attach, if
 * set, runs in the reader thread before any answer is read (e.g. to send
 * the registry).
 */
ss_error ss_ipc_client_attach(struct ss_ipc_client *c, int fd, uint32_t serial) SS_MUST_CHECK;
void ss_ipc_client_on_attach(struct ss_ipc_client *c, void (*fn)(void *arg), void *arg);
/*
 * on_broken, if set, runs in the reader thread when the link in use broke
 * (its peer closed it or died, it took nothing past its stall limit, or a
 * send failed and may have left half a frame, after which the link is out
 * of step and is shut down), after its requests failed; serial is the
 * broken link's. A link that was replaced does not count.
 */
void ss_ipc_client_on_broken(struct ss_ipc_client *c, void (*fn)(void *arg, uint32_t serial),
                             void *arg);
/*
 * A send never waits for the peer: what the link does not take at once waits
 * in the client (at most SS_IPC_MAX_PAYLOAD bytes, or one larger frame alone;
 * beyond, a request fails with SS_ERR_IO, the peer is not keeping up; a notice
 * is queued all the same) and the
 * reader thread writes it as the link takes it. A link that takes nothing for
 * ms (SS_IPC_SEND_TIMEOUT seconds unless set here) is given up as broken.
 */
void ss_ipc_client_stall_limit(struct ss_ipc_client *c, unsigned ms);
/* True while a link is attached and not broken. */
bool ss_ipc_client_linked(struct ss_ipc_client *c);

/* Sends a request; done is called exactly once, possibly before this returns. */
void ss_ipc_client_submit(struct ss_ipc_client *c, uint16_t type, const struct ss_ipc_buf *payload,
                          unsigned timeout_ms, ss_ipc_done done, void *arg);
/*
 * A request whose answer is waited for later, by a thread that meanwhile
 * does other work: started once, then waited for exactly once (the wait
 * releases what the start set up, so it is never skipped).
 */
struct ss_ipc_call {
    struct ss_wait done; /* a fiber waiting for it keeps its thread free (fiber.h) */
    ss_error err;
    char reason[300];
    struct ss_ipc_msg reply;
};

void ss_ipc_call_start(struct ss_ipc_client *c, uint16_t type, const struct ss_ipc_buf *payload,
                       unsigned timeout_ms, struct ss_ipc_call *call) SS_NONNULL(5);
/* Waits for the answer (*reply to clean up on SS_OK). */
ss_error ss_ipc_call_wait(struct ss_ipc_call *call, struct ss_ipc_msg *reply) SS_MUST_CHECK;
/* Sends a request and waits for its answer (*reply to clean up on SS_OK). */
ss_error ss_ipc_client_call(struct ss_ipc_client *c, uint16_t type,
                            const struct ss_ipc_buf *payload, unsigned timeout_ms,
                            struct ss_ipc_msg *reply) SS_MUST_CHECK;
/* Sends a message that expects no answer (e.g. the registry). */
ss_error ss_ipc_client_notify(struct ss_ipc_client *c, uint16_t type,
                              const struct ss_ipc_buf *payload) SS_MUST_CHECK;

#endif
