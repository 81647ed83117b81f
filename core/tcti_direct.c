/* edgekey core: opening a TCTI module without the TCTI loader (tpm.c).
 *
 * Why: libtss2-tctildr costs every process that talks to the TPM a library
 * to map, then probes the configured name as a file and as several library
 * names before it opens libtss2-tcti-<name>.so.0 (about 0.25 ms, a tenth of
 * a PKCS#11 login). For the usual "name" or "name:config" we open that
 * library ourselves and call its Tss2_Tcti_Info()->init, as the loader
 * would. An empty configuration (the loader's own search: tabrmd,
 * /dev/tpmrm0, /dev/tpm0, ...), a library path or file name, or a module we
 * cannot open is left to the loader, which keeps its error messages. The
 * module is never closed: the context may outlive any point where we could. */
#include <ctype.h>
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tss2/tss2_tcti.h>

#include "ek_tpm_int.h"

#define NAME_MAX_LEN 32

/* "swtpm:host=..." -> "swtpm", config "host=..."; false if not of that form. */
static bool split_conf(const char *conf, char name[NAME_MAX_LEN + 1], const char **args)
{
    size_t n = 0;
    while (conf[n] && conf[n] != ':') {
        if (n == NAME_MAX_LEN || !(isalnum((unsigned char)conf[n]) || conf[n] == '-' ||
                                   conf[n] == '_'))
            return false;
        name[n] = conf[n];
        n++;
    }
    name[n] = '\0';
    *args = conf[n] == ':' && conf[n + 1] ? conf + n + 1 : NULL;
    return n > 0;
}

static const TSS2_TCTI_INFO *module_info(const char *name)
{
    char soname[NAME_MAX_LEN + 32];
    snprintf(soname, sizeof(soname), "libtss2-tcti-%s.so.0", name);
    void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    TSS2_TCTI_INFO_FUNC info = NULL;
    if (h)
        *(void **)&info = dlsym(h, TSS2_TCTI_INFO_SYMBOL);
    return info ? info() : NULL;
}

TSS2_RC ek_tcti_direct_open(const char *conf, TSS2_TCTI_CONTEXT **out)
{
    char name[NAME_MAX_LEN + 1];
    const char *args = NULL;
    const TSS2_TCTI_INFO *info;
    size_t size = 0;
    *out = NULL;
    if (!conf || !split_conf(conf, name, &args) || !(info = module_info(name)) || !info->init)
        return TSS2_TCTI_RC_NOT_IMPLEMENTED; /* the loader's turn */
    TSS2_RC rc = info->init(NULL, &size, args);
    TSS2_TCTI_CONTEXT *ctx = rc ? NULL : calloc(1, size);
    if (!rc && !ctx)
        rc = TSS2_TCTI_RC_MEMORY;
    if (!rc)
        rc = info->init(ctx, &size, args);
    if (rc) {
        free(ctx);
        return rc;
    }
    *out = ctx;
    return TSS2_RC_SUCCESS;
}

void ek_tcti_direct_close(TSS2_TCTI_CONTEXT *ctx)
{
    if (!ctx)
        return;
    Tss2_Tcti_Finalize(ctx);
    free(ctx);
}
