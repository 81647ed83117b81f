/* edge-client: the deviceSecret as a private PKCS#11 data object sealed in
 * the TPM (see secret.h). Standard PKCS#11 2.40 calls only, on the module
 * dlopen'ed from `pkcs11_module`, so the same code runs on any token. */
#include "secret.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <p11-kit/pkcs11.h>

#include "enroll.h"

#define SECRET_LABEL "deviceSecret"
#define SECRET_APP "edge-client"
#define SECRET_MAX 4096

typedef struct {
    void *dl;
    CK_FUNCTION_LIST_PTR f;
    CK_SESSION_HANDLE s;
    int open;
    int inited; /* we called C_Initialize: C_Finalize on close */
    const char *module;
} p11;

static void p11_say(const p11 *m, const char *what, CK_RV rv, const edge_config *c)
{
    fprintf(stderr, "edge-client: deviceSecret: %s failed (CKR 0x%lx) in token '%s' of %s\n", what,
            (unsigned long)rv, c->token, m->module);
}

/* dlopen + C_Initialize. The module is finalized again in p11_close: the
 * TPM connection is shared with the provider (one libedgekey-core), and we
 * hold nothing across calls. */
static int p11_open_module(p11 *m, const edge_config *c)
{
    CK_C_GetFunctionList get;
    CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
    CK_RV rv;

    memset(m, 0, sizeof(*m));
    m->module = c->pkcs11_module;
    /* NODELETE: a module may leave OpenSSL/atexit hooks behind; unmapping
     * it would crash the process at exit */
    if ((m->dl = dlopen(m->module, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE)) == NULL) {
        fprintf(stderr,
                "edge-client: cannot load the PKCS#11 module %s (%s); set pkcs11_module "
                "to edgekey-pkcs11.so\n",
                m->module, dlerror());
        return -1;
    }
    get = (CK_C_GetFunctionList)dlsym(m->dl, "C_GetFunctionList");
    if (get == NULL || get(&m->f) != CKR_OK || m->f == NULL) {
        fprintf(stderr, "edge-client: %s is not a PKCS#11 module (no C_GetFunctionList)\n",
                m->module);
        m->f = NULL;
        return -1;
    }
    rv = m->f->C_Initialize(&args);
    if (rv != CKR_OK && rv != CKR_CRYPTOKI_ALREADY_INITIALIZED) {
        p11_say(m, "C_Initialize", rv, c);
        m->f = NULL;
        return -1;
    }
    m->inited = rv == CKR_OK;
    return 0;
}

/* The slot whose token label is c->token (labels are blank-padded):
 * 0, or 1 if there is no such token (no key made yet), -1 on an error. */
static int find_slot(p11 *m, const edge_config *c, CK_SLOT_ID *slot, CK_FLAGS *flags)
{
    CK_SLOT_ID ids[64];
    CK_ULONG n = 64;
    CK_TOKEN_INFO ti;
    size_t len = strlen(c->token);

    if (m->f->C_GetSlotList(CK_TRUE, ids, &n) != CKR_OK) {
        fprintf(stderr, "edge-client: deviceSecret: C_GetSlotList failed in %s\n", m->module);
        return -1;
    }
    for (CK_ULONG i = 0; i < n; i++) {
        if (m->f->C_GetTokenInfo(ids[i], &ti) != CKR_OK || len > sizeof(ti.label) ||
            memcmp(ti.label, c->token, len) != 0)
            continue;
        for (size_t k = len; k < sizeof(ti.label); k++)
            if (ti.label[k] != ' ')
                goto next;
        *slot = ids[i];
        *flags = ti.flags;
        return 0;
    next:;
    }
    return 1;
}

/* Read-write session in the device's token, logged in if the token asks.
 * 0, 1 if the token does not exist, -1 on an error (printed). */
static int p11_open(p11 *m, const edge_config *c)
{
    CK_SLOT_ID slot;
    CK_FLAGS flags = 0;
    CK_RV rv;
    int r;

    if (p11_open_module(m, c) != 0)
        return -1;
    if ((r = find_slot(m, c, &slot, &flags)) != 0)
        return r;
    rv = m->f->C_OpenSession(slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &m->s);
    if (rv != CKR_OK) {
        p11_say(m, "C_OpenSession", rv, c);
        return -1;
    }
    m->open = 1;
    if (!(flags & CKF_LOGIN_REQUIRED))
        return 0;
    if (c->pkcs11_pin == NULL) {
        fprintf(stderr,
                "edge-client: token '%s' needs a user PIN for private objects; set "
                "pkcs11_pin or use a PIN-less edgekey token\n",
                c->token);
        return -1;
    }
    rv = m->f->C_Login(m->s, CKU_USER, (CK_UTF8CHAR_PTR)c->pkcs11_pin, strlen(c->pkcs11_pin));
    if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
        p11_say(m, "C_Login", rv, c);
        return -1;
    }
    return 0;
}

static void p11_close(p11 *m)
{
    if (m->f) {
        if (m->open)
            m->f->C_CloseSession(m->s);
        if (m->inited)
            m->f->C_Finalize(NULL);
    }
    if (m->dl)
        dlclose(m->dl);
    memset(m, 0, sizeof(*m));
}

/* Up to max handles of our data objects (class + label + application). */
static int find_objects(p11 *m, CK_OBJECT_HANDLE *h, CK_ULONG max, CK_ULONG *n)
{
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_LABEL, (void *)SECRET_LABEL, sizeof(SECRET_LABEL) - 1},
    };
    CK_RV rv = m->f->C_FindObjectsInit(m->s, t, 2);
    if (rv == CKR_OK) {
        rv = m->f->C_FindObjects(m->s, h, max, n);
        m->f->C_FindObjectsFinal(m->s);
    }
    return rv == CKR_OK ? 0 : -1;
}

/* CKA_VALUE of h into a fresh string (the module unseals it in the TPM). */
static int get_value(p11 *m, const edge_config *c, CK_OBJECT_HANDLE h, char **out)
{
    CK_ATTRIBUTE a = {CKA_VALUE, NULL, 0};
    CK_RV rv = m->f->C_GetAttributeValue(m->s, h, &a, 1);
    char *v;

    if (rv != CKR_OK || a.ulValueLen == CK_UNAVAILABLE_INFORMATION || a.ulValueLen > SECRET_MAX) {
        p11_say(m, "C_GetAttributeValue(CKA_VALUE)", rv, c);
        return -1;
    }
    if ((v = malloc(a.ulValueLen + 1)) == NULL)
        return -1;
    a.pValue = v;
    if ((rv = m->f->C_GetAttributeValue(m->s, h, &a, 1)) != CKR_OK) {
        OPENSSL_cleanse(v, a.ulValueLen);
        free(v);
        p11_say(m, "C_GetAttributeValue(CKA_VALUE)", rv, c);
        return -1;
    }
    v[a.ulValueLen] = '\0';
    *out = v;
    return 0;
}

/* The 0600 file of an older module; trailing newline dropped. */
static int load_file(const char *path, char **out)
{
    char *s = edge_read_file(path);
    if (s == NULL)
        return errno == ENOENT ? 1 : -1;
    s[strcspn(s, "\r\n")] = '\0';
    *out = s;
    return 0;
}

int edge_secret_load(const edge_config *c, const char *fallback_file, char **out)
{
    p11 m;
    CK_OBJECT_HANDLE h[2];
    CK_ULONG n = 0;
    int rc = -1;

    *out = NULL;
    if ((rc = p11_open(&m, c)) == 0)
        rc = find_objects(&m, h, 2, &n) != 0 ? -1 : n == 0 ? 1 : get_value(&m, c, h[0], out);
    p11_close(&m);
    if (rc == 1 && access(fallback_file, F_OK) == 0)
        rc = load_file(fallback_file, out);
    return rc;
}

/* Refusals that mean "this module has no data objects", not "broken". */
static int refuses_data(CK_RV rv)
{
    return rv == CKR_TEMPLATE_INCONSISTENT || rv == CKR_TEMPLATE_INCOMPLETE ||
           rv == CKR_ATTRIBUTE_VALUE_INVALID || rv == CKR_ATTRIBUTE_TYPE_INVALID ||
           rv == CKR_FUNCTION_NOT_SUPPORTED;
}

static int store_file(const char *path, const char *secret)
{
    fprintf(stderr,
            "edge-client: WARNING: the PKCS#11 module refuses data objects: the "
            "deviceSecret goes to %s (0600), NOT sealed in the TPM; update "
            "edgekey-pkcs11.so\n",
            path);
    return edge_write_file(path, secret, 0600);
}

int edge_secret_store(const edge_config *c, const char *fallback_file, const char *secret,
                      int *sealed)
{
    p11 m;
    CK_OBJECT_CLASS cls = CKO_DATA;
    CK_BBOOL yes = CK_TRUE;
    CK_OBJECT_HANDLE h[8], obj;
    CK_ULONG n = 0;
    CK_ATTRIBUTE t[] = {
        {CKA_CLASS, &cls, sizeof(cls)},
        {CKA_TOKEN, &yes, sizeof(yes)},
        {CKA_PRIVATE, &yes, sizeof(yes)},
        {CKA_LABEL, (void *)SECRET_LABEL, sizeof(SECRET_LABEL) - 1},
        {CKA_APPLICATION, (void *)SECRET_APP, sizeof(SECRET_APP) - 1},
        {CKA_VALUE, (void *)secret, strlen(secret)},
    };
    CK_RV rv = CKR_GENERAL_ERROR;
    int rc = -1;

    *sealed = 0;
    int o = p11_open(&m, c);
    if (o == 1)
        fprintf(stderr,
                "edge-client: deviceSecret: no token '%s' in %s; the device key is made "
                "first (edge-client run does it)\n",
                c->token, m.module);
    if (o == 0 && find_objects(&m, h, 8, &n) == 0) {
        /* one deviceSecret per token: an older one (a lost activation) goes */
        for (CK_ULONG i = 0; i < n; i++)
            m.f->C_DestroyObject(m.s, h[i]);
        rv = m.f->C_CreateObject(m.s, t, sizeof(t) / sizeof(t[0]), &obj);
        if (rv == CKR_OK) {
            *sealed = 1;
            rc = 0;
        } else if (!refuses_data(rv)) {
            p11_say(&m, "C_CreateObject(CKO_DATA deviceSecret)", rv, c);
        }
    }
    p11_close(&m);
    if (rc == 0)
        unlink(fallback_file); /* an older plain copy must not outlive the sealed one */
    else if (refuses_data(rv))
        rc = store_file(fallback_file, secret);
    return rc;
}

int edge_secret_destroy(const edge_config *c, const char *fallback_file)
{
    p11 m;
    CK_OBJECT_HANDLE h[8];
    CK_ULONG n = 0;
    int rc = p11_open(&m, c);

    if (rc == 1) { /* no token: nothing sealed there */
        rc = 0;
    } else if (rc == 0 && find_objects(&m, h, 8, &n) != 0) {
        rc = -1;
    } else if (rc == 0) {
        for (CK_ULONG i = 0; i < n; i++) {
            CK_RV rv = m.f->C_DestroyObject(m.s, h[i]);
            if (rv != CKR_OK) {
                p11_say(&m, "C_DestroyObject(deviceSecret)", rv, c);
                rc = -1;
            }
        }
    }
    p11_close(&m);
    if (unlink(fallback_file) != 0 && errno != ENOENT)
        rc = -1;
    return rc;
}
