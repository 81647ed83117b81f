/* edgekey-hub: operator subcommands (product, device, cert, revoke, crl,
 * send). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "hub_util.h"
#include "keyload.h"
#include "ops.h"
#include "service.h"

/* Human output is accumulated here and printed by cli_print. */
typedef struct text {
    char *buf;
    size_t len;
    FILE *f;
} text;

static void text_open(text *t)
{
    t->f = open_memstream(&t->buf, &t->len);
}
static const char *text_close(text *t)
{
    fclose(t->f);
    return t->buf ? t->buf : "";
}

static int open_ctx(const cli_opts *o, bool with_ca, hub_ctx *ctx)
{
    if (hub_ctx_open(o->conf, with_ca, ctx) != 0)
        return cli_error(o, "config", hub_err());
    return 0;
}

static int op_fail(const cli_opts *o, hub_ctx *ctx, const char *ecode)
{
    int rc = cli_error(o, ecode ? ecode : "error", hub_err());
    hub_ctx_close(ctx);
    return rc;
}

static int list_product(const hub_product *p, void *arg)
{
    json_array_append_new(((json_t **)arg)[0],
                          json_pack("{s:s, s:i, s:i, s:b}", "productKey", p->pk, "keyTypes",
                                    (int)p->key_types, "validityDays", p->validity_days,
                                    "dynamicActivation", p->dynamic_activation));
    fprintf(((text *)((json_t **)arg)[1])->f, "%-20s keytypes=%s%s validity=%dd%s\n", p->pk,
            p->key_types & HUB_KT_RSA ? "rsa" : "", p->key_types & HUB_KT_EC ? " ec" : "",
            p->validity_days, p->dynamic_activation ? "" : " no-dynamic");
    return 0;
}

int cli_product(const cli_opts *o, int argc, char **argv)
{
    hub_ctx ctx;
    const char *ecode = NULL;
    if (argc < 1)
        return cli_error(o, "usage", "product add|list");
    if (open_ctx(o, false, &ctx))
        return 1;
    if (strcmp(argv[0], "list") == 0) {
        text t;
        text_open(&t);
        fprintf(t.f, "%-20s %s\n", "PRODUCT-KEY", "KEY-TYPES, VALIDITY, ACTIVATION");
        json_t *arr = json_array();
        void *pair[2] = {arr, &t};
        reg_product_list(ctx.reg, list_product, pair);
        cli_print(o, json_pack("{s:o}", "products", arr), text_close(&t));
        free(t.buf);
        hub_ctx_close(&ctx);
        return 0;
    }
    const char *kts = cli_opt(argc, argv, "--key-types");
    unsigned kt = 0;
    if (!kts || strstr(kts, "rsa"))
        kt |= HUB_KT_RSA;
    if (!kts || strstr(kts, "ec"))
        kt |= HUB_KT_EC;
    const char *vd = cli_opt(argc, argv, "--validity-days");
    int mode = 0;
    if (hub_op_attest_mode(&ctx, cli_opt(argc, argv, "--attestation"), &mode, &ecode) != 0)
        return op_fail(o, &ctx, ecode);
    hub_product p;
    if (hub_op_product_add(&ctx, cli_opt(argc, argv, "--product-key"), kt, vd ? atoi(vd) : 365,
                           !cli_flag(argc, argv, "--no-dynamic"), &p, &ecode) != 0 ||
        hub_op_product_attestation(&ctx, p.pk, mode, &ecode) != 0)
        return op_fail(o, &ctx, ecode);
    char human[256];
    snprintf(human, sizeof(human), "productKey    %s\nproductSecret %s\nattestation   %s\n", p.pk,
             p.secret, hub_attest_mode_name(mode));
    cli_print(o,
              json_pack("{s:s, s:s, s:i, s:s}", "productKey", p.pk, "productSecret", p.secret,
                        "validityDays", p.validity_days, "attestation", hub_attest_mode_name(mode)),
              human);
    hub_ctx_close(&ctx);
    return 0;
}

static int list_device(const hub_device *d, void *arg)
{
    json_array_append_new(((json_t **)arg)[0], hub_json_device(d));
    fprintf(((text *)((json_t **)arg)[1])->f, "%-24s %-20s %-10s %s\n", d->dk, d->pk,
            hub_dev_state_name(d->state), d->asset_id);
    return 0;
}

static int add_point(const char *point, const char *value, int64_t ts, void *arg)
{
    json_t *v = json_loads(value, JSON_DECODE_ANY, NULL);
    json_object_set_new(
        arg, point, json_pack("{s:o, s:I}", "value", v ? v : json_null(), "time", (json_int_t)ts));
    return 0;
}

int cli_device(const cli_opts *o, int argc, char **argv)
{
    hub_ctx ctx;
    const char *ecode = NULL;
    if (argc < 1)
        return cli_error(o, "usage", "device add|list|show|reset|ek-reset");
    if (open_ctx(o, false, &ctx))
        return 1;
    const char *pk = cli_opt(argc, argv, "--product-key");
    const char *dk = cli_opt(argc, argv, "--device-key");
    if (strcmp(argv[0], "add") == 0) {
        if (hub_op_device_add(&ctx, pk, dk, &ecode) != 0)
            return op_fail(o, &ctx, ecode);
        char human[256];
        snprintf(human, sizeof(human), "registered %s under %s\n", dk, pk);
        cli_print(
            o,
            json_pack("{s:s, s:s, s:s}", "productKey", pk, "deviceKey", dk, "state", "registered"),
            human);
    } else if (strcmp(argv[0], "reset") == 0) {
        int n = 0;
        hub_ctx_close(&ctx); /* again with the CA: the CRL is reissued */
        if (open_ctx(o, true, &ctx))
            return 1;
        if (hub_op_device_reset(&ctx, dk, &n, &ecode) != 0)
            return op_fail(o, &ctx, ecode);
        char human[256];
        snprintf(human, sizeof(human),
                 "device %s reset: %d certificate(s) revoked (cessationOfOperation), state "
                 "registered: it may activate again\n",
                 dk, n);
        cli_print(
            o, json_pack("{s:s, s:s, s:i}", "deviceKey", dk, "state", "registered", "revoked", n),
            human);
    } else if (strcmp(argv[0], "ek-reset") == 0) {
        if (hub_op_device_ek_reset(&ctx, dk, &ecode) != 0)
            return op_fail(o, &ctx, ecode);
        char human[256];
        snprintf(human, sizeof(human),
                 "device %s: EK binding removed; its next attested enrollment binds a TPM\n", dk);
        cli_print(o, json_pack("{s:s, s:s}", "deviceKey", dk, "ekHash", ""), human);
    } else if (strcmp(argv[0], "show") == 0) {
        hub_device d;
        if (!dk || reg_device_get(ctx.reg, dk, &d) != 0) {
            hub_fail("device '%s' is not registered", dk ? dk : "");
            return op_fail(o, &ctx, "device_not_registered");
        }
        json_t *j = hub_json_device(&d), *pts = json_object();
        char ek[65] = "";
        bool attested = false;
        reg_device_ek_get(ctx.reg, dk, ek, &attested);
        json_object_set_new(j, "ekHash", json_string(ek));
        json_object_set_new(j, "attested", json_string(attested ? "yes" : "no"));
        reg_telemetry_get(ctx.reg, dk, add_point, pts);
        json_object_set_new(j, "measurepoints", pts);
        char *txt = json_dumps(j, JSON_INDENT(2));
        char human[8192];
        snprintf(human, sizeof(human), "%s\n", txt ? txt : "");
        free(txt);
        cli_print(o, j, human);
    } else {
        text t;
        text_open(&t);
        fprintf(t.f, "%-24s %-20s %-10s %s\n", "DEVICE-KEY", "PRODUCT-KEY", "STATE", "ASSET-ID");
        json_t *arr = json_array();
        void *pair[2] = {arr, &t};
        reg_device_list(ctx.reg, pk, list_device, pair);
        cli_print(o, json_pack("{s:o}", "devices", arr), text_close(&t));
        free(t.buf);
    }
    hub_ctx_close(&ctx);
    return 0;
}

static int list_cert(const hub_cert *c, void *arg)
{
    json_array_append_new(((json_t **)arg)[0], hub_json_cert(c, false));
    fprintf(((text *)((json_t **)arg)[1])->f, "%-34s %-24s %-10s reason=%d\n", c->serial, c->dk,
            hub_cert_state_name(c->state), c->reason);
    return 0;
}

int cli_cert(const cli_opts *o, int argc, char **argv)
{
    hub_ctx ctx;
    if (argc < 1 || strcmp(argv[0], "list") != 0)
        return cli_error(o, "usage", "cert list [--device-key SN]");
    if (open_ctx(o, false, &ctx))
        return 1;
    text t;
    text_open(&t);
    fprintf(t.f, "%-34s %-24s %-10s %s\n", "SERIAL", "DEVICE-KEY", "STATE", "REASON");
    json_t *arr = json_array();
    void *pair[2] = {arr, &t};
    reg_cert_list(ctx.reg, cli_opt(argc, argv, "--device-key"), false, list_cert, pair);
    cli_print(o, json_pack("{s:o}", "certs", arr), text_close(&t));
    free(t.buf);
    hub_ctx_close(&ctx);
    return 0;
}

/* Serial of the hub's own TLS certificate (broker and API, hub/hub.pem):
 * `revoke --hub-cert` puts it on the CRL, e.g. when the hub key leaked. */
static int hub_cert_serial(hub_ctx *ctx, char out[41])
{
    char path[HUB_PATH_MAX];
    hub_path(&ctx->cfg, "hub/hub.pem", path, sizeof(path));
    X509 *x = hub_load_cert(path);
    if (!x)
        return hub_fail("the hub certificate %s cannot be read; run edgekey-hub init", path);
    hub_serial_hex(X509_get0_serialNumber(x), out);
    X509_free(x);
    return 0;
}

int cli_revoke(const cli_opts *o, int argc, char **argv)
{
    hub_ctx ctx;
    const char *ecode = NULL;
    const char *sn = cli_opt(argc, argv, "--cert-sn"), *rs = cli_opt(argc, argv, "--reason");
    bool hub_cert = cli_flag(argc, argv, "--hub-cert");
    char hub_sn[41];
    if (!sn == !hub_cert)
        return cli_error(o, "usage", "revoke --cert-sn HEX | --hub-cert [--reason N]");
    if (open_ctx(o, true, &ctx))
        return 1;
    if (hub_cert && hub_cert_serial(&ctx, hub_sn) != 0)
        return op_fail(o, &ctx, "hub_cert");
    if (hub_cert)
        sn = hub_sn;
    int reason = rs ? atoi(rs) : 0;
    if (hub_op_revoke(&ctx, sn, reason, "cli", &ecode) != 0)
        return op_fail(o, &ctx, ecode);
    char human[128];
    snprintf(human, sizeof(human), "revoked %s (reason %d); CRL updated\n", sn, reason);
    cli_print(o, json_pack("{s:s, s:i}", "certSn", sn, "reason", reason), human);
    hub_ctx_close(&ctx);
    return 0;
}

int cli_crl(const cli_opts *o, int argc, char **argv)
{
    (void)argc, (void)argv;
    hub_ctx ctx;
    if (open_ctx(o, true, &ctx))
        return 1;
    if (hub_op_crl_refresh(&ctx) != 0)
        return op_fail(o, &ctx, "crl");
    char pem[HUB_PATH_MAX + 32], der[HUB_PATH_MAX + 32], human[HUB_PATH_MAX * 3];
    hub_crl_paths(ctx.ca, pem, der, sizeof(pem));
    snprintf(human, sizeof(human), "CRL written: %s, %s\n", pem, der);
    cli_print(o,
              json_pack("{s:s, s:s, s:I}", "pem", pem, "der", der, "nextUpdate",
                        (json_int_t)ctx.crl_next_update),
              human);
    hub_ctx_close(&ctx);
    return 0;
}

int cli_send(const cli_opts *o, int argc, char **argv)
{
    hub_ctx ctx;
    const char *ecode = NULL;
    const char *pk = cli_opt(argc, argv, "--product-key"),
               *dk = cli_opt(argc, argv, "--device-key");
    const char *sid = cli_opt(argc, argv, "--service"), *ps = cli_opt(argc, argv, "--params");
    const char *tm = cli_opt(argc, argv, "--timeout-ms");
    json_t *params = ps ? json_loads(ps, 0, NULL) : json_object();
    if (!pk || !dk || !sid || !params) {
        json_decref(params);
        return cli_error(o, "usage",
                         "send --product-key PK --device-key SN --service ID "
                         "[--params JSON-object] [--timeout-ms N]");
    }
    if (open_ctx(o, false, &ctx)) {
        json_decref(params);
        return 1;
    }
    hub_service *svc = NULL;
    json_t *reply = NULL;
    int st = hub_service_start(&ctx, false, 10000, &svc);
    if (st == 0)
        st = hub_service_send(svc, pk, dk, sid, params, tm ? atoi(tm) : 5000, &reply, &ecode);
    else
        ecode = "mqtt_unavailable";
    hub_service_stop(svc);
    json_decref(params);
    if (st != 0)
        return op_fail(o, &ctx, ecode);
    char *txt = json_dumps(reply, JSON_COMPACT);
    char human[4096];
    snprintf(human, sizeof(human), "%s\n", txt ? txt : "");
    free(txt);
    cli_print(o, json_pack("{s:o}", "reply", reply), human);
    hub_ctx_close(&ctx);
    return 0;
}
