/* edgekey PKCS#11 module: sessions and login.
 *
 * Login state is per token (slot), shared by all sessions of the
 * application, as the standard has it. Logging in as the user of a PIN
 * token unseals the token secret (core/token_auth.c); the secret stays in
 * memory until C_Logout / the last session closes / C_Finalize, and derives
 * the keys' auth values. A PIN-less token accepts C_Login with any PIN:
 * there is nothing to check and its keys have empty auth. */
#include <stdlib.h>
#include <string.h>
#include "ek_log.h"
#include "p11_internal.h"

void p11_op_clear(p11_op *op)
{
    ek_md_ctx_free(op->mdctx);
    EVP_PKEY_free(op->pkey);
    ek_key_free(op->key);
    if (op->buf) {
        ek_wipe(op->buf, op->buf_len);
        free(op->buf);
    }
    memset(op, 0, sizeof(*op));
}

static void session_free(p11_session *s)
{
    p11_op_clear(&s->sign);
    p11_op_clear(&s->verify);
    p11_op_clear(&s->digest);
    free(s->found);
    free(s);
}

p11_session *p11_session_get(CK_SESSION_HANDLE h)
{
    for (p11_session *s = p11.sessions; s; s = s->next)
        if (s->h == h)
            return s;
    return NULL;
}

CK_RV p11_session_lookup(CK_SESSION_HANDLE h, p11_session **out)
{
    *out = NULL;
    if (!p11.initialized)
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    *out = p11_session_get(h);
    return *out ? CKR_OK : CKR_SESSION_HANDLE_INVALID;
}

CK_RV p11_session_active_op(CK_SESSION_HANDLE h, p11_op_kind kind, p11_session **out)
{
    CK_RV rv = p11_session_lookup(h, out);
    if (rv != CKR_OK)
        return rv;
    const p11_op *op = kind == P11_OP_SIGN     ? &(*out)->sign
                       : kind == P11_OP_VERIFY ? &(*out)->verify
                                               : &(*out)->digest;
    return op->kind == kind ? CKR_OK : CKR_OPERATION_NOT_INITIALIZED;
}

void p11_sessions_free_all(void)
{
    for (p11_session *s = p11.sessions, *nx; s; s = nx) {
        nx = s->next;
        session_free(s);
    }
    p11.sessions = NULL;
}

static size_t count_sessions(CK_SLOT_ID slot, bool ro_only)
{
    size_t n = 0;
    for (p11_session *s = p11.sessions; s; s = s->next)
        if (s->slot == slot && (!ro_only || !(s->flags & CKF_RW_SESSION)))
            n++;
    return n;
}

P11_EXPORT CK_RV C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication,
                               CK_NOTIFY Notify, CK_SESSION_HANDLE_PTR phSession)
{
    (void)pApplication;
    (void)Notify;
    if (!p11.initialized)
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    if (!phSession)
        return CKR_ARGUMENTS_BAD;
    if (!(flags & CKF_SERIAL_SESSION))
        return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
    p11_lock();
    p11_slot *slot = p11_slot_get(slotID);
    CK_RV rv = CKR_OK;
    if (!slot)
        rv = CKR_SLOT_ID_INVALID;
    else if (slot->login == CKU_SO && !(flags & CKF_RW_SESSION))
        rv = CKR_SESSION_READ_WRITE_SO_EXISTS;
    p11_session *s = rv == CKR_OK ? calloc(1, sizeof(*s)) : NULL;
    if (rv == CKR_OK && !s)
        rv = CKR_HOST_MEMORY;
    if (rv == CKR_OK) {
        s->h = p11.next_session++;
        s->slot = slotID;
        s->flags = flags & (CKF_SERIAL_SESSION | CKF_RW_SESSION);
        s->next = p11.sessions;
        p11.sessions = s;
        *phSession = s->h;
    }
    p11_unlock();
    return rv;
}

/* Lock held. Logout happens when the last session of a token closes. */
static void close_one(p11_session *s)
{
    CK_SLOT_ID slot = s->slot;
    p11_session **pp = &p11.sessions;
    while (*pp != s)
        pp = &(*pp)->next;
    *pp = s->next;
    p11_objects_drop_session(s->h);
    session_free(s);
    if (count_sessions(slot, false) == 0) {
        p11_slot *sl = p11_slot_get(slot);
        if (sl)
            p11_slot_logout(sl);
    }
}

P11_EXPORT CK_RV C_CloseSession(CK_SESSION_HANDLE hSession)
{
    p11_lock();
    p11_session *s;
    CK_RV rv = p11_session_lookup(hSession, &s);
    if (rv == CKR_OK)
        close_one(s);
    p11_unlock();
    return rv;
}

P11_EXPORT CK_RV C_CloseAllSessions(CK_SLOT_ID slotID)
{
    if (!p11.initialized)
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    p11_lock();
    CK_RV rv = p11_slot_get(slotID) ? CKR_OK : CKR_SLOT_ID_INVALID;
    for (p11_session *s = p11.sessions, *nx; rv == CKR_OK && s; s = nx) {
        nx = s->next;
        if (s->slot == slotID)
            close_one(s);
    }
    p11_unlock();
    return rv;
}

P11_EXPORT CK_RV C_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo)
{
    if (!pInfo)
        return CKR_ARGUMENTS_BAD;
    p11_lock();
    p11_session *s;
    CK_RV rv = p11_session_lookup(hSession, &s);
    if (rv == CKR_OK) {
        p11_slot *sl = p11_slot_get(s->slot);
        bool rw = s->flags & CKF_RW_SESSION;
        pInfo->slotID = s->slot;
        pInfo->flags = s->flags;
        pInfo->ulDeviceError = 0;
        if (sl && sl->login == CKU_SO)
            pInfo->state = CKS_RW_SO_FUNCTIONS;
        else if (sl && sl->login == CKU_USER)
            pInfo->state = rw ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS;
        else
            pInfo->state = rw ? CKS_RW_PUBLIC_SESSION : CKS_RO_PUBLIC_SESSION;
    }
    p11_unlock();
    return rv;
}

P11_EXPORT CK_RV C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
                         CK_ULONG ulPinLen)
{
    if (!pPin && ulPinLen)
        return CKR_ARGUMENTS_BAD;
    p11_lock();
    p11_session *s;
    CK_RV rv = p11_session_lookup(hSession, &s);
    p11_slot *sl = rv == CKR_OK ? p11_slot_get(s->slot) : NULL;
    if (rv == CKR_OK && !sl)
        rv = CKR_SESSION_HANDLE_INVALID;
    if (rv == CKR_OK && userType != CKU_USER && userType != CKU_SO)
        rv = userType == CKU_CONTEXT_SPECIFIC ? CKR_OPERATION_NOT_INITIALIZED
                                              : CKR_USER_TYPE_INVALID;
    if (rv == CKR_OK && sl->login == userType)
        rv = CKR_USER_ALREADY_LOGGED_IN;
    else if (rv == CKR_OK && sl->login != (CK_USER_TYPE)-1)
        rv = CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
    if (rv == CKR_OK && userType == CKU_SO && count_sessions(s->slot, true))
        rv = CKR_SESSION_READ_ONLY_EXISTS;
    if (rv == CKR_OK && !sl->label[0])
        rv = CKR_USER_PIN_NOT_INITIALIZED;
    char label[33];
    CK_SLOT_ID slot_id = 0;
    if (rv == CKR_OK) {
        memcpy(label, sl->label, sizeof(label));
        slot_id = s->slot;
    }
    p11_unlock();
    if (rv != CKR_OK)
        return rv;

    /* The unseal runs without the module lock (it takes TPM time). */
    ek_token_pins pins;
    ek_token_secret sec = {.set = false};
    ek_rc rc = ek_token_pin_state(label, &pins);
    if (rc == EK_OK && pins.has_so_pin) {
        if (userType == CKU_USER && !pins.has_user_pin)
            return CKR_USER_PIN_NOT_INITIALIZED;
        rc = ek_token_login(label, userType == CKU_SO ? EK_TOKEN_SO : EK_TOKEN_USER,
                            (const char *)pPin, ulPinLen, &sec);
    }
    rv = p11_rv_from_ek(rc, "C_Login");
    p11_lock();
    sl = p11_slot_get(slot_id);
    if (rv == CKR_OK && p11_session_get(hSession) && sl) {
        if (sl->login != (CK_USER_TYPE)-1) {
            rv = sl->login == userType ? CKR_USER_ALREADY_LOGGED_IN
                                       : CKR_USER_ANOTHER_ALREADY_LOGGED_IN;
        } else {
            sl->login = userType;
            sl->secret = sec;
            if (!sec.set && ulPinLen <= sizeof(sl->pin)) {
                memcpy(sl->pin, pPin, ulPinLen);
                sl->pin_len = ulPinLen;
            }
        }
    } else if (rv == CKR_OK) {
        rv = CKR_SESSION_HANDLE_INVALID;
    }
    p11_unlock();
    ek_token_secret_wipe(&sec);
    return rv;
}

P11_EXPORT CK_RV C_Logout(CK_SESSION_HANDLE hSession)
{
    p11_lock();
    p11_session *s;
    CK_RV rv = p11_session_lookup(hSession, &s);
    p11_slot *sl = rv == CKR_OK ? p11_slot_get(s->slot) : NULL;
    if (rv == CKR_OK && (!sl || sl->login == (CK_USER_TYPE)-1))
        rv = CKR_USER_NOT_LOGGED_IN;
    if (rv == CKR_OK)
        p11_slot_logout(sl);
    p11_unlock();
    return rv;
}

P11_EXPORT CK_RV C_InitPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pPin, CK_ULONG ulPinLen)
{
    if (!pPin && ulPinLen)
        return CKR_ARGUMENTS_BAD;
    if (ulPinLen < EK_TOKEN_PIN_MIN || ulPinLen > EK_TOKEN_PIN_MAX)
        return CKR_PIN_LEN_RANGE;
    p11_lock();
    p11_session *s;
    CK_RV rv = p11_session_lookup(hSession, &s);
    p11_slot *sl = rv == CKR_OK ? p11_slot_get(s->slot) : NULL;
    if (rv == CKR_OK && (!sl || sl->login != CKU_SO))
        rv = CKR_USER_NOT_LOGGED_IN;
    if (rv == CKR_OK && !(s->flags & CKF_RW_SESSION))
        rv = CKR_SESSION_READ_ONLY;
    if (rv == CKR_OK && !sl->secret.set) {
        ek_log(EK_LOG_ERR,
               "pkcs11: C_InitPIN: token %s has no SO PIN; give it one "
               "with C_InitToken first",
               sl->label);
        rv = CKR_FUNCTION_FAILED;
    }
    if (rv == CKR_OK)
        rv = p11_rv_from_ek(
            ek_token_set_user_pin(sl->label, &sl->secret, (const char *)pPin, ulPinLen),
            "C_InitPIN");
    p11_unlock();
    return rv;
}

P11_EXPORT CK_RV C_SetPIN(CK_SESSION_HANDLE hSession, CK_UTF8CHAR_PTR pOldPin, CK_ULONG ulOldLen,
                          CK_UTF8CHAR_PTR pNewPin, CK_ULONG ulNewLen)
{
    if ((!pOldPin && ulOldLen) || (!pNewPin && ulNewLen))
        return CKR_ARGUMENTS_BAD;
    if (ulNewLen < EK_TOKEN_PIN_MIN || ulNewLen > EK_TOKEN_PIN_MAX)
        return CKR_PIN_LEN_RANGE;
    p11_lock();
    p11_session *s;
    CK_RV rv = p11_session_lookup(hSession, &s);
    p11_slot *sl = rv == CKR_OK ? p11_slot_get(s->slot) : NULL;
    if (rv == CKR_OK && !sl)
        rv = CKR_SESSION_HANDLE_INVALID;
    if (rv == CKR_OK && !(s->flags & CKF_RW_SESSION))
        rv = CKR_SESSION_READ_ONLY;
    char label[33];
    ek_token_user who = EK_TOKEN_USER;
    if (rv == CKR_OK) {
        memcpy(label, sl->label, sizeof(label));
        who = sl->login == CKU_SO ? EK_TOKEN_SO : EK_TOKEN_USER;
        if (!ek_token_login_required(label)) {
            ek_log(EK_LOG_ERR,
                   "pkcs11: C_SetPIN: token %s has no PINs; give it an "
                   "SO PIN with C_InitToken first",
                   label);
            rv = CKR_FUNCTION_FAILED;
        }
    }
    p11_unlock();
    if (rv != CKR_OK)
        return rv;
    return p11_rv_from_ek(ek_token_change_pin(label, who, (const char *)pOldPin, ulOldLen,
                                              (const char *)pNewPin, ulNewLen),
                          "C_SetPIN");
}

P11_EXPORT CK_RV C_GetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
                                     CK_ULONG_PTR pulOperationStateLen)
{
    (void)hSession;
    (void)pOperationState;
    (void)pulOperationStateLen;
    return CKR_FUNCTION_NOT_SUPPORTED;
}

P11_EXPORT CK_RV C_SetOperationState(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pOperationState,
                                     CK_ULONG ulOperationStateLen, CK_OBJECT_HANDLE hEncryptionKey,
                                     CK_OBJECT_HANDLE hAuthenticationKey)
{
    (void)hSession;
    (void)pOperationState;
    (void)ulOperationStateLen;
    (void)hEncryptionKey;
    (void)hAuthenticationKey;
    return CKR_FUNCTION_NOT_SUPPORTED;
}
