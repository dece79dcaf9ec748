/*
 * clock: the monotonic time every deadline and wait is measured on, for
 * pthread_cond_timedwait too (on a condition made by ss_cond_init): a step of
 * the wall clock (NTP, a restored snapshot) neither stretches nor cuts a wait.
 */
#ifndef SS_CLOCK_H
#define SS_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Microseconds on CLOCK_MONOTONIC. */
uint64_t ss_monotonic_us(void);

/* The deadline wait_us from now, for pthread_cond_timedwait on a condition made by
 * ss_cond_init (CLOCK_MONOTONIC). */
struct timespec ss_deadline_after_us(uint64_t wait_us);

/* Makes c a condition variable whose timed waits are measured on CLOCK_MONOTONIC. */
void ss_cond_init(pthread_cond_t *c);

#endif
