/* edgekey PKCS#11 module: attribute sets of keys and certificates (pure:
 * OpenSSL only). libp11 and OpenSSL-based consumers read the public numbers
 * from the private key object, so they are there too. */
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/asn1t.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include "p11_attr.h"

static const unsigned char oid_p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                         0xce, 0x3d, 0x03, 0x01, 0x07};
static const unsigned char oid_p384[] = {0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22};

CK_RV p11_ec_params(ek_curve curve, const unsigned char **der, size_t *len)
{
    if (curve == EK_CURVE_P256) {
        *der = oid_p256;
        *len = sizeof(oid_p256);
    } else if (curve == EK_CURVE_P384) {
        *der = oid_p384;
        *len = sizeof(oid_p384);
    } else {
        return CKR_CURVE_NOT_SUPPORTED;
    }
    return CKR_OK;
}

ek_curve p11_ec_curve_from_params(const unsigned char *der, size_t len)
{
    if (der && len == sizeof(oid_p256) && memcmp(der, oid_p256, len) == 0)
        return EK_CURVE_P256;
    if (der && len == sizeof(oid_p384) && memcmp(der, oid_p384, len) == 0)
        return EK_CURVE_P384;
    return EK_CURVE_NONE;
}

EVP_PKEY *p11_pkey_from_pub(const ek_pubkey *pub)
{
    EVP_PKEY *pkey = NULL;
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    BIGNUM *n = NULL, *e = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    if (!bld)
        return NULL;
    if (pub->alg == EK_ALG_RSA) {
        n = BN_bin2bn(pub->n, (int)pub->n_len, NULL);
        e = BN_new();
        if (!n || !e || !BN_set_word(e, pub->e) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
            !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
            goto out;
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
    } else if (pub->alg == EK_ALG_EC) {
        const char *group = pub->curve == EK_CURVE_P384 ? "P-384" : "P-256";
        if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, group, 0) ||
            !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pub->point,
                                              pub->point_len))
            goto out;
        ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    }
    params = OSSL_PARAM_BLD_to_param(bld);
    if (!ctx || !params || EVP_PKEY_fromdata_init(ctx) <= 0 ||
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
        pkey = NULL;
out:
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    return pkey;
}

/* RSAPublicKey (RFC 8017 A.1.1), for the SubjectPublicKeyInfo below. */
typedef struct {
    ASN1_INTEGER *n;
    ASN1_INTEGER *e;
} P11_RSAPUB;

/* clang-format off */
ASN1_SEQUENCE(P11_RSAPUB) = {
    ASN1_SIMPLE(P11_RSAPUB, n, ASN1_INTEGER),
    ASN1_SIMPLE(P11_RSAPUB, e, ASN1_INTEGER),
} static_ASN1_SEQUENCE_END(P11_RSAPUB)
    /* clang-format on */

    /* DER RSAPublicKey; *out OPENSSL_malloc'ed. */
    static int rsa_pub_der(const ek_pubkey *pub, unsigned char **out)
{
    P11_RSAPUB *k = (P11_RSAPUB *)ASN1_item_new(ASN1_ITEM_rptr(P11_RSAPUB));
    BIGNUM *n = BN_bin2bn(pub->n, (int)pub->n_len, NULL);
    int len = -1;
    if (k && n && BN_to_ASN1_INTEGER(n, k->n) && ASN1_INTEGER_set_uint64(k->e, pub->e))
        len = ASN1_item_i2d((ASN1_VALUE *)k, out, ASN1_ITEM_rptr(P11_RSAPUB));
    ASN1_item_free((ASN1_VALUE *)k, ASN1_ITEM_rptr(P11_RSAPUB));
    BN_free(n);
    return len;
}

/* SubjectPublicKeyInfo DER of the public key, as i2d_PUBKEY would write it
 * (RSA: rsaEncryption with NULL parameters; EC: id-ecPublicKey with the
 * named curve and the uncompressed point), built from ASN.1 templates:
 * i2d_PUBKEY needs an EVP_PKEY and OpenSSL's encoder machinery, whose
 * first use costs a client ~1.5 ms per process in C_FindObjects. */
CK_RV p11_spki(const ek_pubkey *pub, unsigned char **der, size_t *len)
{
    X509_PUBKEY *xp = X509_PUBKEY_new();
    unsigned char *penc = NULL;
    int plen = -1, n = -1;
    bool set = false;
    *der = NULL;
    if (xp && pub->alg == EK_ALG_RSA && (plen = rsa_pub_der(pub, &penc)) > 0)
        set = X509_PUBKEY_set0_param(xp, OBJ_nid2obj(NID_rsaEncryption), V_ASN1_NULL, NULL, penc,
                                     plen);
    else if (xp && pub->alg == EK_ALG_EC && pub->point_len > 0 &&
             (pub->curve == EK_CURVE_P256 || pub->curve == EK_CURVE_P384) &&
             (penc = OPENSSL_memdup(pub->point, pub->point_len)) != NULL)
        set = X509_PUBKEY_set0_param(
            xp, OBJ_nid2obj(NID_X9_62_id_ecPublicKey), V_ASN1_OBJECT,
            OBJ_nid2obj(pub->curve == EK_CURVE_P384 ? NID_secp384r1 : NID_X9_62_prime256v1), penc,
            (int)pub->point_len);
    if (set)
        n = i2d_X509_PUBKEY(xp, der);
    else
        OPENSSL_free(penc); /* owned by xp only once set */
    X509_PUBKEY_free(xp);
    if (n <= 0) {
        OPENSSL_free(*der);
        *der = NULL;
        return CKR_FUNCTION_FAILED;
    }
    *len = (size_t)n;
    return CKR_OK;
}

#define TRY(x)                                                                                     \
    do {                                                                                           \
        CK_RV rv_ = (x);                                                                           \
        if (rv_ != CKR_OK)                                                                         \
            return rv_;                                                                            \
    } while (0)

static CK_RV common_attrs(p11_attrs *out, CK_OBJECT_CLASS cls, const p11_obj_desc *d)
{
    TRY(p11_attrs_set_ulong(out, CKA_CLASS, cls));
    TRY(p11_attrs_set_bool(out, CKA_TOKEN, d->token));
    TRY(p11_attrs_set_bool(out, CKA_PRIVATE, d->priv));
    TRY(p11_attrs_set_bool(out, CKA_MODIFIABLE, false));
    TRY(p11_attrs_set_bool(out, CKA_COPYABLE, false));
    TRY(p11_attrs_set_bool(out, CKA_DESTROYABLE, true));
    const char *label = d->label ? d->label : "";
    TRY(p11_attrs_set(out, CKA_LABEL, label, strlen(label)));
    TRY(p11_attrs_set(out, CKA_ID, d->id, d->id_len));
    TRY(p11_attrs_set(out, CKA_START_DATE, NULL, 0));
    TRY(p11_attrs_set(out, CKA_END_DATE, NULL, 0));
    return CKR_OK;
}

static const CK_MECHANISM_TYPE rsa_mechs[] = {
    CKM_RSA_PKCS,        CKM_RSA_PKCS_PSS,        CKM_SHA256_RSA_PKCS,     CKM_SHA384_RSA_PKCS,
    CKM_SHA512_RSA_PKCS, CKM_SHA256_RSA_PKCS_PSS, CKM_SHA384_RSA_PKCS_PSS, CKM_SHA512_RSA_PKCS_PSS,
};
static const CK_MECHANISM_TYPE ec_mechs[] = {CKM_ECDSA, CKM_ECDSA_SHA1, CKM_ECDSA_SHA256,
                                             CKM_ECDSA_SHA384};

static CK_RV public_numbers(p11_attrs *out, const ek_pubkey *pub)
{
    if (pub->alg == EK_ALG_RSA) {
        unsigned char e[4];
        size_t elen = 0;
        for (int i = 3; i >= 0; i--) {
            unsigned char b = (unsigned char)(pub->e >> (8 * i));
            if (b || elen)
                e[elen++] = b;
        }
        TRY(p11_attrs_set_ulong(out, CKA_KEY_TYPE, CKK_RSA));
        TRY(p11_attrs_set(out, CKA_MODULUS, pub->n, pub->n_len));
        TRY(p11_attrs_set_ulong(out, CKA_MODULUS_BITS, pub->bits));
        TRY(p11_attrs_set(out, CKA_PUBLIC_EXPONENT, e, elen));
        TRY(p11_attrs_set(out, CKA_ALLOWED_MECHANISMS, rsa_mechs, sizeof(rsa_mechs)));
        return CKR_OK;
    }
    if (pub->alg == EK_ALG_EC) {
        const unsigned char *params;
        size_t plen;
        unsigned char pt[2 + EK_MAX_EC_POINT];
        if (pub->point_len > EK_MAX_EC_POINT)
            return CKR_GENERAL_ERROR;
        TRY(p11_ec_params(pub->curve, &params, &plen));
        /* CKA_EC_POINT is the DER OCTET STRING holding the point. */
        pt[0] = 0x04;
        pt[1] = (unsigned char)pub->point_len;
        memcpy(pt + 2, pub->point, pub->point_len);
        TRY(p11_attrs_set_ulong(out, CKA_KEY_TYPE, CKK_EC));
        TRY(p11_attrs_set(out, CKA_EC_PARAMS, params, plen));
        TRY(p11_attrs_set(out, CKA_EC_POINT, pt, pub->point_len + 2));
        TRY(p11_attrs_set(out, CKA_ALLOWED_MECHANISMS, ec_mechs, sizeof(ec_mechs)));
        return CKR_OK;
    }
    return CKR_KEY_TYPE_INCONSISTENT;
}

CK_RV p11_build_key_attrs(p11_attrs *out, CK_OBJECT_CLASS cls, const ek_pubkey *pub,
                          const p11_obj_desc *d)
{
    bool priv = cls == CKO_PRIVATE_KEY;
    TRY(common_attrs(out, cls, d));
    TRY(public_numbers(out, pub));
    TRY(p11_attrs_set(out, CKA_SUBJECT, NULL, 0));
    TRY(p11_attrs_set_bool(out, CKA_DERIVE, false));
    TRY(p11_attrs_set_bool(out, CKA_LOCAL, d->local));
    TRY(p11_attrs_set_ulong(out, CKA_KEY_GEN_MECHANISM,
                            !d->local                ? CK_UNAVAILABLE_INFORMATION
                            : pub->alg == EK_ALG_RSA ? CKM_RSA_PKCS_KEY_PAIR_GEN
                                                     : CKM_EC_KEY_PAIR_GEN));
    unsigned char *spki = NULL;
    size_t spki_len = 0;
    if (p11_spki(pub, &spki, &spki_len) == CKR_OK) {
        CK_RV rv = p11_attrs_set(out, CKA_PUBLIC_KEY_INFO, spki, spki_len);
        OPENSSL_free(spki);
        TRY(rv);
    }
    if (priv) {
        TRY(p11_attrs_set_bool(out, CKA_SENSITIVE, true));
        TRY(p11_attrs_set_bool(out, CKA_ALWAYS_SENSITIVE, true));
        TRY(p11_attrs_set_bool(out, CKA_EXTRACTABLE, false));
        TRY(p11_attrs_set_bool(out, CKA_NEVER_EXTRACTABLE, true));
        TRY(p11_attrs_set_bool(out, CKA_SIGN, true));
        TRY(p11_attrs_set_bool(out, CKA_SIGN_RECOVER, false));
        TRY(p11_attrs_set_bool(out, CKA_DECRYPT, false));
        TRY(p11_attrs_set_bool(out, CKA_UNWRAP, false));
        TRY(p11_attrs_set_bool(out, CKA_WRAP_WITH_TRUSTED, false));
        TRY(p11_attrs_set_bool(out, CKA_ALWAYS_AUTHENTICATE, false));
    } else {
        TRY(p11_attrs_set_bool(out, CKA_VERIFY, true));
        TRY(p11_attrs_set_bool(out, CKA_VERIFY_RECOVER, false));
        TRY(p11_attrs_set_bool(out, CKA_ENCRYPT, false));
        TRY(p11_attrs_set_bool(out, CKA_WRAP, false));
        TRY(p11_attrs_set_bool(out, CKA_TRUSTED, false));
    }
    return CKR_OK;
}

static CK_RV set_der(p11_attrs *out, CK_ATTRIBUTE_TYPE type, int len, unsigned char *der)
{
    if (len <= 0) {
        OPENSSL_free(der);
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    CK_RV rv = p11_attrs_set(out, type, der, (CK_ULONG)len);
    OPENSSL_free(der);
    return rv;
}

CK_RV p11_build_cert_attrs(p11_attrs *out, const unsigned char *der, size_t len,
                           const p11_obj_desc *d)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    if (!x || p != der + len) {
        X509_free(x);
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    CK_RV rv = common_attrs(out, CKO_CERTIFICATE, d);
    unsigned char *buf = NULL;
    int n;
    /* (length first, then the buffer: argument evaluation order is unspecified) */
    if (rv == CKR_OK) {
        n = i2d_X509_NAME(X509_get_subject_name(x), &buf);
        rv = set_der(out, CKA_SUBJECT, n, buf);
        buf = NULL;
    }
    if (rv == CKR_OK) {
        n = i2d_X509_NAME(X509_get_issuer_name(x), &buf);
        rv = set_der(out, CKA_ISSUER, n, buf);
        buf = NULL;
    }
    if (rv == CKR_OK) {
        n = i2d_ASN1_INTEGER(X509_get0_serialNumber(x), &buf);
        rv = set_der(out, CKA_SERIAL_NUMBER, n, buf);
        buf = NULL;
    }
    if (rv == CKR_OK) {
        n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &buf);
        rv = set_der(out, CKA_PUBLIC_KEY_INFO, n, buf);
    }
    unsigned char sha1[SHA_DIGEST_LENGTH];
    SHA1(der, len, sha1);
    if (rv == CKR_OK)
        rv = p11_attrs_set(out, CKA_CHECK_VALUE, sha1, 3);
    if (rv == CKR_OK)
        rv = p11_attrs_set(out, CKA_VALUE, der, len);
    if (rv == CKR_OK)
        rv = p11_attrs_set_ulong(out, CKA_CERTIFICATE_TYPE, CKC_X_509);
    if (rv == CKR_OK)
        rv = p11_attrs_set_ulong(out, CKA_CERTIFICATE_CATEGORY, 0);
    if (rv == CKR_OK)
        rv = p11_attrs_set_bool(out, CKA_TRUSTED, false);
    if (rv == CKR_OK)
        rv = p11_attrs_set(out, CKA_URL, NULL, 0);
    if (rv == CKR_OK)
        rv = p11_attrs_set(out, CKA_HASH_OF_SUBJECT_PUBLIC_KEY, NULL, 0);
    if (rv == CKR_OK)
        rv = p11_attrs_set(out, CKA_HASH_OF_ISSUER_PUBLIC_KEY, NULL, 0);
    if (rv == CKR_OK)
        rv = p11_attrs_set_ulong(out, CKA_JAVA_MIDP_SECURITY_DOMAIN, 0);
    X509_free(x);
    return rv;
}
