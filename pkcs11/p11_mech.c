/* edgekey PKCS#11 module: mechanisms - the table, C_GetMechanismList/Info,
 * PSS parameters and DigestInfo parsing.
 *
 * The list reports what works: keys are sign-only, so RSA mechanisms carry
 * CKF_SIGN|CKF_VERIFY and never ENCRYPT/DECRYPT; CKM_RSA_PKCS takes a
 * DigestInfo (parsed here, then TPM2_Sign with that hash - no raw RSA);
 * PSS only with salt length = digest length; EC only when the policy and
 * the TPM allow it. */
#include <string.h>
#include "ek_config.h"
#include "p11_internal.h"

#define SIGN_FLAGS (CKF_HW | CKF_SIGN | CKF_VERIFY)
#define EC_FLAGS (CKF_EC_F_P | CKF_EC_NAMEDCURVE | CKF_EC_UNCOMPRESS)

static const p11_mech mechs[] = {
    {CKM_RSA_PKCS_KEY_PAIR_GEN, EK_ALG_RSA, 0, EK_MD_NONE, CKF_HW | CKF_GENERATE_KEY_PAIR},
    {CKM_RSA_PKCS, EK_ALG_RSA, EK_SIG_RSA_PKCS1, EK_MD_NONE, SIGN_FLAGS},
    {CKM_SHA256_RSA_PKCS, EK_ALG_RSA, EK_SIG_RSA_PKCS1, EK_MD_SHA256, SIGN_FLAGS},
    {CKM_SHA384_RSA_PKCS, EK_ALG_RSA, EK_SIG_RSA_PKCS1, EK_MD_SHA384, SIGN_FLAGS},
    {CKM_SHA512_RSA_PKCS, EK_ALG_RSA, EK_SIG_RSA_PKCS1, EK_MD_SHA512, SIGN_FLAGS},
    {CKM_RSA_PKCS_PSS, EK_ALG_RSA, EK_SIG_RSA_PSS, EK_MD_NONE, SIGN_FLAGS},
    {CKM_SHA256_RSA_PKCS_PSS, EK_ALG_RSA, EK_SIG_RSA_PSS, EK_MD_SHA256, SIGN_FLAGS},
    {CKM_SHA384_RSA_PKCS_PSS, EK_ALG_RSA, EK_SIG_RSA_PSS, EK_MD_SHA384, SIGN_FLAGS},
    {CKM_SHA512_RSA_PKCS_PSS, EK_ALG_RSA, EK_SIG_RSA_PSS, EK_MD_SHA512, SIGN_FLAGS},
    {CKM_EC_KEY_PAIR_GEN, EK_ALG_EC, 0, EK_MD_NONE, CKF_HW | CKF_GENERATE_KEY_PAIR | EC_FLAGS},
    {CKM_ECDSA, EK_ALG_EC, EK_SIG_ECDSA, EK_MD_NONE, SIGN_FLAGS | EC_FLAGS},
    /* SHA-1 only because stock test tools (pkcs11-tool --test-ec) sign with
     * it; the TPM signs the zero-padded hash, which is the same integer. */
    {CKM_ECDSA_SHA1, EK_ALG_EC, EK_SIG_ECDSA, EK_MD_SHA1, SIGN_FLAGS | EC_FLAGS},
    {CKM_ECDSA_SHA256, EK_ALG_EC, EK_SIG_ECDSA, EK_MD_SHA256, SIGN_FLAGS | EC_FLAGS},
    {CKM_ECDSA_SHA384, EK_ALG_EC, EK_SIG_ECDSA, EK_MD_SHA384, SIGN_FLAGS | EC_FLAGS},
    {CKM_SHA_1, EK_ALG_NONE, 0, EK_MD_SHA1, CKF_DIGEST},
    {CKM_SHA256, EK_ALG_NONE, 0, EK_MD_SHA256, CKF_DIGEST},
    {CKM_SHA384, EK_ALG_NONE, 0, EK_MD_SHA384, CKF_DIGEST},
    {CKM_SHA512, EK_ALG_NONE, 0, EK_MD_SHA512, CKF_DIGEST},
};

const p11_mech *p11_mech_find(CK_MECHANISM_TYPE type)
{
    for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++)
        if (mechs[i].type == type)
            return p11_mech_available(&mechs[i]) ? &mechs[i] : NULL;
    return NULL;
}

/* Lock held; may ask the TPM once (cached). */
bool p11_mech_available(const p11_mech *m)
{
    const ek_config *cfg = ek_config_get();
    if (m->alg == EK_ALG_EC) {
        if (cfg && !cfg->allow_ec)
            return false;
        p11_tpm_facts();
        if (p11.alg_known && !p11.alg_p256 && !p11.alg_p384)
            return false;
    }
    if (m->scheme == EK_SIG_RSA_PSS) {
        p11_tpm_facts();
        if ((p11.alg_known && !p11.alg_pss) || ek_tpm_pss_salt() == EK_PSS_SALT_MAX)
            return false;
    }
    return true;
}

size_t p11_mech_list(CK_MECHANISM_TYPE *out, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++) {
        if (!p11_mech_available(&mechs[i]))
            continue;
        if (out && k < max)
            out[k] = mechs[i].type;
        k++;
    }
    return k;
}

P11_EXPORT CK_RV C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pMechanismList,
                                    CK_ULONG_PTR pulCount)
{
    if (!p11.initialized)
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    if (!pulCount)
        return CKR_ARGUMENTS_BAD;
    p11_lock();
    CK_RV rv = CKR_OK;
    if (!p11_slot_get(slotID)) {
        rv = CKR_SLOT_ID_INVALID;
    } else {
        size_t n = p11_mech_list(NULL, 0);
        if (pMechanismList && *pulCount < n)
            rv = CKR_BUFFER_TOO_SMALL;
        else if (pMechanismList)
            p11_mech_list(pMechanismList, n);
        *pulCount = n;
    }
    p11_unlock();
    return rv;
}

P11_EXPORT CK_RV C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type,
                                    CK_MECHANISM_INFO_PTR pInfo)
{
    if (!p11.initialized)
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    if (!pInfo)
        return CKR_ARGUMENTS_BAD;
    p11_lock();
    CK_RV rv = CKR_OK;
    const p11_mech *m = NULL;
    if (!p11_slot_get(slotID))
        rv = CKR_SLOT_ID_INVALID;
    else if (!(m = p11_mech_find(type)))
        rv = CKR_MECHANISM_INVALID;
    if (rv == CKR_OK) {
        const ek_config *cfg = ek_config_get();
        memset(pInfo, 0, sizeof(*pInfo));
        pInfo->flags = m->flags;
        if (m->alg == EK_ALG_RSA) {
            pInfo->ulMinKeySize = cfg && cfg->rsa_min_bits > 2048 ? cfg->rsa_min_bits : 2048;
            pInfo->ulMaxKeySize = !p11.alg_known || p11.alg_rsa4096 ? 4096
                                  : p11.alg_rsa3072                 ? 3072
                                                                    : 2048;
        } else if (m->alg == EK_ALG_EC) {
            pInfo->ulMinKeySize = !p11.alg_known || p11.alg_p256 ? 256 : 384;
            pInfo->ulMaxKeySize = !p11.alg_known || p11.alg_p384 ? 384 : 256;
        }
    }
    p11_unlock();
    return rv;
}

const EVP_MD *p11_evp_md(ek_md md)
{
    switch (md) {
    case EK_MD_SHA1:
        return EVP_sha1();
    case EK_MD_SHA256:
        return EVP_sha256();
    case EK_MD_SHA384:
        return EVP_sha384();
    case EK_MD_SHA512:
        return EVP_sha512();
    default:
        return NULL;
    }
}

static ek_md md_from_ckm(CK_MECHANISM_TYPE t)
{
    switch (t) {
    case CKM_SHA_1:
        return EK_MD_SHA1;
    case CKM_SHA256:
        return EK_MD_SHA256;
    case CKM_SHA384:
        return EK_MD_SHA384;
    case CKM_SHA512:
        return EK_MD_SHA512;
    default:
        return EK_MD_NONE;
    }
}

static CK_RSA_PKCS_MGF_TYPE mgf_of(ek_md md)
{
    switch (md) {
    case EK_MD_SHA1:
        return CKG_MGF1_SHA1;
    case EK_MD_SHA256:
        return CKG_MGF1_SHA256;
    case EK_MD_SHA384:
        return CKG_MGF1_SHA384;
    case EK_MD_SHA512:
        return CKG_MGF1_SHA512;
    default:
        return 0;
    }
}

/* PSS: hash and MGF1 hash agree (with the mechanism's hash, if any) and the
 * salt is the digest length - the only salt a TPM signs with for TLS 1.3. */
CK_RV p11_mech_check_pss(const CK_MECHANISM *mech, ek_md md_of_mech, ek_md *md_out)
{
    if (!mech->pParameter || mech->ulParameterLen != sizeof(CK_RSA_PKCS_PSS_PARAMS))
        return CKR_MECHANISM_PARAM_INVALID;
    const CK_RSA_PKCS_PSS_PARAMS *pp = mech->pParameter;
    ek_md md = md_from_ckm(pp->hashAlg);
    if (md == EK_MD_NONE || (md_of_mech != EK_MD_NONE && md != md_of_mech) ||
        pp->mgf != mgf_of(md) || pp->sLen != ek_md_size(md))
        return CKR_MECHANISM_PARAM_INVALID;
    *md_out = md;
    return CKR_OK;
}

static const struct {
    ek_md md;
    unsigned char prefix[19];
    size_t len;
} digestinfo[] = {
    {EK_MD_SHA1,
     {0x30, 0x21, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00, 0x04, 0x14},
     15},
    {EK_MD_SHA256,
     {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01,
      0x05, 0x00, 0x04, 0x20},
     19},
    {EK_MD_SHA384,
     {0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02,
      0x05, 0x00, 0x04, 0x30},
     19},
    {EK_MD_SHA512,
     {0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03,
      0x05, 0x00, 0x04, 0x40},
     19},
};

CK_RV p11_digestinfo_parse(const unsigned char *info, size_t len, ek_md *md,
                           const unsigned char **dgst, size_t *dlen)
{
    for (size_t i = 0; i < sizeof(digestinfo) / sizeof(digestinfo[0]); i++) {
        size_t pl = digestinfo[i].len, ds = ek_md_size(digestinfo[i].md);
        if (len == pl + ds && memcmp(info, digestinfo[i].prefix, pl) == 0) {
            *md = digestinfo[i].md;
            *dgst = info + pl;
            *dlen = ds;
            return CKR_OK;
        }
    }
    return CKR_DATA_INVALID;
}
