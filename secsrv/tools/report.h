/*
 * report: what a verification of a message log found, in words, as
 * secsrv-log verify prints it and the console keeps it: the counts of
 * what was checked, a warning for records left without a timestamp past
 * the grace period, and the last line "OK", "OK (with the warning above)"
 * or "BROKEN ...".
 */
#ifndef SS_REPORT_H
#define SS_REPORT_H

#include "audit.h"
#include "page.h"

/* Writes the report (plain text: escape it to show it in a page) of a verification that ended with
 * err (after secs seconds). */
void ss_report_text(const struct ss_audit_report *rep, ss_error err, unsigned grace, double secs,
                    struct ss_page *out);

#endif
