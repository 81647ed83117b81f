/* edgekey TPM tests: shared helpers. Verification uses OpenSSL's default
 * provider only, independent of edgekey's own code. */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "tpm_test.h"

int tt_failures;

void tt_digest(ek_md md, const void *msg, size_t len, unsigned char *out)
{
    unsigned int n = 0;
    EVP_Digest(msg, len, out, &n, EVP_get_digestbyname(ek_md_name(md)), NULL);
}

static EVP_PKEY *pub_to_evp(const ek_pubkey *pub)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *n = NULL, *e = NULL;
    const char *type = pub->alg == EK_ALG_RSA ? "RSA" : "EC";
    if (pub->alg == EK_ALG_RSA) {
        n = BN_bin2bn(pub->n, (int)pub->n_len, NULL);
        e = BN_new();
        BN_set_word(e, pub->e);
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n);
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
    } else {
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                        pub->curve == EK_CURVE_P384 ? "P-384" : "P-256", 0);
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub->point, pub->point_len);
    }
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, type, "provider=default");
    EVP_PKEY *pk = NULL;
    if (ctx && EVP_PKEY_fromdata_init(ctx) > 0)
        EVP_PKEY_fromdata(ctx, &pk, EVP_PKEY_PUBLIC_KEY, params);
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return pk;
}

/* raw r||s -> DER */
static unsigned char *raw_to_der(const unsigned char *sig, size_t len, size_t *outlen)
{
    ECDSA_SIG *s = ECDSA_SIG_new();
    ECDSA_SIG_set0(s, BN_bin2bn(sig, (int)(len / 2), NULL),
                   BN_bin2bn(sig + len / 2, (int)(len / 2), NULL));
    unsigned char *der = NULL;
    int n = i2d_ECDSA_SIG(s, &der);
    ECDSA_SIG_free(s);
    *outlen = n > 0 ? (size_t)n : 0;
    return der;
}

bool tt_verify(const ek_pubkey *pub, ek_sig_scheme scheme, ek_md md, const void *msg, size_t len,
               ek_ecdsa_fmt fmt, const unsigned char *sig, size_t siglen)
{
    unsigned char dg[64];
    tt_digest(md, msg, len, dg);
    EVP_PKEY *pk = pub_to_evp(pub);
    if (!pk)
        return false;
    unsigned char *der = NULL;
    if (scheme == EK_SIG_ECDSA && fmt == EK_ECDSA_RAW) {
        der = raw_to_der(sig, siglen, &siglen);
        sig = der;
    }
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pk, "provider=default");
    const EVP_MD *m = EVP_get_digestbyname(ek_md_name(md));
    bool ok = c && EVP_PKEY_verify_init(c) > 0 && EVP_PKEY_CTX_set_signature_md(c, m) > 0;
    if (ok && scheme == EK_SIG_RSA_PKCS1)
        ok = EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING) > 0;
    if (ok && scheme == EK_SIG_RSA_PSS)
        ok = EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PSS_PADDING) > 0 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(c, RSA_PSS_SALTLEN_DIGEST) > 0;
    ok = ok && EVP_PKEY_verify(c, sig, siglen, dg, ek_md_size(md)) == 1;
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(pk);
    OPENSSL_free(der);
    return ok;
}

bool tt_sign_verify(ek_key *key, ek_sig_scheme scheme, ek_md md, ek_ecdsa_fmt fmt, const char *msg)
{
    unsigned char dg[64], sig[1024];
    size_t siglen = sizeof(sig);
    tt_digest(md, msg, strlen(msg), dg);
    ek_rc rc = ek_key_sign(key, scheme, md, dg, ek_md_size(md), fmt, sig, &siglen);
    if (rc != EK_OK) {
        fprintf(stderr, "sign failed: %s: %s\n", ek_rc_name(rc), ek_last_error());
        return false;
    }
    if (!tt_verify(ek_key_public(key), scheme, md, msg, strlen(msg), fmt, sig, siglen)) {
        fprintf(stderr, "signature (scheme %d, %zu bytes) does not verify\n", (int)scheme, siglen);
        return false;
    }
    return true;
}

int tt_finish(const char *name)
{
    if (tt_failures) {
        fprintf(stderr, "%s: %d check(s) failed\n", name, tt_failures);
        return 1;
    }
    printf("%s: all checks passed\n", name);
    return 0;
}
