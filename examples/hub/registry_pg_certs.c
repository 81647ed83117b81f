/* edgekey hub: certificates and serial numbers in the PostgreSQL registry.
 * Concurrency between nodes (docs/scaling.md):
 * - serials come from an identity (a sequence): never twice;
 * - a device's certificates are superseded under a lock on its devices row,
 *   so two nodes renewing one device leave one active certificate;
 * - revocation numbers come from a counter row locked until commit, so they
 *   become visible in increasing order and the broker's "rev_seq > last"
 *   read never skips one committed later with a smaller number. */
#include <stdlib.h>
#include <string.h>
#include "hub_util.h"
#include "registry_pg.h"

static const pg_stmt q_serial = {
    "serial_next",
    "INSERT INTO serials(issued) VALUES($1) RETURNING id;",
};

int regpg_serial_next(hub_registry *r, uint64_t *id)
{
    char b[24];
    const char *v[] = {regpg_i64(b, hub_now_s())};
    PGresult *res = regpg_run(r, &q_serial, 1, v);
    if (!res)
        return -1;
    *id = (uint64_t)regpg_int(res, 0, 0);
    PQclear(res);
    return 0;
}

static const pg_stmt q_cert_add = {
    "cert_add",
    "INSERT INTO certificates(serial, product_key, device_key, kind, pem, not_before, "
    "not_after, state, created, issuer) VALUES($1,$2,$3,$4,$5,$6,$7,$8,$9,$10);",
};

int regpg_cert_add(hub_registry *r, const hub_cert *c)
{
    char b[5][24];
    const char *v[] = {c->serial,
                       c->pk,
                       c->dk,
                       regpg_i64(b[0], c->kind),
                       c->pem,
                       regpg_i64(b[1], c->not_before),
                       regpg_i64(b[2], c->not_after),
                       regpg_i64(b[3], c->state),
                       regpg_i64(b[4], hub_now_s()),
                       c->issuer};
    return regpg_cmd(r, &q_cert_add, 10, v, NULL);
}

#define CERT_COLS                                                                                  \
    "serial, product_key, device_key, kind, not_before, not_after, state, "                        \
    "reason, revoked_at, superseded_at, rev_seq, created, pem, issuer"

static int cert_row(const PGresult *res, int i, hub_cert *c, bool with_pem)
{
    memset(c, 0, sizeof(*c));
    regpg_text(res, i, 0, c->serial, sizeof(c->serial));
    regpg_text(res, i, 1, c->pk, sizeof(c->pk));
    regpg_text(res, i, 2, c->dk, sizeof(c->dk));
    c->kind = (int)regpg_int(res, i, 3);
    c->not_before = regpg_int(res, i, 4);
    c->not_after = regpg_int(res, i, 5);
    c->state = (int)regpg_int(res, i, 6);
    c->reason = (int)regpg_int(res, i, 7);
    c->revoked_at = regpg_int(res, i, 8);
    c->superseded_at = regpg_int(res, i, 9);
    c->rev_seq = regpg_int(res, i, 10);
    c->created = regpg_int(res, i, 11);
    regpg_text(res, i, 13, c->issuer, sizeof(c->issuer));
    if (with_pem && !(c->pem = strdup(PQgetvalue(res, i, 12))))
        return hub_fail("registry: out of memory");
    return 0;
}

static const pg_stmt q_cert_get = {
    "cert_get",
    "SELECT " CERT_COLS " FROM certificates WHERE serial=$1;",
};

int regpg_cert_get(hub_registry *r, const char *serial, hub_cert *out)
{
    PGresult *res = regpg_run(r, &q_cert_get, 1, &serial);
    if (!res)
        return -1;
    int found = PQntuples(res) == 1;
    int rc = found ? cert_row(res, 0, out, true) : 1;
    PQclear(res);
    return rc;
}

static int cert_loop(PGresult *res, bool with_pem, reg_cert_cb cb, void *arg)
{
    int rc = 0;
    hub_cert c;
    for (int i = 0; rc == 0 && i < PQntuples(res); i++) {
        if (cert_row(res, i, &c, with_pem) != 0) {
            rc = -1;
            break;
        }
        int stop = cb(&c, arg);
        free(c.pem);
        if (stop)
            break;
    }
    PQclear(res);
    return rc;
}

static const pg_stmt q_cert_list = {
    "cert_list",
    "SELECT " CERT_COLS " FROM certificates WHERE ($1 = '' OR device_key = $1) "
    "ORDER BY created, seq;",
};

int regpg_cert_list(hub_registry *r, const char *dk, bool with_pem, reg_cert_cb cb, void *arg)
{
    const char *v[] = {dk ? dk : ""};
    PGresult *res = regpg_run(r, &q_cert_list, 1, v);
    return res ? cert_loop(res, with_pem, cb, arg) : -1;
}

static const pg_stmt q_device_lock = {
    "device_lock",
    "SELECT 1 FROM devices WHERE device_key=$1 FOR UPDATE;",
};
static const pg_stmt q_supersede = {
    "cert_supersede",
    "UPDATE certificates SET state=1, superseded_at=$1 "
    "WHERE device_key=$2 AND kind=0 AND state=0 AND serial<>$3;",
};

static int supersede_locked(hub_registry *r, const char *dk, const char *except_serial, int *n)
{
    /* The UPDATE runs after the lock, with a fresh snapshot: it sees the
     * certificate another node's renewal committed meanwhile. */
    if (regpg_cmd(r, &q_device_lock, 1, &dk, NULL) != 0)
        return -1;
    char b[24];
    const char *v[] = {regpg_i64(b, hub_now_s()), dk, except_serial ? except_serial : ""};
    return regpg_cmd(r, &q_supersede, 3, v, n);
}

int regpg_cert_supersede_device(hub_registry *r, const char *dk, const char *except_serial, int *n)
{
    int changed = 0;
    bool own;
    if (regpg_enter(r, &own) != 0)
        return -1;
    int rc = supersede_locked(r, dk, except_serial, &changed);
    if (n)
        *n = changed;
    return regpg_leave(r, own, rc);
}

static const pg_stmt q_rev_max = {
    "rev_max",
    "SELECT COALESCE(MAX(rev_seq), 0) FROM certificates;",
};

int64_t regpg_cert_max_rev_seq(hub_registry *r)
{
    PGresult *res = regpg_run(r, &q_rev_max, 0, NULL);
    if (!res)
        return -1;
    int64_t v = regpg_int(res, 0, 0);
    PQclear(res);
    return v;
}

static const pg_stmt q_rev_lock = {
    "rev_lock",
    "SELECT state FROM certificates WHERE serial=$1 FOR UPDATE;",
};
static const pg_stmt q_rev_next = {
    "rev_next",
    "INSERT INTO counters(name, value) "
    "SELECT 'rev_seq', COALESCE(MAX(rev_seq), 0) + 1 FROM certificates "
    "ON CONFLICT(name) DO UPDATE SET value = counters.value + 1 RETURNING value;",
};
static const pg_stmt q_revoke = {
    "cert_revoke",
    "UPDATE certificates SET state=2, reason=$1, revoked_at=$2, rev_seq=$3 WHERE serial=$4;",
};

/* Delivered to the listeners (broker plugins) when the transaction commits. */
static const pg_stmt q_rev_notify = {
    "rev_notify",
    "SELECT pg_notify('" REGPG_REV_CHANNEL "', $1);",
};

static int revoke_locked(hub_registry *r, const char *serial, int reason)
{
    PGresult *res = regpg_run(r, &q_rev_lock, 1, &serial);
    if (!res)
        return -1;
    int revocable = PQntuples(res) == 1 && regpg_int(res, 0, 0) != HUB_CERT_REVOKED;
    PQclear(res);
    if (!revocable)
        return 1;
    if (!(res = regpg_run(r, &q_rev_next, 0, NULL)))
        return -1;
    char b[3][24];
    const char *v[] = {regpg_i64(b[0], reason), regpg_i64(b[1], hub_now_s()),
                       regpg_i64(b[2], regpg_int(res, 0, 0)), serial};
    PQclear(res);
    if (regpg_cmd(r, &q_revoke, 4, v, NULL) != 0)
        return -1;
    return regpg_cmd(r, &q_rev_notify, 1, &v[2], NULL);
}

int regpg_cert_revoke(hub_registry *r, const char *serial, int reason)
{
    bool own;
    if (regpg_enter(r, &own) != 0)
        return -1;
    return regpg_leave(r, own, revoke_locked(r, serial, reason));
}

static const pg_stmt q_rev_since = {
    "rev_since",
    "SELECT " CERT_COLS " FROM certificates WHERE rev_seq > $1 ORDER BY rev_seq;",
};

int regpg_cert_revoked_since(hub_registry *r, int64_t after, reg_cert_cb cb, void *arg)
{
    char b[24];
    const char *v[] = {regpg_i64(b, after)};
    PGresult *res = regpg_run(r, &q_rev_since, 1, v);
    return res ? cert_loop(res, false, cb, arg) : -1;
}

static const pg_stmt q_superseded_old = {
    "cert_superseded_old",
    "SELECT serial FROM certificates WHERE state=1 AND superseded_at < $1 ORDER BY seq;",
};

int regpg_cert_expire_superseded(hub_registry *r, int64_t before_s, int *n)
{
    char b[24];
    const char *v[] = {regpg_i64(b, before_s)};
    bool own;
    int count = 0;
    if (regpg_enter(r, &own) != 0)
        return -1;
    PGresult *res = regpg_run(r, &q_superseded_old, 1, v);
    int rc = res ? 0 : -1;
    for (int i = 0; res && rc == 0 && i < PQntuples(res); i++) {
        int x = revoke_locked(r, PQgetvalue(res, i, 0), 4 /* superseded */);
        if (x < 0)
            rc = -1;
        else if (x == 0)
            count++;
    }
    PQclear(res);
    if (n)
        *n = count;
    return regpg_leave(r, own, rc);
}
