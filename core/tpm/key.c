/* edgekey core: the ek_key object (ek_key.h): construction from key files
 * and handles, encoding, auth value, public part, references.
 * Loading and slot management live in keyload.c, creation in keygen.c,
 * signing in sign.c. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <tss2/tss2_mu.h>

#include "ek_keyfile.h"
#include "ek_log.h"
#include "ek_tpm_int.h"

ek_key *ek_key_new_empty(void)
{
    ek_key *k = calloc(1, sizeof(*k));
    if (!k)
        return NULL;
    atomic_init(&k->refs, 1);
    k->tr = ESYS_TR_NONE;
    return k;
}

static void key_destroy(ek_key *k)
{
    OPENSSL_cleanse(&k->auth, sizeof(k->auth));
    OPENSSL_cleanse(&k->kf.priv, sizeof(k->kf.priv));
    free(k);
}

ek_rc ek_key_set_public(ek_key *key, const TPM2B_PUBLIC *pub)
{
    const TPMT_PUBLIC *p = &pub->publicArea;
    if (p->type != TPM2_ALG_RSA && p->type != TPM2_ALG_ECC)
        return ek_error(EK_ERR_UNSUPPORTED,
                        "TPM key of type 0x%04x is not supported; edgekey "
                        "handles RSA and EC keys",
                        p->type);
    ek_rc r = ek_pubkey_from_tpmt(p, &key->pub);
    if (r != EK_OK)
        return r;
    key->tpub = *p;
    if (!ek_public_name(p, &key->name))
        return ek_error(EK_ERR_UNSUPPORTED, "TPM key: name algorithm 0x%04x is not supported",
                        p->nameAlg);
    return EK_OK;
}

static ek_md md_of_tpm(TPM2_ALG_ID alg)
{
    return alg == TPM2_ALG_SHA1     ? EK_MD_SHA1
           : alg == TPM2_ALG_SHA256 ? EK_MD_SHA256
           : alg == TPM2_ALG_SHA384 ? EK_MD_SHA384
           : alg == TPM2_ALG_SHA512 ? EK_MD_SHA512
                                    : EK_MD_NONE;
}

TPM2_ALG_ID ek_md_tpm_alg(ek_md md)
{
    return md == EK_MD_SHA1     ? TPM2_ALG_SHA1
           : md == EK_MD_SHA256 ? TPM2_ALG_SHA256
           : md == EK_MD_SHA384 ? TPM2_ALG_SHA384
           : md == EK_MD_SHA512 ? TPM2_ALG_SHA512
                                : TPM2_ALG_NULL;
}

size_t ek_curve_size(TPM2_ECC_CURVE curve)
{
    return curve == TPM2_ECC_NIST_P256 ? 32 : curve == TPM2_ECC_NIST_P384 ? 48 : 0;
}

/* The TPM's name of an object: nameAlg || H(marshalled TPMT_PUBLIC). */
bool ek_public_name(const TPMT_PUBLIC *pub, TPM2B_NAME *name)
{
    uint8_t buf[sizeof(TPMT_PUBLIC)];
    size_t off = 0;
    ek_md md = md_of_tpm(pub->nameAlg);
    if (md == EK_MD_NONE ||
        Tss2_MU_TPMT_PUBLIC_Marshal(pub, buf, sizeof(buf), &off) != TSS2_RC_SUCCESS ||
        !ek_md_digest(md, buf, off, name->name + 2))
        return false;
    name->name[0] = (uint8_t)(pub->nameAlg >> 8);
    name->name[1] = (uint8_t)pub->nameAlg;
    name->size = (UINT16)(2 + ek_md_size(md));
    return true;
}

static ek_rc from_keyfile(const ek_keyfile *kf, ek_key **out)
{
    ek_key *k = ek_key_new_empty();
    if (!k)
        return ek_error(EK_ERR_NOMEM, "out of memory for a key");
    k->kf = *kf;
    k->has_blob = true;
    ek_rc r = ek_key_set_public(k, &kf->pub);
    if (r != EK_OK) {
        key_destroy(k);
        return r;
    }
    *out = k;
    return EK_OK;
}

ek_rc ek_key_from_tss2_der(const unsigned char *der, size_t len, ek_key **out)
{
    ek_keyfile kf;
    ek_rc r = ek_keyfile_decode_der(der, len, &kf);
    if (r == EK_OK)
        r = from_keyfile(&kf, out);
    OPENSSL_cleanse(&kf, sizeof(kf));
    return r;
}

ek_rc ek_key_from_tss2_pem(const char *pem, size_t len, ek_key **out)
{
    ek_keyfile kf;
    ek_rc r = ek_keyfile_decode_pem(pem, len, &kf);
    if (r == EK_OK)
        r = from_keyfile(&kf, out);
    OPENSSL_cleanse(&kf, sizeof(kf));
    return r;
}

static bool persistent_range(uint32_t h)
{
    return (h & EK_HR_MASK) == EK_HR_PERSISTENT;
}

ek_rc ek_key_from_handle(uint32_t handle, ek_key **out)
{
    if (!persistent_range(handle))
        return ek_error(EK_ERR_INVALID,
                        "handle:0x%08x is not a persistent handle; use "
                        "0x81000000..0x81ffffff",
                        handle);
    ESYS_CONTEXT *esys;
    ek_rc r = ek_tpm_lock(&esys);
    if (r != EK_OK)
        return r;
    TPM2B_PUBLIC *pubp = NULL, pub = {0};
    TPM2B_NAME *namep = NULL, name = {0};
    ESYS_TR tr = ESYS_TR_NONE;
    TSS2_RC rc = Esys_TR_FromTPMPublic(esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr);
    if (ek_tpm_startup_if_needed(rc))
        rc = Esys_TR_FromTPMPublic(esys, handle, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &tr);
    if (!rc) /* no second command: ESYS keeps the public area it just read */
        rc = Esys_ReadPublic(esys, tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &pubp, &namep,
                             NULL);
    if (!rc) {
        pub = *pubp;
        name = *namep;
    }
    Esys_Free(pubp);
    Esys_Free(namep);
    if (rc && tr != ESYS_TR_NONE)
        Esys_TR_Close(esys, &tr);
    uint64_t gen = ek_tpm_generation();
    ek_tpm_unlock();
    if (rc) {
        r = ek_tpm_rc(rc, "reading the persistent key");
        if (r == EK_ERR_NOT_FOUND || ek_tpm_rc_is(rc, TPM2_RC_HANDLE))
            return ek_error(EK_ERR_NOT_FOUND,
                            "handle:0x%08x: no key at this persistent handle; "
                            "list them with `tpm2_getcap handles-persistent`",
                            handle);
        return r;
    }
    ek_key *k = ek_key_new_empty();
    if (!k)
        return ek_error(EK_ERR_NOMEM, "out of memory for a key");
    k->handle = handle;
    k->tr = tr; /* kept for signing on this connection (keyload.c) */
    k->gen = gen;
    r = ek_key_set_public(k, &pub);
    if (r == EK_OK &&
        (name.size != k->name.size || memcmp(name.name, k->name.name, name.size) != 0))
        r = ek_error(EK_ERR_TPM,
                     "handle:0x%08x: the TPM's name for the key does not match its "
                     "public area",
                     handle);
    if (r != EK_OK) {
        ek_key_free(k); /* closes its ESYS_TR too */
        return r;
    }
    *out = k;
    return EK_OK;
}

static ek_rc need_blob(const ek_key *key)
{
    if (key->has_blob)
        return EK_OK;
    return ek_error(EK_ERR_UNSUPPORTED,
                    "key handle:0x%08x exists only as a persistent handle "
                    "and has no key file; refer to it as handle:0x%08x",
                    key->handle, key->handle);
}

ek_rc ek_key_to_tss2_der(const ek_key *key, unsigned char **der, size_t *len)
{
    ek_rc r = need_blob(key);
    return r != EK_OK ? r : ek_keyfile_encode_der(&key->kf, der, len);
}

ek_rc ek_key_to_tss2_pem(const ek_key *key, char **pem, size_t *len)
{
    ek_rc r = need_blob(key);
    return r != EK_OK ? r : ek_keyfile_encode_pem(&key->kf, pem, len);
}

ek_rc ek_key_set_auth(ek_key *key, const unsigned char *auth, size_t len)
{
    if (len > sizeof(key->auth.buffer) || (len && !auth))
        return ek_error(EK_ERR_INVALID, "key auth value of %zu bytes is too long (at most %zu)",
                        len, sizeof(key->auth.buffer));
    ek_tpm_mutex_lock(); /* a signer on another thread may be reading it */
    OPENSSL_cleanse(&key->auth, sizeof(key->auth));
    if (len)
        memcpy(key->auth.buffer, auth, len);
    key->auth.size = (UINT16)len;
    ek_tpm_mutex_unlock();
    return EK_OK;
}

bool ek_key_needs_auth(const ek_key *key)
{
    return key->has_blob && !key->kf.empty_auth;
}

const ek_pubkey *ek_key_public(const ek_key *key)
{
    return &key->pub;
}

uint32_t ek_key_handle(const ek_key *key)
{
    return key->handle;
}

size_t ek_key_max_sig_size(const ek_key *key, ek_ecdsa_fmt fmt)
{
    if (key->pub.alg == EK_ALG_RSA)
        return (key->pub.bits + 7) / 8;
    size_t cs = ek_curve_size(key->tpub.parameters.eccDetail.curveID);
    if (fmt == EK_ECDSA_RAW)
        return 2 * cs;
    size_t content = 2 * (2 + cs + 1); /* two INTEGERs, each with a possible 0x00 */
    return content + (content < 128 ? 2 : 3);
}

ek_rc ek_key_name(const ek_key *key, unsigned char *buf, size_t *len)
{
    if (*len < key->name.size) {
        *len = key->name.size;
        return ek_error(EK_ERR_BUFFER_TOO_SMALL, "key name needs %u bytes", key->name.size);
    }
    memcpy(buf, key->name.name, key->name.size);
    *len = key->name.size;
    return EK_OK;
}

ek_key *ek_key_ref(ek_key *key)
{
    if (key)
        atomic_fetch_add(&key->refs, 1);
    return key;
}

void ek_key_free(ek_key *key)
{
    if (!key || atomic_fetch_sub(&key->refs, 1) != 1)
        return;
    ek_key_unload(key);
    key_destroy(key);
}
