/* edgekey PKCS#11 module: functions it does not offer. Keys are sign-only
 * and nothing is wrapped, derived or encrypted, so these answer
 * CKR_FUNCTION_NOT_SUPPORTED (as the standard asks for absent functions). */
#include "p11_internal.h"

/* Parameters are deliberately unused: every body is the same refusal. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

P11_EXPORT CK_RV C_EncryptInit(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism,
                               CK_OBJECT_HANDLE key)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

P11_EXPORT CK_RV C_Encrypt(CK_SESSION_HANDLE session, CK_BYTE_PTR data, CK_ULONG data_len,
                           CK_BYTE_PTR encrypted_data, CK_ULONG_PTR encrypted_data_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

P11_EXPORT CK_RV C_EncryptUpdate(CK_SESSION_HANDLE session, CK_BYTE_PTR part, CK_ULONG part_len,
                                 CK_BYTE_PTR encrypted_part, CK_ULONG_PTR encrypted_part_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

P11_EXPORT CK_RV C_EncryptFinal(CK_SESSION_HANDLE session, CK_BYTE_PTR last_encrypted_part,
                                CK_ULONG_PTR last_encrypted_part_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

P11_EXPORT CK_RV C_DecryptInit(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism,
                               CK_OBJECT_HANDLE key)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

P11_EXPORT CK_RV C_Decrypt(CK_SESSION_HANDLE session, CK_BYTE_PTR encrypted_data,
                           CK_ULONG encrypted_data_len, CK_BYTE_PTR data, CK_ULONG_PTR data_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

P11_EXPORT CK_RV C_DecryptUpdate(CK_SESSION_HANDLE session, CK_BYTE_PTR encrypted_part,
                                 CK_ULONG encrypted_part_len, CK_BYTE_PTR part,
                                 CK_ULONG_PTR part_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

P11_EXPORT CK_RV C_DecryptFinal(CK_SESSION_HANDLE session, CK_BYTE_PTR last_part,
                                CK_ULONG_PTR last_part_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

P11_EXPORT CK_RV C_DigestEncryptUpdate(CK_SESSION_HANDLE session, CK_BYTE_PTR part,
                                       CK_ULONG part_len, CK_BYTE_PTR encrypted_part,
                                       CK_ULONG_PTR encrypted_part_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

P11_EXPORT CK_RV C_DecryptDigestUpdate(CK_SESSION_HANDLE session, CK_BYTE_PTR encrypted_part,
                                       CK_ULONG encrypted_part_len, CK_BYTE_PTR part,
                                       CK_ULONG_PTR part_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

P11_EXPORT CK_RV C_SignEncryptUpdate(CK_SESSION_HANDLE session, CK_BYTE_PTR part, CK_ULONG part_len,
                                     CK_BYTE_PTR encrypted_part, CK_ULONG_PTR encrypted_part_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

P11_EXPORT CK_RV C_DecryptVerifyUpdate(CK_SESSION_HANDLE session, CK_BYTE_PTR encrypted_part,
                                       CK_ULONG encrypted_part_len, CK_BYTE_PTR part,
                                       CK_ULONG_PTR part_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

P11_EXPORT CK_RV C_GenerateKey(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism,
                               CK_ATTRIBUTE_PTR templ, CK_ULONG count, CK_OBJECT_HANDLE_PTR key)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

P11_EXPORT CK_RV C_WrapKey(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism,
                           CK_OBJECT_HANDLE wrapping_key, CK_OBJECT_HANDLE key,
                           CK_BYTE_PTR wrapped_key, CK_ULONG_PTR wrapped_key_len)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

P11_EXPORT CK_RV C_UnwrapKey(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism,
                             CK_OBJECT_HANDLE unwrapping_key, CK_BYTE_PTR wrapped_key,
                             CK_ULONG wrapped_key_len, CK_ATTRIBUTE_PTR templ,
                             CK_ULONG attribute_count, CK_OBJECT_HANDLE_PTR key)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

P11_EXPORT CK_RV C_DeriveKey(CK_SESSION_HANDLE session, CK_MECHANISM_PTR mechanism,
                             CK_OBJECT_HANDLE base_key, CK_ATTRIBUTE_PTR templ,
                             CK_ULONG attribute_count, CK_OBJECT_HANDLE_PTR key)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

P11_EXPORT CK_RV C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR slot, CK_VOID_PTR reserved)
{
    return CKR_FUNCTION_NOT_SUPPORTED;
}

/* Serial-only module: no parallel functions to report on or cancel. */
P11_EXPORT CK_RV C_GetFunctionStatus(CK_SESSION_HANDLE session)
{
    return CKR_FUNCTION_NOT_PARALLEL;
}

P11_EXPORT CK_RV C_CancelFunction(CK_SESSION_HANDLE session)
{
    return CKR_FUNCTION_NOT_PARALLEL;
}
