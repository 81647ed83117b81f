/* edgekey doctor: the OpenSSL side. Is the provider found where OpenSSL
 * looks (OPENSSL_MODULES or its MODULESDIR), loaded in a fresh library
 * context; and does the effective openssl.cnf load at all, and activate
 * default, then edgekey. Fresh library contexts keep this process's own
 * OpenSSL state (no openssl.cnf, OPENSSL_INIT_NO_LOAD_CONFIG) untouched. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/provider.h>
#include "doctor.h"

/* The last OpenSSL error with its data ("... filename(...)"), queue cleared. */
static void ossl_err(char *buf, size_t size)
{
    const char *data = NULL;
    int flags = 0;
    unsigned long e = ERR_peek_last_error_data(&data, &flags);
    char reason[256];
    ERR_error_string_n(e, reason, sizeof(reason));
    snprintf(buf, size, "%s%s%s", e ? reason : "no OpenSSL error recorded",
             data && (flags & ERR_TXT_STRING) && *data ? ": " : "",
             data && (flags & ERR_TXT_STRING) ? data : "");
    ERR_clear_error();
}

void dr_check_provider(dr_report *r)
{
    const char *env = getenv("OPENSSL_MODULES");
    const char *dir = env && *env ? env : OPENSSL_info(OPENSSL_INFO_MODULES_DIR);
    const char *src = env && *env ? "OPENSSL_MODULES" : "OpenSSL's MODULESDIR";
    OSSL_LIB_CTX *lc = OSSL_LIB_CTX_new();
    /* edgekey loads only after default (provider/order.c), as in any working set-up. */
    OSSL_PROVIDER *def = lc ? OSSL_PROVIDER_load(lc, "default") : NULL;
    OSSL_PROVIDER *p = def ? OSSL_PROVIDER_load(lc, "edgekey") : NULL;
    if (p == NULL) {
        char err[600], fix[700];
        ossl_err(err, sizeof(err));
        if (env && *env)
            snprintf(fix, sizeof(fix),
                     "OPENSSL_MODULES=%s has no usable edgekey.so: unset it, or point it at the "
                     "directory that holds edgekey.so (installed: %s)",
                     env, EK_OSSL_MODULESDIR);
        else
            snprintf(fix, sizeof(fix),
                     "install edgekey (meson install puts edgekey.so in %s), or set "
                     "OPENSSL_MODULES to the directory that holds it",
                     EK_OSSL_MODULESDIR);
        dr_add(r, "provider", DR_FAIL, EXIT_OTHER, fix,
               "OpenSSL cannot load the provider 'edgekey' from %s (%s): %s", dir, src, err);
    } else {
        dr_add(r, "provider", DR_OK, 0, NULL, "OpenSSL loads 'edgekey' from %s (%s)", dir, src);
        OSSL_PROVIDER_unload(p);
    }
    if (def)
        OSSL_PROVIDER_unload(def);
    OSSL_LIB_CTX_free(lc);
}

/* Does OpenSSL load the file? A file it cannot load stops every OpenSSL
 * program at start-up (Debian sets config_diagnostics = 1). */
static bool loads(dr_report *r, const char *file)
{
    OSSL_LIB_CTX *lc = OSSL_LIB_CTX_new();
    bool ok = lc && OSSL_LIB_CTX_load_config(lc, file) > 0;
    if (!ok) {
        char err[600], fix[1200];
        ossl_err(err, sizeof(err));
        snprintf(fix, sizeof(fix), "edgekey doctor --fix-openssl-cnf %s", file);
        dr_add(r, "openssl-cnf", DR_FAIL, EXIT_OTHER, fix,
               "OpenSSL fails to load %s (%s): with config_diagnostics = 1 (Debian's default) "
               "every OpenSSL program stops at start-up",
               file, err);
    }
    OSSL_LIB_CTX_free(lc);
    return ok;
}

static void check_order(dr_report *r, const char *file, const char **names, int n)
{
    int def = -1, ek = -1;
    char fix[1200];
    for (int i = 0; i < n; i++) {
        if (strcmp(names[i], "default") == 0 && def < 0)
            def = i;
        if (dr_cnf_is_edgekey(names[i]) && ek < 0)
            ek = i;
    }
    snprintf(fix, sizeof(fix), "edgekey doctor --fix-openssl-cnf %s", file);
    if (ek < 0) {
        dr_add(r, "openssl-cnf", DR_WARN, 0, fix,
               "%s does not activate edgekey: programs that take a TPM key as a key file "
               "(curl, mosquitto_pub --key) cannot use it; -provider and PKCS#11 still work",
               file);
    } else if (def < 0) {
        dr_add(r, "openssl-cnf", DR_FAIL, EXIT_OTHER,
               "activate the default provider too, listed before edgekey (docs/provider.md)",
               "%s activates edgekey without the default provider: hashing, verification and "
               "TLS key exchange fail in every OpenSSL program",
               file);
    } else if (ek < def) {
        dr_add(r, "openssl-cnf", DR_FAIL, EXIT_OTHER,
               "in its providers section list 'default' before 'edgekey' (docs/provider.md, "
               "\"Provider order\")",
               "%s activates edgekey before default: edgekey refuses to load in that order "
               "(TLS would lose the P-256/P-384 groups)",
               file);
    } else {
        dr_add(r, "openssl-cnf", DR_OK, 0, NULL, "%s activates default, then edgekey", file);
    }
}

void dr_check_openssl_cnf(dr_report *r)
{
    char *file = dr_cnf_effective();
    const char *names[16], *err = NULL;
    if (file == NULL) {
        dr_add(r, "openssl-cnf", DR_FAIL, EXIT_OTHER, NULL, "out of memory");
        return;
    }
    int n = dr_cnf_active(file, names, 16, &err);
    if (n < 0)
        dr_add(r, "openssl-cnf", DR_FAIL, EXIT_OTHER, "fix or restore the file", "%s", err);
    else if (loads(r, file))
        check_order(r, file, names, n);
    free(file);
}
