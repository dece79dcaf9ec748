#include "policy.h"

#include "policy_file.h"
#include "registry.h"
#include "ss_xml.h"

#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ss_policy_set {
    atomic_int refs;
    struct ss_policy_file **files;
    size_t n_files;
    size_t n_rules;
};

static void set_free(struct ss_policy_set *set)
{
    if (!set)
        return;
    for (size_t i = 0; i < set->n_files; i++)
        ss_policy_file_free(set->files[i]);
    free(set->files);
    free(set);
}

struct ss_policy_set *ss_policy_set_ref(struct ss_policy_set *set)
{
    if (set)
        atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
    return set;
}

void ss_policy_set_unref(struct ss_policy_set *set)
{
    if (set && atomic_fetch_sub_explicit(&set->refs, 1, memory_order_acq_rel) == 1)
        set_free(set);
}

size_t ss_policy_set_count_rules(const struct ss_policy_set *set)
{
    return set ? set->n_rules : 0;
}

size_t ss_policy_set_count_files(const struct ss_policy_set *set)
{
    return set ? set->n_files : 0;
}

bool ss_policy_method_known(const char *m, size_t len)
{
    for (const char *p = SS_POLICY_METHODS; *p; p += strspn(p, ", ")) {
        size_t n = strcspn(p, ", ");
        if (n == len && memcmp(p, m, len) == 0)
            return true;
        p += n;
    }
    return false;
}

bool ss_policy_purpose_valid(const char *s)
{
    if (!s)
        return false;
    size_t len = strnlen(s, SS_POLICY_PURPOSE_MAX + 1);
    if (len == 0 || len > SS_POLICY_PURPOSE_MAX)
        return false;
    bool alnum = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool an = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!an && c != '.' && c != ':' && c != '/' && c != '_' && c != '-')
            return false;
        alnum |= an;
    }
    return alnum; /* "-" alone would read as "no purpose" in a manifest */
}

/* ---- loading ---- */

/* The first error of a load, kept while later files are still checked. */
struct load_state {
    const struct ss_policy_report *report;
    ss_error first;
    char first_msg[512];
};

static void load_failed(struct load_state *st, ss_error err, const char *file, bool reported)
{
    const char *message = ss_errmsg();
    if (st->first == SS_OK) {
        st->first = err;
        snprintf(st->first_msg, sizeof st->first_msg, "%s", message);
    }
    if (!reported && st->report && st->report->on_error)
        st->report->on_error(st->report->ctx, file, message);
}

static ss_error check_duplicate(const struct ss_policy_set *set, const struct ss_policy_file *file)
{
    for (size_t i = 0; i < set->n_files; i++) {
        const struct ss_policy_file *other = set->files[i];
        if (ss_policy_id_same(&other->provider, &file->provider)) {
            char id[SS_ID_STR_MAX];
            if (!ss_policy_id_format(&file->provider, id, sizeof id))
                id[0] = '\0';
            return ss_errf(SS_ERR_POLICY, "%s:%ld: provider %.300s already has a policy in %s:%ld",
                           file->name, file->provider_line, id, other->name, other->provider_line);
        }
    }
    return SS_OK;
}

/* Reads and parses one file and adds it to set. Returns NOMEM only as fatal. */
static ss_error load_one(struct ss_policy_set *set, const char *path, struct load_state *st)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    struct ss_policy_file *file = NULL;

    ss_error err = ss_file_read(path, SS_POLICY_FILE_MAX_BYTES, &buf, &len);
    if (err) {
        load_failed(st, err, path, false);
        return err == SS_ERR_NOMEM ? err : SS_OK;
    }
    err = ss_policy_file_parse(path, buf, len, st->report, &file);
    free(buf);
    if (err) {
        load_failed(st, err, path, true);
        return err == SS_ERR_NOMEM ? err : SS_OK;
    }
    err = check_duplicate(set, file);
    if (err) {
        load_failed(st, err, path, false);
        ss_policy_file_free(file);
        return SS_OK;
    }
    set->files[set->n_files++] = file;
    set->n_rules += file->n_rules;
    if (st->report && st->report->on_file_ok)
        st->report->on_file_ok(st->report->ctx, path, file->n_rules);
    return SS_OK;
}

static ss_error load_paths(const char *const *paths, size_t n,
                           const struct ss_policy_report *report, bool keep_going,
                           struct ss_policy_set **out)
{
    struct load_state st = {.report = report};
    *out = NULL;
    if (n > SS_POLICY_FILES_MAX)
        return ss_errf(SS_ERR_LIMIT, "%zu policy files, more than the limit of %d", n,
                       SS_POLICY_FILES_MAX);
    if (n > 0 && !paths)
        return ss_errf(SS_ERR_INTERNAL, "no policy file names given");
    struct ss_policy_set *set = calloc(1, sizeof *set);
    if (!set)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    set->files = calloc(n > 0 ? n : 1, sizeof *set->files);
    if (!set->files) {
        free(set);
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        ss_error fatal = load_one(set, paths[i], &st);
        if (fatal || (st.first && !keep_going))
            break;
    }
    if (st.first) {
        set_free(set);
        return ss_errf(st.first, "%s", st.first_msg);
    }
    atomic_init(&set->refs, 1);
    *out = set;
    return SS_OK;
}

ss_error ss_policy_set_load_files(const char *const *paths, size_t n, struct ss_policy_set **out)
{
    return load_paths(paths, n, NULL, false, out);
}

ss_error ss_policy_set_load_files_report(const char *const *paths, size_t n,
                                         const struct ss_policy_report *report,
                                         struct ss_policy_set **out)
{
    return load_paths(paths, n, report, true, out);
}

ss_error ss_policy_set_parse_buffer(const char *name, const void *buf, size_t len,
                                    struct ss_policy_set **out)
{
    struct ss_policy_file *file = NULL;
    *out = NULL;
    ss_error err = ss_policy_file_parse(name, buf, len, NULL, &file);
    if (err)
        return err;
    struct ss_policy_set *set = calloc(1, sizeof *set);
    if (set)
        set->files = calloc(1, sizeof *set->files);
    if (!set || !set->files) {
        free(set);
        ss_policy_file_free(file);
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    }
    set->files[0] = file;
    set->n_files = 1;
    set->n_rules = file->n_rules;
    atomic_init(&set->refs, 1);
    *out = set;
    return SS_OK;
}

static bool is_policy_name(const char *name)
{
    size_t len = strlen(name);
    return name[0] != '.' && len > 4 && strcmp(name + len - 4, ".xml") == 0;
}

static int compare_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

void ss_policy_names_free(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

/* Collects "dir/NAME.xml" for every policy file of dir, sorted by name. */
ss_error ss_policy_dir_list(const char *dir, char ***out, size_t *n_out)
{
    char **names = NULL;
    size_t n = 0;
    ss_error err = SS_OK;
    *out = NULL;
    *n_out = 0;

    DIR *d = opendir(dir);
    if (!d)
        return ss_errf(errno == ENOENT ? SS_ERR_NOT_FOUND : SS_ERR_IO, "%s: %s", dir,
                       strerror(errno));
    names = calloc(SS_POLICY_FILES_MAX, sizeof *names);
    if (!names) {
        err = ss_errf(SS_ERR_NOMEM, "out of memory");
        goto out;
    }
    for (;;) {
        errno = 0;
        struct dirent *e = readdir(d);
        if (!e) {
            if (errno)
                err = ss_errf(SS_ERR_IO, "%s: %s", dir, strerror(errno));
            break;
        }
        if (!is_policy_name(e->d_name))
            continue;
        if (n == SS_POLICY_FILES_MAX) {
            err = ss_errf(SS_ERR_LIMIT, "%s: more than %d policy files", dir, SS_POLICY_FILES_MAX);
            break;
        }
        size_t size = strlen(dir) + 1 + strlen(e->d_name) + 1;
        names[n] = malloc(size);
        if (!names[n]) {
            err = ss_errf(SS_ERR_NOMEM, "out of memory");
            break;
        }
        snprintf(names[n], size, "%s/%s", dir, e->d_name);
        n++;
    }
    if (err)
        goto out;
    qsort(names, n, sizeof *names, compare_names);
    *out = names;
    *n_out = n;
    names = NULL;
out:
    if (names)
        ss_policy_names_free(names, n);
    closedir(d);
    return err;
}

ss_error ss_policy_set_load_dir(const char *dir, struct ss_policy_set **out)
{
    char **names = NULL;
    size_t n = 0;
    *out = NULL;
    ss_error err = ss_policy_dir_list(dir, &names, &n);
    if (err)
        return err;
    err = load_paths((const char *const *)names, n, NULL, false, out);
    ss_policy_names_free(names, n);
    return err;
}

/* ---- decision ---- */

/* How far a rule for the service got with a request; later is closer. */
enum stage {
    STAGE_CLIENT,
    STAGE_VALIDITY,
    STAGE_METHOD,
    STAGE_PATH,
    STAGE_PURPOSE,
    STAGE_ALLOW,
};

const char *ss_policy_outcome_name(enum ss_policy_outcome outcome)
{
    switch (outcome) {
    case SS_POLICY_ALLOW:
        return "allow";
    case SS_POLICY_BAD_REQUEST:
        return "bad-request";
    case SS_POLICY_PATH_REFUSED:
        return "path-refused";
    case SS_POLICY_NO_POLICY:
        return "no-policy";
    case SS_POLICY_NO_RULE:
        return "no-rule";
    case SS_POLICY_CLIENT_NOT_ALLOWED:
        return "client-not-allowed";
    case SS_POLICY_OUTSIDE_VALIDITY:
        return "outside-validity";
    case SS_POLICY_METHOD_NOT_ALLOWED:
        return "method-not-allowed";
    case SS_POLICY_PATH_NOT_ALLOWED:
        return "path-not-allowed";
    case SS_POLICY_PURPOSE_MISSING:
        return "purpose-missing";
    case SS_POLICY_PURPOSE_DENIED:
        return "purpose-denied";
    }
    return "unknown";
}

static ss_error decision(struct ss_policy_decision *out, enum ss_policy_outcome outcome,
                         const struct ss_policy_file *file, const struct ss_policy_rule *rule,
                         const char *fmt, ...) SS_PRINTF(5, 6);

/* Fills *out; rule names the deciding (or closest) rule, NULL for none. */
static ss_error decision(struct ss_policy_decision *out, enum ss_policy_outcome outcome,
                         const struct ss_policy_file *file, const struct ss_policy_rule *rule,
                         const char *fmt, ...)
{
    out->outcome = outcome;
    out->allow = outcome == SS_POLICY_ALLOW;
    switch (outcome) {
    case SS_POLICY_ALLOW:
        out->code = SS_OK;
        break;
    case SS_POLICY_PURPOSE_MISSING:
        out->code = SS_ERR_PURPOSE_MISSING;
        break;
    case SS_POLICY_PURPOSE_DENIED:
        out->code = SS_ERR_PURPOSE_DENIED;
        break;
    default:
        out->code = SS_ERR_ACCESS_DENIED;
        break;
    }
    snprintf(out->file, sizeof out->file, "%s", file ? file->name : "");
    out->line = rule ? rule->line : 0;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->reason, sizeof out->reason, fmt, ap);
    va_end(ap);
    return out->code;
}

/* The allow entry of rule that admits client, or NULL. */
static const struct ss_policy_allow *rule_allows(const struct ss_policy_rule *rule,
                                                 const struct ss_policy_request *req)
{
    const struct ss_client_id *client = req->client;
    for (size_t i = 0; i < rule->n_allows; i++) {
        const struct ss_policy_allow *allow = &rule->allows[i];
        switch (allow->kind) {
        case SS_POLICY_ALLOW_MEMBER:
        case SS_POLICY_ALLOW_SUBSYSTEM:
            if (ss_policy_id_covers(&allow->id, client))
                return allow;
            break;
        case SS_POLICY_ALLOW_GLOBAL_GROUP:
            if (req->registry && ss_registry_group_has(req->registry, allow->group_code, client))
                return allow;
            break;
        case SS_POLICY_ALLOW_LOCAL_GROUP:
            for (size_t j = 0; j < allow->group->n_members; j++)
                if (ss_policy_id_covers(&allow->group->members[j], client))
                    return allow;
            break;
        }
    }
    return NULL;
}

static bool rule_valid_at(const struct ss_policy_rule *rule, time_t now)
{
    if (rule->has_valid_from && now < rule->valid_from)
        return false;
    if (rule->has_valid_until && now >= rule->valid_until)
        return false;
    return true;
}

static bool rule_covers_method(const struct ss_policy_rule *rule, const char *method)
{
    if (rule->n_methods == 0)
        return true;
    if (!method)
        return false;
    for (size_t i = 0; i < rule->n_methods; i++)
        if (strcmp(rule->methods[i], method) == 0)
            return true;
    return false;
}

static bool rule_covers_path(const struct ss_policy_rule *rule, const char *path)
{
    if (!rule->path)
        return true;
    if (!path)
        return false;
    return ss_policy_path_match(rule->path, path, strlen(path));
}

static bool rule_purpose_ok(const struct ss_policy_rule *rule, const char *purpose)
{
    if (!rule->has_purpose)
        return true;
    if (!purpose)
        return !rule->purpose_required;
    if (rule->n_purposes == 0)
        return true;
    for (size_t i = 0; i < rule->n_purposes; i++)
        if (strcmp(rule->purposes[i], purpose) == 0)
            return true;
    return false;
}

static enum stage rule_stage(const struct ss_policy_rule *rule, const struct ss_policy_request *req,
                             const struct ss_policy_allow **allow)
{
    *allow = rule_allows(rule, req);
    if (!*allow)
        return STAGE_CLIENT;
    if (!rule_valid_at(rule, req->now))
        return STAGE_VALIDITY;
    if (!rule_covers_method(rule, req->method))
        return STAGE_METHOD;
    if (!rule_covers_path(rule, req->path))
        return STAGE_PATH;
    if (!rule_purpose_ok(rule, req->purpose))
        return STAGE_PURPOSE;
    return STAGE_ALLOW;
}

static bool rule_for_service(const struct ss_policy_rule *rule, const struct ss_service_id *service)
{
    if (strcmp(rule->service_code, service->service_code) != 0)
        return false;
    return !rule->service_version || strcmp(rule->service_version, service->service_version) == 0;
}

static const struct ss_policy_file *find_file(const struct ss_policy_set *set,
                                              const struct ss_client_id *provider)
{
    for (size_t i = 0; i < set->n_files; i++)
        if (ss_policy_id_equal(&set->files[i]->provider, provider))
            return set->files[i];
    return NULL;
}

/* Writes the rule's purpose codes as "A, B, C" into buf, shortened if long. */
static void format_purposes(const struct ss_policy_rule *rule, char *buf, size_t size)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < rule->n_purposes; i++) {
        int r = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", rule->purposes[i]);
        if (r < 0 || (size_t)r >= size - used) {
            if (size >= 4)
                memcpy(buf + size - 4, "...", 4);
            return;
        }
        used += (size_t)r;
    }
}

static void format_allow(const struct ss_policy_allow *allow, char *buf, size_t size)
{
    char id[SS_ID_STR_MAX];
    switch (allow->kind) {
    case SS_POLICY_ALLOW_MEMBER:
    case SS_POLICY_ALLOW_SUBSYSTEM:
        if (!ss_policy_id_format(&allow->id, id, sizeof id))
            id[0] = '\0';
        snprintf(buf, size, "%s %.160s",
                 allow->kind == SS_POLICY_ALLOW_MEMBER ? "member" : "subsystem", id);
        break;
    case SS_POLICY_ALLOW_GLOBAL_GROUP:
        snprintf(buf, size, "global group %.160s", allow->group_code);
        break;
    case SS_POLICY_ALLOW_LOCAL_GROUP:
        snprintf(buf, size, "local group %.160s", allow->group_code);
        break;
    }
}

static void format_validity(const struct ss_policy_rule *rule, char *buf, size_t size)
{
    char from[21] = "", until[21] = "";
    if (rule->has_valid_from)
        ss_time_format(rule->valid_from, from);
    if (rule->has_valid_until)
        ss_time_format(rule->valid_until, until);
    if (rule->has_valid_from && rule->has_valid_until)
        snprintf(buf, size, "from %s until %s", from, until);
    else if (rule->has_valid_from)
        snprintf(buf, size, "from %s", from);
    else
        snprintf(buf, size, "until %s", until);
}

/* The denial for the closest rule, which reached stage. */
static ss_error deny_closest(struct ss_policy_decision *out, const struct ss_policy_file *file,
                             const struct ss_policy_rule *rule, enum stage stage,
                             const struct ss_policy_request *req)
{
    char text[160], at[21];
    switch (stage) {
    case STAGE_VALIDITY:
        format_validity(rule, text, sizeof text);
        ss_time_format(req->now, at);
        return decision(out, SS_POLICY_OUTSIDE_VALIDITY, file, rule,
                        "the rule is valid %s, not at %s", text, at);
    case STAGE_METHOD:
        if (!req->method)
            return decision(out, SS_POLICY_METHOD_NOT_ALLOWED, file, rule,
                            "the request has no method; the rule covers only %.100s",
                            rule->methods_text);
        return decision(out, SS_POLICY_METHOD_NOT_ALLOWED, file, rule,
                        "method %.32s is not covered by the rule (%.100s)", req->method,
                        rule->methods_text);
    case STAGE_PATH:
        if (!req->path)
            return decision(out, SS_POLICY_PATH_NOT_ALLOWED, file, rule,
                            "the request has no path; the rule covers only %.160s", rule->path);
        return decision(out, SS_POLICY_PATH_NOT_ALLOWED, file, rule,
                        "the request path is not covered by the rule's pattern %.160s", rule->path);
    case STAGE_PURPOSE:
        format_purposes(rule, text, sizeof text);
        if (!req->purpose)
            return decision(out, SS_POLICY_PURPOSE_MISSING, file, rule,
                            "the rule requires a purpose%s%s%s", text[0] ? " (one of " : "", text,
                            text[0] ? ")" : "");
        return decision(out, SS_POLICY_PURPOSE_DENIED, file, rule,
                        "purpose %s is not allowed by the rule (allowed: %s)", req->purpose, text);
    case STAGE_CLIENT:
    case STAGE_ALLOW:
        break;
    }
    char client[SS_ID_STR_MAX];
    if (!ss_client_id_format(req->client, client, sizeof client))
        client[0] = '\0';
    return decision(out, SS_POLICY_CLIENT_NOT_ALLOWED, file, NULL,
                    "no rule for service %.64s allows client %.160s", req->service->service_code,
                    client);
}

size_t ss_policy_endpoints(const struct ss_policy_set *set, const struct ss_client_id *provider,
                           const struct ss_client_id *client, const struct ss_registry *registry,
                           time_t now, void (*fn)(void *ctx, const struct ss_policy_endpoint *e),
                           void *ctx)
{
    const struct ss_policy_file *file = set ? find_file(set, provider) : NULL;
    struct ss_policy_request req = {.client = client, .registry = registry, .now = now};
    size_t n = 0;
    for (size_t i = 0; file && i < file->n_rules; i++) {
        const struct ss_policy_rule *rule = &file->rules[i];
        if (client && (!rule_allows(rule, &req) || !rule_valid_at(rule, now)))
            continue;
        struct ss_policy_endpoint e = {.service_code = rule->service_code,
                                       .methods = rule->methods,
                                       .n_methods = rule->n_methods,
                                       .path = rule->path};
        fn(ctx, &e);
        n++;
    }
    return n;
}

ss_error ss_policy_decide(const struct ss_policy_set *set, const struct ss_policy_request *req,
                          struct ss_policy_decision *out)
{
    memset(out, 0, sizeof *out);
    if (!req->client || !req->service)
        return decision(out, SS_POLICY_BAD_REQUEST, NULL, NULL,
                        "the request names no client or no service");
    if (req->purpose && !ss_policy_purpose_valid(req->purpose))
        return decision(out, SS_POLICY_PURPOSE_DENIED, NULL, NULL,
                        "the purpose code is malformed (1-64 characters of [A-Za-z0-9.:/_-])");
    if (req->path && ss_policy_path_check(req->path, strlen(req->path)) != SS_OK)
        return decision(out, SS_POLICY_PATH_REFUSED, NULL, NULL, "%.200s", ss_errmsg());

    char provider[SS_ID_STR_MAX];
    if (!ss_client_id_format(&req->service->provider, provider, sizeof provider))
        provider[0] = '\0';
    const struct ss_policy_file *file = set ? find_file(set, &req->service->provider) : NULL;
    if (!file)
        return decision(out, SS_POLICY_NO_POLICY, NULL, NULL,
                        "no access policy for provider %.200s", provider);

    const struct ss_policy_rule *closest = NULL;
    enum stage closest_stage = STAGE_CLIENT;
    for (size_t i = 0; i < file->n_rules; i++) {
        const struct ss_policy_rule *rule = &file->rules[i];
        if (!rule_for_service(rule, req->service))
            continue;
        const struct ss_policy_allow *allow;
        enum stage stage = rule_stage(rule, req, &allow);
        if (stage == STAGE_ALLOW) {
            char who[200];
            format_allow(allow, who, sizeof who);
            return decision(out, SS_POLICY_ALLOW, file, rule, "allowed for %s", who);
        }
        if (!closest || stage > closest_stage) {
            closest = rule;
            closest_stage = stage;
        }
    }
    if (!closest)
        return decision(out, SS_POLICY_NO_RULE, file, NULL,
                        "no rule for service %.64s%s%.64s of provider %.200s",
                        req->service->service_code, req->service->service_version[0] ? "/" : "",
                        req->service->service_version, provider);
    return deny_closest(out, file, closest, closest_stage, req);
}
