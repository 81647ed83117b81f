/* Keys with an auth value: signing through the salted HMAC session (many
 * signatures, so the nonces roll), a key file that needs its auth value
 * (a missing value is refused before the TPM, a wrong one by the TPM: one
 * dictionary-attack try; swtpm locks out after 3), and a persistent key
 * with an auth value. */
#include <stdlib.h>
#include <string.h>

#include "ek_info.h"
#include "ek_key.h"
#include "ek_tpm.h"
#include "tpm_test.h"

static const unsigned char PIN[] = "edge-pin-4711";

static ek_key *gen_auth(ek_alg alg, unsigned bits, ek_curve curve)
{
    ek_keygen_spec spec = {
        .alg = alg, .bits = bits, .curve = curve, .auth = PIN, .auth_len = sizeof(PIN) - 1};
    ek_key *k = NULL;
    REQUIRE_OK(ek_key_generate(&spec, &k));
    return k;
}

static void test_session_signing(void)
{
    ek_key *ec = gen_auth(EK_ALG_EC, 256, EK_CURVE_P256);
    ek_keygen_spec plain = {.alg = EK_ALG_EC, .bits = 256, .curve = EK_CURVE_P256};
    ek_key *open = NULL;
    REQUIRE_OK(ek_key_generate(&plain, &open));
    for (int i = 0; i < 25; i++) { /* auth and empty-auth keys interleaved */
        CHECK(tt_sign_verify(ec, EK_SIG_ECDSA, EK_MD_SHA256, EK_ECDSA_DER, "with pin"),
              "auth key, signature %d", i);
        CHECK(tt_sign_verify(open, EK_SIG_ECDSA, EK_MD_SHA256, EK_ECDSA_RAW, "no pin"),
              "open key, signature %d", i);
    }
    ek_tpm_disconnect(); /* new connection, new session */
    CHECK(tt_sign_verify(ec, EK_SIG_ECDSA, EK_MD_SHA384, EK_ECDSA_DER, "after reconnect"),
          "auth key after reconnect");
    ek_key_free(open);
    ek_key_free(ec);

    ek_key *rsa = gen_auth(EK_ALG_RSA, 2048, EK_CURVE_NONE);
    CHECK(tt_sign_verify(rsa, EK_SIG_RSA_PKCS1, EK_MD_SHA256, 0, "rsa pin"), "RSA auth PKCS1");
    CHECK(tt_sign_verify(rsa, EK_SIG_RSA_PSS, EK_MD_SHA256, 0, "rsa pin pss"), "RSA auth PSS");
    ek_key_free(rsa);
}

static void test_keyfile_auth(void)
{
    ek_key *k = gen_auth(EK_ALG_EC, 256, EK_CURVE_P256);
    char *pem = NULL;
    size_t len = 0;
    REQUIRE_OK(ek_key_to_tss2_pem(k, &pem, &len));
    ek_key_free(k);

    ek_key *k2 = NULL;
    REQUIRE_OK(ek_key_from_tss2_pem(pem, len, &k2));
    CHECK(ek_key_needs_auth(k2), "key file should say an auth value is needed");
    unsigned char dg[32] = {7}, sig[80];
    size_t sl = sizeof(sig);
    ek_rc rc = ek_key_sign(k2, EK_SIG_ECDSA, EK_MD_SHA256, dg, 32, EK_ECDSA_RAW, sig, &sl);
    CHECK(rc == EK_ERR_AUTH, "no auth value gave %s: %s", ek_rc_name(rc), ek_last_error());
    printf("missing auth: %s\n", ek_last_error());
    CHECK_OK(ek_key_set_auth(k2, (const unsigned char *)"wrong", 5));
    sl = sizeof(sig);
    rc = ek_key_sign(k2, EK_SIG_ECDSA, EK_MD_SHA256, dg, 32, EK_ECDSA_RAW, sig, &sl);
    CHECK(rc == EK_ERR_AUTH, "wrong auth value gave %s: %s", ek_rc_name(rc), ek_last_error());
    CHECK_OK(ek_key_set_auth(k2, PIN, sizeof(PIN) - 1));
    CHECK(tt_sign_verify(k2, EK_SIG_ECDSA, EK_MD_SHA256, EK_ECDSA_DER, "right pin"), "right pin");
    ek_tpm_info in;
    CHECK_OK(ek_tpm_get_info(&in));
    CHECK(in.da_failed == 1 && !in.da_locked, "DA counter %u, locked %d", in.da_failed,
          in.da_locked);
    ek_key_free(k2);
    free(pem);
}

static void test_persistent_auth(void)
{
    const uint32_t h = 0x81010042;
    ek_key *k = gen_auth(EK_ALG_EC, 256, EK_CURVE_P256);
    ek_key_evict_handle(h);
    REQUIRE_OK(ek_key_persist(k, h));
    CHECK(tt_sign_verify(k, EK_SIG_ECDSA, EK_MD_SHA256, EK_ECDSA_DER, "persist"), "persisted");
    ek_key *byh = NULL;
    REQUIRE_OK(ek_key_from_handle(h, &byh));
    CHECK_OK(ek_key_set_auth(byh, PIN, sizeof(PIN) - 1));
    CHECK(tt_sign_verify(byh, EK_SIG_ECDSA, EK_MD_SHA256, EK_ECDSA_DER, "handle"), "by handle");
    CHECK_OK(ek_key_evict_handle(h));
    ek_key_free(byh);
    ek_key_free(k);
}

int main(void)
{
    test_session_signing();
    test_keyfile_auth();
    test_persistent_auth();
    ek_tpm_disconnect();
    return tt_finish("auth");
}
