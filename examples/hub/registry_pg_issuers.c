/* edgekey hub: the fleet's issuing CAs in the PostgreSQL registry. */
#include <string.h>
#include "hub_util.h"
#include "registry_pg.h"

static const pg_stmt q_issuer_put = {
    "issuer_put",
    "INSERT INTO issuers(id, cert_pem, updated) VALUES($1,$2,$3) "
    "ON CONFLICT(id) DO UPDATE SET cert_pem=excluded.cert_pem, updated=excluded.updated "
    "WHERE issuers.cert_pem<>excluded.cert_pem;",
};

int regpg_issuer_put(hub_registry *r, const char *id, const char *cert_pem)
{
    char b[24];
    const char *v[] = {id, cert_pem, regpg_i64(b, hub_now_ms())};
    return regpg_cmd(r, &q_issuer_put, 3, v, NULL);
}

static const pg_stmt q_issuer_crl = {
    "issuer_crl",
    "UPDATE issuers SET crl_pem=$1, crl_rev_seq=$2, updated=$3 WHERE id=$4;",
};

int regpg_issuer_set_crl(hub_registry *r, const char *id, const char *crl_pem, int64_t rev_seq)
{
    char b1[24], b2[24];
    const char *v[] = {crl_pem, regpg_i64(b1, rev_seq), regpg_i64(b2, hub_now_ms()), id};
    int changed = 0;
    if (regpg_cmd(r, &q_issuer_crl, 4, v, &changed) != 0)
        return -1;
    return changed == 1 ? 0 : 1;
}

static const pg_stmt q_issuer_list = {
    "issuer_list",
    "SELECT id, cert_pem, crl_pem, crl_rev_seq, updated FROM issuers ORDER BY id;",
};

int regpg_issuer_list(hub_registry *r, reg_issuer_cb cb, void *arg)
{
    PGresult *res = regpg_run(r, &q_issuer_list, 0, NULL);
    if (!res)
        return -1;
    hub_issuer i;
    for (int n = 0; n < PQntuples(res); n++) {
        memset(&i, 0, sizeof(i));
        regpg_text(res, n, 0, i.id, sizeof(i.id));
        i.cert_pem = PQgetvalue(res, n, 1);
        i.crl_pem = PQgetvalue(res, n, 2);
        i.crl_rev_seq = regpg_int(res, n, 3);
        i.updated = regpg_int(res, n, 4);
        if (cb(&i, arg) != 0)
            break;
    }
    PQclear(res);
    return 0;
}
