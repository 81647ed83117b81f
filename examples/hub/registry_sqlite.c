/* edgekey hub: the SQLite registry backend (connection, transactions,
 * products, devices, nonces, telemetry, audit, counters). Certificates are in
 * registry_certs.c. Every statement is prepared and bound: values are stored
 * verbatim whatever characters they hold. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hub_util.h"
#include "registry_pg.h"

sqlite3_stmt *reg_prep(hub_registry *r, const char *sql)
{
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&r->lock);
    if (sqlite3_prepare_v2(r->db, sql, -1, &st, NULL) != SQLITE_OK) {
        hub_fail("registry: cannot prepare statement: %s", sqlite3_errmsg(r->db));
        pthread_mutex_unlock(&r->lock);
        return NULL;
    }
    return st;
}

int reg_done(hub_registry *r, sqlite3_stmt *st, int rc, const char *what)
{
    int ok = rc == SQLITE_DONE || rc == SQLITE_ROW || rc == SQLITE_OK;
    if (!ok)
        hub_fail("registry: %s failed: %s", what, sqlite3_errmsg(r->db));
    sqlite3_finalize(st);
    pthread_mutex_unlock(&r->lock);
    return ok ? 0 : -1;
}

void reg_bind_text(sqlite3_stmt *st, int idx, const char *s)
{
    sqlite3_bind_text(st, idx, s ? s : "", -1, SQLITE_TRANSIENT);
}

void reg_col_text(sqlite3_stmt *st, int col, char *out, size_t outsize)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    snprintf(out, outsize, "%s", t ? (const char *)t : "");
}

static int exec_simple(hub_registry *r, const char *sql)
{
    char *msg = NULL;
    if (sqlite3_exec(r->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        hub_fail("registry: %s: %s", sql, msg ? msg : sqlite3_errmsg(r->db));
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static hub_registry *reg_new(bool readonly)
{
    hub_registry *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    pthread_mutexattr_t a;
    pthread_mutexattr_init(&a);
    pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE);
    pthread_mutex_init(&r->lock, &a);
    pthread_mutexattr_destroy(&a);
    r->readonly = readonly;
    return r;
}

static int open_pg(const char *url, bool readonly, hub_registry **out)
{
    hub_registry *r = reg_new(readonly);
    if (!r)
        return hub_fail("registry: out of memory");
    if (regpg_open(r, url, readonly) != 0) {
        reg_close(r);
        return -1;
    }
    *out = r;
    return 0;
}

int reg_open(const char *url, bool readonly, hub_registry **out)
{
    const char *path = url;
    if (regpg_is_url(url))
        return open_pg(url, readonly, out);
    if (strncmp(url, "sqlite:", 7) == 0)
        path = url + 7;
    else if (strstr(url, "://"))
        return hub_fail("registry '%s': unknown URL scheme; use sqlite:/path/hub.db or "
                        "postgresql://user@host/dbname (or a libpq 'host=... dbname=...')",
                        url);
    hub_registry *r = reg_new(readonly);
    if (!r)
        return hub_fail("registry: out of memory");
    int flags = SQLITE_OPEN_FULLMUTEX |
                (readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    if (sqlite3_open_v2(path, &r->db, flags, NULL) != SQLITE_OK) {
        hub_fail("registry %s: cannot open: %s%s", path, r->db ? sqlite3_errmsg(r->db) : "?",
                 readonly ? " (run 'edgekey-hub init' first)" : "");
        reg_close(r);
        return -1;
    }
    sqlite3_busy_timeout(r->db, 10000);
    /* WAL: the broker plugin reads while the hub writes. synchronous=FULL:
     * a reply is sent only after its transaction is on disk (kill -9 safe). */
    if ((!readonly && exec_simple(r, "PRAGMA journal_mode=WAL;") != 0) ||
        exec_simple(r, "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;") != 0 ||
        (!readonly && reg_migrate(r) != 0)) {
        reg_close(r);
        return -1;
    }
    *out = r;
    return 0;
}

int reg_set_durability(hub_registry *r, bool full)
{
    REG_PG(r, set_durability(r, full));
    return exec_simple(r, full ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;");
}

void reg_close(hub_registry *r)
{
    if (!r)
        return;
    regpg_close(r);
    sqlite3_close_v2(r->db);
    pthread_mutex_destroy(&r->lock);
    free(r);
}

int reg_schema_version(hub_registry *r)
{
    REG_PG(r, schema_version(r));
    sqlite3_stmt *st = reg_prep(r, "PRAGMA user_version;");
    if (!st)
        return -1;
    int rc = sqlite3_step(st);
    int v = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
    return reg_done(r, st, rc, "schema version") == 0 ? v : -1;
}

int reg_begin(hub_registry *r)
{
    REG_PG(r, begin(r));
    pthread_mutex_lock(&r->lock);
    if (exec_simple(r, "BEGIN IMMEDIATE;") != 0) {
        pthread_mutex_unlock(&r->lock);
        return -1;
    }
    return 0;
}

int reg_commit(hub_registry *r)
{
    REG_PG(r, commit(r));
    int rc = exec_simple(r, "COMMIT;");
    if (rc != 0)
        exec_simple(r, "ROLLBACK;");
    pthread_mutex_unlock(&r->lock);
    return rc;
}

void reg_rollback(hub_registry *r)
{
    if (r->pg) {
        regpg_rollback(r);
        return;
    }
    exec_simple(r, "ROLLBACK;");
    pthread_mutex_unlock(&r->lock);
}

/* ---- products ---- */

int reg_product_add(hub_registry *r, const hub_product *p)
{
    REG_PG(r, product_add(r, p));
    sqlite3_stmt *st = reg_prep(r, "INSERT INTO products(product_key, product_secret, "
                                   "key_types, validity_days, dynamic_activation, created) "
                                   "VALUES(?,?,?,?,?,?);");
    if (!st)
        return -1;
    reg_bind_text(st, 1, p->pk);
    reg_bind_text(st, 2, p->secret);
    sqlite3_bind_int(st, 3, (int)p->key_types);
    sqlite3_bind_int(st, 4, p->validity_days);
    sqlite3_bind_int(st, 5, p->dynamic_activation);
    sqlite3_bind_int64(st, 6, hub_now_s());
    int rc = sqlite3_step(st);
    if (rc == SQLITE_CONSTRAINT) {
        reg_done(r, st, SQLITE_DONE, "");
        return 1;
    }
    return reg_done(r, st, rc, "product insert");
}

static void product_row(sqlite3_stmt *st, hub_product *p)
{
    memset(p, 0, sizeof(*p));
    reg_col_text(st, 0, p->pk, sizeof(p->pk));
    reg_col_text(st, 1, p->secret, sizeof(p->secret));
    p->key_types = (unsigned)sqlite3_column_int(st, 2);
    p->validity_days = sqlite3_column_int(st, 3);
    p->dynamic_activation = sqlite3_column_int(st, 4) != 0;
    p->created = sqlite3_column_int64(st, 5);
}

#define PRODUCT_COLS                                                                               \
    "product_key, product_secret, key_types, validity_days, "                                      \
    "dynamic_activation, created"

int reg_product_get(hub_registry *r, const char *pk, hub_product *out)
{
    REG_PG(r, product_get(r, pk, out));
    sqlite3_stmt *st = reg_prep(r, "SELECT " PRODUCT_COLS " FROM products WHERE product_key=?;");
    if (!st)
        return -1;
    reg_bind_text(st, 1, pk);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        product_row(st, out);
    int found = rc == SQLITE_ROW;
    if (reg_done(r, st, rc, "product lookup") != 0)
        return -1;
    return found ? 0 : 1;
}

int reg_product_list(hub_registry *r, reg_product_cb cb, void *arg)
{
    REG_PG(r, product_list(r, cb, arg));
    sqlite3_stmt *st = reg_prep(r, "SELECT " PRODUCT_COLS " FROM products ORDER BY product_key;");
    if (!st)
        return -1;
    int rc;
    hub_product p;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        product_row(st, &p);
        if (cb(&p, arg) != 0)
            break;
    }
    return reg_done(r, st, rc, "product list");
}

/* ---- devices ---- */

int reg_device_add(hub_registry *r, const char *pk, const char *dk)
{
    REG_PG(r, device_add(r, pk, dk));
    sqlite3_stmt *st = reg_prep(r, "INSERT INTO devices(device_key, product_key, state, created) "
                                   "VALUES(?,?,0,?);");
    if (!st)
        return -1;
    reg_bind_text(st, 1, dk);
    reg_bind_text(st, 2, pk);
    sqlite3_bind_int64(st, 3, hub_now_s());
    int rc = sqlite3_step(st);
    if (rc == SQLITE_CONSTRAINT) {
        reg_done(r, st, SQLITE_DONE, "");
        return 1;
    }
    return reg_done(r, st, rc, "device insert");
}

#define DEVICE_COLS                                                                                \
    "product_key, device_key, device_secret, state, asset_id, created, "                           \
    "COALESCE(activated, 0)"

static void device_row(sqlite3_stmt *st, hub_device *d)
{
    memset(d, 0, sizeof(*d));
    reg_col_text(st, 0, d->pk, sizeof(d->pk));
    reg_col_text(st, 1, d->dk, sizeof(d->dk));
    reg_col_text(st, 2, d->secret, sizeof(d->secret));
    d->state = sqlite3_column_int(st, 3);
    reg_col_text(st, 4, d->asset_id, sizeof(d->asset_id));
    d->created = sqlite3_column_int64(st, 5);
    d->activated = sqlite3_column_int64(st, 6);
}

int reg_device_get(hub_registry *r, const char *dk, hub_device *out)
{
    REG_PG(r, device_get(r, dk, out));
    sqlite3_stmt *st = reg_prep(r, "SELECT " DEVICE_COLS " FROM devices WHERE device_key=?;");
    if (!st)
        return -1;
    reg_bind_text(st, 1, dk);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        device_row(st, out);
    int found = rc == SQLITE_ROW;
    if (reg_done(r, st, rc, "device lookup") != 0)
        return -1;
    return found ? 0 : 1;
}

int reg_device_activate(hub_registry *r, const char *pk, const char *dk, const char *secret,
                        const char *asset_id)
{
    REG_PG(r, device_activate(r, pk, dk, secret, asset_id));
    sqlite3_stmt *st = reg_prep(r, "UPDATE devices SET state=1, device_secret=?, asset_id=?, "
                                   "activated=? WHERE device_key=? AND product_key=? AND state=0;");
    if (!st)
        return -1;
    reg_bind_text(st, 1, secret);
    reg_bind_text(st, 2, asset_id);
    sqlite3_bind_int64(st, 3, hub_now_s());
    reg_bind_text(st, 4, dk);
    reg_bind_text(st, 5, pk);
    int rc = sqlite3_step(st);
    int changed = sqlite3_changes(r->db);
    if (reg_done(r, st, rc, "device activation") != 0)
        return -1;
    return changed == 1 ? 0 : 1;
}

int reg_device_set_state(hub_registry *r, const char *dk, int state)
{
    REG_PG(r, device_set_state(r, dk, state));
    sqlite3_stmt *st = reg_prep(r, "UPDATE devices SET state=? WHERE device_key=?;");
    if (!st)
        return -1;
    sqlite3_bind_int(st, 1, state);
    reg_bind_text(st, 2, dk);
    int rc = sqlite3_step(st);
    int changed = sqlite3_changes(r->db);
    if (reg_done(r, st, rc, "device state") != 0)
        return -1;
    return changed == 1 ? 0 : 1;
}

int reg_device_list(hub_registry *r, const char *pk, reg_device_cb cb, void *arg)
{
    REG_PG(r, device_list(r, pk, cb, arg));
    sqlite3_stmt *st =
        reg_prep(r, "SELECT " DEVICE_COLS " FROM devices "
                    "WHERE (?1 = '' OR product_key = ?1) ORDER BY created, device_key;");
    if (!st)
        return -1;
    reg_bind_text(st, 1, pk ? pk : "");
    int rc;
    hub_device d;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        device_row(st, &d);
        if (cb(&d, arg) != 0)
            break;
    }
    return reg_done(r, st, rc, "device list");
}

/* ---- nonces, telemetry, audit, counters ---- */

int reg_nonce_use(hub_registry *r, const char *nonce, int64_t expires_s)
{
    REG_PG(r, nonce_use(r, nonce, expires_s));
    sqlite3_stmt *st = reg_prep(r, "DELETE FROM nonces WHERE expires < ?;");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, hub_now_s());
    if (reg_done(r, st, sqlite3_step(st), "nonce sweep") != 0)
        return -1;
    st = reg_prep(r, "INSERT INTO nonces(nonce, expires) VALUES(?,?);");
    if (!st)
        return -1;
    reg_bind_text(st, 1, nonce);
    sqlite3_bind_int64(st, 2, expires_s);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_CONSTRAINT) {
        reg_done(r, st, SQLITE_DONE, "");
        return 1;
    }
    return reg_done(r, st, rc, "nonce insert");
}

int reg_telemetry_put(hub_registry *r, const char *pk, const char *dk, const char *point,
                      const char *value_json, int64_t ts_ms)
{
    REG_PG(r, telemetry_put(r, pk, dk, point, value_json, ts_ms));
    sqlite3_stmt *st =
        reg_prep(r, "INSERT INTO telemetry(device_key, product_key, point, value, "
                    "ts, received) VALUES(?,?,?,?,?,?) "
                    "ON CONFLICT(device_key, point) DO UPDATE SET "
                    "value=excluded.value, ts=excluded.ts, received=excluded.received "
                    "WHERE excluded.ts >= telemetry.ts;");
    if (!st)
        return -1;
    reg_bind_text(st, 1, dk);
    reg_bind_text(st, 2, pk);
    reg_bind_text(st, 3, point);
    reg_bind_text(st, 4, value_json);
    sqlite3_bind_int64(st, 5, ts_ms);
    sqlite3_bind_int64(st, 6, hub_now_ms());
    return reg_done(r, st, sqlite3_step(st), "telemetry upsert");
}

int reg_telemetry_get(hub_registry *r, const char *dk, reg_telemetry_cb cb, void *arg)
{
    REG_PG(r, telemetry_get(r, dk, cb, arg));
    sqlite3_stmt *st = reg_prep(r, "SELECT point, value, ts FROM telemetry WHERE device_key=? "
                                   "ORDER BY point;");
    if (!st)
        return -1;
    reg_bind_text(st, 1, dk);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (cb((const char *)sqlite3_column_text(st, 0), (const char *)sqlite3_column_text(st, 1),
               sqlite3_column_int64(st, 2), arg) != 0)
            break;
    }
    return reg_done(r, st, rc, "telemetry read");
}

int reg_telemetry_msg(hub_registry *r, const char *pk, const char *dk, const char *msg_id)
{
    REG_PG(r, telemetry_msg(r, pk, dk, msg_id));
    sqlite3_stmt *st = reg_prep(r, "INSERT INTO telemetry_msgs(product_key, device_key, msg_id, "
                                   "received) VALUES(?,?,?,?) "
                                   "ON CONFLICT(product_key, device_key, msg_id) DO UPDATE SET "
                                   "duplicates = duplicates + 1 RETURNING duplicates;");
    if (!st)
        return -1;
    reg_bind_text(st, 1, pk);
    reg_bind_text(st, 2, dk);
    reg_bind_text(st, 3, msg_id);
    sqlite3_bind_int64(st, 4, hub_now_ms());
    int rc = sqlite3_step(st);
    int dup = rc == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0;
    if (rc == SQLITE_ROW)
        rc = sqlite3_step(st); /* finish the statement */
    return reg_done(r, st, rc, "telemetry message id") != 0 ? -1 : dup;
}

int reg_telemetry_msg_sweep(hub_registry *r, int64_t before_ms, int *n)
{
    REG_PG(r, telemetry_msg_sweep(r, before_ms, n));
    sqlite3_stmt *st = reg_prep(r, "DELETE FROM telemetry_msgs WHERE received < ?;");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, before_ms);
    int rc = sqlite3_step(st);
    if (n)
        *n = sqlite3_changes(r->db);
    return reg_done(r, st, rc, "telemetry message id sweep");
}

int reg_audit(hub_registry *r, const char *actor, const char *action, const char *object,
              const char *detail)
{
    REG_PG(r, audit(r, actor, action, object, detail));
    sqlite3_stmt *st = reg_prep(r, "INSERT INTO audit(ts, actor, action, object, detail) "
                                   "VALUES(?,?,?,?,?);");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, hub_now_ms());
    reg_bind_text(st, 2, actor);
    reg_bind_text(st, 3, action);
    reg_bind_text(st, 4, object);
    reg_bind_text(st, 5, detail);
    return reg_done(r, st, sqlite3_step(st), "audit insert");
}

int reg_counter_next(hub_registry *r, const char *name, int64_t *value)
{
    REG_PG(r, counter_next(r, name, value));
    sqlite3_stmt *st = reg_prep(r, "INSERT INTO counters(name, value) VALUES(?, 1) "
                                   "ON CONFLICT(name) DO UPDATE SET value = value + 1 "
                                   "RETURNING value;");
    if (!st)
        return -1;
    reg_bind_text(st, 1, name);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *value = sqlite3_column_int64(st, 0);
    return reg_done(r, st, rc, "counter");
}
