/* edgekey core: the TPM's transient object slots (ek_tpm_int.h, "slots.c").
 *
 * A TPM without a resource manager (swtpm, many chips: 3 transient slots;
 * /dev/tpm0 or swtpm: directly) fails a TPM2_Load with "out of memory for
 * object contexts" once the slots are full. Keys stay loaded after use (the
 * steady state is one TPM2_Sign per signature) in a least-recently-used list
 * bounded by the slots left after our pinned objects (transient primaries);
 * the oldest key is flushed when another must load, and reloads from its
 * blob on its next use. Behind a resource manager the bound is generous (the
 * RM swaps). Handles go stale when the connection is re-opened; the
 * generation tells.
 *
 * On an exclusive TPM the objects and sessions a dead process left are
 * flushed here too: objects just before this connection's first object,
 * sessions when a StartAuthSession finds the TPM's memory full (srk.c).
 * Never after our own transient SRK was made: that order let the key of a
 * second live process land on a handle the first still used. The flush
 * goes by TPM handle through ESYS's own SAPI context (these handles have no
 * ESYS_TR, and making one would cost a ReadPublic each); what srk.c pinned
 * here is spared. */
#include <tss2/tss2_sys.h>

#include "ek_log.h"
#include "ek_tpm_int.h"

/* Our own transient objects and sessions other than keys (srk.c). */
#define PIN_MAX 4
typedef struct pin {
    ESYS_TR tr;
    bool object; /* uses an object slot (not a session) */
} pin;
static pin pinned[PIN_MAX];
static unsigned pinned_n;
static bool scanned_objs, scanned_sess, slots_known;
static uint32_t slots_n;

void ek_slots_pin(ESYS_TR tr, bool object)
{
    if (pinned_n < PIN_MAX)
        pinned[pinned_n++] = (pin){tr, object};
}

void ek_slots_unpin(ESYS_TR tr)
{
    for (unsigned i = 0; i < pinned_n; i++)
        if (pinned[i].tr == tr) {
            pinned[i] = pinned[--pinned_n];
            return;
        }
}

static unsigned pinned_objects(void)
{
    unsigned n = 0;
    for (unsigned i = 0; i < pinned_n; i++)
        n += pinned[i].object;
    return n;
}

static bool ours(TPM2_HANDLE h)
{
    for (unsigned i = 0; i < pinned_n; i++) {
        TPM2_HANDLE t = 0;
        if (Esys_TR_GetTpmHandle(ek_tpm_ctx(), pinned[i].tr, &t) == TSS2_RC_SUCCESS && t == h)
            return true;
    }
    return false;
}

static void flush_range(TPM2_HANDLE range, bool *done)
{
    TPMS_CAPABILITY_DATA cap;
    TSS2_SYS_CONTEXT *sys = NULL;
    if (*done || !ek_tpm_exclusive())
        return;
    *done = true;
    if (ek_tpm_get_cap(TPM2_CAP_HANDLES, range, 64, &cap, NULL) != TSS2_RC_SUCCESS ||
        Esys_GetSysContext(ek_tpm_ctx(), &sys) != TSS2_RC_SUCCESS || !sys)
        return;
    for (UINT32 i = 0; i < cap.data.handles.count; i++) {
        TPM2_HANDLE h = cap.data.handles.handle[i];
        if (ours(h))
            continue;
        ek_log(EK_LOG_INFO, "flushing TPM handle 0x%08x left by a dead process", h);
        Tss2_Sys_FlushContext(sys, h);
    }
}

void ek_tpm_before_alloc(void)
{
    flush_range(EK_HR_TRANSIENT, &scanned_objs); /* exclusive TCTI only; once */
}

bool ek_tpm_flush_dead(void)
{
    bool first = !scanned_sess;
    flush_range(EK_HR_LOADED_SESSION, &scanned_sess);
    flush_range(EK_HR_TRANSIENT, &scanned_objs);
    return first && ek_tpm_exclusive();
}

/* Transient slots (TPM2_PT_HR_TRANSIENT_MIN): one GetCapability per
 * connection, 3 if the TPM does not say. Asked only when a second object
 * must fit: a process that signs once never needs it. */
uint32_t ek_tpm_slots(void)
{
    TPMS_CAPABILITY_DATA cap;
    if (slots_known)
        return slots_n;
    slots_known = true;
    slots_n = 3;
    if (ek_tpm_get_cap(TPM2_CAP_TPM_PROPERTIES, TPM2_PT_HR_TRANSIENT_MIN, 1, &cap, NULL) ==
            TSS2_RC_SUCCESS &&
        cap.data.tpmProperties.count == 1 &&
        cap.data.tpmProperties.tpmProperty[0].property == TPM2_PT_HR_TRANSIENT_MIN)
        slots_n = cap.data.tpmProperties.tpmProperty[0].value;
    return slots_n;
}

#define RM_MAX_LOADED 16

static ek_key *lru_head, *lru_tail; /* head = most recently used */
static unsigned lru_n;

static void lru_remove(ek_key *k)
{
    if (k->lru_prev)
        k->lru_prev->lru_next = k->lru_next;
    else if (lru_head == k)
        lru_head = k->lru_next;
    else
        return; /* not in the list */
    if (k->lru_next)
        k->lru_next->lru_prev = k->lru_prev;
    else
        lru_tail = k->lru_prev;
    k->lru_prev = k->lru_next = NULL;
    lru_n--;
}

void ek_lru_remove(ek_key *k)
{
    lru_remove(k);
}

static void lru_push_front(ek_key *k)
{
    k->lru_prev = NULL;
    k->lru_next = lru_head;
    if (lru_head)
        lru_head->lru_prev = k;
    lru_head = k;
    if (!lru_tail)
        lru_tail = k;
    lru_n++;
}

/* k becomes the most recently used loaded key. */
void ek_lru_touch(ek_key *k)
{
    if (lru_head == k)
        return;
    lru_remove(k);
    lru_push_front(k);
}

unsigned ek_keys_loaded(void)
{
    return lru_n;
}

/* Keys we may keep loaded at once. */
static unsigned key_budget(void)
{
    if (!ek_tpm_exclusive())
        return RM_MAX_LOADED;
    unsigned parents = pinned_objects(), slots = ek_tpm_slots();
    return slots > parents + 1 ? slots - parents : 1;
}

static void forget_load(ek_key *key, bool same_conn)
{
    if (key->tr != ESYS_TR_NONE && same_conn && ek_tpm_ctx())
        Esys_TR_Close(ek_tpm_ctx(), &key->tr);
    key->tr = ESYS_TR_NONE;
    lru_remove(key);
    key->transient = false;
}

void ek_key_unload_locked(ek_key *key)
{
    bool live = key->gen == ek_tpm_generation() && ek_tpm_connected();
    if (key->transient && live) {
        ek_tpm_flush(&key->tr);
        live = false; /* flushed: nothing left to close */
    }
    forget_load(key, live);
}

/* Before each of our objects: the first one's leftover scan, then LRU
 * eviction down to the slots left. */
void ek_slots_reserve(unsigned n)
{
    ek_tpm_before_alloc();
    while (lru_tail && lru_n + n > key_budget()) {
        ek_log(EK_LOG_DEBUG, "evicting the least recently used key to free a TPM slot");
        ek_key_unload_locked(lru_tail);
    }
}

bool ek_slots_evict_one(void)
{
    if (!lru_tail)
        return false;
    ek_key_unload_locked(lru_tail);
    return true;
}

void ek_tpm_reserve_slot(void)
{
    ek_slots_reserve(1);
}

/* The connection's drop hook (tpm.c): talk = flush first. */
static void keys_forget(bool talk)
{
    while (lru_head)
        talk ? ek_key_unload_locked(lru_head) : forget_load(lru_head, false);
    pinned_n = 0;
    scanned_objs = scanned_sess = slots_known = false;
}

__attribute__((constructor)) static void register_drop(void)
{
    ek_tpm_on_drop(keys_forget);
}

void ek_key_unload(ek_key *key)
{
    if (!key)
        return;
    ek_tpm_mutex_lock();
    ek_key_unload_locked(key);
    ek_tpm_mutex_unlock();
}
