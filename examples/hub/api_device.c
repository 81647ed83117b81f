/* edgekey hub: device-facing and public API routes. */
#include <string.h>
#include "api_server.h"
#include "hub_util.h"

static void activate(api_req *r)
{
    json_t *data = NULL;
    const char *ecode = NULL;
    int st = hub_op_activate(r->ctx, r->body, &data, &ecode);
    api_reply_op(r, st, data, ecode);
}

static void apply(api_req *r)
{
    json_t *data = NULL;
    const char *ecode = NULL;
    int st = hub_op_apply(r->ctx, r->body, &data, &ecode);
    api_reply_op(r, st, data, ecode);
}

static void attest_start(api_req *r)
{
    json_t *data = NULL;
    const char *ecode = NULL;
    int st = hub_op_attest_start(r->ctx, r->body, &data, &ecode);
    api_reply_op(r, st, data, ecode);
}

static void renew(api_req *r)
{
    json_t *data = NULL;
    const char *ecode = NULL;
    X509 *client = api_client_cert(r);
    int st = hub_op_renew(r->ctx, client, r->body, &data, &ecode);
    X509_free(client);
    api_reply_op(r, st, data, ecode);
}

static void revoke_self(api_req *r)
{
    json_t *data = NULL;
    const char *ecode = NULL;
    X509 *client = api_client_cert(r);
    int st = hub_op_revoke_self(r->ctx, client, r->body, &data, &ecode);
    X509_free(client);
    api_reply_op(r, st, data, ecode);
}

/* The device's own certificates (mTLS): EnOS "list" for a device. */
static int add_cert(const hub_cert *c, void *arg)
{
    json_array_append_new(arg, hub_json_cert(c, false));
    return 0;
}

static void list_self(api_req *r)
{
    hub_cert cur;
    const char *ecode = NULL;
    X509 *client = api_client_cert(r);
    int st = hub_op_client_cert(r->ctx, client, &cur, &ecode);
    X509_free(client);
    if (st) {
        api_reply_op(r, st, NULL, ecode);
        return;
    }
    json_t *arr = json_array();
    if (reg_cert_list(r->ctx->reg, cur.dk, false, add_cert, arr) != 0) {
        json_decref(arr);
        api_reply_error(r, 500, "internal", hub_err());
    } else {
        api_reply_data(r, json_pack("{s:o}", "certs", arr));
    }
    reg_cert_clear(&cur);
}

static void ca_chain(api_req *r)
{
    const char *pem = hub_ca_chain_pem(r->ctx->ca);
    api_reply_raw(r, 200, "application/x-pem-file", pem, strlen(pem));
}

static void crl_file(api_req *r, int der)
{
    char pem[HUB_PATH_MAX + 32], derp[HUB_PATH_MAX + 32];
    char *data = NULL;
    size_t len = 0;
    hub_crl_paths(r->ctx->ca, pem, derp, sizeof(pem));
    if (hub_read_file(der ? derp : pem, &data, &len) != 0) {
        api_reply_error(r, 503, "crl_unavailable", hub_err());
        return;
    }
    api_reply_raw(r, 200, der ? "application/pkix-crl" : "application/x-pem-file", data, len);
    free(data);
}

static void crl_der(api_req *r)
{
    crl_file(r, 1);
}
static void crl_pem(api_req *r)
{
    crl_file(r, 0);
}

const api_route hub_device_routes[] = {
    {"POST", "/api/v1/device/activate", activate, 1},
    {"POST", "/api/v1/device/cert/apply", apply, 1},
    {"POST", "/api/v1/device/attest/start", attest_start, 1},
    {"POST", "/api/v1/device/cert/renew", renew, 1},
    {"POST", "/api/v1/device/cert/revoke", revoke_self, 1},
    {"GET", "/api/v1/device/cert/list", list_self, 0},
    {"GET", "/api/v1/ca/chain", ca_chain, 0},
    {"GET", "/api/v1/crl", crl_der, 0},
    {"GET", "/api/v1/crl.pem", crl_pem, 0},
    {NULL, NULL, NULL, 0},
};
