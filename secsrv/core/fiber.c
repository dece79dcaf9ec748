#include "fiber.h"
#include "clock.h"
#include "log.h"

#include <errno.h>
#include <openssl/err.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * The sanitizers must know when a thread changes stacks: AddressSanitizer
 * (its fake stacks and stack bounds) and ThreadSanitizer (each fiber is a
 * context of its own; a switch carries the happens-before of the thread).
 */
#if defined(__SANITIZE_ADDRESS__)
#define SS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SS_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define SS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SS_TSAN 1
#endif
#endif

#ifdef SS_ASAN
void __sanitizer_start_switch_fiber(void **fake_stack_save, const void *bottom, size_t size);
void __sanitizer_finish_switch_fiber(void *fake_stack_save, const void **bottom_old,
                                     size_t *size_old);
#endif
#ifdef SS_TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);
#define FIBER_TSAN(x) (x)
#else
#define FIBER_TSAN(x) NULL
#endif

/*
 * A switch between fibers saves what the C calling convention has a callee keep (on x86-64:
 * rbx, rbp, r12-r15, the stack pointer, and the x87 and SSE control words) and nothing more.
 * swapcontext also saves and restores the signal mask, a system call each way: nine per
 * exchange, about a microsecond each on a virtual machine. The fibers never change the
 * signal mask, so it needs no saving. Elsewhere swapcontext serves.
 */
#if defined(__x86_64__)
#define SS_OWN_SWITCH 1
struct switch_ctx {
    void *sp; /* the stack pointer of a switched-out context, its registers pushed below it */
};
/* Pushes the callee-saved registers and control words, saves the stack pointer in *from,
 * takes to as the stack pointer and pops the registers found there: runs on where to left. */
void ss_fiber_switch_x86_64(void **from, void *to);
__asm__(".text\n"
        ".p2align 4\n"
        ".globl ss_fiber_switch_x86_64\n"
        ".hidden ss_fiber_switch_x86_64\n"
        ".type ss_fiber_switch_x86_64, @function\n"
        "ss_fiber_switch_x86_64:\n"
        "  pushq %rbp\n"
        "  pushq %rbx\n"
        "  pushq %r12\n"
        "  pushq %r13\n"
        "  pushq %r14\n"
        "  pushq %r15\n"
        "  subq $16, %rsp\n"
        "  stmxcsr 8(%rsp)\n"
        "  fnstcw (%rsp)\n"
        "  movq %rsp, (%rdi)\n"
        "  movq %rsi, %rsp\n"
        "  fldcw (%rsp)\n"
        "  ldmxcsr 8(%rsp)\n"
        "  addq $16, %rsp\n"
        "  popq %r15\n"
        "  popq %r14\n"
        "  popq %r13\n"
        "  popq %r12\n"
        "  popq %rbx\n"
        "  popq %rbp\n"
        "  ret\n"
        ".size ss_fiber_switch_x86_64, .-ss_fiber_switch_x86_64\n");
#else
#include <ucontext.h>
struct switch_ctx {
    ucontext_t uc;
};
#endif

/* A fiber's stack (a guard page below it); the exchange's deepest path needs far less. */
#define STACK_SIZE (512 * 1024)
/* Ended fibers kept per thread, stack and all, for the next tasks. */
#define KEEP_FIBERS 32
/* Events taken from the kernel at once. */
#define EVENTS 64

/* Where a fiber is (its thread's business alone; parked is under the thread's lock). */
enum fiber_state {
    F_READY,   /* in its thread's ready list */
    F_RUNNING, /* on its thread now */
    F_WAITING, /* in ss_wait_for, until fiber_wake */
    F_POLLING, /* in ss_fiber_poll, until an event or its deadline */
    F_ENDED,
};

struct worker;

struct ss_fiber {
    struct switch_ctx ctx;
    struct worker *w;
    char *map; /* the mapping: guard page, then the stack */
    size_t map_size;
    struct ss_task task;
    enum fiber_state state;
    bool parked;  /* under w->mu: waiting for fiber_wake */
    bool pending; /* under w->mu: woken while not parked; the next park returns at once */
    char errmsg[SS_ERRMSG_MAX];
    /* while F_POLLING */
    struct pollfd *pfds;
    uint64_t deadline_us; /* 0: none */
    struct ss_fiber *next;
    void *fake_stack; /* AddressSanitizer's, while the fiber is switched out */
#ifdef SS_TSAN
    void *tsan;
#endif
};

struct worker {
    struct ss_sched *s;
    pthread_t thread;
    int ep;   /* epoll: the fibers' sockets, and evfd */
    int evfd; /* wakes the thread from its epoll_wait */
    pthread_mutex_t mu;
    struct ss_fiber *woken; /* under mu: fibers made ready by other threads */
    bool sleeping;          /* under mu: in epoll_wait */
    bool stopping;          /* under mu */
    unsigned live;          /* fibers started and not ended (atomic: submit reads it) */
    unsigned max_live;
    uint64_t slice_from_us; /* atomic: since when the running fiber holds the thread (0: none) */
    bool starved;           /* a fiber could not be made (out of memory): look again in a while */
    /* the thread's own */
    struct ss_fiber *ready, **ready_tail;
    struct ss_fiber *polling; /* fibers in ss_fiber_poll (a list through next) */
    struct ss_fiber *spare;   /* ended, kept for reuse */
    unsigned n_spare;
    struct ss_fiber *current;
    struct switch_ctx main_ctx;
    const void *main_bottom; /* the thread's own stack, for AddressSanitizer */
    size_t main_size;
#ifdef SS_TSAN
    void *tsan_main;
#endif
};

struct ss_sched {
    char name[32];
    unsigned n;
    struct worker *workers;
    unsigned next; /* where submit starts looking for a thread to wake */
    /* tasks not started yet, first come first served by whichever thread has room */
    pthread_mutex_t mu;
    struct ss_task *tasks, **tasks_tail;
    unsigned n_tasks;
};

static _Thread_local struct worker *this_worker;

bool ss_in_fiber(void)
{
    return this_worker && this_worker->current;
}

/* ---- switching ---- */

/*
 * Saves the running context in from and runs to, whose stack is
 * [bottom, bottom + size) and whose ThreadSanitizer context is tsan_to;
 * returns when from is switched back to. fake_save keeps this side's
 * AddressSanitizer fake stack meanwhile.
 */
static void switch_stack(struct switch_ctx *from, struct switch_ctx *to, void **fake_save, const void *bottom,
                         size_t size, void *tsan_to)
{
#ifdef SS_ASAN
    __sanitizer_start_switch_fiber(fake_save, bottom, size);
#else
    (void)fake_save;
    (void)bottom;
    (void)size;
#endif
#ifdef SS_TSAN
    __tsan_switch_to_fiber(tsan_to, 0);
#else
    (void)tsan_to;
#endif
#ifdef SS_OWN_SWITCH
    ss_fiber_switch_x86_64(&from->sp, to->sp);
#else
    swapcontext(&from->uc, &to->uc);
#endif
#ifdef SS_ASAN
    __sanitizer_finish_switch_fiber(*fake_save, NULL, NULL);
#endif
}

/* From the thread's loop into f. */
static void enter(struct worker *w, struct ss_fiber *f)
{
    w->current = f;
    f->state = F_RUNNING;
    ss_errmsg_bind(f->errmsg);
    /*
     * OpenSSL's error queue is the thread's: what another fiber left there must not reach
     * this one, which may be in the middle of a handshake (a peer check that fetches an OCSP
     * response waits inside OpenSSL's verify callback), where a stray entry fails it.
     */
    ERR_clear_error();
    void *main_fake = NULL;
    size_t guard = (size_t)getpagesize();
    __atomic_store_n(&w->slice_from_us, ss_monotonic_us(), __ATOMIC_RELAXED);
    switch_stack(&w->main_ctx, &f->ctx, &main_fake, f->map + guard, f->map_size - guard,
                 FIBER_TSAN(f->tsan));
    __atomic_store_n(&w->slice_from_us, 0, __ATOMIC_RELAXED);
    ss_errmsg_bind(NULL);
    w->current = NULL;
}

/* From the running fiber back to its thread's loop (to be resumed later unless it ended). */
static void leave(struct worker *w, struct ss_fiber *f)
{
    /* an ended fiber keeps its fake stack too: it is kept for the next task */
    switch_stack(&f->ctx, &w->main_ctx, &f->fake_stack, w->main_bottom, w->main_size,
                 FIBER_TSAN(w->tsan_main));
}

static void fiber_main(void)
{
    struct worker *w = this_worker;
    struct ss_fiber *f = w->current;
#ifdef SS_ASAN
    __sanitizer_finish_switch_fiber(NULL, &w->main_bottom, &w->main_size);
#endif
    for (;;) {
        f->task.fn(f->task.arg);
        f->state = F_ENDED;
        leave(w, f); /* a kept fiber comes back here with its next task */
    }
}

/* A context that, switched to, runs fiber_main on the stack [stack, stack + size). */
static void context_new(struct switch_ctx *c, char *stack, size_t size)
{
#ifdef SS_OWN_SWITCH
    /* the first switch pops what lies here: control words, six registers (zero), and
     * returns into fiber_main with the stack aligned as after a call (fiber_main never
     * returns: the zero above its entry is no address to return to) */
    uintptr_t top = ((uintptr_t)stack + size) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)top - 10;
    memset(sp, 0, 10 * sizeof *sp);
    uint16_t fpucw;
    uint32_t mxcsr;
    __asm__ volatile("fnstcw %0" : "=m"(fpucw));
    __asm__ volatile("stmxcsr %0" : "=m"(mxcsr));
    memcpy(&sp[0], &fpucw, sizeof fpucw);
    memcpy(&sp[1], &mxcsr, sizeof mxcsr);
    void (*entry)(void) = fiber_main;
    memcpy(&sp[8], &entry, sizeof entry);
    c->sp = sp;
#else
    getcontext(&c->uc);
    c->uc.uc_stack.ss_sp = stack;
    c->uc.uc_stack.ss_size = size;
    c->uc.uc_link = NULL;
    makecontext(&c->uc, fiber_main, 0);
#endif
}

static void fiber_free(struct ss_fiber *f)
{
#ifdef SS_TSAN
    __tsan_destroy_fiber(f->tsan);
#endif
    munmap(f->map, f->map_size);
    free(f);
}

/* A fiber for t: a kept one, or a new one (NULL: out of memory). */
static struct ss_fiber *fiber_new(struct worker *w, const struct ss_task *t)
{
    struct ss_fiber *f = w->spare;
    if (f) {
        w->spare = f->next;
        w->n_spare--;
    } else {
        if (!(f = calloc(1, sizeof *f)))
            return NULL;
        size_t page = (size_t)getpagesize();
        f->map_size = STACK_SIZE + page;
        f->map = mmap(NULL, f->map_size, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_STACK, -1, 0);
        if (f->map == MAP_FAILED) {
            free(f);
            return NULL;
        }
        (void)mprotect(f->map, page, PROT_NONE); /* an overflow faults, not corrupts */
        context_new(&f->ctx, f->map + page, STACK_SIZE);
#ifdef SS_TSAN
        f->tsan = __tsan_create_fiber(0);
#endif
        f->w = w;
    }
    f->task = *t;
    f->task.next = NULL;
    f->parked = f->pending = false;
    f->errmsg[0] = '\0';
    f->next = NULL;
    f->state = F_READY;
    return f;
}

static void push_ready(struct worker *w, struct ss_fiber *f)
{
    f->state = F_READY;
    f->next = NULL;
    *w->ready_tail = f;
    w->ready_tail = &f->next;
}

/* ---- waking ---- */

static void kick(struct worker *w)
{
    uint64_t one = 1;
    if (write(w->evfd, &one, sizeof one) < 0) {
        /* the counter is full: the thread has a wake-up due anyway */
    }
}

/* Makes a parked fiber ready; a wake before the park is remembered. Any thread. */
static void fiber_wake(struct ss_fiber *f)
{
    struct worker *w = f->w;
    pthread_mutex_lock(&w->mu);
    if (f->parked) {
        f->parked = false;
        f->next = w->woken;
        w->woken = f;
        if (w->sleeping) {
            w->sleeping = false;
            kick(w);
        }
    } else
        f->pending = true;
    pthread_mutex_unlock(&w->mu);
}

/* The running fiber waits for fiber_wake (which may have come already). */
static void fiber_park(void)
{
    struct worker *w = this_worker;
    struct ss_fiber *f = w->current;
    pthread_mutex_lock(&w->mu);
    if (f->pending) {
        f->pending = false;
        pthread_mutex_unlock(&w->mu);
        return;
    }
    f->parked = true;
    f->state = F_WAITING;
    pthread_mutex_unlock(&w->mu);
    leave(w, f);
}

void ss_wait_init(struct ss_wait *w)
{
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->cond, NULL);
    w->done = false;
    w->fiber = NULL;
}

void ss_wait_done(struct ss_wait *w)
{
    pthread_mutex_lock(&w->mu);
    w->done = true;
    /* woken under the lock: the waiter cannot end (and its fiber go) before */
    if (w->fiber)
        fiber_wake(w->fiber);
    else
        pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->mu);
}

void ss_wait_for(struct ss_wait *w)
{
    pthread_mutex_lock(&w->mu);
    if (ss_in_fiber()) {
        w->fiber = this_worker->current;
        while (!w->done) {
            pthread_mutex_unlock(&w->mu);
            fiber_park();
            pthread_mutex_lock(&w->mu);
        }
        w->fiber = NULL;
    } else {
        while (!w->done)
            pthread_cond_wait(&w->cond, &w->mu);
    }
    pthread_mutex_unlock(&w->mu);
}

void ss_wait_destroy(struct ss_wait *w)
{
    pthread_cond_destroy(&w->cond);
    pthread_mutex_destroy(&w->mu);
}

/* ---- polling ---- */

static uint32_t to_epoll(short events)
{
    return (uint32_t)((events & POLLIN ? EPOLLIN : 0) | (events & POLLOUT ? EPOLLOUT : 0) |
                      (events & POLLPRI ? EPOLLPRI : 0));
}

static short from_epoll(uint32_t ev)
{
    return (short)((ev & EPOLLIN ? POLLIN : 0) | (ev & EPOLLOUT ? POLLOUT : 0) |
                   (ev & EPOLLPRI ? POLLPRI : 0) | (ev & EPOLLERR ? POLLERR : 0) |
                   (ev & EPOLLHUP ? POLLHUP : 0));
}

/* An epoll registration: which fiber, which of its entries. */
struct reg {
    struct ss_fiber *f;
    unsigned i;
};

/* Takes the first n entries of fds out of ep (those that went in: not negative, not bad). */
static void unregister(int ep, const struct pollfd *fds, unsigned n)
{
    for (unsigned i = 0; i < n; i++)
        if (fds[i].fd >= 0 && !(fds[i].revents & POLLNVAL))
            (void)epoll_ctl(ep, EPOLL_CTL_DEL, fds[i].fd, NULL);
}

int ss_fiber_poll(struct pollfd *fds, unsigned n, int timeout_ms)
{
    if (!ss_in_fiber() || timeout_ms == 0)
        return poll(fds, n, timeout_ms);
    struct worker *w = this_worker;
    struct ss_fiber *f = w->current;
    struct reg regs[16];
    if (n > sizeof regs / sizeof regs[0]) {
        errno = EINVAL;
        return -1;
    }
    int bad = 0;
    for (unsigned i = 0; i < n; i++) {
        fds[i].revents = 0;
        if (fds[i].fd < 0)
            continue;
        regs[i] = (struct reg){f, i};
        struct epoll_event ev = {.events = to_epoll(fds[i].events), .data.ptr = &regs[i]};
        if (epoll_ctl(w->ep, EPOLL_CTL_ADD, fds[i].fd, &ev) == 0)
            continue;
        if (errno == EBADF) { /* as poll(2): the entry says so */
            fds[i].revents = POLLNVAL;
            bad++;
            continue;
        }
        int e = errno;
        unregister(w->ep, fds, i);
        errno = e;
        return -1;
    }
    if (bad) { /* answered at once, as poll(2) does */
        unregister(w->ep, fds, n);
        return bad;
    }
    f->pfds = fds;
    f->deadline_us = timeout_ms < 0 ? 0 : ss_monotonic_us() + (uint64_t)timeout_ms * 1000u + 1;
    f->state = F_POLLING;
    f->next = w->polling;
    w->polling = f;
    leave(w, f);
    unregister(w->ep, fds, n);
    int ready = 0;
    for (unsigned i = 0; i < n; i++)
        ready += fds[i].revents != 0;
    return ready;
}

/* Takes f out of the polling list and makes it ready. */
static void poll_end(struct worker *w, struct ss_fiber *f)
{
    for (struct ss_fiber **p = &w->polling; *p; p = &(*p)->next) {
        if (*p == f) {
            *p = f->next;
            break;
        }
    }
    push_ready(w, f);
}

/* ---- the threads ---- */

/* Milliseconds until the nearest polling deadline (-1: none). */
static int next_timeout(const struct worker *w)
{
    if (w->starved)
        return 100;
    uint64_t first = 0;
    for (const struct ss_fiber *f = w->polling; f; f = f->next)
        if (f->deadline_us && (!first || f->deadline_us < first))
            first = f->deadline_us;
    if (!first)
        return -1;
    uint64_t now = ss_monotonic_us();
    return first <= now ? 0 : (int)((first - now + 999) / 1000);
}

static void expire(struct worker *w)
{
    uint64_t now = ss_monotonic_us();
    struct ss_fiber *f = w->polling;
    while (f) {
        struct ss_fiber *next = f->next;
        if (f->deadline_us && f->deadline_us <= now)
            poll_end(w, f);
        f = next;
    }
}

/*
 * Takes the events that are there (block: waits for one, or the nearest
 * deadline, when the thread has nothing ready) and makes their fibers ready.
 */
static void take_events(struct worker *w, bool block)
{
    struct epoll_event ev[EVENTS];
    int n = epoll_wait(w->ep, ev, EVENTS, block ? next_timeout(w) : 0);
    for (int i = 0; i < n; i++) {
        if (!ev[i].data.ptr) {
            uint64_t v;
            if (read(w->evfd, &v, sizeof v) < 0) {
                /* nothing to read: another wake-up took it */
            }
            continue;
        }
        struct reg *r = ev[i].data.ptr;
        r->f->pfds[r->i].revents = from_epoll(ev[i].events);
        if (r->f->state == F_POLLING)
            poll_end(w, r->f);
    }
    expire(w);
}

/*
 * Starts fibers for waiting tasks while the thread has room. Returns
 * whether tasks are left (*started: whether one was started).
 */
static bool take_tasks(struct worker *w, bool *started)
{
    struct ss_sched *s = w->s;
    *started = false;
    pthread_mutex_lock(&s->mu);
    while (s->tasks && __atomic_load_n(&w->live, __ATOMIC_RELAXED) < w->max_live) {
        struct ss_task *t = s->tasks;
        struct ss_fiber *f = fiber_new(w, t); /* takes fn and arg from t */
        if (!f) {
            if (!w->starved)
                ss_log_error("%s: cannot start a fiber: out of memory; %u task(s) wait", s->name,
                             s->n_tasks);
            w->starved = true;
            break;
        }
        w->starved = false;
        s->tasks = t->next;
        if (!s->tasks)
            s->tasks_tail = &s->tasks;
        s->n_tasks--;
        __atomic_fetch_add(&w->live, 1, __ATOMIC_RELAXED);
        push_ready(w, f);
        *started = true;
    }
    bool left = s->tasks != NULL;
    pthread_mutex_unlock(&s->mu);
    return left;
}

/* Runs the ready fibers, and keeps or frees the ones that ended. */
static void run_ready(struct worker *w)
{
    while (w->ready) {
        struct ss_fiber *f = w->ready;
        w->ready = f->next;
        if (!w->ready)
            w->ready_tail = &w->ready;
        enter(w, f);
        if (f->state != F_ENDED)
            continue;
        __atomic_fetch_sub(&w->live, 1, __ATOMIC_RELAXED);
        if (w->n_spare < KEEP_FIBERS) {
            f->next = w->spare;
            w->spare = f;
            w->n_spare++;
        } else
            fiber_free(f);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    this_worker = w;
#ifdef SS_TSAN
    w->tsan_main = __tsan_get_current_fiber();
#endif
    for (;;) {
        pthread_mutex_lock(&w->mu);
        while (w->woken) {
            struct ss_fiber *f = w->woken;
            w->woken = f->next;
            push_ready(w, f);
        }
        bool stopping = w->stopping;
        pthread_mutex_unlock(&w->mu);
        bool started;
        bool left = take_tasks(w, &started);
        if (w->ready) {
            run_ready(w);
            /* while fibers keep being woken, the sockets that became ready are seen too */
            if (w->polling)
                take_events(w, false);
            continue;
        }
        if (stopping && !__atomic_load_n(&w->live, __ATOMIC_RELAXED) && !left)
            break;
        /*
         * Asleep, then a last look at the tasks: a task submitted after that look finds
         * this thread asleep and wakes it (submit looks after it queued the task).
         */
        pthread_mutex_lock(&w->mu);
        /* stopping, the thread sleeps only while its fibers wait for events, or memory */
        bool nap = !w->woken &&
                   (!w->stopping || __atomic_load_n(&w->live, __ATOMIC_RELAXED) || w->starved);
        w->sleeping = nap;
        pthread_mutex_unlock(&w->mu);
        if (!nap)
            continue;
        take_tasks(w, &started);
        if (!started)
            take_events(w, true);
        pthread_mutex_lock(&w->mu);
        w->sleeping = false;
        pthread_mutex_unlock(&w->mu);
    }
    while (w->spare) {
        struct ss_fiber *f = w->spare;
        w->spare = f->next;
        fiber_free(f);
    }
    this_worker = NULL;
    return NULL;
}

ss_error ss_sched_new(const char *name, unsigned threads, unsigned max_fibers,
                      struct ss_sched **out)
{
    *out = NULL;
    if (!threads) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores > 0 ? (unsigned)cores : 1;
    }
    if (!max_fibers)
        max_fibers = 1;
    if (threads > max_fibers)
        threads = max_fibers;
    struct ss_sched *s = calloc(1, sizeof *s);
    if (!s || !(s->workers = calloc(threads, sizeof *s->workers))) {
        free(s);
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    }
    snprintf(s->name, sizeof s->name, "%s", name);
    pthread_mutex_init(&s->mu, NULL);
    s->tasks_tail = &s->tasks;
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    ss_error err = SS_OK;
    for (unsigned i = 0; i < threads; i++) {
        struct worker *w = &s->workers[i];
        w->s = s;
        w->max_live = max_fibers / threads + (i < max_fibers % threads);
        w->ready_tail = &w->ready;
        pthread_mutex_init(&w->mu, NULL);
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        w->evfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
        int rc;
        if (w->ep < 0 || w->evfd < 0 || epoll_ctl(w->ep, EPOLL_CTL_ADD, w->evfd, &ev) < 0)
            err = ss_errf(SS_ERR_IO, "%s: cannot set up a worker's events: %s", name,
                          strerror(errno));
        else if ((rc = pthread_create(&w->thread, &attr, worker_main, w)) != 0)
            err = ss_errf(SS_ERR_IO, "%s: cannot start a worker thread: %s", name, strerror(rc));
        if (err) { /* this one is not counted in s->n: undone here */
            if (w->ep >= 0)
                close(w->ep);
            if (w->evfd >= 0)
                close(w->evfd);
            pthread_mutex_destroy(&w->mu);
            break;
        }
        s->n++;
    }
    pthread_attr_destroy(&attr);
    if (err) {
        ss_sched_free(s);
        return err;
    }
    *out = s;
    return SS_OK;
}

void ss_sched_submit(struct ss_sched *s, struct ss_task *t)
{
    t->next = NULL;
    pthread_mutex_lock(&s->mu);
    *s->tasks_tail = t;
    s->tasks_tail = &t->next;
    s->n_tasks++;
    pthread_mutex_unlock(&s->mu);
    /* a thread with room that sleeps takes it; a busy one takes it on its next round */
    unsigned start = __atomic_fetch_add(&s->next, 1, __ATOMIC_RELAXED);
    for (unsigned k = 0; k < s->n; k++) {
        struct worker *w = &s->workers[(start + k) % s->n];
        if (__atomic_load_n(&w->live, __ATOMIC_RELAXED) >= w->max_live)
            continue;
        pthread_mutex_lock(&w->mu);
        bool asleep = w->sleeping;
        if (asleep) {
            w->sleeping = false;
            kick(w);
        }
        pthread_mutex_unlock(&w->mu);
        if (asleep)
            return;
    }
}

unsigned ss_sched_threads(const struct ss_sched *s)
{
    return s->n;
}

uint64_t ss_sched_longest_slice_us(const struct ss_sched *s)
{
    uint64_t now = ss_monotonic_us(), longest = 0;
    for (unsigned i = 0; i < s->n; i++) {
        uint64_t from = __atomic_load_n(&s->workers[i].slice_from_us, __ATOMIC_RELAXED);
        if (from && now > from && now - from > longest)
            longest = now - from;
    }
    return longest;
}

void ss_sched_free(struct ss_sched *s)
{
    if (!s)
        return;
    for (unsigned i = 0; i < s->n; i++) {
        struct worker *w = &s->workers[i];
        pthread_mutex_lock(&w->mu);
        w->stopping = true;
        if (w->sleeping) {
            w->sleeping = false;
            kick(w);
        }
        pthread_mutex_unlock(&w->mu);
    }
    for (unsigned i = 0; i < s->n; i++) {
        struct worker *w = &s->workers[i];
        pthread_join(w->thread, NULL);
        close(w->ep);
        close(w->evfd);
        pthread_mutex_destroy(&w->mu);
    }
    pthread_mutex_destroy(&s->mu);
    free(s->workers);
    free(s);
}
