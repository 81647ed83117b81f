/* Unit tests: core/base/crypto_tss.c, the crypto ESYS's sessions get from
 * core on tpm2-tss >= 4.0, checked against OpenSSL's own answers: a wrong
 * salt or HMAC byte would only show as a TPM authorisation failure. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/obj_mac.h>
#include <openssl/rsa.h>

#include "ek_crypto.h"

static void fill(uint8_t *b, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(seed + i * 13);
}

/* Streamed in pieces, for each digest and a long key. */
static void test_hmac_stream(void **state)
{
    (void)state;
    static const ek_md mds[] = {EK_MD_SHA1, EK_MD_SHA256, EK_MD_SHA384, EK_MD_SHA512};
    uint8_t key[150], msg[500], want[64], got[64];
    fill(key, sizeof(key), 5);
    fill(msg, sizeof(msg), 2);
    for (size_t i = 0; i < 4; i++) {
        unsigned wl = 0;
        assert_non_null(HMAC(EVP_get_digestbyname(ek_md_name(mds[i])), key, sizeof(key), msg,
                             sizeof(msg), want, &wl));
        ek_sw_hmac *h = ek_sw_hmac_new(mds[i], key, sizeof(key));
        assert_non_null(h);
        assert_true(ek_sw_hmac_update(h, msg, 7) && ek_sw_hmac_update(h, msg + 7, 493));
        size_t gl = 8;
        assert_false(ek_sw_hmac_final(h, got, &gl)); /* too small a buffer */
        gl = sizeof(got);
        assert_true(ek_sw_hmac_final(h, got, &gl));
        assert_int_equal(gl, wl);
        assert_memory_equal(got, want, wl);
        ek_sw_hmac_free(h);
    }
    assert_null(ek_sw_hmac_new(EK_MD_NONE, key, 16));
}

/* What we encrypt, the private key decrypts with the TPM's label "SECRET\0". */
static void test_rsa_oaep(void **state)
{
    (void)state;
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    assert_non_null(pk);
    BIGNUM *n = NULL;
    assert_true(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n));
    uint8_t nb[256], seed[32], ct[256], pt[256];
    assert_int_equal(BN_bn2binpad(n, nb, sizeof(nb)), 256);
    fill(seed, sizeof(seed), 77);
    size_t cl = sizeof(ct);
    assert_true(
        ek_sw_rsa_oaep(nb, sizeof(nb), 0, EK_MD_SHA256, "SECRET", seed, sizeof(seed), ct, &cl));
    assert_int_equal(cl, 256);

    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pk, NULL);
    size_t pl = sizeof(pt);
    char *label = OPENSSL_strdup("SECRET");
    assert_true(c && EVP_PKEY_decrypt_init(c) == 1 &&
                EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) == 1 &&
                EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha256()) == 1 &&
                EVP_PKEY_CTX_set0_rsa_oaep_label(c, label, 7) == 1);
    assert_int_equal(EVP_PKEY_decrypt(c, pt, &pl, ct, cl), 1);
    assert_int_equal(pl, sizeof(seed));
    assert_memory_equal(pt, seed, sizeof(seed));
    cl = 100; /* no room: refused, nothing written past it */
    assert_false(
        ek_sw_rsa_oaep(nb, sizeof(nb), 0, EK_MD_SHA256, "SECRET", seed, sizeof(seed), ct, &cl));
    EVP_PKEY_CTX_free(c);
    BN_free(n);
    EVP_PKEY_free(pk);
}

static void pub_xy(EVP_PKEY *pk, uint8_t *x, uint8_t *y, size_t fs)
{
    BIGNUM *bx = NULL, *by = NULL;
    assert_true(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_X, &bx) &&
                EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_EC_PUB_Y, &by));
    assert_int_equal(BN_bn2binpad(bx, x, (int)fs), (int)fs);
    assert_int_equal(BN_bn2binpad(by, y, (int)fs), (int)fs);
    BN_free(bx);
    BN_free(by);
}

/* The peer's own ECDH with our Q gives our z; a point off the curve is refused. */
static void ecdh_curve(const char *name, int nid, size_t fs)
{
    EVP_PKEY *peer = EVP_PKEY_Q_keygen(NULL, NULL, "EC", name);
    assert_non_null(peer);
    uint8_t px[66], py[66], z[66], qx[66], qy[66], want[66];
    pub_xy(peer, px, py, fs);
    assert_true(ek_sw_ecdh(nid, px, py, fs, z, qx, qy));

    /* Q as an EVP_PKEY, derived against the peer's private key. */
    uint8_t enc[1 + 2 * 66] = {4};
    memcpy(enc + 1, qx, fs);
    memcpy(enc + 1 + fs, qy, fs);
    OSSL_PARAM p[3] = {
        OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)name, 0),
        OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, enc, 1 + 2 * fs),
        OSSL_PARAM_construct_end()};
    EVP_PKEY_CTX *fc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    EVP_PKEY *q = NULL;
    assert_true(fc && EVP_PKEY_fromdata_init(fc) == 1 &&
                EVP_PKEY_fromdata(fc, &q, EVP_PKEY_PUBLIC_KEY, p) == 1);
    EVP_PKEY_CTX *dc = EVP_PKEY_CTX_new(peer, NULL);
    size_t wl = sizeof(want);
    assert_true(dc && EVP_PKEY_derive_init(dc) == 1 && EVP_PKEY_derive_set_peer(dc, q) == 1 &&
                EVP_PKEY_derive(dc, want, &wl) == 1);
    assert_int_equal(wl, fs);
    assert_memory_equal(z, want, fs);

    py[fs - 1] ^= 1; /* off the curve */
    assert_false(ek_sw_ecdh(nid, px, py, fs, z, qx, qy));
    assert_false(ek_sw_ecdh(nid, px, py, fs - 1, z, qx, qy)); /* wrong coordinate size */
    EVP_PKEY_CTX_free(dc);
    EVP_PKEY_CTX_free(fc);
    EVP_PKEY_free(q);
    EVP_PKEY_free(peer);
}

static void test_ecdh(void **state)
{
    (void)state;
    ecdh_curve("P-256", NID_X9_62_prime256v1, 32);
    ecdh_curve("P-384", NID_secp384r1, 48);
}

/* AES-CFB against OpenSSL's, odd lengths, and the round trip. */
static void test_aes_cfb(void **state)
{
    (void)state;
    static const unsigned bits[] = {128, 192, 256};
    static const char *names[] = {"AES-128-CFB", "AES-192-CFB", "AES-256-CFB"};
    uint8_t key[32], iv[16], msg[77], buf[77], want[77];
    fill(key, sizeof(key), 1);
    fill(iv, sizeof(iv), 2);
    fill(msg, sizeof(msg), 3);
    for (size_t i = 0; i < 3; i++) {
        int n = 0, f = 0;
        EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
        assert_true(EVP_EncryptInit_ex2(x, EVP_get_cipherbyname(names[i]), key, iv, NULL) == 1 &&
                    EVP_EncryptUpdate(x, want, &n, msg, sizeof(msg)) == 1 &&
                    EVP_EncryptFinal_ex(x, want + n, &f) == 1);
        EVP_CIPHER_CTX_free(x);
        memcpy(buf, msg, sizeof(msg));
        assert_true(ek_sw_aes_cfb(true, key, bits[i], iv, buf, sizeof(buf)));
        assert_memory_equal(buf, want, sizeof(buf));
        assert_true(ek_sw_aes_cfb(false, key, bits[i], iv, buf, sizeof(buf)));
        assert_memory_equal(buf, msg, sizeof(msg));
    }
    assert_false(ek_sw_aes_cfb(true, key, 100, iv, buf, sizeof(buf)));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hmac_stream),
        cmocka_unit_test(test_rsa_oaep),
        cmocka_unit_test(test_ecdh),
        cmocka_unit_test(test_aes_cfb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
