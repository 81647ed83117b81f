/* Unit tests: core/swdirect.c's provider-free digests, HMAC and AES-CFB
 * must give exactly what OpenSSL's EVP gives (the TPM checks every HMAC
 * and decrypts every parameter we send; a wrong byte fails a login). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ek_tpm_int.h"

static const ek_md mds[] = {EK_MD_SHA1, EK_MD_SHA256, EK_MD_SHA384, EK_MD_SHA512};
static const TPM2_ALG_ID algs[] = {TPM2_ALG_SHA1, TPM2_ALG_SHA256, TPM2_ALG_SHA384,
                                   TPM2_ALG_SHA512};

static void fill(uint8_t *b, size_t n, uint8_t seed)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(seed + i * 7);
}

/* Streaming in uneven pieces, a copy taken midway, and the one-shot form. */
static void test_md_ctx_matches_evp(void **state)
{
    (void)state;
    uint8_t msg[1000], want[64], got[64], got2[64];
    fill(msg, sizeof(msg), 3);
    for (size_t i = 0; i < 4; i++) {
        unsigned wl = 0;
        assert_int_equal(EVP_Digest(msg, sizeof(msg), want, &wl,
                                    EVP_get_digestbyname(ek_md_name(mds[i])), NULL), 1);
        assert_int_equal(wl, ek_md_size(mds[i]));
        ek_md_ctx *c = ek_md_ctx_new(mds[i]);
        assert_non_null(c);
        assert_true(ek_md_ctx_update(c, msg, 1));
        assert_true(ek_md_ctx_update(c, msg + 1, 300));
        ek_md_ctx *d = ek_md_ctx_dup(c);
        assert_non_null(d);
        assert_true(ek_md_ctx_update(c, msg + 301, sizeof(msg) - 301));
        assert_true(ek_md_ctx_update(d, msg + 301, sizeof(msg) - 301));
        assert_true(ek_md_ctx_final(c, got));
        assert_true(ek_md_ctx_final(d, got2));
        assert_memory_equal(got, want, wl);
        assert_memory_equal(got2, want, wl);
        assert_false(ek_md_ctx_update(c, msg, 1)); /* finished until reset */
        assert_true(ek_md_ctx_reset(c, mds[i]) && ek_md_ctx_update(c, msg, sizeof(msg)) &&
                    ek_md_ctx_final(c, got));
        assert_memory_equal(got, want, wl);
        assert_true(ek_md_digest(mds[i], msg, sizeof(msg), got));
        assert_memory_equal(got, want, wl);
        assert_int_equal(ek_sw_md_size(algs[i]), wl);
        ek_md_ctx_free(c);
        ek_md_ctx_free(d);
    }
    assert_null(ek_md_ctx_new(EK_MD_NONE));
}

/* Keys shorter than, equal to and longer than the block size. */
static void test_hmac_matches_openssl(void **state)
{
    (void)state;
    uint8_t key[200], msg[300], want[64], got[64];
    size_t klens[] = {0, 11, 64, 128, 200};
    fill(key, sizeof(key), 9);
    fill(msg, sizeof(msg), 1);
    for (size_t i = 0; i < 4; i++) {
        for (size_t k = 0; k < sizeof(klens) / sizeof(klens[0]); k++) {
            unsigned wl = 0;
            assert_non_null(HMAC(EVP_get_digestbyname(ek_md_name(mds[i])), key, (int)klens[k],
                                 msg, sizeof(msg), want, &wl));
            ek_iov v[] = {{msg, 100}, {msg + 100, 0}, {msg + 100, 200}};
            assert_true(ek_sw_hmac(algs[i], key, klens[k], v, 3, got));
            assert_memory_equal(got, want, wl);
        }
    }
}

static void test_aes_cfb_matches_evp(void **state)
{
    (void)state;
    uint8_t key[16], iv[16], plain[77], buf[77], want[77 + 16];
    int n = 0, f = 0;
    fill(key, 16, 5);
    fill(iv, 16, 50);
    fill(plain, sizeof(plain), 100);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    assert_int_equal(EVP_EncryptInit_ex(c, EVP_aes_128_cfb128(), NULL, key, iv), 1);
    assert_int_equal(EVP_EncryptUpdate(c, want, &n, plain, sizeof(plain)), 1);
    assert_int_equal(EVP_EncryptFinal_ex(c, want + n, &f), 1);
    EVP_CIPHER_CTX_free(c);
    memcpy(buf, plain, sizeof(buf));
    assert_true(ek_sw_aes128_cfb(key, iv, buf, sizeof(buf), true));
    assert_memory_equal(buf, want, sizeof(buf));
    assert_true(ek_sw_aes128_cfb(key, iv, buf, sizeof(buf), false));
    assert_memory_equal(buf, plain, sizeof(buf));
}

static void test_random_fills(void **state)
{
    (void)state;
    uint8_t a[64] = {0}, b[64] = {0};
    assert_true(ek_sw_random(a, sizeof(a)));
    assert_true(ek_sw_random(b, sizeof(b)));
    assert_memory_not_equal(a, b, sizeof(a));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_md_ctx_matches_evp),
        cmocka_unit_test(test_hmac_matches_openssl),
        cmocka_unit_test(test_aes_cfb_matches_evp),
        cmocka_unit_test(test_random_fills),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
