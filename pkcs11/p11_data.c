/* edgekey PKCS#11 module: CKO_DATA token objects whose value is sealed in
 * the TPM (core/ek_secret.h): creation, listing (part of the store sync),
 * and reading CKA_VALUE by unsealing.
 *
 * Who may do what follows the module's key rules: in a PIN token a private
 * data object is created and seen only by the logged-in user, whose token
 * secret derives its auth value; in a PIN-less token everything is visible
 * and the auth is empty. The TPM work (seal, unseal) runs without the
 * module lock, on copies taken under it; unsealed bytes are wiped after
 * they are copied to the caller. */
#include <stdlib.h>
#include <string.h>
#include "ek_log.h"
#include "p11_internal.h"

/* Lock held. */
static CK_RV add_object(p11_slot *sl, const ek_secret_obj *rec, CK_OBJECT_HANDLE *h)
{
    p11_object *o = p11_object_new(sl->id, CKO_DATA);
    if (!o)
        return CKR_HOST_MEMORY;
    CK_RV rv = p11_build_data_attrs(&o->attrs, rec);
    if (rv != CKR_OK) {
        p11_object_unlink(o);
        p11_object_free(o);
        return rv;
    }
    o->token_obj = true;
    /* as for keys: private means "after login" only where login exists */
    o->priv = rec->priv && ek_token_login_required(sl->label);
    o->dobj = *rec;
    memcpy(o->id, rec->id, rec->id_len);
    o->id_len = rec->id_len;
    if (h)
        *h = o->h;
    return CKR_OK;
}

static p11_object *find_data(CK_SLOT_ID slot, const char *name)
{
    for (p11_object *o = p11.objects; o; o = o->next)
        if (o->slot == slot && o->cls == CKO_DATA && o->token_obj &&
            strcmp(o->dobj.name, name) == 0)
            return o;
    return NULL;
}

void p11_data_sync(p11_slot *slot)
{
    ek_secret_obj *all = NULL;
    size_t n = 0;
    if (ek_secret_find(slot->label, NULL, &all, &n) != EK_OK) {
        ek_log(EK_LOG_WARN, "pkcs11: token %s: data objects not listed: %s", slot->label,
               ek_last_error());
        for (p11_object *o = p11.objects; o; o = o->next) /* keep what we show */
            if (o->slot == slot->id && o->cls == CKO_DATA && o->token_obj)
                o->seen = true;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        p11_object *o = find_data(slot->id, all[i].name);
        if (o)
            o->seen = true;
        else if (add_object(slot, &all[i], NULL) != CKR_OK)
            ek_log(EK_LOG_WARN, "pkcs11: token %s: data object '%s' skipped (out of memory)",
                   slot->label, all[i].label);
    }
    free(all);
}

CK_RV p11_data_create(CK_SESSION_HANDLE h, const CK_ATTRIBUTE *tmpl, CK_ULONG count,
                      CK_OBJECT_HANDLE *out)
{
    ek_secret_obj desc, rec;
    const unsigned char *value = NULL;
    size_t len = 0;
    CK_RV rv = p11_data_template(tmpl, count, &desc, &value, &len);
    if (rv != CKR_OK)
        return rv;
    char label[33] = "";
    CK_SLOT_ID slot_id = 0;
    ek_token_secret sec = {.set = false};
    p11_lock();
    p11_session *s;
    rv = p11_session_lookup(h, &s);
    p11_slot *sl = rv == CKR_OK ? p11_slot_get(s->slot) : NULL;
    if (rv == CKR_OK && (!sl || !sl->label[0]))
        rv = CKR_TOKEN_NOT_RECOGNIZED;
    if (rv == CKR_OK && !(s->flags & CKF_RW_SESSION))
        rv = CKR_SESSION_READ_ONLY;
    if (rv == CKR_OK && desc.priv && ek_token_login_required(sl->label)) {
        if (p11_slot_logged_in_user(sl) && sl->secret.set) {
            sec = sl->secret;
        } else {
            ek_log(EK_LOG_ERR,
                   "pkcs11: C_CreateObject: private data object '%s' in token %s: log in as "
                   "the user first (or create it with CKA_PRIVATE false)",
                   desc.label, sl->label);
            rv = CKR_USER_NOT_LOGGED_IN;
        }
    }
    if (rv == CKR_OK) {
        memcpy(label, sl->label, sizeof(label));
        slot_id = sl->id;
    }
    p11_unlock();
    if (rv != CKR_OK)
        return rv;

    ek_rc rc = ek_secret_put(label, &desc, sec.set ? &sec : NULL, value, len, &rec);
    ek_token_secret_wipe(&sec);
    if (rc == EK_ERR_AUTH) {
        ek_log(EK_LOG_ERR, "pkcs11: C_CreateObject: %s", ek_last_error());
        return CKR_USER_NOT_LOGGED_IN;
    }
    rv = p11_rv_from_ek(rc, "C_CreateObject (data object)");
    if (rv != CKR_OK)
        return rv;
    p11_lock();
    sl = p11_slot_get(slot_id);
    if (!p11_session_get(h) || !sl) /* closed meanwhile: the object stays in the store */
        rv = CKR_SESSION_HANDLE_INVALID;
    else
        rv = add_object(sl, &rec, out);
    p11_unlock();
    return rv;
}

/* Lock held: the visible data object h of session sh. */
static CK_RV lookup(CK_SESSION_HANDLE sh, CK_OBJECT_HANDLE h, p11_session **s, p11_object **o)
{
    CK_RV rv = p11_session_lookup(sh, s);
    if (rv != CKR_OK)
        return rv;
    *o = p11_object_get(h);
    if (!*o || !p11_object_visible(*o, *s) || (*o)->cls != CKO_DATA || !(*o)->token_obj)
        return CKR_OBJECT_HANDLE_INVALID;
    return CKR_OK;
}

/* Unseal rec's value into buf (EK_SECRET_MAX bytes); a CK_RV for the
 * CKA_VALUE entry. */
static CK_RV unseal(const ek_secret_obj *rec, ek_token_secret *sec, unsigned char *buf, size_t *len)
{
    ek_rc rc = ek_secret_get(rec, sec->set ? sec : NULL, buf, EK_SECRET_MAX, len);
    ek_token_secret_wipe(sec);
    /* C_GetAttributeValue has no "not logged in" or "bad file" codes */
    if (rc == EK_ERR_AUTH || rc == EK_ERR_INVALID) {
        ek_log(EK_LOG_ERR, "pkcs11: C_GetAttributeValue: %s", ek_last_error());
        return CKR_FUNCTION_FAILED;
    }
    return p11_rv_from_ek(rc, "C_GetAttributeValue (data object)");
}

CK_RV p11_data_get_attrs(CK_SESSION_HANDLE sh, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl,
                         CK_ULONG count)
{
    ek_secret_obj rec;
    ek_token_secret sec = {.set = false};
    bool need = false;
    p11_session *s;
    p11_object *o;
    p11_lock();
    CK_RV rv = lookup(sh, h, &s, &o);
    if (rv == CKR_OK) {
        rec = o->dobj;
        for (CK_ULONG i = 0; i < count; i++)
            if (tmpl[i].type == CKA_VALUE && tmpl[i].pValue && tmpl[i].ulValueLen >= rec.value_len)
                need = true;
        p11_slot *sl = p11_slot_get(s->slot);
        if (need && rec.token_auth && sl && p11_slot_logged_in_user(sl) && sl->secret.set)
            sec = sl->secret;
    }
    p11_unlock();
    if (rv != CKR_OK)
        return rv;

    unsigned char buf[EK_SECRET_MAX];
    size_t len = 0;
    CK_RV vrv = need ? unseal(&rec, &sec, buf, &len) : CKR_OK;
    p11_lock();
    rv = lookup(sh, h, &s, &o); /* destroyed or logged out meanwhile? */
    CK_RV last = CKR_OK;        /* every entry is processed; the last error wins */
    for (CK_ULONG i = 0; rv == CKR_OK && i < count; i++) {
        CK_ATTRIBUTE *t = &tmpl[i];
        CK_RV r = CKR_OK;
        if (t->type != CKA_VALUE) {
            r = p11_attrs_get(&o->attrs, o->cls, t, 1);
        } else if (!t->pValue) {
            t->ulValueLen = rec.value_len;
        } else if (t->ulValueLen < rec.value_len) {
            t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
            r = CKR_BUFFER_TOO_SMALL;
        } else if (vrv != CKR_OK) {
            t->ulValueLen = CK_UNAVAILABLE_INFORMATION;
            r = vrv;
        } else {
            memcpy(t->pValue, buf, len);
            t->ulValueLen = len;
        }
        if (r != CKR_OK)
            last = r;
    }
    p11_unlock();
    ek_wipe(buf, sizeof(buf));
    return rv != CKR_OK ? rv : last;
}
