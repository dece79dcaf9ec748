/*
 * ss-slowclients: many slow connections to one loopback port, for the
 * tests of the HTTP door (never anything but 127.0.0.0/8).
 *
 *   ss-slowclients --port P --count N --seconds S [--from 127.0.0.X]
 *                  [--addresses K] [--tls] [--ready-file F] [--reopen-ms M]
 *
 * Opens N connections, spread over K source addresses from --from on
 * (127.0.0.2 and up by default: every 127/8 address is loopback), and on
 * each sends one header line a second of a request that never ends (with
 * --tls: one byte a second of a ClientHello that never ends). A connection
 * the server closes is counted and opened again, until S seconds have
 * passed; then, for a second and a half, nothing is opened and the closes
 * still on their way (or still in the listen queue) arrive. Prints
 * "opened=… cut=… held_max=… held_end=… aged_end=…" and exits 0; aged_end
 * counts the connections open at the end that had been open for two
 * seconds or more (those the server did not refuse at once).
 * With --reopen-ms, connections the server closed are opened again only
 * every M milliseconds (all of them at once), not at once: a server that
 * cuts one for each new one would otherwise see them as fast as the two
 * sides can go.
 * With --ready-file, F is written ("connected=N") as soon as every one of
 * the N connections has sent its first piece, so that a caller can wait
 * for that state instead of sleeping.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct slot {
    int fd;
    unsigned sent; /* lines (or bytes) sent */
    double since;  /* when it was opened */
};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int open_one(uint32_t from, uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(from)};
    struct sockaddr_in dst = {
        .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(fd, (struct sockaddr *)&src, sizeof src) != 0 ||
        (connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0 && errno != EINPROGRESS)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* The next piece of the never-ending request; false when the server has closed. */
static bool trickle(struct slot *s, bool tls)
{
    static const unsigned char hello[] = {0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc};
    char line[64];
    const void *p;
    size_t n;
    if (tls) {
        p = &hello[s->sent % sizeof hello];
        n = 1;
    } else {
        n = (size_t)(s->sent == 0 ? snprintf(line, sizeof line, "GET /r1/slow HTTP/1.1\r\n")
                                  : snprintf(line, sizeof line, "X-Slow-%u: a\r\n", s->sent));
        p = line;
    }
    if (send(s->fd, p, n, MSG_NOSIGNAL) < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK; /* not connected yet: next tick */
    s->sent++;
    return true;
}

int main(int argc, char **argv)
{
    unsigned port = 0, count = 0, seconds = 0, addresses = 8, reopen_ms = 0;
    const char *from_text = "127.0.0.2", *ready_file = NULL;
    bool tls = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--tls")) {
            tls = true;
            continue;
        }
        if (!v)
            goto usage;
        if (!strcmp(a, "--port"))
            port = (unsigned)atoi(v);
        else if (!strcmp(a, "--count"))
            count = (unsigned)atoi(v);
        else if (!strcmp(a, "--seconds"))
            seconds = (unsigned)atoi(v);
        else if (!strcmp(a, "--addresses"))
            addresses = (unsigned)atoi(v);
        else if (!strcmp(a, "--from"))
            from_text = v;
        else if (!strcmp(a, "--ready-file"))
            ready_file = v;
        else if (!strcmp(a, "--reopen-ms"))
            reopen_ms = (unsigned)atoi(v);
        else
            goto usage;
        i++;
    }
    struct in_addr from_addr;
    if (!port || port > 65535 || !count || count > 100000 || !seconds || !addresses ||
        inet_pton(AF_INET, from_text, &from_addr) != 1 || (ntohl(from_addr.s_addr) >> 24) != 127)
        goto usage;
    uint32_t from = ntohl(from_addr.s_addr);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < count + 64) {
        rl.rlim_cur = rl.rlim_max < count + 64 ? rl.rlim_max : count + 64;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    struct slot *slots = calloc(count, sizeof *slots);
    struct pollfd *pfd = calloc(count, sizeof *pfd);
    if (!slots || !pfd)
        return 1;
    unsigned long opened = 0, cut = 0, held_max = 0;
    for (unsigned i = 0; i < count; i++) {
        slots[i].fd = open_one(from + i % addresses, (uint16_t)port);
        slots[i].since = now();
        opened += slots[i].fd >= 0;
    }
    double end = now() + seconds, settled = end + 1.5, next_tick = now(), next_reopen = now();
    while (now() < settled) {
        bool reopen = now() < end && now() >= next_reopen;
        if (reopen && reopen_ms)
            next_reopen = now() + reopen_ms / 1000.0;
        for (unsigned i = 0; i < count; i++) {
            pfd[i].fd = slots[i].fd;
            pfd[i].events = POLLIN;
            pfd[i].revents = 0;
        }
        (void)poll(pfd, count, 100);
        bool tick = now() >= next_tick;
        if (tick)
            next_tick += 1.0;
        unsigned long held = 0, started = 0;
        for (unsigned i = 0; i < count; i++) {
            struct slot *s = &slots[i];
            bool closed = s->fd < 0;
            if (!closed && (pfd[i].revents & (POLLIN | POLLHUP | POLLERR))) {
                char buf[4096];
                ssize_t r = recv(s->fd, buf, sizeof buf, 0);
                closed = r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
            }
            if (!closed && tick)
                closed = !trickle(s, tls);
            if (closed && s->fd >= 0) {
                close(s->fd);
                cut++;
                s->fd = -1;
            }
            if (s->fd < 0 && reopen) {
                s->fd = open_one(from + i % addresses, (uint16_t)port);
                s->sent = 0;
                s->since = now();
                opened += s->fd >= 0;
            }
            held += s->fd >= 0;
            started += s->fd >= 0 && s->sent > 0;
        }
        if (held > held_max)
            held_max = held;
        if (ready_file && started == count) {
            FILE *f = fopen(ready_file, "w");
            if (f) {
                fprintf(f, "connected=%u\n", count);
                fclose(f);
            }
            ready_file = NULL;
        }
    }
    unsigned long held_end = 0, aged_end = 0;
    double t = now();
    for (unsigned i = 0; i < count; i++)
        if (slots[i].fd >= 0) {
            held_end++;
            aged_end += t - slots[i].since >= 2.0;
            close(slots[i].fd);
        }
    printf("opened=%lu cut=%lu held_max=%lu held_end=%lu aged_end=%lu\n", opened, cut, held_max,
           held_end, aged_end);
    free(slots);
    free(pfd);
    return 0;
usage:
    fputs("usage: ss-slowclients --port P --count N --seconds S [--from 127.0.0.X] "
          "[--addresses K] [--tls] [--ready-file F] [--reopen-ms M]\n",
          stderr);
    return 2;
}
