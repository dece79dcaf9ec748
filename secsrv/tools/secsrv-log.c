/*
 * secsrv-log: the data-protection officer's tool for a secsrv message log.
 * It opens the store read-only (a copy or a replica will do), never needs
 * the server's signing keys, and checks with the daemon's own code.
 *
 *   secsrv-log verify STORE --anchor FILE [--from-id N] [--to-id N] [--since T] [--until T]
 *                           [--clock-skew S] [--grace S] [--secret-key FILE]
 *   secsrv-log search STORE [--subject-key FILE] [--json] [TERM...]
 *   secsrv-log stats  STORE [--by FIELD]... [--subject-key FILE] [TERM...]
 *   secsrv-log show   STORE RECORD [--secret-key FILE]
 *   secsrv-log keygen SECRET_FILE PUBLIC_FILE
 *   secsrv-log purge  STORE [--now T] [--vacuum]
 *   secsrv-log export STORE --anchor FILE -o PACKAGE [--secret-key FILE] TERM...
 *   secsrv-log cockpit STORE --anchor FILE --subject-key FILE subject=ID [TERM...]
 *   secsrv-log unpack PACKAGE DIR
 *   secsrv-log serve  STORE... --anchor FILE --cert FILE --key FILE
 *                     (--dpo-ca FILE | --passphrase-file FILE) --audit-log FILE --reports DIR
 *                     [--listen HOST:PORT] [--subject-key FILE] [--clock-skew S] [--grace S]
 *   secsrv-log passphrase FILE
 *
 * STORE is sqlite:PATH, postgresql:CONNINFO (a libpq connection string or
 * URI: the store the nodes of one server share) or a path. A TERM is KEY=VALUE: since, until (UTC,
 * YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ), id (N or N-M), client, service
 * (exact, or a prefix ending before a '/'), query-id, purpose, status (an
 * HTTP status), error (an error type), side (client | server), subject (the
 * person's identifier: the tool computes the keyed hash the server stored,
 * with the server's subject key).
 *
 * show prints one record and its message; a message stored sealed to the
 * DPO's key is opened with the secret key (keygen makes the pair: the
 * public key goes to the server's [log] dpo_public_key). purge removes the
 * content of records past their retention deadline, as the server does on
 * its own every [log] purge_interval; it is the one command that writes.
 * export writes an evidence package (ASiC-E) of the records the terms
 * select, checkable with stock openssl (VERIFY.txt inside; see export.h);
 * unpack reads one strictly and writes its files into a new folder.
 * cockpit lists, as JSON, the exchanges that concerned one person, for the
 * citizens' data-protection cockpit (nothing of the messages' content).
 * serve runs the DPO's web console over the stores (console.h); passphrase
 * writes the hash of a passphrase (read from standard input) for a console
 * on a loopback address without DPO certificates.
 *
 * Exit status: 0 done (verify: everything holds), 1 verify found a broken
 * point, 2 bad usage or an unreadable store, 3 verify holds but warns
 * (records past the grace period without a timestamp, or timestamped more
 * than the grace period after they were logged).
 */
#include "asic.h"
#include "cockpit.h"
#include "console.h"
#include "form.h"
#include "report.h"
#include "ss_grow.h"
#include "audit.h"
#include "export.h"
#include "keys.h"
#include "registry.h"
#include "ss_error.h"
#include "ss_hex.h"
#include "ss_sha256.h"
#include "store.h"
#include "ss_xml.h"
#include "subject.h"
#include "trust.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <fcntl.h>
#include <getopt.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define USAGE                                                                                      \
    "usage: secsrv-log verify STORE --anchor FILE [--from-id N] [--to-id N] [--since T]\n"         \
    "                         [--until T] [--clock-skew S] [--grace S] [--secret-key FILE]\n"      \
    "       secsrv-log search STORE [--subject-key FILE] [--json] [TERM...]\n"                     \
    "       secsrv-log stats  STORE [--by FIELD]... [--subject-key FILE] [TERM...]\n"              \
    "       secsrv-log show   STORE RECORD [--secret-key FILE]\n"                                  \
    "       secsrv-log keygen SECRET_FILE PUBLIC_FILE\n"                                           \
    "       secsrv-log purge  STORE [--now T] [--vacuum]\n"                                        \
    "       secsrv-log export STORE --anchor FILE -o PACKAGE [--secret-key FILE] TERM...\n"        \
    "       secsrv-log cockpit STORE --anchor FILE --subject-key FILE subject=ID [TERM...]\n"      \
    "       secsrv-log unpack PACKAGE DIR\n"                                                       \
    "       secsrv-log serve  STORE... --anchor FILE --cert FILE --key FILE\n"                     \
    "                         (--dpo-ca FILE | --passphrase-file FILE) --audit-log FILE\n"         \
    "                         --reports DIR [--listen HOST:PORT] [--subject-key FILE]\n"           \
    "       secsrv-log passphrase FILE\n"                                                          \
    "STORE: sqlite:PATH, postgresql:CONNINFO or PATH;\n"                                           \
    "TERM: since=T until=T id=N[-M] client=ID service=ID\n"                                        \
    "query-id=X purpose=P status=N error=TYPE side=client|server subject=ID;\n"                    \
    "T: YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC); FIELD: client service status purpose\n"          \
    "error_type side\n"

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("secsrv-log: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return 2;
}

/* A whole decimal number in [min, max]. */
static bool parse_num(const char *s, long long min, long long max, long long *out)
{
    if (!*s || strlen(s) > 18)
        return false;
    long long v = 0;
    for (const char *p = s; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (*p - '0');
    }
    if (v < min || v > max)
        return false;
    *out = v;
    return true;
}

static int open_store_rw(const char *arg, bool writable, struct ss_store **s)
{
    char *spec = ss_store_spec(arg);
    if (!spec)
        return fail("out of memory");
    ss_error err = ss_store_open(spec, !writable, 0, s);
    free(spec);
    return err ? fail("%s", ss_errmsg()) : 0;
}

static int open_store(const char *arg, struct ss_store **s)
{
    return open_store_rw(arg, false, s);
}

/* ---- search terms ---- */

struct terms {
    struct ss_store_filter f;
    const char *subject;
};

static int parse_term(const char *term, struct terms *t)
{
    const char *eq = strchr(term, '=');
    if (!eq || eq == term || !eq[1])
        return fail("search term '%s' is not KEY=VALUE", term);
    size_t klen = (size_t)(eq - term);
    const char *v = eq + 1;
    struct ss_store_filter *f = &t->f;
#define KEY(k) (klen == sizeof k - 1 && memcmp(term, k, klen) == 0)
    long long n = 0, m = 0;
    if (KEY("since") || KEY("until")) {
        int64_t ms = 0;
        if (!ss_form_time(v, &ms))
            return fail("%.*s: '%s' is not YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ (UTC)", (int)klen,
                        term, v);
        *(KEY("since") ? &f->from_ms : &f->to_ms) = ms ? ms : 1;
    } else if (KEY("id")) {
        const char *dash = strchr(v, '-');
        char first[24];
        size_t flen = dash ? (size_t)(dash - v) : strlen(v);
        if (flen >= sizeof first)
            return fail("id: '%s' is not N or N-M", v);
        memcpy(first, v, flen);
        first[flen] = '\0';
        if (!parse_num(first, 1, INT64_MAX / 2, &n) ||
            (dash && (!parse_num(dash + 1, 1, INT64_MAX / 2, &m) || m < n)))
            return fail("id: '%s' is not N or N-M (record numbers, N <= M)", v);
        f->from_id = n;
        f->to_id = dash ? m : n;
    } else if (KEY("status")) {
        if (!parse_num(v, 100, 599, &n))
            return fail("status: '%s' is not an HTTP status (100 to 599)", v);
        f->status = (unsigned)n;
    } else if (KEY("client")) {
        f->client = v;
    } else if (KEY("service")) {
        f->service = v;
    } else if (KEY("query-id")) {
        f->query_id = v;
    } else if (KEY("purpose")) {
        f->purpose = v;
    } else if (KEY("error")) {
        f->error_type = v;
    } else if (KEY("side")) {
        if (strcmp(v, "client") != 0 && strcmp(v, "server") != 0)
            return fail("side: '%s' is neither client nor server", v);
        f->side = v;
    } else if (KEY("subject")) {
        if (!ss_subject_valid(v))
            return fail("subject: 1 to %d printable ASCII characters without spaces",
                        SS_SUBJECT_MAX);
        t->subject = v;
    } else {
        return fail("unknown search term '%.*s' (since until id client service query-id purpose "
                    "status error side subject)",
                    (int)klen, term);
    }
#undef KEY
    return 0;
}

/* The terms after the options; the subject hashed with the key file. */
static int parse_terms(int argc, char **argv, const char *key_file, struct terms *t)
{
    for (int i = 0; i < argc; i++) {
        int rc = parse_term(argv[i], t);
        if (rc)
            return rc;
    }
    if (t->f.from_ms && t->f.to_ms && t->f.to_ms <= t->f.from_ms)
        return fail("until must come after since");
    if (t->subject) {
        if (!key_file)
            return fail("subject= needs the server's subject key: --subject-key FILE");
        uint8_t key[32];
        if (sodium_init() < 0 || ss_subject_key_read(key_file, key) != SS_OK)
            return fail("%s", ss_errmsg());
        ss_subject_hash(key, t->subject, t->f.subject_hash);
        sodium_memzero(key, sizeof key);
        t->f.has_subject = true;
    }
    return 0;
}

/* ---- search ---- */

/* s as a JSON string: UTF-8 (registry names) passes, control characters are escaped. */
static void json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

struct search {
    bool json;
    uint64_t found;
};

static ss_error print_record(void *arg, const struct ss_record *r, int64_t ts_id,
                             const char *ts_path)
{
    (void)ts_path;
    struct search *s = arg;
    char when[32];
    ss_cockpit_time(r->logged_ms, when);
    if (s->json) {
        char subject[65] = "";
        if (r->has_subject)
            ss_hex_sha256_format(r->subject_hash, subject);
        printf("{\"id\":%lld,\"time\":\"%s\",\"side\":", (long long)r->id, when);
        json_string(r->side);
        printf(",\"direction\":");
        json_string(r->direction);
        const char *keys[] = {"query_id", "request_id",   "client",    "service",
                              "purpose",  "subject_hash", "error_type"};
        const char *vals[] = {r->query_id, r->request_id, r->client,    r->service,
                              r->purpose,  subject,       r->error_type};
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            printf(",\"%s\":", keys[i]);
            json_string(vals[i]);
        }
        printf(",\"status\":%u,\"retain_until\":%lld,\"content\":%s,\"timestamp\":%lld}\n",
               r->status, (long long)r->retain_until, r->message ? "true" : "false",
               (long long)ts_id);
    } else {
        if (!s->found)
            printf("%-8s %-24s %-6s %-8s %-6s %-22s %-40s %-50s %-12s %s\n", "id", "time (UTC)",
                   "side", "dir", "status", "error", "query id", "client -> service", "purpose",
                   "subject");
        char route[2 * SS_ID_STR_MAX + 8];
        snprintf(route, sizeof route, "%s -> %s", r->client, r->service);
        printf("%-8lld %-24s %-6s %-8s %-6u %-22s %-40s %-50s %-12s %s\n", (long long)r->id, when,
               r->side, r->direction, r->status, r->error_type[0] ? r->error_type : "-",
               r->query_id, route, r->purpose[0] ? r->purpose : "-", r->has_subject ? "yes" : "-");
    }
    s->found++;
    return SS_OK;
}

static int cmd_search(int argc, char **argv)
{
    static const struct option opts[] = {{"subject-key", required_argument, NULL, 'k'},
                                         {"json", no_argument, NULL, 'j'},
                                         {NULL, 0, NULL, 0}};
    const char *key_file = NULL;
    struct search s = {0};
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'k')
            key_file = optarg;
        else if (c == 'j')
            s.json = true;
        else
            return fail("search: bad option\n%s", USAGE);
    }
    if (optind >= argc)
        return fail("search: which store?\n%s", USAGE);
    const char *store = argv[optind++];
    struct terms t = {0};
    int rc = parse_terms(argc - optind, argv + optind, key_file, &t);
    struct ss_store *st = NULL;
    if (rc || (rc = open_store(store, &st)))
        return rc;
    ss_error err = ss_store_search(st, &t.f, print_record, &s);
    ss_store_close(st);
    if (err)
        return fail("%s", ss_errmsg());
    fflush(stdout);
    if (!s.json)
        fprintf(stderr, "%llu record(s)\n", (unsigned long long)s.found);
    return 0;
}

/* ---- stats ---- */

static ss_error print_count(void *arg, const char *value, uint64_t count)
{
    (void)arg;
    printf("  %10llu  %s\n", (unsigned long long)count, value[0] ? value : "-");
    return SS_OK;
}

static int cmd_stats(int argc, char **argv)
{
    static const struct option opts[] = {{"by", required_argument, NULL, 'b'},
                                         {"subject-key", required_argument, NULL, 'k'},
                                         {NULL, 0, NULL, 0}};
    static const char *const fields[] = {"client",  "service",    "status",
                                         "purpose", "error_type", "side"};
    const char *by[8];
    size_t n_by = 0;
    const char *key_file = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'k') {
            key_file = optarg;
        } else if (c == 'b') {
            bool known = false;
            for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
                known |= strcmp(optarg, fields[i]) == 0;
            if (!known)
                return fail("stats: cannot count by '%s' (client service status purpose "
                            "error_type side)",
                            optarg);
            if (n_by == sizeof by / sizeof by[0])
                return fail("stats: too many --by");
            by[n_by++] = optarg;
        } else {
            return fail("stats: bad option\n%s", USAGE);
        }
    }
    if (optind >= argc)
        return fail("stats: which store?\n%s", USAGE);
    const char *store = argv[optind++];
    struct terms t = {0};
    int rc = parse_terms(argc - optind, argv + optind, key_file, &t);
    struct ss_store *st = NULL;
    if (rc || (rc = open_store(store, &st)))
        return rc;
    if (!n_by)
        for (size_t i = 0; i < 4; i++)
            by[n_by++] = fields[i];
    ss_error err = SS_OK;
    for (size_t i = 0; i < n_by && !err; i++) {
        printf("records by %s:\n", by[i]);
        err = ss_store_count(st, &t.f, by[i], print_count, NULL);
    }
    ss_store_close(st);
    return err ? fail("%s", ss_errmsg()) : 0;
}

/* ---- verify ---- */

static int cmd_verify(int argc, char **argv)
{
    static const struct option opts[] = {{"anchor", required_argument, NULL, 'a'},
                                         {"from-id", required_argument, NULL, 'f'},
                                         {"to-id", required_argument, NULL, 't'},
                                         {"since", required_argument, NULL, 's'},
                                         {"until", required_argument, NULL, 'u'},
                                         {"clock-skew", required_argument, NULL, 'c'},
                                         {"secret-key", required_argument, NULL, 'k'},
                                         {"grace", required_argument, NULL, 'g'},
                                         {NULL, 0, NULL, 0}};
    const char *anchor_file = NULL, *secret_file = NULL;
    struct ss_audit_options o = {.clock_skew = 300, .grace = 14400};
    long long n = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'a':
            anchor_file = optarg;
            break;
        case 'f':
        case 't':
            if (!parse_num(optarg, 1, INT64_MAX / 2, &n))
                return fail("verify: --%s: '%s' is not a record number",
                            c == 'f' ? "from-id" : "to-id", optarg);
            *(c == 'f' ? &o.from_id : &o.to_id) = n;
            break;
        case 's':
        case 'u':
            if (!ss_form_time(optarg, c == 's' ? &o.from_ms : &o.to_ms))
                return fail("verify: --%s: '%s' is not YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ",
                            c == 's' ? "since" : "until", optarg);
            break;
        case 'c':
            if (!parse_num(optarg, 0, 86400, &n))
                return fail("verify: --clock-skew: '%s' is not 0 to 86400 seconds", optarg);
            o.clock_skew = (unsigned)n;
            break;
        case 'g':
            if (!parse_num(optarg, 0, 31 * 86400, &n))
                return fail("verify: --grace: '%s' is not 0 to 2678400 seconds", optarg);
            o.grace = (unsigned)n;
            break;
        case 'k':
            secret_file = optarg;
            break;
        default:
            return fail("verify: bad option\n%s", USAGE);
        }
    }
    if (optind + 1 != argc)
        return fail("verify: one store\n%s", USAGE);
    if (!anchor_file)
        return fail("verify: --anchor FILE: the registry authority's certificate is needed to "
                    "check the registries kept in the log");
    if (o.from_id && o.to_id && o.to_id < o.from_id)
        return fail("verify: --to-id is before --from-id");
    o.now = (int64_t)time(NULL);
    uint8_t *secret = NULL;
    if (secret_file && ss_dpo_secret_read(secret_file, &secret, o.dpo_public) != SS_OK)
        return fail("%s", ss_errmsg());
    o.dpo_secret = secret;
    struct ss_reg_anchor anchor = {0};
    if (ss_reg_anchor_load(anchor_file, &anchor) != SS_OK) {
        ss_dpo_secret_free(secret);
        return fail("%s", ss_errmsg());
    }
    struct ss_store *st = NULL;
    int rc = open_store(argv[optind], &st);
    if (rc) {
        ss_dpo_secret_free(secret);
        ss_reg_anchor_cleanup(&anchor);
        return rc;
    }
    struct ss_audit_report rep;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ss_error err = ss_audit_verify(st, &anchor, &o, &rep);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    ss_store_close(st);
    ss_reg_anchor_cleanup(&anchor);
    ss_dpo_secret_free(secret);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    struct ss_page text;
    ss_page_init(&text, 1 << 20);
    ss_report_text(&rep, err, o.grace, secs, &text);
    if (text.data)
        fputs(text.data, stdout);
    ss_page_cleanup(&text);
    if (err == SS_ERR_BAD_SIGNATURE && rep.broken[0])
        return 1;
    if (err)
        return fail("%s", ss_errmsg());
    return ss_audit_warned(&rep) ? 3 : 0;
}

/* ---- show, keygen, purge ---- */

struct show {
    const uint8_t *secret;
    uint8_t public_key[32];
    bool found;
    int rc;
};

static ss_error show_record(void *arg, const struct ss_record *r, int64_t ts_id,
                            const char *ts_path)
{
    struct show *sh = arg;
    sh->found = true;
    char when[32], hex[65];
    ss_cockpit_time(r->logged_ms, when);
    printf("record: %lld\nlogged: %s\nside: %s\ndirection: %s\nquery-id: %s\nrequest-id: %s\n"
           "client: %s\nservice: %s\npurpose: %s\nstatus: %u\nerror: %s\n",
           (long long)r->id, when, r->side, r->direction, r->query_id, r->request_id, r->client,
           r->service, r->purpose[0] ? r->purpose : "-", r->status,
           r->error_type[0] ? r->error_type : "-");
    if (r->has_subject)
        ss_hex_sha256_format(r->subject_hash, hex);
    printf("subject-hash: %s\n", r->has_subject ? hex : "-");
    ss_time_format((time_t)r->retain_until, when);
    printf("retain-until: %s\n", when);
    ss_hex_sha256_format(r->hash, hex);
    printf("hash: %s\ntimestamp: %lld\ntimestamp-path: %s\nsignature-path: %s\n", hex,
           (long long)ts_id, ts_id ? ts_path : "-", r->sig_path[0] ? r->sig_path : "-");
    if (r->manifest)
        printf("manifest:\n%.*s", (int)r->manifest_len, (const char *)r->manifest);
    if (!r->message) {
        printf("message: %s\n", r->has_content && !r->has_salt ? "(purged after its retention "
                                                                 "deadline)"
                                                               : "(not logged: metadata only)");
        return SS_OK;
    }
    const uint8_t *m = r->message;
    size_t len = r->message_len;
    uint8_t *plain = NULL;
    if (r->sealed) {
        if (!sh->secret) {
            printf("message: (sealed to the DPO's key: --secret-key FILE opens it)\n");
            return SS_OK;
        }
        if (ss_dpo_open(sh->public_key, sh->secret, r->message, r->message_len, &plain, &len)) {
            sh->rc = fail("record %lld: %s", (long long)r->id, ss_errmsg());
            return SS_OK;
        }
        m = plain;
    }
    printf("message (%zu bytes):\n", len);
    fwrite(m, 1, len, stdout);
    printf("\n");
    if (plain)
        ss_dpo_plain_free(plain, len);
    return SS_OK;
}

static int cmd_show(int argc, char **argv)
{
    static const struct option opts[] = {{"secret-key", required_argument, NULL, 'k'},
                                         {NULL, 0, NULL, 0}};
    const char *secret_file = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c != 'k')
            return fail("show: bad option\n%s", USAGE);
        secret_file = optarg;
    }
    long long id = 0;
    if (optind + 2 != argc)
        return fail("show: STORE RECORD\n%s", USAGE);
    if (!parse_num(argv[optind + 1], 1, INT64_MAX / 2, &id))
        return fail("show: '%s' is not a record number", argv[optind + 1]);
    struct show sh = {0};
    uint8_t *secret = NULL;
    if (secret_file && ss_dpo_secret_read(secret_file, &secret, sh.public_key) != SS_OK)
        return fail("%s", ss_errmsg());
    sh.secret = secret;
    struct ss_store *st = NULL;
    int rc = open_store(argv[optind], &st);
    if (!rc) {
        ss_error err = ss_store_each(st, id, id, show_record, &sh);
        ss_store_close(st);
        if (err)
            rc = fail("%s", ss_errmsg());
        else if (!sh.found)
            rc = fail("no record %lld in the log", id);
        else
            rc = sh.rc;
    }
    ss_dpo_secret_free(secret);
    return rc;
}

static int cmd_keygen(int argc, char **argv)
{
    if (argc != 3)
        return fail("keygen: SECRET_FILE PUBLIC_FILE\n%s", USAGE);
    if (ss_dpo_keygen(argv[1], argv[2]) != SS_OK)
        return fail("%s", ss_errmsg());
    printf("secret key in %s (keep it with the DPO, never on the server); public key in %s (the "
           "server's [log] dpo_public_key)\n",
           argv[1], argv[2]);
    return 0;
}

static int cmd_purge(int argc, char **argv)
{
    static const struct option opts[] = {{"now", required_argument, NULL, 'n'},
                                         {"vacuum", no_argument, NULL, 'v'},
                                         {NULL, 0, NULL, 0}};
    int64_t now_ms = (int64_t)time(NULL) * 1000;
    bool vacuum = false;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'n' && !ss_form_time(optarg, &now_ms))
            return fail("purge: --now: '%s' is not YYYY-MM-DD or YYYY-MM-DDTHH:MM:SSZ", optarg);
        else if (c == 'v')
            vacuum = true;
        else if (c != 'n')
            return fail("purge: bad option\n%s", USAGE);
    }
    if (optind + 1 != argc)
        return fail("purge: one store\n%s", USAGE);
    if (now_ms > (int64_t)time(NULL) * 1000)
        return fail("purge: --now must not be in the future (content is purged only once its "
                    "retention deadline has passed)");
    struct ss_store *st = NULL;
    int rc = open_store_rw(argv[optind], true, &st);
    if (rc)
        return rc;
    uint64_t purged = 0, kept = 0;
    ss_error err = ss_store_purge(st, now_ms / 1000, &purged, &kept);
    if (!err && vacuum)
        err = ss_store_vacuum(st);
    ss_store_close(st);
    /* what was purged before an error is gone all the same: said first */
    if (!err || purged)
        printf("content of %llu records past their retention deadline purged%s\n",
               (unsigned long long)purged, vacuum && !err ? "; store file rewritten" : "");
    if (err)
        return fail("%s", ss_errmsg());
    if (kept)
        printf("%llu records of schema version 1 past their deadline keep their content (their "
               "hash covers it)\n",
               (unsigned long long)kept);
    return 0;
}

/* ---- export, unpack ---- */

/* a record brings up to some 45 files (its evidence, and a file per step of its two trees'
 * paths): a thousand stay within the 65,535 entries of a package (SS_ASIC_MAX_ENTRIES) */
#define EXPORT_MAX_RECORDS 1000

struct exporting {
    struct ss_export *x;
    size_t n;
};

static ss_error export_one(void *arg, const struct ss_record *r, int64_t ts_id, const char *ts_path)
{
    struct exporting *e = arg;
    if (++e->n > EXPORT_MAX_RECORDS)
        return ss_errf(SS_ERR_TOO_LARGE,
                       "the terms select more than %d records: narrow them for one package",
                       EXPORT_MAX_RECORDS);
    return ss_export_record(e->x, r, ts_id, ts_path);
}

/* Writes len bytes to a new file path (mode 0600); nothing is overwritten. */
static int write_new(const char *path, const uint8_t *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    bool ok = fd >= 0;
    for (size_t done = 0; ok && done < len;) {
        ssize_t n = write(fd, data + done, len - done);
        ok = n > 0;
        done += ok ? (size_t)n : 0;
    }
    ok = ok && fsync(fd) == 0;
    int saved = errno;
    if (fd >= 0)
        close(fd);
    if (!ok) {
        if (fd >= 0)
            (void)unlink(path);
        return fail("%s: cannot write: %s", path, strerror(saved));
    }
    return 0;
}

/* Common to export and cockpit: the store, the registries it keeps and the terms. */
struct review {
    struct ss_store *store;
    struct ss_reg_anchor anchor;
    struct ss_kept_registries *kept;
    struct terms terms;
};

static void review_close(struct review *v)
{
    ss_kept_registries_free(v->kept);
    v->kept = NULL;
    ss_store_close(v->store);
    v->store = NULL;
    ss_reg_anchor_cleanup(&v->anchor);
}

static int review_open(const char *store, const char *anchor_file, int argc, char **argv,
                       const char *key_file, struct review *v)
{
    memset(v, 0, sizeof *v);
    if (!anchor_file)
        return fail("--anchor FILE: the registry authority's certificate is needed to use the "
                    "registries kept in the log");
    int rc = parse_terms(argc, argv, key_file, &v->terms);
    if (rc)
        return rc;
    if (ss_reg_anchor_load(anchor_file, &v->anchor) != SS_OK)
        return fail("%s", ss_errmsg());
    if ((rc = open_store(store, &v->store))) {
        review_close(v);
        return rc;
    }
    if (ss_kept_registries_load(v->store, &v->anchor, &v->kept) != SS_OK) {
        rc = fail("%s", ss_errmsg());
        review_close(v);
    }
    return rc;
}

static int cmd_export(int argc, char **argv)
{
    static const struct option opts[] = {{"anchor", required_argument, NULL, 'a'},
                                         {"output", required_argument, NULL, 'o'},
                                         {"secret-key", required_argument, NULL, 'k'},
                                         {NULL, 0, NULL, 0}};
    const char *anchor_file = NULL, *output = NULL, *secret_file = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
        if (c == 'a')
            anchor_file = optarg;
        else if (c == 'o')
            output = optarg;
        else if (c == 'k')
            secret_file = optarg;
        else
            return fail("export: bad option\n%s", USAGE);
    }
    if (!output)
        return fail("export: -o PACKAGE: where to write the package");
    if (optind + 1 >= argc)
        return fail("export: STORE and at least one term (id=N for one record)\n%s", USAGE);
    const char *store = argv[optind++];
    uint8_t public_key[32] = {0};
    uint8_t *secret = NULL;
    if (secret_file && ss_dpo_secret_read(secret_file, &secret, public_key) != SS_OK)
        return fail("%s", ss_errmsg());
    struct review v;
    int rc = review_open(store, anchor_file, argc - optind, argv + optind, NULL, &v);
    if (rc) {
        ss_dpo_secret_free(secret);
        return rc;
    }
    struct exporting e = {0};
    uint8_t *zip = NULL;
    size_t len = 0, records = 0;
    ss_error err = ss_export_new(v.store, v.kept, secret, public_key, &e.x);
    v.terms.f.paths = true; /* each record goes with its inclusion path */
    if (!err)
        err = ss_store_search(v.store, &v.terms.f, export_one, &e);
    if (!err)
        err = ss_export_finish(e.x, &zip, &len, &records);
    ss_export_free(e.x);
    review_close(&v);
    ss_dpo_secret_free(secret);
    if (err)
        return fail("export: %s", ss_errmsg());
    rc = write_new(output, zip, len);
    free(zip);
    if (!rc)
        printf("%zu record(s) in %s (%zu bytes); unpack it and run 'sh -e VERIFY.txt' in it\n",
               records, output, len);
    return rc;
}

/* Makes the folders of path (each 0700) that do not exist yet. */
static int make_parents(const char *path)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", path);
    for (char *p = strchr(tmp + 1, '/'); p; p = strchr(p + 1, '/')) {
        *p = '\0';
        if (mkdir(tmp, 0700) != 0 && errno != EEXIST)
            return fail("%s: %s", tmp, strerror(errno));
        *p = '/';
    }
    return 0;
}

/* The SHA-256 fingerprints of the package's trust anchors, to compare with the federation's. */
static void print_anchors(const struct ss_asic_entry *entries, size_t n)
{
    static const char *const files[] = {"ca-chain.pem", "ocsp.pem", "tsa.pem"};
    printf("trust anchors in the package (compare them with those the federation publishes):\n");
    for (size_t f = 0; f < sizeof files / sizeof files[0]; f++)
        for (size_t i = 0; i < n; i++) {
            if (strcmp(entries[i].name, files[f]) != 0)
                continue;
            BIO *b = BIO_new_mem_buf(entries[i].data, (int)entries[i].len);
            X509 *x = NULL;
            while (b && (x = PEM_read_bio_X509(b, NULL, NULL, NULL))) {
                unsigned char *der = NULL;
                int len = i2d_X509(x, &der);
                char hex[65] = "?", name[256] = "?";
                uint8_t fp[32];
                if (len > 0) {
                    ss_sha256(der, (size_t)len, fp);
                    ss_hex_sha256_format(fp, hex);
                }
                X509_NAME_oneline(X509_get_subject_name(x), name, sizeof name);
                printf("  %-12s %s %s\n", files[f], hex, name);
                OPENSSL_free(der);
                X509_free(x);
            }
            ERR_clear_error();
            BIO_free(b);
        }
}

static int cmd_unpack(int argc, char **argv)
{
    if (argc != 3)
        return fail("unpack: PACKAGE DIR\n%s", USAGE);
    uint8_t *zip = NULL;
    size_t len = 0;
    if (ss_file_read(argv[1], SS_ASIC_MAX_BYTES, &zip, &len) != SS_OK)
        return fail("%s", ss_errmsg());
    struct ss_asic_entry *entries = NULL;
    size_t n = 0;
    if (ss_asic_read(zip, len, &entries, &n) != SS_OK) {
        free(zip);
        return fail("%s: %s", argv[1], ss_errmsg());
    }
    int rc = 0;
    const struct ss_asic_entry *script = NULL;
    for (size_t i = 0; i < n; i++)
        if (strcmp(entries[i].name, "VERIFY.txt") == 0)
            script = &entries[i];
    if (!script)
        rc = fail("%s: no VERIFY.txt: not a package secsrv-log export wrote", argv[1]);
    else if (ss_export_script_check((const char *)script->data, script->len) != SS_OK)
        rc = fail("%s: %s", argv[1], ss_errmsg());
    if (!rc && mkdir(argv[2], 0700) != 0)
        rc = fail("%s: cannot make the folder (it must not exist yet): %s", argv[2],
                  strerror(errno));
    for (size_t i = 0; !rc && i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[2], entries[i].name);
        if (!(rc = make_parents(path)))
            rc = write_new(path, entries[i].data, entries[i].len);
    }
    if (!rc) {
        printf("%zu files of %s in %s; VERIFY.txt holds only the commands export writes\n", n,
               argv[1], argv[2]);
        print_anchors(entries, n);
    }
    free(entries);
    free(zip);
    return rc;
}

/* ---- cockpit ---- */

/* One exchange concerning the person: its request record and, when logged, its answer's. */
static int cmd_cockpit(int argc, char **argv)
{
    static const struct option opts[] = {{"anchor", required_argument, NULL, 'a'},
                                         {"subject-key", required_argument, NULL, 'k'},
                                         {NULL, 0, NULL, 0}};
    const char *anchor_file = NULL, *key_file = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        if (c == 'a')
            anchor_file = optarg;
        else if (c == 'k')
            key_file = optarg;
        else
            return fail("cockpit: bad option\n%s", USAGE);
    }
    if (optind + 1 >= argc)
        return fail("cockpit: STORE subject=ID\n%s", USAGE);
    const char *store = argv[optind++];
    struct review v;
    int rc = review_open(store, anchor_file, argc - optind, argv + optind, key_file, &v);
    if (rc)
        return rc;
    if (!v.terms.f.has_subject) {
        review_close(&v);
        return fail("cockpit: subject=ID: whose exchanges?");
    }
    struct ss_cockpit k;
    ss_error err = ss_cockpit_collect(v.store, &v.terms.f, &k);
    if (err) {
        review_close(&v);
        return fail("%s", ss_errmsg());
    }
    struct ss_page out;
    ss_page_init(&out, SIZE_MAX / 2);
    ss_cockpit_json(&k, v.kept, (int64_t)time(NULL) * 1000, &out);
    size_t len = 0;
    char *json = ss_page_take(&out, &len);
    if (json)
        fwrite(json, 1, len, stdout);
    free(json);
    fflush(stdout);
    fprintf(stderr, "%zu exchange(s)\n", k.n);
    ss_cockpit_cleanup(&k);
    review_close(&v);
    return json ? 0 : fail("cockpit: out of memory");
}

/* ---- the console ---- */

static int cmd_serve(int argc, char **argv)
{
    static const struct option opts[] = {{"listen", required_argument, NULL, 'l'},
                                         {"cert", required_argument, NULL, 'c'},
                                         {"key", required_argument, NULL, 'k'},
                                         {"dpo-ca", required_argument, NULL, 'd'},
                                         {"passphrase-file", required_argument, NULL, 'p'},
                                         {"audit-log", required_argument, NULL, 'u'},
                                         {"anchor", required_argument, NULL, 'a'},
                                         {"subject-key", required_argument, NULL, 's'},
                                         {"reports", required_argument, NULL, 'r'},
                                         {"clock-skew", required_argument, NULL, 'S'},
                                         {"grace", required_argument, NULL, 'g'},
                                         {NULL, 0, NULL, 0}};
    struct ss_console_options o = {.listen = "127.0.0.1:8443", .clock_skew = 300, .grace = 14400};
    long long n = 0;
    int c;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'l':
            o.listen = optarg;
            break;
        case 'c':
            o.cert_file = optarg;
            break;
        case 'k':
            o.key_file = optarg;
            break;
        case 'd':
            o.dpo_ca_file = optarg;
            break;
        case 'p':
            o.passphrase_file = optarg;
            break;
        case 'u':
            o.audit_file = optarg;
            break;
        case 'a':
            o.anchor_file = optarg;
            break;
        case 's':
            o.subject_key_file = optarg;
            break;
        case 'r':
            o.reports_dir = optarg;
            break;
        case 'S':
        case 'g':
            if (!parse_num(optarg, 0, c == 'S' ? 86400 : 31 * 86400, &n))
                return fail("serve: --%s: '%s' is not a number of seconds in range",
                            c == 'S' ? "clock-skew" : "grace", optarg);
            *(c == 'S' ? &o.clock_skew : &o.grace) = (unsigned)n;
            break;
        default:
            return fail("serve: bad option\n%s", USAGE);
        }
    }
    for (; optind < argc; optind++) {
        if (o.n_stores == SS_CONSOLE_MAX_LOGS)
            return fail("serve: at most %d stores", SS_CONSOLE_MAX_LOGS);
        o.stores[o.n_stores++] = argv[optind];
    }
    ss_error err = ss_console_run(&o);
    return err ? fail("%s", ss_errmsg()) : 0;
}

static int cmd_passphrase(int argc, char **argv)
{
    if (argc != 2)
        return fail("passphrase: FILE (the passphrase is read from standard input)\n%s", USAGE);
    char *line = sodium_malloc(1024);
    if (!line)
        return fail("out of memory");
    bool got = fgets(line, 1024, stdin) != NULL;
    if (got)
        line[strcspn(line, "\r\n")] = '\0';
    ss_error err = got ? ss_console_passphrase(argv[1], line)
                       : ss_errf(SS_ERR_CONFIG, "passphrase: nothing on standard input");
    sodium_free(line);
    if (err)
        return fail("%s", ss_errmsg());
    printf("%s: the passphrase's hash (Argon2id); give it to secsrv-log serve "
           "--passphrase-file\n",
           argv[1]);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return fail("which command?\n%s", USAGE);
    const char *cmd = argv[1];
    if (strcmp(cmd, "-h") == 0 || strcmp(cmd, "--help") == 0) {
        fputs(USAGE, stdout);
        return 0;
    }
    if (sodium_init() < 0)
        return fail("libsodium cannot start");
    static const struct {
        const char *name;
        int (*run)(int, char **);
    } commands[] = {{"verify", cmd_verify}, {"search", cmd_search},        {"stats", cmd_stats},
                    {"show", cmd_show},     {"keygen", cmd_keygen},        {"purge", cmd_purge},
                    {"export", cmd_export}, {"unpack", cmd_unpack},        {"cockpit", cmd_cockpit},
                    {"serve", cmd_serve},   {"passphrase", cmd_passphrase}};
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (strcmp(cmd, commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    return fail("unknown command '%s'\n%s", cmd, USAGE);
}
