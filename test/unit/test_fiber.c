/*
 * Unit tests of the fiber scheduler (secsrv/core/fiber.c): many waiting
 * tasks run on few threads and never more at once than allowed; a wait
 * done before, during or after the fiber parks ends it exactly once;
 * each fiber keeps its own ss_errmsg() across its waits; ss_fiber_poll
 * reports a ready descriptor, a bad one at once, and times out when none
 * is; a fiber never sees OpenSSL errors another fiber left on the thread;
 * outside a fiber the same calls block the thread; stopping runs every
 * submitted task; a task that holds its thread without a wait shows in
 * the longest slice, one that waits does not.
 */
#include "fiber.h"

#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <openssl/err.h>

#define TASKS 300
#define THREADS 2
#define MAX_FIBERS 40

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

struct shared {
    pthread_mutex_t mu;
    pthread_t threads[TASKS];
    unsigned n_threads;
    int live, peak;
    int ran, errs_kept, in_fiber;
    /* waits the completer marks done, in the order they were queued */
    struct ss_wait *queue[TASKS];
    unsigned queued, completed;
    bool stop;
};

struct item {
    struct ss_task task;
    struct shared *sh;
    int id;
    struct ss_wait wait;
};

static void note_thread(struct shared *sh)
{
    pthread_t self = pthread_self();
    for (unsigned i = 0; i < sh->n_threads; i++)
        if (pthread_equal(sh->threads[i], self))
            return;
    sh->threads[sh->n_threads++] = self;
}

static void waiting_task(void *arg)
{
    struct item *it = arg;
    struct shared *sh = it->sh;
    pthread_mutex_lock(&sh->mu);
    note_thread(sh);
    if (++sh->live > sh->peak)
        sh->peak = sh->live;
    sh->in_fiber += ss_in_fiber();
    sh->queue[sh->queued++] = &it->wait;
    pthread_mutex_unlock(&sh->mu);
    (void)ss_errf(SS_ERR_IO, "task %d", it->id);
    ss_wait_for(&it->wait); /* other fibers of this thread run meanwhile, and set theirs */
    char want[32];
    snprintf(want, sizeof want, "task %d", it->id);
    pthread_mutex_lock(&sh->mu);
    sh->errs_kept += strcmp(ss_errmsg(), want) == 0;
    sh->live--;
    sh->ran++;
    pthread_mutex_unlock(&sh->mu);
}

/* Marks the queued waits done, a few at a time, newest first within each round. */
static void *completer(void *arg)
{
    struct shared *sh = arg;
    for (;;) {
        pthread_mutex_lock(&sh->mu);
        bool stop = sh->stop;
        unsigned end = sh->queued;
        unsigned from = sh->completed;
        sh->completed = end;
        pthread_mutex_unlock(&sh->mu);
        for (unsigned i = end; i > from; i--)
            ss_wait_done(sh->queue[i - 1]);
        if (stop && from == end)
            return NULL;
        usleep(200);
    }
}

static void test_many_waits_few_threads(void **state)
{
    (void)state;
    struct shared sh = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct ss_sched *s = NULL;
    assert_int_equal(ss_sched_new("test", THREADS, MAX_FIBERS, &s), SS_OK);
    assert_int_equal(ss_sched_threads(s), THREADS);
    pthread_t c;
    assert_int_equal(pthread_create(&c, NULL, completer, &sh), 0);
    struct item *items = calloc(TASKS, sizeof *items);
    assert_non_null(items);
    for (int i = 0; i < TASKS; i++) {
        items[i] =
            (struct item){.task = {.fn = waiting_task, .arg = &items[i]}, .sh = &sh, .id = i};
        ss_wait_init(&items[i].wait);
        ss_sched_submit(s, &items[i].task);
    }
    ss_sched_free(s); /* every task to its end */
    pthread_mutex_lock(&sh.mu);
    sh.stop = true;
    pthread_mutex_unlock(&sh.mu);
    pthread_join(c, NULL);
    assert_int_equal(sh.ran, TASKS);
    assert_int_equal(sh.errs_kept, TASKS);
    assert_int_equal(sh.in_fiber, TASKS);
    assert_true(sh.n_threads <= THREADS);
    assert_true(sh.peak <= MAX_FIBERS);
    assert_true(sh.peak > THREADS); /* waits did not hold threads */
    for (int i = 0; i < TASKS; i++)
        ss_wait_destroy(&items[i].wait);
    free(items);
}

/* A wait done before the fiber waits: it does not park. */
static void done_first_task(void *arg)
{
    struct item *it = arg;
    ss_wait_done(&it->wait);
    ss_wait_for(&it->wait);
    it->sh->ran++;
}

static void test_done_before_wait(void **state)
{
    (void)state;
    struct shared sh = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct ss_sched *s = NULL;
    assert_int_equal(ss_sched_new("test", 1, 4, &s), SS_OK);
    struct item it = {.task = {.fn = done_first_task, .arg = &it}, .sh = &sh};
    ss_wait_init(&it.wait);
    ss_sched_submit(s, &it.task);
    ss_sched_free(s);
    ss_wait_destroy(&it.wait);
    assert_int_equal(sh.ran, 1);
}

struct poll_item {
    struct ss_task task;
    int fd;
    int timeout_ms;
    int result;
    short revents;
    unsigned calls;
};

static void poll_task(void *arg)
{
    struct poll_item *p = arg;
    struct pollfd pfd = {.fd = p->fd, .events = POLLIN};
    uint64_t t0 = now_us();
    int r;
    do { /* woken early is allowed: loop as a caller does (and count) */
        r = ss_fiber_poll(&pfd, 1, p->timeout_ms);
        p->calls++;
    } while (r == 0 && now_us() - t0 < (uint64_t)p->timeout_ms * 1000u);
    p->result = r;
    p->revents = pfd.revents;
}

static void *write_later(void *arg)
{
    int fd = *(int *)arg;
    usleep(50 * 1000);
    assert_int_equal(write(fd, "x", 1), 1);
    return NULL;
}

static void test_poll(void **state)
{
    (void)state;
    int ready[2], silent[2];
    assert_int_equal(pipe(ready), 0);
    assert_int_equal(pipe(silent), 0);
    struct ss_sched *s = NULL;
    assert_int_equal(ss_sched_new("test", 1, 4, &s), SS_OK);
    struct poll_item a = {.task = {.fn = poll_task, .arg = &a}, .fd = ready[0], .timeout_ms = 5000};
    struct poll_item b = {.task = {.fn = poll_task, .arg = &b}, .fd = silent[0], .timeout_ms = 100};
    int closed = dup(silent[0]);
    assert_true(closed >= 0);
    close(closed);
    /* no limit: a wait that parked would never end */
    struct poll_item c = {.task = {.fn = poll_task, .arg = &c}, .fd = closed, .timeout_ms = -1};
    ss_sched_submit(s, &a.task);
    ss_sched_submit(s, &b.task);
    ss_sched_submit(s, &c.task);
    pthread_t w;
    assert_int_equal(pthread_create(&w, NULL, write_later, &ready[1]), 0);
    ss_sched_free(s);
    pthread_join(w, NULL);
    assert_int_equal(a.result, 1);
    assert_true(a.revents & POLLIN);
    assert_int_equal(a.calls, 1); /* the write ended the wait, not its limit */
    assert_int_equal(b.result, 0);
    assert_int_equal(b.revents, 0);
    /* one wait, to its limit: the wake-ups of the thread for a did not end it early */
    assert_int_equal(b.calls, 1);
    assert_int_equal(c.result, 1);
    assert_int_equal(c.revents, POLLNVAL);
    close(ready[0]);
    close(ready[1]);
    close(silent[0]);
    close(silent[1]);
}

/* A leaves an OpenSSL error on the thread and waits; B, on the same thread, must not see it. */
struct err_items {
    struct ss_task a, b;
    struct ss_wait a_waits;
    unsigned long seen_by_b;
    unsigned long a_own;
};

static void err_leaver(void *arg)
{
    struct err_items *e = arg;
    ERR_raise(ERR_LIB_USER, 42);
    ss_wait_for(&e->a_waits);
    e->a_own = ERR_peek_error();
}

static void err_checker(void *arg)
{
    struct err_items *e = arg;
    e->seen_by_b = ERR_peek_error();
    ERR_raise(ERR_LIB_USER, 43); /* nor does A see this one */
    ss_wait_done(&e->a_waits);
}

static void test_openssl_errors_stay_apart(void **state)
{
    (void)state;
    struct ss_sched *s = NULL;
    assert_int_equal(ss_sched_new("test", 1, 4, &s), SS_OK);
    struct err_items e = {.a = {.fn = err_leaver, .arg = &e}, .b = {.fn = err_checker, .arg = &e}};
    ss_wait_init(&e.a_waits);
    ss_sched_submit(s, &e.a);
    ss_sched_submit(s, &e.b);
    ss_sched_free(s);
    ss_wait_destroy(&e.a_waits);
    assert_int_equal(e.seen_by_b, 0);
    assert_int_equal(e.a_own, 0);
}

static void *done_later(void *arg)
{
    usleep(20 * 1000);
    ss_wait_done(arg);
    return NULL;
}

/* A task that holds its thread, and one that waits (test_longest_slice). */
struct slice_item {
    struct ss_task task;
    struct ss_wait wait; /* the waiting task's */
    int release;         /* atomic: the spinning task ends when set */
};

static void spinning_task(void *arg)
{
    struct slice_item *it = arg;
    while (!__atomic_load_n(&it->release, __ATOMIC_ACQUIRE))
        ; /* holds the thread, as a task stuck in a loop or a blocking call would */
}

static void slice_waiting_task(void *arg)
{
    ss_wait_for(&((struct slice_item *)arg)->wait);
}

/* The longest slice, once it passes min_us (or after 10 s: then the last seen). */
static uint64_t slice_at_least(struct ss_sched *s, uint64_t min_us)
{
    uint64_t t0 = now_us(), slice;
    while ((slice = ss_sched_longest_slice_us(s)) < min_us && now_us() - t0 < 10000000u)
        usleep(1000);
    return slice;
}

static void test_longest_slice(void **state)
{
    (void)state;
    struct ss_sched *s = NULL;
    assert_int_equal(ss_sched_new("test", 2, 8, &s), SS_OK);
    assert_int_equal(ss_sched_longest_slice_us(s), 0);
    /* a task that waits holds no thread: its slice ends at the wait */
    struct slice_item waiting = {.task = {.fn = slice_waiting_task, .arg = &waiting}};
    ss_wait_init(&waiting.wait);
    ss_sched_submit(s, &waiting.task);
    usleep(100 * 1000);
    assert_true(ss_sched_longest_slice_us(s) < 50000u);
    /* one that spins holds its thread: its slice grows until it ends */
    struct slice_item spinning = {.task = {.fn = spinning_task, .arg = &spinning}};
    ss_sched_submit(s, &spinning.task);
    assert_true(slice_at_least(s, 200000u) >= 200000u);
    __atomic_store_n(&spinning.release, 1, __ATOMIC_RELEASE);
    uint64_t t0 = now_us();
    while (ss_sched_longest_slice_us(s) != 0 && now_us() - t0 < 10000000u)
        usleep(1000);
    assert_int_equal(ss_sched_longest_slice_us(s), 0);
    ss_wait_done(&waiting.wait);
    ss_sched_free(s);
    ss_wait_destroy(&waiting.wait);
}

/* Outside a fiber the calls block the calling thread, as before. */
static void test_outside_a_fiber(void **state)
{
    (void)state;
    assert_false(ss_in_fiber());
    struct ss_wait w;
    ss_wait_init(&w);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, done_later, &w), 0);
    ss_wait_for(&w);
    pthread_join(t, NULL);
    ss_wait_destroy(&w);
    int p[2];
    assert_int_equal(pipe(p), 0);
    struct pollfd pfd = {.fd = p[0], .events = POLLIN};
    assert_int_equal(ss_fiber_poll(&pfd, 1, 10), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    assert_int_equal(ss_fiber_poll(&pfd, 1, 10), 1);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_many_waits_few_threads),
        cmocka_unit_test(test_done_before_wait),
        cmocka_unit_test(test_poll),
        cmocka_unit_test(test_openssl_errors_stay_apart),
        cmocka_unit_test(test_outside_a_fiber),
        cmocka_unit_test(test_longest_slice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
