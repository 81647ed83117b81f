/* edgekey OpenSSL provider: encoders for edgekey keys.
 *
 *   structure=PrivateKeyInfo, output=pem|der   the TSS2 PRIVATE KEY file: a
 *       reference to the TPM key (its private part is wrapped by the TPM), not
 *       key material. PEM_write_bio_PrivateKey asks for this structure, so
 *       `openssl genpkey -out k.pem` writes a TSS2 key file.
 *   structure=SubjectPublicKeyInfo, output=pem|der   the public key
 *   output=text                                      public numbers + where
 *                                                    the private key lives
 * No import_object: these encoders are only ever used for edgekey keys. */
#include <stdlib.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "ekp.h"

static void *ekp_enc_newctx(void *provctx)
{
    return provctx;
}

static void ekp_enc_freectx(void *ctx)
{
    (void)ctx;
}

static int ekp_enc_private_selection(void *provctx, int selection)
{
    (void)provctx;
    return (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0;
}

static int ekp_enc_public_selection(void *provctx, int selection)
{
    (void)provctx;
    return (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0;
}

static int ekp_enc_any_selection(void *provctx, int selection)
{
    (void)provctx;
    (void)selection;
    return 1;
}

static int ekp_enc_tss2(ekp_prov *prov, OSSL_CORE_BIO *cout, const ekp_key *k, int pem)
{
    BIO *out = NULL;
    void *buf = NULL;
    size_t len = 0;
    ek_rc rc;
    int ok = 0;

    if (k == NULL || k->tpm == NULL) {
        ekp_raise(prov, EKP_R_NO_PRIVATE_KEY,
                  "only a TPM key can be written as a TSS2 PRIVATE KEY file");
        return 0;
    }
    rc = pem ? ek_key_to_tss2_pem(k->tpm, (char **)&buf, &len)
             : ek_key_to_tss2_der(k->tpm, (unsigned char **)&buf, &len);
    if (rc != EK_OK) {
        ekp_raise_core(prov, rc, "writing the TSS2 key file");
        return 0;
    }
    out = BIO_new_from_core_bio(prov->libctx, cout);
    ok = out != NULL && BIO_write(out, buf, (int)len) == (int)len;
    BIO_free(out);
    free(buf);
    return ok;
}

static int ekp_enc_tss2_pem(void *ctx, OSSL_CORE_BIO *cout, const void *obj_raw,
                            const OSSL_PARAM obj_abstract[], int selection,
                            OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    (void)obj_abstract;
    (void)selection;
    (void)cb;
    (void)cbarg;
    return ekp_enc_tss2(ctx, cout, obj_raw, 1);
}

static int ekp_enc_tss2_der(void *ctx, OSSL_CORE_BIO *cout, const void *obj_raw,
                            const OSSL_PARAM obj_abstract[], int selection,
                            OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    (void)obj_abstract;
    (void)selection;
    (void)cb;
    (void)cbarg;
    return ekp_enc_tss2(ctx, cout, obj_raw, 0);
}

static int ekp_enc_spki(ekp_prov *prov, OSSL_CORE_BIO *cout, const ekp_key *k, int pem)
{
    EVP_PKEY *soft = k != NULL ? ekp_key_soft(k) : NULL;
    BIO *out = NULL;
    int ok = 0;

    if (soft == NULL)
        return 0;
    out = BIO_new_from_core_bio(prov->libctx, cout);
    if (out != NULL)
        ok = pem ? PEM_write_bio_PUBKEY_ex(out, soft, prov->libctx, EKP_SOFT_PROPQ)
                 : i2d_PUBKEY_bio(out, soft);
    BIO_free(out);
    EVP_PKEY_free(soft);
    return ok > 0;
}

static int ekp_enc_spki_pem(void *ctx, OSSL_CORE_BIO *cout, const void *obj_raw,
                            const OSSL_PARAM obj_abstract[], int selection,
                            OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    (void)obj_abstract;
    (void)selection;
    (void)cb;
    (void)cbarg;
    return ekp_enc_spki(ctx, cout, obj_raw, 1);
}

static int ekp_enc_spki_der(void *ctx, OSSL_CORE_BIO *cout, const void *obj_raw,
                            const OSSL_PARAM obj_abstract[], int selection,
                            OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    (void)obj_abstract;
    (void)selection;
    (void)cb;
    (void)cbarg;
    return ekp_enc_spki(ctx, cout, obj_raw, 0);
}

/* `openssl pkey -text`: the public numbers (printed by the default
 * provider) and a note on the private part. */
static int ekp_enc_text(void *ctx, OSSL_CORE_BIO *cout, const void *obj_raw,
                        const OSSL_PARAM obj_abstract[], int selection,
                        OSSL_PASSPHRASE_CALLBACK *cb, void *cbarg)
{
    ekp_prov *prov = ctx;
    const ekp_key *k = obj_raw;
    EVP_PKEY *soft = NULL;
    BIO *out = NULL;
    int ok = 0;

    (void)obj_abstract;
    (void)cb;
    (void)cbarg;
    if (k == NULL || (out = BIO_new_from_core_bio(prov->libctx, cout)) == NULL)
        return 0;
    if (k->tpm != NULL) {
        uint32_t h = ek_key_handle(k->tpm);
        if (BIO_printf(out, "edgekey TPM %s key: the private key stays in the TPM\n",
                       ekp_alg_type_name(k->alg)) <= 0 ||
            (h != 0 && BIO_printf(out, "persistent handle: 0x%08x\n", (unsigned)h) <= 0))
            goto end;
    }
    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0 || !k->has_pub) {
        ok = 1;
        goto end;
    }
    if ((soft = ekp_key_soft(k)) == NULL)
        goto end;
    ok = EVP_PKEY_print_public(out, soft, 0, NULL) > 0;
end:
    EVP_PKEY_free(soft);
    BIO_free(out);
    return ok;
}

#define EKP_ENCODER_TABLE(name, encode_fn, selection_fn)                                           \
    const OSSL_DISPATCH name[] = {                                                                 \
        {OSSL_FUNC_ENCODER_NEWCTX, (void (*)(void))ekp_enc_newctx},                                \
        {OSSL_FUNC_ENCODER_FREECTX, (void (*)(void))ekp_enc_freectx},                              \
        {OSSL_FUNC_ENCODER_DOES_SELECTION, (void (*)(void))selection_fn},                          \
        {OSSL_FUNC_ENCODER_ENCODE, (void (*)(void))encode_fn},                                     \
        {0, NULL},                                                                                 \
    }

EKP_ENCODER_TABLE(ekp_tss2_pem_encoder_functions, ekp_enc_tss2_pem, ekp_enc_private_selection);
EKP_ENCODER_TABLE(ekp_tss2_der_encoder_functions, ekp_enc_tss2_der, ekp_enc_private_selection);
EKP_ENCODER_TABLE(ekp_spki_pem_encoder_functions, ekp_enc_spki_pem, ekp_enc_public_selection);
EKP_ENCODER_TABLE(ekp_spki_der_encoder_functions, ekp_enc_spki_der, ekp_enc_public_selection);
EKP_ENCODER_TABLE(ekp_text_encoder_functions, ekp_enc_text, ekp_enc_any_selection);
