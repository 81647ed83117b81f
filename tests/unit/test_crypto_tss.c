/* Unit tests: core/base/crypto_tss.c and crypto_oaep.c, the crypto ESYS's
 * sessions get from core on tpm2-tss >= 4.0, checked against OpenSSL's own
 * answers: a wrong salt or HMAC byte would only show as a TPM authorisation
 * failure. And the OAEP salt under a default spy ENGINE (spy_engine.h). */
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
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "ek_crypto.h"
#include "spy_engine.h"

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

/* The private key's own OAEP decryption of ct, label "SECRET\0", digest md. */
static void check_decrypts(EVP_PKEY *pk, ek_md md, const uint8_t *ct, size_t cl,
                           const uint8_t *want, size_t wl)
{
    uint8_t pt[256];
    size_t pl = sizeof(pt);
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pk, NULL);
    char *label = OPENSSL_strdup("SECRET");
    assert_true(c && EVP_PKEY_decrypt_init(c) == 1 &&
                EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) == 1 &&
                EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_get_digestbyname(ek_md_name(md))) == 1 &&
                EVP_PKEY_CTX_set0_rsa_oaep_label(c, label, 7) == 1);
    assert_int_equal(EVP_PKEY_decrypt(c, pt, &pl, ct, cl), 1);
    assert_int_equal(pl, wl);
    assert_memory_equal(pt, want, wl);
    EVP_PKEY_CTX_free(c);
}

static EVP_PKEY *rsa_key(uint8_t nb[256])
{
    EVP_PKEY *pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    BIGNUM *n = NULL;
    assert_true(pk && EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n));
    assert_int_equal(BN_bn2binpad(n, nb, 256), 256);
    BN_free(n);
    return pk;
}

/* The public key n (256 bytes), e 65537, as the default provider makes it. */
static EVP_PKEY *rsa_pub_now(const uint8_t nb[256])
{
    EVP_PKEY *pk = NULL;
    BIGNUM *n = BN_bin2bn(nb, 256, NULL), *e = BN_new();
    OSSL_PARAM_BLD *b = OSSL_PARAM_BLD_new();
    OSSL_PARAM *p = NULL;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    if (n && e && b && c && BN_set_word(e, 65537) &&
        OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_N, n) &&
        OSSL_PARAM_BLD_push_BN(b, OSSL_PKEY_PARAM_RSA_E, e) && (p = OSSL_PARAM_BLD_to_param(b)) &&
        EVP_PKEY_fromdata_init(c) == 1)
        EVP_PKEY_fromdata(c, &pk, EVP_PKEY_PUBLIC_KEY, p);
    EVP_PKEY_CTX_free(c);
    OSSL_PARAM_free(p);
    OSSL_PARAM_BLD_free(b);
    BN_free(e);
    BN_free(n);
    return pk;
}

/* What we encrypt, the private key decrypts with the TPM's label "SECRET\0",
 * for each name algorithm an SRK may have. */
static void test_rsa_oaep(void **state)
{
    (void)state;
    static const ek_md mds[] = {EK_MD_SHA1, EK_MD_SHA256, EK_MD_SHA384, EK_MD_SHA512};
    uint8_t nb[256], seed[64], ct[256];
    EVP_PKEY *pk = rsa_key(nb);
    for (size_t i = 0; i < 4; i++) {
        size_t sl = ek_md_size(mds[i]), cl = sizeof(ct);
        fill(seed, sl, (uint8_t)(77 + i));
        assert_true(ek_sw_rsa_oaep(nb, sizeof(nb), 0, mds[i], "SECRET", seed, sl, ct, &cl));
        assert_int_equal(cl, 256);
        check_decrypts(pk, mds[i], ct, cl, seed, sl);
    }
    size_t cl = 100; /* no room: refused, nothing written past it */
    assert_false(ek_sw_rsa_oaep(nb, sizeof(nb), 0, EK_MD_SHA256, "SECRET", seed, 32, ct, &cl));
    cl = sizeof(ct); /* too long for OAEP with SHA-512 in 2048 bits: refused */
    uint8_t big[200] = {0};
    assert_false(
        ek_sw_rsa_oaep(nb, sizeof(nb), 0, EK_MD_SHA512, "SECRET", big, sizeof(big), ct, &cl));
    EVP_PKEY_free(pk);
}

/* Issue 12: an application's default ENGINE, for RSA key methods or as the
 * RSA_METHOD of new RSA objects, sees nothing of the salt, on every
 * OpenSSL 3.x (ESYS >= 4.0 gives us the salt; 3.x keeps its own). */
static void test_rsa_oaep_no_engine(void **state)
{
    (void)state;
    uint8_t nb[256], seed[32], ct[256];
    EVP_PKEY *pk = rsa_key(nb);
    fill(seed, sizeof(seed), 9);
    for (size_t i = 0; i < 2; i++) {
        int asked = ek_spy_pkey_asked, ops = ek_spy_rsa_ops;
        ENGINE *e = i == 0 ? ek_spy_pkey_install() : ek_spy_rsa_install();
        assert_non_null(e);
        size_t cl = sizeof(ct);
        bool ok = ek_sw_rsa_oaep(nb, sizeof(nb), 65537, EK_MD_SHA256, "SECRET", seed, sizeof(seed),
                                 ct, &cl);
        ek_spy_remove(e);
        assert_true(ok);
        assert_int_equal(ek_spy_pkey_asked, asked);
        assert_int_equal(ek_spy_rsa_ops, ops);
        check_decrypts(pk, EK_MD_SHA256, ct, cl, seed, sizeof(seed));
    }
    /* The spy can see: the default provider's RSA, made now, is counted. */
    ENGINE *e = ek_spy_rsa_install();
    int ops = ek_spy_rsa_ops;
    EVP_PKEY *now = rsa_pub_now(nb);
    EVP_PKEY_CTX *c = now ? EVP_PKEY_CTX_new_from_pkey(NULL, now, NULL) : NULL;
    size_t cl = sizeof(ct);
    assert_true(c && EVP_PKEY_encrypt_init(c) == 1 &&
                EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) == 1 &&
                EVP_PKEY_encrypt(c, ct, &cl, seed, sizeof(seed)) == 1);
    assert_true(ek_spy_rsa_ops > ops);
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(now);
    ek_spy_remove(e);
    EVP_PKEY_free(pk);
    ek_spy_free();
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
        cmocka_unit_test(test_rsa_oaep_no_engine),
        cmocka_unit_test(test_ecdh),
        cmocka_unit_test(test_aes_cfb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
