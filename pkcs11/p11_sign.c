/* edgekey PKCS#11 module: signing (single and multi-part).
 *
 * Hashing happens here in software; the TPM gets one TPM2_Sign on the
 * digest (ek_key_sign). Signature sizes are fixed (modulus bytes, or 2 x
 * coordinate bytes for raw ECDSA r||s), so a length query or a short buffer
 * is answered without touching the TPM and leaves the operation active. */
#include <stdlib.h>
#include <string.h>
#include "ek_log.h"
#include "p11_internal.h"

CK_RV p11_op_feed(p11_op *op, const unsigned char *data, size_t len)
{
    if (!data && len)
        return CKR_ARGUMENTS_BAD;
    if (!op->prehashed)
        return ek_md_ctx_update(op->mdctx, data, len) ? CKR_OK : CKR_FUNCTION_FAILED;
    if (op->buf_len + len > P11_MAX_RAW_INPUT)
        return CKR_DATA_LEN_RANGE;
    unsigned char *nb = realloc(op->buf, op->buf_len + len + 1);
    if (!nb)
        return CKR_HOST_MEMORY;
    op->buf = nb;
    if (len)
        memcpy(op->buf + op->buf_len, data, len);
    op->buf_len += len;
    return CKR_OK;
}

/* ECDSA signs the leftmost curve-size bytes of the hash: pad a short input
 * on the left (same integer), cut a long one, and call it the hash of the
 * curve's size so the TPM accepts it. */
static CK_RV ec_normalise(p11_op *op, const unsigned char *in, size_t in_len, unsigned char *out,
                          size_t *out_len, ek_md *md)
{
    size_t n = op->ec_bytes;
    if (in_len == 0)
        return CKR_DATA_LEN_RANGE;
    if (in_len >= n) {
        memcpy(out, in, n);
    } else {
        memset(out, 0, n - in_len);
        memcpy(out + n - in_len, in, in_len);
    }
    *out_len = n;
    *md = n == 48 ? EK_MD_SHA384 : EK_MD_SHA256;
    return CKR_OK;
}

/* The digest the TPM signs (and OpenSSL verifies). out holds 64 bytes. */
CK_RV p11_op_digest(p11_op *op, unsigned char *out, size_t *out_len, ek_md *md)
{
    unsigned char h[EVP_MAX_MD_SIZE];
    const unsigned char *d = op->buf;
    size_t dlen = op->buf_len;
    *md = op->md;
    if (!op->prehashed) {
        if (!ek_md_ctx_final(op->mdctx, h))
            return CKR_FUNCTION_FAILED;
        d = h;
        dlen = ek_md_size(op->md);
    } else if (op->scheme == EK_SIG_RSA_PKCS1) {
        CK_RV rv = p11_digestinfo_parse(op->buf, op->buf_len, md, &d, &dlen);
        if (rv != CKR_OK) {
            ek_log(EK_LOG_WARN, "pkcs11: CKM_RSA_PKCS input is not a SHA-1/256/384/512 "
                                "DigestInfo; the key is sign-only (no raw RSA)");
            return rv;
        }
    } else if (op->scheme == EK_SIG_RSA_PSS) {
        if (dlen != ek_md_size(op->md))
            return CKR_DATA_LEN_RANGE;
    }
    if (op->scheme == EK_SIG_ECDSA)
        return ec_normalise(op, d, dlen, out, out_len, md);
    if (dlen > 64)
        return CKR_DATA_LEN_RANGE;
    memcpy(out, d, dlen);
    *out_len = dlen;
    return CKR_OK;
}

/* Shared by C_SignInit and C_VerifyInit: mechanism, key type, params. */
CK_RV p11_op_setup(p11_op *op, const CK_MECHANISM *mech, const p11_object *o, p11_op_kind kind)
{
    const p11_mech *m = p11_mech_find(mech->mechanism);
    if (!m || !m->scheme)
        return CKR_MECHANISM_INVALID;
    if (!o->key)
        return CKR_KEY_TYPE_INCONSISTENT;
    const ek_pubkey *pub = ek_key_public(o->key);
    if (!pub || pub->alg != m->alg)
        return CKR_KEY_TYPE_INCONSISTENT;
    memset(op, 0, sizeof(*op));
    op->kind = kind;
    op->mech = m->type;
    op->scheme = m->scheme;
    op->md = m->md;
    op->prehashed = m->md == EK_MD_NONE;
    if (m->scheme == EK_SIG_RSA_PSS) {
        CK_RV rv = p11_mech_check_pss(mech, m->md, &op->md);
        if (rv != CKR_OK)
            return rv;
    }
    if (!op->prehashed) {
        /* core's digest: no OpenSSL provider or ENGINE of the application
         * (tpm2-openssl with tpm2.digest, say) can take it over */
        op->mdctx = ek_md_ctx_new(op->md);
        if (!op->mdctx) {
            p11_op_clear(op);
            return CKR_HOST_MEMORY;
        }
    }
    if (pub->alg == EK_ALG_EC) {
        op->ec_bytes = pub->curve == EK_CURVE_P384 ? 48 : 32;
        op->sig_len = 2 * op->ec_bytes;
    } else {
        op->sig_len = pub->n_len;
    }
    op->obj = o->h;
    op->slot = o->slot;
    memcpy(op->id, o->id, o->id_len);
    op->id_len = o->id_len;
    return CKR_OK;
}

/* Lock held: a PIN token's key gets its auth value from the token secret. */
static CK_RV apply_key_auth(p11_slot *sl, const p11_object *o)
{
    if (!ek_key_needs_auth(o->key))
        return CKR_OK;
    if (!sl->secret.set && p11_slot_logged_in_user(sl)) /* PIN-less token: the PIN is the auth */
        return p11_rv_from_ek(ek_key_set_auth(o->key, sl->pin, sl->pin_len), "key auth");
    if (!sl->secret.set)
        return CKR_USER_NOT_LOGGED_IN;
    unsigned char auth[EK_TOKEN_AUTH_MAX];
    size_t alen = 0;
    ek_rc rc = ek_token_key_auth(&sl->secret, o->id, o->id_len, auth, &alen);
    if (rc == EK_OK)
        rc = ek_key_set_auth(o->key, auth, alen);
    ek_wipe(auth, sizeof(auth));
    return p11_rv_from_ek(rc, "key auth");
}

P11_EXPORT CK_RV C_SignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                            CK_OBJECT_HANDLE hKey)
{
    if (!pMechanism)
        return CKR_ARGUMENTS_BAD;
    p11_lock();
    p11_session *s;
    CK_RV rv = p11_session_lookup(hSession, &s);
    if (rv == CKR_OK && (s->sign.kind || s->busy))
        rv = CKR_OPERATION_ACTIVE;
    p11_object *o = rv == CKR_OK ? p11_object_get(hKey) : NULL;
    if (rv == CKR_OK && (!o || !p11_object_visible(o, s)))
        rv = CKR_KEY_HANDLE_INVALID;
    if (rv == CKR_OK && o->cls != CKO_PRIVATE_KEY)
        rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
    p11_slot *sl = rv == CKR_OK ? p11_slot_get(s->slot) : NULL;
    if (rv == CKR_OK && o->priv && !p11_slot_logged_in_user(sl))
        rv = CKR_USER_NOT_LOGGED_IN;
    if (rv == CKR_OK)
        rv = p11_op_setup(&s->sign, pMechanism, o, P11_OP_SIGN);
    if (rv == CKR_OK)
        rv = apply_key_auth(sl, o);
    if (rv == CKR_OK)
        s->sign.key = ek_key_ref(o->key);
    else if (s && s->sign.kind && !s->sign.key)
        p11_op_clear(&s->sign);
    p11_unlock();
    return rv;
}

/* Lock held on entry and exit. Takes the op out of the session for the TPM
 * call so other threads (and this session's other operations) can proceed. */
static CK_RV finish_sign(p11_session *s, CK_SESSION_HANDLE h, CK_BYTE_PTR sig, CK_ULONG_PTR sig_len)
{
    p11_op op = s->sign;
    unsigned char dg[64];
    size_t dlen = 0;
    ek_md md;
    memset(&s->sign, 0, sizeof(s->sign));
    CK_RV rv = p11_op_digest(&op, dg, &dlen, &md);
    if (rv == CKR_OK) {
        s->busy = true;
        p11_unlock();
        size_t len = *sig_len;
        ek_rc rc = ek_key_sign(op.key, op.scheme, md, dg, dlen, EK_ECDSA_RAW, sig, &len);
        if (rc == EK_ERR_BUFFER_TOO_SMALL)
            rc = ek_error(EK_ERR_TPM, "signature larger than announced (%zu)", len);
        rv = p11_rv_from_ek(rc, "C_Sign");
        if (rv == CKR_OK)
            *sig_len = len;
        p11_lock();
        p11_session *again = p11_session_get(h);
        if (again)
            again->busy = false;
    }
    if (rv == CKR_PIN_INCORRECT || rv == CKR_PIN_LOCKED)
        rv = CKR_FUNCTION_FAILED; /* not valid C_Sign codes; the log line says why */
    p11_op_clear(&op);
    return rv;
}

/* Buffer rules shared by C_Sign and C_SignFinal. */
static CK_RV length_check(const p11_op *op, CK_BYTE_PTR sig, CK_ULONG_PTR sig_len, bool *done)
{
    *done = true;
    if (!sig) {
        *sig_len = op->sig_len;
        return CKR_OK;
    }
    if (*sig_len < op->sig_len) {
        *sig_len = op->sig_len;
        return CKR_BUFFER_TOO_SMALL;
    }
    *done = false;
    return CKR_OK;
}

P11_EXPORT CK_RV C_Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                        CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
    if (!pulSignatureLen || (!pData && ulDataLen))
        return CKR_ARGUMENTS_BAD;
    p11_lock();
    p11_session *s;
    CK_RV rv = p11_session_active_op(hSession, P11_OP_SIGN, &s);
    bool done = true;
    if (rv == CKR_OK)
        rv = length_check(&s->sign, pSignature, pulSignatureLen, &done);
    if (rv == CKR_OK && !done) {
        rv = p11_op_feed(&s->sign, pData, ulDataLen);
        if (rv == CKR_OK)
            rv = finish_sign(s, hSession, pSignature, pulSignatureLen);
        else
            p11_op_clear(&s->sign);
    }
    p11_unlock();
    return rv;
}

P11_EXPORT CK_RV C_SignUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
    p11_lock();
    p11_session *s;
    CK_RV rv = p11_session_active_op(hSession, P11_OP_SIGN, &s);
    if (rv == CKR_OK) {
        s->sign.updated = true;
        rv = p11_op_feed(&s->sign, pPart, ulPartLen);
        if (rv != CKR_OK)
            p11_op_clear(&s->sign);
    }
    p11_unlock();
    return rv;
}

P11_EXPORT CK_RV C_SignFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature,
                             CK_ULONG_PTR pulSignatureLen)
{
    if (!pulSignatureLen)
        return CKR_ARGUMENTS_BAD;
    p11_lock();
    p11_session *s;
    CK_RV rv = p11_session_active_op(hSession, P11_OP_SIGN, &s);
    bool done = true;
    if (rv == CKR_OK)
        rv = length_check(&s->sign, pSignature, pulSignatureLen, &done);
    if (rv == CKR_OK && !done)
        rv = finish_sign(s, hSession, pSignature, pulSignatureLen);
    p11_unlock();
    return rv;
}

P11_EXPORT CK_RV C_SignRecoverInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                                   CK_OBJECT_HANDLE hKey)
{
    (void)hSession;
    (void)pMechanism;
    (void)hKey;
    return CKR_FUNCTION_NOT_SUPPORTED;
}

P11_EXPORT CK_RV C_SignRecover(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
                               CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
    (void)hSession;
    (void)pData;
    (void)ulDataLen;
    (void)pSignature;
    (void)pulSignatureLen;
    return CKR_FUNCTION_NOT_SUPPORTED;
}
