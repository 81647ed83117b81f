/* edgekey hub: the operations behind the API and the CLI.
 *
 * A hub_ctx bundles configuration, registry and CA. Operations return 0 on
 * success; on refusal they return the HTTP status to answer with and set
 * *ecode to a short machine-readable code ("bad_signature", ...) and
 * hub_err() to a sentence naming the rule and the fix. A refused request
 * stores nothing: each operation runs in one registry transaction. */
#ifndef HUB_OPS_H
#define HUB_OPS_H

#include <jansson.h>
#include <openssl/x509.h>
#include "ca.h"
#include "config.h"
#include "registry.h"

struct hub_service;

typedef struct hub_ctx {
    hub_config cfg;
    hub_registry *reg;
    hub_ca *ca;              /* NULL when opened without the CA */
    struct hub_service *svc; /* MQTT cloud side, in `serve` */
    int64_t crl_next_update;
} hub_ctx;

int hub_ctx_open(const char *conf_path, bool with_ca, hub_ctx *ctx);
void hub_ctx_close(hub_ctx *ctx);

/* Device-facing (ops_device.c). *data receives the reply's data object. */
int hub_op_activate(hub_ctx *ctx, const json_t *params, json_t **data, const char **ecode);
int hub_op_apply(hub_ctx *ctx, const json_t *params, json_t **data, const char **ecode);
/* Key attestation, step 1 (ops_attest.c, docs/attestation.md): EK
 * certificate, EK and AK public areas checked, a credential challenge made;
 * {"attestation":"off"} and no challenge when the hub has no ek_roots or the
 * product's mode is off. */
int hub_op_attest_start(hub_ctx *ctx, const json_t *params, json_t **data, const char **ecode);
/* "required"|"optional"|"off" -> HUB_ATTEST_*; NULL: the default (required
 * with ek_roots, else off). 400 "bad_request" for another word or for
 * required without ek_roots: check before the product is stored. */
int hub_op_attest_mode(const hub_ctx *ctx, const char *word, int *mode, const char **ecode);
const char *hub_attest_mode_name(int mode);
/* The product's attestation mode (HUB_ATTEST_*; "required" needs ek_roots). */
int hub_op_product_attestation(hub_ctx *ctx, const char *pk, int mode, const char **ecode);
/* Forget the EK a device is bound to (an admin, after a TPM replacement). */
int hub_op_device_ek_reset(hub_ctx *ctx, const char *dk, const char **ecode);
int hub_op_renew(hub_ctx *ctx, X509 *client, const json_t *params, json_t **data,
                 const char **ecode);
int hub_op_revoke_self(hub_ctx *ctx, X509 *client, const json_t *params, json_t **data,
                       const char **ecode);
/* The registry record behind a verified client certificate (mTLS). */
int hub_op_client_cert(hub_ctx *ctx, X509 *client, hub_cert *rec, const char **ecode);

/* Operator-facing (ops_admin.c). */
int hub_op_product_add(hub_ctx *ctx, const char *pk, unsigned key_types, int days, bool dynamic,
                       hub_product *out, const char **ecode);
int hub_op_device_add(hub_ctx *ctx, const char *pk, const char *dk, const char **ecode);
/* reason: RFC 5280 CRLReason 0..10 except 7 and 8. Regenerates the CRL. */
int hub_op_revoke(hub_ctx *ctx, const char *serial, int reason, const char *actor,
                  const char **ecode);
/* Operator reset of a device (after `edge-client reset`, or a device sent
 * for repair): its live certificates revoked (cessationOfOperation, CRL
 * reissued), state back to registered so it can activate again.
 * *revoked = certificates revoked now. */
int hub_op_device_reset(hub_ctx *ctx, const char *dk, int *revoked, const char **ecode);
/* Periodic: revoke superseded certs past the grace period, refresh the CRL
 * before nextUpdate. */
int hub_op_maintain(hub_ctx *ctx);
/* Reissue the CRL now and tell the broker (SIGHUP) if configured. */
int hub_op_crl_refresh(hub_ctx *ctx);

/* JSON views of registry rows. */
json_t *hub_json_device(const hub_device *d);
json_t *hub_json_cert(const hub_cert *c, bool with_pem);
const char *hub_dev_state_name(int s);
const char *hub_cert_state_name(int s);

#endif
