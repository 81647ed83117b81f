/* edgekey OpenSSL provider: the X.509 AlgorithmIdentifier of a signature
 * ("algorithm-id" context parameter), which X509_sign / X509_REQ_sign_ctx
 * ask a provider for: sha*WithRSAEncryption, RSASSA-PSS with its
 * parameters (RFC 4055) and ecdsa-with-SHA*. Built with OpenSSL's ASN.1
 * types, never by hand. */
#include <openssl/asn1.h>
#include <openssl/obj_mac.h>
#include <openssl/objects.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "signature.h"

static int ekp_md_nid(ek_md md)
{
    switch (md) {
    case EK_MD_SHA1:
        return NID_sha1;
    case EK_MD_SHA256:
        return NID_sha256;
    case EK_MD_SHA384:
        return NID_sha384;
    case EK_MD_SHA512:
        return NID_sha512;
    case EK_MD_NONE:
        break;
    }
    return NID_undef;
}

/* hashAlgorithm as OpenSSL writes it for SHA-2: parameters absent. */
static X509_ALGOR *ekp_hash_algor(ek_md md)
{
    X509_ALGOR *a = X509_ALGOR_new();
    if (a != NULL && !X509_ALGOR_set0(a, OBJ_nid2obj(ekp_md_nid(md)),
                                      md == EK_MD_SHA1 ? V_ASN1_NULL : V_ASN1_UNDEF, NULL)) {
        X509_ALGOR_free(a);
        a = NULL;
    }
    return a;
}

/* MGF1 with the signing digest: AlgorithmIdentifier{id-mgf1, hashAlgorithm}. */
static X509_ALGOR *ekp_mgf1_algor(ek_md md)
{
    X509_ALGOR *hash = ekp_hash_algor(md), *mgf = NULL;
    ASN1_STRING *seq = NULL;
    if (hash == NULL || ASN1_item_pack(hash, ASN1_ITEM_rptr(X509_ALGOR), &seq) == NULL)
        goto end;
    if ((mgf = X509_ALGOR_new()) == NULL ||
        !X509_ALGOR_set0(mgf, OBJ_nid2obj(NID_mgf1), V_ASN1_SEQUENCE, seq)) {
        X509_ALGOR_free(mgf);
        mgf = NULL;
        goto end;
    }
    seq = NULL;
end:
    ASN1_STRING_free(seq);
    X509_ALGOR_free(hash);
    return mgf;
}

static X509_ALGOR *ekp_pss_algor(ek_md md, int salt)
{
    RSA_PSS_PARAMS *pss = RSA_PSS_PARAMS_new();
    ASN1_STRING *packed = NULL;
    X509_ALGOR *alg = NULL;

    if (pss == NULL)
        return NULL;
    /* SHA-1, MGF1-SHA1 and salt 20 are the defaults and are left out (DER). */
    if (md != EK_MD_SHA1 && ((pss->hashAlgorithm = ekp_hash_algor(md)) == NULL ||
                             (pss->maskGenAlgorithm = ekp_mgf1_algor(md)) == NULL))
        goto end;
    if (salt != 20 && ((pss->saltLength = ASN1_INTEGER_new()) == NULL ||
                       !ASN1_INTEGER_set(pss->saltLength, salt)))
        goto end;
    if (ASN1_item_pack(pss, ASN1_ITEM_rptr(RSA_PSS_PARAMS), &packed) == NULL)
        goto end;
    if ((alg = X509_ALGOR_new()) == NULL ||
        !X509_ALGOR_set0(alg, OBJ_nid2obj(NID_rsassaPss), V_ASN1_SEQUENCE, packed)) {
        X509_ALGOR_free(alg);
        alg = NULL;
        goto end;
    }
    packed = NULL;
end:
    ASN1_STRING_free(packed);
    RSA_PSS_PARAMS_free(pss);
    return alg;
}

static X509_ALGOR *ekp_plain_algor(ek_md md, int pkey_nid, int ptype)
{
    int sig_nid = NID_undef;
    X509_ALGOR *alg;
    if (!OBJ_find_sigid_by_algs(&sig_nid, ekp_md_nid(md), pkey_nid))
        return NULL;
    if ((alg = X509_ALGOR_new()) != NULL &&
        !X509_ALGOR_set0(alg, OBJ_nid2obj(sig_nid), ptype, NULL)) {
        X509_ALGOR_free(alg);
        alg = NULL;
    }
    return alg;
}

int ekp_sig_algorithm_id(const ekp_sig_ctx *c, unsigned char **der, size_t *len)
{
    X509_ALGOR *alg = NULL;
    int n;
    ek_md md = c->md != EK_MD_NONE ? c->md : EK_MD_SHA256;

    if (c->alg == EK_ALG_EC) {
        alg = ekp_plain_algor(md, NID_X9_62_id_ecPublicKey, V_ASN1_UNDEF);
    } else if (c->pad == RSA_PKCS1_PSS_PADDING) {
        ekp_sig_ctx tmp = *c;
        tmp.md = md;
        int salt = ekp_sig_pss_salt(&tmp);
        if (salt < 0)
            return 0;
        alg = ekp_pss_algor(md, salt);
    } else {
        alg = ekp_plain_algor(md, NID_rsaEncryption, V_ASN1_NULL);
    }
    if (alg == NULL) {
        ekp_raise(c->prov, EKP_R_SOFTWARE, "cannot encode the signature AlgorithmIdentifier");
        return 0;
    }
    *der = NULL;
    n = i2d_X509_ALGOR(alg, der);
    X509_ALGOR_free(alg);
    if (n <= 0)
        return 0;
    *len = (size_t)n;
    return 1;
}
