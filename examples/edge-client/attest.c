/* edge-client: key attestation at enrollment (attest.h). Three TPM steps
 * through core: EK public + AK (CreatePrimary, Create), ActivateCredential
 * (AK and EK loaded, EK flushed after), Certify (device key, AK). The AK is
 * made for this enrollment and forgotten after it. */
#include "attest.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "ek_addr.h"
#include "ek_attest.h"
#include "enroll.h"

typedef struct blob {
    unsigned char *b;
    size_t n;
} blob;

static json_t *b64(const unsigned char *b, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    json_t *j = NULL;
    if (out) {
        EVP_EncodeBlock((unsigned char *)out, b, (int)n);
        j = json_string(out);
        free(out);
    }
    return j;
}

/* A base64 field of the hub's answer; -1 if missing or not base64. */
static int unb64(const json_t *r, const char *name, blob *out)
{
    const char *s = json_string_value(json_object_get(r, name));
    size_t n = s ? strlen(s) : 0;
    out->b = n && n % 4 == 0 ? malloc(n / 4 * 3) : NULL;
    if (!out->b || EVP_DecodeBlock(out->b, (const unsigned char *)s, (int)n) < 0) {
        fprintf(stderr, "edge-client: the hub's attestation challenge lacks a valid '%s'\n", name);
        free(out->b);
        out->b = NULL;
        return -1;
    }
    out->n = n / 4 * 3 - (s[n - 1] == '=') - (s[n - 2] == '=');
    return 0;
}

static int core_fail(const char *what)
{
    fprintf(stderr, "edge-client: attestation: %s: %s\n", what, ek_last_error());
    return -1;
}

/* Step 1: EK certificate and public area, a new AK, to attest/start. */
static json_t *start(const edge_config *c, const char *secret, ek_ek_kind *kind, ek_key **ak,
                     int *no_ek)
{
    blob cert = {0}, ekp = {0}, akp = {0};
    json_t *r = NULL;
    ek_rc rc = ek_ek_find(kind, &cert.b, &cert.n);
    *no_ek = rc == EK_ERR_NOT_FOUND;
    if (rc != EK_OK) {
        if (!*no_ek)
            core_fail("reading the EK certificate");
        return NULL;
    }
    if (ek_ek_public(*kind, &ekp.b, &ekp.n) != EK_OK)
        core_fail("the endorsement key");
    else if (ek_ak_create(ak) != EK_OK || ek_key_tpm_public(*ak, &akp.b, &akp.n) != EK_OK)
        core_fail("creating the attestation key");
    else {
        json_t *body = json_pack("{s:o, s:o, s:o}", "ekCert", b64(cert.b, cert.n), "ekPub",
                                 b64(ekp.b, ekp.n), "akPub", b64(akp.b, akp.n));
        r = edge_signed_call(c, "/api/v1/device/attest/start", body, secret, "attestation start");
        json_decref(body);
    }
    free(cert.b);
    free(ekp.b);
    free(akp.b);
    return r;
}

/* Steps 2 and 3: the secret back from the TPM, the device key certified. */
static int answer(const json_t *r, ek_ek_kind kind, ek_key *ak, const char *key_uri, json_t *body)
{
    blob cred = {0}, esec = {0}, nonce = {0}, sec = {0}, keyp = {0}, att = {0}, sig = {0};
    ek_key *key = NULL;
    int rc = -1;
    int bad = unb64(r, "credentialBlob", &cred) || unb64(r, "encryptedSecret", &esec) ||
              unb64(r, "nonce", &nonce);
    if (bad)
        rc = -1; /* printed by unb64 */
    else if (ek_ak_activate(ak, kind, cred.b, cred.n, esec.b, esec.n, &sec.b, &sec.n) != EK_OK)
        core_fail("activating the hub's credential");
    else if (ek_key_open(key_uri, &key) != EK_OK || ek_key_tpm_public(key, &keyp.b, &keyp.n))
        core_fail("the device key");
    else if (ek_ak_certify(ak, key, nonce.b, nonce.n, &att.b, &att.n, &sig.b, &sig.n) != EK_OK)
        core_fail("certifying the device key");
    else {
        json_object_set(body, "challengeId", json_object_get(r, "challengeId"));
        json_object_set_new(body, "activationSecret", b64(sec.b, sec.n));
        json_object_set_new(body, "keyPub", b64(keyp.b, keyp.n));
        json_object_set_new(body, "certifyInfo", b64(att.b, att.n));
        json_object_set_new(body, "certifySignature", b64(sig.b, sig.n));
        rc = 0;
    }
    if (sec.b)
        OPENSSL_cleanse(sec.b, sec.n);
    blob *all[] = {&cred, &esec, &nonce, &sec, &keyp, &att, &sig};
    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        free(all[i]->b);
    ek_key_free(key);
    return rc;
}

int edge_attest(const edge_config *c, const char *key_uri, const char *secret, json_t *body)
{
    ek_ek_kind kind = 0;
    ek_key *ak = NULL;
    int no_ek = 0;
    json_t *r = start(c, secret, &kind, &ak, &no_ek);
    /* the hub does not attest this product (or at all): no challenge */
    int off = r && !json_object_get(r, "challengeId");
    int rc = no_ek || off ? 1 : r ? answer(r, kind, ak, key_uri, body) : -1;
    if (no_ek)
        fprintf(stderr, "edge-client: this TPM has no EK certificate: enrolling without key "
                        "attestation\n");
    else if (off)
        fprintf(stderr, "edge-client: the hub does not attest this product's keys: enrolling "
                        "without key attestation\n");
    else if (rc == 0)
        fprintf(stderr, "edge-client: key attestation: the TPM proved the device key (%s EK)\n",
                ek_ek_kind_name(kind));
    json_decref(r);
    ek_key_free(ak);
    return rc;
}
