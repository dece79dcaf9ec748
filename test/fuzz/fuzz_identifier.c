/*
 * Fuzzes the X-Road identifier parsers (client and security server header
 * forms, registry form) and checks that what parses formats back to a
 * string that parses the same.
 */
#include "ss_id.h"
#include "fuzz_text.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = fuzz_text(data, size);
    if (!s)
        return 0;
    struct ss_client_id id, again;
    if (ss_client_id_parse(s, size, 64, false, &id) == SS_OK) {
        char buf[SS_ID_STR_MAX];
        if (!ss_client_id_format(&id, buf, sizeof buf))
            abort();
        if (ss_client_id_parse(buf, strlen(buf), 64, false, &again) != SS_OK ||
            !ss_client_id_equal(&id, &again))
            abort();
    }
    struct ss_server_id server, server_again;
    if (ss_server_id_parse(s, size, 64, &server) == SS_OK) {
        char buf[SS_ID_STR_MAX];
        if (!ss_server_id_format(&server, buf, sizeof buf) || server.owner.subsystem[0])
            abort();
        if (ss_server_id_parse(buf, strlen(buf), 64, &server_again) != SS_OK ||
            !ss_client_id_equal(&server.owner, &server_again.owner) ||
            strcmp(server.code, server_again.code) != 0)
            abort();
    }
    if (ss_client_id_parse_local(s, "DE-NORD", &id) == SS_OK) {
        char buf[SS_ID_STR_MAX];
        if (!ss_client_id_format_local(&id, buf, sizeof buf) || strcmp(buf, s) != 0)
            abort();
    }
    free(s);
    return 0;
}
