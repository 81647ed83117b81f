/* edgekey hub: the registry's key attestation records (registry.h), SQLite:
 * a product's attestation mode, the EK a device is bound to, and the
 * pending activation challenges (schema migration 4). */
#include <stdio.h>
#include <string.h>

#include "hub_util.h"
#include "registry_int.h"

int reg_product_attest_set(hub_registry *r, const char *pk, int mode)
{
    sqlite3_stmt *st = reg_prep(r, "UPDATE products SET attestation=? WHERE product_key=?;");
    if (!st)
        return -1;
    sqlite3_bind_int(st, 1, mode);
    reg_bind_text(st, 2, pk);
    int rc = sqlite3_step(st);
    int changed = sqlite3_changes(r->db);
    if (reg_done(r, st, rc, "product attestation mode") != 0)
        return -1;
    return changed ? 0 : 1;
}

int reg_product_attest_get(hub_registry *r, const char *pk, int *mode)
{
    sqlite3_stmt *st = reg_prep(r, "SELECT attestation FROM products WHERE product_key=?;");
    if (!st)
        return -1;
    reg_bind_text(st, 1, pk);
    int rc = sqlite3_step(st);
    int found = rc == SQLITE_ROW;
    if (found)
        *mode = sqlite3_column_int(st, 0);
    if (reg_done(r, st, rc, "product attestation mode") != 0)
        return -1;
    return found ? 0 : 1;
}

int reg_device_ek_get(hub_registry *r, const char *dk, char *ek_hash, bool *attested)
{
    sqlite3_stmt *st = reg_prep(r, "SELECT ek_hash, attested FROM devices WHERE device_key=?;");
    if (!st)
        return -1;
    reg_bind_text(st, 1, dk);
    int rc = sqlite3_step(st);
    int found = rc == SQLITE_ROW;
    if (found) {
        reg_col_text(st, 0, ek_hash, 65);
        *attested = sqlite3_column_int(st, 1) != 0;
    }
    if (reg_done(r, st, rc, "device EK lookup") != 0)
        return -1;
    return found ? 0 : 1;
}

int reg_ek_owner(hub_registry *r, const char *ek_hash, char *dk)
{
    sqlite3_stmt *st = reg_prep(r, "SELECT device_key FROM devices WHERE ek_hash=?;");
    if (!st)
        return -1;
    reg_bind_text(st, 1, ek_hash);
    int rc = sqlite3_step(st);
    int found = rc == SQLITE_ROW;
    if (found)
        reg_col_text(st, 0, dk, HUB_KEY_MAX + 1);
    if (reg_done(r, st, rc, "EK owner lookup") != 0)
        return -1;
    return found ? 0 : 1;
}

int reg_device_ek_set(hub_registry *r, const char *dk, const char *ek_hash, bool attested)
{
    sqlite3_stmt *st = reg_prep(r, "UPDATE devices SET ek_hash=?, attested=? WHERE device_key=?;");
    if (!st)
        return -1;
    reg_bind_text(st, 1, ek_hash);
    sqlite3_bind_int(st, 2, attested ? 1 : 0);
    reg_bind_text(st, 3, dk);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_CONSTRAINT) { /* the unique EK index: bound to another device */
        reg_done(r, st, SQLITE_DONE, "");
        return hub_fail("EK %.16s... is already bound to another device", ek_hash);
    }
    return reg_done(r, st, rc, "device EK binding");
}

int reg_challenge_put(hub_registry *r, const hub_challenge *c)
{
    sqlite3_stmt *st = reg_prep(r, "DELETE FROM attest_challenges WHERE expires < ?;");
    if (!st)
        return -1;
    sqlite3_bind_int64(st, 1, hub_now_s());
    if (reg_done(r, st, sqlite3_step(st), "challenge sweep") != 0)
        return -1;
    st = reg_prep(r, "INSERT INTO attest_challenges(id, device_key, ek_hash, ak_pub, "
                     "secret_hash, nonce, expires) VALUES(?,?,?,?,?,?,?);");
    if (!st)
        return -1;
    reg_bind_text(st, 1, c->id);
    reg_bind_text(st, 2, c->dk);
    reg_bind_text(st, 3, c->ek_hash);
    sqlite3_bind_blob(st, 4, c->ak_pub, (int)c->ak_pub_len, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 5, c->secret_hash, 32, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 6, c->nonce, 32, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 7, c->expires);
    return reg_done(r, st, sqlite3_step(st), "challenge insert");
}

static void col_blob(sqlite3_stmt *st, int col, unsigned char *out, size_t max, size_t *len)
{
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    const void *b = sqlite3_column_blob(st, col);
    if (n > max || !b)
        n = 0;
    if (n)
        memcpy(out, b, n);
    if (len)
        *len = n;
}

int reg_challenge_take(hub_registry *r, const char *id, hub_challenge *out)
{
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *st = reg_prep(r, "DELETE FROM attest_challenges WHERE id=? AND expires >= ? "
                                   "RETURNING device_key, ek_hash, ak_pub, secret_hash, nonce, "
                                   "expires;");
    if (!st)
        return -1;
    reg_bind_text(st, 1, id);
    sqlite3_bind_int64(st, 2, hub_now_s());
    int rc = sqlite3_step(st);
    int found = rc == SQLITE_ROW;
    size_t n = 0;
    if (found) {
        snprintf(out->id, sizeof(out->id), "%s", id);
        reg_col_text(st, 0, out->dk, sizeof(out->dk));
        reg_col_text(st, 1, out->ek_hash, sizeof(out->ek_hash));
        col_blob(st, 2, out->ak_pub, sizeof(out->ak_pub), &out->ak_pub_len);
        col_blob(st, 3, out->secret_hash, 32, &n);
        col_blob(st, 4, out->nonce, 32, &n);
        out->expires = sqlite3_column_int64(st, 5);
        rc = sqlite3_step(st); /* finish the statement so the delete happens */
    }
    if (reg_done(r, st, rc, "challenge lookup") != 0)
        return -1;
    return found ? 0 : 1;
}
