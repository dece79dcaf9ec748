/*
 * Fuzz target for the registry document parser: arbitrary bytes go through
 * ss_registry_parse (hardened XML parse, schema validation, model building
 * and cross-reference checks). Any crash, leak or sanitizer report is a bug;
 * a rejected document is the expected outcome for most inputs. Whatever the
 * parser accepts is then queried through the look-up functions.
 */
#include "registry/registry.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(const struct ss_registry *reg)
{
    for (size_t i = 0; i < reg->n_members; i++) {
        const struct ss_reg_member *m = &reg->members[i];
        struct ss_client_id id;
        memset(&id, 0, sizeof id);
        snprintf(id.instance, sizeof id.instance, "%s", reg->instance);
        snprintf(id.member_class, sizeof id.member_class, "%s", m->member_class);
        snprintf(id.member_code, sizeof id.member_code, "%s", m->member_code);
        if (m->n_subsystems)
            snprintf(id.subsystem, sizeof id.subsystem, "%s", m->subsystems[0]);
        (void)ss_registry_member(reg, m->member_class, m->member_code);
        (void)ss_registry_client_exists(reg, &id);
        const struct ss_reg_server *found[4];
        (void)ss_registry_servers_for_client(reg, &id, found, 4);
    }
    for (size_t i = 0; i < reg->n_servers; i++) {
        const struct ss_reg_server *s = &reg->servers[i];
        (void)ss_registry_server(reg, &s->owner, s->code);
        if (s->n_clients)
            (void)ss_registry_server_hosts(s, &s->clients[0]);
    }
    for (size_t i = 0; i < reg->n_groups; i++)
        if (reg->groups[i].n_members)
            (void)ss_registry_group_has(reg, reg->groups[i].code, &reg->groups[i].members[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ss_registry *reg = NULL;
    if (ss_registry_parse("fuzz", data, size, &reg) == SS_OK) {
        exercise(reg);
        ss_registry_unref(reg);
    }
    return 0;
}
