/* edgekey core: is the TPM usable, and if not, where it stops
 * (ek_tpm_health_check in ek_info.h, for `edgekey doctor`). One connect and
 * one TPM2_GetCapability sent without ek_tpm_startup_if_needed, so a TPM
 * that was never started is reported instead of started. */
#include <stdio.h>
#include <string.h>

#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "ek_config.h"
#include "ek_info.h"
#include "ek_tpm_int.h"

/* The loader failed: a library that does not exist is a different fix
 * (spelling, package) from a TPM that is not there. */
static void connect_failed(ek_tpm_health *out)
{
    bool tcti_step = false;
    TSS2_RC rc = ek_tpm_connect_error(&tcti_step);
    out->rc = rc;
    out->state = EK_TPM_UNREACHABLE;
    if (tcti_step && out->tcti_name[0]) {
        TSS2_TCTI_INFO *info = NULL;
        if (Tss2_TctiLdr_GetInfo(out->tcti_name, &info) != TSS2_RC_SUCCESS)
            out->state = EK_TPM_NO_TCTI;
        Tss2_TctiLdr_FreeInfo(&info);
    }
    if (rc == TSS2_RC_SUCCESS) /* refused before connecting (a forked tabrmd child) */
        snprintf(out->detail, sizeof(out->detail), "%s", ek_last_error());
    else
        snprintf(out->detail, sizeof(out->detail), "%s: %s",
                 tcti_step ? "TCTI initialisation" : "ESYS initialisation", Tss2_RC_Decode(rc));
}

static ek_tpm_state state_of(TSS2_RC rc)
{
    if (rc == TSS2_RC_SUCCESS)
        return EK_TPM_UP;
    if (ek_tpm_rc_is_io(rc))
        return EK_TPM_UNREACHABLE;
    if (rc == TPM2_RC_INITIALIZE)
        return EK_TPM_NOT_STARTED;
    if (rc == TPM2_RC_FAILURE)
        return EK_TPM_FAILURE_MODE;
    return EK_TPM_ERROR;
}

ek_rc ek_tpm_health_check(ek_tpm_health *out)
{
    memset(out, 0, sizeof(*out));
    if (ek_config_get() == NULL)
        return EK_ERR_INVALID;
    ek_rc r = ek_tpm_lock(NULL);
    snprintf(out->tcti, sizeof(out->tcti), "%s", ek_tpm_tcti());
    ek_tcti_name(out->tcti, out->tcti_name, sizeof(out->tcti_name));
    if (r == EK_ERR_CONNECT) {
        connect_failed(out);
        ek_clear_error(); /* reported in out, not as a failure of this call */
        return EK_OK;
    }
    if (r != EK_OK) { /* the message stays for the caller */
        snprintf(out->detail, sizeof(out->detail), "%s", ek_last_error());
        return r;
    }
    out->exclusive = ek_tpm_exclusive();
    TPMS_CAPABILITY_DATA *cd = NULL;
    TPMI_YES_NO more = TPM2_NO;
    TSS2_RC rc = Esys_GetCapability(ek_tpm_ctx(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                    TPM2_CAP_TPM_PROPERTIES, TPM2_PT_PERMANENT, 1, &more, &cd);
    Esys_Free(cd);
    if (ek_tpm_rc_is_io(rc))
        ek_tpm_mark_broken();
    out->rc = rc;
    out->state = state_of(rc);
    if (rc)
        snprintf(out->detail, sizeof(out->detail), "TPM2_GetCapability: %s", Tss2_RC_Decode(rc));
    ek_tpm_unlock();
    return EK_OK;
}
