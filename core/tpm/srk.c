/* edgekey core: the storage primary (SRK), key parents, the ESYS salted
 * session, each found or made once per connection, and the flush of what
 * dead processes left in a TPM without a resource manager.
 *
 * Key files name their parent. 0x40000001 (the owner hierarchy) means the
 * primary made from the template tpm2-openssl 1.1.1 uses: ECC P-256 (RSA-2048
 * if the TPM has no ECC), SHA-256, restricted|decrypt|noDA|fixedTPM|
 * fixedParent|sensitiveDataOrigin|userWithAuth, AES-128-CFB, empty unique.
 * Checked by experiment: its keys load under this primary and not under the
 * RSA one. A persistent storage key at 0x81000001, when present, is our SRK
 * instead (no CreatePrimary per process): new keys go under it and their
 * files record parent 0x81000001, which tpm2-openssl loads by handle.
 *
 * The salted HMAC session (SRK as salt key, AES-128-CFB parameter
 * encryption, SHA-256) is ESYS's: Esys_StartAuthSession once per connection,
 * kept warm with continueSession, attributes set per command. */
#include <string.h>

#include <tss2/tss2_sys.h>

#include "ek_log.h"
#include "ek_tpm_int.h"

#define PRIMARY_ATTRS                                                                              \
    (TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT | TPMA_OBJECT_NODA |  \
     TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT | TPMA_OBJECT_SENSITIVEDATAORIGIN)

static const TPMT_SYM_DEF_OBJECT aes128cfb = {
    .algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB};

static void primary_template(TPM2B_PUBLIC *t, bool ecc)
{
    memset(t, 0, sizeof(*t));
    t->publicArea.nameAlg = TPM2_ALG_SHA256;
    t->publicArea.objectAttributes = PRIMARY_ATTRS;
    if (ecc) {
        t->publicArea.type = TPM2_ALG_ECC;
        t->publicArea.parameters.eccDetail.symmetric = aes128cfb;
        t->publicArea.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
        t->publicArea.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
        t->publicArea.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    } else {
        t->publicArea.type = TPM2_ALG_RSA;
        t->publicArea.parameters.rsaDetail.symmetric = aes128cfb;
        t->publicArea.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
        t->publicArea.parameters.rsaDetail.keyBits = 2048;
    }
}

static bool is_unsupported(TSS2_RC rc)
{
    TSS2_RC b = rc & (TPM2_RC_FMT1 | 0x3f);
    return (rc & TPM2_RC_FMT1) && (b == TPM2_RC_CURVE || b == TPM2_RC_ASYMMETRIC ||
                                   b == TPM2_RC_VALUE || b == TPM2_RC_KEY_SIZE);
}

static TSS2_RC create_primary_tmpl(const TPM2B_PUBLIC *tmpl, ESYS_TR *out)
{
    TPM2B_SENSITIVE_CREATE sens = {0};
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION pcrs = {0};
    return Esys_CreatePrimary(ek_tpm_ctx(), ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                              ESYS_TR_NONE, &sens, tmpl, &outside, &pcrs, out, NULL, NULL, NULL,
                              NULL);
}

/* CreatePrimary in the owner hierarchy (owner auth empty), ECC P-256
 * template, RSA-2048 if the TPM has no ECC. Our first object on this
 * connection, possibly: ek_slots_reserve runs the leftover scan first. */
static ek_rc create_primary(ESYS_TR *out)
{
    TPM2B_PUBLIC tmpl;
    ek_slots_reserve(1);
    primary_template(&tmpl, true);
    TSS2_RC rc = create_primary_tmpl(&tmpl, out);
    if (ek_tpm_startup_if_needed(rc))
        rc = create_primary_tmpl(&tmpl, out);
    if (is_unsupported(rc)) {
        primary_template(&tmpl, false);
        rc = create_primary_tmpl(&tmpl, out);
    }
    if (rc) {
        ek_rc r = ek_tpm_rc(rc, "creating the storage primary key (owner hierarchy)");
        if (r == EK_ERR_AUTH) /* not the caller's PIN or key auth: never EK_ERR_AUTH */
            return ek_error(EK_ERR_TPM,
                            "creating the storage primary key: the owner hierarchy has an "
                            "authorization value; edgekey needs it empty, or make a persistent "
                            "SRK at 0x%08x (tpm2_createprimary + tpm2_evictcontrol)",
                            EK_SRK_HANDLE);
        return r;
    }
    return EK_OK;
}

/* What this connection holds of the SRK side. Lock held throughout. */
static struct {
    ESYS_TR srk;           /* the SRK: persistent or our template primary */
    uint32_t parent;       /* what key files record: 0x81000001 or 0x40000001 */
    bool transient;        /* srk made by us (flushed at disconnect) */
    ESYS_TR owner;         /* template primary when srk is persistent */
    ESYS_TR sess;          /* the salted HMAC session */
    ESYS_TR other;         /* the last other persistent parent a file named ... */
    uint32_t other_handle; /* ... and its handle */
} st = {.srk = ESYS_TR_NONE, .owner = ESYS_TR_NONE, .sess = ESYS_TR_NONE, .other = ESYS_TR_NONE};

static TSS2_RC read_persistent(ESYS_TR *out)
{
    return Esys_TR_FromTPMPublic(ek_tpm_ctx(), EK_SRK_HANDLE, ESYS_TR_NONE, ESYS_TR_NONE,
                                 ESYS_TR_NONE, out);
}

/* The SRK: the persistent one at 0x81000001 (one ReadPublic), else the
 * owner-template primary made now. */
static ek_rc srk_get(void)
{
    if (st.srk != ESYS_TR_NONE)
        return EK_OK;
    TSS2_RC rc = read_persistent(&st.srk);
    if (ek_tpm_startup_if_needed(rc))
        rc = read_persistent(&st.srk);
    if (rc == TSS2_RC_SUCCESS) {
        st.parent = EK_SRK_HANDLE;
        st.transient = false;
        ek_log(EK_LOG_DEBUG, "SRK: persistent 0x81000001");
        return EK_OK;
    }
    st.srk = ESYS_TR_NONE;
    if (ek_tpm_rc_is_io(rc))
        return ek_tpm_rc(rc, "reading the persistent SRK 0x81000001");
    ek_rc r = create_primary(&st.srk);
    if (r != EK_OK) {
        st.srk = ESYS_TR_NONE;
        return r;
    }
    ek_slots_pin(st.srk, true);
    st.parent = EK_OWNER_PARENT;
    st.transient = true;
    ek_log(EK_LOG_DEBUG, "SRK: created (owner template)");
    return EK_OK;
}

ek_rc ek_tpm_srk(ESYS_TR *srk)
{
    ek_rc r = srk_get();
    if (r == EK_OK)
        *srk = st.srk;
    return r;
}

ek_rc ek_srk_parent(uint32_t *parent)
{
    ek_rc r = srk_get();
    if (r == EK_OK)
        *parent = st.parent;
    return r;
}

ek_rc ek_tpm_parent(uint32_t parent, ESYS_TR *out)
{
    ek_rc r = srk_get();
    if (r != EK_OK)
        return r;
    if (parent == TPM2_RH_OWNER || parent == 0)
        parent = EK_OWNER_PARENT;
    /* A file made under the persistent SRK, which is gone (evicted by any
     * TPM user while the owner auth is empty): the template primary is the
     * same key when 0x81000001 was made from our template (the Load says if
     * not), so such a token survives the eviction. */
    if (parent == EK_SRK_HANDLE && st.parent != EK_SRK_HANDLE) {
        ek_log(EK_LOG_INFO,
               "the persistent SRK 0x%08x is gone; loading under the template "
               "primary instead",
               EK_SRK_HANDLE);
        parent = EK_OWNER_PARENT;
    }
    if (parent == st.parent) {
        *out = st.srk;
        return EK_OK;
    }
    if (parent == EK_OWNER_PARENT) {
        if (st.owner == ESYS_TR_NONE) {
            if ((r = create_primary(&st.owner)) != EK_OK) {
                st.owner = ESYS_TR_NONE;
                return r;
            }
            ek_slots_pin(st.owner, true);
        }
        *out = st.owner;
        return EK_OK;
    }
    if ((parent & EK_HR_MASK) != EK_HR_PERSISTENT)
        return ek_error(EK_ERR_UNSUPPORTED,
                        "key parent 0x%08x is not supported; edgekey loads "
                        "keys under the owner hierarchy (0x40000001) or a persistent parent "
                        "(0x81xxxxxx)",
                        parent);
    /* another persistent parent (key files of other tools): the last one is
     * kept, so keys under one such parent cost one ReadPublic per connection */
    if (st.other != ESYS_TR_NONE && st.other_handle == parent) {
        *out = st.other;
        return EK_OK;
    }
    if (st.other != ESYS_TR_NONE)
        Esys_TR_Close(ek_tpm_ctx(), &st.other);
    st.other = ESYS_TR_NONE;
    TSS2_RC rc =
        Esys_TR_FromTPMPublic(ek_tpm_ctx(), parent, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, out);
    if (rc == TSS2_RC_SUCCESS) {
        st.other = *out;
        st.other_handle = parent;
    }
    if (ek_tpm_rc_is(rc, TPM2_RC_HANDLE))
        return ek_error(EK_ERR_NOT_FOUND,
                        "the key's parent 0x%08x is not in this TPM; the key "
                        "belongs to another TPM or its parent was evicted",
                        parent);
    return ek_tpm_rc(rc, "reading the key's persistent parent");
}

static TSS2_RC start_session(ESYS_TR srk)
{
    TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB};
    return Esys_StartAuthSession(ek_tpm_ctx(), srk, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                 ESYS_TR_NONE, NULL, TPM2_SE_HMAC, &sym, TPM2_ALG_SHA256, &st.sess);
}

static bool memory_full(TSS2_RC rc)
{
    return ek_tpm_rc_is(rc, TPM2_RC_SESSION_MEMORY) || ek_tpm_rc_is(rc, TPM2_RC_OBJECT_MEMORY) ||
           ek_tpm_rc_is(rc, TPM2_RC_SESSION_HANDLES);
}

/* The salted HMAC session, started once per connection: salted with the
 * SRK (ESYS encrypts the salt to it), unbound, AES-128-CFB parameter
 * encryption, SHA-256. If the TPM's session or object memory is full and
 * this connection has not scanned yet, flush dead processes' leftovers and
 * try once more. */
ek_rc ek_tpm_session(TPMA_SESSION attrs, ESYS_TR *session)
{
    ESYS_TR srk;
    ek_rc r = EK_OK;
    if (st.sess == ESYS_TR_NONE && (r = ek_tpm_srk(&srk)) == EK_OK) {
        TSS2_RC rc = start_session(srk);
        if (memory_full(rc) && ek_tpm_flush_dead())
            rc = start_session(srk);
        if (rc)
            st.sess = ESYS_TR_NONE;
        else
            ek_slots_pin(st.sess, false);
        if (rc == TSS2_ESYS_RC_GENERAL_FAILURE) /* ESYS's own crypto for the salt failed */
            return ek_error(EK_ERR_TPM,
                            "starting the salted HMAC session: tpm2-tss could not compute the "
                            "session salt in OpenSSL; on tpm2-tss < 4.0 an application's default "
                            "ENGINE for EC/RSA (e.g. libp11's `-engine pkcs11`) takes that "
                            "step: use the edgekey provider, or do not make the ENGINE the "
                            "default (docs/pkcs11.md)");
        r = ek_tpm_rc(rc, "starting the salted HMAC session (TPM2_StartAuthSession)");
    }
    if (r != EK_OK)
        return r;
    TSS2_RC rc = Esys_TRSess_SetAttributes(ek_tpm_ctx(), st.sess,
                                           TPMA_SESSION_CONTINUESESSION | attrs, 0xff);
    if (rc)
        return ek_tpm_rc(rc, "setting session attributes");
    *session = st.sess;
    return EK_OK;
}

ek_rc ek_tpm_auth_session(const TPM2B_AUTH *auth, ESYS_TR *out)
{
    if (!auth || auth->size == 0) {
        *out = ESYS_TR_PASSWORD; /* nothing secret crosses the interface */
        return EK_OK;
    }
    return ek_tpm_session(0, out);
}

/* A command that failed through the session may have left it unusable
 * (the TPM flushes a session after some errors): forget it, it is started
 * again on next need. */
void ek_tpm_session_reset(void)
{
    ek_slots_unpin(st.sess);
    ek_tpm_flush(&st.sess);
}

/* talk: flush our transient primaries and the session; the ESYS_TRs go
 * with them. Without talk (forked child, broken connection) only our
 * bookkeeping is reset: the ESYS context they belonged to is gone. The
 * connection's drop hook, and keygen.c's before evicting our SRK. */
void ek_srk_forget(bool talk)
{
    ESYS_TR mine[] = {st.sess, st.owner, st.srk};
    for (size_t i = 0; i < sizeof(mine) / sizeof(mine[0]); i++)
        ek_slots_unpin(mine[i]);
    if (talk) {
        ek_tpm_flush(&st.sess);
        ek_tpm_flush(&st.owner);
        if (st.transient)
            ek_tpm_flush(&st.srk);
    }
    if (talk && st.other != ESYS_TR_NONE)
        Esys_TR_Close(ek_tpm_ctx(), &st.other); /* persistent: nothing to flush */
    st.sess = st.owner = st.srk = st.other = ESYS_TR_NONE;
    st.transient = false;
    st.parent = 0;
}

__attribute__((constructor)) static void register_drop(void)
{
    ek_tpm_on_drop(ek_srk_forget);
}
