/* edgekey core: the attestation key (ek_attest.h): TPM2_Create of the AK,
 * TPM2_ActivateCredential with the EK's PolicySecret(endorsement) session,
 * TPM2_Certify of a device key. Slots: SRK + AK + EK, or SRK + AK + device
 * key, never more than the 3 a swtpm holds; the EK is flushed at once. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <tss2/tss2_mu.h>

#include "ek_attest.h"
#include "ek_tpm_int.h"

#define AK_ATTRS                                                                                   \
    (TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_FIXEDTPM |                    \
     TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |        \
     TPMA_OBJECT_NODA)

static void ak_template(TPM2B_PUBLIC *t)
{
    memset(t, 0, sizeof(*t));
    TPMT_PUBLIC *p = &t->publicArea;
    p->type = TPM2_ALG_ECC;
    p->nameAlg = TPM2_ALG_SHA256;
    p->objectAttributes = AK_ATTRS;
    p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
    /* a restricted signing key must name its scheme */
    p->parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
    p->parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
}

static ek_rc ak_from_blob(const TPM2B_PRIVATE *priv, const TPM2B_PUBLIC *pub, uint32_t parent,
                          ek_key **out)
{
    ek_key *k = ek_key_new_empty();
    if (!k)
        return ek_error(EK_ERR_NOMEM, "out of memory for the attestation key");
    k->has_blob = true;
    k->kf.empty_auth = true;
    k->kf.parent = parent;
    k->kf.pub = *pub;
    k->kf.priv = *priv;
    ek_rc r = ek_key_set_public(k, pub);
    if (r != EK_OK) {
        ek_key_free(k);
        return r;
    }
    *out = k;
    return EK_OK;
}

ek_rc ek_ak_create(ek_key **ak)
{
    TPM2B_PUBLIC tmpl;
    TPM2B_SENSITIVE_CREATE sens = {0};
    TPM2B_PRIVATE *priv = NULL;
    TPM2B_PUBLIC *pub = NULL;
    uint32_t parent = 0;
    if (!ak)
        return ek_error(EK_ERR_INVALID, "attestation key: no output");
    ak_template(&tmpl);
    ek_rc r = ek_tpm_lock(NULL);
    if (r != EK_OK)
        return r;
    r = ek_tpm_create(&sens, &tmpl, &priv, &pub, &parent,
                      "creating the attestation key (TPM2_Create)", NULL);
    ek_tpm_unlock();
    if (r == EK_OK)
        r = ak_from_blob(priv, pub, parent, ak);
    if (priv)
        OPENSSL_cleanse(priv, sizeof(*priv));
    Esys_Free(priv);
    Esys_Free(pub);
    return r;
}

ek_rc ek_key_tpm_public(const ek_key *key, unsigned char **pub, size_t *len)
{
    TPM2B_PUBLIC p = {0};
    if (!key || !pub || !len)
        return ek_error(EK_ERR_INVALID, "key public area: no key or no output");
    p.publicArea = key->tpub;
    return ek_marshal_public(&p, pub, len);
}

ek_rc ek_public_parse(const unsigned char *pub, size_t len, ek_pubkey *out)
{
    TPM2B_PUBLIC p = {0};
    size_t off = 0;
    if (!pub || !out || Tss2_MU_TPM2B_PUBLIC_Unmarshal(pub, len, &off, &p) || off != len)
        return ek_error(EK_ERR_INVALID, "public area: not a marshalled TPM2B_PUBLIC");
    return ek_pubkey_from_tpmt(&p.publicArea, out);
}

/* A policy session satisfied by PolicySecret(TPM_RH_ENDORSEMENT): what the
 * EK's authPolicy asks for; for the H-3 EK (SHA-384) followed by
 * PolicyOR(PolicyA, PolicyC), its authPolicy being PolicyB. Lock held; the
 * caller flushes it. */
static ek_rc ek_policy_session(ek_ek_kind kind, ESYS_TR *sess)
{
    TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_NULL};
    TPMI_ALG_HASH h = kind == EK_EK_P384 ? TPM2_ALG_SHA384 : TPM2_ALG_SHA256;
    TSS2_RC rc =
        Esys_StartAuthSession(ek_tpm_ctx(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                              ESYS_TR_NONE, NULL, TPM2_SE_POLICY, &sym, h, sess);
    if (rc) {
        *sess = ESYS_TR_NONE;
        return ek_tpm_rc(rc, "starting the EK policy session (TPM2_StartAuthSession)");
    }
    rc = Esys_PolicySecret(ek_tpm_ctx(), ESYS_TR_RH_ENDORSEMENT, *sess, ESYS_TR_PASSWORD,
                           ESYS_TR_NONE, ESYS_TR_NONE, NULL, NULL, NULL, 0, NULL, NULL);
    ek_rc r = ek_tpm_rc(rc, "satisfying the EK policy (TPM2_PolicySecret, endorsement hierarchy)");
    if (r != EK_OK || kind != EK_EK_P384)
        return r;
    TPML_DIGEST branches = {.count = 2};
    branches.digests[0].size = branches.digests[1].size = 48;
    memcpy(branches.digests[0].buffer, ek_policy_a_sha384, 48);
    memcpy(branches.digests[1].buffer, ek_policy_c_sha384, 48);
    rc = Esys_PolicyOR(ek_tpm_ctx(), *sess, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &branches);
    return ek_tpm_rc(rc, "satisfying the EK policy (TPM2_PolicyOR, PolicyB of template H-3)");
}

static ek_rc unmarshal_cred(const unsigned char *cred, size_t cred_len, const unsigned char *esec,
                            size_t esec_len, TPM2B_ID_OBJECT *c, TPM2B_ENCRYPTED_SECRET *s)
{
    size_t o1 = 0, o2 = 0;
    if (!cred || !esec || Tss2_MU_TPM2B_ID_OBJECT_Unmarshal(cred, cred_len, &o1, c) ||
        o1 != cred_len || Tss2_MU_TPM2B_ENCRYPTED_SECRET_Unmarshal(esec, esec_len, &o2, s) ||
        o2 != esec_len)
        return ek_error(EK_ERR_INVALID,
                        "activation challenge: the credential blob or the "
                        "encrypted secret is not a TPM2B structure; the hub's answer is damaged");
    return EK_OK;
}

static ek_rc activate_locked(ek_key *ak, ek_ek_kind kind, const TPM2B_ID_OBJECT *c,
                             const TPM2B_ENCRYPTED_SECRET *s, TPM2B_DIGEST **info)
{
    ESYS_TR ek = ESYS_TR_NONE, sess = ESYS_TR_NONE, aks = ESYS_TR_PASSWORD;
    ek_rc r = ek_key_use(ak);
    if (r == EK_OK)
        r = ek_ek_primary(kind, &ek, NULL);
    if (r == EK_OK)
        r = ek_policy_session(kind, &sess);
    if (r == EK_OK)
        r = ek_tpm_auth_session(&ak->auth, &aks);
    if (r == EK_OK)
        r = ek_tpm_rc(
            Esys_ActivateCredential(ek_tpm_ctx(), ak->tr, ek, aks, sess, ESYS_TR_NONE, c, s, info),
            "recovering the hub's secret (TPM2_ActivateCredential: a challenge not "
            "made for this TPM's EK and this AK is refused)");
    ek_tpm_flush(&sess);
    ek_ek_flush(&ek);
    return r;
}

ek_rc ek_ak_activate(ek_key *ak, ek_ek_kind kind, const unsigned char *cred, size_t cred_len,
                     const unsigned char *esec, size_t esec_len, unsigned char **secret,
                     size_t *secret_len)
{
    TPM2B_ID_OBJECT c = {0};
    TPM2B_ENCRYPTED_SECRET s = {0};
    TPM2B_DIGEST *info = NULL;
    if (!ak || !secret || !secret_len)
        return ek_error(EK_ERR_INVALID, "activate credential: no AK or no output");
    ek_rc r = unmarshal_cred(cred, cred_len, esec, esec_len, &c, &s);
    if (r != EK_OK)
        return r;
    if ((r = ek_tpm_lock(NULL)) != EK_OK)
        return r;
    r = activate_locked(ak, kind, &c, &s, &info);
    ek_tpm_unlock();
    if (r == EK_OK && !(*secret = malloc(info->size ? info->size : 1)))
        r = ek_error(EK_ERR_NOMEM, "out of memory for the activation secret");
    if (r == EK_OK) {
        memcpy(*secret, info->buffer, info->size);
        *secret_len = info->size;
    }
    if (info)
        OPENSSL_cleanse(info, sizeof(*info));
    Esys_Free(info);
    return r;
}

static ek_rc certify_locked(ek_key *ak, ek_key *key, const TPM2B_DATA *q, TPM2B_ATTEST **att,
                            TPMT_SIGNATURE **sig)
{
    TPMT_SIG_SCHEME scheme = {0};
    scheme.scheme = TPM2_ALG_NULL; /* the AK's own */
    ESYS_TR ks = ESYS_TR_PASSWORD, aks = ESYS_TR_PASSWORD;
    ek_rc r = ek_key_use(ak);
    if (r == EK_OK)
        r = ek_key_use(key);
    if (r == EK_OK && ak->tr == ESYS_TR_NONE) /* the key's load pushed the AK out */
        r = ek_key_use(ak);
    if (r == EK_OK)
        r = ek_tpm_auth_session(&key->auth, &ks);
    if (r == EK_OK)
        r = ek_tpm_auth_session(&ak->auth, &aks);
    if (r == EK_OK)
        r = ek_tpm_rc(Esys_Certify(ek_tpm_ctx(), key->tr, ak->tr, ks, aks, ESYS_TR_NONE, q, &scheme,
                                   att, sig),
                      "certifying the device key with the AK (TPM2_Certify)");
    return r;
}

static ek_rc out_bytes(const void *src, size_t n, unsigned char **out, size_t *len)
{
    *out = malloc(n ? n : 1);
    if (!*out)
        return ek_error(EK_ERR_NOMEM, "out of memory for the certification");
    memcpy(*out, src, n);
    *len = n;
    return EK_OK;
}

static ek_rc marshal_certify(const TPM2B_ATTEST *att, const TPMT_SIGNATURE *sig,
                             unsigned char **attest, size_t *attest_len, unsigned char **sigb,
                             size_t *sig_len)
{
    unsigned char a[sizeof(TPM2B_ATTEST)], s[sizeof(TPMT_SIGNATURE)];
    size_t ao = 0, so = 0;
    if (Tss2_MU_TPM2B_ATTEST_Marshal(att, a, sizeof(a), &ao) ||
        Tss2_MU_TPMT_SIGNATURE_Marshal(sig, s, sizeof(s), &so))
        return ek_error(EK_ERR_INVALID, "certification: cannot marshal the TPM's answer");
    ek_rc r = out_bytes(a, ao, attest, attest_len);
    if (r == EK_OK && (r = out_bytes(s, so, sigb, sig_len)) != EK_OK) {
        free(*attest);
        *attest = NULL;
    }
    return r;
}

ek_rc ek_ak_certify(ek_key *ak, ek_key *key, const unsigned char *nonce, size_t nonce_len,
                    unsigned char **attest, size_t *attest_len, unsigned char **sig,
                    size_t *sig_len)
{
    TPM2B_DATA q = {0};
    TPM2B_ATTEST *att = NULL;
    TPMT_SIGNATURE *ts = NULL;
    if (!ak || !key || !attest || !attest_len || !sig || !sig_len)
        return ek_error(EK_ERR_INVALID, "certify: no AK, no key or no output");
    if (nonce_len > sizeof(q.buffer) || (nonce_len && !nonce))
        return ek_error(EK_ERR_INVALID, "certify: nonce of %zu bytes; at most %zu", nonce_len,
                        sizeof(q.buffer));
    q.size = (UINT16)nonce_len;
    if (nonce_len)
        memcpy(q.buffer, nonce, nonce_len);
    ek_rc r = ek_tpm_lock(NULL);
    if (r != EK_OK)
        return r;
    r = certify_locked(ak, key, &q, &att, &ts);
    ek_tpm_unlock();
    if (r == EK_OK)
        r = marshal_certify(att, ts, attest, attest_len, sig, sig_len);
    Esys_Free(att);
    Esys_Free(ts);
    return r;
}
