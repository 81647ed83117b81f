/* edgekey OpenSSL provider: ECDSA (DER ECDSA-Sig-Value), registered as
 * "EDGEKEY-ECDSA-SIG" only. Parameters: digest (and properties, accepted). */
#include <openssl/core_names.h>
#include <openssl/params.h>

#include "signature.h"

static int ekp_ecdsa_set_ctx_params(void *ctx, const OSSL_PARAM params[])
{
    if (params == NULL)
        return 1;
    return ekp_sig_set_common_params(ctx, params);
}

static int ekp_ecdsa_get_ctx_params(void *ctx, OSSL_PARAM params[])
{
    return ekp_sig_get_common_params(ctx, params);
}

static const OSSL_PARAM *ekp_ecdsa_settable_ctx_params(void *ctx, void *provctx)
{
    static const OSSL_PARAM types[] = {
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
        OSSL_PARAM_END,
    };
    (void)ctx;
    (void)provctx;
    return types;
}

static void *ekp_ecdsa_newctx(void *provctx, const char *propq)
{
    return ekp_sig_newctx(provctx, propq, EK_ALG_EC);
}

static int ekp_ecdsa_sign_init(void *ctx, void *provkey, const OSSL_PARAM params[])
{
    return ekp_sig_init(ctx, provkey, 0, params, ekp_ecdsa_set_ctx_params);
}

static int ekp_ecdsa_verify_init(void *ctx, void *provkey, const OSSL_PARAM params[])
{
    return ekp_sig_init(ctx, provkey, 1, params, ekp_ecdsa_set_ctx_params);
}

static int ekp_ecdsa_digest_sign_init(void *ctx, const char *mdname, void *provkey,
                                      const OSSL_PARAM params[])
{
    return ekp_sig_digest_init(ctx, mdname, provkey, 0, params, ekp_ecdsa_set_ctx_params);
}

static int ekp_ecdsa_digest_verify_init(void *ctx, const char *mdname, void *provkey,
                                        const OSSL_PARAM params[])
{
    return ekp_sig_digest_init(ctx, mdname, provkey, 1, params, ekp_ecdsa_set_ctx_params);
}

const OSSL_DISPATCH ekp_ecdsa_signature_functions[] = {
    {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))ekp_ecdsa_newctx},
    {OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))ekp_sig_freectx},
    {OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))ekp_sig_dupctx},
    {OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*)(void))ekp_ecdsa_sign_init},
    {OSSL_FUNC_SIGNATURE_SIGN, (void (*)(void))ekp_sig_sign},
    {OSSL_FUNC_SIGNATURE_VERIFY_INIT, (void (*)(void))ekp_ecdsa_verify_init},
    {OSSL_FUNC_SIGNATURE_VERIFY, (void (*)(void))ekp_sig_verify},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, (void (*)(void))ekp_ecdsa_digest_sign_init},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, (void (*)(void))ekp_sig_digest_update},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, (void (*)(void))ekp_sig_digest_sign_final},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN, (void (*)(void))ekp_sig_digest_sign},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, (void (*)(void))ekp_ecdsa_digest_verify_init},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE, (void (*)(void))ekp_sig_digest_update},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL, (void (*)(void))ekp_sig_digest_verify_final},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY, (void (*)(void))ekp_sig_digest_verify},
    {OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))ekp_ecdsa_get_ctx_params},
    {OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, (void (*)(void))ekp_sig_gettable_common},
    {OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (void (*)(void))ekp_ecdsa_set_ctx_params},
    {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, (void (*)(void))ekp_ecdsa_settable_ctx_params},
    {0, NULL},
};

/* Verification only, registered under property "provider=default" (see
 * ekp_signatures in provider.c): a TPM key object verified under an explicit
 * provider=default query verifies in the default provider's code. */
const OSSL_DISPATCH ekp_ecdsa_verify_only_functions[] = {
    {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))ekp_ecdsa_newctx},
    {OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))ekp_sig_freectx},
    {OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))ekp_sig_dupctx},
    {OSSL_FUNC_SIGNATURE_VERIFY_INIT, (void (*)(void))ekp_ecdsa_verify_init},
    {OSSL_FUNC_SIGNATURE_VERIFY, (void (*)(void))ekp_sig_verify},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, (void (*)(void))ekp_ecdsa_digest_verify_init},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE, (void (*)(void))ekp_sig_digest_update},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL, (void (*)(void))ekp_sig_digest_verify_final},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY, (void (*)(void))ekp_sig_digest_verify},
    {OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))ekp_ecdsa_get_ctx_params},
    {OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, (void (*)(void))ekp_sig_gettable_common},
    {OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (void (*)(void))ekp_ecdsa_set_ctx_params},
    {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, (void (*)(void))ekp_ecdsa_settable_ctx_params},
    {0, NULL},
};
