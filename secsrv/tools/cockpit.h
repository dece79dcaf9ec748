/*
 * cockpit: the exchanges that concerned one person, as the citizens'
 * data-protection cockpit (Datenschutzcockpit) lists them: when, which
 * authority asked (its official name from the registry in force then),
 * which register answered, the service, the purpose and the result;
 * nothing of the messages' content. One list for secsrv-log cockpit (JSON)
 * and the console's page. The JSON ("secsrv-cockpit 1") is documented in
 * secsrv/msglog/README.md.
 */
#ifndef SS_COCKPIT_H
#define SS_COCKPIT_H

#include "audit.h"
#include "page.h"
#include "registry.h"
#include "store.h"

struct ss_concern {
    char request_id[37];
    int64_t logged_ms;
    int64_t record; /* the request's record (or the first seen) */
    char query_id[256], client[SS_ID_STR_MAX], service[SS_ID_STR_MAX], purpose[65];
    unsigned status;
    char error_type[129];
    bool answered;
};

struct ss_cockpit {
    struct ss_concern *items;
    size_t n, cap;
};

/* The exchanges of the records f selects (one per request id, both sides merged), in order. */
ss_error ss_cockpit_collect(struct ss_store *s, const struct ss_store_filter *f,
                            struct ss_cockpit *out) SS_MUST_CHECK;
void ss_cockpit_cleanup(struct ss_cockpit *c);

/* "answered", "refused" or "failed". */
const char *ss_cockpit_result(unsigned status, const char *error_type);
/* The service code (and version) of a service id: what follows INSTANCE/CLASS/MEMBER/SUBSYSTEM/. */
const char *ss_cockpit_service_code(const char *service);

/*
 * The member a client or service id names, from the registry kept in the
 * log for ms (NULL: none known), and in shown the id's first parts parts.
 */
const struct ss_reg_member *ss_cockpit_party(const struct ss_kept_registries *kept, int64_t ms,
                                             const char *id, size_t parts,
                                             char shown[SS_ID_STR_MAX]);

/* The list as "secsrv-cockpit 1" JSON, generated at now_ms. */
void ss_cockpit_json(const struct ss_cockpit *c, const struct ss_kept_registries *kept,
                     int64_t now_ms, struct ss_page *out);

/* UTC ms as "YYYY-MM-DDTHH:MM:SS.mmmZ". */
void ss_cockpit_time(int64_t ms, char out[32]);

#endif
