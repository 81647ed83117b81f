/* edgekey doctor: the TPM checks. TCTI configured and reachable, TPM
 * started, resource manager or exclusive TCTI, dictionary-attack lockout,
 * and the optional sign test. TPM facts come from core only
 * (ek_tpm_health_check, ek_tpm_get_info, ek_key_*). */
#include <stdio.h>
#include <string.h>
#include <openssl/evp.h>
#include "doctor.h"
#include "ek_config.h"

static const char *tcti_shown(const ek_tpm_health *h)
{
    return h->tcti[0] ? h->tcti : "(tpm2-tss default: libtss2-tcti-default.so)";
}

static bool is_sim(const ek_tpm_health *h)
{
    return strcmp(h->tcti_name, "swtpm") == 0 || strcmp(h->tcti_name, "mssim") == 0;
}

#define SWTPM_LINE                                                                                 \
    "swtpm socket --tpm2 --tpmstate dir=DIR --server type=tcp,port=2321 --ctrl "                   \
    "type=tcp,port=2322 --flags not-need-init,startup-clear"

static const char *unreachable_fix(const ek_tpm_health *h)
{
    if (is_sim(h))
        return "start the simulator on that port, e.g.: " SWTPM_LINE;
    if (strcmp(h->tcti_name, "tabrmd") == 0)
        return "start tpm2-abrmd (systemctl start tpm2-abrmd) or fix the bus name in the TCTI; "
               "or use the kernel resource manager: EDGEKEY_TCTI=device:/dev/tpmrm0";
    if (strcmp(h->tcti_name, "device") == 0)
        return "check the device node (see 'device' below): ls -l /dev/tpmrm0; no node: the "
               "TPM is off in the firmware setup or its driver is missing (modprobe tpm_crb "
               "or tpm_tis); under systemd, PrivateDevices=yes hides it (add "
               "DeviceAllow=/dev/tpmrm0 rw and PrivateDevices=no)";
    return "set the TCTI: EDGEKEY_TCTI=device:/dev/tpmrm0 (or tcti = ... in the edgekey "
           "configuration); for a simulator: " SWTPM_LINE;
}

static void check_tcti(dr_report *r, const ek_tpm_health *h, const char *src)
{
    char fix[1600];
    switch (h->state) {
    case EK_TPM_NO_TCTI:
        snprintf(fix, sizeof(fix),
                 "spell it as one of device:/dev/tpmrm0, tabrmd:, swtpm:host=H,port=P, "
                 "mssim:host=H,port=P (%s), or install its library (libtss2-tcti-%s.so.0)",
                 src, h->tcti_name);
        dr_add(r, "tcti", DR_FAIL, EXIT_TPM, fix,
               "TCTI \"%s\" (%s): no TCTI library named '%s' can be loaded (%s)", h->tcti, src,
               h->tcti_name, h->detail);
        return;
    case EK_TPM_UNREACHABLE:
        if (!h->tcti[0] && h->rc == 0) { /* core found nothing to try (core/tpm/tcti.c) */
            dr_add(r, "tcti", DR_FAIL, EXIT_TPM, unreachable_fix(h), "no TCTI (%s): %s", src,
                   h->detail);
            return;
        }
        dr_add(r, "tcti", DR_FAIL, EXIT_TPM, unreachable_fix(h),
               "TCTI \"%s\" (%s) loads, but no TPM answers behind it (%s)", tcti_shown(h), src,
               h->detail);
        return;
    default:
        dr_add(r, "tcti", DR_OK, 0, NULL, "TCTI \"%s\" (%s) reaches a TPM", tcti_shown(h), src);
    }
}

static void check_started(dr_report *r, const ek_tpm_health *h)
{
    if (h->state == EK_TPM_UP) {
        dr_add(r, "tpm-started", DR_OK, 0, NULL, "the TPM is started and answers commands");
    } else if (h->state == EK_TPM_NOT_STARTED) {
        dr_add(r, "tpm-started", DR_FAIL, EXIT_TPM,
               is_sim(h) ? "tpm2_startup -c (with TPM2TOOLS_TCTI set to this TCTI), or start "
                           "swtpm with --flags not-need-init,startup-clear"
                         : "tpm2_startup -c (with TPM2TOOLS_TCTI set to this TCTI)",
               "the TPM was never started: it answers TPM_RC_INITIALIZE (%s); edgekey starts "
               "it on first use, but tpm2-tools and other TSS programs fail until then",
               h->detail);
    } else if (h->state == EK_TPM_FAILURE_MODE) {
        dr_add(r, "tpm-started", DR_FAIL, EXIT_TPM,
               is_sim(h) ? "start swtpm with --flags not-need-init,startup-clear (or power it "
                           "on: swtpm_ioctl -i --tcp 127.0.0.1:CTRLPORT, then tpm2_startup -c)"
                         : "reboot; if it stays, tpm2_gettestresult says why, and the TPM "
                           "needs clearing in the firmware setup or a vendor firmware update",
               "the TPM answers TPM_RC_FAILURE (%s): %s", h->detail,
               is_sim(h) ? "the simulator was never powered on (swtpm without not-need-init)"
                         : "the TPM is in failure mode");
    } else if (h->state == EK_TPM_ERROR) {
        dr_add(r, "tpm-started", DR_FAIL, EXIT_TPM, "run 'edgekey info' for details",
               "the TPM refuses a plain TPM2_GetCapability (%s)", h->detail);
    } else {
        dr_add(r, "tpm-started", DR_SKIP, 0, NULL, "no TPM reached (see tcti)");
    }
}

static void check_rm(dr_report *r, const ek_tpm_health *h)
{
    if (h->state != EK_TPM_UP) {
        dr_add(r, "resource-manager", DR_SKIP, 0, NULL, "the TPM does not answer (see above)");
    } else if (h->exclusive) {
        dr_add(r, "resource-manager", DR_WARN, 0,
               "use the kernel resource manager (EDGEKEY_TCTI=device:/dev/tpmrm0) or "
               "tpm2-abrmd (EDGEKEY_TCTI=tabrmd:)",
               "TCTI \"%s\" talks to the TPM directly, without a resource manager: one process "
               "at a time (a second program using the TPM meanwhile fails or waits), and "
               "edgekey fits its keys into the TPM's few transient slots itself",
               h->tcti);
    } else {
        dr_add(r, "resource-manager", DR_OK, 0, NULL, "%s: several processes may share the TPM",
               strcmp(h->tcti_name, "tabrmd") == 0 ? "tpm2-abrmd (user-space resource manager)"
                                                   : "kernel resource manager (/dev/tpmrm0)");
    }
}

bool dr_check_tpm(dr_report *r, ek_tpm_health *h)
{
    char src[1200];
    ek_rc rc = ek_tpm_health_check(h);
    if (rc != EK_OK) {
        dr_add(r, "tcti", DR_FAIL, cli_exit_code(rc),
               "fix the edgekey configuration file (see 'edgekey --help': --conf, EDGEKEY_CONF)",
               "the configuration cannot be read: %s", ek_last_error());
        h->state = EK_TPM_UNREACHABLE;
        return false;
    }
    ek_config_source("tcti", src, sizeof(src));
    check_tcti(r, h, src);
    check_started(r, h);
    check_rm(r, h);
    return h->state == EK_TPM_UP;
}

void dr_check_lockout(dr_report *r)
{
    ek_tpm_info ti;
    ek_rc rc = ek_tpm_get_info(&ti);
    if (rc != EK_OK) {
        dr_add(r, "lockout", DR_FAIL, cli_exit_code(rc), "run 'edgekey info' for details",
               "cannot read the lockout state: %s", ek_last_error());
        return;
    }
    char params[160];
    snprintf(params, sizeof(params),
             "%u failed tries of max %u, recovery %u s per try, lockout recovery %u s",
             ti.da_failed, ti.da_max, ti.da_recovery_s, ti.da_lockout_recovery_s);
    if (ti.da_locked)
        dr_add(r, "lockout", DR_FAIL, EXIT_AUTH,
               "wait: one failed try is forgotten every recovery interval while the TPM is "
               "powered; or reset it now with the lockout hierarchy's auth: "
               "tpm2_dictionarylockout --clear-lockout [-p LOCKOUT_AUTH]",
               "the TPM is in dictionary-attack lockout (%s): PIN logins and keys with an auth "
               "value are refused; PIN-less keys (noDA) still sign",
               params);
    else
        dr_add(r, "lockout", DR_OK, 0, NULL, "not in lockout: %s", params);
}

static ek_rc verify_sw(const ek_pubkey *pub, const unsigned char *dg, const unsigned char *sig,
                       size_t slen)
{
    EVP_PKEY *pk = NULL;
    ek_rc rc = cli_pkey_from_pub(pub, &pk);
    if (rc != EK_OK)
        return rc;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, pk, "provider=default");
    int ok = c && EVP_PKEY_verify_init(c) > 0 &&
             EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) > 0 &&
             EVP_PKEY_verify(c, sig, slen, dg, 32) == 1;
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(pk);
    return ok ? EK_OK
              : ek_error(EK_ERR_TPM, "OpenSSL does not verify the TPM's signature: the TPM or "
                                     "the TCTI path corrupts data");
}

void dr_check_sign(dr_report *r)
{
    ek_keygen_spec spec = {.alg = EK_ALG_EC, .curve = EK_CURVE_P256};
    ek_key *k = NULL;
    unsigned char dg[32], sig[160];
    size_t slen = sizeof(sig);
    ek_rc rc = ek_key_generate(&spec, &k);
    if (rc == EK_OK && !ek_md_digest(EK_MD_SHA256, "edgekey doctor", 14, dg))
        rc = ek_error(EK_ERR_NOMEM, "SHA-256 of the test message failed");
    if (rc == EK_OK)
        rc = ek_key_sign(k, EK_SIG_ECDSA, EK_MD_SHA256, dg, sizeof(dg), EK_ECDSA_DER, sig, &slen);
    if (rc == EK_OK)
        rc = verify_sw(ek_key_public(k), dg, sig, slen);
    ek_key_free(k); /* a blob key, never stored: freeing flushes it */
    if (rc != EK_OK)
        dr_add(r, "sign-test", DR_FAIL, cli_exit_code(rc), "run 'edgekey info' for details",
               "throwaway EC P-256 key: %s", ek_last_error());
    else
        dr_add(r, "sign-test", DR_OK, 0, NULL,
               "made a throwaway EC P-256 key in the TPM, signed, verified with OpenSSL, "
               "flushed it");
}
