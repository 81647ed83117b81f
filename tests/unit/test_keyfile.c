/* Unit tests: the TSS2 PRIVATE KEY codec and public key extraction.
 * Fixtures in data/ were made by tpm2-openssl (openssl genpkey -provider
 * tpm2) and tpm2_encodeobject against swtpm; their public keys as OpenSSL
 * printed them sit next to them (*.pub.pem). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <tss2/tss2_mu.h>

#include "ek_key.h"
#include "ek_keyfile.h"
#include "test_util.h"

/* ---- a tiny DER writer to build TPMKey variants ---- */

typedef struct {
    unsigned char b[8192];
    size_t n;
} buf;

static void put(buf *o, const void *p, size_t n)
{
    assert_true(o->n + n <= sizeof(o->b));
    memcpy(o->b + o->n, p, n);
    o->n += n;
}

static void tlv(buf *o, unsigned char tag, const void *content, size_t len)
{
    unsigned char h[4] = {tag};
    size_t hl;
    if (len < 128) {
        h[1] = (unsigned char)len;
        hl = 2;
    } else if (len < 256) {
        h[1] = 0x81, h[2] = (unsigned char)len;
        hl = 3;
    } else {
        h[1] = 0x82, h[2] = (unsigned char)(len >> 8), h[3] = (unsigned char)len;
        hl = 4;
    }
    put(o, h, hl);
    put(o, content, len);
}

static const unsigned char OID_LOADABLE[] = {0x67, 0x81, 0x05, 0x0a, 0x01, 0x03};
static const unsigned char OID_IMPORTABLE[] = {0x67, 0x81, 0x05, 0x0a, 0x01, 0x04};
static const unsigned char OID_RSA[] = {0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01};

typedef struct parts {
    const unsigned char *oid;
    size_t oid_len;
    int empty_auth; /* -1 absent, else the boolean byte */
    bool policy, secret, auth_policy, description;
    int rsa_parent; /* -1 absent */
    uint64_t parent;
    bool parent_negative;
    buf pub, priv;
} parts;

static void der_uint(buf *o, uint64_t v, bool negative)
{
    unsigned char b[9];
    size_t n = 0;
    if (negative) {
        tlv(o, 0x02, "\xff", 1);
        return;
    }
    for (int s = 56; s >= 0; s -= 8)
        if (n || (v >> s) & 0xff || s == 0)
            b[n++] = (unsigned char)(v >> s);
    if (b[0] & 0x80) {
        memmove(b + 1, b, n++);
        b[0] = 0;
    }
    tlv(o, 0x02, b, n);
}

static void make_tpmkey(const parts *p, buf *out)
{
    buf c = {0}, t = {0};
    tlv(&c, 0x06, p->oid, p->oid_len);
    if (p->empty_auth >= 0) {
        unsigned char v = (unsigned char)p->empty_auth;
        t.n = 0;
        tlv(&t, 0x01, &v, 1);
        tlv(&c, 0xa0, t.b, t.n);
    }
    if (p->policy) { /* SEQUENCE OF TPMPolicy { [0] INTEGER, [1] OCTET STRING } */
        buf pol = {0}, cc = {0}, cp = {0}, seq = {0};
        tlv(&cc, 0x02, "\x01\x6b", 2);
        tlv(&cp, 0x04, "\x00\x01", 2);
        buf e0 = {0}, e1 = {0};
        tlv(&e0, 0xa0, cc.b, cc.n);
        tlv(&e1, 0xa1, cp.b, cp.n);
        put(&e0, e1.b, e1.n);
        tlv(&pol, 0x30, e0.b, e0.n);
        tlv(&seq, 0x30, pol.b, pol.n);
        tlv(&c, 0xa1, seq.b, seq.n);
    }
    if (p->secret) {
        t.n = 0;
        tlv(&t, 0x04, "secret", 6);
        tlv(&c, 0xa2, t.b, t.n);
    }
    if (p->auth_policy) {
        buf seq = {0};
        tlv(&seq, 0x30, "", 0);
        tlv(&c, 0xa3, seq.b, seq.n);
    }
    if (p->description) {
        t.n = 0;
        tlv(&t, 0x0c, "made by a test", 14);
        tlv(&c, 0xa4, t.b, t.n);
    }
    if (p->rsa_parent >= 0) {
        unsigned char v = (unsigned char)p->rsa_parent;
        t.n = 0;
        tlv(&t, 0x01, &v, 1);
        tlv(&c, 0xa5, t.b, t.n);
    }
    der_uint(&c, p->parent, p->parent_negative);
    tlv(&c, 0x04, p->pub.b, p->pub.n);
    tlv(&c, 0x04, p->priv.b, p->priv.n);
    out->n = 0;
    tlv(out, 0x30, c.b, c.n);
}

/* Parts of the tpm2-openssl RSA fixture, emptyAuth FALSE. */
static void fixture_parts(parts *p)
{
    size_t len;
    unsigned char *der = tu_fixture("tpm2openssl-rsa2048.der", &len);
    ek_keyfile kf;
    assert_int_equal(ek_keyfile_decode_der(der, len, &kf), EK_OK);
    free(der);
    memset(p, 0, sizeof(*p));
    p->oid = OID_LOADABLE;
    p->oid_len = sizeof(OID_LOADABLE);
    p->empty_auth = 0;
    p->rsa_parent = -1;
    p->parent = 0x40000001;
    assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(&kf.pub, p->pub.b, sizeof(p->pub.b), &p->pub.n),
                     0);
    assert_int_equal(
        Tss2_MU_TPM2B_PRIVATE_Marshal(&kf.priv, p->priv.b, sizeof(p->priv.b), &p->priv.n), 0);
}

static ek_rc decode_parts(const parts *p, ek_keyfile *kf)
{
    buf der;
    make_tpmkey(p, &der);
    return ek_keyfile_decode_der(der.b, der.n, kf);
}

/* ---- fixtures from the other tools ---- */

static EVP_PKEY *fixture_pub(const char *name)
{
    size_t len;
    unsigned char *pem = tu_fixture(name, &len);
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    EVP_PKEY *pk = PEM_read_bio_PUBKEY(bio, NULL, NULL, NULL);
    BIO_free(bio);
    free(pem);
    assert_non_null(pk);
    return pk;
}

static void test_tpm2openssl_rsa_der(void **state)
{
    (void)state;
    size_t len;
    unsigned char *der = tu_fixture("tpm2openssl-rsa2048.der", &len);
    ek_keyfile kf;
    ek_pubkey pub;
    assert_int_equal(ek_keyfile_decode_der(der, len, &kf), EK_OK);
    assert_true(kf.empty_auth);
    assert_int_equal(kf.parent, 0x40000001);
    assert_int_equal(kf.pub.publicArea.type, TPM2_ALG_RSA);
    assert_true(kf.priv.size > 0);
    assert_int_equal(ek_pubkey_from_tpmt(&kf.pub.publicArea, &pub), EK_OK);
    assert_int_equal(pub.alg, EK_ALG_RSA);
    assert_int_equal(pub.bits, 2048);
    assert_int_equal(pub.e, 65537);

    /* The modulus is the one OpenSSL (through tpm2-openssl) printed. */
    EVP_PKEY *pk = fixture_pub("tpm2openssl-rsa2048.pub.pem");
    BIGNUM *n = NULL;
    unsigned char nb[512];
    assert_true(EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n));
    assert_int_equal((size_t)BN_bn2bin(n, nb), pub.n_len);
    assert_memory_equal(nb, pub.n, pub.n_len);
    BN_free(n);
    EVP_PKEY_free(pk);
    free(der);
}

static void test_tpm2openssl_ec_pem(void **state)
{
    (void)state;
    size_t len;
    char *pem = (char *)tu_fixture("tpm2openssl-p256.pem", &len);
    ek_keyfile kf;
    ek_pubkey pub;
    assert_int_equal(ek_keyfile_decode_pem(pem, len + 1 /* with NUL */, &kf), EK_OK);
    assert_true(kf.empty_auth);
    assert_int_equal(ek_pubkey_from_tpmt(&kf.pub.publicArea, &pub), EK_OK);
    assert_int_equal(pub.alg, EK_ALG_EC);
    assert_int_equal(pub.curve, EK_CURVE_P256);
    assert_int_equal(pub.point_len, 65);
    EVP_PKEY *pk = fixture_pub("tpm2openssl-p256.pub.pem");
    unsigned char pt[133];
    size_t ptlen;
    assert_true(
        EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &ptlen));
    assert_int_equal(ptlen, pub.point_len);
    assert_memory_equal(pt, pub.point, ptlen);
    EVP_PKEY_free(pk);
    free(pem);
}

static void test_auth_and_persistent_parent(void **state)
{
    (void)state;
    size_t len;
    char *pem = (char *)tu_fixture("tpm2openssl-rsa-auth.pem", &len);
    ek_keyfile kf;
    assert_int_equal(ek_keyfile_decode_pem(pem, len, &kf), EK_OK);
    assert_false(kf.empty_auth);
    free(pem);
    pem = (char *)tu_fixture("tpm2tools-rsa-persistent-parent.pem", &len);
    assert_int_equal(ek_keyfile_decode_pem(pem, len, &kf), EK_OK);
    assert_false(kf.empty_auth);
    assert_int_equal(kf.parent, 0x81000001);
    free(pem);
}

/* Our encoding of a decoded file is byte-identical to what tpm2-openssl and
 * tpm2_encodeobject wrote (emptyAuth FALSE: same bytes; TRUE: we write the
 * DER 0xFF where tpm2-openssl writes 0x01). */
static void test_round_trip_bytes(void **state)
{
    (void)state;
    const char *files[] = {"tpm2openssl-rsa-auth.pem", "tpm2tools-rsa-persistent-parent.pem"};
    for (size_t i = 0; i < 2; i++) {
        size_t len, der_len, out_len;
        char *pem = (char *)tu_fixture(files[i], &len);
        BIO *bio = BIO_new_mem_buf(pem, (int)len);
        unsigned char *der = NULL, *out = NULL;
        char *name = NULL, *hdr = NULL;
        long dl;
        assert_true(PEM_read_bio(bio, &name, &hdr, &der, &dl));
        der_len = (size_t)dl;
        ek_keyfile kf;
        assert_int_equal(ek_keyfile_decode_der(der, der_len, &kf), EK_OK);
        assert_int_equal(ek_keyfile_encode_der(&kf, &out, &out_len), EK_OK);
        assert_int_equal(out_len, der_len);
        assert_memory_equal(out, der, der_len);
        free(out);
        OPENSSL_free(name);
        OPENSSL_free(hdr);
        OPENSSL_free(der);
        BIO_free(bio);
        free(pem);
    }
    size_t len, out_len;
    unsigned char *der = tu_fixture("tpm2openssl-rsa2048.der", &len), *out = NULL;
    ek_keyfile kf;
    assert_int_equal(ek_keyfile_decode_der(der, len, &kf), EK_OK);
    assert_int_equal(ek_keyfile_encode_der(&kf, &out, &out_len), EK_OK);
    assert_int_equal(out_len, len);
    assert_int_equal(out[16], 0xff); /* emptyAuth TRUE, DER */
    out[16] = der[16];
    assert_memory_equal(out, der, len);
    free(out);
    free(der);
}

static void test_round_trip_pem(void **state)
{
    (void)state;
    size_t len, pem_len;
    unsigned char *der = tu_fixture("tpm2openssl-rsa2048.der", &len);
    ek_keyfile kf, back;
    char *pem = NULL;
    assert_int_equal(ek_keyfile_decode_der(der, len, &kf), EK_OK);
    kf.empty_auth = false;
    kf.parent = 0x81000002;
    assert_int_equal(ek_keyfile_encode_pem(&kf, &pem, &pem_len), EK_OK);
    assert_int_equal(strlen(pem), pem_len);
    assert_true(tu_contains(pem, "-----BEGIN TSS2 PRIVATE KEY-----\n"));
    assert_int_equal(ek_keyfile_decode_pem(pem, pem_len, &back), EK_OK);
    assert_false(back.empty_auth);
    assert_int_equal(back.parent, 0x81000002);
    assert_int_equal(back.pub.size, kf.pub.size);
    assert_memory_equal(&back.pub.publicArea.unique.rsa, &kf.pub.publicArea.unique.rsa,
                        sizeof(kf.pub.publicArea.unique.rsa));
    assert_memory_equal(back.priv.buffer, kf.priv.buffer, kf.priv.size);
    free(pem);
    free(der);
}

/* ---- refusals ---- */

static void test_truncated_and_garbage(void **state)
{
    (void)state;
    size_t len;
    unsigned char *der = tu_fixture("tpm2openssl-rsa2048.der", &len);
    ek_keyfile kf;
    for (size_t i = 0; i < len; i++) /* every prefix is refused */
        assert_int_equal(ek_keyfile_decode_der(der, i, &kf), EK_ERR_INVALID);
    unsigned char *more = malloc(len + 3);
    memcpy(more, der, len);
    memcpy(more + len, "\x00\x00\x00", 3);
    assert_int_equal(ek_keyfile_decode_der(more, len + 3, &kf), EK_ERR_INVALID);
    assert_true(tu_contains(ek_last_error(), "garbage"));
    /* a flipped length inside the TPM2B_PUBLIC */
    memcpy(more, der, len);
    more[28] ^= 0x01; /* TPM2B_PUBLIC.size low byte (the octet string starts at 27) */
    assert_int_equal(ek_keyfile_decode_der(more, len, &kf), EK_ERR_INVALID);
    /* a smaller size field: tss2-mu alone accepts this (found by fuzzing) */
    memcpy(more, der, len);
    more[28] = (unsigned char)(der[28] - 0x20);
    assert_int_equal(ek_keyfile_decode_der(more, len, &kf), EK_ERR_INVALID);
    assert_true(tu_contains(ek_last_error(), "not a TPM2B_PUBLIC"));
    free(more);
    free(der);
}

static void test_builder_matches_fixture(void **state)
{
    (void)state;
    parts p;
    fixture_parts(&p);
    p.empty_auth = 1; /* tpm2-openssl's TRUE byte */
    buf built;
    make_tpmkey(&p, &built);
    size_t len;
    unsigned char *der = tu_fixture("tpm2openssl-rsa2048.der", &len);
    assert_int_equal(built.n, len);
    assert_memory_equal(built.b, der, len); /* so the variants below are realistic */
    free(der);
}

static void test_empty_auth_absent_is_false(void **state)
{
    (void)state;
    parts p;
    ek_keyfile kf;
    fixture_parts(&p);
    p.empty_auth = -1;
    assert_int_equal(decode_parts(&p, &kf), EK_OK);
    assert_false(kf.empty_auth);
    p.empty_auth = 0xff;
    assert_int_equal(decode_parts(&p, &kf), EK_OK);
    assert_true(kf.empty_auth);
}

static void test_wrong_oid(void **state)
{
    (void)state;
    parts p;
    ek_keyfile kf;
    fixture_parts(&p);
    p.oid = OID_RSA;
    p.oid_len = sizeof(OID_RSA);
    assert_int_equal(decode_parts(&p, &kf), EK_ERR_INVALID);
    assert_true(tu_contains(ek_last_error(), "wrong type OID 1.2.840.113549.1.1.1"));
    p.oid = OID_IMPORTABLE;
    p.oid_len = sizeof(OID_IMPORTABLE);
    assert_int_equal(decode_parts(&p, &kf), EK_ERR_UNSUPPORTED);
    assert_true(tu_contains(ek_last_error(), "importable"));
}

static void test_policy_secret_refused(void **state)
{
    (void)state;
    parts p;
    ek_keyfile kf;
    fixture_parts(&p);
    p.policy = true;
    assert_int_equal(decode_parts(&p, &kf), EK_ERR_UNSUPPORTED);
    assert_true(tu_contains(ek_last_error(), "key files with policies are not supported"));
    fixture_parts(&p);
    p.auth_policy = true;
    assert_int_equal(decode_parts(&p, &kf), EK_ERR_UNSUPPORTED);
    assert_true(tu_contains(ek_last_error(), "policies"));
    fixture_parts(&p);
    p.secret = true;
    assert_int_equal(decode_parts(&p, &kf), EK_ERR_UNSUPPORTED);
    assert_true(tu_contains(ek_last_error(), "secret"));
    /* a description is harmless */
    fixture_parts(&p);
    p.description = true;
    assert_int_equal(decode_parts(&p, &kf), EK_OK);
}

static void test_parent_range(void **state)
{
    (void)state;
    parts p;
    ek_keyfile kf;
    fixture_parts(&p);
    static const struct {
        uint64_t v;
        ek_rc rc;
        uint32_t want;
    } cases[] = {
        {0, EK_OK, 0x40000001},          {0x40000001, EK_OK, 0x40000001},
        {0x81000000, EK_OK, 0x81000000}, {0x81FFFFFF, EK_OK, 0x81FFFFFF},
        {0x80000001, EK_ERR_INVALID, 0}, {0x82000000, EK_ERR_INVALID, 0},
        {0x4000000B, EK_ERR_INVALID, 0}, {0x181000001ull, EK_ERR_INVALID, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        p.parent = cases[i].v;
        assert_int_equal(decode_parts(&p, &kf), cases[i].rc);
        if (cases[i].rc == EK_OK)
            assert_int_equal(kf.parent, cases[i].want);
        else
            assert_true(tu_contains(ek_last_error(), "parent"));
    }
    p.parent_negative = true;
    assert_int_equal(decode_parts(&p, &kf), EK_ERR_INVALID);
    /* rsaParent TRUE under the owner hierarchy names a primary we do not make */
    p.parent_negative = false;
    p.parent = 0x40000001;
    p.rsa_parent = 0xff;
    assert_int_equal(decode_parts(&p, &kf), EK_ERR_UNSUPPORTED);
    p.parent = 0x81000001;
    assert_int_equal(decode_parts(&p, &kf), EK_OK);
}

static void test_bad_public_types(void **state)
{
    (void)state;
    parts p;
    ek_keyfile kf;
    fixture_parts(&p);
    TPM2B_PUBLIC pub = {0};
    pub.publicArea.type = TPM2_ALG_KEYEDHASH;
    pub.publicArea.nameAlg = TPM2_ALG_SHA256;
    pub.publicArea.parameters.keyedHashDetail.scheme.scheme = TPM2_ALG_NULL;
    p.pub.n = 0;
    assert_int_equal(Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, p.pub.b, sizeof(p.pub.b), &p.pub.n), 0);
    assert_int_equal(decode_parts(&p, &kf), EK_ERR_UNSUPPORTED);
    fixture_parts(&p);
    p.priv.n = 2; /* TPM2B_PRIVATE of size 0 */
    p.priv.b[0] = p.priv.b[1] = 0;
    assert_int_equal(decode_parts(&p, &kf), EK_ERR_INVALID);
}

static void test_pem_refusals(void **state)
{
    (void)state;
    ek_keyfile kf;
    const char *cert = "-----BEGIN CERTIFICATE-----\nMAA=\n-----END CERTIFICATE-----\n";
    assert_int_equal(ek_keyfile_decode_pem(cert, strlen(cert), &kf), EK_ERR_INVALID);
    assert_true(tu_contains(ek_last_error(), "TSS2 PRIVATE KEY"));
    const char *enc = "-----BEGIN TSS2 PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n"
                      "DEK-Info: AES-128-CBC,00000000000000000000000000000000\n\nMAA=\n"
                      "-----END TSS2 PRIVATE KEY-----\n";
    assert_int_not_equal(ek_keyfile_decode_pem(enc, strlen(enc), &kf), EK_OK);
    const char *junk = "-----BEGIN TSS2 PRIVATE KEY-----\nMAA=\n-----END TSS2 PRIVATE KEY-----\n";
    assert_int_equal(ek_keyfile_decode_pem(junk, strlen(junk), &kf), EK_ERR_INVALID);
    /* text around the block is fine (comments, a certificate after it) */
    size_t len;
    char *pem = (char *)tu_fixture("tpm2openssl-p256.pem", &len);
    char *wrapped = malloc(len + 200);
    snprintf(wrapped, len + 200, "my device key\n%s%s", pem, cert);
    assert_int_equal(ek_keyfile_decode_pem(wrapped, strlen(wrapped), &kf), EK_OK);
    free(wrapped);
    free(pem);
}

/* ---- ek_pubkey_from_tpmt ---- */

static void test_pubkey_from_tpmt(void **state)
{
    (void)state;
    TPMT_PUBLIC t = {0};
    ek_pubkey pub;
    t.type = TPM2_ALG_RSA;
    t.parameters.rsaDetail.keyBits = 2048;
    t.unique.rsa.size = 256;
    memset(t.unique.rsa.buffer, 0xab, 256);
    assert_int_equal(ek_pubkey_from_tpmt(&t, &pub), EK_OK);
    assert_int_equal(pub.e, 65537); /* exponent 0 means 2^16+1 */
    assert_int_equal(pub.n_len, 256);
    t.parameters.rsaDetail.exponent = 3;
    assert_int_equal(ek_pubkey_from_tpmt(&t, &pub), EK_OK);
    assert_int_equal(pub.e, 3);
    t.unique.rsa.size = 0;
    assert_int_equal(ek_pubkey_from_tpmt(&t, &pub), EK_ERR_INVALID);

    memset(&t, 0, sizeof(t));
    t.type = TPM2_ALG_ECC;
    t.parameters.eccDetail.curveID = TPM2_ECC_NIST_P384;
    t.unique.ecc.x.size = 47; /* a short coordinate is left-padded */
    memset(t.unique.ecc.x.buffer, 0x11, 47);
    t.unique.ecc.y.size = 48;
    memset(t.unique.ecc.y.buffer, 0x22, 48);
    assert_int_equal(ek_pubkey_from_tpmt(&t, &pub), EK_OK);
    assert_int_equal(pub.point_len, 97);
    assert_int_equal(pub.point[0], 0x04);
    assert_int_equal(pub.point[1], 0x00);
    assert_int_equal(pub.point[2], 0x11);
    assert_int_equal(pub.point[49], 0x22);
    t.unique.ecc.y.size = 49;
    assert_int_equal(ek_pubkey_from_tpmt(&t, &pub), EK_ERR_INVALID);
    t.unique.ecc.y.size = 48;
    t.parameters.eccDetail.curveID = TPM2_ECC_BN_P256;
    assert_int_equal(ek_pubkey_from_tpmt(&t, &pub), EK_ERR_UNSUPPORTED);
    t.type = TPM2_ALG_SYMCIPHER;
    assert_int_equal(ek_pubkey_from_tpmt(&t, &pub), EK_ERR_UNSUPPORTED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tpm2openssl_rsa_der),
        cmocka_unit_test(test_tpm2openssl_ec_pem),
        cmocka_unit_test(test_auth_and_persistent_parent),
        cmocka_unit_test(test_round_trip_bytes),
        cmocka_unit_test(test_round_trip_pem),
        cmocka_unit_test(test_truncated_and_garbage),
        cmocka_unit_test(test_builder_matches_fixture),
        cmocka_unit_test(test_empty_auth_absent_is_false),
        cmocka_unit_test(test_wrong_oid),
        cmocka_unit_test(test_policy_secret_refused),
        cmocka_unit_test(test_parent_range),
        cmocka_unit_test(test_bad_public_types),
        cmocka_unit_test(test_pem_refusals),
        cmocka_unit_test(test_pubkey_from_tpmt),
    };
    return cmocka_run_group_tests_name("keyfile", tests, NULL, NULL);
}
