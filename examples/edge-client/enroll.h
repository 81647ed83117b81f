/* edge-client: first-boot enrolment and its state in data_dir.
 *
 * data_dir holds device.secret (the deviceSecret, mode 0600: edgekey has
 * no sealing face for application data yet), device.pem (certificate +
 * issuing CA), device.sn (certificate serial). The key itself stays in the
 * TPM, in the edgekey token, under its pkcs11: URI. */
#ifndef EDGE_ENROLL_H
#define EDGE_ENROLL_H

#include <openssl/evp.h>

#include "config.h"

typedef struct {
    char secret_file[1024];
    char cert_file[1024];
    char sn_file[1024];
    char key_uri[512];
} edge_paths;

void edge_paths_init(const edge_config *c, edge_paths *p);

/* Activate if device.secret is missing; the secret (caller wipes + frees)
 * is returned. NULL on refusal (message printed). */
char *edge_activate(const edge_config *c, const edge_paths *p, int *fresh);

/* The TPM key: loaded by URI, or generated if absent (*fresh = 1). */
EVP_PKEY *edge_ensure_key(const edge_config *c, const edge_paths *p, int *fresh);

/* Apply for a certificate if device.pem is missing or not for key:
 * CSR signed in the TPM, apply signed with the deviceSecret. 0 or -1;
 * *fresh = 1 when a certificate was issued now. */
int edge_ensure_cert(const edge_config *c, const edge_paths *p, EVP_PKEY *key,
                     const char *secret, int *fresh);

/* Small file helpers: read a whole file (caller frees) / write atomically. */
char *edge_read_file(const char *path);
int edge_write_file(const char *path, const char *data, int mode);

long long edge_now_ms(void);

#endif
