/*
 * fiber: many waits on few threads. A scheduler runs a few threads (about
 * one per core); each thread runs many fibers, each on a stack of its own.
 * A fiber that must wait (ss_wait_for, ss_fiber_poll) hands its thread to
 * the next fiber that is ready instead of blocking it, so an answer that
 * waits on the signer, the logger, a peer or a backend costs its stack
 * (the pages it touched), not a thread.
 *
 * Outside a fiber the same calls block the calling thread, so code that
 * waits reads the same in either.
 *
 * Rules for code that runs in a fiber:
 *   - a fiber stays on the thread that started it; thread-local state other
 *     than ss_errmsg() (which each fiber has of its own) is shared with the
 *     thread's other fibers between two waits;
 *   - no lock is held across a wait (another fiber of the same thread may
 *     take it: a deadlock);
 *   - work that blocks the thread (a long computation, a blocking system
 *     call) delays the thread's other fibers.
 */
#ifndef SS_FIBER_H
#define SS_FIBER_H

#include "ss_error.h"

#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct ss_sched;
struct ss_fiber;

/*
 * A scheduler of threads threads (0: one per online core) running at most
 * max_fibers tasks at once; further tasks wait their turn. name is for the
 * operator log.
 */
ss_error ss_sched_new(const char *name, unsigned threads, unsigned max_fibers,
                      struct ss_sched **out) SS_MUST_CHECK SS_NONNULL(1, 4);
/* A task: fn(arg) to run in a fiber. */
struct ss_task {
    void (*fn)(void *arg);
    void *arg;
    struct ss_task *next; /* the scheduler's */
};
/* Runs t->fn(t->arg) in a fiber, now or when there is room (t is the caller's once fn runs). */
void ss_sched_submit(struct ss_sched *s, struct ss_task *t) SS_NONNULL(1, 2);
/* Lets every submitted task run to its end, then stops the threads. */
void ss_sched_free(struct ss_sched *s);

/* The scheduler's threads (for the metrics and tests). */
unsigned ss_sched_threads(const struct ss_sched *s);

/*
 * How long the longest-running fiber has held its thread without waiting
 * (0: none runs now), in microseconds. Slices are short (a wait ends each);
 * one of seconds means a thread is stuck, and the fibers behind it with it.
 */
uint64_t ss_sched_longest_slice_us(const struct ss_sched *s) SS_NONNULL(1);
/* Whether the caller runs in a fiber. */
bool ss_in_fiber(void);

/*
 * A one-shot event: one party waits for it, any thread may mark it done.
 * ss_wait_done may come before or after ss_wait_for.
 */
struct ss_wait {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    bool done;
    struct ss_fiber *fiber; /* the fiber waiting, if one is */
};
void ss_wait_init(struct ss_wait *w);
void ss_wait_done(struct ss_wait *w);
/* Returns once w is done (then ss_wait_destroy). */
void ss_wait_for(struct ss_wait *w);
void ss_wait_destroy(struct ss_wait *w);

/*
 * poll(2), for a fiber without blocking its thread: the result counts the
 * entries with revents set (0: timed out, or woken early; callers loop
 * on their own condition); timeout_ms < 0 waits without a limit.
 */
int ss_fiber_poll(struct pollfd *fds, unsigned n, int timeout_ms);

#endif
