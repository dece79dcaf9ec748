/* Prometheus metrics, see metrics.h. */
#include "metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double seconds_le[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                    0.1,    0.25,  0.5,    1,     2.5,  5,     10};
static const double sizes_le[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512};
const struct ss_hist_bounds ss_hist_seconds = {seconds_le, sizeof seconds_le / sizeof *seconds_le};
const struct ss_hist_bounds ss_hist_sizes = {sizes_le, sizeof sizes_le / sizeof *sizes_le};

void ss_hist_observe(struct ss_hist *h, const struct ss_hist_bounds *b, double v)
{
    size_t i = 0;
    while (i < b->n && v > b->le[i])
        i++;
    h->bucket[i]++;
    h->count++;
    h->sum += v;
}

void ss_prom_family(struct ss_text *t, const char *name, const char *type, const char *help)
{
    ss_text_puts(t, "# HELP ");
    ss_text_puts(t, name);
    ss_text_puts(t, " ");
    ss_text_puts(t, help);
    ss_text_puts(t, "\n# TYPE ");
    ss_text_puts(t, name);
    ss_text_puts(t, " ");
    ss_text_puts(t, type);
    ss_text_puts(t, "\n");
}

static void label_value(struct ss_text *t, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            ss_text_put(t, "\\", 1);
        if (*v == '\n')
            ss_text_puts(t, "\\n");
        else
            ss_text_put(t, v, 1);
    }
}

static void number(struct ss_text *t, double v)
{
    char buf[64];
    if (isinf(v))
        snprintf(buf, sizeof buf, "%s", v > 0 ? "+Inf" : "-Inf");
    else if (v == floor(v) && fabs(v) < 1e15)
        snprintf(buf, sizeof buf, "%.0f", v);
    else
        snprintf(buf, sizeof buf, "%.9g", v);
    ss_text_puts(t, buf);
}

static void sample_with(struct ss_text *t, const char *name, const char *suffix,
                        const char *const *labels, size_t n, const char *le, double value)
{
    ss_text_puts(t, name);
    ss_text_puts(t, suffix);
    if (n || le) {
        ss_text_puts(t, "{");
        for (size_t i = 0; i < n; i++) {
            ss_text_puts(t, i ? "," : "");
            ss_text_puts(t, labels[2 * i]);
            ss_text_puts(t, "=\"");
            label_value(t, labels[2 * i + 1]);
            ss_text_puts(t, "\"");
        }
        if (le) {
            ss_text_puts(t, n ? ",le=\"" : "le=\"");
            ss_text_puts(t, le);
            ss_text_puts(t, "\"");
        }
        ss_text_puts(t, "}");
    }
    ss_text_puts(t, " ");
    number(t, value);
    ss_text_puts(t, "\n");
}

void ss_prom_sample(struct ss_text *t, const char *name, const char *const *labels, size_t n,
                    double value)
{
    sample_with(t, name, "", labels, n, NULL, value);
}

void ss_prom_hist(struct ss_text *t, const char *name, const char *const *labels, size_t n,
                  const struct ss_hist_bounds *b, const struct ss_hist *h)
{
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= b->n; i++) {
        cumulative += h->bucket[i];
        char le[32];
        if (i < b->n)
            snprintf(le, sizeof le, "%g", b->le[i]);
        else
            snprintf(le, sizeof le, "+Inf");
        sample_with(t, name, "_bucket", labels, n, le, (double)cumulative);
    }
    sample_with(t, name, "_sum", labels, n, NULL, h->sum);
    sample_with(t, name, "_count", labels, n, NULL, (double)h->count);
}

/* ---- exchanges ---- */

struct series {
    uint64_t key; /* hash of the four, compared first */
    enum ss_metrics_direction dir;
    char *client, *service, *outcome;
    uint64_t count;
};

struct ss_metrics {
    pthread_mutex_t mu;
    struct series *series;
    size_t n, cap;
    /* per direction: whole time, time in secsrv, time waiting on the peer or the backend */
    struct ss_hist total[2], own[2], waiting[2];
};

struct ss_metrics *ss_metrics_new(void)
{
    struct ss_metrics *m = calloc(1, sizeof *m);
    if (m)
        pthread_mutex_init(&m->mu, NULL);
    return m;
}

void ss_metrics_free(struct ss_metrics *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++) {
        free(m->series[i].client);
        free(m->series[i].service);
        free(m->series[i].outcome);
    }
    free(m->series);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

/* FNV-1a over the direction and the three strings, each ended by its NUL. */
static uint64_t series_key(enum ss_metrics_direction dir, const char *client, const char *service,
                           const char *outcome)
{
    uint64_t h = 1469598103934665603ull ^ (uint64_t)dir;
    const char *parts[] = {client, service, outcome};
    for (size_t i = 0; i < 3; i++) {
        const char *p = parts[i];
        do {
            h = (h ^ (unsigned char)*p) * 1099511628211ull;
        } while (*p++);
    }
    return h;
}

static struct series *find(struct ss_metrics *m, enum ss_metrics_direction dir, const char *client,
                           const char *service, const char *outcome)
{
    uint64_t key = series_key(dir, client, service, outcome);
    for (size_t i = 0; i < m->n; i++) {
        struct series *s = &m->series[i];
        if (s->key == key && s->dir == dir && strcmp(s->client, client) == 0 &&
            strcmp(s->service, service) == 0 && strcmp(s->outcome, outcome) == 0)
            return s;
    }
    return NULL;
}

static struct series *add(struct ss_metrics *m, enum ss_metrics_direction dir, const char *client,
                          const char *service, const char *outcome)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 64;
        struct series *s = realloc(m->series, cap * sizeof *s);
        if (!s)
            return NULL;
        m->series = s;
        m->cap = cap;
    }
    struct series *s = &m->series[m->n];
    *s = (struct series){.key = series_key(dir, client, service, outcome),
                         .dir = dir,
                         .client = strdup(client),
                         .service = strdup(service),
                         .outcome = strdup(outcome)};
    if (!s->client || !s->service || !s->outcome) {
        free(s->client);
        free(s->service);
        free(s->outcome);
        return NULL;
    }
    m->n++;
    return s;
}

void ss_metrics_exchange(struct ss_metrics *m, enum ss_metrics_direction dir, const char *client,
                         const char *service, const char *outcome, double total, bool forwarded,
                         double waiting)
{
    if (!m)
        return;
    /* an outcome comes from a peer too (its X-Road-Error): only an error type's characters */
    bool sane = outcome[0] && strlen(outcome) <= 128;
    for (const char *p = outcome; sane && *p; p++)
        sane = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || *p == '.';
    if (!sane)
        outcome = "invalid";
    pthread_mutex_lock(&m->mu);
    struct series *s = find(m, dir, client, service, outcome);
    bool full = m->n >= SS_METRICS_MAX_SERIES; /* a client or peer making up names */
    if (!s && full)
        s = find(m, dir, "other", "other", "other");
    if (!s)
        s = add(m, dir, full ? "other" : client, full ? "other" : service,
                full ? "other" : outcome);
    if (s)
        s->count++;
    if (waiting > total)
        waiting = total;
    ss_hist_observe(&m->total[dir], &ss_hist_seconds, total);
    ss_hist_observe(&m->own[dir], &ss_hist_seconds, total - waiting);
    if (forwarded)
        ss_hist_observe(&m->waiting[dir], &ss_hist_seconds, waiting);
    pthread_mutex_unlock(&m->mu);
}

void ss_metrics_render(struct ss_metrics *m, struct ss_text *t)
{
    static const char *const dirs[2] = {"outbound", "inbound"};
    pthread_mutex_lock(&m->mu);
    ss_prom_family(t, "secsrv_exchanges_total", "counter",
                   "Exchanges by direction (outbound: this server's clients asking; inbound: "
                   "other servers asking this one's services), client, service and outcome "
                   "(ok or the X-Road error type).");
    for (size_t i = 0; i < m->n; i++) {
        const struct series *s = &m->series[i];
        const char *labels[] = {"direction", dirs[s->dir], "client",  s->client,
                                "service",   s->service,   "outcome", s->outcome};
        ss_prom_sample(t, "secsrv_exchanges_total", labels, 4, (double)s->count);
    }
    ss_prom_family(t, "secsrv_exchange_seconds", "histogram",
                   "Whole time of an exchange in this server, from its request to its answer.");
    for (int d = 0; d < 2; d++) {
        const char *labels[] = {"direction", dirs[d]};
        ss_prom_hist(t, "secsrv_exchange_seconds", labels, 1, &ss_hist_seconds, &m->total[d]);
    }
    ss_prom_family(t, "secsrv_exchange_secsrv_seconds", "histogram",
                   "Time of an exchange spent in this server (checks, signing, logging), "
                   "without the wait on the peer server or the register service.");
    for (int d = 0; d < 2; d++) {
        const char *labels[] = {"direction", dirs[d]};
        ss_prom_hist(t, "secsrv_exchange_secsrv_seconds", labels, 1, &ss_hist_seconds, &m->own[d]);
    }
    ss_prom_family(t, "secsrv_exchange_peer_seconds", "histogram",
                   "Time an outbound exchange waited on the provider's security server.");
    ss_prom_hist(t, "secsrv_exchange_peer_seconds", NULL, 0, &ss_hist_seconds,
                 &m->waiting[SS_METRICS_OUTBOUND]);
    ss_prom_family(t, "secsrv_exchange_backend_seconds", "histogram",
                   "Time an inbound exchange waited on the register service.");
    ss_prom_hist(t, "secsrv_exchange_backend_seconds", NULL, 0, &ss_hist_seconds,
                 &m->waiting[SS_METRICS_INBOUND]);
    pthread_mutex_unlock(&m->mu);
}
