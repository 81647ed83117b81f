/* edgekey core: what the TPM is (for `edgekey info` and PKCS#11 token info).
 *
 * Public header: the faces include it. Only declarations marked EK_API are
 * exported from libedgekey-core.so (ek_export.h); the others are for core
 * and its tests.
 *
 * Ownership: results go into caller storage. Errors: EK_ERR_CONNECT (no
 * TPM), EK_ERR_TPM. Thread-safe; the TPM functions take the TPM lock. */
#ifndef EK_INFO_H
#define EK_INFO_H

#include <stdbool.h>
#include <stdint.h>
#include "ek_export.h"
#include "ek_error.h"
#include "ek_key.h"

typedef struct ek_tpm_info {
    char manufacturer[5];               /* "IBM", "INTC", ... */
    char vendor[17];                    /* vendor strings joined */
    uint32_t fw_major, fw_minor;        /* from FIRMWARE_VERSION_1 */
    uint32_t spec_level, spec_revision; /* revision x100 (164 = 1.64) */
    uint32_t spec_year;
    char tcti[512];
    bool alg_rsa2048, alg_rsa3072, alg_rsa4096, alg_p256, alg_p384, alg_pss;
    uint32_t transient_slots; /* TPM2_PT_HR_TRANSIENT_MIN */
    bool da_locked;           /* TPMA_PERMANENT inLockout */
    uint32_t da_failed, da_max, da_recovery_s, da_lockout_recovery_s;
    bool srk_persistent;  /* 0x81000001 exists */
    ek_pss_salt pss_salt; /* as probed, EK_PSS_SALT_UNKNOWN if not yet */
} ek_tpm_info;

EK_API ek_rc ek_tpm_get_info(ek_tpm_info *out);

/* The TPM's fixed facts (manufacturer, vendor, firmware and spec versions,
 * algorithms, transient slots) without a TPM command when the store's
 * cache file (<store>/.tpm-facts, core/facts.c) has them for the configured
 * TCTI; otherwise ek_tpm_get_info, and the file is (re)written atomically
 * (skipped on a read-only store). Only those fields are valid: da_*,
 * srk_persistent and pss_salt are not filled from the cache. Errors as
 * ek_tpm_get_info. */
EK_API ek_rc ek_tpm_get_facts(ek_tpm_info *out);

/* Probe PSS salt behaviour now: creates a transient RSA-2048 key, signs,
 * checks in software, flushes. Result cached for ek_tpm_pss_salt(). */
EK_API ek_rc ek_tpm_probe_pss(ek_pss_salt *out);

/* The TPM's clock (TPM2_ReadClock, one command, no session). clock_ms only
 * moves forward while the TPM is powered and cannot be set back by the OS;
 * it survives reboots on TPMs that persist it (NV), and reset_count /
 * restart_count tell a power cycle or a TPM reset from a plain read.
 * safe is false when the clock may have lost time (the TPM was not shut
 * down orderly since its last NV update). Errors: EK_ERR_CONNECT (no TPM),
 * EK_ERR_TPM (the command failed). */
typedef struct ek_tpm_clock {
    uint64_t clock_ms;      /* TPMS_CLOCK_INFO.clock: ms the TPM has been powered */
    uint64_t time_ms;       /* TPMS_TIME_INFO.time: ms since this TPM reset/restart */
    uint32_t reset_count;   /* TPM2_Startup(CLEAR) after a reset: +1 */
    uint32_t restart_count; /* TPM2_Startup(CLEAR) after a shutdown(STATE): +1 */
    bool safe;              /* clock not lost since the last orderly shutdown */
} ek_tpm_clock;

EK_API ek_rc ek_tpm_read_clock(ek_tpm_clock *out);

/* Can the TPM be used at all, and if not, at which step it fails (for
 * `edgekey doctor`). Connects if not connected, then sends one
 * TPM2_GetCapability WITHOUT the automatic TPM2_Startup the other calls do,
 * so a TPM nobody started is reported, not silently started. */
typedef enum ek_tpm_state {
    EK_TPM_UP = 0,       /* answered */
    EK_TPM_NO_TCTI,      /* the TCTI library named cannot be loaded (spelling, package) */
    EK_TPM_UNREACHABLE,  /* the TCTI loaded, but no TPM behind it (socket, device, bus) */
    EK_TPM_NOT_STARTED,  /* TPM_RC_INITIALIZE: nobody sent TPM2_Startup */
    EK_TPM_FAILURE_MODE, /* TPM_RC_FAILURE: failure mode, or a simulator never powered on */
    EK_TPM_ERROR,        /* another error answer */
} ek_tpm_state;

typedef struct ek_tpm_health {
    ek_tpm_state state;
    char tcti[512];     /* the TCTI string in use, the empty default resolved where core does */
    char tcti_name[64]; /* library part: "device", "tabrmd", "swtpm" ("" = loader default) */
    bool exclusive;     /* no resource manager: one process at a time (valid when UP) */
    uint32_t rc;        /* TSS2_RC of the failed step, 0 when UP */
    char detail[512];   /* the failed step and the decoded rc */
} ek_tpm_health;

/* Fills out; returns EK_OK whenever out says what happened (also for a
 * TPM that is down), EK_ERR_INVALID for a broken configuration. */
EK_API ek_rc ek_tpm_health_check(ek_tpm_health *out);

#endif
