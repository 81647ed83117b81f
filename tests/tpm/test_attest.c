/* Key attestation, device side (core/tpm/ek.c, attest.c) on a swtpm with EK
 * certificates (tpm-env.sh with EDGEKEY_TEST_EKCERT=1):
 *  - the EK certificate is read from NV 0x01c00002; P-256's index is absent;
 *  - the P-384 EK (H-3) is its certificate's key and activates a credential;
 *  - the EK made from the template is the certificate's key;
 *  - the AK is restricted|sign, not decrypt;
 *  - a credential the TPM itself made (LoadExternal + MakeCredential) for
 *    this EK and this AK's name activates and gives back the secret; one
 *    made for another AK's name, or tampered with, is refused;
 *  - Certify(device key, AK, nonce) is signed by the AK over a TPMS_ATTEST
 *    carrying the nonce and the device key's name. */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include "ek_attest.h"
#include "ek_tpm_int.h"
#include "tpm_test.h"

static TPM2B_PUBLIC unmarshal_pub(const unsigned char *b, size_t n)
{
    TPM2B_PUBLIC p = {0};
    size_t off = 0;
    if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(b, n, &off, &p) || off != n) {
        fprintf(stderr, "FATAL: public area does not unmarshal\n");
        exit(1);
    }
    return p;
}

/* The TPM's own MakeCredential over the EK public: the reference. */
static void tpm_make_credential(const TPM2B_PUBLIC *ekpub, const TPM2B_NAME *name,
                                const TPM2B_DIGEST *secret, unsigned char *cred, size_t *cl,
                                unsigned char *esec, size_t *el)
{
    ESYS_TR h = ESYS_TR_NONE;
    TPM2B_ID_OBJECT *c = NULL;
    TPM2B_ENCRYPTED_SECRET *s = NULL;
    REQUIRE_OK(ek_tpm_lock(NULL));
    ek_tpm_reserve_slot();
    TSS2_RC rc = Esys_LoadExternal(ek_tpm_ctx(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, NULL,
                                   ekpub, ESYS_TR_RH_NULL, &h);
    if (!rc)
        rc = Esys_MakeCredential(ek_tpm_ctx(), h, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, secret,
                                 name, &c, &s);
    ek_tpm_flush(&h);
    ek_tpm_unlock();
    CHECK(rc == 0, "TPM MakeCredential: 0x%x", rc);
    *cl = *el = 0;
    if (!rc) {
        Tss2_MU_TPM2B_ID_OBJECT_Marshal(c, cred, sizeof(TPM2B_ID_OBJECT), cl);
        Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(s, esec, sizeof(TPM2B_ENCRYPTED_SECRET), el);
    }
    Esys_Free(c);
    Esys_Free(s);
}

static void check_ek(ek_ek_kind *kind, TPM2B_PUBLIC *ekpub)
{
    unsigned char *der = NULL, *pub = NULL;
    size_t len = 0, plen = 0;
    REQUIRE_OK(ek_ek_find(kind, &der, &len));
    CHECK(*kind == EK_EK_RSA2048, "swtpm writes the RSA EK certificate first");
    const unsigned char *p = der;
    X509 *cert = d2i_X509(NULL, &p, (long)len);
    CHECK(cert && p == der + len, "EK certificate is DER, %zu bytes", len);
    unsigned char *d2 = NULL;
    CHECK(ek_ek_cert(EK_EK_P256, &d2, &len) == EK_ERR_NOT_FOUND, "no P-256 EK certificate");
    REQUIRE_OK(ek_ek_public(*kind, &pub, &plen));
    ek_pubkey pk;
    CHECK_OK(ek_public_parse(pub, plen, &pk));
    /* the certificate's modulus is the template EK's */
    const BIGNUM *n = NULL;
    EVP_PKEY_get_bn_param(X509_get0_pubkey(cert), "n", (BIGNUM **)&n);
    unsigned char mod[256];
    CHECK(n && BN_bn2binpad(n, mod, 256) == 256 && pk.n_len == 256 && memcmp(mod, pk.n, 256) == 0,
          "EK public key equals the certificate's");
    BN_free((BIGNUM *)n);
    *ekpub = unmarshal_pub(pub, plen);
    X509_free(cert);
    free(der);
    free(pub);
}

static ek_key *check_ak(void)
{
    ek_key *ak = NULL;
    unsigned char *pub = NULL;
    size_t plen = 0;
    REQUIRE_OK(ek_ak_create(&ak));
    REQUIRE_OK(ek_key_tpm_public(ak, &pub, &plen));
    TPMA_OBJECT a = unmarshal_pub(pub, plen).publicArea.objectAttributes;
    CHECK((a & TPMA_OBJECT_RESTRICTED) && (a & TPMA_OBJECT_SIGN_ENCRYPT) &&
              !(a & TPMA_OBJECT_DECRYPT) && (a & TPMA_OBJECT_FIXEDTPM),
          "AK attributes 0x%x", a);
    free(pub);
    return ak;
}

static void check_activate(ek_ek_kind kind, const TPM2B_PUBLIC *ekpub, ek_key *ak, ek_key *other)
{
    TPM2B_DIGEST secret = {.size = 32};
    unsigned char cred[sizeof(TPM2B_ID_OBJECT)], esec[sizeof(TPM2B_ENCRYPTED_SECRET)];
    unsigned char *got = NULL;
    size_t cl, el, gl = 0;
    REQUIRE_OK(ek_tpm_random(secret.buffer, 32));
    tpm_make_credential(ekpub, &ak->name, &secret, cred, &cl, esec, &el);
    CHECK_OK(ek_ak_activate(ak, kind, cred, cl, esec, el, &got, &gl));
    CHECK(got && gl == 32 && memcmp(got, secret.buffer, 32) == 0, "secret recovered");
    free(got);
    got = NULL;
    /* made for another AK: the TPM refuses (the name is bound in the HMAC) */
    ek_rc r = ek_ak_activate(other, kind, cred, cl, esec, el, &got, &gl);
    CHECK(r != EK_OK && strstr(ek_last_error(), "ActivateCredential"),
          "credential for another AK refused: %s: %s", ek_rc_name(r), ek_last_error());
    free(got);
    got = NULL;
    cred[cl - 1] ^= 1;
    CHECK(ek_ak_activate(ak, kind, cred, cl, esec, el, &got, &gl) != EK_OK,
          "tampered credential refused");
    free(got);
    got = NULL;
    CHECK(ek_ak_activate(ak, kind, cred, cl - 1, esec, el, &got, &gl) == EK_ERR_INVALID,
          "truncated credential refused as malformed");
}

static void check_certify(ek_key *ak)
{
    ek_keygen_spec spec = {.alg = EK_ALG_EC, .curve = EK_CURVE_P256};
    ek_key *dev = NULL;
    unsigned char nonce[32], *att = NULL, *sig = NULL;
    size_t al = 0, sl = 0, off = 0;
    REQUIRE_OK(ek_key_generate(&spec, &dev));
    REQUIRE_OK(ek_tpm_random(nonce, sizeof(nonce)));
    REQUIRE_OK(ek_ak_certify(ak, dev, nonce, sizeof(nonce), &att, &al, &sig, &sl));
    TPM2B_ATTEST a = {0};
    TPMS_ATTEST t = {0};
    TPMT_SIGNATURE s = {0};
    CHECK(!Tss2_MU_TPM2B_ATTEST_Unmarshal(att, al, &off, &a) && off == al, "TPM2B_ATTEST");
    off = 0;
    CHECK(!Tss2_MU_TPMS_ATTEST_Unmarshal(a.attestationData, a.size, &off, &t), "TPMS_ATTEST");
    CHECK(t.magic == TPM2_GENERATED_VALUE && t.type == TPM2_ST_ATTEST_CERTIFY, "magic/type");
    CHECK(t.extraData.size == 32 && !memcmp(t.extraData.buffer, nonce, 32), "nonce");
    CHECK(t.attested.certify.name.size == dev->name.size &&
              !memcmp(t.attested.certify.name.name, dev->name.name, dev->name.size),
          "attested name is the device key's");
    off = 0;
    CHECK(!Tss2_MU_TPMT_SIGNATURE_Unmarshal(sig, sl, &off, &s) && s.sigAlg == TPM2_ALG_ECDSA,
          "ECDSA signature");
    unsigned char rs[64] = {0};
    const TPMS_SIGNATURE_ECDSA *e = &s.signature.ecdsa;
    CHECK(e->signatureR.size <= 32 && e->signatureS.size <= 32, "r, s sizes");
    memcpy(rs + 32 - e->signatureR.size, e->signatureR.buffer, e->signatureR.size);
    memcpy(rs + 64 - e->signatureS.size, e->signatureS.buffer, e->signatureS.size);
    CHECK(tt_verify(ek_key_public(ak), EK_SIG_ECDSA, EK_MD_SHA256, a.attestationData, a.size,
                    EK_ECDSA_RAW, rs, 64),
          "AK signature over TPMS_ATTEST verifies");
    CHECK(!tt_verify(ek_key_public(dev), EK_SIG_ECDSA, EK_MD_SHA256, a.attestationData, a.size,
                     EK_ECDSA_RAW, rs, 64),
          "and not under the device key (the check can fail)");
    free(att);
    free(sig);
    ek_key_free(dev);
}

/* The P-384 EK (template H-3, SHA-384 PolicyB): swtpm_setup writes its
 * certificate; the template EK is its key, and a credential the TPM made
 * for it activates through the SHA-384 PolicySecret + PolicyOR session. */
static void check_p384(ek_key *ak)
{
    unsigned char *der = NULL, *pub = NULL, *got = NULL;
    size_t len = 0, plen = 0, gl = 0;
    REQUIRE_OK(ek_ek_cert(EK_EK_P384, &der, &len));
    const unsigned char *p = der;
    X509 *cert = d2i_X509(NULL, &p, (long)len);
    REQUIRE_OK(ek_ek_public(EK_EK_P384, &pub, &plen));
    ek_pubkey pk;
    CHECK_OK(ek_public_parse(pub, plen, &pk));
    unsigned char oct[97];
    size_t ol = 0;
    CHECK(cert &&
              EVP_PKEY_get_octet_string_param(X509_get0_pubkey(cert), "encoded-pub-key", oct,
                                              sizeof(oct), &ol) == 1 &&
              ol == pk.point_len && memcmp(oct, pk.point, ol) == 0,
          "P-384 EK public key equals the certificate's");
    TPM2B_PUBLIC ekpub = unmarshal_pub(pub, plen);
    TPM2B_DIGEST secret = {.size = 32};
    unsigned char cred[sizeof(TPM2B_ID_OBJECT)], esec[sizeof(TPM2B_ENCRYPTED_SECRET)];
    size_t cl, el;
    REQUIRE_OK(ek_tpm_random(secret.buffer, 32));
    tpm_make_credential(&ekpub, &ak->name, &secret, cred, &cl, esec, &el);
    CHECK_OK(ek_ak_activate(ak, EK_EK_P384, cred, cl, esec, el, &got, &gl));
    CHECK(got && gl == 32 && memcmp(got, secret.buffer, 32) == 0, "P-384: secret recovered");
    free(got);
    X509_free(cert);
    free(der);
    free(pub);
}

int main(void)
{
    ek_ek_kind kind = 0;
    TPM2B_PUBLIC ekpub;
    check_ek(&kind, &ekpub);
    ek_key *ak = check_ak();
    ek_key *other = check_ak();
    check_activate(kind, &ekpub, ak, other);
    check_certify(ak);
    check_p384(ak);
    ek_key_free(other);
    ek_key_free(ak);
    return tt_finish("attest");
}
