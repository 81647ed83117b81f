/* edgekey hub: make a key in the hub's TPM through edgekey's public faces.
 *
 * `edgekey keygen --token hub --label L --alg ec-p256`, then `edgekey
 * export-ref URI --out PATH` (a key *file* that mosquitto and OSSL_STORE
 * open through the provider); *uri gets the pkcs11: URI (for the PKCS#11
 * face, written to hub/hub.uri). The CLI is the one built with the hub:
 * $EDGEKEY_HUB_CLI, else beside the executable (or the build tree's cli/),
 * else the install path, else PATH. Without it: -1 with hub_err() naming
 * the places looked at and the fix (no software fallback: a key without a
 * pkcs11: URI left the API unable to serve). */
#ifndef HUB_TPM_KEYGEN_H
#define HUB_TPM_KEYGEN_H

#include <stddef.h>

int hub_tpm_keygen(const char *label, const char *path, char *uri, size_t urisize);
/* Run argv (PATH lookup), capture up to outsize-1 bytes of stdout (out may
 * be NULL). Returns the exit status, or -1 if it could not run. */
int hub_run(char *const argv[], char *out, size_t outsize);

#endif
