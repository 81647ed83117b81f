/* Key generation, signing and software verification for every algorithm and
 * scheme edgekey offers; policy refusal; TSS2 key file round trip;
 * persistence; TPM info and the PSS salt probe. */
#include <stdlib.h>
#include <string.h>

#include "ek_info.h"
#include "ek_key.h"
#include "ek_tpm.h"
#include "tpm_test.h"

static ek_key *gen(ek_alg alg, unsigned bits, ek_curve curve)
{
    ek_keygen_spec spec = {.alg = alg, .bits = bits, .curve = curve};
    ek_key *k = NULL;
    REQUIRE_OK(ek_key_generate(&spec, &k));
    return k;
}

static void test_algs(void)
{
    ek_key *rsa = gen(EK_ALG_RSA, 2048, EK_CURVE_NONE);
    CHECK(ek_key_public(rsa)->bits == 2048, "bits %u", ek_key_public(rsa)->bits);
    CHECK(tt_sign_verify(rsa, EK_SIG_RSA_PKCS1, EK_MD_SHA256, 0, "rsa pkcs1"), "RSA-2048 PKCS1");
    CHECK(tt_sign_verify(rsa, EK_SIG_RSA_PKCS1, EK_MD_SHA1, 0, "rsa sha1"), "PKCS1 SHA1");
    CHECK(tt_sign_verify(rsa, EK_SIG_RSA_PKCS1, EK_MD_SHA384, 0, "rsa 384"), "PKCS1 SHA384");
    CHECK(tt_sign_verify(rsa, EK_SIG_RSA_PKCS1, EK_MD_SHA512, 0, "rsa 512"), "PKCS1 SHA512");
    bool pss = tt_sign_verify(rsa, EK_SIG_RSA_PSS, EK_MD_SHA256, 0, "rsa pss");
    printf("RSA-PSS on this TPM: salt %s\n",
           ek_tpm_pss_salt() == EK_PSS_SALT_DIGEST ? "= digest length (TLS 1.3 ok)"
           : ek_tpm_pss_salt() == EK_PSS_SALT_MAX  ? "= maximum (refused)"
                                                   : "unknown");
    CHECK(pss || ek_tpm_pss_salt() == EK_PSS_SALT_MAX, "PSS failed: %s", ek_last_error());
    if (pss)
        CHECK(tt_sign_verify(rsa, EK_SIG_RSA_PSS, EK_MD_SHA384, 0, "pss 384"), "PSS SHA384");
    ek_key_free(rsa);

    ek_key *p256 = gen(EK_ALG_EC, 256, EK_CURVE_P256);
    CHECK(tt_sign_verify(p256, EK_SIG_ECDSA, EK_MD_SHA256, EK_ECDSA_DER, "p256 der"), "P-256 DER");
    CHECK(tt_sign_verify(p256, EK_SIG_ECDSA, EK_MD_SHA256, EK_ECDSA_RAW, "p256 raw"), "P-256 raw");
    CHECK(tt_sign_verify(p256, EK_SIG_ECDSA, EK_MD_SHA384, EK_ECDSA_DER, "p256/384"), "P-256/384");
    ek_key_free(p256);

    ek_key *p384 = gen(EK_ALG_EC, 384, EK_CURVE_P384);
    CHECK(tt_sign_verify(p384, EK_SIG_ECDSA, EK_MD_SHA384, EK_ECDSA_DER, "p384 der"), "P-384 DER");
    CHECK(tt_sign_verify(p384, EK_SIG_ECDSA, EK_MD_SHA384, EK_ECDSA_RAW, "p384 raw"), "P-384 raw");
    ek_key_free(p384);

    ek_key *r3 = gen(EK_ALG_RSA, 3072, EK_CURVE_NONE);
    CHECK(tt_sign_verify(r3, EK_SIG_RSA_PKCS1, EK_MD_SHA256, 0, "rsa3072"), "RSA-3072 PKCS1");
    ek_key_free(r3);
}

static void test_policy(void)
{
    ek_keygen_spec spec = {.alg = EK_ALG_RSA, .bits = 1024};
    ek_key *k = NULL;
    ek_rc rc = ek_key_generate(&spec, &k);
    CHECK(rc == EK_ERR_POLICY, "RSA-1024 gave %s", ek_rc_name(rc));
    CHECK(strstr(ek_last_error(), "2048") != NULL, "message: %s", ek_last_error());
    CHECK(k == NULL, "no key for a refusal");
    printf("RSA-1024: %s\n", ek_last_error());
}

static void test_buffers(void)
{
    ek_key *k = gen(EK_ALG_EC, 256, EK_CURVE_P256);
    unsigned char dg[32] = {1}, sig[200];
    size_t len = 0;
    CHECK_OK(ek_key_sign(k, EK_SIG_ECDSA, EK_MD_SHA256, dg, 32, EK_ECDSA_DER, NULL, &len));
    CHECK(len == 72, "DER max %zu", len);
    len = 10;
    CHECK(ek_key_sign(k, EK_SIG_ECDSA, EK_MD_SHA256, dg, 32, EK_ECDSA_RAW, sig, &len) ==
                  EK_ERR_BUFFER_TOO_SMALL &&
              len == 64,
          "small buffer: len %zu", len);
    len = sizeof(sig);
    CHECK(ek_key_sign(k, EK_SIG_ECDSA, EK_MD_SHA256, dg, 20, EK_ECDSA_RAW, sig, &len) ==
              EK_ERR_INVALID,
          "wrong digest length accepted");
    CHECK(ek_key_sign(k, EK_SIG_RSA_PKCS1, EK_MD_SHA256, dg, 32, EK_ECDSA_RAW, sig, &len) ==
              EK_ERR_INVALID,
          "RSA scheme on EC key accepted");
    ek_key_free(k);
}

static void test_roundtrip(void)
{
    ek_key *k = gen(EK_ALG_RSA, 2048, EK_CURVE_NONE);
    char *pem = NULL;
    unsigned char *der = NULL;
    size_t pemlen = 0, derlen = 0;
    REQUIRE_OK(ek_key_to_tss2_pem(k, &pem, &pemlen));
    REQUIRE_OK(ek_key_to_tss2_der(k, &der, &derlen));
    CHECK(strstr(pem, "BEGIN TSS2 PRIVATE KEY") != NULL, "PEM label");
    ek_pubkey pub = *ek_key_public(k);
    ek_key_free(k);
    ek_tpm_disconnect(); /* as if a new process loaded the file */

    ek_key *k2 = NULL, *k3 = NULL;
    REQUIRE_OK(ek_key_from_tss2_pem(pem, pemlen, &k2));
    REQUIRE_OK(ek_key_from_tss2_der(der, derlen, &k3));
    CHECK(memcmp(ek_key_public(k2)->n, pub.n, pub.n_len) == 0, "public changed");
    CHECK(!ek_key_needs_auth(k2), "empty-auth key needs auth");
    CHECK(tt_sign_verify(k2, EK_SIG_RSA_PKCS1, EK_MD_SHA256, 0, "reloaded"), "reloaded PEM");
    CHECK(tt_sign_verify(k3, EK_SIG_RSA_PKCS1, EK_MD_SHA256, 0, "reloaded"), "reloaded DER");
    unsigned char n2[80], n3[80];
    size_t l2 = sizeof(n2), l3 = sizeof(n3);
    CHECK_OK(ek_key_name(k2, n2, &l2));
    CHECK_OK(ek_key_name(k3, n3, &l3));
    CHECK(l2 == 34 && l2 == l3 && memcmp(n2, n3, l2) == 0, "names differ");
    ek_key_free(k2);
    ek_key_free(k3);
    free(pem);
    free(der);
}

static void test_persist(void)
{
    const uint32_t h = 0x81010077;
    ek_key *k = gen(EK_ALG_EC, 256, EK_CURVE_P256), *k2 = gen(EK_ALG_EC, 256, EK_CURVE_P256);
    ek_key_evict_handle(h); /* leftovers from an aborted run, if any */
    REQUIRE_OK(ek_key_persist(k, h));
    CHECK(ek_key_handle(k) == h, "handle %x", ek_key_handle(k));
    CHECK(tt_sign_verify(k, EK_SIG_ECDSA, EK_MD_SHA256, EK_ECDSA_DER, "persisted"), "persisted");
    ek_rc rc = ek_key_persist(k2, h);
    CHECK(rc == EK_ERR_EXISTS, "taken handle gave %s: %s", ek_rc_name(rc), ek_last_error());
    ek_key *byh = NULL;
    REQUIRE_OK(ek_key_from_handle(h, &byh));
    CHECK(memcmp(ek_key_public(byh)->point, ek_key_public(k)->point, 65) == 0, "handle public");
    CHECK(tt_sign_verify(byh, EK_SIG_ECDSA, EK_MD_SHA256, EK_ECDSA_RAW, "by handle"), "handle");
    unsigned char *der = NULL;
    size_t dl = 0;
    CHECK(ek_key_to_tss2_der(byh, &der, &dl) == EK_ERR_UNSUPPORTED, "handle key has no file");
    CHECK_OK(ek_key_evict_handle(h));
    ek_key_free(byh);
    byh = NULL;
    rc = ek_key_from_handle(h, &byh);
    CHECK(rc == EK_ERR_NOT_FOUND, "evicted handle gave %s: %s", ek_rc_name(rc), ek_last_error());
    CHECK(ek_key_evict_handle(h) == EK_ERR_NOT_FOUND, "evicting nothing");
    ek_key_free(k);
    ek_key_free(k2);
}

static void test_info(void)
{
    ek_tpm_info in;
    REQUIRE_OK(ek_tpm_get_info(&in));
    printf("TPM: %s \"%s\" fw %u.%u, spec %u.%02u (%u), slots %u, RSA 2048/3072/4096 %d/%d/%d, "
           "P-256 %d, P-384 %d, PSS %d, DA %s %u/%u (interval %u s, recovery %u s), "
           "SRK persistent %d\n",
           in.manufacturer, in.vendor, in.fw_major, in.fw_minor, in.spec_revision / 100,
           in.spec_revision % 100, in.spec_year, in.transient_slots, in.alg_rsa2048, in.alg_rsa3072,
           in.alg_rsa4096, in.alg_p256, in.alg_p384, in.alg_pss, in.da_locked ? "LOCKED" : "ok",
           in.da_failed, in.da_max, in.da_recovery_s, in.da_lockout_recovery_s, in.srk_persistent);
    CHECK(in.manufacturer[0] != '\0', "manufacturer");
    CHECK(in.transient_slots >= 3, "slots %u", in.transient_slots);
    CHECK(in.alg_rsa2048 && in.alg_p256, "basic algorithms");
    ek_pss_salt s = EK_PSS_SALT_UNKNOWN;
    CHECK_OK(ek_tpm_probe_pss(&s));
    CHECK(s != EK_PSS_SALT_UNKNOWN, "probe left it unknown");
    unsigned char r1[100] = {0}, r2[100] = {0};
    CHECK_OK(ek_tpm_random(r1, sizeof(r1)));
    CHECK_OK(ek_tpm_random(r2, sizeof(r2)));
    CHECK(memcmp(r1, r2, sizeof(r1)) != 0, "random repeats");
}

int main(void)
{
    test_policy();
    test_algs();
    test_buffers();
    test_roundtrip();
    test_persist();
    test_info();
    ek_tpm_disconnect();
    return tt_finish("sign");
}
