/* edgekey hub: the attestation checks (attest.h). Each check stops one
 * attack, named next to it (docs/attestation.md has the table). */
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <tss2/tss2_mu.h>

#include "attest.h"
#include "hub_util.h"

#define EK_EKU_OID "2.23.133.8.1" /* tcg-kp-EKCertificate */

#define AK_MUST                                                                                    \
    (TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_FIXEDTPM |                    \
     TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH)
#define KEY_MUST                                                                                   \
    (TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |                   \
     TPMA_OBJECT_SENSITIVEDATAORIGIN)
#define EK_MUST                                                                                    \
    (TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_FIXEDTPM |                         \
     TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN)

static int has_ek_eku(X509 *cert)
{
    EXTENDED_KEY_USAGE *eku = X509_get_ext_d2i(cert, NID_ext_key_usage, NULL, NULL);
    ASN1_OBJECT *want = OBJ_txt2obj(EK_EKU_OID, 1);
    int found = 0;
    for (int i = 0; eku && want && i < sk_ASN1_OBJECT_num(eku); i++)
        found |= OBJ_cmp(sk_ASN1_OBJECT_value(eku, i), want) == 0;
    ASN1_OBJECT_free(want);
    EXTENDED_KEY_USAGE_free(eku);
    return found;
}

/* Stops: a software "EK" with a self-made certificate, a certificate of
 * another kind (a TLS certificate) from a trusted maker. */
static int check_chain(X509_STORE *roots, X509 *cert)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok = ctx && X509_STORE_CTX_init(ctx, roots, cert, NULL) == 1 && X509_verify_cert(ctx) == 1;
    const char *why = ctx ? X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx)) : "?";
    X509_STORE_CTX_free(ctx);
    ERR_clear_error();
    if (!ok) {
        hub_fail("attestation refused: the EK certificate does not chain to a trusted TPM "
                 "maker (ek_roots): %s; add the maker's root and intermediates to ek_roots "
                 "if this TPM is genuine",
                 why);
        return HUB_ATT_EK_UNTRUSTED;
    }
    if (!has_ek_eku(cert)) {
        hub_fail("attestation refused: the certificate is not an EK certificate (no extended "
                 "key usage " EK_EKU_OID ")");
        return HUB_ATT_EK_UNTRUSTED;
    }
    return HUB_ATT_OK;
}

/* Stops: a genuine EK certificate presented with an EK public area of
 * another (software) key, to which the credential would then be wrapped. */
int hub_att_check_ek(X509_STORE *roots, X509 *cert, const TPMT_PUBLIC *ek)
{
    int rc = check_chain(roots, cert);
    if (rc != HUB_ATT_OK)
        return rc;
    if ((ek->objectAttributes & EK_MUST) != EK_MUST ||
        (ek->objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT)) {
        hub_fail("attestation refused: the EK public area is not an endorsement key "
                 "(restricted decrypt, fixedTPM); send the EK from the TCG template");
        return HUB_ATT_EK_MISMATCH;
    }
    EVP_PKEY *pk = NULL;
    if ((rc = hub_tpm_pkey(ek, &pk)) != HUB_ATT_OK)
        return rc == HUB_ATT_UNSUPPORTED ? HUB_ATT_EK_MISMATCH : rc;
    int same = EVP_PKEY_eq(pk, X509_get0_pubkey(cert)) == 1;
    EVP_PKEY_free(pk);
    ERR_clear_error();
    if (!same) {
        hub_fail("attestation refused: the EK public key is not the EK certificate's key");
        return HUB_ATT_EK_MISMATCH;
    }
    return HUB_ATT_OK;
}

/* Stops: an AK the TPM would let out (not fixedTPM), one that can decrypt
 * (then ActivateCredential is not proof it is an AK), an unrestricted one
 * (it would sign a forged TPMS_ATTEST made outside the TPM). */
int hub_att_check_ak(const TPMT_PUBLIC *ak)
{
    TPMA_OBJECT a = ak->objectAttributes;
    TPM2_ALG_ID scheme = ak->type == TPM2_ALG_ECC   ? ak->parameters.eccDetail.scheme.scheme
                         : ak->type == TPM2_ALG_RSA ? ak->parameters.rsaDetail.scheme.scheme
                                                    : TPM2_ALG_NULL;
    if ((a & AK_MUST) != AK_MUST || (a & TPMA_OBJECT_DECRYPT)) {
        hub_fail("attestation refused: the AK (attributes 0x%08x) must be restricted|sign|"
                 "fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth and not decrypt; "
                 "make it with ek_ak_create",
                 a);
        return HUB_ATT_AK_ATTRS;
    }
    if (scheme != TPM2_ALG_ECDSA && scheme != TPM2_ALG_RSASSA) {
        hub_fail("attestation refused: the AK's scheme 0x%04x; this hub verifies ECDSA or "
                 "RSASSA",
                 scheme);
        return HUB_ATT_AK_ATTRS;
    }
    return HUB_ATT_OK;
}

/* TPMT_SIGNATURE -> what EVP_DigestVerify takes (ECDSA as DER). */
static int sig_der(const TPMT_SIGNATURE *s, unsigned char **der, int *len, const char **md)
{
    TPMI_ALG_HASH h = s->sigAlg == TPM2_ALG_ECDSA    ? s->signature.ecdsa.hash
                      : s->sigAlg == TPM2_ALG_RSASSA ? s->signature.rsassa.hash
                                                     : TPM2_ALG_NULL;
    *md = h == TPM2_ALG_SHA256 ? "SHA256" : h == TPM2_ALG_SHA384 ? "SHA384" : NULL;
    if (!*md)
        return -1;
    if (s->sigAlg == TPM2_ALG_RSASSA) {
        *der = OPENSSL_memdup(s->signature.rsassa.sig.buffer, s->signature.rsassa.sig.size);
        *len = s->signature.rsassa.sig.size;
        return *der ? 0 : -1;
    }
    const TPMS_SIGNATURE_ECDSA *e = &s->signature.ecdsa;
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(e->signatureR.buffer, e->signatureR.size, NULL);
    BIGNUM *sv = BN_bin2bn(e->signatureS.buffer, e->signatureS.size, NULL);
    if (es && r && sv && ECDSA_SIG_set0(es, r, sv) == 1)
        r = sv = NULL;
    *der = NULL;
    *len = es && !r ? i2d_ECDSA_SIG(es, der) : -1;
    BN_free(r);
    BN_free(sv);
    ECDSA_SIG_free(es);
    return *len > 0 ? 0 : -1;
}

/* Stops: a TPMS_ATTEST not made by this AK (forged in software). */
static int check_sig(const TPMT_PUBLIC *ak, const TPM2B_ATTEST *att, const TPMT_SIGNATURE *sig)
{
    EVP_PKEY *pk = NULL;
    unsigned char *der = NULL;
    int len = 0;
    const char *md = NULL;
    int rc = hub_tpm_pkey(ak, &pk);
    if (rc != HUB_ATT_OK)
        return rc;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = sig_der(sig, &der, &len, &md) == 0 && c &&
             EVP_DigestVerifyInit_ex(c, NULL, md, NULL, NULL, pk, NULL) == 1 &&
             EVP_DigestVerify(c, der, (size_t)len, att->attestationData, att->size) == 1;
    EVP_MD_CTX_free(c);
    OPENSSL_free(der);
    EVP_PKEY_free(pk);
    ERR_clear_error();
    if (!ok) {
        hub_fail("attestation refused: the certification is not signed by the AK");
        return HUB_ATT_SIGNATURE;
    }
    return HUB_ATT_OK;
}

/* Stops: a replayed certification (old nonce), a certification of some
 * other structure, and the key swap (Certify over a TPM key, CSR of a
 * software key): the attested name must be the presented key's and the
 * CSR's key that key. */
static int check_body(const TPMS_ATTEST *t, const unsigned char *nonce, size_t nl,
                      const TPMT_PUBLIC *key, EVP_PKEY *csr_key)
{
    TPM2B_NAME name = {0};
    EVP_PKEY *kp = NULL;
    int rc;
    if (t->magic != TPM2_GENERATED_VALUE || t->type != TPM2_ST_ATTEST_CERTIFY) {
        hub_fail("attestation refused: the certification is not a TPM-made TPM2_Certify "
                 "(magic 0x%08x, type 0x%04x)",
                 t->magic, t->type);
        return HUB_ATT_QUOTE;
    }
    if (t->extraData.size != nl || CRYPTO_memcmp(t->extraData.buffer, nonce, nl) != 0) {
        hub_fail("attestation refused: the certification is not over this enrollment's "
                 "nonce (replayed or stale); start the enrollment again");
        return HUB_ATT_QUOTE;
    }
    if ((rc = hub_tpm_name(key, &name)) != HUB_ATT_OK)
        return rc;
    if (t->attested.certify.name.size != name.size ||
        memcmp(t->attested.certify.name.name, name.name, name.size) != 0) {
        hub_fail("attestation refused: the certification is over another key than the device "
                 "key presented (key swap)");
        return HUB_ATT_KEY_SWAP;
    }
    if ((key->objectAttributes & KEY_MUST) != KEY_MUST ||
        (key->objectAttributes & (TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT))) {
        hub_fail("attestation refused: the device key (attributes 0x%08x) must be fixedTPM|"
                 "fixedParent|sensitiveDataOrigin|sign, not restricted, not decrypt; make it "
                 "with edgekey keygen",
                 key->objectAttributes);
        return HUB_ATT_KEY_ATTRS;
    }
    if ((rc = hub_tpm_pkey(key, &kp)) != HUB_ATT_OK)
        return rc;
    int same = EVP_PKEY_eq(kp, csr_key) == 1;
    EVP_PKEY_free(kp);
    ERR_clear_error();
    if (!same) {
        hub_fail("attestation refused: the CSR's key is not the attested device key (key "
                 "swap); sign the CSR with the TPM key");
        return HUB_ATT_KEY_SWAP;
    }
    return HUB_ATT_OK;
}

int hub_att_check_certify(const TPMT_PUBLIC *ak, const TPM2B_ATTEST *att, const TPMT_SIGNATURE *sig,
                          const unsigned char *nonce, size_t nonce_len, const TPMT_PUBLIC *key,
                          EVP_PKEY *csr_key)
{
    TPMS_ATTEST t;
    size_t off = 0;
    int rc = check_sig(ak, att, sig);
    if (rc != HUB_ATT_OK)
        return rc;
    memset(&t, 0, sizeof(t));
    if (Tss2_MU_TPMS_ATTEST_Unmarshal(att->attestationData, att->size, &off, &t) ||
        off != att->size) {
        hub_fail("attestation refused: the signed certification is not a TPMS_ATTEST");
        return HUB_ATT_MALFORMED;
    }
    return check_body(&t, nonce, nonce_len, key, csr_key);
}
