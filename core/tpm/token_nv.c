/* edgekey core: token secrets in NV indices, as tokens made before
 * edgekey 0.2 keep them (token_nv.h): read and removed, never made anew.
 *
 * Those indices are TPMA_NV_NO_DA with authValue = f(PIN), and any TPM user
 * can undefine them with the owner's (empty) auth: a PIN could be guessed
 * without limit and the token destroyed. New secrets are sealed objects
 * under the TPM's dictionary-attack protection, kept in the token directory
 * (token_seal.c); token_auth.c moves an NV secret there at the next PIN
 * change or `edgekey token migrate`.
 *
 * NV_Read runs through ESYS's salted session with response encryption, so
 * the secret never crosses the interface in clear. */
#include <string.h>

#include "ek_log.h"
#include "ek_tpm_int.h"
#include "token_nv.h"

static void to_auth(const unsigned char *auth, size_t alen, TPM2B_AUTH *a)
{
    memset(a, 0, sizeof(*a));
    a->size = (UINT16)alen;
    if (alen)
        memcpy(a->buffer, auth, alen);
}

static bool rc_bad_auth(TSS2_RC rc)
{
    return ek_tpm_rc_is(rc, TPM2_RC_BAD_AUTH) || ek_tpm_rc_is(rc, TPM2_RC_AUTH_FAIL);
}

static ek_rc index_tr(uint32_t index, ESYS_TR *tr)
{
    TSS2_RC rc =
        Esys_TR_FromTPMPublic(ek_tpm_ctx(), index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, tr);
    if (ek_tpm_startup_if_needed(rc))
        rc = Esys_TR_FromTPMPublic(ek_tpm_ctx(), index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                   tr);
    if (ek_tpm_rc_is(rc, TPM2_RC_HANDLE))
        return ek_error(EK_ERR_NOT_FOUND,
                        "NV index 0x%08x of the token secret is gone "
                        "(TPM cleared, or undefined by a TPM user); re-initialise the token",
                        index);
    return ek_tpm_rc(rc, "reading the NV index of the token secret (TPM2_NV_ReadPublic)");
}

static ek_rc read_locked(uint32_t index, const TPM2B_AUTH *a, unsigned char *out, size_t len)
{
    ESYS_TR tr = ESYS_TR_NONE, sess;
    TPM2B_MAX_NV_BUFFER *data = NULL;
    ek_rc r = index_tr(index, &tr);
    if (r == EK_OK)
        r = ek_tpm_session(TPMA_SESSION_ENCRYPT, &sess);
    if (r != EK_OK) {
        if (tr != ESYS_TR_NONE)
            Esys_TR_Close(ek_tpm_ctx(), &tr);
        return r;
    }
    TSS2_RC rc = Esys_TR_SetAuth(ek_tpm_ctx(), tr, a);
    if (!rc)
        rc = Esys_NV_Read(ek_tpm_ctx(), tr, tr, sess, ESYS_TR_NONE, ESYS_TR_NONE, (UINT16)len, 0,
                          &data);
    if (rc && !ek_tpm_rc_is_io(rc))
        ek_tpm_session_reset();
    Esys_TR_Close(ek_tpm_ctx(), &tr);
    if (!rc && data->size == len)
        memcpy(out, data->buffer, len);
    else if (!rc)
        r = ek_error(EK_ERR_INVALID, "NV token secret 0x%08x has the wrong size", index);
    if (data)
        ek_wipe(data, sizeof(*data));
    Esys_Free(data);
    if (rc_bad_auth(rc))
        return ek_error(EK_ERR_AUTH, "PIN incorrect");
    if (ek_tpm_rc_is(rc, TPM2_RC_NV_UNINITIALIZED))
        return ek_error(EK_ERR_NOT_FOUND,
                        "NV index 0x%08x of the token secret is empty; "
                        "re-initialise the token",
                        index);
    return rc ? ek_tpm_rc(rc, "reading the token secret (TPM2_NV_Read)") : r;
}

ek_rc ek_nv_secret_read(uint32_t index, const unsigned char *auth, size_t alen, unsigned char *out,
                        size_t len)
{
    if (len == 0 || len > EK_NV_SECRET_MAX || alen > sizeof(((TPM2B_AUTH *)0)->buffer))
        return ek_error(EK_ERR_INVALID, "NV token secret: bad length");
    ek_rc r = ek_tpm_lock(NULL);
    if (r != EK_OK)
        return r;
    TPM2B_AUTH a;
    to_auth(auth, alen, &a);
    r = read_locked(index, &a, out, len);
    ek_tpm_unlock();
    ek_wipe(&a, sizeof(a));
    if (r != EK_OK)
        ek_wipe(out, len);
    return r;
}

ek_rc ek_nv_secret_remove(uint32_t index)
{
    if (index < EK_NV_BASE || index >= EK_NV_BASE + EK_NV_COUNT)
        return ek_error(EK_ERR_INVALID, "NV index 0x%08x is not edgekey's", index);
    ek_rc r = ek_tpm_lock(NULL);
    if (r != EK_OK)
        return r;
    ESYS_TR tr = ESYS_TR_NONE;
    r = index_tr(index, &tr);
    if (r == EK_ERR_NOT_FOUND) {
        ek_clear_error();
        ek_tpm_unlock();
        return EK_OK; /* already gone */
    }
    if (r == EK_OK) {
        TSS2_RC rc = Esys_NV_UndefineSpace(ek_tpm_ctx(), ESYS_TR_RH_OWNER, tr, ESYS_TR_PASSWORD,
                                           ESYS_TR_NONE, ESYS_TR_NONE);
        if (rc)
            Esys_TR_Close(ek_tpm_ctx(), &tr);
        r = ek_tpm_rc(rc, "removing the NV index of an old token secret "
                          "(TPM2_NV_UndefineSpace)");
    }
    ek_tpm_unlock();
    return r;
}
