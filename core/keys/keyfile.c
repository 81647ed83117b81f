/* edgekey core: the TSS2 PRIVATE KEY codec (ek_keyfile.h).
 *
 * The ASN.1 follows the TPM2 key file draft (draft-bottomley-tpm2-keys) as
 * written by tpm2-openssl, openssl_tpm2_engine and tpm2_encodeobject:
 *   type [0]emptyAuth [1]policy [2]secret [3]authPolicy [4]description
 *   [5]rsaParent parent pubkey privkey
 * Every optional field is decoded so that a file carrying one is refused with
 * a reason instead of a generic parse error. Compatibility facts:
 *   - emptyAuth absent means FALSE (an auth value is needed); tpm2-openssl
 *     and tpm2_encodeobject always write it, TRUE or FALSE, so we do too
 *     (TRUE as the DER 0xFF; 0x01 from others is accepted).
 *   - parent 0 is read as the owner hierarchy (tpm2-openssl does the same).
 *   - rsaParent TRUE under the owner hierarchy names the RSA SRK template;
 *     our SRK is the tpm2-openssl (EC) one, so such files are refused. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1t.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <tss2/tss2_mu.h>

#include "ek_keyfile.h"

#define OID_LOADABLE "2.23.133.10.1.3"
#define OID_IMPORTABLE "2.23.133.10.1.4"
#define OID_SEALED "2.23.133.10.1.5"
#define EK_KEYFILE_MAX (64 * 1024) /* real files are < 2 KiB */

/* The type OID's content octets (2.23.133.10.1.3 ...). Decoded as bytes with
 * the OBJECT IDENTIFIER tag, not as an ASN1_OBJECT: resolving an OID that is
 * not in OpenSSL's built-in table takes its global lock, which first loads
 * the application's openssl.cnf and error strings (~1.5 ms of a fresh
 * process that only lists or uses a PKCS#11 key). */
static const unsigned char oid_loadable[] = {0x67, 0x81, 0x05, 0x0a, 0x01, 0x03};
static const unsigned char oid_importable[] = {0x67, 0x81, 0x05, 0x0a, 0x01, 0x04};
static const unsigned char oid_sealed[] = {0x67, 0x81, 0x05, 0x0a, 0x01, 0x05};

typedef struct {
    ASN1_OCTET_STRING *type;
    ASN1_BOOLEAN empty_auth;
    STACK_OF(ASN1_TYPE) * policy;
    ASN1_OCTET_STRING *secret;
    STACK_OF(ASN1_TYPE) * auth_policy;
    ASN1_UTF8STRING *description;
    ASN1_BOOLEAN rsa_parent;
    ASN1_INTEGER *parent;
    ASN1_OCTET_STRING *pubkey;
    ASN1_OCTET_STRING *privkey;
} EK_TPMKEY;

/* clang-format off */
ASN1_SEQUENCE(EK_TPMKEY) = {
    ASN1_EX_TYPE(ASN1_TFLG_IMPTAG, V_ASN1_OBJECT, EK_TPMKEY, type, ASN1_OCTET_STRING),
    ASN1_EXP_OPT(EK_TPMKEY, empty_auth, ASN1_BOOLEAN, 0),
    ASN1_EXP_SEQUENCE_OF_OPT(EK_TPMKEY, policy, ASN1_ANY, 1),
    ASN1_EXP_OPT(EK_TPMKEY, secret, ASN1_OCTET_STRING, 2),
    ASN1_EXP_SEQUENCE_OF_OPT(EK_TPMKEY, auth_policy, ASN1_ANY, 3),
    ASN1_EXP_OPT(EK_TPMKEY, description, ASN1_UTF8STRING, 4),
    ASN1_EXP_OPT(EK_TPMKEY, rsa_parent, ASN1_BOOLEAN, 5),
    ASN1_SIMPLE(EK_TPMKEY, parent, ASN1_INTEGER),
    ASN1_SIMPLE(EK_TPMKEY, pubkey, ASN1_OCTET_STRING),
    ASN1_SIMPLE(EK_TPMKEY, privkey, ASN1_OCTET_STRING),
} ASN1_SEQUENCE_END(EK_TPMKEY)
const ASN1_ITEM *EK_TPMKEY_it(void); /* ends the macro for clang-format */
/* clang-format on */

#define TPMKEY_IT ASN1_ITEM_rptr(EK_TPMKEY)

static bool asn1_bool_true(ASN1_BOOLEAN b)
{
    return b != -1 && b != 0; /* -1: field absent */
}

static bool oid_is(const ASN1_OCTET_STRING *type, const unsigned char *oid, size_t len)
{
    return (size_t)ASN1_STRING_length(type) == len &&
           memcmp(ASN1_STRING_get0_data(type), oid, len) == 0;
}

/* The OID as text, for an error message only. */
static void oid_text(const ASN1_OCTET_STRING *type, char *buf, int size)
{
    ASN1_OBJECT *o = ASN1_OBJECT_create(NID_undef, (unsigned char *)ASN1_STRING_get0_data(type),
                                        ASN1_STRING_length(type), NULL, NULL);
    if (!o || OBJ_obj2txt(buf, size, o, 1) <= 0)
        snprintf(buf, (size_t)size, "(unreadable)");
    ASN1_OBJECT_free(o);
}

static ek_rc check_type(const ASN1_OCTET_STRING *type)
{
    char oid[80];
    if (oid_is(type, oid_loadable, sizeof(oid_loadable)))
        return EK_OK;
    if (oid_is(type, oid_importable, sizeof(oid_importable)))
        return ek_error(EK_ERR_UNSUPPORTED,
                        "TSS2 key file: importable keys (OID " OID_IMPORTABLE
                        ") are not supported; import it with tpm2_import and write a loadable "
                        "key file (tpm2_encodeobject)");
    if (oid_is(type, oid_sealed, sizeof(oid_sealed)))
        return ek_error(EK_ERR_UNSUPPORTED,
                        "TSS2 key file: sealed data (OID " OID_SEALED ") is not a signing key");
    oid_text(type, oid, sizeof(oid));
    return ek_error(EK_ERR_INVALID,
                    "TSS2 key file: wrong type OID %s; expected " OID_LOADABLE " (loadable key)",
                    oid);
}

static ek_rc check_parent(const ASN1_INTEGER *parent, bool rsa_parent, uint32_t *out)
{
    uint64_t v;
    if (!ASN1_INTEGER_get_uint64(&v, parent)) {
        ERR_clear_error();
        return ek_error(EK_ERR_INVALID, "TSS2 key file: parent is negative or too large");
    }
    if (v == 0)
        v = TPM2_RH_OWNER;
    if (v == TPM2_RH_OWNER) {
        if (rsa_parent)
            return ek_error(EK_ERR_UNSUPPORTED,
                            "TSS2 key file: the key lives under the RSA storage primary "
                            "(rsaParent = TRUE); edgekey uses the EC primary as tpm2-openssl "
                            "does; re-create the key or use a persistent parent handle");
    } else if (v < 0x81000000u || v > 0x81FFFFFFu) {
        return ek_error(EK_ERR_INVALID,
                        "TSS2 key file: parent 0x%llx not supported; expected 0x40000001 (owner "
                        "hierarchy) or a persistent handle 0x81000000-0x81FFFFFF",
                        (unsigned long long)v);
    }
    *out = (uint32_t)v;
    return EK_OK;
}

static ek_rc unmarshal_pub(const ASN1_OCTET_STRING *s, TPM2B_PUBLIC *pub)
{
    size_t off = 0;
    memset(pub, 0, sizeof(*pub));
    /* tss2-mu does not check the size field against what it consumed. */
    if (Tss2_MU_TPM2B_PUBLIC_Unmarshal(s->data, (size_t)s->length, &off, pub) != 0 ||
        off != (size_t)s->length || (size_t)pub->size + 2 != off)
        return ek_error(EK_ERR_INVALID, "TSS2 key file: pubkey is not a TPM2B_PUBLIC");
    TPMI_ALG_PUBLIC type = pub->publicArea.type;
    if (type != TPM2_ALG_RSA && type != TPM2_ALG_ECC)
        return ek_error(EK_ERR_UNSUPPORTED,
                        "TSS2 key file: key type 0x%04x is not supported; edgekey uses RSA and "
                        "EC keys",
                        type);
    return EK_OK;
}

static ek_rc unmarshal_priv(const ASN1_OCTET_STRING *s, TPM2B_PRIVATE *priv)
{
    size_t off = 0;
    memset(priv, 0, sizeof(*priv));
    if (Tss2_MU_TPM2B_PRIVATE_Unmarshal(s->data, (size_t)s->length, &off, priv) != 0 ||
        off != (size_t)s->length || priv->size == 0)
        return ek_error(EK_ERR_INVALID, "TSS2 key file: privkey is not a TPM2B_PRIVATE");
    return EK_OK;
}

static ek_rc fill(const EK_TPMKEY *k, ek_keyfile *out)
{
    ek_rc rc = check_type(k->type);
    if (rc != EK_OK)
        return rc;
    if (k->policy || k->auth_policy)
        return ek_error(EK_ERR_UNSUPPORTED,
                        "TSS2 key file: key files with policies are not supported; create the "
                        "key without a policy (password or empty auth)");
    if (k->secret)
        return ek_error(EK_ERR_UNSUPPORTED,
                        "TSS2 key file: key files with an import secret are not supported");
    if ((rc = check_parent(k->parent, asn1_bool_true(k->rsa_parent), &out->parent)) != EK_OK)
        return rc;
    if ((rc = unmarshal_pub(k->pubkey, &out->pub)) != EK_OK)
        return rc;
    if ((rc = unmarshal_priv(k->privkey, &out->priv)) != EK_OK)
        return rc;
    out->empty_auth = asn1_bool_true(k->empty_auth);
    return EK_OK;
}

ek_rc ek_keyfile_decode_der(const unsigned char *der, size_t len, ek_keyfile *out)
{
    if (!der || !out)
        return ek_error(EK_ERR_INVALID, "TSS2 key file: no input");
    if (len == 0 || len > EK_KEYFILE_MAX)
        return ek_error(EK_ERR_INVALID, "TSS2 key file: %zu bytes is not a TPMKey structure", len);
    const unsigned char *p = der;
    EK_TPMKEY *k = (EK_TPMKEY *)ASN1_item_d2i(NULL, &p, (long)len, TPMKEY_IT);
    if (!k) {
        ERR_clear_error();
        return ek_error(EK_ERR_INVALID,
                        "TSS2 key file: malformed ASN.1 (not a TPMKey SEQUENCE: type, "
                        "emptyAuth, parent, pubkey, privkey)");
    }
    ek_rc rc;
    if (p != der + len)
        rc = ek_error(EK_ERR_INVALID, "TSS2 key file: %zu bytes of garbage after the TPMKey",
                      (size_t)(der + len - p));
    else
        rc = fill(k, out);
    ASN1_item_free((ASN1_VALUE *)k, TPMKEY_IT);
    if (rc != EK_OK)
        memset(out, 0, sizeof(*out));
    return rc;
}

static ek_rc set_blob(ASN1_OCTET_STRING *s, const uint8_t *buf, size_t len)
{
    return ASN1_OCTET_STRING_set(s, buf, (int)len) ? EK_OK : EK_ERR_NOMEM;
}

static ek_rc build(const ek_keyfile *kf, EK_TPMKEY *k)
{
    uint8_t pub[sizeof(TPM2B_PUBLIC)], priv[sizeof(TPM2B_PRIVATE)];
    size_t publen = 0, privlen = 0;
    if (Tss2_MU_TPM2B_PUBLIC_Marshal(&kf->pub, pub, sizeof(pub), &publen) != 0 ||
        Tss2_MU_TPM2B_PRIVATE_Marshal(&kf->priv, priv, sizeof(priv), &privlen) != 0)
        return ek_error(EK_ERR_INVALID, "TSS2 key file: the key's public or private part "
                                        "cannot be marshalled");
    uint32_t parent = kf->parent ? kf->parent : TPM2_RH_OWNER;
    k->empty_auth = kf->empty_auth ? 0xff : 0;
    if (set_blob(k->type, oid_loadable, sizeof(oid_loadable)) != EK_OK ||
        !ASN1_INTEGER_set_uint64(k->parent, parent) || set_blob(k->pubkey, pub, publen) != EK_OK ||
        set_blob(k->privkey, priv, privlen) != EK_OK)
        return ek_error(EK_ERR_NOMEM, "TSS2 key file: out of memory");
    return EK_OK;
}

ek_rc ek_keyfile_encode_der(const ek_keyfile *kf, unsigned char **der, size_t *len)
{
    if (!kf || !der || !len)
        return ek_error(EK_ERR_INVALID, "TSS2 key file: nothing to encode");
    EK_TPMKEY *k = (EK_TPMKEY *)ASN1_item_new(TPMKEY_IT);
    if (!k)
        return ek_error(EK_ERR_NOMEM, "TSS2 key file: out of memory");
    unsigned char *tmp = NULL;
    int n = 0;
    ek_rc rc = build(kf, k);
    if (rc == EK_OK && (n = ASN1_item_i2d((ASN1_VALUE *)k, &tmp, TPMKEY_IT)) <= 0)
        rc = ek_error(EK_ERR_NOMEM, "TSS2 key file: DER encoding failed");
    /* Hand out malloc() memory, as the header promises, not OPENSSL_malloc(). */
    if (rc == EK_OK && !(*der = malloc((size_t)n)))
        rc = ek_error(EK_ERR_NOMEM, "TSS2 key file: out of memory");
    if (rc == EK_OK) {
        memcpy(*der, tmp, (size_t)n);
        *len = (size_t)n;
    }
    OPENSSL_free(tmp);
    ASN1_item_free((ASN1_VALUE *)k, TPMKEY_IT);
    ERR_clear_error();
    return rc;
}

ek_rc ek_pem_find(const char *pem, size_t len, const char *const *labels, size_t nlabels,
                  unsigned char **der, size_t *der_len, size_t *which)
{
    if (!pem || len > INT_MAX)
        return ek_error(EK_ERR_INVALID, "PEM input missing or too large");
    BIO *bio = BIO_new_mem_buf(pem, (int)len);
    if (!bio)
        return ek_error(EK_ERR_NOMEM, "PEM: out of memory");
    ek_rc rc = EK_ERR_NOT_FOUND;
    char *name = NULL, *header = NULL;
    unsigned char *data = NULL;
    long dlen = 0;
    while (rc == EK_ERR_NOT_FOUND && PEM_read_bio(bio, &name, &header, &data, &dlen)) {
        for (size_t i = 0; i < nlabels && rc == EK_ERR_NOT_FOUND; i++) {
            if (strcmp(name, labels[i]) != 0)
                continue;
            if (header[0] != '\0')
                rc = ek_error(EK_ERR_UNSUPPORTED,
                              "PEM block %s has headers (encrypted "
                              "PEM?); edgekey reads plain blocks only",
                              labels[i]);
            else if (dlen <= 0 || !(*der = malloc((size_t)dlen)))
                rc = ek_error(dlen <= 0 ? EK_ERR_INVALID : EK_ERR_NOMEM,
                              "PEM block %s: empty or out of memory", labels[i]);
            else {
                memcpy(*der, data, (size_t)dlen);
                *der_len = (size_t)dlen;
                if (which)
                    *which = i;
                rc = EK_OK;
            }
        }
        OPENSSL_free(name);
        OPENSSL_free(header);
        OPENSSL_free(data);
        name = header = NULL;
        data = NULL;
    }
    ERR_clear_error();
    BIO_free(bio);
    if (rc == EK_ERR_NOT_FOUND)
        return ek_error(rc, "no -----BEGIN %s----- block found", nlabels ? labels[0] : "?");
    return rc;
}

ek_rc ek_pem_encode(const char *label, const unsigned char *der, size_t der_len, char **pem,
                    size_t *len)
{
    if (der_len > INT_MAX)
        return ek_error(EK_ERR_INVALID, "PEM: input too large");
    BIO *bio = BIO_new(BIO_s_mem());
    char *mem = NULL;
    long n;
    ek_rc rc = EK_OK;
    if (!bio || PEM_write_bio(bio, label, "", der, (long)der_len) <= 0 ||
        (n = BIO_get_mem_data(bio, &mem)) <= 0)
        rc = ek_error(EK_ERR_NOMEM, "PEM: encoding failed");
    else if (!(*pem = malloc((size_t)n + 1)))
        rc = ek_error(EK_ERR_NOMEM, "PEM: out of memory");
    else {
        memcpy(*pem, mem, (size_t)n);
        (*pem)[n] = '\0';
        *len = (size_t)n;
    }
    BIO_free(bio);
    ERR_clear_error();
    return rc;
}

ek_rc ek_keyfile_decode_pem(const char *pem, size_t len, ek_keyfile *out)
{
    static const char *const labels[] = {EK_TSS2_PEM_LABEL};
    unsigned char *der = NULL;
    size_t der_len = 0;
    ek_rc rc = ek_pem_find(pem, len, labels, 1, &der, &der_len, NULL);
    if (rc == EK_ERR_NOT_FOUND)
        return ek_error(EK_ERR_INVALID,
                        "not a TSS2 key file: no -----BEGIN " EK_TSS2_PEM_LABEL "----- block");
    if (rc != EK_OK)
        return rc;
    rc = ek_keyfile_decode_der(der, der_len, out);
    free(der);
    return rc;
}

ek_rc ek_keyfile_encode_pem(const ek_keyfile *kf, char **pem, size_t *len)
{
    unsigned char *der = NULL;
    size_t der_len = 0;
    ek_rc rc = ek_keyfile_encode_der(kf, &der, &der_len);
    if (rc != EK_OK)
        return rc;
    rc = ek_pem_encode(EK_TSS2_PEM_LABEL, der, der_len, pem, len);
    free(der);
    return rc;
}
