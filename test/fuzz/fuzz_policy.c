/*
 * Fuzz target: arbitrary bytes as one access policy file. A file that
 * parses is also asked a few fixed questions, so the decision code runs
 * over whatever rules the fuzzer builds. The bytes are also tried as a
 * request path against ss_policy_path_check and a few patterns.
 */
#include "policy.h"
#include "ss_error.h"
#include "ss_id.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void ask(const struct ss_policy_set *set, const char *client_id, const char *method,
                const char *path, const char *purpose)
{
    struct ss_client_id client;
    struct ss_service_id service;
    if (ss_client_id_parse(client_id, strlen(client_id), SS_ID_PART_MAX, false, &client) != SS_OK)
        return;
    memset(&service, 0, sizeof service);
    static const char provider[] = "DE-NORD/MUN/13004000/Einwohnermeldeamt";
    if (ss_client_id_parse(provider, sizeof provider - 1, SS_ID_PART_MAX, true,
                           &service.provider) != SS_OK)
        return;
    memcpy(service.service_code, "meldeauskunft", sizeof "meldeauskunft");
    struct ss_policy_request req = {
        .client = &client,
        .service = &service,
        .purpose = purpose,
        .method = method,
        .path = path,
        .now = 1795000000,
        .registry = NULL,
    };
    struct ss_policy_decision decision;
    if (ss_policy_decide(set, &req, &decision) != decision.code)
        __builtin_trap();
    if (decision.allow != (decision.code == SS_OK))
        __builtin_trap();
}

/* The same bytes as a request path: checked, and if accepted, matched. */
static void path(const uint8_t *data, size_t size)
{
    static const char *const patterns[] = {"/", "/**", "/persons/*", "/a/**/b/*.json",
                                           "/**/x/**/*y*"};
    const char *p = (const char *)data;
    if (ss_policy_path_check(p, size) != SS_OK)
        return;
    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++)
        (void)ss_policy_path_match(patterns[i], p, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ss_policy_set *set = NULL;
    path(data, size);
    if (ss_policy_set_parse_buffer("fuzz.xml", data, size, &set) != SS_OK)
        return 0;
    ask(set, "DE-NORD/GOV/IM-SH/Meldeauskunft", "GET", "/persons/4711", "BMG-34");
    ask(set, "DE-NORD/GOV/IM-SH", NULL, NULL, NULL);
    ask(set, "DE-NORD/MUN/01002000/Einwohnermeldeamt", "POST", "/a/b/c/d/e/f", "AO-93");
    ask(set, "DE-NORD/GOV/IM-SH/Meldeauskunft", "GET", "", NULL);
    ss_policy_set_unref(set);
    return 0;
}
