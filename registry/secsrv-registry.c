/*
 * secsrv-registry: the registry authority's tool. Creates and edits the
 * members registry document, signs it (detached CMS), verifies a signed
 * document the way a security server does, and lists it.
 *
 * Exit status: 0 success, 1 error (one line on stderr), 2 usage.
 */
#include "certfile.h"
#include "editor.h"
#include "listing.h"
#include "registry.h"
#include "ss_xml.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define PROG "secsrv-registry"
#define EXIT_USAGE 2
#define MAX_POSITIONAL 4
#define MAX_REPEAT 16
#define PATH_MAX_LEN 4096

static const char usage_text[] =
    "usage: " PROG " -f FILE COMMAND ...\n"
    "  init --instance ID [--validity-days N] [--ocsp-freshness S]\n"
    "       [--timestamping-interval S] [--refresh-interval S]\n"
    "  add member-class CODE DESCRIPTION\n"
    "  add member CLASS/CODE --name NAME --state SH|MV\n"
    "  add subsystem CLASS/CODE/SUBSYSTEM\n"
    "  add server OWNERCLASS/OWNERCODE SERVERCODE --address HOST:PORT\n"
    "      (--auth-cert CERT.pem | --auth-sha256 HEX)\n"
    "  add client OWNERCLASS/OWNERCODE/SERVERCODE CLASS/CODE[/SUBSYSTEM]\n"
    "  add group CODE --description TEXT\n"
    "  add group-member CODE CLASS/CODE[/SUBSYSTEM]\n"
    "  add ca NAME --cert ROOT.pem [--intermediate INT.pem]...\n"
    "      [--ocsp-url URL --ocsp-cert OCSP.pem]\n"
    "  add tsa NAME --url URL --cert TSA.pem\n"
    "  add auth-cert OWNERCLASS/OWNERCODE/SERVERCODE (--auth-cert CERT.pem | --auth-sha256 HEX)\n"
    "      (one more TLS certificate of a server, while it rotates its certificate)\n"
    "  remove member-class CODE | member CLASS/CODE | subsystem CLASS/CODE/SUBSYSTEM\n"
    "  remove server OWNERCLASS/OWNERCODE SERVERCODE\n"
    "  remove client OWNERCLASS/OWNERCODE/SERVERCODE CLASS/CODE[/SUBSYSTEM]\n"
    "  remove group CODE | group-member CODE CLASS/CODE[/SUBSYSTEM] | ca NAME | tsa NAME\n"
    "  remove auth-cert OWNERCLASS/OWNERCODE/SERVERCODE HEX\n"
    "  set server OWNERCLASS/OWNERCODE/SERVERCODE [--address HOST:PORT]\n"
    "      [--auth-cert CERT.pem | --auth-sha256 HEX]\n"
    "  set settings [--ocsp-freshness S] [--timestamping-interval S]\n"
    "      [--registry-validity S] [--refresh-interval S]\n"
    "  sign --key KEY.pem --cert CERT.pem [--chain CHAIN.pem] [--out SIG] [--serial N]\n"
    "  verify --anchor AUTHORITY.pem [--sig SIG] [--min-serial N]\n"
    "  show [--json]\n";

/* ---- command line ---- */

struct opt {
    const char *name; /* without the leading "--" */
    bool flag;        /* takes no value */
    bool repeat;
    size_t n;
    const char *values[MAX_REPEAT];
};

struct cmdline {
    const char *pos[MAX_POSITIONAL];
    size_t n_pos;
    struct opt *opts;
    size_t n_opts;
};

static int usage_error(const char *fmt, ...) SS_PRINTF(1, 2);

static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, PROG ": ");
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, "\n%s", usage_text);
    va_end(ap);
    return EXIT_USAGE;
}

static struct opt *opt_find(struct cmdline *cl, const char *name, size_t len)
{
    for (size_t i = 0; i < cl->n_opts; i++)
        if (strlen(cl->opts[i].name) == len && strncmp(cl->opts[i].name, name, len) == 0)
            return &cl->opts[i];
    return NULL;
}

/* Splits argv into positionals and the options cl->opts allows; 0 or a usage exit. */
static int parse_args(int argc, char **argv, struct cmdline *cl)
{
    bool options_done = false;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        if (!options_done && strcmp(a, "--") == 0) {
            options_done = true;
            continue;
        }
        if (options_done || strncmp(a, "--", 2) != 0) {
            if (cl->n_pos == MAX_POSITIONAL)
                return usage_error("unexpected argument '%s'", a);
            cl->pos[cl->n_pos++] = a;
            continue;
        }
        const char *name = a + 2;
        const char *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        struct opt *o = opt_find(cl, name, len);
        if (!o)
            return usage_error("unknown option '%s'", a);
        const char *value = NULL;
        if (o->flag) {
            if (eq)
                return usage_error("option '%s' takes no value", a);
        } else if (eq) {
            value = eq + 1;
        } else if (i + 1 < argc) {
            value = argv[++i];
        } else {
            return usage_error("option '%s' needs a value", a);
        }
        if (o->n > 0 && !o->repeat)
            return usage_error("option '%s' given twice", a);
        if (o->n == MAX_REPEAT)
            return usage_error("option '%s' given too often", a);
        o->values[o->n++] = value ? value : "";
    }
    return 0;
}

static const char *opt_value(const struct cmdline *cl, const char *name)
{
    for (size_t i = 0; i < cl->n_opts; i++)
        if (strcmp(cl->opts[i].name, name) == 0)
            return cl->opts[i].n ? cl->opts[i].values[0] : NULL;
    return NULL;
}

static const struct opt *opt_get(const struct cmdline *cl, const char *name)
{
    for (size_t i = 0; i < cl->n_opts; i++)
        if (strcmp(cl->opts[i].name, name) == 0)
            return &cl->opts[i];
    return NULL;
}

/* Parses a decimal number 0..max; no sign, no spaces. */
static ss_error parse_number(const char *what, const char *s, uint64_t max, uint64_t *out)
{
    if (!s || *s < '0' || *s > '9')
        return ss_errf(SS_ERR_CONFIG, "%s must be a number, not '%.32s'", what, s ? s : "");
    char *end = NULL;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return ss_errf(SS_ERR_CONFIG, "%s must be a number from 0 to %llu, not '%.32s'", what,
                       (unsigned long long)max, s);
    *out = (uint64_t)v;
    return SS_OK;
}

/* Optional seconds option: 0 when absent. */
static ss_error seconds_opt(const struct cmdline *cl, const char *name, long *out)
{
    const char *v = opt_value(cl, name);
    uint64_t n = 0;
    *out = 0;
    if (!v)
        return SS_OK;
    char what[64];
    snprintf(what, sizeof what, "--%s", name);
    ss_error err = parse_number(what, v, (uint64_t)SS_EDITOR_MAX_SECONDS, &n);
    if (err)
        return err;
    if (n == 0)
        return ss_errf(SS_ERR_CONFIG, "%s must be at least 1 second", what);
    *out = (long)n;
    return SS_OK;
}

/* ---- reporting ---- */

/* Prints the recorded error: "FILE:..." as it is, anything else after the tool's name. */
static int fail(const char *file)
{
    const char *msg = ss_errmsg();
    size_t n = file ? strlen(file) : 0;
    if (n && strncmp(msg, file, n) == 0 && msg[n] == ':')
        fprintf(stderr, "%s\n", msg);
    else
        fprintf(stderr, PROG ": %s\n", msg[0] ? msg : "failed");
    return EXIT_FAILURE;
}

/* ---- certificates from files ---- */

struct certs {
    uint8_t *der[MAX_REPEAT];
    struct ss_editor_cert cert[MAX_REPEAT];
    size_t n;
};

static ss_error certs_load(struct certs *c, const char *path)
{
    uint8_t *der = NULL;
    size_t len = 0;
    if (c->n == MAX_REPEAT)
        return ss_errf(SS_ERR_LIMIT, "too many certificates");
    ss_error err = ss_certfile_read(path, &der, &len);
    if (err)
        return err;
    c->der[c->n] = der;
    c->cert[c->n].der = der;
    c->cert[c->n].len = len;
    c->n++;
    return SS_OK;
}

static void certs_cleanup(struct certs *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->der[i]);
    c->n = 0;
}

/* Fingerprint from --auth-cert or --auth-sha256 (exactly one, unless optional). */
static ss_error auth_fingerprint(const struct cmdline *cl, bool required, char out[65],
                                 const char **fingerprint)
{
    const char *cert = opt_value(cl, "auth-cert");
    const char *hex = opt_value(cl, "auth-sha256");
    uint8_t *der = NULL;
    size_t len = 0;
    *fingerprint = NULL;
    if (cert && hex)
        return ss_errf(SS_ERR_CONFIG, "give --auth-cert or --auth-sha256, not both");
    if (!cert && !hex)
        return required ? ss_errf(SS_ERR_CONFIG, "--auth-cert or --auth-sha256 is required")
                        : SS_OK;
    if (hex) {
        *fingerprint = hex;
        return SS_OK;
    }
    ss_error err = ss_certfile_read(cert, &der, &len);
    if (!err)
        err = ss_certfile_sha256_hex(der, len, out);
    free(der);
    if (!err)
        *fingerprint = out;
    return err;
}

/* parse_args for a command that takes options only. */
static int parse_options_only(const char *command, int argc, char **argv, struct cmdline *cl)
{
    int rc = parse_args(argc, argv, cl);
    if (rc)
        return rc;
    if (cl->n_pos)
        return usage_error("%s takes no argument '%s'", command, cl->pos[0]);
    return 0;
}

/* ---- commands ---- */

static int cmd_init(const char *file, int argc, char **argv)
{
    struct opt opts[] = {{.name = "instance"},
                         {.name = "validity-days"},
                         {.name = "ocsp-freshness"},
                         {.name = "timestamping-interval"},
                         {.name = "refresh-interval"}};
    struct cmdline cl = {.opts = opts, .n_opts = sizeof opts / sizeof opts[0]};
    int rc = parse_options_only("init", argc, argv, &cl);
    if (rc)
        return rc;
    const char *instance = opt_value(&cl, "instance");
    if (!instance)
        return usage_error("%s", "init needs --instance");
    struct ss_reg_settings s = {0};
    uint64_t days = SS_EDITOR_DEFAULT_VALIDITY_DAYS;
    const char *v = opt_value(&cl, "validity-days");
    ss_error err = SS_OK;
    if (v && !(err = parse_number("--validity-days", v, SS_EDITOR_MAX_SECONDS / 86400, &days)) &&
        days == 0)
        err = ss_errf(SS_ERR_CONFIG, "--validity-days must be at least 1");
    if (err || (err = seconds_opt(&cl, "ocsp-freshness", &s.ocsp_freshness)) ||
        (err = seconds_opt(&cl, "timestamping-interval", &s.timestamping_interval)) ||
        (err = seconds_opt(&cl, "refresh-interval", &s.refresh_interval)))
        return fail(file);
    s.registry_validity = (long)(days * 86400);
    if (!s.ocsp_freshness)
        s.ocsp_freshness = SS_EDITOR_DEFAULT_OCSP_FRESHNESS;
    if (!s.timestamping_interval)
        s.timestamping_interval = SS_EDITOR_DEFAULT_TIMESTAMPING_INTERVAL;
    if (!s.refresh_interval)
        s.refresh_interval = SS_EDITOR_DEFAULT_REFRESH_INTERVAL;
    if (ss_editor_create(file, instance, &s, time(NULL)) != SS_OK)
        return fail(file);
    return EXIT_SUCCESS;
}

/* Splits "OWNERCLASS/OWNERCODE/SERVERCODE" at its last slash. */
static ss_error split_server(const char *spec, char *owner, size_t size, const char **code)
{
    const char *slash = strrchr(spec, '/');
    size_t n = slash ? (size_t)(slash - spec) : 0;
    if (!slash || !memchr(spec, '/', n) || n >= size)
        return ss_errf(SS_ERR_BAD_IDENTIFIER,
                       "bad server '%.64s': expected OWNERCLASS/OWNERCODE/SERVERCODE", spec);
    memcpy(owner, spec, n);
    owner[n] = '\0';
    *code = slash + 1;
    return SS_OK;
}

static ss_error add_ca(struct ss_editor *ed, const struct cmdline *cl)
{
    struct certs root = {0}, inter = {0}, ocsp = {0};
    const char *cert = opt_value(cl, "cert");
    const char *ocsp_url = opt_value(cl, "ocsp-url");
    const char *ocsp_cert = opt_value(cl, "ocsp-cert");
    const struct opt *inters = opt_get(cl, "intermediate");
    ss_error err = SS_OK;
    if (!cert)
        return ss_errf(SS_ERR_CONFIG, "add ca needs --cert");
    if (!ocsp_url != !ocsp_cert)
        return ss_errf(SS_ERR_CONFIG, "--ocsp-url and --ocsp-cert go together");
    if ((err = certs_load(&root, cert)))
        goto out;
    for (size_t i = 0; inters && i < inters->n; i++)
        if ((err = certs_load(&inter, inters->values[i])))
            goto out;
    if (ocsp_cert && (err = certs_load(&ocsp, ocsp_cert)))
        goto out;
    err = ss_editor_add_ca(ed, cl->pos[1], &root.cert[0], inter.cert, inter.n, ocsp_url,
                           ocsp_cert ? &ocsp.cert[0] : NULL);
out:
    certs_cleanup(&ocsp);
    certs_cleanup(&inter);
    certs_cleanup(&root);
    return err;
}

static ss_error add_tsa(struct ss_editor *ed, const struct cmdline *cl)
{
    struct certs c = {0};
    const char *url = opt_value(cl, "url");
    const char *cert = opt_value(cl, "cert");
    if (!url || !cert)
        return ss_errf(SS_ERR_CONFIG, "add tsa needs --url and --cert");
    ss_error err = certs_load(&c, cert);
    if (!err)
        err = ss_editor_add_tsa(ed, cl->pos[1], url, &c.cert[0]);
    certs_cleanup(&c);
    return err;
}

/* One kind of object for add/remove: its positional count and what it may take. */
struct kind {
    const char *name;
    size_t add_args; /* positionals after the kind for add */
    size_t remove_args;
};

static const struct kind kinds[] = {
    {"member-class", 2, 1}, {"member", 1, 1},    {"subsystem", 1, 1},    {"server", 2, 2},
    {"client", 2, 2},       {"group", 1, 1},     {"group-member", 2, 2}, {"ca", 1, 1},
    {"tsa", 1, 1},          {"auth-cert", 1, 2},
};

static ss_error apply_add(struct ss_editor *ed, const char *kind, const struct cmdline *cl)
{
    const char *const *p = cl->pos;
    char fp[65];
    const char *fingerprint = NULL;
    ss_error err;
    if (strcmp(kind, "member-class") == 0)
        return ss_editor_add_member_class(ed, p[1], p[2]);
    if (strcmp(kind, "member") == 0) {
        const char *name = opt_value(cl, "name"), *state = opt_value(cl, "state");
        if (!name || !state)
            return ss_errf(SS_ERR_CONFIG, "add member needs --name and --state");
        return ss_editor_add_member(ed, p[1], name, state);
    }
    if (strcmp(kind, "subsystem") == 0)
        return ss_editor_add_subsystem(ed, p[1]);
    if (strcmp(kind, "server") == 0) {
        const char *address = opt_value(cl, "address");
        if (!address)
            return ss_errf(SS_ERR_CONFIG, "add server needs --address");
        if ((err = auth_fingerprint(cl, true, fp, &fingerprint)))
            return err;
        return ss_editor_add_server(ed, p[1], p[2], address, fingerprint);
    }
    if (strcmp(kind, "client") == 0)
        return ss_editor_add_client(ed, p[1], p[2]);
    if (strcmp(kind, "group") == 0) {
        const char *description = opt_value(cl, "description");
        if (!description)
            return ss_errf(SS_ERR_CONFIG, "add group needs --description");
        return ss_editor_add_group(ed, p[1], description);
    }
    if (strcmp(kind, "group-member") == 0)
        return ss_editor_add_group_member(ed, p[1], p[2]);
    if (strcmp(kind, "ca") == 0)
        return add_ca(ed, cl);
    if (strcmp(kind, "auth-cert") == 0)
        return (err = auth_fingerprint(cl, true, fp, &fingerprint))
                   ? err
                   : ss_editor_add_server_auth(ed, p[1], fingerprint);
    return add_tsa(ed, cl);
}

static ss_error apply_remove(struct ss_editor *ed, const char *kind, const struct cmdline *cl)
{
    const char *const *p = cl->pos;
    if (strcmp(kind, "member-class") == 0)
        return ss_editor_remove_member_class(ed, p[1]);
    if (strcmp(kind, "member") == 0)
        return ss_editor_remove_member(ed, p[1]);
    if (strcmp(kind, "subsystem") == 0)
        return ss_editor_remove_subsystem(ed, p[1]);
    if (strcmp(kind, "server") == 0) {
        if (cl->n_pos == 2) {
            char owner[PATH_MAX_LEN];
            const char *code = NULL;
            ss_error err = split_server(p[1], owner, sizeof owner, &code);
            return err ? err : ss_editor_remove_server(ed, owner, code);
        }
        return ss_editor_remove_server(ed, p[1], p[2]);
    }
    if (strcmp(kind, "client") == 0)
        return ss_editor_remove_client(ed, p[1], p[2]);
    if (strcmp(kind, "group") == 0)
        return ss_editor_remove_group(ed, p[1]);
    if (strcmp(kind, "group-member") == 0)
        return ss_editor_remove_group_member(ed, p[1], p[2]);
    if (strcmp(kind, "ca") == 0)
        return ss_editor_remove_ca(ed, p[1]);
    if (strcmp(kind, "auth-cert") == 0)
        return ss_editor_remove_server_auth(ed, p[1], p[2]);
    return ss_editor_remove_tsa(ed, p[1]);
}

/* add and remove: parse, open, apply, save. */
static int cmd_edit(const char *file, bool add, int argc, char **argv)
{
    struct opt opts[] = {{.name = "name"},        {.name = "state"},
                         {.name = "address"},     {.name = "auth-cert"},
                         {.name = "auth-sha256"}, {.name = "description"},
                         {.name = "cert"},        {.name = "intermediate", .repeat = true},
                         {.name = "ocsp-url"},    {.name = "ocsp-cert"},
                         {.name = "url"}};
    /* The options each kind accepts with add; remove takes none. */
    static const struct {
        const char *kind;
        const char *allowed;
    } allowed[] = {
        {"member", "name state"}, {"server", "address auth-cert auth-sha256"},
        {"group", "description"}, {"ca", "cert intermediate ocsp-url ocsp-cert"},
        {"tsa", "url cert"},      {"auth-cert", "auth-cert auth-sha256"},
    };
    struct cmdline cl = {.opts = opts, .n_opts = sizeof opts / sizeof opts[0]};
    const char *verb = add ? "add" : "remove";
    int rc = parse_args(argc, argv, &cl);
    if (rc)
        return rc;
    if (cl.n_pos == 0)
        return usage_error("%s needs a kind of object", verb);
    const char *kind = cl.pos[0];
    const struct kind *k = NULL;
    for (size_t i = 0; i < sizeof kinds / sizeof kinds[0]; i++)
        if (strcmp(kinds[i].name, kind) == 0)
            k = &kinds[i];
    if (!k)
        return usage_error("unknown kind of object '%s'", kind);
    size_t want = add ? k->add_args : k->remove_args;
    bool server_short = !add && strcmp(kind, "server") == 0 && cl.n_pos == 2;
    if (cl.n_pos != want + 1 && !server_short)
        return usage_error("wrong number of arguments for %s", verb);
    const char *accept = "";
    for (size_t i = 0; add && i < sizeof allowed / sizeof allowed[0]; i++)
        if (strcmp(allowed[i].kind, kind) == 0)
            accept = allowed[i].allowed;
    for (size_t i = 0; i < cl.n_opts; i++) {
        if (!opts[i].n)
            continue;
        const char *hit = strstr(accept, opts[i].name);
        size_t n = strlen(opts[i].name);
        if (!hit || (hit != accept && hit[-1] != ' ') || (hit[n] != '\0' && hit[n] != ' '))
            return usage_error("option --%s does not apply here", opts[i].name);
    }

    struct ss_editor *ed = NULL;
    ss_error err = ss_editor_open(file, &ed);
    if (!err)
        err = add ? apply_add(ed, kind, &cl) : apply_remove(ed, kind, &cl);
    if (!err)
        err = ss_editor_save(ed);
    ss_editor_free(ed);
    return err ? fail(file) : EXIT_SUCCESS;
}

static int cmd_set(const char *file, int argc, char **argv)
{
    struct opt opts[] = {{.name = "address"},
                         {.name = "auth-cert"},
                         {.name = "auth-sha256"},
                         {.name = "ocsp-freshness"},
                         {.name = "timestamping-interval"},
                         {.name = "registry-validity"},
                         {.name = "refresh-interval"}};
    struct cmdline cl = {.opts = opts, .n_opts = sizeof opts / sizeof opts[0]};
    int rc = parse_args(argc, argv, &cl);
    if (rc)
        return rc;
    bool server = cl.n_pos == 2 && strcmp(cl.pos[0], "server") == 0;
    bool settings = cl.n_pos == 1 && strcmp(cl.pos[0], "settings") == 0;
    if (!server && !settings)
        return usage_error("%s", "expected 'set server OWNER/SERVERCODE' or 'set settings'");
    for (size_t i = 0; i < cl.n_opts; i++)
        if (opts[i].n && (i < 3) != server)
            return usage_error("option --%s does not apply here", opts[i].name);

    struct ss_editor *ed = NULL;
    ss_error err = ss_editor_open(file, &ed);
    if (err)
        goto out;
    if (server) {
        char owner[PATH_MAX_LEN], fp[65];
        const char *code = NULL, *fingerprint = NULL;
        if (!(err = split_server(cl.pos[1], owner, sizeof owner, &code)) &&
            !(err = auth_fingerprint(&cl, false, fp, &fingerprint)))
            err = ss_editor_set_server(ed, owner, code, opt_value(&cl, "address"), fingerprint);
    } else {
        struct ss_reg_settings s = {0};
        if (!(err = seconds_opt(&cl, "ocsp-freshness", &s.ocsp_freshness)) &&
            !(err = seconds_opt(&cl, "timestamping-interval", &s.timestamping_interval)) &&
            !(err = seconds_opt(&cl, "registry-validity", &s.registry_validity)) &&
            !(err = seconds_opt(&cl, "refresh-interval", &s.refresh_interval)))
            err = ss_editor_set_settings(ed, &s);
    }
    if (!err)
        err = ss_editor_save(ed);
out:
    ss_editor_free(ed);
    return err ? fail(file) : EXIT_SUCCESS;
}

/* True if a and b name one file, in whatever spelling or through whatever link. */
static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (strcmp(a, b) == 0)
        return true;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* The signature file: given, or FILE.p7s next to the document. */
static ss_error signature_path(const char *file, const char *given, char out[PATH_MAX_LEN])
{
    int n = given ? snprintf(out, PATH_MAX_LEN, "%s", given)
                  : snprintf(out, PATH_MAX_LEN, "%s.p7s", file);
    if (n < 0 || n >= PATH_MAX_LEN)
        return ss_errf(SS_ERR_IO, "signature path too long");
    return SS_OK;
}

static int cmd_sign(const char *file, int argc, char **argv)
{
    struct opt opts[] = {
        {.name = "key"}, {.name = "cert"}, {.name = "chain"}, {.name = "out"}, {.name = "serial"}};
    struct cmdline cl = {.opts = opts, .n_opts = sizeof opts / sizeof opts[0]};
    int rc = parse_options_only("sign", argc, argv, &cl);
    if (rc)
        return rc;
    const char *key = opt_value(&cl, "key"), *cert = opt_value(&cl, "cert");
    if (!key || !cert)
        return usage_error("%s", "sign needs --key and --cert");

    struct ss_editor *ed = NULL;
    struct ss_registry *reg = NULL;
    uint8_t *xml = NULL, *sig = NULL;
    size_t xml_len = 0, sig_len = 0;
    uint64_t min_serial = 0;
    char sig_path[PATH_MAX_LEN], expires[21];
    ss_error err = SS_OK;
    const char *out = opt_value(&cl, "out");
    const char *serial = opt_value(&cl, "serial");
    if ((err = signature_path(file, out, sig_path)))
        goto out;
    if (same_file(sig_path, file)) {
        err = ss_errf(SS_ERR_CONFIG, "--out must not be the registry file itself");
        goto out;
    }
    if (serial && (err = parse_number("--serial", serial, UINT64_MAX, &min_serial)))
        goto out;
    /* Sign in memory first: a bad key or certificate leaves both files untouched. */
    if ((err = ss_editor_open(file, &ed)) || (err = ss_editor_stamp(ed, min_serial, time(NULL))) ||
        (err = ss_editor_serialize(ed, &xml, &xml_len)) ||
        (err = ss_registry_parse(file, xml, xml_len, &reg)) ||
        (err = ss_registry_sign(xml, xml_len, key, cert, opt_value(&cl, "chain"), &sig, &sig_len)))
        goto out;
    if ((err = ss_file_write_atomic(file, xml, xml_len)) ||
        (err = ss_file_write_atomic(sig_path, sig, sig_len)))
        goto out;
    ss_time_format(reg->expires, expires);
    printf("%s: signed, serial %llu, expires %s, signature %s\n", file,
           (unsigned long long)reg->serial, expires, sig_path);
out:
    free(sig);
    free(xml);
    ss_registry_unref(reg);
    ss_editor_free(ed);
    return err ? fail(file) : EXIT_SUCCESS;
}

static int cmd_verify(const char *file, int argc, char **argv)
{
    struct opt opts[] = {{.name = "anchor"}, {.name = "sig"}, {.name = "min-serial"}};
    struct cmdline cl = {.opts = opts, .n_opts = sizeof opts / sizeof opts[0]};
    int rc = parse_options_only("verify", argc, argv, &cl);
    if (rc)
        return rc;
    const char *anchor_path = opt_value(&cl, "anchor");
    if (!anchor_path)
        return usage_error("%s", "verify needs --anchor");

    struct ss_reg_anchor anchor = {0};
    struct ss_registry *reg = NULL;
    uint8_t *xml = NULL, *sig = NULL;
    size_t xml_len = 0, sig_len = 0;
    uint64_t min_serial = 0;
    char sig_path[PATH_MAX_LEN], expires[21];
    ss_error err = SS_OK;
    const char *sig_opt = opt_value(&cl, "sig");
    const char *min = opt_value(&cl, "min-serial");
    if ((err = signature_path(file, sig_opt, sig_path)))
        goto out;
    if ((min && (err = parse_number("--min-serial", min, UINT64_MAX, &min_serial))) ||
        (err = ss_reg_anchor_load(anchor_path, &anchor)) ||
        (err = ss_file_read(file, SS_REGISTRY_MAX_BYTES, &xml, &xml_len)) ||
        (err = ss_file_read(sig_path, SS_REGISTRY_SIG_MAX_BYTES, &sig, &sig_len)) ||
        (err = ss_registry_load(file, xml, xml_len, sig, sig_len, &anchor, time(NULL), min_serial,
                                &reg)))
        goto out;
    ss_time_format(reg->expires, expires);
    printf("%s: signature OK, serial %llu, instance %s, expires %s, %zu members, %zu servers\n",
           file, (unsigned long long)reg->serial, reg->instance, expires, reg->n_members,
           reg->n_servers);
out:
    ss_registry_unref(reg);
    free(sig);
    free(xml);
    ss_reg_anchor_cleanup(&anchor);
    return err ? fail(file) : EXIT_SUCCESS;
}

static int cmd_show(const char *file, int argc, char **argv)
{
    struct opt opts[] = {{.name = "json", .flag = true}};
    struct cmdline cl = {.opts = opts, .n_opts = 1};
    int rc = parse_options_only("show", argc, argv, &cl);
    if (rc)
        return rc;
    uint8_t *xml = NULL;
    size_t len = 0;
    struct ss_registry *reg = NULL;
    ss_error err = ss_file_read(file, SS_REGISTRY_MAX_BYTES, &xml, &len);
    if (!err)
        err = ss_registry_parse(file, xml, len, &reg);
    if (!err)
        err = opts[0].n ? ss_listing_json(stdout, file, reg, time(NULL))
                        : ss_listing_text(stdout, file, reg, time(NULL));
    ss_registry_unref(reg);
    free(xml);
    return err ? fail(file) : EXIT_SUCCESS;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        fputs(usage_text, stdout);
        return EXIT_SUCCESS;
    }
    if (argc < 4 || strcmp(argv[1], "-f") != 0 || argv[2][0] == '\0')
        return usage_error("%s", "expected -f FILE COMMAND");
    const char *file = argv[2];
    const char *cmd = argv[3];
    int rest_argc = argc - 4;
    char **rest = argv + 4;
    if (strcmp(cmd, "init") == 0)
        return cmd_init(file, rest_argc, rest);
    if (strcmp(cmd, "add") == 0)
        return cmd_edit(file, true, rest_argc, rest);
    if (strcmp(cmd, "remove") == 0)
        return cmd_edit(file, false, rest_argc, rest);
    if (strcmp(cmd, "set") == 0)
        return cmd_set(file, rest_argc, rest);
    if (strcmp(cmd, "sign") == 0)
        return cmd_sign(file, rest_argc, rest);
    if (strcmp(cmd, "verify") == 0)
        return cmd_verify(file, rest_argc, rest);
    if (strcmp(cmd, "show") == 0)
        return cmd_show(file, rest_argc, rest);
    return usage_error("unknown command '%s'", cmd);
}
