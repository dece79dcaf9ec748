/*
 * ss_id: X-Road identifiers. A client is INSTANCE/CLASS/MEMBER[/SUBSYSTEM],
 * a service is a client plus /SERVICE[/VERSION]. Every part is checked
 * against the X-Road character set (A-Z a-z 0-9 and '()+,-.=?) and a length
 * limit; parsing percent-decodes each part on its own, so an encoded slash
 * never splits a part. Storage is fixed-size: no allocation.
 */
#ifndef SS_ID_H
#define SS_ID_H

#include "ss_error.h"

#include <stdbool.h>
#include <stddef.h>

#define SS_ID_PART_MAX 255 /* hard ceiling; the configured limit may be lower */
#define SS_ID_STR_MAX (6 * (SS_ID_PART_MAX + 1))

struct ss_client_id {
    char instance[SS_ID_PART_MAX + 1];
    char member_class[SS_ID_PART_MAX + 1];
    char member_code[SS_ID_PART_MAX + 1];
    char subsystem[SS_ID_PART_MAX + 1]; /* "" for a member itself */
};

struct ss_service_id {
    struct ss_client_id provider;
    char service_code[SS_ID_PART_MAX + 1];
    char service_version[SS_ID_PART_MAX + 1]; /* "" when absent */
};

/* A security server: the member that owns it and its server code. */
struct ss_server_id {
    struct ss_client_id owner; /* subsystem "" */
    char code[SS_ID_PART_MAX + 1];
};

/*
 * True if s[0..len) is 1 to max bytes of visible ASCII (0x21-0x7e): the
 * rule of query ids, data-subject references and manifest values.
 */
bool ss_visible_ascii(const char *s, size_t len, size_t max);

/* True if s[0..len) is a non-empty identifier part of at most max bytes. */
bool ss_id_part_valid(const char *s, size_t len, size_t max);

/*
 * Percent-decodes one part s[0..len) into out (SS_ID_PART_MAX + 1 bytes) and
 * checks it. A malformed escape, a forbidden character (also when encoded),
 * or a part longer than max is SS_ERR_BAD_IDENTIFIER with a reason.
 */
ss_error ss_id_part_decode(const char *s, size_t len, size_t max, char *out) SS_MUST_CHECK;

/*
 * Parses "INSTANCE/CLASS/MEMBER[/SUBSYSTEM]" (the X-Road-Client header form).
 * With require_subsystem the fourth part is mandatory.
 */
ss_error ss_client_id_parse(const char *s, size_t len, size_t max, bool require_subsystem,
                            struct ss_client_id *out) SS_MUST_CHECK SS_NONNULL(1, 5);

/*
 * Parses "INSTANCE/CLASS/MEMBER/SERVERCODE" (the X-Road-Security-Server
 * header form), each part percent-decoded and checked as above.
 */
ss_error ss_server_id_parse(const char *s, size_t len, size_t max,
                            struct ss_server_id *out) SS_MUST_CHECK SS_NONNULL(1, 4);

/* Parses "CLASS/MEMBER[/SUBSYSTEM]" inside a known instance (registry form). */
ss_error ss_client_id_parse_local(const char *s, const char *instance,
                                  struct ss_client_id *out) SS_MUST_CHECK SS_NONNULL(1, 2, 3);

/* Writes "INSTANCE/CLASS/MEMBER[/SUBSYSTEM]"; returns false if it did not fit. */
bool ss_client_id_format(const struct ss_client_id *id, char *buf, size_t size);
/* Writes "CLASS/MEMBER[/SUBSYSTEM]". */
bool ss_client_id_format_local(const struct ss_client_id *id, char *buf, size_t size);
/* Writes "INSTANCE/CLASS/MEMBER[/SUBSYSTEM]/SERVICE[/VERSION]". */
bool ss_service_id_format(const struct ss_service_id *id, char *buf, size_t size);
/* Writes "INSTANCE/CLASS/MEMBER/SERVERCODE"; false if it does not fit. */
bool ss_server_id_format(const struct ss_server_id *id, char *buf, size_t size);

bool ss_client_id_equal(const struct ss_client_id *a, const struct ss_client_id *b);
/* True if a and b name the same member (subsystems ignored). */
bool ss_client_id_same_member(const struct ss_client_id *a, const struct ss_client_id *b);
bool ss_server_id_equal(const struct ss_server_id *a, const struct ss_server_id *b);

#endif
