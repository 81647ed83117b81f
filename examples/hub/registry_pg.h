/* edgekey hub: the PostgreSQL registry backend (libpq), internal.
 *
 * reg_open() picks it for "postgresql://..." / "postgres://..." URLs and
 * for libpq "key=value ..." conninfo strings; every public reg_* function
 * of the SQLite files forwards here when r->pg is set. One connection per
 * handle, guarded by the handle's recursive lock (as for SQLite), so a
 * transaction opened by reg_begin() owns the connection until it ends.
 *
 * Statements are named, prepared once per connection and run with bound
 * text parameters (registry_pg.c). After a lost connection the next call
 * outside a transaction reconnects; a call inside one fails, and
 * reg_unavailable() tells the caller to answer 503. */
#ifndef HUB_REGISTRY_PG_H
#define HUB_REGISTRY_PG_H

#include <libpq-fe.h>
#include "registry_int.h"

/* NOTIFY'ed (payload: the rev_seq) by every revocation, at its commit. */
#define REGPG_REV_CHANNEL "edgekey_revocations"

typedef struct pg_stmt {
    const char *name; /* unique per statement: the prepared name */
    const char *sql;
} pg_stmt;

/* True when url names a PostgreSQL database rather than a SQLite file. */
bool regpg_is_url(const char *url);
int regpg_open(hub_registry *r, const char *url, bool readonly);
void regpg_close(hub_registry *r);

/* Run st with n text parameters (NULL binds as ''). Returns the result
 * (PQclear it) or NULL with hub_err() set. Locks r for the call. */
PGresult *regpg_run(hub_registry *r, const pg_stmt *st, int n, const char *const *vals);
/* regpg_run for commands: rows affected in *changed (may be NULL). */
int regpg_cmd(hub_registry *r, const pg_stmt *st, int n, const char *const *vals, int *changed);
/* Run a parameterless statement list outside the prepared set (DDL,
 * BEGIN/COMMIT); locks r for the call. */
int regpg_simple(hub_registry *r, const char *sql);
int64_t regpg_int(const PGresult *res, int row, int col);
void regpg_text(const PGresult *res, int row, int col, char *out, size_t outsize);
/* Format v into buf (at least 24 bytes) and return buf, for parameters. */
const char *regpg_i64(char *buf, int64_t v);
/* Open a transaction unless one is open: *own says whether to end it. */
int regpg_enter(hub_registry *r, bool *own);
int regpg_leave(hub_registry *r, bool own, int rc);

int regpg_migrate(hub_registry *r, bool readonly);
int regpg_schema_version(hub_registry *r);
int regpg_schema_latest(void);
int regpg_set_durability(hub_registry *r, bool full);
int regpg_begin(hub_registry *r);
int regpg_commit(hub_registry *r);
void regpg_rollback(hub_registry *r);

int regpg_product_add(hub_registry *r, const hub_product *p);
int regpg_product_get(hub_registry *r, const char *pk, hub_product *out);
int regpg_product_list(hub_registry *r, reg_product_cb cb, void *arg);
int regpg_device_add(hub_registry *r, const char *pk, const char *dk);
int regpg_device_get(hub_registry *r, const char *dk, hub_device *out);
int regpg_device_activate(hub_registry *r, const char *pk, const char *dk, const char *secret,
                          const char *asset_id);
int regpg_device_set_state(hub_registry *r, const char *dk, int state);
int regpg_device_list(hub_registry *r, const char *pk, reg_device_cb cb, void *arg);
int regpg_nonce_use(hub_registry *r, const char *nonce, int64_t expires_s);
int regpg_telemetry_put(hub_registry *r, const char *pk, const char *dk, const char *point,
                        const char *value_json, int64_t ts_ms);
int regpg_telemetry_get(hub_registry *r, const char *dk, reg_telemetry_cb cb, void *arg);
int regpg_telemetry_msg(hub_registry *r, const char *pk, const char *dk, const char *msg_id);
int regpg_telemetry_msg_sweep(hub_registry *r, int64_t before_ms, int *n);
int regpg_audit(hub_registry *r, const char *actor, const char *action, const char *object,
                const char *detail);
int regpg_counter_next(hub_registry *r, const char *name, int64_t *value);

int regpg_issuer_put(hub_registry *r, const char *id, const char *cert_pem);
int regpg_issuer_set_crl(hub_registry *r, const char *id, const char *crl_pem, int64_t rev_seq);
int regpg_issuer_list(hub_registry *r, reg_issuer_cb cb, void *arg);

int regpg_product_attest_set(hub_registry *r, const char *pk, int mode);
int regpg_product_attest_get(hub_registry *r, const char *pk, int *mode);
int regpg_device_ek_get(hub_registry *r, const char *dk, char *ek_hash, bool *attested);
int regpg_ek_owner(hub_registry *r, const char *ek_hash, char *dk);
int regpg_device_ek_set(hub_registry *r, const char *dk, const char *ek_hash, bool attested);
int regpg_challenge_put(hub_registry *r, const hub_challenge *c);
int regpg_challenge_take(hub_registry *r, const char *id, hub_challenge *out);

int regpg_serial_next(hub_registry *r, uint64_t *id);
int regpg_cert_add(hub_registry *r, const hub_cert *c);
int regpg_cert_get(hub_registry *r, const char *serial, hub_cert *out);
int regpg_cert_list(hub_registry *r, const char *dk, bool with_pem, reg_cert_cb cb, void *arg);
int regpg_cert_supersede_device(hub_registry *r, const char *dk, const char *except_serial, int *n);
int regpg_cert_revoke(hub_registry *r, const char *serial, int reason);
int regpg_cert_revoked_since(hub_registry *r, int64_t after, reg_cert_cb cb, void *arg);
int64_t regpg_cert_max_rev_seq(hub_registry *r);
int regpg_cert_expire_superseded(hub_registry *r, int64_t before_s, int *n);

#endif
