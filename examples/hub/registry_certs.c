/* edgekey hub: certificates and serial numbers in the SQLite registry. */
#include <stdlib.h>
#include <string.h>
#include "hub_util.h"
#include "registry_pg.h"

int reg_serial_next(hub_registry *r, uint64_t *id)
{
    REG_PG(r, serial_next(r, id));
    sqlite3_stmt *st = reg_prep(r, "INSERT INTO serials(issued) VALUES(?) RETURNING id;");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, hub_now_s());
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *id = (uint64_t)sqlite3_column_int64(st, 0);
    return reg_done(r, st, rc, "serial allocation");
}

int reg_cert_add(hub_registry *r, const hub_cert *c)
{
    REG_PG(r, cert_add(r, c));
    sqlite3_stmt *st = reg_prep(r, "INSERT INTO certificates(serial, product_key, device_key, "
                                   "kind, pem, not_before, not_after, state, created, issuer) "
                                   "VALUES(?,?,?,?,?,?,?,?,?,?);");
    if (!st)
        return -1;
    reg_bind_text(st, 1, c->serial);
    reg_bind_text(st, 2, c->pk);
    reg_bind_text(st, 3, c->dk);
    sqlite3_bind_int(st, 4, c->kind);
    reg_bind_text(st, 5, c->pem);
    sqlite3_bind_int64(st, 6, c->not_before);
    sqlite3_bind_int64(st, 7, c->not_after);
    sqlite3_bind_int(st, 8, c->state);
    sqlite3_bind_int64(st, 9, hub_now_s());
    reg_bind_text(st, 10, c->issuer);
    return reg_done(r, st, sqlite3_step(st), "certificate insert");
}

#define CERT_COLS                                                                                  \
    "serial, product_key, device_key, kind, not_before, not_after, state, "                        \
    "reason, revoked_at, superseded_at, rev_seq, created, pem, issuer"

static int cert_row(sqlite3_stmt *st, hub_cert *c, bool with_pem)
{
    memset(c, 0, sizeof(*c));
    reg_col_text(st, 0, c->serial, sizeof(c->serial));
    reg_col_text(st, 1, c->pk, sizeof(c->pk));
    reg_col_text(st, 2, c->dk, sizeof(c->dk));
    c->kind = sqlite3_column_int(st, 3);
    c->not_before = sqlite3_column_int64(st, 4);
    c->not_after = sqlite3_column_int64(st, 5);
    c->state = sqlite3_column_int(st, 6);
    c->reason = sqlite3_column_int(st, 7);
    c->revoked_at = sqlite3_column_int64(st, 8);
    c->superseded_at = sqlite3_column_int64(st, 9);
    c->rev_seq = sqlite3_column_int64(st, 10);
    c->created = sqlite3_column_int64(st, 11);
    reg_col_text(st, 13, c->issuer, sizeof(c->issuer));
    if (with_pem) {
        const unsigned char *p = sqlite3_column_text(st, 12);
        c->pem = strdup(p ? (const char *)p : "");
        if (!c->pem)
            return hub_fail("registry: out of memory");
    }
    return 0;
}

void reg_cert_clear(hub_cert *c)
{
    free(c->pem);
    c->pem = NULL;
}

int reg_cert_get(hub_registry *r, const char *serial, hub_cert *out)
{
    REG_PG(r, cert_get(r, serial, out));
    sqlite3_stmt *st = reg_prep(r, "SELECT " CERT_COLS " FROM certificates WHERE serial=?;");
    if (!st)
        return -1;
    reg_bind_text(st, 1, serial);
    int rc = sqlite3_step(st);
    int found = rc == SQLITE_ROW;
    if (found && cert_row(st, out, true) != 0) {
        reg_done(r, st, SQLITE_DONE, "");
        return -1;
    }
    if (reg_done(r, st, rc, "certificate lookup") != 0)
        return -1;
    return found ? 0 : 1;
}

static int cert_loop(hub_registry *r, sqlite3_stmt *st, bool with_pem, reg_cert_cb cb, void *arg,
                     const char *what)
{
    int rc;
    hub_cert c;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (cert_row(st, &c, with_pem) != 0) {
            reg_done(r, st, SQLITE_DONE, "");
            return -1;
        }
        int stop = cb(&c, arg);
        reg_cert_clear(&c);
        if (stop)
            break;
    }
    return reg_done(r, st, rc, what);
}

int reg_cert_list(hub_registry *r, const char *dk, bool with_pem, reg_cert_cb cb, void *arg)
{
    REG_PG(r, cert_list(r, dk, with_pem, cb, arg));
    sqlite3_stmt *st = reg_prep(r, "SELECT " CERT_COLS " FROM certificates "
                                   "WHERE (?1 = '' OR device_key = ?1) ORDER BY created, rowid;");
    if (!st)
        return -1;
    reg_bind_text(st, 1, dk ? dk : "");
    return cert_loop(r, st, with_pem, cb, arg, "certificate list");
}

int reg_cert_supersede_device(hub_registry *r, const char *dk, const char *except_serial, int *n)
{
    REG_PG(r, cert_supersede_device(r, dk, except_serial, n));
    sqlite3_stmt *st = reg_prep(r, "UPDATE certificates SET state=1, superseded_at=? "
                                   "WHERE device_key=? AND kind=0 AND state=0 AND serial<>?;");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, hub_now_s());
    reg_bind_text(st, 2, dk);
    reg_bind_text(st, 3, except_serial ? except_serial : "");
    int rc = sqlite3_step(st);
    if (n)
        *n = sqlite3_changes(r->db);
    return reg_done(r, st, rc, "certificate supersede");
}

int64_t reg_cert_max_rev_seq(hub_registry *r)
{
    REG_PG(r, cert_max_rev_seq(r));
    sqlite3_stmt *st = reg_prep(r, "SELECT COALESCE(MAX(rev_seq), 0) FROM certificates;");
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : -1;
    return reg_done(r, st, rc, "revocation sequence") == 0 ? v : -1;
}

int reg_cert_revoke(hub_registry *r, const char *serial, int reason)
{
    REG_PG(r, cert_revoke(r, serial, reason));
    /* rev_seq orders revocations for the broker plugin's poll; the lock is
     * held, and the statement is one atomic UPDATE. */
    sqlite3_stmt *st =
        reg_prep(r, "UPDATE certificates SET state=2, reason=?, revoked_at=?, "
                    "rev_seq=(SELECT COALESCE(MAX(rev_seq), 0) + 1 FROM certificates) "
                    "WHERE serial=? AND state<>2;");
    if (!st)
        return -1;
    sqlite3_bind_int(st, 1, reason);
    sqlite3_bind_int64(st, 2, hub_now_s());
    reg_bind_text(st, 3, serial);
    int rc = sqlite3_step(st);
    int changed = sqlite3_changes(r->db);
    if (reg_done(r, st, rc, "certificate revocation") != 0)
        return -1;
    return changed == 1 ? 0 : 1;
}

int reg_cert_revoked_since(hub_registry *r, int64_t after, reg_cert_cb cb, void *arg)
{
    REG_PG(r, cert_revoked_since(r, after, cb, arg));
    sqlite3_stmt *st = reg_prep(r, "SELECT " CERT_COLS " FROM certificates "
                                   "WHERE rev_seq > ? ORDER BY rev_seq;");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, after);
    return cert_loop(r, st, false, cb, arg, "revocation poll");
}

typedef struct expire_ctx {
    char (*serials)[41];
    size_t n, cap;
} expire_ctx;

static int collect_serial(const hub_cert *c, void *arg)
{
    expire_ctx *e = arg;
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 16;
        void *p = realloc(e->serials, cap * sizeof(*e->serials));
        if (!p)
            return 1;
        e->serials = p;
        e->cap = cap;
    }
    memcpy(e->serials[e->n++], c->serial, sizeof(c->serial));
    return 0;
}

int reg_cert_expire_superseded(hub_registry *r, int64_t before_s, int *n)
{
    REG_PG(r, cert_expire_superseded(r, before_s, n));
    expire_ctx e = {0};
    sqlite3_stmt *st = reg_prep(r, "SELECT " CERT_COLS " FROM certificates "
                                   "WHERE state=1 AND superseded_at < ?;");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, before_s);
    int rc = cert_loop(r, st, false, collect_serial, &e, "superseded scan");
    int count = 0;
    for (size_t i = 0; rc == 0 && i < e.n; i++) {
        int v = reg_cert_revoke(r, e.serials[i], 4 /* superseded */);
        if (v < 0)
            rc = -1;
        else if (v == 0)
            count++;
    }
    free(e.serials);
    if (n)
        *n = count;
    return rc;
}
