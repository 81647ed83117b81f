/* edgekey PKCS#11 module: attribute lists and template rules (see p11_attr.h). */
#include <stdlib.h>
#include <string.h>
#include "p11_attr.h"

CK_RV p11_attrs_set(p11_attrs *as, CK_ATTRIBUTE_TYPE type, const void *val, CK_ULONG len)
{
    void *copy = NULL;
    if (len) {
        copy = malloc(len);
        if (!copy)
            return CKR_HOST_MEMORY;
        memcpy(copy, val, len);
    }
    for (size_t i = 0; i < as->n; i++) {
        if (as->a[i].type == type) {
            free(as->a[i].val);
            as->a[i].val = copy;
            as->a[i].len = len;
            return CKR_OK;
        }
    }
    if (as->n == as->cap) {
        size_t cap = as->cap ? as->cap * 2 : 32;
        p11_attr *a = realloc(as->a, cap * sizeof(*a));
        if (!a) {
            free(copy);
            return CKR_HOST_MEMORY;
        }
        as->a = a;
        as->cap = cap;
    }
    as->a[as->n++] = (p11_attr){.type = type, .val = copy, .len = len};
    return CKR_OK;
}

CK_RV p11_attrs_set_bool(p11_attrs *as, CK_ATTRIBUTE_TYPE type, bool v)
{
    CK_BBOOL b = v ? CK_TRUE : CK_FALSE;
    return p11_attrs_set(as, type, &b, sizeof(b));
}

CK_RV p11_attrs_set_ulong(p11_attrs *as, CK_ATTRIBUTE_TYPE type, CK_ULONG v)
{
    return p11_attrs_set(as, type, &v, sizeof(v));
}

const p11_attr *p11_attrs_find(const p11_attrs *as, CK_ATTRIBUTE_TYPE type)
{
    for (size_t i = 0; i < as->n; i++)
        if (as->a[i].type == type)
            return &as->a[i];
    return NULL;
}

void p11_attrs_free(p11_attrs *as)
{
    for (size_t i = 0; i < as->n; i++)
        free(as->a[i].val);
    free(as->a);
    memset(as, 0, sizeof(*as));
}

bool p11_attr_sensitive(CK_OBJECT_CLASS cls, CK_ATTRIBUTE_TYPE type)
{
    if (cls != CKO_PRIVATE_KEY)
        return false;
    switch (type) {
    case CKA_VALUE:
    case CKA_PRIVATE_EXPONENT:
    case CKA_PRIME_1:
    case CKA_PRIME_2:
    case CKA_EXPONENT_1:
    case CKA_EXPONENT_2:
    case CKA_COEFFICIENT:
        return true;
    default:
        return false;
    }
}

CK_RV p11_attrs_get(const p11_attrs *as, CK_OBJECT_CLASS cls, CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
    CK_RV rv = CKR_OK;
    for (CK_ULONG i = 0; i < count; i++) {
        CK_ATTRIBUTE *t = &tmpl[i];
        const p11_attr *a = p11_attrs_find(as, t->type);
        if (p11_attr_sensitive(cls, t->type)) {
            t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
            rv = CKR_ATTRIBUTE_SENSITIVE;
        } else if (!a) {
            t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
            rv = CKR_ATTRIBUTE_TYPE_INVALID;
        } else if (!t->pValue) {
            t->ulValueLen = a->len;
        } else if (t->ulValueLen >= a->len) {
            if (a->len)
                memcpy(t->pValue, a->val, a->len);
            t->ulValueLen = a->len;
        } else {
            t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
            rv = CKR_BUFFER_TOO_SMALL;
        }
    }
    return rv;
}

bool p11_attrs_match(const p11_attrs *as, const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
    for (CK_ULONG i = 0; i < count; i++) {
        const p11_attr *a = p11_attrs_find(as, tmpl[i].type);
        if (!a || a->len != tmpl[i].ulValueLen)
            return false;
        if (a->len && (!tmpl[i].pValue || memcmp(a->val, tmpl[i].pValue, a->len) != 0))
            return false;
    }
    return true;
}

const CK_ATTRIBUTE *p11_tmpl_find(const CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_ATTRIBUTE_TYPE type)
{
    for (CK_ULONG i = 0; tmpl && i < count; i++)
        if (tmpl[i].type == type)
            return &tmpl[i];
    return NULL;
}

CK_RV p11_tmpl_bool(const CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_ATTRIBUTE_TYPE type, bool *value,
                    bool *present)
{
    const CK_ATTRIBUTE *a = p11_tmpl_find(tmpl, count, type);
    if (present)
        *present = a != NULL;
    if (!a)
        return CKR_OK;
    if (a->ulValueLen != sizeof(CK_BBOOL) || !a->pValue)
        return CKR_ATTRIBUTE_VALUE_INVALID;
    *value = *(const CK_BBOOL *)a->pValue != CK_FALSE;
    return CKR_OK;
}

CK_RV p11_tmpl_ulong(const CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_ATTRIBUTE_TYPE type,
                     CK_ULONG *value, bool *present)
{
    const CK_ATTRIBUTE *a = p11_tmpl_find(tmpl, count, type);
    if (present)
        *present = a != NULL;
    if (!a)
        return CKR_OK;
    if (a->ulValueLen != sizeof(CK_ULONG) || !a->pValue)
        return CKR_ATTRIBUTE_VALUE_INVALID;
    memcpy(value, a->pValue, sizeof(CK_ULONG));
    return CKR_OK;
}

CK_RV p11_tmpl_check(const CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
    if (count && !tmpl)
        return CKR_ARGUMENTS_BAD;
    for (CK_ULONG i = 0; i < count; i++)
        if (!tmpl[i].pValue && tmpl[i].ulValueLen)
            return CKR_ATTRIBUTE_VALUE_INVALID;
    return CKR_OK;
}
