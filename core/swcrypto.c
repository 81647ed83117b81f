/* edgekey core: the software crypto the TPM side needs (HMAC sessions,
 * salts, names, signature checks), in a private OpenSSL library context with
 * only the default provider: nothing here can recurse into a TPM provider
 * (ours or tpm2-openssl) loaded in the application's context, and digests
 * are fetched once per process instead of per call.
 *
 * The same context is made the thread's *default* library context while the
 * TPM lock is held (ek_sw_enter/ek_sw_leave, called by tpm.c), because ESYS
 * 3.2 does its session crypto in the default context. Public-key work that
 * OpenSSL 3.0 would still route to an application's default ENGINE (any
 * EVP_PKEY_CTX of type RSA or EC, whatever the library context) is done
 * without EVP_PKEY in swpkey.c; random bytes come from the context's DRBG
 * directly, past a RAND ENGINE. */
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <tss2/tss2_mu.h>

#include "ek_tpm_int.h"

static pthread_once_t sw_once = PTHREAD_ONCE_INIT;
static OSSL_LIB_CTX *sw_ctx;
static OSSL_PROVIDER *sw_default;
static EVP_MD *sw_sha1, *sw_sha256, *sw_sha384, *sw_sha512;
static EVP_CIPHER *sw_aes128cfb; /* fetched on first use: a cipher store costs */
static pthread_mutex_t sw_aes_mu = PTHREAD_MUTEX_INITIALIZER;

static void sw_free(void)
{
    EVP_MD_free(sw_sha1);
    EVP_MD_free(sw_sha256);
    EVP_MD_free(sw_sha384);
    EVP_MD_free(sw_sha512);
    EVP_CIPHER_free(sw_aes128cfb);
    sw_aes128cfb = NULL;
    OSSL_PROVIDER_unload(sw_default);
    OSSL_LIB_CTX_free(sw_ctx);
    sw_sha1 = sw_sha256 = sw_sha384 = sw_sha512 = NULL;
    sw_default = NULL;
    sw_ctx = NULL;
}

/* The context is given back when the core goes away: an atexit() handler
 * of a shared library runs when the library is unloaded (dlclose of the
 * last face using the core: a PKCS#11 module finalized, the provider
 * unloaded, also from inside OPENSSL_cleanup()'s provider teardown, where
 * library contexts are still freed normally), and at exit it runs before
 * OPENSSL_cleanup(), which registered itself earlier. (OPENSSL_atexit()
 * would run after an unload, into unmapped code: Debian's libcrypto is
 * built nodelete and does not pin the caller.) The destructor is the
 * fallback should atexit() fail; it frees only while OpenSSL is up
 * (OPENSSL_init_crypto() fails once OPENSSL_cleanup() has run). */
static void sw_cleanup(void)
{
    if (sw_ctx)
        sw_free();
}

__attribute__((destructor)) static void sw_fini(void)
{
    if (sw_ctx && OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL) == 1)
        sw_free();
}

static void sw_init(void)
{
    sw_ctx = OSSL_LIB_CTX_new();
    if (!sw_ctx || !(sw_default = OSSL_PROVIDER_load(sw_ctx, "default")))
        return;
    sw_sha1 = EVP_MD_fetch(sw_ctx, "SHA1", NULL);
    sw_sha256 = EVP_MD_fetch(sw_ctx, "SHA256", NULL);
    sw_sha384 = EVP_MD_fetch(sw_ctx, "SHA384", NULL);
    sw_sha512 = EVP_MD_fetch(sw_ctx, "SHA512", NULL);
    atexit(sw_cleanup);
}

/* Per thread: nesting depth and the default context to restore. */
static __thread unsigned sw_depth;
static __thread OSSL_LIB_CTX *sw_prev;

void ek_sw_enter(void)
{
    if (sw_depth++ == 0) {
        OSSL_LIB_CTX *c = ek_sw_libctx();
        sw_prev = c ? OSSL_LIB_CTX_set0_default(c) : NULL;
    }
}

void ek_sw_leave(void)
{
    if (sw_depth == 0 || --sw_depth != 0)
        return;
    if (sw_prev)
        OSSL_LIB_CTX_set0_default(sw_prev);
    sw_prev = NULL;
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
    case TPM2_ALG_SHA1:
        return sw_sha1;
    case TPM2_ALG_SHA256:
        return sw_sha256;
    case TPM2_ALG_SHA384:
        return sw_sha384;
    case TPM2_ALG_SHA512:
        return sw_sha512;
    default:
        return NULL;
    }
}

const EVP_MD *ek_sw_md_ek(ek_md md)
{
    switch (md) {
    case EK_MD_SHA1:
        return ek_sw_md(TPM2_ALG_SHA1);
    case EK_MD_SHA256:
        return ek_sw_md(TPM2_ALG_SHA256);
    case EK_MD_SHA384:
        return ek_sw_md(TPM2_ALG_SHA384);
    case EK_MD_SHA512:
        return ek_sw_md(TPM2_ALG_SHA512);
    case EK_MD_NONE:
        break;
    }
    return NULL;
}

EVP_MD *ek_md_fetch(ek_md md)
{
    EVP_MD *m = (EVP_MD *)ek_sw_md_ek(md);
    return m && EVP_MD_up_ref(m) ? m : NULL;
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
bool ek_sw_kdfa(TPM2_ALG_ID alg, const uint8_t *key, size_t klen, const char *label, ek_iov u,
                ek_iov v, uint32_t bits, uint8_t *out)
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

/* AES-128-CFB (TPM parameter encryption), in place. */
bool ek_sw_aes128_cfb(const uint8_t key[16], const uint8_t iv[16], uint8_t *buf, size_t len,
                      bool encrypt)
{
    pthread_once(&sw_once, sw_init);
    pthread_mutex_lock(&sw_aes_mu);
    if (!sw_aes128cfb && sw_ctx)
        sw_aes128cfb = EVP_CIPHER_fetch(sw_ctx, "AES-128-CFB", NULL);
    pthread_mutex_unlock(&sw_aes_mu);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0, f = 0;
    bool ok = c && sw_aes128cfb && len <= INT_MAX &&
              EVP_CipherInit_ex2(c, sw_aes128cfb, key, iv, encrypt ? 1 : 0, NULL) &&
              EVP_CipherUpdate(c, buf, &n, buf, (int)len) && EVP_CipherFinal_ex(c, buf + n, &f) &&
              (size_t)(n + f) == len;
    EVP_CIPHER_CTX_free(c);
    return ok;
}

/* The context's private DRBG itself: RAND_bytes_ex would first ask for a
 * RAND ENGINE (a TPM or PKCS#11 engine made default by the application). */
bool ek_sw_random(uint8_t *buf, size_t len)
{
    OSSL_LIB_CTX *c = ek_sw_libctx();
    EVP_RAND_CTX *drbg = c ? RAND_get0_private(c) : NULL;
    return drbg && EVP_RAND_generate(drbg, buf, len, 0, 0, NULL, 0) == 1;
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

const char *ek_sw_curve_name(TPM2_ECC_CURVE curve)
{
    return curve == TPM2_ECC_NIST_P256 ? "P-256" : curve == TPM2_ECC_NIST_P384 ? "P-384" : NULL;
}

size_t ek_sw_curve_size(TPM2_ECC_CURVE curve)
{
    return curve == TPM2_ECC_NIST_P256 ? 32 : curve == TPM2_ECC_NIST_P384 ? 48 : 0;
}
