/* libFuzzer target: the hub's parser and checks of an attestation request
 * (attest_tpm.c, attest_check.c, attest_cred.c) on arbitrary TPM2B
 * structures, as POST .../attest/start and .../cert/apply feed them after
 * base64. Input: up to five records [u16 big-endian length][bytes]: ekPub,
 * akPub, keyPub (TPM2B_PUBLIC), certifyInfo (TPM2B_ATTEST), certifySignature
 * (TPMT_SIGNATURE). Seeds: fuzz-seeds/attest (a real swtpm's, written by
 * attest-cred with EDGEKEY_ATTEST_SEED_OUT, and damaged copies). */
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include "attest.h"

typedef struct rec {
    const uint8_t *b;
    size_t n;
} rec;

static size_t split(const uint8_t *d, size_t size, rec *r, size_t max)
{
    size_t k = 0;
    while (k < max && size >= 2) {
        size_t n = (size_t)d[0] << 8 | d[1];
        d += 2;
        size -= 2;
        if (n > size)
            n = size;
        r[k].b = d;
        r[k++].n = n;
        d += n;
        size -= n;
    }
    return k;
}

/* What the hub does with parsed public areas: names, keys, the checks. */
static void use_public(const TPMT_PUBLIC *p)
{
    TPM2B_NAME name;
    EVP_PKEY *k = NULL;
    hub_tpm_name(p, &name);
    hub_att_check_ak(p);
    if (hub_tpm_pkey(p, &k) == HUB_ATT_OK) {
        char h[65];
        hub_ek_hash(k, h);
        EVP_PKEY_free(k);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static EVP_PKEY *csr;
    static const unsigned char nonce[32];
    rec r[5] = {{0}};
    TPM2B_PUBLIC pub[3];
    TPM2B_ATTEST att;
    TPMT_SIGNATURE sig;
    int ok[3] = {0};
    if (!csr)
        csr = EVP_EC_gen("P-256");
    size_t n = split(data, size, r, 5);
    for (size_t i = 0; i < 3 && i < n; i++)
        if ((ok[i] = hub_att_public(r[i].b, r[i].n, "fuzz", &pub[i]) == HUB_ATT_OK))
            use_public(&pub[i].publicArea);
    if (ok[0]) {
        static const unsigned char secret[32] = {1};
        TPM2B_NAME name = {.size = 34};
        TPM2B_ID_OBJECT cred;
        TPM2B_ENCRYPTED_SECRET esec;
        hub_make_credential(&pub[0].publicArea, &name, secret, sizeof(secret), &cred, &esec);
    }
    if (n == 5 && ok[1] && ok[2] && hub_att_attest(r[3].b, r[3].n, &att) == HUB_ATT_OK &&
        hub_att_signature(r[4].b, r[4].n, &sig) == HUB_ATT_OK)
        hub_att_check_certify(&pub[1].publicArea, &att, &sig, nonce, sizeof(nonce),
                              &pub[2].publicArea, csr);
    return 0;
}
