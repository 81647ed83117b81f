/* edgekey core: seal and unseal the token secret (TPM side of ek_token.h).
 *
 * The secret lives in a keyedhash sealed object under the SRK. Its userAuth
 * is f(PIN) for a token PIN, and then the object is under the TPM's
 * dictionary-attack protection (no noDA); a 256-bit derived auth value or an
 * empty one gets noDA. Everything secret crosses the TPM interface
 * encrypted: Create's inSensitive and Unseal's outData through ESYS's
 * salted session with parameter encryption. */
#include <string.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_mu.h>
#include "ek_log.h"
#include "ek_tpm.h"
#include "ek_tpm_int.h"
#include "token_seal.h"

/* EKSEAL2 records the parent; EKSEAL1 files (before it did) are read too. */
static const char seal_magic[8] = {'E', 'K', 'S', 'E', 'A', 'L', '2', '\n'};
static const char seal_magic1[8] = {'E', 'K', 'S', 'E', 'A', 'L', '1', '\n'};

/* A wrong PIN: TPM_RC_BAD_AUTH for noDA objects, TPM_RC_AUTH_FAIL otherwise. */
static bool rc_is_auth_fail(TSS2_RC rc)
{
    if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER || !(rc & TPM2_RC_FMT1))
        return false;
    TSS2_RC e = rc & (TPM2_RC_FMT1 | 0x3F);
    return e == TPM2_RC_AUTH_FAIL || e == TPM2_RC_BAD_AUTH;
}

static bool rc_is_lockout(TSS2_RC rc)
{
    return (rc & ~TSS2_RC_LAYER_MASK) == TPM2_RC_LOCKOUT &&
           (rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER;
}

ek_rc ek_seal_create(const unsigned char *secret, size_t secret_len, const unsigned char *auth,
                     size_t auth_len, bool pin_auth, ek_sealed *out)
{
    if (secret_len > sizeof(((TPM2B_SENSITIVE_DATA *)0)->buffer) ||
        auth_len > sizeof(((TPM2B_AUTH *)0)->buffer))
        return ek_error(EK_ERR_INVALID, "token secret seal: secret or auth too long");

    TPM2B_SENSITIVE_CREATE sens = {0};
    sens.sensitive.userAuth.size = (UINT16)auth_len;
    memcpy(sens.sensitive.userAuth.buffer, auth, auth_len);
    sens.sensitive.data.size = (UINT16)secret_len;
    memcpy(sens.sensitive.data.buffer, secret, secret_len);

    TPM2B_PUBLIC tmpl = {0};
    tmpl.publicArea.type = TPM2_ALG_KEYEDHASH;
    tmpl.publicArea.nameAlg = TPM2_ALG_SHA256;
    /* No sensitiveDataOrigin (we supply the data), no sign/decrypt: a
     * pure sealed blob. adminWithPolicy clear so ObjectChangeAuth works. */
    tmpl.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                       TPMA_OBJECT_USERWITHAUTH | (pin_auth ? 0 : TPMA_OBJECT_NODA);
    tmpl.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;

    TPM2B_PRIVATE *priv = NULL;
    TPM2B_PUBLIC *pub = NULL;
    ek_rc rc = ek_tpm_lock(NULL);
    if (rc == EK_OK) {
        rc = ek_tpm_create(&sens, &tmpl, &priv, &pub, &out->parent,
                           "sealing the token secret (TPM2_Create)", NULL);
        ek_tpm_unlock();
    }
    if (rc == EK_OK) {
        out->priv = *priv;
        out->pub = *pub;
    }
    if (priv)
        ek_wipe(priv, sizeof(*priv));
    Esys_Free(priv);
    Esys_Free(pub);
    ek_wipe(&sens, sizeof(sens));
    return rc;
}

/* Load under the parent the file records (raw TPM2_Load, keyload.c). An
 * EKSEAL1 file does not say: the SRK of the day, and if that is the
 * persistent 0x81000001 and the blob does not fit it, the template primary
 * (the SRK when the file was made, before a persistent one appeared). Lock
 * held. */
static ek_rc load_sealed(const ek_sealed *blob, ESYS_TR *obj)
{
    static const char what[] = "loading the sealed token secret (TPM2_Load)";
    TSS2_RC r = 0;
    uint32_t srk_parent = 0;
    ek_rc rc = ek_srk_parent(&srk_parent);
    if (rc != EK_OK)
        return rc;
    rc = ek_load_under(blob->parent ? blob->parent : srk_parent, &blob->priv, &blob->pub, what, obj,
                       &r);
    if (rc != EK_OK && !blob->parent && ek_tpm_rc_is(r, TPM2_RC_INTEGRITY) &&
        srk_parent != EK_OWNER_PARENT)
        rc = ek_load_under(EK_OWNER_PARENT, &blob->priv, &blob->pub, what, obj, NULL);
    if (rc == EK_ERR_AUTH) /* the parent's auth, not the PIN: never count it as a wrong PIN */
        rc = ek_error(EK_ERR_TPM, "%s", ek_last_error());
    if (rc != EK_OK)
        *obj = ESYS_TR_NONE;
    return rc;
}

/* TPM2_Unseal through the salted session, outData encrypted (lock held). */
static TSS2_RC unseal(ESYS_TR obj, const TPM2B_AUTH *a, TPM2B_SENSITIVE_DATA **data, ek_rc *rc)
{
    ESYS_TR sess;
    if ((*rc = ek_tpm_session(TPMA_SESSION_ENCRYPT, &sess)) != EK_OK)
        return TSS2_ESYS_RC_GENERAL_FAILURE;
    TSS2_RC r = Esys_TR_SetAuth(ek_tpm_ctx(), obj, a);
    if (!r)
        r = Esys_Unseal(ek_tpm_ctx(), obj, sess, ESYS_TR_NONE, ESYS_TR_NONE, data);
    if (r && !ek_tpm_rc_is_io(r))
        ek_tpm_session_reset();
    *rc = ek_tpm_rc(r, "unsealing the token secret (TPM2_Unseal)");
    return r;
}

ek_rc ek_seal_unseal(const ek_sealed *blob, const unsigned char *auth, size_t auth_len,
                     unsigned char *out, size_t *out_len)
{
    TPM2B_AUTH a = {0};
    if (auth_len > sizeof(a.buffer))
        return ek_error(EK_ERR_INVALID, "token PIN auth too long");
    a.size = (UINT16)auth_len;
    memcpy(a.buffer, auth, auth_len);
    ESYS_TR th = ESYS_TR_NONE;
    TPM2B_SENSITIVE_DATA *data = NULL;
    ek_rc rc = ek_tpm_lock(NULL);
    if (rc != EK_OK) {
        ek_wipe(&a, sizeof(a));
        return rc;
    }
    rc = load_sealed(blob, &th);
    if (rc == EK_OK) {
        TSS2_RC r = unseal(th, &a, &data, &rc);
        if (rc != EK_OK && rc_is_auth_fail(r))
            rc = ek_error(EK_ERR_AUTH, "PIN incorrect");
        else if (rc != EK_OK && rc_is_lockout(r))
            rc = ek_error(EK_ERR_LOCKOUT, "the TPM is in dictionary-attack lockout; wait for "
                                          "its recovery time (see `edgekey info`) or clear it "
                                          "with the lockout auth (tpm2_dictionarylockout -c)");
    }
    ek_tpm_flush(&th);
    ek_tpm_unlock();
    ek_wipe(&a, sizeof(a));
    if (rc == EK_OK && data) {
        if (data->size > *out_len) {
            rc = ek_error(EK_ERR_INVALID, "sealed token secret has an unexpected size");
        } else {
            memcpy(out, data->buffer, data->size);
            *out_len = data->size;
        }
    }
    if (data)
        ek_wipe(data, sizeof(*data));
    Esys_Free(data);
    return rc;
}

bool ek_seal_noda(const ek_sealed *blob)
{
    return (blob->pub.publicArea.objectAttributes & TPMA_OBJECT_NODA) != 0;
}

ek_rc ek_seal_encode(const ek_sealed *blob, unsigned char *buf, size_t size, size_t *len)
{
    size_t off = sizeof(seal_magic);
    if (size < off)
        return ek_error(EK_ERR_BUFFER_TOO_SMALL, "seal file buffer");
    memcpy(buf, seal_magic, off);
    if (Tss2_MU_UINT32_Marshal(blob->parent, buf, size, &off) != TSS2_RC_SUCCESS ||
        Tss2_MU_TPM2B_PUBLIC_Marshal(&blob->pub, buf, size, &off) != TSS2_RC_SUCCESS ||
        Tss2_MU_TPM2B_PRIVATE_Marshal(&blob->priv, buf, size, &off) != TSS2_RC_SUCCESS)
        return ek_error(EK_ERR_INVALID, "cannot marshal the sealed token secret");
    *len = off;
    return EK_OK;
}

ek_rc ek_seal_decode(const unsigned char *buf, size_t len, ek_sealed *blob, const char *what)
{
    size_t off = sizeof(seal_magic);
    memset(blob, 0, sizeof(*blob));
    bool v1 = len >= off && memcmp(buf, seal_magic1, off) == 0;
    if (len < off || (!v1 && memcmp(buf, seal_magic, off) != 0) ||
        (!v1 && Tss2_MU_UINT32_Unmarshal(buf, len, &off, &blob->parent) != TSS2_RC_SUCCESS) ||
        Tss2_MU_TPM2B_PUBLIC_Unmarshal(buf, len, &off, &blob->pub) != TSS2_RC_SUCCESS ||
        Tss2_MU_TPM2B_PRIVATE_Unmarshal(buf, len, &off, &blob->priv) != TSS2_RC_SUCCESS ||
        off != len)
        return ek_error(EK_ERR_INVALID,
                        "%s: not an edgekey seal file (EKSEAL1/2); "
                        "re-initialise the token's PINs",
                        what);
    return EK_OK;
}
