/* Unit-test stand-in for the TPM side of ek_key.h; see stub_key.h. */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/rand.h>

#include "ek_log.h"
#include "ek_token.h"
#include "stub_key.h"

struct ek_key {
    int refs;
    bool has_blob;
    ek_keyfile kf;
    uint32_t handle;
    ek_pubkey pub;
    unsigned char auth[128];
    size_t auth_len;
};

#define STUB_MAX_HANDLES 16
static struct {
    uint32_t handle;
    ek_key *key;
    bool evicted;
} handles[STUB_MAX_HANDLES];

static ek_key *key_from_kf(const ek_keyfile *kf)
{
    ek_key *k = calloc(1, sizeof(*k));
    if (!k)
        return NULL;
    k->refs = 1;
    k->has_blob = true;
    k->kf = *kf;
    if (ek_pubkey_from_tpmt(&kf->pub.publicArea, &k->pub) != EK_OK) {
        free(k);
        return NULL;
    }
    return k;
}

/* A TSS2-file-like blob: real public area, fake private bytes. */
static void fake_kf(ek_keyfile *kf, TPMI_ALG_PUBLIC type)
{
    memset(kf, 0, sizeof(*kf));
    kf->empty_auth = true;
    kf->parent = TPM2_RH_OWNER;
    kf->pub.publicArea.type = type;
    kf->pub.publicArea.nameAlg = TPM2_ALG_SHA256;
    kf->pub.publicArea.objectAttributes = TPMA_OBJECT_SIGN_ENCRYPT | TPMA_OBJECT_USERWITHAUTH |
                                          TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                          TPMA_OBJECT_SENSITIVEDATAORIGIN;
    kf->priv.size = 64;
    RAND_bytes(kf->priv.buffer, 64);
}

static ek_key *rsa_key(const unsigned char *n, size_t n_len, uint32_t e)
{
    ek_keyfile kf;
    fake_kf(&kf, TPM2_ALG_RSA);
    TPMS_RSA_PARMS *p = &kf.pub.publicArea.parameters.rsaDetail;
    p->symmetric.algorithm = TPM2_ALG_NULL;
    p->scheme.scheme = TPM2_ALG_NULL;
    p->keyBits = (TPMI_RSA_KEY_BITS)(n_len * 8);
    p->exponent = e == 65537 ? 0 : e;
    kf.pub.publicArea.unique.rsa.size = (UINT16)n_len;
    memcpy(kf.pub.publicArea.unique.rsa.buffer, n, n_len);
    return key_from_kf(&kf);
}

ek_key *stub_key_rsa(unsigned bits)
{
    unsigned char n[512];
    RAND_bytes(n, bits / 8);
    n[0] |= 0x80; /* full length */
    n[bits / 8 - 1] |= 1;
    return rsa_key(n, bits / 8, 65537);
}

ek_key *stub_key_from_evp(EVP_PKEY *pkey)
{
    BIGNUM *n = NULL, *e = NULL;
    unsigned char buf[512];
    ek_key *k = NULL;
    if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) &&
        EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e)) {
        int len = BN_bn2bin(n, buf);
        k = rsa_key(buf, (size_t)len, (uint32_t)BN_get_word(e));
    }
    BN_free(n);
    BN_free(e);
    return k;
}

ek_key *stub_key_ec_p256(void)
{
    ek_keyfile kf;
    fake_kf(&kf, TPM2_ALG_ECC);
    TPMS_ECC_PARMS *p = &kf.pub.publicArea.parameters.eccDetail;
    p->symmetric.algorithm = TPM2_ALG_NULL;
    p->scheme.scheme = TPM2_ALG_NULL;
    p->curveID = TPM2_ECC_NIST_P256;
    p->kdf.scheme = TPM2_ALG_NULL;
    kf.pub.publicArea.unique.ecc.x.size = 32;
    kf.pub.publicArea.unique.ecc.y.size = 32;
    RAND_bytes(kf.pub.publicArea.unique.ecc.x.buffer, 32);
    RAND_bytes(kf.pub.publicArea.unique.ecc.y.buffer, 32);
    return key_from_kf(&kf);
}

ek_key *stub_key_handle_only(ek_key *from, uint32_t handle)
{
    ek_key *k = calloc(1, sizeof(*k));
    *k = *from;
    k->refs = 1;
    k->has_blob = false;
    k->handle = handle;
    return k;
}

void stub_key_set_handle(ek_key *key, uint32_t handle)
{
    key->handle = handle;
}

void stub_persist(uint32_t handle, ek_key *key)
{
    for (int i = 0; i < STUB_MAX_HANDLES; i++) {
        if (handles[i].key && handles[i].handle == handle) {
            ek_key_free(handles[i].key);
            handles[i].key = NULL;
        }
    }
    for (int i = 0; key && i < STUB_MAX_HANDLES; i++) {
        if (!handles[i].key) {
            handles[i].handle = handle;
            handles[i].key = ek_key_ref(key);
            handles[i].evicted = false;
            return;
        }
    }
}

bool stub_was_evicted(uint32_t handle)
{
    for (int i = 0; i < STUB_MAX_HANDLES; i++)
        if (handles[i].evicted && handles[i].handle == handle)
            return true;
    return false;
}

void stub_reset(void)
{
    for (int i = 0; i < STUB_MAX_HANDLES; i++)
        ek_key_free(handles[i].key);
    memset(handles, 0, sizeof(handles));
}

const unsigned char *stub_key_auth(const ek_key *key, size_t *len)
{
    *len = key->auth_len;
    return key->auth;
}

/* ---- the ek_key.h functions the core-data code calls ---- */

ek_rc ek_key_from_tss2_der(const unsigned char *der, size_t len, ek_key **out)
{
    ek_keyfile kf;
    ek_rc rc = ek_keyfile_decode_der(der, len, &kf);
    if (rc != EK_OK)
        return rc;
    *out = key_from_kf(&kf);
    return *out ? EK_OK : ek_error(EK_ERR_UNSUPPORTED, "stub: unusable public key");
}

ek_rc ek_key_from_tss2_pem(const char *pem, size_t len, ek_key **out)
{
    ek_keyfile kf;
    ek_rc rc = ek_keyfile_decode_pem(pem, len, &kf);
    if (rc != EK_OK)
        return rc;
    *out = key_from_kf(&kf);
    return *out ? EK_OK : ek_error(EK_ERR_UNSUPPORTED, "stub: unusable public key");
}

ek_rc ek_key_from_handle(uint32_t handle, ek_key **out)
{
    for (int i = 0; i < STUB_MAX_HANDLES; i++) {
        if (handles[i].key && handles[i].handle == handle) {
            *out = stub_key_handle_only(handles[i].key, handle);
            return EK_OK;
        }
    }
    return ek_error(EK_ERR_NOT_FOUND, "stub: nothing at handle 0x%08x", handle);
}

ek_rc ek_key_evict_handle(uint32_t handle)
{
    for (int i = 0; i < STUB_MAX_HANDLES; i++) {
        if (handles[i].key && handles[i].handle == handle) {
            ek_key_free(handles[i].key);
            handles[i].key = NULL;
            handles[i].evicted = true;
            return EK_OK;
        }
    }
    return ek_error(EK_ERR_NOT_FOUND, "stub: nothing at handle 0x%08x", handle);
}

ek_rc ek_key_to_tss2_der(const ek_key *key, unsigned char **der, size_t *len)
{
    if (!key->has_blob)
        return ek_error(EK_ERR_UNSUPPORTED, "stub: handle-only key");
    return ek_keyfile_encode_der(&key->kf, der, len);
}

ek_rc ek_key_to_tss2_pem(const ek_key *key, char **pem, size_t *len)
{
    if (!key->has_blob)
        return ek_error(EK_ERR_UNSUPPORTED, "stub: handle-only key");
    return ek_keyfile_encode_pem(&key->kf, pem, len);
}

ek_rc ek_key_set_auth(ek_key *key, const unsigned char *auth, size_t len)
{
    if (len > sizeof(key->auth))
        return ek_error(EK_ERR_INVALID, "stub: auth too long");
    ek_wipe(key->auth, sizeof(key->auth));
    memcpy(key->auth, auth, len);
    key->auth_len = len;
    return EK_OK;
}

bool ek_key_needs_auth(const ek_key *key)
{
    return !key->kf.empty_auth;
}
const ek_pubkey *ek_key_public(const ek_key *key)
{
    return &key->pub;
}
uint32_t ek_key_handle(const ek_key *key)
{
    return key->handle;
}

ek_key *ek_key_ref(ek_key *key)
{
    key->refs++;
    return key;
}

void ek_key_free(ek_key *key)
{
    if (key && --key->refs == 0) {
        ek_wipe(key->auth, sizeof(key->auth));
        free(key);
    }
}

ek_rc ek_token_key_auth_pin(const char *token, const char *pin, size_t pin_len,
                            const unsigned char *id, size_t id_len,
                            unsigned char auth[EK_TOKEN_AUTH_MAX], size_t *auth_len)
{
    (void)id;
    (void)id_len;
    *auth_len = 0;
    if (strncmp(token, STUB_PIN_TOKEN_PREFIX, strlen(STUB_PIN_TOKEN_PREFIX)) != 0)
        return EK_OK;
    if (pin_len + 8 > EK_TOKEN_AUTH_MAX)
        return ek_error(EK_ERR_INVALID, "stub: pin too long");
    memcpy(auth, "derived:", 8);
    memcpy(auth + 8, pin, pin_len);
    *auth_len = 8 + pin_len;
    return EK_OK;
}
