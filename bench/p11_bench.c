/* p11_bench: what a PKCS#11 client pays, for any module (edgekey-pkcs11.so,
 * Debian's tpm2-pkcs11, SoftHSM2), loaded by path like an application does.
 *
 *   p11_bench --module SO --token LABEL --name NAME MODE [options]
 *
 * MODE
 *   --setup          C_InitToken on a free slot (SO PIN from $BENCH_P11_SO_PIN),
 *                    C_InitPIN (user PIN from $BENCH_P11_PIN), then an RSA-2048
 *                    key "rsa" (id 01) and a P-256 key "ec" (id 02) by
 *                    C_GenerateKeyPair. For modules that can (edgekey, SoftHSM2).
 *   --cycle N        one client's start: dlopen, C_Initialize, find the token
 *                    by label (C_GetSlotList + C_GetTokenInfo, as a URI client
 *                    does), C_OpenSession, C_Login, C_FindObjects for the key,
 *                    then N signatures. Prints "BENCH p11login/NAME <ms> ms"
 *                    (dlopen to key found). Run it in a fresh process each time.
 *   --sign           C_SignInit + C_Sign per signature for --seconds (or exactly
 *                    --count N): "BENCH p11sign/NAME/ALG <rate> signs/s" and
 *                    "BENCH cpu/p11sign/NAME/ALG <us> us/sign".
 * options
 *   --alg rsa|ec     key "rsa" with CKM_SHA256_RSA_PKCS, or "ec" with
 *                    CKM_ECDSA_SHA256 (default rsa); 128-byte message. A module
 *                    without CKM_ECDSA_SHA256 (SoftHSM2 2.6) gets CKM_ECDSA on
 *                    the message's SHA-256, hashed here.
 *   --seconds S, --count N
 *   --stop-after init|slot|login   end --cycle after that step (to count the
 *                    TPM commands of each step with the pcap TCTI)
 *
 * The user PIN comes from $BENCH_P11_PIN (never the command line). The first
 * signature is checked with C_Verify on the public key object, so a module
 * that returns garbage fast cannot win. */
#include <dlfcn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/sha.h>
#include <p11-kit/pkcs11.h>
#include "bench_measure.h"

typedef struct bench {
    const char *module, *token, *name, *alg;
    double seconds;
    long count; /* -1: timed */
    CK_FUNCTION_LIST *f;
    CK_SLOT_ID slot;
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE priv, pub;
    CK_MECHANISM mech;
    bool prehash;           /* module lacks CKM_ECDSA_SHA256: SHA-256 here, then CKM_ECDSA */
    const char *stop_after; /* --stop-after init|slot|login: count one step's TPM commands */
    unsigned char msg[128], sig[512];
} bench;

#define FAIL(b, what, rv)                                                                          \
    (fprintf(stderr, "p11_bench %s: %s failed: CKR 0x%lx\n", (b)->name, what,                      \
             (unsigned long)(rv)),                                                                 \
     1)

static int load(bench *b)
{
    void *lib = dlopen(b->module, RTLD_NOW | RTLD_LOCAL);
    CK_C_GetFunctionList gfl = lib ? (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList") : NULL;
    if (!gfl || gfl(&b->f) != CKR_OK) {
        fprintf(stderr, "p11_bench: cannot load %s: %s\n", b->module, dlerror());
        return 1;
    }
    CK_C_INITIALIZE_ARGS ia = {.flags = CKF_OS_LOCKING_OK};
    CK_RV rv = b->f->C_Initialize(&ia);
    return rv == CKR_OK ? 0 : FAIL(b, "C_Initialize", rv);
}

static void trim(const CK_UTF8CHAR *in, char out[33])
{
    memcpy(out, in, 32);
    out[32] = '\0';
    for (int k = 31; k >= 0 && (out[k] == ' ' || out[k] == '\0'); k--)
        out[k] = '\0';
}

/* The slot of token `label`, or with label NULL the first uninitialised one. */
static int find_slot(bench *b, const char *label)
{
    CK_SLOT_ID slots[64];
    CK_ULONG n = 64;
    CK_RV rv = b->f->C_GetSlotList(CK_TRUE, slots, &n);
    if (rv != CKR_OK)
        return FAIL(b, "C_GetSlotList", rv);
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO ti;
        char l[33];
        if (b->f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
            continue;
        trim(ti.label, l);
        bool init = ti.flags & CKF_TOKEN_INITIALIZED;
        if ((label && init && strcmp(l, label) == 0) || (!label && !init)) {
            b->slot = slots[i];
            return 0;
        }
    }
    fprintf(stderr, "p11_bench %s: no %s%s in %s\n", b->name, label ? "token " : "free slot",
            label ? label : "", b->module);
    return 1;
}

static const char *env_pin(const char *var)
{
    const char *p = getenv(var);
    if (!p || !*p)
        fprintf(stderr, "p11_bench: set %s\n", var);
    return p && *p ? p : NULL;
}

static int open_login(bench *b, CK_USER_TYPE who, const char *pin)
{
    CK_RV rv = b->f->C_OpenSession(b->slot, CKF_SERIAL_SESSION | CKF_RW_SESSION, NULL, NULL, &b->s);
    if (rv != CKR_OK)
        return FAIL(b, "C_OpenSession", rv);
    rv = b->f->C_Login(b->s, who, (CK_UTF8CHAR *)pin, strlen(pin));
    return rv == CKR_OK ? 0 : FAIL(b, "C_Login", rv);
}

static CK_OBJECT_HANDLE find_obj(bench *b, CK_OBJECT_CLASS cls, const char *label)
{
    CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_LABEL, (void *)label, strlen(label)}};
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    CK_ULONG n = 0;
    if (b->f->C_FindObjectsInit(b->s, t, 2) == CKR_OK) {
        b->f->C_FindObjects(b->s, &h, 1, &n);
        b->f->C_FindObjectsFinal(b->s);
    }
    return n == 1 ? h : CK_INVALID_HANDLE;
}

/* ---- setup: token, PINs, two key pairs ---- */

static int gen_pair(bench *b, bool rsa, const char *label, unsigned char id)
{
    static const unsigned char p256[] = {0x06, 0x08, 0x2a, 0x86, 0x48,
                                         0xce, 0x3d, 0x03, 0x01, 0x07};
    static const unsigned char e65537[] = {1, 0, 1};
    CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
    CK_ULONG bits = 2048;
    CK_ATTRIBUTE pub[] = {{CKA_TOKEN, &yes, 1},
                          {CKA_VERIFY, &yes, 1},
                          {CKA_LABEL, (void *)label, strlen(label)},
                          {CKA_ID, &id, 1},
                          rsa ? (CK_ATTRIBUTE){CKA_MODULUS_BITS, &bits, sizeof(bits)}
                              : (CK_ATTRIBUTE){CKA_EC_PARAMS, (void *)p256, sizeof(p256)},
                          {CKA_PUBLIC_EXPONENT, (void *)e65537, sizeof(e65537)}};
    CK_ATTRIBUTE priv[] = {{CKA_TOKEN, &yes, 1},      {CKA_SIGN, &yes, 1},
                           {CKA_PRIVATE, &yes, 1},    {CKA_SENSITIVE, &yes, 1},
                           {CKA_EXTRACTABLE, &no, 1}, {CKA_LABEL, (void *)label, strlen(label)},
                           {CKA_ID, &id, 1}};
    CK_MECHANISM m = {rsa ? CKM_RSA_PKCS_KEY_PAIR_GEN : CKM_EC_KEY_PAIR_GEN, NULL, 0};
    CK_OBJECT_HANDLE hpub, hpriv;
    CK_RV rv = b->f->C_GenerateKeyPair(b->s, &m, pub, rsa ? 6 : 5, priv, 7, &hpub, &hpriv);
    return rv == CKR_OK ? 0 : FAIL(b, "C_GenerateKeyPair", rv);
}

static int setup(bench *b)
{
    const char *so = env_pin("BENCH_P11_SO_PIN"), *pin = env_pin("BENCH_P11_PIN");
    if (!so || !pin || load(b) || find_slot(b, NULL))
        return 1;
    CK_UTF8CHAR label[32];
    memset(label, ' ', sizeof(label));
    memcpy(label, b->token, strlen(b->token) < 32 ? strlen(b->token) : 32);
    CK_RV rv = b->f->C_InitToken(b->slot, (CK_UTF8CHAR *)so, strlen(so), label);
    if (rv != CKR_OK)
        return FAIL(b, "C_InitToken", rv);
    if (find_slot(b, b->token) || open_login(b, CKU_SO, so))
        return 1;
    rv = b->f->C_InitPIN(b->s, (CK_UTF8CHAR *)pin, strlen(pin));
    if (rv != CKR_OK)
        return FAIL(b, "C_InitPIN", rv);
    b->f->C_Logout(b->s);
    rv = b->f->C_Login(b->s, CKU_USER, (CK_UTF8CHAR *)pin, strlen(pin));
    if (rv != CKR_OK)
        return FAIL(b, "C_Login (user)", rv);
    if (gen_pair(b, true, "rsa", 1) || gen_pair(b, false, "ec", 2))
        return 1;
    b->f->C_CloseSession(b->s);
    b->f->C_Finalize(NULL);
    return 0;
}

/* ---- signing ---- */

static int sign_one(void *arg, unsigned long i)
{
    bench *b = arg;
    memcpy(b->msg, &i, sizeof(i));
    unsigned char md[SHA256_DIGEST_LENGTH];
    const unsigned char *in = b->msg;
    CK_ULONG slen = sizeof(b->sig), inlen = sizeof(b->msg);
    if (b->prehash) /* the same work as CKM_ECDSA_SHA256, split as the module needs */
        in = SHA256(b->msg, sizeof(b->msg), md), inlen = sizeof(md);
    CK_RV rv = b->f->C_SignInit(b->s, &b->mech, b->priv);
    if (rv == CKR_OK)
        rv = b->f->C_Sign(b->s, (CK_BYTE_PTR)in, inlen, b->sig, &slen);
    if (rv != CKR_OK)
        return FAIL(b, "C_SignInit/C_Sign", rv);
    if (i == 0) { /* the first one is checked */
        rv = b->f->C_VerifyInit(b->s, &b->mech, b->pub);
        if (rv == CKR_OK)
            rv = b->f->C_Verify(b->s, (CK_BYTE_PTR)in, inlen, b->sig, slen);
        if (rv != CKR_OK)
            return FAIL(b, "C_Verify of the first signature", rv);
    }
    return 0;
}

/* Everything a client does before its first signature. */
static int start(bench *b)
{
    const char *pin = env_pin("BENCH_P11_PIN"), *stop = b->stop_after ? b->stop_after : "";
    if (!pin || load(b))
        return 1;
    if (!strcmp(stop, "init"))
        return -1;
    if (find_slot(b, b->token))
        return 1;
    if (!strcmp(stop, "slot"))
        return -1;
    if (open_login(b, CKU_USER, pin))
        return 1;
    if (!strcmp(stop, "login"))
        return -1;
    const char *label = strcmp(b->alg, "ec") == 0 ? "ec" : "rsa";
    b->priv = find_obj(b, CKO_PRIVATE_KEY, label);
    b->pub = find_obj(b, CKO_PUBLIC_KEY, label);
    if (b->priv == CK_INVALID_HANDLE || b->pub == CK_INVALID_HANDLE) {
        fprintf(stderr, "p11_bench %s: key pair '%s' not found in token %s\n", b->name, label,
                b->token);
        return 1;
    }
    b->mech =
        (CK_MECHANISM){strcmp(label, "ec") == 0 ? CKM_ECDSA_SHA256 : CKM_SHA256_RSA_PKCS, NULL, 0};
    CK_MECHANISM_INFO mi;
    if (b->mech.mechanism == CKM_ECDSA_SHA256 &&
        b->f->C_GetMechanismInfo(b->slot, CKM_ECDSA_SHA256, &mi) == CKR_MECHANISM_INVALID) {
        b->mech.mechanism = CKM_ECDSA; /* SoftHSM2 2.6 */
        b->prehash = true;
    }
    return 0;
}

static int cycle(bench *b, long nsign)
{
    double t0 = bm_now();
    int r = start(b);
    if (r < 0) { /* --stop-after: the time up to that step */
        printf("BENCH p11step/%s/%s %.3f ms (dlopen to the end of that step)\n", b->name,
               b->stop_after, (bm_now() - t0) * 1e3);
        b->f->C_Finalize(NULL);
        return 0;
    }
    if (r)
        return 1;
    double t1 = bm_now();
    for (long i = 0; i < nsign; i++)
        if (sign_one(b, (unsigned long)i))
            return 1;
    printf("BENCH p11login/%s %.3f ms (dlopen to key found, %ld signatures after)\n", b->name,
           (t1 - t0) * 1e3, nsign);
    b->f->C_Finalize(NULL);
    return 0;
}

static int timed(bench *b)
{
    if (start(b))
        return 1;
    if (b->count >= 0) {
        for (long i = 0; i < b->count; i++)
            if (sign_one(b, (unsigned long)i))
                return 1;
        b->f->C_Finalize(NULL);
        return 0;
    }
    bm_result r;
    if (bm_measure(b->seconds, sign_one, b, &r))
        return 1;
    printf("BENCH p11sign/%s/%s %.1f signs/s (median %.1f, %lu signatures)\n", b->name, b->alg,
           r.best, r.median, r.n);
    printf("BENCH cpu/p11sign/%s/%s %.1f us/sign\n", b->name, b->alg, r.cpu_us);
    b->f->C_Finalize(NULL);
    return 0;
}

int main(int argc, char **argv)
{
    bench b = {.alg = "rsa", .seconds = 2, .count = -1, .name = "module"};
    enum { NONE, SETUP, CYCLE, SIGN } mode = NONE;
    long nsign = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        bool has = v != NULL;
        if (!strcmp(a, "--setup"))
            mode = SETUP;
        else if (!strcmp(a, "--sign"))
            mode = SIGN;
        else if (!strcmp(a, "--cycle") && has)
            mode = CYCLE, nsign = atol(v), i++;
        else if (!strcmp(a, "--module") && has)
            b.module = v, i++;
        else if (!strcmp(a, "--token") && has)
            b.token = v, i++;
        else if (!strcmp(a, "--name") && has)
            b.name = v, i++;
        else if (!strcmp(a, "--alg") && has)
            b.alg = v, i++;
        else if (!strcmp(a, "--seconds") && has)
            b.seconds = atof(v), i++;
        else if (!strcmp(a, "--stop-after") && has)
            b.stop_after = v, i++;
        else if (!strcmp(a, "--count") && has)
            b.count = atol(v), i++;
        else {
            fprintf(stderr,
                    "p11_bench: bad argument '%s' (see the comment at the top of "
                    "bench/p11_bench.c)\n",
                    a);
            return 2;
        }
    }
    if (!b.module || !b.token || mode == NONE) {
        fprintf(stderr, "usage: p11_bench --module SO --token LABEL [--name NAME] "
                        "--setup | --cycle N | --sign [--alg rsa|ec] [--seconds S | --count N]\n");
        return 2;
    }
    if (b.seconds <= 0)
        b.seconds = 2;
    switch (mode) {
    case SETUP:
        return setup(&b);
    case CYCLE:
        return cycle(&b, nsign);
    default:
        return timed(&b);
    }
}
