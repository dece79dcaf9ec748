/*
 * secsrv-policy: the policy author's offline tool. "check" validates policy
 * files as the daemon would load them; "explain" shows how the daemon would
 * decide one request and which rule decides it. The registry given to
 * explain is read without a signature check: it is the operator's own copy.
 */
#include "policy.h"
#include "registry.h"
#include "ss_error.h"
#include "ss_id.h"
#include "ss_xml.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define EXIT_ALLOW 0
#define EXIT_USAGE 1
#define EXIT_DENY 2

static void usage(FILE *to)
{
    fputs(
        "usage: secsrv-policy check FILE...\n"
        "       secsrv-policy explain (--dir DIR | --file FILE...) [--registry REGISTRY.xml]\n"
        "                             --client INSTANCE/CLASS/MEMBER[/SUBSYSTEM]\n"
        "                             --service INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE[/VERSION]\n"
        "                             [--purpose CODE] [--method METHOD] [--path PATH]\n"
        "                             [--at YYYY-MM-DDTHH:MM:SSZ]\n"
        "check prints 'FILE: OK (N rules)' per file or each error as 'file:line: message'\n"
        "and exits 1 on any error. explain prints 'allow' or 'deny (REASON)', the deciding\n"
        "rule and the reason, and exits 0 for allow, 2 for deny, 1 for errors.\n",
        to);
}

static void on_check_error(void *ctx, const char *file, const char *message)
{
    (void)file;
    bool *failed = ctx;
    *failed = true;
    fprintf(stderr, "%s\n", message);
}

static void on_check_ok(void *ctx, const char *file, size_t n_rules)
{
    (void)ctx;
    printf("%s: OK (%zu %s)\n", file, n_rules, n_rules == 1 ? "rule" : "rules");
}

static int cmd_check(int argc, char **argv)
{
    if (argc < 1) {
        usage(stderr);
        return EXIT_USAGE;
    }
    bool failed = false;
    struct ss_policy_report report = {
        .on_error = on_check_error, .on_file_ok = on_check_ok, .ctx = &failed};
    struct ss_policy_set *set = NULL;
    ss_error err =
        ss_policy_set_load_files_report((const char *const *)argv, (size_t)argc, &report, &set);
    if (err && !failed)
        fprintf(stderr, "%s\n", ss_errmsg());
    ss_policy_set_unref(set);
    return err ? EXIT_USAGE : EXIT_ALLOW;
}

/* Parses INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE[/VERSION]. */
static ss_error parse_service(const char *s, struct ss_service_id *out)
{
    size_t len = strlen(s);
    size_t slash[6];
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (s[i] == '/') {
            if (n == 5)
                return ss_errf(SS_ERR_BAD_IDENTIFIER, "service identifier has too many parts");
            slash[n++] = i;
        }
    if (n < 4)
        return ss_errf(SS_ERR_BAD_IDENTIFIER, "service identifier must be "
                                              "INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE[/VERSION]");
    memset(out, 0, sizeof *out);
    ss_error err = ss_client_id_parse(s, slash[3], SS_ID_PART_MAX, true, &out->provider);
    if (err)
        return err;
    size_t code_end = n == 5 ? slash[4] : len;
    err = ss_id_part_decode(s + slash[3] + 1, code_end - slash[3] - 1, SS_ID_PART_MAX,
                            out->service_code);
    if (err)
        return err;
    if (n == 5)
        return ss_id_part_decode(s + slash[4] + 1, len - slash[4] - 1, SS_ID_PART_MAX,
                                 out->service_version);
    return SS_OK;
}

struct explain_args {
    const char *dir;
    const char **files;
    size_t n_files;
    const char *registry;
    const char *client;
    const char *service;
    const char *purpose;
    const char *method;
    const char *path;
    const char *at;
};

/* Reads "--name VALUE" pairs; returns false (after a message) on misuse. */
static bool parse_explain_args(int argc, char **argv, struct explain_args *a)
{
    struct {
        const char *name;
        const char **value;
    } opts[] = {
        {"--dir", &a->dir},         {"--registry", &a->registry},
        {"--client", &a->client},   {"--service", &a->service},
        {"--purpose", &a->purpose}, {"--method", &a->method},
        {"--path", &a->path},       {"--at", &a->at},
    };
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (i + 1 >= argc) {
            fprintf(stderr, "secsrv-policy: %s needs a value\n", arg);
            return false;
        }
        const char *value = argv[++i];
        if (strcmp(arg, "--file") == 0) {
            a->files[a->n_files++] = value;
            continue;
        }
        bool known = false;
        for (size_t j = 0; j < sizeof opts / sizeof opts[0]; j++) {
            if (strcmp(arg, opts[j].name) != 0)
                continue;
            if (*opts[j].value) {
                fprintf(stderr, "secsrv-policy: %s given twice\n", arg);
                return false;
            }
            *opts[j].value = value;
            known = true;
        }
        if (!known) {
            fprintf(stderr, "secsrv-policy: unknown option %s\n", arg);
            return false;
        }
    }
    if ((a->dir != NULL) == (a->n_files > 0)) {
        fprintf(stderr, "secsrv-policy: give either --dir or --file\n");
        return false;
    }
    if (!a->client || !a->service) {
        fprintf(stderr, "secsrv-policy: --client and --service are required\n");
        return false;
    }
    return true;
}

static ss_error load_registry(const char *path, struct ss_registry **out)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    ss_error err = ss_file_read(path, SS_REGISTRY_MAX_BYTES, &buf, &len);
    if (err)
        return err;
    err = ss_registry_parse(path, buf, len, out);
    free(buf);
    return err;
}

static int print_decision(const struct ss_policy_decision *d)
{
    if (d->allow)
        printf("allow\n");
    else
        printf("deny (%s)\n", ss_policy_outcome_name(d->outcome));
    if (d->line > 0)
        printf("rule: %s:%ld\n", d->file, d->line);
    else
        printf("rule: none (default deny)\n");
    printf("reason: %s\n", d->reason);
    return d->allow ? EXIT_ALLOW : EXIT_DENY;
}

static int cmd_explain(int argc, char **argv)
{
    struct explain_args a = {0};
    struct ss_policy_set *set = NULL;
    struct ss_registry *registry = NULL;
    struct ss_client_id client;
    struct ss_service_id service;
    time_t now = time(NULL);
    int status = EXIT_USAGE;
    ss_error err;

    a.files = calloc((size_t)argc + 1, sizeof *a.files);
    if (!a.files) {
        fprintf(stderr, "secsrv-policy: out of memory\n");
        return EXIT_USAGE;
    }
    if (!parse_explain_args(argc, argv, &a)) {
        usage(stderr);
        goto out;
    }
    err = ss_client_id_parse(a.client, strlen(a.client), SS_ID_PART_MAX, false, &client);
    if (err) {
        fprintf(stderr, "secsrv-policy: --client: %s\n", ss_errmsg());
        goto out;
    }
    err = parse_service(a.service, &service);
    if (err) {
        fprintf(stderr, "secsrv-policy: --service: %s\n", ss_errmsg());
        goto out;
    }
    if (a.at && !ss_time_parse(a.at, &now)) {
        fprintf(stderr, "secsrv-policy: --at must be YYYY-MM-DDTHH:MM:SSZ\n");
        goto out;
    }
    if (a.dir)
        err = ss_policy_set_load_dir(a.dir, &set);
    else
        err = ss_policy_set_load_files(a.files, a.n_files, &set);
    if (err) {
        fprintf(stderr, "%s\n", ss_errmsg());
        goto out;
    }
    if (a.registry && load_registry(a.registry, &registry) != SS_OK) {
        fprintf(stderr, "%s\n", ss_errmsg());
        goto out;
    }

    struct ss_policy_request req = {
        .client = &client,
        .service = &service,
        .purpose = a.purpose,
        .method = a.method,
        .path = a.path,
        .now = now,
        .registry = registry,
    };
    struct ss_policy_decision decision;
    err = ss_policy_decide(set, &req, &decision);
    status = print_decision(&decision);
    if ((err == SS_OK) != decision.allow)
        status = EXIT_USAGE;

out:
    ss_registry_unref(registry);
    ss_policy_set_unref(set);
    free(a.files);
    return status;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_USAGE;
    }
    if (strcmp(argv[1], "check") == 0)
        return cmd_check(argc - 2, argv + 2);
    if (strcmp(argv[1], "explain") == 0)
        return cmd_explain(argc - 2, argv + 2);
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        return EXIT_ALLOW;
    }
    fprintf(stderr, "secsrv-policy: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return EXIT_USAGE;
}
