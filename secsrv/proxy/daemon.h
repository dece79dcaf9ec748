/*
 * daemon: the one context struct of the network process of a security
 * server, and its life cycle. The network process serves both proxies and
 * the health endpoint; it holds no signing key and cannot write the
 * message log: it asks the signer and the logger over IPC (main.c shows
 * the process layout).
 *
 *   listener       serves                              trusts
 *   client-proxy   the local IS (HTTP, loopback)        hosted-client list
 *   client-proxy   the local IS (HTTPS + client cert)   IS CA + pinned cert
 *   server-proxy   other security servers (mTLS)        registry CAs + pins
 */
#ifndef SS_DAEMON_H
#define SS_DAEMON_H

#include "config.h"
#include "evidence.h"
#include "http.h"
#include "metrics.h"
#include "ipc.h"
#include "policy.h"
#include "regstore.h"
#include "upstream.h"

#include <pthread.h>
#include <stdatomic.h>

struct ss_tls_files;

struct ss_daemon {
    struct ss_config *cfg;
    /* the listeners' limits: cfg's, with room for the X-Road fields of an answer, and at the
     * server proxy for what the other server adds (envelope.h) */
    struct ss_limits client_limits, server_limits;
    struct ss_regstore *registry;
    struct ss_upstream *upstream;
    pthread_mutex_t policy_mu;
    struct ss_policy_set *policies;
    /* this server's authentication certificate and key (PEM), for both TLS stacks: replaced
     * on reload (a rotation), the ones before kept until stop for exchanges under way */
    pthread_mutex_t identity_mu;
    char *auth_cert_pem;
    char *auth_key_pem;
    struct ss_retired_identity {
        char *cert_pem, *key_pem;
        struct ss_retired_identity *older;
    } * retired;
    /* the HTTPS client proxy's tls_client_ca (issuers of IS certificates), certificate and
     * key (NULL: no HTTPS client proxy); replaced on reload as service_tls is */
    struct ss_tls_files *client_tls;
    /* register services over https:// ([service-tls]; no CAs: not configured, then no
     * service is): replaced on reload, the ones before kept until stop for exchanges under
     * way; under identity_mu */
    struct ss_tls_files *service_tls;
    struct ss_http_server *client_proxy;
    struct ss_http_server *client_proxy_tls;
    struct ss_http_server *server_proxy;
    struct ss_http_server *health;
    struct ss_http_server *metrics_http;
    struct ss_metrics *metrics;   /* exchange counters and latencies */
    struct ss_sched *pool;        /* where the proxies' answers are made */
    struct ss_sched *health_pool; /* the health endpoint's own, never behind exchanges */
    struct ss_ipc_client *signer; /* signs manifests */
    struct ss_ipc_client *logger; /* writes the message log */
    struct ss_sig_cache *sig_cache;
    uint8_t subject_key[32]; /* keys the hash of the data-subject reference */
    /* the services' description files (getWsdl, getOpenAPI), read before the privileges go,
     * by the index of cfg->services; a WSDL with its endpoints hidden already */
    struct ss_description {
        char *text;
        size_t len;
        char version[SS_ID_PART_MAX + 1]; /* a WSDL's: its operation's xrd:version, or "" */
    } * descriptions;
    _Atomic bool ts_overdue;  /* the logger said: no timestamp within the grace period */
    _Atomic bool log_failing; /* the logger's last answer (or its absence) was a failure */
    pthread_t watch;          /* asks the logger for its state once a second */
    pthread_mutex_t watch_mu;
    pthread_cond_t watch_cond;
    bool watching, watch_stop;
    /* ss_daemon_start's on_broken */
    void (*on_broken)(void *arg, enum ss_ipc_link which, uint32_t serial);
    void *on_broken_arg;
};

/* What the parent hands the network process: listening sockets and IPC links, -1 if none. */
struct ss_daemon_links {
    int client_proxy, client_proxy_tls, server_proxy, health, metrics;
    int signer, logger;
};

/*
 * Checks everything the configuration names: files readable, keys match
 * certificates, registry verifies (cached or downloaded), policies parse,
 * hosted clients and services are in the registry. Problems are added to
 * cfg->problems. Returns SS_ERR_CONFIG if there is any.
 */
ss_error ss_daemon_check(struct ss_config *cfg) SS_MUST_CHECK;

/* Runs (in an IPC reader thread) when the link to the signer or the logger broke while its
 * process may live on (ss_ipc_client_on_broken): the parent is to be asked for a new one. */
typedef void (*ss_daemon_broken_fn)(void *arg, enum ss_ipc_link which, uint32_t serial);

/*
 * Starts the network process's daemon; takes ownership of cfg and of the
 * descriptors in links. Reads what needs privileges, drops them
 * (cfg->user), then starts the registry refresh and the listeners.
 * on_broken (with arg) is in place before the first link is.
 */
ss_error ss_daemon_start(struct ss_config *cfg, const struct ss_daemon_links *links,
                         ss_daemon_broken_fn on_broken, void *arg,
                         struct ss_daemon **out) SS_MUST_CHECK;
void ss_daemon_stop(struct ss_daemon *d);
/* A new link to a (restarted) signer or logger (takes fd); serial is the parent's number for it. */
void ss_daemon_attach(struct ss_daemon *d, enum ss_ipc_link which, int fd, uint32_t serial);
/* Makes the default subject key (STATE_DIR/subject.key, 0600) if it is the default and absent. */
ss_error ss_daemon_make_subject_key(const struct ss_config *cfg) SS_MUST_CHECK;
/* For secsrv -n: the subject key file is readable and well-formed. */
ss_error ss_daemon_check_subject_key(const char *path) SS_MUST_CHECK;

/* Reloads the policy directory; on error the policy in force stays. */
ss_error ss_daemon_reload_policies(struct ss_daemon *d) SS_MUST_CHECK;
/*
 * A rotated authentication certificate and key (read by the parent from the
 * configured files): taken for both proxies' TLS from the next connection
 * on, when the key is the certificate's and the registry in force lists the
 * certificate for this server; else the one in force stays (the reason is
 * the error). Takes neither string.
 */
ss_error ss_daemon_reload_identity(struct ss_daemon *d, const char *cert_pem,
                                   const char *key_pem) SS_MUST_CHECK;
/*
 * [service-tls] as its files hold it now (PEM text of the CAs, the
 * certificate and the key; NULL: not set), read by the parent on reload:
 * taken for register services over https:// from the next request on, when
 * the CAs load and the key is the certificate's; connections made under the
 * ones before are not used again. Else the ones in force stay (the reason
 * is the error). Takes no string.
 */
ss_error ss_daemon_reload_service_tls(struct ss_daemon *d, const char *ca_pem, const char *cert_pem,
                                      const char *key_pem) SS_MUST_CHECK;
/* The same for the HTTPS client proxy: its certificate presented from the next handshake on,
 * its CAs deciding from the next request on. */
ss_error ss_daemon_reload_client_tls(struct ss_daemon *d, const char *ca_pem, const char *cert_pem,
                                     const char *key_pem) SS_MUST_CHECK;
/* The register services' TLS in force (valid until the daemon stops). */
const struct ss_upstream_service_tls *ss_daemon_service_tls(struct ss_daemon *d);
/* The issuers of IS certificates in force (NULL: no HTTPS client proxy; valid until stop). */
const struct ss_ca_store *ss_daemon_is_cas(struct ss_daemon *d);
/* The authentication certificate and key in force (valid until the daemon stops). */
void ss_daemon_identity(struct ss_daemon *d, const char **cert_pem, const char **key_pem);
/* The policy set in force, with a reference (ss_policy_set_unref). */
struct ss_policy_set *ss_daemon_policies(struct ss_daemon *d);
/* How long one task has held a worker thread without a wait (ss_sched_longest_slice_us). */
uint64_t ss_daemon_longest_slice_us(const struct ss_daemon *d);

#endif
