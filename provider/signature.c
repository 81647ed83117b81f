/* edgekey OpenSSL provider: the signature work shared by RSA and ECDSA.
 *
 * sign / digest_sign* hash in software and have the TPM sign the digest;
 * verify / digest_verify* run in software on a default-provider copy of the
 * public key: the TPM is never used for public-key work. */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include "signature.h"

ekp_sig_ctx *ekp_sig_newctx(void *provctx, const char *propq, ek_alg alg)
{
    ekp_sig_ctx *c = OPENSSL_zalloc(sizeof(*c));
    if (c == NULL)
        return NULL;
    c->prov = provctx;
    c->alg = alg;
    if (propq != NULL && (c->propq = OPENSSL_strdup(propq)) == NULL) {
        OPENSSL_free(c);
        return NULL;
    }
    c->pad = RSA_PKCS1_PADDING;
    c->saltlen = RSA_PSS_SALTLEN_DIGEST;
    return c;
}

void ekp_sig_freectx(void *ctx)
{
    ekp_sig_ctx *c = ctx;
    if (c == NULL)
        return;
    ekp_key_free(c->key);
    ek_md_ctx_free(c->mdctx);
    EVP_PKEY_free(c->soft);
    OPENSSL_free(c->vsig);
    OPENSSL_free(c->propq);
    OPENSSL_free(c);
}

/* libssl duplicates contexts (EVP_DigestSignFinal on a copy, transcript
 * hashes), so everything, including the running digest, is copied. */
void *ekp_sig_dupctx(void *ctx)
{
    const ekp_sig_ctx *src = ctx;
    ekp_sig_ctx *c = OPENSSL_memdup(src, sizeof(*src));
    if (c == NULL)
        return NULL;
    c->propq = NULL;
    c->mdctx = NULL;
    c->vsig = NULL;
    ekp_key_ref(c->key);
    if (c->soft != NULL && !EVP_PKEY_up_ref(c->soft))
        c->soft = NULL;
    if ((src->propq != NULL && (c->propq = OPENSSL_strdup(src->propq)) == NULL) ||
        (src->mdctx != NULL && (c->mdctx = ek_md_ctx_dup(src->mdctx)) == NULL) ||
        (src->vsig != NULL && (c->vsig = OPENSSL_memdup(src->vsig, src->vsiglen)) == NULL)) {
        ekp_sig_freectx(c);
        return NULL;
    }
    return c;
}

int ekp_sig_set_md(ekp_sig_ctx *c, const char *name)
{
    ek_md md = ek_md_from_name(name);
    if (md == EK_MD_NONE) {
        ekp_raise(c->prov, EKP_R_UNSUPPORTED,
                  "digest %s refused: TPM signatures use SHA256, SHA384, SHA512 (or SHA1); "
                  "use e.g. -sha256",
                  name);
        return 0;
    }
    c->md = md;
    return 1;
}

/* The running digest for c->md: core's (no library context, no fetch: a
 * fetch would build a method store in every process, ~1 ms, and the
 * application's default context could route it to an ENGINE). */
int ekp_sig_start_md(ekp_sig_ctx *c)
{
    if (c->mdctx != NULL)
        return ek_md_ctx_reset(c->mdctx, c->md);
    return (c->mdctx = ek_md_ctx_new(c->md)) != NULL;
}

int ekp_sig_init(ekp_sig_ctx *c, void *provkey, int verify, const OSSL_PARAM params[],
                 ekp_sig_set_params_fn set_params)
{
    ekp_key *k = provkey;
    if (k != NULL) {
        if (k->alg != c->alg) {
            ekp_raise(c->prov, EKP_R_INVALID, "edgekey %s signature given a %s key",
                      ekp_alg_type_name(c->alg), ekp_alg_type_name(k->alg));
            return 0;
        }
        if (!verify && k->tpm == NULL) {
            ekp_raise(c->prov, EKP_R_NO_PRIVATE_KEY,
                      "edgekey %s key holds only a public key; sign with a TPM key (pkcs11: "
                      "URI, handle: or TSS2 key file)",
                      ekp_alg_type_name(k->alg));
            return 0;
        }
        if (verify && !k->has_pub) {
            ekp_raise(c->prov, EKP_R_INVALID, "edgekey key has no public part to verify with");
            return 0;
        }
        ekp_key_free(c->key);
        c->key = ekp_key_ref(k);
        EVP_PKEY_free(c->soft);
        c->soft = NULL;
    }
    if (c->key == NULL) {
        ekp_raise(c->prov, EKP_R_INVALID, "no key given to the edgekey signature");
        return 0;
    }
    c->verify = verify;
    c->md = EK_MD_NONE;
    c->pad = RSA_PKCS1_PADDING;
    c->saltlen = RSA_PSS_SALTLEN_DIGEST;
    c->mgf1 = EK_MD_NONE;
    if (verify && c->soft == NULL && (c->soft = ekp_key_soft(c->key)) == NULL)
        return 0;
    return set_params(c, params);
}

int ekp_sig_digest_init(ekp_sig_ctx *c, const char *mdname, void *provkey, int verify,
                        const OSSL_PARAM params[], ekp_sig_set_params_fn set_params)
{
    if (!ekp_sig_init(c, provkey, verify, params, set_params))
        return 0;
    if (mdname != NULL && *mdname != '\0' && !ekp_sig_set_md(c, mdname))
        return 0;
    if (c->md == EK_MD_NONE)
        c->md = EK_MD_SHA256;
    return ekp_sig_start_md(c);
}

/* Digest for a sign-on-digest call: the chosen one, or by length. */
static ek_md ekp_sig_md_for(ekp_sig_ctx *c, size_t tbslen)
{
    ek_md md = c->md;
    if (md == EK_MD_NONE)
        md = tbslen == 20   ? EK_MD_SHA1
             : tbslen == 32 ? EK_MD_SHA256
             : tbslen == 48 ? EK_MD_SHA384
             : tbslen == 64 ? EK_MD_SHA512
                            : EK_MD_NONE;
    if (md == EK_MD_NONE || ek_md_size(md) != tbslen) {
        ekp_raise(c->prov, EKP_R_INVALID,
                  "digest of %zu bytes does not fit %s; the TPM signs SHA1/SHA256/SHA384/SHA512 "
                  "digests",
                  tbslen, md == EK_MD_NONE ? "any supported digest" : ek_md_name(md));
        return EK_MD_NONE;
    }
    return md;
}

int ekp_sig_sign(void *ctx, unsigned char *sig, size_t *siglen, size_t sigsize,
                 const unsigned char *tbs, size_t tbslen)
{
    ekp_sig_ctx *c = ctx;
    ek_sig_scheme scheme = EK_SIG_ECDSA;
    size_t len = sigsize;
    ek_md md;
    ek_rc rc;

    if (c->key == NULL || c->key->tpm == NULL)
        return 0;
    if (sig == NULL) {
        *siglen = ekp_key_max_sig(c->key);
        return 1;
    }
    if ((md = ekp_sig_md_for(c, tbslen)) == EK_MD_NONE)
        return 0;
    if (c->alg == EK_ALG_RSA) {
        scheme = c->pad == RSA_PKCS1_PSS_PADDING ? EK_SIG_RSA_PSS : EK_SIG_RSA_PKCS1;
        if (scheme == EK_SIG_RSA_PSS) {
            ek_md saved = c->md;
            c->md = md; /* the salt check compares with this digest */
            int salt = ekp_sig_pss_salt(c);
            c->md = saved;
            if (salt < 0)
                return 0;
        }
    }
    rc = ek_key_sign(c->key->tpm, scheme, md, tbs, tbslen, EK_ECDSA_DER, sig, &len);
    if (rc != EK_OK) {
        ekp_raise_core(c->prov, rc, NULL);
        return 0;
    }
    *siglen = len;
    return 1;
}

/* Software verification of a digest with the default provider. */
int ekp_sig_verify(void *ctx, const unsigned char *sig, size_t siglen, const unsigned char *tbs,
                   size_t tbslen)
{
    ekp_sig_ctx *c = ctx;
    EVP_PKEY_CTX *pctx = NULL;
    EVP_MD *md = NULL;
    ek_md m;
    int ok = 0;

    if (c->soft == NULL || (m = ekp_sig_md_for(c, tbslen)) == EK_MD_NONE)
        return 0;
    md = EVP_MD_fetch(c->prov->libctx, ek_md_name(m), EKP_SOFT_PROPQ);
    pctx = EVP_PKEY_CTX_new_from_pkey(c->prov->libctx, c->soft, EKP_SOFT_PROPQ);
    if (md == NULL || pctx == NULL || EVP_PKEY_verify_init(pctx) <= 0 ||
        EVP_PKEY_CTX_set_signature_md(pctx, md) <= 0)
        goto end;
    if (c->alg == EK_ALG_RSA) {
        if (EVP_PKEY_CTX_set_rsa_padding(pctx, c->pad) <= 0)
            goto end;
        if (c->pad == RSA_PKCS1_PSS_PADDING) {
            EVP_MD *mgf1 = c->mgf1 == EK_MD_NONE
                               ? NULL
                               : EVP_MD_fetch(c->prov->libctx, ek_md_name(c->mgf1), EKP_SOFT_PROPQ);
            int r = EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, c->saltlen) > 0 &&
                    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, mgf1 != NULL ? mgf1 : md) > 0;
            EVP_MD_free(mgf1);
            if (!r)
                goto end;
        }
    }
    ok = EVP_PKEY_verify(pctx, sig, siglen, tbs, tbslen) == 1;
end:
    EVP_PKEY_CTX_free(pctx);
    EVP_MD_free(md);
    return ok;
}

int ekp_sig_digest_update(void *ctx, const unsigned char *data, size_t datalen)
{
    ekp_sig_ctx *c = ctx;
    return c->mdctx != NULL && ek_md_ctx_update(c->mdctx, data, datalen);
}

int ekp_sig_digest_sign_final(void *ctx, unsigned char *sig, size_t *siglen, size_t sigsize)
{
    ekp_sig_ctx *c = ctx;
    unsigned char dgst[EVP_MAX_MD_SIZE];

    if (c->mdctx == NULL)
        return 0;
    if (sig == NULL) /* size query: the digest keeps running */
        return ekp_sig_sign(c, NULL, siglen, sigsize, NULL, 0);
    if (!ek_md_ctx_final(c->mdctx, dgst))
        return 0;
    return ekp_sig_sign(c, sig, siglen, sigsize, dgst, ek_md_size(c->md));
}

int ekp_sig_digest_sign(void *ctx, unsigned char *sig, size_t *siglen, size_t sigsize,
                        const unsigned char *tbs, size_t tbslen)
{
    ekp_sig_ctx *c = ctx;
    unsigned char dgst[EVP_MAX_MD_SIZE];

    if (sig == NULL)
        return ekp_sig_sign(c, NULL, siglen, sigsize, NULL, 0);
    if (c->mdctx == NULL || !ek_md_digest(c->md, tbs, tbslen, dgst))
        return 0;
    return ekp_sig_sign(c, sig, siglen, sigsize, dgst, ek_md_size(c->md));
}

int ekp_sig_digest_verify_final(void *ctx, const unsigned char *sig, size_t siglen)
{
    ekp_sig_ctx *c = ctx;
    unsigned char dgst[EVP_MAX_MD_SIZE];

    if (c->mdctx == NULL || !ek_md_ctx_final(c->mdctx, dgst))
        return 0;
    return ekp_sig_verify(c, sig, siglen, dgst, ek_md_size(c->md));
}

int ekp_sig_digest_verify(void *ctx, const unsigned char *sig, size_t siglen,
                          const unsigned char *tbs, size_t tbslen)
{
    ekp_sig_ctx *c = ctx;
    unsigned char dgst[EVP_MAX_MD_SIZE];

    if (c->mdctx == NULL || !ek_md_digest(c->md, tbs, tbslen, dgst))
        return 0;
    return ekp_sig_verify(c, sig, siglen, dgst, ek_md_size(c->md));
}

int ekp_sig_get_common_params(ekp_sig_ctx *c, OSSL_PARAM params[])
{
    OSSL_PARAM *p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID);
    if (p != NULL) {
        unsigned char *der = NULL;
        size_t len = 0;
        int ok = ekp_sig_algorithm_id(c, &der, &len) && OSSL_PARAM_set_octet_string(p, der, len);
        OPENSSL_free(der);
        if (!ok)
            return 0;
    }
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST);
    if (p != NULL && c->md != EK_MD_NONE && !OSSL_PARAM_set_utf8_string(p, ek_md_name(c->md)))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST_SIZE);
    if (p != NULL && !OSSL_PARAM_set_size_t(p, ek_md_size(c->md)))
        return 0;
    return 1;
}

const OSSL_PARAM *ekp_sig_gettable_common(void *ctx, void *provctx)
{
    static const OSSL_PARAM types[] = {
        OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
        OSSL_PARAM_size_t(OSSL_SIGNATURE_PARAM_DIGEST_SIZE, NULL),
        OSSL_PARAM_END,
    };
    (void)ctx;
    (void)provctx;
    return types;
}

int ekp_sig_set_common_params(ekp_sig_ctx *c, const OSSL_PARAM params[])
{
    const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST);
    if (p != NULL) {
        const char *name = NULL;
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &name) || !ekp_sig_set_md(c, name))
            return 0;
        /* A running digest follows the new choice (set before any data). */
        if (c->mdctx != NULL && !ekp_sig_start_md(c))
            return 0;
    }
    /* OSSL_SIGNATURE_PARAM_PROPERTIES: digests always come from the default
     * provider, so a property query for them is accepted and not used. */
    return 1;
}
