/* edgekey hub: the PostgreSQL registry backend: connection, reconnection,
 * prepared statements and transactions. The tables are in
 * registry_pg_schema.c, the operations in registry_pg_rows.c and
 * registry_pg_certs.c. */
#include "registry_pg.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hub_util.h"

#define REGPG_MAX_STMTS 64
#define REGPG_MAX_PARAMS 12

struct regpg {
    PGconn *conn;
    char *url;
    bool readonly, relaxed;
    bool in_tx;
    bool listening;                           /* LISTEN active on this connection */
    const pg_stmt *prepared[REGPG_MAX_STMTS]; /* on this connection */
    int nprepared;
};

/* Per thread, like hub_err(): set when the last registry failure was the
 * database being unreachable, not a refusal or a bug. */
static _Thread_local bool last_unavailable;

bool reg_unavailable(void)
{
    return last_unavailable;
}

bool regpg_is_url(const char *url)
{
    if (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0)
        return true;
    /* a libpq conninfo: "key=value ..." with a keyword before the first '=' */
    size_t kw = strspn(url, "abcdefghijklmnopqrstuvwxyz_");
    return kw > 0 && url[kw] == '=';
}

/* Connection-level failures (SQLSTATE class 08, the server shutting down,
 * or no SQLSTATE: libpq lost the socket) and serialization failures are
 * "try again later", everything else is an error in the request or a bug. */
static bool is_unavailable(const PGresult *res, PGconn *conn)
{
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (PQstatus(conn) != CONNECTION_OK || !state)
        return true;
    return strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0 ||
           strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0;
}

static int fail_res(hub_registry *r, PGresult *res, const char *what)
{
    last_unavailable = is_unavailable(res, r->pg->conn);
    const char *msg = res ? PQresultErrorMessage(res) : "";
    if (!msg || !*msg)
        msg = PQerrorMessage(r->pg->conn);
    hub_fail("registry (PostgreSQL): %s failed: %.*s%s", what, (int)strcspn(msg, "\n"), msg,
             last_unavailable ? " (database unreachable: retry later)" : "");
    PQclear(res);
    return -1;
}

static int session_setup(hub_registry *r)
{
    struct regpg *pg = r->pg;
    pg->nprepared = 0;
    pg->listening = false; /* a new session listens to nothing */
    /* The plugin's handle can never write, whatever its code asks. */
    const char *sql = pg->readonly ? "SET default_transaction_read_only = on;"
                                   : (pg->relaxed ? "SET synchronous_commit = off;"
                                                  : "SET synchronous_commit = on;");
    /* no NOTICEs on stderr ("relation ... already exists, skipping") */
    PGresult *res = PQexec(pg->conn, "SET client_min_messages = warning;");
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return fail_res(r, res, "session setup");
    PQclear(res);
    res = PQexec(pg->conn, sql);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return fail_res(r, res, "session setup");
    PQclear(res);
    return 0;
}

static int connect_db(hub_registry *r)
{
    struct regpg *pg = r->pg;
    if (pg->conn && PQstatus(pg->conn) == CONNECTION_OK)
        return 0;
    if (pg->conn) {
        PQreset(pg->conn);
    } else {
        /* expand_dbname: the URL or conninfo may override these defaults */
        const char *const keys[] = {"connect_timeout", "application_name", "dbname", NULL};
        const char *const vals[] = {"5", "edgekey-hub", pg->url, NULL};
        pg->conn = PQconnectdbParams(keys, vals, 1);
    }
    if (!pg->conn || PQstatus(pg->conn) != CONNECTION_OK) {
        last_unavailable = true;
        const char *m = pg->conn ? PQerrorMessage(pg->conn) : "out of memory";
        return hub_fail("registry (PostgreSQL): cannot connect: %.*s; check the registry "
                        "setting in hub.conf and that the server runs",
                        (int)strcspn(m, "\n"), m);
    }
    return session_setup(r);
}

static int prepare(hub_registry *r, const pg_stmt *st, int n)
{
    struct regpg *pg = r->pg;
    for (int i = 0; i < pg->nprepared; i++)
        if (pg->prepared[i] == st)
            return 0;
    if (pg->nprepared == REGPG_MAX_STMTS)
        return hub_fail("registry (PostgreSQL): more than %d statements", REGPG_MAX_STMTS);
    PGresult *res = PQprepare(pg->conn, st->name, st->sql, n, NULL);
    if (PQresultStatus(res) != PGRES_COMMAND_OK)
        return fail_res(r, res, st->name);
    PQclear(res);
    pg->prepared[pg->nprepared++] = st;
    return 0;
}

/* Outside a transaction a dead connection is re-opened; inside one the
 * transaction is lost and the call fails. */
static int ready(hub_registry *r)
{
    last_unavailable = false;
    if (r->pg->in_tx) {
        if (PQstatus(r->pg->conn) == CONNECTION_OK)
            return 0;
        last_unavailable = true;
        return hub_fail("registry (PostgreSQL): connection lost inside a transaction "
                        "(database unreachable: retry later)");
    }
    return connect_db(r);
}

PGresult *regpg_run(hub_registry *r, const pg_stmt *st, int n, const char *const *vals)
{
    /* NULL binds as '' as in the SQLite backend (reg_bind_text) */
    const char *v[REGPG_MAX_PARAMS];
    if (n > REGPG_MAX_PARAMS) {
        hub_fail("registry (PostgreSQL): %s has more than %d parameters", st->name,
                 REGPG_MAX_PARAMS);
        return NULL;
    }
    for (int i = 0; i < n; i++)
        v[i] = vals[i] ? vals[i] : "";
    pthread_mutex_lock(&r->lock);
    PGresult *res = NULL;
    if (ready(r) == 0 && prepare(r, st, n) == 0) {
        res = PQexecPrepared(r->pg->conn, st->name, n, v, NULL, NULL, 0);
        ExecStatusType s = PQresultStatus(res);
        if (s != PGRES_TUPLES_OK && s != PGRES_COMMAND_OK) {
            fail_res(r, res, st->name);
            res = NULL;
        }
    }
    pthread_mutex_unlock(&r->lock);
    return res;
}

int regpg_cmd(hub_registry *r, const pg_stmt *st, int n, const char *const *vals, int *changed)
{
    PGresult *res = regpg_run(r, st, n, vals);
    if (!res)
        return -1;
    if (changed)
        *changed = atoi(PQcmdTuples(res));
    PQclear(res);
    return 0;
}

int regpg_simple(hub_registry *r, const char *sql)
{
    pthread_mutex_lock(&r->lock);
    int rc = ready(r);
    if (rc == 0) {
        PGresult *res = PQexec(r->pg->conn, sql);
        ExecStatusType s = PQresultStatus(res);
        if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK)
            rc = fail_res(r, res, "statement");
        else
            PQclear(res);
    }
    pthread_mutex_unlock(&r->lock);
    return rc;
}

int64_t regpg_int(const PGresult *res, int row, int col)
{
    const char *v = PQgetvalue(res, row, col);
    return v && *v ? strtoll(v, NULL, 10) : 0;
}

void regpg_text(const PGresult *res, int row, int col, char *out, size_t outsize)
{
    const char *v = PQgetvalue(res, row, col);
    snprintf(out, outsize, "%s", v ? v : "");
}

const char *regpg_i64(char *buf, int64_t v)
{
    snprintf(buf, 24, "%" PRId64, v);
    return buf;
}

int regpg_open(hub_registry *r, const char *url, bool readonly)
{
    r->pg = calloc(1, sizeof(*r->pg));
    if (!r->pg || !(r->pg->url = strdup(url)))
        return hub_fail("registry: out of memory");
    r->pg->readonly = readonly;
    if (connect_db(r) != 0)
        return -1;
    return regpg_migrate(r, readonly);
}

void regpg_close(hub_registry *r)
{
    if (!r->pg)
        return;
    PQfinish(r->pg->conn);
    free(r->pg->url);
    free(r->pg);
    r->pg = NULL;
}

int regpg_set_durability(hub_registry *r, bool full)
{
    /* synchronous_commit=off: a server crash may lose the last commits,
     * never corrupts; the counterpart of SQLite's synchronous=NORMAL. */
    r->pg->relaxed = !full;
    return regpg_simple(r, full ? "SET synchronous_commit = on;" : "SET synchronous_commit = off;");
}

/* Read committed: each statement sees the latest commits; the statements
 * that must not race take row locks or rely on unique constraints
 * (docs/scaling.md lists which). */
int regpg_begin(hub_registry *r)
{
    pthread_mutex_lock(&r->lock);
    if (regpg_simple(r, "BEGIN;") != 0) {
        pthread_mutex_unlock(&r->lock);
        return -1;
    }
    r->pg->in_tx = true;
    return 0;
}

int regpg_commit(hub_registry *r)
{
    int rc = ready(r);
    if (rc == 0) {
        PGresult *res = PQexec(r->pg->conn, "COMMIT;");
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            rc = fail_res(r, res, "commit");
        else if (strcmp(PQcmdStatus(res), "COMMIT") != 0) {
            /* COMMIT of a failed transaction answers ROLLBACK */
            PQclear(res);
            rc = hub_fail("registry (PostgreSQL): a statement had failed: the transaction "
                          "was rolled back, nothing stored");
        } else
            PQclear(res);
    }
    r->pg->in_tx = false;
    pthread_mutex_unlock(&r->lock);
    return rc;
}

void regpg_rollback(hub_registry *r)
{
    bool unavailable = last_unavailable;
    if (PQstatus(r->pg->conn) == CONNECTION_OK) {
        PGresult *res = PQexec(r->pg->conn, "ROLLBACK;");
        PQclear(res);
    }
    r->pg->in_tx = false;
    last_unavailable = unavailable; /* the caller reports the first failure */
    pthread_mutex_unlock(&r->lock);
}

int regpg_enter(hub_registry *r, bool *own)
{
    pthread_mutex_lock(&r->lock);
    *own = !r->pg->in_tx;
    int rc = *own ? regpg_begin(r) : 0;
    pthread_mutex_unlock(&r->lock);
    return rc;
}

int regpg_leave(hub_registry *r, bool own, int rc)
{
    if (!own)
        return rc;
    if (rc < 0) {
        regpg_rollback(r);
        return rc;
    }
    return regpg_commit(r) != 0 ? -1 : rc;
}

/* ---- revocation notices ---- */

int reg_rev_listen(hub_registry *r)
{
    if (!r->pg)
        return 1;
    pthread_mutex_lock(&r->lock);
    int rc = regpg_simple(r, "LISTEN " REGPG_REV_CHANNEL ";");
    r->pg->listening = rc == 0;
    pthread_mutex_unlock(&r->lock);
    return rc;
}

int reg_rev_notified(hub_registry *r)
{
    if (!r->pg)
        return hub_fail("registry: SQLite has no revocation notices: poll instead");
    pthread_mutex_lock(&r->lock);
    struct regpg *pg = r->pg;
    int got = 0;
    if (!pg->listening)
        got = hub_fail("registry (PostgreSQL): not listening for revocations (the connection "
                       "was lost or reset)");
    else if (!PQconsumeInput(pg->conn) || PQstatus(pg->conn) != CONNECTION_OK) {
        pg->listening = false;
        last_unavailable = true;
        const char *m = PQerrorMessage(pg->conn);
        got = hub_fail("registry (PostgreSQL): revocation listener lost: %.*s",
                       (int)strcspn(m, "\n"), m);
    } else {
        PGnotify *n;
        while ((n = PQnotifies(pg->conn)) != NULL) {
            got = 1;
            PQfreemem(n);
        }
    }
    pthread_mutex_unlock(&r->lock);
    return got;
}
