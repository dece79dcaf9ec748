/*
 * daemon: the one context struct of a running security server, and its
 * life cycle. Processes (privilege separation, see main.c): for now one
 * process serves both proxies; the signer and logger processes attach at
 * exchange.c's forwarding point.
 *
 *   listener       serves                              trusts
 *   client-proxy   the local IS (HTTP, loopback)        hosted-client list
 *   client-proxy   the local IS (HTTPS + client cert)   IS CA + pinned cert
 *   server-proxy   other security servers (mTLS)        registry CAs + pins
 */
#ifndef SS_DAEMON_H
#define SS_DAEMON_H

#include "config.h"
#include "http.h"
#include "policy.h"
#include "regstore.h"
#include "upstream.h"

#include <pthread.h>

struct ss_daemon {
    struct ss_config *cfg;
    struct ss_regstore *registry;
    struct ss_upstream *upstream;
    pthread_mutex_t policy_mu;
    struct ss_policy_set *policies;
    char *auth_cert_pem; /* for the inbound TLS stack */
    char *auth_key_pem;
    struct ss_ca_store *is_cas; /* issuers of IS certificates (HTTPS client proxy) */
    struct ss_http_server *client_proxy;
    struct ss_http_server *client_proxy_tls;
    struct ss_http_server *server_proxy;
};

/*
 * Checks everything the configuration names: files readable, keys match
 * certificates, registry verifies (cached or downloaded), policies parse,
 * hosted clients and services are in the registry. Problems are added to
 * cfg->problems. Returns SS_ERR_CONFIG if there is any.
 */
ss_error ss_daemon_check(struct ss_config *cfg) SS_MUST_CHECK;

/* Starts a daemon; takes ownership of cfg. */
ss_error ss_daemon_start(struct ss_config *cfg, struct ss_daemon **out) SS_MUST_CHECK;
void ss_daemon_stop(struct ss_daemon *d);

/* Reloads the policy directory; on error the policy in force stays. */
ss_error ss_daemon_reload_policies(struct ss_daemon *d) SS_MUST_CHECK;
/* The policy set in force, with a reference (ss_policy_set_unref). */
struct ss_policy_set *ss_daemon_policies(struct ss_daemon *d);

#endif
