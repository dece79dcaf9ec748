/* pipe2, signalfd-free sigtimedwait loops, prctl */
#define _GNU_SOURCE
#include "proc.h"
#include "clock.h"
#include "log.h"

#include <errno.h>
#include <grp.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

/* what ss_proc_child_setup set that a change of user undoes (ss_proc_drop sets it again) */
static bool child_secret;
static pid_t child_parent;

/* The parent-death signal and, for a secret child, no dumping: the kernel resets both when
 * the effective user or group changes. */
static void guard_child(void)
{
    /* the parent supervises: without it, a child has no reason to live */
    (void)prctl(PR_SET_PDEATHSIG, SIGTERM, 0, 0, 0);
    /* key material never reaches a core file, nor another process of the same user */
    if (child_secret)
        (void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

void ss_proc_child_setup(const char *name, bool secret)
{
    char title[16];
    snprintf(title, sizeof title, "secsrv-%s", name);
    (void)prctl(PR_SET_NAME, title, 0, 0, 0);
    child_secret = secret;
    child_parent = getppid();
    guard_child();
    (void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    if (secret) {
        struct rlimit none = {0, 0};
        (void)setrlimit(RLIMIT_CORE, &none);
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
}

void ss_proc_ready(int ctl)
{
    /* when, on the clock all processes share: the parent may read it later */
    uint64_t now = ss_monotonic_us();
    if (ss_ipc_send(ctl, SS_IPC_READY, 0, &now, sizeof now, -1) != SS_OK)
        ss_log_warn("cannot tell the parent this process is ready: %s", ss_errmsg());
}

void ss_proc_answer_ping(int ctl, const struct ss_ipc_msg *ping)
{
    if (ss_ipc_send(ctl, SS_IPC_PONG, 0, ping->payload, ping->len, -1) != SS_OK)
        ss_log_warn("cannot answer the parent's watchdog: %s", ss_errmsg());
}

bool ss_proc_is_root(void)
{
    return geteuid() == 0;
}

ss_error ss_proc_user(const char *user, uid_t *uid, gid_t *gid)
{
    struct passwd pw, *res = NULL;
    char buf[4096];
    if (getpwnam_r(user, &pw, buf, sizeof buf, &res) != 0 || !res)
        return ss_errf(SS_ERR_CONFIG, "user %s does not exist", user);
    if (pw.pw_uid == 0)
        return ss_errf(SS_ERR_CONFIG, "user %s is root: nothing would be dropped", user);
    *uid = pw.pw_uid;
    *gid = pw.pw_gid;
    return SS_OK;
}

ss_error ss_proc_drop(const char *user)
{
    if (!user || !user[0] || !ss_proc_is_root())
        return SS_OK;
    uid_t uid;
    gid_t gid;
    ss_error err = ss_proc_user(user, &uid, &gid);
    if (err)
        return err;
    if (setgroups(1, &gid) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0)
        return ss_errf(SS_ERR_INTERNAL, "cannot drop to user %s: %s", user, strerror(errno));
    /* no way back */
    if (setuid(0) == 0 || seteuid(0) == 0)
        return ss_errf(SS_ERR_INTERNAL, "privileges could be regained after dropping to %s", user);
    guard_child();
    if (child_parent && getppid() != child_parent)
        return ss_errf(SS_ERR_INTERNAL, "the parent ended while this process changed its user");
    return SS_OK;
}

ss_error ss_proc_as_user(const char *user, ss_error (*fn)(void *arg), void *arg)
{
    if (!user || !user[0] || !ss_proc_is_root())
        return fn(arg);
    uid_t uid;
    gid_t gid;
    ss_error err = ss_proc_user(user, &uid, &gid);
    if (err)
        return err;
    uid_t old_uid = geteuid();
    gid_t old_gid = getegid();
    (void)setfsgid(gid);
    (void)setfsuid(uid);
    /* setfsuid says nothing of a failure: the identity in force is read back */
    if ((uid_t)setfsuid((uid_t)-1) != uid || (gid_t)setfsgid((gid_t)-1) != gid)
        err = ss_errf(SS_ERR_INTERNAL, "cannot take the file-system identity of user %s", user);
    else
        err = fn(arg);
    (void)setfsuid(old_uid);
    (void)setfsgid(old_gid);
    return err;
}

int ss_proc_signal(pid_t pid, int sig, const char *user)
{
    if (kill(pid, sig) == 0)
        return 0;
    int err = errno;
    uid_t uid;
    gid_t gid;
    if (err != EPERM || !user || !user[0] || !ss_proc_is_root() ||
        ss_proc_user(user, &uid, &gid) != SS_OK)
        return err;
    /* the parent is single-threaded: a fork is safe, and the helper does nothing else */
    pid_t helper = fork();
    if (helper < 0)
        return errno;
    if (helper == 0) {
        if (setgroups(1, &gid) != 0 || setresgid(gid, gid, gid) != 0 ||
            setresuid(uid, uid, uid) != 0)
            _exit(EPERM);
        _exit(kill(pid, sig) == 0 ? 0 : errno);
    }
    int status = 0;
    while (waitpid(helper, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : EPERM;
}

/* ---- the serve loop ---- */

struct link_slot {
    int fd;
    uint32_t generation;
    pthread_mutex_t send_mu;
};

static struct {
    pthread_mutex_t mu; /* fd and generation of the slots */
    struct link_slot slots[SS_SERVE_MAX_LINKS];
} links = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* what ss_serve_run has read from each slot's link and not yet handled (its thread's alone) */
static struct ss_ipc_inbuf inbufs[SS_SERVE_MAX_LINKS];

static ss_link handle_of(size_t slot)
{
    return ((uint64_t)links.slots[slot].generation << 8) | slot;
}

/* frames of one link handled before the loop looks at the others and at the parent again */
#define FRAMES_PER_PASS 256

/* what one slot's part of a batch may grow to before it goes out by itself */
#define BATCH_FLUSH (1024u * 1024)

/* Sends a slot's gathered frames on its link, if it is still the same link; then empties them. */
static void send_slot(struct ss_serve_batch *b, size_t slot)
{
    struct ss_ipc_buf *frames = &b->frames[slot];
    if (!frames->len && !frames->failed)
        return;
    uint32_t generation = (uint32_t)(b->link[slot] >> 8);
    struct link_slot *s = &links.slots[slot];
    pthread_mutex_lock(&s->send_mu);
    pthread_mutex_lock(&links.mu);
    int fd = s->generation == generation ? s->fd : -1;
    pthread_mutex_unlock(&links.mu);
    if (fd >= 0 && ss_ipc_send_frames(fd, frames) != SS_OK) {
        ss_log_warn("IPC: cannot answer a network process: %s", ss_errmsg());
        /* half a frame may have gone: the link is out of step and ends (the serve loop drops
         * it; the network process asks the parent for a new one). Frames that could not be
         * made (too large, out of memory) were never sent: the link stays */
        if (!frames->failed)
            (void)shutdown(fd, SHUT_RDWR);
    }
    pthread_mutex_unlock(&s->send_mu);
    ss_ipc_buf_cleanup(frames);
}

void ss_serve_batch_add(struct ss_serve_batch *b, ss_link link, uint16_t type, uint64_t id,
                        const struct ss_ipc_buf *payload)
{
    if (!b) {
        struct ss_serve_batch one = {0};
        ss_serve_batch_add(&one, link, type, id, payload);
        ss_serve_batch_send(&one);
        return;
    }
    size_t slot = link & 0xff;
    if (slot >= SS_SERVE_MAX_LINKS || (payload && payload->failed))
        return;
    if (b->link[slot] != link || b->frames[slot].len >= BATCH_FLUSH)
        send_slot(b, slot); /* a full part goes out; one for a replaced link is dropped */
    b->link[slot] = link;
    ss_ipc_frame_put(&b->frames[slot], type, id, payload ? payload->data : NULL,
                     payload ? payload->len : 0);
}

void ss_serve_batch_send(struct ss_serve_batch *b)
{
    for (size_t slot = 0; slot < SS_SERVE_MAX_LINKS; slot++)
        send_slot(b, slot);
}

void ss_serve_reply(ss_link link, uint16_t type, uint64_t id, const struct ss_ipc_buf *payload)
{
    ss_serve_batch_add(NULL, link, type, id, payload);
}

static bool add_link(int fd)
{
    /* a network process that stops reading, or stops in the middle of a frame, must not hold
     * this process for ever */
    struct timeval tv = {.tv_sec = SS_IPC_SEND_TIMEOUT};
    if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0)
        ss_log_warn("IPC: a link without a time limit: %s", strerror(errno));
    pthread_mutex_lock(&links.mu);
    for (size_t i = 0; i < SS_SERVE_MAX_LINKS; i++) {
        if (links.slots[i].fd < 0) {
            links.slots[i].fd = fd;
            links.slots[i].generation++;
            pthread_mutex_unlock(&links.mu);
            return true;
        }
    }
    pthread_mutex_unlock(&links.mu);
    return false;
}

static void drop_link(size_t slot)
{
    struct link_slot *s = &links.slots[slot];
    ss_ipc_inbuf_cleanup(&inbufs[slot]);
    pthread_mutex_lock(&s->send_mu); /* no answer is being written to it */
    pthread_mutex_lock(&links.mu);
    if (s->fd >= 0)
        close(s->fd);
    s->fd = -1;
    s->generation++;
    pthread_mutex_unlock(&links.mu);
    pthread_mutex_unlock(&s->send_mu);
}

int ss_serve_run(int ctl, int first_link, size_t max_frame, ss_serve_handler handler, void *cls)
{
    for (size_t i = 0; i < SS_SERVE_MAX_LINKS; i++) {
        links.slots[i].fd = -1;
        pthread_mutex_init(&links.slots[i].send_mu, NULL);
    }
    if (first_link >= 0)
        add_link(first_link);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0) {
        ss_log_error("signalfd: %s", strerror(errno));
        return 1;
    }
    for (;;) {
        struct pollfd pfd[SS_SERVE_MAX_LINKS + 2];
        size_t slot_of[SS_SERVE_MAX_LINKS + 2];
        size_t n = 0;
        pfd[n++] = (struct pollfd){sfd, POLLIN, 0};
        pfd[n++] = (struct pollfd){ctl, POLLIN, 0};
        bool buffered = false; /* frames read and not yet handled: no waiting */
        pthread_mutex_lock(&links.mu);
        for (size_t i = 0; i < SS_SERVE_MAX_LINKS; i++) {
            if (links.slots[i].fd >= 0) {
                slot_of[n] = i;
                pfd[n++] = (struct pollfd){links.slots[i].fd, POLLIN, 0};
                buffered |= ss_ipc_inbuf_ready(&inbufs[i]);
            }
        }
        pthread_mutex_unlock(&links.mu);
        if (poll(pfd, n, buffered ? 0 : -1) < 0) {
            if (errno == EINTR)
                continue;
            ss_log_error("poll: %s", strerror(errno));
            break;
        }
        if (pfd[0].revents)
            break; /* SIGTERM or SIGINT */
        if (pfd[1].revents) {
            struct ss_ipc_msg m;
            if (ss_ipc_recv(ctl, SS_SERVE_CTL_MAX, &m) != SS_OK)
                break; /* the parent is gone */
            if ((m.type == SS_IPC_ATTACH) != (m.fd >= 0)) {
                ss_log_error("unexpected control message %u: stopping", m.type);
                abort(); /* a broken invariant on the control link: the parent restarts us */
            }
            if (m.type == SS_IPC_PING) {
                ss_proc_answer_ping(ctl, &m);
                ss_ipc_msg_cleanup(&m);
                continue;
            }
            if (m.type != SS_IPC_ATTACH) {
                handler(cls, SS_SERVE_PARENT, &m);
                continue;
            }
            /* there is one network process, and one link to it: a new one replaces what came
             * before, unread (what waited on an old link has failed in the network process
             * already, and must not be done now, after what came since) */
            for (size_t i = 0; i < SS_SERVE_MAX_LINKS; i++)
                if (links.slots[i].fd >= 0)
                    drop_link(i);
            if (add_link(m.fd))
                m.fd = -1;
            else
                ss_log_error("more than %d network links: one refused", SS_SERVE_MAX_LINKS);
            ss_ipc_msg_cleanup(&m);
            continue; /* what was polled is of the links just dropped */
        }
        for (size_t k = 2; k < n; k++) {
            if (!pfd[k].revents && !ss_ipc_inbuf_ready(&inbufs[slot_of[k]]))
                continue;
            size_t slot = slot_of[k];
            pthread_mutex_lock(&links.mu);
            ss_link link = handle_of(slot);
            pthread_mutex_unlock(&links.mu);
            /* the frames the last read brought, a bounded number at a time: a network process
             * that keeps sending must not keep the parent's questions (ctl) from this loop */
            unsigned taken = 0;
            do {
                struct ss_ipc_msg m;
                ss_error err = ss_ipc_inbuf_recv(&inbufs[slot], pfd[k].fd, max_frame, &m);
                if (err == SS_ERR_IO) {
                    drop_link(slot); /* that network process ended; its successor comes by ATTACH */
                    break;
                }
                if (err) {
                    /* a malformed frame from our own network process: a broken invariant */
                    ss_log_error("IPC: malformed request: %s", ss_errmsg());
                    abort();
                }
                handler(cls, link, &m);
            } while (++taken < FRAMES_PER_PASS && ss_ipc_inbuf_ready(&inbufs[slot]));
        }
    }
    close(sfd);
    for (size_t i = 0; i < SS_SERVE_MAX_LINKS; i++)
        drop_link(i);
    return 0;
}
