/* edgekey core: loading tpm2-tss and p11-kit on first use (ek_lazy.h).
 *
 * dlopen(RTLD_LOCAL) by soname: the same libraries the dynamic linker would
 * have mapped at start, only later, and without adding their symbols to the
 * process's global scope. If the application already has them loaded (say
 * tpm2-openssl in the same process), dlopen hands back those. They are never
 * closed: an ESYS context or a TCTI may outlive any point where we could.
 * The tpm2-tss libraries come in three sets (ek_lazy.h), each loaded once. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#define EK_LAZY_IMPL 1 /* the tables themselves: no redirection here */
#include "ek_lazy.h"

ek_lazy_tss2_tab ek_lazy_tss2;
ek_lazy_p11kit_tab ek_lazy_p11kit;

enum { LIB_esys, LIB_tctildr, LIB_rc, LIB_mu, LIB_p11kit, LIB_N };
static const char *const sonames[LIB_N] = {
    "libtss2-esys.so.0", "libtss2-tctildr.so.0", "libtss2-rc.so.0",
    "libtss2-mu.so.0",   "libp11-kit.so.0",
};
static const char *const packages[LIB_N] = {
    "libtss2-esys-3.0.2-0", "libtss2-tctildr0", "libtss2-rc0", "libtss2-mu0", "libp11-kit0",
};

typedef struct lazy_set {
    pthread_once_t once;
    atomic_bool ok;
    char why[512];
} lazy_set;

/* tss2: the TCTI loader and tss2-mu, all a raw command needs; esys: only for
 * the commands still sent through ESYS; rc: only to decode an error. */
static lazy_set tss2_set = {.once = PTHREAD_ONCE_INIT};
static lazy_set tctildr_set = {.once = PTHREAD_ONCE_INIT};
static lazy_set esys_set = {.once = PTHREAD_ONCE_INIT};
static lazy_set rc_set = {.once = PTHREAD_ONCE_INIT};
static lazy_set p11kit_set = {.once = PTHREAD_ONCE_INIT};

static void *open_lib(lazy_set *s, int lib)
{
    void *h = dlopen(sonames[lib], RTLD_NOW | RTLD_LOCAL);
    if (!h)
        snprintf(s->why, sizeof(s->why), "cannot load %s (%s); install the %s package",
                 sonames[lib], dlerror(), packages[lib]);
    return h;
}

/* POSIX: a function pointer is stored through a void * view of it. Only
 * the functions of the libraries in the set (mask) are resolved. */
#define LAZY_SYM(tab, lib, fn)                                                                     \
    if (ok && (mask & (1u << LIB_##lib)) &&                                                        \
        !(*(void **)&tab.fn = dlsym(h[LIB_##lib], #fn))) {                                         \
        snprintf(set->why, sizeof(set->why), "%s lacks %s; edgekey needs a newer one",             \
                 sonames[LIB_##lib], #fn);                                                         \
        ok = false;                                                                                \
    }

static bool load_tss2_libs(lazy_set *set, unsigned mask)
{
    void *h[LIB_N] = {NULL};
    bool ok = true;
    for (int i = 0; i < LIB_N && ok; i++)
        if (mask & (1u << i))
            ok = (h[i] = open_lib(set, i)) != NULL;
#define X(lib, fn) LAZY_SYM(ek_lazy_tss2, lib, fn)
    EK_LAZY_TSS2_FNS(X)
#undef X
    return ok;
}

static void load_tss2(void)
{
    atomic_store(&tss2_set.ok, load_tss2_libs(&tss2_set, 1u << LIB_mu));
}

static void load_tctildr(void)
{
    atomic_store(&tctildr_set.ok, load_tss2_libs(&tctildr_set, 1u << LIB_tctildr));
}

static void load_esys(void)
{
    atomic_store(&esys_set.ok, load_tss2_libs(&esys_set, 1u << LIB_esys));
}

/* Without libtss2-rc an error still reads: the code in hex. */
static const char *rc_hex(TSS2_RC rc)
{
    static _Thread_local char buf[32];
    snprintf(buf, sizeof(buf), "TSS2 rc 0x%08x", rc);
    return buf;
}

static void load_rc(void)
{
    if (!load_tss2_libs(&rc_set, 1u << LIB_rc))
        ek_lazy_tss2.Tss2_RC_Decode = rc_hex;
    atomic_store(&rc_set.ok, true);
}

static void load_p11kit(void)
{
    lazy_set *set = &p11kit_set;
    void *h[LIB_N] = {NULL};
    unsigned mask = 1u << LIB_p11kit;
    bool ok = (h[LIB_p11kit] = open_lib(set, LIB_p11kit)) != NULL;
#define X(lib, fn) LAZY_SYM(ek_lazy_p11kit, lib, fn)
    EK_LAZY_P11KIT_FNS(X)
#undef X
    atomic_store(&set->ok, ok);
}

static bool ensure(lazy_set *s, void (*load)(void))
{
    if (atomic_load(&s->ok))
        return true;
    pthread_once(&s->once, load);
    return atomic_load(&s->ok);
}

/* Load a set now: EK_OK, or EK_ERR_UNSUPPORTED naming the library. */
static ek_rc load_or_error(lazy_set *s, void (*load)(void), const char *what)
{
    return ensure(s, load) ? EK_OK : ek_error(EK_ERR_UNSUPPORTED, "%s: %s", what, s->why);
}

/* Load a set for a call that cannot report an error: abort with the reason. */
static void load_or_die(lazy_set *s, void (*load)(void), const char *what)
{
    if (!ensure(s, load)) {
        fprintf(stderr, "edgekey: %s: %s\n", what, s->why);
        abort();
    }
}

ek_rc ek_lazy_tss2_load(void) { return load_or_error(&tss2_set, load_tss2, "tpm2-tss"); }
ek_rc ek_lazy_tctildr_load(void) { return load_or_error(&tctildr_set, load_tctildr, "tpm2-tss"); }
ek_rc ek_lazy_esys_load(void) { return load_or_error(&esys_set, load_esys, "tpm2-tss"); }
ek_rc ek_lazy_p11kit_load(void) { return load_or_error(&p11kit_set, load_p11kit, "p11-kit"); }

const ek_lazy_tss2_tab *ek_lazy_tss2_need(void)
{
    load_or_die(&tss2_set, load_tss2, "tpm2-tss");
    return &ek_lazy_tss2;
}

const ek_lazy_tss2_tab *ek_lazy_tctildr_need(void)
{
    load_or_die(&tctildr_set, load_tctildr, "tpm2-tss");
    return &ek_lazy_tss2;
}

const ek_lazy_tss2_tab *ek_lazy_esys_need(void)
{
    load_or_die(&esys_set, load_esys, "tpm2-tss");
    return &ek_lazy_tss2;
}

const ek_lazy_tss2_tab *ek_lazy_rc_need(void)
{
    ensure(&rc_set, load_rc); /* never fails: without the library, codes in hex */
    return &ek_lazy_tss2;
}

const ek_lazy_p11kit_tab *ek_lazy_p11kit_need(void)
{
    load_or_die(&p11kit_set, load_p11kit, "p11-kit");
    return &ek_lazy_p11kit;
}
