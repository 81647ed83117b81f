/* Key attestation through the hub's operations (issue 13, acceptance 1-2):
 * the device side on a swtpm with an EK certificate (core, ek_attest.h),
 * the hub side as `serve` runs it (hub_op_attest_start, hub_op_apply) on a
 * real registry and CA. Each refusal has its own code and stores nothing
 * (no certificate, no EK binding); the genuine device gets a certificate
 * with the TCG policies and its EK recorded. Run by attest-ops.sh, which
 * makes the hub (file keys, ek_roots = the test maker CA), the TPM keys k1,
 * k2 and their CSRs:  hub-test-attest-ops HUB_CONF TMPDIR */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <tss2/tss2_mu.h>

#include "ek_addr.h"
#include "ek_attest.h"
#include "hub_check.h"
#include "hub_util.h"
#include "ops.h"
#include "sign_check.h"

static int failures, seq;
static hub_ctx ctx;
static const char *tmp;
#define DIE(...)                                                                                   \
    do {                                                                                           \
        fprintf(stderr, "FATAL %s:%d: ", __FILE__, __LINE__);                                      \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fprintf(stderr, " (%s | %s)\n", hub_err(), ek_last_error());                               \
        exit(1);                                                                                   \
    } while (0)

typedef struct blob {
    unsigned char b[4096];
    size_t n;
} blob;

static json_t *b64(const unsigned char *b, size_t n)
{
    char out[6000];
    EVP_EncodeBlock((unsigned char *)out, b, (int)n);
    return json_string(out);
}

static void unb64(const json_t *o, const char *name, blob *out)
{
    const char *s = json_string_value(json_object_get(o, name));
    size_t n = s ? strlen(s) : 0;
    if (!s || n < 4 || EVP_DecodeBlock(out->b, (const unsigned char *)s, (int)n) < 0)
        DIE("reply lacks %s", name);
    out->n = n / 4 * 3 - (s[n - 1] == '=') - (s[n - 2] == '=');
}

static void take(unsigned char *b, size_t n, blob *out)
{
    memcpy(out->b, b, n);
    out->n = n;
    free(b);
}

/* productKey, deviceKey, timestamp, a distinct seq, sign with secret. */
static json_t *signed_req(json_t *p, const char *dk, const char *secret)
{
    char ts[32], sig[65];
    snprintf(ts, sizeof(ts), "%lld", (long long)hub_now_ms());
    json_object_set_new(p, "productKey", json_string("prodA"));
    json_object_set_new(p, "deviceKey", json_string(dk));
    json_object_set_new(p, "timestamp", json_string(ts));
    json_object_set_new(p, "seq", json_integer(++seq));
    if (hub_sign_params(p, secret, sig) != 0)
        DIE("sign");
    json_object_set_new(p, "sign", json_string(sig));
    return p;
}

static char *activate(const char *dk, const char *psecret)
{
    json_t *data = NULL;
    const char *ecode = NULL;
    json_t *p = signed_req(json_object(), dk, psecret);
    if (hub_op_activate(&ctx, p, &data, &ecode) != 0)
        DIE("activate %s: %s", dk, ecode);
    char *s = strdup(json_string_value(json_object_get(data, "deviceSecret")));
    json_decref(p);
    json_decref(data);
    return s;
}

typedef struct dev {
    const char *dk;
    char *secret;
    ek_ek_kind kind;
    blob cert, ekpub, akpub;
    ek_key *ak;
} dev;

static void dev_init(dev *d, const char *dk, const char *psecret)
{
    unsigned char *b = NULL;
    size_t n = 0;
    d->dk = dk;
    d->secret = activate(dk, psecret);
    if (ek_ek_find(&d->kind, &b, &n) != EK_OK)
        DIE("EK certificate");
    take(b, n, &d->cert);
    if (ek_ek_public(d->kind, &b, &n) != EK_OK)
        DIE("EK public");
    take(b, n, &d->ekpub);
    if (ek_ak_create(&d->ak) != EK_OK || ek_key_tpm_public(d->ak, &b, &n) != EK_OK)
        DIE("AK");
    take(b, n, &d->akpub);
}

/* attest/start with the given public areas; the status, *data the reply. */
static int start(dev *d, const blob *ekpub, const blob *akpub, json_t **data, const char **ecode)
{
    json_t *p = json_pack("{s:o, s:o, s:o}", "ekCert", b64(d->cert.b, d->cert.n), "ekPub",
                          b64(ekpub->b, ekpub->n), "akPub", b64(akpub->b, akpub->n));
    *data = NULL;
    *ecode = "ok";
    int st = hub_op_attest_start(&ctx, signed_req(p, d->dk, d->secret), data, ecode);
    json_decref(p);
    return st;
}

typedef struct answer {
    char id[64];
    blob secret, keypub, att, sig, nonce;
} answer;

/* A genuine challenge, activated in the TPM, the key certified. */
static void challenge(dev *d, ek_key *key, answer *a)
{
    json_t *data;
    const char *ecode;
    blob cred, esec;
    unsigned char *b = NULL, *s = NULL;
    size_t n = 0, sn = 0;
    if (start(d, &d->ekpub, &d->akpub, &data, &ecode) != 0)
        DIE("attest start: %s", ecode);
    snprintf(a->id, sizeof(a->id), "%s", json_string_value(json_object_get(data, "challengeId")));
    unb64(data, "credentialBlob", &cred);
    unb64(data, "encryptedSecret", &esec);
    unb64(data, "nonce", &a->nonce);
    json_decref(data);
    if (ek_ak_activate(d->ak, d->kind, cred.b, cred.n, esec.b, esec.n, &b, &n) != EK_OK)
        DIE("activate credential");
    take(b, n, &a->secret);
    if (ek_key_tpm_public(key, &b, &n) != EK_OK)
        DIE("key public");
    take(b, n, &a->keypub);
    if (ek_ak_certify(d->ak, key, a->nonce.b, a->nonce.n, &b, &n, &s, &sn) != EK_OK)
        DIE("certify");
    take(b, n, &a->att);
    take(s, sn, &a->sig);
}

static char *read_csr(const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.csr", tmp, name);
    char *pem = NULL;
    if (hub_read_file(path, &pem, NULL) != 0)
        DIE("%s", path);
    return pem;
}

/* apply with (a != NULL) or without attestation; status, ecode, *pem. */
static int apply(dev *d, const char *csr, const answer *a, const char **ecode, char **pem)
{
    json_t *data = NULL, *p = json_pack("{s:s}", "csr", csr);
    if (a) {
        json_object_set_new(p, "challengeId", json_string(a->id));
        json_object_set_new(p, "activationSecret", b64(a->secret.b, a->secret.n));
        json_object_set_new(p, "keyPub", b64(a->keypub.b, a->keypub.n));
        json_object_set_new(p, "certifyInfo", b64(a->att.b, a->att.n));
        json_object_set_new(p, "certifySignature", b64(a->sig.b, a->sig.n));
    }
    *ecode = "ok";
    int st = hub_op_apply(&ctx, signed_req(p, d->dk, d->secret), &data, ecode);
    if (pem)
        *pem = st ? NULL : strdup(json_string_value(json_object_get(data, "cert")));
    json_decref(p);
    json_decref(data);
    return st;
}

static int count_cert(const hub_cert *c, void *arg)
{
    (void)c;
    ++*(int *)arg;
    return 0;
}

/* Nothing stored for dk: no certificate, no EK binding. */
static void nothing_stored(const char *dk, const char *what)
{
    int n = 0;
    char ek[65] = "x";
    bool att = true;
    reg_cert_list(ctx.reg, dk, false, count_cert, &n);
    reg_device_ek_get(ctx.reg, dk, ek, &att);
    CHECK(n == 0 && ek[0] == '\0' && !att, "%s: stored %d cert(s), ek '%s'", what, n, ek);
}

#define REFUSED(call, code, what)                                                                  \
    do {                                                                                           \
        const char *ec_ = NULL;                                                                    \
        int st_ = call;                                                                            \
        CHECK(st_ != 0 && strcmp(ec_, code) == 0, "%s: status %d code %s (%s), want %s", what,     \
              st_, ec_ ? ec_ : "-", hub_err(), code);                                              \
        nothing_stored(d->dk, what);                                                               \
    } while (0)

static void refusals_start(dev *d)
{
    json_t *data = NULL;
    char saved[HUB_PATH_MAX], other[600];
    /* a hub without ek_roots attests nothing: it says so, no challenge */
    snprintf(saved, sizeof(saved), "%s", ctx.cfg.ek_roots);
    ctx.cfg.ek_roots[0] = '\0';
    const char *ec0 = NULL;
    int st0 = start(d, &d->ekpub, &d->akpub, &data, &ec0);
    CHECK(st0 == 0 && data && !json_object_get(data, "challengeId") &&
              strcmp(json_string_value(json_object_get(data, "attestation")), "off") == 0,
          "no ek_roots: status %d (%s)", st0, hub_err());
    json_decref(data);
    data = NULL;
    snprintf(ctx.cfg.ek_roots, sizeof(ctx.cfg.ek_roots), "%s", saved);
    /* an EK certificate from a maker the hub does not trust */
    snprintf(saved, sizeof(saved), "%s", ctx.cfg.ek_roots);
    snprintf(other, sizeof(other), "%s/other-ca.pem", tmp);
    snprintf(ctx.cfg.ek_roots, sizeof(ctx.cfg.ek_roots), "%s", other);
    REFUSED(start(d, &d->ekpub, &d->akpub, &data, &ec_), "attest_ek_untrusted", "untrusted CA");
    snprintf(ctx.cfg.ek_roots, sizeof(ctx.cfg.ek_roots), "%s", saved);
    /* an EK public key that is not the certificate's (a byte of the modulus) */
    blob ek2 = d->ekpub;
    ek2.b[ek2.n - 100] ^= 0x10;
    REFUSED(start(d, &ek2, &d->akpub, &data, &ec_), "attest_ek_mismatch", "EK mismatch");
    /* an AK without restricted: the device key's public area */
    ek_key *k1 = NULL;
    unsigned char *b = NULL;
    size_t n = 0;
    blob kp;
    if (ek_key_open("pkcs11:token=edge;object=k1", &k1) != EK_OK ||
        ek_key_tpm_public(k1, &b, &n) != EK_OK)
        DIE("k1");
    take(b, n, &kp);
    REFUSED(start(d, &d->ekpub, &kp, &data, &ec_), "attest_ak_attributes", "AK unrestricted");
    /* an AK with decrypt: the attribute word of the marshalled area */
    /* zeroed: tss2-mu refuses to unmarshal a TPM2B_PUBLIC into one whose
     * size field is not 0 (an uninitialised one failed at random) */
    TPM2B_PUBLIC ak = {0};
    size_t off = 0;
    blob ak2;
    ak2.n = 0;
    if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(d->akpub.b, d->akpub.n, &off, &ak) != TSS2_RC_SUCCESS)
        DIE("unmarshal the AK's public area");
    ak.publicArea.objectAttributes |= TPMA_OBJECT_DECRYPT;
    ak.size = 0; /* the marshaller computes it */
    if (Tss2_MU_TPM2B_PUBLIC_Marshal(&ak, ak2.b, sizeof(ak2.b), &ak2.n) != TSS2_RC_SUCCESS)
        DIE("marshal the AK's public area with decrypt");
    REFUSED(start(d, &d->ekpub, &ak2, &data, &ec_), "attest_ak_attributes", "AK decrypt");
    ek_key_free(k1);
}

static void refusals_apply(dev *d, ek_key *k1, ek_key *k2, const char *csr1)
{
    answer a = {0}, b = {0};
    char *soft = read_csr("soft");
    /* the original attack: a software key's CSR, no attestation, under required */
    REFUSED(apply(d, soft, NULL, &ec_, NULL), "attest_required", "software key CSR");
    /* a TPM key's CSR without attestation */
    REFUSED(apply(d, csr1, NULL, &ec_, NULL), "attest_required", "no attestation");
    /* a genuine attestation of k1 presented with the software key's CSR */
    challenge(d, k1, &a);
    REFUSED(apply(d, soft, &a, &ec_, NULL), "attest_key_swap", "software CSR, TPM attestation");
    free(soft);
    /* a wrong activation secret; then the right one on the used challenge */
    challenge(d, k1, &a);
    answer wrong = a;
    RAND_bytes(wrong.secret.b, (int)wrong.secret.n);
    REFUSED(apply(d, csr1, &wrong, &ec_, NULL), "attest_secret", "wrong secret");
    REFUSED(apply(d, csr1, &a, &ec_, NULL), "attest_challenge_unknown", "reused challenge");
    /* key swap: Certify over k2, the CSR (and keyPub) of k1 */
    challenge(d, k2, &a);
    blob k1pub;
    unsigned char *kb = NULL;
    size_t kn = 0;
    if (ek_key_tpm_public(k1, &kb, &kn) != EK_OK)
        DIE("k1 public");
    take(kb, kn, &k1pub);
    a.keypub = k1pub;
    REFUSED(apply(d, csr1, &a, &ec_, NULL), "attest_key_swap", "key swap (certify)");
    /* key swap: Certify and keyPub of k2, the CSR of k1 */
    challenge(d, k2, &a);
    REFUSED(apply(d, csr1, &a, &ec_, NULL), "attest_key_swap", "key swap (CSR)");
    /* a replayed certification: challenge A's Certify on challenge B */
    challenge(d, k1, &a);
    challenge(d, k1, &b);
    b.att = a.att;
    b.sig = a.sig;
    REFUSED(apply(d, csr1, &b, &ec_, NULL), "attest_nonce", "replayed nonce");
}

static bool has_policies(const char *pem)
{
    BIO *bio = BIO_new_mem_buf(pem, -1);
    X509 *x = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    CERTIFICATEPOLICIES *pol = x ? X509_get_ext_d2i(x, NID_certificate_policies, NULL, NULL) : NULL;
    char a[64] = "", b[64] = "";
    if (pol && sk_POLICYINFO_num(pol) == 2) {
        OBJ_obj2txt(a, sizeof(a), sk_POLICYINFO_value(pol, 0)->policyid, 1);
        OBJ_obj2txt(b, sizeof(b), sk_POLICYINFO_value(pol, 1)->policyid, 1);
    }
    CERTIFICATEPOLICIES_free(pol);
    X509_free(x);
    BIO_free(bio);
    return strcmp(a, "2.23.133.11.1.1") == 0 && strcmp(b, "2.23.133.11.1.2") == 0;
}

static void genuine(dev *d, ek_key *k1, const char *csr1)
{
    answer a = {0};
    const char *ec = NULL;
    char *pem = NULL, ek[65] = "";
    bool att = false;
    challenge(d, k1, &a);
    int st = apply(d, csr1, &a, &ec, &pem);
    CHECK(st == 0, "genuine: status %d %s (%s)", st, ec, hub_err());
    CHECK(pem && has_policies(pem), "genuine: certificate policies");
    reg_device_ek_get(ctx.reg, d->dk, ek, &att);
    CHECK(strlen(ek) == 64 && att, "genuine: EK hash '%s' attested %d", ek, att);
    printf("EK %s\n", ek);
    free(pem);
}

int main(int argc, char **argv)
{
    if (argc != 3)
        DIE("usage: hub-test-attest-ops HUB_CONF TMPDIR");
    tmp = argv[2];
    if (hub_ctx_open(argv[1], true, &ctx) != 0)
        DIE("hub ctx");
    hub_product prod;
    const char *ecode = NULL;
    if (hub_op_product_add(&ctx, "prodA", HUB_KT_EC | HUB_KT_RSA, 30, true, &prod, &ecode) ||
        hub_op_product_attestation(&ctx, "prodA", HUB_ATTEST_REQUIRED, &ecode) ||
        hub_op_device_add(&ctx, "prodA", "SN-1", &ecode) ||
        hub_op_device_add(&ctx, "prodA", "SN-2", &ecode))
        DIE("product/devices: %s", ecode);
    dev d1 = {0}, d2 = {0}, *d = &d1;
    dev_init(&d1, "SN-1", prod.secret);
    ek_key *k1 = NULL, *k2 = NULL;
    if (ek_key_open("pkcs11:token=edge;object=k1", &k1) != EK_OK ||
        ek_key_open("pkcs11:token=edge;object=k2", &k2) != EK_OK)
        DIE("keys");
    char *csr1 = read_csr("k1"), *csr2 = read_csr("k2");
    refusals_start(d);
    refusals_apply(d, k1, k2, csr1);
    genuine(d, k1, csr1);
    /* the same EK (the same TPM) on a second serial number */
    dev_init(&d2, "SN-2", prod.secret);
    d = &d2;
    json_t *data = NULL;
    REFUSED(start(d, &d->ekpub, &d->akpub, &data, &ec_), "attest_ek_bound", "same EK, SN-2");
    /* the operator's device reset (re-activation) keeps SN-1's EK binding */
    int revoked = 0;
    char ek[65] = "";
    bool att = false;
    CHECK(hub_op_device_reset(&ctx, "SN-1", &revoked, &ecode) == 0, "device reset: %s", hub_err());
    reg_device_ek_get(ctx.reg, "SN-1", ek, &att);
    CHECK(strlen(ek) == 64, "device reset dropped the EK binding");
    /* after an admin reset of SN-1's binding, SN-2 may take the TPM */
    CHECK(hub_op_device_ek_reset(&ctx, "SN-1", &ecode) == 0, "ek-reset: %s", hub_err());
    CHECK(start(d, &d->ekpub, &d->akpub, &data, &ecode) == 0, "after ek-reset: %s", hub_err());
    json_decref(data);
    /* a device bound to another TPM (its EK hash stands for the old TPM) that
     * comes back with this one: refused until an admin resets the binding */
    memset(ek, 'A', 64);
    ek[64] = '\0';
    CHECK(reg_device_ek_set(ctx.reg, "SN-2", ek, false) == 0, "bind SN-2: %s", hub_err());
    const char *ec2 = NULL;
    int st2 = start(d, &d->ekpub, &d->akpub, &data, &ec2);
    CHECK(st2 != 0 && strcmp(ec2, "attest_ek_changed") == 0, "changed EK: %d %s (%s)", st2,
          ec2 ? ec2 : "-", hub_err());
    free(csr1);
    free(csr2);
    ek_key_free(k1);
    ek_key_free(k2);
    ek_key_free(d1.ak);
    ek_key_free(d2.ak);
    free(d1.secret);
    free(d2.secret);
    hub_ctx_close(&ctx);
    if (failures) {
        fprintf(stderr, "attest-ops: %d check(s) failed\n", failures);
        return 1;
    }
    printf("attest-ops: all checks passed\n");
    return 0;
}
