#include "daemon.h"
#include "clock.h"
#include "soap.h"
#include "keys.h"
#include "logger.h"
#include "subject.h"
#include "budget.h"
#include "envelope.h"
#include "exchange.h"
#include "health.h"
#include "meta.h"
#include "proc.h"
#include "rest.h"
#include "signer.h"
#include "ss_hex.h"
#include "ss_xml.h"
#include "ss_text.h"
#include "log.h"

#include <curl/curl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <errno.h>
#include <limits.h>
#include <fcntl.h>

/* signatures remembered: the messages of a batch arrive close together, so a
 * few hundred cover them; each lookup scans the ring */
#define SS_SIG_CACHE_ENTRIES 512
#define HEALTH_WORKERS 2 /* the health endpoint answers beside busy proxies */

/* ---- policies ---- */

uint64_t ss_daemon_longest_slice_us(const struct ss_daemon *d)
{
    return ss_sched_longest_slice_us(d->pool);
}

struct ss_policy_set *ss_daemon_policies(struct ss_daemon *d)
{
    pthread_mutex_lock(&d->policy_mu);
    struct ss_policy_set *set = ss_policy_set_ref(d->policies);
    pthread_mutex_unlock(&d->policy_mu);
    return set;
}

void ss_daemon_identity(struct ss_daemon *d, const char **cert_pem, const char **key_pem)
{
    pthread_mutex_lock(&d->identity_mu);
    *cert_pem = d->auth_cert_pem;
    *key_pem = d->auth_key_pem;
    pthread_mutex_unlock(&d->identity_mu);
}

ss_error ss_daemon_reload_identity(struct ss_daemon *d, const char *cert_pem, const char *key_pem)
{
    pthread_mutex_lock(&d->identity_mu);
    bool same = strcmp(cert_pem, d->auth_cert_pem) == 0 && strcmp(key_pem, d->auth_key_pem) == 0;
    pthread_mutex_unlock(&d->identity_mu);
    if (same) /* the files are as they were: nothing to rotate */
        return SS_OK;
    uint8_t fp[32];
    char hex[65];
    ss_error err = ss_trust_check_keypair_pem(cert_pem, key_pem, fp);
    if (err)
        return ss_errf(err, "TLS certificate %s: %s", d->cfg->auth_cert, ss_errmsg());
    ss_hex_sha256_format(fp, hex);
    struct ss_trust *t = ss_regstore_acquire(d->registry, &err);
    if (!t)
        return ss_errf(err, "no registry in force to check the new TLS certificate against");
    const struct ss_reg_server *self =
        ss_registry_server(ss_trust_registry(t), &d->cfg->owner, d->cfg->server_code);
    bool listed = self && ss_registry_server_auth(self, fp);
    ss_trust_unref(t);
    if (!listed)
        return ss_errf(SS_ERR_PEER_NOT_REGISTERED,
                       "TLS certificate %s (%s) is not one the registry lists for this server: "
                       "register it first (secsrv-registry add auth-cert)",
                       d->cfg->auth_cert, hex);
    struct ss_retired_identity *old = calloc(1, sizeof *old);
    char *cert = strdup(cert_pem), *key = strdup(key_pem);
    if (!old || !cert || !key) {
        free(old);
        free(cert);
        ss_trust_free_pem(key);
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    }
    if (d->server_proxy && (err = ss_http_set_identity(d->server_proxy, cert, key))) {
        free(old);
        free(cert);
        ss_trust_free_pem(key);
        return err;
    }
    pthread_mutex_lock(&d->identity_mu);
    old->cert_pem = d->auth_cert_pem;
    old->key_pem = d->auth_key_pem;
    old->older = d->retired;
    d->retired = old;
    d->auth_cert_pem = cert;
    d->auth_key_pem = key;
    pthread_mutex_unlock(&d->identity_mu);
    ss_log_info("SIGHUP: TLS certificate %s in force for both proxies", hex);
    return SS_OK;
}

/*
 * A part of TLS whose files are reread on reload ([service-tls]; the HTTPS
 * client proxy's tls_client_ca, tls_certificate and tls_key), as taken
 * once: the texts (NULL: not set) and the CA store made of them.
 */
struct ss_tls_files {
    struct ss_upstream_service_tls pub; /* for register services, as requests take it */
    struct ss_ca_store *cas;
    char *ca_pem, *cert_pem, *key_pem;
    struct ss_tls_files *older; /* the ones it replaced */
};

/* Which part: its name in the log, its configured files. */
struct tls_part {
    const char *name, *ca_file, *cert_file;
};

static struct tls_part service_part(const struct ss_config *cfg)
{
    return (struct tls_part){"[service-tls]", cfg->service_tls_ca, cfg->service_tls_cert};
}

static struct tls_part client_part(const struct ss_config *cfg)
{
    return (struct tls_part){"[client-proxy] tls", cfg->client_tls_ca, cfg->client_tls_cert};
}

static void tls_files_free(struct ss_tls_files *f)
{
    while (f) {
        struct ss_tls_files *older = f->older;
        ss_ca_store_free(f->cas);
        free(f->ca_pem);
        free(f->cert_pem);
        ss_trust_free_pem(f->key_pem);
        free(f);
        f = older;
    }
}

/* A part from its files' texts, checked: the CAs load, the key is the certificate's. */
static ss_error tls_files_new(const struct tls_part *part, const char *ca, const char *cert,
                              const char *key, uint64_t generation, struct ss_tls_files **out)
{
    *out = NULL;
    struct ss_tls_files *f = calloc(1, sizeof *f);
    if (!f)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    ss_error err = SS_OK;
    uint8_t fp[32];
    if (ca && (err = ss_ca_store_load_pem(ca, part->ca_file, &f->cas)))
        goto fail;
    if (cert && key && (err = ss_trust_check_keypair_pem(cert, key, fp))) {
        err = ss_errf(err, "%s certificate %s: %s", part->name, part->cert_file, ss_errmsg());
        goto fail;
    }
    if ((ca && !(f->ca_pem = strdup(ca))) || (cert && !(f->cert_pem = strdup(cert))) ||
        (key && !(f->key_pem = strdup(key)))) {
        err = ss_errf(SS_ERR_NOMEM, "out of memory");
        goto fail;
    }
    f->pub = (struct ss_upstream_service_tls){
        .cas = f->cas, .cert_pem = f->cert_pem, .key_pem = f->key_pem, .generation = generation};
    *out = f;
    return SS_OK;
fail:
    tls_files_free(f);
    return err;
}

/* The part's files, read at the start (before the privileges go). */
static ss_error tls_files_read(const struct tls_part *part, const char *key_file,
                               struct ss_tls_files **out)
{
    char *ca = NULL, *cert = NULL, *key = NULL;
    ss_error err = SS_OK;
    if (!(part->ca_file && (err = ss_trust_read_pem(part->ca_file, &ca))) &&
        !(part->cert_file && ((err = ss_trust_read_pem(part->cert_file, &cert)) ||
                              (err = ss_trust_read_pem(key_file, &key)))))
        err = tls_files_new(part, ca, cert, key, 1, out);
    free(ca);
    free(cert);
    ss_trust_free_pem(key);
    return err;
}

static bool same_text(const char *a, const char *b)
{
    return a && b ? strcmp(a, b) == 0 : a == b;
}

/*
 * Puts the part's new texts in force in *slot (and on listener, which
 * presents the certificate), unless they are the ones in force; else the
 * ones in force stay.
 */
static ss_error reload_tls_files(struct ss_daemon *d, const struct tls_part *part,
                                 struct ss_tls_files **slot, struct ss_http_server *listener,
                                 const char *ca, const char *cert, const char *key)
{
    /* reloads come one at a time (the control loop): only the pointer needs the lock */
    pthread_mutex_lock(&d->identity_mu);
    const struct ss_tls_files *cur = *slot;
    bool same = same_text(ca, cur->ca_pem) && same_text(cert, cur->cert_pem) &&
                same_text(key, cur->key_pem);
    uint64_t generation = cur->pub.generation + 1;
    pthread_mutex_unlock(&d->identity_mu);
    if (same) /* the files are as they were */
        return SS_OK;
    /* what the configuration names is there (the parent sends "" for a file not named, and
     * refuses an empty one) */
    if (!ca != !part->ca_file || !cert != !part->cert_file || !key != !part->cert_file)
        return ss_errf(SS_ERR_CONFIG, "%s: the reload lacks a file the configuration names",
                       part->name);
    struct ss_tls_files *f = NULL;
    ss_error err = tls_files_new(part, ca, cert, key, generation, &f);
    if (!err && listener && cert && key)
        err = ss_http_set_identity(listener, cert, key);
    if (err) {
        tls_files_free(f);
        return err;
    }
    pthread_mutex_lock(&d->identity_mu);
    f->older = *slot;
    *slot = f;
    pthread_mutex_unlock(&d->identity_mu);
    ss_log_info("SIGHUP: %s CAs and certificate reread, in force from the next %s on", part->name,
                listener ? "connection" : "request");
    return SS_OK;
}

ss_error ss_daemon_reload_service_tls(struct ss_daemon *d, const char *ca_pem, const char *cert_pem,
                                      const char *key_pem)
{
    struct tls_part part = service_part(d->cfg);
    return reload_tls_files(d, &part, &d->service_tls, NULL, ca_pem, cert_pem, key_pem);
}

ss_error ss_daemon_reload_client_tls(struct ss_daemon *d, const char *ca_pem, const char *cert_pem,
                                     const char *key_pem)
{
    if (!d->client_tls) /* no HTTPS client proxy */
        return SS_OK;
    struct tls_part part = client_part(d->cfg);
    return reload_tls_files(d, &part, &d->client_tls, d->client_proxy_tls, ca_pem, cert_pem,
                            key_pem);
}

const struct ss_upstream_service_tls *ss_daemon_service_tls(struct ss_daemon *d)
{
    pthread_mutex_lock(&d->identity_mu);
    const struct ss_upstream_service_tls *st = &d->service_tls->pub;
    pthread_mutex_unlock(&d->identity_mu);
    return st;
}

const struct ss_ca_store *ss_daemon_is_cas(struct ss_daemon *d)
{
    pthread_mutex_lock(&d->identity_mu);
    const struct ss_ca_store *cas = d->client_tls ? d->client_tls->cas : NULL;
    pthread_mutex_unlock(&d->identity_mu);
    return cas;
}

ss_error ss_daemon_reload_policies(struct ss_daemon *d)
{
    struct ss_policy_set *set = NULL;
    ss_error err = ss_policy_set_load_dir(d->cfg->policy_dir, &set);
    if (err) {
        ss_log_error("policies: reload refused, the policy in force stays: %s", ss_errmsg());
        return err;
    }
    pthread_mutex_lock(&d->policy_mu);
    struct ss_policy_set *old = d->policies;
    d->policies = set;
    pthread_mutex_unlock(&d->policy_mu);
    ss_policy_set_unref(old);
    ss_log_info("policies: %zu rules from %zu files in %s in force", ss_policy_set_count_rules(set),
                ss_policy_set_count_files(set), d->cfg->policy_dir);
    return SS_OK;
}

/*
 * A service's description file as it is answered: a WSDL with its endpoints
 * hidden, an OpenAPI description as it is (it must be UTF-8: getOpenAPI says
 * charset=utf-8). The error names the file (and the line).
 */
static ss_error description_read(const struct ss_service_map *s, size_t max,
                                 struct ss_description *out)
{
    *out = (struct ss_description){0};
    uint8_t *file = NULL;
    size_t len = 0;
    ss_error err = ss_file_read(s->description, max, &file, &len); /* names the file */
    if (err)
        return err;
    if (s->type == SS_SERVICE_SOAP) {
        err = ss_meta_wsdl_hide(s->description, file, len, &out->text, &out->len);
        free(file);
        if (!err)
            err = ss_meta_wsdl_version(s->description, out->text, out->len,
                                       s->service.service_code, out->version,
                                       sizeof out->version);
        return err;
    }
    size_t valid = ss_text_utf8_end((const char *)file, len);
    if (valid < len) {
        size_t line = 1;
        for (size_t k = 0; k < valid; k++)
            line += file[k] == '\n';
        unsigned byte = file[valid];
        free(file);
        return ss_errf(SS_ERR_CONFIG, "%s:%zu: not UTF-8 (byte 0x%02x)", s->description, line,
                       byte);
    }
    *out = (struct ss_description){.text = (char *)file, .len = len};
    return SS_OK;
}

/* ---- checks (secsrv -n) ---- */

static void check_file(struct ss_config *cfg, const char *section, const char *key,
                       const char *path)
{
    if (path && path[0] && access(path, R_OK) != 0)
        ss_config_problem(cfg, ss_config_line(cfg, section, key, NULL), "%s: cannot read %s", key,
                          path);
}

static void check_registry_contents(struct ss_config *cfg, const struct ss_registry *reg)
{
    const struct ss_reg_server *self = ss_registry_server(reg, &cfg->owner, cfg->server_code);
    if (strcmp(reg->instance, cfg->instance) != 0)
        ss_config_problem(cfg, ss_config_line(cfg, "server", "instance", NULL),
                          "instance %s differs from the registry's %s", cfg->instance,
                          reg->instance);
    if (!self) {
        ss_config_problem(cfg, ss_config_line(cfg, "server", "code", NULL),
                          "server %s/%s/%s is not in the registry", cfg->owner.member_class,
                          cfg->owner.member_code, cfg->server_code);
        return;
    }
    uint8_t fp[32];
    long cert_line = ss_config_line(cfg, "tls", "certificate", NULL);
    if (ss_trust_cert_file_fingerprint(cfg->auth_cert, fp) != SS_OK)
        ss_config_problem(cfg, cert_line, "certificate: %s", ss_errmsg());
    else if (!ss_registry_server_auth(self, fp))
        ss_config_problem(cfg, cert_line,
                          "%s is not an authentication certificate the registry lists for "
                          "this server",
                          cfg->auth_cert);
    for (size_t i = 0; i < cfg->n_clients; i++) {
        char id[SS_ID_STR_MAX];
        (void)ss_client_id_format_local(&cfg->clients[i].id, id, sizeof id);
        if (!ss_registry_server_hosts(self, &cfg->clients[i].id))
            ss_config_problem(cfg, cfg->clients[i].line,
                              "the registry does not list %s as hosted by this server", id);
    }
    for (size_t i = 0; i < cfg->n_services; i++) {
        const struct ss_client_id *p = &cfg->services[i].service.provider;
        if (!ss_config_client(cfg, p))
            ss_config_problem(cfg, cfg->services[i].line,
                              "the provider of this service is not a hosted client");
    }
}

/* True if address (HOST:PORT) is on the loopback interface. */
static bool loopback_address(const char *address)
{
    char host[256];
    uint16_t port;
    if (!ss_http_split_address(address, host, sizeof host, &port))
        return false;
    return strncmp(host, "127.", 4) == 0 || strcmp(host, "::1") == 0;
}

/*
 * The limits of the proxy listeners: what the consumer's server adds (the X-Road fields of
 * an answer, the evidence of a request and of its answer) travels beyond the configured ones.
 */
static void proxy_limits(const struct ss_limits *l, struct ss_limits *client,
                         struct ss_limits *server)
{
    size_t xroad = ss_rest_answer_xroad_bytes(l->max_identifier_bytes);
    *client = *l;
    client->max_answer_header_bytes += xroad;
    *server = *l;
    server->max_headers += SS_ENVELOPE_ADDED_FIELDS;
    server->max_header_bytes += SS_ENVELOPE_ADDED_BYTES;
    server->max_answer_header_bytes += xroad + SS_ENVELOPE_ADDED_BYTES;
}

/* Up to size - 1 bytes of a small file such as those under /proc and /sys, NUL-terminated
 * (their size is not known before they are read); false when it cannot be read. */
static bool read_small(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    size_t got = 0;
    for (ssize_t r; got + 1 < size; got += (size_t)r) {
        r = read(fd, buf + got, size - 1 - got);
        if (r < 0 && errno == EINTR) {
            r = 0;
            continue;
        }
        if (r <= 0)
            break;
    }
    close(fd);
    buf[got] = '\0';
    return got > 0;
}

/* The byte count a control group's limit file holds; ULLONG_MAX for "max", none, or junk. */
static unsigned long long limit_in(const char *path)
{
    char buf[32];
    if (!read_small(path, buf, sizeof buf))
        return ULLONG_MAX;
    unsigned long long v = 0;
    size_t i = 0;
    for (; buf[i] >= '0' && buf[i] <= '9'; i++) {
        if (v > (ULLONG_MAX - 9) / 10)
            return ULLONG_MAX;
        v = v * 10 + (unsigned long long)(buf[i] - '0');
    }
    return i > 0 && (buf[i] == '\n' || buf[i] == '\0') ? v : ULLONG_MAX;
}

/* The smallest limit of file in the group at path under root and in each group above it. */
static unsigned long long group_limit(const char *root, const char *path, size_t path_len,
                                      const char *file)
{
    unsigned long long least = ULLONG_MAX;
    char dir[PATH_MAX];
    for (;;) {
        int n = snprintf(dir, sizeof dir, "%s%.*s/%s", root, (int)path_len, path, file);
        if (n > 0 && (size_t)n < sizeof dir) {
            unsigned long long v = limit_in(dir);
            if (v < least)
                least = v;
        }
        while (path_len > 0 && path[path_len - 1] != '/')
            path_len--;
        if (path_len == 0)
            return least;
        path_len--; /* the '/' */
    }
}

/*
 * The memory this machine lets the server have: its RAM, or less when its
 * control group (or one above it) is limited: cgroup v2's memory.max
 * (mounted at /sys/fs/cgroup, or at /sys/fs/cgroup/unified beside v1),
 * v1's memory.limit_in_bytes. 0 when not even the RAM is known.
 */
static unsigned long long memory_available(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    unsigned long long least =
        pages > 0 && page > 0 ? (unsigned long long)pages * (unsigned long long)page : 0;
    char groups[4096];
    if (!least || !read_small("/proc/self/cgroup", groups, sizeof groups))
        return least;
    /* lines "ID:CONTROLLERS:PATH"; v2's is "0::PATH" */
    for (const char *line = groups; *line;) {
        size_t len = strcspn(line, "\n");
        const char *c1 = memchr(line, ':', len);
        const char *c2 = c1 ? memchr(c1 + 1, ':', (size_t)(line + len - c1 - 1)) : NULL;
        if (c2) {
            const char *path = c2 + 1;
            size_t path_len = (size_t)(line + len - path), names = (size_t)(c2 - c1 - 1);
            unsigned long long v = ULLONG_MAX, w;
            if (names == 0) {
                v = group_limit("/sys/fs/cgroup", path, path_len, "memory.max");
                w = group_limit("/sys/fs/cgroup/unified", path, path_len, "memory.max");
                v = w < v ? w : v;
            } else {
                /* a v1 hierarchy holding the memory controller */
                for (const char *n = c1 + 1; n < c2;) {
                    size_t k = strcspn(n, ",:");
                    if (k == 6 && memcmp(n, "memory", 6) == 0)
                        v = group_limit("/sys/fs/cgroup/memory", path, path_len,
                                        "memory.limit_in_bytes");
                    n += k + (n[k] == ',');
                }
            }
            if (v < least)
                least = v;
        }
        line += len + (line[len] == '\n');
    }
    return least;
}

/*
 * What the limits let the network process hold at once: the pool of every connection on
 * every listener (ss_http_connection_bytes) and the bodies in transit. Logged, and a warning
 * when it is more than the machine has: the limits would then not be what stops a flood.
 */
static void check_memory(struct ss_config *cfg)
{
    const struct ss_limits *l = &cfg->limits;
    struct ss_limits client, server;
    proxy_limits(l, &client, &server);
    size_t per_client = ss_http_connection_bytes(&client),
           per_server = ss_http_connection_bytes(&server), per_other = ss_http_connection_bytes(l);
    unsigned long long pools =
        (unsigned long long)l->max_connections *
        ((cfg->client_listen[0] ? per_client : 0) + (cfg->client_tls_listen[0] ? per_client : 0) +
         (cfg->server_listen[0] ? per_server : 0) + (cfg->health_listen[0] ? per_other : 0) +
         (cfg->metrics_listen[0] ? per_other : 0));
    unsigned long long total = pools + l->max_buffered_bytes, have = memory_available();
    const unsigned long long mb = 1024 * 1024;
    ss_log_info("network: the limits let connections and bodies in transit take up to %llu MiB: "
                "%u connections per listener, %zu KiB each on the client proxy, %zu KiB on the "
                "server proxy (%llu MiB), and %llu MiB of bodies (TLS state, answers being made "
                "and outbound connections come on top)",
                (total + mb - 1) / mb, l->max_connections, (per_client + 1023) / 1024,
                (per_server + 1023) / 1024, (pools + mb - 1) / mb,
                ((unsigned long long)l->max_buffered_bytes + mb - 1) / mb);
    if (have && total > have) {
        long line = ss_config_line(cfg, "limits", "max_connections", NULL);
        if (!line)
            line = ss_config_line(cfg, "limits", "max_header_bytes", NULL);
        ss_config_warning(cfg, line,
                          "the limits let connections and bodies in transit take %llu MiB, more "
                          "than the %llu MiB this machine allows the server: a flood would "
                          "exhaust memory before it met a limit (lower max_connections, "
                          "max_header_bytes or max_buffered_bytes)",
                          (total + mb - 1) / mb, have / mb);
    }
}

/* What works but lets more in than an operator may mean to. */
static void check_exposure(struct ss_config *cfg)
{
    if (cfg->client_listen[0] && !loopback_address(cfg->client_listen))
        ss_config_warning(cfg, ss_config_line(cfg, "client-proxy", "listen", NULL),
                          "the plain-HTTP client proxy listens on %s, not on loopback: anyone "
                          "who reaches it may query in the name of the hosted clients",
                          cfg->client_listen);
    if (!cfg->client_tls_listen[0])
        return;
    for (size_t i = 0; i < cfg->n_clients; i++) {
        if (cfg->clients[i].has_is_cert)
            continue;
        char id[SS_ID_STR_MAX];
        (void)ss_client_id_format_local(&cfg->clients[i].id, id, sizeof id);
        ss_config_warning(cfg, cfg->clients[i].line,
                          "client %s is not bound to an IS certificate "
                          "(is_certificate_sha256): any certificate tls_client_ca issued may "
                          "use it on the HTTPS client proxy",
                          id);
    }
}

/* A certificate and its key, both readable, must belong together; a problem at the key's line. */
static void check_keypair(struct ss_config *cfg, const char *section, const char *key_name,
                          const char *cert, const char *key)
{
    if (cert && key && access(cert, R_OK) == 0 && access(key, R_OK) == 0 &&
        ss_trust_check_keypair(cert, key) != SS_OK)
        ss_config_problem(cfg, ss_config_line(cfg, section, key_name, NULL), "%s", ss_errmsg());
}

ss_error ss_daemon_check(struct ss_config *cfg)
{
    check_file(cfg, "tls", "certificate", cfg->auth_cert);
    check_file(cfg, "tls", "key", cfg->auth_key);
    check_file(cfg, "registry", "anchor", cfg->registry_anchor);
    for (size_t i = 0; i < cfg->n_services; i++) {
        const struct ss_service_map *s = &cfg->services[i];
        struct ss_description desc = {0};
        if (s->description && description_read(s, cfg->limits.max_body_bytes, &desc))
            ss_config_problem(cfg, s->line, "the description file: %s", ss_errmsg());
        free(desc.text);
    }
    check_file(cfg, "client-proxy", "tls_certificate", cfg->client_tls_cert);
    check_file(cfg, "client-proxy", "tls_key", cfg->client_tls_key);
    check_file(cfg, "client-proxy", "tls_client_ca", cfg->client_tls_ca);
    check_file(cfg, "service-tls", "ca", cfg->service_tls_ca);
    check_file(cfg, "service-tls", "certificate", cfg->service_tls_cert);
    check_file(cfg, "service-tls", "key", cfg->service_tls_key);
    struct ss_ca_store *service_cas = NULL;
    if (cfg->service_tls_ca && access(cfg->service_tls_ca, R_OK) == 0) {
        if (ss_ca_store_load(cfg->service_tls_ca, &service_cas) != SS_OK)
            ss_config_problem(cfg, ss_config_line(cfg, "service-tls", "ca", NULL), "%s",
                              ss_errmsg());
        ss_ca_store_free(service_cas);
    }
    check_keypair(cfg, "service-tls", "key", cfg->service_tls_cert, cfg->service_tls_key);
    check_keypair(cfg, "tls", "key", cfg->auth_cert, cfg->auth_key);
    if (cfg->client_tls_listen[0])
        check_keypair(cfg, "client-proxy", "tls_key", cfg->client_tls_cert, cfg->client_tls_key);
    struct stat st;
    if (cfg->state_dir && (stat(cfg->state_dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
                           access(cfg->state_dir, W_OK) != 0))
        ss_config_problem(cfg, ss_config_line(cfg, "server", "state_dir", NULL),
                          "state_dir %s is not a writable directory", cfg->state_dir);
    const struct {
        const char *section, *key, *address;
    } listens[] = {{"client-proxy", "listen", cfg->client_listen},
                   {"client-proxy", "tls_listen", cfg->client_tls_listen},
                   {"server-proxy", "listen", cfg->server_listen}};
    for (size_t i = 0; i < sizeof listens / sizeof listens[0]; i++) {
        char host[256];
        uint16_t port;
        if (listens[i].address[0] &&
            !ss_http_split_address(listens[i].address, host, sizeof host, &port))
            ss_config_problem(cfg, ss_config_line(cfg, listens[i].section, listens[i].key, NULL),
                              "'%s' is not HOST:PORT", listens[i].address);
    }

    check_exposure(cfg);
    check_memory(cfg);
    /* the user the children become when started as root: else each of them fails at the drop,
     * again and again */
    uid_t uid;
    gid_t gid;
    if (cfg->user && cfg->user[0] && ss_proc_user(cfg->user, &uid, &gid) != SS_OK)
        ss_config_problem(cfg, ss_config_line(cfg, "server", "user", NULL), "%s", ss_errmsg());

    /* the registry: the cached copy, else the published one */
    if (cfg->registry_anchor && cfg->state_dir && cfg->registry_url &&
        access(cfg->registry_anchor, R_OK) == 0) {
        struct ss_regstore *rs = NULL;
        ss_error err = ss_regstore_new(cfg, &rs);
        if (!err)
            ss_regstore_set_persist(rs, false); /* a check changes nothing on disk */
        /* without its floor no registry is judged: the cached copy is no way around it */
        bool floor_read = !err && (err = ss_regstore_load_floor(rs)) == SS_OK;
        if (!err)
            err = ss_regstore_refresh(rs);
        if (err && floor_read && ss_regstore_load_cached(rs) == SS_OK) {
            ss_error e2;
            struct ss_trust *t = ss_regstore_acquire(rs, &e2);
            if (t) {
                ss_log_warn("registry download failed, cached copy used: %s", ss_errmsg());
                err = SS_OK;
            }
            ss_trust_unref(t);
        }
        if (err) {
            ss_config_problem(cfg, ss_config_line(cfg, "registry", "url", NULL), "registry: %s",
                              ss_errmsg());
        } else {
            ss_error e;
            struct ss_trust *t = ss_regstore_acquire(rs, &e);
            if (t)
                check_registry_contents(cfg, ss_trust_registry(t));
            else
                ss_config_problem(cfg, 0, "registry: %s", ss_errmsg());
            ss_trust_unref(t);
        }
        ss_regstore_free(rs);
    }
    /* signing keys: each loads and follows the profile; every hosted member has one */
    ss_signer_check_keys(cfg);
    for (size_t i = 0; i < cfg->n_clients; i++) {
        if (ss_config_key(cfg, &cfg->clients[i].id))
            continue;
        char id[SS_ID_STR_MAX];
        (void)ss_client_id_format_local(&cfg->clients[i].id, id, sizeof id);
        ss_config_problem(cfg, cfg->clients[i].line,
                          "no signing key ([signer] key) for the member of client %s", id);
    }
    bool made_later = cfg->subject_key_default && access(cfg->subject_key, F_OK) != 0;
    if (cfg->subject_key && !made_later && ss_daemon_check_subject_key(cfg->subject_key) != SS_OK)
        ss_config_problem(cfg, ss_config_line(cfg, "log", "subject_key", NULL), "%s", ss_errmsg());
    uint8_t dpo[32];
    if (cfg->dpo_public_key &&
        ss_key_file_read(cfg->dpo_public_key, "DPO public key", dpo) != SS_OK)
        ss_config_problem(cfg, ss_config_line(cfg, "log", "dpo_public_key", NULL), "%s",
                          ss_errmsg());
    /* policies */
    if (cfg->policy_dir) {
        struct ss_policy_set *set = NULL;
        size_t before = cfg->n_problems;
        ss_error err = ss_policy_set_load_dir(cfg->policy_dir, &set);
        if (err && cfg->n_problems == before)
            ss_config_problem(cfg, ss_config_line(cfg, "policies", "dir", NULL), "policies: %s",
                              ss_errmsg());
        ss_policy_set_unref(set);
    }
    return cfg->n_problems ? SS_ERR_CONFIG : SS_OK;
}

/* ---- life cycle ---- */

static void *watch_main(void *arg);

/* Hands the registry in force to one peer process (which verifies it again). */
static void send_registry(struct ss_daemon *d, struct ss_ipc_client *peer)
{
    if (!peer || !ss_ipc_client_linked(peer)) /* handed on when the link comes (on_attach) */
        return;
    struct ss_ipc_buf b = {0};
    ss_error err = ss_regstore_put(d->registry, &b);
    if (!err)
        err = ss_ipc_client_notify(peer, SS_IPC_REGISTRY, &b);
    if (err && err != SS_ERR_REGISTRY_UNAVAILABLE) /* none yet: handed on when there is one */
        ss_log_warn("registry: not handed to a peer process: %s", ss_errmsg());
    ss_ipc_buf_cleanup(&b);
}

static void signer_attached(void *arg)
{
    struct ss_daemon *d = arg;
    send_registry(d, d->signer);
}

static void logger_attached(void *arg)
{
    struct ss_daemon *d = arg;
    send_registry(d, d->logger);
}

static void registry_changed(void *cls)
{
    struct ss_daemon *d = cls;
    /* pins may have moved: no connection to a peer opened under the old registry is reused */
    if (d->upstream)
        ss_upstream_drop_peers(d->upstream);
    send_registry(d, d->signer);
    send_registry(d, d->logger);
}

/*
 * Room for every connection the listeners may hold: the soft open-file
 * limit is raised as far as the hard one allows; below what they may need,
 * connections beyond it are refused (and the operator is told at start).
 */
static void raise_fd_limit(const struct ss_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    rlim_t want = (rlim_t)cfg->limits.max_connections * 3 + 1024; /* three proxy listeners */
    if (rl.rlim_cur < want) {
        rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur < want)
        ss_log_warn("network: the open-file limit (%llu) is below the %llu that max_connections "
                    "= %u may need; connections beyond it are refused",
                    (unsigned long long)rl.rlim_cur, (unsigned long long)want,
                    cfg->limits.max_connections);
}

static ss_error start_listener(struct ss_daemon *d, const char *name, const char *listen, int fd,
                               const struct ss_limits *limits, ss_http_handler handler,
                               ss_http_gate gate, ss_http_error_hook on_error, const char *cert,
                               const char *key, const char *trust, struct ss_http_server **out)
{
    struct ss_http_options o = {
        .name = name,
        .pool = handler == ss_health_handler || handler == ss_metrics_handler ? d->health_pool
                                                                              : d->pool,
        .listen = listen,
        .listen_fd = fd,
        .limits = limits,
        .cert_pem = cert,
        .key_pem = key,
        .trust_pem = trust,
        .require_client_cert = gate != NULL,
        .handler = handler,
        .gate = gate,
        .on_error = on_error,
        .cls = d};
    ss_error err = ss_http_start(&o, out);
    if (!err)
        ss_log_info("%s: serving %s (port %u)%s", name, listen, ss_http_port(*out),
                    cert ? (trust ? ", mutual TLS" : ", TLS") : "");
    return err;
}

/*
 * The services' description files, read once at the start (they may be
 * root's alone): getWsdl and getOpenAPI answer from memory. A WSDL's
 * endpoint addresses are hidden here, so a broken WSDL stops the start.
 */
static ss_error read_descriptions(struct ss_daemon *d)
{
    const struct ss_config *cfg = d->cfg;
    d->descriptions = calloc(cfg->n_services + 1, sizeof *d->descriptions);
    if (!d->descriptions)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < cfg->n_services; i++) {
        const struct ss_service_map *s = &cfg->services[i];
        ss_error err;
        if (s->description &&
            (err = description_read(s, cfg->limits.max_body_bytes, &d->descriptions[i])))
            return err;
    }
    return SS_OK;
}

ss_error ss_daemon_make_subject_key(const struct ss_config *cfg)
{
    if (!cfg->subject_key_default || access(cfg->subject_key, F_OK) == 0)
        return SS_OK;
    uint8_t key[32];
    randombytes_buf(key, sizeof key);
    ss_error err = ss_key_file_write(cfg->subject_key, key, 0600);
    sodium_memzero(key, sizeof key);
    if (err)
        return ss_errf(err, "cannot create the subject key: %s", ss_errmsg());
    ss_log_info("made a new data-subject key in %s (keep it: the DPO needs it to search the "
                "log)",
                cfg->subject_key);
    return SS_OK;
}

ss_error ss_daemon_check_subject_key(const char *path)
{
    uint8_t key[32];
    ss_error err = ss_subject_key_read(path, key);
    sodium_memzero(key, sizeof key);
    return err;
}

static void signer_broken(void *arg, uint32_t serial);
static void logger_broken(void *arg, uint32_t serial);

ss_error ss_daemon_start(struct ss_config *cfg, const struct ss_daemon_links *links,
                         ss_daemon_broken_fn on_broken, void *arg, struct ss_daemon **out)
{
    *out = NULL;
    struct ss_daemon *d = calloc(1, sizeof *d);
    if (!d) {
        ss_config_free(cfg);
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    }
    d->cfg = cfg;
    d->on_broken = on_broken;
    d->on_broken_arg = arg;
    proxy_limits(&cfg->limits, &d->client_limits, &d->server_limits);
    pthread_mutex_init(&d->policy_mu, NULL);
    pthread_mutex_init(&d->identity_mu, NULL);
    pthread_mutex_init(&d->watch_mu, NULL);
    ss_cond_init(&d->watch_cond);
    check_exposure(cfg);
    check_memory(cfg);
    for (const char *w = cfg->warnings; *w;) {
        size_t n = strcspn(w, "\n");
        ss_log_warn("%.*s", (int)n, w);
        w += n + (w[n] == '\n');
    }
    ss_error err;
    /* first what needs the files (keys are root's), then the privileges go */
    if ((err = ss_soap_schema_init()) ||
        (err = ss_trust_read_pem(cfg->auth_cert, &d->auth_cert_pem)) ||
        (err = ss_trust_read_pem(cfg->auth_key, &d->auth_key_pem)) ||
        (err = ss_subject_key_read(cfg->subject_key, d->subject_key)))
        goto out;
    if ((err = read_descriptions(d)))
        goto out;
    struct tls_part service = service_part(cfg), client = client_part(cfg);
    if ((cfg->client_tls_listen[0] &&
         (err = tls_files_read(&client, cfg->client_tls_key, &d->client_tls))) ||
        (err = tls_files_read(&service, cfg->service_tls_key, &d->service_tls)))
        goto out;
    if (!(d->metrics = ss_metrics_new())) {
        err = ss_errf(SS_ERR_NOMEM, "out of memory");
        goto out;
    }
    if ((err = ss_upstream_new(&d->upstream)) || (err = ss_regstore_new(cfg, &d->registry)) ||
        (err = ss_sig_cache_new(SS_SIG_CACHE_ENTRIES, &d->sig_cache)) ||
        (err = ss_ipc_client_new("signer", &d->signer)) ||
        (err = ss_ipc_client_new("logger", &d->logger)))
        goto out;
    ss_ipc_client_on_attach(d->signer, signer_attached, d);
    ss_ipc_client_on_attach(d->logger, logger_attached, d);
    if (d->on_broken) {
        ss_ipc_client_on_broken(d->signer, signer_broken, d);
        ss_ipc_client_on_broken(d->logger, logger_broken, d);
    }
    ss_regstore_on_change(d->registry, registry_changed, d);
    /* the state directory is the dropped user's: read from here on */
    if ((err = ss_proc_drop(cfg->user)) || (err = ss_regstore_load_floor(d->registry)))
        goto out;
    if ((err = ss_regstore_load_cached(d->registry)))
        ss_log_warn("registry: cached copy refused: %s", ss_errmsg());
    if ((err = ss_regstore_refresh(d->registry)))
        ss_log_warn("registry: download failed: %s (exchanges are refused until a valid "
                    "registry is in force)",
                    ss_errmsg());
    /* the links the network process was started with are the parent's number 0 */
    if (links->signer >= 0 && (err = ss_ipc_client_attach(d->signer, links->signer, 0)))
        goto out;
    if (links->logger >= 0 && (err = ss_ipc_client_attach(d->logger, links->logger, 0)))
        goto out;
    if ((err = ss_regstore_start(d->registry)) || (err = ss_daemon_reload_policies(d)))
        goto out;
    if (pthread_create(&d->watch, NULL, watch_main, d) != 0) {
        err = ss_errf(SS_ERR_INTERNAL, "cannot start the watch thread");
        goto out;
    }
    d->watching = true;
    raise_fd_limit(cfg);
    ss_budget_init(cfg->limits.max_buffered_bytes);
    if ((err =
             ss_sched_new("proxies", cfg->limits.worker_threads, cfg->limits.workers, &d->pool)) ||
        (err = ss_sched_new("health", 1, HEALTH_WORKERS, &d->health_pool)))
        goto out;
    if (cfg->client_listen[0] &&
        (err = start_listener(d, "client-proxy", cfg->client_listen, links->client_proxy,
                              &d->client_limits, ss_exchange_client_proxy, NULL,
                              ss_exchange_client_proxy_error, NULL, NULL, NULL, &d->client_proxy)))
        goto out;
    if (cfg->client_tls_listen[0] &&
        (err = start_listener(d, "client-proxy-tls", cfg->client_tls_listen,
                              links->client_proxy_tls, &d->client_limits, ss_exchange_client_proxy,
                              NULL, ss_exchange_client_proxy_error, d->client_tls->cert_pem,
                              d->client_tls->key_pem, d->client_tls->ca_pem, &d->client_proxy_tls)))
        goto out;
    /* The trust list only makes the TLS stack ask for a certificate; whether the peer is
     * trusted is decided by trust.c against the registry. */
    if (cfg->server_listen[0] &&
        (err =
             start_listener(d, "server-proxy", cfg->server_listen, links->server_proxy,
                            &d->server_limits, ss_exchange_server_proxy,
                            ss_exchange_server_proxy_gate, ss_exchange_server_proxy_error,
                            d->auth_cert_pem, d->auth_key_pem, d->auth_cert_pem, &d->server_proxy)))
        goto out;
    if (cfg->health_listen[0] &&
        (err = start_listener(d, "health", cfg->health_listen, links->health, &cfg->limits,
                              ss_health_handler, NULL, ss_health_error, NULL, NULL, NULL,
                              &d->health)))
        goto out;
    if (cfg->metrics_listen[0] &&
        (err = start_listener(d, "metrics", cfg->metrics_listen, links->metrics, &cfg->limits,
                              ss_metrics_handler, NULL, ss_health_error, NULL, NULL, NULL,
                              &d->metrics_http)))
        goto out;
    *out = d;
    d = NULL;
out:
    ss_daemon_stop(d);
    return err;
}

/*
 * Asks the logger once a second whether timestamping is overdue, so that
 * exchanges stop (and start again) on time even when none is logged.
 */
static void *watch_main(void *arg)
{
    struct ss_daemon *d = arg;
    pthread_mutex_lock(&d->watch_mu);
    while (!d->watch_stop) {
        pthread_mutex_unlock(&d->watch_mu);
        struct ss_ipc_msg m;
        if (ss_ipc_client_linked(d->logger) &&
            ss_ipc_client_call(d->logger, SS_IPC_LOGGER_STATUS, NULL, 2000, &m) == SS_OK) {
            struct ss_logger_status st;
            if (ss_logger_status_read(&m, &st) == SS_OK)
                atomic_store(&d->ts_overdue, !st.timestamping_ok);
            ss_ipc_msg_cleanup(&m);
        }
        struct timespec wake = ss_deadline_after_us(1000000u);
        pthread_mutex_lock(&d->watch_mu);
        if (!d->watch_stop)
            pthread_cond_timedwait(&d->watch_cond, &d->watch_mu, &wake);
    }
    pthread_mutex_unlock(&d->watch_mu);
    return NULL;
}

static void signer_broken(void *arg, uint32_t serial)
{
    struct ss_daemon *d = arg;
    d->on_broken(d->on_broken_arg, SS_IPC_LINK_SIGNER, serial);
}

static void logger_broken(void *arg, uint32_t serial)
{
    struct ss_daemon *d = arg;
    d->on_broken(d->on_broken_arg, SS_IPC_LINK_LOGGER, serial);
}

void ss_daemon_attach(struct ss_daemon *d, enum ss_ipc_link which, int fd, uint32_t serial)
{
    struct ss_ipc_client *c = which == SS_IPC_LINK_SIGNER   ? d->signer
                              : which == SS_IPC_LINK_LOGGER ? d->logger
                                                            : NULL;
    if (!c) {
        close(fd);
        return;
    }
    if (ss_ipc_client_attach(c, fd, serial) != SS_OK)
        ss_log_error("cannot attach a new link: %s", ss_errmsg());
    else
        ss_log_info("%s: linked again", which == SS_IPC_LINK_SIGNER ? "signer" : "logger");
}

void ss_daemon_stop(struct ss_daemon *d)
{
    if (!d)
        return;
    if (d->watching) {
        pthread_mutex_lock(&d->watch_mu);
        d->watch_stop = true;
        pthread_cond_signal(&d->watch_cond);
        pthread_mutex_unlock(&d->watch_mu);
        pthread_join(d->watch, NULL);
    }
    pthread_cond_destroy(&d->watch_cond);
    pthread_mutex_destroy(&d->watch_mu);
    ss_http_stop(d->health);
    ss_http_stop(d->metrics_http);
    ss_http_stop(d->client_proxy);
    ss_http_stop(d->client_proxy_tls);
    ss_http_stop(d->server_proxy);
    ss_sched_free(d->pool);
    ss_sched_free(d->health_pool);
    ss_metrics_free(d->metrics);
    for (size_t i = 0; d->descriptions && i < d->cfg->n_services; i++)
        free(d->descriptions[i].text);
    free(d->descriptions);
    /* the refresh hands a new registry to the IPC clients, and their readers hand the one in
     * force to a new link: the refresh stops first, the registry goes last */
    if (d->registry)
        ss_regstore_stop(d->registry);
    ss_ipc_client_free(d->signer);
    ss_ipc_client_free(d->logger);
    ss_regstore_free(d->registry);
    ss_sig_cache_free(d->sig_cache);
    ss_upstream_free(d->upstream);
    tls_files_free(d->client_tls);
    tls_files_free(d->service_tls);
    ss_policy_set_unref(d->policies);
    pthread_mutex_destroy(&d->policy_mu);
    pthread_mutex_destroy(&d->identity_mu);
    free(d->auth_cert_pem);
    ss_trust_free_pem(d->auth_key_pem);
    while (d->retired) {
        struct ss_retired_identity *older = d->retired->older;
        free(d->retired->cert_pem);
        ss_trust_free_pem(d->retired->key_pem);
        free(d->retired);
        d->retired = older;
    }
    sodium_memzero(d->subject_key, sizeof d->subject_key);
    ss_config_free(d->cfg);
    free(d);
}
