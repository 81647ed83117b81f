/* Unit tests: core/crypto.c's digests, HMAC and random bytes in core's
 * private library context give exactly what the application's OpenSSL
 * gives (a wrong byte in a key auth value fails a login). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "ek_crypto.h"

static const ek_md mds[] = {EK_MD_SHA1, EK_MD_SHA256, EK_MD_SHA384, EK_MD_SHA512};

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
        assert_int_equal(
            EVP_Digest(msg, sizeof(msg), want, &wl, EVP_get_digestbyname(ek_md_name(mds[i])), NULL),
            1);
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
        ek_md_ctx_free(c);
        ek_md_ctx_free(d);
    }
    assert_null(ek_md_ctx_new(EK_MD_NONE));
}

/* Keys shorter than, equal to and longer than the block size. */
static void test_hmac_matches_openssl(void **state)
{
    (void)state;
    uint8_t key[100], msg[300], want[32], got[32];
    static const size_t klens[] = {0, 1, 32, 64, 65, 100};
    fill(key, sizeof(key), 9);
    fill(msg, sizeof(msg), 1);
    for (size_t k = 0; k < sizeof(klens) / sizeof(klens[0]); k++) {
        unsigned wl = 0;
        assert_non_null(HMAC(EVP_sha256(), key, (int)klens[k], msg, sizeof(msg), want, &wl));
        assert_true(ek_sw_hmac_sha256(key, klens[k], msg, sizeof(msg), got));
        assert_memory_equal(got, want, 32);
    }
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
        cmocka_unit_test(test_random_fills),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
