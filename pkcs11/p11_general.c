/* edgekey PKCS#11 module: C_Initialize / C_Finalize / C_GetInfo, the module
 * lock, fork handling and error translation.
 *
 * C_Initialize is lazy: it reads the configuration (applying x-init-reserved
 * overrides) and nothing else - no TPM, no store. A forked child that calls
 * C_Initialize gets CKR_OK and a fresh module state (the parent's sessions
 * and objects are forgotten, never used; core reconnects to the TPM). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "ek_config.h"
#include "ek_log.h"
#include "p11_internal.h"

p11_module p11;

static pthread_mutex_t os_mutex = PTHREAD_MUTEX_INITIALIZER;
static CK_C_INITIALIZE_ARGS app_locks;
static bool use_app_locks;
static void *app_mutex;

void p11_lock(void)
{
    if (use_app_locks)
        app_locks.LockMutex(app_mutex);
    else
        pthread_mutex_lock(&os_mutex);
}

void p11_unlock(void)
{
    if (use_app_locks)
        app_locks.UnlockMutex(app_mutex);
    else
        pthread_mutex_unlock(&os_mutex);
}

void p11_pad(CK_UTF8CHAR *dst, size_t size, const char *src)
{
    size_t n = strlen(src);
    memset(dst, ' ', size);
    memcpy(dst, src, n < size ? n : size);
}

/* Map a core failure to a CK_RV, logging the core's message (which names
 * the object, the rule and the fix) since PKCS#11 has no error text. */
CK_RV p11_rv_from_ek(ek_rc rc, const char *what)
{
    CK_RV rv;
    switch (rc) {
    case EK_OK:
        return CKR_OK;
    case EK_ERR_INVALID:
        rv = CKR_ARGUMENTS_BAD;
        break;
    case EK_ERR_POLICY:
        rv = CKR_TEMPLATE_INCONSISTENT;
        break;
    case EK_ERR_NOT_FOUND:
        rv = CKR_OBJECT_HANDLE_INVALID;
        break;
    case EK_ERR_EXISTS:
        rv = CKR_TEMPLATE_INCONSISTENT;
        break;
    case EK_ERR_AUTH:
        rv = CKR_PIN_INCORRECT;
        break;
    case EK_ERR_LOCKOUT:
        rv = CKR_PIN_LOCKED;
        break;
    case EK_ERR_TPM:
        rv = CKR_DEVICE_ERROR;
        break;
    case EK_ERR_CONNECT:
        rv = CKR_DEVICE_ERROR;
        break;
    case EK_ERR_IO:
        rv = CKR_DEVICE_ERROR;
        break;
    case EK_ERR_NOMEM:
        rv = CKR_HOST_MEMORY;
        break;
    case EK_ERR_UNSUPPORTED:
        rv = CKR_FUNCTION_FAILED;
        break;
    case EK_ERR_BUFFER_TOO_SMALL:
        return CKR_BUFFER_TOO_SMALL;
    default:
        rv = CKR_GENERAL_ERROR;
        break;
    }
    if (rc != EK_ERR_AUTH)
        ek_log(EK_LOG_ERR, "pkcs11: %s: %s", what, ek_last_error());
    return rv;
}

/* x-init-reserved = "key=value;key=value" (p11-kit module file). */
static void apply_reserved(const char *s)
{
    char buf[2048];
    if (!s || snprintf(buf, sizeof(buf), "%s", s) >= (int)sizeof(buf))
        return;
    char *save = NULL;
    for (char *kv = strtok_r(buf, ";", &save); kv; kv = strtok_r(NULL, ";", &save)) {
        char *eq = strchr(kv, '=');
        if (!eq)
            continue;
        *eq = '\0';
        char *k = kv, *v = eq + 1;
        while (*k == ' ')
            k++;
        while (*v == ' ')
            v++;
        for (char *e = k + strlen(k); e > k && e[-1] == ' ';)
            *--e = '\0';
        if (ek_config_set(k, v) != EK_OK)
            ek_log(EK_LOG_WARN, "pkcs11: x-init-reserved %s ignored: %s", k, ek_last_error());
    }
}

static CK_RV setup_locking(const CK_C_INITIALIZE_ARGS *a)
{
    use_app_locks = false;
    if (!a)
        return CKR_OK;
    bool some = a->CreateMutex || a->DestroyMutex || a->LockMutex || a->UnlockMutex;
    bool all = a->CreateMutex && a->DestroyMutex && a->LockMutex && a->UnlockMutex;
    if (some && !all)
        return CKR_ARGUMENTS_BAD;
    /* OS locking allowed (or no callbacks): our pthread mutex. Only
     * callbacks without CKF_OS_LOCKING_OK oblige us to use theirs. */
    if (all && !(a->flags & CKF_OS_LOCKING_OK)) {
        app_locks = *a;
        if (a->CreateMutex(&app_mutex) != CKR_OK)
            return CKR_CANT_LOCK;
        use_app_locks = true;
    }
    return CKR_OK;
}

static void forget_state(void)
{
    /* After fork: the parent's keys reference its TPM connection; drop
     * them without freeing (never touch the parent's ESYS objects). */
    memset(&p11, 0, sizeof(p11));
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    os_mutex = fresh;
    use_app_locks = false;
}

P11_EXPORT CK_RV C_Initialize(CK_VOID_PTR pInitArgs)
{
    const CK_C_INITIALIZE_ARGS *a = pInitArgs;
    if (p11.initialized && p11.pid != getpid())
        forget_state();
    if (p11.initialized)
        return CKR_CRYPTOKI_ALREADY_INITIALIZED;
    if (a && a->pReserved)
        apply_reserved((const char *)a->pReserved);
    CK_RV rv = setup_locking(a);
    if (rv != CKR_OK)
        return rv;
    if (!ek_config_get()) {
        ek_log(EK_LOG_ERR, "pkcs11: configuration: %s", ek_last_error());
        return CKR_GENERAL_ERROR;
    }
    p11_lock();
    p11.pid = getpid();
    p11.next_session = 1;
    p11.next_object = 1;
    p11.initialized = true;
    p11_unlock();
    return CKR_OK;
}

P11_EXPORT CK_RV C_Finalize(CK_VOID_PTR pReserved)
{
    if (pReserved)
        return CKR_ARGUMENTS_BAD;
    if (!p11.initialized)
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    if (p11.pid != getpid()) {
        forget_state();
        return CKR_OK;
    }
    p11_lock();
    p11_sessions_free_all();
    p11_objects_free_all();
    for (size_t i = 0; i < p11.n_slots; i++)
        p11_slot_logout(&p11.slots[i]);
    bool app = use_app_locks;
    void *m = app_mutex;
    memset(&p11, 0, sizeof(p11));
    p11_unlock();
    if (app) {
        use_app_locks = false;
        app_locks.DestroyMutex(m);
    }
    return CKR_OK;
}

P11_EXPORT CK_RV C_GetInfo(CK_INFO_PTR pInfo)
{
    if (!p11.initialized)
        return CKR_CRYPTOKI_NOT_INITIALIZED;
    if (!pInfo)
        return CKR_ARGUMENTS_BAD;
    memset(pInfo, 0, sizeof(*pInfo));
    pInfo->cryptokiVersion.major = 2;
    pInfo->cryptokiVersion.minor = 40;
    p11_pad(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), "edgekey");
    p11_pad(pInfo->libraryDescription, sizeof(pInfo->libraryDescription),
            "edgekey TPM 2.0 PKCS#11 module");
    pInfo->libraryVersion.major = 0;
    pInfo->libraryVersion.minor = 1;
    return CKR_OK;
}
