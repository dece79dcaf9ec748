/*
 * registry: the members registry of a federation, as the daemon and the
 * tools see it after it was verified. A registry is immutable once loaded
 * and reference-counted, so the daemon can swap in a new one atomically
 * while requests still hold the old one.
 *
 * ss_registry_load() is the only way in for a signed document: it checks the
 * detached CMS signature against the pinned authority certificate before it
 * parses a byte, then validates against schemas/registry.xsd, then refuses an
 * expired document and a serial below the last one accepted.
 */
#ifndef SS_REGISTRY_H
#define SS_REGISTRY_H

#include "ss_error.h"
#include "ss_id.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define SS_REGISTRY_MAX_BYTES (16u * 1024u * 1024u)
#define SS_REGISTRY_SIG_MAX_BYTES (256u * 1024u)

/*
 * Checks a server address, HOST:PORT, where HOST is a host name, an IPv4
 * address in dotted-quad form or [an IPv6 address], and PORT 1 to 65535.
 * One endpoint has one spelling, so that two servers' addresses compared
 * without case differ whenever their endpoints do: no leading zeros in the
 * port, no trailing dot, no empty label, an IPv4 address as four decimal
 * numbers (not "127.1" or "0x7f.0.0.1", which resolvers also take) and an
 * IPv6 address as inet_ntop writes it. SS_ERR_CONFIG says what is wrong.
 */
ss_error ss_reg_address_check(const char *address) SS_MUST_CHECK SS_NONNULL(1);

/*
 * What the authority's tool holds a registry to before it writes or signs
 * one, beyond what every server checks when it loads one (so that a document
 * signed before these rules still loads, and can be opened and mended): each
 * server's address in its one spelling (ss_reg_address_check), and each
 * authentication certificate registered for one server only. SS_ERR_REGISTRY
 * names the server.
 */
struct ss_registry;
ss_error ss_registry_check_servers(const struct ss_registry *reg) SS_MUST_CHECK SS_NONNULL(1);

struct ss_reg_member_class {
    char *code;
    char *description;
};

struct ss_reg_member {
    char *member_class;
    char *member_code;
    char *name;
    char state[3]; /* "SH" or "MV" */
    char **subsystems;
    size_t n_subsystems;
};

/* Authentication certificates one server may have registered at once (rotation). */
#define SS_REG_MAX_AUTH 4

struct ss_reg_server {
    struct ss_client_id owner; /* member, no subsystem */
    char *code;
    char *address; /* host:port */
    /* its TLS authentication certificates' fingerprints: [0] the authSha256 attribute, then
     * the authCertificate elements (e.g. the next one, while a certificate is rotated) */
    uint8_t auth_sha256[SS_REG_MAX_AUTH][32];
    size_t n_auth;
    struct ss_client_id *clients;
    size_t n_clients;
};

struct ss_reg_group {
    char *code;
    char *description;
    struct ss_client_id *members;
    size_t n_members;
};

struct ss_reg_blob {
    uint8_t *der;
    size_t len;
};

struct ss_reg_ocsp {
    char *url;
    struct ss_reg_blob cert;
};

struct ss_reg_ca {
    char *name;
    struct ss_reg_blob cert; /* trust anchor */
    struct ss_reg_blob *intermediates;
    size_t n_intermediates;
    struct ss_reg_ocsp *ocsp;
    size_t n_ocsp;
};

struct ss_reg_tsa {
    char *name;
    char *url;
    struct ss_reg_blob cert;
};

struct ss_reg_settings {
    long ocsp_freshness;        /* seconds an OCSP response is good for */
    long timestamping_interval; /* seconds between timestamp batches */
    long registry_validity;     /* seconds a newly signed registry is valid */
    long refresh_interval;      /* seconds between downloads by servers */
};

struct ss_registry {
    char instance[SS_ID_PART_MAX + 1];
    uint64_t serial;
    time_t issued;
    time_t expires;
    struct ss_reg_settings settings;
    struct ss_reg_member_class *classes;
    size_t n_classes;
    struct ss_reg_member *members;
    size_t n_members;
    struct ss_reg_server *servers;
    size_t n_servers;
    struct ss_reg_group *groups;
    size_t n_groups;
    struct ss_reg_ca *cas;
    size_t n_cas;
    struct ss_reg_tsa *tsas;
    size_t n_tsas;
    int refs; /* atomic */
};

/* The pinned registry authority certificate (DER). */
struct ss_reg_anchor {
    uint8_t *der;
    size_t len;
};

/* Reads a PEM or DER certificate file into anchor. */
ss_error ss_reg_anchor_load(const char *path, struct ss_reg_anchor *anchor) SS_MUST_CHECK;
void ss_reg_anchor_cleanup(struct ss_reg_anchor *anchor);

/*
 * Parses and schema-validates an (unsigned) registry document. name is used
 * in error messages ("name:line: message"). No signature check: use this
 * only on documents the caller already trusts (the authority's own tool).
 */
ss_error ss_registry_parse(const char *name, const uint8_t *xml, size_t len,
                           struct ss_registry **out) SS_MUST_CHECK SS_NONNULL(1, 2, 4);

/* Checks the detached CMS signature sig over xml against the anchor. */
ss_error ss_registry_verify_signature(const uint8_t *xml, size_t xml_len, const uint8_t *sig,
                                      size_t sig_len,
                                      const struct ss_reg_anchor *anchor) SS_MUST_CHECK;

/*
 * Verifies signature, parses, validates, refuses a document expired at now
 * and one whose serial is below min_serial. On success *out holds one
 * reference.
 */
ss_error ss_registry_load(const char *name, const uint8_t *xml, size_t xml_len, const uint8_t *sig,
                          size_t sig_len, const struct ss_reg_anchor *anchor, time_t now,
                          uint64_t min_serial, struct ss_registry **out) SS_MUST_CHECK
    SS_NONNULL(1, 2, 4, 6, 9);

/*
 * Signs xml as the registry authority: a detached CMS SignedData (DER) with
 * SHA-256, the signer certificate and the chain certificates (PEM file, may
 * be NULL) included. *sig is malloc'd. Only the authority's tool calls this.
 */
ss_error ss_registry_sign(const uint8_t *xml, size_t xml_len, const char *key_path,
                          const char *cert_path, const char *chain_path, uint8_t **sig,
                          size_t *sig_len) SS_MUST_CHECK SS_NONNULL(1, 3, 4, 6, 7);

/* Formats t as "YYYY-MM-DDTHH:MM:SSZ"; parses the same (false if malformed). */
void ss_time_format(time_t t, char out[21]);
bool ss_time_parse(const char *s, time_t *out);

struct ss_registry *ss_registry_ref(struct ss_registry *reg);
void ss_registry_unref(struct ss_registry *reg);

/* True if reg is expired at now. */
bool ss_registry_expired(const struct ss_registry *reg, time_t now);

/* Look-ups. The returned pointers live as long as reg. */
/* Whether fp is one of s's authentication certificates (compared in constant time). */
bool ss_registry_server_auth(const struct ss_reg_server *s, const uint8_t fp[32]);

const struct ss_reg_member *ss_registry_member(const struct ss_registry *reg,
                                               const char *member_class, const char *member_code);
/* True if the member (and the subsystem, if id has one) is registered. */
bool ss_registry_client_exists(const struct ss_registry *reg, const struct ss_client_id *id);
const struct ss_reg_server *ss_registry_server(const struct ss_registry *reg,
                                               const struct ss_client_id *owner,
                                               const char *server_code);
/* Servers hosting client: fills up to max pointers, returns the total. */
size_t ss_registry_servers_for_client(const struct ss_registry *reg,
                                      const struct ss_client_id *client,
                                      const struct ss_reg_server **out, size_t max);
/* True if server hosts client. */
bool ss_registry_server_hosts(const struct ss_reg_server *server,
                              const struct ss_client_id *client);
const struct ss_reg_group *ss_registry_group(const struct ss_registry *reg, const char *code);
/* True if client is in the global group: a member entry covers its subsystems. */
bool ss_registry_group_has(const struct ss_registry *reg, const char *group_code,
                           const struct ss_client_id *client);

#endif
