/* edge-client: the device key in the TPM, reached only through the edgekey
 * OpenSSL provider (loaded into the default library context, after the
 * default provider, so libssl and libcurl see the key too).
 *
 * Errors: -1 / NULL with the OpenSSL error queue printed to stderr and a
 * sentence naming the key and the fix. */
#ifndef EDGE_TPMKEY_H
#define EDGE_TPMKEY_H

#include <openssl/evp.h>
#include <openssl/provider.h>

/* Load "default" then "edgekey" (OPENSSL_MODULES or the modules dir). */
int edge_providers_load(void);
void edge_providers_unload(void);
/* The loaded edgekey provider (NULL before edge_providers_load): for its
 * provider-level parameters, e.g. the TPM clock (clock.c). */
OSSL_PROVIDER *edge_provider_edgekey(void);

/* pkcs11:token=TOKEN;object=LABEL;type=private into uri (size >= 512). */
void edge_key_uri(const char *token, const char *label, char *uri, size_t size);

/* Create a sign-only key in the TPM (type "rsa2048" or "ec-p256") stored
 * in the edgekey token under label. Returns the key (caller frees). */
EVP_PKEY *edge_key_generate(const char *type, const char *token, const char *label);

/* Load the private key by its pkcs11: URI (OSSL_STORE); NULL if none. */
EVP_PKEY *edge_key_load(const char *uri);

/* PEM CSR with CN = cn signed by the TPM key (SHA-256); caller frees.
 * NULL (refused, printed) once a clock rollback was seen (clock.h). */
char *edge_key_csr(EVP_PKEY *key, const char *cn);

/* Optional subject fields before the CN (NULL or "" = left out). */
typedef struct {
    const char *c, *st, *o;
} edge_subject;

/* As edge_key_csr, subject C, ST, O (those set) then CN = cn. */
char *edge_key_csr_subject(EVP_PKEY *key, const char *cn, const edge_subject *sub);

/* Print and clear the OpenSSL error queue after "edge-client: what". */
void edge_ossl_error(const char *what);

#endif
