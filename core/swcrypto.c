/* edgekey core: the private OpenSSL library context and the TPM's KDFs.
 *
 * The context (only the default provider) serves ESYS's own crypto, for
 * the tests and benchmarks that still make an ESYS context. Nothing in it can
 * recurse into a TPM provider (ours or tpm2-openssl) loaded in the
 * application's context. It is made on first need, not per process: a
 * PKCS#11 login or a raw TPM2_Sign uses swdirect.c's digests, HMAC, AES and
 * random bytes, which need no context at all (swdirect.c says why).
 *
 * While the TPM lock is held (ek_sw_enter/ek_sw_leave, called by tpm.c) the
 * context, once it exists, is the thread's *default* library context,
 * because ESYS 3.2 does its session crypto in the default context;
 * ek_sw_need() makes it and switches at once when called inside the lock.
 * Public-key work that OpenSSL 3.0 would still route to an application's
 * default ENGINE is done without EVP_PKEY in swpkey.c. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/provider.h>
#include <tss2/tss2_mu.h>

#include "ek_tpm_int.h"

static pthread_once_t sw_once = PTHREAD_ONCE_INIT;
static OSSL_LIB_CTX *sw_ctx;
static OSSL_PROVIDER *sw_default;

static void sw_free(void)
{
    OSSL_PROVIDER_unload(sw_default);
    OSSL_LIB_CTX_free(sw_ctx);
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
    atexit(sw_cleanup);
}

/* Per thread: nesting depth, and the default context to restore once the
 * private one was switched in. */
static __thread unsigned sw_depth;
static __thread bool sw_switched;
static __thread OSSL_LIB_CTX *sw_prev;

static void sw_switch(void)
{
    if (sw_ctx && !sw_switched) {
        sw_prev = OSSL_LIB_CTX_set0_default(sw_ctx);
        sw_switched = true;
    }
}

void ek_sw_enter(void)
{
    if (sw_depth++ == 0)
        sw_switch(); /* no context yet: nothing of ESYS has run */
}

void ek_sw_leave(void)
{
    if (sw_depth == 0 || --sw_depth != 0)
        return;
    if (sw_switched && sw_prev)
        OSSL_LIB_CTX_set0_default(sw_prev);
    sw_prev = NULL;
    sw_switched = false;
}

void ek_sw_need(void)
{
    pthread_once(&sw_once, sw_init);
    if (sw_depth > 0)
        sw_switch();
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
