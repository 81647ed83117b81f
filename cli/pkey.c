/* edgekey CLI: a TPM key's public half as an OpenSSL EVP_PKEY.
 *
 * Built with EVP_PKEY_fromdata from the default provider only
 * ("provider=default"), so the CLI never needs the edgekey provider: the
 * EVP_PKEY goes into CSRs and is compared with certificates, both purely
 * public-key work. */
#include <string.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/param_build.h>
#include "cli.h"

static ek_rc build_params(const ek_pubkey *pub, OSSL_PARAM_BLD *bld, BIGNUM **n, BIGNUM **e)
{
    if (pub->alg == EK_ALG_RSA) {
        *n = BN_bin2bn(pub->n, (int)pub->n_len, NULL);
        *e = BN_new();
        if (*n == NULL || *e == NULL || !BN_set_word(*e, pub->e) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, *n) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, *e))
            return ek_error(EK_ERR_NOMEM, "out of memory building the RSA public key");
        return EK_OK;
    }
    if (pub->alg == EK_ALG_EC) {
        const char *group = pub->curve == EK_CURVE_P256   ? "P-256"
                            : pub->curve == EK_CURVE_P384 ? "P-384"
                                                          : NULL;
        if (group == NULL)
            return ek_error(EK_ERR_UNSUPPORTED, "the key's EC curve is not P-256 or P-384");
        if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
            !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub->point,
                                              pub->point_len))
            return ek_error(EK_ERR_NOMEM, "out of memory building the EC public key");
        return EK_OK;
    }
    return ek_error(EK_ERR_UNSUPPORTED, "the key is neither RSA nor EC");
}

ek_rc cli_pkey_from_pub(const ek_pubkey *pub, EVP_PKEY **out)
{
    *out = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *n = NULL, *e = NULL;
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *pctx = NULL;
    ek_rc rc = bld ? build_params(pub, bld, &n, &e)
                   : ek_error(EK_ERR_NOMEM, "out of memory building a public key");
    if (rc == EK_OK && (params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
        rc = ek_error(EK_ERR_NOMEM, "out of memory building a public key");
    if (rc == EK_OK) {
        pctx = EVP_PKEY_CTX_new_from_name(NULL, pub->alg == EK_ALG_RSA ? "RSA" : "EC",
                                          "provider=default");
        if (pctx == NULL || EVP_PKEY_fromdata_init(pctx) <= 0 ||
            EVP_PKEY_fromdata(pctx, out, EVP_PKEY_PUBLIC_KEY, params) <= 0)
            rc = ek_error(EK_ERR_INVALID,
                          "OpenSSL refused the key's public numbers (%s %u "
                          "bits); the TPM key may be damaged",
                          pub->alg == EK_ALG_RSA ? "RSA" : "EC", pub->bits);
    }
    EVP_PKEY_CTX_free(pctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return rc;
}

bool cli_pub_equal(const ek_pubkey *a, const ek_pubkey *b)
{
    if (a->alg != b->alg)
        return false;
    if (a->alg == EK_ALG_RSA)
        return a->e == b->e && a->n_len == b->n_len && memcmp(a->n, b->n, a->n_len) == 0;
    return a->curve == b->curve && a->point_len == b->point_len &&
           memcmp(a->point, b->point, a->point_len) == 0;
}
