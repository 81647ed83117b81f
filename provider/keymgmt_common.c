/* edgekey OpenSSL provider: key management shared by RSA and EC.
 *
 * Keys come from our decoders and store loader (load), from generation
 * (keymgmt_gen.c) or, public half only, from import. Export hands out the
 * public half only (nothing private ever leaves the TPM); a selection of the
 * private key alone fails. */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include "ekp.h"

void ekp_km_free(void *keydata)
{
    ekp_key_free(keydata);
}

void *ekp_km_load(const void *reference, size_t reference_sz)
{
    ekp_key **slot = (ekp_key **)reference;
    ekp_key *k;
    if (reference == NULL || reference_sz != sizeof(*slot))
        return NULL;
    k = *slot;
    *slot = NULL; /* taken: the decoder / store loader must not free it */
    return k;
}

int ekp_km_has(const void *keydata, int selection)
{
    const ekp_key *k = keydata;
    if (k == NULL)
        return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 && k->tpm == NULL)
        return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0 && !k->has_pub)
        return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS) != 0 && k->alg == EK_ALG_EC &&
        k->pub.curve == EK_CURVE_NONE)
        return 0;
    return 1;
}

static int ekp_pub_equal(const ekp_key *a, const ekp_key *b)
{
    if (a->alg != b->alg || !a->has_pub || !b->has_pub)
        return 0;
    if (a->alg == EK_ALG_RSA)
        return a->pub.e == b->pub.e && a->pub.n_len == b->pub.n_len &&
               memcmp(a->pub.n, b->pub.n, a->pub.n_len) == 0;
    return a->pub.curve == b->pub.curve && a->pub.point_len == b->pub.point_len &&
           memcmp(a->pub.point, b->pub.point, a->pub.point_len) == 0;
}

int ekp_km_match(const void *keydata1, const void *keydata2, int selection)
{
    const ekp_key *a = keydata1, *b = keydata2;
    if (a == NULL || b == NULL || a->alg != b->alg)
        return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS) != 0 && a->alg == EK_ALG_EC &&
        a->pub.curve != b->pub.curve)
        return 0;
    /* A private key is identified by its public half (the TPM holds the rest). */
    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0)
        return ekp_pub_equal(a, b);
    return 1;
}

int ekp_km_validate(const void *keydata, int selection, int checktype)
{
    (void)checktype;
    return ekp_km_has(keydata, selection);
}

void *ekp_km_dup(const void *keydata_from, int selection)
{
    const ekp_key *from = keydata_from;
    ekp_key *k = ekp_key_new(from->prov, from->alg);
    if (k == NULL)
        return NULL;
    k->pub = from->pub;
    k->has_pub = from->has_pub && (selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0;
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 && from->tpm != NULL)
        k->tpm = ek_key_ref(from->tpm);
    return k;
}

int ekp_km_export(void *keydata, int selection, OSSL_CALLBACK *cb, void *cbarg)
{
    const ekp_key *k = keydata;
    if (k == NULL)
        return 0;
    /* Only the public half ever leaves. EVP hands a key to another key
     * manager with the whole selection (OSSL_KEYMGMT_SELECT_ALL, which is
     * also EVP_PKEY_KEYPAIR), as for any key whose private half cannot be
     * exported: that is how a verification under provider=default gets the
     * public key. Signing never takes this path: our keymgmt answers
     * signature names only edgekey implements. */
    if ((selection & (OSSL_KEYMGMT_SELECT_PUBLIC_KEY | OSSL_KEYMGMT_SELECT_ALL_PARAMETERS)) == 0) {
        ekp_raise(k->prov, EKP_R_NO_PRIVATE_EXPORT,
                  "edgekey %s key: the private key stays in the TPM and cannot be exported; "
                  "export the public key (EVP_PKEY_PUBLIC_KEY) instead",
                  ekp_alg_type_name(k->alg));
        return 0;
    }
    if (k->alg == EK_ALG_RSA)
        return ekp_km_export_rsa(k, selection, cb, cbarg);
    return ekp_km_export_ec(k, selection, cb, cbarg);
}

int ekp_km_get_common_params(const ekp_key *k, OSSL_PARAM params[])
{
    OSSL_PARAM *p;
    unsigned bits = k->alg == EK_ALG_RSA ? k->pub.bits : ekp_curve_bits(k->pub.curve);

    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_BITS);
    if (p != NULL && !OSSL_PARAM_set_int(p, (int)bits))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_SECURITY_BITS);
    if (p != NULL && !OSSL_PARAM_set_int(p, ekp_key_security_bits(k)))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_MAX_SIZE);
    if (p != NULL && !OSSL_PARAM_set_int(p, (int)ekp_key_max_sig(k)))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_DEFAULT_DIGEST);
    if (p != NULL &&
        !OSSL_PARAM_set_utf8_string(p, k->alg == EK_ALG_EC && bits > 256 ? "SHA384" : "SHA256"))
        return 0;
    return 1;
}
