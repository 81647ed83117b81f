/* edge-client: the deviceSecret, sealed in the TPM.
 *
 * The secret is a private PKCS#11 data object in the device's token
 * (CKO_DATA, CKA_TOKEN and CKA_PRIVATE true, CKA_LABEL "deviceSecret",
 * CKA_APPLICATION "edge-client"), reached through the standard PKCS#11 calls
 * of the module named by `pkcs11_module` (default: the installed
 * edgekey-pkcs11.so). edgekey's module seals the value in the TPM and
 * unseals it through an encrypted (salted, parameter-encrypted) session, so
 * it is never in a file or on the TPM wire in clear.
 *
 * Fallback: only when the module refuses data objects (CKR_TEMPLATE_*,
 * CKR_ATTRIBUTE_*, CKR_FUNCTION_NOT_SUPPORTED: an older module), the secret
 * goes to data_dir/device.secret (0600) with a warning. load and destroy
 * look in both places.
 *
 * Every buffer that held the secret is wiped (OPENSSL_cleanse). Errors
 * are printed to stderr naming the module, the token and the fix. */
#ifndef EDGE_SECRET_H
#define EDGE_SECRET_H

#include "config.h"

/* 0 with *out (caller wipes + frees), 1 if there is no deviceSecret yet,
 * -1 on an error (module, token or TPM unavailable: do NOT re-activate). */
int edge_secret_load(const edge_config *c, const char *fallback_file, char **out);

/* Store secret as the token's data object (replacing an older one).
 * *sealed = 1 if it went to the TPM, 0 if to the fallback file. 0 / -1. */
int edge_secret_store(const edge_config *c, const char *fallback_file, const char *secret,
                      int *sealed);

/* Destroy the data object (C_DestroyObject) and the fallback file.
 * 0 (also when there was nothing), -1 on an error. */
int edge_secret_destroy(const edge_config *c, const char *fallback_file);

#endif
