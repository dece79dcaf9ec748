/*
 * export: evidence packages of message-log records, for anyone to check
 * with stock tools. A package (an ASiC-E container, asic.h) holds, per
 * record under records/ID/: the record's hashed encoding (record.bin) and
 * its content commitment's (content.bin), the message (opened with the
 * DPO's secret key when it is stored sealed, else the sealed box), the
 * manifest, the CMS signature, the signer's certificate and its issuer, the
 * stapled OCSP response, the steps of the signature's batch tree and of
 * the timestamp's tree (each step's exact input to SHA-256), and the RFC
 * 3161 token; at the top the CA, OCSP responder and TSA certificates of the
 * registries in force, and VERIFY.txt: the commands (openssl, with cmp,
 * cut and sed to join their results) that check all of it, run with
 * `sh -e VERIFY.txt` in the unpacked folder. A changed byte in any
 * evidence file makes a command fail.
 */
#ifndef SS_EXPORT_H
#define SS_EXPORT_H

#include "audit.h"
#include "record.h"
#include "ss_error.h"
#include "store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct ss_export;

/* A new package for records of s, judged by the registries kept; secret may be NULL. */
ss_error ss_export_new(struct ss_store *s, const struct ss_kept_registries *kept,
                       const uint8_t *secret, const uint8_t public_key[32],
                       struct ss_export **out) SS_MUST_CHECK;
void ss_export_free(struct ss_export *x);
/* Adds one record (as ss_store_each or ss_store_search hand it over). */
ss_error ss_export_record(struct ss_export *x, const struct ss_record *r, int64_t ts_id,
                          const char *ts_path) SS_MUST_CHECK;
/* The package (malloc'd) and how many records it holds. */
ss_error ss_export_finish(struct ss_export *x, uint8_t **out, size_t *len,
                          size_t *records) SS_MUST_CHECK;

/*
 * Whether text (a package's VERIFY.txt) holds only the commands export
 * writes, line for line: openssl dgst, cms -verify, verify, ocsp and
 * ts -verify, cmp, and the two pipes to cut/sed and grep, on files inside
 * the package. A package from elsewhere may carry any script; unpack
 * refuses one that holds anything else, so that running it is safe.
 * SS_ERR_PROTOCOL naming the first line that is not such a command.
 */
ss_error ss_export_script_check(const char *text, size_t len) SS_MUST_CHECK;

#endif
