/* edgekey hub: admin API routes (bearer token). */
#include <string.h>
#include "api_server.h"
#include "hub_util.h"
#include "service.h"

static unsigned key_types_of(const json_t *v)
{
    unsigned kt = 0;
    size_t i;
    json_t *e;
    if (!v)
        return HUB_KT_RSA | HUB_KT_EC;
    json_array_foreach(v, i, e)
    {
        const char *s = json_string_value(e);
        if (s && strcmp(s, "rsa") == 0)
            kt |= HUB_KT_RSA;
        else if (s && strcmp(s, "ec") == 0)
            kt |= HUB_KT_EC;
        else
            return 0;
    }
    return kt;
}

static void product_add(api_req *r)
{
    if (api_require_admin(r))
        return;
    json_t *b = r->body;
    json_t *vd = json_object_get(b, "validityDays"), *dyn = json_object_get(b, "dynamicActivation");
    hub_product p;
    const char *ecode = NULL;
    int mode = 0;
    /* attestation: required|optional|off (docs/attestation.md), checked first */
    int st = hub_op_attest_mode(r->ctx, json_string_value(json_object_get(b, "attestation")), &mode,
                                &ecode);
    if (!st)
        st = hub_op_product_add(r->ctx, json_string_value(json_object_get(b, "productKey")),
                                key_types_of(json_object_get(b, "keyTypes")),
                                vd ? (int)json_integer_value(vd) : 365,
                                dyn ? json_is_true(dyn) : true, &p, &ecode);
    if (!st)
        st = hub_op_product_attestation(r->ctx, p.pk, mode, &ecode);
    json_t *data = st ? NULL
                      : json_pack("{s:s, s:s, s:i, s:b, s:s}", "productKey", p.pk, "productSecret",
                                  p.secret, "validityDays", p.validity_days, "dynamicActivation",
                                  p.dynamic_activation, "attestation", hub_attest_mode_name(mode));
    api_reply_op(r, st, data, ecode);
}

static void device_add(api_req *r)
{
    if (api_require_admin(r))
        return;
    const char *pk = json_string_value(json_object_get(r->body, "productKey"));
    const char *dk = json_string_value(json_object_get(r->body, "deviceKey"));
    const char *ecode = NULL;
    int st = hub_op_device_add(r->ctx, pk, dk, &ecode);
    api_reply_op(
        r, st,
        st ? NULL
           : json_pack("{s:s, s:s, s:s}", "productKey", pk, "deviceKey", dk, "state", "registered"),
        ecode);
}

static int add_dev(const hub_device *d, void *arg)
{
    json_array_append_new(arg, hub_json_device(d));
    return 0;
}

static void device_list(api_req *r)
{
    if (api_require_admin(r))
        return;
    const char *pk = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "productKey");
    json_t *arr = json_array();
    if (reg_device_list(r->ctx->reg, pk, add_dev, arr) != 0) {
        json_decref(arr);
        api_reply_error(r, 500, "internal", hub_err());
        return;
    }
    api_reply_data(r, json_pack("{s:o}", "devices", arr));
}

static int add_cert(const hub_cert *c, void *arg)
{
    json_array_append_new(arg, hub_json_cert(c, false));
    return 0;
}

static void cert_list(api_req *r)
{
    if (api_require_admin(r))
        return;
    const char *dk = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, "deviceKey");
    json_t *arr = json_array();
    if (reg_cert_list(r->ctx->reg, dk, false, add_cert, arr) != 0) {
        json_decref(arr);
        api_reply_error(r, 500, "internal", hub_err());
        return;
    }
    api_reply_data(r, json_pack("{s:o}", "certs", arr));
}

static void admin_revoke(api_req *r)
{
    if (api_require_admin(r))
        return;
    const char *sn = json_string_value(json_object_get(r->body, "certSn"));
    json_t *reason = json_object_get(r->body, "reason");
    const char *ecode = NULL;
    int rs = reason ? (json_is_integer(reason) ? (int)json_integer_value(reason) : -1) : 0;
    int st = hub_op_revoke(r->ctx, sn, rs, "admin", &ecode);
    api_reply_op(r, st, st ? NULL : json_pack("{s:s, s:i}", "certSn", sn, "reason", rs), ecode);
}

static void send_cmd(api_req *r)
{
    if (api_require_admin(r))
        return;
    json_t *b = r->body, *reply = NULL;
    const char *pk = json_string_value(json_object_get(b, "productKey"));
    const char *dk = json_string_value(json_object_get(b, "deviceKey"));
    const char *sid = json_string_value(json_object_get(b, "serviceId"));
    json_t *params = json_object_get(b, "params"), *tmo = json_object_get(b, "timeoutMs");
    int timeout = tmo ? (int)json_integer_value(tmo) : 5000;
    if (!r->ctx->svc) {
        api_reply_error(r, 503, "mqtt_unavailable",
                        "the hub service is not connected to "
                        "the broker");
        return;
    }
    const char *ecode = NULL;
    int st = hub_service_send(r->ctx->svc, pk, dk, sid, params, timeout, &reply, &ecode);
    api_reply_op(r, st, st ? NULL : json_pack("{s:o}", "reply", reply), ecode);
}

const api_route hub_admin_routes[] = {
    {"POST", "/api/v1/admin/products", product_add, 1},
    {"POST", "/api/v1/admin/devices", device_add, 1},
    {"GET", "/api/v1/admin/devices", device_list, 0},
    {"GET", "/api/v1/admin/certs", cert_list, 0},
    {"POST", "/api/v1/admin/revoke", admin_revoke, 1},
    {"POST", "/api/v1/admin/send", send_cmd, 1},
    {NULL, NULL, NULL, 0},
};
