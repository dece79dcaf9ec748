/*
 * policy_file: one access policy file in memory, internal to policies/. It
 * owns turning the bytes of one file into this model: hardened XML parsing,
 * validation against the embedded schemas/policy.xsd, then the semantic
 * checks the schema cannot express, each error as "file:line: message".
 * A parsed file is immutable; all its memory belongs to one arena and goes
 * with ss_policy_file_free(). Identifiers are stored as string parts, not
 * as struct ss_client_id, to keep large allow-lists small.
 */
#ifndef SS_POLICY_FILE_H
#define SS_POLICY_FILE_H

#include "policy.h"
#include "ss_error.h"
#include "ss_id.h"

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#define SS_POLICY_METHODS_MAX 16    /* methods named by one rule */
#define SS_POLICY_METHOD_LEN_MAX 32 /* bytes of one method name */
#define SS_POLICY_ERRORS_MAX 100    /* errors reported for one file */

/* An identifier INSTANCE/CLASS/MEMBER[/SUBSYSTEM]; subsystem is "" for a member. */
struct ss_policy_id {
    const char *instance;
    const char *member_class;
    const char *member_code;
    const char *subsystem;
};

struct ss_policy_group {
    const char *code;
    long line;
    struct ss_policy_id *members; /* a member entry covers its subsystems */
    size_t n_members;
};

enum ss_policy_allow_kind {
    SS_POLICY_ALLOW_MEMBER,       /* the member and all its subsystems */
    SS_POLICY_ALLOW_SUBSYSTEM,    /* exactly this subsystem */
    SS_POLICY_ALLOW_GLOBAL_GROUP, /* a global group of the registry */
    SS_POLICY_ALLOW_LOCAL_GROUP,  /* a local group of the same file */
};

struct ss_policy_allow {
    enum ss_policy_allow_kind kind;
    struct ss_policy_id id;              /* member, subsystem */
    const char *group_code;              /* global group, local group */
    const struct ss_policy_group *group; /* local group */
    long line;
};

struct ss_policy_rule {
    const char *service_code;
    const char *service_version; /* NULL: any version */
    const char **methods;        /* n_methods == 0: any method */
    size_t n_methods;
    const char *methods_text; /* as written, for reasons */
    const char *path;         /* NULL: any path */
    bool has_valid_from;
    bool has_valid_until;
    time_t valid_from;  /* inclusive */
    time_t valid_until; /* exclusive */
    struct ss_policy_allow *allows;
    size_t n_allows;
    bool has_purpose;      /* a <purpose> element is present */
    bool purpose_required; /* a request without purpose is refused */
    const char **purposes; /* n_purposes == 0: any code */
    size_t n_purposes;
    const char *description; /* NULL if none */
    long line;
};

struct ss_policy_arena;

struct ss_policy_file {
    const char *name;
    struct ss_policy_id provider;
    long provider_line;
    struct ss_policy_group *groups;
    size_t n_groups;
    struct ss_policy_rule *rules;
    size_t n_rules;
    struct ss_policy_arena *arena;
};

/*
 * Parses the policy document buf[0..len) named name. Every error is passed
 * to report (may be NULL), at most SS_POLICY_ERRORS_MAX of them; the first
 * is returned with its message in ss_errmsg(). On success *out is the file.
 */
ss_error ss_policy_file_parse(const char *name, const void *buf, size_t len,
                              const struct ss_policy_report *report,
                              struct ss_policy_file **out) SS_MUST_CHECK SS_NONNULL(1, 2, 5);

void ss_policy_file_free(struct ss_policy_file *file);

/* True if the policy identifier id names client exactly. */
bool ss_policy_id_equal(const struct ss_policy_id *id, const struct ss_client_id *client);
/* True if a and b name the same member or subsystem. */
bool ss_policy_id_same(const struct ss_policy_id *a, const struct ss_policy_id *b);
/* True if id names client, or id is a member and client one of its subsystems. */
bool ss_policy_id_covers(const struct ss_policy_id *id, const struct ss_client_id *client);
/* Writes "INSTANCE/CLASS/MEMBER[/SUBSYSTEM]"; false if it did not fit. */
bool ss_policy_id_format(const struct ss_policy_id *id, char *buf, size_t size);

#endif
