/*
 * asic: the evidence package of secsrv-log export, an ASiC-E container
 * (ETSI EN 319 162-1): a ZIP file whose first entry is "mimetype", stored
 * uncompressed and without an extra field, holding
 * "application/vnd.etsi.asic-e+zip"; then META-INF/manifest.xml and the
 * evidence files. Every entry is stored (method 0): the evidence is small
 * and compressed bytes would only hide it from a reviewer's tools. No ZIP64,
 * no data descriptors, no encryption.
 *
 * The reader accepts exactly what the writer makes and refuses everything
 * else with a reason: it is what `secsrv-log unpack` runs on a package from
 * elsewhere, so it checks every offset, size and CRC, and refuses names that
 * are absolute, climb out (".."), repeat, or hold bytes other than
 * printable ASCII.
 */
#ifndef SS_ASIC_H
#define SS_ASIC_H

#include "ss_error.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SS_ASIC_MIMETYPE "application/vnd.etsi.asic-e+zip"
#define SS_ASIC_MAX_ENTRIES 65535
#define SS_ASIC_NAME_MAX 255
#define SS_ASIC_MAX_BYTES (1024u * 1024 * 1024) /* a package we read or write */

struct ss_asic;

/* A new package holding its mimetype entry. */
ss_error ss_asic_new(struct ss_asic **out) SS_MUST_CHECK;
void ss_asic_free(struct ss_asic *a);
/* Adds one file (the bytes are copied). */
ss_error ss_asic_add(struct ss_asic *a, const char *name, const void *data,
                     size_t len) SS_MUST_CHECK;
/* Adds META-INF/manifest.xml listing every file, and returns the whole package (malloc'd). */
ss_error ss_asic_finish(struct ss_asic *a, uint8_t **out, size_t *len) SS_MUST_CHECK;

struct ss_asic_entry {
    char name[SS_ASIC_NAME_MAX + 1];
    const uint8_t *data; /* into the package read */
    size_t len;
};

/* Reads a package strictly; *entries (malloc'd) point into zip. */
ss_error ss_asic_read(const uint8_t *zip, size_t len, struct ss_asic_entry **entries,
                      size_t *n) SS_MUST_CHECK;

#endif
