/* Unit tests: key policy, algorithm names, digests and the error buffer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <pthread.h>
#include <string.h>
#include <cmocka.h>

#include "ek_error.h"
#include "ek_key.h"
#include "ek_policy.h"
#include "test_util.h"

static ek_keygen_spec rsa(unsigned bits)
{
    ek_keygen_spec s = {.alg = EK_ALG_RSA, .bits = bits};
    return s;
}

static void test_rsa_1024_refused(void **state)
{
    (void)state;
    ek_keygen_spec s = rsa(1024);
    assert_int_equal(ek_policy_check_keygen(&s, 2048, true), EK_ERR_POLICY);
    assert_string_equal(ek_last_error(), "RSA-1024 refused: policy requires >= 2048 bits "
                                         "(rsa_min_bits = 2048); use rsa2048 or larger");
    /* a configured minimum below 2048 never lowers the floor */
    assert_int_equal(ek_policy_check_keygen(&s, 1024, true), EK_ERR_POLICY);
    assert_true(tu_contains(ek_last_error(), ">= 2048 bits"));
}

static void test_rsa_sizes(void **state)
{
    (void)state;
    unsigned ok[] = {2048, 3072, 4096};
    for (size_t i = 0; i < 3; i++) {
        ek_keygen_spec s = rsa(ok[i]);
        assert_int_equal(ek_policy_check_keygen(&s, 2048, false), EK_OK);
    }
    ek_keygen_spec s = rsa(2048);
    assert_int_equal(ek_policy_check_keygen(&s, 3072, true), EK_ERR_POLICY);
    assert_string_equal(ek_last_error(), "RSA-2048 refused: policy requires >= 3072 bits "
                                         "(rsa_min_bits = 3072); use rsa3072 or larger");
    s = rsa(2560);
    assert_int_equal(ek_policy_check_keygen(&s, 2048, true), EK_ERR_UNSUPPORTED);
    assert_true(tu_contains(ek_last_error(), "2048, 3072 and 4096"));
    s = rsa(8192);
    assert_int_equal(ek_policy_check_keygen(&s, 2048, true), EK_ERR_UNSUPPORTED);
}

static void test_ec(void **state)
{
    (void)state;
    ek_keygen_spec s = {.alg = EK_ALG_EC, .curve = EK_CURVE_P256, .bits = 256};
    assert_int_equal(ek_policy_check_keygen(&s, 2048, true), EK_OK);
    s.curve = EK_CURVE_P384;
    assert_int_equal(ek_policy_check_keygen(&s, 2048, true), EK_OK);
    assert_int_equal(ek_policy_check_keygen(&s, 2048, false), EK_ERR_POLICY);
    assert_true(tu_contains(ek_last_error(), "EC P-384 refused: policy disallows EC keys "
                                             "(allow_ec = no)"));
    s.curve = EK_CURVE_NONE;
    assert_int_equal(ek_policy_check_keygen(&s, 2048, true), EK_ERR_UNSUPPORTED);
    s.alg = EK_ALG_NONE;
    assert_int_equal(ek_policy_check_keygen(&s, 2048, true), EK_ERR_INVALID);
    assert_int_equal(ek_policy_check_keygen(NULL, 2048, true), EK_ERR_INVALID);
}

static void test_parse_alg(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        ek_alg alg;
        unsigned bits;
        ek_curve curve;
    } ok[] = {
        {"rsa2048", EK_ALG_RSA, 2048, 0},
        {"RSA3072", EK_ALG_RSA, 3072, 0},
        {"rsa-4096", EK_ALG_RSA, 4096, 0},
        {"rsa", EK_ALG_RSA, 2048, 0},
        {"rsa1024", EK_ALG_RSA, 1024, 0},
        {"ec", EK_ALG_EC, 256, EK_CURVE_P256},
        {"ec-p256", EK_ALG_EC, 256, EK_CURVE_P256},
        {"EC-P384", EK_ALG_EC, 384, EK_CURVE_P384},
        {"p256", EK_ALG_EC, 256, EK_CURVE_P256},
        {"secp384r1", EK_ALG_EC, 384, EK_CURVE_P384},
        {"prime256v1", EK_ALG_EC, 256, EK_CURVE_P256},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        unsigned char auth[] = "keep";
        ek_keygen_spec s = {.auth = auth, .auth_len = 4};
        assert_int_equal(ek_policy_parse_alg(ok[i].name, &s), EK_OK);
        assert_int_equal(s.alg, ok[i].alg);
        assert_int_equal(s.bits, ok[i].bits);
        assert_int_equal(s.curve, ok[i].curve);
        assert_ptr_equal(s.auth, auth); /* auth fields untouched */
    }
    const char *bad[] = {"", "dsa", "rsa2048x", "ec-p521", "rsa-", "rsa99999999999", "ed25519"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ek_keygen_spec s = {0};
        assert_int_equal(ek_policy_parse_alg(bad[i], &s), EK_ERR_INVALID);
        assert_true(tu_contains(ek_last_error(), "rsa2048, rsa3072, rsa4096, ec-p256, ec-p384"));
    }
}

static void test_alg_name(void **state)
{
    (void)state;
    assert_string_equal(ek_alg_name(EK_ALG_RSA, 2048, 0), "rsa2048");
    assert_string_equal(ek_alg_name(EK_ALG_RSA, 4096, 0), "rsa4096");
    assert_string_equal(ek_alg_name(EK_ALG_EC, 256, EK_CURVE_P256), "ec-p256");
    assert_string_equal(ek_alg_name(EK_ALG_EC, 384, EK_CURVE_P384), "ec-p384");
    assert_string_equal(ek_alg_name(EK_ALG_NONE, 0, 0), "none");
}

static void test_md(void **state)
{
    (void)state;
    const char *sha256[] = {"SHA256", "sha256", "SHA2-256", "sha-256", "Sha2_256"};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(ek_md_from_name(sha256[i]), EK_MD_SHA256);
    assert_int_equal(ek_md_from_name("SHA-1"), EK_MD_SHA1);
    assert_int_equal(ek_md_from_name("sha2-384"), EK_MD_SHA384);
    assert_int_equal(ek_md_from_name("SHA512"), EK_MD_SHA512);
    assert_int_equal(ek_md_from_name("md5"), EK_MD_NONE);
    assert_int_equal(ek_md_from_name("sha512-256"), EK_MD_NONE);
    assert_int_equal(ek_md_from_name(NULL), EK_MD_NONE);
    assert_int_equal(ek_md_size(EK_MD_SHA256), 32);
    assert_int_equal(ek_md_size(EK_MD_SHA384), 48);
    assert_int_equal(ek_md_size(EK_MD_NONE), 0);
    assert_string_equal(ek_md_name(EK_MD_SHA384), "SHA384");
    assert_null(ek_md_name(EK_MD_NONE));
}

static void *other_thread(void *arg)
{
    (void)arg;
    ek_error(EK_ERR_TPM, "thread message");
    return strcmp(ek_last_error(), "thread message") == 0 ? (void *)1 : NULL;
}

static void test_error_buffer(void **state)
{
    (void)state;
    ek_clear_error();
    assert_string_equal(ek_last_error(), "");
    assert_int_equal(ek_error(EK_ERR_IO, "file %s: %d", "x", 5), EK_ERR_IO);
    assert_string_equal(ek_last_error(), "file x: 5");
    /* a message may quote the previous one */
    ek_error(EK_ERR_IO, "outer: %s", ek_last_error());
    assert_string_equal(ek_last_error(), "outer: file x: 5");
    pthread_t t;
    void *res;
    assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
    pthread_join(t, &res);
    assert_non_null(res);
    assert_string_equal(ek_last_error(), "outer: file x: 5"); /* thread-local */
    char big[3000];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = 0;
    ek_error(EK_ERR_IO, "%s", big); /* truncated, not overflowed */
    assert_true(strlen(ek_last_error()) < sizeof(big) - 1);
    assert_string_equal(ek_rc_name(EK_ERR_POLICY), "policy");
    assert_string_equal(ek_rc_name(EK_ERR_NOT_FOUND), "not found");
    assert_string_equal(ek_rc_name((ek_rc)999), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rsa_1024_refused),
        cmocka_unit_test(test_rsa_sizes),
        cmocka_unit_test(test_ec),
        cmocka_unit_test(test_parse_alg),
        cmocka_unit_test(test_alg_name),
        cmocka_unit_test(test_md),
        cmocka_unit_test(test_error_buffer),
    };
    return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
