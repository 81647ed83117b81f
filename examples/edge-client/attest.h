/* edge-client: key attestation at enrollment (docs/attestation.md), the
 * device's side, through edgekey's core (ek_attest.h): the EK certificate
 * and public area and a fresh AK to the hub (attest/start), the hub's
 * credential activated in the TPM, the device key certified by the AK with
 * the hub's nonce; the answers go into the apply request. */
#ifndef EDGE_ATTEST_H
#define EDGE_ATTEST_H

#include <jansson.h>

#include "config.h"

/* Adds challengeId, activationSecret, keyPub, certifyInfo and
 * certifySignature to the apply body. 0 when added; 1 when the TPM has no
 * EK certificate or the hub answers that it does not attest this product
 * (the apply goes without: the hub decides); -1 on error
 * (printed: a refusal by the hub names its rule). */
int edge_attest(const edge_config *c, const char *key_uri, const char *secret, json_t *body);

#endif
