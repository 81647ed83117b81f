/* edgekey hub: TPM2_MakeCredential in software (attest.h), TPM 2.0 Part 1
 * section 24 ("Credential Protection"):
 *
 *   RSA EK: seed    random, nameAlg digest size
 *   encryptedSecret RSA-OAEP(EK, seed), label "IDENTITY\0", nameAlg for hash and MGF1
 *   ECC EK: seed    KDFe(nameAlg, Z, "IDENTITY", Qe.x, Qek.x) with Z = x of ECDH(de, Qek)
 *                   for an ephemeral key (de, Qe); KDFe is SP 800-56C's single-step KDF
 *                   with a hash, OpenSSL's SSKDF (info = label\0 || Qe.x || Qek.x)
 *   encryptedSecret the marshalled TPMS_ECC_POINT Qe
 *   symKey          KDFa(nameAlg, seed, "STORAGE", Name(AK), -, EK's AES key bits)
 *   encIdentity     AES-CFB(symKey, IV 0, TPM2B_DIGEST(secret))
 *   hmacKey         KDFa(nameAlg, seed, "INTEGRITY", -, -, digest bits)
 *   credentialBlob  TPM2B_DIGEST(HMAC(hmacKey, encIdentity || Name(AK))) || encIdentity
 *
 * KDFa is SP 800-108 counter mode with HMAC, which is OpenSSL's KBKDF
 * (label = salt, context = info, the 0x00 separator and the 32-bit L on).
 * The test `attest-cred` gives the blob to a TPM's ActivateCredential. */
#include <stdbool.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "attest.h"
#include "hub_util.h"

static int kdfa(const char *md, const unsigned char *key, size_t klen, const char *label,
                const unsigned char *ctx, size_t clen, unsigned char *out, size_t olen)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "KBKDF", NULL);
    EVP_KDF_CTX *kc = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM p[] = {
        OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_MODE, "COUNTER", 0),
        OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_MAC, "HMAC", 0),
        OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md, 0),
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, klen),
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_SALT, (void *)label, strlen(label)),
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_INFO, (void *)ctx, clen),
        OSSL_PARAM_END,
    };
    if (clen == 0) /* "INTEGRITY" has no context */
        p[5] = OSSL_PARAM_construct_end();
    int ok = kc && EVP_KDF_derive(kc, out, olen, p) == 1;
    EVP_KDF_CTX_free(kc);
    EVP_KDF_free(kdf);
    return ok ? 0 : -1;
}

/* seed -> RSA-OAEP with the TPM's label (its terminating NUL included). */
static int oaep_seed(const TPMT_PUBLIC *ek, const char *md, const unsigned char *seed, size_t slen,
                     TPM2B_ENCRYPTED_SECRET *esec)
{
    static const char label[] = "IDENTITY";
    EVP_PKEY *pk = NULL;
    if (hub_tpm_pkey(ek, &pk) != HUB_ATT_OK)
        return -1;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pk, NULL);
    unsigned char *l = OPENSSL_memdup(label, sizeof(label));
    size_t outlen = sizeof(esec->secret);
    int ok = c && l && EVP_PKEY_encrypt_init(c) == 1 &&
             EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_oaep_md_name(c, md, NULL) == 1 &&
             EVP_PKEY_CTX_set_rsa_mgf1_md_name(c, md, NULL) == 1 &&
             EVP_PKEY_CTX_set0_rsa_oaep_label(c, l, sizeof(label)) == 1;
    if (ok)
        l = NULL; /* the context owns it now */
    ok = ok && EVP_PKEY_encrypt(c, esec->secret, &outlen, seed, slen) == 1;
    esec->size = (UINT16)outlen;
    OPENSSL_free(l);
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(pk);
    return ok ? 0 : -1;
}

/* x and y of an EC key, each left-padded to the field size fs. */
static int ec_xy(const EVP_PKEY *k, size_t fs, unsigned char *x, unsigned char *y)
{
    BIGNUM *bx = NULL, *by = NULL;
    int ok = EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_X, &bx) == 1 &&
             EVP_PKEY_get_bn_param(k, OSSL_PKEY_PARAM_EC_PUB_Y, &by) == 1 &&
             BN_bn2binpad(bx, x, (int)fs) == (int)fs && BN_bn2binpad(by, y, (int)fs) == (int)fs;
    BN_free(bx);
    BN_free(by);
    return ok ? 0 : -1;
}

static int sskdf(const char *md, const unsigned char *z, size_t zlen, const unsigned char *info,
                 size_t ilen, unsigned char *out, size_t olen)
{
    EVP_KDF *kdf = EVP_KDF_fetch(NULL, "SSKDF", NULL);
    EVP_KDF_CTX *kc = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
    OSSL_PARAM p[] = {
        OSSL_PARAM_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)md, 0),
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_KEY, (void *)z, zlen),
        OSSL_PARAM_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, ilen),
        OSSL_PARAM_END,
    };
    int ok = kc && EVP_KDF_derive(kc, out, olen, p) == 1;
    EVP_KDF_CTX_free(kc);
    EVP_KDF_free(kdf);
    return ok ? 0 : -1;
}

/* The ECC seed: ECDH with an ephemeral key on the EK's curve, KDFe. */
static int ecdh_seed(const TPMT_PUBLIC *ek, const char *md, unsigned char *seed, size_t slen,
                     TPM2B_ENCRYPTED_SECRET *esec)
{
    static const char label[] = "IDENTITY";
    size_t fs = ek->parameters.eccDetail.curveID == TPM2_ECC_NIST_P384 ? 48 : 32;
    EVP_PKEY *ekk = NULL, *eph = NULL;
    EVP_PKEY_CTX *c = NULL;
    unsigned char z[48], ex[48], ey[48];
    size_t zlen = sizeof(z), off = 0;
    /* hub_tpm_pkey refuses coordinates longer than the field */
    int ok = hub_tpm_pkey(ek, &ekk) == HUB_ATT_OK &&
             (eph = EVP_EC_gen(fs == 48 ? "P-384" : "P-256")) != NULL &&
             (c = EVP_PKEY_CTX_new_from_pkey(NULL, eph, NULL)) != NULL &&
             EVP_PKEY_derive_init(c) == 1 && EVP_PKEY_derive_set_peer(c, ekk) == 1 &&
             EVP_PKEY_derive(c, z, &zlen) == 1 && zlen == fs && !ec_xy(eph, fs, ex, ey);
    if (ok) { /* label with its NUL || Qe.x || Qek.x */
        unsigned char info[sizeof(label) + 96];
        memcpy(info, label, sizeof(label));
        memcpy(info + sizeof(label), ex, fs);
        memset(info + sizeof(label) + fs, 0, fs - ek->unique.ecc.x.size);
        memcpy(info + sizeof(label) + 2 * fs - ek->unique.ecc.x.size, ek->unique.ecc.x.buffer,
               ek->unique.ecc.x.size);
        ok = !sskdf(md, z, zlen, info, sizeof(label) + 2 * fs, seed, slen);
    }
    TPMS_ECC_POINT q = {.x.size = (UINT16)fs, .y.size = (UINT16)fs};
    if (ok) {
        memcpy(q.x.buffer, ex, fs);
        memcpy(q.y.buffer, ey, fs);
        ok = !Tss2_MU_TPMS_ECC_POINT_Marshal(&q, esec->secret, sizeof(esec->secret), &off);
        esec->size = (UINT16)off;
    }
    OPENSSL_cleanse(z, sizeof(z));
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(eph);
    EVP_PKEY_free(ekk);
    return ok ? 0 : -1;
}

static int aes_cfb(unsigned bits, const unsigned char *key, unsigned char *buf, size_t len)
{
    unsigned char iv[16] = {0};
    int n = 0;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int ok = c &&
             EVP_EncryptInit_ex(c, bits == 128 ? EVP_aes_128_cfb128() : EVP_aes_256_cfb128(), NULL,
                                key, iv) == 1 &&
             EVP_EncryptUpdate(c, buf, &n, buf, (int)len) == 1 && (size_t)n == len;
    EVP_CIPHER_CTX_free(c);
    return ok ? 0 : -1;
}

/* encIdentity and its outer HMAC into cred, from a known seed. */
static int wrap(const char *md, size_t dlen, unsigned aes_bits, const unsigned char *seed,
                const TPM2B_NAME *name, const unsigned char *secret, size_t secret_len,
                TPM2B_ID_OBJECT *cred)
{
    unsigned char symkey[32], hkey[EVP_MAX_MD_SIZE], enc[sizeof(TPM2B_DIGEST)];
    size_t elen = 0;
    TPM2B_DIGEST plain = {.size = (UINT16)secret_len};
    memcpy(plain.buffer, secret, secret_len);
    int ok = !Tss2_MU_TPM2B_DIGEST_Marshal(&plain, enc, sizeof(enc), &elen) &&
             !kdfa(md, seed, dlen, "STORAGE", name->name, name->size, symkey, aes_bits / 8) &&
             !aes_cfb(aes_bits, symkey, enc, elen) &&
             !kdfa(md, seed, dlen, "INTEGRITY", NULL, 0, hkey, dlen);
    EVP_MAC *mac = ok ? EVP_MAC_fetch(NULL, "HMAC", NULL) : NULL;
    EVP_MAC_CTX *mc = mac ? EVP_MAC_CTX_new(mac) : NULL;
    OSSL_PARAM p[] = {OSSL_PARAM_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)md, 0), OSSL_PARAM_END};
    TPM2B_DIGEST outer = {0};
    size_t olen = 0;
    ok = ok && mc && EVP_MAC_init(mc, hkey, dlen, p) == 1 && EVP_MAC_update(mc, enc, elen) == 1 &&
         EVP_MAC_update(mc, name->name, name->size) == 1 &&
         EVP_MAC_final(mc, outer.buffer, &olen, sizeof(outer.buffer)) == 1;
    outer.size = (UINT16)olen;
    size_t off = 0;
    ok = ok &&
         !Tss2_MU_TPM2B_DIGEST_Marshal(&outer, cred->credential, sizeof(cred->credential), &off) &&
         off + elen <= sizeof(cred->credential);
    if (ok) {
        memcpy(cred->credential + off, enc, elen);
        cred->size = (UINT16)(off + elen);
    }
    EVP_MAC_CTX_free(mc);
    EVP_MAC_free(mac);
    OPENSSL_cleanse(symkey, sizeof(symkey));
    OPENSSL_cleanse(hkey, sizeof(hkey));
    OPENSSL_cleanse(&plain, sizeof(plain));
    return ok ? 0 : -1;
}

int hub_make_credential(const TPMT_PUBLIC *ek, const TPM2B_NAME *ak_name,
                        const unsigned char *secret, size_t secret_len, TPM2B_ID_OBJECT *cred,
                        TPM2B_ENCRYPTED_SECRET *esec)
{
    const char *md = ek->nameAlg == TPM2_ALG_SHA256   ? "SHA256"
                     : ek->nameAlg == TPM2_ALG_SHA384 ? "SHA384"
                                                      : NULL;
    size_t dlen = ek->nameAlg == TPM2_ALG_SHA384 ? 48 : 32;
    bool ecc = ek->type == TPM2_ALG_ECC;
    const TPMT_SYM_DEF_OBJECT *sym =
        ecc ? &ek->parameters.eccDetail.symmetric : &ek->parameters.rsaDetail.symmetric;
    TPM2_ECC_CURVE curve = ecc ? ek->parameters.eccDetail.curveID : 0;
    if ((!ecc && ek->type != TPM2_ALG_RSA) || !md || sym->algorithm != TPM2_ALG_AES ||
        sym->mode.aes != TPM2_ALG_CFB || (sym->keyBits.aes != 128 && sym->keyBits.aes != 256) ||
        (ecc && curve != TPM2_ECC_NIST_P256 && curve != TPM2_ECC_NIST_P384)) {
        hub_fail("attestation refused: the EK is not an RSA or ECC P-256/P-384 EK with AES-CFB "
                 "and SHA-256/384; this hub makes credentials for those only");
        return HUB_ATT_UNSUPPORTED;
    }
    if (secret_len == 0 || secret_len > dlen) {
        hub_fail("attestation: credential secret of %zu bytes; 1..%zu", secret_len, dlen);
        return HUB_ATT_INTERNAL;
    }
    unsigned char seed[48];
    int ok = (ecc ? !ecdh_seed(ek, md, seed, dlen, esec)
                  : RAND_bytes(seed, (int)dlen) == 1 && !oaep_seed(ek, md, seed, dlen, esec)) &&
             !wrap(md, dlen, sym->keyBits.aes, seed, ak_name, secret, secret_len, cred);
    OPENSSL_cleanse(seed, sizeof(seed));
    ERR_clear_error();
    if (!ok) {
        hub_fail("attestation: making the credential for the EK failed (OpenSSL)");
        return HUB_ATT_INTERNAL;
    }
    return HUB_ATT_OK;
}
