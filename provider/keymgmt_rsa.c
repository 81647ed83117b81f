/* edgekey OpenSSL provider: RSA key management ("RSA:rsaEncryption").
 * RSA-specific parameters (n, e) and the dispatch table; the shared parts
 * are in keymgmt_common.c and keymgmt_gen.c. */
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include <openssl/params.h>

#include "ekp.h"

static void *ekp_rsa_new(void *provctx)
{
    return ekp_key_new(provctx, EK_ALG_RSA);
}

static void *ekp_rsa_gen_init(void *provctx, int selection, const OSSL_PARAM params[])
{
    return ekp_gen_init(provctx, EK_ALG_RSA, selection, params);
}

static const char *ekp_rsa_query_operation_name(int operation_id)
{
    return operation_id == OSSL_OP_SIGNATURE ? EKP_SIG_RSA_NAME : NULL;
}

int ekp_km_import_rsa(ekp_key *k, int selection, const OSSL_PARAM params[])
{
    const OSSL_PARAM *pn, *pe;
    BIGNUM *n = NULL, *e = NULL;
    int ok = 0;

    if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) == 0)
        return 1; /* RSA has no domain parameters; private parts are never imported */
    pn = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_N);
    pe = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_E);
    if (pn == NULL || pe == NULL || !OSSL_PARAM_get_BN(pn, &n) || !OSSL_PARAM_get_BN(pe, &e))
        goto end;
    if (BN_num_bytes(n) > EK_MAX_RSA_BYTES || BN_num_bits(e) > 32) {
        ekp_raise(k->prov, EKP_R_UNSUPPORTED, "RSA public key too large for edgekey (%d bits)",
                  BN_num_bits(n));
        goto end;
    }
    k->pub.alg = EK_ALG_RSA;
    k->pub.bits = (unsigned)BN_num_bits(n);
    k->pub.n_len = (size_t)BN_bn2bin(n, k->pub.n);
    k->pub.e = (uint32_t)BN_get_word(e);
    k->has_pub = true;
    ok = 1;
end:
    BN_free(n);
    BN_free(e);
    return ok;
}

static int ekp_rsa_import(void *keydata, int selection, const OSSL_PARAM params[])
{
    ekp_key *k = keydata;
    if (k == NULL || k->tpm != NULL)
        return 0; /* a TPM key's public half is fixed */
    return ekp_km_import_rsa(k, selection, params);
}

static const OSSL_PARAM ekp_rsa_pub_types[] = {
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
    OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
    OSSL_PARAM_END,
};

static const OSSL_PARAM *ekp_rsa_io_types(int selection)
{
    return (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0 ? ekp_rsa_pub_types : NULL;
}

int ekp_km_export_rsa(const ekp_key *k, int selection, OSSL_CALLBACK *cb, void *cbarg)
{
    OSSL_PARAM_BLD *bld = NULL;
    OSSL_PARAM *params = NULL;
    BIGNUM *n = NULL, *e = NULL;
    int ok = 0;

    if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) == 0 || !k->has_pub)
        return (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) == 0;
    bld = OSSL_PARAM_BLD_new();
    n = BN_bin2bn(k->pub.n, (int)k->pub.n_len, NULL);
    e = BN_new();
    if (bld == NULL || n == NULL || e == NULL || !BN_set_word(e, k->pub.e) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
        !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) ||
        (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
        goto end;
    ok = cb(params, cbarg);
end:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return ok;
}

static int ekp_rsa_get_params(void *keydata, OSSL_PARAM params[])
{
    const ekp_key *k = keydata;
    OSSL_PARAM *p;
    BIGNUM *bn = NULL;
    int ok = 1;

    if (k == NULL || !ekp_km_get_common_params(k, params))
        return 0;
    if (!k->has_pub)
        return 1;
    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_RSA_N);
    if (p != NULL) {
        bn = BN_bin2bn(k->pub.n, (int)k->pub.n_len, NULL);
        ok = bn != NULL && OSSL_PARAM_set_BN(p, bn);
        BN_free(bn);
        if (!ok)
            return 0;
    }
    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_RSA_E);
    if (p != NULL) {
        bn = BN_new();
        ok = bn != NULL && BN_set_word(bn, k->pub.e) && OSSL_PARAM_set_BN(p, bn);
        BN_free(bn);
    }
    return ok;
}

static const OSSL_PARAM *ekp_rsa_gettable_params(void *provctx)
{
    static const OSSL_PARAM types[] = {
        OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_N, NULL, 0),
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
        OSSL_PARAM_END,
    };
    (void)provctx;
    return types;
}

const OSSL_DISPATCH ekp_rsa_keymgmt_functions[] = {
    {OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))ekp_rsa_new},
    {OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))ekp_km_free},
    {OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))ekp_km_load},
    {OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))ekp_km_dup},
    {OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))ekp_km_has},
    {OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))ekp_km_match},
    {OSSL_FUNC_KEYMGMT_VALIDATE, (void (*)(void))ekp_km_validate},
    {OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))ekp_rsa_import},
    {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))ekp_rsa_io_types},
    {OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))ekp_km_export},
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))ekp_rsa_io_types},
    {OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))ekp_rsa_get_params},
    {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))ekp_rsa_gettable_params},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))ekp_rsa_query_operation_name},
    {OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))ekp_rsa_gen_init},
    {OSSL_FUNC_KEYMGMT_GEN_SET_TEMPLATE, (void (*)(void))ekp_gen_set_template},
    {OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS, (void (*)(void))ekp_gen_set_params},
    {OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS, (void (*)(void))ekp_gen_settable_params},
    {OSSL_FUNC_KEYMGMT_GEN, (void (*)(void))ekp_gen},
    {OSSL_FUNC_KEYMGMT_GEN_CLEANUP, (void (*)(void))ekp_gen_cleanup},
    {0, NULL},
};

/* Public halves only, registered under "provider=default" (provider.c):
 * what a verification under that property query exports a TPM key to. No
 * generation and no loading, so it never makes or opens a TPM key. */
const OSSL_DISPATCH ekp_rsa_keymgmt_public_functions[] = {
    {OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))ekp_rsa_new},
    {OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))ekp_km_free},
    {OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))ekp_km_dup},
    {OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))ekp_km_has},
    {OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))ekp_km_match},
    {OSSL_FUNC_KEYMGMT_VALIDATE, (void (*)(void))ekp_km_validate},
    {OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))ekp_rsa_import},
    {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))ekp_rsa_io_types},
    {OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))ekp_km_export},
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))ekp_rsa_io_types},
    {OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))ekp_rsa_get_params},
    {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))ekp_rsa_gettable_params},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))ekp_rsa_query_operation_name},
    {0, NULL},
};
