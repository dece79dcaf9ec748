/*
 * config: the daemon's INI configuration file (read with libinih). Owns the
 * parsed settings, every limit with its default, the hosted clients and the
 * service-to-backend map. ss_config_load() collects every problem it finds
 * as "file:line: message" lines instead of stopping at the first, so
 * `secsrv -n` can print them all.
 */
#ifndef SS_CONFIG_H
#define SS_CONFIG_H

#include "ss_error.h"
#include "ss_id.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SS_CONFIG_MAX_CLIENTS 256
#define SS_CONFIG_MAX_KEYS 64
#define SS_CONFIG_MAX_LOG_RULES 256
#define SS_CONFIG_MAX_SERVICES 256
#define SS_CONFIG_PROBLEMS_MAX 8192

struct ss_limits {
    size_t max_header_bytes;         /* sum of header names and values */
    size_t max_headers;              /* number of request headers */
    size_t max_answer_header_bytes;  /* a service's answer: sum of header names and values */
    size_t max_url_bytes;            /* request target incl. query */
    size_t max_query_arguments;      /* '&'-separated parts of the query */
    size_t max_body_bytes;           /* request and response bodies */
    size_t max_buffered_bytes;       /* all bodies in transit together (budget.h) */
    size_t max_identifier_bytes;     /* one identifier part */
    unsigned connection_timeout;     /* seconds of inactivity before a connection is cut */
    unsigned request_timeout;        /* seconds for a whole request to arrive */
    unsigned header_timeout;         /* seconds for the TLS handshake and a request's header */
    unsigned connect_timeout;        /* seconds to connect to a peer server or backend */
    unsigned backend_timeout;        /* seconds for a whole upstream exchange */
    unsigned max_connections;        /* concurrent inbound connections per listener */
    unsigned max_connections_per_ip; /* concurrent inbound connections per peer address, 0 = any */
    /* on TLS listeners, connections whose handshake and first request header are not complete
     * yet: in all, and per peer address (0 = any), apart from the limits above */
    unsigned max_unauthenticated;
    unsigned max_unauthenticated_per_ip;
    unsigned http_threads; /* event-driven HTTP threads per listener */
    unsigned workers;      /* answers made at once, each in a fiber (fiber.h) */
    unsigned worker_threads; /* threads those fibers run on; 0 = one per core */
};

struct ss_hosted_client {
    struct ss_client_id id;
    bool has_is_cert; /* an HTTPS IS must present this certificate */
    uint8_t is_cert_sha256[32];
    long line;
};

/* How a service speaks, for the metaservices listMethods, allowedMethods, getWsdl, getOpenAPI. */
enum ss_service_type { SS_SERVICE_REST, SS_SERVICE_OPENAPI, SS_SERVICE_SOAP };

struct ss_service_map {
    struct ss_service_id service; /* provider subsystem + service code */
    char *url;                    /* backend base URL */
    enum ss_service_type type;
    char *description; /* the WSDL or OpenAPI file, or NULL */
    long line;
};

/* A member's signing key and certificate (chain), for the signer process. */
struct ss_signing_key {
    struct ss_client_id member; /* INSTANCE/CLASS/MEMBER */
    char *key_file;             /* PEM private key */
    char *cert_file;            /* PEM certificate, then its chain */
    long line;
};

/* What the message log keeps for one hosted subsystem, where it differs from the default. */
struct ss_log_rule {
    struct ss_client_id subsystem;
    unsigned retention_days; /* 0: the default */
    int bodies;              /* -1: the default, 0: metadata only, 1: full messages */
    long line;
};

struct ss_config {
    char *path;
    /* [server] */
    char instance[SS_ID_PART_MAX + 1];
    struct ss_client_id owner; /* member owning this server */
    char server_code[SS_ID_PART_MAX + 1];
    char *state_dir;
    char *user; /* the children drop to this user when started as root; NULL: stay */
    char *node; /* this node's name among the nodes of one server (default: the host name) */
    char *node_config; /* what this node holds (ss_nodes_config), set by the parent; NULL: none */
    /* [tls] */
    char *auth_cert; /* PEM: certificate, then chain */
    char *auth_key;
    /* [registry] */
    char *registry_url;
    char *registry_sig_url;
    char *registry_anchor;
    unsigned registry_refresh; /* seconds, 0 = from the registry's settings */
    unsigned watchdog; /* seconds a serving child may give no sign of life; 0 = off */
    /* [client-proxy] */
    char *client_listen;     /* plain HTTP for the IS, "" = off */
    char *client_tls_listen; /* HTTPS for the IS, "" = off */
    char *client_tls_cert;
    char *client_tls_key;
    char *client_tls_ca; /* CA that issued IS client certificates */
    /* [server-proxy] */
    char *server_listen; /* mTLS from other security servers, "" = off */
    /* [service-tls]: register services reached over https:// */
    char *service_tls_ca;   /* CAs a service's certificate must chain to */
    char *service_tls_cert; /* shown when a service asks for a client certificate; NULL: none */
    char *service_tls_key;
    /* [policies] */
    char *policy_dir;
    /* [health] */
    char *health_listen;  /* "" = off */
    char *metrics_listen; /* Prometheus text exposition, loopback only; "" = off */
    /* for signing keys named by a PKCS#11 URI without module-path or pin-source */
    char *pkcs11_module;
    char *pkcs11_pin_file;
    /* [signer] */
    struct ss_signing_key keys[SS_CONFIG_MAX_KEYS];
    size_t n_keys;
    unsigned sign_batch_max;     /* messages one batch signature may cover */
    unsigned sign_batch_wait_us; /* under load, how long a batch gathers */
    /* [log] */
    char *log_store; /* "sqlite:PATH" */
    char *log_level;
    unsigned log_group_wait_us; /* under load, how long a commit group gathers */
    char *subject_key;          /* file with the key of the data-subject hash (64 hex digits) */
    bool subject_key_default;   /* STATE_DIR/subject.key, made at the first start if absent */
    char *dpo_public_key; /* file: the DPO's X25519 public key; messages stored sealed to it */
    unsigned log_purge_interval; /* seconds between purges of content past retention; 0: never */
    uint64_t log_max_bytes;      /* 0: no limit; beyond it exchanges fail (store full) */
    unsigned retention_days;     /* default 730 (§ 9 IDNrG: two years) */
    bool log_bodies;             /* default true: the full messages */
    struct ss_log_rule log_rules[SS_CONFIG_MAX_LOG_RULES];
    size_t n_log_rules;
    /* [timestamping] */
    unsigned ts_interval; /* seconds; 0 = the registry's timestampingInterval */
    unsigned ts_batch;    /* records that start a batch before the interval ends */
    unsigned ts_grace;    /* seconds without a timestamp before exchanges stop */
    /* [evidence] */
    unsigned clock_skew; /* seconds a signing time may differ from now, before or after */
    struct ss_limits limits;
    struct ss_hosted_client clients[SS_CONFIG_MAX_CLIENTS];
    size_t n_clients;
    struct ss_service_map services[SS_CONFIG_MAX_SERVICES];
    size_t n_services;
    long reading_line; /* while reading: the line being read */
    struct ss_config_entry {
        char *section, *key, *value;
        long line;
    } * entries; /* every entry as read, for file:line messages */
    size_t n_entries, cap_entries;
    /* every problem found, "file:line: message\n" each */
    char problems[SS_CONFIG_PROBLEMS_MAX];
    size_t n_problems;
    /* what works but an operator should change, "file:line: warning: message\n" each */
    char warnings[SS_CONFIG_PROBLEMS_MAX];
    size_t n_warnings;
};

void ss_limits_default(struct ss_limits *limits);

/*
 * Reads path into a new config. Returns SS_ERR_CONFIG if any problem was
 * found (the config is still returned so all problems can be printed).
 */
ss_error ss_config_load(const char *path, struct ss_config **out) SS_MUST_CHECK SS_NONNULL(1, 2);
void ss_config_free(struct ss_config *cfg);

/* Records a problem "file:line: message" (line 0 = no line). */
void ss_config_problem(struct ss_config *cfg, long line, const char *fmt, ...) SS_PRINTF(3, 4);
/* Records a warning "file:line: warning: message"; a warning does not stop the server. */
void ss_config_warning(struct ss_config *cfg, long line, const char *fmt, ...) SS_PRINTF(3, 4);

/*
 * The line "key = value" in [section] was read from (0 if there was none);
 * value NULL matches any value of key.
 */
long ss_config_line(const struct ss_config *cfg, const char *section, const char *key,
                    const char *value);

const struct ss_hosted_client *ss_config_client(const struct ss_config *cfg,
                                                const struct ss_client_id *id);
const struct ss_service_map *ss_config_service(const struct ss_config *cfg,
                                               const struct ss_service_id *id);
/* The signing key of member (subsystem ignored), or NULL. */
const struct ss_signing_key *ss_config_key(const struct ss_config *cfg,
                                           const struct ss_client_id *member);
/* Retention in days and whether bodies are logged, for a hosted subsystem. */
unsigned ss_config_retention(const struct ss_config *cfg, const struct ss_client_id *subsystem);
bool ss_config_log_bodies(const struct ss_config *cfg, const struct ss_client_id *subsystem);
/* The path of an sqlite: store, or NULL for another kind. */
const char *ss_config_sqlite_path(const struct ss_config *cfg);
/*
 * Seconds a request's client and query id are refused again as a replay:
 * a signature is taken while its time is within the clock skew before or
 * after the receiver's clock, so two arrivals of one signed request can be
 * twice the skew apart.
 */
static inline unsigned ss_config_replay_window(const struct ss_config *cfg)
{
    return 2 * cfg->clock_skew;
}

#endif
