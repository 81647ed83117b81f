/* edgekey core: which TCTI a configuration string means, and why it could
 * not be loaded (ek_tpm_int.h). TCTI strings are read here and nowhere else.
 *
 * An empty configuration is resolved here, not by tpm2-tss's loader: the
 * loader tries tabrmd first, whose GLib D-Bus code prints "** CRITICAL **"
 * on a machine without tpm2-abrmd and starts a thread a forked child cannot
 * use (tpm.c). We take /dev/tpmrm0, then /dev/tpm0; tpm2-abrmd is used only
 * when named (tabrmd:). A distribution's libtss2-tcti-default.so still wins,
 * as it does in the loader. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "ek_tpm_int.h"

#define TCTI_PREFIX "libtss2-tcti-"
#define TCTI_FIX                                                                                   \
    "set the TCTI with --tcti, EDGEKEY_TCTI or tcti = in the edgekey configuration "               \
    "(device:/dev/tpmrm0 for a TPM chip, tabrmd: for tpm2-abrmd, "                                 \
    "swtpm:host=127.0.0.1,port=2321 for swtpm); `edgekey doctor` checks the set-up"

const char *ek_tcti_target(const char *conf)
{
    return strncmp(conf, "pcap:", 5) == 0 ? conf + 5 : conf; /* wraps another TCTI */
}

void ek_tcti_name(const char *conf, char *out, size_t size)
{
    conf = ek_tcti_target(conf);
    size_t n = strcspn(conf, ":");
    if (n >= size)
        n = size - 1;
    memcpy(out, conf, n);
    out[n] = '\0';
}

bool ek_tcti_exclusive(const char *conf)
{
    conf = ek_tcti_target(conf);
    if (strncmp(conf, "tabrmd", 6) == 0 || strstr(conf, "tcti-tabrmd"))
        return false;
    if (strncmp(conf, "device", 6) == 0 || strstr(conf, "tcti-device"))
        return strstr(conf, "tpmrm") == NULL;
    return true;
}

bool ek_tcti_gdbus(const char *conf)
{
    conf = ek_tcti_target(conf);
    return strncmp(conf, "tabrmd", 6) == 0 || strstr(conf, "tcti-tabrmd") != NULL;
}

/* The directory tpm2-tss's loader was installed in, where its TCTIs are. */
static const char *tcti_dir(char *buf, size_t size)
{
    Dl_info info;
    if (!dladdr((void *)Tss2_TctiLdr_Initialize, &info) || !info.dli_fname)
        return NULL;
    snprintf(buf, size, "%s", info.dli_fname);
    char *slash = strrchr(buf, '/');
    if (!slash)
        return NULL;
    *slash = '\0';
    return buf;
}

/* "libtss2-tcti-swtpm.so.0" -> "swtpm"; NULL for anything else. */
static const char *tcti_name_of(const char *file, char *name, size_t size)
{
    if (strncmp(file, TCTI_PREFIX, strlen(TCTI_PREFIX)) != 0)
        return NULL;
    file += strlen(TCTI_PREFIX);
    size_t n = strcspn(file, ".");
    if (n == 0 || n >= size || strncmp(file + n, ".so", 3) != 0 || strncmp(file, "ldr", n) == 0)
        return NULL;
    memcpy(name, file, n);
    name[n] = '\0';
    return name;
}

/* The TCTI names installed beside the loader ("cmd, device, ..."), each once. */
static void installed_names(const char *dir, char *out, size_t size)
{
    out[0] = '\0';
    DIR *d = dir ? opendir(dir) : NULL;
    if (!d)
        return;
    struct dirent *e;
    char name[64], key[72];
    while ((e = readdir(d)) != NULL) {
        if (!tcti_name_of(e->d_name, name, sizeof(name)))
            continue;
        snprintf(key, sizeof(key), " %s,", name);
        size_t used = strlen(out);
        if (!strstr(out, key) && used + strlen(key) < size)
            memcpy(out + used, key, strlen(key) + 1);
    }
    closedir(d);
}

bool ek_tcti_default_installed(void)
{
    char dir[512], path[600];
    if (!tcti_dir(dir, sizeof(dir)))
        return false;
    snprintf(path, sizeof(path), "%s/" TCTI_PREFIX "default.so", dir);
    return access(path, R_OK) == 0;
}

/* How a device node looks to this process, for the message. */
static const char *node_state(const char *path)
{
    if (access(path, R_OK | W_OK) == 0)
        return "usable";
    if (errno == ENOENT)
        return "absent";
    return "present but not readable and writable by this user (add the user to the "
           "group owning it, usually tss)";
}

ek_rc ek_tcti_choose(const char *cfg, char *out, size_t size)
{
    static const char *const nodes[] = {"/dev/tpmrm0", "/dev/tpm0"};
    if (cfg[0] || ek_tcti_default_installed()) {
        snprintf(out, size, "%s", cfg);
        return EK_OK;
    }
    for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
        if (access(nodes[i], R_OK | W_OK) == 0) {
            snprintf(out, size, "device:%s", nodes[i]);
            return EK_OK;
        }
    }
    out[0] = '\0';
    char rm[200], raw[200];
    snprintf(rm, sizeof(rm), "%s", node_state(nodes[0]));
    snprintf(raw, sizeof(raw), "%s", node_state(nodes[1]));
    return ek_error(EK_ERR_CONNECT,
                    "no TPM connection configured and none found: tried --tcti, EDGEKEY_TCTI and "
                    "tcti = in the configuration (all unset), /dev/tpmrm0 (%s) and /dev/tpm0 "
                    "(%s); %s",
                    rm, raw, TCTI_FIX);
}

/* The TCTI name of a configuration string ("swtpm" of "swtpm:port=1"), or
 * "" when it names a library by path (the loader's other form). */
static void conf_name(const char *conf, char *name, size_t size)
{
    size_t n = strcspn(conf, ":");
    name[0] = '\0';
    if (n == 0 || n >= size || memchr(conf, '/', n))
        return;
    memcpy(name, conf, n);
    name[n] = '\0';
    char bare[64];
    if (tcti_name_of(name, bare, sizeof(bare)))
        snprintf(name, size, "%s", bare);
}

ek_rc ek_tcti_load_error(TSS2_RC rc, const char *conf, const char *step)
{
    char dir[512], names[512], name[64], key[72];
    const char *where = tcti_dir(dir, sizeof(dir));
    installed_names(where, names, sizeof(names));
    conf_name(conf, name, sizeof(name));
    snprintf(key, sizeof(key), " %s,", name);
    if (name[0] && names[0] && !strstr(names, key)) {
        size_t n = strlen(names);
        names[n - 1] = '\0'; /* the last comma */
        return ek_error(EK_ERR_CONNECT,
                        "TCTI \"%s\": there is no TCTI named \"%s\"; the installed ones "
                        "(" TCTI_PREFIX "*.so in %s) are:%s; %s",
                        conf, name, where, names, TCTI_FIX);
    }
    return ek_error(EK_ERR_CONNECT,
                    "cannot reach the TPM through TCTI \"%s\" (%s: %s); check that the TPM "
                    "is there (swtpm or tpm2-abrmd running, /dev/tpmrm0 accessible), or %s",
                    conf[0] ? conf : "(tpm2-tss default)", step, Tss2_RC_Decode(rc), TCTI_FIX);
}
