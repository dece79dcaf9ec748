#include "report.h"

#include <string.h>

void ss_report_text(const struct ss_audit_report *rep, ss_error err, unsigned grace, double secs,
                    struct ss_page *out)
{
    ss_page_raw(out,
                "records %lld to %lld: %llu checked: %llu messages against their digests, %llu "
                "sealed (%llu opened and checked), %llu metadata only, %llu purged after their "
                "retention deadline\n",
                (long long)rep->first_id, (long long)rep->last_id, (unsigned long long)rep->records,
                (unsigned long long)rep->messages, (unsigned long long)rep->sealed,
                (unsigned long long)rep->opened, (unsigned long long)rep->without_message,
                (unsigned long long)rep->purged);
    ss_page_raw(out,
                "signatures: %llu records signed (%llu distinct signatures verified), %llu "
                "refusals whose signature was not required to verify\n",
                (unsigned long long)rep->signed_records, (unsigned long long)rep->signatures,
                (unsigned long long)rep->refused_unverified);
    ss_page_raw(out,
                "timestamps: %llu verified, %llu records in them, %llu records not yet "
                "timestamped; %llu registries verified\n",
                (unsigned long long)rep->timestamps, (unsigned long long)rep->stamped,
                (unsigned long long)rep->unstamped, (unsigned long long)rep->registries);
    if (rep->unstamped_late)
        ss_page_raw(out,
                    "WARNING: %llu records are older than the grace period (%us) and have no "
                    "timestamp: the server stopped before it timestamped them, or timestamps were "
                    "removed; only the chain protects them\n",
                    (unsigned long long)rep->unstamped_late, grace);
    if (rep->stamped_late)
        ss_page_raw(out,
                    "WARNING: %llu records were timestamped more than the grace period (%us) after "
                    "they were logged: the server stopped before it timestamped them, or they were "
                    "rewritten and timestamped again\n",
                    (unsigned long long)rep->stamped_late, grace);
    if (!rep->records)
        ss_page_raw(out, "no record in the range\n");
    ss_page_raw(out, "time: %.3f s (%.0f records/s)\n", secs,
                secs > 0 ? (double)rep->records / secs : 0.0);
    if (err == SS_ERR_BAD_SIGNATURE && rep->broken[0]) {
        /* the reason may quote a changed log: no control character of it reaches a terminal */
        char broken[sizeof rep->broken];
        size_t n = 0;
        for (const char *c = rep->broken; *c && n < sizeof broken - 1; c++)
            broken[n++] = (unsigned char)*c < 0x20 || *c == 0x7f ? '?' : *c;
        broken[n] = '\0';
        if (rep->broken_record)
            ss_page_raw(out, "BROKEN at record %lld: %s\n", (long long)rep->broken_record, broken);
        else
            ss_page_raw(out, "BROKEN: %s\n", broken);
    } else if (!err) {
        ss_page_raw(out, "OK%s\n", ss_audit_warned(rep) ? " (with the warning above)" : "");
    }
}
