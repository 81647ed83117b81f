/* edgekey OpenSSL provider: the key object behind an EVP_PKEY.
 *
 * An ekp_key wraps one core key (ek_key, which lives in the TPM) or, for a
 * key imported from public parameters (a certificate's key compared with
 * ours, a peer's key), only public numbers. The public half is copied out of
 * the core once, so parameter queries never reach the TPM. */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/crypto.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>

#include "ek_token.h"
#include "ekp.h"

ekp_key *ekp_key_new(ekp_prov *prov, ek_alg alg)
{
    ekp_key *k = OPENSSL_zalloc(sizeof(*k));
    if (k == NULL)
        return NULL;
    k->prov = prov;
    atomic_init(&k->refs, 1);
    k->alg = alg;
    k->pub.alg = alg;
    return k;
}

ekp_key *ekp_key_from_tpm(ekp_prov *prov, ek_key *tpm)
{
    const ek_pubkey *pub = ek_key_public(tpm);
    if (pub == NULL || (pub->alg != EK_ALG_RSA && pub->alg != EK_ALG_EC)) {
        ekp_raise(prov, EKP_R_UNSUPPORTED,
                  "TPM key is neither RSA nor EC; edgekey signs with "
                  "RSA and EC keys only");
        ek_key_free(tpm);
        return NULL;
    }
    ekp_key *k = ekp_key_new(prov, pub->alg);
    if (k == NULL) {
        ek_key_free(tpm);
        return NULL;
    }
    k->tpm = tpm;
    k->pub = *pub;
    k->has_pub = true;
    return k;
}

ekp_key *ekp_key_ref(ekp_key *k)
{
    if (k != NULL)
        atomic_fetch_add(&k->refs, 1);
    return k;
}

void ekp_key_free(ekp_key *k)
{
    if (k == NULL || atomic_fetch_sub(&k->refs, 1) != 1)
        return;
    ek_key_free(k->tpm);
    OPENSSL_free(k);
}

const char *ekp_alg_type_name(ek_alg alg)
{
    return alg == EK_ALG_RSA ? "RSA" : alg == EK_ALG_EC ? "EC" : NULL;
}

const char *ekp_curve_name(ek_curve c)
{
    /* OpenSSL's short names: libssl maps them back with OBJ_txt2nid(). */
    return c == EK_CURVE_P256 ? "prime256v1" : c == EK_CURVE_P384 ? "secp384r1" : NULL;
}

ek_curve ekp_curve_from_name(const char *name)
{
    int nid;
    if (name == NULL)
        return EK_CURVE_NONE;
    nid = EC_curve_nist2nid(name);
    if (nid == NID_undef)
        nid = OBJ_txt2nid(name);
    if (nid == NID_undef && strcmp(name, "secp256r1") == 0)
        nid = NID_X9_62_prime256v1;
    if (nid == NID_X9_62_prime256v1)
        return EK_CURVE_P256;
    if (nid == NID_secp384r1)
        return EK_CURVE_P384;
    return EK_CURVE_NONE;
}

unsigned ekp_curve_bits(ek_curve c)
{
    return c == EK_CURVE_P256 ? 256 : c == EK_CURVE_P384 ? 384 : 0;
}

int ekp_key_security_bits(const ekp_key *k)
{
    if (k->alg == EK_ALG_RSA)
        return BN_security_bits((int)k->pub.bits, -1);
    return (int)ekp_curve_bits(k->pub.curve) / 2;
}

size_t ekp_key_max_sig(const ekp_key *k)
{
    if (k->alg == EK_ALG_RSA)
        return (k->pub.bits + 7) / 8;
    /* DER ECDSA-Sig-Value: two INTEGERs of up to qlen+1 bytes in a SEQUENCE. */
    size_t q = (ekp_curve_bits(k->pub.curve) + 7) / 8;
    size_t inner = 2 * (q + 3);
    return inner + (inner < 128 ? 2 : 3);
}

static OSSL_PARAM *ekp_pub_params(const ekp_key *k, BIGNUM **n, BIGNUM **e)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    if (bld == NULL)
        return NULL;
    if (k->alg == EK_ALG_RSA) {
        *n = BN_bin2bn(k->pub.n, (int)k->pub.n_len, NULL);
        *e = BN_new();
        if (*n == NULL || *e == NULL || !BN_set_word(*e, k->pub.e) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, *n) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, *e))
            goto end;
    } else {
        const char *group = ekp_curve_name(k->pub.curve);
        if (group == NULL ||
            !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
            !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, k->pub.point,
                                              k->pub.point_len))
            goto end;
    }
    params = OSSL_PARAM_BLD_to_param(bld);
end:
    OSSL_PARAM_BLD_free(bld);
    return params;
}

EVP_PKEY *ekp_key_soft(const ekp_key *k)
{
    EVP_PKEY *pkey = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    BIGNUM *n = NULL, *e = NULL;
    OSSL_PARAM *params = NULL;

    if (!k->has_pub) {
        ekp_raise(k->prov, EKP_R_INVALID, "edgekey key has no public part");
        return NULL;
    }
    params = ekp_pub_params(k, &n, &e);
    ctx = EVP_PKEY_CTX_new_from_name(k->prov->libctx, ekp_alg_type_name(k->alg), EKP_SOFT_PROPQ);
    if (params == NULL || ctx == NULL || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0) {
        ekp_raise(k->prov, EKP_R_SOFTWARE,
                  "cannot build the software copy of the %s public key (is the default "
                  "provider loaded?)",
                  ekp_alg_type_name(k->alg));
        pkey = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    BN_free(n);
    BN_free(e);
    return pkey;
}

int ekp_key_ask_auth(ekp_prov *prov, ek_key *tpm, const char *what, const ek_store_obj *obj,
                     OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    char buf[EK_TOKEN_PIN_MAX + 1];
    size_t len = 0;
    OSSL_PARAM info[2];
    ek_rc rc;

    if (pw_cb == NULL) {
        ekp_raise(prov, EKP_R_AUTH,
                  "%s needs an authorisation value (PIN) and no passphrase callback was given; "
                  "pass one (e.g. -passin) or put pin-value in the pkcs11: URI",
                  what);
        return 0;
    }
    info[0] = OSSL_PARAM_construct_utf8_string(OSSL_PASSPHRASE_PARAM_INFO, (char *)what, 0);
    info[1] = OSSL_PARAM_construct_end();
    if (!pw_cb(buf, sizeof(buf) - 1, &len, info, pw_cbarg)) {
        ekp_raise(prov, EKP_R_AUTH, "%s: no authorisation value (PIN) given", what);
        OPENSSL_cleanse(buf, sizeof(buf));
        return 0;
    }
    /* A key of a store token takes the value as the token's user PIN (its
     * auth is derived from the token secret); a key file takes it as is. */
    rc = obj != NULL ? ek_token_key_set_pin(tpm, obj->token, obj->id, obj->id_len, buf, len)
                     : ek_key_set_auth(tpm, (const unsigned char *)buf, len);
    OPENSSL_cleanse(buf, sizeof(buf));
    if (rc != EK_OK) {
        ekp_raise_core(prov, rc, what);
        return 0;
    }
    return 1;
}

int ekp_key_pass_reference(ekp_key **slot, OSSL_CALLBACK *cb, void *cbarg)
{
    int type = OSSL_OBJECT_PKEY;
    OSSL_PARAM params[4];

    params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &type);
    params[1] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE,
                                                 (char *)ekp_alg_type_name((*slot)->alg), 0);
    /* The reference is the address of the caller's slot: load() takes the
     * key out of it, so whatever is left there afterwards is the caller's. */
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_REFERENCE, slot, sizeof(*slot));
    params[3] = OSSL_PARAM_construct_end();
    return cb(params, cbarg);
}
