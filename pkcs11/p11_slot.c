/* edgekey PKCS#11 module: slots and tokens.
 *
 * One slot per store token, plus one free slot whose token is not yet
 * initialised (C_InitToken there creates a new store token with that
 * label). Slot ids are assigned in discovery order and stay stable for the
 * life of the module; URIs should select tokens by label or serial. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ek_addr.h"
#include "ek_info.h"
#include "ek_log.h"
#include "p11_internal.h"

static p11_slot *slot_by_label(const char *label)
{
    for (size_t i = 0; i < p11.n_slots; i++)
        if (strcmp(p11.slots[i].label, label) == 0)
            return &p11.slots[i];
    return NULL;
}

static void slot_add(const char *label)
{
    if (p11.n_slots == P11_MAX_SLOTS)
        return;
    p11_slot *s = &p11.slots[p11.n_slots];
    memset(s, 0, sizeof(*s));
    s->id = p11.n_slots;
    s->login = (CK_USER_TYPE)-1;
    snprintf(s->label, sizeof(s->label), "%s", label);
    p11.n_slots++;
}

void p11_slots_refresh(void)
{
    ek_token_info *toks = NULL;
    size_t n = 0;
    if (ek_store_tokens(&toks, &n) == EK_OK) {
        for (size_t i = 0; i < n; i++)
            if (toks[i].label[0] && !slot_by_label(toks[i].label))
                slot_add(toks[i].label);
        free(toks);
    }
    if (!slot_by_label(""))
        slot_add("");
}

p11_slot *p11_slot_get(CK_SLOT_ID id)
{
    if (p11.n_slots == 0)
        p11_slots_refresh();
    return id < p11.n_slots ? &p11.slots[id] : NULL;
}

bool p11_slot_logged_in_user(const p11_slot *s)
{
    return s->login == CKU_USER;
}

void p11_slot_logout(p11_slot *s)
{
    s->login = (CK_USER_TYPE)-1;
    ek_token_secret_wipe(&s->secret);
    ek_wipe(s->pin, sizeof(s->pin));
    s->pin_len = 0;
}

void p11_tpm_facts(void)
{
    if (p11.tpm_info_cached)
        return;
    p11.tpm_info_cached = true; /* one attempt per process, even a failed one */
    ek_tpm_info ti;
    /* From the store's facts cache: no TPM command after the first process. */
    if (ek_tpm_get_facts(&ti) != EK_OK) {
        ek_log(EK_LOG_WARN, "pkcs11: TPM information: %s", ek_last_error());
        return;
    }
    snprintf(p11.manufacturer, sizeof(p11.manufacturer), "%s", ti.manufacturer);
    snprintf(p11.model, sizeof(p11.model), "%s", ti.vendor);
    p11.hw_version.major = (CK_BYTE)(ti.spec_revision / 100);
    p11.hw_version.minor = (CK_BYTE)(ti.spec_revision % 100);
    p11.fw_version.major = (CK_BYTE)(ti.fw_major >> 16);
    p11.fw_version.minor = (CK_BYTE)(ti.fw_major & 0xff);
    p11.alg_rsa3072 = ti.alg_rsa3072;
    p11.alg_rsa4096 = ti.alg_rsa4096;
    p11.alg_p256 = ti.alg_p256;
    p11.alg_p384 = ti.alg_p384;
    p11.alg_pss = ti.alg_pss;
    p11.alg_known = true;
    p11.tpm_info_cached = true;
}

P11_EXPORT CK_RV C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList,
                               CK_ULONG_PTR pulCount)
{
    (void)tokenPresent; /* every slot has a token (the free slot's is uninitialised) */
    if (!p11.initialized)
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    if (!pulCount)
        return CKR_ARGUMENTS_BAD;
    p11_lock();
    if (!pSlotList || p11.n_slots == 0)
        p11_slots_refresh();
    CK_RV rv = CKR_OK;
    if (pSlotList) {
        if (*pulCount < p11.n_slots)
            rv = CKR_BUFFER_TOO_SMALL;
        else
            for (size_t i = 0; i < p11.n_slots; i++)
                pSlotList[i] = p11.slots[i].id;
    }
    *pulCount = p11.n_slots;
    p11_unlock();
    return rv;
}

P11_EXPORT CK_RV C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo)
{
    if (!p11.initialized)
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    if (!pInfo)
        return CKR_ARGUMENTS_BAD;
    p11_lock();
    p11_slot *s = p11_slot_get(slotID);
    CK_RV rv = CKR_SLOT_ID_INVALID;
    if (s) {
        char desc[80];
        p11_tpm_facts();
        snprintf(desc, sizeof(desc), "edgekey TPM 2.0 %s%s (%s)",
                 s->label[0] ? "token " : "free slot", s->label, p11.model[0] ? p11.model : "TPM");
        memset(pInfo, 0, sizeof(*pInfo));
        p11_pad(pInfo->slotDescription, sizeof(pInfo->slotDescription), desc);
        p11_pad(pInfo->manufacturerID, sizeof(pInfo->manufacturerID),
                p11.manufacturer[0] ? p11.manufacturer : "unknown TPM");
        pInfo->flags = CKF_TOKEN_PRESENT | CKF_HW_SLOT;
        pInfo->hardwareVersion = p11.hw_version;
        pInfo->firmwareVersion = p11.fw_version;
        rv = CKR_OK;
    }
    p11_unlock();
    return rv;
}

static CK_FLAGS pin_flags(const ek_token_pins *p)
{
    CK_FLAGS f = 0;
    if (p->has_so_pin)
        f |= CKF_LOGIN_REQUIRED;
    if (p->has_user_pin)
        f |= CKF_USER_PIN_INITIALIZED;
    if (p->user_fails)
        f |= CKF_USER_PIN_COUNT_LOW;
    if (p->user_fails + 1 == p->max_tries)
        f |= CKF_USER_PIN_FINAL_TRY;
    if (p->user_fails >= p->max_tries)
        f |= CKF_USER_PIN_LOCKED;
    if (p->so_fails)
        f |= CKF_SO_PIN_COUNT_LOW;
    if (p->so_fails + 1 == p->max_tries)
        f |= CKF_SO_PIN_FINAL_TRY;
    if (p->so_fails >= p->max_tries)
        f |= CKF_SO_PIN_LOCKED;
    return f;
}

static size_t sessions_on(CK_SLOT_ID id, bool rw_only)
{
    size_t n = 0;
    for (p11_session *s = p11.sessions; s; s = s->next)
        if (s->slot == id && (!rw_only || (s->flags & CKF_RW_SESSION)))
            n++;
    return n;
}

P11_EXPORT CK_RV C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo)
{
    if (!p11.initialized)
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    if (!pInfo)
        return CKR_ARGUMENTS_BAD;
    p11_lock();
    p11_slot *s = p11_slot_get(slotID);
    if (!s) {
        p11_unlock();
        return CKR_SLOT_ID_INVALID;
    }
    p11_tpm_facts();
    memset(pInfo, 0, sizeof(*pInfo));
    ek_token_info ti;
    memset(&ti, 0, sizeof(ti));
    CK_FLAGS flags = CKF_RNG;
    if (s->label[0] && ek_store_token_get(s->label, &ti) == EK_OK) {
        ek_token_pins pins;
        flags |= CKF_TOKEN_INITIALIZED;
        if (ek_token_pin_state(s->label, &pins) == EK_OK)
            flags |= pin_flags(&pins);
    }
    p11_pad(pInfo->label, sizeof(pInfo->label), s->label[0] ? s->label : P11_FREE_LABEL);
    /* Fixed strings, not the TPM's: URIs carrying manufacturer=/model= must
     * match in every face (core/addr.c compares with the same constants).
     * The TPM's own facts are in the slot info and the versions. */
    p11_pad(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), EK_TOKEN_MANUFACTURER);
    p11_pad(pInfo->model, sizeof(pInfo->model), EK_TOKEN_MODEL);
    p11_pad(pInfo->serialNumber, sizeof(pInfo->serialNumber),
            s->label[0] ? ti.serial : P11_FREE_SERIAL);
    pInfo->flags = flags;
    pInfo->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
    pInfo->ulSessionCount = sessions_on(slotID, false);
    pInfo->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
    pInfo->ulRwSessionCount = sessions_on(slotID, true);
    pInfo->ulMaxPinLen = EK_TOKEN_PIN_MAX;
    pInfo->ulMinPinLen = EK_TOKEN_PIN_MIN;
    pInfo->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
    pInfo->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
    pInfo->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
    pInfo->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
    pInfo->hardwareVersion = p11.hw_version;
    pInfo->firmwareVersion = p11.fw_version;
    p11_pad(pInfo->utcTime, sizeof(pInfo->utcTime), "");
    p11_unlock();
    return CKR_OK;
}

/* Label from C_InitToken: 32 bytes, blank padded. */
static void trim_label(const CK_UTF8CHAR *in, char out[33])
{
    memcpy(out, in, 32);
    out[32] = '\0';
    for (int i = 31; i >= 0 && (out[i] == ' ' || out[i] == '\0'); i--)
        out[i] = '\0';
}

/* Erase every object of a token (C_InitToken semantics): keys,
 * certificates and sealed data objects (those sealed under the old token
 * secret could never be unsealed again). */
static ek_rc erase_objects(const char *label, size_t *count_only)
{
    ek_store_obj *objs = NULL;
    ek_secret_obj *data = NULL;
    size_t n = 0, nd = 0;
    ek_rc rc = ek_store_find(label, NULL, NULL, 0, &objs, &n);
    if (rc != EK_OK)
        return rc == EK_ERR_NOT_FOUND ? EK_OK : rc;
    if (count_only) {
        rc = ek_secret_find(label, NULL, &data, &nd);
        *count_only = n + nd;
        free(data);
    } else {
        for (size_t i = 0; i < n && rc == EK_OK; i++)
            rc = ek_store_delete(&objs[i], EK_OBJ_ANY, true);
        if (rc == EK_OK)
            rc = ek_secret_delete_all(label, NULL);
    }
    free(objs);
    return rc;
}

static CK_RV init_existing(p11_slot *s, const char *pin, size_t pin_len)
{
    ek_token_pins pins;
    ek_rc rc = ek_token_pin_state(s->label, &pins);
    if (rc != EK_OK)
        return p11_rv_from_ek(rc, "C_InitToken");
    if (pins.has_so_pin) {
        ek_token_secret sec;
        rc = ek_token_login(s->label, EK_TOKEN_SO, pin, pin_len, &sec);
        ek_token_secret_wipe(&sec);
        if (rc != EK_OK)
            return p11_rv_from_ek(rc, "C_InitToken");
        rc = erase_objects(s->label, NULL);
    } else {
        size_t n = 0;
        rc = erase_objects(s->label, &n);
        if (rc == EK_OK && n > 0) {
            ek_log(EK_LOG_ERR,
                   "pkcs11: C_InitToken: token %s has %zu objects and no "
                   "SO PIN; refusing to erase them; delete them first "
                   "(edgekey delete) or use a new token label",
                   s->label, n);
            return CKR_FUNCTION_FAILED;
        }
    }
    if (rc == EK_OK)
        rc = ek_token_init(s->label, pin, pin_len);
    return p11_rv_from_ek(rc, "C_InitToken");
}

P11_EXPORT CK_RV C_InitToken(CK_SLOT_ID slotID, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen,
                             CK_UTF8CHAR_PTR pLabel)
{
    if (!p11.initialized)
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    if (!pLabel || (!pPin && ulPinLen))
        return CKR_ARGUMENTS_BAD;
    if (ulPinLen && (ulPinLen < EK_TOKEN_PIN_MIN || ulPinLen > EK_TOKEN_PIN_MAX))
        return CKR_PIN_LEN_RANGE;
    char label[33];
    trim_label(pLabel, label);
    p11_lock();
    p11_slot *s = p11_slot_get(slotID);
    CK_RV rv = CKR_OK;
    if (!s)
        rv = CKR_SLOT_ID_INVALID;
    else if (sessions_on(slotID, false))
        rv = CKR_SESSION_EXISTS;
    else if (!label[0])
        rv = CKR_ARGUMENTS_BAD;
    if (rv != CKR_OK) {
        p11_unlock();
        return rv;
    }
    if (!s->label[0]) {
        ek_token_info ti;
        if (slot_by_label(label) || ek_store_token_get(label, &ti) == EK_OK) {
            ek_log(EK_LOG_ERR,
                   "pkcs11: C_InitToken: token %s exists; initialise it "
                   "through its own slot",
                   label);
            rv = CKR_ARGUMENTS_BAD;
        } else {
            ek_rc rc = ek_store_token_ensure(label, &ti);
            if (rc == EK_OK)
                rc = ek_token_init(label, (const char *)pPin, ulPinLen);
            rv = p11_rv_from_ek(rc, "C_InitToken");
            if (rv == CKR_OK)
                snprintf(s->label, sizeof(s->label), "%s", label);
        }
    } else if (strcmp(label, s->label) != 0) {
        ek_log(EK_LOG_ERR,
               "pkcs11: C_InitToken: token labels cannot change "
               "(%s -> %s); use the free slot for a new token",
               s->label, label);
        rv = CKR_ARGUMENTS_BAD;
    } else {
        rv = init_existing(s, (const char *)pPin, ulPinLen);
    }
    p11_slot_logout(s);
    /* forget cached objects of this slot; the next search re-reads the store */
    for (p11_object *o = p11.objects, *nx; o; o = nx) {
        nx = o->next;
        if (o->slot == slotID) {
            p11_object_unlink(o);
            p11_object_free(o);
        }
    }
    p11_slots_refresh();
    p11_unlock();
    return rv;
}
