/* edgekey hub: TPM structures for attestation (attest.h): tss2-mu to
 * decode, EVP to turn a TPMT_PUBLIC into a key and to hash names. */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/param_build.h>
#include <tss2/tss2_mu.h>

#include "attest.h"
#include "hub_util.h"

const char *hub_att_rc_name(int rc)
{
    static const char *const names[] = {
        [HUB_ATT_OK] = "ok",
        [HUB_ATT_MALFORMED] = "attest_malformed",
        [HUB_ATT_EK_UNTRUSTED] = "attest_ek_untrusted",
        [HUB_ATT_EK_MISMATCH] = "attest_ek_mismatch",
        [HUB_ATT_AK_ATTRS] = "attest_ak_attributes",
        [HUB_ATT_SECRET] = "attest_secret",
        [HUB_ATT_SIGNATURE] = "attest_signature",
        [HUB_ATT_QUOTE] = "attest_nonce",
        [HUB_ATT_KEY_SWAP] = "attest_key_swap",
        [HUB_ATT_KEY_ATTRS] = "attest_key_attributes",
        [HUB_ATT_UNSUPPORTED] = "attest_unsupported",
        [HUB_ATT_INTERNAL] = "attest_internal",
    };
    if (rc < 0 || (size_t)rc >= sizeof(names) / sizeof(names[0]) || !names[rc])
        return "attest_error";
    return names[rc];
}

static int malformed(const char *what)
{
    hub_fail("attestation refused: %s is not a marshalled TPM structure of its type; send "
             "what the TPM returned, unchanged",
             what);
    return HUB_ATT_MALFORMED;
}

int hub_att_public(const unsigned char *b, size_t len, const char *what, TPM2B_PUBLIC *out)
{
    size_t off = 0;
    memset(out, 0, sizeof(*out));
    if (!b || Tss2_MU_TPM2B_PUBLIC_Unmarshal(b, len, &off, out) || off != len)
        return malformed(what);
    return HUB_ATT_OK;
}

int hub_att_attest(const unsigned char *b, size_t len, TPM2B_ATTEST *out)
{
    size_t off = 0;
    memset(out, 0, sizeof(*out));
    if (!b || Tss2_MU_TPM2B_ATTEST_Unmarshal(b, len, &off, out) || off != len)
        return malformed("the certification (TPM2B_ATTEST)");
    return HUB_ATT_OK;
}

int hub_att_signature(const unsigned char *b, size_t len, TPMT_SIGNATURE *out)
{
    size_t off = 0;
    memset(out, 0, sizeof(*out));
    if (!b || Tss2_MU_TPMT_SIGNATURE_Unmarshal(b, len, &off, out) || off != len)
        return malformed("the certification's signature (TPMT_SIGNATURE)");
    return HUB_ATT_OK;
}

static const char *md_name(TPM2_ALG_ID alg)
{
    return alg == TPM2_ALG_SHA256 ? "SHA256" : alg == TPM2_ALG_SHA384 ? "SHA384" : NULL;
}

int hub_tpm_name(const TPMT_PUBLIC *p, TPM2B_NAME *name)
{
    unsigned char buf[sizeof(TPMT_PUBLIC)];
    size_t off = 0;
    unsigned int n = 0;
    const char *md = md_name(p->nameAlg);
    if (!md) {
        hub_fail("attestation refused: name algorithm 0x%04x; this hub takes SHA-256 or SHA-384",
                 p->nameAlg);
        return HUB_ATT_UNSUPPORTED;
    }
    if (Tss2_MU_TPMT_PUBLIC_Marshal(p, buf, sizeof(buf), &off))
        return malformed("a public area");
    name->name[0] = (BYTE)(p->nameAlg >> 8);
    name->name[1] = (BYTE)p->nameAlg;
    if (!EVP_Digest(buf, off, name->name + 2, &n, EVP_get_digestbyname(md), NULL)) {
        hub_fail("attestation: hashing a TPM name failed");
        return HUB_ATT_INTERNAL;
    }
    name->size = (UINT16)(2 + n);
    return HUB_ATT_OK;
}

static EVP_PKEY *from_params(const char *type, OSSL_PARAM_BLD *bld)
{
    OSSL_PARAM *params = bld ? OSSL_PARAM_BLD_to_param(bld) : NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL);
    EVP_PKEY *k = NULL;
    if (params && ctx && EVP_PKEY_fromdata_init(ctx) == 1)
        EVP_PKEY_fromdata(ctx, &k, EVP_PKEY_PUBLIC_KEY, params);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    return k;
}

static EVP_PKEY *rsa_pkey(const TPMT_PUBLIC *p)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *n = BN_bin2bn(p->unique.rsa.buffer, p->unique.rsa.size, NULL);
    BIGNUM *e = BN_new();
    UINT32 exp = p->parameters.rsaDetail.exponent ? p->parameters.rsaDetail.exponent : 65537;
    EVP_PKEY *k = NULL;
    if (bld && n && e && BN_set_word(e, exp) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
        k = from_params("RSA", bld);
    BN_free(n);
    BN_free(e);
    OSSL_PARAM_BLD_free(bld);
    return k;
}

static EVP_PKEY *ec_pkey(const TPMT_PUBLIC *p)
{
    TPM2_ECC_CURVE c = p->parameters.eccDetail.curveID;
    const char *group = c == TPM2_ECC_NIST_P256   ? "P-256"
                        : c == TPM2_ECC_NIST_P384 ? "P-384"
                                                  : NULL;
    size_t fs = c == TPM2_ECC_NIST_P256 ? 32 : 48;
    const TPMS_ECC_POINT *pt = &p->unique.ecc;
    unsigned char oct[1 + 2 * 48] = {0x04};
    if (!group || pt->x.size > fs || pt->y.size > fs)
        return NULL;
    /* left-pad each coordinate to the field size */
    memcpy(oct + 1 + fs - pt->x.size, pt->x.buffer, pt->x.size);
    memcpy(oct + 1 + 2 * fs - pt->y.size, pt->y.buffer, pt->y.size);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    EVP_PKEY *k = NULL;
    if (bld && OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, oct, 1 + 2 * fs))
        k = from_params("EC", bld);
    OSSL_PARAM_BLD_free(bld);
    return k;
}

int hub_tpm_pkey(const TPMT_PUBLIC *p, EVP_PKEY **out)
{
    *out = p->type == TPM2_ALG_RSA ? rsa_pkey(p) : p->type == TPM2_ALG_ECC ? ec_pkey(p) : NULL;
    ERR_clear_error();
    if (!*out) {
        hub_fail("attestation refused: a public area of type 0x%04x holds no RSA or EC P-256/"
                 "P-384 key this hub can use",
                 p->type);
        return HUB_ATT_UNSUPPORTED;
    }
    return HUB_ATT_OK;
}

int hub_ek_hash(EVP_PKEY *ek, char out[65])
{
    unsigned char *der = NULL, md[32];
    unsigned int n = 0;
    int len = i2d_PUBKEY(ek, &der);
    int ok = len > 0 && EVP_Digest(der, (size_t)len, md, &n, EVP_sha256(), NULL);
    OPENSSL_free(der);
    if (!ok) {
        hub_fail("attestation: cannot hash the EK public key");
        return HUB_ATT_INTERNAL;
    }
    hub_hex_upper(md, n, out);
    return HUB_ATT_OK;
}
