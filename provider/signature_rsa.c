/* edgekey OpenSSL provider: RSA signatures (PKCS#1 v1.5 and PSS), registered
 * as "EDGEKEY-RSA-SIG" only.
 *
 * PSS: the TPM signs with salt length = digest length and MGF1 over the
 * signing digest (what TLS 1.3 requires). "digest" (-1) is that; "auto" (-2)
 * is mapped to it on signing (any auto-verifier accepts it); "max" (-3) and
 * any other length or MGF1 digest are refused with a message naming the fix. */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include "signature.h"

int ekp_sig_pss_salt(const ekp_sig_ctx *c)
{
    int mdsize = (int)ek_md_size(c->md);
    if (c->mgf1 != EK_MD_NONE && c->mgf1 != c->md) {
        ekp_raise(c->prov, EKP_R_UNSUPPORTED,
                  "RSA-PSS with MGF1-%s refused: the TPM uses MGF1 with the signing digest "
                  "(%s); drop the mgf1 digest option",
                  ek_md_name(c->mgf1), ek_md_name(c->md));
        return -1;
    }
    if (c->saltlen == RSA_PSS_SALTLEN_DIGEST || c->saltlen == RSA_PSS_SALTLEN_AUTO ||
        c->saltlen == mdsize)
        return mdsize;
    if (c->saltlen == RSA_PSS_SALTLEN_MAX)
        ekp_raise(c->prov, EKP_R_UNSUPPORTED,
                  "RSA-PSS salt length 'max' refused: the TPM signs with salt length = digest "
                  "length (%d bytes for %s); use rsa_pss_saltlen:digest",
                  mdsize, ek_md_name(c->md));
    else
        ekp_raise(c->prov, EKP_R_UNSUPPORTED,
                  "RSA-PSS salt length %d refused: the TPM signs with salt length = digest "
                  "length (%d bytes for %s); use rsa_pss_saltlen:digest",
                  c->saltlen, mdsize, ek_md_name(c->md));
    return -1;
}

static int ekp_rsa_set_pad(ekp_sig_ctx *c, const OSSL_PARAM *p)
{
    int pad = 0;
    if (p->data_type == OSSL_PARAM_UTF8_STRING) {
        const char *s = NULL;
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &s))
            return 0;
        pad = strcmp(s, OSSL_PKEY_RSA_PAD_MODE_PKCSV15) == 0 ? RSA_PKCS1_PADDING
              : strcmp(s, OSSL_PKEY_RSA_PAD_MODE_PSS) == 0   ? RSA_PKCS1_PSS_PADDING
                                                             : -1;
    } else if (!OSSL_PARAM_get_int(p, &pad)) {
        return 0;
    }
    if (pad != RSA_PKCS1_PADDING && pad != RSA_PKCS1_PSS_PADDING) {
        ekp_raise(c->prov, EKP_R_UNSUPPORTED,
                  "RSA padding mode %d refused: TPM keys sign with PKCS#1 v1.5 (pkcs1) or PSS "
                  "(pss)",
                  pad);
        return 0;
    }
    c->pad = pad;
    return 1;
}

static int ekp_rsa_set_saltlen(ekp_sig_ctx *c, const OSSL_PARAM *p)
{
    int salt = 0;
    if (p->data_type == OSSL_PARAM_UTF8_STRING) {
        const char *s = NULL;
        char *end = NULL;
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &s))
            return 0;
        if (strcmp(s, "digest") == 0)
            salt = RSA_PSS_SALTLEN_DIGEST;
        else if (strcmp(s, "auto") == 0)
            salt = RSA_PSS_SALTLEN_AUTO;
        else if (strcmp(s, "max") == 0)
            salt = RSA_PSS_SALTLEN_MAX;
        else if ((salt = (int)strtol(s, &end, 10)) < 0 || end == s || *end != '\0')
            return 0;
    } else if (!OSSL_PARAM_get_int(p, &salt)) {
        return 0;
    }
    c->saltlen = salt;
    return 1;
}

static int ekp_rsa_set_ctx_params(void *ctx, const OSSL_PARAM params[])
{
    ekp_sig_ctx *c = ctx;
    const OSSL_PARAM *p;

    if (params == NULL)
        return 1;
    if (!ekp_sig_set_common_params(c, params))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PAD_MODE)) != NULL &&
        !ekp_rsa_set_pad(c, p))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN)) != NULL &&
        !ekp_rsa_set_saltlen(c, p))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST)) != NULL) {
        const char *name = NULL;
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &name))
            return 0;
        if ((c->mgf1 = ek_md_from_name(name)) == EK_MD_NONE) {
            ekp_raise(c->prov, EKP_R_UNSUPPORTED, "MGF1 digest %s refused", name);
            return 0;
        }
    }
    return 1;
}

static int ekp_rsa_get_ctx_params(void *ctx, OSSL_PARAM params[])
{
    ekp_sig_ctx *c = ctx;
    OSSL_PARAM *p;

    if (!ekp_sig_get_common_params(c, params))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PAD_MODE);
    if (p != NULL) {
        int ok = p->data_type == OSSL_PARAM_INTEGER
                     ? OSSL_PARAM_set_int(p, c->pad)
                     : OSSL_PARAM_set_utf8_string(p, c->pad == RSA_PKCS1_PSS_PADDING
                                                         ? OSSL_PKEY_RSA_PAD_MODE_PSS
                                                         : OSSL_PKEY_RSA_PAD_MODE_PKCSV15);
        if (!ok)
            return 0;
    }
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_PSS_SALTLEN);
    if (p != NULL) {
        int ok;
        if (p->data_type == OSSL_PARAM_INTEGER) {
            ok = OSSL_PARAM_set_int(p, c->saltlen);
        } else {
            char buf[16];
            const char *s = c->saltlen == RSA_PSS_SALTLEN_DIGEST ? "digest"
                            : c->saltlen == RSA_PSS_SALTLEN_AUTO ? "auto"
                            : c->saltlen == RSA_PSS_SALTLEN_MAX  ? "max"
                                                                 : NULL;
            if (s == NULL) {
                snprintf(buf, sizeof(buf), "%d", c->saltlen);
                s = buf;
            }
            ok = OSSL_PARAM_set_utf8_string(p, s);
        }
        if (!ok)
            return 0;
    }
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_MGF1_DIGEST);
    if (p != NULL) {
        ek_md m = c->mgf1 != EK_MD_NONE ? c->mgf1 : c->md;
        if (m != EK_MD_NONE && !OSSL_PARAM_set_utf8_string(p, ek_md_name(m)))
            return 0;
    }
    return 1;
}

static const OSSL_PARAM *ekp_rsa_gettable_ctx_params(void *ctx, void *provctx)
{
    static const OSSL_PARAM types[] = {
        OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
        OSSL_PARAM_size_t(OSSL_SIGNATURE_PARAM_DIGEST_SIZE, NULL),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
        OSSL_PARAM_END,
    };
    (void)ctx;
    (void)provctx;
    return types;
}

static const OSSL_PARAM *ekp_rsa_settable_ctx_params(void *ctx, void *provctx)
{
    static const OSSL_PARAM types[] = {
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_PROPERTIES, NULL, 0),
        OSSL_PARAM_END,
    };
    (void)ctx;
    (void)provctx;
    return types;
}

static void *ekp_rsa_sig_newctx(void *provctx, const char *propq)
{
    return ekp_sig_newctx(provctx, propq, EK_ALG_RSA);
}

static int ekp_rsa_sign_init(void *ctx, void *provkey, const OSSL_PARAM params[])
{
    return ekp_sig_init(ctx, provkey, 0, params, ekp_rsa_set_ctx_params);
}

static int ekp_rsa_verify_init(void *ctx, void *provkey, const OSSL_PARAM params[])
{
    return ekp_sig_init(ctx, provkey, 1, params, ekp_rsa_set_ctx_params);
}

static int ekp_rsa_digest_sign_init(void *ctx, const char *mdname, void *provkey,
                                    const OSSL_PARAM params[])
{
    return ekp_sig_digest_init(ctx, mdname, provkey, 0, params, ekp_rsa_set_ctx_params);
}

static int ekp_rsa_digest_verify_init(void *ctx, const char *mdname, void *provkey,
                                      const OSSL_PARAM params[])
{
    return ekp_sig_digest_init(ctx, mdname, provkey, 1, params, ekp_rsa_set_ctx_params);
}

const OSSL_DISPATCH ekp_rsa_signature_functions[] = {
    {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))ekp_rsa_sig_newctx},
    {OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))ekp_sig_freectx},
    {OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))ekp_sig_dupctx},
    {OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*)(void))ekp_rsa_sign_init},
    {OSSL_FUNC_SIGNATURE_SIGN, (void (*)(void))ekp_sig_sign},
    {OSSL_FUNC_SIGNATURE_VERIFY_INIT, (void (*)(void))ekp_rsa_verify_init},
    {OSSL_FUNC_SIGNATURE_VERIFY, (void (*)(void))ekp_sig_verify},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, (void (*)(void))ekp_rsa_digest_sign_init},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, (void (*)(void))ekp_sig_digest_update},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, (void (*)(void))ekp_sig_digest_sign_final},
    {OSSL_FUNC_SIGNATURE_DIGEST_SIGN, (void (*)(void))ekp_sig_digest_sign},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, (void (*)(void))ekp_rsa_digest_verify_init},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE, (void (*)(void))ekp_sig_digest_update},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL, (void (*)(void))ekp_sig_digest_verify_final},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY, (void (*)(void))ekp_sig_digest_verify},
    {OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))ekp_rsa_get_ctx_params},
    {OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, (void (*)(void))ekp_rsa_gettable_ctx_params},
    {OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (void (*)(void))ekp_rsa_set_ctx_params},
    {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, (void (*)(void))ekp_rsa_settable_ctx_params},
    {0, NULL},
};

/* Verification only, registered under property "provider=default" (see
 * ekp_signatures in provider.c): a TPM key object verified under an explicit
 * provider=default query verifies in the default provider's code. */
const OSSL_DISPATCH ekp_rsa_verify_only_functions[] = {
    {OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))ekp_rsa_sig_newctx},
    {OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))ekp_sig_freectx},
    {OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))ekp_sig_dupctx},
    {OSSL_FUNC_SIGNATURE_VERIFY_INIT, (void (*)(void))ekp_rsa_verify_init},
    {OSSL_FUNC_SIGNATURE_VERIFY, (void (*)(void))ekp_sig_verify},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, (void (*)(void))ekp_rsa_digest_verify_init},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE, (void (*)(void))ekp_sig_digest_update},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL, (void (*)(void))ekp_sig_digest_verify_final},
    {OSSL_FUNC_SIGNATURE_DIGEST_VERIFY, (void (*)(void))ekp_sig_digest_verify},
    {OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))ekp_rsa_get_ctx_params},
    {OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, (void (*)(void))ekp_rsa_gettable_ctx_params},
    {OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (void (*)(void))ekp_rsa_set_ctx_params},
    {OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, (void (*)(void))ekp_rsa_settable_ctx_params},
    {0, NULL},
};
