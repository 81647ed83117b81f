/* What the provider's C interop tests (ekp_propq.c, ekp_sigmsg.c) share:
 * the providers in the order edgekey requires, a TPM key from its file and
 * its public half as the default provider alone holds it. */
#ifndef EKP_TESTKEY_H
#define EKP_TESTKEY_H

#include <openssl/evp.h>

/* Load default, then edgekey, into the default library context; 0 (OpenSSL's
 * errors printed) if either fails. */
int ekp_test_providers(void);

/* FILE's private key, held by the edgekey provider; NULL, with a message on
 * stderr naming FILE, otherwise. The caller frees it. */
EVP_PKEY *ekp_test_load_key(const char *file);

/* The public key as the default provider alone holds it (a CA's view); NULL
 * on failure. The caller frees it. */
EVP_PKEY *ekp_test_soft_copy(EVP_PKEY *k);

#endif
