/* A spy ENGINE for tests (issue 12): what an application does with
 * libp11's `-engine pkcs11` or ENGINE_set_default, to check that core's
 * crypto never reaches it. Two kinds, because OpenSSL 3.x hands an ENGINE
 * the work at two levels, whatever the library context:
 *  - pkey: EVP_PKEY_METHODs for RSA and EC, asked by every EVP_PKEY_CTX of
 *    those types; counts the asks and refuses the work, as libp11 0.4.12
 *    does for keys it does not hold;
 *  - rsa: an RSA_METHOD made the default for RSA, given to every RSA object
 *    (the default provider's included); counts each RSA operation and does
 *    it with OpenSSL's own method, so a leak stays silent.
 * Not thread-safe; for single-threaded tests. */
#ifndef EK_SPY_ENGINE_H
#define EK_SPY_ENGINE_H

#include <openssl/engine.h>

/* Install a spy as the process-wide default (NULL on failure). The counters
 * run from process start; take differences. */
ENGINE *ek_spy_pkey_install(void);
ENGINE *ek_spy_rsa_install(void);
extern int ek_spy_pkey_asked; /* EVP_PKEY_CTXs of type RSA or EC that asked */
extern int ek_spy_rsa_ops;    /* RSA operations that reached the RSA_METHOD */

/* Unregister and free one installed spy (its EVP_PKEY_METHODs go with
 * it); ek_spy_free frees the RSA_METHOD at the end. */
void ek_spy_remove(ENGINE *e);
void ek_spy_free(void);

#endif
