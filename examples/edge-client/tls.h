/* edge-client: TLS client contexts with the TPM key.
 *
 * Every context: TLS 1.2 minimum, the hub's CA chain as the only trust
 * anchor, peer verification and host name check on, and the CRL checked
 * when one is configured. Verification is never turned off. */
#ifndef EDGE_TLS_H
#define EDGE_TLS_H

#include <openssl/ssl.h>

typedef struct {
    const char *ca_file;   /* PEM chain (required) */
    const char *crl_file;  /* PEM CRL or NULL */
    const char *host;      /* expected server name (DNS name or IP) */
    const char *cert_file; /* client certificate (PEM) or NULL */
    EVP_PKEY *key;         /* the TPM key (borrowed) or NULL */
} edge_tls_opts;

/* A fresh client SSL_CTX (caller frees) or NULL (errors printed). */
SSL_CTX *edge_tls_ctx_new(const edge_tls_opts *o);

/* Put the client certificate and TPM key into ctx (used by libcurl's
 * CURLOPT_SSL_CTX_FUNCTION on the context curl made). 0 or -1. */
int edge_tls_ctx_use_identity(SSL_CTX *ctx, const char *cert_file, EVP_PKEY *key);

#endif
