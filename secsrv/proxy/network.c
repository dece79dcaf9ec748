#include "network.h"
#include "ipc.h"
#include "log.h"
#include "proc.h"
#include "trust.h"

#include <sodium.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* Control messages are small but for a reload's: three parts of three PEM files at most. */
#define CONTROL_MAX (9u * (SS_TRUST_PEM_MAX + 8u) + 64u)

/* n bytes (not NUL-terminated in the frame) as a string (malloc'd). */
static char *copy_text(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, p, n);
        s[n] = '\0';
    }
    return s;
}

/* A reload's parts (ss_reload_part): the files' texts, for ss_daemon_reload_identity,
 * ss_daemon_reload_service_tls and ss_daemon_reload_client_tls; malformed, the parent is
 * broken. */
static void reload_files(struct ss_daemon *d, const struct ss_ipc_msg *m)
{
    static const uint32_t parts[] = {SS_RELOAD_IDENTITY, SS_RELOAD_SERVICE_TLS,
                                     SS_RELOAD_CLIENT_TLS};
    struct ss_ipc_reader r;
    ss_ipc_reader_init(&r, m);
    uint32_t present = ss_ipc_get_u32(&r);
    char *texts[3][3] = {{0}}; /* by part: CAs, certificate, key */
    bool ok = (present &
               ~(uint32_t)(SS_RELOAD_IDENTITY | SS_RELOAD_SERVICE_TLS | SS_RELOAD_CLIENT_TLS)) == 0;
    bool nomem = false;
    for (size_t p = 0; ok && p < 3; p++)
        for (size_t i = 0; ok && (present & parts[p]) && i < 3; i++) {
            size_t len = 0;
            const uint8_t *t = ss_ipc_get_bytes(&r, SS_TRUST_PEM_MAX, &len);
            ok = t && !memchr(t, 0, len);
            if (ok && len && !(texts[p][i] = copy_text(t, len)))
                nomem = true;
        }
    if (!ok || !ss_ipc_reader_done(&r)) {
        ss_log_error("network: malformed reload message");
        abort(); /* a broken invariant on the control link: the parent restarts us */
    }
    if (nomem) {
        ss_log_error("SIGHUP: out of memory; the TLS certificates in force stay");
    } else {
        if (present & SS_RELOAD_IDENTITY) {
            ss_error err = !texts[0][1] || !texts[0][2]
                               ? ss_errf(SS_ERR_CONFIG, "the reload lacks the certificate or key")
                               : ss_daemon_reload_identity(d, texts[0][1], texts[0][2]);
            if (err)
                ss_log_error("SIGHUP: the TLS certificate in force stays: %s", ss_errmsg());
        }
        if ((present & SS_RELOAD_SERVICE_TLS) &&
            ss_daemon_reload_service_tls(d, texts[1][0], texts[1][1], texts[1][2]) != SS_OK)
            ss_log_error("SIGHUP: the [service-tls] CAs and certificate in force stay: %s",
                         ss_errmsg());
        if ((present & SS_RELOAD_CLIENT_TLS) &&
            ss_daemon_reload_client_tls(d, texts[2][0], texts[2][1], texts[2][2]) != SS_OK)
            ss_log_error("SIGHUP: the [client-proxy] tls CAs and certificate in force stay: %s",
                         ss_errmsg());
    }
    for (size_t p = 0; p < 3; p++)
        for (size_t i = 0; i < 3; i++)
            ss_trust_free_pem(texts[p][i]);
}

/* The control link's sending end: the main thread says READY, IPC reader threads RELINK. */
static struct {
    pthread_mutex_t mu;
    int fd;
} ctl_out = {PTHREAD_MUTEX_INITIALIZER, -1};

/* A link to the signer or the logger broke: the parent makes a new one if that process lives. */
static void ask_relink(void *arg, enum ss_ipc_link which, uint32_t serial)
{
    (void)arg;
    struct ss_ipc_buf b = {0};
    ss_ipc_put_u32(&b, (uint32_t)which);
    ss_ipc_put_u32(&b, serial);
    pthread_mutex_lock(&ctl_out.mu);
    ss_log_warn("%s: the link broke; asking for a new one",
                which == SS_IPC_LINK_SIGNER ? "signer" : "logger");
    if (ss_ipc_send(ctl_out.fd, SS_IPC_RELINK, 0, b.data, b.len, -1) != SS_OK)
        ss_log_error("cannot ask the parent for a new link: %s", ss_errmsg());
    pthread_mutex_unlock(&ctl_out.mu);
    ss_ipc_buf_cleanup(&b);
}

/*
 * Whether a worker thread is stuck: one task has held it without a wait for
 * half the watchdog's time (a slice normally lasts microseconds), and the
 * exchanges behind it on that thread wait with it. The control loop stays
 * live all the while, so its answers alone would hide this from the
 * parent's watchdog: they stop, and the parent starts this process again.
 */
static bool worker_stuck(const struct ss_daemon *d, unsigned watchdog)
{
    static bool said;
    uint64_t slice = ss_daemon_longest_slice_us(d);
    bool stuck = watchdog && slice > (uint64_t)watchdog * 500000u;
    if (stuck && !said)
        ss_log_error("network: a worker thread has run one task for %llu s without a wait: "
                     "the watchdog is not answered, so that this process is started again",
                     (unsigned long long)(slice / 1000000u));
    said = stuck;
    return stuck;
}

int ss_network_main(struct ss_config *cfg, int ctl, const struct ss_daemon_links *links)
{
    ss_proc_child_setup("network", false);
    struct ss_daemon *d = NULL;
    pthread_mutex_lock(&ctl_out.mu);
    ctl_out.fd = ctl;
    pthread_mutex_unlock(&ctl_out.mu);
    if (ss_daemon_start(cfg, links, ask_relink, NULL, &d) != SS_OK) {
        ss_log_error("network: cannot start: %s", ss_errmsg());
        return 1;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    int sfd = signalfd(-1, &set, SFD_CLOEXEC);
    ss_log_info("network: serving");
    pthread_mutex_lock(&ctl_out.mu);
    ss_proc_ready(ctl);
    pthread_mutex_unlock(&ctl_out.mu);
    for (;;) {
        struct pollfd pfd[2] = {{sfd, POLLIN, 0}, {ctl, POLLIN, 0}};
        if (poll(pfd, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pfd[0].revents)
            break;
        if (!pfd[1].revents)
            continue;
        struct ss_ipc_msg m;
        if (ss_ipc_recv(ctl, CONTROL_MAX, &m) != SS_OK) {
            ss_log_warn("network: the control link ended: %s", ss_errmsg());
            break; /* the parent is gone */
        }
        if (m.type == SS_IPC_RELOAD) {
            ss_log_info("SIGHUP: reloading policies");
            if (ss_daemon_reload_policies(d) != SS_OK) {
                /* the policy in force stays; the reason is in the operator log */
            }
            reload_files(d, &m);
            if (m.payload) /* keys were in it */
                sodium_memzero(m.payload, m.len);
        } else if (m.type == SS_IPC_PING && m.fd < 0) { /* the parent's watchdog */
            if (!worker_stuck(d, cfg->watchdog)) {
                pthread_mutex_lock(&ctl_out.mu);
                ss_proc_answer_ping(ctl, &m);
                pthread_mutex_unlock(&ctl_out.mu);
            }
        } else if (m.type == SS_IPC_ATTACH && m.fd >= 0 && m.len == 8) {
            struct ss_ipc_reader r;
            ss_ipc_reader_init(&r, &m);
            enum ss_ipc_link which = (enum ss_ipc_link)ss_ipc_get_u32(&r);
            uint32_t serial = ss_ipc_get_u32(&r);
            ss_daemon_attach(d, which, m.fd, serial);
            m.fd = -1;
        } else {
            ss_log_error("network: unexpected control message %u", m.type);
            abort(); /* a broken invariant on the control link: the parent restarts us */
        }
        ss_ipc_msg_cleanup(&m);
    }
    if (sfd >= 0)
        close(sfd);
    ss_log_info("network: stopping");
    ss_daemon_stop(d);
    return 0;
}
