/* edgekey PKCS#11 module: C_Digest* (software) and random numbers (TPM). */
#include <string.h>
#include "ek_key.h" /* ek_md_ctx_*, ek_tpm_random */
#include "p11_internal.h"

P11_EXPORT CK_RV C_DigestInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism)
{
    if (!pMechanism)
        return CKR_ARGUMENTS_BAD;
    p11_lock();
    p11_session *s;
    CK_RV rv = p11_session_lookup(hSession, &s);
    if (rv == CKR_OK && s->digest.kind)
        rv = CKR_OPERATION_ACTIVE;
    const p11_mech *m = rv == CKR_OK ? p11_mech_find(pMechanism->mechanism) : NULL;
    if (rv == CKR_OK && (!m || !(m->flags & CKF_DIGEST)))
        rv = CKR_MECHANISM_INVALID;
    if (rv == CKR_OK) {
        memset(&s->digest, 0, sizeof(s->digest));
        s->digest.kind = P11_OP_DIGEST;
        s->digest.md = m->md;
        s->digest.mdctx = ek_md_ctx_new(m->md); /* core's: no provider or ENGINE */
        if (!s->digest.mdctx) {
            p11_op_clear(&s->digest);
            rv = CKR_HOST_MEMORY;
        }
    }
    p11_unlock();
    return rv;
}

/* Lock held. Buffer rules: NULL -> length; short -> CKR_BUFFER_TOO_SMALL,
 * operation stays; otherwise finish and end the operation. */
static CK_RV digest_out(p11_session *s, CK_BYTE_PTR out, CK_ULONG_PTR out_len, bool *done)
{
    CK_ULONG need = ek_md_size(s->digest.md);
    *done = false;
    if (!out) {
        *out_len = need;
        return CKR_OK;
    }
    if (*out_len < need) {
        *out_len = need;
        return CKR_BUFFER_TOO_SMALL;
    }
    CK_RV rv = ek_md_ctx_final(s->digest.mdctx, out) ? CKR_OK : CKR_FUNCTION_FAILED;
    *out_len = need;
    *done = true;
    return rv;
}

static CK_RV digest_session(CK_SESSION_HANDLE h, p11_session **s)
{
    return p11_session_active_op(h, P11_OP_DIGEST, s);
}

P11_EXPORT CK_RV C_Digest(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                          CK_BYTE_PTR pDigest, CK_ULONG_PTR pulDigestLen)
{
    if (!pulDigestLen || (!pData && ulDataLen))
        return CKR_ARGUMENTS_BAD;
    p11_lock();
    p11_session *s;
    CK_RV rv = digest_session(hSession, &s);
    bool done = false;
    if (rv == CKR_OK && pDigest && *pulDigestLen >= ek_md_size(s->digest.md) &&
        !ek_md_ctx_update(s->digest.mdctx, pData, ulDataLen))
        rv = CKR_FUNCTION_FAILED;
    if (rv == CKR_OK)
        rv = digest_out(s, pDigest, pulDigestLen, &done);
    if (s && s->digest.kind && (done || (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL)))
        p11_op_clear(&s->digest);
    p11_unlock();
    return rv;
}

P11_EXPORT CK_RV C_DigestUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
    if (!pPart && ulPartLen)
        return CKR_ARGUMENTS_BAD;
    p11_lock();
    p11_session *s;
    CK_RV rv = digest_session(hSession, &s);
    if (rv == CKR_OK && !ek_md_ctx_update(s->digest.mdctx, pPart, ulPartLen)) {
        p11_op_clear(&s->digest);
        rv = CKR_FUNCTION_FAILED;
    }
    p11_unlock();
    return rv;
}

P11_EXPORT CK_RV C_DigestKey(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hKey)
{
    (void)hSession;
    (void)hKey;
    return CKR_FUNCTION_NOT_SUPPORTED;
}

P11_EXPORT CK_RV C_DigestFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pDigest,
                               CK_ULONG_PTR pulDigestLen)
{
    if (!pulDigestLen)
        return CKR_ARGUMENTS_BAD;
    p11_lock();
    p11_session *s;
    CK_RV rv = digest_session(hSession, &s);
    bool done = false;
    if (rv == CKR_OK)
        rv = digest_out(s, pDigest, pulDigestLen, &done);
    if (s && s->digest.kind && (done || (rv != CKR_OK && rv != CKR_BUFFER_TOO_SMALL)))
        p11_op_clear(&s->digest);
    p11_unlock();
    return rv;
}

P11_EXPORT CK_RV C_SeedRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSeed, CK_ULONG ulSeedLen)
{
    (void)pSeed;
    (void)ulSeedLen;
    p11_lock();
    p11_session *s;
    CK_RV rv = p11_session_lookup(hSession, &s);
    p11_unlock();
    return rv == CKR_OK ? CKR_RANDOM_SEED_NOT_SUPPORTED : rv;
}

P11_EXPORT CK_RV C_GenerateRandom(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pRandomData,
                                  CK_ULONG ulRandomLen)
{
    if (!pRandomData && ulRandomLen)
        return CKR_ARGUMENTS_BAD;
    p11_lock();
    p11_session *s;
    CK_RV rv = p11_session_lookup(hSession, &s);
    p11_unlock();
    if (rv != CKR_OK || ulRandomLen == 0)
        return rv;
    return p11_rv_from_ek(ek_tpm_random(pRandomData, ulRandomLen), "C_GenerateRandom");
}
