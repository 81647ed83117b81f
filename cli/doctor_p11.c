/* edgekey doctor: the PKCS#11 module's p11-kit registration, through
 * p11-kit's own module list (p11_kit_modules_load: the modules are dlopen'ed
 * but never initialised, so no other module touches the TPM here), and
 * other registered modules that would talk to the same TPM. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <p11-kit/p11-kit.h>
#include "doctor.h"

static const char *base(const char *path)
{
    const char *s = strrchr(path, '/');
    return s ? s + 1 : path;
}

struct p11_found {
    char ours[512];
    char others[512]; /* "name (file), ..." of other TPM modules */
};

static void look(CK_FUNCTION_LIST **mods, struct p11_found *f)
{
    for (size_t i = 0; mods && mods[i]; i++) {
        char *name = p11_kit_module_get_name(mods[i]);
        char *file = p11_kit_module_get_filename(mods[i]);
        const char *b = file ? base(file) : "";
        if (strcmp(b, "edgekey-pkcs11.so") == 0 && !f->ours[0])
            snprintf(f->ours, sizeof(f->ours), "'%s' (%s)", name ? name : "?", file);
        else if (strstr(b, "tpm2") != NULL) {
            size_t n = strlen(f->others);
            snprintf(f->others + n, sizeof(f->others) - n, "%s'%s' (%s)", n ? ", " : "",
                     name ? name : "?", file);
        }
        free(name);
        free(file);
    }
}

void dr_check_p11(dr_report *r)
{
    struct p11_found f = {{0}, {0}};
    CK_FUNCTION_LIST **mods = p11_kit_modules_load(NULL, P11_KIT_MODULE_UNMANAGED);
    look(mods, &f);
    if (mods)
        p11_kit_modules_release(mods);
    if (!f.ours[0])
        dr_add(r, "pkcs11", DR_WARN, 0,
               "install edgekey (meson install puts edgekey.module in p11-kit's module "
               "directory, " EK_P11_MODULE_CONFIGS "), or write a p11-kit module file with "
               "'module: edgekey-pkcs11.so'",
               "the edgekey PKCS#11 module is not registered with p11-kit: p11tool, gnutls-cli "
               "and p11-kit-proxy users do not see the TPM token (pkcs11-tool --module still "
               "works)");
    else
        dr_add(r, "pkcs11", DR_OK, 0, NULL, "registered with p11-kit as %s", f.ours);
    if (f.others[0])
        dr_add(r, "pkcs11-others", DR_WARN, 0,
               "unregister it unless you use it: remove its .module file from "
               "/usr/share/p11-kit/modules or add 'enable-in:' (empty) to it",
               "also registered: %s, which talks to the same TPM: every p11-kit program "
               "loads it, it shows its own token, and on a TPM without a resource manager it "
               "competes for the one connection",
               f.others);
}
