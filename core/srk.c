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
 * Everything here is raw commands (rawcmd.c): the ESYS_TR of the SRK and
 * the ESYS session are made only for callers that still use ESYS. */
#include <string.h>

#include "ek_info.h"
#include "ek_log.h"
#include "ek_srk.h"
#include "ek_tpm_int.h"

#define PRIMARY_ATTRS                                                                       \
    (TPMA_OBJECT_USERWITHAUTH | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT |            \
     TPMA_OBJECT_NODA | TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |                  \
     TPMA_OBJECT_SENSITIVEDATAORIGIN)

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

/* Raw CreatePrimary in the owner hierarchy (owner auth empty), ECC P-256
 * template, RSA-2048 if the TPM has no ECC. Our first object on this
 * connection, possibly: ek_slots_reserve runs the leftover scan first. */
static ek_rc create_primary(TPM2_HANDLE *out, TPMT_PUBLIC *pub)
{
    TPM2B_PUBLIC tmpl, outpub;
    ek_slots_reserve(1);
    primary_template(&tmpl, true);
    TSS2_RC rc = ek_raw_create_primary(&tmpl, out, &outpub);
    if (is_unsupported(rc)) {
        primary_template(&tmpl, false);
        rc = ek_raw_create_primary(&tmpl, out, &outpub);
    }
    if (rc) {
        ek_rc r = ek_tpm_rc(rc, "creating the storage primary key (owner hierarchy)");
        if (r == EK_ERR_AUTH)
            return ek_error(r, "creating the storage primary key: the owner hierarchy has an "
                            "authorization value; edgekey needs it empty, or make a persistent "
                            "SRK at 0x%08x (tpm2_createprimary + tpm2_evictcontrol)",
                            EK_SRK_HANDLE);
        return r;
    }
    if (pub)
        *pub = outpub.publicArea;
    return EK_OK;
}

static bool is_storage_key(const TPMT_PUBLIC *p)
{
    TPMA_OBJECT need = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
    return (p->type == TPM2_ALG_RSA || p->type == TPM2_ALG_ECC) &&
           (p->objectAttributes & need) == need && !(p->objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT);
}

static TPM2B_NAME srk_name; /* name of the SRK (persistent: from its one ReadPublic) */

/* Handles this connection holds that the scan must not flush: the scan
 * runs before our first object, but our HMAC session may exist already. */
static bool ours(TPM2_HANDLE h)
{
    TPM2_HANDLE es = 0;
    if (ek_g.esys && ek_g.esess != ESYS_TR_NONE)
        Esys_TR_GetTpmHandle(ek_g.esys, ek_g.esess, &es);
    return (ek_g.hsess.active && h == ek_g.hsess.handle) || (es && h == es) ||
           (ek_g.srk_transient && h == ek_g.srk_tpm) || (ek_g.owner_tpm && h == ek_g.owner_tpm);
}

/* Objects and sessions left loaded on an exclusive TPM (no resource
 * manager) belong to nobody: their owner, a killed process, is gone.
 * Objects are flushed just before this connection's first object
 * (ek_tpm_before_alloc); sessions, and objects if not done yet, when a
 * StartAuthSession finds the TPM's memory full (sess.c): a PIN login from
 * NV allocates no object and so pays nothing, and a process that signs
 * once pays one GetCapability. Never after our own transient SRK was made:
 * that order let the key of a second live process land on a handle the
 * first still used. Raw GetCapability: no ESYS. */
static void flush_range(TPM2_HANDLE range, bool *done)
{
    TPMS_CAPABILITY_DATA cap;
    if (*done || !ek_g.exclusive)
        return;
    *done = true;
    if (ek_raw_get_cap(TPM2_CAP_HANDLES, range, 64, &cap, NULL) != TSS2_RC_SUCCESS)
        return;
    for (UINT32 i = 0; i < cap.data.handles.count; i++) {
        TPM2_HANDLE h = cap.data.handles.handle[i];
        if (ours(h))
            continue;
        ek_log(EK_LOG_INFO, "flushing TPM handle 0x%08x left by a dead process", h);
        ek_tpm_flush_raw(h);
    }
}

void ek_tpm_flush_leftovers(void)
{
    flush_range(EK_HR_TRANSIENT, &ek_g.scanned_objs);
    flush_range(EK_HR_LOADED_SESSION, &ek_g.scanned_sess);
}

bool ek_tpm_leftovers_scanned(void)
{
    return (ek_g.scanned_objs && ek_g.scanned_sess) || !ek_g.exclusive;
}

/* Transient slots (TPM2_PT_HR_TRANSIENT_MIN): from the store's facts cache
 * (core/facts.c), else one raw GetCapability; 3 if the TPM does not say.
 * Asked only when a second object must fit (keyload.c): a process that
 * signs once never needs it. */
uint32_t ek_tpm_slots(void)
{
    TPMS_CAPABILITY_DATA cap;
    if (ek_g.slots_known)
        return ek_g.slots;
    ek_g.slots_known = true;
    if (ek_tpm_facts_slots(&ek_g.slots))
        return ek_g.slots;
    ek_g.slots = 3;
    if (ek_raw_get_cap(TPM2_CAP_TPM_PROPERTIES, TPM2_PT_HR_TRANSIENT_MIN, 1, &cap, NULL) ==
            TSS2_RC_SUCCESS &&
        cap.data.tpmProperties.count == 1 &&
        cap.data.tpmProperties.tpmProperty[0].property == TPM2_PT_HR_TRANSIENT_MIN)
        ek_g.slots = cap.data.tpmProperties.tpmProperty[0].value;
    return ek_g.slots;
}

void ek_tpm_before_alloc(void)
{
    flush_range(EK_HR_TRANSIENT, &ek_g.scanned_objs); /* exclusive TCTI only; once */
}

/* Public area of a persistent handle, or false if nothing is there. (A
 * simulator that was never started is started by rawcmd.c.) */
static bool read_persistent(TPM2_HANDLE h, TPMT_PUBLIC *pub, TPM2B_NAME *name)
{
    TPM2B_PUBLIC out = {0};
    if (ek_raw_read_public(h, &out, name) != TSS2_RC_SUCCESS)
        return false;
    *pub = out.publicArea;
    return true;
}

/* The SRK's public area and handle, with one ReadPublic (persistent) or a
 * raw CreatePrimary (none persistent: made now). */
ek_rc ek_srk_public(void)
{
    TPMT_PUBLIC pub;
    if (ek_g.srk_tpm)
        return EK_OK;
    if (read_persistent(EK_SRK_HANDLE, &pub, &srk_name) && is_storage_key(&pub)) {
        ek_g.srk_pub = pub;
        ek_g.srk_parent = EK_SRK_HANDLE;
        ek_g.srk_transient = false;
        ek_g.srk_tpm = EK_SRK_HANDLE;
        return EK_OK;
    }
    memset(&srk_name, 0, sizeof(srk_name));
    if (ek_g.broken)
        return ek_tpm_rc(TSS2_TCTI_RC_IO_ERROR, "reading the persistent SRK 0x81000001");
    TPM2_HANDLE h = 0;
    ek_rc r = create_primary(&h, &ek_g.srk_pub);
    if (r != EK_OK)
        return r;
    ek_g.srk_parent = EK_OWNER_PARENT;
    ek_g.srk_transient = true;
    ek_g.srk_tpm = h;
    return EK_OK;
}

/* The SRK's ESYS_TR from the public area and name we have, without a
 * second ReadPublic (Esys_TR_FromTPMPublic's): ESYS's serialised form of a
 * key resource is handle || TPM2B_NAME || UINT32 type (1: key) ||
 * TPM2B_PUBLIC (tpm2-tss 2.x-4.x, Esys_TR_Serialize). */
static TSS2_RC srk_tr_deserialize(ESYS_CONTEXT *esys)
{
    uint8_t buf[sizeof(TPM2B_NAME) + sizeof(TPM2B_PUBLIC) + 16];
    size_t off = 0;
    TPM2B_PUBLIC pub = {.publicArea = ek_g.srk_pub};
    if (!srk_name.size && !ek_sw_public_name(&ek_g.srk_pub, &srk_name))
        return TSS2_ESYS_RC_BAD_VALUE;
    TSS2_RC rc = Tss2_MU_UINT32_Marshal(ek_g.srk_tpm, buf, sizeof(buf), &off);
    if (!rc && off + 2 + srk_name.size <= sizeof(buf)) {
        buf[off] = (uint8_t)(srk_name.size >> 8);
        buf[off + 1] = (uint8_t)srk_name.size;
        memcpy(buf + off + 2, srk_name.name, srk_name.size);
        off += 2 + srk_name.size;
    } else if (!rc) {
        rc = TSS2_ESYS_RC_BAD_VALUE;
    }
    if (!rc)
        rc = Tss2_MU_UINT32_Marshal(1, buf, sizeof(buf), &off);
    if (!rc)
        rc = Tss2_MU_TPM2B_PUBLIC_Marshal(&pub, buf, sizeof(buf), &off);
    if (!rc)
        rc = Esys_TR_Deserialize(esys, buf, off, &ek_g.srk);
    return rc;
}

/* The SRK's ESYS_TR (makes ESYS). */
static ek_rc srk_tr(void)
{
    ESYS_CONTEXT *esys;
    ek_rc r = ek_tpm_esys_get(&esys);
    if (r != EK_OK || srk_tr_deserialize(esys) == TSS2_RC_SUCCESS)
        return r;
    TSS2_RC rc = Esys_TR_FromTPMPublic(esys, ek_g.srk_tpm, ESYS_TR_NONE, ESYS_TR_NONE,
                                       ESYS_TR_NONE, &ek_g.srk);
    if (rc) {
        ek_g.srk = ESYS_TR_NONE;
        return ek_tpm_rc(rc, "reading the storage primary key (SRK)");
    }
    return EK_OK;
}

/* For ESYS users only (ek_tpm.h); core itself uses ek_g.srk_tpm. */
ek_rc ek_tpm_srk(ESYS_TR *srk)
{
    ek_rc r = ek_srk_public();
    if (r == EK_OK && ek_g.srk == ESYS_TR_NONE) {
        r = srk_tr();
        ek_log(EK_LOG_DEBUG, "SRK: %s", ek_g.srk_transient ? "created (owner template)"
                                                           : "persistent 0x81000001");
    }
    if (r == EK_OK)
        *srk = ek_g.srk;
    return r;
}

ek_rc ek_tpm_parent(uint32_t parent, TPM2_HANDLE *out)
{
    ek_rc r = ek_srk_public();
    if (r != EK_OK)
        return r;
    if (parent == ek_g.srk_parent) {
        *out = ek_g.srk_tpm;
        return EK_OK;
    }
    if (parent == EK_OWNER_PARENT || parent == TPM2_RH_OWNER || parent == 0) {
        if (!ek_g.owner_tpm && (r = create_primary(&ek_g.owner_tpm, NULL)) != EK_OK)
            return r;
        *out = ek_g.owner_tpm;
        return EK_OK;
    }
    if ((parent & EK_HR_MASK) == EK_HR_PERSISTENT) {
        *out = parent; /* the Load says if it is not there (keyload.c) */
        return EK_OK;
    }
    return ek_error(EK_ERR_UNSUPPORTED, "key parent 0x%08x is not supported; edgekey loads keys "
                    "under the owner hierarchy (0x40000001) or a persistent parent (0x81xxxxxx)",
                    parent);
}

/* Transient primaries count against the slots the key cache may use. */
unsigned ek_srk_transient_count(void)
{
    return (ek_g.srk_tpm && ek_g.srk_transient) + (ek_g.owner_tpm != 0);
}

ek_rc ek_tpm_session(TPMA_SESSION attrs, ESYS_TR *session)
{
    ESYS_CONTEXT *esys;
    ESYS_TR srk;
    ek_rc r = ek_tpm_esys_get(&esys);
    if (r == EK_OK && ek_g.esess == ESYS_TR_NONE && (r = ek_tpm_srk(&srk)) == EK_OK) {
        TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_AES, .keyBits.aes = 128,
                            .mode.aes = TPM2_ALG_CFB};
        TSS2_RC rc = Esys_StartAuthSession(esys, srk, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                           ESYS_TR_NONE, NULL, TPM2_SE_HMAC, &sym,
                                           TPM2_ALG_SHA256, &ek_g.esess);
        if (rc)
            ek_g.esess = ESYS_TR_NONE;
        r = ek_tpm_rc(rc, "starting the salted HMAC session");
    }
    if (r != EK_OK)
        return r;
    TSS2_RC rc = Esys_TRSess_SetAttributes(esys, ek_g.esess,
                                           TPMA_SESSION_CONTINUESESSION | attrs, 0xff);
    if (rc)
        return ek_tpm_rc(rc, "setting session attributes");
    *session = ek_g.esess;
    return EK_OK;
}

/* talk: flush our transient primaries (raw) and the ESYS session; the
 * ESYS_TRs go with them (no command). Without talk (forked child, broken
 * connection) only our bookkeeping is reset. */
void ek_srk_forget(bool talk)
{
    if (talk && ek_g.esys && ek_g.esess != ESYS_TR_NONE)
        Esys_FlushContext(ek_g.esys, ek_g.esess);
    if (talk && ek_g.owner_tpm)
        ek_tpm_flush_raw(ek_g.owner_tpm);
    if (talk && ek_g.srk_transient && ek_g.srk_tpm)
        ek_tpm_flush_raw(ek_g.srk_tpm);
    if (talk && ek_g.esys && ek_g.srk != ESYS_TR_NONE)
        Esys_TR_Close(ek_g.esys, &ek_g.srk);
    ek_g.esess = ESYS_TR_NONE;
    ek_g.srk = ESYS_TR_NONE;
    ek_g.owner_tpm = 0;
    ek_g.srk_transient = false;
    ek_g.srk_parent = 0;
    ek_g.srk_tpm = 0;
    memset(&srk_name, 0, sizeof(srk_name));
}
