/* The hub's attestation crypto against a real TPM (issue 13, step 2), on a
 * swtpm with EK certificates (tpm-env.sh, EDGEKEY_TEST_EKCERT=1):
 *  - the hub's software MakeCredential (attest_cred.c), for the RSA EK and
 *    for ECC P-256 and P-384 EKs, is accepted by the TPM's ActivateCredential and
 *    gives back the secret; one made for another key's name is refused;
 *  - the checks (attest_check.c) pass the genuine device and refuse, each
 *    with its own code: untrusted EK roots, an EK public area that is not
 *    the certificate's, an AK without restricted or with decrypt, a
 *    certification over another nonce, over another key (key swap), a CSR
 *    key that is not the attested key, a signature by another AK. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <tss2/tss2_mu.h>

#include "attest.h"
#include "ek_attest.h"
#include "hub_check.h"
#include "hub_util.h"

static int failures;
#define REQUIRE(c, ...)                                                                            \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "FATAL %s:%d: %s: %s\n", __FILE__, __LINE__, #c, ek_last_error());     \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)
#define EXPECT(call, code)                                                                         \
    do {                                                                                           \
        int r_ = (call);                                                                           \
        CHECK(r_ == (code), "got %s (%s), want %s", hub_att_rc_name(r_), hub_err(),                \
              hub_att_rc_name(code));                                                              \
    } while (0)

typedef struct device {
    ek_ek_kind kind;
    X509 *cert;
    TPM2B_PUBLIC ek, ak, key;
    ek_key *akk, *keyk;
} device;

static TPM2B_PUBLIC pub_of(const unsigned char *b, size_t n)
{
    TPM2B_PUBLIC p;
    REQUIRE(hub_att_public(b, n, "test public", &p) == HUB_ATT_OK);
    return p;
}

static TPM2B_PUBLIC key_pub(const ek_key *k)
{
    unsigned char *b = NULL;
    size_t n = 0;
    REQUIRE(ek_key_tpm_public(k, &b, &n) == EK_OK);
    TPM2B_PUBLIC p = pub_of(b, n);
    free(b);
    return p;
}

static void device_init(device *d)
{
    unsigned char *der = NULL, *b = NULL;
    size_t n = 0;
    REQUIRE(ek_ek_find(&d->kind, &der, &n) == EK_OK);
    const unsigned char *p = der;
    d->cert = d2i_X509(NULL, &p, (long)n);
    REQUIRE(d->cert);
    free(der);
    REQUIRE(ek_ek_public(d->kind, &b, &n) == EK_OK);
    d->ek = pub_of(b, n);
    free(b);
    REQUIRE(ek_ak_create(&d->akk) == EK_OK);
    d->ak = key_pub(d->akk);
    ek_keygen_spec spec = {.alg = EK_ALG_EC, .curve = EK_CURVE_P256};
    REQUIRE(ek_key_generate(&spec, &d->keyk) == EK_OK);
    d->key = key_pub(d->keyk);
}

static X509_STORE *roots_store(const char *path)
{
    X509_STORE *st = X509_STORE_new();
    REQUIRE(st && (!path || X509_STORE_load_file(st, path) == 1));
    return st;
}

/* Software credential -> device's TPM; returns the ActivateCredential rc. */
static ek_rc round_trip(device *d, const TPM2B_NAME *name, unsigned char *secret, bool *same)
{
    TPM2B_ID_OBJECT cred;
    TPM2B_ENCRYPTED_SECRET esec;
    unsigned char cb[sizeof(cred)], eb[sizeof(esec)], *got = NULL;
    size_t cl = 0, el = 0, gl = 0;
    REQUIRE(RAND_bytes(secret, 32) == 1);
    int r = hub_make_credential(&d->ek.publicArea, name, secret, 32, &cred, &esec);
    CHECK(r == HUB_ATT_OK, "make credential: %s", hub_err());
    Tss2_MU_TPM2B_ID_OBJECT_Marshal(&cred, cb, sizeof(cb), &cl);
    Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(&esec, eb, sizeof(eb), &el);
    ek_rc rc = ek_ak_activate(d->akk, d->kind, cb, cl, eb, el, &got, &gl);
    *same = rc == EK_OK && gl == 32 && memcmp(got, secret, 32) == 0;
    free(got);
    return rc;
}

static void test_credential(device *d)
{
    TPM2B_NAME name, other;
    unsigned char secret[32];
    bool same = false;
    REQUIRE(hub_tpm_name(&d->ak.publicArea, &name) == HUB_ATT_OK);
    for (int i = 0; i < 3; i++) { /* fresh seeds each time */
        ek_rc rc = round_trip(d, &name, secret, &same);
        CHECK(rc == EK_OK && same, "TPM activates the software credential: %s", ek_last_error());
    }
    REQUIRE(hub_tpm_name(&d->key.publicArea, &other) == HUB_ATT_OK);
    CHECK(round_trip(d, &other, secret, &same) != EK_OK, "credential for another name refused");
}

/* An ECC EK: P-256 (template L-2; swtpm writes no certificate for it, the
 * credential needs none) or P-384 (H-3): ECDH + SSKDF seed, activated by
 * the TPM. */
static void test_credential_ecc(device *d, ek_ek_kind kind)
{
    unsigned char *b = NULL;
    size_t n = 0;
    if (ek_ek_public(kind, &b, &n) != EK_OK) {
        fprintf(stderr, "FATAL: P-256 EK: %s\n", ek_last_error());
        exit(1);
    }
    device e = *d;
    e.ek = pub_of(b, n);
    e.kind = kind;
    free(b);
    TPM2B_NAME name, other;
    unsigned char secret[32];
    bool same = false;
    REQUIRE(hub_tpm_name(&d->ak.publicArea, &name) == HUB_ATT_OK);
    for (int i = 0; i < 3; i++) {
        ek_rc rc = round_trip(&e, &name, secret, &same);
        CHECK(rc == EK_OK && same, "TPM activates the ECC software credential: %s",
              ek_last_error());
    }
    REQUIRE(hub_tpm_name(&d->key.publicArea, &other) == HUB_ATT_OK);
    CHECK(round_trip(&e, &other, secret, &same) != EK_OK, "ECC: credential for another name");
}

static void test_ek_ak(device *d)
{
    X509_STORE *good = roots_store(getenv("EDGEKEY_TEST_EK_ROOTS"));
    X509_STORE *empty = roots_store(NULL);
    EXPECT(hub_att_check_ek(good, d->cert, &d->ek.publicArea), HUB_ATT_OK);
    EXPECT(hub_att_check_ek(empty, d->cert, &d->ek.publicArea), HUB_ATT_EK_UNTRUSTED);
    TPMT_PUBLIC ek2 = d->ek.publicArea;
    ek2.unique.rsa.buffer[17] ^= 0x40; /* another RSA key, same template */
    EXPECT(hub_att_check_ek(good, d->cert, &ek2), HUB_ATT_EK_MISMATCH);
    EXPECT(hub_att_check_ek(good, d->cert, &d->ak.publicArea), HUB_ATT_EK_MISMATCH);
    EXPECT(hub_att_check_ak(&d->ak.publicArea), HUB_ATT_OK);
    EXPECT(hub_att_check_ak(&d->key.publicArea), HUB_ATT_AK_ATTRS); /* not restricted */
    TPMT_PUBLIC ak2 = d->ak.publicArea;
    ak2.objectAttributes |= TPMA_OBJECT_DECRYPT;
    EXPECT(hub_att_check_ak(&ak2), HUB_ATT_AK_ATTRS);
    X509_STORE_free(good);
    X509_STORE_free(empty);
}

static void certify(device *d, ek_key *ak, ek_key *key, const unsigned char *nonce,
                    TPM2B_ATTEST *att, TPMT_SIGNATURE *sig)
{
    unsigned char *a = NULL, *s = NULL;
    size_t al = 0, sl = 0;
    (void)d;
    REQUIRE(ek_ak_certify(ak, key, nonce, 32, &a, &al, &s, &sl) == EK_OK);
    REQUIRE(hub_att_attest(a, al, att) == HUB_ATT_OK && hub_att_signature(s, sl, sig) == 0);
    free(a);
    free(s);
}

/* EDGEKEY_ATTEST_SEED_OUT=FILE: this genuine request as a fuzz seed for
 * fuzz_attest.c (records [u16 length][bytes]). */
static void write_seed(const device *d, const TPM2B_ATTEST *att, const TPMT_SIGNATURE *sig)
{
    const char *path = getenv("EDGEKEY_ATTEST_SEED_OUT");
    FILE *f = path ? fopen(path, "wb") : NULL;
    if (!f)
        return;
    unsigned char b[3][sizeof(TPM2B_PUBLIC)], a[sizeof(*att)], s[sizeof(*sig)];
    size_t n[5] = {0};
    const TPM2B_PUBLIC *p[3] = {&d->ek, &d->ak, &d->key};
    for (int i = 0; i < 3; i++)
        Tss2_MU_TPM2B_PUBLIC_Marshal(p[i], b[i], sizeof(b[i]), &n[i]);
    Tss2_MU_TPM2B_ATTEST_Marshal(att, a, sizeof(a), &n[3]);
    Tss2_MU_TPMT_SIGNATURE_Marshal(sig, s, sizeof(s), &n[4]);
    const unsigned char *all[5] = {b[0], b[1], b[2], a, s};
    for (int i = 0; i < 5; i++) {
        unsigned char len[2] = {(unsigned char)(n[i] >> 8), (unsigned char)n[i]};
        fwrite(len, 1, 2, f);
        fwrite(all[i], 1, n[i], f);
    }
    fclose(f);
}

static void test_certify(device *d)
{
    unsigned char nonce[32], other[32];
    TPM2B_ATTEST att;
    TPMT_SIGNATURE sig;
    EVP_PKEY *csr = NULL, *soft = EVP_EC_gen("P-256");
    REQUIRE(RAND_bytes(nonce, 32) == 1 && RAND_bytes(other, 32) == 1 && soft);
    REQUIRE(hub_tpm_pkey(&d->key.publicArea, &csr) == HUB_ATT_OK);
    const TPMT_PUBLIC *ak = &d->ak.publicArea, *key = &d->key.publicArea;
    certify(d, d->akk, d->keyk, nonce, &att, &sig);
    EXPECT(hub_att_check_certify(ak, &att, &sig, nonce, 32, key, csr), HUB_ATT_OK);
    write_seed(d, &att, &sig);
    EXPECT(hub_att_check_certify(ak, &att, &sig, other, 32, key, csr), HUB_ATT_QUOTE);
    EXPECT(hub_att_check_certify(ak, &att, &sig, nonce, 32, key, soft), HUB_ATT_KEY_SWAP);
    /* the AK certifies a second TPM key; the device presents the first */
    ek_keygen_spec spec = {.alg = EK_ALG_EC, .curve = EK_CURVE_P256};
    ek_key *k2 = NULL, *ak2 = NULL;
    REQUIRE(ek_key_generate(&spec, &k2) == EK_OK && ek_ak_create(&ak2) == EK_OK);
    certify(d, d->akk, k2, nonce, &att, &sig);
    EXPECT(hub_att_check_certify(ak, &att, &sig, nonce, 32, key, csr), HUB_ATT_KEY_SWAP);
    /* signed by another AK than the one the credential went to */
    certify(d, ak2, d->keyk, nonce, &att, &sig);
    EXPECT(hub_att_check_certify(ak, &att, &sig, nonce, 32, key, csr), HUB_ATT_SIGNATURE);
    ek_key_free(k2);
    ek_key_free(ak2);
    EVP_PKEY_free(csr);
    EVP_PKEY_free(soft);
}

int main(void)
{
    device d = {0};
    device_init(&d);
    test_credential(&d);
    test_credential_ecc(&d, EK_EK_P256);
    test_credential_ecc(&d, EK_EK_P384); /* SHA-384, AES-256, the H-3 policy */
    test_ek_ak(&d);
    test_certify(&d);
    X509_free(d.cert);
    ek_key_free(d.akk);
    ek_key_free(d.keyk);
    if (failures) {
        fprintf(stderr, "attest-cred: %d check(s) failed\n", failures);
        return 1;
    }
    printf("attest-cred: all checks passed\n");
    return 0;
}
