/* edgekey hub: device-facing operations (activate, apply, renew, revoke). */
#include "ops.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include "attest.h"
#include "csr_check.h"
#include "hub_util.h"
#include "keyload.h"
#include "ops_int.h"
#include "sign_check.h"

/* A string (or integer, for numbers) parameter; NULL if missing. */
const char *hub_opd_param(const json_t *p, const char *name, char *buf, size_t bufsize)
{
    json_t *v = json_object_get(p, name);
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(buf, bufsize, "%lld", (long long)json_integer_value(v));
        return buf;
    }
    return NULL;
}

static int check_keys(const char *pk, const char *dk, const char **ecode)
{
    if (!pk || !hub_valid_name(pk, HUB_KEY_MAX))
        return REFUSE(400, "bad_request",
                      "productKey missing or invalid (1..64 printable "
                      "characters, none of '/+#&|\\' or space)");
    if (!dk || !hub_valid_name(dk, HUB_KEY_MAX))
        return REFUSE(400, "bad_request",
                      "deviceKey missing or invalid (1..64 printable "
                      "characters, none of '/+#&|\\' or space)");
    return 0;
}

/* The request's timestamp (ms) must be within the window of our clock. */
int hub_opd_check_fresh(hub_ctx *ctx, const json_t *p, const char **ecode)
{
    char buf[32];
    const char *ts = hub_opd_param(p, "timestamp", buf, sizeof(buf));
    char *end;
    errno = 0;
    long long v = ts ? strtoll(ts, &end, 10) : 0;
    if (!ts || errno || *end || v <= 0)
        return REFUSE(400, "bad_request", "timestamp missing: send milliseconds since the epoch");
    long long skew = (long long)hub_now_ms() - v;
    if (skew > (long long)ctx->cfg.ts_window_s * 1000 ||
        -skew > (long long)ctx->cfg.ts_window_s * 1000)
        return REFUSE(401, "stale_timestamp",
                      "timestamp %lld is %lld s away from the hub's clock "
                      "(limit %d s): sync the device clock and sign a fresh request",
                      v, skew / 1000, ctx->cfg.ts_window_s);
    return 0;
}

/* Remember a signed request so it cannot be replayed within the window. */
int hub_opd_use_nonce(hub_ctx *ctx, const char *kind, const json_t *p, const char **ecode)
{
    char nonce[96];
    snprintf(nonce, sizeof(nonce), "%s:%s", kind, json_string_value(json_object_get(p, "sign")));
    int rc = reg_nonce_use(ctx->reg, nonce, hub_now_s() + 2 * ctx->cfg.ts_window_s);
    if (rc < 0)
        return REFUSE(500, "internal", "%s", hub_err());
    if (rc == 1)
        return REFUSE(409, "replayed",
                      "request replayed: this signature was already used; "
                      "sign a new request with a fresh timestamp");
    return 0;
}

static int activate_device(hub_ctx *ctx, const char *pk, const char *dk, const char *secret,
                           const char *asset, const char **ecode)
{
    hub_device dev;
    int rc = reg_device_get(ctx->reg, dk, &dev);
    if (rc < 0)
        return REFUSE(500, "internal", "%s", hub_err());
    if (rc == 1 || strcmp(dev.pk, pk) != 0)
        return REFUSE(404, "device_not_registered",
                      "device '%s' is not pre-registered under "
                      "product '%s'; register its SN first (edgekey-hub device add)",
                      dk, pk);
    if (dev.state == HUB_DEV_ACTIVATED)
        return REFUSE(409, "already_activated",
                      "device '%s' is already activated; a second "
                      "activation is refused (reset it on the hub to re-enrol)",
                      dk);
    if (dev.state != HUB_DEV_REGISTERED)
        return REFUSE(403, "device_disabled", "device '%s' is disabled", dk);
    rc = reg_device_activate(ctx->reg, pk, dk, secret, asset);
    if (rc == 1)
        return REFUSE(409, "already_activated", "device '%s' was activated concurrently", dk);
    if (rc < 0 || reg_audit(ctx->reg, dk, "activate", dk, asset) != 0)
        return REFUSE(500, "internal", "%s", hub_err());
    return 0;
}

int hub_op_activate(hub_ctx *ctx, const json_t *p, json_t **data, const char **ecode)
{
    char b1[32];
    const char *pk = hub_opd_param(p, "productKey", b1, sizeof(b1));
    const char *dk = json_string_value(json_object_get(p, "deviceKey"));
    int st = check_keys(pk, dk, ecode);
    if (st)
        return st;
    hub_product prod;
    int rc = reg_product_get(ctx->reg, pk, &prod);
    if (rc < 0)
        return REFUSE(500, "internal", "%s", hub_err());
    if (rc == 1)
        return REFUSE(404, "unknown_product",
                      "product '%s' is not known to the hub; "
                      "create it first (edgekey-hub product add)",
                      pk);
    if (hub_sign_verify(p, prod.secret) != 0) {
        OPENSSL_cleanse(&prod, sizeof(prod));
        return REFUSE(401, "bad_signature",
                      "activation refused: sign does not match "
                      "SHA-256 over the sorted parameters + productSecret; check the "
                      "productSecret burnt into the device");
    }
    OPENSSL_cleanse(prod.secret, sizeof(prod.secret));
    if ((st = hub_opd_check_fresh(ctx, p, ecode)) != 0)
        return st;
    if (!prod.dynamic_activation)
        return REFUSE(403, "activation_disabled",
                      "product '%s' does not allow dynamic "
                      "activation; enable it in the product policy",
                      pk);
    char secret[33], asset[17];
    if (hub_random_hex(16, secret) || hub_random_hex(8, asset))
        return REFUSE(500, "internal", "%s", hub_err());
    /* One transaction: the replay guard first (a replay is reported as
     * such), then the device's state; any refusal rolls everything back. */
    if (reg_begin(ctx->reg) != 0)
        return REFUSE(500, "internal", "%s", hub_err());
    st = hub_opd_use_nonce(ctx, "activate", p, ecode);
    if (!st)
        st = activate_device(ctx, pk, dk, secret, asset, ecode);
    if (st) {
        reg_rollback(ctx->reg);
        return st;
    }
    if (reg_commit(ctx->reg) != 0)
        return REFUSE(500, "internal", "%s", hub_err());
    *data = json_pack("{s:s, s:s, s:s, s:s}", "productKey", pk, "deviceKey", dk, "deviceSecret",
                      secret, "assetId", asset);
    OPENSSL_cleanse(secret, sizeof(secret));
    return 0;
}

/* Issue for a checked request inside one transaction; supersede the rest. */
/* ek_hash: the attested EK ("" = not attested: the device's binding stays,
 * its certificate is marked unattested). */
static int issue(hub_ctx *ctx, const char *kind, const json_t *p, X509_REQ *req,
                 const hub_product *prod, const char *dk, int days, const char *ek_hash,
                 json_t **data, const char **ecode)
{
    hub_issue ir = {.kind = HUB_CK_DEVICE,
                    .cn = dk,
                    .pk = prod->pk,
                    .days = days,
                    .attested = ek_hash[0] != '\0'};
    hub_cert c;
    int st = 0;
    if (reg_begin(ctx->reg) != 0)
        return REFUSE(500, "internal", "%s", hub_err());
    if (p && json_object_get(p, "sign"))
        st = hub_opd_use_nonce(ctx, kind, p, ecode);
    if (!st && hub_ca_issue(ctx->ca, ctx->reg, X509_REQ_get0_pubkey(req), &ir, &c) != 0)
        st = REFUSE(500, "ca_error", "%s", hub_err());
    if (!st) {
        if (reg_cert_supersede_device(ctx->reg, dk, c.serial, NULL) != 0 ||
            hub_opd_attest_record(ctx, dk, ek_hash) != 0 ||
            reg_audit(ctx->reg, dk, kind, c.serial, "issued") != 0)
            st = REFUSE(500, "internal", "%s", hub_err());
        if (st)
            reg_cert_clear(&c);
    }
    if (st) {
        reg_rollback(ctx->reg);
        return st;
    }
    if (reg_commit(ctx->reg) != 0) {
        reg_cert_clear(&c);
        return REFUSE(500, "internal", "%s", hub_err());
    }
    *data = json_pack("{s:s, s:s, s:s, s:I}", "cert", c.pem, "certSn", c.serial, "chain",
                      hub_ca_chain_pem(ctx->ca), "notAfter", (json_int_t)c.not_after);
    reg_cert_clear(&c);
    return 0;
}

static int valid_days(const json_t *p, const hub_product *prod, int *days, const char **ecode)
{
    char buf[32];
    const char *v = hub_opd_param(p, "validDay", buf, sizeof(buf));
    *days = prod->validity_days;
    if (!v)
        return 0;
    char *end;
    long d = strtol(v, &end, 10);
    if (*end || d <= 0)
        return REFUSE(400, "bad_request", "validDay must be a positive number of days");
    if (d < *days)
        *days = (int)d;
    return 0;
}

int hub_opd_device_auth(hub_ctx *ctx, const json_t *p, const char *what, hub_device *dev,
                        const char **ecode)
{
    char b1[32];
    const char *pk = hub_opd_param(p, "productKey", b1, sizeof(b1));
    const char *dk = json_string_value(json_object_get(p, "deviceKey"));
    int st = check_keys(pk, dk, ecode);
    if (st)
        return st;
    int rc = reg_device_get(ctx->reg, dk, dev);
    if (rc < 0)
        return REFUSE(500, "internal", "%s", hub_err());
    if (rc == 1 || strcmp(dev->pk, pk) != 0)
        return REFUSE(404, "device_not_registered",
                      "device '%s' is not registered under "
                      "product '%s'",
                      dk, pk);
    if (dev->state != HUB_DEV_ACTIVATED)
        return REFUSE(403, "not_activated", "device '%s' is not activated; activate it first", dk);
    rc = hub_sign_verify(p, dev->secret);
    OPENSSL_cleanse(dev->secret, sizeof(dev->secret));
    if (rc != 0)
        return REFUSE(401, "bad_signature",
                      "%s refused: sign does not match SHA-256 over "
                      "the sorted parameters + deviceSecret",
                      what);
    return hub_opd_check_fresh(ctx, p, ecode);
}

int hub_op_apply(hub_ctx *ctx, const json_t *p, json_t **data, const char **ecode)
{
    const char *csr = json_string_value(json_object_get(p, "csr"));
    hub_device dev;
    hub_product prod;
    int st = hub_opd_device_auth(ctx, p, "apply", &dev, ecode);
    if (st)
        return st;
    if (!csr)
        return REFUSE(400, "bad_request", "csr missing: send the PEM CSR as a string");
    const char *pk = dev.pk, *dk = dev.dk;
    if (reg_product_get(ctx->reg, pk, &prod) != 0)
        return REFUSE(500, "internal", "product '%s' vanished", pk);
    int days;
    if ((st = valid_days(p, &prod, &days, ecode)) != 0)
        return st;
    X509_REQ *req = NULL;
    int rc = hub_csr_check(csr, strlen(csr), dk, prod.key_types, &req);
    if (rc != HUB_CSR_OK)
        return REFUSE(400, hub_csr_rc_name(rc), "%s", hub_err());
    char ek_hash[65] = "";
    st = hub_opd_attest_apply(ctx, p, &prod, dk, X509_REQ_get0_pubkey(req), ek_hash, ecode);
    if (!st)
        st = issue(ctx, "apply", p, req, &prod, dk, days, ek_hash, data, ecode);
    X509_REQ_free(req);
    return st;
}

int hub_op_client_cert(hub_ctx *ctx, X509 *client, hub_cert *rec, const char **ecode)
{
    char serial[41], cn[HUB_KEY_MAX + 2];
    if (!client)
        return REFUSE(401, "client_cert_required",
                      "this endpoint needs mutual TLS: present "
                      "the device's current certificate");
    if (hub_ca_verify(ctx->ca, client) != 0)
        return REFUSE(401, "client_cert_invalid", "%s", hub_err());
    hub_serial_hex(X509_get0_serialNumber(client), serial);
    int rc = reg_cert_get(ctx->reg, serial, rec);
    if (rc != 0)
        return REFUSE(401, "client_cert_unknown", "certificate %s is not in the registry", serial);
    if (rec->state != HUB_CERT_ACTIVE || rec->kind != HUB_CK_DEVICE) {
        reg_cert_clear(rec);
        return REFUSE(403, "client_cert_inactive",
                      "certificate %s is not active (superseded "
                      "or revoked); apply for a new one",
                      serial);
    }
    if (hub_cert_cn(X509_get_subject_name(client), cn, sizeof(cn)) != 0 ||
        strcmp(cn, rec->dk) != 0) {
        reg_cert_clear(rec);
        return REFUSE(403, "client_cert_subject",
                      "certificate %s subject does not match its "
                      "device",
                      serial);
    }
    return 0;
}

int hub_op_renew(hub_ctx *ctx, X509 *client, const json_t *p, json_t **data, const char **ecode)
{
    hub_cert cur;
    int st = hub_op_client_cert(ctx, client, &cur, ecode);
    if (st)
        return st;
    const char *csr = json_string_value(json_object_get(p, "csr"));
    hub_product prod;
    X509_REQ *req = NULL;
    int days, rc;
    if (!csr)
        st = REFUSE(400, "bad_request", "csr missing: send the PEM CSR as a string");
    else if (reg_product_get(ctx->reg, cur.pk, &prod) != 0)
        st = REFUSE(500, "internal", "product '%s' not found", cur.pk);
    else if ((st = valid_days(p, &prod, &days, ecode)) == 0 &&
             (rc = hub_csr_check(csr, strlen(csr), cur.dk, prod.key_types, &req)) != HUB_CSR_OK)
        st = REFUSE(400, hub_csr_rc_name(rc), "%s", hub_err());
    if (!st)
        st = issue(ctx, "renew", NULL, req, &prod, cur.dk, days, "", data, ecode);
    X509_REQ_free(req);
    reg_cert_clear(&cur);
    return st;
}

int hub_op_revoke_self(hub_ctx *ctx, X509 *client, const json_t *p, json_t **data,
                       const char **ecode)
{
    hub_cert cur;
    int st = hub_op_client_cert(ctx, client, &cur, ecode);
    if (st)
        return st;
    json_t *r = json_object_get(p, "reason");
    int reason = json_is_integer(r) ? (int)json_integer_value(r) : 0;
    st = hub_op_revoke(ctx, cur.serial, reason, cur.dk, ecode);
    if (!st)
        *data = json_pack("{s:s, s:i}", "certSn", cur.serial, "reason", reason);
    reg_cert_clear(&cur);
    return st;
}
