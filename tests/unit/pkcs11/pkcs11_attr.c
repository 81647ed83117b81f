/* Unit tests (no TPM): attribute lists, the C_GetAttributeValue buffer and
 * sensitivity rules, template matching (object search), template readers,
 * key/certificate attribute sets, DigestInfo and PSS parameter checks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "p11_internal.h"

static ek_pubkey rsa_pub(void)
{
    ek_pubkey p = {.alg = EK_ALG_RSA, .bits = 2048, .n_len = 256, .e = 65537};
    for (size_t i = 0; i < p.n_len; i++)
        p.n[i] = (unsigned char)(i * 7 + 0x81);
    p.n[0] |= 0x80;
    p.n[255] |= 1;
    return p;
}

/* A real P-256 point (so the SPKI builds). */
static ek_pubkey ec_pub(void)
{
    ek_pubkey p = {.alg = EK_ALG_EC, .bits = 256, .curve = EK_CURVE_P256};
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(k);
    unsigned char *pt = NULL;
    size_t n = EVP_PKEY_get1_encoded_public_key(k, &pt);
    assert_int_equal(n, 65);
    memcpy(p.point, pt, n);
    p.point_len = n;
    OPENSSL_free(pt);
    EVP_PKEY_free(k);
    return p;
}

static void build_rsa_priv(p11_attrs *as)
{
    ek_pubkey p = rsa_pub();
    static const unsigned char id[] = {0x01, 0x02};
    p11_obj_desc d = {
        .id = id, .id_len = 2, .label = "device", .token = true, .priv = true, .local = true};
    assert_int_equal(p11_build_key_attrs(as, CKO_PRIVATE_KEY, &p, &d), CKR_OK);
}

/* CKA_PUBLIC_KEY_INFO is built from ASN.1 templates (no EVP_PKEY): it must
 * be byte for byte what i2d_PUBKEY writes for the same key. */
static void check_spki(const ek_pubkey *p)
{
    unsigned char *ours = NULL, *ref = NULL;
    size_t len = 0;
    assert_int_equal(p11_spki(p, &ours, &len), CKR_OK);
    EVP_PKEY *k = p11_pkey_from_pub(p);
    assert_non_null(k);
    int n = i2d_PUBKEY(k, &ref);
    assert_true(n > 0);
    assert_int_equal(len, (size_t)n);
    assert_memory_equal(ours, ref, len);
    OPENSSL_free(ours);
    OPENSSL_free(ref);
    EVP_PKEY_free(k);
}

static void test_spki(void **state)
{
    (void)state;
    ek_pubkey r = rsa_pub(), e = ec_pub();
    check_spki(&r);
    r.e = 3;
    check_spki(&r);
    check_spki(&e);
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
    ek_pubkey p = {.alg = EK_ALG_EC, .bits = 384, .curve = EK_CURVE_P384};
    assert_true(EVP_PKEY_get_octet_string_param(k, "pub", p.point, sizeof(p.point), &p.point_len));
    EVP_PKEY_free(k);
    check_spki(&p);
}

static void test_get_buffer_rules(void **state)
{
    (void)state;
    p11_attrs as = {0};
    build_rsa_priv(&as);
    unsigned char small[4], big[512];
    CK_BBOOL b = 0;
    CK_ATTRIBUTE t[] = {
        {CKA_MODULUS, NULL, 0},                   /* length query */
        {CKA_LABEL, small, sizeof(small)},        /* too small */
        {CKA_PRIVATE_EXPONENT, big, sizeof(big)}, /* sensitive */
        {CKA_VALUE_LEN, big, sizeof(big)},        /* absent */
        {CKA_SENSITIVE, &b, sizeof(b)},           /* fits */
    };
    CK_RV rv = p11_attrs_get(&as, CKO_PRIVATE_KEY, t, 5);
    /* several errors: any of them may be returned, all entries are processed */
    assert_true(rv == CKR_BUFFER_TOO_SMALL || rv == CKR_ATTRIBUTE_SENSITIVE ||
                rv == CKR_ATTRIBUTE_TYPE_INVALID);
    assert_int_equal(t[0].ulValueLen, 256);
    assert_int_equal(t[1].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    assert_int_equal(t[2].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    assert_int_equal(t[3].ulValueLen, CK_UNAVAILABLE_INFORMATION);
    assert_int_equal(t[4].ulValueLen, 1);
    assert_int_equal(b, CK_TRUE);

    /* each rule on its own gives its own code */
    CK_ATTRIBUTE s1 = {CKA_LABEL, small, sizeof(small)};
    assert_int_equal(p11_attrs_get(&as, CKO_PRIVATE_KEY, &s1, 1), CKR_BUFFER_TOO_SMALL);
    CK_ATTRIBUTE s2 = {CKA_PRIME_1, NULL, 0};
    assert_int_equal(p11_attrs_get(&as, CKO_PRIVATE_KEY, &s2, 1), CKR_ATTRIBUTE_SENSITIVE);
    CK_ATTRIBUTE s3 = {CKA_VALUE_LEN, NULL, 0};
    assert_int_equal(p11_attrs_get(&as, CKO_PRIVATE_KEY, &s3, 1), CKR_ATTRIBUTE_TYPE_INVALID);
    CK_ATTRIBUTE s4 = {CKA_LABEL, big, sizeof(big)};
    assert_int_equal(p11_attrs_get(&as, CKO_PRIVATE_KEY, &s4, 1), CKR_OK);
    assert_int_equal(s4.ulValueLen, 6);
    assert_memory_equal(big, "device", 6);
    /* exact size is enough */
    CK_ATTRIBUTE s5 = {CKA_LABEL, big, 6};
    assert_int_equal(p11_attrs_get(&as, CKO_PRIVATE_KEY, &s5, 1), CKR_OK);
    p11_attrs_free(&as);
}

static bool attr_bool(const p11_attrs *as, CK_ATTRIBUTE_TYPE t)
{
    const p11_attr *a = p11_attrs_find(as, t);
    assert_non_null(a);
    assert_int_equal(a->len, sizeof(CK_BBOOL));
    return *(CK_BBOOL *)a->val;
}

static void test_private_key_template(void **state)
{
    (void)state;
    p11_attrs as = {0};
    build_rsa_priv(&as);
    assert_true(attr_bool(&as, CKA_SENSITIVE));
    assert_true(attr_bool(&as, CKA_ALWAYS_SENSITIVE));
    assert_false(attr_bool(&as, CKA_EXTRACTABLE));
    assert_true(attr_bool(&as, CKA_NEVER_EXTRACTABLE));
    assert_true(attr_bool(&as, CKA_SIGN));
    assert_false(attr_bool(&as, CKA_DECRYPT));
    assert_false(attr_bool(&as, CKA_UNWRAP));
    assert_true(attr_bool(&as, CKA_PRIVATE));
    /* libp11 needs the public numbers on the private key */
    assert_non_null(p11_attrs_find(&as, CKA_MODULUS));
    const p11_attr *e = p11_attrs_find(&as, CKA_PUBLIC_EXPONENT);
    assert_non_null(e);
    assert_int_equal(e->len, 3);
    assert_memory_equal(e->val, "\x01\x00\x01", 3);
    assert_non_null(p11_attrs_find(&as, CKA_PUBLIC_KEY_INFO));
    assert_null(p11_attrs_find(&as, CKA_PRIVATE_EXPONENT));
    p11_attrs_free(&as);

    ek_pubkey ep = ec_pub();
    p11_obj_desc d = {.label = "ec"};
    assert_int_equal(p11_build_key_attrs(&as, CKO_PUBLIC_KEY, &ep, &d), CKR_OK);
    const p11_attr *params = p11_attrs_find(&as, CKA_EC_PARAMS);
    assert_non_null(params);
    assert_int_equal(p11_ec_curve_from_params(params->val, params->len), EK_CURVE_P256);
    const p11_attr *pt = p11_attrs_find(&as, CKA_EC_POINT);
    assert_int_equal(pt->len, 67); /* DER OCTET STRING around 65 bytes */
    assert_int_equal(((unsigned char *)pt->val)[0], 0x04);
    assert_int_equal(((unsigned char *)pt->val)[1], 65);
    assert_true(attr_bool(&as, CKA_VERIFY));
    assert_false(attr_bool(&as, CKA_ENCRYPT));
    p11_attrs_free(&as);
}

static void test_match(void **state)
{
    (void)state;
    p11_attrs as = {0};
    build_rsa_priv(&as);
    CK_OBJECT_CLASS priv = CKO_PRIVATE_KEY, pub = CKO_PUBLIC_KEY;
    CK_KEY_TYPE rsa = CKK_RSA;
    unsigned char id[] = {0x01, 0x02}, id2[] = {0x01};
    CK_BBOOL t = CK_TRUE;
    CK_ATTRIBUTE ok[] = {{CKA_CLASS, &priv, sizeof(priv)},
                         {CKA_KEY_TYPE, &rsa, sizeof(rsa)},
                         {CKA_ID, id, 2},
                         {CKA_LABEL, "device", 6},
                         {CKA_SIGN, &t, 1}};
    assert_true(p11_attrs_match(&as, ok, 5));
    assert_true(p11_attrs_match(&as, NULL, 0)); /* empty template: everything */
    CK_ATTRIBUTE wrong_class[] = {{CKA_CLASS, &pub, sizeof(pub)}};
    assert_false(p11_attrs_match(&as, wrong_class, 1));
    CK_ATTRIBUTE prefix_id[] = {{CKA_ID, id2, 1}}; /* no prefix matching */
    assert_false(p11_attrs_match(&as, prefix_id, 1));
    CK_ATTRIBUTE label_case[] = {{CKA_LABEL, "Device", 6}};
    assert_false(p11_attrs_match(&as, label_case, 1));
    CK_ATTRIBUTE absent[] = {{CKA_VALUE_LEN, NULL, 0}};
    assert_false(p11_attrs_match(&as, absent, 1));
    CK_ATTRIBUTE decrypt[] = {{CKA_DECRYPT, &t, 1}}; /* sign-only key */
    assert_false(p11_attrs_match(&as, decrypt, 1));
    p11_attrs_free(&as);
}

static void test_template_readers(void **state)
{
    (void)state;
    CK_BBOOL t = CK_TRUE;
    CK_ULONG bits = 2048;
    unsigned char junk[3] = {1, 2, 3};
    CK_ATTRIBUTE tm[] = {{CKA_TOKEN, &t, 1},
                         {CKA_MODULUS_BITS, &bits, sizeof(bits)},
                         {CKA_SIGN, junk, 3},
                         {CKA_LABEL, NULL, 5}};
    bool v = false, present = false;
    CK_ULONG u = 0;
    assert_int_equal(p11_tmpl_bool(tm, 4, CKA_TOKEN, &v, &present), CKR_OK);
    assert_true(v && present);
    assert_int_equal(p11_tmpl_ulong(tm, 4, CKA_MODULUS_BITS, &u, NULL), CKR_OK);
    assert_int_equal(u, 2048);
    assert_int_equal(p11_tmpl_bool(tm, 4, CKA_SIGN, &v, NULL), CKR_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(p11_tmpl_bool(tm, 4, CKA_DECRYPT, &v, &present), CKR_OK);
    assert_false(present);
    assert_int_equal(p11_tmpl_check(tm, 4), CKR_ATTRIBUTE_VALUE_INVALID);
    assert_int_equal(p11_tmpl_check(tm, 3), CKR_OK);
    assert_int_equal(p11_tmpl_check(NULL, 1), CKR_ARGUMENTS_BAD);
}

static void test_cert_template(void **state)
{
    (void)state;
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)"edge-1", -1, -1, 0);
    X509_set_issuer_name(x, n);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 4242);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    unsigned char *der = NULL;
    int len = i2d_X509(x, &der);
    assert_true(len > 0);
    p11_attrs as = {0};
    p11_obj_desc d = {.label = "edge-1", .token = true};
    assert_int_equal(p11_build_cert_attrs(&as, der, (size_t)len, &d), CKR_OK);
    const p11_attr *v = p11_attrs_find(&as, CKA_VALUE);
    assert_int_equal(v->len, (CK_ULONG)len);
    assert_non_null(p11_attrs_find(&as, CKA_SUBJECT));
    assert_non_null(p11_attrs_find(&as, CKA_ISSUER));
    assert_non_null(p11_attrs_find(&as, CKA_SERIAL_NUMBER));
    CK_ATTRIBUTE val = {CKA_VALUE, NULL, 0}; /* certificates are not sensitive */
    assert_int_equal(p11_attrs_get(&as, CKO_CERTIFICATE, &val, 1), CKR_OK);
    p11_attrs_free(&as);
    /* garbage and trailing bytes are refused */
    assert_int_equal(p11_build_cert_attrs(&as, der, (size_t)len - 1, &d),
                     CKR_ATTRIBUTE_VALUE_INVALID);
    p11_attrs_free(&as);
    OPENSSL_free(der);
    X509_free(x);
    EVP_PKEY_free(k);
}

static void test_digestinfo_and_pss(void **state)
{
    (void)state;
    unsigned char di[19 + 32];
    memcpy(di, "\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\x04\x20", 19);
    memset(di + 19, 0xab, 32);
    ek_md md;
    const unsigned char *d;
    size_t dl;
    assert_int_equal(p11_digestinfo_parse(di, sizeof(di), &md, &d, &dl), CKR_OK);
    assert_int_equal(md, EK_MD_SHA256);
    assert_int_equal(dl, 32);
    assert_ptr_equal(d, di + 19);
    assert_int_equal(p11_digestinfo_parse(di, sizeof(di) - 1, &md, &d, &dl), CKR_DATA_INVALID);
    assert_int_equal(p11_digestinfo_parse(di + 19, 32, &md, &d, &dl), CKR_DATA_INVALID);

    CK_RSA_PKCS_PSS_PARAMS pp = {CKM_SHA256, CKG_MGF1_SHA256, 32};
    CK_MECHANISM m = {CKM_RSA_PKCS_PSS, &pp, sizeof(pp)};
    assert_int_equal(p11_mech_check_pss(&m, EK_MD_NONE, &md), CKR_OK);
    assert_int_equal(md, EK_MD_SHA256);
    pp.sLen = 222; /* maximum salt: TLS 1.3 would reject it */
    assert_int_equal(p11_mech_check_pss(&m, EK_MD_NONE, &md), CKR_MECHANISM_PARAM_INVALID);
    pp = (CK_RSA_PKCS_PSS_PARAMS){CKM_SHA256, CKG_MGF1_SHA384, 32};
    assert_int_equal(p11_mech_check_pss(&m, EK_MD_NONE, &md), CKR_MECHANISM_PARAM_INVALID);
    pp = (CK_RSA_PKCS_PSS_PARAMS){CKM_SHA384, CKG_MGF1_SHA384, 48};
    assert_int_equal(p11_mech_check_pss(&m, EK_MD_SHA256, &md), CKR_MECHANISM_PARAM_INVALID);
    m.pParameter = NULL;
    assert_int_equal(p11_mech_check_pss(&m, EK_MD_NONE, &md), CKR_MECHANISM_PARAM_INVALID);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_get_buffer_rules),     cmocka_unit_test(test_spki),
        cmocka_unit_test(test_private_key_template), cmocka_unit_test(test_match),
        cmocka_unit_test(test_template_readers),     cmocka_unit_test(test_cert_template),
        cmocka_unit_test(test_digestinfo_and_pss),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
