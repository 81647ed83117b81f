/* edgekey hub: operator-facing operations, maintenance, JSON views. */
#include "ops.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "hub_util.h"

#define REFUSE(status, code, ...) (*ecode = (code), hub_fail(__VA_ARGS__), (status))

int hub_ctx_open(const char *conf_path, bool with_ca, hub_ctx *ctx)
{
    memset(ctx, 0, sizeof(*ctx));
    if (hub_config_load(conf_path, &ctx->cfg) != 0 ||
        reg_open(ctx->cfg.registry, false, &ctx->reg) != 0)
        return -1;
    if (strcmp(ctx->cfg.durability, "normal") == 0 && reg_set_durability(ctx->reg, false) != 0) {
        reg_close(ctx->reg);
        return -1;
    }
    if (with_ca && hub_ca_open(&ctx->cfg, &ctx->ca) != 0) {
        reg_close(ctx->reg);
        ctx->reg = NULL;
        return -1;
    }
    return 0;
}

void hub_ctx_close(hub_ctx *ctx)
{
    hub_ca_free(ctx->ca);
    reg_close(ctx->reg);
    memset(ctx, 0, sizeof(*ctx));
}

int hub_op_product_add(hub_ctx *ctx, const char *pk, unsigned key_types, int days, bool dynamic,
                       hub_product *out, const char **ecode)
{
    hub_product p = {.key_types = key_types, .validity_days = days, .dynamic_activation = dynamic};
    if (pk && *pk)
        snprintf(p.pk, sizeof(p.pk), "%s", pk);
    else if (hub_random_hex(8, p.pk) != 0)
        return REFUSE(500, "internal", "%s", hub_err());
    if (!hub_valid_name(p.pk, HUB_KEY_MAX))
        return REFUSE(400, "bad_request",
                      "productKey '%s' invalid: 1..64 printable characters, "
                      "none of '/+#&|\\' or space",
                      p.pk);
    if (!key_types || (key_types & ~3u))
        return REFUSE(400, "bad_request", "keyTypes must name rsa and/or ec");
    if (days < 1 || days > 3650)
        return REFUSE(400, "bad_request", "validityDays must be 1..3650");
    if (hub_random_hex(16, p.secret) != 0)
        return REFUSE(500, "internal", "%s", hub_err());
    if (reg_begin(ctx->reg) != 0)
        return REFUSE(500, "internal", "%s", hub_err());
    int rc = reg_product_add(ctx->reg, &p);
    if (rc == 0 && reg_audit(ctx->reg, "admin", "product_add", p.pk, "") != 0)
        rc = -1;
    /* a hub that can attest (ek_roots) requires it by default (issue 13) */
    if (rc == 0 && ctx->cfg.ek_roots[0] &&
        reg_product_attest_set(ctx->reg, p.pk, HUB_ATTEST_REQUIRED) != 0)
        rc = -1;
    if (rc != 0) {
        reg_rollback(ctx->reg);
        return rc == 1 ? REFUSE(409, "exists", "product '%s' already exists", p.pk)
                       : REFUSE(500, "internal", "%s", hub_err());
    }
    if (reg_commit(ctx->reg) != 0)
        return REFUSE(500, "internal", "%s", hub_err());
    if (out)
        *out = p;
    return 0;
}

int hub_op_device_add(hub_ctx *ctx, const char *pk, const char *dk, const char **ecode)
{
    hub_product p;
    if (!pk || !dk || !hub_valid_name(dk, HUB_KEY_MAX))
        return REFUSE(400, "bad_request",
                      "deviceKey (the SN) invalid: 1..64 printable "
                      "characters, none of '/+#&|\\' or space");
    int rc = reg_product_get(ctx->reg, pk, &p);
    if (rc == 1)
        return REFUSE(404, "unknown_product", "product '%s' does not exist; create it first", pk);
    if (rc < 0)
        return REFUSE(500, "internal", "%s", hub_err());
    if (reg_begin(ctx->reg) != 0)
        return REFUSE(500, "internal", "%s", hub_err());
    rc = reg_device_add(ctx->reg, pk, dk);
    if (rc == 0 && reg_audit(ctx->reg, "admin", "device_add", dk, pk) != 0)
        rc = -1;
    if (rc != 0) {
        reg_rollback(ctx->reg);
        return rc == 1 ? REFUSE(409, "exists", "device '%s' is already registered", dk)
                       : REFUSE(500, "internal", "%s", hub_err());
    }
    if (reg_commit(ctx->reg) != 0)
        return REFUSE(500, "internal", "%s", hub_err());
    return 0;
}

static void notify_broker(hub_ctx *ctx)
{
    /* mosquitto re-reads crlfile on SIGHUP (new handshakes only; the plugin
     * ends live sessions itself). */
    char *txt = NULL;
    if (!ctx->cfg.broker_pid_file[0] || hub_read_file(ctx->cfg.broker_pid_file, &txt, NULL) != 0)
        return;
    long pid = strtol(txt, NULL, 10);
    free(txt);
    if (pid > 1)
        kill((pid_t)pid, SIGHUP);
}

int hub_op_crl_refresh(hub_ctx *ctx)
{
    if (!ctx->ca)
        return hub_fail("CRL: the CA is not open");
    if (hub_crl_update(ctx->ca, ctx->reg, &ctx->crl_next_update) != 0)
        return -1;
    notify_broker(ctx);
    return 0;
}

/* Serial text as hub_serial_hex() prints it: upper case, whole bytes, no
 * leading zero bytes ("0a1b" and "000A1B" -> "0A1B"). */
static int canon_serial(const char *in, char out[41])
{
    if (!in)
        return -1;
    while (*in == '0')
        in++;
    size_t n = strlen(in), o = 0;
    if (n == 0 || n > 38 || strspn(in, "0123456789abcdefABCDEF") != n)
        return -1;
    if (n % 2)
        out[o++] = '0';
    for (size_t i = 0; i <= n; i++)
        out[o++] = (in[i] >= 'a' && in[i] <= 'f') ? (char)(in[i] - 32) : in[i];
    return 0;
}

int hub_op_revoke(hub_ctx *ctx, const char *serial, int reason, const char *actor,
                  const char **ecode)
{
    /* 7 is unused in RFC 5280 and removeFromCRL (8) belongs to delta CRLs. */
    if (reason < 0 || reason > 10 || reason == 7 || reason == 8)
        return REFUSE(400, "bad_reason",
                      "reason %d is not a revocation reason: use 0 "
                      "unspecified, 1 keyCompromise, 2 cACompromise, 3 affiliationChanged, "
                      "4 superseded, 5 cessationOfOperation, 6 certificateHold, "
                      "9 privilegeWithdrawn or 10 aACompromise (RFC 5280 CRLReason)",
                      reason);
    hub_cert c;
    char sn[41];
    if (canon_serial(serial, sn) != 0)
        return REFUSE(400, "bad_request", "certSn '%.48s' is not a hex serial number",
                      serial ? serial : "");
    int rc = reg_cert_get(ctx->reg, sn, &c);
    if (rc == 1)
        return REFUSE(404, "unknown_cert", "certificate %s is not known to the hub", serial);
    if (rc < 0)
        return REFUSE(500, "internal", "%s", hub_err());
    char canon[41];
    snprintf(canon, sizeof(canon), "%s", c.serial);
    reg_cert_clear(&c);
    if (reg_begin(ctx->reg) != 0)
        return REFUSE(500, "internal", "%s", hub_err());
    rc = reg_cert_revoke(ctx->reg, canon, reason);
    if (rc == 0 && reg_audit(ctx->reg, actor, "revoke", canon, "") != 0)
        rc = -1;
    if (rc != 0) {
        reg_rollback(ctx->reg);
        return rc == 1 ? REFUSE(409, "already_revoked", "certificate %s is already revoked", canon)
                       : REFUSE(500, "internal", "%s", hub_err());
    }
    if (reg_commit(ctx->reg) != 0)
        return REFUSE(500, "internal", "%s", hub_err());
    if (ctx->ca && hub_op_crl_refresh(ctx) != 0)
        hub_log("revoked %s but the CRL update failed: %s", canon, hub_err());
    return 0;
}

typedef struct {
    char serial[16][41];
    int n;
} live_certs;

/* The device's certificates not yet revoked (a device has one, two during
 * a renewal's grace period; 16 is plenty). */
static int collect_live(const hub_cert *c, void *arg)
{
    live_certs *l = arg;
    if (c->kind == HUB_CK_DEVICE && c->state != HUB_CERT_REVOKED && l->n < 16)
        snprintf(l->serial[l->n++], 41, "%s", c->serial);
    return 0;
}

int hub_op_device_reset(hub_ctx *ctx, const char *dk, int *revoked, const char **ecode)
{
    hub_device d;
    live_certs l = {.n = 0};
    int rc = dk ? reg_device_get(ctx->reg, dk, &d) : 1;
    if (rc == 1)
        return REFUSE(404, "device_not_registered", "device '%s' is not registered; see "
                      "edgekey-hub device list", dk ? dk : "");
    if (rc < 0 || reg_cert_list(ctx->reg, dk, false, collect_live, &l) != 0)
        return REFUSE(500, "internal", "%s", hub_err());
    OPENSSL_cleanse(d.secret, sizeof(d.secret));
    if (reg_begin(ctx->reg) != 0)
        return REFUSE(500, "internal", "%s", hub_err());
    /* its certificates go on the CRL, its deviceSecret is void: the device
     * activates again (new secret) and applies with a new TPM key */
    for (int i = 0; rc == 0 && i < l.n; i++)
        rc = reg_cert_revoke(ctx->reg, l.serial[i], 5) < 0 ? -1 : 0; /* cessationOfOperation */
    if (rc == 0)
        rc = reg_device_set_state(ctx->reg, dk, HUB_DEV_REGISTERED) < 0 ? -1 : 0;
    if (rc == 0)
        rc = reg_audit(ctx->reg, "admin", "device_reset", dk, "");
    if (rc != 0) {
        reg_rollback(ctx->reg);
        return REFUSE(500, "internal", "%s", hub_err());
    }
    if (reg_commit(ctx->reg) != 0)
        return REFUSE(500, "internal", "%s", hub_err());
    if (l.n > 0 && ctx->ca && hub_op_crl_refresh(ctx) != 0)
        hub_log("device %s reset but the CRL update failed: %s", dk, hub_err());
    *revoked = l.n;
    return 0;
}

int hub_op_maintain(hub_ctx *ctx)
{
    int n = 0;
    if (reg_cert_expire_superseded(ctx->reg, hub_now_s() - ctx->cfg.renew_grace_s, &n) != 0)
        return -1;
    /* Reissue a day before nextUpdate (or at once for short test periods). */
    int64_t margin = ctx->cfg.crl_days > 1 ? 86400 : 3600;
    if (ctx->ca &&
        (n > 0 || ctx->crl_next_update == 0 || hub_now_s() > ctx->crl_next_update - margin))
        return hub_op_crl_refresh(ctx);
    return 0;
}

const char *hub_dev_state_name(int s)
{
    return s == HUB_DEV_REGISTERED  ? "registered"
           : s == HUB_DEV_ACTIVATED ? "activated"
                                    : "disabled";
}

const char *hub_cert_state_name(int s)
{
    return s == HUB_CERT_ACTIVE ? "active" : s == HUB_CERT_SUPERSEDED ? "superseded" : "revoked";
}

json_t *hub_json_device(const hub_device *d)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "productKey", d->pk, "deviceKey", d->dk,
                     "state", hub_dev_state_name(d->state), "assetId", d->asset_id, "created",
                     (json_int_t)d->created, "activated", (json_int_t)d->activated);
}

json_t *hub_json_cert(const hub_cert *c, bool with_pem)
{
    static const char *const kinds[] = {"device", "hub", "service"};
    json_t *o = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:i, s:I}", "certSn", c->serial, "productKey", c->pk,
        "deviceKey", c->dk, "kind", kinds[c->kind >= 0 && c->kind <= 2 ? c->kind : 0], "state",
        hub_cert_state_name(c->state), "notBefore", (json_int_t)c->not_before, "notAfter",
        (json_int_t)c->not_after, "reason", c->reason, "revokedAt", (json_int_t)c->revoked_at);
    if (o && with_pem && c->pem)
        json_object_set_new(o, "cert", json_string(c->pem));
    return o;
}
