/* edgekey core: the public half of a key as the faces and the store need it
 * (ek_keyfile.h): from a TPMT_PUBLIC, from a certificate, and its SHA-256
 * (the store's key identity). Pure, no TPM. */
#include <stdbool.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "ek_key.h"
#include "ek_keyfile.h"

static ek_rc rsa_from_tpmt(const TPMT_PUBLIC *pub, ek_pubkey *out)
{
    const TPM2B_PUBLIC_KEY_RSA *n = &pub->unique.rsa;
    unsigned bits = pub->parameters.rsaDetail.keyBits;
    size_t off = 0, len = n->size;
    if (len > sizeof(n->buffer) || len > EK_MAX_RSA_BYTES)
        return ek_error(EK_ERR_INVALID, "TPM RSA key: modulus of %zu bytes is too large", len);
    while (off < len && n->buffer[off] == 0) /* big-endian, no leading zeros */
        off++;
    if (off == len || bits == 0 || (len - off) * 8 > bits)
        return ek_error(EK_ERR_INVALID,
                        "TPM RSA key: modulus (%zu bytes) does not fit keyBits = %u", len - off,
                        bits);
    out->alg = EK_ALG_RSA;
    out->bits = bits;
    out->n_len = len - off;
    memcpy(out->n, n->buffer + off, out->n_len);
    /* The TPM writes 0 for the default exponent 2^16 + 1. */
    out->e = pub->parameters.rsaDetail.exponent ? pub->parameters.rsaDetail.exponent : 65537;
    return EK_OK;
}

/* Copy one coordinate right-aligned into a field of width bytes. */
static ek_rc put_coord(const TPM2B_ECC_PARAMETER *c, unsigned char *dst, size_t width)
{
    if (c->size == 0 || c->size > width || c->size > sizeof(c->buffer))
        return EK_ERR_INVALID;
    memset(dst, 0, width - c->size);
    memcpy(dst + (width - c->size), c->buffer, c->size);
    return EK_OK;
}

static ek_rc ec_from_tpmt(const TPMT_PUBLIC *pub, ek_pubkey *out)
{
    size_t width;
    switch (pub->parameters.eccDetail.curveID) {
    case TPM2_ECC_NIST_P256:
        out->curve = EK_CURVE_P256;
        width = 32;
        break;
    case TPM2_ECC_NIST_P384:
        out->curve = EK_CURVE_P384;
        width = 48;
        break;
    default:
        return ek_error(EK_ERR_UNSUPPORTED,
                        "TPM EC key: curve 0x%04x is not supported; edgekey uses P-256 and P-384",
                        pub->parameters.eccDetail.curveID);
    }
    out->alg = EK_ALG_EC;
    out->bits = (unsigned)width * 8;
    out->point[0] = 0x04; /* uncompressed */
    if (put_coord(&pub->unique.ecc.x, out->point + 1, width) != EK_OK ||
        put_coord(&pub->unique.ecc.y, out->point + 1 + width, width) != EK_OK)
        return ek_error(EK_ERR_INVALID, "TPM EC key: point coordinates do not fit the curve");
    out->point_len = 1 + 2 * width;
    return EK_OK;
}

ek_rc ek_pubkey_from_tpmt(const TPMT_PUBLIC *pub, struct ek_pubkey *out)
{
    if (!pub || !out)
        return ek_error(EK_ERR_INVALID, "public key: no input");
    memset(out, 0, sizeof(*out));
    ek_rc rc;
    switch (pub->type) {
    case TPM2_ALG_RSA:
        rc = rsa_from_tpmt(pub, out);
        break;
    case TPM2_ALG_ECC:
        rc = ec_from_tpmt(pub, out);
        break;
    default:
        return ek_error(EK_ERR_UNSUPPORTED,
                        "TPM key type 0x%04x is not supported; edgekey uses RSA and EC keys",
                        pub->type);
    }
    if (rc != EK_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

void ek_pubkey_sha256(const struct ek_pubkey *pub, unsigned char hash[32])
{
    unsigned char buf[EK_MAX_RSA_BYTES + 4];
    size_t len = 0;
    if (pub->alg == EK_ALG_RSA) {
        memcpy(buf, pub->n, pub->n_len);
        len = pub->n_len;
        bool started = false;
        for (int shift = 24; shift >= 0; shift -= 8) {
            unsigned char b = (unsigned char)(pub->e >> shift);
            if (b || started || shift == 0)
                buf[len++] = b, started = true;
        }
    } else {
        memcpy(buf, pub->point, pub->point_len);
        len = pub->point_len;
    }
    unsigned int hl = 32;
    EVP_Digest(buf, len, hash, &hl, EVP_sha256(), NULL);
}

static ek_rc rsa_from_evp(EVP_PKEY *pk, ek_pubkey *out)
{
    BIGNUM *n = NULL, *e = NULL;
    ek_rc rc = EK_OK;
    if (!EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_N, &n) ||
        !EVP_PKEY_get_bn_param(pk, OSSL_PKEY_PARAM_RSA_E, &e) ||
        BN_num_bytes(n) > EK_MAX_RSA_BYTES || BN_num_bits(e) > 32)
        rc = ek_error(EK_ERR_UNSUPPORTED, "certificate: RSA key too large or unreadable");
    if (rc == EK_OK) {
        out->alg = EK_ALG_RSA;
        out->bits = (unsigned)BN_num_bits(n);
        out->n_len = (size_t)BN_bn2bin(n, out->n);
        out->e = (uint32_t)BN_get_word(e);
    }
    BN_free(n);
    BN_free(e);
    return rc;
}

static ek_rc ec_from_evp(EVP_PKEY *pk, ek_pubkey *out)
{
    char group[64] = "";
    size_t glen = 0;
    EVP_PKEY_get_utf8_string_param(pk, OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen);
    if (strcmp(group, "prime256v1") == 0)
        out->curve = EK_CURVE_P256;
    else if (strcmp(group, "secp384r1") == 0)
        out->curve = EK_CURVE_P384;
    else
        return ek_error(EK_ERR_UNSUPPORTED,
                        "certificate: EC curve '%s' is not supported; "
                        "edgekey uses P-256 and P-384",
                        group);
    out->alg = EK_ALG_EC;
    out->bits = out->curve == EK_CURVE_P256 ? 256 : 384;
    /* Certificates may carry compressed points; compare in one form. */
    EVP_PKEY_set_utf8_string_param(pk, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, "uncompressed");
    if (!EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, out->point,
                                         sizeof(out->point), &out->point_len) ||
        out->point_len != 1 + 2 * (size_t)out->bits / 8)
        return ek_error(EK_ERR_INVALID, "certificate: unreadable EC public key");
    return EK_OK;
}

ek_rc ek_pubkey_from_cert_der(const unsigned char *der, size_t len, struct ek_pubkey *out)
{
    if (!der || !out || len == 0 || len > 1 << 20)
        return ek_error(EK_ERR_INVALID, "certificate: no DER input");
    memset(out, 0, sizeof(*out));
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)len);
    EVP_PKEY *pk = x ? X509_get0_pubkey(x) : NULL;
    ek_rc rc;
    if (!x || p != der + len)
        rc = ek_error(EK_ERR_INVALID, "certificate: not a DER X.509 certificate");
    else if (!pk)
        rc = ek_error(EK_ERR_INVALID, "certificate: unreadable public key");
    else if (EVP_PKEY_is_a(pk, "RSA"))
        rc = rsa_from_evp(pk, out);
    else if (EVP_PKEY_is_a(pk, "EC"))
        rc = ec_from_evp(pk, out);
    else
        rc = ek_error(EK_ERR_UNSUPPORTED,
                      "certificate: key type %s is not supported; edgekey "
                      "holds RSA and EC keys",
                      EVP_PKEY_get0_type_name(pk));
    X509_free(x);
    ERR_clear_error();
    if (rc != EK_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}
