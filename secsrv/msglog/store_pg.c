/*
 * The PostgreSQL message-log store (see store.h): the records, chain and
 * timestamp trees of the SQLite store, in a database the nodes of one
 * server share.
 *
 * One chain for all nodes: a writing transaction takes the chain's
 * advisory lock first (pg_advisory_xact_lock), so the logger reads the
 * tail and appends under it, and the numbers stay one gapless sequence
 * that a verification walks once. Timestamping is leased: the node whose
 * session holds the lease's advisory lock timestamps, and a transaction
 * that stores a timestamp checks, under a lock of its own, that no other
 * stored one covers its records. A connection lost between calls is
 * opened again on the next call; a transaction it was in is gone (its
 * commit never happened), and the caller's error says so.
 *
 * Values go as parameters, never into the SQL; results come in binary
 * and every field's type and size is checked as it is read.
 */
#include "store_impl.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define SCHEMA_VERSION "4"
#define PAGE_ROWS 1000                /* records read per round trip */
#define SIZE_CHECK_BYTES (256 * 1024) /* the size is looked at again after this many bytes */
#define PAGE_TOKENS 200 /* timestamps (with their tokens) read per round trip (the SQL's LIMIT) */
/* advisory lock keys: the chain, the timestamp lease, storing a timestamp, the schema */
#define LOCK_CHAIN "5391001"
#define LOCK_LEASE "5391002"
#define LOCK_STAMP "5391003"
#define LOCK_SCHEMA "5391004"

/* parameter types */
#define T_INT8 20
#define T_TEXT 25
#define T_BYTEA 17

struct pg_store {
    struct ss_store base;
    PGconn *conn;
    bool read_only;
    bool in_tx;    /* between begin and commit or rollback */
    bool prepared; /* the insert statement, in this session */
    bool lease;    /* this session holds the timestamp lease */
    uint64_t max_bytes;
    time_t size_checked;
    uint64_t since_checked; /* bytes appended since */
    bool full;
    char desc[512];  /* the connection, without its password, for messages */
    ss_error failed; /* why the last query gave no result */
};

/* ---- connection and errors ---- */

static const char *conn_message(const struct pg_store *s)
{
    static _Thread_local char msg[300];
    const char *text = s->conn ? PQerrorMessage(s->conn) : "out of memory";
    /* libpq's lines in one: "line; line" */
    size_t w = 0;
    for (const char *r = text; *r && w + 3 < sizeof msg; r++) {
        if (*r == '\n') {
            while (r[1] == '\t' || r[1] == ' ' || r[1] == '\n')
                r++;
            if (r[1]) {
                msg[w++] = ';';
                msg[w++] = ' ';
            }
            continue;
        }
        msg[w++] = *r == '\t' ? ' ' : *r;
    }
    msg[w] = '\0';
    return msg;
}

static ss_error result_error(struct pg_store *s, PGresult *res, const char *what)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (state && (strcmp(state, "53100") == 0 || strcmp(state, "53400") == 0))
        return ss_errf(SS_ERR_LIMIT, "message log %s: store full (%s)", s->desc, what);
    if (state && strcmp(state, "25006") == 0)
        return ss_errf(SS_ERR_IO, "message log %s: opened read-only", s->desc);
    return ss_errf(SS_ERR_IO, "message log %s: %s: %s", s->desc, what, conn_message(s));
}

/*
 * A connection that broke since the last call is opened again (outside a
 * transaction: inside one, the transaction is lost and the call fails).
 */
static ss_error ensure(struct pg_store *s)
{
    if (PQstatus(s->conn) == CONNECTION_OK)
        return SS_OK;
    if (s->in_tx)
        return ss_errf(SS_ERR_IO, "message log %s: the connection to the database broke: %s",
                       s->desc, conn_message(s));
    PQreset(s->conn);
    s->prepared = false;
    s->lease = false;
    if (PQstatus(s->conn) != CONNECTION_OK)
        return ss_errf(SS_ERR_IO, "message log %s: cannot reach the database: %s", s->desc,
                       conn_message(s));
    if (s->read_only) {
        PGresult *res = PQexec(s->conn, "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY");
        bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        ss_error err = ok ? SS_OK : result_error(s, res, "set read-only");
        PQclear(res);
        return err;
    }
    return SS_OK;
}

/*
 * Whether a statement that failed should go once more: the connection
 * broke before it (the server restarted, say) and no transaction was open,
 * so nothing of it happened.
 */
static bool again(struct pg_store *s, int *tries)
{
    return !s->in_tx && PQstatus(s->conn) != CONNECTION_OK && (*tries)++ == 0;
}

/* Runs sql (no parameters, no rows). */
static ss_error exec(struct pg_store *s, const char *sql, const char *what)
{
    int tries = 0;
    for (;;) {
        ss_error err = ensure(s);
        if (err)
            return err;
        PGresult *res = PQexec(s->conn, sql);
        ExecStatusType st = PQresultStatus(res);
        bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
        err = ok ? SS_OK : result_error(s, res, what);
        PQclear(res);
        if (ok || !again(s, &tries))
            return err;
    }
}

/* Parameters of one statement: text (with their types) or binary (bytea). */
struct params {
    int n;
    Oid types[16];
    const char *values[16];
    int lengths[16];
    int formats[16];
    char ints[16][24];
};

static void p_int(struct params *p, int64_t v)
{
    int i = p->n++;
    snprintf(p->ints[i], sizeof p->ints[i], "%lld", (long long)v);
    p->types[i] = T_INT8;
    p->values[i] = p->ints[i];
    p->lengths[i] = 0;
    p->formats[i] = 0;
}

static void p_text(struct params *p, const char *v) /* NULL: SQL NULL */
{
    int i = p->n++;
    p->types[i] = T_TEXT;
    p->values[i] = v;
    p->lengths[i] = 0;
    p->formats[i] = 0;
}

static void p_bytes(struct params *p, const void *v, size_t n) /* NULL or empty: SQL NULL */
{
    int i = p->n++;
    p->types[i] = T_BYTEA;
    p->values[i] = v && n ? (const char *)v : NULL;
    p->lengths[i] = (int)n;
    p->formats[i] = 1;
}

/* Runs sql with p; rows in binary. NULL (with the error set) when it failed. */
static PGresult *query(struct pg_store *s, const char *sql, const struct params *p,
                       const char *what)
{
    int tries = 0;
    for (;;) {
        if ((s->failed = ensure(s)))
            return NULL;
        PGresult *res =
            PQexecParams(s->conn, sql, p ? p->n : 0, p ? p->types : NULL, p ? p->values : NULL,
                         p ? p->lengths : NULL, p ? p->formats : NULL, 1);
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
            return res;
        s->failed = result_error(s, res, what);
        PQclear(res);
        if (!again(s, &tries))
            return NULL;
    }
}

/* Runs sql with p for its effect (rows, if any, are dropped). */
static ss_error command(struct pg_store *s, const char *sql, const struct params *p,
                        const char *what)
{
    PGresult *res = query(s, sql, p, what);
    if (!res)
        return s->failed;
    PQclear(res);
    return SS_OK;
}

/* ---- reading binary fields ---- */

static bool get_int(const PGresult *res, int row, int col, int64_t *out)
{
    *out = 0;
    if (PQgetisnull(res, row, col))
        return true;
    const unsigned char *v = (const unsigned char *)PQgetvalue(res, row, col);
    int n = PQgetlength(res, row, col);
    if (n != 8 && n != 4 && n != 2)
        return false;
    uint64_t u = 0;
    for (int i = 0; i < n; i++)
        u = u << 8 | v[i];
    if (n == 8)
        *out = (int64_t)u;
    else if (n == 4)
        *out = (int32_t)(uint32_t)u;
    else
        *out = (int16_t)(uint16_t)u;
    return true;
}

static int64_t int_or_zero(const PGresult *res, int row, int col)
{
    int64_t v = 0;
    return get_int(res, row, col, &v) ? v : 0;
}

/* A text field into out ("" for NULL); false when it does not fit. */
static bool get_text(const PGresult *res, int row, int col, char *out, size_t size)
{
    out[0] = '\0';
    if (PQgetisnull(res, row, col))
        return true;
    size_t n = (size_t)PQgetlength(res, row, col);
    const char *v = PQgetvalue(res, row, col);
    if (n >= size || memchr(v, '\0', n))
        return false;
    memcpy(out, v, n);
    out[n] = '\0';
    return true;
}

/* A 32-byte digest; NULL only when null_ok. */
static bool get_digest(const PGresult *res, int row, int col, bool null_ok, uint8_t out[32],
                       bool *present)
{
    memset(out, 0, 32);
    if (present)
        *present = false;
    if (PQgetisnull(res, row, col))
        return null_ok;
    if (PQgetlength(res, row, col) != 32)
        return false;
    memcpy(out, PQgetvalue(res, row, col), 32);
    if (present)
        *present = true;
    return true;
}

static void get_bytes(const PGresult *res, int row, int col, const uint8_t **p, size_t *n)
{
    *p = NULL;
    *n = 0;
    if (PQgetisnull(res, row, col))
        return;
    *n = (size_t)PQgetlength(res, row, col);
    *p = *n ? (const uint8_t *)PQgetvalue(res, row, col) : NULL;
}

/* ---- opening ---- */

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS records ("
    " id BIGINT PRIMARY KEY, logged_ms BIGINT NOT NULL, side TEXT NOT NULL,"
    " direction TEXT NOT NULL, query_id TEXT NOT NULL, request_id TEXT NOT NULL,"
    " client TEXT NOT NULL, service TEXT NOT NULL, purpose TEXT NOT NULL, subject_hash BYTEA,"
    " status BIGINT NOT NULL, error_type TEXT NOT NULL, retain_until BIGINT NOT NULL,"
    " message_sha256 BYTEA NOT NULL, message BYTEA, manifest BYTEA, signature BYTEA,"
    " sig_path TEXT NOT NULL, ocsp BYTEA, prev_hash BYTEA NOT NULL, hash BYTEA NOT NULL,"
    " content BYTEA, salt BYTEA, sealed BIGINT NOT NULL DEFAULT 0,"
    " node TEXT NOT NULL DEFAULT current_setting('application_name'));"
    "CREATE INDEX IF NOT EXISTS records_replay ON records (client, query_id, logged_ms)"
    " WHERE side = 'server' AND direction = 'request';"
    "CREATE INDEX IF NOT EXISTS records_logged ON records (logged_ms);"
    "CREATE INDEX IF NOT EXISTS records_expiry ON records (retain_until) WHERE salt IS NOT NULL;"
    "CREATE INDEX IF NOT EXISTS records_subject ON records (subject_hash)"
    " WHERE subject_hash IS NOT NULL;"
    "CREATE TABLE IF NOT EXISTS timestamps ("
    " id BIGSERIAL PRIMARY KEY, first_id BIGINT NOT NULL, last_id BIGINT NOT NULL,"
    " root BYTEA NOT NULL, token BYTEA NOT NULL, gen_time BIGINT NOT NULL, tsa TEXT NOT NULL,"
    " tree BYTEA);"
    /* version 4 keeps each timestamp's tree with it (as the SQLite store's version 5): a
     * store of version 3 gets the column, and stamps keeps the paths of its timestamps. Only
     * then: ALTER TABLE locks the table against readers (an audit's snapshot) even when the
     * column is there */
    "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM information_schema.columns"
    " WHERE table_schema = current_schema() AND table_name = 'timestamps'"
    " AND column_name = 'tree') THEN ALTER TABLE timestamps ADD COLUMN tree BYTEA; END IF;"
    " IF NOT EXISTS (SELECT 1 FROM pg_indexes WHERE schemaname = current_schema()"
    " AND indexname = 'timestamps_last') THEN"
    " CREATE INDEX timestamps_last ON timestamps (last_id); END IF; END $$;"
    "CREATE TABLE IF NOT EXISTS stamps ("
    " id BIGINT PRIMARY KEY, ts_id BIGINT NOT NULL, ts_path TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS registries ("
    " serial BIGINT PRIMARY KEY, since_ms BIGINT NOT NULL, xml BYTEA NOT NULL,"
    " sig BYTEA NOT NULL);"
    "CREATE TABLE IF NOT EXISTS nodes (node TEXT PRIMARY KEY, config TEXT NOT NULL,"
    " since TIMESTAMPTZ NOT NULL, seen TIMESTAMPTZ NOT NULL);"
    /* as in the SQLite store, the records with their signature and OCSP response: here they
     * are kept in the records themselves */
    "CREATE OR REPLACE VIEW signed_records AS SELECT id, logged_ms, side, direction, query_id,"
    " request_id, client, service, purpose, subject_hash, status, error_type, retain_until,"
    " message_sha256, message, manifest, signature, sig_path, ocsp, prev_hash, hash, content,"
    " salt, sealed FROM records;"
    "INSERT INTO meta (key, value) VALUES ('schema_version', '" SCHEMA_VERSION "')"
    " ON CONFLICT (key) DO NOTHING;"
    "UPDATE meta SET value = '4' WHERE key = 'schema_version' AND value = '3';";

/* Whether the database is reached over a network: then only with a verified TLS connection. */
static ss_error check_transport(struct pg_store *s)
{
    const char *host = PQhost(s->conn);
    bool local = !host || !*host || host[0] == '/' || host[0] == '@' ||
                 strcmp(host, "localhost") == 0 || strncmp(host, "127.", 4) == 0 ||
                 strcmp(host, "::1") == 0;
    if (local)
        return SS_OK;
    const char *mode = NULL;
    PQconninfoOption *opts = PQconninfo(s->conn);
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, "sslmode") == 0 && o->val)
            mode = o->val;
    bool verified = mode && (strcmp(mode, "verify-full") == 0 || strcmp(mode, "verify-ca") == 0);
    char shown[32];
    snprintf(shown, sizeof shown, "%s", mode ? mode : "prefer");
    PQconninfoFree(opts);
    if (!verified || !PQsslInUse(s->conn))
        return ss_errf(SS_ERR_CONFIG,
                       "message log %s: the database at %s is not on this machine: the "
                       "connection needs sslmode=verify-full (or verify-ca), not %s",
                       s->desc, host, shown);
    return SS_OK;
}

/* The connection as messages name it: its parameters without the password. */
static void describe(struct pg_store *s, const char *conninfo)
{
    char *err = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
    PQfreemem(err);
    size_t used = 0;
    s->desc[0] = '\0';
    static const char *const shown[] = {"host", "hostaddr", "port", "dbname", "user", "service"};
    for (size_t i = 0; i < sizeof shown / sizeof shown[0]; i++)
        for (PQconninfoOption *o = opts; o && o->keyword; o++)
            if (o->val && *o->val && strcmp(o->keyword, shown[i]) == 0 && used < sizeof s->desc)
                used += (size_t)snprintf(s->desc + used, sizeof s->desc - used, "%s%s=%s",
                                         used ? " " : "", o->keyword, o->val);
    PQconninfoFree(opts);
    if (!s->desc[0])
        snprintf(s->desc, sizeof s->desc, "(default database)");
    char tmp[sizeof s->desc];
    memcpy(tmp, s->desc, sizeof tmp);
    snprintf(s->desc, sizeof s->desc, "postgresql:%.490s", tmp);
}

/* What the server says besides results ("relation already exists, skipping") is not for us. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static void pg_close(struct ss_store *base);
static const struct ss_store_ops pg_ops;

ss_error ss_store_open_pg(const char *conninfo, bool read_only, uint64_t max_bytes,
                          struct ss_store **out)
{
    *out = NULL;
    char *perr = NULL;
    PQconninfoOption *parsed = PQconninfoParse(conninfo, &perr);
    if (!parsed) {
        ss_error e = ss_errf(SS_ERR_CONFIG,
                             "message log store: not a PostgreSQL connection "
                             "string: %s",
                             perr ? perr : "out of memory");
        PQfreemem(perr);
        return e;
    }
    PQconninfoFree(parsed);
    struct pg_store *s = calloc(1, sizeof *s);
    if (!s)
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    s->base.ops = &pg_ops;
    s->base.label = s->desc;
    s->read_only = read_only;
    s->max_bytes = max_bytes;
    describe(s, conninfo);
    ss_error err = SS_OK;
    /* defaults the connection string may override (later values win): a node names itself,
     * and an unreachable or stalled database is noticed in seconds, not minutes */
    static const char *const keys[] = {
        "application_name",    "connect_timeout",  "tcp_user_timeout", "keepalives_idle",
        "keepalives_interval", "keepalives_count", "dbname",           NULL};
    const char *app = getenv("PGAPPNAME");
    const char *values[] = {
        app && *app ? app : "secsrv", "10", "15000", "10", "5", "3", conninfo, NULL};
    s->conn = PQconnectdbParams(keys, values, 1);
    if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
        err = ss_errf(SS_ERR_IO, "message log %s: cannot reach the database: %s", s->desc,
                      conn_message(s));
        goto out;
    }
    PQsetNoticeProcessor(s->conn, ignore_notice, NULL);
    if ((err = check_transport(s)))
        goto out;
    if (!read_only) {
        /* one node creates the schema; the others wait for it, then find it there */
        if ((err = exec(s, "BEGIN; SELECT pg_advisory_xact_lock(" LOCK_SCHEMA ");", "set up")) ||
            (err = exec(s, schema, "set up")) || (err = exec(s, "COMMIT", "set up"))) {
            (void)exec(s, "ROLLBACK", "roll back");
            goto out;
        }
    } else if ((err = exec(s, "SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY",
                           "set read-only"))) {
        goto out;
    }
    PGresult *res = query(s, "SELECT value FROM meta WHERE key = 'schema_version'", NULL,
                          "read the schema version");
    char found[16] = "";
    if (!res || PQntuples(res) != 1 || !get_text(res, 0, 0, found, sizeof found)) {
        PQclear(res);
        err = ss_errf(SS_ERR_IO, "message log %s: not a secsrv message log", s->desc);
        goto out;
    }
    PQclear(res);
    if (strcmp(found, SCHEMA_VERSION) != 0) {
        err = ss_errf(SS_ERR_IO, "message log %s: schema version %s, not %s", s->desc, found,
                      SCHEMA_VERSION);
        goto out;
    }
    *out = &s->base;
    return SS_OK;
out:
    pg_close(&s->base);
    return err;
}

static void pg_close(struct ss_store *base)
{
    struct pg_store *s = (struct pg_store *)base;
    PQfinish(s->conn);
    free(s);
}

static ss_error read_only_error(const struct pg_store *s)
{
    return ss_errf(SS_ERR_IO, "message log %s: opened read-only", s->desc);
}

/* ---- appending ---- */

static ss_error pg_tail(struct ss_store *base, int64_t *id, uint8_t hash[32])
{
    struct pg_store *s = (struct pg_store *)base;
    *id = 0;
    memset(hash, 0, 32);
    PGresult *res =
        query(s, "SELECT id, hash FROM records ORDER BY id DESC LIMIT 1", NULL, "read the tail");
    if (!res)
        return s->failed;
    ss_error err = SS_OK;
    if (PQntuples(res) == 1 &&
        (!get_int(res, 0, 0, id) || !get_digest(res, 0, 1, false, hash, NULL)))
        err = ss_errf(SS_ERR_IO, "message log %s: the last record's hash is damaged", s->desc);
    PQclear(res);
    return err;
}

/* Whether the database has grown past the store's limit (looked at once a second at most). */
static ss_error check_size(struct pg_store *s)
{
    if (!s->max_bytes)
        return SS_OK;
    time_t now = time(NULL);
    if (now != s->size_checked || s->since_checked >= SIZE_CHECK_BYTES) {
        s->since_checked = 0;
        PGresult *res =
            query(s, "SELECT pg_database_size(current_database())", NULL, "measure the store");
        if (!res)
            return s->failed;
        s->full = (uint64_t)int_or_zero(res, 0, 0) > s->max_bytes;
        s->size_checked = now;
        PQclear(res);
    }
    if (s->full)
        return ss_errf(SS_ERR_LIMIT, "message log %s: store full (more than %llu bytes)", s->desc,
                       (unsigned long long)s->max_bytes);
    return SS_OK;
}

/* Opens a transaction with sql; a failed one is rolled back. */
static ss_error begin_with(struct pg_store *s, const char *sql)
{
    ss_error err = exec(s, sql, "begin");
    if (err) {
        (void)exec(s, "ROLLBACK", "roll back");
        return err;
    }
    s->in_tx = true;
    return SS_OK;
}

static ss_error pg_snapshot(struct ss_store *base)
{
    return begin_with((struct pg_store *)base, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
}

static ss_error pg_begin(struct ss_store *base)
{
    return begin_with((struct pg_store *)base,
                      "BEGIN; SELECT pg_advisory_xact_lock(" LOCK_CHAIN ")");
}

static ss_error pg_commit(struct ss_store *base)
{
    struct pg_store *s = (struct pg_store *)base;
    ss_error err = exec(s, "COMMIT", "commit");
    s->in_tx = false;
    return err;
}

static void pg_rollback(struct ss_store *base)
{
    struct pg_store *s = (struct pg_store *)base;
    if (PQstatus(s->conn) == CONNECTION_OK && PQtransactionStatus(s->conn) != PQTRANS_IDLE)
        (void)exec(s, "ROLLBACK", "roll back");
    s->in_tx = false;
}

static ss_error pg_insert(struct ss_store *base, const struct ss_record *r)
{
    struct pg_store *s = (struct pg_store *)base;
    if (s->read_only)
        return read_only_error(s);
    ss_error err = check_size(s);
    if (err)
        return err;
    s->since_checked += r->message_len + r->manifest_len + r->signature_len + r->ocsp_len + 512;
    struct params p = {0};
    p_int(&p, r->id);
    p_int(&p, r->logged_ms);
    p_text(&p, r->side);
    p_text(&p, r->direction);
    p_text(&p, r->query_id);
    p_text(&p, r->request_id);
    p_text(&p, r->client);
    p_text(&p, r->service);
    p_text(&p, r->purpose);
    p_bytes(&p, r->subject_hash, r->has_subject ? 32 : 0);
    p_int(&p, r->status);
    p_text(&p, r->error_type);
    p_int(&p, r->retain_until);
    p_bytes(&p, r->message_sha256, 32);
    p_bytes(&p, r->message, r->message_len);
    p_bytes(&p, r->manifest, r->manifest_len);
    /* 16 parameters at most per statement: the rest go in a second part of the same row */
    if (!s->prepared) {
        PGresult *res = PQprepare(
            s->conn, "secsrv_insert",
            "INSERT INTO records (id, logged_ms, side, direction, query_id, request_id, client,"
            " service, purpose, subject_hash, status, error_type, retain_until, message_sha256,"
            " message, manifest, signature, sig_path, ocsp, prev_hash, hash, content, salt,"
            " sealed) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,"
            "$19,$20,$21,$22,$23,$24)",
            0, NULL);
        bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
        err = ok ? SS_OK : result_error(s, res, "prepare the append");
        PQclear(res);
        if (err)
            return err;
        s->prepared = true;
    }
    const char *values[24];
    int lengths[24], formats[24];
    for (int i = 0; i < p.n; i++) {
        values[i] = p.values[i];
        lengths[i] = p.lengths[i];
        formats[i] = p.formats[i];
    }
    struct params q = {0};
    p_bytes(&q, r->signature, r->signature_len);
    p_text(&q, r->sig_path);
    p_bytes(&q, r->ocsp, r->ocsp_len);
    p_bytes(&q, r->prev_hash, 32);
    p_bytes(&q, r->hash, 32);
    p_bytes(&q, r->content, r->has_content ? 32 : 0);
    p_bytes(&q, r->salt, r->has_salt ? 32 : 0);
    p_int(&q, r->sealed ? 1 : 0);
    for (int i = 0; i < q.n; i++) {
        values[p.n + i] = q.values[i];
        lengths[p.n + i] = q.lengths[i];
        formats[p.n + i] = q.formats[i];
    }
    PGresult *res =
        PQexecPrepared(s->conn, "secsrv_insert", p.n + q.n, values, lengths, formats, 1);
    err = PQresultStatus(res) == PGRES_COMMAND_OK ? SS_OK : result_error(s, res, "append");
    PQclear(res);
    return err;
}

static ss_error pg_seen(struct ss_store *base, const char *client, const char *query_id,
                        int64_t since_ms, bool *seen)
{
    struct pg_store *s = (struct pg_store *)base;
    *seen = false;
    if (s->read_only)
        return read_only_error(s);
    struct params p = {0};
    p_text(&p, client);
    p_text(&p, query_id);
    p_int(&p, since_ms);
    PGresult *res = query(s,
                          "SELECT 1 FROM records WHERE side = 'server' AND direction = 'request'"
                          " AND client = $1 AND query_id = $2 AND logged_ms >= $3 AND"
                          " error_type != 'Client.DuplicateRequest' LIMIT 1",
                          &p, "replay check");
    if (!res)
        return s->failed;
    *seen = PQntuples(res) > 0;
    PQclear(res);
    return SS_OK;
}

/* the first record not yet timestamped: timestamps cover the records in order */
#define UNSTAMPED "id > coalesce((SELECT max(last_id) FROM timestamps), 0)"

static ss_error pg_pending(struct ss_store *base, size_t *count, int64_t *oldest_ms)
{
    struct pg_store *s = (struct pg_store *)base;
    *count = 0;
    *oldest_ms = 0;
    PGresult *res = query(s, "SELECT count(*), min(logged_ms) FROM records WHERE " UNSTAMPED, NULL,
                          "count untimestamped records");
    if (!res)
        return s->failed;
    *count = (size_t)int_or_zero(res, 0, 0);
    *oldest_ms = int_or_zero(res, 0, 1);
    PQclear(res);
    return SS_OK;
}

static ss_error pg_take_pending(struct ss_store *base, size_t max, int64_t **ids,
                                uint8_t (**hashes)[32], size_t *n)
{
    struct pg_store *s = (struct pg_store *)base;
    *ids = NULL;
    *hashes = NULL;
    *n = 0;
    struct params p = {0};
    p_int(&p, (int64_t)max);
    PGresult *res =
        query(s, "SELECT id, hash FROM records WHERE " UNSTAMPED " ORDER BY id LIMIT $1", &p,
              "read untimestamped records");
    if (!res)
        return s->failed;
    size_t rows = (size_t)PQntuples(res);
    int64_t *id = malloc((rows ? rows : 1) * sizeof *id);
    uint8_t(*h)[32] = malloc((rows ? rows : 1) * sizeof *h);
    if (!id || !h) {
        free(id);
        free(h);
        PQclear(res);
        return ss_errf(SS_ERR_NOMEM, "out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < rows && k < max; i++, k++)
        /* a record left out would lie inside the token's range without its proof */
        if (!get_int(res, (int)i, 0, &id[k]) || !get_digest(res, (int)i, 1, false, h[k], NULL)) {
            PQclear(res);
            free(id);
            free(h);
            return ss_errf(SS_ERR_IO, "message log: untimestamped record %zu of %zu unreadable",
                           i + 1, rows);
        }
    PQclear(res);
    *ids = id;
    *hashes = h;
    *n = k;
    return SS_OK;
}

static ss_error pg_lease(struct ss_store *base, bool *held)
{
    struct pg_store *s = (struct pg_store *)base;
    *held = false;
    ss_error err = ensure(s);
    if (err)
        return err;
    if (!s->lease) {
        PGresult *res = query(s, "SELECT pg_try_advisory_lock(" LOCK_LEASE ")", NULL,
                              "take the timestamp lease");
        if (!res)
            return s->failed;
        s->lease = PQntuples(res) == 1 && PQgetlength(res, 0, 0) == 1 && PQgetvalue(res, 0, 0)[0];
        PQclear(res);
    }
    *held = s->lease;
    return SS_OK;
}

/* The database's clock alone says since when and how lately: the nodes' clocks may differ. */
static ss_error pg_node_seen(struct ss_store *base, const char *node, const char *config)
{
    struct pg_store *s = (struct pg_store *)base;
    if (s->read_only)
        return read_only_error(s);
    struct params p = {0};
    p_text(&p, node);
    p_text(&p, config);
    return command(s,
                   "INSERT INTO nodes (node, config, since, seen) VALUES ($1, $2, now(), now())"
                   " ON CONFLICT (node) DO UPDATE SET since = CASE WHEN nodes.config ="
                   " EXCLUDED.config THEN nodes.since ELSE now() END,"
                   " config = EXCLUDED.config, seen = now()",
                   &p, "say which node this is");
}

static ss_error pg_nodes(struct ss_store *base, unsigned fresh_s, ss_store_node_visit fn, void *arg)
{
    struct pg_store *s = (struct pg_store *)base;
    struct params p = {0};
    p_int(&p, fresh_s);
    PGresult *res;
    /* a writer made the list when it opened the log; a reader may find a log that no logger
     * of this version has opened yet, without one */
    if (s->read_only) {
        res = query(s, "SELECT to_regclass('nodes') IS NOT NULL", NULL, "read the nodes");
        if (!res)
            return s->failed;
        bool listed =
            PQntuples(res) == 1 && PQgetlength(res, 0, 0) == 1 && PQgetvalue(res, 0, 0)[0];
        PQclear(res);
        if (!listed)
            return SS_OK;
    }
    res = query(s,
                "SELECT node, config, (extract(epoch FROM since) * 1000)::bigint,"
                " (extract(epoch FROM now() - seen) * 1000)::bigint FROM nodes"
                " WHERE seen > now() - make_interval(secs => $1) ORDER BY node",
                &p, "read the nodes");
    if (!res)
        return s->failed;
    for (int i = 0; i < PQntuples(res); i++) {
        char node[256], config[1024];
        int64_t since = 0, age = 0;
        if (!get_text(res, i, 0, node, sizeof node) ||
            !get_text(res, i, 1, config, sizeof config) || !get_int(res, i, 2, &since) ||
            !get_int(res, i, 3, &age)) {
            PQclear(res);
            return ss_errf(SS_ERR_IO, "message log %s: a malformed row in the nodes", s->desc);
        }
        fn(arg, node, config, since, age);
    }
    PQclear(res);
    return SS_OK;
}

static ss_error pg_add_timestamp(struct ss_store *base, struct ss_timestamp *ts,
                                 const struct ss_merkle_tree *tree)
{
    struct pg_store *s = (struct pg_store *)base;
    if (s->read_only)
        return read_only_error(s);
    ss_error err = begin_with(s, "BEGIN; SELECT pg_advisory_xact_lock(" LOCK_STAMP ")");
    if (err)
        return err;
    PGresult *res =
        query(s, "SELECT coalesce(max(last_id), 0) FROM timestamps", NULL, "read the timestamps");
    if (!res) {
        err = s->failed;
        goto fail;
    }
    int64_t covered = int_or_zero(res, 0, 0);
    PQclear(res);
    if (ts->first_id <= covered) {
        err = ss_store_stamped_before(s->desc, ts, covered);
        goto fail;
    }
    struct params p = {0};
    p_int(&p, ts->first_id);
    p_int(&p, ts->last_id);
    p_bytes(&p, ts->root, 32);
    p_bytes(&p, ts->token, ts->token_len);
    p_int(&p, ts->gen_time);
    p_text(&p, ts->tsa);
    p_bytes(&p, tree->nodes, ss_merkle_tree_size(tree));
    res = query(s,
                "INSERT INTO timestamps (first_id, last_id, root, token, gen_time, tsa, tree)"
                " VALUES ($1,$2,$3,$4,$5,$6,$7) RETURNING id",
                &p, "store a timestamp");
    if (!res) {
        err = s->failed;
        goto fail;
    }
    ts->id = int_or_zero(res, 0, 0);
    PQclear(res);
    return pg_commit(base);
fail:
    pg_rollback(base);
    return err;
}

/* ---- reading ---- */

/* One row of SS_STORE_RECORD_COLUMNS into r, strictly (a field of the wrong size is named). */
static ss_error read_record(struct pg_store *s, const PGresult *res, int row, struct ss_record *r,
                            int64_t *ts_id, char ts_path[SS_MERKLE_PATH_TEXT_MAX], bool *has_path)
{
    *has_path = !PQgetisnull(res, row, 22);
    memset(r, 0, sizeof *r);
    const char *bad = NULL;
    int64_t status = 0, sealed = 0;
    if (!get_int(res, row, 0, &r->id) || PQgetisnull(res, row, 0))
        bad = "id";
    else if (!get_int(res, row, 1, &r->logged_ms))
        bad = "logged_ms";
    else if (!get_int(res, row, 10, &status) || status < 0 || status > 999)
        bad = "status";
    else if (!get_int(res, row, 12, &r->retain_until))
        bad = "retain_until";
    else if (!get_int(res, row, 25, &sealed) || (sealed != 0 && sealed != 1))
        bad = "sealed";
    else if (!get_int(res, row, 21, ts_id))
        bad = "ts_id";
    r->status = (unsigned)(status >= 0 && status <= 999 ? status : 0);
    r->sealed = sealed == 1;
    struct {
        int col;
        char *out;
        size_t size;
        const char *name;
    } texts[] = {{2, r->side, sizeof r->side, "side"},
                 {3, r->direction, sizeof r->direction, "direction"},
                 {4, r->query_id, sizeof r->query_id, "query_id"},
                 {5, r->request_id, sizeof r->request_id, "request_id"},
                 {6, r->client, sizeof r->client, "client"},
                 {7, r->service, sizeof r->service, "service"},
                 {8, r->purpose, sizeof r->purpose, "purpose"},
                 {11, r->error_type, sizeof r->error_type, "error_type"},
                 {17, r->sig_path, sizeof r->sig_path, "sig_path"},
                 {22, ts_path, SS_MERKLE_PATH_TEXT_MAX, "ts_path"}};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0] && !bad; i++)
        if (!get_text(res, row, texts[i].col, texts[i].out, texts[i].size))
            bad = texts[i].name;
    if (!bad && !get_digest(res, row, 9, true, r->subject_hash, &r->has_subject))
        bad = "subject_hash";
    if (!bad && !get_digest(res, row, 13, false, r->message_sha256, NULL))
        bad = "message_sha256";
    if (!bad && !get_digest(res, row, 19, false, r->prev_hash, NULL))
        bad = "prev_hash";
    if (!bad && !get_digest(res, row, 20, false, r->hash, NULL))
        bad = "hash";
    if (!bad && !get_digest(res, row, 23, true, r->content, &r->has_content))
        bad = "content";
    if (!bad && !get_digest(res, row, 24, true, r->salt, &r->has_salt))
        bad = "salt";
    get_bytes(res, row, 14, &r->message, &r->message_len);
    get_bytes(res, row, 15, &r->manifest, &r->manifest_len);
    get_bytes(res, row, 16, &r->signature, &r->signature_len);
    get_bytes(res, row, 18, &r->ocsp, &r->ocsp_len);
    if (bad)
        return ss_errf(SS_ERR_PROTOCOL, "message log %s: record %lld: the field %s is malformed",
                       s->desc, (long long)r->id, bad);
    return SS_OK;
}

/*
 * The WHERE clause of a filter, as store_sqlite.c has it: fixed text with
 * numbered parameters, only the values bound. $13 is the page's last id.
 */
static const char filter_sql[] =
    " WHERE ($1 = 0 OR r.logged_ms >= $1) AND ($2 = 0 OR r.logged_ms < $2)"
    " AND ($3 = 0 OR r.id >= $3) AND ($4 = 0 OR r.id <= $4)"
    " AND ($5::text IS NULL OR r.client = $5 OR left(r.client, length($5) + 1) = $5 || '/')"
    " AND ($6::text IS NULL OR r.service = $6 OR left(r.service, length($6) + 1) = $6 || '/')"
    " AND ($7::text IS NULL OR r.query_id = $7) AND ($8::text IS NULL OR r.purpose = $8)"
    " AND ($9 = 0 OR r.status = $9) AND ($10::text IS NULL OR r.error_type = $10)"
    " AND ($11::bytea IS NULL OR r.subject_hash = $11) AND ($12::text IS NULL OR r.side = $12)";

static void bind_filter(struct params *p, const struct ss_store_filter *f)
{
    p_int(p, f->from_ms);
    p_int(p, f->to_ms);
    p_int(p, f->from_id);
    p_int(p, f->to_id);
    p_text(p, f->client);
    p_text(p, f->service);
    p_text(p, f->query_id);
    p_text(p, f->purpose);
    p_int(p, f->status);
    p_text(p, f->error_type);
    p_bytes(p, f->subject_hash, f->has_subject ? 32 : 0);
    p_text(p, f->side);
}

/* Hands the records f selects to fn in order of their numbers, a page at a time. */
static ss_error visit_filtered(struct pg_store *s, const struct ss_store_filter *f,
                               ss_store_visit fn, void *arg)
{
    char sql[2048];
    snprintf(sql, sizeof sql,
             "SELECT " SS_STORE_RECORD_COLUMNS " FROM records r LEFT JOIN stamps s USING (id)%s"
             " AND r.id > $13 ORDER BY r.id LIMIT %d",
             filter_sql, PAGE_ROWS);
    int64_t after = 0;
    for (;;) {
        struct params p = {0};
        bind_filter(&p, f);
        p_int(&p, after);
        PGresult *res = query(s, sql, &p, "read");
        if (!res)
            return s->failed;
        int rows = PQntuples(res);
        ss_error err = SS_OK;
        for (int i = 0; i < rows && !err; i++) {
            struct ss_record r;
            int64_t ts_id = 0;
            char ts_path[SS_MERKLE_PATH_TEXT_MAX];
            bool has_path = false;
            err = read_record(s, res, i, &r, &ts_id, ts_path, &has_path);
            if (!err)
                err = fn(arg, &r, ts_id, has_path ? ts_path : NULL);
            after = r.id;
        }
        PQclear(res);
        if (err || rows < PAGE_ROWS)
            return err;
    }
}

static ss_error pg_each(struct ss_store *base, int64_t from_id, int64_t to_id, ss_store_visit fn,
                        void *arg)
{
    struct ss_store_filter f = {.from_id = from_id, .to_id = to_id};
    return visit_filtered((struct pg_store *)base, &f, fn, arg);
}

static ss_error pg_search(struct ss_store *base, const struct ss_store_filter *f, ss_store_visit fn,
                          void *arg)
{
    return visit_filtered((struct pg_store *)base, f, fn, arg);
}

static ss_error pg_count(struct ss_store *base, const struct ss_store_filter *f, const char *by,
                         ss_store_count_visit fn, void *arg)
{
    struct pg_store *s = (struct pg_store *)base;
    char sql[2048];
    snprintf(sql, sizeof sql,
             "SELECT r.%s::text, count(*) FROM records r%s GROUP BY r.%s"
             " ORDER BY 2 DESC, r.%s::text COLLATE \"C\"",
             by, filter_sql, by, by);
    struct params p = {0};
    bind_filter(&p, f);
    PGresult *res = query(s, sql, &p, "count");
    if (!res)
        return s->failed;
    ss_error err = SS_OK;
    for (int i = 0; i < PQntuples(res) && !err; i++) {
        char value[SS_ID_STR_MAX];
        if (!get_text(res, i, 0, value, sizeof value))
            err = ss_errf(SS_ERR_IO, "message log %s: a record's %s is malformed", s->desc, by);
        else
            err = fn(arg, value, (uint64_t)int_or_zero(res, i, 1));
    }
    PQclear(res);
    return err;
}

static PGresult *query_exchanges(struct pg_store *s, const char *tail,
                                 const struct ss_store_filter *f, const struct params *extra,
                                 const char *what)
{
    char sql[4096];
    int n = snprintf(sql, sizeof sql, SS_STORE_EXCHANGES_SQL, filter_sql);
    if (n < 0 || (size_t)n >= sizeof sql ||
        (size_t)snprintf(sql + n, sizeof sql - (size_t)n, "%s", tail) >= sizeof sql - (size_t)n) {
        s->failed = ss_errf(SS_ERR_INTERNAL, "exchange query too long");
        return NULL;
    }
    struct params p = {0};
    bind_filter(&p, f);
    for (int i = 0; extra && i < extra->n; i++) {
        int k = p.n++;
        p.types[k] = extra->types[i];
        memcpy(p.ints[k], extra->ints[i], sizeof p.ints[k]);
        p.values[k] = extra->values[i] == extra->ints[i] ? p.ints[k] : extra->values[i];
        p.lengths[k] = extra->lengths[i];
        p.formats[k] = extra->formats[i];
    }
    return query(s, sql, &p, what);
}

static ss_error pg_exchanges(struct ss_store *base, const struct ss_store_filter *f, int outcome,
                             enum ss_exchange_order order, bool desc, uint64_t offset,
                             uint64_t limit, ss_store_exchange_visit fn, void *arg, uint64_t *total)
{
    struct pg_store *s = (struct pg_store *)base;
    static const char *const by[] = {"t", "client COLLATE \"C\"", "service COLLATE \"C\"",
                                     "purpose COLLATE \"C\"", "status"};
    const char *dir = desc ? "DESC" : "ASC";
    struct params extra = {0};
    p_int(&extra, outcome);
    PGresult *res = query_exchanges(s, "SELECT count(*) FROM y WHERE ($13 < 0 OR outcome = $13)", f,
                                    &extra, "list the exchanges");
    if (!res)
        return s->failed;
    *total = (uint64_t)int_or_zero(res, 0, 0);
    PQclear(res);
    char tail[384];
    snprintf(tail, sizeof tail,
             "SELECT req, resp, t, side, request_id, query_id, client, service, purpose, status,"
             " error_type FROM y WHERE ($13 < 0 OR outcome = $13)"
             " ORDER BY %s %s, t %s, coalesce(req, resp) %s LIMIT $14 OFFSET $15",
             by[order], dir, dir, dir);
    int64_t lim = limit ? (int64_t)(limit > INT64_MAX ? INT64_MAX : limit) : INT64_MAX;
    p_int(&extra, lim);
    p_int(&extra, offset > INT64_MAX ? INT64_MAX : (int64_t)offset);
    if (!(res = query_exchanges(s, tail, f, &extra, "list the exchanges")))
        return s->failed;
    ss_error err = SS_OK;
    for (int i = 0; i < PQntuples(res) && !err; i++) {
        struct ss_store_exchange e = {.request_record = int_or_zero(res, i, 0),
                                      .response_record = int_or_zero(res, i, 1),
                                      .logged_ms = int_or_zero(res, i, 2),
                                      .status = (unsigned)int_or_zero(res, i, 9)};
        if (!get_text(res, i, 3, e.side, sizeof e.side) ||
            !get_text(res, i, 4, e.request_id, sizeof e.request_id) ||
            !get_text(res, i, 5, e.query_id, sizeof e.query_id) ||
            !get_text(res, i, 6, e.client, sizeof e.client) ||
            !get_text(res, i, 7, e.service, sizeof e.service) ||
            !get_text(res, i, 8, e.purpose, sizeof e.purpose) ||
            !get_text(res, i, 10, e.error_type, sizeof e.error_type))
            err = ss_errf(SS_ERR_IO, "message log %s: a record of exchange %lld is malformed",
                          s->desc,
                          (long long)(e.request_record ? e.request_record : e.response_record));
        else
            err = fn(arg, &e);
    }
    PQclear(res);
    return err;
}

static ss_error pg_daily(struct ss_store *base, const struct ss_store_filter *f,
                         ss_store_day_visit fn, void *arg)
{
    struct pg_store *s = (struct pg_store *)base;
    /* days from year 1 to 9999 (what a changed log could hold beyond is shown without one) */
    PGresult *res = query_exchanges(
        s,
        "SELECT CASE WHEN t BETWEEN -62135596800000 AND 253402300799999 THEN"
        " to_char(to_timestamp(t / 1000) AT TIME ZONE 'UTC', 'YYYY-MM-DD') END AS day,"
        " count(*) FILTER (WHERE outcome = 0), count(*) FILTER (WHERE outcome = 1),"
        " count(*) FILTER (WHERE outcome = 2) FROM y GROUP BY day ORDER BY day",
        f, NULL, "count the exchanges per day");
    if (!res)
        return s->failed;
    ss_error err = SS_OK;
    for (int i = 0; i < PQntuples(res) && !err; i++) {
        char day[11];
        uint64_t counts[3];
        for (int k = 0; k < 3; k++)
            counts[k] = (uint64_t)int_or_zero(res, i, 1 + k);
        if (!get_text(res, i, 0, day, sizeof day))
            err = ss_errf(SS_ERR_IO, "message log %s: a record has a bad time", s->desc);
        else
            err = fn(arg, day, counts);
    }
    PQclear(res);
    return err;
}

static ss_error pg_summary(struct ss_store *base, int64_t now, struct ss_store_summary *out)
{
    struct pg_store *s = (struct pg_store *)base;
    struct params p = {0};
    p_int(&p, now);
    PGresult *res = query(
        s,
        "SELECT count(*), coalesce(min(id), 0), coalesce(max(id), 0),"
        " coalesce(min(logged_ms), 0), coalesce(max(logged_ms), 0),"
        " count(*) FILTER (WHERE retain_until < $1 AND (message IS NOT NULL OR subject_hash IS"
        " NOT NULL OR manifest IS NOT NULL)),"
        " count(*) FILTER (WHERE content IS NOT NULL AND salt IS NULL) FROM records",
        &p, "summarise");
    if (!res)
        return s->failed;
    out->records = (uint64_t)int_or_zero(res, 0, 0);
    out->first_id = int_or_zero(res, 0, 1);
    out->last_id = int_or_zero(res, 0, 2);
    out->first_ms = int_or_zero(res, 0, 3);
    out->last_ms = int_or_zero(res, 0, 4);
    out->due_purge = (uint64_t)int_or_zero(res, 0, 5);
    out->purged = (uint64_t)int_or_zero(res, 0, 6);
    PQclear(res);
    size_t pending = 0;
    ss_error err = pg_pending(base, &pending, &out->oldest_unstamped_ms);
    if (err)
        return err;
    out->unstamped = pending;
    if (!(res = query(s, "SELECT first_id, last_id FROM timestamps ORDER BY first_id", NULL,
                      "summarise the timestamps")))
        return s->failed;
    int64_t next = out->first_id ? out->first_id : 1;
    for (int i = 0; i < PQntuples(res); i++)
        ss_store_summary_range(out, &next, int_or_zero(res, i, 0), int_or_zero(res, i, 1));
    PQclear(res);
    return SS_OK;
}

static ss_error pg_id_range(struct ss_store *base, int64_t from_ms, int64_t to_ms, int64_t *first,
                            int64_t *last)
{
    struct pg_store *s = (struct pg_store *)base;
    *first = 1;
    *last = 0;
    struct params p = {0};
    p_int(&p, from_ms);
    p_int(&p, to_ms);
    PGresult *res = query(s,
                          "SELECT (SELECT max(id) FROM records WHERE $1 != 0 AND logged_ms < $1),"
                          " (SELECT min(id) FROM records WHERE $2 != 0 AND logged_ms >= $2)",
                          &p, "read");
    if (!res)
        return s->failed;
    if (!PQgetisnull(res, 0, 0))
        *first = int_or_zero(res, 0, 0) + 1;
    if (!PQgetisnull(res, 0, 1)) {
        *last = int_or_zero(res, 0, 1) - 1;
        if (to_ms && *last == 0)
            *last = -1; /* the range ends before the first record */
    }
    PQclear(res);
    return SS_OK;
}

static ss_error pg_purge(struct ss_store *base, int64_t now, uint64_t *purged, uint64_t *kept_v1)
{
    struct pg_store *s = (struct pg_store *)base;
    if (s->read_only)
        return read_only_error(s);
    /* a batch at a time (SS_STORE_PURGE_PICK), so that the writers never wait long; the
     * message digest goes too (zeros): it would let a guessed message be tested */
    for (;;) {
        struct params p = {0};
        p_int(&p, now);
        PGresult *res = query(s,
                              "UPDATE records SET message = NULL, subject_hash = NULL,"
                              " manifest = NULL, salt = NULL, sealed = 0,"
                              " message_sha256 = decode(repeat('00', 32), 'hex') WHERE id IN"
                              " (" SS_STORE_PURGE_PICK("$1") ")",
                              &p, "purge");
        if (!res)
            return s->failed;
        uint64_t n = strtoull(PQcmdTuples(res), NULL, 10);
        PQclear(res);
        *purged += n;
        if (n == 0)
            break;
    }
    struct params p = {0};
    p_int(&p, now);
    PGresult *res = query(s,
                          "SELECT count(*) FROM records WHERE retain_until < $1 AND content IS"
                          " NULL AND (message IS NOT NULL OR subject_hash IS NOT NULL)",
                          &p, "count");
    if (res)
        *kept_v1 = (uint64_t)int_or_zero(res, 0, 0);
    PQclear(res);
    /* the old row versions go when the table is vacuumed: now, rather than some time later */
    return exec(s, "VACUUM records", "vacuum after the purge");
}

static ss_error pg_vacuum(struct ss_store *base)
{
    struct pg_store *s = (struct pg_store *)base;
    if (s->read_only)
        return read_only_error(s);
    return exec(s, "VACUUM FULL records", "vacuum");
}

static ss_error pg_add_registry(struct ss_store *base, uint64_t serial, int64_t since_ms,
                                const uint8_t *xml, size_t xml_len, const uint8_t *sig,
                                size_t sig_len)
{
    struct pg_store *s = (struct pg_store *)base;
    if (s->read_only)
        return read_only_error(s);
    struct params p = {0};
    p_int(&p, (int64_t)serial);
    p_int(&p, since_ms);
    p_bytes(&p, xml, xml_len);
    p_bytes(&p, sig, sig_len);
    return command(s,
                   "INSERT INTO registries (serial, since_ms, xml, sig)"
                   " VALUES ($1,$2,$3,$4) ON CONFLICT (serial) DO NOTHING",
                   &p, "store a registry");
}

static ss_error pg_each_registry(struct ss_store *base, ss_store_registry_visit fn, void *arg)
{
    struct pg_store *s = (struct pg_store *)base;
    PGresult *res = query(s, "SELECT serial, since_ms, xml, sig FROM registries ORDER BY serial",
                          NULL, "read the registries");
    if (!res)
        return s->failed;
    ss_error err = SS_OK;
    for (int i = 0; i < PQntuples(res) && !err; i++) {
        const uint8_t *xml = NULL, *sig = NULL;
        size_t xml_len = 0, sig_len = 0;
        get_bytes(res, i, 2, &xml, &xml_len);
        get_bytes(res, i, 3, &sig, &sig_len);
        err = fn(arg, (uint64_t)int_or_zero(res, i, 0), int_or_zero(res, i, 1), xml, xml_len, sig,
                 sig_len);
    }
    PQclear(res);
    return err;
}

static ss_error pg_timestamps(struct ss_store *base, int64_t id, ss_store_timestamp_visit fn,
                              void *arg)
{
    struct pg_store *s = (struct pg_store *)base;
    int64_t after = 0;
    for (;;) {
        struct params p = {0};
        p_int(&p, id);
        p_int(&p, after);
        PGresult *res = query(s,
                              "SELECT id, first_id, last_id, root, token, gen_time, tsa FROM"
                              " timestamps WHERE ($1 = 0 OR id = $1) AND id > $2 ORDER BY id"
                              " LIMIT 200",
                              &p, "read the timestamps");
        if (!res)
            return s->failed;
        int rows = PQntuples(res);
        ss_error err = SS_OK;
        for (int i = 0; i < rows && !err; i++) {
            struct ss_timestamp ts = {.id = int_or_zero(res, i, 0),
                                      .first_id = int_or_zero(res, i, 1),
                                      .last_id = int_or_zero(res, i, 2),
                                      .gen_time = int_or_zero(res, i, 5)};
            get_bytes(res, i, 4, &ts.token, &ts.token_len);
            if (!get_digest(res, i, 3, false, ts.root, NULL) ||
                !get_text(res, i, 6, ts.tsa, sizeof ts.tsa))
                err = ss_errf(SS_ERR_IO, "message log %s: timestamp %lld is malformed", s->desc,
                              (long long)ts.id);
            else
                err = fn(arg, &ts);
            after = ts.id;
        }
        PQclear(res);
        if (err || rows < PAGE_TOKENS)
            return err;
    }
}

static ss_error pg_tree(struct ss_store *base, int64_t id, ss_store_tree_visit fn, void *arg)
{
    struct pg_store *s = (struct pg_store *)base;
    struct params p = {0};
    p_int(&p, id);
    PGresult *res = query(s, "SELECT first_id, last_id, tree FROM timestamps WHERE id = $1", &p,
                          "read a timestamp's tree");
    if (!res)
        return s->failed;
    ss_error err = SS_OK;
    if (PQntuples(res) == 1) {
        const uint8_t *b = NULL;
        size_t n = 0;
        get_bytes(res, 0, 2, &b, &n);
        err = fn(arg, int_or_zero(res, 0, 0), int_or_zero(res, 0, 1), n ? b : NULL, n);
    }
    PQclear(res);
    return err;
}

static const struct ss_store_ops pg_ops = {
    .close = pg_close,
    .tail = pg_tail,
    .begin = pg_begin,
    .commit = pg_commit,
    .rollback = pg_rollback,
    .snapshot = pg_snapshot,
    .insert = pg_insert,
    .seen = pg_seen,
    .pending = pg_pending,
    .take_pending = pg_take_pending,
    .add_timestamp = pg_add_timestamp,
    .lease = pg_lease,
    .node_seen = pg_node_seen,
    .nodes = pg_nodes,
    .each = pg_each,
    .search = pg_search,
    .count = pg_count,
    .exchanges = pg_exchanges,
    .daily = pg_daily,
    .summary = pg_summary,
    .id_range = pg_id_range,
    .purge = pg_purge,
    .vacuum = pg_vacuum,
    .add_registry = pg_add_registry,
    .each_registry = pg_each_registry,
    .timestamps = pg_timestamps,
    .tree = pg_tree,
};
