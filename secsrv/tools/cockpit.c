#include "cockpit.h"

#include "ss_grow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void ss_cockpit_time(int64_t ms, char out[32])
{
    char whole[21];
    ss_time_format((time_t)(ms / 1000), whole);
    snprintf(out, 32, "%.19s.%03dZ", whole, (int)(ms % 1000));
}

static ss_error take_concern(void *arg, const struct ss_record *r, int64_t ts_id,
                             const char *ts_path)
{
    (void)ts_id;
    (void)ts_path;
    struct ss_cockpit *c = arg;
    struct ss_concern *e = NULL;
    /* an answer belongs to the request logged shortly before it: the same request id (which a
     * peer chooses, so the same client and query id too); a record without one stands alone */
    for (size_t i = c->n; r->request_id[0] && i-- > 0 && !e;)
        if (strcmp(c->items[i].request_id, r->request_id) == 0 &&
            strcmp(c->items[i].client, r->client) == 0 &&
            strcmp(c->items[i].query_id, r->query_id) == 0)
            e = &c->items[i];
    if (!e) {
        if (!ss_grow(&c->items, &c->cap, c->n + 1, sizeof *c->items, 64))
            return ss_errf(SS_ERR_NOMEM, "out of memory");
        e = &c->items[c->n++];
        memset(e, 0, sizeof *e);
        snprintf(e->request_id, sizeof e->request_id, "%s", r->request_id);
        e->logged_ms = r->logged_ms;
        e->record = r->id;
        snprintf(e->query_id, sizeof e->query_id, "%s", r->query_id);
        snprintf(e->client, sizeof e->client, "%s", r->client);
        snprintf(e->service, sizeof e->service, "%s", r->service);
        snprintf(e->purpose, sizeof e->purpose, "%s", r->purpose);
    }
    /* the outcome: the answer's record, or the request's when it was refused */
    if (strcmp(r->direction, "response") == 0 || !e->answered) {
        e->status = r->status;
        snprintf(e->error_type, sizeof e->error_type, "%s", r->error_type);
        e->answered = strcmp(r->direction, "response") == 0;
    }
    return SS_OK;
}

ss_error ss_cockpit_collect(struct ss_store *s, const struct ss_store_filter *f,
                            struct ss_cockpit *out)
{
    memset(out, 0, sizeof *out);
    ss_error err = ss_store_search(s, f, take_concern, out);
    if (err)
        ss_cockpit_cleanup(out);
    return err;
}

void ss_cockpit_cleanup(struct ss_cockpit *c)
{
    free(c->items);
    memset(c, 0, sizeof *c);
}

const char *ss_cockpit_result(unsigned status, const char *error_type)
{
    switch (ss_store_outcome(status, error_type)) {
    case SS_OUTCOME_ANSWERED:
        return "answered";
    case SS_OUTCOME_REFUSED:
        return "refused";
    default:
        return "failed";
    }
}

const char *ss_cockpit_service_code(const char *service)
{
    const char *code = service;
    for (int slashes = 0; *code && slashes < 4; code++)
        slashes += *code == '/';
    return code;
}

const struct ss_reg_member *ss_cockpit_party(const struct ss_kept_registries *kept, int64_t ms,
                                             const char *id, size_t parts,
                                             char shown[SS_ID_STR_MAX])
{
    char copy[SS_ID_STR_MAX], *part[6] = {0};
    snprintf(copy, sizeof copy, "%s", id);
    size_t n = 0;
    for (char *p = copy, *save = NULL; n < 6 && (p = strtok_r(n ? NULL : p, "/", &save));)
        part[n++] = p;
    const struct ss_reg_member *m = NULL;
    struct ss_trust *t = kept ? ss_kept_registry(kept, ms, 0) : NULL;
    if (t && n >= 3)
        m = ss_registry_member(ss_trust_registry(t), part[1], part[2]);
    shown[0] = '\0';
    for (size_t i = 0; i < n && i < parts; i++)
        snprintf(shown + strlen(shown), SS_ID_STR_MAX - strlen(shown), "%s%s", i ? "/" : "",
                 part[i]);
    return m;
}

static void json_party(const struct ss_kept_registries *kept, int64_t ms, const char *key,
                       const char *id, struct ss_page *out)
{
    char shown[SS_ID_STR_MAX];
    const struct ss_reg_member *m = ss_cockpit_party(kept, ms, id, 4, shown);
    ss_page_raw(out, "\"%s\":{\"id\":", key);
    ss_page_json(out, shown);
    ss_page_raw(out, ",\"name\":");
    if (m)
        ss_page_json(out, m->name);
    else
        ss_page_raw(out, "null");
    if (m) {
        ss_page_raw(out, ",\"state\":");
        ss_page_json(out, m->state);
    }
    ss_page_raw(out, "}");
}

void ss_cockpit_json(const struct ss_cockpit *c, const struct ss_kept_registries *kept,
                     int64_t now_ms, struct ss_page *out)
{
    char now[32];
    ss_cockpit_time(now_ms, now);
    ss_page_raw(out, "{\"format\":\"secsrv-cockpit 1\",\"generated\":\"%s\",\"exchanges\":[", now);
    for (size_t i = 0; i < c->n; i++) {
        const struct ss_concern *e = &c->items[i];
        char when[32];
        ss_cockpit_time(e->logged_ms, when);
        ss_page_raw(out, "%s\n{\"time\":\"%s\",\"query_id\":", i ? "," : "", when);
        ss_page_json(out, e->query_id);
        ss_page_raw(out, ",");
        json_party(kept, e->logged_ms, "requesting_authority", e->client, out);
        ss_page_raw(out, ",");
        json_party(kept, e->logged_ms, "providing_register", e->service, out);
        ss_page_raw(out, ",\"service\":");
        ss_page_json(out, ss_cockpit_service_code(e->service));
        ss_page_raw(out, ",\"purpose\":");
        if (e->purpose[0])
            ss_page_json(out, e->purpose);
        else
            ss_page_raw(out, "null");
        ss_page_raw(out, ",\"result\":\"%s\",\"status\":%u,\"error\":",
                    ss_cockpit_result(e->status, e->error_type), e->status);
        if (e->error_type[0])
            ss_page_json(out, e->error_type);
        else
            ss_page_raw(out, "null");
        ss_page_raw(out, "}");
    }
    ss_page_raw(out, "\n]}\n");
}
