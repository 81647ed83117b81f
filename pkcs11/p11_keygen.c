/* edgekey PKCS#11 module: C_GenerateKeyPair - RSA (>= policy minimum) and
 * EC P-256/P-384, generated in the TPM, sign-only, never extractable.
 *
 * In a PIN token the key's auth value derives from the token secret and the
 * key's CKA_ID (core/ek_token.h); without a CKA_ID in the template we pick a
 * random 8-byte one. A PIN-less token's keys have empty auth. Usage flags
 * the key cannot honour (CKA_DECRYPT, CKA_UNWRAP, CKA_DERIVE) are dropped
 * with a warning, because stock tools set them by default; a template that
 * asks for an extractable or non-sensitive key is refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/rand.h>
#include "ek_keyfile.h"
#include "ek_log.h"
#include "p11_internal.h"

typedef struct gen_req {
    ek_keygen_spec spec;
    bool token;
    unsigned char id[64];
    size_t id_len;
    char label[256];
} gen_req;

static const CK_ATTRIBUTE *either(const CK_ATTRIBUTE *a, CK_ULONG an, const CK_ATTRIBUTE *b,
                                  CK_ULONG bn, CK_ATTRIBUTE_TYPE t)
{
    const CK_ATTRIBUTE *x = p11_tmpl_find(a, an, t);
    return x ? x : p11_tmpl_find(b, bn, t);
}

static CK_RV refuse_flags(const CK_ATTRIBUTE *priv, CK_ULONG pn)
{
    bool v = false, present = false;
    CK_RV rv = p11_tmpl_bool(priv, pn, CKA_EXTRACTABLE, &v, &present);
    if (rv == CKR_OK && present && v) {
        ek_log(EK_LOG_ERR, "pkcs11: C_GenerateKeyPair: CKA_EXTRACTABLE=TRUE refused: "
                           "TPM keys never leave the TPM; drop the attribute");
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    if (rv == CKR_OK)
        rv = p11_tmpl_bool(priv, pn, CKA_SENSITIVE, &v, &present);
    if (rv == CKR_OK && present && !v) {
        ek_log(EK_LOG_ERR, "pkcs11: C_GenerateKeyPair: CKA_SENSITIVE=FALSE refused: "
                           "TPM keys are always sensitive");
        return CKR_ATTRIBUTE_VALUE_INVALID;
    }
    static const CK_ATTRIBUTE_TYPE dropped[] = {CKA_DECRYPT, CKA_UNWRAP, CKA_DERIVE};
    for (size_t i = 0; rv == CKR_OK && i < sizeof(dropped) / sizeof(dropped[0]); i++) {
        v = false;
        rv = p11_tmpl_bool(priv, pn, dropped[i], &v, &present);
        if (rv == CKR_OK && v)
            ek_log(EK_LOG_WARN,
                   "pkcs11: C_GenerateKeyPair: attribute 0x%lx=TRUE "
                   "ignored: edgekey keys are sign-only",
                   dropped[i]);
    }
    return rv;
}

static CK_RV parse_rsa(const CK_ATTRIBUTE *pub, CK_ULONG pubn, gen_req *r)
{
    CK_ULONG bits = 0;
    bool present = false;
    CK_RV rv = p11_tmpl_ulong(pub, pubn, CKA_MODULUS_BITS, &bits, &present);
    if (rv != CKR_OK)
        return rv;
    if (!present)
        return CKR_TEMPLATE_INCOMPLETE;
    const CK_ATTRIBUTE *e = p11_tmpl_find(pub, pubn, CKA_PUBLIC_EXPONENT);
    if (e && e->ulValueLen) {
        unsigned long ev = 0;
        const unsigned char *p = e->pValue;
        for (CK_ULONG i = 0; i < e->ulValueLen; i++) {
            if (ev > 0xffffff)
                return CKR_ATTRIBUTE_VALUE_INVALID;
            ev = (ev << 8) | p[i];
        }
        if (ev != 65537) {
            ek_log(EK_LOG_ERR,
                   "pkcs11: C_GenerateKeyPair: public exponent %lu "
                   "refused: the TPM makes keys with exponent 65537",
                   ev);
            return CKR_ATTRIBUTE_VALUE_INVALID;
        }
    }
    r->spec.alg = EK_ALG_RSA;
    r->spec.bits = (unsigned)bits;
    return CKR_OK;
}

static CK_RV parse_ec(const CK_ATTRIBUTE *pub, CK_ULONG pubn, gen_req *r)
{
    const CK_ATTRIBUTE *p = p11_tmpl_find(pub, pubn, CKA_EC_PARAMS);
    if (!p)
        return CKR_TEMPLATE_INCOMPLETE;
    ek_curve c = p11_ec_curve_from_params(p->pValue, p->ulValueLen);
    if (c == EK_CURVE_NONE) {
        ek_log(EK_LOG_ERR, "pkcs11: C_GenerateKeyPair: curve refused: only P-256 and "
                           "P-384 (named curve OIDs) are supported");
        return CKR_CURVE_NOT_SUPPORTED;
    }
    r->spec.alg = EK_ALG_EC;
    r->spec.curve = c;
    r->spec.bits = c == EK_CURVE_P384 ? 384 : 256;
    return CKR_OK;
}

static CK_RV parse_request(CK_MECHANISM_TYPE mech, const CK_ATTRIBUTE *pub, CK_ULONG pubn,
                           const CK_ATTRIBUTE *priv, CK_ULONG privn, gen_req *r)
{
    CK_RV rv = p11_tmpl_check(pub, pubn);
    if (rv == CKR_OK)
        rv = p11_tmpl_check(priv, privn);
    if (rv == CKR_OK)
        rv = refuse_flags(priv, privn);
    if (rv == CKR_OK)
        rv = mech == CKM_RSA_PKCS_KEY_PAIR_GEN ? parse_rsa(pub, pubn, r) : parse_ec(pub, pubn, r);
    if (rv != CKR_OK)
        return rv;
    bool present = false;
    rv = p11_tmpl_bool(priv, privn, CKA_TOKEN, &r->token, &present);
    if (rv == CKR_OK && !present)
        rv = p11_tmpl_bool(pub, pubn, CKA_TOKEN, &r->token, NULL);
    const CK_ATTRIBUTE *id = either(priv, privn, pub, pubn, CKA_ID);
    if (id && id->ulValueLen > sizeof(r->id))
        return CKR_ATTRIBUTE_VALUE_INVALID;
    if (id && id->ulValueLen) {
        memcpy(r->id, id->pValue, id->ulValueLen);
        r->id_len = id->ulValueLen;
    }
    const CK_ATTRIBUTE *lab = either(priv, privn, pub, pubn, CKA_LABEL);
    if (lab && lab->ulValueLen) {
        size_t n = lab->ulValueLen < sizeof(r->label) - 1 ? lab->ulValueLen : sizeof(r->label) - 1;
        memcpy(r->label, lab->pValue, n);
        r->label[n] = '\0';
    }
    return rv;
}

static CK_RV map_gen_error(ek_rc rc, const gen_req *r)
{
    if (rc == EK_ERR_POLICY) {
        ek_log(EK_LOG_ERR, "pkcs11: C_GenerateKeyPair: %s", ek_last_error());
        return r->spec.alg == EK_ALG_RSA ? CKR_KEY_SIZE_RANGE : CKR_TEMPLATE_INCONSISTENT;
    }
    return p11_rv_from_ek(rc, "C_GenerateKeyPair");
}

/* Lock held. Refuse a duplicate label before spending TPM time on a key. */
static CK_RV label_free(const char *token, const char *label)
{
    if (!label[0])
        return CKR_OK;
    ek_store_obj *objs = NULL;
    size_t n = 0;
    if (ek_store_find(token, label, NULL, 0, &objs, &n) == EK_OK && n > 0) {
        free(objs);
        ek_log(EK_LOG_ERR,
               "pkcs11: C_GenerateKeyPair: token %s already has an object "
               "labelled \"%s\"; choose another label or delete it",
               token, label);
        return CKR_TEMPLATE_INCONSISTENT;
    }
    return CKR_OK;
}

P11_EXPORT CK_RV C_GenerateKeyPair(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
                                   CK_ATTRIBUTE_PTR pPublicKeyTemplate,
                                   CK_ULONG ulPublicKeyAttributeCount,
                                   CK_ATTRIBUTE_PTR pPrivateKeyTemplate,
                                   CK_ULONG ulPrivateKeyAttributeCount,
                                   CK_OBJECT_HANDLE_PTR phPublicKey,
                                   CK_OBJECT_HANDLE_PTR phPrivateKey)
{
    if (!pMechanism || !phPublicKey || !phPrivateKey)
        return CKR_ARGUMENTS_BAD;
    gen_req r;
    memset(&r, 0, sizeof(r));
    unsigned char auth[EK_TOKEN_AUTH_MAX];
    size_t alen = 0;
    char token[33];
    CK_SLOT_ID slot_id = 0;

    p11_lock();
    p11_session *s;
    CK_RV rv = p11_session_lookup(hSession, &s);
    const p11_mech *m = rv == CKR_OK ? p11_mech_find(pMechanism->mechanism) : NULL;
    if (rv == CKR_OK && (!m || !(m->flags & CKF_GENERATE_KEY_PAIR)))
        rv = CKR_MECHANISM_INVALID;
    if (rv == CKR_OK)
        rv = parse_request(m->type, pPublicKeyTemplate, ulPublicKeyAttributeCount,
                           pPrivateKeyTemplate, ulPrivateKeyAttributeCount, &r);
    p11_slot *sl = rv == CKR_OK ? p11_slot_get(s->slot) : NULL;
    if (rv == CKR_OK && (!sl || !sl->label[0]))
        rv = CKR_TOKEN_NOT_RECOGNIZED;
    if (rv == CKR_OK && r.token && !(s->flags & CKF_RW_SESSION))
        rv = CKR_SESSION_READ_ONLY;
    if (rv == CKR_OK && r.token)
        rv = label_free(sl->label, r.label);
    if (rv == CKR_OK && ek_token_login_required(sl->label)) {
        if (!p11_slot_logged_in_user(sl) || !sl->secret.set)
            rv = CKR_USER_NOT_LOGGED_IN;
        if (rv == CKR_OK && !r.id_len) {
            r.id_len = 8;
            if (RAND_bytes(r.id, 8) != 1)
                rv = CKR_FUNCTION_FAILED;
        }
        if (rv == CKR_OK)
            rv = p11_rv_from_ek(ek_token_key_auth(&sl->secret, r.id, r.id_len, auth, &alen),
                                "key auth");
    }
    if (rv == CKR_OK) {
        memcpy(token, sl->label, sizeof(token));
        slot_id = sl->id;
    }
    p11_unlock();
    if (rv != CKR_OK)
        return rv;

    /* The TPM work runs without the module lock. */
    ek_key *key = NULL;
    r.spec.auth = alen ? auth : NULL;
    r.spec.auth_len = alen;
    r.spec.auth_derived = true; /* from the token secret (ek_token_key_auth) */
    ek_rc rc = ek_key_generate(&r.spec, &key);
    ek_wipe(auth, sizeof(auth));
    if (rc != EK_OK)
        return map_gen_error(rc, &r);
    if (alen)
        ek_key_set_auth(key, NULL, 0); /* set again from the secret at sign time */

    if (!r.id_len) {
        /* the store's default CKA_ID: first 8 bytes of SHA-256 of the public key */
        unsigned char h[32];
        ek_pubkey_sha256(ek_key_public(key), h);
        memcpy(r.id, h, 8);
        r.id_len = 8;
    }
    if (!r.label[0])
        ek_hex(r.id, r.id_len, r.label); /* the store wants a label: use the id */

    p11_lock();
    ek_store_obj so;
    memset(&so, 0, sizeof(so));
    if (!p11_session_get(hSession) || !(sl = p11_slot_get(slot_id)) ||
        strcmp(sl->label, token) != 0) {
        rv = CKR_SESSION_CLOSED;
    } else if (r.token) {
        rc = ek_store_put_key(token, r.label, r.id, r.id_len, key, &so);
        rv = p11_rv_from_ek(rc, "C_GenerateKeyPair (store)");
        if (rv == CKR_OK)
            rv = p11_objects_add_key(sl, key, &so, so.id, so.id_len,
                                     so.label[0] ? so.label : r.label, true, 0, phPrivateKey,
                                     phPublicKey);
    } else {
        rv = p11_objects_add_key(sl, key, NULL, r.id, r.id_len, r.label, false, hSession,
                                 phPrivateKey, phPublicKey);
    }
    p11_unlock();
    ek_key_free(key);
    return rv;
}
