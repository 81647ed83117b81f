/* edgekey core: the storage primary (SRK), key parents and the ESYS salted
 * session, each found or made once per connection.
 *
 * Key files name their parent. 0x40000001 (the owner hierarchy) means the
 * primary made from the template tpm2-openssl 1.1.1 uses: ECC P-256 (RSA-2048
 * if the TPM has no ECC), SHA-256, restricted|decrypt|noDA|fixedTPM|
 * fixedParent|sensitiveDataOrigin|userWithAuth, AES-128-CFB, empty unique.
 * Checked by experiment: its keys load under this primary and not under the
 * RSA one. A persistent storage key at 0x81000001, when present, is our SRK
 * instead (no CreatePrimary per process): new keys go under it and their
 * files record parent 0x81000001, which tpm2-openssl loads by handle. */
#include <string.h>

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

static bool is_memory_full(TSS2_RC rc)
{
    TSS2_RC b = rc & 0xfff; /* warnings (format 0): no handle/parameter bits */
    return b == TPM2_RC_OBJECT_MEMORY || b == TPM2_RC_SESSION_MEMORY;
}

/* CreatePrimary in the owner hierarchy (owner auth empty). *trc (may be
 * NULL) gets the TPM's answer. */
static ek_rc create_primary(ESYS_TR *out, TPMT_PUBLIC *pub, TSS2_RC *trc)
{
    TPM2B_SENSITIVE_CREATE sens = {0};
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION pcrs = {0};
    TPM2B_PUBLIC tmpl, *outpub = NULL;
    ek_slots_reserve(1);
    primary_template(&tmpl, true);
    TSS2_RC rc = Esys_CreatePrimary(ek_g.esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                    ESYS_TR_NONE, &sens, &tmpl, &outside, &pcrs, out, &outpub,
                                    NULL, NULL, NULL);
    if (is_unsupported(rc)) {
        primary_template(&tmpl, false);
        rc = Esys_CreatePrimary(ek_g.esys, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                ESYS_TR_NONE, &sens, &tmpl, &outside, &pcrs, out, &outpub, NULL,
                                NULL, NULL);
    }
    if (trc)
        *trc = rc;
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
        *pub = outpub->publicArea;
    Esys_Free(outpub);
    return EK_OK;
}

static bool is_storage_key(const TPMT_PUBLIC *p)
{
    TPMA_OBJECT need = TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
    return (p->type == TPM2_ALG_RSA || p->type == TPM2_ALG_ECC) &&
           (p->objectAttributes & need) == need && !(p->objectAttributes & TPMA_OBJECT_SIGN_ENCRYPT);
}

static bool scanned;       /* leftovers of dead processes flushed (this connection) */
static TPM2B_NAME srk_name; /* name of the persistent SRK, from its one ReadPublic */

/* Objects and sessions left loaded on an exclusive TPM (no resource
 * manager) belong to nobody: their owner, a killed process, is gone.
 * Flushed at connect (tpm.c), before this process allocates anything: a
 * later scan, after our own transient SRK was made, let the key of a second
 * live process land on a handle the first still used. The calls below are
 * no-ops then (scanned); they remain for a connection that skipped it. */
static TSS2_RC get_cap(TPM2_CAP cap, UINT32 prop, UINT32 count, TPMS_CAPABILITY_DATA **out)
{
    TPMI_YES_NO more;
    return Esys_GetCapability(ek_g.esys, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, cap, prop,
                              count, &more, out);
}

void ek_tpm_flush_leftovers(void)
{
    static const TPM2_HANDLE ranges[] = {EK_HR_TRANSIENT, EK_HR_LOADED_SESSION};
    if (scanned || !ek_g.exclusive)
        return;
    scanned = true;
    for (size_t r = 0; r < sizeof(ranges) / sizeof(ranges[0]); r++) {
        TPMS_CAPABILITY_DATA *cap = NULL;
        if (get_cap(TPM2_CAP_HANDLES, ranges[r], 64, &cap) == TSS2_RC_SUCCESS) {
            for (UINT32 i = 0; i < cap->data.handles.count; i++) {
                if (ek_g.srk_transient && cap->data.handles.handle[i] == ek_g.srk_tpm)
                    continue; /* ours: the primary made before the scan */
                ek_log(EK_LOG_INFO, "flushing TPM handle 0x%08x left by a dead process",
                       cap->data.handles.handle[i]);
                ek_tpm_flush_raw(cap->data.handles.handle[i]);
            }
        }
        Esys_Free(cap);
    }
}

bool ek_tpm_leftovers_scanned(void)
{
    return scanned || !ek_g.exclusive;
}

/* Public area of a persistent handle, or false if nothing is there. The
 * first command of most connections: a simulator that was never started
 * answers TPM_RC_INITIALIZE, so start it here. */
static bool read_persistent(TPM2_HANDLE h, TPMT_PUBLIC *pub, TPM2B_NAME *name)
{
    TPM2B_PUBLIC out = {0};
    TSS2_RC rc = ek_raw_read_public(h, &out, name);
    if (rc == TPM2_RC_INITIALIZE && Esys_Startup(ek_g.esys, TPM2_SU_CLEAR) == TSS2_RC_SUCCESS)
        rc = ek_raw_read_public(h, &out, name);
    if (rc != TSS2_RC_SUCCESS)
        return false;
    *pub = out.publicArea;
    return true;
}

/* The SRK's public area and handle, with one ReadPublic (persistent) or a
 * CreatePrimary (none persistent: made now, with its ESYS_TR). */
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
    if (ek_g.broken)
        return ek_tpm_rc(TSS2_TCTI_RC_IO_ERROR, "reading the persistent SRK 0x81000001");
    TSS2_RC trc = 0;
    ek_rc r = create_primary(&ek_g.srk, &ek_g.srk_pub, &trc);
    if (r != EK_OK && is_memory_full(trc) && !ek_tpm_leftovers_scanned()) {
        ek_tpm_flush_leftovers(); /* a dead process's objects fill the TPM */
        r = create_primary(&ek_g.srk, &ek_g.srk_pub, NULL);
    }
    if (r != EK_OK)
        return r;
    ek_g.srk_parent = EK_OWNER_PARENT;
    ek_g.srk_transient = true;
    r = ek_tpm_rc(Esys_TR_GetTpmHandle(ek_g.esys, ek_g.srk, &ek_g.srk_tpm), "SRK handle");
    if (r != EK_OK)
        ek_g.srk_tpm = 0;
    return r;
}

/* The persistent SRK's ESYS_TR from the public area and name its one
 * ReadPublic gave, without a second ReadPublic (Esys_TR_FromTPMPublic's):
 * ESYS's serialised form of a key resource is handle || TPM2B_NAME ||
 * UINT32 type (1: key) || TPM2B_PUBLIC (tpm2-tss 2.x-4.x, Esys_TR_Serialize). */
static TSS2_RC srk_tr_deserialize(void)
{
    uint8_t buf[sizeof(TPM2B_NAME) + sizeof(TPM2B_PUBLIC) + 16];
    size_t off = 0;
    TPM2B_PUBLIC pub = {.publicArea = ek_g.srk_pub};
    TSS2_RC rc = Tss2_MU_UINT32_Marshal(EK_SRK_HANDLE, buf, sizeof(buf), &off);
    if (!rc && srk_name.size > 0 && off + 2 + srk_name.size <= sizeof(buf)) {
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
        rc = Esys_TR_Deserialize(ek_g.esys, buf, off, &ek_g.srk);
    return rc;
}

/* The persistent SRK's ESYS_TR. */
static ek_rc srk_tr(void)
{
    if (srk_tr_deserialize() == TSS2_RC_SUCCESS)
        return EK_OK;
    TSS2_RC rc = Esys_TR_FromTPMPublic(ek_g.esys, EK_SRK_HANDLE, ESYS_TR_NONE, ESYS_TR_NONE,
                                       ESYS_TR_NONE, &ek_g.srk);
    if (rc) {
        ek_g.srk = ESYS_TR_NONE;
        return ek_tpm_rc(rc, "reading the persistent SRK 0x81000001");
    }
    return EK_OK;
}

static ek_rc find_srk(void)
{
    ek_rc r = ek_srk_public();
    if (r != EK_OK)
        return r;
    return ek_g.srk == ESYS_TR_NONE ? srk_tr() : EK_OK;
}

ek_rc ek_tpm_srk(ESYS_TR *srk)
{
    if (ek_g.srk == ESYS_TR_NONE) {
        ek_rc r = find_srk();
        if (r != EK_OK)
            return r;
        ek_log(EK_LOG_DEBUG, "SRK: %s", ek_g.srk_transient ? "created (owner template)"
                                                           : "persistent 0x81000001");
    }
    ek_tpm_flush_leftovers(); /* once: a Load, Create or session follows */
    *srk = ek_g.srk;
    return EK_OK;
}

static ek_rc persistent_parent(uint32_t handle, ESYS_TR *out)
{
    size_t i;
    for (i = 0; i < EK_MAX_PERSISTENT_PARENTS && ek_g.pparents[i].handle; i++) {
        if (ek_g.pparents[i].handle == handle) {
            *out = ek_g.pparents[i].tr;
            return EK_OK;
        }
    }
    ESYS_TR tr;
    TSS2_RC rc = Esys_TR_FromTPMPublic(ek_g.esys, handle, ESYS_TR_NONE, ESYS_TR_NONE,
                                       ESYS_TR_NONE, &tr);
    if (rc) {
        ek_rc r = ek_tpm_rc(rc, "reading the key's parent");
        if (r == EK_ERR_NOT_FOUND || r == EK_ERR_TPM)
            return ek_error(EK_ERR_NOT_FOUND, "the key's parent 0x%08x is not in this TPM; "
                            "the key belongs to another TPM or its parent was evicted", handle);
        return r;
    }
    if (i == EK_MAX_PERSISTENT_PARENTS) { /* full: drop the oldest entry */
        Esys_TR_Close(ek_g.esys, &ek_g.pparents[0].tr);
        memmove(&ek_g.pparents[0], &ek_g.pparents[1], sizeof(ek_g.pparents[0]) * (i - 1));
        i--;
    }
    ek_g.pparents[i].handle = handle;
    ek_g.pparents[i].tr = tr;
    *out = tr;
    return EK_OK;
}

ek_rc ek_tpm_parent(uint32_t parent, ESYS_TR *out)
{
    ESYS_TR srk;
    ek_rc r = ek_tpm_srk(&srk);
    if (r != EK_OK)
        return r;
    if (parent == ek_g.srk_parent) {
        *out = srk;
        return EK_OK;
    }
    if (parent == EK_OWNER_PARENT || parent == TPM2_RH_OWNER || parent == 0) {
        if (ek_g.owner_primary == ESYS_TR_NONE) {
            r = create_primary(&ek_g.owner_primary, NULL, NULL);
            if (r != EK_OK)
                return r;
        }
        *out = ek_g.owner_primary;
        return EK_OK;
    }
    if ((parent & EK_HR_MASK) == EK_HR_PERSISTENT)
        return persistent_parent(parent, out);
    return ek_error(EK_ERR_UNSUPPORTED, "key parent 0x%08x is not supported; edgekey loads keys "
                    "under the owner hierarchy (0x40000001) or a persistent parent (0x81xxxxxx)",
                    parent);
}

/* Transient primaries count against the slots the key cache may use. */
unsigned ek_srk_transient_count(void)
{
    return (ek_g.srk != ESYS_TR_NONE && ek_g.srk_transient) +
           (ek_g.owner_primary != ESYS_TR_NONE);
}

ek_rc ek_tpm_session(TPMA_SESSION attrs, ESYS_TR *session)
{
    if (ek_g.esess == ESYS_TR_NONE) {
        ESYS_TR srk;
        ek_rc r = ek_tpm_srk(&srk);
        if (r != EK_OK)
            return r;
        TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_AES, .keyBits.aes = 128,
                            .mode.aes = TPM2_ALG_CFB};
        TSS2_RC rc = Esys_StartAuthSession(ek_g.esys, srk, ESYS_TR_NONE, ESYS_TR_NONE,
                                           ESYS_TR_NONE, ESYS_TR_NONE, NULL, TPM2_SE_HMAC, &sym,
                                           TPM2_ALG_SHA256, &ek_g.esess);
        if (rc) {
            ek_g.esess = ESYS_TR_NONE;
            return ek_tpm_rc(rc, "starting the salted HMAC session");
        }
    }
    TSS2_RC rc = Esys_TRSess_SetAttributes(ek_g.esys, ek_g.esess,
                                           TPMA_SESSION_CONTINUESESSION | attrs, 0xff);
    if (rc)
        return ek_tpm_rc(rc, "setting session attributes");
    *session = ek_g.esess;
    return EK_OK;
}

static void drop(ESYS_TR *tr, bool flush, bool talk)
{
    if (*tr == ESYS_TR_NONE)
        return;
    if (talk && flush)
        Esys_FlushContext(ek_g.esys, *tr);
    else if (talk)
        Esys_TR_Close(ek_g.esys, tr);
    *tr = ESYS_TR_NONE;
}

void ek_srk_forget(bool talk)
{
    drop(&ek_g.esess, true, talk);
    drop(&ek_g.owner_primary, true, talk);
    drop(&ek_g.srk, ek_g.srk_transient, talk);
    for (size_t i = 0; i < EK_MAX_PERSISTENT_PARENTS; i++) {
        if (ek_g.pparents[i].handle)
            drop(&ek_g.pparents[i].tr, false, talk);
        ek_g.pparents[i].handle = 0;
    }
    ek_g.srk_transient = false;
    ek_g.srk_parent = 0;
    ek_g.srk_tpm = 0;
    memset(&srk_name, 0, sizeof(srk_name));
    scanned = false;
}
