/*
 * ss-testserver — a small HTTP server on 127.0.0.1 for the demo, the
 * integration tests and the benchmarks of secsrv. It plays the parts that
 * surround a security server:
 *
 *   static --root DIR       publishes files (the signed members registry)
 *   register --data FILE    a population register (Melderegister Schwerin)
 *                           with fictitious persons, answering JSON
 *   soap --data WSDL        a vehicle register (Kfz-Zulassung Schwerin) as a
 *                           SOAP service of the X-Road message protocol 4.0,
 *                           serving WSDL at ?wsdl (ts_soap.c)
 *   echo                    a backend that describes each request it gets
 *   fast                    a backend that answers a fixed body at once
 *   tsa --config FILE       an RFC 3161 time-stamping authority configured
 *       [--section NAME]    like `openssl ts -reply`, with a control
 *                           endpoint to make it fail or reject (ts_tsa.c)
 *   closed                  holds a loopback port bound but not listening, so
 *                           that every connection to it is refused (a backend
 *                           that is down), for as long as it runs
 *   listen-exec N -- CMD... binds N listening sockets on 127.0.0.1:0, writes
 *                           their ports to --port-file, and runs CMD with them
 *                           open (non-blocking) as file descriptors 3..N+2
 *                           (SS_LISTEN_FDS names them), for servers that cannot bind port 0
 *                           themselves (nginx)
 *
 * Common options: --listen HOST:PORT (loopback only, default 127.0.0.1:0),
 * --port-file FILE (the bound port, written atomically), --pid-file FILE.
 * Runs until SIGTERM or SIGINT and then exits 0. Logs one line per request
 * (method, target, status) to stderr; fast mode logs nothing per request.
 */
#include "testserver.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TS_THREADS 4
#define TS_CONNECTION_MEMORY (64 * 1024)
#define TS_CONNECTION_TIMEOUT 120 /* seconds idle before a connection is closed */
#define TS_LOG_TARGET_MAX 200

static const char fast_body[] =
    "{\"id\":\"P-1001\",\"familyName\":\"Mustermann\",\"givenNames\":\"Erika\","
    "\"dateOfBirth\":\"1964-08-12\",\"address\":{\"street\":\"Musterstra\xc3\x9f"
    "e\",\"houseNumber\":\"1\",\"postalCode\":\"19053\",\"city\":\"Schwerin\"},"
    "\"source\":\"fast\"}\n";

struct ts_options {
    const char *mode;
    const char *listen;
    const char *port_file;
    const char *pid_file;
    const char *root;
    const char *data;
    const char *config;
    const char *section;
    const char *tls_cert, *tls_key;
};

static void usage(FILE *out)
{
    fputs("usage: ss-testserver static --root DIR [options]\n"
          "       ss-testserver register --data FILE [options]\n"
          "       ss-testserver echo [options]\n"
          "       ss-testserver fast [options]\n"
          "       ss-testserver tsa --config FILE [--section NAME] [options]\n"
          "       ss-testserver closed [options]\n"
          "       ss-testserver listen-exec N --port-file FILE -- CMD [ARGS...]\n"
          "options: --listen HOST:PORT   loopback address to bind (default 127.0.0.1:0)\n"
          "         --port-file FILE     write the bound port to FILE\n"
          "         --pid-file FILE      write the process id to FILE\n"
          "         --tls-cert FILE --tls-key FILE   serve HTTPS with this certificate\n"
          "                              (PEM, with its chain) and key\n",
          out);
}

/* ---- requests ------------------------------------------------------------ */

bool ts_path_ends_with(const struct ts_request *req, const char *suffix)
{
    size_t n = strlen(suffix);
    return req->path_len >= n && memcmp(req->target + req->path_len - n, suffix, n) == 0;
}

/*
 * In echo mode, a request no security server forwarded (it carries no
 * X-Road-Client) is logged as "stray": a time-stamp request of another
 * test's server whose TSA had this port before, say. Tests count the
 * requests that reached the backend from the lines without it.
 */
static bool mark_strays;

static void log_request(const struct ts_request *req, const char *method, unsigned int status,
                        bool stray)
{
    /* the path only: a query may carry search terms such as names */
    char target[TS_LOG_TARGET_MAX + 8];
    size_t n = 0;
    for (size_t i = 0; i < req->path_len && n < TS_LOG_TARGET_MAX; i++) {
        unsigned char c = (unsigned char)req->target[i];
        target[n++] = (c > 0x20 && c < 0x7f) ? (char)c : '?';
    }
    if (req->path_len > TS_LOG_TARGET_MAX) {
        memcpy(target + n, "...", 3);
        n += 3;
    }
    if (req->target[req->path_len] == '?') {
        memcpy(target + n, "?...", 4);
        n += 4;
    }
    target[n] = '\0';
    char verb[16];
    size_t m = 0;
    for (; method[m] != '\0' && m < sizeof verb - 1; m++) {
        unsigned char c = (unsigned char)method[m];
        verb[m] = (c > 0x20 && c < 0x7f) ? (char)c : '?';
    }
    verb[m] = '\0';
    fprintf(stderr, "ss-testserver: %s%s %s %u\n", stray ? "stray " : "", verb, target, status);
}

enum MHD_Result ts_queue(struct MHD_Connection *conn, struct ts_request *req, const char *method,
                         unsigned int status, struct MHD_Response *response)
{
    if (response == NULL)
        return MHD_NO;
    enum MHD_Result result = MHD_queue_response(conn, status, response);
    MHD_destroy_response(response);
    req->answered = true;
    log_request(req, method, status,
                mark_strays &&
                    !MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Road-Client"));
    return result;
}

enum MHD_Result ts_queue_json(struct MHD_Connection *conn, struct ts_request *req,
                              const char *method, unsigned int status, const char *json, size_t len)
{
    struct MHD_Response *response =
        MHD_create_response_from_buffer(len, (void *)(uintptr_t)json, MHD_RESPMEM_MUST_COPY);
    if (response == NULL)
        return MHD_NO;
    if (MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                "application/json; charset=utf-8") != MHD_YES) {
        MHD_destroy_response(response);
        return MHD_NO;
    }
    return ts_queue(conn, req, method, status, response);
}

/* Called with the request target before it is parsed: keeps it raw, since
 * MHD hands the access handler a percent-decoded path without the query. */
static void *on_request_line(void *cls, const char *uri, struct MHD_Connection *conn)
{
    (void)cls;
    (void)conn;
    struct ts_request *req = calloc(1, sizeof *req);
    if (req == NULL)
        return NULL;
    req->target = strdup(uri);
    if (req->target == NULL) {
        free(req);
        return NULL;
    }
    char *question = strchr(req->target, '?');
    req->path_len = question ? (size_t)(question - req->target) : strlen(req->target);
    req->query = question ? question + 1 : "";
    ts_sha256_init(&req->body_hash);
    ts_buf_init(&req->body, TS_TSA_BODY_MAX);
    return req;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode code)
{
    (void)cls;
    (void)conn;
    (void)code;
    struct ts_request *req = *con_cls;
    if (req == NULL)
        return;
    ts_buf_cleanup(&req->body);
    free(req->target);
    free(req);
    *con_cls = NULL;
}

/* Refuses bodies whose declared length is over the limit before reading. */
static bool declared_body_too_large(struct MHD_Connection *conn, uint64_t max)
{
    const char *value =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (value == NULL)
        return false;
    errno = 0;
    char *end = NULL;
    unsigned long long length = strtoull(value, &end, 10);
    if (end == value || errno != 0)
        return false; /* MHD itself rejects a malformed Content-Length */
    return length > max;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct ts_server *srv = cls;
    (void)url;
    (void)version;
    if (srv->mode == TS_FAST) {
        /* answered once the request is read, so the connection stays open */
        if (*con_cls == NULL) {
            *con_cls = srv;
            return MHD_YES;
        }
        if (*upload_data_size > 0) {
            *upload_data_size = 0;
            return MHD_YES;
        }
        return MHD_queue_response(conn, MHD_HTTP_OK, srv->fast_response);
    }

    struct ts_request *req = *con_cls;
    if (req == NULL)
        return MHD_NO;
    uint64_t body_max = srv->mode == TS_TSA ? TS_TSA_BODY_MAX : TS_BODY_MAX;
    if (!req->started) {
        req->started = true;
        if (declared_body_too_large(conn, body_max)) {
            static const char too_large[] = "{\"error\":\"request body too large\"}";
            return ts_queue_json(conn, req, method, MHD_HTTP_CONTENT_TOO_LARGE, too_large,
                                 sizeof too_large - 1);
        }
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        if (req->answered) {
            *upload_data_size = 0;
            return MHD_YES;
        }
        if (*upload_data_size > body_max - req->body_length)
            return MHD_NO; /* an undeclared (chunked) body over the limit */
        req->body_length += *upload_data_size;
        if (srv->mode == TS_ECHO)
            ts_sha256_update(&req->body_hash, upload_data, *upload_data_size);
        if (srv->mode == TS_TSA || srv->mode == TS_SOAP)
            (void)ts_buf_append(&req->body, upload_data, *upload_data_size); /* failure sticks */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (req->answered)
        return MHD_YES;
    switch (srv->mode) {
    case TS_STATIC:
        return ts_static_answer(srv, conn, req, method);
    case TS_REGISTER:
        return ts_register_answer(srv, conn, req, method);
    case TS_ECHO:
        return ts_echo_answer(srv, conn, req, method);
    case TS_TSA:
        return ts_tsa_answer(srv, conn, req, method);
    case TS_SOAP:
        return ts_soap_answer(srv, conn, req, method);
    case TS_FAST:
        break;
    }
    return MHD_NO;
}

/* ---- start-up ------------------------------------------------------------ */

/* Parses HOST:PORT; HOST must be a loopback IPv4 address or localhost. */
static bool parse_listen(const char *text, struct sockaddr_in *addr)
{
    const char *colon = strrchr(text, ':');
    if (colon == NULL || colon == text || colon[1] == '\0') {
        fprintf(stderr, "ss-testserver: --listen %s: expected HOST:PORT\n", text);
        return false;
    }
    char host[64];
    size_t host_len = (size_t)(colon - text);
    if (host_len >= sizeof host) {
        fprintf(stderr, "ss-testserver: --listen: host too long\n");
        return false;
    }
    memcpy(host, text, host_len);
    host[host_len] = '\0';
    errno = 0;
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (errno != 0 || *end != '\0' || port < 0 || port > 65535) {
        fprintf(stderr, "ss-testserver: --listen %s: bad port\n", text);
        return false;
    }
    memset(addr, 0, sizeof *addr);
    addr->sin_family = AF_INET;
    addr->sin_port = htons((uint16_t)port);
    if (strcmp(host, "localhost") == 0) {
        addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return true;
    }
    if (inet_pton(AF_INET, host, &addr->sin_addr) != 1) {
        fprintf(stderr, "ss-testserver: --listen %s: host must be an IPv4 loopback address\n",
                text);
        return false;
    }
    if ((ntohl(addr->sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "ss-testserver: refusing to listen on %s: not a loopback address\n", host);
        return false;
    }
    return true;
}

/* Writes text to path through path.tmp and a rename, so a reader never
 * sees a partial file. */
static bool write_file_atomically(const char *path, const char *text)
{
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp", path);
    if (n < 0 || (size_t)n >= sizeof tmp) {
        fprintf(stderr, "ss-testserver: %s: path too long\n", path);
        return false;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        fprintf(stderr, "ss-testserver: %s: %s\n", tmp, strerror(errno));
        return false;
    }
    size_t len = strlen(text);
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            fprintf(stderr, "ss-testserver: %s: %s\n", tmp, strerror(errno));
            close(fd);
            unlink(tmp);
            return false;
        }
        done += (size_t)w;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        fprintf(stderr, "ss-testserver: %s: %s\n", path, strerror(errno));
        unlink(tmp);
        return false;
    }
    return true;
}

/* Binds addr without listening: connections to it are refused while it is held. */
static int closed_port(const struct sockaddr_in *addr)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("ss-testserver: socket");
        return -1;
    }
    if (bind(fd, (const struct sockaddr *)addr, sizeof *addr) != 0) {
        perror("ss-testserver: bind");
        close(fd);
        return -1;
    }
    return fd;
}

static unsigned bound_port(int fd)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0)
        return 0;
    return ntohs(addr.sin_port);
}

/*
 * listen-exec: the sockets are bound and listening before CMD starts, so a
 * client that connects after the port file appears waits in the backlog
 * instead of meeting a closed port, and no other process can take them.
 */
static int listen_exec(int argc, char **argv)
{
    if (argc < 6 || strcmp(argv[3], "--port-file") != 0 || strcmp(argv[5], "--") != 0 || argc < 7) {
        usage(stderr);
        return 2;
    }
    char *end = NULL;
    long n = strtol(argv[2], &end, 10);
    if (*end != '\0' || n < 1 || n > 16) {
        fprintf(stderr, "ss-testserver: listen-exec: N must be 1 to 16\n");
        return 2;
    }
    char ports[16 * 8] = "", fds[16 * 4] = "";
    size_t pl = 0, fl = 0;
    for (long i = 0; i < n; i++) {
        struct sockaddr_in addr = {.sin_family = AF_INET};
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        int fd = socket(AF_INET, SOCK_STREAM, 0); /* no CLOEXEC: CMD inherits it */
        if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 ||
            listen(fd, SOMAXCONN) != 0) {
            perror("ss-testserver: listen-exec");
            return 1;
        }
        /* non-blocking, as a server that inherits listening sockets expects (nginx does) */
        int fl_flags = fcntl(fd, F_GETFL);
        if (fl_flags < 0 || fcntl(fd, F_SETFL, fl_flags | O_NONBLOCK) != 0) {
            perror("ss-testserver: fcntl");
            return 1;
        }
        int want = 3 + (int)i;
        if (fd != want) {
            if (dup2(fd, want) < 0) {
                perror("ss-testserver: dup2");
                return 1;
            }
            close(fd);
        }
        pl += (size_t)snprintf(ports + pl, sizeof ports - pl, "%u\n", bound_port(want));
        fl += (size_t)snprintf(fds + fl, sizeof fds - fl, "%d;", want);
    }
    if (!write_file_atomically(argv[4], ports) || setenv("SS_LISTEN_FDS", fds, 1) != 0)
        return 1;
    execvp(argv[6], argv + 6);
    fprintf(stderr, "ss-testserver: %s: %s\n", argv[6], strerror(errno));
    return 1;
}

static bool parse_options(int argc, char **argv, struct ts_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->mode = argv[1];
    opt->listen = "127.0.0.1:0";
    for (int i = 2; i < argc; i++) {
        const char **slot = NULL;
        if (strcmp(argv[i], "--listen") == 0)
            slot = &opt->listen;
        else if (strcmp(argv[i], "--port-file") == 0)
            slot = &opt->port_file;
        else if (strcmp(argv[i], "--pid-file") == 0)
            slot = &opt->pid_file;
        else if (strcmp(argv[i], "--root") == 0)
            slot = &opt->root;
        else if (strcmp(argv[i], "--data") == 0)
            slot = &opt->data;
        else if (strcmp(argv[i], "--config") == 0)
            slot = &opt->config;
        else if (strcmp(argv[i], "--section") == 0)
            slot = &opt->section;
        else if (strcmp(argv[i], "--tls-cert") == 0)
            slot = &opt->tls_cert;
        else if (strcmp(argv[i], "--tls-key") == 0)
            slot = &opt->tls_key;
        if (slot == NULL) {
            fprintf(stderr, "ss-testserver: unknown option %s\n", argv[i]);
            return false;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "ss-testserver: %s needs a value\n", argv[i]);
            return false;
        }
        *slot = argv[++i];
    }
    return true;
}

/* Sets up what the mode needs; false with a reason on stderr. */
static bool prepare_mode(const struct ts_options *opt, struct ts_server *srv)
{
    srv->root_fd = -1;
    srv->mode_name = opt->mode;
    if (strcmp(opt->mode, "static") == 0)
        srv->mode = TS_STATIC;
    else if (strcmp(opt->mode, "register") == 0)
        srv->mode = TS_REGISTER;
    else if (strcmp(opt->mode, "echo") == 0)
        srv->mode = TS_ECHO;
    else if (strcmp(opt->mode, "fast") == 0)
        srv->mode = TS_FAST;
    else if (strcmp(opt->mode, "tsa") == 0)
        srv->mode = TS_TSA;
    else if (strcmp(opt->mode, "soap") == 0)
        srv->mode = TS_SOAP;
    else {
        fprintf(stderr, "ss-testserver: unknown mode %s\n", opt->mode);
        return false;
    }
    if ((opt->root != NULL) != (srv->mode == TS_STATIC)) {
        fprintf(stderr, "ss-testserver: --root is required for static and only for static\n");
        return false;
    }
    if ((opt->data != NULL) != (srv->mode == TS_REGISTER || srv->mode == TS_SOAP)) {
        fprintf(stderr, "ss-testserver: --data is required for register and soap, and only for "
                        "them\n");
        return false;
    }
    if ((opt->config != NULL) != (srv->mode == TS_TSA) ||
        (opt->section != NULL && srv->mode != TS_TSA)) {
        fprintf(stderr, "ss-testserver: --config is required for tsa, and it and --section are "
                        "only for tsa\n");
        return false;
    }
    if ((opt->tls_cert != NULL) != (opt->tls_key != NULL)) {
        fprintf(stderr, "ss-testserver: --tls-cert and --tls-key go together\n");
        return false;
    }
    size_t len = 0;
    if (opt->tls_cert != NULL &&
        ((srv->tls_cert = ts_read_file(opt->tls_cert, TS_PEM_MAX, &len)) == NULL ||
         (srv->tls_key = ts_read_file(opt->tls_key, TS_PEM_MAX, &len)) == NULL))
        return false;
    switch (srv->mode) {
    case TS_STATIC:
        srv->root_fd = open(opt->root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (srv->root_fd < 0) {
            fprintf(stderr, "ss-testserver: %s: %s\n", opt->root, strerror(errno));
            return false;
        }
        return true;
    case TS_REGISTER:
        srv->persons = ts_persons_load(opt->data);
        return srv->persons != NULL;
    case TS_ECHO:
        srv->sleeper = ts_sleeper_new();
        if (srv->sleeper == NULL)
            fprintf(stderr, "ss-testserver: cannot start the timer thread\n");
        return srv->sleeper != NULL;
    case TS_FAST:
        srv->fast_response = MHD_create_response_from_buffer(
            sizeof fast_body - 1, (void *)(uintptr_t)fast_body, MHD_RESPMEM_PERSISTENT);
        if (srv->fast_response == NULL ||
            MHD_add_response_header(srv->fast_response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                    "application/json; charset=utf-8") != MHD_YES) {
            fprintf(stderr, "ss-testserver: cannot build the response\n");
            return false;
        }
        return true;
    case TS_TSA:
        srv->tsa = ts_tsa_load(opt->config, opt->section);
        return srv->tsa != NULL;
    case TS_SOAP:
        srv->wsdl = ts_wsdl_load(opt->data);
        return srv->wsdl != NULL;
    }
    return false;
}

static void release_mode(struct ts_server *srv)
{
    if (srv->root_fd >= 0)
        close(srv->root_fd);
    ts_persons_free(srv->persons);
    ts_tsa_free(srv->tsa);
    ts_wsdl_free(srv->wsdl);
    if (srv->fast_response != NULL)
        MHD_destroy_response(srv->fast_response);
    free(srv->tls_cert);
    free(srv->tls_key);
}

static struct MHD_Daemon *start_daemon(struct ts_server *srv, const struct sockaddr_in *addr)
{
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES)
        flags |= MHD_USE_EPOLL;
    if (srv->mode == TS_ECHO)
        flags |= MHD_ALLOW_SUSPEND_RESUME;
    bool track = srv->mode != TS_FAST;
    struct MHD_OptionItem tls[] = {{MHD_OPTION_HTTPS_MEM_CERT, 0, srv->tls_cert},
                                   {MHD_OPTION_HTTPS_MEM_KEY, 0, srv->tls_key},
                                   {MHD_OPTION_END, 0, NULL}};
    if (srv->tls_cert != NULL)
        flags |= MHD_USE_TLS;
    return MHD_start_daemon(
        flags, ntohs(addr->sin_port), NULL, NULL, &on_request, srv, MHD_OPTION_SOCK_ADDR,
        (const struct sockaddr *)addr, MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)TS_THREADS,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)TS_CONNECTION_MEMORY,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)TS_CONNECTION_TIMEOUT,
        MHD_OPTION_URI_LOG_CALLBACK, track ? &on_request_line : NULL, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, track ? &on_completed : NULL, NULL, MHD_OPTION_ARRAY,
        srv->tls_cert != NULL ? tls : tls + 2, MHD_OPTION_END);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "listen-exec") == 0)
        return listen_exec(argc, argv);
    struct ts_options opt;
    struct sockaddr_in addr;
    if (!parse_options(argc, argv, &opt)) {
        usage(stderr);
        return 2;
    }
    if (!parse_listen(opt.listen, &addr))
        return 2;

    /* the signals are taken by sigwait below; MHD's threads inherit the mask */
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGTERM);
    sigaddset(&stop_signals, SIGINT);
    if (pthread_sigmask(SIG_BLOCK, &stop_signals, NULL) != 0) {
        fprintf(stderr, "ss-testserver: cannot block signals\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    int status = 1;
    bool pid_written = false;
    struct MHD_Daemon *daemon = NULL;
    int closed_fd = -1;
    unsigned port = 0;
    struct ts_server srv;
    memset(&srv, 0, sizeof srv);
    srv.root_fd = -1;
    if (strcmp(opt.mode, "closed") == 0) {
        srv.mode_name = opt.mode;
        if ((closed_fd = closed_port(&addr)) < 0)
            goto out;
        port = bound_port(closed_fd);
    } else {
        if (!prepare_mode(&opt, &srv))
            goto out;
        mark_strays = strcmp(opt.mode, "echo") == 0;
        daemon = start_daemon(&srv, &addr);
        if (daemon == NULL) {
            fprintf(stderr, "ss-testserver: cannot listen on %s\n", opt.listen);
            goto out;
        }
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon, MHD_DAEMON_INFO_BIND_PORT);
        port = info ? info->port : 0;
    }
    if (port == 0) {
        fprintf(stderr, "ss-testserver: cannot learn the bound port\n");
        goto out;
    }
    char text[32];
    if (opt.pid_file != NULL) {
        snprintf(text, sizeof text, "%ld\n", (long)getpid());
        if (!write_file_atomically(opt.pid_file, text))
            goto out;
        pid_written = true;
    }
    if (opt.port_file != NULL) {
        snprintf(text, sizeof text, "%u\n", port);
        if (!write_file_atomically(opt.port_file, text))
            goto out;
    }
    fprintf(stderr, "ss-testserver: %s mode %s 127.0.0.1:%u\n", srv.mode_name,
            closed_fd >= 0 ? "holding (not listening)" : "listening on", port);

    int sig = 0;
    while (sigwait(&stop_signals, &sig) != 0)
        ;
    fprintf(stderr, "ss-testserver: stopping on signal %d\n", sig);
    status = 0;
out:
    /* suspended connections must be resumed before the daemon stops */
    ts_sleeper_free(srv.sleeper);
    if (daemon != NULL)
        MHD_stop_daemon(daemon);
    if (closed_fd >= 0)
        close(closed_fd);
    release_mode(&srv);
    if (pid_written)
        unlink(opt.pid_file);
    return status;
}
