/* edgekey OpenSSL provider: the composite signature algorithms of OpenSSL
 * 3.4 and later ("sigalgs": RSA-SHA256, ECDSA-SHA384, ... key type and digest
 * in one name), which EVP_PKEY_sign_message_init, EVP_PKEY_verify_message_init
 * and EVP_PKEY_sign_init_ex2 / EVP_PKEY_verify_init_ex2 take. OpenSSL 3.0 to
 * 3.3 have no such operations: everything here is compiled only against
 * headers that define them (EKP_HAVE_SIGALGS, ekp.h).
 *
 * The name fixes the digest (SHA-256/384/512; RSA: PKCS#1 v1.5, as OpenSSL's
 * own RSA-SHA*). Message operations hash in software and the TPM signs the
 * digest, as EVP_DigestSign does (signature.c); sign/verify after init_ex2
 * take a digest of that size. Verification is software only. */
#include <openssl/core_names.h>
#include <openssl/params.h>

#include "signature.h"

#ifdef EKP_HAVE_SIGALGS

static void *ekp_sigalg_newctx(void *provctx, const char *propq, ek_alg alg, ek_md md)
{
    ekp_sig_ctx *c = ekp_sig_newctx(provctx, propq, alg);
    if (c != NULL)
        c->fixed_md = md;
    return c;
}

/* The digest is the algorithm's; naming another one is a mistake to report,
 * not to follow. The signature to check is given here for
 * EVP_PKEY_verify_message_final (EVP_PKEY_CTX_set_signature). */
static int ekp_sigalg_set_ctx_params(void *ctx, const OSSL_PARAM params[])
{
    ekp_sig_ctx *c = ctx;
    const OSSL_PARAM *p;
    const char *name = NULL;

    if (params == NULL)
        return 1;
    p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST);
    if (p != NULL) {
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &name))
            return 0;
        if (ek_md_from_name(name) != c->fixed_md) {
            ekp_raise(c->prov, EKP_R_BAD_PARAM,
                      "digest %s refused: this %s signature algorithm signs with %s; fetch the "
                      "one named for the digest you want (e.g. %s-SHA384)",
                      name, ekp_alg_type_name(c->alg), ek_md_name(c->fixed_md),
                      c->alg == EK_ALG_RSA ? "RSA" : "ECDSA");
            return 0;
        }
    }
    p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_SIGNATURE);
    if (p != NULL && c->verify && c->msg) {
        OPENSSL_free(c->vsig);
        c->vsig = NULL;
        c->vsiglen = 0;
        if (!OSSL_PARAM_get_octet_string(p, (void **)&c->vsig, 0, &c->vsiglen))
            return 0;
    }
    return 1;
}

/* verify: 0 sign, 1 verify; msg: 1 for the message operations. */
static int ekp_sigalg_init(void *ctx, void *provkey, const OSSL_PARAM params[], int verify, int msg)
{
    ekp_sig_ctx *c = ctx;

    if (!ekp_sig_init(c, provkey, verify, NULL, ekp_sigalg_set_ctx_params))
        return 0;
    c->md = c->fixed_md;
    c->msg = msg;
    OPENSSL_free(c->vsig);
    c->vsig = NULL;
    c->vsiglen = 0;
    if (msg && !ekp_sig_start_md(c))
        return 0;
    return ekp_sigalg_set_ctx_params(c, params);
}

static int ekp_sigalg_sign_init(void *ctx, void *provkey, const OSSL_PARAM params[])
{
    return ekp_sigalg_init(ctx, provkey, params, 0, 0);
}

static int ekp_sigalg_sign_message_init(void *ctx, void *provkey, const OSSL_PARAM params[])
{
    return ekp_sigalg_init(ctx, provkey, params, 0, 1);
}

static int ekp_sigalg_verify_init(void *ctx, void *provkey, const OSSL_PARAM params[])
{
    return ekp_sigalg_init(ctx, provkey, params, 1, 0);
}

static int ekp_sigalg_verify_message_init(void *ctx, void *provkey, const OSSL_PARAM params[])
{
    return ekp_sigalg_init(ctx, provkey, params, 1, 1);
}

/* One shot: after sign_message_init tbs is the message, after sign_init
 * (init_ex2) the digest. A size query (sig NULL) consumes nothing. */
static int ekp_sigalg_sign(void *ctx, unsigned char *sig, size_t *siglen, size_t sigsize,
                           const unsigned char *tbs, size_t tbslen)
{
    ekp_sig_ctx *c = ctx;
    if (!c->msg || sig == NULL)
        return ekp_sig_sign(c, sig, siglen, sigsize, tbs, tbslen);
    return ekp_sig_digest_update(c, tbs, tbslen) &&
           ekp_sig_digest_sign_final(c, sig, siglen, sigsize);
}

static int ekp_sigalg_verify(void *ctx, const unsigned char *sig, size_t siglen,
                             const unsigned char *tbs, size_t tbslen)
{
    ekp_sig_ctx *c = ctx;
    if (!c->msg)
        return ekp_sig_verify(c, sig, siglen, tbs, tbslen);
    return ekp_sig_digest_update(c, tbs, tbslen) && ekp_sig_digest_verify_final(c, sig, siglen);
}

static int ekp_sigalg_verify_message_final(void *ctx)
{
    ekp_sig_ctx *c = ctx;
    if (c->vsig == NULL) {
        ekp_raise(c->prov, EKP_R_INVALID,
                  "no signature to verify: give it with EVP_PKEY_CTX_set_signature before "
                  "EVP_PKEY_verify_message_final");
        return 0;
    }
    return ekp_sig_digest_verify_final(c, c->vsig, c->vsiglen);
}

static int ekp_sigalg_get_ctx_params(void *ctx, OSSL_PARAM params[])
{
    return ekp_sig_get_common_params(ctx, params);
}

static const OSSL_PARAM *ekp_sigalg_settable_ctx_params(void *ctx, void *provctx)
{
    static const OSSL_PARAM types[] = {
        OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_SIGNATURE, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
        OSSL_PARAM_END,
    };
    (void)ctx;
    (void)provctx;
    return types;
}

/* EVP checks the key against these before init (query_key_types). */
static const char **ekp_sigalg_rsa_key_types(void)
{
    static const char *types[] = {"RSA", NULL};
    return types;
}

static const char **ekp_sigalg_ec_key_types(void)
{
    static const char *types[] = {"EC", NULL};
    return types;
}

/* One dispatch table per algorithm; only newctx (which fixes key type and
 * digest) and the key types differ. */
#define EKP_SIGALG(name, alg, md, keytypes)                                                        \
    static void *ekp_##name##_newctx(void *provctx, const char *propq)                             \
    {                                                                                              \
        return ekp_sigalg_newctx(provctx, propq, alg, md);                                         \
    }                                                                                              \
    const OSSL_DISPATCH ekp_##name##_sigalg_functions[] = {                                        \
        {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))ekp_##name##_newctx},                         \
        {OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))ekp_sig_freectx},                            \
        {OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))ekp_sig_dupctx},                              \
        {OSSL_FUNC_SIGNATURE_QUERY_KEY_TYPES, (void (*)(void))keytypes},                           \
        {OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*)(void))ekp_sigalg_sign_init},                     \
        {OSSL_FUNC_SIGNATURE_SIGN, (void (*)(void))ekp_sigalg_sign},                               \
        {OSSL_FUNC_SIGNATURE_SIGN_MESSAGE_INIT, (void (*)(void))ekp_sigalg_sign_message_init},     \
        {OSSL_FUNC_SIGNATURE_SIGN_MESSAGE_UPDATE, (void (*)(void))ekp_sig_digest_update},          \
        {OSSL_FUNC_SIGNATURE_SIGN_MESSAGE_FINAL, (void (*)(void))ekp_sig_digest_sign_final},       \
        {OSSL_FUNC_SIGNATURE_VERIFY_INIT, (void (*)(void))ekp_sigalg_verify_init},                 \
        {OSSL_FUNC_SIGNATURE_VERIFY, (void (*)(void))ekp_sigalg_verify},                           \
        {OSSL_FUNC_SIGNATURE_VERIFY_MESSAGE_INIT, (void (*)(void))ekp_sigalg_verify_message_init}, \
        {OSSL_FUNC_SIGNATURE_VERIFY_MESSAGE_UPDATE, (void (*)(void))ekp_sig_digest_update},        \
        {OSSL_FUNC_SIGNATURE_VERIFY_MESSAGE_FINAL,                                                 \
         (void (*)(void))ekp_sigalg_verify_message_final},                                         \
        {OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))ekp_sigalg_get_ctx_params},           \
        {OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, (void (*)(void))ekp_sig_gettable_common},        \
        {OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (void (*)(void))ekp_sigalg_set_ctx_params},           \
        {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, (void (*)(void))ekp_sigalg_settable_ctx_params}, \
        {0, NULL},                                                                                 \
    };

EKP_SIGALG(rsa_sha256, EK_ALG_RSA, EK_MD_SHA256, ekp_sigalg_rsa_key_types)
EKP_SIGALG(rsa_sha384, EK_ALG_RSA, EK_MD_SHA384, ekp_sigalg_rsa_key_types)
EKP_SIGALG(rsa_sha512, EK_ALG_RSA, EK_MD_SHA512, ekp_sigalg_rsa_key_types)
EKP_SIGALG(ecdsa_sha256, EK_ALG_EC, EK_MD_SHA256, ekp_sigalg_ec_key_types)
EKP_SIGALG(ecdsa_sha384, EK_ALG_EC, EK_MD_SHA384, ekp_sigalg_ec_key_types)
EKP_SIGALG(ecdsa_sha512, EK_ALG_EC, EK_MD_SHA512, ekp_sigalg_ec_key_types)

#endif /* EKP_HAVE_SIGALGS */
