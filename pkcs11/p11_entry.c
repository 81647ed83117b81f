/* edgekey PKCS#11 module: entry points - C_GetFunctionList (2.40) and
 * C_GetInterfaceList / C_GetInterface (3.0). Both lists hold the same
 * functions, so a 2.40 and a 3.0 caller see identical behaviour. */
#include <string.h>
#include "p11_internal.h"

/* 3.0-only functions (not exported: reached through the 3.0 list). */
static CK_RV C_LoginUser(CK_SESSION_HANDLE h, CK_USER_TYPE type, CK_UTF8CHAR_PTR pin,
                         CK_ULONG pin_len, CK_UTF8CHAR_PTR user, CK_ULONG user_len)
{
    (void)user;
    (void)user_len; /* tokens have no user names: the PIN alone decides */
    return C_Login(h, type, pin, pin_len);
}

static CK_RV C_SessionCancel(CK_SESSION_HANDLE h, CK_FLAGS flags)
{
    p11_lock();
    p11_session *s;
    CK_RV rv = p11_session_lookup(h, &s);
    if (rv == CKR_OK) {
        if (flags & CKF_SIGN)
            p11_op_clear(&s->sign);
        if (flags & CKF_VERIFY)
            p11_op_clear(&s->verify);
        if (flags & CKF_DIGEST)
            p11_op_clear(&s->digest);
        if (flags & CKF_FIND_OBJECTS)
            s->finding = false;
    }
    p11_unlock();
    return rv;
}

/* Message-based (3.0) functions: not offered. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-parameter"
static CK_RV msg_init(CK_SESSION_HANDLE h, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}
static CK_RV msg_crypt(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR a, CK_ULONG al,
                       CK_BYTE_PTR i, CK_ULONG il, CK_BYTE_PTR o, CK_ULONG_PTR ol)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}
static CK_RV msg_begin(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR a, CK_ULONG al)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}
static CK_RV msg_next(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR i, CK_ULONG il,
                      CK_BYTE_PTR o, CK_ULONG_PTR ol, CK_FLAGS f)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}
static CK_RV msg_final(CK_SESSION_HANDLE h)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}
static CK_RV msg_sign(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR d, CK_ULONG dl,
                      CK_BYTE_PTR s, CK_ULONG_PTR sl)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}
static CK_RV msg_sign_begin(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pl)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}
static CK_RV msg_verify(CK_SESSION_HANDLE h, CK_VOID_PTR p, CK_ULONG pl, CK_BYTE_PTR d, CK_ULONG dl,
                        CK_BYTE_PTR s, CK_ULONG sl)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}
#pragma GCC diagnostic pop

P11_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList);
P11_EXPORT CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount);
P11_EXPORT CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
                                CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags);

#define FUNCS_2_40                                                                                 \
    C_Initialize, C_Finalize, C_GetInfo, C_GetFunctionList, C_GetSlotList, C_GetSlotInfo,          \
        C_GetTokenInfo, C_GetMechanismList, C_GetMechanismInfo, C_InitToken, C_InitPIN, C_SetPIN,  \
        C_OpenSession, C_CloseSession, C_CloseAllSessions, C_GetSessionInfo, C_GetOperationState,  \
        C_SetOperationState, C_Login, C_Logout, C_CreateObject, C_CopyObject, C_DestroyObject,     \
        C_GetObjectSize, C_GetAttributeValue, C_SetAttributeValue, C_FindObjectsInit,              \
        C_FindObjects, C_FindObjectsFinal, C_EncryptInit, C_Encrypt, C_EncryptUpdate,              \
        C_EncryptFinal, C_DecryptInit, C_Decrypt, C_DecryptUpdate, C_DecryptFinal, C_DigestInit,   \
        C_Digest, C_DigestUpdate, C_DigestKey, C_DigestFinal, C_SignInit, C_Sign, C_SignUpdate,    \
        C_SignFinal, C_SignRecoverInit, C_SignRecover, C_VerifyInit, C_Verify, C_VerifyUpdate,     \
        C_VerifyFinal, C_VerifyRecoverInit, C_VerifyRecover, C_DigestEncryptUpdate,                \
        C_DecryptDigestUpdate, C_SignEncryptUpdate, C_DecryptVerifyUpdate, C_GenerateKey,          \
        C_GenerateKeyPair, C_WrapKey, C_UnwrapKey, C_DeriveKey, C_SeedRandom, C_GenerateRandom,    \
        C_GetFunctionStatus, C_CancelFunction, C_WaitForSlotEvent

static CK_FUNCTION_LIST list_2_40 = {{2, 40}, FUNCS_2_40};

static CK_FUNCTION_LIST_3_0 list_3_0 = {
    {3, 0},         FUNCS_2_40, C_GetInterfaceList, C_GetInterface, C_LoginUser, C_SessionCancel,
    msg_init,       msg_crypt,  msg_begin,          msg_next,       msg_final,   msg_init,
    msg_crypt,      msg_begin,  msg_next,           msg_final,      msg_init,    msg_sign,
    msg_sign_begin, msg_sign,   msg_final,          msg_init,       msg_verify,  msg_sign_begin,
    msg_verify,     msg_final,
};

static CK_UTF8CHAR iface_name[] = "PKCS 11";

static CK_INTERFACE interfaces[] = {
    {iface_name, &list_3_0, CKF_INTERFACE_FORK_SAFE},
    {iface_name, &list_2_40, CKF_INTERFACE_FORK_SAFE},
};

#define N_INTERFACES (sizeof(interfaces) / sizeof(interfaces[0]))

P11_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
    if (!ppFunctionList)
        return CKR_ARGUMENTS_BAD;
    *ppFunctionList = &list_2_40;
    return CKR_OK;
}

P11_EXPORT CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount)
{
    if (!pulCount)
        return CKR_ARGUMENTS_BAD;
    if (!pInterfacesList) {
        *pulCount = N_INTERFACES;
        return CKR_OK;
    }
    if (*pulCount < N_INTERFACES) {
        *pulCount = N_INTERFACES;
        return CKR_BUFFER_TOO_SMALL;
    }
    memcpy(pInterfacesList, interfaces, sizeof(interfaces));
    *pulCount = N_INTERFACES;
    return CKR_OK;
}

P11_EXPORT CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
                                CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags)
{
    if (!ppInterface)
        return CKR_ARGUMENTS_BAD;
    for (size_t i = 0; i < N_INTERFACES; i++) {
        const CK_VERSION *v = interfaces[i].pFunctionList; /* version comes first */
        if (pInterfaceName && strcmp((const char *)pInterfaceName, (const char *)iface_name))
            continue;
        if (pVersion && (pVersion->major != v->major || pVersion->minor != v->minor))
            continue;
        if ((interfaces[i].flags & flags) != flags)
            continue;
        *ppInterface = &interfaces[i];
        return CKR_OK;
    }
    return CKR_ARGUMENTS_BAD;
}
