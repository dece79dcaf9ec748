/*
 * Unit tests of the daemon configuration (secsrv/config.c): a complete file
 * with every field, limit defaults and overrides, hosted clients with an IS
 * certificate binding and the service map; and each kind of problem,
 * reported as "file:line: message" with the line it is on (or no line for
 * a key that is missing), all problems of a file collected at once.
 * Files are written to a temporary directory.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

static char dir[64];
static char path[256];

#define FP_HEX "3f5c0a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccdde"

/* A complete configuration; comments and blank lines keep line numbers honest. */
static const char good_conf[] =
    "; secsrv test configuration\n"                                         /* 1 */
    "[server]\n"                                                            /* 2 */
    "instance = DE-NORD\n"                                                  /* 3 */
    "owner = GOV/ima-sh\n"                                                  /* 4 */
    "code = ss-sh-kiel\n"                                                   /* 5 */
    "state_dir = /var/lib/secsrv\n"                                         /* 6 */
    "\n"                                                                    /* 7 */
    "[tls]\n"                                                               /* 8 */
    "certificate = /etc/secsrv/auth-chain.pem\n"                            /* 9 */
    "key = /etc/secsrv/auth.key\n"                                          /* 10 */
    "\n"                                                                    /* 11 */
    "[registry]\n"                                                          /* 12 */
    "url = https://registry.example.org/DE-NORD/registry.xml\n"             /* 13 */
    "anchor = /etc/secsrv/registry-authority.pem\n"                         /* 14 */
    "refresh = 600 ; ten minutes\n"                                         /* 15 */
    "\n"                                                                    /* 16 */
    "[client-proxy]\n"                                                      /* 17 */
    "listen = 127.0.0.1:8080\n"                                             /* 18 */
    "tls_listen = 127.0.0.1:8443\n"                                         /* 19 */
    "tls_certificate = /etc/secsrv/is-tls.pem\n"                            /* 20 */
    "tls_key = /etc/secsrv/is-tls.key\n"                                    /* 21 */
    "tls_client_ca = /etc/secsrv/is-ca.pem\n"                               /* 22 */
    "\n"                                                                    /* 23 */
    "[server-proxy]\n"                                                      /* 24 */
    "listen = 0.0.0.0:5500\n"                                               /* 25 */
    "\n"                                                                    /* 26 */
    "[clients]\n"                                                           /* 27 */
    "client = GOV/ima-sh/melde-client\n"                                    /* 28 */
    "# a member itself\n"                                                   /* 29 */
    "client = GOV/lr-sh\n"                                                  /* 30 */
    "is_certificate_sha256 = GOV/ima-sh/melde-client " FP_HEX "\n"          /* 31 */
    "\n"                                                                    /* 32 */
    "[services]\n"                                                          /* 33 */
    "MUN/13004000/melde/persons = http://127.0.0.1:9000/melderegister/v1\n" /* 34 */
    "MUN/13004000/melde/addresses = https://backend.example/addr\n"         /* 35 */
    "\n"                                                                    /* 36 */
    "[policies]\n"                                                          /* 37 */
    "dir = /etc/secsrv/policies\n"                                          /* 38 */
    "\n"                                                                    /* 39 */
    "[log]\n"                                                               /* 40 */
    "store = sqlite:/var/lib/secsrv/messagelog.db\n"                        /* 41 */
    "level = debug\n"                                                       /* 42 */
    "\n"                                                                    /* 43 */
    "[limits]\n"                                                            /* 44 */
    "max_headers = 32\n"                                                    /* 45 */
    "backend_timeout = 120        ; seconds\n"                              /* 46 */
    "max_identifier_bytes = 255\n"                                          /* 47 */
    "\n"                                                                    /* 48 */
    "[signer]\n"                                                            /* 49 */
    "key = GOV/ima-sh /etc/secsrv/ima-sh.key /etc/secsrv/ima-sh.pem\n"      /* 50 */
    "batch_max = 32\n"                                                      /* 51 */
    "[log]\n"                                                               /* 52 */
    "subject_key = /etc/secsrv/subject.key\n"                               /* 53 */
    "retention = GOV/ima-sh/melde-client 365\n"                             /* 54 */
    "subsystem_bodies = GOV/ima-sh/melde-client metadata\n"                 /* 55 */
    "[timestamping]\n"                                                      /* 56 */
    "interval = 30\n"                                                       /* 57 */
    "grace = 600\n"                                                         /* 58 */
    "[health]\n"                                                            /* 59 */
    "listen = 127.0.0.1:8081\n"                                             /* 60 */
    "[service-tls]\n"                                                      /* 61 */
    "ca = /etc/secsrv/services-ca.pem\n";                                  /* 62 */

/* The required part alone, for problem tests that add a section of their own. */
static const char minimal_conf[] = "[server]\n"                             /* 1 */
                                   "instance = DE-NORD\n"                   /* 2 */
                                   "owner = GOV/ima-sh\n"                   /* 3 */
                                   "code = ss-sh-kiel\n"                    /* 4 */
                                   "state_dir = /var/lib/secsrv\n"          /* 5 */
                                   "[tls]\n"                                /* 6 */
                                   "certificate = /c.pem\n"                 /* 7 */
                                   "key = /k.pem\n"                         /* 8 */
                                   "[registry]\n"                           /* 9 */
                                   "url = https://r.example/registry.xml\n" /* 10 */
                                   "anchor = /a.pem\n"                      /* 11 */
                                   "[policies]\n"                           /* 12 */
                                   "dir = /p\n"                             /* 13 */
                                   "[log]\n"                                /* 14 */
                                   "store = sqlite:/l.db\n";                /* 15 */
#define MINIMAL_LINES 15

static void write_conf(const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
}

/* Writes minimal_conf followed by extra, loads it and expects a problem. */
static struct ss_config *load_with(const char *extra, ss_error want)
{
    size_t n = strlen(minimal_conf) + strlen(extra) + 1;
    char *text = malloc(n);
    assert_non_null(text);
    snprintf(text, n, "%s%s", minimal_conf, extra);
    write_conf(text);
    free(text);
    struct ss_config *cfg = NULL;
    ss_error err = ss_config_load(path, &cfg);
    assert_non_null(cfg);
    if (err != want)
        fail_msg("got %s, want %s; problems:\n%s", ss_error_name(err), ss_error_name(want),
                 cfg->problems);
    return cfg;
}

/* True if cfg reports a problem on line (0: without a line) containing text. */
static bool has_problem(const struct ss_config *cfg, long line, const char *text)
{
    char prefix[400];
    if (line > 0)
        snprintf(prefix, sizeof prefix, "%s:%ld: ", path, line);
    else
        snprintf(prefix, sizeof prefix, "%s: ", path);
    const char *p = cfg->problems;
    while (*p) {
        const char *end = strchr(p, '\n');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len >= strlen(prefix) && strncmp(p, prefix, strlen(prefix)) == 0) {
            char row[1024];
            snprintf(row, sizeof row, "%.*s", (int)len, p);
            if (strstr(row, text))
                return true;
        }
        p += len + (end ? 1 : 0);
    }
    return false;
}

static void expect_problem(const struct ss_config *cfg, long line, const char *text)
{
    if (!has_problem(cfg, line, text))
        fail_msg("no problem '%s' on line %ld; problems:\n%s", text, line, cfg->problems);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/test_config.XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    snprintf(path, sizeof path, "%s/secsrv.conf", dir);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    unlink(path);
    return rmdir(dir);
}

/* ---- the good file ---- */

static void test_good_fields(void **state)
{
    (void)state;
    write_conf(good_conf);
    struct ss_config *cfg = NULL;
    ss_error err = ss_config_load(path, &cfg);
    assert_non_null(cfg);
    if (err != SS_OK)
        fail_msg("good file refused:\n%s", cfg->problems);
    assert_int_equal(cfg->n_problems, 0);
    assert_string_equal(cfg->problems, "");
    assert_string_equal(cfg->path, path);
    assert_string_equal(cfg->instance, "DE-NORD");
    assert_string_equal(cfg->owner.instance, "DE-NORD");
    assert_string_equal(cfg->owner.member_class, "GOV");
    assert_string_equal(cfg->owner.member_code, "ima-sh");
    assert_string_equal(cfg->owner.subsystem, "");
    assert_string_equal(cfg->server_code, "ss-sh-kiel");
    assert_string_equal(cfg->state_dir, "/var/lib/secsrv");
    assert_string_equal(cfg->auth_cert, "/etc/secsrv/auth-chain.pem");
    assert_string_equal(cfg->auth_key, "/etc/secsrv/auth.key");
    assert_string_equal(cfg->registry_url, "https://registry.example.org/DE-NORD/registry.xml");
    /* the signature URL defaults to url + ".p7s" */
    assert_string_equal(cfg->registry_sig_url,
                        "https://registry.example.org/DE-NORD/registry.xml.p7s");
    assert_string_equal(cfg->registry_anchor, "/etc/secsrv/registry-authority.pem");
    assert_int_equal(cfg->registry_refresh, 600);
    assert_string_equal(cfg->client_listen, "127.0.0.1:8080");
    assert_string_equal(cfg->client_tls_listen, "127.0.0.1:8443");
    assert_string_equal(cfg->client_tls_cert, "/etc/secsrv/is-tls.pem");
    assert_string_equal(cfg->client_tls_key, "/etc/secsrv/is-tls.key");
    assert_string_equal(cfg->client_tls_ca, "/etc/secsrv/is-ca.pem");
    assert_string_equal(cfg->server_listen, "0.0.0.0:5500");
    assert_string_equal(cfg->policy_dir, "/etc/secsrv/policies");
    /* the evidence layer */
    assert_int_equal(cfg->n_keys, 1);
    assert_string_equal(cfg->keys[0].member.member_code, "ima-sh");
    assert_string_equal(cfg->keys[0].member.subsystem, "");
    assert_string_equal(cfg->keys[0].key_file, "/etc/secsrv/ima-sh.key");
    assert_string_equal(cfg->keys[0].cert_file, "/etc/secsrv/ima-sh.pem");
    assert_int_equal(cfg->keys[0].line, 50);
    assert_int_equal(cfg->sign_batch_max, 32);
    assert_int_equal(cfg->sign_batch_wait_us, 1000); /* defaults */
    assert_int_equal(cfg->log_group_wait_us, 1000);
    assert_string_equal(cfg->subject_key, "/etc/secsrv/subject.key");
    assert_false(cfg->subject_key_default);
    assert_int_equal(cfg->ts_interval, 30);
    assert_int_equal(cfg->ts_grace, 600);
    assert_int_equal(cfg->ts_batch, 1000);
    assert_int_equal(cfg->clock_skew, 300);
    assert_string_equal(cfg->health_listen, "127.0.0.1:8081");
    struct ss_client_id melde;
    assert_int_equal(ss_client_id_parse_local("GOV/ima-sh/melde-client", "DE-NORD", &melde), SS_OK);
    assert_int_equal(ss_config_retention(cfg, &melde), 365);
    assert_false(ss_config_log_bodies(cfg, &melde));
    struct ss_client_id other;
    assert_int_equal(ss_client_id_parse_local("GOV/lr-sh/x", "DE-NORD", &other), SS_OK);
    assert_int_equal(ss_config_retention(cfg, &other), 730);
    assert_true(ss_config_log_bodies(cfg, &other));
    assert_non_null(ss_config_key(cfg, &melde));
    assert_null(ss_config_key(cfg, &other));
    assert_string_equal(ss_config_sqlite_path(cfg), "/var/lib/secsrv/messagelog.db");
    assert_string_equal(cfg->log_store, "sqlite:/var/lib/secsrv/messagelog.db");
    assert_string_equal(cfg->log_level, "debug");
    ss_config_free(cfg);
}

static void test_good_limits(void **state)
{
    (void)state;
    struct ss_limits def;
    memset(&def, 0xa5, sizeof def);
    ss_limits_default(&def);
    assert_int_equal(def.max_header_bytes, 16 * 1024);
    assert_int_equal(def.max_headers, 64);
    assert_int_equal(def.max_answer_header_bytes, 8 * 1024);
    assert_int_equal(def.max_url_bytes, 4096);
    assert_int_equal(def.max_query_arguments, 64);
    assert_int_equal(def.max_body_bytes, 10 * 1024 * 1024);
    assert_int_equal(def.max_identifier_bytes, 128);
    assert_int_equal(def.connection_timeout, 30);
    assert_int_equal(def.request_timeout, 60);
    assert_int_equal(def.connect_timeout, 5);
    assert_int_equal(def.backend_timeout, 60);
    assert_int_equal(def.max_connections, 10000);
    assert_int_equal(def.max_connections_per_ip, 256);
    assert_int_equal(def.header_timeout, 10);
    assert_int_equal(def.max_buffered_bytes, 256 * 1024 * 1024);
    assert_int_equal(def.http_threads, 2);
    assert_int_equal(def.workers, 64);
    /* every default is within what a config file may set */
    assert_true(def.max_identifier_bytes <= SS_ID_PART_MAX);

    write_conf(good_conf);
    struct ss_config *cfg = NULL;
    assert_int_equal(ss_config_load(path, &cfg), SS_OK);
    /* overridden */
    assert_int_equal(cfg->limits.max_headers, 32);
    assert_int_equal(cfg->limits.backend_timeout, 120);
    assert_int_equal(cfg->limits.max_identifier_bytes, 255);
    /* defaults */
    assert_int_equal(cfg->limits.max_header_bytes, def.max_header_bytes);
    assert_int_equal(cfg->limits.max_answer_header_bytes, def.max_answer_header_bytes);
    assert_int_equal(cfg->limits.max_url_bytes, def.max_url_bytes);
    assert_int_equal(cfg->limits.max_query_arguments, def.max_query_arguments);
    assert_int_equal(cfg->limits.max_body_bytes, def.max_body_bytes);
    assert_int_equal(cfg->limits.connection_timeout, def.connection_timeout);
    assert_int_equal(cfg->limits.request_timeout, def.request_timeout);
    assert_int_equal(cfg->limits.connect_timeout, def.connect_timeout);
    assert_int_equal(cfg->limits.max_connections, def.max_connections);
    assert_int_equal(cfg->limits.max_connections_per_ip, def.max_connections_per_ip);
    assert_int_equal(cfg->limits.header_timeout, def.header_timeout);
    assert_int_equal(cfg->limits.http_threads, def.http_threads);
    assert_int_equal(cfg->limits.workers, def.workers);
    ss_config_free(cfg);
}

static void test_good_clients(void **state)
{
    (void)state;
    write_conf(good_conf);
    struct ss_config *cfg = NULL;
    assert_int_equal(ss_config_load(path, &cfg), SS_OK);
    assert_int_equal(cfg->n_clients, 2);
    const struct ss_hosted_client *c = &cfg->clients[0];
    assert_string_equal(c->id.instance, "DE-NORD");
    assert_string_equal(c->id.member_class, "GOV");
    assert_string_equal(c->id.member_code, "ima-sh");
    assert_string_equal(c->id.subsystem, "melde-client");
    assert_int_equal(c->line, 28);
    assert_true(c->has_is_cert);
    const uint8_t want[32] = {0x3f, 0x5c, 0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0x5f, 0x60, 0x71, 0x82,
                              0x93, 0xa4, 0xb5, 0xc6, 0xd7, 0xe8, 0xf9, 0x01, 0x12, 0x23, 0x34,
                              0x45, 0x56, 0x67, 0x78, 0x89, 0x9a, 0xab, 0xbc, 0xcd, 0xde};
    assert_memory_equal(c->is_cert_sha256, want, 32);
    const struct ss_hosted_client *lr = &cfg->clients[1];
    assert_string_equal(lr->id.member_code, "lr-sh");
    assert_string_equal(lr->id.subsystem, "");
    assert_int_equal(lr->line, 30);
    assert_false(lr->has_is_cert);

    struct ss_client_id id;
    const char *s = "DE-NORD/GOV/ima-sh/melde-client";
    assert_int_equal(ss_client_id_parse(s, strlen(s), 255, false, &id), SS_OK);
    assert_ptr_equal(ss_config_client(cfg, &id), &cfg->clients[0]);
    s = "DE-NORD/GOV/lr-sh";
    assert_int_equal(ss_client_id_parse(s, strlen(s), 255, false, &id), SS_OK);
    assert_ptr_equal(ss_config_client(cfg, &id), &cfg->clients[1]);
    /* exact match: the member is not its subsystem, another instance is not ours */
    s = "DE-NORD/GOV/ima-sh";
    assert_int_equal(ss_client_id_parse(s, strlen(s), 255, false, &id), SS_OK);
    assert_null(ss_config_client(cfg, &id));
    s = "DE-NORD/GOV/lr-sh/sub";
    assert_int_equal(ss_client_id_parse(s, strlen(s), 255, false, &id), SS_OK);
    assert_null(ss_config_client(cfg, &id));
    s = "DE-SUED/GOV/lr-sh";
    assert_int_equal(ss_client_id_parse(s, strlen(s), 255, false, &id), SS_OK);
    assert_null(ss_config_client(cfg, &id));
    ss_config_free(cfg);
}

static void test_is_cert_forms(void **state)
{
    (void)state;
    /* upper case and colons, as openssl x509 -fingerprint prints it */
    char upper[200] = "";
    size_t o = 0;
    for (size_t i = 0; i < 64; i += 2) {
        upper[o++] = (char)(FP_HEX[i] >= 'a' ? FP_HEX[i] - 'a' + 'A' : FP_HEX[i]);
        upper[o++] = (char)(FP_HEX[i + 1] >= 'a' ? FP_HEX[i + 1] - 'a' + 'A' : FP_HEX[i + 1]);
        if (i + 2 < 64)
            upper[o++] = ':';
    }
    upper[o] = '\0';
    char extra[400];
    snprintf(extra, sizeof extra,
             "[clients]\n"
             "client = GOV/ima-sh/melde-client\n"
             "is_certificate_sha256 = GOV/ima-sh/melde-client   %s\n",
             upper);
    struct ss_config *cfg = load_with(extra, SS_OK);
    assert_true(cfg->clients[0].has_is_cert);
    assert_int_equal(cfg->clients[0].is_cert_sha256[0], 0x3f);
    assert_int_equal(cfg->clients[0].is_cert_sha256[31], 0xde);
    ss_config_free(cfg);

    /* bad fingerprints: short, not hex, too long; no fingerprint */
    const struct {
        const char *value, *problem;
    } bad[] = {
        {"3f5c", "is not a SHA-256 fingerprint"},
        {"zz5c0a1b2c3d4e5f60718293a4b5c6d7e8f90112233445566778899aabbccddee",
         "is not a SHA-256 fingerprint"},
        {"", "is_certificate_sha256 must be 'CLASS/MEMBER/SUBSYSTEM HEX'"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(extra, sizeof extra,
                 "[clients]\n"
                 "client = GOV/ima-sh/melde-client\n"
                 "is_certificate_sha256 = GOV/ima-sh/melde-client %s\n",
                 bad[i].value);
        cfg = load_with(extra, SS_ERR_CONFIG);
        expect_problem(cfg, MINIMAL_LINES + 3, bad[i].problem);
        assert_false(cfg->clients[0].has_is_cert);
        ss_config_free(cfg);
    }

    /* a client that is not listed (yet) */
    snprintf(extra, sizeof extra,
             "[clients]\n"
             "is_certificate_sha256 = GOV/ima-sh/melde-client " FP_HEX "\n"
             "client = GOV/ima-sh/melde-client\n");
    cfg = load_with(extra, SS_ERR_CONFIG);
    expect_problem(cfg, MINIMAL_LINES + 2, "not a hosted client listed before this line");
    ss_config_free(cfg);
}

/* A value with more than 64 hex digits is not a SHA-256 fingerprint either. */
static void test_is_cert_too_long(void **state)
{
    (void)state;
    const char *extra = "[clients]\n"
                        "client = GOV/ima-sh/melde-client\n"
                        "is_certificate_sha256 = GOV/ima-sh/melde-client " FP_HEX "00\n";
    struct ss_config *cfg = load_with(extra, SS_ERR_CONFIG);
    expect_problem(cfg, MINIMAL_LINES + 3, "is not a SHA-256 fingerprint");
    assert_false(cfg->clients[0].has_is_cert);
    ss_config_free(cfg);
}

static void test_good_services(void **state)
{
    (void)state;
    write_conf(good_conf);
    struct ss_config *cfg = NULL;
    assert_int_equal(ss_config_load(path, &cfg), SS_OK);
    assert_int_equal(cfg->n_services, 2);
    const struct ss_service_map *m = &cfg->services[0];
    assert_string_equal(m->service.provider.instance, "DE-NORD");
    assert_string_equal(m->service.provider.member_class, "MUN");
    assert_string_equal(m->service.provider.member_code, "13004000");
    assert_string_equal(m->service.provider.subsystem, "melde");
    assert_string_equal(m->service.service_code, "persons");
    assert_string_equal(m->url, "http://127.0.0.1:9000/melderegister/v1");
    assert_int_equal(m->line, 34);
    assert_string_equal(cfg->services[1].url, "https://backend.example/addr");
    assert_int_equal(cfg->services[1].line, 35);

    struct ss_service_id sid;
    memset(&sid, 0, sizeof sid);
    const char *s = "DE-NORD/MUN/13004000/melde";
    assert_int_equal(ss_client_id_parse(s, strlen(s), 255, true, &sid.provider), SS_OK);
    snprintf(sid.service_code, sizeof sid.service_code, "%s", "addresses");
    assert_ptr_equal(ss_config_service(cfg, &sid), &cfg->services[1]);
    snprintf(sid.service_code, sizeof sid.service_code, "%s", "Addresses");
    assert_null(ss_config_service(cfg, &sid));
    snprintf(sid.service_code, sizeof sid.service_code, "%s", "persons");
    assert_ptr_equal(ss_config_service(cfg, &sid), &cfg->services[0]);
    s = "DE-NORD/MUN/13004000/archiv";
    assert_int_equal(ss_client_id_parse(s, strlen(s), 255, true, &sid.provider), SS_OK);
    assert_null(ss_config_service(cfg, &sid));
    ss_config_free(cfg);
}

static void test_config_line(void **state)
{
    (void)state;
    write_conf(good_conf);
    struct ss_config *cfg = NULL;
    assert_int_equal(ss_config_load(path, &cfg), SS_OK);
    assert_int_equal(ss_config_line(cfg, "server", "code", NULL), 5);
    assert_int_equal(ss_config_line(cfg, "server", "code", "ss-sh-kiel"), 5);
    assert_int_equal(ss_config_line(cfg, "server", "code", "other"), 0);
    /* a key of the same name in another section */
    assert_int_equal(ss_config_line(cfg, "client-proxy", "listen", NULL), 18);
    assert_int_equal(ss_config_line(cfg, "server-proxy", "listen", NULL), 25);
    assert_int_equal(ss_config_line(cfg, "clients", "client", "GOV/lr-sh"), 30);
    /* an inline comment is not part of the value */
    assert_int_equal(ss_config_line(cfg, "registry", "refresh", "600"), 15);
    assert_int_equal(ss_config_line(cfg, "limits", "backend_timeout", "120"), 46);
    assert_int_equal(ss_config_line(cfg, "nosuch", "code", NULL), 0);
    assert_int_equal(ss_config_line(cfg, "server", "nosuch", NULL), 0);
    ss_config_free(cfg);
}

static void test_minimal_defaults(void **state)
{
    (void)state;
    struct ss_config *cfg = load_with("", SS_OK);
    /* listeners off unless configured; log level info; refresh from the registry */
    assert_string_equal(cfg->client_listen, "");
    assert_string_equal(cfg->client_tls_listen, "");
    assert_string_equal(cfg->server_listen, "");
    assert_string_equal(cfg->log_level, "info");
    assert_int_equal(cfg->registry_refresh, 0);
    assert_string_equal(cfg->registry_sig_url, "https://r.example/registry.xml.p7s");
    assert_int_equal(cfg->n_clients, 0);
    assert_int_equal(cfg->n_services, 0);
    ss_config_free(cfg);

    /* an explicit signature URL wins */
    cfg = load_with("[registry]\nsignature_url = https://r.example/sig\n", SS_OK);
    assert_string_equal(cfg->registry_sig_url, "https://r.example/sig");
    ss_config_free(cfg);
    ss_config_free(NULL);
}

/* The shipped example is a configuration that loads as it is. */
static void test_example_file(void **state)
{
    (void)state;
    const char *src = getenv("SS_SOURCE_DIR");
    if (!src || !*src)
        src = SS_SOURCE_DIR_BUILT;
    char example[1024];
    snprintf(example, sizeof example, "%s/deploy/secsrv.conf.example", src);
    struct ss_config *cfg = NULL;
    ss_error err = ss_config_load(example, &cfg);
    assert_non_null(cfg);
    if (err != SS_OK)
        fail_msg("the example is refused:\n%s", cfg->problems);
    assert_int_equal(cfg->n_keys, 1);
    assert_string_equal(cfg->user, "secsrv");
    /* the packaged layout: the subject key root's, outside the state directory */
    assert_false(cfg->subject_key_default);
    assert_string_equal(cfg->subject_key, "/var/lib/secsrv/main/subject.key");
    assert_string_equal(cfg->state_dir, "/var/lib/secsrv/main/state");
    ss_config_free(cfg);
}

/* ---- problems ---- */

static void test_bad_gathering_waits(void **state)
{
    (void)state;
    struct ss_config *cfg = load_with("[signer]\n"               /* 16 */
                                      "batch_wait_us = 100001\n" /* 17: above 0.1 s */
                                      "[log]\n"                  /* 18 */
                                      "group_wait_us = -5\n",    /* 19 */
                                      SS_ERR_CONFIG);
    expect_problem(cfg, 17, "batch_wait_us must be a number from 0 to 100000");
    expect_problem(cfg, 19, "group_wait_us must be a number from 0 to 100000");
    assert_int_equal(cfg->n_problems, 2);
    ss_config_free(cfg);
    cfg = load_with("[signer]\n"          /* 16 */
                    "batch_wait_us = 0\n" /* 17: off */
                    "[log]\n"             /* 18 */
                    "group_wait_us = 250\n",
                    SS_OK);
    assert_int_equal(cfg->sign_batch_wait_us, 0);
    assert_int_equal(cfg->log_group_wait_us, 250);
    ss_config_free(cfg);
}

/* [server] watchdog: 30 s unless set; 0 turns it off; 5 s to an hour */
static void test_watchdog(void **state)
{
    (void)state;
    struct ss_config *cfg = load_with("", SS_OK);
    assert_int_equal(cfg->watchdog, 30);
    ss_config_free(cfg);
    cfg = load_with("[server]\nwatchdog = 0\n", SS_OK);
    assert_int_equal(cfg->watchdog, 0);
    ss_config_free(cfg);
    cfg = load_with("[server]\nwatchdog = 5\n", SS_OK);
    assert_int_equal(cfg->watchdog, 5);
    ss_config_free(cfg);
    /* over an hour; shorter than the parent's loop may be held up */
    const struct {
        const char *text, *problem;
    } bad[] = {
        {"[server]\nwatchdog = 3601\n", "watchdog must be a number from 0 to 3600"},
        {"[server]\nwatchdog = 4\n", "watchdog must be 0 (off) or a number from 5 to 3600"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cfg = load_with(bad[i].text, SS_ERR_CONFIG);
        expect_problem(cfg, MINIMAL_LINES + 2, bad[i].problem);
        assert_int_equal(cfg->n_problems, 1);
        ss_config_free(cfg);
    }
}

static void test_unknown_keys(void **state)
{
    (void)state;
    struct ss_config *cfg = load_with("[server]\n"        /* 16 */
                                      "colour = blue\n"   /* 17 */
                                      "[extra]\n"         /* 18 */
                                      "foo = bar\n"       /* 19 */
                                      "[tls]\n"           /* 20 */
                                      "cipher = RC4\n"    /* 21 */
                                      "[limits]\n"        /* 22 */
                                      "max_things = 3\n", /* 23 */
                                      SS_ERR_CONFIG);
    expect_problem(cfg, 17, "unknown key 'colour' in [server]");
    expect_problem(cfg, 19, "unknown key 'foo' in [extra]");
    expect_problem(cfg, 21, "unknown key 'cipher' in [tls]");
    expect_problem(cfg, 23, "unknown key 'max_things' in [limits]");
    assert_int_equal(cfg->n_problems, 4);
    ss_config_free(cfg);
}

static void test_bad_limits(void **state)
{
    (void)state;
    struct ss_config *cfg = load_with("[limits]\n"                   /* 16 */
                                      "max_headers = 5\n"            /* 17: below 8 */
                                      "max_header_bytes = abc\n"     /* 18 */
                                      "max_body_bytes = -1\n"        /* 19 */
                                      "connect_timeout = 10x\n"      /* 20 */
                                      "max_identifier_bytes = 256\n" /* 21: above 255 */
                                      "request_timeout = 0\n"        /* 22 */
                                      "max_connections = \n"         /* 23 */
                                      "max_url_bytes = 99999999999999999999999\n" /* 24 */
                                      "connection_timeout = +5\n",                /* 25 */
                                      SS_ERR_CONFIG);
    expect_problem(cfg, 17, "max_headers must be a number from 8 to 1000");
    expect_problem(cfg, 18, "max_header_bytes must be a number");
    expect_problem(cfg, 19, "max_body_bytes must be a number");
    expect_problem(cfg, 20, "connect_timeout must be a number");
    expect_problem(cfg, 21, "max_identifier_bytes must be a number from 8 to 255");
    expect_problem(cfg, 22, "request_timeout must be a number from 1");
    expect_problem(cfg, 23, "max_connections must be a number");
    expect_problem(cfg, 24, "max_url_bytes must be a number");
    expect_problem(cfg, 25, "connection_timeout must be a number");
    assert_int_equal(cfg->n_problems, 9);
    /* a refused value leaves the default */
    struct ss_limits def;
    ss_limits_default(&def);
    assert_int_equal(cfg->limits.max_headers, def.max_headers);
    assert_int_equal(cfg->limits.max_identifier_bytes, def.max_identifier_bytes);
    assert_int_equal(cfg->limits.max_url_bytes, def.max_url_bytes);
    ss_config_free(cfg);

    /* the edges are accepted */
    cfg = load_with("[limits]\nmax_headers = 8\nmax_identifier_bytes = 8\n"
                    "max_body_bytes = 1073741824\nmax_buffered_bytes = 1073741824\n",
                    SS_OK);
    assert_int_equal(cfg->limits.max_headers, 8);
    assert_int_equal(cfg->limits.max_identifier_bytes, 8);
    assert_int_equal(cfg->limits.max_body_bytes, 1073741824u);
    ss_config_free(cfg);

    cfg = load_with("[registry]\nrefresh = 86401\n", SS_ERR_CONFIG);
    expect_problem(cfg, 17, "refresh must be a number from 0 to 86400");
    ss_config_free(cfg);
}

static void test_client_listed_twice(void **state)
{
    (void)state;
    struct ss_config *cfg = load_with("[clients]\n"              /* 16 */
                                      "client = GOV/ima-sh/a\n"  /* 17 */
                                      "client = GOV/ima-sh/b\n"  /* 18 */
                                      "client = GOV/ima-sh/a\n", /* 19 */
                                      SS_ERR_CONFIG);
    expect_problem(cfg, 19, "listed twice");
    assert_int_equal(cfg->n_problems, 1);
    assert_int_equal(cfg->n_clients, 2);
    assert_int_equal(cfg->clients[0].line, 17);
    ss_config_free(cfg);
}

static void test_bad_clients(void **state)
{
    (void)state;
    struct ss_config *cfg = load_with("[clients]\n"                /* 16 */
                                      "client = GOV\n"             /* 17 */
                                      "client = GOV/a b\n"         /* 18 */
                                      "client = DE-NORD/GOV/a/b\n" /* 19 */
                                      "client = GOV//sub\n"        /* 20 */
                                      "client = GOV/a%2Fb\n"       /* 21 */
                                      "client = GOV/ok\n"          /* 22 */
                                      "clients = GOV/x\n",         /* 23 */
                                      SS_ERR_CONFIG);
    expect_problem(cfg, 17, "'GOV' is not CLASS/MEMBER[/SUBSYSTEM]");
    expect_problem(cfg, 18, "is not CLASS/MEMBER[/SUBSYSTEM]");
    expect_problem(cfg, 19, "is not CLASS/MEMBER[/SUBSYSTEM]");
    expect_problem(cfg, 20, "is not CLASS/MEMBER[/SUBSYSTEM]");
    expect_problem(cfg, 21, "is not CLASS/MEMBER[/SUBSYSTEM]");
    expect_problem(cfg, 23, "unknown key 'clients' in [clients]");
    assert_int_equal(cfg->n_problems, 6);
    assert_int_equal(cfg->n_clients, 1);
    assert_string_equal(cfg->clients[0].id.member_code, "ok");
    ss_config_free(cfg);
}

static void test_bad_services(void **state)
{
    (void)state;
    struct ss_config *cfg =
        load_with("[services]\n"                                     /* 16 */
                  "MUN/13004000/melde/ftp = ftp://backend/x\n"       /* 17 */
                  "MUN/13004000/melde/rel = /relative\n"             /* 18 */
                  "MUN/13004000/melde/file = file:///etc/passwd\n"   /* 19 */
                  "MUN/13004000/persons = http://backend/x\n"        /* 20: no subsystem */
                  "persons = http://backend/x\n"                     /* 21 */
                  "MUN/13004000/melde/bad code = http://backend/x\n" /* 22 */
                  "MUN/13004000/melde/ok = http://backend/ok\n"      /* 23 */
                  "MUN/13004000/melde/ok = http://backend/other\n",  /* 24 */
                  SS_ERR_CONFIG);
    expect_problem(cfg, 17, "service URL must start with http:// or https://");
    expect_problem(cfg, 18, "service URL must start with http:// or https://");
    expect_problem(cfg, 19, "service URL must start with http:// or https://");
    expect_problem(cfg, 20, "is not CLASS/MEMBER/SUBSYSTEM/SERVICE");
    expect_problem(cfg, 21, "is not CLASS/MEMBER/SUBSYSTEM/SERVICE");
    expect_problem(cfg, 22, "is not CLASS/MEMBER/SUBSYSTEM/SERVICE");
    expect_problem(cfg, 24, "[services] MUN/13004000/melde/ok is given again (first at line 23)");
    assert_int_equal(cfg->n_problems, 7);
    assert_int_equal(cfg->n_services, 1);
    assert_string_equal(cfg->services[0].url, "http://backend/ok");
    ss_config_free(cfg);
}

/* A service over https:// is trusted through [service-tls] ca alone; its certificate and key
 * go together. */
static void test_service_tls(void **state)
{
    (void)state;
    struct ss_config *cfg = load_with("[services]\n"                                   /* 16 */
                                      "MUN/13004000/melde/a = https://backend/a\n"      /* 17 */
                                      "MUN/13004000/melde/b = http://backend/b\n"       /* 18 */
                                      "[service-tls]\n"                                 /* 19 */
                                      "ca =\n"                                          /* 20 */
                                      "certificate = /etc/secsrv/internal-chain.pem\n", /* 21 */
                                      SS_ERR_CONFIG);
    expect_problem(cfg, 17, "service URL is https:// but [service-tls] ca is not set");
    expect_problem(cfg, 0, "[service-tls] key is required");
    assert_int_equal(cfg->n_problems, 2);
    assert_null(cfg->service_tls_ca);
    ss_config_free(cfg);
    cfg = load_with("[services]\n"                              /* 16 */
                    "MUN/13004000/melde/a = https://backend/a\n" /* 17 */
                    "[service-tls]\n"                            /* 18 */
                    "ca = /etc/secsrv/services-ca.pem\n",        /* 19 */
                    SS_OK);
    assert_string_equal(cfg->service_tls_ca, "/etc/secsrv/services-ca.pem");
    assert_null(cfg->service_tls_cert);
    ss_config_free(cfg);
}

static void test_bad_server_section(void **state)
{
    (void)state;
    write_conf("[server]\n"             /* 1 */
               "owner = GOV/ima-sh\n"   /* 2: before instance */
               "instance = DE NORD\n"   /* 3 */
               "code = ss/kiel\n"       /* 4 */
               "instance = DE-NORD\n"); /* 5: a second value is no second chance */
    struct ss_config *cfg = NULL;
    assert_int_equal(ss_config_load(path, &cfg), SS_ERR_CONFIG);
    expect_problem(cfg, 2, "owner must be CLASS/MEMBER (after instance)");
    expect_problem(cfg, 3, "instance 'DE NORD' is not a valid identifier");
    expect_problem(cfg, 4, "server code 'ss/kiel' is not a valid identifier");
    expect_problem(cfg, 5, "[server] instance is given again (first at line 3)");
    ss_config_free(cfg);
    write_conf("[server]\ninstance = DE-NORD\nowner = GOV/ima-sh/sub\n"); /* 3: a subsystem */
    assert_int_equal(ss_config_load(path, &cfg), SS_ERR_CONFIG);
    expect_problem(cfg, 3, "owner must be CLASS/MEMBER");
    ss_config_free(cfg);
}

/* One value per key and line: no second value that silently wins, no continuation line. */
static void test_one_value_per_key(void **state)
{
    (void)state;
    struct ss_config *cfg = load_with("[server]\n"                        /* 16 */
                                      "state_dir = /elsewhere\n"          /* 17: again (5) */
                                      "[tls]\n"                           /* 18 */
                                      "key = /tls.key\n"                  /* 19: again (8) */
                                      "[log]\n"                           /* 20 */
                                      "level = info\n"                    /* 21 */
                                      "  /tmp/other.key\n"                /* 22: indented */
                                      "\t; an indented comment is fine\n" /* 23 */
                                      "   \n",                            /* 24: blank */
                                      SS_ERR_CONFIG);
    expect_problem(cfg, 17, "[server] state_dir is given again (first at line 5)");
    expect_problem(cfg, 19, "[tls] key is given again (first at line 8)");
    expect_problem(cfg, 22, "an indented line");
    assert_int_equal(cfg->n_problems, 3);
    assert_string_equal(cfg->state_dir, "/var/lib/secsrv");
    ss_config_free(cfg);
    /* keys that add one more each time may repeat, but not say one thing twice */
    cfg = load_with("[clients]\nclient = GOV/ima-sh/a\nclient = GOV/ima-sh/b\n", SS_OK);
    ss_config_free(cfg);
    cfg = load_with("[clients]\n"                                        /* 16 */
                    "client = GOV/ima-sh/a\n"                            /* 17 */
                    "is_certificate_sha256 = GOV/ima-sh/a " FP_HEX "\n"  /* 18 */
                    "is_certificate_sha256 = GOV/ima-sh/a " FP_HEX "\n"  /* 19 */
                    "[log]\n"                                            /* 20 */
                    "retention = GOV/ima-sh/a 30\n"                      /* 21 */
                    "subsystem_bodies = GOV/ima-sh/a full\n"             /* 22 */
                    "retention = GOV/ima-sh/a 3000\n"                    /* 23 */
                    "subsystem_bodies = GOV/ima-sh/a metadata\n",        /* 24 */
                    SS_ERR_CONFIG);
    expect_problem(cfg, 19, "GOV/ima-sh/a is bound to an IS certificate already");
    expect_problem(cfg, 23, "retention of GOV/ima-sh/a is given again");
    expect_problem(cfg, 24, "subsystem_bodies of GOV/ima-sh/a is given again");
    assert_int_equal(cfg->n_problems, 3);
    ss_config_free(cfg);
}

/* Settings that would contradict each other when the server runs. */
static void test_contradictions(void **state)
{
    (void)state;
    struct ss_config *cfg = load_with("[timestamping]\n"               /* 16 */
                                      "interval = 3600\n"              /* 17 */
                                      "grace = 60\n"                   /* 18 */
                                      "[limits]\n"                     /* 19 */
                                      "max_body_bytes = 1048576\n"     /* 20 */
                                      "max_buffered_bytes = 524288\n", /* 21 */
                                      SS_ERR_CONFIG);
    expect_problem(cfg, 17, "interval (3600 s) must be shorter than grace (60 s)");
    expect_problem(cfg, 21, "max_buffered_bytes (524288) is below max_body_bytes (1048576)");
    ss_config_free(cfg);
    cfg = load_with("[timestamping]\ninterval = 60\ngrace = 61\n", SS_OK);
    ss_config_free(cfg);
}

static void test_missing_required(void **state)
{
    (void)state;
    write_conf("; nothing but a comment\n[log]\nlevel = warn\n");
    struct ss_config *cfg = NULL;
    assert_int_equal(ss_config_load(path, &cfg), SS_ERR_CONFIG);
    assert_non_null(cfg);
    expect_problem(cfg, 0, "[server] instance is required");
    expect_problem(cfg, 0, "[server] owner is required");
    expect_problem(cfg, 0, "[server] code is required");
    expect_problem(cfg, 0, "[server] state_dir is required");
    expect_problem(cfg, 0, "[tls] certificate is required");
    expect_problem(cfg, 0, "[tls] key is required");
    expect_problem(cfg, 0, "[registry] url is required");
    expect_problem(cfg, 0, "[registry] anchor is required");
    expect_problem(cfg, 0, "[policies] dir is required");
    expect_problem(cfg, 0, "[log] store is required");
    assert_int_equal(cfg->n_problems, 10);
    assert_string_equal(cfg->log_level, "warn");
    ss_config_free(cfg);

    /* an empty value counts as missing */
    char *text = strdup(minimal_conf);
    assert_non_null(text);
    char *key = strstr(text, "key = /k.pem");
    assert_non_null(key);
    memcpy(key, "key =       ", strlen("key = /k.pem"));
    write_conf(text);
    free(text);
    assert_int_equal(ss_config_load(path, &cfg), SS_ERR_CONFIG);
    expect_problem(cfg, 0, "[tls] key is required");
    assert_int_equal(cfg->n_problems, 1);
    ss_config_free(cfg);

    /* HTTPS for the IS needs its certificate, key and client CA */
    cfg = load_with("[client-proxy]\ntls_listen = 127.0.0.1:8443\ntls_key = /k\n", SS_ERR_CONFIG);
    expect_problem(cfg, 0, "[client-proxy] tls_certificate is required");
    expect_problem(cfg, 0, "[client-proxy] tls_client_ca is required");
    assert_false(has_problem(cfg, 0, "tls_key is required"));
    assert_int_equal(cfg->n_problems, 2);
    ss_config_free(cfg);
}

static void test_syntax_error(void **state)
{
    (void)state;
    struct ss_config *cfg = load_with("[limits]\n"                     /* 16 */
                                      "max_headers = 32\n"             /* 17 */
                                      "this line has no equals sign\n" /* 18 */
                                      "[unclosed\n",                   /* 19 */
                                      SS_ERR_CONFIG);
    expect_problem(cfg, 18, "syntax error");
    ss_config_free(cfg);

    write_conf("[server\ninstance = DE-NORD\n");
    cfg = NULL;
    assert_int_equal(ss_config_load(path, &cfg), SS_ERR_CONFIG);
    expect_problem(cfg, 1, "syntax error");
    ss_config_free(cfg);
}

/* A long value (a backend URL with a long path) is read whole or refused on its own line. */
static void test_long_line(void **state)
{
    (void)state;
    char extra[600];
    char segment[241];
    memset(segment, 'a', 240);
    segment[240] = '\0';
    snprintf(extra, sizeof extra,
             "[services]\n"                                               /* 16 */
             "MUN/13004000/melde/long = http://backend.example/%s/end\n", /* 17 */
             segment);
    size_t n = strlen(minimal_conf) + strlen(extra) + 1;
    char *text = malloc(n);
    assert_non_null(text);
    snprintf(text, n, "%s%s", minimal_conf, extra);
    write_conf(text);
    free(text);
    struct ss_config *cfg = NULL;
    ss_error err = ss_config_load(path, &cfg);
    assert_non_null(cfg);
    if (err == SS_OK) {
        assert_int_equal(cfg->n_services, 1);
        char want[400];
        snprintf(want, sizeof want, "http://backend.example/%s/end", segment);
        assert_string_equal(cfg->services[0].url, want);
    } else {
        /* the file has 17 lines: a problem must name line 17, not a line after it */
        expect_problem(cfg, 17, "");
        assert_false(has_problem(cfg, 18, ""));
    }
    ss_config_free(cfg);
}

static void test_file_missing(void **state)
{
    (void)state;
    char missing[300];
    snprintf(missing, sizeof missing, "%s/nope.conf", dir);
    struct ss_config *cfg = NULL;
    assert_int_equal(ss_config_load(missing, &cfg), SS_ERR_CONFIG);
    assert_non_null(cfg);
    char want[400];
    snprintf(want, sizeof want, "%s: cannot open file\n", missing);
    assert_string_equal(cfg->problems, want);
    assert_int_equal(cfg->n_problems, 1);
    ss_config_free(cfg);
}

static void test_all_problems_collected(void **state)
{
    (void)state;
    struct ss_config *cfg = load_with("[limits]\n"              /* 16 */
                                      "max_headers = 1\n"       /* 17 */
                                      "[clients]\n"             /* 18 */
                                      "client = x\n"            /* 19 */
                                      "[services]\n"            /* 20 */
                                      "A/B/C/D = gopher://x\n", /* 21 */
                                      SS_ERR_CONFIG);
    assert_int_equal(cfg->n_problems, 3);
    expect_problem(cfg, 17, "max_headers");
    expect_problem(cfg, 19, "'x'");
    expect_problem(cfg, 21, "http://");
    /* one line per problem */
    size_t lines = 0;
    for (const char *p = cfg->problems; *p; p++)
        lines += *p == '\n';
    assert_int_equal(lines, 3);
    ss_config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_fields),
        cmocka_unit_test(test_example_file),
        cmocka_unit_test(test_good_limits),
        cmocka_unit_test(test_good_clients),
        cmocka_unit_test(test_is_cert_forms),
        cmocka_unit_test(test_is_cert_too_long),
        cmocka_unit_test(test_good_services),
        cmocka_unit_test(test_config_line),
        cmocka_unit_test(test_minimal_defaults),
        cmocka_unit_test(test_unknown_keys),
        cmocka_unit_test(test_watchdog),
        cmocka_unit_test(test_bad_gathering_waits),
        cmocka_unit_test(test_bad_limits),
        cmocka_unit_test(test_client_listed_twice),
        cmocka_unit_test(test_bad_clients),
        cmocka_unit_test(test_bad_services),
        cmocka_unit_test(test_service_tls),
        cmocka_unit_test(test_bad_server_section),
        cmocka_unit_test(test_one_value_per_key),
        cmocka_unit_test(test_contradictions),
        cmocka_unit_test(test_missing_required),
        cmocka_unit_test(test_syntax_error),
        cmocka_unit_test(test_long_line),
        cmocka_unit_test(test_file_missing),
        cmocka_unit_test(test_all_problems_collected),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
