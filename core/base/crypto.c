/* edgekey core: software crypto, all through EVP in core's private OpenSSL
 * library context (ek_crypto.h).
 *
 * The context holds only OpenSSL's default provider. Nothing done in it can
 * reach a TPM provider the application loaded (edgekey itself: a deadlock on
 * the core lock; tpm2-openssl: a second TPM client), nor the application's
 * openssl.cnf. While the TPM lock is held it is also the thread's *default*
 * context (ek_sw_enter/ek_sw_leave, called by tpm.c), because tpm2-tss 3.2's
 * ESYS does its session crypto (salts, HMACs, parameter encryption, names)
 * in the default context. On tpm2-tss >= 4.0 Esys_SetCryptoCallbacks could
 * name the context explicitly; 3.2 has no such hook.
 *
 * What a library context cannot stop on OpenSSL 3.0: an ENGINE made the
 * application's process-wide default for RSA or EC (libp11's `-engine
 * pkcs11`, ENGINE_set_default) is asked first by every EVP_PKEY_CTX of that
 * type, whatever its context; one registered for digests or ciphers is asked
 * by EVP_DigestInit/EVP_CipherInit. docs/architecture.md lists what that
 * means for ESYS's salts and our PSS check. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/bn.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "ek_crypto.h"

static pthread_once_t sw_once = PTHREAD_ONCE_INIT;
static OSSL_LIB_CTX *sw_ctx;
static OSSL_PROVIDER *sw_default;
static EVP_MD *sw_mds[5]; /* by ek_md; fetched once, under sw_once's guard per entry */
static pthread_mutex_t sw_md_mu = PTHREAD_MUTEX_INITIALIZER;

static void sw_free(void)
{
    for (size_t i = 0; i < sizeof(sw_mds) / sizeof(sw_mds[0]); i++) {
        EVP_MD_free(sw_mds[i]);
        sw_mds[i] = NULL;
    }
    OSSL_PROVIDER_unload(sw_default);
    OSSL_LIB_CTX_free(sw_ctx);
    sw_default = NULL;
    sw_ctx = NULL;
}

/* Given back when the core goes away: an atexit() handler of a shared
 * library runs at its dlclose (the last face unloaded) and, at exit, before
 * OPENSSL_cleanup(), which registered itself earlier. The destructor is the
 * fallback should atexit() fail; it frees only while OpenSSL is still up. */
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
    if (!sw_ctx || !(sw_default = OSSL_PROVIDER_load(sw_ctx, "default"))) {
        OSSL_LIB_CTX_free(sw_ctx);
        sw_ctx = NULL;
        return;
    }
    if (atexit(sw_cleanup) != 0) /* the destructor still frees it */
        return;
}

OSSL_LIB_CTX *ek_sw_ctx(void)
{
    pthread_once(&sw_once, sw_init);
    return sw_ctx;
}

/* Per thread: nesting depth and the default context to restore. */
static __thread unsigned sw_depth;
static __thread bool sw_switched;
static __thread OSSL_LIB_CTX *sw_prev;

void ek_sw_enter(void)
{
    if (sw_depth++ == 0 && ek_sw_ctx() && !sw_switched) {
        sw_prev = OSSL_LIB_CTX_set0_default(sw_ctx);
        sw_switched = true;
    }
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

static const char *md_ossl_name(ek_md md)
{
    return ek_md_name(md); /* "SHA256" ...: OpenSSL's own names */
}

/* The EVP_MD of md in the private context (fetched once, then shared). */
static const EVP_MD *sw_md(ek_md md)
{
    if ((size_t)md >= sizeof(sw_mds) / sizeof(sw_mds[0]) || md == EK_MD_NONE || !ek_sw_ctx())
        return NULL;
    pthread_mutex_lock(&sw_md_mu);
    if (!sw_mds[md])
        sw_mds[md] = EVP_MD_fetch(sw_ctx, md_ossl_name(md), NULL);
    const EVP_MD *m = sw_mds[md];
    pthread_mutex_unlock(&sw_md_mu);
    return m;
}

bool ek_sw_random(uint8_t *buf, size_t len)
{
    return ek_sw_ctx() && RAND_priv_bytes_ex(sw_ctx, buf, len, 0) == 1;
}

bool ek_sw_hmac_sha256(const void *key, size_t klen, const void *data, size_t len, uint8_t out[32])
{
    size_t n = 0;
    return ek_sw_ctx() &&
           EVP_Q_mac(sw_ctx, "HMAC", NULL, "SHA256", NULL, key, klen, data, len, out, 32, &n) &&
           n == 32;
}

/* ---- ek_md_ctx (ek_key.h): running digests for the faces ---- */

struct ek_md_ctx {
    ek_md md;
    bool done; /* finalised: reset before reuse */
    EVP_MD_CTX *ctx;
};

bool ek_md_ctx_reset(ek_md_ctx *c, ek_md md)
{
    const EVP_MD *m = sw_md(md);
    if (!m || (!c->ctx && !(c->ctx = EVP_MD_CTX_new())))
        return false;
    c->md = md;
    c->done = false;
    return EVP_DigestInit_ex2(c->ctx, m, NULL) == 1;
}

ek_md_ctx *ek_md_ctx_new(ek_md md)
{
    ek_md_ctx *c = OPENSSL_zalloc(sizeof(*c));
    if (c && !ek_md_ctx_reset(c, md)) {
        ek_md_ctx_free(c);
        c = NULL;
    }
    return c;
}

ek_md_ctx *ek_md_ctx_dup(const ek_md_ctx *src)
{
    ek_md_ctx *c = OPENSSL_zalloc(sizeof(*c));
    if (!c)
        return NULL;
    c->md = src->md;
    c->done = src->done;
    c->ctx = EVP_MD_CTX_new();
    if (!c->ctx || EVP_MD_CTX_copy_ex(c->ctx, src->ctx) != 1) {
        ek_md_ctx_free(c);
        return NULL;
    }
    return c;
}

bool ek_md_ctx_update(ek_md_ctx *c, const void *data, size_t len)
{
    return c && c->ctx && !c->done && EVP_DigestUpdate(c->ctx, data, len) == 1;
}

bool ek_md_ctx_final(ek_md_ctx *c, unsigned char *out)
{
    unsigned int n = 0;
    if (!c || !c->ctx || c->done)
        return false;
    c->done = true;
    return EVP_DigestFinal_ex(c->ctx, out, &n) == 1 && n == ek_md_size(c->md);
}

ek_md ek_md_ctx_md(const ek_md_ctx *c)
{
    return c ? c->md : EK_MD_NONE;
}

void ek_md_ctx_free(ek_md_ctx *c)
{
    if (!c)
        return;
    EVP_MD_CTX_free(c->ctx); /* cleanses the digest state */
    OPENSSL_free(c);
}

bool ek_md_digest(ek_md md, const void *data, size_t len, unsigned char *out)
{
    const EVP_MD *m = sw_md(md);
    unsigned int n = 0;
    return m && EVP_Digest(data, len, out, &n, m, NULL) == 1 && n == ek_md_size(md);
}

/* ---- RSA public keys; the RSA-PSS salt probe (sign.c) ---- */

EVP_PKEY *ek_sw_rsa_pub(const uint8_t *n, size_t nlen, uint32_t e)
{
    EVP_PKEY *pk = NULL;
    BIGNUM *bn = BN_bin2bn(n, (int)nlen, NULL), *be = BN_new();
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    OSSL_PARAM *p = NULL;
    EVP_PKEY_CTX *pc = NULL;
    if (bn && be && b && BN_set_word(be, e) && ek_sw_ctx() &&
        OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, bn) &&
        OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, be) && (p = OSSL_PARAM_BLD_to_param(b)) &&
        (pc = EVP_PKEY_CTX_new_from_name(sw_ctx, "RSA", NULL)) && EVP_PKEY_fromdata_init(pc) == 1)
        EVP_PKEY_fromdata(pc, &pk, EVP_PKEY_PUBLIC_KEY, p);
    EVP_PKEY_CTX_free(pc);
    OSSL_PARAM_free(p);
    OSSL_PARAM_BLD_free(b);
    BN_free(bn);
    BN_free(be);
    return pk;
}

/* 1: verifies, 0: does not, -1: the check could not run. */
static int pss_verify(EVP_PKEY *pk, ek_md md, int saltlen, const uint8_t *mhash, const uint8_t *sig,
                      size_t slen)
{
    EVP_PKEY_CTX *vc = EVP_PKEY_CTX_new_from_pkey(sw_ctx, pk, NULL);
    int r = -1;
    if (vc && EVP_PKEY_verify_init(vc) == 1 &&
        EVP_PKEY_CTX_set_rsa_padding(vc, RSA_PKCS1_PSS_PADDING) == 1 &&
        EVP_PKEY_CTX_set_signature_md(vc, sw_md(md)) == 1 &&
        EVP_PKEY_CTX_set_rsa_pss_saltlen(vc, saltlen) == 1)
        r = EVP_PKEY_verify(vc, sig, slen, mhash, ek_md_size(md)) == 1;
    EVP_PKEY_CTX_free(vc);
    return r;
}

int ek_sw_pss_salt(const uint8_t *n, size_t nlen, uint32_t e, ek_md md, const uint8_t *mhash,
                   const uint8_t *sig, size_t slen)
{
    EVP_PKEY *pk = ek_sw_rsa_pub(n, nlen, e ? e : 65537);
    int r = EK_PSS_CANNOT_CHECK, v = -1;
    if (pk && (v = pss_verify(pk, md, (int)ek_md_size(md), mhash, sig, slen)) == 1)
        r = (int)ek_md_size(md);
    else if (pk && v == 0 && (v = pss_verify(pk, md, RSA_PSS_SALTLEN_AUTO, mhash, sig, slen)) == 1)
        r = (int)(nlen - ek_md_size(md) - 2); /* not the digest length: the maximum, in practice */
    else if (v == 0)
        r = -1;
    EVP_PKEY_free(pk);
    ERR_clear_error(); /* a failed check leaves nothing on the application's queue */
    return r;
}
