#include "config.h"
#include "ss_hex.h"

#include <ctype.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void ss_limits_default(struct ss_limits *l)
{
    l->max_header_bytes = 16 * 1024;
    l->max_headers = 64;
    l->max_answer_header_bytes = 8 * 1024;
    l->max_url_bytes = 4096;
    l->max_query_arguments = 64;
    l->max_body_bytes = 10 * 1024 * 1024;
    l->max_buffered_bytes = 256 * 1024 * 1024;
    l->max_identifier_bytes = 128;
    l->connection_timeout = 30;
    l->request_timeout = 60;
    l->header_timeout = 10;
    l->connect_timeout = 5;
    l->backend_timeout = 60;
    l->max_connections = 10000;
    l->max_connections_per_ip = 256;
    l->max_unauthenticated = 1024;
    l->max_unauthenticated_per_ip = 64; /* a peer server opens at most its workers (64) at once */
    l->http_threads = 2;
    l->workers = 64;
    l->worker_threads = 0;
}

static void add_note(const struct ss_config *cfg, char *buf, size_t size, long line,
                     const char *kind, const char *fmt, va_list ap) SS_PRINTF(6, 0);

static void add_note(const struct ss_config *cfg, char *buf, size_t size, long line,
                     const char *kind, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t used = strlen(buf);
    if (line > 0)
        snprintf(buf + used, size - used, "%s:%ld: %s%s\n", cfg->path, line, kind, msg);
    else
        snprintf(buf + used, size - used, "%s: %s%s\n", cfg->path, kind, msg);
}

void ss_config_problem(struct ss_config *cfg, long line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_note(cfg, cfg->problems, sizeof cfg->problems, line, "", fmt, ap);
    va_end(ap);
    cfg->n_problems++;
}

void ss_config_warning(struct ss_config *cfg, long line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_note(cfg, cfg->warnings, sizeof cfg->warnings, line, "warning: ", fmt, ap);
    va_end(ap);
    cfg->n_warnings++;
}

long ss_config_line(const struct ss_config *cfg, const char *section, const char *key,
                    const char *value)
{
    for (size_t i = 0; i < cfg->n_entries; i++) {
        const struct ss_config_entry *e = &cfg->entries[i];
        if (strcmp(e->section, section) == 0 && strcmp(e->key, key) == 0 &&
            (!value || strcmp(e->value, value) == 0))
            return e->line;
    }
    return 0;
}

/* Remembers an entry and the line it was read from. */
static void record_entry(struct ss_config *cfg, const char *section, const char *key,
                         const char *value)
{
    if (cfg->n_entries == cfg->cap_entries) {
        size_t cap = cfg->cap_entries ? cfg->cap_entries * 2 : 32;
        struct ss_config_entry *e = cap <= 65536 ? realloc(cfg->entries, cap * sizeof *e) : NULL;
        if (!e) {
            ss_config_problem(cfg, cfg->reading_line, "too many entries");
            return;
        }
        cfg->entries = e;
        cfg->cap_entries = cap;
    }
    struct ss_config_entry *e = &cfg->entries[cfg->n_entries];
    e->section = strdup(section);
    e->key = strdup(key);
    e->value = strdup(value);
    e->line = cfg->reading_line;
    if (!e->section || !e->key || !e->value) {
        free(e->section);
        free(e->key);
        free(e->value);
        ss_config_problem(cfg, cfg->reading_line, "out of memory");
        return;
    }
    cfg->n_entries++;
}

static bool set_str(char **dst, const char *value)
{
    char *copy = strdup(value);
    if (!copy)
        return false;
    free(*dst);
    *dst = copy;
    return true;
}

static bool parse_uint(const char *value, unsigned long long max, unsigned long long *out)
{
    char *end = NULL;
    if (!isdigit((unsigned char)value[0]))
        return false;
    unsigned long long v = strtoull(value, &end, 10);
    if (*end != '\0' || v > max)
        return false;
    *out = v;
    return true;
}

struct limit_key {
    const char *name;
    size_t offset;
    bool is_size;
    unsigned long long min, max;
};

#define LIMIT(field, sz, lo, hi)                                                                   \
    {                                                                                              \
#field, offsetof(struct ss_limits, field), sz, lo, hi                                      \
    }
static const struct limit_key limit_keys[] = {
    LIMIT(max_header_bytes, true, 1024, 1024 * 1024),
    LIMIT(max_headers, true, 8, 1000),
    LIMIT(max_answer_header_bytes, true, 1024, 1024 * 1024),
    LIMIT(max_url_bytes, true, 256, 64 * 1024),
    LIMIT(max_query_arguments, true, 1, 1000),
    LIMIT(max_body_bytes, true, 1024, 1024ull * 1024 * 1024),
    LIMIT(max_buffered_bytes, true, 64 * 1024, 64ull * 1024 * 1024 * 1024),
    LIMIT(max_identifier_bytes, true, 8, SS_ID_PART_MAX),
    LIMIT(connection_timeout, false, 1, 3600),
    LIMIT(request_timeout, false, 1, 3600),
    LIMIT(header_timeout, false, 1, 600),
    LIMIT(connect_timeout, false, 1, 600),
    LIMIT(backend_timeout, false, 1, 3600),
    LIMIT(max_connections, false, 1, 100000),
    LIMIT(max_connections_per_ip, false, 0, 100000),
    LIMIT(max_unauthenticated, false, 1, 100000),
    LIMIT(max_unauthenticated_per_ip, false, 0, 100000),
    LIMIT(http_threads, false, 1, 64),
    LIMIT(workers, false, 1, 4096),
    LIMIT(worker_threads, false, 0, 64),
};

static void set_limit(struct ss_config *cfg, const char *name, const char *value, long line)
{
    for (size_t i = 0; i < sizeof limit_keys / sizeof limit_keys[0]; i++) {
        const struct limit_key *k = &limit_keys[i];
        if (strcmp(k->name, name) != 0)
            continue;
        unsigned long long v;
        if (!parse_uint(value, k->max, &v) || v < k->min) {
            ss_config_problem(cfg, line, "%s must be a number from %llu to %llu", name, k->min,
                              k->max);
            return;
        }
        char *base = (char *)&cfg->limits + k->offset;
        if (k->is_size)
            *(size_t *)(void *)base = (size_t)v;
        else
            *(unsigned *)(void *)base = (unsigned)v;
        return;
    }
    ss_config_problem(cfg, line, "unknown key '%s' in [limits]", name);
}

static void add_client(struct ss_config *cfg, const char *value, long line)
{
    if (cfg->n_clients == SS_CONFIG_MAX_CLIENTS) {
        ss_config_problem(cfg, line, "more than %d hosted clients", SS_CONFIG_MAX_CLIENTS);
        return;
    }
    struct ss_hosted_client *c = &cfg->clients[cfg->n_clients];
    memset(c, 0, sizeof *c);
    if (!cfg->instance[0]) {
        ss_config_problem(cfg, line, "[server] instance must come before [clients]");
        return;
    }
    if (ss_client_id_parse_local(value, cfg->instance, &c->id) != SS_OK) {
        ss_config_problem(cfg, line, "'%s' is not CLASS/MEMBER[/SUBSYSTEM]: %s", value,
                          ss_errmsg());
        return;
    }
    if (ss_config_client(cfg, &c->id)) {
        ss_config_problem(cfg, line, "client %s listed twice", value);
        return;
    }
    c->line = line;
    cfg->n_clients++;
}

/* "CLASS/MEMBER/SUBSYSTEM HEX": binds an IS certificate to a hosted client. */
static void bind_is_cert(struct ss_config *cfg, const char *value, long line)
{
    char id[SS_ID_STR_MAX];
    size_t n = strcspn(value, " \t");
    const char *hex = value + n;
    while (*hex == ' ' || *hex == '\t')
        hex++;
    if (n >= sizeof id || !*hex) {
        ss_config_problem(cfg, line, "is_certificate_sha256 must be 'CLASS/MEMBER/SUBSYSTEM HEX'");
        return;
    }
    memcpy(id, value, n);
    id[n] = '\0';
    struct ss_client_id cid;
    const struct ss_hosted_client *c = NULL;
    if (ss_client_id_parse_local(id, cfg->instance, &cid) == SS_OK)
        c = ss_config_client(cfg, &cid);
    if (!c) {
        ss_config_problem(cfg, line, "%s is not a hosted client listed before this line", id);
        return;
    }
    struct ss_hosted_client *mc = (struct ss_hosted_client *)(uintptr_t)c;
    if (mc->has_is_cert) {
        ss_config_problem(cfg, line, "%s is bound to an IS certificate already", id);
        return;
    }
    if (!ss_hex_sha256_parse(hex, mc->is_cert_sha256)) {
        ss_config_problem(cfg, line, "'%s' is not a SHA-256 fingerprint (64 hex digits)", hex);
        return;
    }
    mc->has_is_cert = true;
}

static void add_service(struct ss_config *cfg, const char *name, const char *value, long line)
{
    if (cfg->n_services == SS_CONFIG_MAX_SERVICES) {
        ss_config_problem(cfg, line, "more than %d services", SS_CONFIG_MAX_SERVICES);
        return;
    }
    struct ss_service_map *m = &cfg->services[cfg->n_services];
    memset(m, 0, sizeof *m);
    /* CLASS/MEMBER/SUBSYSTEM/SERVICE */
    const char *slash = strrchr(name, '/');
    char provider[SS_ID_STR_MAX];
    if (!slash || (size_t)(slash - name) >= sizeof provider ||
        !ss_id_part_valid(slash + 1, strlen(slash + 1), SS_ID_PART_MAX)) {
        ss_config_problem(cfg, line, "'%s' is not CLASS/MEMBER/SUBSYSTEM/SERVICE", name);
        return;
    }
    memcpy(provider, name, (size_t)(slash - name));
    provider[slash - name] = '\0';
    if (ss_client_id_parse_local(provider, cfg->instance, &m->service.provider) != SS_OK ||
        !m->service.provider.subsystem[0]) {
        ss_config_problem(cfg, line, "'%s' is not CLASS/MEMBER/SUBSYSTEM/SERVICE", name);
        return;
    }
    snprintf(m->service.service_code, sizeof m->service.service_code, "%s", slash + 1);
    static const char *const meta[] = {"listMethods", "allowedMethods", "getWsdl", "getOpenAPI",
                                       "listClients"};
    for (size_t i = 0; i < sizeof meta / sizeof meta[0]; i++)
        if (strcmp(slash + 1, meta[i]) == 0) {
            ss_config_problem(cfg, line, "%s is a metaservice that secsrv answers itself", meta[i]);
            return;
        }
    /* URL [rest | openapi FILE | soap [FILE]] */
    char words[3][1024] = {{0}};
    size_t n = 0;
    for (const char *p = value; *p && n < 4;) {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t len = strcspn(p, " \t");
        if (len == 0)
            break;
        if (n == 3 || len >= sizeof words[0]) {
            n = 4;
            break;
        }
        memcpy(words[n++], p, len);
        p += len;
    }
    if (n == 0 || n > 3) {
        ss_config_problem(cfg, line, "a service is URL [rest | openapi FILE | soap [WSDL-FILE]]");
        return;
    }
    if (strncmp(words[0], "http://", 7) != 0 && strncmp(words[0], "https://", 8) != 0) {
        ss_config_problem(cfg, line, "service URL must start with http:// or https://");
        return;
    }
    if (n == 1 || strcmp(words[1], "rest") == 0)
        m->type = SS_SERVICE_REST;
    else if (strcmp(words[1], "openapi") == 0)
        m->type = SS_SERVICE_OPENAPI;
    else if (strcmp(words[1], "soap") == 0)
        m->type = SS_SERVICE_SOAP;
    else {
        ss_config_problem(cfg, line, "service type '%s' is not rest, openapi or soap", words[1]);
        return;
    }
    if ((m->type == SS_SERVICE_OPENAPI && n != 3) || (m->type == SS_SERVICE_REST && n == 3)) {
        ss_config_problem(cfg, line, "%s",
                          m->type == SS_SERVICE_OPENAPI
                              ? "an openapi service needs its description file"
                              : "a rest service takes no description file");
        return;
    }
    if (ss_config_service(cfg, &m->service)) {
        ss_config_problem(cfg, line, "service %s mapped twice", name);
        return;
    }
    if (!set_str(&m->url, words[0]) || (n == 3 && !set_str(&m->description, words[2]))) {
        ss_config_problem(cfg, line, "out of memory");
        return;
    }
    m->line = line;
    cfg->n_services++;
}

/* Splits value into n blank-separated words (the last takes the rest); false if fewer. */
static bool split_words(const char *value, char words[][1024], size_t n)
{
    const char *p = value;
    for (size_t i = 0; i < n; i++) {
        while (*p == ' ' || *p == '\t')
            p++;
        size_t len = i + 1 == n ? strlen(p) : strcspn(p, " \t");
        while (i + 1 == n && len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
            len--;
        if (len == 0 || len >= 1024)
            return false;
        memcpy(words[i], p, len);
        words[i][len] = '\0';
        p += len;
    }
    return true;
}

/* "CLASS/MEMBER KEYFILE CERTFILE": a member's signing key. */
static void add_key(struct ss_config *cfg, const char *value, long line)
{
    char w[3][1024];
    if (cfg->n_keys == SS_CONFIG_MAX_KEYS) {
        ss_config_problem(cfg, line, "more than %d signing keys", SS_CONFIG_MAX_KEYS);
        return;
    }
    struct ss_signing_key *k = &cfg->keys[cfg->n_keys];
    memset(k, 0, sizeof *k);
    if (!split_words(value, w, 3) || strchr(w[2], ' ') || strchr(w[2], '\t')) {
        ss_config_problem(cfg, line, "key must be 'CLASS/MEMBER KEYFILE CERTFILE'");
        return;
    }
    if (!cfg->instance[0] || ss_client_id_parse_local(w[0], cfg->instance, &k->member) != SS_OK ||
        k->member.subsystem[0]) {
        ss_config_problem(cfg, line, "'%s' is not CLASS/MEMBER (a member, after [server] instance)",
                          w[0]);
        return;
    }
    if (ss_config_key(cfg, &k->member)) {
        ss_config_problem(cfg, line, "member %s has a signing key already", w[0]);
        return;
    }
    if (!set_str(&k->key_file, w[1]) || !set_str(&k->cert_file, w[2])) {
        ss_config_problem(cfg, line, "out of memory");
        return;
    }
    k->line = line;
    cfg->n_keys++;
}

/* "CLASS/MEMBER/SUBSYSTEM DAYS" (retention) or "CLASS/MEMBER/SUBSYSTEM full|metadata". */
static void add_log_rule(struct ss_config *cfg, const char *name, const char *value, long line)
{
    char w[2][1024];
    if (!split_words(value, w, 2)) {
        ss_config_problem(cfg, line, "%s must be 'CLASS/MEMBER/SUBSYSTEM VALUE'", name);
        return;
    }
    struct ss_client_id id;
    if (!cfg->instance[0] || ss_client_id_parse_local(w[0], cfg->instance, &id) != SS_OK ||
        !id.subsystem[0]) {
        ss_config_problem(cfg, line, "'%s' is not CLASS/MEMBER/SUBSYSTEM", w[0]);
        return;
    }
    struct ss_log_rule *r = NULL;
    for (size_t i = 0; i < cfg->n_log_rules && !r; i++)
        if (ss_client_id_equal(&cfg->log_rules[i].subsystem, &id))
            r = &cfg->log_rules[i];
    if (!r) {
        if (cfg->n_log_rules == SS_CONFIG_MAX_LOG_RULES) {
            ss_config_problem(cfg, line, "more than %d subsystem log rules",
                              SS_CONFIG_MAX_LOG_RULES);
            return;
        }
        r = &cfg->log_rules[cfg->n_log_rules++];
        memset(r, 0, sizeof *r);
        r->subsystem = id;
        r->bodies = -1;
        r->line = line;
    }
    unsigned long long days;
    bool retention = strcmp(name, "retention") == 0;
    if (retention ? r->retention_days != 0 : r->bodies != -1) {
        ss_config_problem(cfg, line, "%s of %s is given again", name, w[0]);
        return;
    }
    if (retention) {
        if (!parse_uint(w[1], 36500, &days) || days < 1)
            ss_config_problem(cfg, line, "retention must be days from 1 to 36500");
        else
            r->retention_days = (unsigned)days;
    } else if (strcmp(w[1], "full") == 0 || strcmp(w[1], "metadata") == 0) {
        r->bodies = strcmp(w[1], "full") == 0;
    } else {
        ss_config_problem(cfg, line, "bodies must be 'full' or 'metadata'");
    }
}

/* A number key of a section: name, where it goes, its range. */
struct number_key {
    const char *section, *name;
    size_t offset;
    unsigned long long min, max;
};
#define NUMBER(sec, key, field, lo, hi)                                                            \
    {                                                                                              \
        sec, key, offsetof(struct ss_config, field), lo, hi                                        \
    }
static const struct number_key number_keys[] = {
    NUMBER("server", "watchdog", watchdog, 0, 3600),
    NUMBER("registry", "refresh", registry_refresh, 0, 86400),
    NUMBER("signer", "batch_max", sign_batch_max, 1, 4096),
    NUMBER("signer", "batch_wait_us", sign_batch_wait_us, 0, 100000),
    NUMBER("log", "retention_days", retention_days, 1, 36500),
    NUMBER("log", "group_wait_us", log_group_wait_us, 0, 100000),
    NUMBER("log", "purge_interval", log_purge_interval, 0, 31 * 86400),
    NUMBER("timestamping", "interval", ts_interval, 0, 86400),
    NUMBER("timestamping", "batch_records", ts_batch, 1, 65536),
    NUMBER("timestamping", "grace", ts_grace, 1, 30 * 86400),
    NUMBER("evidence", "clock_skew", clock_skew, 1, 3600),
};

static bool set_number(struct ss_config *cfg, const char *section, const char *name,
                       const char *value, long line)
{
    for (size_t i = 0; i < sizeof number_keys / sizeof number_keys[0]; i++) {
        const struct number_key *k = &number_keys[i];
        if (strcmp(k->section, section) != 0 || strcmp(k->name, name) != 0)
            continue;
        unsigned long long v;
        if (!parse_uint(value, k->max, &v) || v < k->min)
            ss_config_problem(cfg, line, "%s must be a number from %llu to %llu", name, k->min,
                              k->max);
        else
            *(unsigned *)(void *)((char *)cfg + k->offset) = (unsigned)v;
        return true;
    }
    return false;
}

struct str_key {
    const char *section, *name;
    size_t offset;
};
#define STR(sec, key, field)                                                                       \
    {                                                                                              \
        sec, key, offsetof(struct ss_config, field)                                                \
    }
static const struct str_key str_keys[] = {
    STR("server", "state_dir", state_dir),
    STR("server", "user", user),
    STR("server", "node", node),
    STR("health", "listen", health_listen),
    STR("metrics", "listen", metrics_listen),
    STR("log", "subject_key", subject_key),
    STR("log", "dpo_public_key", dpo_public_key),
    STR("tls", "certificate", auth_cert),
    STR("tls", "key", auth_key),
    STR("registry", "url", registry_url),
    STR("registry", "signature_url", registry_sig_url),
    STR("registry", "anchor", registry_anchor),
    STR("client-proxy", "listen", client_listen),
    STR("client-proxy", "tls_listen", client_tls_listen),
    STR("client-proxy", "tls_certificate", client_tls_cert),
    STR("client-proxy", "tls_key", client_tls_key),
    STR("client-proxy", "tls_client_ca", client_tls_ca),
    STR("server-proxy", "listen", server_listen),
    STR("service-tls", "ca", service_tls_ca),
    STR("service-tls", "certificate", service_tls_cert),
    STR("service-tls", "key", service_tls_key),
    STR("policies", "dir", policy_dir),
    STR("log", "store", log_store),
    STR("signer", "pkcs11_module", pkcs11_module),
    STR("signer", "pkcs11_pin_file", pkcs11_pin_file),
    STR("log", "level", log_level),
};

/* Keys that may be given more than once in their section, each time adding one more. */
static bool repeatable(const char *section, const char *name)
{
    static const char *const keys[][2] = {
        {"signer", "key"},
        {"log", "retention"},
        {"log", "subsystem_bodies"},
        {"clients", "client"},
        {"clients", "is_certificate_sha256"},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strcmp(keys[i][0], section) == 0 && strcmp(keys[i][1], name) == 0)
            return true;
    return false;
}

static int on_entry(void *user, const char *section, const char *name, const char *value)
{
    struct ss_config *cfg = user;
    long line = cfg->reading_line;
    /* a second value for a key that has one would silently replace the first, which the
     * reader of the file may take for the one in force */
    if (!repeatable(section, name))
        for (size_t i = 0; i < cfg->n_entries; i++)
            if (strcmp(cfg->entries[i].section, section) == 0 &&
                strcmp(cfg->entries[i].key, name) == 0) {
                ss_config_problem(cfg, line, "[%s] %s is given again (first at line %ld)", section,
                                  name, cfg->entries[i].line);
                return 1;
            }
    record_entry(cfg, section, name, value);
    for (size_t i = 0; i < sizeof str_keys / sizeof str_keys[0]; i++) {
        const struct str_key *k = &str_keys[i];
        if (strcmp(k->section, section) == 0 && strcmp(k->name, name) == 0) {
            if (!set_str((char **)(void *)((char *)cfg + k->offset), value))
                ss_config_problem(cfg, line, "out of memory");
            return 1;
        }
    }
    if (strcmp(section, "server") == 0) {
        if (strcmp(name, "instance") == 0) {
            if (!ss_id_part_valid(value, strlen(value), SS_ID_PART_MAX))
                ss_config_problem(cfg, line, "instance '%s' is not a valid identifier", value);
            else
                snprintf(cfg->instance, sizeof cfg->instance, "%s", value);
        } else if (strcmp(name, "owner") == 0) {
            struct ss_client_id owner;
            if (!cfg->instance[0] ||
                ss_client_id_parse_local(value, cfg->instance, &owner) != SS_OK ||
                owner.subsystem[0])
                ss_config_problem(cfg, line, "owner must be CLASS/MEMBER (after instance)");
            else
                cfg->owner = owner;
        } else if (strcmp(name, "code") == 0) {
            if (!ss_id_part_valid(value, strlen(value), SS_ID_PART_MAX))
                ss_config_problem(cfg, line, "server code '%s' is not a valid identifier", value);
            else
                snprintf(cfg->server_code, sizeof cfg->server_code, "%s", value);
        } else if (!set_number(cfg, section, name, value, line)) {
            ss_config_problem(cfg, line, "unknown key '%s' in [server]", name);
        }
    } else if (set_number(cfg, section, name, value, line)) {
        /* done */
    } else if (strcmp(section, "signer") == 0 && strcmp(name, "key") == 0) {
        add_key(cfg, value, line);
    } else if (strcmp(section, "log") == 0 && strcmp(name, "max_bytes") == 0) {
        unsigned long long v;
        if (!parse_uint(value, 1ull << 50, &v) || (v && v < 65536))
            ss_config_problem(cfg, line, "max_bytes must be 0 (no limit) or from 65536 bytes");
        else
            cfg->log_max_bytes = v;
    } else if (strcmp(section, "log") == 0 && strcmp(name, "bodies") == 0) {
        if (strcmp(value, "full") != 0 && strcmp(value, "metadata") != 0)
            ss_config_problem(cfg, line, "bodies must be 'full' or 'metadata'");
        else
            cfg->log_bodies = strcmp(value, "full") == 0;
    } else if (strcmp(section, "log") == 0 &&
               (strcmp(name, "retention") == 0 || strcmp(name, "subsystem_bodies") == 0)) {
        add_log_rule(cfg, name, value, line);
    } else if (strcmp(section, "limits") == 0) {
        set_limit(cfg, name, value, line);
    } else if (strcmp(section, "clients") == 0 && strcmp(name, "client") == 0) {
        add_client(cfg, value, line);
    } else if (strcmp(section, "clients") == 0 && strcmp(name, "is_certificate_sha256") == 0) {
        bind_is_cert(cfg, value, line);
    } else if (strcmp(section, "services") == 0) {
        add_service(cfg, name, value, line);
    } else {
        ss_config_problem(cfg, line, "unknown key '%s' in [%s]", name, section);
    }
    return 1;
}

/*
 * Feeds libinih one line at a time and counts lines, so every entry's line
 * is known exactly. A line longer than libinih's buffer is refused here
 * (libinih would split it and report a line the file does not have).
 */
struct reader {
    FILE *f;
    struct ss_config *cfg;
};

static char *read_line(char *str, int num, void *stream)
{
    struct reader *rd = stream;
    struct ss_config *cfg = rd->cfg;
    FILE *f = rd->f;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, f);
    if (n < 0) {
        free(line);
        return NULL;
    }
    cfg->reading_line++;
    /* the parser would read an indented line as more of the value above it, even one that
     * looks like "key = value": a path or a number with another one glued on */
    size_t lead = strspn(line, " \t");
    bool indented = lead > 0 && line[lead] && !strchr(";#\r\n", line[lead]);
    if (n >= num) {
        ss_config_problem(cfg, cfg->reading_line, "line longer than %d characters", num - 1);
        snprintf(str, (size_t)num, "\n");
    } else if (indented) {
        ss_config_problem(cfg, cfg->reading_line,
                          "an indented line: write each key = value at the start of its line "
                          "(an indented one would continue the value above it)");
        snprintf(str, (size_t)num, "\n");
    } else {
        memcpy(str, line, (size_t)n + 1);
    }
    free(line);
    return str;
}

static void require(struct ss_config *cfg, const char *section, const char *key, const char *v)
{
    if (!v || !v[0])
        ss_config_problem(cfg, 0, "[%s] %s is required", section, key);
}

static char *str_or_empty(char *s)
{
    return s ? s : strdup("");
}

ss_error ss_config_load(const char *path, struct ss_config **out)
{
    *out = NULL;
    struct ss_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg || !(cfg->path = strdup(path))) {
        free(cfg);
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    }
    ss_limits_default(&cfg->limits);
    cfg->sign_batch_max = 256;
    cfg->sign_batch_wait_us = 1000;
    cfg->log_group_wait_us = 1000;
    cfg->retention_days = 730;
    cfg->log_purge_interval = 86400;
    cfg->log_bodies = true;
    cfg->ts_batch = 1000;
    cfg->ts_grace = 14400;
    cfg->watchdog = 30;
    cfg->clock_skew = 300;
    FILE *f = fopen(path, "r");
    int r = -1;
    if (f) {
        struct reader rd = {f, cfg};
        r = ini_parse_stream(read_line, &rd, on_entry, cfg);
        fclose(f);
    }
    if (r == -1)
        ss_config_problem(cfg, 0, "cannot open file");
    else if (r == -2)
        ss_config_problem(cfg, 0, "out of memory");
    else if (r > 0)
        ss_config_problem(cfg, r, "syntax error (expected [section] or key = value)");
    if (r == 0) {
        if (!cfg->instance[0])
            ss_config_problem(cfg, 0, "[server] instance is required");
        if (!cfg->owner.member_code[0])
            ss_config_problem(cfg, 0, "[server] owner is required");
        if (!cfg->server_code[0])
            ss_config_problem(cfg, 0, "[server] code is required");
        require(cfg, "server", "state_dir", cfg->state_dir);
        require(cfg, "tls", "certificate", cfg->auth_cert);
        require(cfg, "tls", "key", cfg->auth_key);
        require(cfg, "registry", "url", cfg->registry_url);
        require(cfg, "registry", "anchor", cfg->registry_anchor);
        require(cfg, "policies", "dir", cfg->policy_dir);
        require(cfg, "log", "store", cfg->log_store);
        if (cfg->log_store && cfg->log_store[0] && strncmp(cfg->log_store, "sqlite:", 7) != 0 &&
            strncmp(cfg->log_store, "postgresql:", 11) != 0)
            ss_config_problem(cfg, ss_config_line(cfg, "log", "store", NULL),
                              "store must be sqlite:PATH or postgresql:CONNINFO");
        else if (cfg->log_store && (strcmp(cfg->log_store, "sqlite:") == 0 ||
                                    strcmp(cfg->log_store, "postgresql:") == 0))
            ss_config_problem(cfg, ss_config_line(cfg, "log", "store", NULL),
                              "store %s needs a path or a connection string", cfg->log_store);
        if (cfg->client_tls_listen && cfg->client_tls_listen[0]) {
            require(cfg, "client-proxy", "tls_certificate", cfg->client_tls_cert);
            require(cfg, "client-proxy", "tls_key", cfg->client_tls_key);
            require(cfg, "client-proxy", "tls_client_ca", cfg->client_tls_ca);
        }
        /* an empty value is no value: "ca =" sets no CA */
        char **service_tls[] = {&cfg->service_tls_ca, &cfg->service_tls_cert,
                                &cfg->service_tls_key};
        for (size_t i = 0; i < sizeof service_tls / sizeof service_tls[0]; i++)
            if (*service_tls[i] && !*service_tls[i][0]) {
                free(*service_tls[i]);
                *service_tls[i] = NULL;
            }
        if (cfg->service_tls_cert || cfg->service_tls_key) {
            require(cfg, "service-tls", "certificate", cfg->service_tls_cert);
            require(cfg, "service-tls", "key", cfg->service_tls_key);
        }
        /* a service over https:// is verified against CAs named for it, never by default */
        for (size_t i = 0; i < cfg->n_services && !cfg->service_tls_ca; i++)
            if (strncmp(cfg->services[i].url, "https://", 8) == 0)
                ss_config_problem(cfg, cfg->services[i].line,
                                  "service URL is https:// but [service-tls] ca is not set: the "
                                  "CAs its certificate must chain to");
        /* settings that would contradict each other at run time */
        if (cfg->ts_interval && cfg->ts_interval >= cfg->ts_grace)
            ss_config_problem(cfg, ss_config_line(cfg, "timestamping", "interval", NULL),
                              "[timestamping] interval (%u s) must be shorter than grace (%u s): "
                              "records would wait for their timestamp past the grace period, "
                              "and exchanges be refused",
                              (unsigned)cfg->ts_interval, (unsigned)cfg->ts_grace);
        long buffered_line = ss_config_line(cfg, "limits", "max_buffered_bytes", NULL);
        /* the parent's loop may be held up a few seconds by a child that does not read */
        if (cfg->watchdog && cfg->watchdog < 5)
            ss_config_problem(cfg, ss_config_line(cfg, "server", "watchdog", NULL),
                              "watchdog must be 0 (off) or a number from 5 to 3600");
        if (cfg->limits.max_buffered_bytes < cfg->limits.max_body_bytes)
            ss_config_problem(cfg,
                              buffered_line ? buffered_line
                                            : ss_config_line(cfg, "limits", "max_body_bytes", NULL),
                              "[limits] max_buffered_bytes (%llu) is below max_body_bytes (%llu): "
                              "a body within the limit could never be buffered",
                              (unsigned long long)cfg->limits.max_buffered_bytes,
                              (unsigned long long)cfg->limits.max_body_bytes);
    }
    cfg->client_listen = str_or_empty(cfg->client_listen);
    cfg->client_tls_listen = str_or_empty(cfg->client_tls_listen);
    cfg->server_listen = str_or_empty(cfg->server_listen);
    cfg->health_listen = str_or_empty(cfg->health_listen);
    cfg->metrics_listen = str_or_empty(cfg->metrics_listen);
    if (cfg->metrics_listen && cfg->metrics_listen[0] &&
        strncmp(cfg->metrics_listen, "127.", 4) != 0 &&
        strncmp(cfg->metrics_listen, "[::1]:", 6) != 0)
        ss_config_problem(
            cfg, ss_config_line(cfg, "metrics", "listen", NULL),
            "metrics must listen on a loopback address (127.x.x.x:PORT or [::1]:PORT), "
            "not '%s': put a proxy with TLS in front to scrape from elsewhere",
            cfg->metrics_listen);
    if (!cfg->log_level)
        cfg->log_level = strdup("info");
    if (!cfg->node) {
        char host[256] = "";
        if (gethostname(host, sizeof host - 1) != 0 || !host[0])
            snprintf(host, sizeof host, "node");
        host[strcspn(host, ".")] = '\0';
        host[63] = '\0';
        for (char *c = host; *c; c++)
            if (!isalnum((unsigned char)*c) && *c != '_' && *c != '-')
                *c = '-';
        cfg->node = strdup(host);
    } else if (!cfg->node[0] || strlen(cfg->node) > 63 ||
               cfg->node[strspn(cfg->node, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                           "0123456789._-")]) {
        ss_config_problem(cfg, ss_config_line(cfg, "server", "node", NULL),
                          "node '%s' must be 1 to 63 letters, digits, '.', '_' or '-'",
                          cfg->node);
    }
    if (!cfg->subject_key && cfg->state_dir) {
        /* the default: made at the first start (random, readable by root only) */
        size_t n = strlen(cfg->state_dir) + sizeof "/subject.key";
        cfg->subject_key = malloc(n);
        if (cfg->subject_key)
            snprintf(cfg->subject_key, n, "%s/subject.key", cfg->state_dir);
        cfg->subject_key_default = true;
    }
    if (cfg->registry_url && !cfg->registry_sig_url) {
        size_t n = strlen(cfg->registry_url) + 5;
        cfg->registry_sig_url = malloc(n);
        if (cfg->registry_sig_url)
            snprintf(cfg->registry_sig_url, n, "%s.p7s", cfg->registry_url);
    }
    *out = cfg;
    return cfg->n_problems ? SS_ERR_CONFIG : SS_OK;
}

void ss_config_free(struct ss_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < sizeof str_keys / sizeof str_keys[0]; i++)
        free(*(char **)(void *)((char *)cfg + str_keys[i].offset));
    for (size_t i = 0; i < cfg->n_services; i++) {
        free(cfg->services[i].url);
        free(cfg->services[i].description);
    }
    for (size_t i = 0; i < cfg->n_keys; i++) {
        free(cfg->keys[i].key_file);
        free(cfg->keys[i].cert_file);
    }
    for (size_t i = 0; i < cfg->n_entries; i++) {
        free(cfg->entries[i].section);
        free(cfg->entries[i].key);
        free(cfg->entries[i].value);
    }
    free(cfg->entries);
    free(cfg->node_config);
    free(cfg->path);
    free(cfg);
}

const struct ss_hosted_client *ss_config_client(const struct ss_config *cfg,
                                                const struct ss_client_id *id)
{
    for (size_t i = 0; i < cfg->n_clients; i++)
        if (ss_client_id_equal(&cfg->clients[i].id, id))
            return &cfg->clients[i];
    return NULL;
}

const struct ss_service_map *ss_config_service(const struct ss_config *cfg,
                                               const struct ss_service_id *id)
{
    for (size_t i = 0; i < cfg->n_services; i++)
        if (ss_client_id_equal(&cfg->services[i].service.provider, &id->provider) &&
            strcmp(cfg->services[i].service.service_code, id->service_code) == 0)
            return &cfg->services[i];
    return NULL;
}

const struct ss_signing_key *ss_config_key(const struct ss_config *cfg,
                                           const struct ss_client_id *member)
{
    for (size_t i = 0; i < cfg->n_keys; i++)
        if (ss_client_id_same_member(&cfg->keys[i].member, member) &&
            strcmp(cfg->keys[i].member.instance, member->instance) == 0)
            return &cfg->keys[i];
    return NULL;
}

static const struct ss_log_rule *log_rule(const struct ss_config *cfg,
                                          const struct ss_client_id *subsystem)
{
    for (size_t i = 0; i < cfg->n_log_rules; i++)
        if (ss_client_id_equal(&cfg->log_rules[i].subsystem, subsystem))
            return &cfg->log_rules[i];
    return NULL;
}

unsigned ss_config_retention(const struct ss_config *cfg, const struct ss_client_id *subsystem)
{
    const struct ss_log_rule *r = log_rule(cfg, subsystem);
    return r && r->retention_days ? r->retention_days : cfg->retention_days;
}

bool ss_config_log_bodies(const struct ss_config *cfg, const struct ss_client_id *subsystem)
{
    const struct ss_log_rule *r = log_rule(cfg, subsystem);
    return r && r->bodies >= 0 ? r->bodies == 1 : cfg->log_bodies;
}

const char *ss_config_sqlite_path(const struct ss_config *cfg)
{
    if (!cfg->log_store || strncmp(cfg->log_store, "sqlite:", 7) != 0 || !cfg->log_store[7])
        return NULL;
    return cfg->log_store + 7;
}
