/* edgekey core: creating keys and making them persistent (ek_key.h).
 *
 * Edge keys are sign-only (sign, no decrypt), fixedTPM|fixedParent|
 * sensitiveDataOrigin|userWithAuth, with scheme NULL so the signer picks
 * PKCS#1, PSS or ECDSA per signature. An auth value travels in the sensitive
 * area of TPM2_Create, so that command then goes through the salted session
 * with parameter encryption (TPMA_SESSION_DECRYPT), ESYS's own. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "ek_config.h"
#include "ek_log.h"
#include "ek_policy.h"
#include "ek_tpm_int.h"

#define KEY_ATTRS                                                                                  \
    (TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |                   \
     TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH)

static void key_template(const ek_keygen_spec *spec, TPM2B_PUBLIC *t)
{
    memset(t, 0, sizeof(*t));
    t->publicArea.nameAlg = TPM2_ALG_SHA256;
    t->publicArea.objectAttributes = KEY_ATTRS;
    if (spec->auth_len == 0 || spec->auth_derived) /* see ek_keygen_spec */
        t->publicArea.objectAttributes |= TPMA_OBJECT_NODA;
    if (spec->alg == EK_ALG_RSA) {
        t->publicArea.type = TPM2_ALG_RSA;
        t->publicArea.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
        t->publicArea.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
        t->publicArea.parameters.rsaDetail.keyBits = (TPMI_RSA_KEY_BITS)spec->bits;
    } else {
        t->publicArea.type = TPM2_ALG_ECC;
        t->publicArea.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
        t->publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
        t->publicArea.parameters.eccDetail.curveID =
            spec->curve == EK_CURVE_P384 ? TPM2_ECC_NIST_P384 : TPM2_ECC_NIST_P256;
        t->publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    }
}

ek_rc ek_tpm_create(const TPM2B_SENSITIVE_CREATE *sens, const TPM2B_PUBLIC *tmpl,
                    TPM2B_PRIVATE **priv, TPM2B_PUBLIC **pub, uint32_t *parent, const char *what,
                    TSS2_RC *tpm_rc)
{
    ESYS_TR srk, sess = ESYS_TR_PASSWORD;
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION pcrs = {0};
    TSS2_RC rc = 0;
    bool secret = sens->sensitive.userAuth.size || sens->sensitive.data.size;
    ek_rc r = ek_tpm_srk(&srk);
    if (r == EK_OK)
        r = ek_srk_parent(parent);
    if (r == EK_OK && secret) /* the sensitive area travels encrypted */
        r = ek_tpm_session(TPMA_SESSION_DECRYPT, &sess);
    if (r != EK_OK)
        return r;
    ek_slots_reserve(1); /* TPM2_Create needs a free object slot while it works */
    rc = Esys_Create(ek_tpm_ctx(), srk, sess, ESYS_TR_NONE, ESYS_TR_NONE, sens, tmpl, &outside,
                     &pcrs, priv, pub, NULL, NULL, NULL);
    if (rc && secret && !ek_tpm_rc_is_io(rc))
        ek_tpm_session_reset();
    if (tpm_rc)
        *tpm_rc = rc;
    return ek_tpm_rc(rc, what);
}

/* A TPM without an algorithm or size answers TPM2_Create with whatever
 * parameter check trips first (swtpm: TPM_RC_VALUE for RSA-4096), which
 * reads like a bug of ours. TPM2_TestParms says plainly whether the TPM
 * takes these parameters; asked only after a failure, so a good key costs
 * no extra command. Lock held. */
static bool params_supported(const TPM2B_PUBLIC *tmpl)
{
    TPMT_PUBLIC_PARMS p = {.type = tmpl->publicArea.type};
    p.parameters = tmpl->publicArea.parameters;
    TSS2_RC rc = Esys_TestParms(ek_tpm_ctx(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &p);
    if (ek_tpm_rc_is_io(rc))
        ek_tpm_mark_broken();
    return rc == TSS2_RC_SUCCESS || ek_tpm_rc_is_io(rc);
}

static ek_rc create(const ek_keygen_spec *spec, TPM2B_SENSITIVE_CREATE *sens, TPM2B_PRIVATE **priv,
                    TPM2B_PUBLIC **pub, uint32_t *parent)
{
    TPM2B_PUBLIC tmpl;
    char what[96];
    snprintf(what, sizeof(what), "creating a %s key (TPM2_Create)",
             ek_alg_name(spec->alg, spec->bits, spec->curve));
    key_template(spec, &tmpl);
    ek_rc r = ek_tpm_lock(NULL);
    if (r != EK_OK)
        return r;
    r = ek_tpm_create(sens, &tmpl, priv, pub, parent, what, NULL);
    if (r == EK_ERR_TPM && !params_supported(&tmpl))
        r = EK_ERR_UNSUPPORTED;
    ek_tpm_unlock();
    if (r == EK_ERR_UNSUPPORTED)
        r = ek_error(r,
                     "%s: %s keys are unsupported by this TPM (TPM2_TestParms refuses "
                     "them); choose another algorithm (`edgekey info` lists the TPM's)",
                     what, ek_alg_name(spec->alg, spec->bits, spec->curve));
    return r;
}

ek_rc ek_key_generate(const ek_keygen_spec *spec, ek_key **out)
{
    const ek_config *cfg = ek_config_get();
    if (!cfg)
        return ek_error(EK_ERR_INVALID, "%s", ek_last_error());
    ek_rc r = ek_policy_check_keygen(spec, cfg->rsa_min_bits, cfg->allow_ec);
    if (r != EK_OK)
        return r;
    return ek_key_generate_probe(spec, out);
}

ek_rc ek_key_generate_probe(const ek_keygen_spec *spec, ek_key **out)
{
    ek_rc r;
    TPM2B_SENSITIVE_CREATE sens = {0};
    if (spec->auth_len > 32) /* TPM limit: the nameAlg (SHA-256) digest size */
        return ek_error(EK_ERR_INVALID, "key auth value of %zu bytes is too long; at most 32",
                        spec->auth_len);
    if (spec->auth_len) {
        memcpy(sens.sensitive.userAuth.buffer, spec->auth, spec->auth_len);
        sens.sensitive.userAuth.size = (UINT16)spec->auth_len;
    }
    TPM2B_PRIVATE *priv = NULL;
    TPM2B_PUBLIC *pub = NULL;
    uint32_t parent = 0;
    r = create(spec, &sens, &priv, &pub, &parent);
    OPENSSL_cleanse(&sens, sizeof(sens));
    ek_key *k = NULL;
    if (r == EK_OK && !(k = ek_key_new_empty()))
        r = ek_error(EK_ERR_NOMEM, "out of memory for a key");
    if (r == EK_OK) {
        k->has_blob = true;
        k->kf.empty_auth = spec->auth_len == 0;
        k->kf.parent = parent;
        k->kf.pub = *pub;
        k->kf.priv = *priv;
        r = ek_key_set_public(k, pub);
        if (r == EK_OK)
            r = ek_key_set_auth(k, spec->auth, spec->auth_len);
    }
    if (priv)
        OPENSSL_cleanse(priv, sizeof(*priv));
    Esys_Free(priv);
    Esys_Free(pub);
    if (r != EK_OK) {
        ek_key_free(k);
        return r;
    }
    *out = k;
    return EK_OK;
}

static ek_rc check_handle(uint32_t handle)
{
    if ((handle & EK_HR_MASK) != EK_HR_PERSISTENT)
        return ek_error(EK_ERR_INVALID,
                        "0x%08x is not a persistent handle; use "
                        "0x81000000..0x81ffffff",
                        handle);
    return EK_OK;
}

ek_rc ek_key_persist(ek_key *key, uint32_t handle)
{
    ek_rc r = check_handle(handle);
    if (r == EK_OK && handle == EK_SRK_HANDLE)
        r = ek_error(EK_ERR_INVALID,
                     "0x%08x is reserved for the storage root key; choose "
                     "another handle, e.g. 0x81010001",
                     handle);
    if (r == EK_OK && key->handle)
        r = ek_error(EK_ERR_EXISTS, "the key is already persistent at 0x%08x", key->handle);
    if (r != EK_OK)
        return r;
    if ((r = ek_tpm_lock(NULL)) != EK_OK)
        return r;
    ESYS_TR taken = ESYS_TR_NONE, out = ESYS_TR_NONE;
    if (Esys_TR_FromTPMPublic(ek_tpm_ctx(), handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                              &taken) == TSS2_RC_SUCCESS) {
        Esys_TR_Close(ek_tpm_ctx(), &taken);
        r = ek_error(EK_ERR_EXISTS,
                     "persistent handle 0x%08x is already taken; evict it first "
                     "or choose another handle",
                     handle);
    }
    if (r == EK_OK)
        r = ek_key_use(key);
    if (r == EK_OK) {
        char what[80];
        snprintf(what, sizeof(what), "making the key persistent at 0x%08x", handle);
        r = ek_tpm_rc(Esys_EvictControl(ek_tpm_ctx(), ESYS_TR_RH_OWNER, key->tr, ESYS_TR_PASSWORD,
                                        ESYS_TR_NONE, ESYS_TR_NONE, handle, &out),
                      what);
    }
    if (r == EK_OK) {
        ek_key_unload_locked(key); /* the persistent copy serves from now on */
        key->handle = handle;
        key->tr = out;
        key->gen = ek_tpm_generation();
    }
    ek_tpm_unlock();
    return r;
}

ek_rc ek_key_evict_handle(uint32_t handle)
{
    ek_rc r = check_handle(handle);
    if (r != EK_OK)
        return r;
    if ((r = ek_tpm_lock(NULL)) != EK_OK)
        return r;
    ESYS_TR tr = ESYS_TR_NONE, out = ESYS_TR_NONE;
    uint32_t srk_parent = 0;
    TSS2_RC rc = Esys_TR_FromTPMPublic(ek_tpm_ctx(), handle, ESYS_TR_NONE, ESYS_TR_NONE,
                                       ESYS_TR_NONE, &tr); /* quiet existence check */
    if (rc) {
        r = ek_tpm_rc(rc, "reading the persistent key");
        if (r == EK_ERR_NOT_FOUND || r == EK_ERR_TPM)
            r = ek_error(EK_ERR_NOT_FOUND, "no persistent object at 0x%08x", handle);
    } else {
        if (handle == EK_SRK_HANDLE && ek_srk_parent(&srk_parent) == EK_OK && srk_parent == handle)
            ek_srk_forget(true); /* our SRK: forget it before it goes */
        char what[80];
        snprintf(what, sizeof(what), "evicting the persistent key 0x%08x", handle);
        r = ek_tpm_rc(Esys_EvictControl(ek_tpm_ctx(), ESYS_TR_RH_OWNER, tr, ESYS_TR_PASSWORD,
                                        ESYS_TR_NONE, ESYS_TR_NONE, handle, &out),
                      what);
        if (r != EK_OK)
            Esys_TR_Close(ek_tpm_ctx(), &tr);
    }
    ek_tpm_unlock();
    return r;
}
