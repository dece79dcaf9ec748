/*
 * secsrv: a security server for once-only register exchange.
 *
 *   secsrv -c FILE        run
 *   secsrv -n -c FILE     check the configuration and everything it names, then exit
 *
 * Process layout (as in relayd's process table):
 *
 *   process   holds                               talks to
 *   parent    configuration, signals (HUP, TERM)  -
 *   (one)     client proxy, server proxy,         ISs, peer servers, register services,
 *             registry refresh, policies          the registry publisher
 *
 * Signing keys and the message log get their own processes (signer,
 * logger) when they arrive; the network-facing code then holds neither.
 * SIGHUP reloads the policy directory atomically; SIGTERM/SIGINT stop.
 */
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "trust.h"

#include <sodium.h>

#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static void usage(void)
{
    fprintf(stderr, "usage: secsrv [-n] -c FILE\n"
                    "  -c FILE  configuration file\n"
                    "  -n       check the configuration and exit\n");
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    bool check_only = false;
    int opt;
    while ((opt = getopt(argc, argv, "c:nh")) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'n':
            check_only = true;
            break;
        default:
            usage();
            return 2;
        }
    }
    if (!path || optind != argc) {
        usage();
        return 2;
    }
    /* process-wide initialisation, before any thread exists */
    if (sodium_init() < 0) {
        fprintf(stderr, "secsrv: cannot initialise libsodium\n");
        return 1;
    }
    (void)ss_tls_gnutls_priorities(); /* renders the TLS policy once */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "secsrv: cannot initialise libcurl\n");
        return 1;
    }
    struct ss_config *cfg = NULL;
    ss_error err = ss_config_load(path, &cfg);
    if (!cfg) {
        fprintf(stderr, "secsrv: %s\n", ss_errmsg());
        return 1;
    }
    if (!ss_log_set_level(cfg->log_level))
        ss_config_problem(cfg, ss_config_line(cfg, "log", "level", NULL),
                          "level must be debug, info, warn or error");
    if (check_only) {
        if (!cfg->n_problems)
            err = ss_daemon_check(cfg);
        int rc = cfg->n_problems ? 1 : 0;
        fputs(cfg->warnings, stderr);
        if (rc)
            fputs(cfg->problems, stderr);
        else
            printf("configuration OK%s\n", cfg->n_warnings ? " (with warnings)" : "");
        ss_config_free(cfg);
        curl_global_cleanup();
        return rc;
    }
    if (err || cfg->n_problems) {
        fputs(cfg->problems, stderr);
        ss_config_free(cfg);
        return 1;
    }

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* every thread inherits this */
    signal(SIGPIPE, SIG_IGN);

    struct ss_daemon *d = NULL;
    if ((err = ss_daemon_start(cfg, &d))) {
        ss_log_error("cannot start: %s", ss_errmsg());
        curl_global_cleanup();
        return 1;
    }
    ss_log_info("secsrv started");
    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            ss_log_info("SIGHUP: reloading policies");
            err = ss_daemon_reload_policies(d);
            continue;
        }
        ss_log_info("signal %d: stopping", sig);
        break;
    }
    ss_daemon_stop(d);
    curl_global_cleanup();
    return 0;
}
