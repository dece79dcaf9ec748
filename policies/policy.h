/*
 * policy: access policies of a provider security server, deny by default.
 * It owns the policy file format (schemas/policy.xsd, policies/README.md),
 * loading a directory or a list of files into an immutable, reference-
 * counted set, and the decision whether a client may call a service with a
 * given purpose, method and path at a given time. A set is either loaded
 * whole or not at all: on any error the caller keeps its old set, and a
 * reload is the caller's atomic swap of set pointers. Every file error is
 * reported as "file:line: message". A set is safe to share between threads.
 */
#ifndef SS_POLICY_H
#define SS_POLICY_H

#include "policy_path.h"
#include "ss_error.h"
#include "ss_id.h"

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define SS_POLICY_FILE_MAX_BYTES (1024u * 1024u) /* one policy file */
#define SS_POLICY_FILES_MAX 1000                 /* files in one set */
#define SS_POLICY_PURPOSE_MAX 64                 /* bytes of a purpose code */

struct ss_policy_set;
struct ss_registry;

/*
 * Receives the outcome of each file while a set is loaded, in load order:
 * every error as "file:line: message" (a file may have several), and for a
 * file without errors its number of rules. Either callback may be NULL.
 */
struct ss_policy_report {
    void (*on_error)(void *ctx, const char *file, const char *message);
    void (*on_file_ok)(void *ctx, const char *file, size_t n_rules);
    void *ctx;
};

/*
 * Loads every "*.xml" file of dir (hidden files skipped) in byte order of
 * their names. An empty directory gives an empty set, which denies all.
 * On error returns the first error (SS_ERR_POLICY for a file's content,
 * SS_ERR_IO / SS_ERR_NOT_FOUND / SS_ERR_TOO_LARGE / SS_ERR_LIMIT otherwise)
 * with its message in ss_errmsg(), and leaves *out NULL. On success *out
 * holds one reference.
 */
ss_error ss_policy_set_load_dir(const char *dir, struct ss_policy_set **out) SS_MUST_CHECK
    SS_NONNULL(1, 2);

/* The policy files ss_policy_set_load_dir loads ("dir/NAME.xml"), in that order; *names is
 * freed with ss_policy_names_free. */
ss_error ss_policy_dir_list(const char *dir, char ***names, size_t *n) SS_MUST_CHECK
    SS_NONNULL(1, 2, 3);
void ss_policy_names_free(char **names, size_t n);

/* Loads the n files paths[0..n) in the order given; as ss_policy_set_load_dir. */
ss_error ss_policy_set_load_files(const char *const *paths, size_t n,
                                  struct ss_policy_set **out) SS_MUST_CHECK SS_NONNULL(3);

/*
 * As ss_policy_set_load_files, and keeps going after an error so that report
 * sees every error of every file (report may be NULL).
 */
ss_error ss_policy_set_load_files_report(const char *const *paths, size_t n,
                                         const struct ss_policy_report *report,
                                         struct ss_policy_set **out) SS_MUST_CHECK SS_NONNULL(4);

/* Parses one policy document buf[0..len) named name into a set of one file. */
ss_error ss_policy_set_parse_buffer(const char *name, const void *buf, size_t len,
                                    struct ss_policy_set **out) SS_MUST_CHECK SS_NONNULL(1, 2, 4);

/* Adds a reference; returns set. */
struct ss_policy_set *ss_policy_set_ref(struct ss_policy_set *set);
/* Drops a reference and frees the set with the last one; NULL is a no-op. */
void ss_policy_set_unref(struct ss_policy_set *set);

size_t ss_policy_set_count_rules(const struct ss_policy_set *set);
size_t ss_policy_set_count_files(const struct ss_policy_set *set);

/*
 * What is asked. client and service are required. purpose is NULL when the
 * request carries none. method is NULL for a request without one (SOAP):
 * such a request is covered only by rules that name no methods. path is the
 * raw (still percent-encoded) request path after the service identifier,
 * "" or starting with '/', or NULL when there is none (SOAP): a request
 * without a path is covered only by rules that name no path. registry
 * resolves global groups; without it no global group matches.
 */
struct ss_policy_request {
    const struct ss_client_id *client;
    const struct ss_service_id *service;
    const char *purpose;
    const char *method;
    const char *path;
    time_t now;
    const struct ss_registry *registry;
};

/* Why a request was decided as it was. */
enum ss_policy_outcome {
    SS_POLICY_ALLOW = 0,
    SS_POLICY_BAD_REQUEST,        /* incomplete request, malformed purpose */
    SS_POLICY_PATH_REFUSED,       /* path traversal (ss_policy_path_check) */
    SS_POLICY_NO_POLICY,          /* no policy file for the provider */
    SS_POLICY_NO_RULE,            /* no rule for the service (and version) */
    SS_POLICY_CLIENT_NOT_ALLOWED, /* no rule for the service allows the client */
    SS_POLICY_OUTSIDE_VALIDITY,   /* the client's rules are not valid now */
    SS_POLICY_METHOD_NOT_ALLOWED, /* ... do not cover the method */
    SS_POLICY_PATH_NOT_ALLOWED,   /* ... do not cover the path */
    SS_POLICY_PURPOSE_MISSING,    /* a rule covers all but requires a purpose */
    SS_POLICY_PURPOSE_DENIED,     /* a rule covers all but not this purpose */
};

struct ss_policy_decision {
    bool allow;
    ss_error code; /* SS_OK, SS_ERR_ACCESS_DENIED, SS_ERR_PURPOSE_MISSING, SS_ERR_PURPOSE_DENIED */
    enum ss_policy_outcome outcome;
    char file[512]; /* policy file of the deciding (or closest) rule, "" if none */
    long line;      /* its line, 0 if none */
    char reason[256];
};

/*
 * Decides req against set (NULL: nothing is allowed) and fills *out.
 * Among the rules of the provider's file for the service code (and version,
 * if the rule names one) the first that allows the client, is valid at
 * req->now, covers the method and the path and whose purpose condition
 * holds allows the request. Otherwise the request is denied, naming the rule
 * that came closest (the purpose is checked last). Returns out->code.
 */
ss_error ss_policy_decide(const struct ss_policy_set *set, const struct ss_policy_request *req,
                          struct ss_policy_decision *out) SS_MUST_CHECK SS_NONNULL(2, 3);

/* A stable name for outcome, e.g. "client-not-allowed". */
const char *ss_policy_outcome_name(enum ss_policy_outcome outcome);

/* True if s is a well-formed purpose code: 1-64 bytes of [A-Za-z0-9.:/_-], one alphanumeric. */
bool ss_policy_purpose_valid(const char *s);

/* The methods the proxies carry (RFC 9110 9.3, RFC 5789), as messages name them. */
#define SS_POLICY_METHODS "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"
/*
 * True if the len bytes at m are one of SS_POLICY_METHODS (case-sensitive). Any other is
 * answered 501 at the door, so a rule naming it could never match.
 */
bool ss_policy_method_known(const char *m, size_t len);

/* One rule as the metaservices list it: its service, methods (none: any) and path (NULL: any). */
struct ss_policy_endpoint {
    const char *service_code;
    const char *const *methods;
    size_t n_methods;
    const char *path;
};

/*
 * The rules of provider's policy file, in file order: with client, those
 * that admit it and are valid at now; without (NULL), all of them. fn gets
 * each one. A rule's purpose is not considered: the answer is what a
 * client may call with a fitting purpose (the metaservice allowedMethods).
 * Returns how many rules fn got.
 */
size_t ss_policy_endpoints(const struct ss_policy_set *set, const struct ss_client_id *provider,
                           const struct ss_client_id *client, const struct ss_registry *registry,
                           time_t now, void (*fn)(void *ctx, const struct ss_policy_endpoint *e),
                           void *ctx);

#endif
