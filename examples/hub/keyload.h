/* edgekey hub: keys and certificates by address, through OpenSSL's
 * OSSL_STORE. A key address is a PEM file path (software key, TSS2 PRIVATE
 * KEY, EDGEKEY URI PEM), "file:...", "pkcs11:..." or "handle:0x81...".
 * Everything that is not a plain software key is served by the edgekey
 * provider, loaded next to the default provider when present. */
#ifndef HUB_KEYLOAD_H
#define HUB_KEYLOAD_H

#include <stdbool.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/* Load the default provider and try edgekey (idempotent, thread-safe).
 * Returns true if edgekey is available. */
bool hub_providers_init(void);

/* Private key at an address; NULL with hub_err() set. Caller frees. */
EVP_PKEY *hub_load_key(const char *address);
/* First certificate in a PEM file; caller frees. */
X509 *hub_load_cert(const char *path);
/* All certificates in a PEM file; caller frees with sk_X509_pop_free. */
STACK_OF(X509) * hub_load_certs(const char *path);
/* PEM text of a cert (malloc'ed). */
char *hub_cert_pem(X509 *x);
/* Certificate from PEM text; caller frees. */
X509 *hub_cert_from_pem(const char *pem);
/* Canonical serial text: upper-case hex, no leading zero bytes. */
void hub_serial_hex(const ASN1_INTEGER *sn, char out[41]);
/* X509 time -> Unix seconds. */
int64_t hub_asn1_time_unix(const ASN1_TIME *t);
/* The subject CN (first) into out; -1 if none. */
int hub_cert_cn(X509_NAME *name, char *out, size_t outsize);
/* A fresh software key: "ec" (P-256) or "rsa" (3072); caller frees. */
EVP_PKEY *hub_soft_keygen(const char *kind);
/* Write a private key as PEM (mode 0600), atomically. */
int hub_write_key_pem(const char *path, EVP_PKEY *pkey);

#endif
