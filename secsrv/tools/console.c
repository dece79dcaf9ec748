#include "console.h"

#include "audit.h"
#include "cockpit.h"
#include "config.h"
#include "evidence.h"
#include "export.h"
#include "form.h"
#include "certfile.h"
#include "http.h"
#include "keys.h"
#include "page.h"
#include "registry.h"
#include "report.h"
#include "ss_hex.h"
#include "ss_sha256.h"
#include "store.h"
#include "subject.h"
#include "trust.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

extern const unsigned char ss_console_css[], ss_console_js[];
extern const size_t ss_console_css_len, ss_console_js_len;

#define PAGE_MAX (16u * 1024 * 1024)
#define SESSIONS 32
#define SESSION_IDLE 1800      /* seconds a session lasts unused */
#define SESSION_MAX (8 * 3600) /* seconds a session lasts at most */
#define LOGIN_FAILURES 5       /* wrong passphrases in a row before a pause */
#define LOGIN_PAUSE 60         /* seconds */
#define PAGE_SIZE_MAX 200      /* exchanges on one page of results */
#define CHART_DAYS_MAX 400
#define TALLY_MAX 64
#define BODY_SHOWN_MAX (1u << 20) /* bytes of a message shown on a page */
#define COOKIE "secsrv_console"

struct log {
    char name[80];
    char *spec;
    struct ss_store *store;
    struct ss_kept_registries *kept;
};

struct session {
    bool used;
    uint8_t token_hash[32];
    time_t created, last;
};

struct run {
    bool running, done;
    size_t log;
    int64_t at, last;
    time_t started, finished;
    ss_error err;
    char who[256];
    char result[16]; /* ok, warn, broken, error */
    char summary[700];
    char report[128]; /* file name in the reports folder */
    pthread_t thread;
    bool joinable;
};

struct console {
    const struct ss_console_options *o;
    struct log logs[SS_CONSOLE_MAX_LOGS];
    size_t n_logs;
    struct ss_reg_anchor anchor;
    struct ss_ca_store *cas;
    char *pass_hash;
    bool has_subject_key;
    uint8_t subject_key[32];
    uint8_t csrf_key[32];
    struct session sessions[SESSIONS];
    unsigned failures;
    time_t paused_until;
    bool login_busy;
    int audit_fd;
    pthread_mutex_t mu;       /* the stores, the sessions */
    pthread_mutex_t audit_mu; /* the audit log */
    pthread_mutex_t run_mu;
    struct run run;
};

/* One request being answered. */
struct view {
    struct console *c;
    const struct ss_http_request *req;
    struct ss_http_response *resp;
    char path[256];
    struct ss_form q, body;
    bool q_parsed;
    bool authed;
    char who[600];
    char who_key[65]; /* the certificate's fingerprint, or the session's token hash */
    char csrf[65];
    size_t log;
    char logq[16]; /* "log=K&amp;" when there are several logs (for attributes) */
    char logp[16]; /* "log=K&" likewise (for addresses) */
    struct ss_page page;
    unsigned status;
    char location[2048];
    const char *type;
    char disposition[128];
    uint8_t *blob;
    size_t blob_len;
    bool no_audit;
};

/* ---- small helpers ---- */

#define TIME_MAX_MS 253402300799999LL /* 9999-12-31T23:59:59.999Z */

static void page_time(struct ss_page *p, int64_t ms)
{
    if (ms < 0 || ms > TIME_MAX_MS) { /* only a changed log holds such a time */
        ss_page_raw(p, "(ungültige Zeit)");
        return;
    }
    char t[32];
    ss_cockpit_time(ms, t);
    ss_page_raw(p, "%.10s %.8s UTC", t, t + 11);
}

/* Unix seconds (from a log or a certificate) as page_time shows them. */
static void page_time_s(struct ss_page *p, int64_t s)
{
    page_time(p, s >= 0 && s <= TIME_MAX_MS / 1000 ? s * 1000 : -1);
}

static void hex32(const uint8_t in[32], char out[65])
{
    ss_hex_sha256_format(in, out);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *outcome_word(enum ss_outcome o)
{
    return o == SS_OUTCOME_ANSWERED  ? "beantwortet"
           : o == SS_OUTCOME_REFUSED ? "abgelehnt"
                                     : "fehlgeschlagen";
}

static const char *outcome_class(enum ss_outcome o)
{
    return o == SS_OUTCOME_ANSWERED ? "answered" : o == SS_OUTCOME_REFUSED ? "refused" : "failed";
}

/* A party: its official name (when the registry of then knows it) and its id. */
static void page_party(struct view *v, int64_t ms, const char *id)
{
    char shown[SS_ID_STR_MAX];
    const struct ss_reg_member *m = ss_cockpit_party(v->c->logs[v->log].kept, ms, id, 4, shown);
    if (!id[0]) {
        ss_page_raw(&v->page, "<span class=\"none\">(keine)</span>");
        return;
    }
    if (m) {
        ss_page_raw(&v->page, "<span class=\"name\">");
        ss_page_text(&v->page, m->name);
        ss_page_raw(&v->page, "</span><br>");
    }
    ss_page_raw(&v->page, "<code>");
    ss_page_text(&v->page, id);
    ss_page_raw(&v->page, "</code>");
}

/* ---- the frame of every page ---- */

static void head(struct view *v, const char *title)
{
    struct ss_page *p = &v->page;
    ss_page_raw(p, "<!DOCTYPE html>\n<html lang=\"de\"><head><meta charset=\"utf-8\">"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                   "<title>");
    ss_page_text(p, title);
    ss_page_raw(p, " – secsrv Protokollkonsole</title>"
                   "<link rel=\"stylesheet\" href=\"/static/console.css\">"
                   "<script src=\"/static/console.js\" defer></script>");
}

static void body_start(struct view *v, const char *title)
{
    struct ss_page *p = &v->page;
    ss_page_raw(p, "</head><body><header><span class=\"brand\">secsrv · Protokollkonsole</span>");
    if (v->authed) {
        ss_page_raw(p,
                    "<nav><a href=\"/?%s\">Übersicht</a><a href=\"/suche?%s\">Suche</a>"
                    "<a href=\"/person?%s\">Betroffenenauskunft</a>"
                    "<a href=\"/pruefung?%s\">Prüfung</a></nav>",
                    v->logq, v->logq, v->logq, v->logq);
        if (v->c->n_logs > 1) {
            ss_page_raw(p,
                        "<form class=\"logs\" method=\"get\" action=\"/\"><select name=\"log\">");
            for (size_t i = 0; i < v->c->n_logs; i++) {
                ss_page_raw(p, "<option value=\"%zu\"%s>", i, i == v->log ? " selected" : "");
                ss_page_text(p, v->c->logs[i].name);
                ss_page_raw(p, "</option>");
            }
            ss_page_raw(p, "</select><button>Protokoll wählen</button></form>");
        }
        ss_page_raw(p, "<span id=\"whoami\">Angemeldet: ");
        ss_page_text(p, v->who);
        ss_page_raw(p, "</span>");
        if (v->c->pass_hash)
            ss_page_raw(p,
                        "<form method=\"post\" action=\"/abmelden\"><input type=\"hidden\" "
                        "name=\"csrf\" value=\"%s\"><button>Abmelden</button></form>",
                        v->csrf);
    }
    ss_page_raw(p, "</header><main><h1>");
    ss_page_text(p, title);
    ss_page_raw(p, "</h1>");
    if (v->authed && v->c->n_logs > 0) {
        ss_page_raw(p, "<p class=\"log\">Protokoll: <code>");
        ss_page_text(p, v->c->logs[v->log].name);
        ss_page_raw(p, "</code></p>");
    }
}

static void foot(struct view *v)
{
    ss_page_raw(&v->page, "</main><footer>Nur lesend. Jeder Seitenaufruf wird im Prüfprotokoll "
                          "der Konsole vermerkt.</footer></body></html>\n");
}

static void start_page(struct view *v, const char *title)
{
    head(v, title);
    body_start(v, title);
}

/* A whole page saying what was wrong; status is the HTTP status. */
static void fail_page(struct view *v, unsigned status, const char *what)
{
    ss_page_cleanup(&v->page);
    ss_page_init(&v->page, PAGE_MAX);
    free(v->blob);
    v->blob = NULL;
    v->type = NULL;
    v->disposition[0] = '\0';
    v->location[0] = '\0';
    v->status = status;
    const char *title = status == 404   ? "Nicht gefunden"
                        : status == 403 ? "Kein Zugang"
                        : status >= 500 ? "Fehler der Konsole"
                                        : "Ungültige Anfrage";
    start_page(v, title);
    ss_page_raw(&v->page, "<p class=\"error\" id=\"error\">");
    ss_page_text(&v->page, what);
    ss_page_raw(&v->page, "</p>");
    foot(v);
}

static void redirect(struct view *v, const char *location)
{
    v->status = 303;
    snprintf(v->location, sizeof v->location, "%s", location);
}

/* ---- access ---- */

static void csrf_for(const struct console *c, const char *key, char out[65])
{
    uint8_t mac[crypto_auth_hmacsha256_BYTES];
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, c->csrf_key, sizeof c->csrf_key);
    crypto_auth_hmacsha256_update(&st, (const unsigned char *)key, strlen(key));
    crypto_auth_hmacsha256_final(&st, mac);
    hex32(mac, out);
}

static bool csrf_ok(const struct view *v, const char *key)
{
    const char *given = ss_form_get(&v->body, "csrf");
    char want[65];
    csrf_for(v->c, key, want);
    return given && strlen(given) == 64 && sodium_memcmp(given, want, 64) == 0;
}

static bool cookie_token(const struct ss_http_request *req, uint8_t hash[32])
{
    const char *h = ss_headers_get(&req->headers, "Cookie");
    for (const char *p = h; p && *p;) {
        while (*p == ' ' || *p == ';')
            p++;
        size_t n = strcspn(p, ";");
        if (n == sizeof COOKIE + 64 && strncmp(p, COOKIE "=", sizeof COOKIE) == 0) {
            uint8_t token[32];
            char hex[65];
            memcpy(hex, p + sizeof COOKIE, 64);
            hex[64] = '\0';
            if (ss_hex_sha256_parse(hex, token)) {
                ss_sha256(token, sizeof token, hash);
                sodium_memzero(token, sizeof token);
                return true;
            }
        }
        p += n;
    }
    return false;
}

/* Signs v in from its certificate or its session; false when it is neither (v->status says). */
static bool authenticate(struct view *v)
{
    struct console *c = v->c;
    const struct ss_http_request *req = v->req;
    if (c->cas) {
        if (req->n_peer_certs == 0) {
            fail_page(v, 403,
                      "Die Konsole verlangt ein Zertifikat eines Datenschutzbeauftragten; "
                      "der Browser hat keines vorgelegt.");
            return false;
        }
        uint8_t fp[32];
        if (ss_trust_verify_is(c->cas, req->peer_certs, req->n_peer_certs, fp) != SS_OK) {
            char msg[700];
            snprintf(msg, sizeof msg, "Das vorgelegte Zertifikat wird nicht anerkannt: %s",
                     ss_errmsg());
            fail_page(v, 403, msg);
            return false;
        }
        struct ss_cert_info info;
        if (ss_certfile_describe(req->peer_certs[0].data, req->peer_certs[0].len, &info) != SS_OK)
            snprintf(info.subject, sizeof info.subject, "?");
        snprintf(v->who, sizeof v->who, "%s", info.subject);
        hex32(fp, v->who_key);
        v->authed = true;
        return true;
    }
    uint8_t hash[32];
    time_t now = time(NULL);
    bool found = false;
    if (cookie_token(req, hash)) {
        pthread_mutex_lock(&c->mu);
        for (size_t i = 0; i < SESSIONS && !found; i++) {
            struct session *s = &c->sessions[i];
            if (!s->used || sodium_memcmp(s->token_hash, hash, 32) != 0)
                continue;
            if (now - s->last > SESSION_IDLE || now - s->created > SESSION_MAX) {
                s->used = false;
                break;
            }
            s->last = now;
            found = true;
        }
        pthread_mutex_unlock(&c->mu);
    }
    if (!found)
        return false;
    hex32(hash, v->who_key);
    snprintf(v->who, sizeof v->who, "Passphrase (Sitzung %.8s)", v->who_key);
    v->authed = true;
    return true;
}

static void login_page(struct view *v, const char *message)
{
    char token[65];
    csrf_for(v->c, "anmelden", token);
    start_page(v, "Anmelden");
    if (message) {
        ss_page_raw(&v->page, "<p class=\"error\" id=\"error\">");
        ss_page_text(&v->page, message);
        ss_page_raw(&v->page, "</p>");
    }
    ss_page_raw(&v->page,
                "<form method=\"post\" action=\"/anmelden\" class=\"login\">"
                "<input type=\"hidden\" name=\"csrf\" value=\"%s\">"
                "<label>Passphrase <input type=\"password\" name=\"passphrase\" "
                "autocomplete=\"current-password\" required autofocus></label>"
                "<button id=\"login-submit\">Anmelden</button></form>",
                token);
    foot(v);
}

static void do_login(struct view *v)
{
    struct console *c = v->c;
    if (strcmp(v->req->method, "POST") != 0) {
        login_page(v, NULL);
        return;
    }
    if (!csrf_ok(v, "anmelden")) {
        v->status = 403;
        login_page(v, "Das Formular ist abgelaufen; bitte erneut anmelden.");
        return;
    }
    const char *pass = ss_form_get(&v->body, "passphrase");
    time_t now = time(NULL);
    /* one passphrase is checked at a time, and the attempt is counted before it is checked */
    pthread_mutex_lock(&c->mu);
    bool paused = now < c->paused_until || c->login_busy;
    if (!paused)
        c->login_busy = true;
    pthread_mutex_unlock(&c->mu);
    if (paused) {
        v->status = 429;
        login_page(v, "Zu viele Anmeldeversuche; bitte eine Minute warten.");
        return;
    }
    bool ok = pass && crypto_pwhash_str_verify(c->pass_hash, pass, strlen(pass)) == 0;
    pthread_mutex_lock(&c->mu);
    c->login_busy = false;
    if (!ok) {
        if (++c->failures >= LOGIN_FAILURES) {
            c->failures = 0;
            c->paused_until = now + LOGIN_PAUSE;
        }
        pthread_mutex_unlock(&c->mu);
        v->status = 403;
        snprintf(v->who, sizeof v->who, "(Anmeldung fehlgeschlagen)");
        login_page(v, "Die Passphrase stimmt nicht.");
        return;
    }
    c->failures = 0;
    uint8_t token[32];
    randombytes_buf(token, sizeof token);
    size_t slot = 0;
    for (size_t i = 0; i < SESSIONS; i++) {
        if (!c->sessions[i].used) {
            slot = i;
            break;
        }
        if (c->sessions[i].last < c->sessions[slot].last)
            slot = i; /* the longest unused goes */
    }
    struct session *s = &c->sessions[slot];
    s->used = true;
    s->created = s->last = now;
    ss_sha256(token, sizeof token, s->token_hash);
    hex32(s->token_hash, v->who_key);
    pthread_mutex_unlock(&c->mu);
    snprintf(v->who, sizeof v->who, "Passphrase (Sitzung %.8s)", v->who_key);
    char hex[65], cookie[160];
    hex32(token, hex);
    sodium_memzero(token, sizeof token);
    snprintf(cookie, sizeof cookie, COOKIE "=%s; Path=/; Secure; HttpOnly; SameSite=Strict", hex);
    sodium_memzero(hex, sizeof hex);
    if (ss_headers_add(&v->resp->headers, "Set-Cookie", cookie))
        fail_page(v, 500, "Die Sitzung konnte nicht gesetzt werden.");
    else
        redirect(v, "/");
    sodium_memzero(cookie, sizeof cookie);
}

/* Under c->mu, as every page (route). */
static void do_logout(struct view *v)
{
    struct console *c = v->c;
    uint8_t hash[32];
    if (cookie_token(v->req, hash))
        for (size_t i = 0; i < SESSIONS; i++)
            if (c->sessions[i].used && sodium_memcmp(c->sessions[i].token_hash, hash, 32) == 0)
                c->sessions[i].used = false;
    if (ss_headers_add(&v->resp->headers, "Set-Cookie",
                       COOKIE "=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0"))
        fail_page(v, 500, "Die Sitzung konnte nicht beendet werden.");
    else
        redirect(v, "/anmelden");
}

/* ---- parameters ---- */

/* Whether every field of form is one of names (NULL-terminated); else a 400 page. */
static bool only_fields(struct view *v, const struct ss_form *f, const char *const *names)
{
    for (size_t i = 0; i < f->n; i++) {
        bool known = false;
        for (const char *const *n = names; *n && !known; n++)
            known = strcmp(*n, f->fields[i].name) == 0;
        if (!known) {
            char msg[200];
            snprintf(msg, sizeof msg, "Unbekannter Parameter '%s'.", f->fields[i].name);
            fail_page(v, 400, msg);
            return false;
        }
    }
    return true;
}

static bool number_field(struct view *v, const char *name, long long min, long long max,
                         long long dflt, long long *out)
{
    const char *s = ss_form_get(&v->q, name);
    *out = dflt;
    if (!s)
        return true;
    long long n = 0;
    bool ok = *s && strlen(s) <= 12;
    for (const char *p = s; ok && *p; p++) {
        ok = *p >= '0' && *p <= '9';
        n = n * 10 + (*p - '0');
    }
    if (!ok || n < min || n > max) {
        char msg[200];
        snprintf(msg, sizeof msg, "%s: eine Zahl von %lld bis %lld, bitte.", name, min, max);
        fail_page(v, 400, msg);
        return false;
    }
    *out = n;
    return true;
}

/* A date field: since (from midnight) or until (through the end of the day). */
static bool date_field(struct view *v, const char *name, bool end, int64_t *ms)
{
    const char *s = ss_form_get(&v->q, name);
    if (!s || !*s)
        return true;
    if (!ss_form_time(s, ms)) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "%s: ein Datum JJJJ-MM-TT oder ein Zeitpunkt JJJJ-MM-TTTHH:MM:SSZ (UTC), bitte.",
                 name);
        fail_page(v, 400, msg);
        return false;
    }
    if (end && strlen(s) == 10)
        *ms += 86400000;
    if (!*ms)
        *ms = 1;
    return true;
}

/* A subject hash given as sh=HEX. */
static bool subject_field(struct view *v, struct ss_store_filter *f)
{
    const char *sh = ss_form_get(&v->q, "sh");
    if (!sh || !*sh)
        return true;
    if (!ss_hex_sha256_parse(sh, f->subject_hash)) {
        fail_page(v, 400, "sh: der Schlüssel-Hash einer Person, 64 Hexadezimalziffern.");
        return false;
    }
    f->has_subject = true;
    return true;
}

/* The subject typed into a form, as its keyed hash (hex); false with a 400 page. */
static bool hash_subject(struct view *v, const char *subject, char out[65])
{
    if (!v->c->has_subject_key) {
        fail_page(v, 400,
                  "Die Konsole kennt den Betroffenen-Schlüssel der Server nicht "
                  "(--subject-key); nach Personen kann sie nicht suchen.");
        return false;
    }
    if (!ss_subject_valid(subject)) {
        char msg[200];
        snprintf(msg, sizeof msg,
                 "Kennung der Person: 1 bis %d druckbare ASCII-Zeichen ohne Leerzeichen.",
                 SS_SUBJECT_MAX);
        fail_page(v, 400, msg);
        return false;
    }
    uint8_t hash[32];
    ss_subject_hash(v->c->subject_key, subject, hash);
    hex32(hash, out);
    return true;
}

static void hidden_fields(struct view *v)
{
    ss_page_raw(&v->page, "<input type=\"hidden\" name=\"csrf\" value=\"%s\">", v->csrf);
    if (v->c->n_logs > 1)
        ss_page_raw(&v->page, "<input type=\"hidden\" name=\"log\" value=\"%zu\">", v->log);
}

/* ---- lists of exchanges ---- */

struct sort_link {
    const char *target; /* "/suche?...&" without sort and order */
    const char *sort;
    bool desc;
};

static void results_start(struct view *v, const char *id, const struct sort_link *sl)
{
    static const struct {
        const char *label, *sort;
    } cols[] = {{"Zeit", "time"},      {"Seite", NULL},      {"Anfragende Stelle", "client"},
                {"Dienst", "service"}, {"Zweck", "purpose"}, {"Anfrage-ID", NULL},
                {"Ergebnis", "status"}};
    struct ss_page *p = &v->page;
    ss_page_raw(p, "<table id=\"%s\" class=\"exchanges\"><thead><tr>", id);
    for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
        ss_page_raw(p, "<th>");
        if (sl && cols[i].sort) {
            bool current = strcmp(sl->sort, cols[i].sort) == 0;
            ss_page_raw(p, "<a class=\"sort%s\" href=\"%ssort=%s&amp;order=%s\">%s%s</a>",
                        current ? " current" : "", sl->target, cols[i].sort,
                        current && !sl->desc ? "desc" : "asc", cols[i].label,
                        current ? (sl->desc ? " ▼" : " ▲") : "");
        } else {
            ss_page_raw(p, "%s", cols[i].label);
        }
        ss_page_raw(p, "</th>");
    }
    ss_page_raw(p, "</tr></thead><tbody>");
}

static void results_end(struct view *v, bool empty)
{
    if (empty)
        ss_page_raw(&v->page, "<tr><td colspan=\"7\">Keine Austausche.</td></tr>");
    ss_page_raw(&v->page, "</tbody></table>");
}

static ss_error result_row(void *arg, const struct ss_store_exchange *e)
{
    struct view *v = arg;
    struct ss_page *p = &v->page;
    enum ss_outcome o = ss_store_outcome(e->status, e->error_type);
    ss_page_raw(p, "<tr class=\"exchange %s\"><td><a class=\"open\" href=\"/austausch/%lld?%s\">",
                outcome_class(o),
                (long long)(e->request_record ? e->request_record : e->response_record), v->logq);
    page_time(p, e->logged_ms);
    ss_page_raw(p, "</a></td><td>%s</td><td>",
                strcmp(e->side, "client") == 0 ? "gesendet" : "empfangen");
    page_party(v, e->logged_ms, e->client);
    ss_page_raw(p, "</td><td><code>");
    ss_page_text(p, e->service);
    ss_page_raw(p, "</code></td><td>");
    ss_page_text(p, e->purpose);
    ss_page_raw(p, "</td><td><code>");
    ss_page_text(p, e->query_id);
    ss_page_raw(p, "</code></td><td class=\"outcome\">%s (%u)", outcome_word(o), e->status);
    if (e->error_type[0]) {
        ss_page_raw(p, "<br><code>");
        ss_page_text(p, e->error_type);
        ss_page_raw(p, "</code>");
    }
    ss_page_raw(p, "</td></tr>");
    return p->failed ? ss_errf(SS_ERR_TOO_LARGE, "the page grew too large") : SS_OK;
}

/* ---- overview ---- */

struct tally {
    char key[SS_ID_STR_MAX + 140];
    int64_t ms;
    uint64_t n[3];
};

struct overview {
    int64_t from_ms;
    size_t n_days;
    uint64_t (*days)[3];
    struct tally services[TALLY_MAX + 1], clients[TALLY_MAX + 1], outcomes[TALLY_MAX + 1];
    size_t n_services, n_clients, n_outcomes;
    uint64_t total[3];
};

static void tally_add(struct tally *t, size_t *n, const char *key, int64_t ms, enum ss_outcome o)
{
    size_t i = 0;
    while (i < *n && strcmp(t[i].key, key) != 0)
        i++;
    if (i == *n) {
        if (*n == TALLY_MAX) {
            i = TALLY_MAX; /* the rest together */
            snprintf(t[i].key, sizeof t[i].key, "(weitere)");
        } else {
            (*n)++;
            memset(&t[i], 0, sizeof t[i]);
            snprintf(t[i].key, sizeof t[i].key, "%s", key);
        }
    }
    t[i].ms = ms;
    t[i].n[o]++;
}

static ss_error take_exchange(void *arg, const struct ss_store_exchange *e)
{
    struct overview *ov = arg;
    enum ss_outcome o = ss_store_outcome(e->status, e->error_type);
    int64_t day = (e->logged_ms - ov->from_ms) / 86400000;
    if (day >= 0 && (size_t)day < ov->n_days)
        ov->days[day][o]++;
    ov->total[o]++;
    tally_add(ov->services, &ov->n_services, e->service, e->logged_ms, o);
    tally_add(ov->clients, &ov->n_clients, e->client, e->logged_ms, o);
    char key[200];
    if (o == SS_OUTCOME_REFUSED)
        snprintf(key, sizeof key, "%s", e->error_type);
    else
        snprintf(key, sizeof key, "HTTP %u", e->status);
    tally_add(ov->outcomes, &ov->n_outcomes, key, e->logged_ms, o);
    return SS_OK;
}

static int tally_cmp(const void *a, const void *b)
{
    const struct tally *x = a, *y = b;
    uint64_t nx = x->n[0] + x->n[1] + x->n[2], ny = y->n[0] + y->n[1] + y->n[2];
    return nx < ny ? 1 : nx > ny ? -1 : strcmp(x->key, y->key);
}

static void tally_table(struct view *v, const char *id, const char *what, struct tally *t, size_t n,
                        bool party, const char *field)
{
    struct ss_page *p = &v->page;
    size_t all = n + (t[TALLY_MAX].key[0] ? 1 : 0);
    qsort(t, n, sizeof *t, tally_cmp);
    ss_page_raw(p,
                "<table id=\"%s\" class=\"tally\"><thead><tr><th>%s</th><th>beantwortet</th>"
                "<th>abgelehnt</th><th>fehlgeschlagen</th></tr></thead><tbody>",
                id, what);
    for (size_t k = 0; k < all; k++) {
        struct tally *e = k < n ? &t[k] : &t[TALLY_MAX];
        ss_page_raw(p, "<tr%s><td>", e->n[1] ? " class=\"has-refused\"" : "");
        if (field && k < n) {
            ss_page_raw(p, "<a href=\"/suche?%s%s=", v->logq, field);
            ss_page_url(p, e->key);
            ss_page_raw(p, "\">");
        }
        if (party && k < n)
            page_party(v, e->ms, e->key);
        else
            ss_page_text(p, e->key[0] ? e->key : "(keiner)");
        if (field && k < n)
            ss_page_raw(p, "</a>");
        ss_page_raw(p, "</td><td>%llu</td><td class=\"refused\">%llu</td><td>%llu</td></tr>",
                    (unsigned long long)e->n[0], (unsigned long long)e->n[1],
                    (unsigned long long)e->n[2]);
    }
    if (!all)
        ss_page_raw(p, "<tr><td colspan=\"4\">Keine Austausche im Zeitraum.</td></tr>");
    ss_page_raw(p, "</tbody></table>");
}

static void chart(struct view *v, const struct overview *ov)
{
    struct ss_page *p = &v->page;
    const unsigned W = 960, H = 260, L = 48, B = 36, T = 12;
    uint64_t max = 1;
    for (size_t d = 0; d < ov->n_days; d++) {
        uint64_t sum = ov->days[d][0] + ov->days[d][1] + ov->days[d][2];
        if (sum > max)
            max = sum;
    }
    double plot_w = W - L - 8, plot_h = H - B - T;
    double bw = plot_w / (double)(ov->n_days ? ov->n_days : 1);
    ss_page_raw(p,
                "<svg id=\"chart\" viewBox=\"0 0 %u %u\" width=\"%u\" height=\"%u\" role=\"img\" "
                "aria-label=\"Austausche pro Tag\"><line class=\"axis\" x1=\"%u\" y1=\"%u\" "
                "x2=\"%u\" y2=\"%u\"/><line class=\"axis\" x1=\"%u\" y1=\"%u\" x2=\"%u\" "
                "y2=\"%u\"/><text class=\"label\" x=\"%u\" y=\"%u\" text-anchor=\"end\">%llu</text>"
                "<text class=\"label\" x=\"%u\" y=\"%u\" text-anchor=\"end\">0</text>",
                W, H, W, H, L, T, L, H - B, L, H - B, W - 8, H - B, L - 6, T + 10,
                (unsigned long long)max, L - 6, H - B);
    size_t step = ov->n_days / 10 + 1;
    static const char *const words[] = {"beantwortet", "abgelehnt", "fehlgeschlagen"};
    for (size_t d = 0; d < ov->n_days; d++) {
        char day[32];
        ss_cockpit_time(ov->from_ms + (int64_t)d * 86400000, day);
        double x = L + bw * (double)d + bw * 0.1, y = H - B;
        for (int o = 0; o < 3; o++) {
            if (!ov->days[d][o])
                continue;
            double h = plot_h * (double)ov->days[d][o] / (double)max;
            y -= h;
            ss_page_raw(p,
                        "<rect class=\"bar %s\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                        "height=\"%.1f\"><title>%.10s: %llu %s</title></rect>",
                        outcome_class((enum ss_outcome)o), x, y, bw * 0.8, h, day,
                        (unsigned long long)ov->days[d][o], words[o]);
        }
        if (d % step == 0)
            ss_page_raw(p,
                        "<text class=\"label\" x=\"%.1f\" y=\"%u\" text-anchor=\"middle\">"
                        "%.2s.%.2s.</text>",
                        L + bw * ((double)d + 0.5), H - B + 16, day + 8, day + 5);
    }
    ss_page_raw(p, "</svg><p class=\"legend\"><span class=\"key answered\"></span> beantwortet "
                   "<span class=\"key refused\"></span> abgelehnt <span class=\"key failed\">"
                   "</span> fehlgeschlagen</p>");
}

/* Whether name is a report of the log called log: pruefung-LOG-YYYYMMDDTHHMMSSZ-NN.txt. */
static bool report_of(const char *name, const char *log)
{
    size_t n = strlen(log);
    if (strncmp(name, "pruefung-", 9) != 0 || strncmp(name + 9, log, n) != 0 || name[9 + n] != '-')
        return false;
    const char *p = name + 10 + n;
    static const char shape[] = "DDDDDDDDTDDDDDDZ-DD.txt";
    if (strlen(p) != sizeof shape - 1)
        return false;
    for (size_t i = 0; shape[i]; i++)
        if (shape[i] == 'D' ? p[i] < '0' || p[i] > '9' : p[i] != shape[i])
            return false;
    return true;
}

/* The newest kept report of log k: its file name and its verdict (its first line); false if none.
 */
static bool last_report(struct console *c, size_t k, char name[128], char verdict[16])
{
    DIR *d = opendir(c->o->reports_dir);
    if (!d)
        return false;
    name[0] = '\0';
    for (struct dirent *e; (e = readdir(d));)
        if (report_of(e->d_name, c->logs[k].name) && strcmp(e->d_name, name) > 0)
            snprintf(name, 128, "%.127s", e->d_name); /* report names are shorter */
    closedir(d);
    if (!name[0])
        return false;
    char path[4200], line[64] = "";
    snprintf(path, sizeof path, "%s/%s", c->o->reports_dir, name);
    FILE *f = fopen(path, "r");
    if (f) {
        if (!fgets(line, sizeof line, f))
            line[0] = '\0';
        fclose(f);
    }
    static const char *const verdicts[] = {"ok", "warn", "broken", "error"};
    snprintf(verdict, 16, "?");
    for (size_t i = 0; i < 4; i++) {
        char want[32];
        snprintf(want, sizeof want, "result: %s\n", verdicts[i]);
        if (strcmp(line, want) == 0)
            snprintf(verdict, 16, "%s", verdicts[i]);
    }
    return true;
}

static void log_state(struct view *v)
{
    struct console *c = v->c;
    struct ss_page *p = &v->page;
    struct ss_store_summary s;
    if (ss_store_summary(c->logs[v->log].store, (int64_t)time(NULL), &s) != SS_OK) {
        ss_page_raw(p, "<p class=\"error\">Der Zustand des Protokolls ist nicht lesbar: ");
        ss_page_text(p, ss_errmsg());
        ss_page_raw(p, "</p>");
        return;
    }
    int64_t late = now_ms() - (int64_t)c->o->grace * 1000;
    ss_page_raw(p, "<table id=\"log-state\" class=\"state\"><tbody><tr><th>Einträge</th><td>%llu",
                (unsigned long long)s.records);
    if (s.records) {
        ss_page_raw(p, " (Nr. %lld bis %lld, ", (long long)s.first_id, (long long)s.last_id);
        page_time(p, s.first_ms);
        ss_page_raw(p, " bis ");
        page_time(p, s.last_ms);
        ss_page_raw(p, ")");
    }
    ss_page_raw(p, "</td></tr><tr><th>Zeitstempel</th><td>%llu</td></tr>",
                (unsigned long long)s.timestamps);
    ss_page_raw(p, "<tr%s><th>Noch ohne Zeitstempel</th><td id=\"unstamped\">%llu",
                s.unstamped && s.oldest_unstamped_ms < late ? " class=\"alert\"" : "",
                (unsigned long long)s.unstamped);
    if (s.unstamped) {
        ss_page_raw(p, " (ältester von ");
        page_time(p, s.oldest_unstamped_ms);
        ss_page_raw(p, "%s)", s.oldest_unstamped_ms < late ? ", länger als die Frist" : "");
    }
    ss_page_raw(p, "</td></tr><tr%s><th>Lücken zwischen Zeitstempeln</th><td id=\"gaps\">%llu",
                s.gaps ? " class=\"alert\"" : "", (unsigned long long)s.gaps);
    if (s.gaps)
        ss_page_raw(p, " Einträge (erste Lücke ab Nr. %lld)", (long long)s.first_gap_id);
    ss_page_raw(p,
                "</td></tr><tr%s><th>Zur Löschung fällig</th><td id=\"due-purge\">%llu "
                "(Aufbewahrungsfrist abgelaufen, Inhalt noch vorhanden)</td></tr>"
                "<tr><th>Nach Fristablauf gelöscht</th><td>%llu</td></tr>",
                s.due_purge ? " class=\"alert\"" : "", (unsigned long long)s.due_purge,
                (unsigned long long)s.purged);
    char name[128], verdict[16];
    ss_page_raw(p, "<tr><th>Letzte Prüfung</th><td id=\"last-verification\">");
    if (last_report(c, v->log, name, verdict)) {
        bool ok = strcmp(verdict, "ok") == 0 || strcmp(verdict, "warn") == 0;
        ss_page_raw(p, "<span class=\"%s\">%s</span> (<a href=\"/pruefung/bericht/",
                    ok ? "ok" : "broken",
                    strcmp(verdict, "ok") == 0       ? "gültig"
                    : strcmp(verdict, "warn") == 0   ? "gültig, mit Warnung"
                    : strcmp(verdict, "broken") == 0 ? "gebrochen"
                                                     : "nicht prüfbar");
        ss_page_url(p, name);
        ss_page_raw(p, "\">");
        ss_page_text(p, name);
        ss_page_raw(p, "</a>)");
    } else {
        ss_page_raw(p,
                    "<span class=\"alert\">noch keine</span> — <a href=\"/pruefung?%s\">jetzt "
                    "prüfen</a>",
                    v->logq);
    }
    ss_page_raw(p, "</td></tr></tbody></table>");
}

static void page_overview(struct view *v)
{
    static const char *const fields[] = {"log", "since", "until", NULL};
    if (!only_fields(v, &v->q, fields))
        return;
    int64_t now = now_ms();
    int64_t today = now - now % 86400000;
    int64_t from = 0, to = 0;
    if (!date_field(v, "since", false, &from) || !date_field(v, "until", true, &to))
        return;
    if (!to)
        to = today + 86400000;
    if (!from)
        from = to - 30LL * 86400000;
    from -= from % 86400000;
    if (to <= from || (to - from) / 86400000 > CHART_DAYS_MAX) {
        fail_page(v, 400, "Zeitraum: 'until' muss nach 'since' liegen, höchstens 400 Tage.");
        return;
    }
    struct overview *ov = calloc(1, sizeof *ov);
    if (ov) {
        ov->from_ms = from;
        ov->n_days = (size_t)((to - from + 86399999) / 86400000);
        ov->days = calloc(ov->n_days, sizeof *ov->days);
    }
    if (!ov || !ov->days) {
        free(ov);
        fail_page(v, 500, "Kein Speicher.");
        return;
    }
    struct ss_store_filter f = {.from_ms = from, .to_ms = to};
    uint64_t total = 0;
    ss_error err = ss_store_exchanges(v->c->logs[v->log].store, &f, -1, SS_ORDER_TIME, false, 0, 0,
                                      take_exchange, ov, &total);
    if (err) {
        fail_page(v, 500, ss_errmsg());
        free(ov->days);
        free(ov);
        return;
    }
    struct ss_page *p = &v->page;
    start_page(v, "Übersicht");
    log_state(v);
    char a[32], b[32], logno[24];
    snprintf(logno, sizeof logno, "%zu", v->log);
    ss_cockpit_time(from, a);
    ss_cockpit_time(to - 1, b);
    ss_page_raw(p,
                "<form class=\"range\" method=\"get\" action=\"/\">%s%s%s<label>von <input "
                "type=\"date\" name=\"since\" value=\"%.10s\"></label><label>bis einschließlich "
                "<input type=\"date\" name=\"until\" value=\"%.10s\"></label><button>Zeitraum "
                "zeigen</button></form>",
                v->c->n_logs > 1 ? "<input type=\"hidden\" name=\"log\" value=\"" : "",
                v->c->n_logs > 1 ? logno : "", v->c->n_logs > 1 ? "\">" : "", a, b);
    ss_page_raw(p,
                "<h2>Austausche pro Tag</h2><p class=\"totals\">%llu Austausche: %llu "
                "beantwortet, <span class=\"refused\">%llu abgelehnt</span>, %llu "
                "fehlgeschlagen</p>",
                (unsigned long long)total, (unsigned long long)ov->total[0],
                (unsigned long long)ov->total[1], (unsigned long long)ov->total[2]);
    chart(v, ov);
    /* refused queries stand out */
    ss_page_raw(p, "<h2>Zuletzt abgelehnte Anfragen</h2>");
    uint64_t n_refused = 0;
    results_start(v, "refused", NULL);
    err = ss_store_exchanges(v->c->logs[v->log].store, &f, SS_OUTCOME_REFUSED, SS_ORDER_TIME, true,
                             0, 10, result_row, v, &n_refused);
    results_end(v, n_refused == 0);
    if (n_refused > 10)
        ss_page_raw(p,
                    "<p><a href=\"/suche?%soutcome=refused&amp;since=%.10s&amp;until=%.10s\">"
                    "Alle %llu abgelehnten Anfragen</a></p>",
                    v->logq, a, b, (unsigned long long)n_refused);
    ss_page_raw(p, "<div class=\"tallies\"><section><h2>Nach Dienst</h2>");
    tally_table(v, "by-service", "Dienst", ov->services, ov->n_services, false, "service");
    ss_page_raw(p, "</section><section><h2>Nach anfragender Stelle</h2>");
    tally_table(v, "by-client", "Anfragende Stelle", ov->clients, ov->n_clients, true, "client");
    ss_page_raw(p, "</section><section><h2>Nach Ergebnis</h2>");
    tally_table(v, "by-outcome", "Status oder Ablehnung", ov->outcomes, ov->n_outcomes, false,
                NULL);
    ss_page_raw(p, "</section></div>");
    foot(v);
    free(ov->days);
    free(ov);
}

/* ---- search ---- */

static const char *const search_fields[] = {"since",    "until",   "client", "service", "purpose",
                                            "query-id", "outcome", "side",   "sh",      NULL};

/* The search's terms from form f as a query string "k=v&..." (sh given apart, may be NULL). */
static void search_query(struct view *v, const struct ss_form *f, const char *sh,
                         struct ss_page *out)
{
    ss_page_raw(out, "%s", v->logp);
    for (const char *const *n = search_fields; *n; n++) {
        const char *val = strcmp(*n, "sh") == 0 && sh ? sh : ss_form_get(f, *n);
        if (!val || !*val)
            continue;
        ss_page_raw(out, "%s=", *n);
        ss_page_url(out, val);
        ss_page_raw(out, "&");
    }
}

static void search_post(struct view *v)
{
    static const char *const fields[] = {"csrf",    "log",     "since",    "until",   "client",
                                         "service", "purpose", "query-id", "outcome", "side",
                                         "subject", "sh",      NULL};
    if (!only_fields(v, &v->body, fields))
        return;
    const char *subject = ss_form_get(&v->body, "subject");
    char sh[65] = "";
    if (subject && *subject && !hash_subject(v, subject, sh))
        return;
    struct ss_page q;
    ss_page_init(&q, sizeof v->location - 16);
    ss_page_raw(&q, "/suche?");
    search_query(v, &v->body, sh[0] ? sh : NULL, &q);
    if (q.failed) {
        ss_page_cleanup(&q);
        fail_page(v, 400, "Die Suchbegriffe sind zu lang.");
        return;
    }
    if (q.len && q.data[q.len - 1] == '&')
        q.data[--q.len] = '\0';
    redirect(v, q.data);
    ss_page_cleanup(&q);
}

static void text_input(struct view *v, const char *label, const char *name, const char *type)
{
    const char *val = ss_form_get(&v->q, name);
    ss_page_raw(&v->page, "<label>%s <input type=\"%s\" name=\"%s\"%s value=\"", label, type, name,
                strcmp(name, "client") == 0 ? " list=\"authorities\"" : "");
    ss_page_text(&v->page, val ? val : "");
    ss_page_raw(&v->page, "\"></label>");
}

/* The members of the registry in force now, as suggestions: official name, identifier. */
static void authorities(struct view *v)
{
    struct ss_trust *t = ss_kept_registry(v->c->logs[v->log].kept, now_ms(), 0);
    if (!t)
        return;
    const struct ss_registry *reg = ss_trust_registry(t);
    struct ss_page *p = &v->page;
    ss_page_raw(p, "<datalist id=\"authorities\">");
    for (size_t i = 0; i < reg->n_members; i++) {
        const struct ss_reg_member *m = &reg->members[i];
        for (size_t k = 0; k <= m->n_subsystems; k++) {
            ss_page_raw(p, "<option value=\"");
            ss_page_text(p, reg->instance);
            ss_page_raw(p, "/");
            ss_page_text(p, m->member_class);
            ss_page_raw(p, "/");
            ss_page_text(p, m->member_code);
            if (k < m->n_subsystems) {
                ss_page_raw(p, "/");
                ss_page_text(p, m->subsystems[k]);
            }
            ss_page_raw(p, "\">");
            ss_page_text(p, m->name);
            ss_page_raw(p, "</option>");
        }
    }
    ss_page_raw(p, "</datalist>");
}

static void page_search(struct view *v)
{
    static const char *const fields[] = {"log",     "since",    "until",   "client", "service",
                                         "purpose", "query-id", "outcome", "side",   "sh",
                                         "sort",    "order",    "page",    "size",   NULL};
    if (!only_fields(v, &v->q, fields))
        return;
    struct ss_store_filter f = {0};
    if (!date_field(v, "since", false, &f.from_ms) || !date_field(v, "until", true, &f.to_ms) ||
        !subject_field(v, &f))
        return;
    const char *texts[][2] = {
        {"client", NULL}, {"service", NULL}, {"purpose", NULL}, {"query-id", NULL}};
    for (size_t i = 0; i < 4; i++) {
        const char *s = ss_form_get(&v->q, texts[i][0]);
        if (s && strlen(s) >= (i < 2 ? SS_ID_STR_MAX : i == 2 ? 65 : 256)) {
            char msg[200];
            snprintf(msg, sizeof msg, "%s: zu lang.", texts[i][0]);
            fail_page(v, 400, msg);
            return;
        }
        texts[i][1] = s && *s ? s : NULL;
    }
    f.client = texts[0][1];
    f.service = texts[1][1];
    f.purpose = texts[2][1];
    f.query_id = texts[3][1];
    const char *side = ss_form_get(&v->q, "side");
    if (side && *side) {
        if (strcmp(side, "client") != 0 && strcmp(side, "server") != 0) {
            fail_page(v, 400, "side: client (gesendet) oder server (empfangen).");
            return;
        }
        f.side = side;
    }
    int outcome = -1;
    const char *oc = ss_form_get(&v->q, "outcome");
    if (oc && *oc) {
        outcome = strcmp(oc, "answered") == 0  ? SS_OUTCOME_ANSWERED
                  : strcmp(oc, "refused") == 0 ? SS_OUTCOME_REFUSED
                  : strcmp(oc, "failed") == 0  ? SS_OUTCOME_FAILED
                                               : -2;
        if (outcome == -2) {
            fail_page(v, 400, "outcome: answered, refused oder failed.");
            return;
        }
    }
    static const char *const sorts[] = {"time", "client", "service", "purpose", "status"};
    const char *sort = ss_form_get(&v->q, "sort");
    enum ss_exchange_order order = SS_ORDER_TIME;
    if (sort) {
        size_t i = 0;
        while (i < 5 && strcmp(sorts[i], sort) != 0)
            i++;
        if (i == 5) {
            fail_page(v, 400, "sort: time, client, service, purpose oder status.");
            return;
        }
        order = (enum ss_exchange_order)i;
    }
    const char *ord = ss_form_get(&v->q, "order");
    if (ord && strcmp(ord, "asc") != 0 && strcmp(ord, "desc") != 0) {
        fail_page(v, 400, "order: asc oder desc.");
        return;
    }
    bool desc = ord ? strcmp(ord, "desc") == 0 : order == SS_ORDER_TIME;
    long long page = 1, size = 50;
    if (!number_field(v, "page", 1, 1000000000, 1, &page) ||
        !number_field(v, "size", 1, PAGE_SIZE_MAX, 50, &size))
        return;
    struct ss_page *p = &v->page;
    start_page(v, "Suche");
    ss_page_raw(p, "<form id=\"search\" class=\"search\" method=\"post\" action=\"/suche\">");
    hidden_fields(v);
    text_input(v, "von", "since", "date");
    text_input(v, "bis einschließlich", "until", "date");
    text_input(v, "Anfragende Stelle (Kennung; Vorschläge mit Namen)", "client", "text");
    authorities(v);
    text_input(v, "Dienst (Kennung)", "service", "text");
    text_input(v, "Zweck", "purpose", "text");
    text_input(v, "Anfrage-ID", "query-id", "text");
    ss_page_raw(p, "<label>Ergebnis <select name=\"outcome\"><option value=\"\">alle</option>");
    static const char *const oc_names[] = {"answered", "refused", "failed"};
    for (int i = 0; i < 3; i++)
        ss_page_raw(p, "<option value=\"%s\"%s>%s</option>", oc_names[i],
                    outcome == i ? " selected" : "", outcome_word((enum ss_outcome)i));
    ss_page_raw(p,
                "</select></label><label>Seite <select name=\"side\"><option value=\"\">beide"
                "</option><option value=\"client\"%s>gesendet</option><option value=\"server\""
                "%s>empfangen</option></select></label>",
                f.side && strcmp(f.side, "client") == 0 ? " selected" : "",
                f.side && strcmp(f.side, "server") == 0 ? " selected" : "");
    if (v->c->has_subject_key)
        ss_page_raw(p,
                    "<label>Betroffene Person (Kennung; wird nur als Schlüssel-Hash gesucht, nie "
                    "gespeichert) <input type=\"text\" name=\"subject\" autocomplete=\"off\">"
                    "</label>");
    if (f.has_subject) {
        char sh[65];
        hex32(f.subject_hash, sh);
        ss_page_raw(p,
                    "<input type=\"hidden\" name=\"sh\" value=\"%s\"><p class=\"note\">Gesucht "
                    "wird nach einer Person (Schlüssel-Hash <code>%.16s…</code>).</p>",
                    sh, sh);
    }
    ss_page_raw(p, "<button id=\"search-submit\">Suchen</button></form>");
    /* the terms again, for the links of the sort and the pages */
    struct ss_page q;
    ss_page_init(&q, 8192);
    ss_page_raw(&q, "/suche?");
    search_query(v, &v->q, NULL, &q);
    struct ss_page target; /* the same, escaped for an attribute */
    ss_page_init(&target, 16384);
    ss_page_text(&target, q.data ? q.data : "/suche?");
    if (q.failed || target.failed) {
        ss_page_cleanup(&q);
        ss_page_cleanup(&target);
        fail_page(v, 400, "Die Suchbegriffe sind zu lang.");
        return;
    }
    struct sort_link sl = {target.data ? target.data : "/suche?", sorts[order], desc};
    uint64_t total = 0;
    results_start(v, "results", &sl);
    size_t before = p->len;
    ss_error err = ss_store_exchanges(v->c->logs[v->log].store, &f, outcome, order, desc,
                                      (uint64_t)(page - 1) * (uint64_t)size, (uint64_t)size,
                                      result_row, v, &total);
    results_end(v, p->len == before);
    if (err) {
        ss_page_cleanup(&q);
        ss_page_cleanup(&target);
        fail_page(v, 500, ss_errmsg());
        return;
    }
    uint64_t pages = total ? (total + (uint64_t)size - 1) / (uint64_t)size : 1;
    ss_page_raw(p, "<p class=\"pages\" id=\"pages\">%llu Austausche, Seite %lld von %llu. ",
                (unsigned long long)total, page, (unsigned long long)pages);
    if (page > 1)
        ss_page_raw(p,
                    "<a id=\"prev\" href=\"%ssort=%s&amp;order=%s&amp;size=%lld&amp;page=%lld\">"
                    "« vorige</a> ",
                    sl.target, sl.sort, desc ? "desc" : "asc", size, page - 1);
    if ((uint64_t)page < pages)
        ss_page_raw(p,
                    "<a id=\"next\" href=\"%ssort=%s&amp;order=%s&amp;size=%lld&amp;page=%lld\">"
                    "nächste »</a>",
                    sl.target, sl.sort, desc ? "desc" : "asc", size, page + 1);
    ss_page_raw(p, "</p>");
    ss_page_cleanup(&q);
    ss_page_cleanup(&target);
    foot(v);
}

/* ---- one exchange ---- */

/* A record copied out of the store, with what it points to. */
struct rec {
    bool found;
    struct ss_record r;
    int64_t ts_id;
    char ts_path[SS_MERKLE_PATH_TEXT_MAX];
    uint8_t *message, *manifest, *signature, *ocsp;
};

static void rec_free(struct rec *x)
{
    free(x->message);
    free(x->manifest);
    free(x->signature);
    free(x->ocsp);
    memset(x, 0, sizeof *x);
}

static bool dup_bytes(const uint8_t *src, size_t n, uint8_t **dst, const uint8_t **view)
{
    *dst = NULL;
    if (!src) {
        *view = NULL;
        return true;
    }
    *dst = malloc(n ? n : 1);
    if (!*dst)
        return false;
    memcpy(*dst, src, n);
    *view = *dst;
    return true;
}

static ss_error rec_copy(struct rec *x, const struct ss_record *r, int64_t ts_id,
                         const char *ts_path)
{
    x->found = true;
    x->r = *r;
    x->ts_id = ts_id;
    snprintf(x->ts_path, sizeof x->ts_path, "%s", ts_path ? ts_path : "");
    if (!dup_bytes(r->message, r->message_len, &x->message, &x->r.message) ||
        !dup_bytes(r->manifest, r->manifest_len, &x->manifest, &x->r.manifest) ||
        !dup_bytes(r->signature, r->signature_len, &x->signature, &x->r.signature) ||
        !dup_bytes(r->ocsp, r->ocsp_len, &x->ocsp, &x->r.ocsp))
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    return SS_OK;
}

static ss_error take_one(void *arg, const struct ss_record *r, int64_t ts_id, const char *ts_path)
{
    struct rec *x = arg;
    if (x->found)
        return SS_OK;
    return rec_copy(x, r, ts_id, ts_path);
}

struct partner {
    const struct ss_record *of;
    struct rec *out;
};

static ss_error take_partner(void *arg, const struct ss_record *r, int64_t ts_id,
                             const char *ts_path)
{
    struct partner *pt = arg;
    if (pt->out->found || r->id == pt->of->id || !pt->of->request_id[0] ||
        strcmp(r->request_id, pt->of->request_id) != 0 || strcmp(r->client, pt->of->client) != 0 ||
        strcmp(r->direction, pt->of->direction) == 0)
        return SS_OK;
    return rec_copy(pt->out, r, ts_id, ts_path);
}

/* Record id of the view's log and the other record of its exchange: request and response. */
static ss_error load_exchange(struct view *v, int64_t id, struct rec *req, struct rec *resp)
{
    struct ss_store *st = v->c->logs[v->log].store;
    struct rec a = {0}, b = {0};
    ss_error err = ss_store_each(st, id, id, take_one, &a);
    if (!err && !a.found)
        err = ss_errf(SS_ERR_NOT_FOUND, "record %lld is not in this log", (long long)id);
    if (!err) {
        struct ss_store_filter f = {.query_id = a.r.query_id, .side = a.r.side, .paths = true};
        struct partner pt = {&a.r, &b};
        err = ss_store_search(st, &f, take_partner, &pt);
    }
    if (err) {
        rec_free(&a);
        rec_free(&b);
        return err;
    }
    bool a_is_request = strcmp(a.r.direction, "request") == 0;
    *req = a_is_request ? a : b;
    *resp = a_is_request ? b : a;
    return SS_OK;
}

static void row(struct ss_page *p, const char *label)
{
    ss_page_raw(p, "<tr><th>%s</th><td>", label);
}

static void row_text(struct ss_page *p, const char *label, const char *text)
{
    row(p, label);
    ss_page_text(p, text[0] ? text : "–");
    ss_page_raw(p, "</td></tr>");
}

struct ts_info {
    bool found;
    int64_t gen_time;
    char tsa[256];
    int64_t first_id, last_id;
};

static ss_error take_ts(void *arg, const struct ss_timestamp *ts)
{
    struct ts_info *t = arg;
    t->found = true;
    t->gen_time = ts->gen_time;
    t->first_id = ts->first_id;
    t->last_id = ts->last_id;
    snprintf(t->tsa, sizeof t->tsa, "%s", ts->tsa);
    return SS_OK;
}

static void evidence_rows(struct view *v, const struct rec *x)
{
    struct ss_page *p = &v->page;
    const struct ss_record *r = &x->r;
    row(p, "Signatur");
    uint8_t *der = NULL;
    size_t der_len = 0;
    if (!r->signature) {
        ss_page_raw(p, "keine (%s)", r->error_type[0] ? "abgelehnt, bevor signiert wurde" : "–");
    } else if (ss_evidence_signer_cert(r->signature, r->signature_len, &der, &der_len) != SS_OK) {
        ss_page_raw(p, "<span class=\"broken\">nicht lesbar: ");
        ss_page_text(p, ss_errmsg());
        ss_page_raw(p, "</span>");
    } else {
        struct ss_cert_info ci;
        if (ss_certfile_describe(der, der_len, &ci) == SS_OK) {
            char fp[65];
            uint8_t d[32];
            ss_sha256(der, der_len, d);
            hex32(d, fp);
            ss_page_raw(p, "CMS SignedData%s<br>Zertifikat: <code class=\"signer\">",
                        r->sig_path[0] ? " (Stapel mit Inklusionspfad)" : "");
            ss_page_text(p, ci.subject);
            ss_page_raw(p, "</code><br>Aussteller: <code>");
            ss_page_text(p, ci.issuer);
            ss_page_raw(p, "</code><br>Seriennummer <code>");
            ss_page_text(p, ci.serial);
            ss_page_raw(p, "</code>, gültig ");
            page_time_s(p, (int64_t)ci.not_before);
            ss_page_raw(p, " bis ");
            page_time_s(p, (int64_t)ci.not_after);
            ss_page_raw(p, "<br>SHA-256 <code>%s</code>", fp);
        }
        free(der);
    }
    ss_page_raw(p, "</td></tr>");
    row(p, "OCSP");
    struct ss_ocsp_info oi;
    if (!r->ocsp) {
        ss_page_raw(p, "–");
    } else if (ss_ocsp_describe(r->ocsp, r->ocsp_len, &oi) != SS_OK) {
        ss_page_raw(p, "<span class=\"broken\">nicht lesbar</span>");
    } else {
        ss_page_raw(p, "<span class=\"%s\">%s</span>, erstellt ",
                    strcmp(oi.status, "good") == 0 ? "ok" : "broken", oi.status);
        page_time_s(p, (int64_t)oi.produced_at);
        if (oi.next_update) {
            ss_page_raw(p, ", gültig bis ");
            page_time_s(p, (int64_t)oi.next_update);
        }
        ss_page_raw(p, "<br>Responder: <code>");
        ss_page_text(p, oi.responder);
        ss_page_raw(p, "</code>");
    }
    ss_page_raw(p, "</td></tr>");
    row(p, "Zeitstempel");
    struct ts_info t = {0};
    if (!x->ts_id) {
        ss_page_raw(p, "<span class=\"alert\">noch keiner</span>");
    } else if (ss_store_timestamps(v->c->logs[v->log].store, x->ts_id, take_ts, &t) != SS_OK ||
               !t.found) {
        ss_page_raw(p, "<span class=\"broken\">Zeitstempel %lld fehlt</span>", (long long)x->ts_id);
    } else {
        ss_page_raw(p, "RFC 3161, ");
        page_time_s(p, t.gen_time);
        ss_page_raw(p, ", von <code>");
        ss_page_text(p, t.tsa);
        ss_page_raw(p, "</code> (Nr. %lld, über die Einträge %lld bis %lld)", (long long)x->ts_id,
                    (long long)t.first_id, (long long)t.last_id);
    }
    ss_page_raw(p, "</td></tr>");
}

/* One record's column: metadata, evidence and, when asked for, the message. */
static void record_column(struct view *v, const char *id, const char *title, const struct rec *x,
                          const uint8_t *plain, size_t plain_len, const char *why_not)
{
    struct ss_page *p = &v->page;
    ss_page_raw(p, "<section id=\"%s\" class=\"record\"><h2>%s</h2>", id, title);
    if (!x->found) {
        ss_page_raw(p, "<p class=\"note\">Kein Eintrag (die Anfrage wurde abgelehnt, bevor eine "
                       "Antwort kam, oder die Antwort fehlt).</p></section>");
        return;
    }
    const struct ss_record *r = &x->r;
    char hex[65];
    ss_page_raw(p, "<table class=\"meta\"><tbody>");
    row(p, "Eintrag");
    ss_page_raw(p, "Nr. %lld, ", (long long)r->id);
    page_time(p, r->logged_ms);
    ss_page_raw(p, "</td></tr>");
    row_text(p, "Seite",
             strcmp(r->side, "client") == 0 ? "gesendet (Client-Proxy)"
                                            : "empfangen (Server-Proxy)");
    row(p, "Anfragende Stelle");
    page_party(v, r->logged_ms, r->client);
    ss_page_raw(p, "</td></tr>");
    row(p, "Dienst");
    page_party(v, r->logged_ms, r->service);
    ss_page_raw(p, "</td></tr>");
    row_text(p, "Anfrage-ID", r->query_id);
    row_text(p, "Request-ID", r->request_id);
    row_text(p, "Zweck", r->purpose);
    row(p, "Betroffene Person");
    if (r->has_subject) {
        hex32(r->subject_hash, hex);
        ss_page_raw(p, "Schlüssel-Hash <code>%.16s…</code>", hex);
    } else {
        ss_page_raw(p, "–");
    }
    ss_page_raw(p, "</td></tr>");
    row(p, "Ergebnis");
    enum ss_outcome o = ss_store_outcome(r->status, r->error_type);
    ss_page_raw(p, "<span class=\"%s\">%s</span>, HTTP %u", outcome_class(o), outcome_word(o),
                r->status);
    if (r->error_type[0]) {
        ss_page_raw(p, ", <code>");
        ss_page_text(p, r->error_type);
        ss_page_raw(p, "</code>");
    }
    ss_page_raw(p, "</td></tr>");
    row(p, "Aufbewahrung bis");
    page_time_s(p, r->retain_until);
    ss_page_raw(p, "</td></tr>");
    row(p, "Nachricht");
    hex32(r->message_sha256, hex);
    if (r->message)
        ss_page_raw(p, "%zu Bytes%s, SHA-256 <code>%s</code>", r->message_len,
                    r->sealed ? " (für den Datenschutzbeauftragten versiegelt)" : "", hex);
    else if (r->has_content && !r->has_salt)
        ss_page_raw(p, "nach Ablauf der Aufbewahrungsfrist gelöscht");
    else
        ss_page_raw(p, "nur Metadaten protokolliert");
    ss_page_raw(p, "</td></tr>");
    evidence_rows(v, x);
    ss_page_raw(p, "</tbody></table>");
    if (plain) {
        ss_page_raw(p, "<h3>Inhalt</h3><pre class=\"message\" id=\"body-%s\">", id);
        ss_page_bytes(p, plain, plain_len > BODY_SHOWN_MAX ? BODY_SHOWN_MAX : plain_len);
        if (plain_len > BODY_SHOWN_MAX)
            ss_page_raw(p, "\n… (%zu weitere Bytes; das Beweispaket enthält alles)",
                        plain_len - BODY_SHOWN_MAX);
        ss_page_raw(p, "</pre>");
    } else if (why_not) {
        ss_page_raw(p, "<p class=\"error\">");
        ss_page_text(p, why_not);
        ss_page_raw(p, "</p>");
    }
    ss_page_raw(p, "</section>");
}

/* The DPO's secret key from a form (64 hex digits), into guarded memory, and its public key. */
static bool read_secret(const char *hex, uint8_t **secret, uint8_t public_key[32])
{
    *secret = NULL;
    if (!hex || strlen(hex) != 64)
        return false;
    uint8_t *s = sodium_malloc(32);
    if (!s)
        return false;
    bool ok = ss_hex_sha256_parse(hex, s) && crypto_scalarmult_base(public_key, s) == 0;
    if (!ok) {
        sodium_free(s);
        return false;
    }
    *secret = s;
    return true;
}

static void verification_box(struct view *v, const struct rec *req, const struct rec *resp)
{
    struct ss_page *p = &v->page;
    int64_t lo = req->found ? req->r.id : resp->r.id;
    int64_t hi = resp->found ? resp->r.id : req->r.id;
    if (lo > hi) {
        int64_t t = lo;
        lo = hi;
        hi = t;
    }
    struct ss_audit_options o = {.from_id = lo,
                                 .to_id = hi,
                                 .clock_skew = v->c->o->clock_skew,
                                 .grace = v->c->o->grace,
                                 .now = (int64_t)time(NULL)};
    struct ss_audit_report rep;
    ss_error err = ss_audit_verify(v->c->logs[v->log].store, &v->c->anchor, &o, &rep);
    if (err == SS_ERR_BAD_SIGNATURE && rep.broken[0]) {
        ss_page_raw(p, "<div id=\"verification\" class=\"broken\"><strong>Prüfung fehlgeschlagen"
                       "</strong>: ");
        if (rep.broken_record)
            ss_page_raw(p, "Eintrag %lld: ", (long long)rep.broken_record);
        ss_page_text(p, rep.broken);
    } else if (err) {
        ss_page_raw(p,
                    "<div id=\"verification\" class=\"broken\"><strong>Nicht prüfbar</strong>: ");
        ss_page_text(p, ss_errmsg());
    } else {
        ss_page_raw(p,
                    "<div id=\"verification\" class=\"%s\"><strong>Geprüft: gültig</strong>. "
                    "Hash-Kette, Inhalte, %llu Signatur(en) mit Zertifikatskette und OCSP, "
                    "%llu Zeitstempel über die Einträge %lld bis %lld",
                    rep.unstamped ? "ok warn" : "ok", (unsigned long long)rep.signatures,
                    (unsigned long long)rep.timestamps, (long long)rep.first_id,
                    (long long)rep.last_id);
        if (rep.unstamped)
            ss_page_raw(p, "; %llu Einträge haben noch keinen Zeitstempel",
                        (unsigned long long)rep.unstamped);
        ss_page_raw(p, ".");
    }
    ss_page_raw(p, "</div>");
}

static void page_exchange(struct view *v, int64_t id)
{
    static const char *const q_fields[] = {"log", NULL};
    static const char *const b_fields[] = {"log", "csrf", "secret", NULL};
    if (!only_fields(v, &v->q, q_fields) || !only_fields(v, &v->body, b_fields))
        return;
    struct rec req = {0}, resp = {0};
    ss_error err = load_exchange(v, id, &req, &resp);
    if (err) {
        char msg[700];
        snprintf(msg, sizeof msg, "Eintrag %lld: %s", (long long)id, ss_errmsg());
        fail_page(v, err == SS_ERR_NOT_FOUND ? 404 : 500, msg);
        return;
    }
    /* the content, only when asked for (a POST of this page's form) */
    bool show = strcmp(v->req->method, "POST") == 0;
    uint8_t *secret = NULL, public_key[32];
    const char *why_not = NULL;
    const uint8_t *plain[2] = {NULL, NULL};
    uint8_t *opened[2] = {NULL, NULL};
    size_t plain_len[2] = {0, 0};
    const char *key_hex = ss_form_get(&v->body, "secret");
    if (show && key_hex && *key_hex && !read_secret(key_hex, &secret, public_key))
        why_not = "Der geheime Schlüssel besteht aus 64 Hexadezimalziffern (secsrv-log keygen).";
    const struct rec *both[2] = {&req, &resp};
    for (int i = 0; show && !why_not && i < 2; i++) {
        const struct ss_record *r = &both[i]->r;
        if (!both[i]->found || !r->message)
            continue;
        if (!r->sealed) {
            plain[i] = r->message;
            plain_len[i] = r->message_len;
        } else if (!secret) {
            why_not = "Die Nachricht ist versiegelt: zum Lesen den geheimen Schlüssel des "
                      "Datenschutzbeauftragten angeben.";
        } else if (ss_dpo_open(public_key, secret, r->message, r->message_len, &opened[i],
                               &plain_len[i]) != SS_OK) {
            why_not = "Dieser Schlüssel öffnet die versiegelte Nachricht nicht.";
        } else {
            plain[i] = opened[i];
        }
    }
    if (secret)
        sodium_free(secret);
    struct ss_page *p = &v->page;
    p->sensitive = show; /* an opened message must not linger in freed memory */
    char title[64];
    snprintf(title, sizeof title, "Austausch (Eintrag %lld)", (long long)id);
    start_page(v, title);
    verification_box(v, &req, &resp);
    ss_page_raw(p,
                "<p class=\"actions\"><a id=\"package\" class=\"button\" href=\"/paket/%lld?%s\" "
                "download>Beweispaket herunterladen (ASiC-E)</a> <a href=\"#anleitung\">Wie "
                "man es mit openssl prüft</a></p>",
                (long long)id, v->logq);
    ss_page_raw(p, "<div class=\"pair\">");
    record_column(v, "request", "Anfrage", &req, plain[0], plain_len[0], NULL);
    record_column(v, "response", "Antwort", &resp, plain[1], plain_len[1], NULL);
    ss_page_raw(p, "</div>");
    if (why_not) {
        ss_page_raw(p, "<p class=\"error\" id=\"content-error\">");
        ss_page_text(p, why_not);
        ss_page_raw(p, "</p>");
    }
    ss_page_raw(p, "<form id=\"decrypt\" method=\"post\" action=\"/austausch/%lld\">",
                (long long)id);
    hidden_fields(v);
    ss_page_raw(p, "<label>Geheimer Schlüssel des Datenschutzbeauftragten (nur für versiegelte "
                   "Nachrichten; wird nicht gespeichert) <input type=\"password\" name=\"secret\" "
                   "autocomplete=\"off\"></label><button id=\"show-content\">Inhalt anzeigen"
                   "</button></form>");
    ss_page_raw(p,
                "<section id=\"anleitung\"><h2>Prüfen ohne secsrv</h2><p>Das Paket ist ein "
                "ASiC-E-Container (ZIP). Entpackt enthält es <code>VERIFY.txt</code>: die "
                "openssl-Befehle, die Signaturen, Zertifikatsketten, OCSP-Antworten, Hash-Bäume "
                "und RFC-3161-Zeitstempel prüfen.</p><pre>unzip austausch-%lld.asice -d "
                "austausch-%lld\ncd austausch-%lld &amp;&amp; sh -e VERIFY.txt</pre></section>",
                (long long)id, (long long)id, (long long)id);
    foot(v);
    for (int i = 0; i < 2; i++)
        if (opened[i])
            ss_dpo_plain_free(opened[i], plain_len[i]);
    rec_free(&req);
    rec_free(&resp);
}

static void page_package(struct view *v, int64_t id)
{
    static const char *const q_fields[] = {"log", NULL};
    if (!only_fields(v, &v->q, q_fields))
        return;
    struct rec req = {0}, resp = {0};
    ss_error err = load_exchange(v, id, &req, &resp);
    if (err) {
        char msg[700];
        snprintf(msg, sizeof msg, "Eintrag %lld: %s", (long long)id, ss_errmsg());
        fail_page(v, err == SS_ERR_NOT_FOUND ? 404 : 500, msg);
        return;
    }
    struct ss_export *x = NULL;
    uint8_t zero[32] = {0}, *zip = NULL;
    size_t len = 0, records = 0;
    const struct rec *order[2] = {&req, &resp};
    if (resp.found && req.found && resp.r.id < req.r.id) {
        order[0] = &resp;
        order[1] = &req;
    }
    err = ss_export_new(v->c->logs[v->log].store, v->c->logs[v->log].kept, NULL, zero, &x);
    for (int i = 0; !err && i < 2; i++)
        if (order[i]->found)
            err = ss_export_record(x, &order[i]->r, order[i]->ts_id, order[i]->ts_path);
    if (!err)
        err = ss_export_finish(x, &zip, &len, &records);
    ss_export_free(x);
    rec_free(&req);
    rec_free(&resp);
    if (err) {
        fail_page(v, 500, ss_errmsg());
        return;
    }
    v->blob = zip;
    v->blob_len = len;
    v->type = "application/vnd.etsi.asic-e+zip";
    snprintf(v->disposition, sizeof v->disposition, "attachment; filename=\"austausch-%lld.asice\"",
             (long long)id);
}

/* ---- the data-subject report ---- */

static void person_post(struct view *v)
{
    static const char *const fields[] = {"csrf", "log", "subject", NULL};
    if (!only_fields(v, &v->body, fields))
        return;
    const char *subject = ss_form_get(&v->body, "subject");
    char sh[65];
    if (!hash_subject(v, subject ? subject : "", sh))
        return;
    char to[200];
    snprintf(to, sizeof to, "/person?%ssh=%s", v->logp, sh);
    redirect(v, to);
}

static void page_person(struct view *v, bool json)
{
    static const char *const fields[] = {"log", "sh", NULL};
    if (!only_fields(v, &v->q, fields))
        return;
    struct ss_store_filter f = {0};
    if (!subject_field(v, &f))
        return;
    struct ss_page *p = &v->page;
    if (!f.has_subject) {
        if (json) {
            fail_page(v, 400, "sh: wessen Austausche? (der Schlüssel-Hash der Person)");
            return;
        }
        start_page(v, "Betroffenenauskunft");
        ss_page_raw(p, "<p>Welche Behörden haben wann und wozu Daten über eine Person abgefragt? "
                       "Die Kennung der Person wird nur als Schlüssel-Hash gesucht und nirgends "
                       "gespeichert.</p>");
        if (!v->c->has_subject_key) {
            ss_page_raw(p, "<p class=\"error\">Die Konsole wurde ohne den Betroffenen-Schlüssel "
                           "der Server gestartet (--subject-key).</p>");
        } else {
            ss_page_raw(p, "<form id=\"person\" method=\"post\" action=\"/person\">");
            hidden_fields(v);
            ss_page_raw(p, "<label>Kennung der Person <input type=\"text\" name=\"subject\" "
                           "autocomplete=\"off\" required></label><button id=\"person-submit\">"
                           "Auskunft erstellen</button></form>");
        }
        foot(v);
        return;
    }
    struct ss_cockpit k;
    ss_error err = ss_cockpit_collect(v->c->logs[v->log].store, &f, &k);
    if (err) {
        fail_page(v, 500, ss_errmsg());
        return;
    }
    const struct ss_kept_registries *kept = v->c->logs[v->log].kept;
    if (json) {
        ss_cockpit_json(&k, kept, now_ms(), p);
        v->type = "application/json";
        ss_cockpit_cleanup(&k);
        return;
    }
    char sh[65];
    hex32(f.subject_hash, sh);
    start_page(v, "Betroffenenauskunft");
    ss_page_raw(p,
                "<p>Austausche, die eine Person betrafen (Schlüssel-Hash <code>%.16s…</code>), "
                "Stand ",
                sh);
    page_time(p, now_ms());
    ss_page_raw(p,
                ". Inhalte der Nachrichten sind nicht Teil der Auskunft.</p>"
                "<p class=\"actions noprint\"><button id=\"print\" class=\"print\">Drucken"
                "</button> <a id=\"cockpit-json\" href=\"/person.json?%ssh=%s\">als JSON "
                "(secsrv-cockpit 1)</a></p>",
                v->logq, sh);
    ss_page_raw(p, "<table id=\"cockpit\" class=\"cockpit\"><thead><tr><th>Zeit</th>"
                   "<th>Anfragende Behörde</th><th>Register (Dienst)</th><th>Zweck</th>"
                   "<th>Ergebnis</th><th class=\"noprint\"></th></tr></thead><tbody>");
    for (size_t i = 0; i < k.n; i++) {
        const struct ss_concern *e = &k.items[i];
        enum ss_outcome o = ss_store_outcome(e->status, e->error_type);
        ss_page_raw(p, "<tr class=\"%s\"><td>", outcome_class(o));
        page_time(p, e->logged_ms);
        ss_page_raw(p, "</td><td>");
        page_party(v, e->logged_ms, e->client);
        ss_page_raw(p, "</td><td>");
        page_party(v, e->logged_ms, e->service);
        ss_page_raw(p, "</td><td>");
        ss_page_text(p, e->purpose[0] ? e->purpose : "–");
        ss_page_raw(p, "</td><td>%s", outcome_word(o));
        if (e->error_type[0]) {
            ss_page_raw(p, " (<code>");
            ss_page_text(p, e->error_type);
            ss_page_raw(p, "</code>)");
        }
        ss_page_raw(p,
                    "</td><td class=\"noprint\"><a href=\"/austausch/%lld?%s\">Einzelheiten</a>"
                    "</td></tr>",
                    (long long)e->record, v->logq);
    }
    if (!k.n)
        ss_page_raw(p, "<tr><td colspan=\"6\">Keine Austausche zu dieser Person.</td></tr>");
    ss_page_raw(p, "</tbody></table>");
    foot(v);
    ss_cockpit_cleanup(&k);
}

/* ---- verification runs ---- */

static void run_progress(void *arg, int64_t record)
{
    struct console *c = arg;
    pthread_mutex_lock(&c->run_mu);
    c->run.at = record;
    pthread_mutex_unlock(&c->run_mu);
}

/* Keeps text as a new report file; its name into name. */
static ss_error keep_report(struct console *c, const char *log_name, const char *text,
                            char name[128])
{
    char stamp[21];
    ss_time_format(time(NULL), stamp);
    char compact[20];
    size_t n = 0;
    for (const char *s = stamp; *s && n < sizeof compact - 1; s++)
        if (*s != '-' && *s != ':')
            compact[n++] = *s;
    compact[n] = '\0';
    char path[4200];
    int fd = -1;
    for (int i = 0; i < 100 && fd < 0; i++) {
        snprintf(name, 128, "pruefung-%s-%s-%02d.txt", log_name, compact, i);
        snprintf(path, sizeof path, "%s/%s", c->o->reports_dir, name);
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            break;
    }
    if (fd < 0)
        return ss_errf(SS_ERR_IO, "%s: cannot keep the report: %s", c->o->reports_dir,
                       strerror(errno));
    size_t len = strlen(text), done = 0;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    bool ok = done == len && fsync(fd) == 0;
    close(fd);
    return ok ? SS_OK : ss_errf(SS_ERR_IO, "%s: cannot write the report", path);
}

static void *run_main(void *arg)
{
    struct console *c = arg;
    pthread_mutex_lock(&c->run_mu);
    size_t k = c->run.log;
    char who[256];
    snprintf(who, sizeof who, "%s", c->run.who);
    pthread_mutex_unlock(&c->run_mu);
    struct ss_store *st = NULL;
    struct ss_audit_report rep;
    memset(&rep, 0, sizeof rep);
    struct ss_audit_options o = {.clock_skew = c->o->clock_skew,
                                 .grace = c->o->grace,
                                 .now = (int64_t)time(NULL),
                                 .progress = run_progress,
                                 .progress_arg = c};
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ss_error err = ss_store_open(c->logs[k].spec, true, 0, &st);
    if (!err)
        err = ss_audit_verify(st, &c->anchor, &o, &rep);
    char errmsg[600];
    snprintf(errmsg, sizeof errmsg, "%s", err ? ss_errmsg() : "");
    /* the log as messages name it: a PostgreSQL connection without its password */
    char label[512];
    snprintf(label, sizeof label, "%s", st ? ss_store_label(st) : c->logs[k].name);
    ss_store_close(st);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    struct ss_page text;
    ss_page_init(&text, 1 << 20);
    char started[21];
    ss_time_format(time(NULL), started);
    bool broken = err == SS_ERR_BAD_SIGNATURE && rep.broken[0];
    /* the verdict first, written by the console itself (nothing from the log can forge it) */
    ss_page_raw(&text,
                "result: %s\nsecsrv-log verify, started from the console by %s\nlog: %s (%s)\n"
                "ended: %s\n",
                broken                  ? "broken"
                : err                   ? "error"
                : ss_audit_warned(&rep) ? "warn"
                                        : "ok",
                who, c->logs[k].name, label, started);
    ss_report_text(&rep, err, c->o->grace, secs, &text);
    if (err && !broken)
        ss_page_raw(&text, "ERROR: %s\n", errmsg);
    char name[128] = "";
    ss_error kept = text.data ? keep_report(c, c->logs[k].name, text.data, name) : SS_ERR_NOMEM;
    char keep_msg[600];
    snprintf(keep_msg, sizeof keep_msg, "%s", kept ? ss_errmsg() : "");
    pthread_mutex_lock(&c->run_mu);
    c->run.running = false;
    c->run.done = true;
    c->run.finished = time(NULL);
    c->run.err = err;
    snprintf(c->run.report, sizeof c->run.report, "%s", kept ? "" : name);
    if (broken) {
        snprintf(c->run.result, sizeof c->run.result, "broken");
        snprintf(c->run.summary, sizeof c->run.summary, "Eintrag %lld: %s",
                 (long long)rep.broken_record, rep.broken);
    } else if (err) {
        snprintf(c->run.result, sizeof c->run.result, "error");
        snprintf(c->run.summary, sizeof c->run.summary, "%s", errmsg);
    } else {
        snprintf(c->run.result, sizeof c->run.result, ss_audit_warned(&rep) ? "warn" : "ok");
        snprintf(c->run.summary, sizeof c->run.summary,
                 "%llu Einträge (Nr. %lld bis %lld), %llu Signaturen, %llu Zeitstempel, %llu "
                 "Register geprüft%s",
                 (unsigned long long)rep.records, (long long)rep.first_id, (long long)rep.last_id,
                 (unsigned long long)rep.signatures, (unsigned long long)rep.timestamps,
                 (unsigned long long)rep.registries,
                 rep.unstamped_late ? "; Einträge ohne Zeitstempel über die Frist hinaus"
                 : rep.stamped_late ? "; Einträge erst nach der Frist mit Zeitstempel versehen"
                                    : "");
    }
    if (kept)
        snprintf(c->run.summary + strlen(c->run.summary),
                 sizeof c->run.summary - strlen(c->run.summary), " (Bericht nicht gespeichert: %s)",
                 keep_msg);
    pthread_mutex_unlock(&c->run_mu);
    ss_page_cleanup(&text);
    return NULL;
}

static void verify_post(struct view *v)
{
    static const char *const fields[] = {"csrf", "log", NULL};
    if (!only_fields(v, &v->body, fields))
        return;
    struct console *c = v->c;
    struct ss_store_summary s;
    pthread_mutex_lock(&c->run_mu);
    bool busy = c->run.running, failed = false;
    if (!busy) {
        if (c->run.joinable)
            pthread_join(c->run.thread, NULL);
        c->run.joinable = false;
        memset(&c->run, 0, sizeof c->run);
        c->run.running = true;
        c->run.log = v->log;
        c->run.started = time(NULL);
        snprintf(c->run.who, sizeof c->run.who, "%.255s", v->who);
        c->run.last = ss_store_summary(c->logs[v->log].store, 0, &s) == SS_OK ? s.last_id : 0;
        if (pthread_create(&c->run.thread, NULL, run_main, c) == 0) {
            c->run.joinable = true;
        } else {
            c->run.running = false;
            failed = true;
        }
    }
    pthread_mutex_unlock(&c->run_mu);
    if (failed) {
        fail_page(v, 500, "Die Prüfung konnte nicht gestartet werden.");
        return;
    }
    char to[64];
    snprintf(to, sizeof to, "/pruefung?%s", v->logp);
    redirect(v, to);
}

static void page_verify(struct view *v)
{
    static const char *const fields[] = {"log", NULL};
    if (!only_fields(v, &v->q, fields))
        return;
    struct console *c = v->c;
    struct ss_page *p = &v->page;
    pthread_mutex_lock(&c->run_mu);
    struct run r = c->run;
    pthread_mutex_unlock(&c->run_mu);
    head(v, "Prüfung");
    if (r.running)
        ss_page_raw(p, "<meta http-equiv=\"refresh\" content=\"1\">");
    body_start(v, "Prüfung");
    ss_page_raw(p, "<p>Eine vollständige Prüfung geht das ganze Protokoll durch, wie "
                   "<code>secsrv-log verify</code>: Hash-Kette, Inhalte, jede Signatur mit "
                   "Zertifikatskette und OCSP-Antwort, jeden RFC-3161-Zeitstempel und jedes "
                   "Mitgliederverzeichnis. Der Bericht wird aufbewahrt.</p>");
    if (r.running) {
        ss_page_raw(p, "<p id=\"verify-status\">Prüfung von <code>");
        ss_page_text(p, c->logs[r.log].name);
        ss_page_raw(p,
                    "</code> läuft: Eintrag %lld von %lld. <progress id=\"verify-progress\" "
                    "max=\"%lld\" value=\"%lld\"></progress></p>",
                    (long long)r.at, (long long)r.last, (long long)(r.last ? r.last : 1),
                    (long long)r.at);
    } else {
        ss_page_raw(p, "<form method=\"post\" action=\"/pruefung\">");
        hidden_fields(v);
        ss_page_raw(p, "<button id=\"verify-start\">Protokoll <code>");
        ss_page_text(p, c->logs[v->log].name);
        ss_page_raw(p, "</code> jetzt prüfen</button></form>");
    }
    if (r.done) {
        static const char *const words[][2] = {{"ok", "Gültig"},
                                               {"warn", "Gültig, mit Warnung"},
                                               {"broken", "Gebrochen"},
                                               {"error", "Nicht prüfbar"}};
        const char *word = "?";
        for (size_t i = 0; i < 4; i++)
            if (strcmp(words[i][0], r.result) == 0)
                word = words[i][1];
        ss_page_raw(p, "<div id=\"verify-result\" class=\"%s\"><strong>%s</strong>: ",
                    strcmp(r.result, "warn") == 0 ? "ok warn" : r.result, word);
        ss_page_text(p, r.summary);
        ss_page_raw(p, ". Protokoll <code>");
        ss_page_text(p, c->logs[r.log].name);
        ss_page_raw(p, "</code>, gestartet ");
        page_time_s(p, (int64_t)r.started);
        ss_page_raw(p, " von ");
        ss_page_text(p, r.who);
        ss_page_raw(p, ", Dauer %lld s.", (long long)(r.finished - r.started));
        if (r.report[0]) {
            ss_page_raw(p, " <a href=\"/pruefung/bericht/");
            ss_page_url(p, r.report);
            ss_page_raw(p, "\">Bericht</a>");
        }
        ss_page_raw(p, "</div>");
    }
    /* the kept reports, newest first */
    ss_page_raw(p, "<h2>Aufbewahrte Berichte</h2><ul id=\"reports\">");
    struct dirent **names = NULL;
    int n = scandir(c->o->reports_dir, &names, NULL, alphasort);
    int shown = 0;
    for (int i = n - 1; i >= 0; i--) {
        bool ours = false;
        for (size_t k = 0; k < c->n_logs && !ours; k++)
            ours = report_of(names[i]->d_name, c->logs[k].name);
        if (ours && shown < 100) {
            ss_page_raw(p, "<li><a href=\"/pruefung/bericht/");
            ss_page_url(p, names[i]->d_name);
            ss_page_raw(p, "\">");
            ss_page_text(p, names[i]->d_name);
            ss_page_raw(p, "</a></li>");
            shown++;
        }
        free(names[i]);
    }
    free(names);
    if (!shown)
        ss_page_raw(p, "<li>noch keine</li>");
    ss_page_raw(p, "</ul>");
    foot(v);
}

static void page_report(struct view *v, const char *name)
{
    static const char *const fields[] = {"log", NULL};
    if (!only_fields(v, &v->q, fields))
        return;
    /* only the reports of this console's logs (log names hold no '/' and start with no '.') */
    bool ok = false;
    for (size_t k = 0; k < v->c->n_logs && !ok; k++)
        ok = report_of(name, v->c->logs[k].name);
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", v->c->o->reports_dir, name);
    FILE *f = ok ? fopen(path, "r") : NULL;
    if (!f) {
        fail_page(v, 404, "Diesen Bericht gibt es nicht.");
        return;
    }
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        ss_page_raw(&v->page, "%.*s", (int)n, buf);
    fclose(f);
    v->type = "text/plain; charset=utf-8";
}

/* ---- the console's own audit log ---- */

/* What a query string may hold to be kept in the audit log as it is: the search's terms. */
static const char *const kept_fields[] = {"log",     "since",    "until",   "client", "service",
                                          "purpose", "query-id", "outcome", "side",   "sh",
                                          "sort",    "order",    "page",    "size",   NULL};

/*
 * One JSON line for this view, on disk before the answer leaves; false when
 * it could not be written (the view is then not answered). The address is
 * kept with its query only when the query parsed and holds nothing but
 * search terms: a person's identifier, a key or a passphrase put into an
 * address by hand (or anything unknown) is not kept.
 */
static bool audit_line(struct view *v)
{
    struct console *c = v->c;
    struct ss_page line;
    ss_page_init(&line, 32768);
    char t[32];
    ss_cockpit_time(now_ms(), t);
    ss_page_raw(&line, "{\"time\":\"%s\",\"who\":", t);
    ss_page_json(&line, v->who[0] ? v->who : "(nicht angemeldet)");
    ss_page_raw(&line, ",\"key\":");
    ss_page_json(&line, v->who_key);
    ss_page_raw(&line, ",\"remote\":");
    ss_page_json(&line, v->req->remote);
    ss_page_raw(&line, ",\"method\":");
    ss_page_json(&line, v->req->method);
    ss_page_raw(&line, ",\"target\":");
    const char *target = v->req->target;
    size_t plen = strcspn(target, "?");
    bool keep = !target[plen];
    if (!keep && v->q_parsed && strlen(target + plen) <= 2048) {
        keep = true;
        for (size_t i = 0; i < v->q.n && keep; i++) {
            bool known = false;
            for (const char *const *k = kept_fields; *k && !known; k++)
                known = strcmp(*k, v->q.fields[i].name) == 0;
            keep = known;
        }
    }
    char shown[400];
    snprintf(shown, sizeof shown, "%.*s%s", (int)(plen > 300 ? 300 : plen), target,
             keep ? "" : "?(query not kept)");
    ss_page_json(&line, keep && target[plen] ? target : shown);
    ss_page_raw(&line, ",\"log\":");
    ss_page_json(&line, c->n_logs ? c->logs[v->log].name : "");
    ss_page_raw(&line, ",\"status\":%u}\n", v->status);
    bool ok = !line.failed;
    if (ok) {
        pthread_mutex_lock(&c->audit_mu);
        ssize_t w = write(c->audit_fd, line.data, line.len);
        ok = w == (ssize_t)line.len && fdatasync(c->audit_fd) == 0;
        pthread_mutex_unlock(&c->audit_mu);
    }
    if (!ok)
        fprintf(stderr, "console: cannot write the audit log %s: the view was not answered\n",
                c->o->audit_file);
    ss_page_cleanup(&line);
    return ok;
}

/* ---- requests ---- */

static bool route_id(const char *path, const char *prefix, int64_t *id)
{
    size_t n = strlen(prefix);
    if (strncmp(path, prefix, n) != 0)
        return false;
    const char *s = path + n;
    long long v = 0;
    if (!*s || strlen(s) > 15 || *s == '0')
        return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return false;
        v = v * 10 + (*s - '0');
    }
    *id = v;
    return true;
}

static void route(struct view *v)
{
    const char *path = v->path;
    bool post = strcmp(v->req->method, "POST") == 0;
    int64_t id = 0;
    if (strcmp(path, "/") == 0 && !post)
        page_overview(v);
    else if (strcmp(path, "/suche") == 0)
        post ? search_post(v) : page_search(v);
    else if (strcmp(path, "/person") == 0)
        post ? person_post(v) : page_person(v, false);
    else if (strcmp(path, "/person.json") == 0 && !post)
        page_person(v, true);
    else if (strcmp(path, "/pruefung") == 0)
        post ? verify_post(v) : page_verify(v);
    else if (strncmp(path, "/pruefung/bericht/", 18) == 0 && !post)
        page_report(v, path + 18);
    else if (route_id(path, "/austausch/", &id))
        page_exchange(v, id);
    else if (route_id(path, "/paket/", &id) && !post)
        page_package(v, id);
    else if (strcmp(path, "/abmelden") == 0 && post && v->c->pass_hash)
        do_logout(v);
    else
        fail_page(v, 404, "Diese Seite gibt es nicht.");
}

static ss_error set_header(struct ss_http_response *resp, const char *name, const char *value)
{
    ss_headers_remove(&resp->headers, name);
    return ss_headers_add(&resp->headers, name, value);
}

/* The answer from v: status, the headers every answer carries, and the body. */
static void finish(struct view *v)
{
    struct ss_http_response *resp = v->resp;
    resp->status = v->status;
    ss_error err = SS_OK;
    if (!err && v->location[0])
        err = set_header(resp, "Location", v->location);
    if (!err && v->disposition[0])
        err = set_header(resp, "Content-Disposition", v->disposition);
    static const char *const fixed[][2] = {
        {"Content-Security-Policy",
         "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
         "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"},
        {"X-Content-Type-Options", "nosniff"},
        {"X-Frame-Options", "DENY"},
        {"Referrer-Policy", "no-referrer"},
        {"Cache-Control", "no-store"},
        {"Strict-Transport-Security", "max-age=31536000"}};
    for (size_t i = 0; !err && i < sizeof fixed / sizeof fixed[0]; i++)
        err = set_header(resp, fixed[i][0], fixed[i][1]);
    if (!err) {
        if (v->blob) {
            resp->body = v->blob;
            resp->body_len = v->blob_len;
            v->blob = NULL;
            err = set_header(resp, "Content-Type", v->type);
        } else if (v->page.failed) {
            resp->status = 500;
            err = ss_http_set_body(resp, "Die Seite wurde zu gross.\n", 26,
                                   "text/plain; charset=utf-8");
        } else {
            size_t len = 0;
            resp->sensitive = v->page.sensitive;
            char *data = ss_page_take(&v->page, &len);
            resp->body = (uint8_t *)data;
            resp->body_len = len;
            err = set_header(resp, "Content-Type", v->type ? v->type : "text/html; charset=utf-8");
        }
    }
    if (err) { /* an answer that cannot carry its headers is not sent as it is */
        free(resp->body);
        resp->body = NULL;
        resp->body_len = 0;
        resp->status = 500;
    }
}

static void serve_static(struct view *v, const unsigned char *data, size_t len, const char *type)
{
    v->blob = malloc(len ? len : 1);
    if (!v->blob) {
        fail_page(v, 500, "Kein Speicher.");
        return;
    }
    memcpy(v->blob, data, len);
    v->blob_len = len;
    v->type = type;
}

static void handle(void *cls, const struct ss_http_request *req, struct ss_http_response *resp)
{
    struct view *v = calloc(1, sizeof *v);
    if (!v) {
        resp->status = 503;
        return;
    }
    v->c = cls;
    v->req = req;
    v->resp = resp;
    v->status = 200;
    ss_page_init(&v->page, PAGE_MAX);
    const char *target = req->target;
    size_t plen = strcspn(target, "?");
    bool get = strcmp(req->method, "GET") == 0, post = strcmp(req->method, "POST") == 0;
    if (plen >= sizeof v->path || target[0] != '/') {
        fail_page(v, 400, "Die Adresse ist zu lang oder ungültig.");
        goto out;
    }
    memcpy(v->path, target, plen);
    v->path[plen] = '\0';
    /* the page's look and behaviour: the same for everyone, no secret in it */
    if (get && strcmp(v->path, "/static/console.css") == 0) {
        serve_static(v, ss_console_css, ss_console_css_len, "text/css; charset=utf-8");
        v->no_audit = true;
        goto out;
    }
    if (get && strcmp(v->path, "/static/console.js") == 0) {
        serve_static(v, ss_console_js, ss_console_js_len, "text/javascript; charset=utf-8");
        v->no_audit = true;
        goto out;
    }
    if (!get && !post) {
        fail_page(v, 405, "Die Konsole kennt nur GET und POST.");
        if (ss_headers_add(&resp->headers, "Allow", "GET, POST"))
            v->page.failed = true;
        goto out;
    }
    if (ss_form_parse(target + plen + (target[plen] == '?'),
                      strlen(target + plen + (target[plen] == '?')), &v->q) != SS_OK) {
        char msg[600];
        snprintf(msg, sizeof msg, "Adresse: %s", ss_errmsg());
        fail_page(v, 400, msg);
        goto out;
    }
    v->q_parsed = true;
    if (post) {
        const char *type = ss_headers_get(&req->headers, "Content-Type");
        if (!type || strncmp(type, "application/x-www-form-urlencoded", 33) != 0 ||
            (type[33] && type[33] != ';')) {
            fail_page(v, 415, "Formulare kommen als application/x-www-form-urlencoded.");
            goto out;
        }
        if (ss_form_parse((const char *)req->body, req->body_len, &v->body) != SS_OK) {
            char msg[600];
            snprintf(msg, sizeof msg, "Formular: %s", ss_errmsg());
            fail_page(v, 400, msg);
            goto out;
        }
    }
    if (v->c->pass_hash && strcmp(v->path, "/anmelden") == 0) {
        do_login(v);
        goto out;
    }
    if (!authenticate(v)) {
        if (v->status == 200) { /* passphrase: no session yet */
            if (get)
                redirect(v, "/anmelden");
            else
                fail_page(v, 403, "Bitte zuerst anmelden.");
        }
        goto out;
    }
    csrf_for(v->c, v->who_key, v->csrf);
    /* which log */
    const char *log = ss_form_get(post ? &v->body : &v->q, "log");
    if (log) {
        if (strlen(log) != 1 || log[0] < '0' || (size_t)(log[0] - '0') >= v->c->n_logs) {
            fail_page(v, 400, "log: die Nummer eines der Protokolle der Konsole.");
            goto out;
        }
        v->log = (size_t)(log[0] - '0');
    }
    if (v->c->n_logs > 1) {
        snprintf(v->logq, sizeof v->logq, "log=%zu&amp;", v->log);
        snprintf(v->logp, sizeof v->logp, "log=%zu&", v->log);
    }
    if (post && !csrf_ok(v, v->who_key)) {
        fail_page(v, 403,
                  "Das Formular gehört nicht zu dieser Anmeldung oder ist abgelaufen; "
                  "bitte die Seite neu laden.");
        goto out;
    }
    pthread_mutex_lock(&v->c->mu);
    route(v);
    pthread_mutex_unlock(&v->c->mu);
out:
    if (!v->no_audit && !audit_line(v))
        fail_page(v, 503,
                  "Das Prüfprotokoll der Konsole ist nicht schreibbar; ohne Eintrag "
                  "zeigt die Konsole nichts.");
    finish(v);
    ss_form_cleanup(&v->q);
    ss_form_cleanup(&v->body);
    ss_page_cleanup(&v->page);
    free(v->blob);
    free(v);
}

static void handle_error(void *cls, const struct ss_http_request *req, ss_error err,
                         struct ss_http_response *resp)
{
    struct view *v = calloc(1, sizeof *v);
    if (!v) {
        resp->status = 503;
        return;
    }
    v->c = cls;
    v->req = req;
    v->resp = resp;
    ss_page_init(&v->page, PAGE_MAX);
    char msg[600];
    snprintf(msg, sizeof msg, "Die Anfrage wurde abgewiesen: %s", ss_errmsg());
    fail_page(v,
              err == SS_ERR_TOO_LARGE ? 413
              : err == SS_ERR_BUSY    ? 503
              : err == SS_ERR_METHOD  ? 501
                                      : 400,
              msg);
    if (!audit_line(v))
        fail_page(v, 503, "Das Prüfprotokoll der Konsole ist nicht schreibbar.");
    finish(v);
    ss_page_cleanup(&v->page);
    free(v);
}

/* ---- start ---- */

static bool loopback(const char *listen)
{
    char host[256];
    uint16_t port = 0;
    if (!ss_http_split_address(listen, host, sizeof host, &port))
        return false;
    return strcmp(host, "::1") == 0 || strncmp(host, "127.", 4) == 0;
}

/* A name for log k: its file's base name, letters, digits, '.', '_' and '-' only. */
static void log_name(struct console *c, size_t k, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    char *out = c->logs[k].name;
    size_t n = 0;
    for (const char *s = base; *s && n < 60; s++)
        out[n++] = (*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                           (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' || *s == '-'
                       ? *s
                       : '_';
    out[n] = '\0';
    if (!n || out[0] == '.')
        snprintf(out, 60, "log%zu", k + 1);
    for (size_t i = 0; i < k; i++)
        if (strcmp(c->logs[i].name, out) == 0)
            snprintf(out + strlen(out), 80 - strlen(out), "-%zu", k + 1);
}

static ss_error open_logs(struct console *c)
{
    for (size_t k = 0; k < c->o->n_stores; k++) {
        const char *arg = c->o->stores[k];
        struct log *l = &c->logs[k];
        l->spec = ss_store_spec(arg);
        if (!l->spec)
            return ss_errf(SS_ERR_NOMEM, "out of memory");
        c->n_logs++;
        ss_error err = ss_store_open(l->spec, true, 0, &l->store);
        log_name(c, k, l->store ? ss_store_label(l->store) : "");
        if (!err)
            err = ss_kept_registries_load(l->store, &c->anchor, &l->kept);
        if (err)
            return err;
    }
    return SS_OK;
}

static void close_console(struct console *c)
{
    pthread_mutex_lock(&c->run_mu);
    bool joinable = c->run.joinable;
    c->run.joinable = false;
    pthread_mutex_unlock(&c->run_mu);
    if (joinable)
        pthread_join(c->run.thread, NULL);
    for (size_t k = 0; k < c->n_logs; k++) {
        ss_kept_registries_free(c->logs[k].kept);
        ss_store_close(c->logs[k].store);
        free(c->logs[k].spec);
    }
    ss_ca_store_free(c->cas);
    ss_reg_anchor_cleanup(&c->anchor);
    if (c->pass_hash) {
        sodium_memzero(c->pass_hash, strlen(c->pass_hash));
        free(c->pass_hash);
    }
    sodium_memzero(c->subject_key, sizeof c->subject_key);
    sodium_memzero(c->csrf_key, sizeof c->csrf_key);
    if (c->audit_fd >= 0)
        close(c->audit_fd);
    pthread_mutex_destroy(&c->mu);
    pthread_mutex_destroy(&c->audit_mu);
    pthread_mutex_destroy(&c->run_mu);
}

static ss_error read_pass_hash(const char *path, char **out)
{
    *out = NULL;
    FILE *f = fopen(path, "r");
    if (!f)
        return ss_errf(SS_ERR_IO, "%s: %s", path, strerror(errno));
    char line[crypto_pwhash_STRBYTES + 2];
    bool got = fgets(line, sizeof line, f) != NULL;
    fclose(f);
    line[got ? strcspn(line, "\n") : 0] = '\0';
    if (!got || strncmp(line, crypto_pwhash_STRPREFIX, strlen(crypto_pwhash_STRPREFIX)) != 0)
        return ss_errf(SS_ERR_CONFIG,
                       "%s:1: not a passphrase hash ($argon2id$...; make one with secsrv-log "
                       "passphrase FILE)",
                       path);
    *out = strdup(line);
    return *out ? SS_OK : ss_errf(SS_ERR_NOMEM, "out of memory");
}

ss_error ss_console_passphrase(const char *path, const char *passphrase)
{
    size_t n = strlen(passphrase);
    if (n < 12)
        return ss_errf(SS_ERR_CONFIG, "the passphrase needs at least 12 characters");
    char hash[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str(hash, passphrase, n, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
        return ss_errf(SS_ERR_NOMEM, "out of memory for the passphrase hash");
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return ss_errf(SS_ERR_IO, "%s: %s", path, strerror(errno));
    size_t len = strlen(hash);
    hash[len++] = '\n';
    bool ok = write(fd, hash, len) == (ssize_t)len && fsync(fd) == 0;
    close(fd);
    if (!ok) {
        (void)unlink(path);
        return ss_errf(SS_ERR_IO, "%s: cannot write", path);
    }
    return SS_OK;
}

ss_error ss_console_run(const struct ss_console_options *o)
{
    struct console *c = calloc(1, sizeof *c);
    if (!c)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    c->o = o;
    c->audit_fd = -1;
    pthread_mutex_init(&c->mu, NULL);
    pthread_mutex_init(&c->audit_mu, NULL);
    pthread_mutex_init(&c->run_mu, NULL);
    char *cert = NULL, *key = NULL, *trust = NULL;
    struct ss_sched *pool = NULL;
    struct ss_http_server *srv = NULL;
    ss_error err = SS_OK;
    if (!o->n_stores || o->n_stores > SS_CONSOLE_MAX_LOGS) {
        err = ss_errf(SS_ERR_CONFIG, "serve: 1 to %d stores", SS_CONSOLE_MAX_LOGS);
        goto out;
    }
    if (!o->cert_file || !o->key_file || !o->audit_file || !o->anchor_file || !o->reports_dir) {
        err = ss_errf(SS_ERR_CONFIG, "serve: --cert, --key, --anchor, --audit-log and --reports "
                                     "are needed");
        goto out;
    }
    if (!o->dpo_ca_file == !o->passphrase_file) {
        err = ss_errf(SS_ERR_CONFIG,
                      "serve: either --dpo-ca FILE (DPO client certificates) or "
                      "--passphrase-file FILE (loopback only), not both and not neither");
        goto out;
    }
    if (o->passphrase_file && !loopback(o->listen)) {
        err = ss_errf(SS_ERR_CONFIG, "serve: --passphrase-file only on a loopback address "
                                     "(127.0.0.1 or [::1]); elsewhere DPO certificates "
                                     "(--dpo-ca) are needed");
        goto out;
    }
    if ((err = ss_reg_anchor_load(o->anchor_file, &c->anchor)) || (err = open_logs(c)))
        goto out;
    if (o->dpo_ca_file && ((err = ss_ca_store_load(o->dpo_ca_file, &c->cas)) ||
                           (err = ss_trust_read_pem(o->dpo_ca_file, &trust))))
        goto out;
    if (o->passphrase_file && (err = read_pass_hash(o->passphrase_file, &c->pass_hash)))
        goto out;
    if (o->subject_key_file) {
        if ((err = ss_subject_key_read(o->subject_key_file, c->subject_key)))
            goto out;
        c->has_subject_key = true;
    }
    if (mkdir(o->reports_dir, 0700) != 0 && errno != EEXIST) {
        err = ss_errf(SS_ERR_IO, "%s: %s", o->reports_dir, strerror(errno));
        goto out;
    }
    c->audit_fd = open(o->audit_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (c->audit_fd < 0) {
        err = ss_errf(SS_ERR_IO, "%s: %s", o->audit_file, strerror(errno));
        goto out;
    }
    randombytes_buf(c->csrf_key, sizeof c->csrf_key);
    if ((err = ss_trust_check_keypair(o->cert_file, o->key_file)) ||
        (err = ss_trust_read_pem(o->cert_file, &cert)) ||
        (err = ss_trust_read_pem(o->key_file, &key)))
        goto out;
    struct ss_limits limits;
    ss_limits_default(&limits);
    limits.max_body_bytes = SS_FORM_MAX_BYTES;
    limits.max_buffered_bytes = 64u * 1024 * 1024;
    limits.max_connections = 256;
    limits.max_connections_per_ip = 64;
    limits.http_threads = 2;
    /* a view's address may carry many arguments; the console's few connections afford the
     * pool that records them (http.c) */
    limits.max_query_arguments = 1000;
    if ((err = ss_sched_new("console", 0, 4, &pool)))
        goto out;
    struct ss_http_options ho = {.name = "console",
                                 .listen = o->listen,
                                 .listen_fd = -1,
                                 .limits = &limits,
                                 .cert_pem = cert,
                                 .key_pem = key,
                                 .trust_pem = trust,
                                 .handler = handle,
                                 .on_error = handle_error,
                                 .cls = c,
                                 .pool = pool};
    /* signals are taken by sigwait below, in no thread of the server */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    if ((err = ss_http_start(&ho, &srv)))
        goto out;
    char host[256];
    uint16_t unused = 0;
    if (!ss_http_split_address(o->listen, host, sizeof host, &unused))
        snprintf(host, sizeof host, "127.0.0.1");
    printf("console: https://%s%s%s:%u/ (%zu log%s; %s)\n", strchr(host, ':') ? "[" : "", host,
           strchr(host, ':') ? "]" : "", ss_http_port(srv), c->n_logs, c->n_logs == 1 ? "" : "s",
           c->cas ? "DPO certificates" : "passphrase");
    fflush(stdout);
    int sig = 0;
    while (sigwait(&set, &sig) == 0 && sig == SIGHUP)
        ; /* nothing to reload: the stores are read as they are */
    fprintf(stderr, "console: stopping (signal %d)\n", sig);
out:
    ss_http_stop(srv);
    ss_sched_free(pool);
    free(cert);
    ss_trust_free_pem(key);
    free(trust);
    close_console(c);
    free(c);
    return err;
}
