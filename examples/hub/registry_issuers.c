/* edgekey hub: the fleet's issuing CAs (one per hub node) in the SQLite
 * registry; registry_pg_issuers.c is the PostgreSQL twin. */
#include <stdlib.h>
#include <string.h>
#include "hub_util.h"
#include "registry_pg.h"

int reg_issuer_put(hub_registry *r, const char *id, const char *cert_pem)
{
    REG_PG(r, issuer_put(r, id, cert_pem));
    sqlite3_stmt *st = reg_prep(r, "INSERT INTO issuers(id, cert_pem, updated) VALUES(?,?,?) "
                                   "ON CONFLICT(id) DO UPDATE SET cert_pem=excluded.cert_pem, "
                                   "updated=excluded.updated WHERE cert_pem<>excluded.cert_pem;");
    if (!st)
        return -1;
    reg_bind_text(st, 1, id);
    reg_bind_text(st, 2, cert_pem);
    sqlite3_bind_int64(st, 3, hub_now_ms());
    return reg_done(r, st, sqlite3_step(st), "issuer registration");
}

int reg_issuer_set_crl(hub_registry *r, const char *id, const char *crl_pem, int64_t rev_seq)
{
    REG_PG(r, issuer_set_crl(r, id, crl_pem, rev_seq));
    sqlite3_stmt *st =
        reg_prep(r, "UPDATE issuers SET crl_pem=?, crl_rev_seq=?, updated=? WHERE id=?;");
    if (!st)
        return -1;
    reg_bind_text(st, 1, crl_pem);
    sqlite3_bind_int64(st, 2, rev_seq);
    sqlite3_bind_int64(st, 3, hub_now_ms());
    reg_bind_text(st, 4, id);
    int rc = sqlite3_step(st);
    int changed = sqlite3_changes(r->db);
    if (reg_done(r, st, rc, "issuer CRL") != 0)
        return -1;
    return changed == 1 ? 0 : 1;
}

int reg_issuer_list(hub_registry *r, reg_issuer_cb cb, void *arg)
{
    REG_PG(r, issuer_list(r, cb, arg));
    sqlite3_stmt *st = reg_prep(r, "SELECT id, cert_pem, crl_pem, crl_rev_seq, updated "
                                   "FROM issuers ORDER BY id;");
    if (!st)
        return -1;
    int rc;
    hub_issuer i;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        memset(&i, 0, sizeof(i));
        reg_col_text(st, 0, i.id, sizeof(i.id));
        i.cert_pem = (char *)sqlite3_column_text(st, 1);
        i.crl_pem = (char *)sqlite3_column_text(st, 2);
        i.crl_rev_seq = sqlite3_column_int64(st, 3);
        i.updated = sqlite3_column_int64(st, 4);
        if (cb(&i, arg) != 0)
            break;
    }
    return reg_done(r, st, rc, "issuer list");
}
