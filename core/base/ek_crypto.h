/* edgekey core (internal): software crypto in core's private OpenSSL
 * library context (crypto.c). Never reaches a provider the application
 * loaded; see crypto.c for what an application's default ENGINE can still
 * see on OpenSSL 3.0. All functions are thread-safe. */
#ifndef EK_CRYPTO_H
#define EK_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#include "ek_key.h"

/* The private context (default provider only), made on first use; NULL if
 * OpenSSL could not make it. Owned by core; never free it. */
OSSL_LIB_CTX *ek_sw_ctx(void);

/* Make the private context the thread's default library context until the
 * matching leave (for ESYS's own OpenSSL use); nests, per thread. tpm.c
 * calls them with the TPM lock, so every ESYS call runs inside. */
void ek_sw_enter(void);
void ek_sw_leave(void);

/* Random bytes from the private context's DRBG. */
bool ek_sw_random(uint8_t *buf, size_t len);

/* HMAC-SHA256 of data under key. */
bool ek_sw_hmac_sha256(const void *key, size_t klen, const void *data, size_t len, uint8_t out[32]);

/* The RSA public key (n, e) as an EVP_PKEY of the private context; the
 * caller frees it. NULL on failure. */
EVP_PKEY *ek_sw_rsa_pub(const uint8_t *n, size_t nlen, uint32_t e);

/* Verify an RSA-PSS signature over mhash (MGF1 with md): the salt length
 * when it verifies with salt = digest length, nlen - digest - 2 (the
 * maximum) when it verifies only with another salt, -1 when it does not
 * verify, EK_PSS_CANNOT_CHECK when OpenSSL would not run the check (on 3.0
 * an application's default ENGINE for RSA takes every RSA EVP_PKEY_CTX,
 * whatever its library context, and cannot import our key). e 0 = 65537. */
#define EK_PSS_CANNOT_CHECK (-2)
int ek_sw_pss_salt(const uint8_t *n, size_t nlen, uint32_t e, ek_md md, const uint8_t *mhash,
                   const uint8_t *sig, size_t slen);

/* ---- what an ESYS session needs (crypto_tss.c, crypto_oaep.c;
 * tpm/esys_crypto.c) ----
 * All in the private context; none of them reports through ek_error, the
 * caller turns false into its own error. */

/* A running HMAC; ek_sw_hmac_new gives NULL for EK_MD_NONE or on failure.
 * final writes at most *len bytes and sets *len; free cleanses the state. */
typedef struct ek_sw_hmac ek_sw_hmac;
ek_sw_hmac *ek_sw_hmac_new(ek_md md, const uint8_t *key, size_t klen);
bool ek_sw_hmac_update(ek_sw_hmac *h, const uint8_t *data, size_t len);
bool ek_sw_hmac_final(ek_sw_hmac *h, uint8_t *out, size_t *len);
void ek_sw_hmac_free(ek_sw_hmac *h);

/* RSA-OAEP encryption of in to the public key (n, e; e 0 = 65537) with the
 * TPM's label convention (label's terminating NUL included). *outlen: room
 * in, ciphertext length out. Asks no ENGINE (see crypto_oaep.c). */
bool ek_sw_rsa_oaep(const uint8_t *n, size_t nlen, uint32_t e, ek_md md, const char *label,
                    const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen);

/* One-pass ECDH against the peer point (px, py) on curve nid, fsize bytes
 * per coordinate: z = x(k*P), (qx, qy) = k*G for a fresh k. Refuses a point
 * not on the curve. Uses no EVP_PKEY_CTX (so no ENGINE, see crypto_tss.c). */
bool ek_sw_ecdh(int nid, const uint8_t *px, const uint8_t *py, size_t fsize, uint8_t *z,
                uint8_t *qx, uint8_t *qy);

/* AES-CFB (128/192/256 bits) of buf in place with iv; enc false decrypts. */
bool ek_sw_aes_cfb(bool enc, const uint8_t *key, unsigned bits, const uint8_t *iv, uint8_t *buf,
                   size_t len);

#endif
