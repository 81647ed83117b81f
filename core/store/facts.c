/* edgekey core: the TPM's fixed facts, cached in the store (ek_info.h).
 *
 * Why: PKCS#11 slot and token info, the mechanism list and the key budget
 * of a direct TCTI need the TPM's manufacturer, firmware, algorithms and
 * transient slots. Asking costs 8-9 commands (GetCapability x5-6, TestParms
 * x3), which a client paid in every process before its login. These facts
 * never change for a TPM, so the first process writes them to
 * <store>/.tpm-facts (atomically: temp file, fsync, rename) and later ones
 * read the file. The file names the TCTI it was read through and is ignored
 * (and rewritten) when the TCTI differs, when it is missing or unreadable.
 * A read-only store simply asks the TPM every time. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ek_config.h"
#include "ek_info.h"
#include "ek_log.h"
#include "ek_store.h"
#include "ek_store_int.h"
#include "ek_tpm_int.h"

#define FACTS_FILE ".tpm-facts"
#define FACTS_MAGIC "EKFACTS1"
#define FACTS_MAX 4096

static int root_fd(void)
{
    const char *root = ek_store_root();
    return root ? open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC) : -1;
}

/* The TCTI the facts belong to; tpm2-tss's capture wrapper "pcap:" reaches
 * the same TPM, so it does not count. */
static const char *cfg_tcti(void)
{
    const ek_config *cfg = ek_config_get();
    return ek_tcti_target(cfg ? cfg->tcti : "");
}

static bool kv_u32(const char *text, const char *key, uint32_t *out)
{
    char v[32], *end;
    if (ek_kv_get(text, key, v, sizeof(v)) != EK_OK)
        return false;
    unsigned long n = strtoul(v, &end, 0);
    if (end == v || *end || n > 0xffffffffUL)
        return false;
    *out = (uint32_t)n;
    return true;
}

static bool kv_flag(const char *text, const char *key, bool *out)
{
    uint32_t v;
    if (!kv_u32(text, key, &v) || v > 1)
        return false;
    *out = v != 0;
    return true;
}

/* Parse the file; false if anything is missing or it is for another TCTI. */
static bool facts_parse(const char *text, ek_tpm_info *o)
{
    char magic[16], tcti[sizeof(o->tcti)];
    memset(o, 0, sizeof(*o));
    if (ek_kv_get(text, "format", magic, sizeof(magic)) != EK_OK || strcmp(magic, FACTS_MAGIC))
        return false;
    if (ek_kv_get(text, "tcti", tcti, sizeof(tcti)) == EK_ERR_BUFFER_TOO_SMALL)
        return false;
    if (ek_kv_get(text, "tcti", tcti, sizeof(tcti)) != EK_OK)
        tcti[0] = '\0'; /* empty value: the loader's default */
    if (strcmp(tcti, cfg_tcti()) != 0)
        return false;
    if (ek_kv_get(text, "manufacturer", o->manufacturer, sizeof(o->manufacturer)) != EK_OK)
        o->manufacturer[0] = '\0';
    if (ek_kv_get(text, "vendor", o->vendor, sizeof(o->vendor)) != EK_OK)
        o->vendor[0] = '\0';
    snprintf(o->tcti, sizeof(o->tcti), "%s", tcti);
    o->pss_salt = EK_PSS_SALT_UNKNOWN;
    return kv_u32(text, "fw_major", &o->fw_major) && kv_u32(text, "fw_minor", &o->fw_minor) &&
           kv_u32(text, "spec_level", &o->spec_level) &&
           kv_u32(text, "spec_revision", &o->spec_revision) &&
           kv_u32(text, "spec_year", &o->spec_year) &&
           kv_u32(text, "transient_slots", &o->transient_slots) &&
           kv_flag(text, "rsa2048", &o->alg_rsa2048) && kv_flag(text, "rsa3072", &o->alg_rsa3072) &&
           kv_flag(text, "rsa4096", &o->alg_rsa4096) && kv_flag(text, "p256", &o->alg_p256) &&
           kv_flag(text, "p384", &o->alg_p384) && kv_flag(text, "pss", &o->alg_pss);
}

static bool facts_read(ek_tpm_info *o)
{
    int dfd = root_fd();
    char *text = NULL;
    size_t len = 0;
    bool ok = dfd >= 0 && ek_io_read_at(dfd, FACTS_FILE, FACTS_MAX, &text, &len) == EK_OK &&
              facts_parse(text, o);
    free(text);
    if (dfd >= 0)
        close(dfd);
    ek_clear_error();
    return ok;
}

/* Values with a newline or '=' trouble would not read back: such a vendor
 * string is dropped from the file (it is cosmetic). */
static const char *clean(const char *s)
{
    return strpbrk(s, "\n\r") ? "" : s;
}

static void facts_write(const ek_tpm_info *o)
{
    char text[FACTS_MAX];
    int n = snprintf(text, sizeof(text),
                     "format = %s\n"
                     "# the TPM's fixed facts, read once (core/facts.c); delete to re-read\n"
                     "tcti = %s\nmanufacturer = %s\nvendor = %s\nfw_major = %u\nfw_minor = %u\n"
                     "spec_level = %u\nspec_revision = %u\nspec_year = %u\n"
                     "transient_slots = %u\nrsa2048 = %d\nrsa3072 = %d\nrsa4096 = %d\n"
                     "p256 = %d\np384 = %d\npss = %d\n",
                     FACTS_MAGIC, clean(cfg_tcti()), clean(o->manufacturer), clean(o->vendor),
                     o->fw_major, o->fw_minor, o->spec_level, o->spec_revision, o->spec_year,
                     o->transient_slots, o->alg_rsa2048, o->alg_rsa3072, o->alg_rsa4096,
                     o->alg_p256, o->alg_p384, o->alg_pss);
    int dfd = root_fd();
    if (n <= 0 || (size_t)n >= sizeof(text) || dfd < 0 || strpbrk(cfg_tcti(), "\n\r")) {
        if (dfd >= 0)
            close(dfd);
        return;
    }
    if (ek_io_write_at(dfd, FACTS_FILE, text, (size_t)n, 0644) != EK_OK)
        ek_log(EK_LOG_DEBUG, "TPM facts not cached: %s", ek_last_error()); /* read-only store */
    close(dfd);
    ek_clear_error();
}

ek_rc ek_tpm_get_facts(ek_tpm_info *out)
{
    if (facts_read(out))
        return EK_OK;
    ek_rc rc = ek_tpm_get_info(out);
    if (rc == EK_OK && out->transient_slots)
        facts_write(out);
    return rc;
}
