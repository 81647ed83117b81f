/* Load driver for the PKCS#11 module (issue 3, acceptance 7): loads a module
 * by path like any application, then signs COUNT times in each of THREADS
 * threads (one session per thread) with one key, and reports failures.
 * Every 97th signature is checked with C_Verify.
 *
 *   p11load MODULE TOKEN KEYLABEL PIN|- THREADS COUNT [ecdsa|rsa|pss]
 *
 * Exit 0 only when every C_Sign (and check) succeeded. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <p11-kit/pkcs11.h>

static CK_FUNCTION_LIST *f;
static CK_SLOT_ID slot;
static const char *key_label, *pin, *mech_name;
static unsigned long count;
static atomic_ulong failures, done;

static CK_MECHANISM mech_for(const char *name, CK_RSA_PKCS_PSS_PARAMS *pss)
{
    CK_MECHANISM m = {CKM_ECDSA_SHA256, NULL, 0};
    if (strcmp(name, "rsa") == 0) {
        m.mechanism = CKM_SHA256_RSA_PKCS;
    } else if (strcmp(name, "pss") == 0) {
        *pss = (CK_RSA_PKCS_PSS_PARAMS){CKM_SHA256, CKG_MGF1_SHA256, 32};
        m = (CK_MECHANISM){CKM_SHA256_RSA_PKCS_PSS, pss, sizeof(*pss)};
    }
    return m;
}

static CK_OBJECT_HANDLE find(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls)
{
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)},
                        {CKA_LABEL, (void *)key_label, strlen(key_label)}};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    CK_ULONG n = 0;
    if (f->C_FindObjectsInit(s, t, 2) == CKR_OK) {
        f->C_FindObjects(s, &h, 1, &n);
        f->C_FindObjectsFinal(s);
    }
    return n == 1 ? h : CK_INVALID_HANDLE;
}

static void *worker(void *arg)
{
    (void)arg;
    CK_SESSION_HANDLE s;
    CK_RV rv = f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s);
    if (rv != CKR_OK) {
        fprintf(stderr, "C_OpenSession: 0x%lx\n", rv);
        atomic_fetch_add(&failures, count);
        return NULL;
    }
    CK_OBJECT_HANDLE priv = find(s, CKO_PRIVATE_KEY), pub = find(s, CKO_PUBLIC_KEY);
    if (priv == CK_INVALID_HANDLE || pub == CK_INVALID_HANDLE) {
        fprintf(stderr, "key '%s' not found\n", key_label);
        atomic_fetch_add(&failures, count);
        f->C_CloseSession(s);
        return NULL;
    }
    CK_RSA_PKCS_PSS_PARAMS pss;
    CK_MECHANISM m = mech_for(mech_name, &pss);
    unsigned char data[64], sig[512];
    for (unsigned long i = 0; i < count; i++) {
        snprintf((char *)data, sizeof(data), "message %lu from %p", i, (void *)&s);
        CK_ULONG dlen = strlen((char *)data), slen = sizeof(sig);
        rv = f->C_SignInit(s, &m, priv);
        if (rv == CKR_OK)
            rv = f->C_Sign(s, data, dlen, sig, &slen);
        if (rv == CKR_OK && i % 97 == 0) {
            rv = f->C_VerifyInit(s, &m, pub);
            if (rv == CKR_OK)
                rv = f->C_Verify(s, data, dlen, sig, slen);
        }
        if (rv != CKR_OK) {
            if (atomic_fetch_add(&failures, 1) < 5)
                fprintf(stderr, "signature %lu failed: 0x%lx\n", i, rv);
        }
        atomic_fetch_add(&done, 1);
    }
    f->C_CloseSession(s);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 7) {
        fprintf(stderr,
                "usage: p11load MODULE TOKEN KEYLABEL PIN|- THREADS COUNT [ecdsa|rsa|pss]\n");
        return 2;
    }
    const char *token = argv[2];
    key_label = argv[3];
    pin = strcmp(argv[4], "-") ? argv[4] : NULL;
    unsigned threads = (unsigned)strtoul(argv[5], NULL, 10);
    count = strtoul(argv[6], NULL, 10);
    mech_name = argc > 7 ? argv[7] : "ecdsa";
    void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    CK_C_GetFunctionList gfl = lib ? (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList") : NULL;
    if (!gfl || gfl(&f) != CKR_OK) {
        fprintf(stderr, "cannot load %s: %s\n", argv[1], dlerror());
        return 2;
    }
    CK_C_INITIALIZE_ARGS ia = {.flags = CKF_OS_LOCKING_OK};
    CK_RV rv = f->C_Initialize(&ia);
    CK_SLOT_ID slots[32];
    CK_ULONG n = 32;
    if (rv == CKR_OK)
        rv = f->C_GetSlotList(CK_TRUE, slots, &n);
    bool found = false;
    for (CK_ULONG i = 0; rv == CKR_OK && i < n && !found; i++) {
        CK_TOKEN_INFO ti;
        char label[33];
        if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
            continue;
        memcpy(label, ti.label, 32);
        label[32] = 0;
        for (int k = 31; k >= 0 && label[k] == ' '; k--)
            label[k] = 0;
        if (strcmp(label, token) == 0) {
            slot = slots[i];
            found = true;
        }
    }
    if (!found) {
        fprintf(stderr, "token %s not found (rv 0x%lx)\n", token, rv);
        return 2;
    }
    /* Login state is per application: one login serves every thread. */
    CK_SESSION_HANDLE ls;
    if (f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &ls) != CKR_OK)
        return 2;
    if (pin && (rv = f->C_Login(ls, CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin))) != CKR_OK) {
        fprintf(stderr, "C_Login: 0x%lx\n", rv);
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pthread_t th[64];
    if (threads > 64)
        threads = 64;
    for (unsigned i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, worker, NULL);
    for (unsigned i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    unsigned long d = atomic_load(&done), fl = atomic_load(&failures);
    printf("p11load: %u threads x %lu %s signatures: %lu done, %lu failed, %.1f s, %.0f/s\n",
           threads, count, mech_name, d, fl, s, s > 0 ? (double)d / s : 0.0);
    f->C_CloseSession(ls);
    f->C_Finalize(NULL);
    return fl == 0 && d == (unsigned long)threads * count ? 0 : 1;
}
