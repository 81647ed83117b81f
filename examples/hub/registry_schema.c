/* edgekey hub: versioned schema migrations for the SQLite registry.
 *
 * PRAGMA user_version holds the applied version. Each migration runs in its
 * own transaction together with the version bump, so a crash leaves the
 * schema at a whole version. Never edit a released migration: append one. */
#include <stdio.h>
#include "hub_util.h"
#include "registry_int.h"

static const char *const migrations[] = {
    /* 1: the first schema */
    "CREATE TABLE products("
    " product_key TEXT PRIMARY KEY, product_secret TEXT NOT NULL,"
    " key_types INTEGER NOT NULL, validity_days INTEGER NOT NULL,"
    " dynamic_activation INTEGER NOT NULL, created INTEGER NOT NULL);"
    "CREATE TABLE devices("
    " device_key TEXT PRIMARY KEY,"
    " product_key TEXT NOT NULL REFERENCES products(product_key),"
    " device_secret TEXT NOT NULL DEFAULT '', state INTEGER NOT NULL,"
    " asset_id TEXT NOT NULL DEFAULT '', created INTEGER NOT NULL, activated INTEGER);"
    "CREATE INDEX devices_pk ON devices(product_key);"
    /* AUTOINCREMENT: sqlite_sequence keeps the high-water mark, so a serial
     * id is never handed out twice even if rows are deleted. */
    "CREATE TABLE serials(id INTEGER PRIMARY KEY AUTOINCREMENT, issued INTEGER NOT NULL);"
    "CREATE TABLE certificates("
    " serial TEXT PRIMARY KEY, product_key TEXT NOT NULL DEFAULT '',"
    " device_key TEXT NOT NULL, kind INTEGER NOT NULL, pem TEXT NOT NULL,"
    " not_before INTEGER NOT NULL, not_after INTEGER NOT NULL,"
    " state INTEGER NOT NULL, reason INTEGER NOT NULL DEFAULT -1,"
    " revoked_at INTEGER NOT NULL DEFAULT 0, superseded_at INTEGER NOT NULL DEFAULT 0,"
    " rev_seq INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL);"
    "CREATE INDEX certs_device ON certificates(device_key);"
    "CREATE INDEX certs_rev ON certificates(rev_seq);"
    "CREATE TABLE telemetry("
    " device_key TEXT NOT NULL, product_key TEXT NOT NULL, point TEXT NOT NULL,"
    " value TEXT NOT NULL, ts INTEGER NOT NULL, received INTEGER NOT NULL,"
    " PRIMARY KEY(device_key, point));"
    "CREATE TABLE audit(id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL,"
    " actor TEXT NOT NULL, action TEXT NOT NULL, object TEXT NOT NULL, detail TEXT NOT NULL);"
    "CREATE TABLE nonces(nonce TEXT PRIMARY KEY, expires INTEGER NOT NULL);"
    "CREATE TABLE counters(name TEXT PRIMARY KEY, value INTEGER NOT NULL);",
    /* 2: expiry index for the nonce sweep */
    "CREATE INDEX nonces_expires ON nonces(expires);",
    /* 3: telemetry message ids seen, for de-duplicating QoS-1 resends
     * (the edge's id is its persistent queue seq) */
    "CREATE TABLE telemetry_msgs("
    " product_key TEXT NOT NULL, device_key TEXT NOT NULL, msg_id TEXT NOT NULL,"
    " received INTEGER NOT NULL, duplicates INTEGER NOT NULL DEFAULT 0,"
    " PRIMARY KEY(product_key, device_key, msg_id)) WITHOUT ROWID;"
    "CREATE INDEX telemetry_msgs_received ON telemetry_msgs(received);",
    /* 4: key attestation (issue 13): the product's mode, the EK a device is
     * bound to (SHA-256 of its SubjectPublicKeyInfo; unique: one EK, one
     * device), whether its last certificate was attested, and the pending
     * activation challenges (secret kept as its SHA-256, single use). */
    "ALTER TABLE products ADD COLUMN attestation INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE devices ADD COLUMN ek_hash TEXT NOT NULL DEFAULT '';"
    "ALTER TABLE devices ADD COLUMN attested INTEGER NOT NULL DEFAULT 0;"
    "CREATE UNIQUE INDEX devices_ek ON devices(ek_hash) WHERE ek_hash != '';"
    "CREATE TABLE attest_challenges("
    " id TEXT PRIMARY KEY, device_key TEXT NOT NULL, ek_hash TEXT NOT NULL,"
    " ak_pub BLOB NOT NULL, secret_hash BLOB NOT NULL, nonce BLOB NOT NULL,"
    " expires INTEGER NOT NULL);",
};

int reg_schema_latest(void)
{
    return (int)(sizeof(migrations) / sizeof(migrations[0]));
}

int reg_migrate(hub_registry *r)
{
    int version = reg_schema_version(r);
    if (version < 0)
        return -1;
    int latest = reg_schema_latest();
    if (version > latest)
        return hub_fail("registry schema version %d is newer than this hub (%d): "
                        "upgrade edgekey-hub",
                        version, latest);
    for (int v = version; v < latest; v++) {
        char bump[64];
        char *msg = NULL;
        snprintf(bump, sizeof(bump), "PRAGMA user_version=%d;", v + 1);
        if (reg_begin(r) != 0)
            return -1;
        if (sqlite3_exec(r->db, migrations[v], NULL, NULL, &msg) != SQLITE_OK ||
            sqlite3_exec(r->db, bump, NULL, NULL, &msg) != SQLITE_OK) {
            hub_fail("registry migration %d failed: %s", v + 1, msg ? msg : "?");
            sqlite3_free(msg);
            reg_rollback(r);
            return -1;
        }
        if (reg_commit(r) != 0)
            return -1;
    }
    return 0;
}
