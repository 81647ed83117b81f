/* edgekey PKCS#11 module: data objects (CKO_DATA) - template rules and
 * attribute sets (pure: no TPM, no store; unit-tested). The rules are in
 * p11_attr.h; the store and TPM side is p11_data.c over core/ek_secret.h. */
#include <string.h>
#include "ek_log.h"
#include "p11_attr.h"

/* A byte string attribute into buf (max bytes); str: no NUL inside and
 * NUL-terminated (buf has max + 1 bytes). Absent: left empty. */
static CK_RV tmpl_bytes(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type, void *buf,
                        size_t max, size_t *len, bool str)
{
    const CK_ATTRIBUTE *a = p11_tmpl_find(t, n, type);
    if (len)
        *len = 0;
    if (!a || !a->ulValueLen)
        return CKR_OK;
    if (!a->pValue || a->ulValueLen > max || (str && memchr(a->pValue, 0, a->ulValueLen)))
        return CKR_ATTRIBUTE_VALUE_INVALID;
    memcpy(buf, a->pValue, a->ulValueLen);
    if (str)
        ((char *)buf)[a->ulValueLen] = '\0';
    if (len)
        *len = a->ulValueLen;
    return CKR_OK;
}

/* Booleans we store fixed: a template may restate them, not change them. */
static CK_RV fixed_bool(const CK_ATTRIBUTE *t, CK_ULONG n, CK_ATTRIBUTE_TYPE type, bool want,
                        const char *what)
{
    bool v = want, present = false;
    CK_RV rv = p11_tmpl_bool(t, n, type, &v, &present);
    if (rv != CKR_OK)
        return rv;
    if (present && v != want) {
        ek_log(EK_LOG_ERR, "pkcs11: C_CreateObject: data object refused: %s", what);
        return CKR_TEMPLATE_INCONSISTENT;
    }
    return CKR_OK;
}

static CK_RV only_known(const CK_ATTRIBUTE *t, CK_ULONG n)
{
    for (CK_ULONG i = 0; i < n; i++) {
        switch (t[i].type) {
        case CKA_CLASS:
        case CKA_TOKEN:
        case CKA_PRIVATE:
        case CKA_LABEL:
        case CKA_APPLICATION:
        case CKA_OBJECT_ID:
        case CKA_ID:
        case CKA_VALUE:
        case CKA_MODIFIABLE:
        case CKA_COPYABLE:
        case CKA_DESTROYABLE:
            break;
        default:
            ek_log(EK_LOG_ERR,
                   "pkcs11: C_CreateObject: data object refused: attribute 0x%lx is not one of "
                   "CKA_CLASS, CKA_TOKEN, CKA_PRIVATE, CKA_LABEL, CKA_APPLICATION, CKA_OBJECT_ID, "
                   "CKA_ID, CKA_VALUE, CKA_MODIFIABLE, CKA_COPYABLE, CKA_DESTROYABLE",
                   (unsigned long)t[i].type);
            return CKR_ATTRIBUTE_TYPE_INVALID;
        }
    }
    return CKR_OK;
}

static CK_RV check_value(const CK_ATTRIBUTE *v, const char *label)
{
    if (!v || !v->ulValueLen) {
        ek_log(EK_LOG_ERR,
               "pkcs11: C_CreateObject: data object '%s' refused: CKA_VALUE (the "
               "secret, 1-%d bytes) is missing or empty",
               label, EK_SECRET_MAX);
        return CKR_TEMPLATE_INCOMPLETE;
    }
    if (v->ulValueLen > EK_SECRET_MAX) {
        ek_log(EK_LOG_ERR,
               "pkcs11: C_CreateObject: data object '%s' refused: CKA_VALUE is %lu bytes, the "
               "TPM seals at most %d bytes; store a shorter secret",
               label, (unsigned long)v->ulValueLen, EK_SECRET_MAX);
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    return CKR_OK;
}

CK_RV p11_data_template(const CK_ATTRIBUTE *t, CK_ULONG n, ek_secret_obj *desc,
                        const unsigned char **value, size_t *value_len)
{
    CK_ULONG cls = CKO_VENDOR_DEFINED;
    bool present = false, token = false, priv = true;
    memset(desc, 0, sizeof(*desc));
    CK_RV rv = p11_tmpl_check(t, n);
    if (rv == CKR_OK)
        rv = p11_tmpl_ulong(t, n, CKA_CLASS, &cls, &present);
    if (rv == CKR_OK && (!present || cls != CKO_DATA))
        rv = CKR_TEMPLATE_INCONSISTENT;
    if (rv == CKR_OK)
        rv = only_known(t, n);
    if (rv == CKR_OK)
        rv = p11_tmpl_bool(t, n, CKA_TOKEN, &token, NULL);
    if (rv == CKR_OK && !token) {
        ek_log(EK_LOG_ERR, "pkcs11: C_CreateObject: session data objects are not supported: "
                           "edgekey data objects are sealed in the TPM and stored; set CKA_TOKEN "
                           "true");
        rv = CKR_TEMPLATE_INCONSISTENT;
    }
    if (rv == CKR_OK)
        rv = p11_tmpl_bool(t, n, CKA_PRIVATE, &priv, NULL);
    if (rv == CKR_OK)
        rv = fixed_bool(t, n, CKA_MODIFIABLE, false,
                        "CKA_MODIFIABLE true: a sealed value cannot change; destroy the object "
                        "and create it again");
    if (rv == CKR_OK)
        rv = fixed_bool(t, n, CKA_COPYABLE, false, "CKA_COPYABLE true: objects are not copied");
    if (rv == CKR_OK)
        rv = fixed_bool(t, n, CKA_DESTROYABLE, true, "CKA_DESTROYABLE false is not supported");
    size_t label_len = 0;
    if (rv == CKR_OK)
        rv = tmpl_bytes(t, n, CKA_LABEL, desc->label, EK_SECRET_LABEL_MAX, &label_len, true);
    if (rv == CKR_OK && label_len == 0) {
        ek_log(EK_LOG_ERR,
               "pkcs11: C_CreateObject: data object refused: CKA_LABEL (1-%d "
               "bytes) is required; it names the secret in the store",
               EK_SECRET_LABEL_MAX);
        rv = CKR_TEMPLATE_INCOMPLETE;
    }
    if (rv == CKR_OK)
        rv = tmpl_bytes(t, n, CKA_APPLICATION, desc->application, EK_SECRET_APP_MAX, NULL, true);
    if (rv == CKR_OK)
        rv = tmpl_bytes(t, n, CKA_ID, desc->id, EK_SECRET_ID_MAX, &desc->id_len, false);
    if (rv == CKR_OK)
        rv = tmpl_bytes(t, n, CKA_OBJECT_ID, desc->object_id, EK_SECRET_OID_MAX,
                        &desc->object_id_len, false);
    const CK_ATTRIBUTE *v = p11_tmpl_find(t, n, CKA_VALUE);
    if (rv == CKR_OK)
        rv = check_value(v, desc->label);
    if (rv != CKR_OK) {
        memset(desc, 0, sizeof(*desc));
        return rv;
    }
    desc->priv = priv;
    *value = v->pValue;
    *value_len = v->ulValueLen;
    return CKR_OK;
}

#define TRY(x)                                                                                     \
    do {                                                                                           \
        CK_RV rv_ = (x);                                                                           \
        if (rv_ != CKR_OK)                                                                         \
            return rv_;                                                                            \
    } while (0)

CK_RV p11_build_data_attrs(p11_attrs *out, const ek_secret_obj *o)
{
    TRY(p11_attrs_set_ulong(out, CKA_CLASS, CKO_DATA));
    TRY(p11_attrs_set_bool(out, CKA_TOKEN, true));
    TRY(p11_attrs_set_bool(out, CKA_PRIVATE, o->priv));
    TRY(p11_attrs_set_bool(out, CKA_MODIFIABLE, false));
    TRY(p11_attrs_set_bool(out, CKA_COPYABLE, false));
    TRY(p11_attrs_set_bool(out, CKA_DESTROYABLE, true));
    TRY(p11_attrs_set(out, CKA_LABEL, o->label, strlen(o->label)));
    TRY(p11_attrs_set(out, CKA_APPLICATION, o->application, strlen(o->application)));
    TRY(p11_attrs_set(out, CKA_OBJECT_ID, o->object_id, o->object_id_len));
    TRY(p11_attrs_set(out, CKA_ID, o->id, o->id_len));
    return CKR_OK;
}
