/* edgekey core: the process-wide TPM connection (ek_tpm.h).
 *
 * One TCTI per process, opened by the first ek_tpm_lock() and guarded by one
 * mutex, which also guards every key's load state. Connecting sends no
 * command and makes no ESYS context: most work is raw commands on the TCTI
 * (rawcmd.c); the ESYS context (and libtss2-esys) comes only when a caller
 * asks for it (ek_tpm_esys_get). Fork: the child never uses the parent's
 * connection. It forgets the inherited TCTI and ESYS context without
 * finalizing them (finalizing could talk on the parent's socket; mssim even
 * sends a session-end), and connects anew. On exclusive TCTIs (no
 * resource manager: swtpm, mssim, /dev/tpm0) the child could not connect at
 * all while the parent holds the TPM, so a pthread_atfork prepare handler
 * disconnects the parent cleanly first; it reconnects lazily. An atexit
 * handler flushes our objects from an exclusive TPM when the process ends. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <tss2/tss2_mu.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>

#include "ek_config.h"
#include "ek_log.h"
#include "ek_tcti_abrmd.h"
#include "ek_tpm_int.h"

ek_conn ek_g = {.srk = ESYS_TR_NONE, .esess = ESYS_TR_NONE};

static pthread_mutex_t ek_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t ek_fork_once = PTHREAD_ONCE_INIT;
static atomic_uint_fast64_t ek_gen;
static char ek_tcti_conf[512];

/* The lock is also the OpenSSL scope: while it is held the thread's default
 * library context is the core's private one (swcrypto.c), so ESYS's own
 * OpenSSL use (session HMACs, salts, parameter encryption, names) never
 * reaches a provider the application loaded - edgekey itself (deadlock on
 * this lock), tpm2-openssl (a second TPM client). Every ESYS call is made
 * with the lock held, so this is the one place for it. */
static void lock_mu(void)
{
    pthread_mutex_lock(&ek_mu);
    ek_sw_enter();
}

static void unlock_mu(void)
{
    ek_sw_leave();
    pthread_mutex_unlock(&ek_mu);
}

void ek_tpm_mutex_lock(void) { lock_mu(); }
void ek_tpm_mutex_unlock(void) { unlock_mu(); }
void ek_tpm_unlock(void) { unlock_mu(); }
bool ek_tpm_connected(void) { return ek_g.tcti != NULL && ek_g.pid == getpid(); }
void ek_tpm_mark_broken(void) { ek_g.broken = true; }
void ek_tpm_mark_stale(void) { ek_g.broken = ek_g.stale = true; }
uint64_t ek_tpm_generation(void) { return atomic_load(&ek_gen); }
const char *ek_tpm_tcti(void) { return ek_tcti_conf; }

/* Anything but a resource manager (tabrmd, /dev/tpmrm0) is exclusive. The
 * loader default ("") picks tabrmd, then /dev/tpmrm0, then /dev/tpm0 ...: we
 * cannot tell which, so it counts as shared only if /dev/tpmrm0 is usable;
 * treating a shared TCTI as exclusive merely costs a reconnect after fork. */
static bool tcti_exclusive(const char *conf)
{
    if (strncmp(conf, "pcap:", 5) == 0) /* the capture TCTI wraps another one */
        conf += 5;
    if (!*conf)
        return access("/dev/tpmrm0", R_OK | W_OK) != 0;
    if (strncmp(conf, "tabrmd", 6) == 0 || strstr(conf, "tcti-tabrmd"))
        return false;
    if (strncmp(conf, "device", 6) == 0 || strstr(conf, "tcti-device"))
        return strstr(conf, "tpmrm") == NULL;
    return true;
}

static bool is_tabrmd(const char *conf)
{
    return strncmp(conf, "tabrmd", 6) == 0 && (conf[6] == '\0' || conf[6] == ':');
}

/* tpm2-abrmd's own TCTI talks D-Bus through GLib, whose worker thread does
 * not exist in a forked child: such a child hangs in the TCTI's init. For
 * "tabrmd:..." we therefore use our own TCTI (tcti_abrmd.c); when tabrmd is
 * reached through the loader anyway (default TCTI, pcap:tabrmd) we at least
 * disconnect before fork, which helps only if GLib was never used before. */
static bool tcti_gdbus(const char *conf)
{
    if (is_tabrmd(conf))
        return false; /* we use our own GLib-free TCTI for it (tcti_abrmd.c) */
    if (strncmp(conf, "pcap:", 5) == 0)
        conf += 5;
    return strncmp(conf, "tabrmd", 6) == 0 || strstr(conf, "tcti-tabrmd") != NULL ||
           (!*conf && access("/dev/tpmrm0", R_OK | W_OK) != 0);
}

static const char *tcti_label(void)
{
    return ek_tcti_conf[0] ? ek_tcti_conf : "(loader default: tabrmd, /dev/tpmrm0, /dev/tpm0, ...)";
}

static void close_tcti(void)
{
    if (ek_abrmd_is(ek_g.tcti))
        ek_abrmd_close(ek_g.tcti);
    else if (ek_g.tcti && ek_g.tcti_direct)
        ek_tcti_direct_close(ek_g.tcti);
    else if (ek_g.tcti)
        Tss2_TctiLdr_Finalize(&ek_g.tcti);
    ek_g.tcti = NULL;
    ek_g.tcti_direct = false;
}

/* Tear the connection down. talk: flush what we loaded (raw commands, so
 * also without ESYS); fin: free the ESYS and TCTI contexts (never in a
 * forked child: they belong to the parent). */
static void teardown(bool talk, bool fin)
{
    if (!ek_g.tcti)
        return;
    ek_keys_forget(talk);
    ek_hsess_forget(talk);
    ek_srk_forget(talk);
    if (fin) {
        if (ek_g.esys)
            Esys_Finalize(&ek_g.esys);
        close_tcti();
    } else if (ek_abrmd_is(ek_g.tcti)) {
        ek_abrmd_close(ek_g.tcti); /* only drops the child's copy of the socket */
    }
    ek_g.esys = NULL;
    ek_g.tcti = NULL;
    ek_g.broken = false;
    ek_g.stale = false;
    ek_g.scanned_objs = ek_g.scanned_sess = false;
    ek_g.slots_known = false;
}

static void fork_prepare(void)
{
    pthread_mutex_lock(&ek_mu);
    if (ek_g.tcti && ek_g.pid == getpid() && (ek_g.exclusive || ek_g.gdbus)) {
        ek_log(EK_LOG_DEBUG, "fork: releasing the exclusive TPM connection for the child");
        ek_sw_enter();
        teardown(!ek_g.broken, true);
        ek_sw_leave();
    }
}

static void fork_parent(void) { pthread_mutex_unlock(&ek_mu); }

static void fork_child(void)
{
    teardown(false, false); /* leak the parent's context on purpose */
    pthread_mutex_unlock(&ek_mu);
}

/* At exit, give the TPM back clean: on an exclusive TPM our objects would
 * otherwise stay loaded and fill the slots of the next program (tpm2-tools,
 * tpm2-openssl). Skipped if another thread is inside an operation. */
static void exit_disconnect(void)
{
    if (pthread_mutex_trylock(&ek_mu) != 0)
        return;
    ek_sw_enter();
    if (ek_g.tcti && ek_g.pid == getpid() && ek_g.exclusive)
        teardown(!ek_g.broken, true);
    unlock_mu();
}

static void install_fork_handlers(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    atexit(exit_disconnect);
}

static ek_rc connect_fail(TSS2_RC rc, const char *step)
{
    ek_rc r = ek_error(EK_ERR_CONNECT,
                       "cannot reach the TPM through TCTI \"%s\" (%s: %s); check that the TPM "
                       "is there (swtpm or tpm2-abrmd running, /dev/tpmrm0 accessible) or set "
                       "EDGEKEY_TCTI or tcti= in the edgekey configuration",
                       tcti_label(), step, Tss2_RC_Decode(rc));
    close_tcti();
    return r;
}

static ek_rc do_connect(void)
{
    const ek_config *cfg = ek_config_get();
    if (!cfg)
        return ek_error(EK_ERR_INVALID, "%s", ek_last_error());
    snprintf(ek_tcti_conf, sizeof(ek_tcti_conf), "%s", cfg->tcti);
    if (ek_lazy_tss2_load() != EK_OK) /* first TPM use: map the TCTI loader and tss2-mu */
        return ek_error(EK_ERR_CONNECT, "cannot reach the TPM: %s", ek_last_error());
    TSS2_RC rc;
    if (is_tabrmd(ek_tcti_conf)) {
        char why[256] = "";
        rc = ek_abrmd_open(ek_tcti_conf + 6 + (ek_tcti_conf[6] == ':'), &ek_g.tcti, why,
                           sizeof(why));
        if (rc)
            return connect_fail(rc, why);
    } else {
        rc = ek_tcti_direct_open(ek_tcti_conf[0] ? ek_tcti_conf : NULL, &ek_g.tcti);
        ek_g.tcti_direct = rc == TSS2_RC_SUCCESS;
        if (rc == TSS2_TCTI_RC_NOT_IMPLEMENTED) { /* the loader's turn */
            if (ek_lazy_tctildr_load() != EK_OK)
                return ek_error(EK_ERR_CONNECT, "cannot reach the TPM: %s", ek_last_error());
            rc = Tss2_TctiLdr_Initialize(ek_tcti_conf[0] ? ek_tcti_conf : NULL, &ek_g.tcti);
        }
        if (rc)
            return connect_fail(rc, "TCTI initialisation");
    }
    /* Nothing is sent here: a TPM that was never started is started by
     * the first raw command (rawcmd.c); the slot count and the leftovers of
     * dead processes are read just before our first object (srk.c). */
    ek_g.pid = getpid();
    ek_g.broken = false;
    ek_g.exclusive = tcti_exclusive(ek_tcti_conf);
    ek_g.gdbus = tcti_gdbus(ek_tcti_conf);
    atomic_fetch_add(&ek_gen, 1);
    ek_log(EK_LOG_DEBUG, "connected to the TPM via \"%s\" (%s)", tcti_label(),
           ek_g.exclusive ? "exclusive" : "resource manager");
    return EK_OK;
}

ek_rc ek_tpm_recover_locked(void)
{
    ek_log(EK_LOG_INFO, "TPM objects of this connection vanished (TPM reset?); reconnecting");
    teardown(false, true);
    return do_connect();
}

/* ESYS's crypto must run in core's private OpenSSL library context, made
 * now (ek_sw_need) and, as we hold the lock (ek_sw_enter), already the
 * thread's default. */
ek_rc ek_tpm_esys_get(ESYS_CONTEXT **out)
{
    if (!ek_g.esys) {
        if (ek_lazy_esys_load() != EK_OK)
            return ek_error(EK_ERR_UNSUPPORTED, "%s", ek_last_error());
        TSS2_RC rc = Esys_Initialize(&ek_g.esys, ek_g.tcti, NULL);
        if (rc) {
            ek_g.esys = NULL;
            return ek_error(EK_ERR_CONNECT, "cannot start tpm2-tss's ESYS on TCTI \"%s\" (%s); "
                            "check the tpm2-tss installation (libtss2-esys)", tcti_label(),
                            Tss2_RC_Decode(rc));
        }
        ek_sw_need();
    }
    *out = ek_g.esys;
    return EK_OK;
}

ESYS_CONTEXT *ek_tpm_esys(void)
{
    ESYS_CONTEXT *e = NULL;
    return ek_tpm_esys_get(&e) == EK_OK ? e : NULL;
}

static ek_rc ensure_connected(void)
{
    if (ek_g.tcti && ek_g.pid != getpid())
        teardown(false, false); /* fork without our handlers (e.g. clone) */
    if (ek_g.tcti && ek_g.broken) {
        ek_log(EK_LOG_INFO, "reconnecting to the TPM after a connection failure");
        teardown(false, true);
    }
    return ek_g.tcti ? EK_OK : do_connect();
}

/* esys NULL: the caller sends raw commands only, and no ESYS is made. */
ek_rc ek_tpm_lock(ESYS_CONTEXT **esys)
{
    pthread_once(&ek_fork_once, install_fork_handlers);
    lock_mu();
    ek_rc r = ensure_connected();
    if (r == EK_OK && esys)
        r = ek_tpm_esys_get(esys);
    if (r != EK_OK)
        unlock_mu();
    return r;
}

/* A resource manager (tpm2-abrmd, /dev/tpmrm0) flushes a closed
 * connection's objects and sessions itself, so only an exclusive TPM gets
 * our FlushContexts: through abrmd each costs a round trip and its own
 * context bookkeeping, in every process that signed once. */
void ek_tpm_disconnect(void)
{
    lock_mu();
    if (ek_g.tcti && ek_g.pid != getpid())
        teardown(false, false);
    else
        teardown(!ek_g.broken && ek_g.exclusive, true);
    unlock_mu();
}

/* One raw TPM2_GetRandom of at most 32 bytes (the SHA-256 digest size every
 * TPM allows) into buf; *got: how many came. */
static ek_rc get_random(unsigned char *buf, size_t want, size_t *got)
{
    uint8_t p[2] = {0, (uint8_t)want};
    ek_raw_rsp rsp;
    TPM2B_DIGEST d = {0};
    size_t off = 0;
    TSS2_RC rc = ek_raw_exec(TPM2_CC_GetRandom, NULL, 0, NULL, p, sizeof(p), 0, &rsp);
    if (!rc)
        rc = Tss2_MU_TPM2B_DIGEST_Unmarshal(rsp.params, rsp.plen, &off, &d);
    if (rc)
        return ek_tpm_rc(rc, "TPM2_GetRandom");
    *got = d.size < want ? d.size : want;
    memcpy(buf, d.buffer, *got);
    OPENSSL_cleanse(&d, sizeof(d));
    return *got ? EK_OK : ek_error(EK_ERR_TPM, "TPM2_GetRandom returned no bytes");
}

ek_rc ek_tpm_random(unsigned char *buf, size_t len)
{
    ek_rc r = ek_tpm_lock(NULL);
    if (r != EK_OK)
        return r;
    for (size_t done = 0, n = 0; done < len && r == EK_OK; done += n)
        r = get_random(buf + done, len - done > 32 ? 32 : len - done, &n);
    ek_tpm_unlock();
    return r;
}
