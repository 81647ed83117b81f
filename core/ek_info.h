/* edgekey core: what the TPM is (for `edgekey info` and PKCS#11 token info). */
#ifndef EK_INFO_H
#define EK_INFO_H

#include <stdbool.h>
#include <stdint.h>
#include "ek_error.h"
#include "ek_key.h"

typedef struct ek_tpm_info {
    char manufacturer[5];   /* "IBM", "INTC", ... */
    char vendor[17];        /* vendor strings joined */
    uint32_t fw_major, fw_minor;  /* from FIRMWARE_VERSION_1 */
    uint32_t spec_level, spec_revision; /* revision x100 (164 = 1.64) */
    uint32_t spec_year;
    char tcti[512];
    bool alg_rsa2048, alg_rsa3072, alg_rsa4096, alg_p256, alg_p384, alg_pss;
    uint32_t transient_slots;  /* TPM2_PT_HR_TRANSIENT_MIN */
    bool da_locked;            /* TPMA_PERMANENT inLockout */
    uint32_t da_failed, da_max, da_recovery_s, da_lockout_recovery_s;
    bool srk_persistent;       /* 0x81000001 exists */
    ek_pss_salt pss_salt;      /* as probed, EK_PSS_SALT_UNKNOWN if not yet */
} ek_tpm_info;

ek_rc ek_tpm_get_info(ek_tpm_info *out);

/* Probe PSS salt behaviour now: creates a transient RSA-2048 key, signs,
 * checks in software, flushes. Result cached for ek_tpm_pss_salt(). */
ek_rc ek_tpm_probe_pss(ek_pss_salt *out);

#endif
