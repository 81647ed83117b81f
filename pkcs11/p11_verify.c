/* edgekey PKCS#11 module: verification in software (OpenSSL default
 * provider) - public-key work never goes to the TPM. */
#include <stdlib.h>
#include <string.h>
#include <openssl/ecdsa.h>
#include <openssl/rsa.h>
#include "p11_internal.h"

P11_EXPORT CK_RV C_VerifyInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                              CK_OBJECT_HANDLE hKey)
{
    if (!pMechanism)
        return CKR_ARGUMENTS_BAD;
    p11_lock();
    p11_session *s;
    CK_RV rv = p11_session_lookup(hSession, &s);
    if (rv == CKR_OK && s->verify.kind)
        rv = CKR_OPERATION_ACTIVE;
    p11_object *o = rv == CKR_OK ? p11_object_get(hKey) : NULL;
    if (rv == CKR_OK && (!o || !p11_object_visible(o, s)))
        rv = CKR_KEY_HANDLE_INVALID;
    if (rv == CKR_OK && o->cls == CKO_CERTIFICATE)
        rv = CKR_KEY_TYPE_INCONSISTENT;
    if (rv == CKR_OK)
        rv = p11_op_setup(&s->verify, pMechanism, o, P11_OP_VERIFY);
    if (rv == CKR_OK) {
        s->verify.pkey = p11_pkey_from_pub(ek_key_public(o->key));
        if (!s->verify.pkey) {
            p11_op_clear(&s->verify);
            rv = CKR_FUNCTION_FAILED;
        }
    }
    p11_unlock();
    return rv;
}

/* r || s (each n bytes) -> DER ECDSA-Sig-Value. */
static int raw_to_der(const unsigned char *sig, size_t len, unsigned char **der)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)(len / 2), NULL);
    BIGNUM *sv = BN_bin2bn(sig + len / 2, (int)(len / 2), NULL);
    int n = -1;
    if (es && r && sv && ECDSA_SIG_set0(es, r, sv) == 1) {
        r = sv = NULL;
        *der = NULL;
        n = i2d_ECDSA_SIG(es, der);
    }
    BN_free(r);
    BN_free(sv);
    ECDSA_SIG_free(es);
    return n;
}

static CK_RV check(p11_op *op, const unsigned char *sig, size_t sig_len)
{
    if (sig_len != op->sig_len)
        return CKR_SIGNATURE_LEN_RANGE;
    unsigned char dg[64];
    size_t dlen = 0;
    ek_md md;
    CK_RV rv = p11_op_digest(op, dg, &dlen, &md);
    if (rv != CKR_OK)
        return rv == CKR_DATA_INVALID ? CKR_SIGNATURE_INVALID : rv;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, op->pkey, NULL);
    unsigned char *der = NULL;
    int ok = ctx && EVP_PKEY_verify_init(ctx) == 1;
    if (ok && op->scheme != EK_SIG_ECDSA) {
        ok = EVP_PKEY_CTX_set_signature_md(ctx, p11_evp_md(md)) == 1;
        if (ok && op->scheme == EK_SIG_RSA_PSS)
            ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PSS_PADDING) == 1 &&
                 EVP_PKEY_CTX_set_rsa_mgf1_md(ctx, p11_evp_md(md)) == 1 &&
                 EVP_PKEY_CTX_set_rsa_pss_saltlen(ctx, (int)dlen) == 1;
        else if (ok)
            ok = EVP_PKEY_CTX_set_rsa_padding(ctx, RSA_PKCS1_PADDING) == 1;
    }
    int res = 0;
    if (ok && op->scheme == EK_SIG_ECDSA) {
        int n = raw_to_der(sig, sig_len, &der);
        res = n > 0 && EVP_PKEY_verify(ctx, der, (size_t)n, dg, dlen) == 1;
    } else if (ok) {
        res = EVP_PKEY_verify(ctx, sig, sig_len, dg, dlen) == 1;
    }
    OPENSSL_free(der);
    EVP_PKEY_CTX_free(ctx);
    if (!ok)
        return CKR_FUNCTION_FAILED;
    return res ? CKR_OK : CKR_SIGNATURE_INVALID;
}

P11_EXPORT CK_RV C_Verify(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                          CK_BYTE_PTR pSignature, CK_ULONG ulSignatureLen)
{
    if ((!pData && ulDataLen) || !pSignature)
        return CKR_ARGUMENTS_BAD;
    p11_lock();
    p11_session *s;
    CK_RV rv = p11_session_active_op(hSession, P11_OP_VERIFY, &s);
    if (rv == CKR_OK) {
        rv = p11_op_feed(&s->verify, pData, ulDataLen);
        if (rv == CKR_OK)
            rv = check(&s->verify, pSignature, ulSignatureLen);
        p11_op_clear(&s->verify);
    }
    p11_unlock();
    return rv;
}

P11_EXPORT CK_RV C_VerifyUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
    p11_lock();
    p11_session *s;
    CK_RV rv = p11_session_active_op(hSession, P11_OP_VERIFY, &s);
    if (rv == CKR_OK) {
        rv = p11_op_feed(&s->verify, pPart, ulPartLen);
        if (rv != CKR_OK)
            p11_op_clear(&s->verify);
    }
    p11_unlock();
    return rv;
}

P11_EXPORT CK_RV C_VerifyFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature,
                               CK_ULONG ulSignatureLen)
{
    if (!pSignature)
        return CKR_ARGUMENTS_BAD;
    p11_lock();
    p11_session *s;
    CK_RV rv = p11_session_active_op(hSession, P11_OP_VERIFY, &s);
    if (rv == CKR_OK) {
        rv = check(&s->verify, pSignature, ulSignatureLen);
        p11_op_clear(&s->verify);
    }
    p11_unlock();
    return rv;
}

P11_EXPORT CK_RV C_VerifyRecoverInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                                     CK_OBJECT_HANDLE hKey)
{
    (void)hSession;
    (void)pMechanism;
    (void)hKey;
    return CKR_FUNCTION_NOT_SUPPORTED;
}

P11_EXPORT CK_RV C_VerifyRecover(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature,
                                 CK_ULONG ulSignatureLen, CK_BYTE_PTR pData,
                                 CK_ULONG_PTR pulDataLen)
{
    (void)hSession;
    (void)pSignature;
    (void)ulSignatureLen;
    (void)pData;
    (void)pulDataLen;
    return CKR_FUNCTION_NOT_SUPPORTED;
}
