/* edgekey core: what the TPM is (ek_info.h), for `edgekey info` and the
 * PKCS#11 token info. A handful of GetCapability calls and three TestParms
 * (RSA key sizes), only when asked: never on the signing path. */
#include <stdio.h>
#include <string.h>

#include "ek_info.h"
#include "ek_log.h"
#include "ek_tpm_int.h"

static TSS2_RC get_cap(TPM2_CAP cap, UINT32 prop, UINT32 count, TPMS_CAPABILITY_DATA *out)
{
    return ek_tpm_get_cap(cap, prop, count, out, NULL);
}

static void put_chars(char *dst, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        char c = (char)(v >> (24 - 8 * i));
        if (c >= 0x20 && c < 0x7f)
            *dst++ = c;
    }
    *dst = '\0';
}

static void fixed_prop(ek_tpm_info *o, TPM2_PT p, uint32_t v)
{
    switch (p) {
    case TPM2_PT_LEVEL:
        o->spec_level = v;
        break;
    case TPM2_PT_REVISION:
        o->spec_revision = v;
        break;
    case TPM2_PT_YEAR:
        o->spec_year = v;
        break;
    case TPM2_PT_MANUFACTURER:
        put_chars(o->manufacturer, v);
        break;
    case TPM2_PT_VENDOR_STRING_1:
    case TPM2_PT_VENDOR_STRING_2:
    case TPM2_PT_VENDOR_STRING_3:
    case TPM2_PT_VENDOR_STRING_4:
        put_chars(o->vendor + strlen(o->vendor), v);
        break;
    case TPM2_PT_FIRMWARE_VERSION_1:
        o->fw_major = v >> 16;
        o->fw_minor = v & 0xffff;
        break;
    case TPM2_PT_HR_TRANSIENT_MIN:
        o->transient_slots = v;
        break;
    case TPM2_PT_PERMANENT:
        o->da_locked = (v & TPMA_PERMANENT_INLOCKOUT) != 0;
        break;
    case TPM2_PT_LOCKOUT_COUNTER:
        o->da_failed = v;
        break;
    case TPM2_PT_MAX_AUTH_FAIL:
        o->da_max = v;
        break;
    case TPM2_PT_LOCKOUT_INTERVAL:
        o->da_recovery_s = v;
        break;
    case TPM2_PT_LOCKOUT_RECOVERY:
        o->da_lockout_recovery_s = v;
        break;
    default:
        break;
    }
}

static TSS2_RC read_props(ek_tpm_info *o)
{
    static const TPM2_PT ranges[][2] = {{TPM2_PT_FIXED, 64}, {TPM2_PT_VAR, 32}};
    for (size_t r = 0; r < 2; r++) {
        TPMS_CAPABILITY_DATA cap;
        TSS2_RC rc = get_cap(TPM2_CAP_TPM_PROPERTIES, ranges[r][0], ranges[r][1], &cap);
        for (UINT32 i = 0; !rc && i < cap.data.tpmProperties.count; i++)
            fixed_prop(o, cap.data.tpmProperties.tpmProperty[i].property,
                       cap.data.tpmProperties.tpmProperty[i].value);
        if (rc)
            return rc;
    }
    return TSS2_RC_SUCCESS;
}

static TSS2_RC read_algs(ek_tpm_info *o, bool *rsa)
{
    TPMS_CAPABILITY_DATA cap;
    TSS2_RC rc = get_cap(TPM2_CAP_ALGS, TPM2_ALG_FIRST, 64, &cap);
    for (UINT32 i = 0; !rc && i < cap.data.algorithms.count; i++) {
        TPM2_ALG_ID a = cap.data.algorithms.algProperties[i].alg;
        *rsa = *rsa || a == TPM2_ALG_RSA;
        o->alg_pss = o->alg_pss || a == TPM2_ALG_RSAPSS;
    }
    if (!rc)
        rc = get_cap(TPM2_CAP_ECC_CURVES, TPM2_ECC_NONE, 64, &cap);
    for (UINT32 i = 0; !rc && i < cap.data.eccCurves.count; i++) {
        o->alg_p256 = o->alg_p256 || cap.data.eccCurves.eccCurves[i] == TPM2_ECC_NIST_P256;
        o->alg_p384 = o->alg_p384 || cap.data.eccCurves.eccCurves[i] == TPM2_ECC_NIST_P384;
    }
    return rc;
}

/* TestParms: an error answer (VALUE, KEY_SIZE) just means "no". */
static bool rsa_size_ok(uint16_t bits)
{
    TPMT_PUBLIC_PARMS p = {.type = TPM2_ALG_RSA};
    p.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
    p.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
    p.parameters.rsaDetail.keyBits = bits;
    TSS2_RC rc = Esys_TestParms(ek_tpm_ctx(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &p);
    if (ek_tpm_rc_is_io(rc))
        ek_tpm_mark_broken();
    return rc == TSS2_RC_SUCCESS;
}

static TSS2_RC srk_persistent(bool *present)
{
    TPMS_CAPABILITY_DATA cap;
    TSS2_RC rc = get_cap(TPM2_CAP_HANDLES, EK_SRK_HANDLE, 1, &cap);
    *present = !rc && cap.data.handles.count >= 1 && cap.data.handles.handle[0] == EK_SRK_HANDLE;
    return rc;
}

ek_rc ek_tpm_get_info(ek_tpm_info *out)
{
    memset(out, 0, sizeof(*out));
    ek_rc r = ek_tpm_lock(NULL);
    if (r != EK_OK)
        return r;
    bool rsa = false;
    TSS2_RC rc = read_props(out);
    if (!rc)
        rc = read_algs(out, &rsa);
    if (!rc)
        rc = srk_persistent(&out->srk_persistent);
    if (!rc && rsa) {
        out->alg_rsa2048 = rsa_size_ok(2048);
        out->alg_rsa3072 = rsa_size_ok(3072);
        out->alg_rsa4096 = rsa_size_ok(4096);
    }
    snprintf(out->tcti, sizeof(out->tcti), "%s", ek_tpm_tcti());
    out->pss_salt = ek_tpm_pss_salt();
    r = ek_tpm_rc(rc, "reading the TPM's capabilities (TPM2_GetCapability)");
    ek_tpm_unlock();
    return r;
}

ek_rc ek_tpm_probe_pss(ek_pss_salt *out)
{
    if (ek_tpm_pss_salt() != EK_PSS_SALT_UNKNOWN) {
        *out = ek_tpm_pss_salt();
        return EK_OK;
    }
    ek_keygen_spec spec = {.alg = EK_ALG_RSA, .bits = 2048};
    ek_key *k = NULL;
    ek_rc r = ek_key_generate_probe(&spec, &k);
    if (r != EK_OK)
        return r;
    unsigned char dg[32] = "edgekey RSA-PSS salt probe", sig[512];
    size_t slen = sizeof(sig);
    r = ek_key_sign(k, EK_SIG_RSA_PSS, EK_MD_SHA256, dg, sizeof(dg), EK_ECDSA_DER, sig, &slen);
    ek_key_free(k);
    if (r != EK_OK && ek_tpm_pss_salt() == EK_PSS_SALT_UNKNOWN)
        return r;
    ek_clear_error();
    *out = ek_tpm_pss_salt();
    return EK_OK;
}

ek_rc ek_tpm_read_clock(ek_tpm_clock *out)
{
    memset(out, 0, sizeof(*out));
    ek_rc r = ek_tpm_lock(NULL);
    if (r != EK_OK)
        return r;
    TPMS_TIME_INFO *ti = NULL;
    /* No session: ReadClock takes none and its answer is public. */
    TSS2_RC rc = Esys_ReadClock(ek_tpm_ctx(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &ti);
    if (ek_tpm_startup_if_needed(rc))
        rc = Esys_ReadClock(ek_tpm_ctx(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &ti);
    if (!rc) {
        out->clock_ms = ti->clockInfo.clock;
        out->time_ms = ti->time;
        out->reset_count = ti->clockInfo.resetCount;
        out->restart_count = ti->clockInfo.restartCount;
        out->safe = ti->clockInfo.safe == TPM2_YES;
    }
    Esys_Free(ti);
    r = ek_tpm_rc(rc, "reading the TPM clock (TPM2_ReadClock)");
    ek_tpm_unlock();
    return r;
}
