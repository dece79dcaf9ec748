/*
 * ts_echo.c — echo mode of ss-testserver: a backend for the integration
 * tests that answers every request with a JSON description of it:
 *
 *   {"method":..,"path":..,"query":..,"headers":{name:value,..},
 *    "body_length":N,"body_sha256":"hex"}
 *
 * path and query are the raw request target, split at the first '?'. Some
 * path suffixes behave differently:
 *
 *   .../slow?ms=N     answers the description after N ms (at most 60000),
 *                     without holding a server thread meanwhile
 *   .../status/NNN    answers status NNN (100-999, as libmicrohttpd allows; else 400)
 *   .../redirect      answers 302 to http://127.0.0.1:1/elsewhere
 *   .../big?bytes=N   answers N bytes of 'x' (at most 64 MiB), text/plain
 *   .../headers       the description plus X-Backend and Set-Cookie
 *   .../fields?bytes=N the description plus fields X-Pad-1, X-Pad-2 ... whose
 *                     names and values sum to N bytes (16 to 49152)
 *   .../hop           the description plus Connection: X-Hop, X-Hop (a field
 *                     its Connection field makes hop-by-hop) and X-End
 *   .../drop          closes the connection without an answer, once the
 *                     request has arrived whole
 *   .../drops         answers {"drops":N}: how many requests .../drop closed
 *   .../port          answers {"port":N}: the TCP port the request came from (a
 *                     connection used again comes from the same port)
 *   .../trailers      answers "xxxxxxxxxx" (text/plain) in chunked coding with a
 *                     trailer section: X-Trailer, a field named "HTTP/1.1" (a
 *                     status line to a careless reader), Content-Type: text/evil
 *                     and Set-Cookie: trailer=1
 *
 * Every string from the request is JSON-escaped before it is sent back.
 */
#include "testserver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TS_SLOW_MS_MAX 60000
#define TS_SLEEPERS_MAX 1024
#define TS_DESCRIPTION_MAX (1024 * 1024)
#define TS_BIG_BLOCK (64 * 1024)

static const char redirect_location[] = "http://127.0.0.1:1/elsewhere";

static atomic_uint drops; /* requests to .../drop, each closed without an answer */

/* ---- the sleeper: resumes suspended connections when their time is up ---- */

struct sleeping {
    struct MHD_Connection *conn;
    struct timespec wake; /* CLOCK_MONOTONIC */
};

struct ts_sleeper {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    pthread_t thread;
    bool stopping;
    size_t count;
    struct sleeping items[TS_SLEEPERS_MAX];
    struct MHD_Connection *due[TS_SLEEPERS_MAX]; /* used by the timer thread only */
};

static bool before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

/* Takes the connections due (all when everything), returns how many. */
static size_t take_due(struct ts_sleeper *sl, bool everything, struct MHD_Connection **due)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    size_t n = 0;
    size_t i = 0;
    while (i < sl->count) {
        if (everything || !before(&now, &sl->items[i].wake)) {
            due[n++] = sl->items[i].conn;
            sl->items[i] = sl->items[--sl->count];
        } else {
            i++;
        }
    }
    return n;
}

static void *sleeper_main(void *arg)
{
    struct ts_sleeper *sl = arg;
    pthread_mutex_lock(&sl->lock);
    for (;;) {
        bool stopping = sl->stopping;
        size_t n = take_due(sl, stopping, sl->due);
        if (n > 0) {
            /* resume outside the lock: suspend is called with it held */
            pthread_mutex_unlock(&sl->lock);
            for (size_t i = 0; i < n; i++)
                MHD_resume_connection(sl->due[i]);
            pthread_mutex_lock(&sl->lock);
            continue;
        }
        if (stopping)
            break;
        if (sl->count == 0) {
            pthread_cond_wait(&sl->changed, &sl->lock);
            continue;
        }
        struct timespec earliest = sl->items[0].wake;
        for (size_t i = 1; i < sl->count; i++)
            if (before(&sl->items[i].wake, &earliest))
                earliest = sl->items[i].wake;
        pthread_cond_timedwait(&sl->changed, &sl->lock, &earliest);
    }
    pthread_mutex_unlock(&sl->lock);
    return NULL;
}

struct ts_sleeper *ts_sleeper_new(void)
{
    struct ts_sleeper *sl = calloc(1, sizeof *sl);
    if (sl == NULL)
        return NULL;
    pthread_condattr_t attr;
    bool cond_ok = false;
    if (pthread_condattr_init(&attr) == 0) {
        cond_ok = pthread_condattr_setclock(&attr, CLOCK_MONOTONIC) == 0 &&
                  pthread_cond_init(&sl->changed, &attr) == 0;
        pthread_condattr_destroy(&attr);
    }
    if (!cond_ok) {
        free(sl);
        return NULL;
    }
    if (pthread_mutex_init(&sl->lock, NULL) != 0) {
        pthread_cond_destroy(&sl->changed);
        free(sl);
        return NULL;
    }
    if (pthread_create(&sl->thread, NULL, &sleeper_main, sl) != 0) {
        pthread_mutex_destroy(&sl->lock);
        pthread_cond_destroy(&sl->changed);
        free(sl);
        return NULL;
    }
    return sl;
}

void ts_sleeper_free(struct ts_sleeper *sleeper)
{
    if (sleeper == NULL)
        return;
    pthread_mutex_lock(&sleeper->lock);
    sleeper->stopping = true;
    pthread_cond_signal(&sleeper->changed);
    pthread_mutex_unlock(&sleeper->lock);
    pthread_join(sleeper->thread, NULL);
    pthread_mutex_destroy(&sleeper->lock);
    pthread_cond_destroy(&sleeper->changed);
    free(sleeper);
}

/* Suspends conn for ms milliseconds; false when stopping or full. Must be
 * called from the access handler. */
static bool sleeper_add(struct ts_sleeper *sl, struct MHD_Connection *conn, long ms)
{
    struct timespec wake;
    clock_gettime(CLOCK_MONOTONIC, &wake);
    wake.tv_sec += ms / 1000;
    wake.tv_nsec += (ms % 1000) * 1000000L;
    if (wake.tv_nsec >= 1000000000L) {
        wake.tv_sec++;
        wake.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&sl->lock);
    bool added = !sl->stopping && sl->count < TS_SLEEPERS_MAX;
    if (added) {
        /* suspended before it is listed, so it is never resumed first */
        MHD_suspend_connection(conn);
        sl->items[sl->count].conn = conn;
        sl->items[sl->count].wake = wake;
        sl->count++;
        pthread_cond_signal(&sl->changed);
    }
    pthread_mutex_unlock(&sl->lock);
    return added;
}

/* ---- answers ------------------------------------------------------------- */

/* Parses a decimal query argument in [0, max]; -1 when absent or bad. */
static long long query_number(struct MHD_Connection *conn, const char *name, long long max)
{
    const char *text = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, name);
    if (text == NULL || text[0] < '0' || text[0] > '9')
        return -1;
    errno = 0;
    char *end = NULL;
    long long value = strtoll(text, &end, 10);
    if (errno != 0 || *end != '\0' || value > max)
        return -1;
    return value;
}

static enum MHD_Result reply_error(struct MHD_Connection *conn, struct ts_request *req,
                                   const char *method, unsigned int status, const char *json)
{
    return ts_queue_json(conn, req, method, status, json, strlen(json));
}

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  size_t key_size, const char *value, size_t value_size)
{
    struct ts_buf *out = cls;
    (void)kind;
    if (out->data[out->len - 1] != '{')
        ts_buf_puts(out, ",");
    ts_buf_json_string(out, key, key_size);
    ts_buf_puts(out, ":");
    ts_buf_json_string(out, value ? value : "", value ? value_size : 0);
    return out->failed ? MHD_NO : MHD_YES;
}

/* The JSON description of the request; NULL when it does not fit. */
static char *describe(struct MHD_Connection *conn, struct ts_request *req, const char *method,
                      size_t *len)
{
    struct ts_buf out;
    ts_buf_init(&out, TS_DESCRIPTION_MAX);
    ts_buf_puts(&out, "{\"method\":");
    ts_buf_json_string(&out, method, strlen(method));
    ts_buf_puts(&out, ",\"path\":");
    ts_buf_json_string(&out, req->target, req->path_len);
    ts_buf_puts(&out, ",\"query\":");
    ts_buf_json_string(&out, req->query, strlen(req->query));
    ts_buf_puts(&out, ",\"headers\":{");
    if (!out.failed)
        MHD_get_connection_values_n(conn, MHD_HEADER_KIND, &add_header, &out);
    ts_buf_puts(&out, "},\"body_length\":");
    ts_buf_uint(&out, req->body_length);
    ts_buf_puts(&out, ",\"body_sha256\":\"");
    uint8_t digest[32];
    ts_sha256_final(&req->body_hash, digest);
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof digest; i++) {
        char pair[2] = {hex[digest[i] >> 4], hex[digest[i] & 15]};
        ts_buf_append(&out, pair, sizeof pair);
    }
    if (!ts_buf_puts(&out, "\"}\n")) {
        ts_buf_cleanup(&out);
        return NULL;
    }
    return ts_buf_take(&out, len);
}

#define TS_PAD_MAX 49152 /* what fits the answer in the connection pool (TS_CONNECTION_MEMORY) */

/* Adds fields X-Pad-1 ... whose names and values sum to bytes (16 or more). */
static bool add_padding(struct MHD_Response *response, size_t bytes)
{
    char value[1001];
    memset(value, 'p', sizeof value - 1);
    value[sizeof value - 1] = '\0';
    for (unsigned k = 1; bytes > 0; k++) {
        char name[16];
        size_t name_len = (size_t)snprintf(name, sizeof name, "X-Pad-%u", k);
        size_t n = bytes - name_len; /* what is left for values keeps a name and a byte */
        if (n > 1000) {
            n = 1000;
            if (bytes - name_len - n < 16)
                n -= 16;
        }
        if (MHD_add_response_header(response, name, value + (1000 - n)) != MHD_YES)
            return false;
        bytes -= name_len + n;
    }
    return true;
}

static enum MHD_Result reply_description(struct MHD_Connection *conn, struct ts_request *req,
                                         const char *method, bool extra_headers, bool hop,
                                         size_t pad)
{
    size_t len = 0;
    char *json = describe(conn, req, method, &len);
    if (json == NULL)
        return reply_error(conn, req, method, MHD_HTTP_INTERNAL_SERVER_ERROR,
                           "{\"error\":\"request too large to describe\"}");
    struct MHD_Response *response =
        MHD_create_response_from_buffer(len, json, MHD_RESPMEM_MUST_FREE);
    if (response == NULL) {
        free(json);
        return MHD_NO;
    }
    bool ok = MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                      "application/json; charset=utf-8") == MHD_YES;
    if (ok && extra_headers)
        ok = MHD_add_response_header(response, "X-Backend", "echo") == MHD_YES &&
             MHD_add_response_header(response, MHD_HTTP_HEADER_SET_COOKIE, "a=b") == MHD_YES;
    if (ok && pad)
        ok = add_padding(response, pad);
    if (ok && hop)
        ok = MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "X-Hop") == MHD_YES &&
             MHD_add_response_header(response, "X-Hop", "must-go") == MHD_YES &&
             MHD_add_response_header(response, "X-End", "stays") == MHD_YES;
    if (!ok) {
        MHD_destroy_response(response);
        return MHD_NO;
    }
    return ts_queue(conn, req, method, MHD_HTTP_OK, response);
}

/* .../status/NNN: sets *status to NNN, or to 0 when NNN is out of range;
 * false when the path is not a status path. */
static bool status_path(const struct ts_request *req, unsigned int *status)
{
    static const char marker[] = "/status/";
    size_t marker_len = sizeof marker - 1;
    size_t slash = req->path_len;
    while (slash > 0 && req->target[slash - 1] != '/')
        slash--;
    if (slash < marker_len || slash == req->path_len ||
        memcmp(req->target + slash - marker_len, marker, marker_len) != 0)
        return false;
    unsigned int value = 0;
    size_t digits = req->path_len - slash;
    for (size_t i = slash; i < req->path_len; i++) {
        char c = req->target[i];
        if (c < '0' || c > '9' || digits > 3) {
            *status = 0;
            return true;
        }
        value = value * 10 + (unsigned int)(c - '0');
    }
    *status = (value >= 100 && value <= 999) ? value : 0;
    return true;
}

static ssize_t fill_x(void *cls, uint64_t pos, char *buf, size_t max)
{
    const uint64_t *size = cls;
    if (pos >= *size)
        return MHD_CONTENT_READER_END_OF_STREAM;
    uint64_t left = *size - pos;
    size_t n = left < max ? (size_t)left : max;
    memset(buf, 'x', n);
    return (ssize_t)n;
}

static enum MHD_Result reply_big(struct MHD_Connection *conn, struct ts_request *req,
                                 const char *method)
{
    long long bytes = query_number(conn, "bytes", (long long)TS_BODY_MAX);
    if (bytes < 0)
        return reply_error(conn, req, method, MHD_HTTP_BAD_REQUEST,
                           "{\"error\":\"bytes must be a number from 0 to 67108864\"}");
    uint64_t *size = malloc(sizeof *size);
    if (size == NULL)
        return MHD_NO;
    *size = (uint64_t)bytes;
    struct MHD_Response *response =
        MHD_create_response_from_callback(*size, TS_BIG_BLOCK, &fill_x, size, &free);
    if (response == NULL) {
        free(size);
        return MHD_NO;
    }
    if (MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain") != MHD_YES) {
        MHD_destroy_response(response);
        return MHD_NO;
    }
    return ts_queue(conn, req, method, MHD_HTTP_OK, response);
}

static enum MHD_Result reply_trailers(struct MHD_Connection *conn, struct ts_request *req,
                                      const char *method)
{
    uint64_t *size = malloc(sizeof *size);
    if (size == NULL)
        return MHD_NO;
    *size = 10;
    /* of unknown size: sent in chunked coding, which alone carries a trailer section */
    struct MHD_Response *response =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, TS_BIG_BLOCK, &fill_x, size, &free);
    if (response == NULL) {
        free(size);
        return MHD_NO;
    }
    if (MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain") != MHD_YES ||
        MHD_add_response_footer(response, "X-Trailer", "t") != MHD_YES ||
        MHD_add_response_footer(response, "HTTP/1.1", "200") != MHD_YES ||
        MHD_add_response_footer(response, MHD_HTTP_HEADER_CONTENT_TYPE, "text/evil") != MHD_YES ||
        MHD_add_response_footer(response, MHD_HTTP_HEADER_SET_COOKIE, "trailer=1") != MHD_YES) {
        MHD_destroy_response(response);
        return MHD_NO;
    }
    return ts_queue(conn, req, method, MHD_HTTP_OK, response);
}

static enum MHD_Result reply_status(struct MHD_Connection *conn, struct ts_request *req,
                                    const char *method, unsigned int status)
{
    char json[32];
    int n = snprintf(json, sizeof json, "{\"status\":%u}\n", status);
    if (n < 0 || (size_t)n >= sizeof json)
        return MHD_NO;
    return ts_queue_json(conn, req, method, status, json, (size_t)n);
}

static enum MHD_Result reply_redirect(struct MHD_Connection *conn, struct ts_request *req,
                                      const char *method)
{
    static const char json[] = "{\"redirect\":\"http://127.0.0.1:1/elsewhere\"}\n";
    struct MHD_Response *response = MHD_create_response_from_buffer(
        sizeof json - 1, (void *)(uintptr_t)json, MHD_RESPMEM_PERSISTENT);
    if (response == NULL)
        return MHD_NO;
    if (MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "application/json; charset=utf-8") != MHD_YES ||
        MHD_add_response_header(response, MHD_HTTP_HEADER_LOCATION, redirect_location) != MHD_YES) {
        MHD_destroy_response(response);
        return MHD_NO;
    }
    return ts_queue(conn, req, method, MHD_HTTP_FOUND, response);
}

enum MHD_Result ts_echo_answer(const struct ts_server *srv, struct MHD_Connection *conn,
                               struct ts_request *req, const char *method)
{
    if (ts_path_ends_with(req, "/slow") && req->slow_state == 0) {
        long long ms = query_number(conn, "ms", TS_SLOW_MS_MAX);
        if (ms < 0)
            return reply_error(conn, req, method, MHD_HTTP_BAD_REQUEST,
                               "{\"error\":\"ms must be a number from 0 to 60000\"}");
        req->slow_state = 1;
        if (ms == 0)
            return reply_description(conn, req, method, false, false, 0);
        if (!sleeper_add(srv->sleeper, conn, (long)ms))
            return reply_error(conn, req, method, MHD_HTTP_SERVICE_UNAVAILABLE,
                               "{\"error\":\"too many slow requests\"}");
        return MHD_YES; /* called again once resumed */
    }
    unsigned int status = 0;
    if (status_path(req, &status)) {
        if (status == 0)
            return reply_error(conn, req, method, MHD_HTTP_BAD_REQUEST,
                               "{\"error\":\"status must be from 100 to 599\"}");
        return reply_status(conn, req, method, status);
    }
    if (ts_path_ends_with(req, "/drop")) {
        atomic_fetch_add(&drops, 1);
        return MHD_NO;
    }
    if (ts_path_ends_with(req, "/drops")) {
        char json[40];
        int n = snprintf(json, sizeof json, "{\"drops\":%u}\n", atomic_load(&drops));
        return ts_queue_json(conn, req, method, MHD_HTTP_OK, json, (size_t)n);
    }
    if (ts_path_ends_with(req, "/port")) {
        const union MHD_ConnectionInfo *info =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        unsigned port = 0;
        if (info && info->client_addr && info->client_addr->sa_family == AF_INET) {
            struct sockaddr_in in;
            memcpy(&in, info->client_addr, sizeof in);
            port = ntohs(in.sin_port);
        }
        char json[32];
        int n = snprintf(json, sizeof json, "{\"port\":%u}\n", port);
        return ts_queue_json(conn, req, method, MHD_HTTP_OK, json, (size_t)n);
    }
    if (ts_path_ends_with(req, "/redirect"))
        return reply_redirect(conn, req, method);
    if (ts_path_ends_with(req, "/big"))
        return reply_big(conn, req, method);
    if (ts_path_ends_with(req, "/trailers"))
        return reply_trailers(conn, req, method);
    size_t pad = 0;
    if (ts_path_ends_with(req, "/fields")) {
        long long bytes = query_number(conn, "bytes", TS_PAD_MAX);
        if (bytes < 16)
            return reply_error(conn, req, method, MHD_HTTP_BAD_REQUEST,
                               "{\"error\":\"bytes must be a number from 16 to 49152\"}");
        pad = (size_t)bytes;
    }
    return reply_description(conn, req, method, ts_path_ends_with(req, "/headers"),
                             ts_path_ends_with(req, "/hop"), pad);
}
