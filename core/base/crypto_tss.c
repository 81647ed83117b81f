/* edgekey core: the software crypto an ESYS session needs (running HMACs,
 * the ECDH salt, parameter encryption), in core's private library context
 * (ek_crypto.h). tpm/esys_crypto.c hands these to tpm2-tss >= 4.0 through
 * Esys_SetCryptoCallbacks; running digests are crypto.c's ek_md_ctx, the
 * RSA-OAEP salt is crypto_oaep.c's (it needs deprecated APIs to keep an
 * ENGINE out, and they stay in that file).
 *
 * The ECDH salt is computed with EC_GROUP/EC_POINT arithmetic, as ESYS's
 * own OpenSSL backend does for its multiplication, and not through an
 * EVP_PKEY_CTX: on OpenSSL 3.x every EVP_PKEY_CTX of type EC, whatever its
 * library context or key, first asks for an ENGINE the application made the
 * default for EC (libp11's `-engine pkcs11`), and such an ENGINE cannot do
 * our salt (docs/architecture.md). EC_GROUP methods are never an ENGINE's. */
#include <limits.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "ek_crypto.h"

/* ---- running HMACs ---- */

struct ek_sw_hmac {
    EVP_MAC_CTX *ctx;
    size_t len;
};

ek_sw_hmac *ek_sw_hmac_new(ek_md md, const uint8_t *key, size_t klen)
{
    OSSL_LIB_CTX *lc = ek_sw_ctx();
    EVP_MAC *mac = lc ? EVP_MAC_fetch(lc, "HMAC", NULL) : NULL;
    ek_sw_hmac *h = OPENSSL_zalloc(sizeof(*h));
    OSSL_PARAM p[2] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)ek_md_name(md), 0),
        OSSL_PARAM_construct_end()};
    bool ok = mac && h && md != EK_MD_NONE && (h->ctx = EVP_MAC_CTX_new(mac)) &&
              EVP_MAC_init(h->ctx, key, klen, p) == 1;
    EVP_MAC_free(mac); /* the context keeps its own reference */
    if (!ok) {
        ek_sw_hmac_free(h);
        ERR_clear_error();
        return NULL;
    }
    h->len = ek_md_size(md);
    return h;
}

bool ek_sw_hmac_update(ek_sw_hmac *h, const uint8_t *data, size_t len)
{
    return h && EVP_MAC_update(h->ctx, data, len) == 1;
}

bool ek_sw_hmac_final(ek_sw_hmac *h, uint8_t *out, size_t *len)
{
    size_t n = 0;
    if (!h || *len < h->len || EVP_MAC_final(h->ctx, out, &n, *len) != 1 || n != h->len)
        return false;
    *len = n;
    return true;
}

void ek_sw_hmac_free(ek_sw_hmac *h)
{
    if (!h)
        return;
    EVP_MAC_CTX_free(h->ctx); /* cleanses the key schedule */
    OPENSSL_free(h);
}

/* ---- ECDH salt ---- */

static bool put_bn(const BIGNUM *b, uint8_t *out, size_t len)
{
    return BN_bn2binpad(b, out, (int)len) == (int)len;
}

/* Q = k*G and z = x(k*P) for a fresh random k (TPM 2.0 part 1, C.6.1). */
static bool ecdh_compute(const EC_GROUP *g, BN_CTX *bc, const EC_POINT *peer, size_t fsize,
                         uint8_t *z, uint8_t *qx, uint8_t *qy)
{
    BIGNUM *k = BN_secure_new(), *x = BN_new(), *y = BN_new();
    EC_POINT *q = EC_POINT_new(g), *s = EC_POINT_new(g);
    bool ok = k && x && y && q && s &&
              BN_priv_rand_range_ex(k, EC_GROUP_get0_order(g), 0, bc) == 1 && !BN_is_zero(k) &&
              EC_POINT_mul(g, q, k, NULL, NULL, bc) == 1 &&
              EC_POINT_get_affine_coordinates(g, q, x, y, bc) == 1 && put_bn(x, qx, fsize) &&
              put_bn(y, qy, fsize) && EC_POINT_mul(g, s, NULL, peer, k, bc) == 1 &&
              !EC_POINT_is_at_infinity(g, s) &&
              EC_POINT_get_affine_coordinates(g, s, x, NULL, bc) == 1 && put_bn(x, z, fsize);
    EC_POINT_clear_free(s);
    EC_POINT_free(q);
    BN_clear_free(k);
    BN_clear_free(x); /* x(k*P) is the salt */
    BN_free(y);
    return ok;
}

bool ek_sw_ecdh(int nid, const uint8_t *px, const uint8_t *py, size_t fsize, uint8_t *z,
                uint8_t *qx, uint8_t *qy)
{
    OSSL_LIB_CTX *lc = ek_sw_ctx();
    EC_GROUP *g = lc ? EC_GROUP_new_by_curve_name_ex(lc, NULL, nid) : NULL;
    BN_CTX *bc = lc ? BN_CTX_secure_new_ex(lc) : NULL;
    EC_POINT *peer = g ? EC_POINT_new(g) : NULL;
    BIGNUM *x = BN_bin2bn(px, (int)fsize, NULL), *y = BN_bin2bn(py, (int)fsize, NULL);
    /* A point off the curve would leak the scalar: refuse it first. */
    bool ok = g && bc && peer && x && y && (size_t)(EC_GROUP_get_degree(g) + 7) / 8 == fsize &&
              EC_POINT_set_affine_coordinates(g, peer, x, y, bc) == 1 &&
              EC_POINT_is_on_curve(g, peer, bc) == 1 && ecdh_compute(g, bc, peer, fsize, z, qx, qy);
    BN_free(x);
    BN_free(y);
    EC_POINT_free(peer);
    BN_CTX_free(bc);
    EC_GROUP_free(g);
    ERR_clear_error();
    return ok;
}

/* ---- parameter encryption ---- */

bool ek_sw_aes_cfb(bool enc, const uint8_t *key, unsigned bits, const uint8_t *iv, uint8_t *buf,
                   size_t len)
{
    const char *name = bits == 128   ? "AES-128-CFB"
                       : bits == 192 ? "AES-192-CFB"
                       : bits == 256 ? "AES-256-CFB"
                                     : NULL;
    OSSL_LIB_CTX *lc = ek_sw_ctx();
    EVP_CIPHER *c = name && lc ? EVP_CIPHER_fetch(lc, name, NULL) : NULL;
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    int n = 0, f = 0;
    bool ok = c && x && len <= INT_MAX &&
              EVP_CipherInit_ex2(x, c, key, iv, enc ? 1 : 0, NULL) == 1 &&
              EVP_CipherUpdate(x, buf, &n, buf, (int)len) == 1 &&
              EVP_CipherFinal_ex(x, buf + n, &f) == 1 && (size_t)(n + f) == len;
    EVP_CIPHER_CTX_free(x); /* cleanses the key schedule */
    EVP_CIPHER_free(c);
    ERR_clear_error();
    return ok;
}
