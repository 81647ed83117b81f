/* edgekey hub: helpers shared by the device-facing operations
 * (ops_device.c, ops_attest.c). Same conventions as ops.h. */
#ifndef HUB_OPS_INT_H
#define HUB_OPS_INT_H

#include <openssl/evp.h>
#include "ops.h"

#define REFUSE(status, code, ...) (*ecode = (code), hub_fail(__VA_ARGS__), (status))

/* A string (or integer, for numbers) parameter; NULL if missing. */
const char *hub_opd_param(const json_t *p, const char *name, char *buf, size_t bufsize);
/* The request's timestamp (ms) within the window of the hub's clock. */
int hub_opd_check_fresh(hub_ctx *ctx, const json_t *p, const char **ecode);
/* Remember a signed request ("kind:sign") so it cannot be replayed. */
int hub_opd_use_nonce(hub_ctx *ctx, const char *kind, const json_t *p, const char **ecode);
/* productKey/deviceKey valid, device activated, sign by the deviceSecret,
 * timestamp fresh; dev filled (its secret wiped). */
int hub_opd_device_auth(hub_ctx *ctx, const json_t *p, const char *what, hub_device *dev,
                        const char **ecode);

/* ops_attest.c: apply's attestation part. Under the product's mode,
 * checks the attestation fields of an apply (challenge, secret, Certify)
 * against the CSR's key; ek_hash[65] gets the attested EK's hash, or ""
 * when the certificate is issued without attestation (optional, off). */
int hub_opd_attest_apply(hub_ctx *ctx, const json_t *p, const hub_product *prod, const char *dk,
                         EVP_PKEY *csr_key, char *ek_hash, const char **ecode);
/* Inside the issue transaction: bind the device to ek_hash and mark it
 * attested, or (ek_hash "") mark it unattested, keeping its binding. */
int hub_opd_attest_record(hub_ctx *ctx, const char *dk, const char *ek_hash);

#endif
