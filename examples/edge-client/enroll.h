/* edge-client: first-boot enrolment and its state in data_dir.
 *
 * The deviceSecret is a PKCS#11 data object sealed in the TPM (secret.c;
 * data_dir/device.secret, 0600, only with a module that refuses data
 * objects). data_dir holds device.pem (certificate + issuing CA), device.sn
 * (certificate serial), and the trust state (ca.pem, crl.pem: trust.c;
 * clock.mark: clock.c). The key stays in the TPM, in the edgekey token,
 * under its pkcs11: URI. */
#ifndef EDGE_ENROLL_H
#define EDGE_ENROLL_H

#include <jansson.h>
#include <openssl/evp.h>

#include "config.h"

typedef struct {
    char secret_file[1024];
    char cert_file[1024];
    char sn_file[1024];
    char key_uri[512];
} edge_paths;

void edge_paths_init(const edge_config *c, edge_paths *p);

/* The deviceSecret (caller wipes + frees): unsealed from the token
 * (secret.c), or, if there is none, activated now and sealed (*fresh = 1;
 * *sealed = 0 if it went to the fallback file). The token must exist: make
 * the key first. NULL on refusal or error (message printed). */
char *edge_activate(const edge_config *c, const edge_paths *p, int *fresh, int *sealed);

/* PEM CSR signed by the TPM key: CN = SN, C/ST/O from the config if set.
 * Caller frees; NULL on error (printed). */
char *edge_make_csr(const edge_config *c, EVP_PKEY *key);
/* "C=.., ST=.., O=.., " for the fields set (for messages), "" if none. */
void edge_subject_prefix(const edge_config *c, char *out, size_t size);

/* The TPM key: loaded by URI, or generated if absent (*fresh = 1). */
EVP_PKEY *edge_ensure_key(const edge_config *c, const edge_paths *p, int *fresh);

/* Apply for a certificate if device.pem is missing or not for key:
 * CSR signed in the TPM, apply signed with the deviceSecret. 0 or -1;
 * *fresh = 1 when a certificate was issued now. */
int edge_ensure_cert(const edge_config *c, const edge_paths *p, EVP_PKEY *key, const char *secret,
                     int *fresh);

/* POST body to the hub API path, signed with secret (productKey,
 * deviceKey, timestamp and sign added); the reply's data or NULL (printed). */
json_t *edge_signed_call(const edge_config *c, const char *path, json_t *body, const char *secret,
                         const char *what);

/* Small file helpers: read a whole file (caller frees) / write atomically. */
char *edge_read_file(const char *path);
int edge_write_file(const char *path, const char *data, int mode);

long long edge_now_ms(void);

#endif
