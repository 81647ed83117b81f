/* edgekey PKCS#11 module: the object table.
 *
 * Token objects are views of store objects: a stored key becomes a private
 * key object and a public key object (sharing one ek_key), a stored
 * certificate a certificate object. The table is synchronised with the
 * store on every C_FindObjectsInit (a directory read; key files are parsed
 * only for objects not seen before), so objects made by the CLI or another
 * process appear without re-initialising. Handles stay stable while the
 * object exists. Session objects (CKA_TOKEN false) live only here. Sealed
 * data objects (CKO_DATA) are p11_data.c's, synchronised from here. */
#include <stdlib.h>
#include <string.h>
#include "ek_log.h"
#include "p11_internal.h"

p11_object *p11_object_get(CK_OBJECT_HANDLE h)
{
    for (p11_object *o = p11.objects; o; o = o->next)
        if (o->h == h)
            return o;
    return NULL;
}

bool p11_object_visible(const p11_object *o, const p11_session *s)
{
    if (o->slot != s->slot)
        return false;
    if (o->priv) {
        p11_slot *sl = p11_slot_get(s->slot);
        return sl && p11_slot_logged_in_user(sl);
    }
    return true;
}

p11_object *p11_object_new(CK_SLOT_ID slot, CK_OBJECT_CLASS cls)
{
    p11_object *o = calloc(1, sizeof(*o));
    if (!o)
        return NULL;
    o->h = p11.next_object++;
    o->slot = slot;
    o->cls = cls;
    o->seen = true;
    o->next = p11.objects;
    p11.objects = o;
    return o;
}

void p11_object_unlink(p11_object *o)
{
    for (p11_object **pp = &p11.objects; *pp; pp = &(*pp)->next) {
        if (*pp == o) {
            *pp = o->next;
            return;
        }
    }
}

void p11_object_free(p11_object *o)
{
    if (!o)
        return;
    p11_attrs_free(&o->attrs);
    ek_key_free(o->key);
    free(o);
}

void p11_objects_free_all(void)
{
    for (p11_object *o = p11.objects, *nx; o; o = nx) {
        nx = o->next;
        p11_object_free(o);
    }
    p11.objects = NULL;
}

void p11_objects_drop_session(CK_SESSION_HANDLE h)
{
    for (p11_object *o = p11.objects, *nx; o; o = nx) {
        nx = o->next;
        if (!o->token_obj && o->owner == h) {
            p11_object_unlink(o);
            p11_object_free(o);
        }
    }
}

static void drop(p11_object *o)
{
    if (o) {
        p11_object_unlink(o);
        p11_object_free(o);
    }
}

static p11_object *find_by_id(CK_SLOT_ID slot, CK_OBJECT_CLASS cls, const unsigned char *id,
                              size_t id_len, bool token_obj)
{
    for (p11_object *o = p11.objects; o; o = o->next)
        if (o->slot == slot && o->cls == cls && o->token_obj == token_obj && o->id_len == id_len &&
            memcmp(o->id, id, id_len) == 0)
            return o;
    return NULL;
}

static void set_ident(p11_object *o, const unsigned char *id, size_t id_len,
                      const ek_store_obj *sobj, bool token_obj, CK_SESSION_HANDLE owner)
{
    if (id_len > sizeof(o->id))
        id_len = sizeof(o->id);
    memcpy(o->id, id, id_len);
    o->id_len = id_len;
    o->token_obj = token_obj;
    o->owner = token_obj ? 0 : owner;
    if (sobj)
        o->sobj = *sobj;
}

CK_RV p11_objects_add_key(p11_slot *slot, ek_key *key, const ek_store_obj *sobj,
                          const unsigned char *id, size_t id_len, const char *label, bool token_obj,
                          CK_SESSION_HANDLE owner, CK_OBJECT_HANDLE *priv_h,
                          CK_OBJECT_HANDLE *pub_h)
{
    const ek_pubkey *pub = ek_key_public(key);
    if (!pub)
        return CKR_GENERAL_ERROR;
    bool login = ek_token_login_required(slot->label);
    p11_obj_desc d = {.id = id,
                      .id_len = id_len,
                      .label = label,
                      .token = token_obj,
                      .priv = login,
                      .local = true};
    p11_object *pv = p11_object_new(slot->id, CKO_PRIVATE_KEY);
    p11_object *pb = p11_object_new(slot->id, CKO_PUBLIC_KEY);
    CK_RV rv = pv && pb ? CKR_OK : CKR_HOST_MEMORY;
    if (rv == CKR_OK)
        rv = p11_build_key_attrs(&pv->attrs, CKO_PRIVATE_KEY, pub, &d);
    d.priv = false;
    if (rv == CKR_OK)
        rv = p11_build_key_attrs(&pb->attrs, CKO_PUBLIC_KEY, pub, &d);
    if (rv != CKR_OK) {
        drop(pv);
        drop(pb);
        return rv;
    }
    pv->priv = login;
    pv->key = ek_key_ref(key);
    pb->key = ek_key_ref(key);
    set_ident(pv, id, id_len, sobj, token_obj, owner);
    set_ident(pb, id, id_len, sobj, token_obj, owner);
    if (priv_h)
        *priv_h = pv->h;
    if (pub_h)
        *pub_h = pb->h;
    return CKR_OK;
}

/* Copy a certificate's subject onto the key objects with its CKA_ID. */
static void subject_to_keys(const p11_object *cert)
{
    const p11_attr *subj = p11_attrs_find(&cert->attrs, CKA_SUBJECT);
    if (!subj)
        return;
    for (p11_object *o = p11.objects; o; o = o->next)
        if (o->slot == cert->slot && (o->cls == CKO_PRIVATE_KEY || o->cls == CKO_PUBLIC_KEY) &&
            o->id_len == cert->id_len && memcmp(o->id, cert->id, o->id_len) == 0)
            p11_attrs_set(&o->attrs, CKA_SUBJECT, subj->val, subj->len);
}

CK_RV p11_objects_add_cert(p11_slot *slot, const unsigned char *der, size_t der_len,
                           const ek_store_obj *sobj, const unsigned char *id, size_t id_len,
                           const char *label, bool token_obj, CK_SESSION_HANDLE owner,
                           CK_OBJECT_HANDLE *h)
{
    p11_obj_desc d = {.id = id, .id_len = id_len, .label = label, .token = token_obj};
    p11_object *o = p11_object_new(slot->id, CKO_CERTIFICATE);
    if (!o)
        return CKR_HOST_MEMORY;
    CK_RV rv = p11_build_cert_attrs(&o->attrs, der, der_len, &d);
    if (rv != CKR_OK) {
        p11_object_unlink(o);
        p11_object_free(o);
        return rv;
    }
    set_ident(o, id, id_len, sobj, token_obj, owner);
    subject_to_keys(o);
    if (h)
        *h = o->h;
    return CKR_OK;
}

static void sync_key(p11_slot *slot, const ek_store_obj *so)
{
    p11_object *pv = find_by_id(slot->id, CKO_PRIVATE_KEY, so->id, so->id_len, true);
    p11_object *pb = find_by_id(slot->id, CKO_PUBLIC_KEY, so->id, so->id_len, true);
    if (pv && pb) {
        pv->seen = pb->seen = true;
        return;
    }
    drop(pv); /* half a pair: rebuild both */
    drop(pb);
    ek_key *key = NULL;
    ek_rc rc = ek_store_load_key(so, &key);
    if (rc != EK_OK) {
        ek_log(EK_LOG_WARN, "pkcs11: token %s key %s skipped: %s", slot->label, so->label,
               ek_last_error());
        return;
    }
    p11_objects_add_key(slot, key, so, so->id, so->id_len, so->label, true, 0, NULL, NULL);
    ek_key_free(key);
}

static void sync_cert(p11_slot *slot, const ek_store_obj *so)
{
    p11_object *c = find_by_id(slot->id, CKO_CERTIFICATE, so->id, so->id_len, true);
    if (c) {
        c->seen = true;
        return;
    }
    unsigned char *der = NULL;
    size_t len = 0;
    if (ek_store_read_cert(so, &der, &len) != EK_OK) {
        ek_log(EK_LOG_WARN, "pkcs11: token %s certificate %s skipped: %s", slot->label, so->label,
               ek_last_error());
        return;
    }
    if (p11_objects_add_cert(slot, der, len, so, so->id, so->id_len, so->label, true, 0, NULL) !=
        CKR_OK)
        ek_log(EK_LOG_WARN, "pkcs11: token %s certificate %s does not parse", slot->label,
               so->label);
    free(der);
}

CK_RV p11_objects_sync(p11_slot *slot)
{
    if (!slot->label[0])
        return CKR_OK;
    ek_store_obj *objs = NULL;
    size_t n = 0;
    ek_rc rc = ek_store_find(slot->label, NULL, NULL, 0, &objs, &n);
    if (rc == EK_ERR_NOT_FOUND)
        n = 0;
    else if (rc != EK_OK)
        return p11_rv_from_ek(rc, "reading the token");
    for (p11_object *o = p11.objects; o; o = o->next)
        if (o->slot == slot->id && o->token_obj)
            o->seen = false;
    for (size_t i = 0; i < n; i++) {
        if (objs[i].has_key)
            sync_key(slot, &objs[i]);
        if (objs[i].has_cert)
            sync_cert(slot, &objs[i]);
    }
    free(objs);
    p11_data_sync(slot);
    for (p11_object *o = p11.objects, *nx; o; o = nx) {
        nx = o->next;
        if (o->slot == slot->id && o->token_obj && !o->seen) {
            p11_object_unlink(o);
            p11_object_free(o);
        }
    }
    return CKR_OK;
}
