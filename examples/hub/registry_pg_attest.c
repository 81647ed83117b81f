/* edgekey hub: the registry's key attestation records in PostgreSQL (the
 * twin of registry_attest.c): a product's attestation mode, the EK a device
 * is bound to, and the pending activation challenges (PostgreSQL migration
 * 3). Parameters go as text, so the challenge's binary fields are kept as
 * upper-case hex. */
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

#include "hub_util.h"
#include "registry_pg.h"

static const pg_stmt q_attest_set = {
    "product_attest_set",
    "UPDATE products SET attestation=$1 WHERE product_key=$2;",
};

int regpg_product_attest_set(hub_registry *r, const char *pk, int mode)
{
    char b[24];
    const char *v[] = {regpg_i64(b, mode), pk};
    int changed = 0;
    if (regpg_cmd(r, &q_attest_set, 2, v, &changed) != 0)
        return -1;
    return changed ? 0 : 1;
}

static const pg_stmt q_attest_get = {
    "product_attest_get",
    "SELECT attestation FROM products WHERE product_key=$1;",
};

int regpg_product_attest_get(hub_registry *r, const char *pk, int *mode)
{
    const char *v[] = {pk};
    PGresult *res = regpg_run(r, &q_attest_get, 1, v);
    if (!res)
        return -1;
    int found = PQntuples(res) == 1;
    if (found)
        *mode = (int)regpg_int(res, 0, 0);
    PQclear(res);
    return found ? 0 : 1;
}

static const pg_stmt q_ek_get = {
    "device_ek_get",
    "SELECT ek_hash, attested FROM devices WHERE device_key=$1;",
};

int regpg_device_ek_get(hub_registry *r, const char *dk, char *ek_hash, bool *attested)
{
    const char *v[] = {dk};
    PGresult *res = regpg_run(r, &q_ek_get, 1, v);
    if (!res)
        return -1;
    int found = PQntuples(res) == 1;
    if (found) {
        regpg_text(res, 0, 0, ek_hash, 65);
        *attested = regpg_int(res, 0, 1) != 0;
    }
    PQclear(res);
    return found ? 0 : 1;
}

static const pg_stmt q_ek_owner = {
    "ek_owner",
    "SELECT device_key FROM devices WHERE ek_hash=$1 AND ek_hash<>'';",
};

int regpg_ek_owner(hub_registry *r, const char *ek_hash, char *dk)
{
    const char *v[] = {ek_hash};
    PGresult *res = regpg_run(r, &q_ek_owner, 1, v);
    if (!res)
        return -1;
    int found = PQntuples(res) >= 1;
    if (found)
        regpg_text(res, 0, 0, dk, HUB_KEY_MAX + 1);
    PQclear(res);
    return found ? 0 : 1;
}

/* The partial unique index devices_ek refuses a second device with one EK
 * even when two nodes bind at once; the NOT EXISTS only turns the common
 * case into a clear message instead of a constraint error. */
static const pg_stmt q_ek_set = {
    "device_ek_set",
    "UPDATE devices SET ek_hash=$1, attested=$2 WHERE device_key=$3 AND ($1='' OR NOT EXISTS "
    "(SELECT 1 FROM devices d WHERE d.ek_hash=$1 AND d.device_key<>$3));",
};

int regpg_device_ek_set(hub_registry *r, const char *dk, const char *ek_hash, bool attested)
{
    const char *v[] = {ek_hash, attested ? "1" : "0", dk};
    int changed = 0;
    if (regpg_cmd(r, &q_ek_set, 3, v, &changed) != 0)
        return -1;
    if (changed == 0 && *ek_hash)
        return hub_fail("EK %.16s... is already bound to another device", ek_hash);
    return 0;
}

static const pg_stmt q_chal_sweep = {
    "challenge_sweep",
    "DELETE FROM attest_challenges WHERE expires < $1;",
};
static const pg_stmt q_chal_put = {
    "challenge_put",
    "INSERT INTO attest_challenges(id, device_key, ek_hash, ak_pub, secret_hash, nonce, expires) "
    "VALUES($1,$2,$3,$4,$5,$6,$7);",
};

int regpg_challenge_put(hub_registry *r, const hub_challenge *c)
{
    char now[24], exp[24], ak[2 * HUB_ATT_BLOB_MAX + 1], sh[65], nonce[65];
    const char *sweep[] = {regpg_i64(now, hub_now_s())};
    if (regpg_cmd(r, &q_chal_sweep, 1, sweep, NULL) != 0)
        return -1;
    if (c->ak_pub_len > HUB_ATT_BLOB_MAX)
        return hub_fail("challenge: AK public area of %zu bytes (at most %d)", c->ak_pub_len,
                        HUB_ATT_BLOB_MAX);
    hub_hex_upper(c->ak_pub, c->ak_pub_len, ak);
    hub_hex_upper(c->secret_hash, 32, sh);
    hub_hex_upper(c->nonce, 32, nonce);
    const char *v[] = {c->id, c->dk, c->ek_hash, ak, sh, nonce, regpg_i64(exp, c->expires)};
    return regpg_cmd(r, &q_chal_put, 7, v, NULL);
}

/* hex (as stored) into out; 0 bytes if it does not fit or is not hex */
static size_t unhex(const char *hex, unsigned char *out, size_t max)
{
    long n = 0;
    unsigned char *b = *hex ? OPENSSL_hexstr2buf(hex, &n) : NULL;
    size_t len = b && n > 0 && (size_t)n <= max ? (size_t)n : 0;
    if (len)
        memcpy(out, b, len);
    OPENSSL_free(b);
    return len;
}

static const pg_stmt q_chal_take = {
    "challenge_take",
    "DELETE FROM attest_challenges WHERE id=$1 AND expires >= $2 "
    "RETURNING device_key, ek_hash, ak_pub, secret_hash, nonce, expires;",
};

int regpg_challenge_take(hub_registry *r, const char *id, hub_challenge *out)
{
    memset(out, 0, sizeof(*out));
    char now[24];
    const char *v[] = {id, regpg_i64(now, hub_now_s())};
    PGresult *res = regpg_run(r, &q_chal_take, 2, v);
    if (!res)
        return -1;
    int found = PQntuples(res) == 1;
    if (found) {
        snprintf(out->id, sizeof(out->id), "%s", id);
        regpg_text(res, 0, 0, out->dk, sizeof(out->dk));
        regpg_text(res, 0, 1, out->ek_hash, sizeof(out->ek_hash));
        out->ak_pub_len = unhex(PQgetvalue(res, 0, 2), out->ak_pub, sizeof(out->ak_pub));
        unhex(PQgetvalue(res, 0, 3), out->secret_hash, 32);
        unhex(PQgetvalue(res, 0, 4), out->nonce, 32);
        out->expires = regpg_int(res, 0, 5);
    }
    PQclear(res);
    return found ? 0 : 1;
}
