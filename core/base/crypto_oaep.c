/* edgekey core: RSA-OAEP encryption of an ESYS session salt to an RSA SRK
 * (ek_crypto.h: ek_sw_rsa_oaep), out of any application ENGINE's reach.
 *
 * Why not an EVP_PKEY_CTX, as everywhere else: on OpenSSL 3.x an ENGINE the
 * application made the process-wide default (libp11's `-engine pkcs11`,
 * ENGINE_set_default) reaches an RSA encryption twice, whatever the library
 * context: as the EVP_PKEY_METHOD every RSA EVP_PKEY_CTX asks for first, and
 * as the RSA_METHOD the default provider's RSA key object takes from
 * ENGINE_get_default_RSA() (rsa_lib.c, 3.0 to 3.5). It would see the salt.
 * So here the key is an RSA object whose method is set to OpenSSL's built-in
 * one before the key goes in, the OAEP encoding is OpenSSL's own
 * (RSA_padding_add_PKCS1_OAEP_mgf1, digest fetched from core's context) and
 * the encryption is RSA_NO_PADDING. These APIs are deprecated since 3.0, so
 * they live in this file alone. OpenSSL 4 removes ENGINEs: there the EVP
 * route (below, also used when ENGINEs are compiled out) is ENGINE-free and
 * should replace this; revisit then.
 *
 * The OAEP seed comes from RAND_bytes in the thread's default context, which
 * tpm.c makes core's own while the TPM lock is held (every ESYS call). */
#define OPENSSL_SUPPRESS_DEPRECATED /* RSA_METHOD, RSA_padding_*: see above */
#include <limits.h>
#include <string.h>

#include <openssl/opensslconf.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include "ek_crypto.h"

#if !defined(OPENSSL_NO_ENGINE) && !defined(OPENSSL_NO_DEPRECATED_3_0)

/* The public key (n, e) with OpenSSL's built-in RSA method, never an
 * ENGINE's: RSA_new() took the default RSA ENGINE's, RSA_set_method drops it
 * before the key or any data reaches it. */
static RSA *rsa_builtin(const uint8_t *n, size_t nlen, uint32_t e)
{
    RSA *r = RSA_new();
    BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_new();
    if (r && bn && be && BN_set_word(be, e) == 1 && RSA_set_method(r, RSA_PKCS1_OpenSSL()) == 1 &&
        RSA_set0_key(r, bn, be, NULL) == 1)
        return r; /* owns bn and be */
    BN_free(bn);
    BN_free(be);
    RSA_free(r);
    return NULL;
}

bool ek_sw_rsa_oaep(const uint8_t *n, size_t nlen, uint32_t e, ek_md md, const char *label,
                    const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen)
{
    if (!ek_sw_ctx() || md == EK_MD_NONE || nlen > INT_MAX || inlen > INT_MAX)
        return false;
    EVP_MD *m = EVP_MD_fetch(ek_sw_ctx(), ek_md_name(md), NULL);
    RSA *r = rsa_builtin(n, nlen, e ? e : 65537);
    int k = r ? RSA_size(r) : 0;
    uint8_t *em = k > 0 ? OPENSSL_malloc((size_t)k) : NULL;
    /* TPM labels include their terminating NUL (TPM 2.0 part 1, B.10.3). */
    int llen = (int)strlen(label) + 1;
    bool ok = m && em && *outlen >= (size_t)k &&
              RSA_padding_add_PKCS1_OAEP_mgf1(em, k, in, (int)inlen, (const uint8_t *)label, llen,
                                              m, m) == 1 &&
              RSA_public_encrypt(k, em, out, r, RSA_NO_PADDING) == k;
    if (ok)
        *outlen = (size_t)k;
    OPENSSL_clear_free(em, (size_t)k); /* the encoded salt: unmasking needs no key */
    RSA_free(r);
    EVP_MD_free(m);
    ERR_clear_error();
    return ok;
}

#else /* no ENGINEs to fear: the provider's RSA through EVP */

bool ek_sw_rsa_oaep(const uint8_t *n, size_t nlen, uint32_t e, ek_md md, const char *label,
                    const uint8_t *in, size_t inlen, uint8_t *out, size_t *outlen)
{
    if (!ek_sw_ctx() || md == EK_MD_NONE)
        return false;
    EVP_PKEY *pk = ek_sw_rsa_pub(n, nlen, e ? e : 65537);
    EVP_PKEY_CTX *c = pk ? EVP_PKEY_CTX_new_from_pkey(ek_sw_ctx(), pk, NULL) : NULL;
    /* TPM labels include their terminating NUL (TPM 2.0 part 1, B.10.3). */
    size_t llen = strlen(label) + 1;
    OSSL_PARAM p[4] = {
        OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_PAD_MODE,
                                         OSSL_PKEY_RSA_PAD_MODE_OAEP, 0),
        OSSL_PARAM_construct_utf8_string(OSSL_ASYM_CIPHER_PARAM_OAEP_DIGEST, (char *)ek_md_name(md),
                                         0),
        OSSL_PARAM_construct_octet_string(OSSL_ASYM_CIPHER_PARAM_OAEP_LABEL, (void *)label, llen),
        OSSL_PARAM_construct_end()};
    size_t n_out = 0;
    bool ok = c && EVP_PKEY_encrypt_init_ex(c, p) == 1 &&
              EVP_PKEY_encrypt(c, NULL, &n_out, in, inlen) == 1 && n_out <= *outlen &&
              EVP_PKEY_encrypt(c, out, outlen, in, inlen) == 1;
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(pk);
    ERR_clear_error();
    return ok;
}

#endif
