/* edgekey core: the process-wide TPM connection (ek_tpm.h).
 *
 * One TCTI and one ESYS context per process, made by the first ek_tpm_lock()
 * and guarded by one mutex, which also guards every key's load state.
 * Connecting sends no command. The TCTI comes from tpm2-tss's TCTI loader
 * (every stock TCTI: device, tabrmd, swtpm, mssim, pcap ...); tcti.c picks
 * it for an empty configuration and explains a failed load.
 *
 * Fork: the child never uses the parent's connection. It forgets the
 * inherited TCTI and ESYS context without finalizing them (finalizing could
 * talk on the parent's socket) and connects anew. On exclusive TCTIs (no
 * resource manager: swtpm, mssim, /dev/tpm0) the child could not connect at
 * all while the parent holds the TPM, so a pthread_atfork prepare handler
 * disconnects the parent cleanly first; it reconnects lazily.
 * tpm2-abrmd's TCTI talks D-Bus through GLib, whose D-Bus worker thread is
 * made once per process and does not exist in a forked child: a child of a
 * process that used it hangs in its own tabrmd connect (tests/tpm/
 * tabrmd_fork_hang.c shows it with the stock TCTI alone). Such a child gets a
 * clear error instead; /dev/tpmrm0 has no such limit.
 * An atexit handler flushes our objects from an exclusive TPM when the
 * process ends. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_sys.h>
#include <tss2/tss2_tctildr.h>

#include "ek_config.h"
#include "ek_crypto.h"
#include "ek_log.h"
#include "ek_tpm_int.h"

typedef struct ek_conn {
    ESYS_CONTEXT *esys; /* NULL: not connected */
    TSS2_TCTI_CONTEXT *tcti;
    pid_t pid;      /* process that opened it */
    bool broken;    /* TCTI/IO failure seen: reconnect */
    bool stale;     /* our objects vanished (TPM reset) */
    bool exclusive; /* no resource manager in between */
    bool gdbus;     /* tabrmd: GLib D-Bus, not fork-safe */
} ek_conn;

static ek_conn conn;
static pid_t gdbus_pid; /* process whose GLib D-Bus thread tabrmd started */
static pthread_mutex_t ek_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t ek_fork_once = PTHREAD_ONCE_INIT;
static atomic_uint_fast64_t ek_gen;
static char ek_tcti_conf[512];

/* The lock is also the OpenSSL scope: while it is held the thread's default
 * library context is the core's private one (crypto.c), so ESYS's own
 * OpenSSL use (session HMACs, salts, parameter encryption, names) never
 * reaches a provider the application loaded. Every ESYS call is made with
 * the lock held, so this is the one place for it. */
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

void ek_tpm_mutex_lock(void)
{
    lock_mu();
}
void ek_tpm_mutex_unlock(void)
{
    unlock_mu();
}
void ek_tpm_unlock(void)
{
    unlock_mu();
}
bool ek_tpm_connected(void)
{
    return conn.esys != NULL && conn.pid == getpid();
}
bool ek_tpm_exclusive(void)
{
    return conn.exclusive;
}
bool ek_tpm_stale(void)
{
    return conn.stale;
}
ESYS_CONTEXT *ek_tpm_ctx(void)
{
    return conn.esys;
}
uint64_t ek_tpm_generation(void)
{
    return atomic_load(&ek_gen);
}
const char *ek_tpm_tcti(void)
{
    return ek_tcti_conf;
}

static const char *tcti_label(void)
{
    return ek_tcti_conf[0] ? ek_tcti_conf : "(tpm2-tss default)";
}

/* The files above the connection keep state tied to it (slots.c: loaded
 * keys; srk.c: SRK and session). They register how to drop it, so the
 * connection never calls up into them. */
#define DROP_MAX 4
static ek_tpm_drop_fn drop_hooks[DROP_MAX];
static unsigned drop_n;

void ek_tpm_on_drop(ek_tpm_drop_fn fn)
{
    if (drop_n < DROP_MAX)
        drop_hooks[drop_n++] = fn;
}

/* Tear the connection down. talk: flush what we loaded; fin: free the ESYS
 * and TCTI contexts (never in a forked child: they belong to the parent). */
static void teardown(bool talk, bool fin)
{
    if (!conn.esys)
        return;
    for (unsigned i = 0; i < drop_n; i++)
        drop_hooks[i](talk);
    if (fin) {
        Esys_Finalize(&conn.esys);
        Tss2_TctiLdr_Finalize(&conn.tcti);
    }
    conn.esys = NULL;
    conn.tcti = NULL;
    conn.broken = conn.stale = false;
}

static void fork_prepare(void)
{
    pthread_mutex_lock(&ek_mu);
    if (conn.esys && conn.pid == getpid() && conn.exclusive) {
        ek_log(EK_LOG_DEBUG, "fork: releasing the exclusive TPM connection for the child");
        ek_sw_enter();
        teardown(!conn.broken, true);
        ek_sw_leave();
    }
}

static void fork_parent(void)
{
    pthread_mutex_unlock(&ek_mu);
}

static void fork_child(void)
{
    teardown(false, false); /* leak the parent's contexts on purpose */
    pthread_mutex_unlock(&ek_mu);
}

/* At exit, give an exclusive TPM back clean: our objects would otherwise
 * fill the slots of the next program. Skipped if another thread is inside
 * an operation. A resource manager flushes a closed connection itself. */
static void exit_disconnect(void)
{
    if (pthread_mutex_trylock(&ek_mu) != 0)
        return;
    ek_sw_enter();
    if (conn.esys && conn.pid == getpid() && conn.exclusive)
        teardown(!conn.broken, true);
    unlock_mu();
}

static void install_fork_handlers(void)
{
    pthread_atfork(fork_prepare, fork_parent, fork_child);
    if (atexit(exit_disconnect) != 0)
        ek_log(EK_LOG_WARN, "no exit handler: an exclusive TPM keeps our objects after exit");
}

/* The last failed connect, for ek_tpm_health (doctor): which step, what rc. */
static TSS2_RC conn_fail_rc;
static bool conn_fail_tcti;

TSS2_RC ek_tpm_connect_error(bool *tcti_step)
{
    *tcti_step = conn_fail_tcti;
    return conn_fail_rc;
}

static ek_rc connect_fail(TSS2_RC rc, const char *step)
{
    conn_fail_rc = rc;
    conn_fail_tcti = strcmp(step, "TCTI initialisation") == 0;
    ek_rc r = ek_tcti_load_error(rc, ek_tcti_conf, step);
    if (conn.esys)
        Esys_Finalize(&conn.esys);
    if (conn.tcti)
        Tss2_TctiLdr_Finalize(&conn.tcti);
    conn.esys = NULL;
    conn.tcti = NULL;
    return r;
}

static void quiet_tss2_log_once(void)
{
    setenv("TSS2_LOG", "all+NONE", 0);
}

static ek_rc refuse_gdbus_child(void)
{
    return ek_error(EK_ERR_CONNECT,
                    "cannot reach the TPM through TCTI \"%s\" in this process: it was forked "
                    "from a process that used tpm2-abrmd's TCTI, whose GLib D-Bus thread does "
                    "not survive fork (the connect would hang); use the kernel resource manager "
                    "(EDGEKEY_TCTI=device:/dev/tpmrm0), or let only the child use the TPM",
                    tcti_label());
}

/* tpm2-tss logs every TPM error answer to stderr (e.g. "ERROR:esys ...
 * ReadPublic" when no persistent SRK exists, which is normal): our own
 * errors say what happened. The user's TSS2_LOG wins. */
static void quiet_tss2_log(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, quiet_tss2_log_once);
}

static ek_rc do_connect(void)
{
    const ek_config *cfg = ek_config_get();
    if (!cfg)
        return ek_error(EK_ERR_INVALID, "%s", ek_last_error());
    quiet_tss2_log();
    ek_rc chosen = ek_tcti_choose(cfg->tcti, ek_tcti_conf, sizeof(ek_tcti_conf));
    if (chosen != EK_OK) {
        conn_fail_rc = TSS2_RC_SUCCESS; /* refused before the loader: the message says why */
        return chosen;
    }
    bool gdbus = ek_tcti_gdbus(ek_tcti_conf) || !ek_tcti_conf[0];
    if (gdbus && gdbus_pid && gdbus_pid != getpid())
        return refuse_gdbus_child();
    TSS2_RC rc = Tss2_TctiLdr_Initialize(ek_tcti_conf[0] ? ek_tcti_conf : NULL, &conn.tcti);
    if (gdbus && !gdbus_pid)
        gdbus_pid = getpid();
    if (rc)
        return connect_fail(rc, "TCTI initialisation");
    rc = Esys_Initialize(&conn.esys, conn.tcti, NULL);
    if (rc)
        return connect_fail(rc, "ESYS initialisation");
    rc = ek_esys_crypto_install(conn.esys);
    if (rc) {
        connect_fail(rc, "Esys_SetCryptoCallbacks"); /* closes; its message is replaced */
        return ek_error(EK_ERR_CONNECT,
                        "tpm2-tss refused core's crypto callbacks (Esys_SetCryptoCallbacks: %s); "
                        "run edgekey with the tpm2-tss >= 4.0 it was built against",
                        Tss2_RC_Decode(rc));
    }
    conn.pid = getpid();
    conn_fail_rc = TSS2_RC_SUCCESS;
    conn.broken = conn.stale = false;
    conn.exclusive = !ek_tcti_conf[0] || ek_tcti_exclusive(ek_tcti_conf); /* default: unknown */
    conn.gdbus = gdbus;
    atomic_fetch_add(&ek_gen, 1);
    ek_log(EK_LOG_DEBUG, "connected to the TPM via \"%s\" (%s)", tcti_label(),
           conn.exclusive ? "exclusive" : "resource manager");
    return EK_OK;
}

ek_rc ek_tpm_recover_locked(void)
{
    ek_log(EK_LOG_INFO, "TPM objects of this connection vanished (TPM reset?); reconnecting");
    teardown(false, true);
    return do_connect();
}

static ek_rc ensure_connected(void)
{
    if (conn.esys && conn.pid != getpid())
        teardown(false, false); /* fork without our handlers (e.g. clone) */
    if (conn.esys && conn.broken) {
        ek_log(EK_LOG_INFO, "reconnecting to the TPM after a connection failure");
        teardown(false, true);
    }
    return conn.esys ? EK_OK : do_connect();
}

ek_rc ek_tpm_lock(ESYS_CONTEXT **esys)
{
    pthread_once(&ek_fork_once, install_fork_handlers);
    lock_mu();
    ek_rc r = ensure_connected();
    if (r != EK_OK) {
        unlock_mu();
        return r;
    }
    if (esys)
        *esys = conn.esys;
    return EK_OK;
}

/* A resource manager (tpm2-abrmd, /dev/tpmrm0) flushes a closed
 * connection's objects and sessions itself: only an exclusive TPM gets our
 * FlushContexts. */
void ek_tpm_disconnect(void)
{
    lock_mu();
    if (conn.esys && conn.pid != getpid())
        teardown(false, false);
    else
        teardown(!conn.broken && conn.exclusive, true);
    unlock_mu();
}

void ek_tpm_mark_broken(void)
{
    conn.broken = true;
}
void ek_tpm_mark_stale(void)
{
    conn.broken = conn.stale = true;
}

void ek_tpm_flush(ESYS_TR *tr)
{
    if (*tr == ESYS_TR_NONE || *tr == ESYS_TR_PASSWORD)
        return;
    if (conn.esys && Esys_FlushContext(conn.esys, *tr) != TSS2_RC_SUCCESS)
        Esys_TR_Close(conn.esys, tr);
    *tr = ESYS_TR_NONE;
}

/* TCTI-layer and I/O failures mark the connection broken, so the next
 * ek_tpm_lock() reconnects instead of reusing a dead socket. */
ek_rc ek_tpm_rc(TSS2_RC rc, const char *what)
{
    if (rc != TSS2_RC_SUCCESS && ek_tpm_rc_is_io(rc))
        ek_tpm_mark_broken();
    else if (rc != TSS2_RC_SUCCESS && ek_tpm_rc_is_stale(rc))
        ek_tpm_mark_stale();
    return ek_tss2_rc_error(rc, what, ek_tcti_conf);
}

bool ek_tpm_startup_if_needed(TSS2_RC rc)
{
    if (rc != TPM2_RC_INITIALIZE || !conn.esys)
        return false;
    ek_log(EK_LOG_INFO, "the TPM was not started; sending TPM2_Startup(CLEAR)");
    return Esys_Startup(conn.esys, TPM2_SU_CLEAR) == TSS2_RC_SUCCESS;
}

/* TPM2_GetRandom gives at most one digest's worth per call (lock held). */
static ek_rc get_random(unsigned char *buf, size_t len)
{
    ek_rc r = EK_OK;
    for (size_t done = 0; r == EK_OK && done < len;) {
        TPM2B_DIGEST *d = NULL;
        UINT16 want = (UINT16)(len - done > 32 ? 32 : len - done);
        TSS2_RC rc = Esys_GetRandom(conn.esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, want, &d);
        if (ek_tpm_startup_if_needed(rc))
            continue;
        r = ek_tpm_rc(rc, "TPM2_GetRandom");
        if (r == EK_OK && (!d || d->size == 0))
            r = ek_error(EK_ERR_TPM, "TPM2_GetRandom returned no bytes");
        if (r == EK_OK && d) {
            size_t n = d->size < want ? d->size : want;
            memcpy(buf + done, d->buffer, n);
            done += n;
        }
        if (d)
            OPENSSL_cleanse(d, sizeof(*d));
        Esys_Free(d);
    }
    return r;
}

ek_rc ek_tpm_random(unsigned char *buf, size_t len)
{
    ek_rc r = ek_tpm_lock(NULL);
    if (r != EK_OK)
        return r;
    r = get_random(buf, len);
    ek_tpm_unlock();
    return r;
}

TSS2_RC ek_tpm_get_cap(TPM2_CAP cap, UINT32 prop, UINT32 count, TPMS_CAPABILITY_DATA *out,
                       bool *more)
{
    TPMS_CAPABILITY_DATA *cd = NULL;
    TPMI_YES_NO m = TPM2_NO;
    TSS2_RC rc = Esys_GetCapability(conn.esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, cap, prop,
                                    count, &m, &cd);
    if (ek_tpm_startup_if_needed(rc))
        rc = Esys_GetCapability(conn.esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, cap, prop,
                                count, &m, &cd);
    if (!rc)
        *out = *cd;
    if (more)
        *more = !rc && m == TPM2_YES;
    Esys_Free(cd);
    return rc;
}

/* By TPM handle, through ESYS's own SAPI context: no ESYS_TR (which would
 * cost a second ReadPublic) for a handle we only look at. */
TSS2_RC ek_tpm_read_public(TPM2_HANDLE h, TPM2B_PUBLIC *pub)
{
    TSS2_SYS_CONTEXT *sys = NULL;
    TPM2B_NAME name = {0}, qname = {0};
    TSS2_RC rc = Esys_GetSysContext(conn.esys, &sys);
    if (!rc)
        rc = Tss2_Sys_ReadPublic(sys, h, NULL, pub, &name, &qname, NULL);
    return rc;
}
