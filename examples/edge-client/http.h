/* edge-client: JSON calls to the hub's HTTPS API with libcurl.
 *
 * Trust: the hub CA chain only, peer and host name verified, TLS 1.2+,
 * CRL when configured. With a certificate and key the call is mutual TLS:
 * the TPM key is handed to libssl through CURLOPT_SSL_CTX_FUNCTION. */
#ifndef EDGE_HTTP_H
#define EDGE_HTTP_H

#include <jansson.h>
#include <openssl/evp.h>

typedef struct {
    const char *base_url;
    const char *ca_file;
    const char *crl_file;  /* or NULL */
    const char *cert_file; /* mTLS: certificate, or NULL */
    EVP_PKEY *key;         /* mTLS: TPM key, or NULL */
} edge_http;

/* POST body (borrowed) to base_url + path. Returns the reply's "data"
 * object (new reference) on code 0, else NULL with the hub's error code
 * and message printed after "edge-client: what:". */
json_t *edge_http_post(const edge_http *h, const char *path, json_t *body, const char *what);

/* GET base_url + path; the body (caller frees) on HTTP 200, else NULL
 * with the reason printed after "edge-client: what:". */
char *edge_http_get(const edge_http *h, const char *path, const char *what);

/* EnOS request signature: UPPER(HEX(SHA-256(k1 v1 k2 v2 ... secret))) over
 * all members but "sign", keys sorted bytewise. out: 65 bytes. 0 or -1. */
int edge_sign(json_t *params, const char *secret, char out[65]);

/* UPPER(HEX(SHA-256(s))) into out (65 bytes). */
void edge_sha256_hex(const char *s, size_t len, char out[65]);

#endif
