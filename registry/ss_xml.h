/*
 * ss_xml: the one place that turns untrusted bytes into a libxml2 tree.
 * Parsing is hardened: no network, no entity substitution, no DTD loading,
 * a byte limit and a nesting-depth limit. Validation runs against an XSD
 * compiled into the binary. Every error is reported as "name:line: message"
 * through ss_errf(). Used by registry/ and policies/ (both are XML modules).
 */
#ifndef SS_XML_H
#define SS_XML_H

#include "ss_error.h"

#include <libxml/tree.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SS_XML_MAX_DEPTH 32

/* Parses buf (at most max_bytes) into *out. name appears in error messages. */
ss_error ss_xml_parse(const char *name, const void *buf, size_t len, size_t max_bytes,
                      xmlDocPtr *out) SS_MUST_CHECK SS_NONNULL(1, 2, 5);

/* Validates doc against the XSD text xsd[0..xsd_len). */
ss_error ss_xml_validate(const char *name, xmlDocPtr doc, const unsigned char *xsd,
                         size_t xsd_len) SS_MUST_CHECK SS_NONNULL(1, 2, 3);

/* Attribute value of node (NULL if absent); the pointer lives as long as doc. */
const char *ss_xml_attr(xmlNodePtr node, const char *name);
/* Text content of node, owned by the caller (free with xmlFree). */
char *ss_xml_text(xmlNodePtr node);
/* True if node is an element named name. */
bool ss_xml_is(xmlNodePtr node, const char *name);
/* Number of element children of parent named name. */
size_t ss_xml_count_children(xmlNodePtr parent, const char *name);
/* Line of node in its source, for "file:line: message". */
long ss_xml_line(xmlNodePtr node);

/* Reads a whole file of at most max_bytes into *buf (NUL-terminated, malloc'd). */
ss_error ss_file_read(const char *path, size_t max_bytes, uint8_t **buf, size_t *len) SS_MUST_CHECK
    SS_NONNULL(1, 3, 4);
/* Writes buf to path atomically (temp file in the same directory, fsync, rename). */
ss_error ss_file_write_atomic(const char *path, const void *buf, size_t len) SS_MUST_CHECK;

/*
 * A mark: a number and a SHA-256, "NUMBER HEX\n" alone in a file (the registry's rollback
 * floor, the message log's last record known), written atomically. ss_mark_read sets *found
 * false when there is no file; a file of another form is SS_ERR_CONFIG, the message naming
 * it and saying it is not "form".
 */
ss_error ss_mark_read(const char *path, const char *form, bool *found, uint64_t *number,
                      uint8_t sha256[32]) SS_MUST_CHECK;
ss_error ss_mark_write(const char *path, uint64_t number, const uint8_t sha256[32]) SS_MUST_CHECK;

#endif
