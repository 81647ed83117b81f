/* Helpers shared by the OpenSSL-side benchmarks (evp_sign, tls_bench):
 * a private library context with the providers under test, key loading
 * through OSSL_STORE (file path or URI), error printing. */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <openssl/evp.h>
#include <openssl/x509.h>

/* Print msg and the OpenSSL error queue to stderr. */
void bu_err(const char *msg);

/* A new library context (no openssl.cnf) with `provider` and default loaded.
 * provider "none" or NULL: default only. tpm_first: load `provider` before
 * default (so its algorithms are found first), else after. propq (may be
 * NULL) becomes the context's default property query, e.g. "tpm2.digest=no"
 * keeps tpm2-openssl's TPM-side digests out. NULL (printed) on failure. */
OSSL_LIB_CTX *bu_libctx(const char *provider, int tpm_first, const char *propq);

/* The first private key at uri (a path or any scheme a loaded provider
 * serves: handle:, pkcs11:, file:). pass (may be NULL) answers a
 * passphrase/auth prompt. Caller frees. NULL on failure (printed). */
EVP_PKEY *bu_load_key(OSSL_LIB_CTX *libctx, const char *uri, const char *pass);

/* An X509 certificate file, or NULL (printed). */
X509 *bu_load_cert(OSSL_LIB_CTX *libctx, const char *path);

#endif
