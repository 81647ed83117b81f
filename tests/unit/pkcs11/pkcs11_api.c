/* Unit tests (no TPM) through the module's entry points, on a temporary
 * store: function lists (2.40 and 3.0 alike), slot list buffer rules, a
 * PIN-less token made by C_InitToken, certificates created, searched by
 * class/label/id, read with the buffer rules, destroyed; C_Digest buffer
 * rules; unsupported functions. The TCTI points at a closed port, so the
 * one TPM question (token info facts) fails fast and is not needed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "p11_internal.h"

CK_RV C_GetInterfaceList(CK_INTERFACE_PTR pInterfacesList, CK_ULONG_PTR pulCount);
CK_RV C_GetInterface(CK_UTF8CHAR_PTR pInterfaceName, CK_VERSION_PTR pVersion,
                     CK_INTERFACE_PTR_PTR ppInterface, CK_FLAGS flags);

static char tmpdir[64];
static CK_FUNCTION_LIST *f;

static unsigned char *make_cert(const char *cn, int *len)
{
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509 *x = X509_new();
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, n);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, k);
    X509_sign(x, k, EVP_sha256());
    unsigned char *der = NULL;
    *len = i2d_X509(x, &der);
    X509_free(x);
    EVP_PKEY_free(k);
    return der;
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/ek-p11-unit.XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char conf[128], store[128];
    snprintf(conf, sizeof(conf), "%s/edgekey.conf", tmpdir);
    snprintf(store, sizeof(store), "%s/store", tmpdir);
    FILE *fp = fopen(conf, "w");
    fclose(fp);
    setenv("EDGEKEY_CONF", conf, 1);
    /* The store comes from x-init-reserved (p11-kit passes it in pReserved),
     * which wins over the environment, whose store cannot exist (a path
     * below a regular file). */
    setenv("EDGEKEY_STORE", "/dev/null/edgekey-env-store", 1);
    setenv("EDGEKEY_TCTI", "swtpm:host=127.0.0.1,port=9", 1);
    static char reserved[256];
    snprintf(reserved, sizeof(reserved), "log_level = 0; store=%s", store);
    assert_int_equal(C_GetFunctionList(&f), CKR_OK);
    CK_C_INITIALIZE_ARGS ia = {.flags = CKF_OS_LOCKING_OK, .pReserved = reserved};
    assert_int_equal(f->C_Initialize(&ia), CKR_OK);
    assert_int_equal(f->C_Initialize(&ia), CKR_CRYPTOKI_ALREADY_INITIALIZED);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    assert_int_equal(f->C_Finalize(NULL), CKR_OK);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void test_interfaces(void **state)
{
    (void)state;
    CK_ULONG n = 0;
    assert_int_equal(C_GetInterfaceList(NULL, &n), CKR_OK);
    assert_int_equal(n, 2);
    CK_INTERFACE list[2];
    CK_ULONG one = 1;
    assert_int_equal(C_GetInterfaceList(list, &one), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(C_GetInterfaceList(list, &n), CKR_OK);
    CK_INTERFACE *i3 = NULL;
    CK_VERSION v3 = {3, 0}, v2 = {2, 40};
    assert_int_equal(C_GetInterface((CK_UTF8CHAR *)"PKCS 11", &v3, &i3, 0), CKR_OK);
    CK_FUNCTION_LIST_3_0 *l3 = i3->pFunctionList;
    CK_INTERFACE *i2 = NULL;
    assert_int_equal(C_GetInterface(NULL, &v2, &i2, 0), CKR_OK);
    assert_ptr_equal(i2->pFunctionList, f);
    /* identical behaviour: the same functions behind both lists */
    assert_ptr_equal(l3->C_Sign, f->C_Sign);
    assert_ptr_equal(l3->C_FindObjectsInit, f->C_FindObjectsInit);
    assert_ptr_equal(l3->C_WaitForSlotEvent, f->C_WaitForSlotEvent);
    assert_int_equal(l3->C_MessageSignInit(1, NULL, 0), CKR_FUNCTION_NOT_SUPPORTED);
    assert_int_equal(C_GetInterface((CK_UTF8CHAR *)"Vendor X", NULL, &i3, 0), CKR_ARGUMENTS_BAD);
    assert_int_equal(f->C_EncryptInit(1, NULL, 0), CKR_FUNCTION_NOT_SUPPORTED);
    assert_int_equal(f->C_DecryptInit(1, NULL, 0), CKR_FUNCTION_NOT_SUPPORTED);
    assert_int_equal(f->C_WrapKey(1, NULL, 0, 0, NULL, NULL), CKR_FUNCTION_NOT_SUPPORTED);
}

/* Slot list rules, then a PIN-less token on the free slot. Returns its slot. */
static CK_SLOT_ID make_token(void)
{
    CK_ULONG n = 0;
    assert_int_equal(f->C_GetSlotList(CK_TRUE, NULL, &n), CKR_OK);
    assert_true(n >= 1);
    CK_SLOT_ID slots[P11_MAX_SLOTS];
    CK_ULONG small = 0;
    if (n > 0)
        assert_int_equal(f->C_GetSlotList(CK_TRUE, slots, &small), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(small, n);
    assert_int_equal(f->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
    CK_SLOT_ID free_slot = slots[n - 1];
    CK_TOKEN_INFO ti;
    assert_int_equal(f->C_GetTokenInfo(free_slot, &ti), CKR_OK);
    assert_false(ti.flags & CKF_TOKEN_INITIALIZED);
    /* Listed with a label and serial of its own, not as a blank token. */
    assert_memory_equal(ti.label, "edgekey free slot (new token)   ", 32);
    assert_memory_equal(ti.serialNumber, "(free)          ", 16);
    CK_UTF8CHAR label[32];
    memset(label, ' ', 32);
    memcpy(label, "unit", 4);
    assert_int_equal(f->C_InitToken(free_slot, (CK_UTF8CHAR *)"12", 2, label), CKR_PIN_LEN_RANGE);
    assert_int_equal(f->C_InitToken(free_slot, NULL, 0, label), CKR_OK);
    assert_int_equal(f->C_GetTokenInfo(free_slot, &ti), CKR_OK);
    assert_true(ti.flags & CKF_TOKEN_INITIALIZED);
    assert_false(ti.flags & CKF_LOGIN_REQUIRED);
    assert_memory_equal(ti.label, "unit ", 5);
    char serial[17];
    memcpy(serial, ti.serialNumber, 16);
    serial[16] = 0;
    assert_int_equal(strspn(serial, "0123456789abcdef"), 16);
    return free_slot;
}

static CK_ULONG find(CK_SESSION_HANDLE s, CK_ATTRIBUTE *t, CK_ULONG n, CK_OBJECT_HANDLE *out)
{
    CK_ULONG got = 0, total = 0;
    CK_OBJECT_HANDLE h[4];
    assert_int_equal(f->C_FindObjectsInit(s, t, n), CKR_OK);
    assert_int_equal(f->C_FindObjectsInit(s, t, n), CKR_OPERATION_ACTIVE);
    do {
        assert_int_equal(f->C_FindObjects(s, h, 1, &got), CKR_OK); /* one at a time */
        if (got && out)
            out[total] = h[0];
        total += got;
    } while (got);
    assert_int_equal(f->C_FindObjectsFinal(s), CKR_OK);
    assert_int_equal(f->C_FindObjects(s, h, 1, &got), CKR_OPERATION_NOT_INITIALIZED);
    return total;
}

static void test_objects(void **state)
{
    (void)state;
    CK_SLOT_ID slot = make_token();
    CK_SESSION_HANDLE ro, rw;
    assert_int_equal(f->C_OpenSession(slot, 0, NULL, NULL, &ro),
                     CKR_SESSION_PARALLEL_NOT_SUPPORTED);
    assert_int_equal(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &ro), CKR_OK);
    assert_int_equal(f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &rw),
                     CKR_OK);
    int len1, len2;
    unsigned char *c1 = make_cert("one", &len1), *c2 = make_cert("two", &len2);
    CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
    CK_CERTIFICATE_TYPE x509 = CKC_X_509;
    CK_BBOOL yes = CK_TRUE;
    unsigned char id1[] = {0xa1}, id2[] = {0xa2};
    CK_ATTRIBUTE t1[] = {
        {CKA_CLASS, &cls, sizeof(cls)}, {CKA_CERTIFICATE_TYPE, &x509, sizeof(x509)},
        {CKA_TOKEN, &yes, 1},           {CKA_ID, id1, 1},
        {CKA_LABEL, "cert-one", 8},     {CKA_VALUE, c1, (CK_ULONG)len1}};
    CK_OBJECT_HANDLE h1, h2;
    assert_int_equal(f->C_CreateObject(ro, t1, 6, &h1), CKR_SESSION_READ_ONLY);
    assert_int_equal(f->C_CreateObject(rw, t1, 6, &h1), CKR_OK);
    CK_ATTRIBUTE t2[] = {{CKA_CLASS, &cls, sizeof(cls)},
                         {CKA_ID, id2, 1},
                         {CKA_LABEL, "cert-two", 8},
                         {CKA_VALUE, c2, (CK_ULONG)len2}};
    assert_int_equal(f->C_CreateObject(ro, t2, 4, &h2), CKR_OK); /* session object */
    /* a software private key cannot be imported */
    CK_OBJECT_CLASS pk = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE bad[] = {{CKA_CLASS, &pk, sizeof(pk)}};
    CK_OBJECT_HANDLE hb;
    assert_int_equal(f->C_CreateObject(rw, bad, 1, &hb), CKR_ATTRIBUTE_VALUE_INVALID);
    CK_ATTRIBUTE nov[] = {{CKA_CLASS, &cls, sizeof(cls)}};
    assert_int_equal(f->C_CreateObject(rw, nov, 1, &hb), CKR_TEMPLATE_INCOMPLETE);

    CK_OBJECT_HANDLE hs[4];
    CK_ATTRIBUTE by_class[] = {{CKA_CLASS, &cls, sizeof(cls)}};
    assert_int_equal(find(ro, by_class, 1, hs), 2);
    CK_ATTRIBUTE by_label[] = {{CKA_LABEL, "cert-two", 8}};
    assert_int_equal(find(rw, by_label, 1, hs), 1);
    assert_int_equal(hs[0], h2);
    CK_ATTRIBUTE by_id[] = {{CKA_ID, id1, 1}, {CKA_CLASS, &cls, sizeof(cls)}};
    assert_int_equal(find(ro, by_id, 2, hs), 1);
    assert_int_equal(hs[0], h1);
    CK_ATTRIBUTE none[] = {{CKA_LABEL, "cert", 4}};
    assert_int_equal(find(ro, none, 1, NULL), 0);

    /* the token object is in the store: a fresh search after re-sync finds it */
    CK_ULONG vlen = 0;
    CK_ATTRIBUTE v = {CKA_VALUE, NULL, 0};
    assert_int_equal(f->C_GetAttributeValue(ro, h1, &v, 1), CKR_OK);
    vlen = v.ulValueLen;
    assert_int_equal(vlen, (CK_ULONG)len1);
    unsigned char buf[2048];
    v.pValue = buf;
    v.ulValueLen = vlen - 1;
    assert_int_equal(f->C_GetAttributeValue(ro, h1, &v, 1), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(v.ulValueLen, CK_UNAVAILABLE_INFORMATION);
    v.ulValueLen = sizeof(buf);
    assert_int_equal(f->C_GetAttributeValue(ro, h1, &v, 1), CKR_OK);
    assert_memory_equal(buf, c1, (size_t)len1);
    assert_int_equal(f->C_GetAttributeValue(ro, 9999, &v, 1), CKR_OBJECT_HANDLE_INVALID);
    CK_ATTRIBUTE relabel[] = {{CKA_LABEL, "x", 1}};
    assert_int_equal(f->C_SetAttributeValue(rw, h1, relabel, 1), CKR_ATTRIBUTE_READ_ONLY);

    /* closing the creating session removes its session object */
    assert_int_equal(f->C_CloseSession(ro), CKR_OK);
    assert_int_equal(find(rw, by_class, 1, hs), 1);
    assert_int_equal(f->C_DestroyObject(rw, h1), CKR_OK);
    assert_int_equal(find(rw, by_class, 1, hs), 0);
    assert_int_equal(f->C_CloseSession(rw), CKR_OK);
    assert_int_equal(f->C_CloseSession(rw), CKR_SESSION_HANDLE_INVALID);
    OPENSSL_free(c1);
    OPENSSL_free(c2);
}

static void test_digest_buffer_rules(void **state)
{
    (void)state;
    CK_SLOT_ID slot = 0;
    CK_SESSION_HANDLE s;
    assert_int_equal(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
    CK_MECHANISM m = {CKM_SHA256, NULL, 0};
    unsigned char out[64];
    CK_ULONG len = 0;
    assert_int_equal(f->C_Digest(s, (CK_BYTE *)"abc", 3, out, &len), CKR_OPERATION_NOT_INITIALIZED);
    assert_int_equal(f->C_DigestInit(s, &m), CKR_OK);
    assert_int_equal(f->C_DigestInit(s, &m), CKR_OPERATION_ACTIVE);
    assert_int_equal(f->C_Digest(s, (CK_BYTE *)"abc", 3, NULL, &len), CKR_OK);
    assert_int_equal(len, 32);
    len = 31;
    assert_int_equal(f->C_Digest(s, (CK_BYTE *)"abc", 3, out, &len), CKR_BUFFER_TOO_SMALL);
    assert_int_equal(len, 32);
    /* still active: the retry with a big enough buffer completes */
    len = sizeof(out);
    assert_int_equal(f->C_Digest(s, (CK_BYTE *)"abc", 3, out, &len), CKR_OK);
    assert_int_equal(len, 32);
    assert_memory_equal(out, "\xba\x78\x16\xbf\x8f\x01\xcf\xea\x41\x41\x40\xde\x5d\xae\x22\x23",
                        16);
    assert_int_equal(f->C_Digest(s, (CK_BYTE *)"abc", 3, out, &len), CKR_OPERATION_NOT_INITIALIZED);
    /* multi-part gives the same */
    assert_int_equal(f->C_DigestInit(s, &m), CKR_OK);
    assert_int_equal(f->C_DigestUpdate(s, (CK_BYTE *)"a", 1), CKR_OK);
    assert_int_equal(f->C_DigestUpdate(s, (CK_BYTE *)"bc", 2), CKR_OK);
    len = 1;
    assert_int_equal(f->C_DigestFinal(s, out, &len), CKR_BUFFER_TOO_SMALL);
    len = sizeof(out);
    assert_int_equal(f->C_DigestFinal(s, out, &len), CKR_OK);
    assert_memory_equal(out, "\xba\x78\x16\xbf", 4);
    CK_MECHANISM md5 = {CKM_MD5, NULL, 0};
    assert_int_equal(f->C_DigestInit(s, &md5), CKR_MECHANISM_INVALID);
    /* sign without an operation, and with a bad key handle */
    CK_ULONG sl = 0;
    assert_int_equal(f->C_Sign(s, (CK_BYTE *)"x", 1, NULL, &sl), CKR_OPERATION_NOT_INITIALIZED);
    CK_MECHANISM ec = {CKM_ECDSA, NULL, 0};
    assert_int_equal(f->C_SignInit(s, &ec, 12345), CKR_KEY_HANDLE_INVALID);
    assert_int_equal(f->C_CloseSession(s), CKR_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interfaces),
        cmocka_unit_test(test_objects),
        cmocka_unit_test(test_digest_buffer_rules),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
