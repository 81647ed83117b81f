/* edgekey core: the software crypto the TPM side needs (HMAC sessions,
 * salts, names, signature checks), in a private OpenSSL library context with
 * only the default provider: nothing here can recurse into a TPM provider
 * (ours or tpm2-openssl) loaded in the application's context, and digests
 * are fetched once per process instead of per call. */
#include <pthread.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/param_build.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <tss2/tss2_mu.h>

#include "ek_tpm_int.h"

static pthread_once_t sw_once = PTHREAD_ONCE_INIT;
static OSSL_LIB_CTX *sw_ctx;
static EVP_MD *sw_sha1, *sw_sha256, *sw_sha384, *sw_sha512;

static void sw_init(void)
{
    sw_ctx = OSSL_LIB_CTX_new();
    if (!sw_ctx || !OSSL_PROVIDER_load(sw_ctx, "default"))
        return;
    sw_sha1 = EVP_MD_fetch(sw_ctx, "SHA1", NULL);
    sw_sha256 = EVP_MD_fetch(sw_ctx, "SHA256", NULL);
    sw_sha384 = EVP_MD_fetch(sw_ctx, "SHA384", NULL);
    sw_sha512 = EVP_MD_fetch(sw_ctx, "SHA512", NULL);
}

OSSL_LIB_CTX *ek_sw_libctx(void)
{
    pthread_once(&sw_once, sw_init);
    return sw_ctx;
}

const EVP_MD *ek_sw_md(TPM2_ALG_ID alg)
{
    pthread_once(&sw_once, sw_init);
    switch (alg) {
    case TPM2_ALG_SHA1: return sw_sha1;
    case TPM2_ALG_SHA256: return sw_sha256;
    case TPM2_ALG_SHA384: return sw_sha384;
    case TPM2_ALG_SHA512: return sw_sha512;
    default: return NULL;
    }
}

const EVP_MD *ek_sw_md_ek(ek_md md)
{
    switch (md) {
    case EK_MD_SHA1: return ek_sw_md(TPM2_ALG_SHA1);
    case EK_MD_SHA256: return ek_sw_md(TPM2_ALG_SHA256);
    case EK_MD_SHA384: return ek_sw_md(TPM2_ALG_SHA384);
    case EK_MD_SHA512: return ek_sw_md(TPM2_ALG_SHA512);
    case EK_MD_NONE: break;
    }
    return NULL;
}

size_t ek_sw_md_size(TPM2_ALG_ID alg)
{
    const EVP_MD *md = ek_sw_md(alg);
    return md ? (size_t)EVP_MD_get_size(md) : 0;
}

static bool hash_parts(EVP_MD_CTX *c, const EVP_MD *md, const ek_iov *v, size_t n)
{
    if (!EVP_DigestInit_ex2(c, md, NULL))
        return false;
    for (size_t i = 0; i < n; i++)
        if (v[i].n && !EVP_DigestUpdate(c, v[i].p, v[i].n))
            return false;
    return true;
}

bool ek_sw_hash(TPM2_ALG_ID alg, const ek_iov *v, size_t n, uint8_t *out)
{
    const EVP_MD *md = ek_sw_md(alg);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    bool ok = md && c && hash_parts(c, md, v, n) && EVP_DigestFinal_ex(c, out, NULL);
    EVP_MD_CTX_free(c);
    return ok;
}

/* RFC 2104 over the prefetched digest (EVP_MAC would fetch per init). */
bool ek_sw_hmac(TPM2_ALG_ID alg, const uint8_t *key, size_t klen, const ek_iov *v, size_t n,
                uint8_t *out)
{
    const EVP_MD *md = ek_sw_md(alg);
    if (!md)
        return false;
    size_t bs = (size_t)EVP_MD_get_block_size(md), ds = (size_t)EVP_MD_get_size(md);
    uint8_t k[128] = {0}, pad[128], inner[64];
    if (bs > sizeof(k))
        return false;
    if (klen > bs) {
        ek_iov kv = {key, klen};
        if (!ek_sw_hash(alg, &kv, 1, k))
            return false;
    } else if (klen) {
        memcpy(k, key, klen);
    }
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    bool ok = c != NULL;
    for (size_t i = 0; i < bs; i++)
        pad[i] = k[i] ^ 0x36;
    ok = ok && EVP_DigestInit_ex2(c, md, NULL) && EVP_DigestUpdate(c, pad, bs);
    for (size_t i = 0; ok && i < n; i++)
        ok = !v[i].n || EVP_DigestUpdate(c, v[i].p, v[i].n);
    ok = ok && EVP_DigestFinal_ex(c, inner, NULL);
    for (size_t i = 0; i < bs; i++)
        pad[i] = k[i] ^ 0x5c;
    ok = ok && EVP_DigestInit_ex2(c, md, NULL) && EVP_DigestUpdate(c, pad, bs) &&
         EVP_DigestUpdate(c, inner, ds) && EVP_DigestFinal_ex(c, out, NULL);
    EVP_MD_CTX_free(c);
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));
    OPENSSL_cleanse(inner, sizeof(inner));
    return ok;
}

static void be32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}

/* TPM 2.0 Part 1 11.4.10.2: SP800-108 counter mode with HMAC; the label is
 * used with its terminating NUL. */
bool ek_sw_kdfa(TPM2_ALG_ID alg, const uint8_t *key, size_t klen, const char *label,
                ek_iov u, ek_iov v, uint32_t bits, uint8_t *out)
{
    size_t ds = ek_sw_md_size(alg), want = (bits + 7) / 8, done = 0;
    uint8_t ctr[4], bitsb[4], blk[64];
    be32(bitsb, bits);
    for (uint32_t i = 1; done < want && ds; i++) {
        be32(ctr, i);
        ek_iov parts[] = {{ctr, 4}, {label, strlen(label) + 1}, u, v, {bitsb, 4}};
        if (!ek_sw_hmac(alg, key, klen, parts, 5, blk))
            return false;
        size_t n = want - done < ds ? want - done : ds;
        memcpy(out + done, blk, n);
        done += n;
    }
    OPENSSL_cleanse(blk, sizeof(blk));
    return ds != 0;
}

/* TPM 2.0 Part 1 11.4.10.3: SP800-56A concatenation KDF for ECDH salts. */
bool ek_sw_kdfe(TPM2_ALG_ID alg, const uint8_t *z, size_t zlen, const char *label, ek_iov u,
                ek_iov v, uint32_t bits, uint8_t *out)
{
    size_t ds = ek_sw_md_size(alg), want = (bits + 7) / 8, done = 0;
    uint8_t ctr[4], blk[64];
    for (uint32_t i = 1; done < want && ds; i++) {
        be32(ctr, i);
        ek_iov parts[] = {{ctr, 4}, {z, zlen}, {label, strlen(label) + 1}, u, v};
        if (!ek_sw_hash(alg, parts, 5, blk))
            return false;
        size_t n = want - done < ds ? want - done : ds;
        memcpy(out + done, blk, n);
        done += n;
    }
    OPENSSL_cleanse(blk, sizeof(blk));
    return ds != 0;
}

bool ek_sw_random(uint8_t *buf, size_t len)
{
    return RAND_bytes_ex(ek_sw_libctx(), buf, len, 0) == 1;
}

bool ek_sw_public_name(const TPMT_PUBLIC *pub, TPM2B_NAME *name)
{
    uint8_t buf[sizeof(TPMT_PUBLIC)];
    size_t off = 0, ds = ek_sw_md_size(pub->nameAlg);
    if (!ds || Tss2_MU_TPMT_PUBLIC_Marshal(pub, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS)
        return false;
    name->name[0] = (uint8_t)(pub->nameAlg >> 8);
    name->name[1] = (uint8_t)pub->nameAlg;
    ek_iov v = {buf, off};
    if (!ek_sw_hash(pub->nameAlg, &v, 1, name->name + 2))
        return false;
    name->size = (UINT16)(2 + ds);
    return true;
}

EVP_PKEY *ek_sw_rsa_pub(const uint8_t *n, size_t nlen, uint32_t e)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pk = NULL;
    if (bld && bn && be && BN_set_word(be, e ? e : 65537) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, be) &&
        (params = OSSL_PARAM_BLD_to_param(bld)) &&
        (ctx = EVP_PKEY_CTX_new_from_name(ek_sw_libctx(), "RSA", NULL)) &&
        EVP_PKEY_fromdata_init(ctx) > 0)
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(bn);
    BN_free(be);
    return pk;
}

const char *ek_sw_curve_name(TPM2_ECC_CURVE curve)
{
    return curve == TPM2_ECC_NIST_P256 ? "P-256" : curve == TPM2_ECC_NIST_P384 ? "P-384" : NULL;
}

size_t ek_sw_curve_size(TPM2_ECC_CURVE curve)
{
    return curve == TPM2_ECC_NIST_P256 ? 32 : curve == TPM2_ECC_NIST_P384 ? 48 : 0;
}

EVP_PKEY *ek_sw_ec_pub(TPM2_ECC_CURVE curve, ek_iov x, ek_iov y)
{
    const char *group = ek_sw_curve_name(curve);
    size_t cs = ek_sw_curve_size(curve);
    uint8_t pt[1 + 2 * 48] = {0x04};
    if (!group || x.n > cs || y.n > cs)
        return NULL;
    memcpy(pt + 1 + cs - x.n, x.p, x.n);
    memcpy(pt + 1 + 2 * cs - y.n, y.p, y.n);
    OSSL_PARAM params[] = {
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)group, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pt, 1 + 2 * cs), OSSL_PARAM_END};
    EVP_PKEY *pk = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(ek_sw_libctx(), "EC", NULL);
    if (ctx && EVP_PKEY_fromdata_init(ctx) > 0)
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params);
    EVP_PKEY_CTX_free(ctx);
    return pk;
}
