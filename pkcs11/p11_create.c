/* edgekey PKCS#11 module: C_CreateObject (X.509 certificates; data objects
 * go to p11_data.c) and C_DestroyObject.
 *
 * Only certificates and sealed data objects can be created: private keys
 * are born in the TPM (C_GenerateKeyPair), never imported. A key pair is
 * one TPM object, so destroying the private key removes the pair from the
 * store; destroying only the public key object hides it from this module
 * instance (it comes back from the store on the next search while the
 * private key exists). */
#include <stdlib.h>
#include <string.h>
#include "ek_addr.h"
#include "ek_log.h"
#include "p11_internal.h"

static CK_RV check_cert_template(const CK_ATTRIBUTE *t, CK_ULONG n, bool *token)
{
    CK_ULONG cls = 0, ctype = CKC_X_509;
    bool present = false;
    CK_RV rv = p11_tmpl_ulong(t, n, CKA_CLASS, &cls, &present);
    if (rv != CKR_OK)
        return rv;
    if (!present)
        return CKR_TEMPLATE_INCOMPLETE;
    if (cls == CKO_PRIVATE_KEY || cls == CKO_SECRET_KEY) {
        ek_log(EK_LOG_ERR, "pkcs11: C_CreateObject: importing keys is refused: "
                           "edgekey keys are generated in the TPM (C_GenerateKeyPair)");
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    if (cls != CKO_CERTIFICATE)
        return CKR_ATTRIBUTE_VALUE_INVALID;
    rv = p11_tmpl_ulong(t, n, CKA_CERTIFICATE_TYPE, &ctype, NULL);
    if (rv != CKR_OK)
        return rv;
    if (ctype != CKC_X_509)
        return CKR_ATTRIBUTE_VALUE_INVALID;
    const CK_ATTRIBUTE *v = p11_tmpl_find(t, n, CKA_VALUE);
    if (!v || !v->pValue || !v->ulValueLen)
        return CKR_TEMPLATE_INCOMPLETE;
    *token = false;
    rv = p11_tmpl_bool(t, n, CKA_TOKEN, token, NULL);
    if (rv != CKR_OK)
        return rv;
    /* Only attributes we can honour (or that restate ours) are accepted. */
    for (CK_ULONG i = 0; i < n; i++) {
        switch (t[i].type) {
        case CKA_CLASS:
        case CKA_CERTIFICATE_TYPE:
        case CKA_VALUE:
        case CKA_TOKEN:
        case CKA_LABEL:
        case CKA_ID:
        case CKA_SUBJECT:
        case CKA_ISSUER:
        case CKA_SERIAL_NUMBER:
        case CKA_PRIVATE:
        case CKA_MODIFIABLE:
        case CKA_TRUSTED:
        case CKA_CERTIFICATE_CATEGORY:
        case CKA_START_DATE:
        case CKA_END_DATE:
        case CKA_DESTROYABLE:
        case CKA_COPYABLE:
            break;
        default:
            return CKR_ATTRIBUTE_TYPE_INVALID;
        }
    }
    return CKR_OK;
}

P11_EXPORT CK_RV C_CreateObject(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate,
                                CK_ULONG ulCount, CK_OBJECT_HANDLE_PTR phObject)
{
    if (!phObject)
        return CKR_ARGUMENTS_BAD;
    CK_RV rv = p11_tmpl_check(pTemplate, ulCount);
    CK_ULONG cls = 0;
    if (rv == CKR_OK && p11_tmpl_ulong(pTemplate, ulCount, CKA_CLASS, &cls, NULL) == CKR_OK &&
        cls == CKO_DATA)
        return p11_data_create(hSession, pTemplate, ulCount, phObject);
    bool token = false;
    if (rv == CKR_OK)
        rv = check_cert_template(pTemplate, ulCount, &token);
    if (rv != CKR_OK)
        return rv;
    const CK_ATTRIBUTE *v = p11_tmpl_find(pTemplate, ulCount, CKA_VALUE);
    const CK_ATTRIBUTE *idA = p11_tmpl_find(pTemplate, ulCount, CKA_ID);
    const CK_ATTRIBUTE *lab = p11_tmpl_find(pTemplate, ulCount, CKA_LABEL);
    char label[256] = "";
    if (lab && lab->ulValueLen) {
        size_t n = lab->ulValueLen < sizeof(label) - 1 ? lab->ulValueLen : sizeof(label) - 1;
        memcpy(label, lab->pValue, n);
        label[n] = '\0';
    }
    const unsigned char *id = idA ? idA->pValue : NULL;
    size_t id_len = idA ? idA->ulValueLen : 0;
    if (id_len > 64)
        return CKR_ATTRIBUTE_VALUE_INVALID;

    /* Parse before storing: a certificate that does not parse is refused. */
    p11_attrs probe = {0};
    p11_obj_desc d = {.id = id, .id_len = id_len, .label = label, .token = token};
    rv = p11_build_cert_attrs(&probe, v->pValue, v->ulValueLen, &d);
    p11_attrs_free(&probe);
    if (rv != CKR_OK)
        return rv;

    p11_lock();
    p11_session *s;
    rv = p11_session_lookup(hSession, &s);
    p11_slot *sl = rv == CKR_OK ? p11_slot_get(s->slot) : NULL;
    if (rv == CKR_OK && (!sl || !sl->label[0]))
        rv = CKR_TOKEN_NOT_RECOGNIZED;
    if (rv == CKR_OK && token && !(s->flags & CKF_RW_SESSION))
        rv = CKR_SESSION_READ_ONLY;
    if (rv == CKR_OK && token) {
        ek_store_obj so;
        ek_rc rc = ek_store_put_cert(sl->label, label, id_len ? id : NULL, id_len, v->pValue,
                                     v->ulValueLen, &so);
        rv = p11_rv_from_ek(rc, "C_CreateObject (certificate)");
        if (rv == CKR_OK) {
            /* a key-less certificate slot we already show: replace it */
            for (p11_object *o = p11.objects, *nx; o; o = nx) {
                nx = o->next;
                if (o->slot == sl->id && o->token_obj && o->cls == CKO_CERTIFICATE &&
                    o->id_len == so.id_len && memcmp(o->id, so.id, so.id_len) == 0) {
                    p11_object_unlink(o);
                    p11_object_free(o);
                }
            }
            rv = p11_objects_add_cert(sl, v->pValue, v->ulValueLen, &so, so.id, so.id_len,
                                      so.label[0] ? so.label : label, true, 0, phObject);
        }
    } else if (rv == CKR_OK) {
        rv = p11_objects_add_cert(sl, v->pValue, v->ulValueLen, NULL, id, id_len, label, false,
                                  hSession, phObject);
    }
    p11_unlock();
    return rv;
}

P11_EXPORT CK_RV C_DestroyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject)
{
    p11_lock();
    p11_session *s;
    CK_RV rv = p11_session_lookup(hSession, &s);
    p11_object *o = rv == CKR_OK ? p11_object_get(hObject) : NULL;
    if (rv == CKR_OK && (!o || !p11_object_visible(o, s)))
        rv = CKR_OBJECT_HANDLE_INVALID;
    if (rv == CKR_OK && o->token_obj && !(s->flags & CKF_RW_SESSION))
        rv = CKR_SESSION_READ_ONLY;
    if (rv == CKR_OK && o->token_obj && o->cls == CKO_DATA) {
        ek_rc rc = ek_secret_delete(&o->dobj);
        if (rc != EK_OK && rc != EK_ERR_NOT_FOUND)
            rv = p11_rv_from_ek(rc, "C_DestroyObject (data object)");
    } else if (rv == CKR_OK && o->token_obj && o->cls != CKO_PUBLIC_KEY) {
        int what = o->cls == CKO_CERTIFICATE ? EK_OBJ_CERT : EK_OBJ_PRIVATE;
        ek_rc rc = ek_store_delete(&o->sobj, what, o->cls == CKO_PRIVATE_KEY);
        if (rc != EK_OK && rc != EK_ERR_NOT_FOUND)
            rv = p11_rv_from_ek(rc, "C_DestroyObject");
    }
    if (rv == CKR_OK) {
        p11_object_unlink(o);
        p11_object_free(o);
    }
    p11_unlock();
    return rv;
}

P11_EXPORT CK_RV C_CopyObject(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                              CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount,
                              CK_OBJECT_HANDLE_PTR phNewObject)
{
    (void)hSession;
    (void)hObject;
    (void)pTemplate;
    (void)ulCount;
    (void)phNewObject;
    return CKR_FUNCTION_NOT_SUPPORTED;
}
