/* edgekey core: TSS2_RC -> ek_rc with a message that says what to do.
 *
 * Pure: no connection state. tpm.c's ek_tpm_rc() adds what the connection
 * must learn from a code (broken: reconnect; stale: objects gone). */
#include <string.h>

#include <tss2/tss2_rc.h>

#include "ek_tpm_int.h"

bool ek_tpm_rc_is_io(TSS2_RC rc)
{
    TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;
    if (layer == TSS2_TCTI_RC_LAYER)
        return true;
    if (layer != TSS2_ESAPI_RC_LAYER && layer != TSS2_SYS_RC_LAYER)
        return false;
    switch (rc & ~TSS2_RC_LAYER_MASK) {
    case TSS2_BASE_RC_IO_ERROR:
    case TSS2_BASE_RC_NO_CONNECTION:
    case TSS2_BASE_RC_TRY_AGAIN:
    case TSS2_BASE_RC_MALFORMED_RESPONSE:
    case TSS2_BASE_RC_INSUFFICIENT_RESPONSE:
    case TSS2_BASE_RC_BAD_SEQUENCE:
    case TSS2_BASE_RC_BAD_TCTI_STRUCTURE:
    case TSS2_BASE_RC_INCOMPATIBLE_TCTI:
        return true;
    default:
        return false;
    }
}

/* The TPM's own code without the handle/session/parameter number. */
static TSS2_RC tpm_base(TSS2_RC rc)
{
    rc &= 0xffff;
    return (rc & TPM2_RC_FMT1) ? (rc & (TPM2_RC_FMT1 | 0x3f)) : (rc & 0x97f);
}

static ek_rc map_tpm(TSS2_RC rc, const char *what, const char *dec)
{
    switch (tpm_base(rc)) {
    case TPM2_RC_AUTH_FAIL:
    case TPM2_RC_BAD_AUTH:
        return ek_error(EK_ERR_AUTH,
                        "%s: wrong authorization value (%s); give the key's correct auth "
                        "value (PIN)",
                        what, dec);
    case TPM2_RC_LOCKOUT:
        return ek_error(EK_ERR_LOCKOUT,
                        "%s: the TPM is in dictionary-attack lockout (%s); wait for the "
                        "recovery time (see `edgekey info`) or reset it with "
                        "`tpm2_dictionarylockout -c`",
                        what, dec);
    case TPM2_RC_NV_DEFINED:
        return ek_error(EK_ERR_EXISTS,
                        "%s: handle already in use (%s); evict it first or "
                        "choose another handle",
                        what, dec);
    case TPM2_RC_OBJECT_MEMORY:
    case TPM2_RC_SESSION_MEMORY:
    case TPM2_RC_OBJECT_HANDLES:
    case TPM2_RC_SESSION_HANDLES:
        return ek_error(EK_ERR_TPM,
                        "%s: the TPM is out of object or session slots (%s); "
                        "another program may hold them: use a resource manager "
                        "(tpm2-abrmd or /dev/tpmrm0)",
                        what, dec);
    case TPM2_RC_INTEGRITY:
        return ek_error(EK_ERR_INVALID,
                        "%s: integrity check failed (%s): the key blob was "
                        "made by another TPM or under another parent",
                        what, dec);
    case TPM2_RC_HANDLE:
        return ek_error(EK_ERR_NOT_FOUND, "%s: no such object in the TPM (%s)", what, dec);
    case TPM2_RC_KEY_SIZE:
    case TPM2_RC_CURVE:
    case TPM2_RC_SCHEME:
    case TPM2_RC_HASH:
    case TPM2_RC_ASYMMETRIC:
        return ek_error(EK_ERR_UNSUPPORTED, "%s: this TPM does not support the request (%s)", what,
                        dec);
    case TPM2_RC_RETRY:
    case TPM2_RC_YIELDED:
    case TPM2_RC_TESTING:
    case TPM2_RC_NV_RATE:
        return ek_error(EK_ERR_TPM, "%s: the TPM stayed busy (%s); try again later", what, dec);
    default:
        return ek_error(EK_ERR_TPM, "%s failed: %s", what, dec);
    }
}

/* TPM_RC_FAILURE: a chip in failure mode, or, far more often, a swtpm that
 * was never initialised: without --flags not-need-init it answers every
 * command with 0x101 until CMD_INIT arrives on its control channel, which
 * its TCTI never sends (tpm2_startup cannot help either). A TPM that is
 * initialised but not started answers TPM_RC_INITIALIZE, and tpm.c sends
 * TPM2_Startup(CLEAR) then, as a chip's firmware would. */
static ek_rc not_started(const char *what, const char *dec, const char *tcti)
{
    if (tcti && strncmp(ek_tcti_target(tcti), "swtpm", 5) == 0)
        return ek_error(EK_ERR_TPM,
                        "%s: the TPM was not started (%s): this swtpm was not initialised; "
                        "start it with `swtpm socket --tpm2 ... --flags "
                        "not-need-init,startup-clear`, or initialise the running one with "
                        "`swtpm_ioctl -i --tcp 127.0.0.1:CTRL_PORT` (the port after "
                        "--ctrl); `edgekey doctor` checks the set-up",
                        what, dec);
    return ek_error(EK_ERR_TPM,
                    "%s: the TPM was not started or is in failure mode (%s); a simulator needs "
                    "its power-on/init (swtpm: --flags not-need-init,startup-clear) and "
                    "`tpm2_startup -c`; a chip in failure mode needs a reboot (check "
                    "`tpm2_gettestresult`); `edgekey doctor` checks the set-up",
                    what, dec);
}

bool ek_tpm_rc_is_stale(TSS2_RC rc)
{
    TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;
    return (layer == TSS2_TPM_RC_LAYER || layer == TSS2_RESMGR_TPM_RC_LAYER) &&
           (rc & 0xff0) == TPM2_RC_REFERENCE_H0;
}

ek_rc ek_tss2_rc_error(TSS2_RC rc, const char *what, const char *tcti)
{
    if (rc == TSS2_RC_SUCCESS)
        return EK_OK;
    const char *dec = Tss2_RC_Decode(rc);
    if (ek_tpm_rc_is_io(rc)) {
        return ek_error(EK_ERR_CONNECT,
                        "%s: lost the TPM connection on TCTI \"%s\" (%s); check that the TPM "
                        "(swtpm, tpm2-abrmd) is still running; the next operation reconnects",
                        what, tcti && tcti[0] ? tcti : "(default)", dec);
    }
    TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;
    if (ek_tpm_rc_is_stale(rc)) {
        /* REFERENCE_H0..S6: something we loaded is gone. The TPM was reset
         * (swtpm's TCTI reconnects silently) or someone flushed it. */
        return ek_error(EK_ERR_TPM,
                        "%s: an object or session this program loaded is no longer "
                        "in the TPM (%s): the TPM was restarted or another program flushed it; "
                        "the next operation reconnects",
                        what, dec);
    }
    if (layer == TSS2_TPM_RC_LAYER && tpm_base(rc) == TPM2_RC_FAILURE)
        return not_started(what, dec, tcti);
    if (layer == TSS2_TPM_RC_LAYER || layer == TSS2_RESMGR_TPM_RC_LAYER)
        return map_tpm(rc, what, dec);
    if ((rc & ~TSS2_RC_LAYER_MASK) == TSS2_BASE_RC_MEMORY)
        return ek_error(EK_ERR_NOMEM, "%s: out of memory (%s)", what, dec);
    if ((rc & ~TSS2_RC_LAYER_MASK) == TSS2_BASE_RC_RSP_AUTH_FAILED)
        return ek_error(EK_ERR_TPM,
                        "%s: the TPM's response HMAC did not verify (%s): "
                        "something between us and the TPM altered it",
                        what, dec);
    return ek_error(EK_ERR_TPM, "%s failed: %s", what, dec);
}

bool ek_tpm_rc_is(TSS2_RC rc, TSS2_RC code)
{
    TSS2_RC layer = rc & TSS2_RC_LAYER_MASK;
    if (layer != TSS2_TPM_RC_LAYER && layer != TSS2_RESMGR_TPM_RC_LAYER)
        return false;
    return tpm_base(rc) == code;
}
