/*
 * secsrv: a security server for once-only register exchange.
 *
 *   secsrv -c FILE        run
 *   secsrv -n -c FILE     check the configuration and everything it names, then exit
 *
 * The parent reads the configuration, binds the listening sockets, and
 * forks the children before any thread exists; then it only supervises:
 * a child that dies is started again (and linked to the others), SIGHUP
 * reloads the policies, SIGTERM stops everything. The process layout, as
 * relayd's process table shows it:
 *
 *   process  holds                                  talks to                may not
 *   parent   configuration, listening sockets,      every child (start,     serve traffic
 *            this table                             link, reload, stop)
 *   signer   members' signing keys, their OCSP      network (IPC),          open listeners, read
 *            responses                              OCSP responders         the message log
 *   logger   the message-log store, timestamps      network (IPC), TSAs     read signing keys
 *   network  listeners, TLS, registry, policies,    signer, logger (IPC),   read signing keys,
 *            both proxies, health                   peers, backends         write the store
 *
 * Started as root, every child drops to [server] user once it has opened
 * what needs root (keys, the store); the parent stays to restart them.
 */
#include "clock.h"
#include "config.h"
#include "daemon.h"
#include "hsm.h"
#include "ipc.h"
#include "log.h"
#include "logger.h"
#include "network.h"
#include "nodes.h"
#include "proc.h"
#include "signer.h"
#include "ss_xml.h"
#include "store.h"
#include "trust.h"

#include <sodium.h>

#include <curl/curl.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum child_id { CHILD_SIGNER, CHILD_LOGGER, CHILD_NETWORK, N_CHILDREN };

struct child {
    const char *name;
    pid_t pid;
    int ctl;               /* the parent's end of the control link, -1 if none */
    bool ready;            /* it said it serves (SS_IPC_READY) */
    uint64_t ready_us;     /* when it said so (ss_monotonic_us) */
    uint64_t asked_us;     /* when the watchdog last asked it for a sign of life (SS_IPC_PING) */
    uint64_t unanswered;   /* when it asked first since the last answer (0: none waits) */
    unsigned early_deaths; /* deaths before it served SERVED_US, in a row */
    time_t restart_at;     /* when a dead child is due again (0: not dead) */
    /* the signer's and the logger's link to the network process */
    uint32_t link_serial; /* the number of the one handed last (0: the first, at the start) */
    bool relink;          /* the network process said it broke: a new one is due */
    uint64_t relink_at;   /* not before (ss_monotonic_us; one a second at most) */
};

/* The process table: one row per child. */
static struct child children[N_CHILDREN] = {
    [CHILD_SIGNER] = {.name = "signer", .ctl = -1},
    [CHILD_LOGGER] = {.name = "logger", .ctl = -1},
    [CHILD_NETWORK] = {.name = "network", .ctl = -1},
};

static struct ss_config *cfg;
static struct ss_daemon_links sockets = {-1, -1, -1, -1, -1, -1, -1}; /* the listeners only */

static void usage(void)
{
    fprintf(stderr, "usage: secsrv [-n | -p] -c FILE\n"
                    "  -c FILE  configuration file\n"
                    "  -n       check the configuration and exit\n"
                    "  -p       print who this server is and the files the configuration names\n");
}

/* Closes every descriptor above 2 that is not in keep. */
static void close_others(const int *keep, size_t n)
{
    struct rlimit rl;
    int max = getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 65536 ? (int)rl.rlim_cur : 65536;
    for (int fd = 3; fd < max; fd++) {
        bool kept = false;
        for (size_t i = 0; i < n && !kept; i++)
            kept = keep[i] == fd;
        if (!kept)
            close(fd);
    }
}

/* how long a child must have served for its death not to count as early: a crash on what it
 * is handed as it starts (the registry, requests that waited for it) comes sooner */
#define SERVED_US 100000u

/* the longest the parent's loop waits for something to happen */
#define POLL_US 1000000u

/* what a child's message to the parent may carry (SS_IPC_RELINK's two numbers) */
#define CTL_FROM_CHILD_MAX 8

/* seconds the parent waits for a frame a child began, or to hand a child a message */
#define CTL_TIMEOUT_S 2

/*
 * The send buffer of each end of a link (SO_SNDBUF; on an AF_UNIX stream
 * socket it alone bounds what is queued towards the peer, the receive
 * buffer plays no part). The kernel doubles it to 212,992 bytes, the
 * default of most Linux systems, and net.core.wmem_max caps it: set, it is
 * the same wherever a system's default differs, so that a stalled peer
 * holds the sender up after about the same amount (fewer bytes in small
 * frames, each of which costs the kernel's bookkeeping).
 */
#define LINK_SNDBUF (104 * 1024)

/* A connected pair of AF_UNIX stream sockets with LINK_SNDBUF; -1 (errno, sv -1) on failure. */
static int socket_pair(int sv[2])
{
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
        sv[0] = sv[1] = -1;
        return -1;
    }
    int size = LINK_SNDBUF;
    for (int i = 0; i < 2; i++) {
        if (setsockopt(sv[i], SOL_SOCKET, SO_SNDBUF, &size, sizeof size) != 0) {
            int e = errno;
            close(sv[0]);
            close(sv[1]);
            sv[0] = sv[1] = -1;
            errno = e;
            return -1;
        }
    }
    return 0;
}

/*
 * Forks child id with its control link and its IPC links (a[1..], -1 if
 * none). The child's descriptors other than its own are closed.
 */
static bool start_child(enum child_id id, int link_a, int link_b)
{
    struct child *c = &children[id];
    int ctl[2];
    if (socket_pair(ctl) != 0) {
        ss_log_error("%s: socketpair: %s", c->name, strerror(errno));
        return false;
    }
    pid_t pid = fork();
    if (pid < 0) {
        ss_log_error("%s: fork: %s", c->name, strerror(errno));
        close(ctl[0]);
        close(ctl[1]);
        return false;
    }
    if (pid == 0) {
        /* the child: from here on only its own descriptors */
        int status = 1;
        int keep[8] = {ctl[1], link_a, link_b};
        size_t n_keep = 3;
        if (id == CHILD_NETWORK) {
            keep[n_keep++] = sockets.client_proxy;
            keep[n_keep++] = sockets.client_proxy_tls;
            keep[n_keep++] = sockets.server_proxy;
            keep[n_keep++] = sockets.health;
            keep[n_keep++] = sockets.metrics;
        }
        close_others(keep, n_keep);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGCHLD, SIG_DFL);
        switch (id) {
        case CHILD_SIGNER:
            status = ss_signer_main(cfg, ctl[1], link_a);
            break;
        case CHILD_LOGGER:
            status = ss_logger_main(cfg, ctl[1], link_a);
            break;
        case CHILD_NETWORK: {
            struct ss_daemon_links links = sockets;
            links.signer = link_a;
            links.logger = link_b;
            status = ss_network_main(cfg, ctl[1], &links);
            cfg = NULL; /* the daemon took it */
            break;
        }
        default:
            break;
        }
        _exit(status);
    }
    close(ctl[1]);
    /* the parent never waits long on a child: a frame begun and not finished, or a link the
     * child does not read, fails after a while (and the child is ended) rather than freezing
     * the supervision of all of them */
    struct timeval patience = {.tv_sec = CTL_TIMEOUT_S};
    (void)setsockopt(ctl[0], SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
    (void)setsockopt(ctl[0], SOL_SOCKET, SO_SNDTIMEO, &patience, sizeof patience);
    if (c->ctl >= 0)
        close(c->ctl);
    c->ctl = ctl[0];
    c->pid = pid;
    c->ready = false;
    c->restart_at = 0;
    ss_log_info("%s: started (pid %ld)", c->name, (long)pid);
    return true;
}

static void end_child(struct child *c);

/*
 * Sends a running child a message (and fd >= 0 with it) over its control
 * link; false when it did not. A child that did not take it (its control
 * link full for CTL_TIMEOUT_S, or half a frame sent, which leaves the link
 * out of step) is ended: it comes back, with new links. what names the
 * message for the operator log.
 */
static bool tell_child(struct child *c, uint16_t type, const struct ss_ipc_buf *b, int fd,
                       const char *what)
{
    if (c->pid <= 0 || c->ctl < 0)
        return false;
    if (b && b->failed) {
        ss_log_warn("%s: %s: too large or out of memory", c->name, what);
        return false;
    }
    if (ss_ipc_send(c->ctl, type, 0, b ? b->data : NULL, b ? b->len : 0, fd) == SS_OK)
        return true;
    ss_log_warn("%s: did not take %s: %s", c->name, what, ss_errmsg());
    end_child(c);
    return false;
}

/* Hands a link (the parent's number serial) to a running child; false when it did not. */
static bool hand_link(enum child_id to, enum ss_ipc_link which, uint32_t serial, int fd)
{
    struct ss_ipc_buf b = {0};
    ss_ipc_put_u32(&b, (uint32_t)which);
    ss_ipc_put_u32(&b, serial);
    bool ok = tell_child(&children[to], SS_IPC_ATTACH, &b, fd, "a new link");
    ss_ipc_buf_cleanup(&b);
    return ok;
}

/* The network process's name for its link to the signer or the logger. */
static enum ss_ipc_link link_of(enum child_id id)
{
    return id == CHILD_SIGNER ? SS_IPC_LINK_SIGNER : SS_IPC_LINK_LOGGER;
}

/*
 * A new link between the network process and the signer or the logger,
 * both running: the network process said the one in use broke (a frame
 * half sent, a stall), and the process at its other end still lives.
 */
static void relink(enum child_id id)
{
    struct child *c = &children[id];
    c->relink = false;
    c->relink_at = ss_monotonic_us() + 1000000u;
    int pair[2];
    if (socket_pair(pair) != 0) {
        ss_log_error("%s: socketpair: %s", c->name, strerror(errno));
        c->relink = true; /* again in a second */
        return;
    }
    /* the child first: one that does not take it is ended, and the network process gets its
     * new link when it is started again */
    c->link_serial++;
    if (hand_link(id, SS_IPC_LINK_NETWORK, c->link_serial, pair[0]) &&
        hand_link(CHILD_NETWORK, link_of(id), c->link_serial, pair[1]))
        ss_log_info("%s: linked to the network process again", c->name);
    close(pair[0]);
    close(pair[1]);
}

/* The network process's SS_IPC_RELINK: a new link is due if the one it names is the latest. */
static void relink_asked(const struct ss_ipc_msg *m)
{
    struct ss_ipc_reader r;
    ss_ipc_reader_init(&r, m);
    uint32_t which = ss_ipc_get_u32(&r), serial = ss_ipc_get_u32(&r);
    if (!ss_ipc_reader_done(&r) || (which != SS_IPC_LINK_SIGNER && which != SS_IPC_LINK_LOGGER)) {
        ss_log_error("network: malformed link request: ending it");
        end_child(&children[CHILD_NETWORK]);
        return;
    }
    struct child *c = &children[which == SS_IPC_LINK_SIGNER ? CHILD_SIGNER : CHILD_LOGGER];
    /* a link older than the last one handed was replaced already */
    if (c->pid > 0 && serial == c->link_serial)
        c->relink = true;
}

/* The new links that are due, to children that serve (one still starting reads none yet). */
static void relink_due(void)
{
    uint64_t now = ss_monotonic_us();
    for (enum child_id id = CHILD_SIGNER; id <= CHILD_LOGGER; id++) {
        struct child *c = &children[id];
        if (c->relink && c->pid > 0 && c->ready && children[CHILD_NETWORK].pid > 0 &&
            now >= c->relink_at)
            relink(id);
    }
}

/* Closes the parent's copies of the two link pairs (-1: none). */
static void close_pairs(const int sn[2], const int ln[2])
{
    for (int i = 0; i < 2; i++) {
        if (sn[i] >= 0)
            close(sn[i]);
        if (ln[i] >= 0)
            close(ln[i]);
    }
}

/*
 * (Re)starts child id and links it to the running others: the signer and
 * the logger each have one link to the network process.
 */
static bool restart(enum child_id id)
{
    int sn[2] = {-1, -1}, ln[2] = {-1, -1};
    bool ok = false;
    switch (id) {
    case CHILD_SIGNER:
    case CHILD_LOGGER: {
        int *pair = id == CHILD_SIGNER ? sn : ln;
        if (socket_pair(pair) != 0)
            break;
        ok = start_child(id, pair[0], -1);
        children[id].relink = false; /* a new process, a new link */
        if (ok && children[CHILD_NETWORK].pid > 0)
            (void)hand_link(CHILD_NETWORK, link_of(id), ++children[id].link_serial, pair[1]);
        break;
    }
    case CHILD_NETWORK:
        if (socket_pair(sn) != 0 || socket_pair(ln) != 0)
            break;
        ok = start_child(id, sn[1], ln[1]);
        if (ok) {
            /* a new network process starts with its links numbered 0 */
            for (enum child_id peer = CHILD_SIGNER; peer <= CHILD_LOGGER; peer++) {
                children[peer].link_serial = 0;
                children[peer].relink = false;
            }
            (void)hand_link(CHILD_SIGNER, SS_IPC_LINK_NETWORK, 0, sn[0]);
            (void)hand_link(CHILD_LOGGER, SS_IPC_LINK_NETWORK, 0, ln[0]);
        }
        break;
    default:
        break;
    }
    close_pairs(sn, ln);
    return ok;
}

/* The initial start: all three, linked to each other. */
static bool start_all(void)
{
    int sn[2] = {-1, -1}, ln[2] = {-1, -1};
    bool ok = socket_pair(sn) == 0 && socket_pair(ln) == 0;
    if (!ok)
        ss_log_error("socketpair: %s", strerror(errno));
    ok = ok && start_child(CHILD_SIGNER, sn[0], -1) && start_child(CHILD_LOGGER, ln[0], -1) &&
         start_child(CHILD_NETWORK, sn[1], ln[1]);
    close_pairs(sn, ln);
    return ok;
}

static void reap(bool stopping)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        for (size_t i = 0; i < N_CHILDREN; i++) {
            struct child *c = &children[i];
            if (c->pid != pid)
                continue;
            char served_for[64] = "before it served";
            uint64_t served_us = c->ready ? ss_monotonic_us() - c->ready_us : 0;
            if (c->ready)
                snprintf(served_for, sizeof served_for, "after it served %llu ms",
                         (unsigned long long)(served_us / 1000));
            if (WIFSIGNALED(status))
                ss_log_warn("%s: killed by signal %d %s", c->name, WTERMSIG(status), served_for);
            else if (stopping && WEXITSTATUS(status) == 0)
                ss_log_info("%s: stopped %s", c->name, served_for);
            else
                ss_log_warn("%s: exited with status %d %s", c->name, WEXITSTATUS(status),
                            served_for);
            c->pid = 0;
            if (stopping)
                break;
            /* a child that served a while is started again at once; one that keeps dying
             * before it serves (a broken store, an unreadable key), or as soon as it serves
             * (SERVED_US), 1, 2, 4 ... up to 30 s apart */
            bool served = c->ready && served_us >= SERVED_US;
            c->early_deaths = served ? 0 : c->early_deaths + 1;
            unsigned wait = c->early_deaths == 0  ? 0
                            : c->early_deaths > 5 ? 30
                                                  : 1u << (c->early_deaths - 1);
            c->restart_at = time(NULL) + wait; /* never 0: 0 means alive */
            if (wait)
                ss_log_warn("%s: restarting in %us (it died %u times in a row before it had "
                            "served %u ms)",
                            c->name, wait, c->early_deaths, SERVED_US / 1000);
        }
    }
}

static void restart_due(void)
{
    time_t now = time(NULL);
    for (size_t i = 0; i < N_CHILDREN; i++) {
        struct child *c = &children[i];
        if (c->pid == 0 && c->restart_at && now >= c->restart_at && !restart((enum child_id)i))
            c->restart_at = now + 1;
    }
}

static void stop_all(void)
{
    for (size_t i = 0; i < N_CHILDREN; i++)
        if (children[i].pid > 0)
            (void)ss_proc_signal(children[i].pid, SIGTERM, cfg->user);
    for (int tick = 0; tick < 100; tick++) {
        bool alive = false;
        reap(true);
        for (size_t i = 0; i < N_CHILDREN; i++)
            alive |= children[i].pid > 0;
        if (!alive)
            return;
        usleep(100000);
    }
    for (size_t i = 0; i < N_CHILDREN; i++)
        if (children[i].pid > 0) {
            ss_log_warn("%s: did not stop in 10 s: killed", children[i].name);
            (void)ss_proc_signal(children[i].pid, SIGKILL, cfg->user);
        }
    reap(true);
}

/* Binds every configured listener; the network process inherits them, also after a restart. */
static bool bind_listeners(void)
{
    const struct {
        const char *name, *address;
        int *fd;
    } all[] = {{"client-proxy", cfg->client_listen, &sockets.client_proxy},
               {"client-proxy-tls", cfg->client_tls_listen, &sockets.client_proxy_tls},
               {"server-proxy", cfg->server_listen, &sockets.server_proxy},
               {"health", cfg->health_listen, &sockets.health},
               {"metrics", cfg->metrics_listen, &sockets.metrics}};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        if (!all[i].address[0])
            continue;
        uint16_t port = 0;
        if (ss_http_listen(all[i].name, all[i].address, all[i].fd, &port) != SS_OK) {
            ss_log_error("%s", ss_errmsg());
            return false;
        }
        ss_log_info("%s: listening on %s (port %u)", all[i].name, all[i].address, port);
    }
    return true;
}

/*
 * The watchdog: a child that serves is asked for a sign of life a few
 * times within [server] watchdog seconds (its serve loop answers at once);
 * one that has not answered for that long since it was asked (stopped, or
 * its loop stuck) is ended, and started again as any child that died
 * after serving. One question at a time (a stopped child's link would fill
 * with them); judged right after all the children said was read, and not
 * after the parent was itself held up (stopped, a slow hand-over): then it
 * asks again.
 */
static void watch_children(void)
{
    static uint64_t last;
    if (!cfg->watchdog)
        return;
    uint64_t limit = (uint64_t)cfg->watchdog * 1000000u, now = ss_monotonic_us();
    uint64_t every = limit / 3 < 5000000u ? limit / 3 : 5000000u;
    bool held_up = last && now - last > 2 * POLL_US + (uint64_t)CTL_TIMEOUT_S * 1000000u;
    last = now;
    for (size_t i = 0; i < N_CHILDREN; i++) {
        struct child *c = &children[i];
        if (c->pid <= 0 || !c->ready || c->ctl < 0)
            continue;
        if (held_up)
            c->unanswered = 0;
        if (c->unanswered && now - c->unanswered > limit) {
            ss_log_error("%s: no sign of life for %u s (stopped, or stuck): ended, to be started "
                         "again",
                         c->name, cfg->watchdog);
            end_child(c);
            continue;
        }
        if (!c->unanswered && now - c->asked_us >= every) {
            c->asked_us = c->unanswered = now;
            struct ss_ipc_buf b = {0};
            ss_ipc_put_u64(&b, now);
            (void)tell_child(c, SS_IPC_PING, &b, -1, "the watchdog's question");
            ss_ipc_buf_cleanup(&b);
        }
    }
}

/*
 * Whether this node holds what the other nodes of a shared store hold
 * (nodes.h); a problem when it does not, a warning when it cannot tell.
 */
/* Whether this server is a node of a shared store: then what it holds is compared. */
static bool shared_node(void)
{
    return cfg->node && cfg->log_store && !ss_store_is_file(cfg->log_store);
}

static void check_nodes(void)
{
    if (!shared_node())
        return;
    long line = ss_config_line(cfg, "server", "node", NULL);
    char config[SS_NODES_CONFIG_MAX], why[400];
    struct ss_store *store = NULL;
    bool agrees = true;
    if (ss_nodes_config(cfg, config) != SS_OK) {
        ss_config_problem(cfg, line, "what node %s holds: %s", cfg->node, ss_errmsg());
        return;
    }
    if (ss_store_open(cfg->log_store, true, 0, &store) != SS_OK ||
        ss_nodes_check(store, cfg->node, config, SS_NODES_FRESH, &agrees, why, sizeof why) != SS_OK)
        ss_config_warning(cfg, line, "node %s: cannot compare it with the other nodes: %s",
                          cfg->node, ss_errmsg());
    else if (!agrees)
        ss_config_problem(cfg, line, "node %s %s", cfg->node, why);
    ss_store_close(store);
}

static int check(void)
{
    /* every problem is in cfg->problems; the code only says whether there was one */
    int rc = cfg->n_problems || ss_daemon_check(cfg) != SS_OK ? 1 : 0;
    if (!rc) {
        check_nodes();
        rc = cfg->n_problems ? 1 : 0;
    }
    fputs(cfg->warnings, stderr);
    if (rc)
        fputs(cfg->problems, stderr);
    else
        printf("configuration OK%s\n", cfg->n_warnings ? " (with warnings)" : "");
    return rc;
}

/* set when a child could not be ended: the parent stops, so that its supervisor (systemd,
 * KillMode=control-group) ends them all and starts the server whole */
static bool unsupervised;

/*
 * A child whose control link broke (half a frame, a message it did not take), or that the
 * watchdog gave up on: the link is closed, which a child takes as the end of its parent, and
 * the child is killed (as its user when the parent may not: the packaged unit has no
 * CAP_KILL). One that cannot be killed even so leaves the parent to stop.
 */
static void end_child(struct child *c)
{
    if (c->ctl >= 0)
        close(c->ctl);
    c->ctl = -1;
    int err = c->pid > 0 ? ss_proc_signal(c->pid, SIGKILL, cfg->user) : 0;
    if (err && err != ESRCH) {
        ss_log_error("%s: it cannot be ended from here (%s): stopping", c->name, strerror(err));
        unsupervised = true;
    }
}

/*
 * What this node holds (nodes.h), for the logger to compare with the other
 * nodes of a shared store; at the start and after each reload (the policies
 * and the TLS certificate may have changed).
 */
static void node_config(void)
{
    if (!shared_node())
        return;
    char config[SS_NODES_CONFIG_MAX];
    if (ss_nodes_config(cfg, config) != SS_OK) {
        ss_log_error("what node %s holds cannot be told: %s", cfg->node, ss_errmsg());
        config[0] = '\0';
    }
    free(cfg->node_config);
    cfg->node_config = strdup(config);
    struct ss_ipc_buf b = {0};
    ss_ipc_put_str(&b, config);
    (void)tell_child(&children[CHILD_LOGGER], SS_IPC_NODE_CONFIG, &b, -1,
                     "what this node holds now");
    ss_ipc_buf_cleanup(&b);
}

/* One "KIND VALUE" line, when there is a value; KIND names what it is. */
static void path_line(const char *kind, const char *value)
{
    if (value && value[0])
        printf("%s %s\n", kind, value);
}

/*
 * -p: who this server is and every file and folder its configuration
 * names, one "KIND VALUE" line each, for secsrv-backup (paths as written,
 * the configuration file itself first).
 */
static int print_paths(void)
{
    char owner[SS_ID_STR_MAX];
    if (!ss_client_id_format(&cfg->owner, owner, sizeof owner))
        owner[0] = '\0';
    path_line("config", cfg->path);
    printf("server %s/%s\n", owner, cfg->server_code);
    path_line("state_dir", cfg->state_dir);
    path_line("store", ss_config_sqlite_path(cfg));
    path_line("policy_dir", cfg->policy_dir);
    path_line("anchor", cfg->registry_anchor);
    path_line("dpo_public_key", cfg->dpo_public_key);
    path_line("cert", cfg->auth_cert);
    path_line("cert", cfg->client_tls_cert);
    path_line("cert", cfg->client_tls_ca);
    for (size_t i = 0; i < cfg->n_keys; i++)
        path_line("cert", cfg->keys[i].cert_file);
    for (size_t i = 0; i < cfg->n_services; i++)
        path_line("description", cfg->services[i].description);
    path_line("key", cfg->auth_key);
    path_line("key", cfg->client_tls_key);
    path_line("key", cfg->subject_key);
    const char *pin = cfg->pkcs11_pin_file;
    path_line("key", pin && strncmp(pin, "file:", 5) == 0 ? pin + 5 : pin);
    for (size_t i = 0; i < cfg->n_keys; i++)
        path_line("key", cfg->keys[i].key_file);
    return 0;
}

/* Reads the files named, each NULL or a path (false: one cannot be read, or is empty, which
 * the message could not tell from a file not set; the log says so). */
static bool read_texts(const char *what, char *const *paths, char **texts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!paths[i])
            continue;
        if (ss_trust_read_pem(paths[i], &texts[i]) != SS_OK) {
            ss_log_error("SIGHUP: %s stays: %s", what, ss_errmsg());
            return false;
        }
        if (!texts[i][0]) {
            ss_log_error("SIGHUP: %s stays: %s is empty", what, paths[i]);
            return false;
        }
    }
    return true;
}

/*
 * What a reload hands the signer, which cannot read the key files once its privileges are
 * gone: each signing key's key and certificate files as they are now (a key in a token: the
 * certificate alone). One that cannot be read stays as it is; the signer says the rest.
 */
static void reload_signing_keys(void)
{
    for (size_t i = 0; i < cfg->n_keys && children[CHILD_SIGNER].pid > 0; i++) {
        const struct ss_signing_key *sk = &cfg->keys[i];
        char member[SS_ID_STR_MAX];
        (void)ss_client_id_format(&sk->member, member, sizeof member);
        uint8_t *key = NULL, *cert = NULL;
        size_t key_len = 0, cert_len = 0;
        if ((!ss_hsm_is_uri(sk->key_file) &&
             ss_file_read(sk->key_file, SS_SIGNING_FILE_MAX, &key, &key_len) != SS_OK) ||
            ss_file_read(sk->cert_file, SS_SIGNING_FILE_MAX, &cert, &cert_len) != SS_OK) {
            ss_log_error("SIGHUP: the signing key of %s in force stays: %s", member, ss_errmsg());
        } else {
            struct ss_ipc_buf b = {0};
            /* room for all first: no copy of the key is left in a block the buffer outgrew */
            ss_ipc_buf_reserve(&b, 4 + 4 + strlen(member) + 4 + key_len + 4 + cert_len);
            ss_ipc_put_u32(&b, (uint32_t)i);
            ss_ipc_put_str(&b, member);
            ss_ipc_put_bytes(&b, key, key_len);
            ss_ipc_put_bytes(&b, cert, cert_len);
            (void)tell_child(&children[CHILD_SIGNER], SS_IPC_SIGNING_KEY, &b, -1,
                             "a signing key");
            if (b.data)
                sodium_memzero(b.data, b.cap);
            ss_ipc_buf_cleanup(&b);
        }
        if (key) {
            sodium_memzero(key, key_len);
            free(key);
        }
        free(cert);
    }
}

/*
 * What a reload hands the network process, which cannot read the key files
 * once its privileges are gone: the files of each TLS part as they are now
 * (a rotation), each as CAs, certificate, key: the authentication
 * certificate and key (no CAs); [service-tls]'s; the HTTPS client proxy's.
 * A part whose files cannot be read is left out, and the one in force stays
 * (the policies are reloaded all the same).
 */
static void reload_payload(struct ss_ipc_buf *b)
{
    const struct {
        uint32_t part;
        const char *what;
        char *files[3];
        bool configured;
    } parts[] = {
        {SS_RELOAD_IDENTITY, "the TLS certificate", {NULL, cfg->auth_cert, cfg->auth_key}, true},
        {SS_RELOAD_SERVICE_TLS,
         "[service-tls]",
         {cfg->service_tls_ca, cfg->service_tls_cert, cfg->service_tls_key},
         true},
        {SS_RELOAD_CLIENT_TLS,
         "the HTTPS client proxy's TLS certificate and CAs",
         {cfg->client_tls_ca, cfg->client_tls_cert, cfg->client_tls_key},
         cfg->client_tls_listen[0] != '\0'},
    };
    char *texts[3][3] = {{0}};
    uint32_t present = 0;
    for (size_t p = 0; p < 3; p++)
        if (parts[p].configured && read_texts(parts[p].what, parts[p].files, texts[p], 3))
            present |= parts[p].part;
    /* the whole message's room first: no key is left in a block the buffer outgrew */
    size_t room = 4;
    for (size_t p = 0; p < 3; p++)
        for (size_t i = 0; i < 3 && (present & parts[p].part); i++)
            room += 4 + (texts[p][i] ? strlen(texts[p][i]) : 0);
    ss_ipc_buf_reserve(b, room);
    ss_ipc_put_u32(b, present);
    for (size_t p = 0; p < 3; p++)
        for (size_t i = 0; i < 3; i++) {
            if (present & parts[p].part)
                ss_ipc_put_str(b, texts[p][i]);
            ss_trust_free_pem(texts[p][i]);
        }
}

/* Takes every message child i has sent: that it serves; the network process, that a link broke;
 * an answer to the watchdog. */
static void hear_child(size_t i)
{
    int n = 0;
    do {
        struct ss_ipc_msg m;
        if (ss_ipc_recv(children[i].ctl, CTL_FROM_CHILD_MAX, &m) != SS_OK) {
            /* it is dying (SIGCHLD follows), or it broke its control link: it ends */
            end_child(&children[i]);
            return;
        }
        if (m.type == SS_IPC_READY && !children[i].ready) {
            /* since when, as the child says (the parent may read it late) */
            uint64_t now = ss_monotonic_us(), said;
            children[i].ready = true;
            children[i].ready_us = now;
            if (m.len == sizeof said) {
                memcpy(&said, m.payload, sizeof said);
                if (said < now)
                    children[i].ready_us = said;
            }
            children[i].asked_us = now;
            children[i].unanswered = 0;
        } else if (m.type == SS_IPC_RELINK && i == CHILD_NETWORK) {
            relink_asked(&m);
        } else if (m.type == SS_IPC_PONG) {
            children[i].unanswered = 0; /* its loop is alive */
        }
        ss_ipc_msg_cleanup(&m);
    } while (++n < 64 && children[i].ctl >= 0 &&
             poll(&(struct pollfd){children[i].ctl, POLLIN, 0}, 1, 0) == 1);
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    bool check_only = false, paths_only = false;
    int opt;
    while ((opt = getopt(argc, argv, "c:nph")) != -1) {
        switch (opt) {
        case 'c':
            path = optarg;
            break;
        case 'n':
            check_only = true;
            break;
        case 'p':
            paths_only = true;
            break;
        default:
            usage();
            return 2;
        }
    }
    if (!path || optind != argc) {
        usage();
        return 2;
    }
    /* process-wide initialisation, before any thread exists */
    if (sodium_init() < 0) {
        fprintf(stderr, "secsrv: cannot initialise libsodium\n");
        return 1;
    }
    (void)ss_tls_gnutls_priorities(); /* renders the TLS policy once */
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "secsrv: cannot initialise libcurl\n");
        return 1;
    }
    ss_error err = ss_config_load(path, &cfg);
    if (!cfg) {
        fprintf(stderr, "secsrv: %s\n", ss_errmsg());
        return 1;
    }
    if (!ss_log_set_level(cfg->log_level))
        ss_config_problem(cfg, ss_config_line(cfg, "log", "level", NULL),
                          "level must be debug, info, warn or error");
    if (paths_only) {
        int rc = err || cfg->n_problems ? 1 : print_paths();
        if (rc)
            fputs(cfg->problems, stderr);
        ss_config_free(cfg);
        curl_global_cleanup();
        return rc;
    }
    if (check_only) {
        int rc = check();
        ss_config_free(cfg);
        curl_global_cleanup();
        return rc;
    }
    if (err || cfg->n_problems) {
        fputs(cfg->problems, stderr);
        ss_config_free(cfg);
        return 1;
    }
    if (ss_proc_is_root() && (!cfg->user || !cfg->user[0]))
        ss_log_warn("running as root without [server] user: the children keep root's rights");
    if (!ss_proc_is_root() && cfg->user && cfg->user[0])
        ss_log_warn("not started as root: [server] user %s is not used", cfg->user);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (ss_daemon_make_subject_key(cfg) != SS_OK) {
        ss_log_error("%s", ss_errmsg());
        ss_config_free(cfg);
        return 1;
    }
    node_config();
    if (!bind_listeners() || !start_all()) {
        stop_all();
        ss_config_free(cfg);
        return 1;
    }
    ss_log_info("secsrv started");
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    if (sfd < 0) {
        ss_log_error("signalfd: %s", strerror(errno));
        stop_all();
        ss_config_free(cfg);
        return 1;
    }
    for (;;) {
        struct pollfd pfd[N_CHILDREN + 1] = {{sfd, POLLIN, 0}};
        for (size_t i = 0; i < N_CHILDREN; i++)
            pfd[i + 1] = (struct pollfd){children[i].pid > 0 ? children[i].ctl : -1, POLLIN, 0};
        if (poll(pfd, N_CHILDREN + 1, (int)(POLL_US / 1000)) < 0 && errno != EINTR)
            break;
        /* what the children say: that they serve; the network process, that a link broke;
         * all of it, before the watchdog judges */
        for (size_t i = 0; i < N_CHILDREN; i++) {
            if (pfd[i + 1].revents & POLLIN)
                hear_child(i);
        }
        watch_children();
        int sig = 0;
        if (pfd[0].revents & POLLIN) {
            struct signalfd_siginfo si;
            if (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
                sig = (int)si.ssi_signo;
        }
        if (sig == SIGHUP) {
            struct ss_ipc_buf b = {0};
            reload_payload(&b);
            (void)tell_child(&children[CHILD_NETWORK], SS_IPC_RELOAD, &b, -1, "the SIGHUP reload");
            if (b.data)
                sodium_memzero(b.data, b.cap);
            ss_ipc_buf_cleanup(&b);
            reload_signing_keys();
            node_config();
        } else if (sig == SIGTERM || sig == SIGINT) {
            ss_log_info("signal %d: stopping", sig);
            break;
        }
        if (unsupervised)
            break;
        reap(false);
        restart_due();
        relink_due();
    }
    close(sfd);
    stop_all();
    ss_config_free(cfg);
    curl_global_cleanup();
    ss_log_info("secsrv stopped");
    return unsupervised ? 1 : 0;
}
