/*
 * gather: when a queue worker (the signer's batches, the logger's commit
 * groups) takes what waits. A worker that is busy (its previous take was
 * less than four waits ago) lets the first waiting item wait up to wait_us
 * for others to join it, unless max are there already; a quiet worker
 * takes a lone item at once, so that light load costs no latency. Fewer,
 * larger takes cost fewer signatures, signature checks and fsyncs.
 */
#ifndef SS_GATHER_H
#define SS_GATHER_H

#include "clock.h"

#include <stddef.h>
#include <stdint.h>

/* 0: take now; else the monotonic time (µs) at which to look again. */
uint64_t ss_gather_due(uint64_t last_take_us, uint64_t first_arrived_us, size_t queued, size_t max,
                       uint64_t wait_us, uint64_t now_us);

#endif
