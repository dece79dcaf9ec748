/*
 * testserver.h — shared parts of ss-testserver, the loopback-only HTTP
 * server that stands in for registers, publishers and backends in the demo
 * and the integration tests.
 *
 * Owns: the per-request record (raw request target, body length and hash;
 * the body itself for tsa),
 * a bounded growable buffer with JSON string escaping, SHA-256, and the
 * entry points of the modes (static, register, echo, tsa). Every buffer has a
 * maximum; nothing a client sends is written to a response unescaped.
 */
#ifndef SS_TESTSERVER_H
#define SS_TESTSERVER_H

#include <microhttpd.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Largest request body any mode reads, and largest /big answer. */
#define TS_BODY_MAX ((uint64_t)64 * 1024 * 1024)
/* Largest time-stamp query the tsa mode reads (kept in memory). */
#define TS_TSA_BODY_MAX ((uint64_t)64 * 1024)
/* a certificate chain or key file (--tls-cert, --tls-key) */
#define TS_PEM_MAX ((size_t)256 * 1024)

/* ---- bounded buffer ---------------------------------------------------- */

/* A growable byte buffer that never grows beyond max; once an append fails
 * the buffer stays failed and later appends are no-ops. */
struct ts_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t max;
    bool failed;
};

void ts_buf_init(struct ts_buf *buf, size_t max);
void ts_buf_cleanup(struct ts_buf *buf);
/* Hands the bytes to the caller (malloc'd, may be NULL when empty). */
char *ts_buf_take(struct ts_buf *buf, size_t *len);
bool ts_buf_append(struct ts_buf *buf, const void *bytes, size_t len);
bool ts_buf_puts(struct ts_buf *buf, const char *text);
bool ts_buf_uint(struct ts_buf *buf, uint64_t value);
/* Appends bytes as a quoted JSON string: quote, backslash and control
 * characters escaped (\u00XX), bytes >= 0x80 passed through. */
bool ts_buf_json_string(struct ts_buf *buf, const char *bytes, size_t len);

/* A whole file of at most max bytes, NUL-terminated (malloc'd; NULL, with the reason on
 * stderr, when it cannot be read or is larger). */
char *ts_read_file(const char *path, size_t max, size_t *len);

/* ---- SHA-256 (FIPS 180-4) ---------------------------------------------- */

struct ts_sha256 {
    uint32_t state[8];
    uint64_t total;
    uint8_t block[64];
    size_t used;
};

void ts_sha256_init(struct ts_sha256 *ctx);
void ts_sha256_update(struct ts_sha256 *ctx, const void *bytes, size_t len);
void ts_sha256_final(struct ts_sha256 *ctx, uint8_t digest[32]);

/* ---- requests and modes ------------------------------------------------ */

enum ts_mode { TS_STATIC, TS_REGISTER, TS_ECHO, TS_FAST, TS_TSA, TS_SOAP };

/* One request, created when its request line arrives, freed when it is
 * complete. */
struct ts_request {
    char *target;      /* the request target exactly as sent */
    size_t path_len;   /* bytes of target before '?' */
    const char *query; /* raw query after '?', "" when there is none */
    bool started;      /* the handler has seen the header */
    bool answered;     /* a response has been queued */
    uint64_t body_length;
    struct ts_sha256 body_hash;
    struct ts_buf body; /* tsa, soap: the body itself, up to TS_TSA_BODY_MAX */
    int slow_state;     /* echo /slow: 0 not yet, 1 suspended */
};

struct ts_persons;
struct ts_sleeper;
struct ts_tsa;
struct ts_wsdl;

struct ts_server {
    enum ts_mode mode;
    const char *mode_name;
    int root_fd;                        /* static */
    struct ts_persons *persons;         /* register */
    struct ts_sleeper *sleeper;         /* echo */
    struct MHD_Response *fast_response; /* fast */
    struct ts_tsa *tsa;                 /* tsa */
    struct ts_wsdl *wsdl;               /* soap */
    char *tls_cert, *tls_key;           /* PEM: serves HTTPS (NULL: HTTP) */
};

/* True when the path of req ends with suffix. */
bool ts_path_ends_with(const struct ts_request *req, const char *suffix);

/* Queues response with status, logs one line for the request and drops the
 * caller's reference to response. A NULL response (allocation failure)
 * closes the connection. */
enum MHD_Result ts_queue(struct MHD_Connection *conn, struct ts_request *req, const char *method,
                         unsigned int status, struct MHD_Response *response);

/* Queues a JSON body (copied) with status. */
enum MHD_Result ts_queue_json(struct MHD_Connection *conn, struct ts_request *req,
                              const char *method, unsigned int status, const char *json,
                              size_t len);

/* static mode: serves regular files under the root directory. */
enum MHD_Result ts_static_answer(const struct ts_server *srv, struct MHD_Connection *conn,
                                 struct ts_request *req, const char *method);

/* register mode: loads the persons file; prints FILE:LINE: reasons to stderr. */
struct ts_persons *ts_persons_load(const char *path);
void ts_persons_free(struct ts_persons *persons);
enum MHD_Result ts_register_answer(const struct ts_server *srv, struct MHD_Connection *conn,
                                   struct ts_request *req, const char *method);

/* echo mode; the sleeper delays /slow answers without holding a thread. */
struct ts_sleeper *ts_sleeper_new(void);
/* Resumes every waiting connection and stops the timer thread. */
void ts_sleeper_free(struct ts_sleeper *sleeper);
enum MHD_Result ts_echo_answer(const struct ts_server *srv, struct MHD_Connection *conn,
                               struct ts_request *req, const char *method);

/* tsa mode: loads the TSA section (NULL: default_tsa) of an `openssl ts`
 * configuration file; prints reasons to stderr. */
struct ts_tsa *ts_tsa_load(const char *config, const char *section);
void ts_tsa_free(struct ts_tsa *tsa);
enum MHD_Result ts_tsa_answer(const struct ts_server *srv, struct MHD_Connection *conn,
                              struct ts_request *req, const char *method);

/* soap mode: the vehicle register's SOAP service; the WSDL it serves is read from path. */
struct ts_wsdl *ts_wsdl_load(const char *path);
void ts_wsdl_free(struct ts_wsdl *wsdl);
enum MHD_Result ts_soap_answer(const struct ts_server *srv, struct MHD_Connection *conn,
                               struct ts_request *req, const char *method);

#endif
