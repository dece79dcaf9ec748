#include "policy_file.h"

#include "policy_path.h"
#include "registry.h"
#include "ss_xml.h"

#include <libxml/parser.h>
#include <stdalign.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* schemas/policy.xsd, compiled in. */
extern const unsigned char ss_schema_policy_xsd[];
extern const size_t ss_schema_policy_xsd_len;

#define ARENA_CHUNK_BYTES (64u * 1024u)

/* All memory of one parsed file: freed at once, never piece by piece. */
struct arena_chunk {
    struct arena_chunk *next;
    size_t used;
    size_t cap;
    max_align_t data[];
};

struct ss_policy_arena {
    struct arena_chunk *head;
};

static void arena_free(struct ss_policy_arena *arena)
{
    if (!arena)
        return;
    struct arena_chunk *chunk = arena->head;
    while (chunk) {
        struct arena_chunk *next = chunk->next;
        free(chunk);
        chunk = next;
    }
    free(arena);
}

/* Zeroed memory for n objects of size bytes, or NULL. */
static void *arena_alloc(struct ss_policy_arena *arena, size_t n, size_t size)
{
    const size_t align = alignof(max_align_t);
    if (n == 0)
        n = 1;
    if (size == 0 || n > SIZE_MAX / size)
        return NULL;
    size_t bytes = n * size;
    if (bytes > SIZE_MAX - align)
        return NULL;
    bytes = (bytes + align - 1) / align * align;
    struct arena_chunk *head = arena->head;
    if (!head || head->cap - head->used < bytes) {
        size_t cap = bytes > ARENA_CHUNK_BYTES ? bytes : ARENA_CHUNK_BYTES;
        if (cap > SIZE_MAX - sizeof *head)
            return NULL;
        struct arena_chunk *chunk = calloc(1, sizeof *chunk + cap);
        if (!chunk)
            return NULL;
        chunk->cap = cap;
        if (head && head->cap - head->used >= ARENA_CHUNK_BYTES / 4) {
            /* Keep filling the current chunk; the big block goes behind it. */
            chunk->next = head->next;
            head->next = chunk;
            chunk->used = bytes;
            return chunk->data;
        }
        chunk->next = head;
        arena->head = chunk;
        head = chunk;
    }
    void *p = (unsigned char *)head->data + head->used;
    head->used += bytes;
    return p;
}

static const char *arena_strdup(struct ss_policy_arena *arena, const char *s)
{
    size_t len = strlen(s);
    char *copy = arena_alloc(arena, len + 1, 1);
    if (copy)
        memcpy(copy, s, len + 1);
    return copy;
}

void ss_policy_file_free(struct ss_policy_file *file)
{
    if (file)
        arena_free(file->arena);
}

/* True if id has these parts; subsystem NULL leaves the subsystem out. */
static bool id_has_parts(const struct ss_policy_id *id, const char *instance,
                         const char *member_class, const char *member_code, const char *subsystem)
{
    return strcmp(id->instance, instance) == 0 && strcmp(id->member_class, member_class) == 0 &&
           strcmp(id->member_code, member_code) == 0 &&
           (!subsystem || strcmp(id->subsystem, subsystem) == 0);
}

bool ss_policy_id_equal(const struct ss_policy_id *id, const struct ss_client_id *client)
{
    return id_has_parts(id, client->instance, client->member_class, client->member_code,
                        client->subsystem);
}

bool ss_policy_id_same(const struct ss_policy_id *a, const struct ss_policy_id *b)
{
    return id_has_parts(a, b->instance, b->member_class, b->member_code, b->subsystem);
}

bool ss_policy_id_covers(const struct ss_policy_id *id, const struct ss_client_id *client)
{
    return id_has_parts(id, client->instance, client->member_class, client->member_code,
                        id->subsystem[0] ? client->subsystem : NULL);
}

bool ss_policy_id_format(const struct ss_policy_id *id, char *buf, size_t size)
{
    int r = snprintf(buf, size, "%s/%s/%s%s%s", id->instance, id->member_class, id->member_code,
                     id->subsystem[0] ? "/" : "", id->subsystem);
    return r >= 0 && (size_t)r < size;
}

/* State of one parse: where errors go and the first one kept for the caller. */
struct parse_ctx {
    const char *name;
    const struct ss_policy_report *report;
    struct ss_policy_arena *arena;
    struct ss_policy_file *file;
    ss_error first;
    char first_msg[512];
    unsigned n_errors;
    const char *buf; /* the document, for line numbers */
    size_t len;
    size_t *line_starts; /* offset of each line, built on first use */
    size_t n_lines;
};

#define LINE_SCAN_MAX (64u * 1024u)

static bool build_line_starts(struct parse_ctx *ctx)
{
    size_t n = 1;
    for (size_t i = 0; i < ctx->len; i++)
        if (ctx->buf[i] == '\n')
            n++;
    ctx->line_starts = malloc(n * sizeof *ctx->line_starts);
    if (!ctx->line_starts)
        return false;
    ctx->line_starts[0] = 0;
    ctx->n_lines = 1;
    for (size_t i = 0; i < ctx->len; i++)
        if (ctx->buf[i] == '\n')
            ctx->line_starts[ctx->n_lines++] = i + 1;
    return true;
}

/*
 * The line where node's start tag begins. libxml2 records the line where
 * the start tag ends; look back from there for "<name".
 */
static long node_line(struct parse_ctx *ctx, xmlNodePtr node)
{
    long end_line = ss_xml_line(node);
    if (!node || node->type != XML_ELEMENT_NODE || !ctx->buf)
        return end_line;
    if (!ctx->line_starts && !build_line_starts(ctx))
        return end_line;
    if (end_line < 1 || (size_t)end_line > ctx->n_lines)
        return end_line;
    size_t end = (size_t)end_line < ctx->n_lines ? ctx->line_starts[end_line] : ctx->len;
    const char *name = (const char *)node->name;
    size_t name_len = strlen(name);
    size_t floor = end > LINE_SCAN_MAX ? end - LINE_SCAN_MAX : 0;
    for (size_t i = end; i > floor; i--) {
        size_t at = i - 1;
        if (ctx->buf[at] != '<' || ctx->len - at - 1 <= name_len ||
            memcmp(ctx->buf + at + 1, name, name_len) != 0)
            continue;
        char after = ctx->buf[at + 1 + name_len];
        if (after != ' ' && after != '\t' && after != '\r' && after != '\n' && after != '>' &&
            after != '/')
            continue;
        size_t lo = 0, hi = ctx->n_lines;
        while (hi - lo > 1) {
            size_t mid = lo + (hi - lo) / 2;
            if (ctx->line_starts[mid] <= at)
                lo = mid;
            else
                hi = mid;
        }
        return (long)lo + 1;
    }
    return end_line;
}

static void report_message(struct parse_ctx *ctx, ss_error code, const char *message)
{
    if (ctx->n_errors == 0) {
        ctx->first = code;
        snprintf(ctx->first_msg, sizeof ctx->first_msg, "%s", message);
    }
    ctx->n_errors++;
    const struct ss_policy_report *report = ctx->report;
    if (ctx->n_errors <= SS_POLICY_ERRORS_MAX && report && report->on_error)
        report->on_error(report->ctx, ctx->name, message);
}

static void file_error(struct parse_ctx *ctx, xmlNodePtr node, const char *fmt, ...)
    SS_PRINTF(3, 4);

/* Reports "name:line: message" for node, a semantic error of the file. */
static void file_error(struct parse_ctx *ctx, xmlNodePtr node, const char *fmt, ...)
{
    char text[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    char message[512];
    long line = node ? node_line(ctx, node) : 0;
    snprintf(message, sizeof message, "%s:%ld: %s", ctx->name, line > 0 ? line : 1, text);
    report_message(ctx, SS_ERR_POLICY, message);
}

static ss_error out_of_memory(struct parse_ctx *ctx)
{
    char message[512];
    snprintf(message, sizeof message, "%s: out of memory", ctx->name);
    report_message(ctx, SS_ERR_NOMEM, message);
    return SS_ERR_NOMEM;
}

/*
 * Parses the identifier s into *out (parts copied to the arena). Returns
 * false with *nomem unset if s is malformed, with *nomem set if out of memory.
 */
static bool parse_id(struct parse_ctx *ctx, const char *s, struct ss_policy_id *out, bool *nomem)
{
    struct ss_client_id id;
    *nomem = false;
    if (ss_client_id_parse(s, strlen(s), SS_ID_PART_MAX, false, &id) != SS_OK)
        return false;
    out->instance = arena_strdup(ctx->arena, id.instance);
    out->member_class = arena_strdup(ctx->arena, id.member_class);
    out->member_code = arena_strdup(ctx->arena, id.member_code);
    out->subsystem = arena_strdup(ctx->arena, id.subsystem);
    if (!out->instance || !out->member_class || !out->member_code || !out->subsystem) {
        *nomem = true;
        return false;
    }
    return true;
}

static ss_error parse_group_member(struct parse_ctx *ctx, xmlNodePtr node,
                                   struct ss_policy_group *group)
{
    const char *id = ss_xml_attr(node, "id");
    bool nomem;
    if (!id) {
        file_error(ctx, node, "local group member without id");
        return SS_OK;
    }
    if (!parse_id(ctx, id, &group->members[group->n_members], &nomem)) {
        if (nomem)
            return out_of_memory(ctx);
        file_error(ctx, node, "'%.300s' is not a client identifier", id);
        return SS_OK;
    }
    group->n_members++;
    return SS_OK;
}

static ss_error parse_group(struct parse_ctx *ctx, xmlNodePtr node)
{
    struct ss_policy_file *file = ctx->file;
    const char *code = ss_xml_attr(node, "code");
    if (!code) {
        file_error(ctx, node, "local group without code");
        return SS_OK;
    }
    for (size_t i = 0; i < file->n_groups; i++)
        if (strcmp(file->groups[i].code, code) == 0) {
            file_error(ctx, node, "local group '%.255s' is already defined at line %ld", code,
                       file->groups[i].line);
            return SS_OK;
        }
    struct ss_policy_group *group = &file->groups[file->n_groups];
    group->code = arena_strdup(ctx->arena, code);
    group->line = node_line(ctx, node);
    group->members =
        arena_alloc(ctx->arena, ss_xml_count_children(node, "member"), sizeof *group->members);
    if (!group->code || !group->members)
        return out_of_memory(ctx);
    for (xmlNodePtr c = node->children; c; c = c->next) {
        if (!ss_xml_is(c, "member"))
            continue;
        ss_error err = parse_group_member(ctx, c, group);
        if (err)
            return err;
    }
    file->n_groups++;
    return SS_OK;
}

static bool method_token_ok(const char *s, size_t len)
{
    if (len == 0 || len > SS_POLICY_METHOD_LEN_MAX || s[0] < 'A' || s[0] > 'Z')
        return false;
    for (size_t i = 1; i < len; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_'))
            return false;
    }
    return true;
}

/* Splits the space-separated methods attribute into rule->methods. */
static ss_error parse_methods(struct parse_ctx *ctx, xmlNodePtr node, const char *text,
                              struct ss_policy_rule *rule)
{
    const char *tokens[SS_POLICY_METHODS_MAX];
    size_t lens[SS_POLICY_METHODS_MAX];
    size_t n = 0;
    const char *p = text;
    for (;;) {
        while (*p == ' ')
            p++;
        if (*p == '\0')
            break;
        const char *start = p;
        while (*p != '\0' && *p != ' ')
            p++;
        size_t len = (size_t)(p - start);
        if (!method_token_ok(start, len)) {
            file_error(ctx, node, "method '%.*s' is not an upper-case token (A-Z, 0-9, '-', '_')",
                       (int)(len > 64 ? 64 : len), start);
            return SS_OK;
        }
        if (!ss_policy_method_known(start, len)) {
            file_error(ctx, node,
                       "method '%.*s' is never forwarded (the proxies carry " SS_POLICY_METHODS ")",
                       (int)len, start);
            return SS_OK;
        }
        for (size_t i = 0; i < n; i++)
            if (lens[i] == len && memcmp(tokens[i], start, len) == 0) {
                file_error(ctx, node, "method '%.*s' is listed twice", (int)len, start);
                return SS_OK;
            }
        if (n == SS_POLICY_METHODS_MAX) {
            file_error(ctx, node, "more than %d methods", SS_POLICY_METHODS_MAX);
            return SS_OK;
        }
        tokens[n] = start;
        lens[n] = len;
        n++;
    }
    if (n == 0) {
        file_error(ctx, node, "methods names no method");
        return SS_OK;
    }
    rule->methods = arena_alloc(ctx->arena, n, sizeof *rule->methods);
    rule->methods_text = arena_strdup(ctx->arena, text);
    if (!rule->methods || !rule->methods_text)
        return out_of_memory(ctx);
    for (size_t i = 0; i < n; i++) {
        char *m = arena_alloc(ctx->arena, lens[i] + 1, 1);
        if (!m)
            return out_of_memory(ctx);
        memcpy(m, tokens[i], lens[i]);
        rule->methods[i] = m;
    }
    rule->n_methods = n;
    return SS_OK;
}

static void parse_validity(struct parse_ctx *ctx, xmlNodePtr node, struct ss_policy_rule *rule)
{
    const char *from = ss_xml_attr(node, "validFrom");
    const char *until = ss_xml_attr(node, "validUntil");
    if (from) {
        rule->has_valid_from = ss_time_parse(from, &rule->valid_from);
        if (!rule->has_valid_from)
            file_error(ctx, node, "validFrom '%.64s' is not a UTC time", from);
    }
    if (until) {
        rule->has_valid_until = ss_time_parse(until, &rule->valid_until);
        if (!rule->has_valid_until)
            file_error(ctx, node, "validUntil '%.64s' is not a UTC time", until);
    }
    if (rule->has_valid_from && rule->has_valid_until && rule->valid_from >= rule->valid_until)
        file_error(ctx, node, "validFrom %.64s is not before validUntil %.64s", from, until);
}

static ss_error parse_allow(struct parse_ctx *ctx, xmlNodePtr node, struct ss_policy_rule *rule)
{
    static const char *const attrs[] = {"member", "subsystem", "globalGroup", "localGroup"};
    const char *value = NULL;
    size_t which = 0, n = 0;
    for (size_t i = 0; i < sizeof attrs / sizeof attrs[0]; i++) {
        const char *v = ss_xml_attr(node, attrs[i]);
        if (v) {
            value = v;
            which = i;
            n++;
        }
    }
    if (n != 1) {
        file_error(ctx, node,
                   "allow must name exactly one of member, subsystem, globalGroup, localGroup");
        return SS_OK;
    }
    struct ss_policy_allow *allow = &rule->allows[rule->n_allows];
    allow->line = node_line(ctx, node);
    bool nomem;
    switch (which) {
    case 0:
    case 1:
        allow->kind = which == 0 ? SS_POLICY_ALLOW_MEMBER : SS_POLICY_ALLOW_SUBSYSTEM;
        if (!parse_id(ctx, value, &allow->id, &nomem)) {
            if (nomem)
                return out_of_memory(ctx);
            file_error(ctx, node, "'%.300s' is not a client identifier", value);
            return SS_OK;
        }
        if (which == 0 && allow->id.subsystem[0] != '\0') {
            file_error(ctx, node, "member '%.300s' must be INSTANCE/CLASS/MEMBER", value);
            return SS_OK;
        }
        if (which == 1 && allow->id.subsystem[0] == '\0') {
            file_error(ctx, node, "subsystem '%.300s' must be INSTANCE/CLASS/MEMBER/SUBSYSTEM",
                       value);
            return SS_OK;
        }
        break;
    case 2:
        allow->kind = SS_POLICY_ALLOW_GLOBAL_GROUP;
        allow->group_code = arena_strdup(ctx->arena, value);
        if (!allow->group_code)
            return out_of_memory(ctx);
        break;
    default:
        allow->kind = SS_POLICY_ALLOW_LOCAL_GROUP;
        for (size_t i = 0; i < ctx->file->n_groups; i++)
            if (strcmp(ctx->file->groups[i].code, value) == 0)
                allow->group = &ctx->file->groups[i];
        if (!allow->group) {
            file_error(ctx, node, "unknown local group '%.255s'", value);
            return SS_OK;
        }
        allow->group_code = allow->group->code;
        break;
    }
    rule->n_allows++;
    return SS_OK;
}

/* xs:boolean: "true", "false", "1", "0", surrounded by optional spaces. */
static bool parse_boolean(const char *s, bool *out)
{
    while (*s == ' ')
        s++;
    size_t len = strlen(s);
    while (len > 0 && s[len - 1] == ' ')
        len--;
    if ((len == 4 && memcmp(s, "true", 4) == 0) || (len == 1 && s[0] == '1')) {
        *out = true;
        return true;
    }
    if ((len == 5 && memcmp(s, "false", 5) == 0) || (len == 1 && s[0] == '0')) {
        *out = false;
        return true;
    }
    return false;
}

static ss_error parse_purpose(struct parse_ctx *ctx, xmlNodePtr node, struct ss_policy_rule *rule)
{
    const char *required = ss_xml_attr(node, "required");
    rule->has_purpose = true;
    rule->purpose_required = true;
    if (required && !parse_boolean(required, &rule->purpose_required))
        file_error(ctx, node, "required must be true or false");
    rule->purposes =
        arena_alloc(ctx->arena, ss_xml_count_children(node, "code"), sizeof *rule->purposes);
    if (!rule->purposes)
        return out_of_memory(ctx);
    for (xmlNodePtr c = node->children; c; c = c->next) {
        if (!ss_xml_is(c, "code"))
            continue;
        char *text = ss_xml_text(c);
        if (!text)
            return out_of_memory(ctx);
        if (!ss_policy_purpose_valid(text)) {
            file_error(ctx, c, "purpose code '%.64s' is not 1-64 characters of [A-Za-z0-9.:/_-]",
                       text);
            xmlFree(text);
            continue;
        }
        const char *code = arena_strdup(ctx->arena, text);
        xmlFree(text);
        if (!code)
            return out_of_memory(ctx);
        rule->purposes[rule->n_purposes++] = code;
    }
    return SS_OK;
}

static ss_error parse_rule(struct parse_ctx *ctx, xmlNodePtr node, struct ss_policy_rule *rule)
{
    const char *service = ss_xml_attr(node, "service");
    const char *version = ss_xml_attr(node, "version");
    const char *methods = ss_xml_attr(node, "methods");
    const char *path = ss_xml_attr(node, "path");
    const char *description = ss_xml_attr(node, "description");
    ss_error err;

    rule->line = node_line(ctx, node);
    if (!service || !ss_id_part_valid(service, strlen(service), SS_ID_PART_MAX)) {
        file_error(ctx, node, "rule needs a service code");
        return SS_OK;
    }
    rule->service_code = arena_strdup(ctx->arena, service);
    if (!rule->service_code)
        return out_of_memory(ctx);
    if (version) {
        if (!ss_id_part_valid(version, strlen(version), SS_ID_PART_MAX))
            file_error(ctx, node, "version '%.64s' is not an identifier", version);
        rule->service_version = arena_strdup(ctx->arena, version);
        if (!rule->service_version)
            return out_of_memory(ctx);
    }
    if (description) {
        rule->description = arena_strdup(ctx->arena, description);
        if (!rule->description)
            return out_of_memory(ctx);
    }
    if (methods) {
        err = parse_methods(ctx, node, methods, rule);
        if (err)
            return err;
    }
    if (path) {
        char why[160];
        if (ss_policy_path_pattern_check(path, why, sizeof why) != SS_OK) {
            file_error(ctx, node, "path '%.200s': %s", path, why);
        } else {
            rule->path = arena_strdup(ctx->arena, path);
            if (!rule->path)
                return out_of_memory(ctx);
        }
    }
    parse_validity(ctx, node, rule);

    rule->allows =
        arena_alloc(ctx->arena, ss_xml_count_children(node, "allow"), sizeof *rule->allows);
    if (!rule->allows)
        return out_of_memory(ctx);
    for (xmlNodePtr c = node->children; c; c = c->next) {
        if (ss_xml_is(c, "allow"))
            err = parse_allow(ctx, c, rule);
        else if (ss_xml_is(c, "purpose"))
            err = parse_purpose(ctx, c, rule);
        else
            err = SS_OK;
        if (err)
            return err;
    }
    return SS_OK;
}

static ss_error parse_root(struct parse_ctx *ctx, xmlNodePtr root)
{
    struct ss_policy_file *file = ctx->file;
    if (!root || !ss_xml_is(root, "accessPolicy")) {
        file_error(ctx, root, "root element must be accessPolicy");
        return SS_OK;
    }
    const char *provider = ss_xml_attr(root, "provider");
    bool nomem = false;
    file->provider_line = node_line(ctx, root);
    if (!provider || !parse_id(ctx, provider, &file->provider, &nomem) ||
        file->provider.subsystem[0] == '\0') {
        if (nomem)
            return out_of_memory(ctx);
        file_error(ctx, root,
                   "provider '%.300s' is not a subsystem identifier "
                   "INSTANCE/CLASS/MEMBER/SUBSYSTEM",
                   provider ? provider : "");
    }
    file->groups =
        arena_alloc(ctx->arena, ss_xml_count_children(root, "localGroup"), sizeof *file->groups);
    file->rules = arena_alloc(ctx->arena, ss_xml_count_children(root, "rule"), sizeof *file->rules);
    if (!file->groups || !file->rules)
        return out_of_memory(ctx);
    /* Groups first, so that every rule sees all of them. */
    for (xmlNodePtr c = root->children; c; c = c->next) {
        if (!ss_xml_is(c, "localGroup"))
            continue;
        ss_error err = parse_group(ctx, c);
        if (err)
            return err;
        if (ctx->n_errors >= SS_POLICY_ERRORS_MAX)
            return SS_OK;
    }
    for (xmlNodePtr c = root->children; c; c = c->next) {
        if (!ss_xml_is(c, "rule"))
            continue;
        ss_error err = parse_rule(ctx, c, &file->rules[file->n_rules]);
        if (err)
            return err;
        file->n_rules++;
        if (ctx->n_errors >= SS_POLICY_ERRORS_MAX)
            return SS_OK;
    }
    return SS_OK;
}

/* Parses and validates the XML; a failure is reported as the file's error. */
static ss_error parse_xml(struct parse_ctx *ctx, const void *buf, size_t len, xmlDocPtr *doc)
{
    ss_error err = ss_xml_parse(ctx->name, buf, len, SS_POLICY_FILE_MAX_BYTES, doc);
    if (err == SS_OK) {
        err = ss_xml_validate(ctx->name, *doc, ss_schema_policy_xsd, ss_schema_policy_xsd_len);
        if (err) {
            xmlFreeDoc(*doc);
            *doc = NULL;
        }
    }
    if (err == SS_OK)
        return SS_OK;
    if (err != SS_ERR_NOMEM && err != SS_ERR_TOO_LARGE)
        err = SS_ERR_POLICY;
    char message[512];
    snprintf(message, sizeof message, "%s", ss_errmsg());
    report_message(ctx, err, message);
    return err;
}

ss_error ss_policy_file_parse(const char *name, const void *buf, size_t len,
                              const struct ss_policy_report *report, struct ss_policy_file **out)
{
    struct parse_ctx ctx = {.name = name, .report = report, .buf = buf, .len = len};
    xmlDocPtr doc = NULL;
    ss_error err;

    *out = NULL;
    ctx.arena = calloc(1, sizeof *ctx.arena);
    if (!ctx.arena)
        return ss_errf(SS_ERR_NOMEM, "%s: out of memory", name);
    ctx.file = arena_alloc(ctx.arena, 1, sizeof *ctx.file);
    if (!ctx.file) {
        err = out_of_memory(&ctx);
        goto out;
    }
    ctx.file->arena = ctx.arena;
    ctx.file->name = arena_strdup(ctx.arena, name);
    if (!ctx.file->name) {
        err = out_of_memory(&ctx);
        goto out;
    }
    err = parse_xml(&ctx, buf, len, &doc);
    if (err)
        goto out;
    err = parse_root(&ctx, xmlDocGetRootElement(doc));
    if (err == SS_OK && ctx.n_errors > 0)
        err = ctx.first;

out:
    free(ctx.line_starts);
    if (doc)
        xmlFreeDoc(doc);
    if (err) {
        arena_free(ctx.arena);
        return ss_errf(ctx.n_errors > 0 ? ctx.first : err, "%s", ctx.first_msg);
    }
    *out = ctx.file;
    return SS_OK;
}
