/*
 * Test rig for sanitizer builds only: preloaded after the ASan runtime into
 * stock programs (p11tool, gnutls-cli, curl, tpm2-tools...) by
 * tests/lib/common.sh. Not part of edgekey.
 *
 * Why: a preloaded ASan runtime initialises lazily, on the first malloc. In
 * programs linked with libp11-kit that first malloc happens inside glibc's
 * newlocale() (called by p11-kit's library constructor) while glibc holds
 * its locale lock for writing; ASan's start-up then calls dlerror(), which
 * takes the same lock for reading, and the lock is left corrupt: the
 * program hangs in its next setlocale() or at exit (p11-kit's freelocale).
 * Interposing newlocale() to allocate once before glibc takes the lock lets
 * ASan start outside it. Nothing else changes: the real newlocale() runs.
 */
#include <dlfcn.h>
#include <locale.h>
#include <stdlib.h>

/* glibc's exported alias of newlocale(), so no dlsym() is needed. */
locale_t __newlocale(int mask, const char *name, locale_t base);

__attribute__((visibility("default"))) locale_t newlocale(int mask, const char *name, locale_t base)
{
    void *volatile first = malloc(1); /* volatile: the pair must not be optimised away */

    free(first);
    return __newlocale(mask, name, base);
}

/* The same for gettext's lock: libgpg-error's constructor (mosquitto links
 * it) binds its text domain first thing, and a first malloc there corrupts
 * _nl_state_lock; the next bindtextdomain() in the process (GLib's, in
 * tpm2-abrmd's TCTI) then hangs. */
__attribute__((visibility("default"))) char *bindtextdomain(const char *domain, const char *dir)
{
    static char *(*real)(const char *, const char *);
    void *volatile first = malloc(1);

    free(first);
    if (!real)
        real = (char *(*)(const char *, const char *))dlsym(RTLD_NEXT, "bindtextdomain");
    return real ? real(domain, dir) : NULL;
}
