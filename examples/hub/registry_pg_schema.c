/* edgekey hub: versioned schema migrations for the PostgreSQL registry.
 *
 * schema_migrations holds one row per applied version. The pending
 * migrations run in one transaction together with their rows (DDL is
 * transactional in PostgreSQL), under a transaction-level advisory lock, so
 * two nodes starting at once apply them once and a crash leaves the schema
 * at a whole version. Never edit a released migration:
 * append one. The tables mirror registry_schema.c (SQLite) with PostgreSQL
 * types; where they differ, the comment says why. */
#include <stdio.h>
#include "hub_util.h"
#include "registry_pg.h"

static const char *const migrations[] = {
    /* 1: the schema of SQLite's versions 1-3 */
    "CREATE TABLE products("
    " product_key TEXT PRIMARY KEY, product_secret TEXT NOT NULL,"
    " key_types INTEGER NOT NULL, validity_days INTEGER NOT NULL,"
    " dynamic_activation INTEGER NOT NULL, created BIGINT NOT NULL);"
    "CREATE TABLE devices("
    " device_key TEXT PRIMARY KEY,"
    " product_key TEXT NOT NULL REFERENCES products(product_key),"
    " device_secret TEXT NOT NULL DEFAULT '', state INTEGER NOT NULL,"
    " asset_id TEXT NOT NULL DEFAULT '', created BIGINT NOT NULL, activated BIGINT);"
    "CREATE INDEX devices_pk ON devices(product_key);"
    /* an identity is a sequence: never hands out a value twice, whichever
     * node asks and whether or not its transaction commits */
    "CREATE TABLE serials(id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " issued BIGINT NOT NULL);"
    /* seq: insertion order (SQLite's rowid) for listings */
    "CREATE TABLE certificates("
    " serial TEXT PRIMARY KEY, seq BIGINT GENERATED ALWAYS AS IDENTITY,"
    " product_key TEXT NOT NULL DEFAULT '',"
    " device_key TEXT NOT NULL, kind INTEGER NOT NULL, pem TEXT NOT NULL,"
    " not_before BIGINT NOT NULL, not_after BIGINT NOT NULL,"
    " state INTEGER NOT NULL, reason INTEGER NOT NULL DEFAULT -1,"
    " revoked_at BIGINT NOT NULL DEFAULT 0, superseded_at BIGINT NOT NULL DEFAULT 0,"
    " rev_seq BIGINT NOT NULL DEFAULT 0, created BIGINT NOT NULL);"
    "CREATE INDEX certs_device ON certificates(device_key);"
    /* the broker reads revocations by rev_seq: two with one number would
     * hide one of them, so the database refuses it */
    "CREATE UNIQUE INDEX certs_rev ON certificates(rev_seq) WHERE rev_seq > 0;"
    "CREATE TABLE telemetry("
    " device_key TEXT NOT NULL, product_key TEXT NOT NULL, point TEXT NOT NULL,"
    " value TEXT NOT NULL, ts BIGINT NOT NULL, received BIGINT NOT NULL,"
    " PRIMARY KEY(device_key, point));"
    "CREATE TABLE audit(id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
    " ts BIGINT NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,"
    " object TEXT NOT NULL, detail TEXT NOT NULL);"
    "CREATE TABLE nonces(nonce TEXT PRIMARY KEY, expires BIGINT NOT NULL);"
    "CREATE INDEX nonces_expires ON nonces(expires);"
    "CREATE TABLE counters(name TEXT PRIMARY KEY, value BIGINT NOT NULL);"
    "CREATE TABLE telemetry_msgs("
    " product_key TEXT NOT NULL, device_key TEXT NOT NULL, msg_id TEXT NOT NULL,"
    " received BIGINT NOT NULL, duplicates INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(product_key, device_key, msg_id));"
    "CREATE INDEX telemetry_msgs_received ON telemetry_msgs(received);",
    /* 2: SQLite's version 5: several issuing CAs (one per hub node) */
    "ALTER TABLE certificates ADD COLUMN issuer TEXT NOT NULL DEFAULT '';"
    "CREATE TABLE issuers(id TEXT PRIMARY KEY, cert_pem TEXT NOT NULL,"
    " crl_pem TEXT NOT NULL DEFAULT '', crl_rev_seq BIGINT NOT NULL DEFAULT 0,"
    " updated BIGINT NOT NULL);",
    /* 3: SQLite's version 4: key attestation (issue 13); the challenge's
     * binary fields as hex text (registry_pg_attest.c) */
    "ALTER TABLE products ADD COLUMN attestation INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE devices ADD COLUMN ek_hash TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE devices ADD COLUMN attested INTEGER NOT NULL DEFAULT 0;"
    "CREATE UNIQUE INDEX devices_ek ON devices(ek_hash) WHERE ek_hash <> '';"
    "CREATE TABLE attest_challenges("
    " id TEXT PRIMARY KEY, device_key TEXT NOT NULL, ek_hash TEXT NOT NULL,"
    " ak_pub TEXT NOT NULL, secret_hash TEXT NOT NULL, nonce TEXT NOT NULL,"
    " expires BIGINT NOT NULL);",
};

#define LATEST ((int)(sizeof(migrations) / sizeof(migrations[0])))

static const pg_stmt q_version = {
    "schema_version",
    "SELECT COALESCE(MAX(version), 0) FROM schema_migrations;",
};
static const pg_stmt q_applied = {
    "schema_applied",
    "INSERT INTO schema_migrations(version, applied) VALUES($1, $2);",
};

int regpg_schema_latest(void)
{
    return LATEST;
}

int regpg_schema_version(hub_registry *r)
{
    PGresult *res = regpg_run(r, &q_version, 0, NULL);
    if (!res)
        return -1;
    int v = (int)regpg_int(res, 0, 0);
    PQclear(res);
    return v;
}

static int apply(hub_registry *r, int v)
{
    char b1[24], b2[24];
    const char *vals[] = {regpg_i64(b1, v), regpg_i64(b2, hub_now_s())};
    if (regpg_simple(r, migrations[v - 1]) != 0 || regpg_cmd(r, &q_applied, 2, vals, NULL) != 0)
        return hub_fail("registry migration %d failed: %s", v, hub_err());
    return 0;
}

static int migrate_locked(hub_registry *r)
{
    if (regpg_simple(r, "CREATE TABLE IF NOT EXISTS schema_migrations("
                        " version INTEGER PRIMARY KEY, applied BIGINT NOT NULL);") != 0)
        return -1;
    int version = regpg_schema_version(r);
    if (version < 0)
        return -1;
    if (version > LATEST)
        return hub_fail("registry schema version %d is newer than this hub (%d): "
                        "upgrade edgekey-hub",
                        version, LATEST);
    for (int v = version + 1; v <= LATEST; v++)
        if (apply(r, v) != 0)
            return -1;
    return 0;
}

int regpg_migrate(hub_registry *r, bool readonly)
{
    if (readonly) {
        int v = regpg_schema_version(r);
        if (v < 0 || v != LATEST)
            return hub_fail("registry (PostgreSQL): schema version %d, this plugin needs %d: "
                            "run 'edgekey-hub init' (or start a hub of this version) first",
                            v < 0 ? 0 : v, LATEST);
        return 0;
    }
    if (regpg_begin(r) != 0)
        return -1;
    /* one migrator at a time across nodes; released at commit */
    int rc = regpg_simple(r, "SELECT pg_advisory_xact_lock(7306880751497217025);");
    if (rc == 0)
        rc = migrate_locked(r);
    if (rc != 0) {
        regpg_rollback(r);
        return -1;
    }
    return regpg_commit(r);
}
