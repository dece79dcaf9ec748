/*
 * clock: the monotonic time every deadline and wait is measured on, and the
 * CLOCK_REALTIME form pthread_cond_timedwait wants.
 */
#ifndef SS_CLOCK_H
#define SS_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Microseconds on CLOCK_MONOTONIC. */
uint64_t ss_monotonic_us(void);

/* The CLOCK_REALTIME deadline (for pthread_cond_timedwait) wait_us from now. */
struct timespec ss_deadline_after_us(uint64_t wait_us);

#endif
