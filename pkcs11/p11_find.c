/* edgekey PKCS#11 module: object search and attribute reads. */
#include <stdlib.h>
#include <string.h>
#include "p11_internal.h"

P11_EXPORT CK_RV C_FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate,
                                   CK_ULONG ulCount)
{
    CK_RV rv = p11_tmpl_check(pTemplate, ulCount);
    if (rv != CKR_OK)
        return rv;
    p11_lock();
    p11_session *s;
    rv = p11_session_lookup(hSession, &s);
    if (rv == CKR_OK && s->finding)
        rv = CKR_OPERATION_ACTIVE;
    p11_slot *sl = rv == CKR_OK ? p11_slot_get(s->slot) : NULL;
    if (rv == CKR_OK && sl)
        rv = p11_objects_sync(sl);
    size_t n = 0;
    for (p11_object *o = p11.objects; rv == CKR_OK && o; o = o->next)
        n++;
    CK_OBJECT_HANDLE *found = rv == CKR_OK ? calloc(n ? n : 1, sizeof(*found)) : NULL;
    if (rv == CKR_OK && !found)
        rv = CKR_HOST_MEMORY;
    if (rv == CKR_OK) {
        size_t k = 0;
        for (p11_object *o = p11.objects; o; o = o->next)
            if (p11_object_visible(o, s) && p11_attrs_match(&o->attrs, pTemplate, ulCount))
                found[k++] = o->h;
        /* oldest first: the list is newest first */
        for (size_t i = 0; i < k / 2; i++) {
            CK_OBJECT_HANDLE t = found[i];
            found[i] = found[k - 1 - i];
            found[k - 1 - i] = t;
        }
        free(s->found);
        s->found = found;
        s->n_found = k;
        s->pos_found = 0;
        s->finding = true;
    }
    p11_unlock();
    return rv;
}

P11_EXPORT CK_RV C_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject,
                               CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount)
{
    if (!pulObjectCount || (!phObject && ulMaxObjectCount))
        return CKR_ARGUMENTS_BAD;
    p11_lock();
    p11_session *s;
    CK_RV rv = p11_session_lookup(hSession, &s);
    if (rv == CKR_OK && !s->finding)
        rv = CKR_OPERATION_NOT_INITIALIZED;
    if (rv == CKR_OK) {
        CK_ULONG k = 0;
        while (k < ulMaxObjectCount && s->pos_found < s->n_found) {
            CK_OBJECT_HANDLE h = s->found[s->pos_found++];
            if (p11_object_get(h)) /* skip objects destroyed meanwhile */
                phObject[k++] = h;
        }
        *pulObjectCount = k;
    }
    p11_unlock();
    return rv;
}

P11_EXPORT CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE hSession)
{
    p11_lock();
    p11_session *s;
    CK_RV rv = p11_session_lookup(hSession, &s);
    if (rv == CKR_OK && !s->finding)
        rv = CKR_OPERATION_NOT_INITIALIZED;
    if (rv == CKR_OK) {
        free(s->found);
        s->found = NULL;
        s->n_found = s->pos_found = 0;
        s->finding = false;
    }
    p11_unlock();
    return rv;
}

/* Lock held. */
static CK_RV visible_object(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject, p11_session **sp,
                            p11_object **op)
{
    CK_RV rv = p11_session_lookup(hSession, sp);
    if (rv != CKR_OK)
        return rv;
    *op = p11_object_get(hObject);
    if (!*op || !p11_object_visible(*op, *sp))
        return CKR_OBJECT_HANDLE_INVALID;
    return CKR_OK;
}

P11_EXPORT CK_RV C_GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                                     CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
    if (!pTemplate && ulCount)
        return CKR_ARGUMENTS_BAD;
    p11_lock();
    p11_session *s;
    p11_object *o;
    CK_RV rv = visible_object(hSession, hObject, &s, &o);
    bool sealed = rv == CKR_OK && o->cls == CKO_DATA && o->token_obj;
    if (rv == CKR_OK && !sealed)
        rv = p11_attrs_get(&o->attrs, o->cls, pTemplate, ulCount);
    p11_unlock();
    /* a sealed data object's CKA_VALUE is unsealed without the lock */
    return sealed ? p11_data_get_attrs(hSession, hObject, pTemplate, ulCount) : rv;
}

P11_EXPORT CK_RV C_GetObjectSize(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                                 CK_ULONG_PTR pulSize)
{
    if (!pulSize)
        return CKR_ARGUMENTS_BAD;
    p11_lock();
    p11_session *s;
    p11_object *o;
    CK_RV rv = visible_object(hSession, hObject, &s, &o);
    if (rv == CKR_OK) {
        CK_ULONG size = 0;
        for (size_t i = 0; i < o->attrs.n; i++)
            size += o->attrs.a[i].len + sizeof(CK_ATTRIBUTE);
        *pulSize = size;
    }
    p11_unlock();
    return rv;
}

/* Only session objects' CKA_LABEL / CKA_ID may change; token objects are
 * files whose names derive from CKA_ID, and keys are CKA_MODIFIABLE false. */
P11_EXPORT CK_RV C_SetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
                                     CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
    CK_RV rv = p11_tmpl_check(pTemplate, ulCount);
    if (rv != CKR_OK)
        return rv;
    p11_lock();
    p11_session *s;
    p11_object *o;
    rv = visible_object(hSession, hObject, &s, &o);
    if (rv == CKR_OK && o->token_obj)
        rv = CKR_ATTRIBUTE_READ_ONLY;
    for (CK_ULONG i = 0; rv == CKR_OK && i < ulCount; i++)
        if (pTemplate[i].type != CKA_LABEL && pTemplate[i].type != CKA_ID)
            rv = CKR_ATTRIBUTE_READ_ONLY;
    for (CK_ULONG i = 0; rv == CKR_OK && i < ulCount; i++) {
        rv = p11_attrs_set(&o->attrs, pTemplate[i].type, pTemplate[i].pValue,
                           pTemplate[i].ulValueLen);
        /* o->id keeps the creation CKA_ID: key auth values derive from it */
    }
    p11_unlock();
    return rv;
}
