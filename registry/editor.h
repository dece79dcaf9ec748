/*
 * editor: changes to an unsigned registry document, for the registry
 * authority's tool. An editor holds the document as a libxml2 tree; each
 * change checks its arguments and the references it needs (clear one-line
 * reasons through ss_errf()), then edits the tree in schema order. Nothing
 * reaches the disk until ss_editor_save(), which serialises the tree,
 * validates the new bytes with ss_registry_parse() (schema and
 * cross-references) and only then replaces the file atomically: a refused
 * change leaves the file byte-identical. Opening a file validates it first,
 * so errors in it are reported as "file:line: message".
 */
#ifndef SS_EDITOR_H
#define SS_EDITOR_H

#include "registry.h"
#include "ss_error.h"

#include <libxml/tree.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SS_EDITOR_DEFAULT_VALIDITY_DAYS 30
#define SS_EDITOR_DEFAULT_OCSP_FRESHNESS 3600
#define SS_EDITOR_DEFAULT_TIMESTAMPING_INTERVAL 60
#define SS_EDITOR_DEFAULT_REFRESH_INTERVAL 600
#define SS_EDITOR_MAX_SECONDS 31622400L /* the schema's ceiling for any period */
#define SS_EDITOR_MAX_INTERMEDIATES 10

struct ss_editor;

/* A certificate handed to the editor: DER bytes, borrowed. */
struct ss_editor_cert {
    const uint8_t *der;
    size_t len;
};

/*
 * Creates a new registry document at path for instance: serial 0, issued
 * now, expiring after settings->registry_validity seconds. Refuses to replace
 * an existing file. All four settings must be set (1..SS_EDITOR_MAX_SECONDS).
 */
ss_error ss_editor_create(const char *path, const char *instance,
                          const struct ss_reg_settings *settings, time_t now) SS_MUST_CHECK
    SS_NONNULL(1, 2, 3);

/* Reads and validates the document at path into a new editor. */
ss_error ss_editor_open(const char *path, struct ss_editor **out) SS_MUST_CHECK SS_NONNULL(1, 2);
void ss_editor_free(struct ss_editor *ed);
/* The document's root element, for a change no verb covers; ss_editor_save() still validates. */
xmlNodePtr ss_editor_root(struct ss_editor *ed);

/*
 * Serialises the tree (UTF-8, indented) and validates the bytes; *xml is
 * malloc'd and is exactly what ss_editor_save() would write.
 */
ss_error ss_editor_serialize(struct ss_editor *ed, uint8_t **xml, size_t *len) SS_MUST_CHECK
    SS_NONNULL(1, 2, 3);
/* Serialises, validates and atomically replaces the file the editor was opened from. */
ss_error ss_editor_save(struct ss_editor *ed) SS_MUST_CHECK SS_NONNULL(1);

/* member: "CLASS/CODE"; subsystem: "CLASS/CODE/SUBSYSTEM"; client: either. */
ss_error ss_editor_add_member_class(struct ss_editor *ed, const char *code,
                                    const char *description) SS_MUST_CHECK SS_NONNULL(1, 2, 3);
ss_error ss_editor_add_member(struct ss_editor *ed, const char *member, const char *name,
                              const char *state) SS_MUST_CHECK SS_NONNULL(1, 2, 3, 4);
ss_error ss_editor_add_subsystem(struct ss_editor *ed, const char *subsystem) SS_MUST_CHECK
    SS_NONNULL(1, 2);
/* auth_sha256: 64 hex digits, either case, optionally separated by colons. */
ss_error ss_editor_add_server(struct ss_editor *ed, const char *owner, const char *server_code,
                              const char *address, const char *auth_sha256) SS_MUST_CHECK
    SS_NONNULL(1, 2, 3, 4, 5);
/* server: "OWNERCLASS/OWNERCODE/SERVERCODE". */
ss_error ss_editor_add_client(struct ss_editor *ed, const char *server,
                              const char *client) SS_MUST_CHECK SS_NONNULL(1, 2, 3);
/*
 * A server's further authentication certificates, for a rotation: add the
 * next one, let the server switch to it, remove the old one. Removing the
 * first (authSha256) makes the next its successor; the last one stays.
 */
ss_error ss_editor_add_server_auth(struct ss_editor *ed, const char *server,
                                   const char *auth_sha256) SS_MUST_CHECK SS_NONNULL(1, 2, 3);
ss_error ss_editor_remove_server_auth(struct ss_editor *ed, const char *server,
                                      const char *auth_sha256) SS_MUST_CHECK SS_NONNULL(1, 2, 3);
ss_error ss_editor_add_group(struct ss_editor *ed, const char *code,
                             const char *description) SS_MUST_CHECK SS_NONNULL(1, 2, 3);
ss_error ss_editor_add_group_member(struct ss_editor *ed, const char *group,
                                    const char *client) SS_MUST_CHECK SS_NONNULL(1, 2, 3);
/* ocsp_url and ocsp_cert come together or not at all. */
ss_error ss_editor_add_ca(struct ss_editor *ed, const char *name, const struct ss_editor_cert *root,
                          const struct ss_editor_cert *intermediates, size_t n_intermediates,
                          const char *ocsp_url,
                          const struct ss_editor_cert *ocsp_cert) SS_MUST_CHECK SS_NONNULL(1, 2, 3);
ss_error ss_editor_add_tsa(struct ss_editor *ed, const char *name, const char *url,
                           const struct ss_editor_cert *cert) SS_MUST_CHECK SS_NONNULL(1, 2, 3, 4);

/*
 * Removals refuse to leave a dangling reference: a member class still used
 * by a member, a member or subsystem still owning a server, hosted by one or
 * in a group. A server goes with its client list, a group with its members.
 */
ss_error ss_editor_remove_member_class(struct ss_editor *ed, const char *code) SS_MUST_CHECK
    SS_NONNULL(1, 2);
ss_error ss_editor_remove_member(struct ss_editor *ed, const char *member) SS_MUST_CHECK
    SS_NONNULL(1, 2);
ss_error ss_editor_remove_subsystem(struct ss_editor *ed, const char *subsystem) SS_MUST_CHECK
    SS_NONNULL(1, 2);
ss_error ss_editor_remove_server(struct ss_editor *ed, const char *owner,
                                 const char *server_code) SS_MUST_CHECK SS_NONNULL(1, 2, 3);
ss_error ss_editor_remove_client(struct ss_editor *ed, const char *server,
                                 const char *client) SS_MUST_CHECK SS_NONNULL(1, 2, 3);
ss_error ss_editor_remove_group(struct ss_editor *ed, const char *code) SS_MUST_CHECK
    SS_NONNULL(1, 2);
ss_error ss_editor_remove_group_member(struct ss_editor *ed, const char *group,
                                       const char *client) SS_MUST_CHECK SS_NONNULL(1, 2, 3);
ss_error ss_editor_remove_ca(struct ss_editor *ed, const char *name) SS_MUST_CHECK SS_NONNULL(1, 2);
ss_error ss_editor_remove_tsa(struct ss_editor *ed, const char *name) SS_MUST_CHECK
    SS_NONNULL(1, 2);

/* Changes a server; NULL leaves a field as it is. */
ss_error ss_editor_set_server(struct ss_editor *ed, const char *owner, const char *server_code,
                              const char *address, const char *auth_sha256) SS_MUST_CHECK
    SS_NONNULL(1, 2, 3);
/* Changes the settings whose value is not 0; the others stay. */
ss_error ss_editor_set_settings(struct ss_editor *ed,
                                const struct ss_reg_settings *settings) SS_MUST_CHECK
    SS_NONNULL(1, 2);

/*
 * Prepares the document for signing: serial becomes max(current + 1,
 * min_serial), issued now, expires now + registryValidity.
 */
ss_error ss_editor_stamp(struct ss_editor *ed, uint64_t min_serial, time_t now) SS_MUST_CHECK
    SS_NONNULL(1);

/* Normalises a SHA-256 fingerprint to 64 lowercase hex digits in out. */
ss_error ss_editor_normalize_sha256(const char *hex, char out[65]) SS_MUST_CHECK SS_NONNULL(1, 2);

#endif
