/* edgekey hub: products, devices, nonces, telemetry, audit and counters in
 * the PostgreSQL registry. Inserts that may meet an existing row use
 * ON CONFLICT DO NOTHING and count the rows: a failed statement would abort
 * the caller's whole transaction, where SQLite goes on. */
#include <string.h>
#include "hub_util.h"
#include "registry_pg.h"

static const pg_stmt q_product_add = {
    "product_add",
    "INSERT INTO products(product_key, product_secret, key_types, validity_days, "
    "dynamic_activation, created) VALUES($1,$2,$3,$4,$5,$6) ON CONFLICT DO NOTHING;",
};

int regpg_product_add(hub_registry *r, const hub_product *p)
{
    char b[4][24];
    const char *v[] = {p->pk,
                       p->secret,
                       regpg_i64(b[0], p->key_types),
                       regpg_i64(b[1], p->validity_days),
                       regpg_i64(b[2], p->dynamic_activation),
                       regpg_i64(b[3], hub_now_s())};
    int changed = 0;
    if (regpg_cmd(r, &q_product_add, 6, v, &changed) != 0)
        return -1;
    return changed == 1 ? 0 : 1;
}

#define PRODUCT_COLS                                                                               \
    "product_key, product_secret, key_types, validity_days, dynamic_activation, created"

static void product_row(const PGresult *res, int i, hub_product *p)
{
    memset(p, 0, sizeof(*p));
    regpg_text(res, i, 0, p->pk, sizeof(p->pk));
    regpg_text(res, i, 1, p->secret, sizeof(p->secret));
    p->key_types = (unsigned)regpg_int(res, i, 2);
    p->validity_days = (int)regpg_int(res, i, 3);
    p->dynamic_activation = regpg_int(res, i, 4) != 0;
    p->created = regpg_int(res, i, 5);
}

static const pg_stmt q_product_get = {
    "product_get",
    "SELECT " PRODUCT_COLS " FROM products WHERE product_key=$1;",
};

int regpg_product_get(hub_registry *r, const char *pk, hub_product *out)
{
    PGresult *res = regpg_run(r, &q_product_get, 1, &pk);
    if (!res)
        return -1;
    int found = PQntuples(res) == 1;
    if (found)
        product_row(res, 0, out);
    PQclear(res);
    return found ? 0 : 1;
}

static const pg_stmt q_product_list = {
    "product_list",
    "SELECT " PRODUCT_COLS " FROM products ORDER BY product_key;",
};

int regpg_product_list(hub_registry *r, reg_product_cb cb, void *arg)
{
    PGresult *res = regpg_run(r, &q_product_list, 0, NULL);
    if (!res)
        return -1;
    hub_product p;
    for (int i = 0; i < PQntuples(res); i++) {
        product_row(res, i, &p);
        if (cb(&p, arg) != 0)
            break;
    }
    memset(&p, 0, sizeof(p));
    PQclear(res);
    return 0;
}

/* ---- devices ---- */

static const pg_stmt q_device_add = {
    "device_add",
    "INSERT INTO devices(device_key, product_key, state, created) VALUES($1,$2,0,$3) "
    "ON CONFLICT DO NOTHING;",
};

int regpg_device_add(hub_registry *r, const char *pk, const char *dk)
{
    char b[24];
    const char *v[] = {dk, pk, regpg_i64(b, hub_now_s())};
    int changed = 0;
    if (regpg_cmd(r, &q_device_add, 3, v, &changed) != 0)
        return -1;
    return changed == 1 ? 0 : 1;
}

#define DEVICE_COLS                                                                                \
    "product_key, device_key, device_secret, state, asset_id, created, COALESCE(activated, 0)"

static void device_row(const PGresult *res, int i, hub_device *d)
{
    memset(d, 0, sizeof(*d));
    regpg_text(res, i, 0, d->pk, sizeof(d->pk));
    regpg_text(res, i, 1, d->dk, sizeof(d->dk));
    regpg_text(res, i, 2, d->secret, sizeof(d->secret));
    d->state = (int)regpg_int(res, i, 3);
    regpg_text(res, i, 4, d->asset_id, sizeof(d->asset_id));
    d->created = regpg_int(res, i, 5);
    d->activated = regpg_int(res, i, 6);
}

static const pg_stmt q_device_get = {
    "device_get",
    "SELECT " DEVICE_COLS " FROM devices WHERE device_key=$1;",
};

int regpg_device_get(hub_registry *r, const char *dk, hub_device *out)
{
    PGresult *res = regpg_run(r, &q_device_get, 1, &dk);
    if (!res)
        return -1;
    int found = PQntuples(res) == 1;
    if (found)
        device_row(res, 0, out);
    PQclear(res);
    return found ? 0 : 1;
}

/* Read committed: a second node's UPDATE of the same row waits for the
 * first to commit, then re-checks state=0 on the new row and changes
 * nothing; so an activation is accepted once. */
static const pg_stmt q_device_activate = {
    "device_activate",
    "UPDATE devices SET state=1, device_secret=$1, asset_id=$2, activated=$3 "
    "WHERE device_key=$4 AND product_key=$5 AND state=0;",
};

int regpg_device_activate(hub_registry *r, const char *pk, const char *dk, const char *secret,
                          const char *asset_id)
{
    char b[24];
    const char *v[] = {secret, asset_id, regpg_i64(b, hub_now_s()), dk, pk};
    int changed = 0;
    if (regpg_cmd(r, &q_device_activate, 5, v, &changed) != 0)
        return -1;
    return changed == 1 ? 0 : 1;
}

static const pg_stmt q_device_state = {
    "device_state",
    "UPDATE devices SET state=$1 WHERE device_key=$2;",
};

int regpg_device_set_state(hub_registry *r, const char *dk, int state)
{
    char b[24];
    const char *v[] = {regpg_i64(b, state), dk};
    int changed = 0;
    if (regpg_cmd(r, &q_device_state, 2, v, &changed) != 0)
        return -1;
    return changed == 1 ? 0 : 1;
}

static const pg_stmt q_device_list = {
    "device_list",
    "SELECT " DEVICE_COLS " FROM devices WHERE ($1 = '' OR product_key = $1) "
    "ORDER BY created, device_key;",
};

int regpg_device_list(hub_registry *r, const char *pk, reg_device_cb cb, void *arg)
{
    const char *v[] = {pk ? pk : ""};
    PGresult *res = regpg_run(r, &q_device_list, 1, v);
    if (!res)
        return -1;
    hub_device d;
    for (int i = 0; i < PQntuples(res); i++) {
        device_row(res, i, &d);
        if (cb(&d, arg) != 0)
            break;
    }
    memset(&d, 0, sizeof(d));
    PQclear(res);
    return 0;
}

/* ---- nonces, telemetry, audit, counters ---- */

static const pg_stmt q_nonce_sweep = {
    "nonce_sweep",
    "DELETE FROM nonces WHERE expires < $1;",
};
/* The primary key is the replay guard: a second node inserting the same
 * nonce waits for the first transaction and then conflicts (a replay), or
 * succeeds if the first rolled back (it was never used). */
static const pg_stmt q_nonce_add = {
    "nonce_add",
    "INSERT INTO nonces(nonce, expires) VALUES($1,$2) ON CONFLICT DO NOTHING;",
};

int regpg_nonce_use(hub_registry *r, const char *nonce, int64_t expires_s)
{
    char b1[24], b2[24];
    const char *now[] = {regpg_i64(b1, hub_now_s())};
    const char *v[] = {nonce, regpg_i64(b2, expires_s)};
    int changed = 0;
    if (regpg_cmd(r, &q_nonce_sweep, 1, now, NULL) != 0 ||
        regpg_cmd(r, &q_nonce_add, 2, v, &changed) != 0)
        return -1;
    return changed == 1 ? 0 : 1;
}

static const pg_stmt q_telemetry_put = {
    "telemetry_put",
    "INSERT INTO telemetry(device_key, product_key, point, value, ts, received) "
    "VALUES($1,$2,$3,$4,$5,$6) ON CONFLICT(device_key, point) DO UPDATE SET "
    "value=excluded.value, ts=excluded.ts, received=excluded.received "
    "WHERE excluded.ts >= telemetry.ts;",
};

int regpg_telemetry_put(hub_registry *r, const char *pk, const char *dk, const char *point,
                        const char *value_json, int64_t ts_ms)
{
    char b1[24], b2[24];
    const char *v[] = {
        dk, pk, point, value_json, regpg_i64(b1, ts_ms), regpg_i64(b2, hub_now_ms())};
    return regpg_cmd(r, &q_telemetry_put, 6, v, NULL);
}

static const pg_stmt q_telemetry_get = {
    "telemetry_get",
    "SELECT point, value, ts FROM telemetry WHERE device_key=$1 ORDER BY point;",
};

int regpg_telemetry_get(hub_registry *r, const char *dk, reg_telemetry_cb cb, void *arg)
{
    PGresult *res = regpg_run(r, &q_telemetry_get, 1, &dk);
    if (!res)
        return -1;
    for (int i = 0; i < PQntuples(res); i++)
        if (cb(PQgetvalue(res, i, 0), PQgetvalue(res, i, 1), regpg_int(res, i, 2), arg) != 0)
            break;
    PQclear(res);
    return 0;
}

static const pg_stmt q_telemetry_msg = {
    "telemetry_msg",
    "INSERT INTO telemetry_msgs(product_key, device_key, msg_id, received) "
    "VALUES($1,$2,$3,$4) ON CONFLICT(product_key, device_key, msg_id) DO UPDATE SET "
    "duplicates = telemetry_msgs.duplicates + 1 RETURNING duplicates;",
};

int regpg_telemetry_msg(hub_registry *r, const char *pk, const char *dk, const char *msg_id)
{
    char b[24];
    const char *v[] = {pk, dk, msg_id, regpg_i64(b, hub_now_ms())};
    PGresult *res = regpg_run(r, &q_telemetry_msg, 4, v);
    if (!res)
        return -1;
    int dup = PQntuples(res) == 1 && regpg_int(res, 0, 0) > 0;
    PQclear(res);
    return dup;
}

static const pg_stmt q_telemetry_sweep = {
    "telemetry_sweep",
    "DELETE FROM telemetry_msgs WHERE received < $1;",
};

int regpg_telemetry_msg_sweep(hub_registry *r, int64_t before_ms, int *n)
{
    char b[24];
    const char *v[] = {regpg_i64(b, before_ms)};
    int changed = 0;
    int rc = regpg_cmd(r, &q_telemetry_sweep, 1, v, &changed);
    if (n)
        *n = changed;
    return rc;
}

static const pg_stmt q_audit = {
    "audit",
    "INSERT INTO audit(ts, actor, action, object, detail) VALUES($1,$2,$3,$4,$5);",
};

int regpg_audit(hub_registry *r, const char *actor, const char *action, const char *object,
                const char *detail)
{
    char b[24];
    const char *v[] = {regpg_i64(b, hub_now_ms()), actor ? actor : "", action ? action : "",
                       object ? object : "", detail ? detail : ""};
    return regpg_cmd(r, &q_audit, 5, v, NULL);
}

/* The upsert locks the counter's row until the transaction ends: two nodes
 * never get one value (CRL numbers stay increasing per issuer). */
static const pg_stmt q_counter = {
    "counter_next",
    "INSERT INTO counters(name, value) VALUES($1, 1) ON CONFLICT(name) DO UPDATE SET "
    "value = counters.value + 1 RETURNING value;",
};

int regpg_counter_next(hub_registry *r, const char *name, int64_t *value)
{
    PGresult *res = regpg_run(r, &q_counter, 1, &name);
    if (!res)
        return -1;
    *value = regpg_int(res, 0, 0);
    PQclear(res);
    return 0;
}
