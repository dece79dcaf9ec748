/*
 * console: the data-protection officer's console, `secsrv-log serve`. A
 * read-only HTTPS web application over one or more message-log stores (a
 * copy or a replica will do), on the daemon's HTTP server: overview with a
 * chart per day, search (the person's identifier is hashed with the
 * subject key and never stored, logged or put into an address), one
 * exchange with its evidence and its verification, the evidence package,
 * the data-subject report (HTML, printable, and JSON), and full
 * verification runs whose reports are kept.
 *
 * Access: a DPO client certificate from the configured CA (the chain is
 * checked with OpenSSL by trust.c), or, on a loopback address only, a
 * passphrase (its Argon2id hash in a file; sessions in a cookie). Every
 * page view is one JSON line in the console's own audit log. Every form
 * carries a token bound to the signed-in DPO; pages forbid inline script,
 * framing and caching.
 */
#ifndef SS_CONSOLE_H
#define SS_CONSOLE_H

#include "ss_error.h"

#include <stddef.h>

#define SS_CONSOLE_MAX_LOGS 8

struct ss_console_options {
    const char *listen;               /* HOST:PORT (port 0: any) */
    const char *cert_file, *key_file; /* the console's TLS certificate (chain) and key, PEM */
    const char *dpo_ca_file;          /* CA of the DPOs' client certificates, or NULL */
    const char *passphrase_file;      /* the passphrase's hash (secsrv-log passphrase), or NULL */
    const char *audit_file;           /* the console's audit log, appended to */
    const char *anchor_file;          /* the registry authority's certificate */
    const char *subject_key_file;     /* the servers' subject key, or NULL */
    const char *reports_dir;          /* where verification reports are kept */
    const char *stores[SS_CONSOLE_MAX_LOGS];
    size_t n_stores;
    unsigned clock_skew, grace; /* as secsrv-log verify */
};

/* Serves until SIGINT or SIGTERM; prints "console: https://HOST:PORT/" when ready. */
ss_error ss_console_run(const struct ss_console_options *o) SS_MUST_CHECK;

/* Writes the Argon2id hash of a passphrase (read from in, first line) to a new file path. */
ss_error ss_console_passphrase(const char *path, const char *passphrase) SS_MUST_CHECK;

#endif
