/* edge-client: SQLite telemetry queue (see queue.h). */
#include "queue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "log.h"

struct edge_queue {
    sqlite3 *db;
    sqlite3_stmt *push, *next, *del, *depth, *oldest, *trim;
    long long max_rows;
    char path[1024];
};

static int fail(edge_queue *q, const char *what)
{
    edge_error("telemetry queue %s: %s failed: %s; check that data_dir is writable and not full",
               q->path, what, q->db ? sqlite3_errmsg(q->db) : "out of memory");
    return -1;
}

int edge_queue_open(const char *path, int full_sync, long long max_rows, edge_queue **out)
{
    edge_queue *q = calloc(1, sizeof(*q));
    char *msg = NULL;
    const char *setup =
        "PRAGMA journal_mode=WAL;"
        "CREATE TABLE IF NOT EXISTS queue(seq INTEGER PRIMARY KEY AUTOINCREMENT,"
        " params TEXT NOT NULL, created INTEGER NOT NULL DEFAULT (strftime('%s','now')));";

    *out = NULL;
    if (q == NULL)
        return -1;
    snprintf(q->path, sizeof(q->path), "%s", path);
    q->max_rows = max_rows;
    if (sqlite3_open_v2(path, &q->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK ||
        sqlite3_busy_timeout(q->db, 5000) != SQLITE_OK ||
        sqlite3_exec(q->db, setup, NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(q->db, full_sync ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;",
                     NULL, NULL, &msg) != SQLITE_OK) {
        sqlite3_free(msg);
        fail(q, "open");
        edge_queue_close(q);
        return -1;
    }
    if (sqlite3_prepare_v2(q->db, "INSERT INTO queue(params) VALUES(?);", -1, &q->push, NULL) ||
        sqlite3_prepare_v2(q->db,
                           "SELECT seq, params FROM queue WHERE seq > ? ORDER BY seq LIMIT 1;", -1,
                           &q->next, NULL) ||
        sqlite3_prepare_v2(q->db, "DELETE FROM queue WHERE seq = ?;", -1, &q->del, NULL) ||
        sqlite3_prepare_v2(q->db, "SELECT count(*) FROM queue;", -1, &q->depth, NULL) ||
        sqlite3_prepare_v2(q->db, "SELECT min(seq) FROM queue;", -1, &q->oldest, NULL) ||
        sqlite3_prepare_v2(q->db, "DELETE FROM queue WHERE seq <= ?;", -1, &q->trim, NULL)) {
        fail(q, "prepare");
        edge_queue_close(q);
        return -1;
    }
    *out = q;
    return 0;
}

void edge_queue_close(edge_queue *q)
{
    if (q == NULL)
        return;
    sqlite3_finalize(q->push);
    sqlite3_finalize(q->next);
    sqlite3_finalize(q->del);
    sqlite3_finalize(q->depth);
    sqlite3_finalize(q->oldest);
    sqlite3_finalize(q->trim);
    sqlite3_close(q->db);
    free(q);
}

/* Keep at most max_rows readings, the newest by seq. min(seq) is an index
 * lookup, so the check costs nothing per push; rows are deleted mostly from
 * the front, so seq - min + 1 is the depth (an upper bound of it). */
static int trim(edge_queue *q, long long newest)
{
    long long oldest = newest;
    int rc, dropped;

    if (q->max_rows <= 0)
        return 0;
    if (sqlite3_step(q->oldest) == SQLITE_ROW)
        oldest = sqlite3_column_int64(q->oldest, 0);
    sqlite3_reset(q->oldest);
    if (newest - oldest + 1 <= q->max_rows)
        return 0;
    sqlite3_bind_int64(q->trim, 1, newest - q->max_rows);
    rc = sqlite3_step(q->trim);
    sqlite3_reset(q->trim);
    if (rc != SQLITE_DONE)
        return fail(q, "trim");
    dropped = sqlite3_changes(q->db);
    if (dropped > 0)
        edge_warn("telemetry queue %s is full (queue_max = %lld): dropped %d oldest reading(s) "
                  "up to id %lld; the hub is unreachable for too long or queue_max is too small",
                  q->path, q->max_rows, dropped, newest - q->max_rows);
    return 0;
}

int edge_queue_push(edge_queue *q, const char *params, long long *seq)
{
    int rc;
    sqlite3_bind_text(q->push, 1, params, -1, SQLITE_STATIC);
    rc = sqlite3_step(q->push);
    sqlite3_reset(q->push);
    sqlite3_clear_bindings(q->push);
    if (rc != SQLITE_DONE)
        return fail(q, "insert");
    *seq = (long long)sqlite3_last_insert_rowid(q->db);
    return trim(q, *seq);
}

int edge_queue_next(edge_queue *q, long long after, long long *seq, char **params)
{
    int rc, found = 0;
    sqlite3_bind_int64(q->next, 1, after);
    rc = sqlite3_step(q->next);
    if (rc == SQLITE_ROW) {
        *seq = sqlite3_column_int64(q->next, 0);
        *params = strdup((const char *)sqlite3_column_text(q->next, 1));
        found = *params != NULL ? 1 : -1;
    }
    sqlite3_reset(q->next);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return fail(q, "read");
    return found;
}

int edge_queue_delete(edge_queue *q, long long seq)
{
    int rc;
    sqlite3_bind_int64(q->del, 1, seq);
    rc = sqlite3_step(q->del);
    sqlite3_reset(q->del);
    if (rc != SQLITE_DONE)
        return fail(q, "delete");
    return sqlite3_changes(q->db) > 0;
}

int edge_queue_begin(edge_queue *q)
{
    return sqlite3_exec(q->db, "BEGIN;", NULL, NULL, NULL) == SQLITE_OK ? 0 : fail(q, "begin");
}

int edge_queue_commit(edge_queue *q)
{
    return sqlite3_exec(q->db, "COMMIT;", NULL, NULL, NULL) == SQLITE_OK ? 0 : fail(q, "commit");
}

long long edge_queue_depth(edge_queue *q)
{
    long long n = -1;
    if (sqlite3_step(q->depth) == SQLITE_ROW)
        n = sqlite3_column_int64(q->depth, 0);
    sqlite3_reset(q->depth);
    return n;
}
