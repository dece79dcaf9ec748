/*
 * metrics: what an operator watches with Prometheus, in its text exposition
 * format (version 0.0.4). Histograms with fixed bucket bounds that can be
 * observed in one process and carried to another (the logger's over IPC),
 * the network process's exchange counters and latencies, and the writer
 * of samples with escaped label values. Every metric is documented in
 * deploy/README.md.
 */
#ifndef SS_METRICS_H
#define SS_METRICS_H

#include "ss_text.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SS_HIST_MAX 16 /* buckets of a histogram, +Inf included */

/* A histogram's bucket bounds (upper, inclusive; +Inf implied after the last). */
struct ss_hist_bounds {
    const double *le;
    size_t n;
};
extern const struct ss_hist_bounds ss_hist_seconds; /* 0.5 ms .. 10 s */
extern const struct ss_hist_bounds ss_hist_sizes;   /* 1 .. 512 records */

struct ss_hist {
    uint64_t bucket[SS_HIST_MAX]; /* counts per bucket, not cumulative; last: above all bounds */
    uint64_t count;
    double sum;
};

void ss_hist_observe(struct ss_hist *h, const struct ss_hist_bounds *b, double v);

/* # HELP and # TYPE of a metric family. */
void ss_prom_family(struct ss_text *t, const char *name, const char *type, const char *help);
/*
 * One sample: name{labels} value. labels alternate names and values (n
 * pairs); values are escaped as the format says (backslash, quote, LF).
 */
void ss_prom_sample(struct ss_text *t, const char *name, const char *const *labels, size_t n,
                    double value);
/* A histogram's _bucket (cumulative, le), _sum and _count samples. */
void ss_prom_hist(struct ss_text *t, const char *name, const char *const *labels, size_t n,
                  const struct ss_hist_bounds *b, const struct ss_hist *h);

/* ---- the network process's exchanges ---- */

#define SS_METRICS_MAX_SERIES 2048 /* label sets; more are counted as client and service "other"   \
                                    */

enum ss_metrics_direction { SS_METRICS_OUTBOUND = 0, SS_METRICS_INBOUND = 1 };

struct ss_metrics;

struct ss_metrics *ss_metrics_new(void);
void ss_metrics_free(struct ss_metrics *m);

/*
 * One exchange at its end: who asked for what, how it ended (the X-Road
 * error type, or "ok"), its whole time and, when it was forwarded, the
 * time spent waiting on the peer server (outbound) or the register service
 * (inbound), in seconds.
 */
void ss_metrics_exchange(struct ss_metrics *m, enum ss_metrics_direction dir, const char *client,
                         const char *service, const char *outcome, double total, bool forwarded,
                         double waiting);

/* The exchange counters and latency histograms. */
void ss_metrics_render(struct ss_metrics *m, struct ss_text *t);

#endif
