/* edgekey core: ESYS's crypto in core's private OpenSSL library context.
 *
 * tpm2-tss >= 4.0 lets an application supply ESYS's crypto
 * (Esys_SetCryptoCallbacks): session HMACs, cpHash/rpHash and names, nonces,
 * the salt of a salted session (RSA-OAEP or ECDH to the SRK) and parameter
 * encryption. Left to itself, ESYS 4.1 makes a fresh OSSL_LIB_CTX for every
 * hash and nonce and builds its ECDH key with an EVP_PKEY_CTX that an
 * application's default ENGINE for EC takes over; here everything runs in
 * core's context (base/crypto.c, base/crypto_tss.c, base/crypto_oaep.c) and
 * both salts without any EVP_PKEY_CTX or ENGINE method. tpm.c installs them
 * on every new ESYS context.
 * On tpm2-tss 3.x (no hook) this file only reports that it cannot. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/obj_mac.h>
#include <tss2/tss2_mu.h>

#include "ek_crypto.h"
#include "ek_tpm_int.h"

#ifdef EK_HAVE_ESYS_CRYPTO_CB

/* How often ESYS called us, by kind: the tests' proof that it did. */
static atomic_ulong calls[EK_ESYS_CRYPTO_KINDS];

static void count(ek_esys_crypto_kind k)
{
    atomic_fetch_add_explicit(&calls[k], 1, memory_order_relaxed);
}

/* ESYS hands us back what we hand it; it never looks inside. */
struct ESYS_CRYPTO_CONTEXT_BLOB {
    ek_md_ctx *md;
    ek_sw_hmac *mac;
};

static ek_md md_of(TPM2_ALG_ID alg)
{
    return alg == TPM2_ALG_SHA1     ? EK_MD_SHA1
           : alg == TPM2_ALG_SHA256 ? EK_MD_SHA256
           : alg == TPM2_ALG_SHA384 ? EK_MD_SHA384
           : alg == TPM2_ALG_SHA512 ? EK_MD_SHA512
                                    : EK_MD_NONE;
}

static TSS2_RC blob_new(ESYS_CRYPTO_CONTEXT_BLOB **c)
{
    if (!c)
        return TSS2_ESYS_RC_BAD_REFERENCE;
    *c = calloc(1, sizeof(**c));
    return *c ? TSS2_RC_SUCCESS : TSS2_ESYS_RC_MEMORY;
}

static void blob_free(ESYS_CRYPTO_CONTEXT_BLOB **c)
{
    if (!c || !*c)
        return;
    ek_md_ctx_free((*c)->md);
    ek_sw_hmac_free((*c)->mac);
    free(*c);
    *c = NULL;
}

static TSS2_RC hash_start(ESYS_CRYPTO_CONTEXT_BLOB **c, TPM2_ALG_ID alg, void *ud)
{
    (void)ud;
    if (md_of(alg) == EK_MD_NONE)
        return TSS2_ESYS_RC_NOT_IMPLEMENTED;
    count(EK_ESYS_CRYPTO_HASH);
    TSS2_RC rc = blob_new(c);
    if (rc == TSS2_RC_SUCCESS && !((*c)->md = ek_md_ctx_new(md_of(alg)))) {
        blob_free(c);
        rc = TSS2_ESYS_RC_GENERAL_FAILURE;
    }
    return rc;
}

static TSS2_RC hash_update(ESYS_CRYPTO_CONTEXT_BLOB *c, const uint8_t *b, size_t n, void *ud)
{
    (void)ud;
    if (!c || !c->md)
        return TSS2_ESYS_RC_BAD_REFERENCE;
    return ek_md_ctx_update(c->md, b, n) ? TSS2_RC_SUCCESS : TSS2_ESYS_RC_GENERAL_FAILURE;
}

static TSS2_RC hash_finish(ESYS_CRYPTO_CONTEXT_BLOB **c, uint8_t *out, size_t *n, void *ud)
{
    (void)ud;
    if (!c || !*c || !(*c)->md || !n)
        return TSS2_ESYS_RC_BAD_REFERENCE;
    size_t len = ek_md_size(ek_md_ctx_md((*c)->md));
    bool ok = *n >= len && ek_md_ctx_final((*c)->md, out);
    if (ok)
        *n = len;
    blob_free(c);
    return ok ? TSS2_RC_SUCCESS : TSS2_ESYS_RC_BAD_SIZE;
}

static void blob_abort(ESYS_CRYPTO_CONTEXT_BLOB **c, void *ud)
{
    (void)ud;
    blob_free(c);
}

static TSS2_RC hmac_start(ESYS_CRYPTO_CONTEXT_BLOB **c, TPM2_ALG_ID alg, const uint8_t *key,
                          size_t klen, void *ud)
{
    (void)ud;
    if (md_of(alg) == EK_MD_NONE)
        return TSS2_ESYS_RC_NOT_IMPLEMENTED;
    count(EK_ESYS_CRYPTO_HMAC);
    TSS2_RC rc = blob_new(c);
    if (rc == TSS2_RC_SUCCESS && !((*c)->mac = ek_sw_hmac_new(md_of(alg), key, klen))) {
        blob_free(c);
        rc = TSS2_ESYS_RC_GENERAL_FAILURE;
    }
    return rc;
}

static TSS2_RC hmac_update(ESYS_CRYPTO_CONTEXT_BLOB *c, const uint8_t *b, size_t n, void *ud)
{
    (void)ud;
    if (!c || !c->mac)
        return TSS2_ESYS_RC_BAD_REFERENCE;
    return ek_sw_hmac_update(c->mac, b, n) ? TSS2_RC_SUCCESS : TSS2_ESYS_RC_GENERAL_FAILURE;
}

static TSS2_RC hmac_finish(ESYS_CRYPTO_CONTEXT_BLOB **c, uint8_t *out, size_t *n, void *ud)
{
    (void)ud;
    if (!c || !*c || !(*c)->mac || !n)
        return TSS2_ESYS_RC_BAD_REFERENCE;
    bool ok = ek_sw_hmac_final((*c)->mac, out, n);
    blob_free(c);
    return ok ? TSS2_RC_SUCCESS : TSS2_ESYS_RC_BAD_SIZE;
}

static TSS2_RC random2b(TPM2B_NONCE *nonce, size_t n, void *ud)
{
    (void)ud;
    if (n > sizeof(nonce->buffer))
        return TSS2_ESYS_RC_BAD_SIZE;
    count(EK_ESYS_CRYPTO_RANDOM);
    nonce->size = (UINT16)(n ? n : sizeof(nonce->buffer));
    return ek_sw_random(nonce->buffer, nonce->size) ? TSS2_RC_SUCCESS
                                                    : TSS2_ESYS_RC_GENERAL_FAILURE;
}

static TSS2_RC rsa_encrypt(TPM2B_PUBLIC *pub, size_t in_len, BYTE *in, size_t max_out, BYTE *out,
                           size_t *out_len, const char *label, void *ud)
{
    (void)ud;
    const TPMT_PUBLIC *p = &pub->publicArea;
    /* ESYS asks only for its salts, always OAEP (esys_iutil.c). */
    if (p->type != TPM2_ALG_RSA || p->parameters.rsaDetail.scheme.scheme != TPM2_ALG_OAEP ||
        md_of(p->nameAlg) == EK_MD_NONE)
        return TSS2_ESYS_RC_NOT_IMPLEMENTED;
    count(EK_ESYS_CRYPTO_SALT);
    *out_len = max_out;
    return ek_sw_rsa_oaep(p->unique.rsa.buffer, p->unique.rsa.size,
                          p->parameters.rsaDetail.exponent, md_of(p->nameAlg), label, in, in_len,
                          out, out_len)
               ? TSS2_RC_SUCCESS
               : TSS2_ESYS_RC_GENERAL_FAILURE;
}

static int curve_nid(TPM2_ECC_CURVE c, size_t *fsize)
{
    switch (c) {
    case TPM2_ECC_NIST_P256:
        *fsize = 32;
        return NID_X9_62_prime256v1;
    case TPM2_ECC_NIST_P384:
        *fsize = 48;
        return NID_secp384r1;
    case TPM2_ECC_NIST_P521:
        *fsize = 66;
        return NID_secp521r1;
    default:
        return NID_undef;
    }
}

static TSS2_RC ecdh_point(TPM2B_PUBLIC *key, size_t max_out, TPM2B_ECC_PARAMETER *z,
                          TPMS_ECC_POINT *q, BYTE *out, size_t *out_len, void *ud)
{
    (void)ud;
    const TPMS_ECC_POINT *pt = &key->publicArea.unique.ecc;
    size_t fs = 0, off = 0;
    int nid = curve_nid(key->publicArea.parameters.eccDetail.curveID, &fs);
    if (nid == NID_undef)
        return TSS2_ESYS_RC_NOT_IMPLEMENTED;
    if (pt->x.size != fs || pt->y.size != fs)
        return TSS2_ESYS_RC_BAD_VALUE;
    count(EK_ESYS_CRYPTO_SALT);
    if (!ek_sw_ecdh(nid, pt->x.buffer, pt->y.buffer, fs, z->buffer, q->x.buffer, q->y.buffer))
        return TSS2_ESYS_RC_GENERAL_FAILURE;
    z->size = q->x.size = q->y.size = (UINT16)fs;
    TSS2_RC rc = Tss2_MU_TPMS_ECC_POINT_Marshal(q, out, max_out, &off);
    if (rc == TSS2_RC_SUCCESS)
        *out_len = off;
    return rc;
}

static TSS2_RC aes(bool enc, uint8_t *key, TPM2_ALG_ID alg, TPMI_AES_KEY_BITS bits,
                   TPM2_ALG_ID mode, uint8_t *buf, size_t len, uint8_t *iv)
{
    if (alg != TPM2_ALG_AES || mode != TPM2_ALG_CFB)
        return TSS2_ESYS_RC_NOT_IMPLEMENTED;
    count(EK_ESYS_CRYPTO_CIPHER);
    return ek_sw_aes_cfb(enc, key, bits, iv, buf, len) ? TSS2_RC_SUCCESS
                                                       : TSS2_ESYS_RC_GENERAL_FAILURE;
}

static TSS2_RC aes_enc(uint8_t *key, TPM2_ALG_ID alg, TPMI_AES_KEY_BITS bits, TPM2_ALG_ID mode,
                       uint8_t *buf, size_t len, uint8_t *iv, void *ud)
{
    (void)ud;
    return aes(true, key, alg, bits, mode, buf, len, iv);
}

static TSS2_RC aes_dec(uint8_t *key, TPM2_ALG_ID alg, TPMI_AES_KEY_BITS bits, TPM2_ALG_ID mode,
                       uint8_t *buf, size_t len, uint8_t *iv, void *ud)
{
    (void)ud;
    return aes(false, key, alg, bits, mode, buf, len, iv);
}

/* SM4 is left to ESYS (optional in the struct); our sessions use AES. */
static ESYS_CRYPTO_CALLBACKS ek_callbacks = {
    .rsa_pk_encrypt = rsa_encrypt,
    .hash_start = hash_start,
    .hash_update = hash_update,
    .hash_finish = hash_finish,
    .hash_abort = blob_abort,
    .hmac_start = hmac_start,
    .hmac_update = hmac_update,
    .hmac_finish = hmac_finish,
    .hmac_abort = blob_abort,
    .get_random2b = random2b,
    .get_ecdh_point = ecdh_point,
    .aes_encrypt = aes_enc,
    .aes_decrypt = aes_dec,
};

TSS2_RC ek_esys_crypto_install(ESYS_CONTEXT *esys)
{
    return Esys_SetCryptoCallbacks(esys, &ek_callbacks);
}

unsigned long ek_esys_crypto_calls(ek_esys_crypto_kind kind)
{
    return (unsigned)kind < EK_ESYS_CRYPTO_KINDS ? atomic_load(&calls[kind]) : 0;
}

#else /* tpm2-tss 3.x */

TSS2_RC ek_esys_crypto_install(ESYS_CONTEXT *esys)
{
    (void)esys;
    return TSS2_RC_SUCCESS; /* ESYS keeps its own; tpm.c's ek_sw_enter covers what it can */
}

unsigned long ek_esys_crypto_calls(ek_esys_crypto_kind kind)
{
    (void)kind;
    return 0;
}

#endif
