/*
 * ts_static.c — static mode of ss-testserver: publishes the regular files
 * below one directory for GET and HEAD (the signed members registry and its
 * signature). Paths with "..", "//" or any percent sign are refused with
 * 400, so no request names a file outside the directory.
 */
#include "testserver.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TS_STATIC_PATH_MAX 1024

static enum MHD_Result answer_error(struct MHD_Connection *conn, struct ts_request *req,
                                    const char *method, unsigned int status, const char *json)
{
    return ts_queue_json(conn, req, method, status, json, strlen(json));
}

static bool path_is_safe(const char *path, size_t len)
{
    if (len == 0 || path[0] != '/')
        return false;
    for (size_t i = 0; i < len; i++) {
        if (path[i] == '%' || path[i] == '\\')
            return false;
        if (i + 1 < len &&
            ((path[i] == '.' && path[i + 1] == '.') || (path[i] == '/' && path[i + 1] == '/')))
            return false;
    }
    return true;
}

enum MHD_Result ts_static_answer(const struct ts_server *srv, struct MHD_Connection *conn,
                                 struct ts_request *req, const char *method)
{
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        struct MHD_Response *response =
            MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
        if (response != NULL &&
            MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD") != MHD_YES) {
            MHD_destroy_response(response);
            response = NULL;
        }
        return ts_queue(conn, req, method, MHD_HTTP_METHOD_NOT_ALLOWED, response);
    }
    if (!path_is_safe(req->target, req->path_len) || req->path_len >= TS_STATIC_PATH_MAX)
        return answer_error(conn, req, method, MHD_HTTP_BAD_REQUEST, "{\"error\":\"bad path\"}");

    char relative[TS_STATIC_PATH_MAX];
    memcpy(relative, req->target + 1, req->path_len - 1);
    relative[req->path_len - 1] = '\0';
    static const char not_found[] = "{\"error\":\"not found\"}";
    if (relative[0] == '\0')
        return answer_error(conn, req, method, MHD_HTTP_NOT_FOUND, not_found);

    /* O_NONBLOCK: opening a FIFO placed in the directory must not hang */
    int fd = openat(srv->root_fd, relative, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0)
        return answer_error(conn, req, method, MHD_HTTP_NOT_FOUND, not_found);
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return answer_error(conn, req, method, MHD_HTTP_NOT_FOUND, not_found);
    }
    struct MHD_Response *response = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    if (response == NULL) {
        close(fd);
        return MHD_NO;
    }
    bool xml = req->path_len >= 4 && memcmp(req->target + req->path_len - 4, ".xml", 4) == 0;
    if (MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                                xml ? "application/xml" : "application/octet-stream") != MHD_YES) {
        MHD_destroy_response(response);
        return MHD_NO;
    }
    return ts_queue(conn, req, method, MHD_HTTP_OK, response);
}
