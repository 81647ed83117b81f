/* edgekey core: keeping keys loaded within the TPM's object slots.
 *
 * A TPM without a resource manager (swtpm, many chips: 3 transient slots;
 * /dev/tpm0 or swtpm: directly) fails a TPM2_Load with "out of memory for
 * object contexts" once the slots are full. Keys stay loaded after use (the
 * steady state is one TPM2_Sign per signature) in a least-recently-used list
 * bounded by the slots left after the transient primaries; the oldest key is
 * flushed when another must load, and reloads from its blob on its next use.
 * Behind a resource manager the bound is generous (the RM swaps). Handles
 * go stale when the connection is re-opened; the generation tells. */
#include "ek_log.h"
#include "ek_tpm_int.h"

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

unsigned ek_keys_loaded(void)
{
    return lru_n;
}

/* Keys we may keep loaded at once. */
static unsigned key_budget(void)
{
    if (!ek_g.exclusive)
        return RM_MAX_LOADED;
    unsigned parents = ek_srk_transient_count();
    return ek_g.slots > parents + 1 ? ek_g.slots - parents : 1;
}

void ek_key_unload_locked(ek_key *key)
{
    if (key->transient && key->gen == ek_tpm_generation() && ek_tpm_connected()) {
        TSS2_RC rc = Esys_FlushContext(ek_g.esys, key->tr);
        if (rc && ek_tpm_rc_is_io(rc))
            ek_tpm_mark_broken();
    }
    lru_remove(key);
    key->transient = false;
    key->tr = ESYS_TR_NONE;
    key->tpm_handle = 0;
}

void ek_slots_reserve(unsigned n)
{
    while (lru_tail && lru_n + n > key_budget()) {
        ek_log(EK_LOG_DEBUG, "evicting the least recently used key to free a TPM slot");
        ek_key_unload_locked(lru_tail);
    }
}

void ek_tpm_reserve_slot(void)
{
    ek_slots_reserve(1);
}

void ek_keys_forget(bool talk)
{
    while (lru_head) {
        ek_key *k = lru_head;
        if (talk && k->transient && k->gen == ek_tpm_generation())
            Esys_FlushContext(ek_g.esys, k->tr);
        lru_remove(k);
        k->transient = false;
        k->tr = ESYS_TR_NONE;
        k->tpm_handle = 0;
    }
}

static TSS2_RC load(ek_key *key, ESYS_TR parent)
{
    TSS2_RC rc = Esys_Load(ek_g.esys, parent, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                           &key->kf.priv, &key->kf.pub, &key->tr);
    if ((rc & 0xfff) == TPM2_RC_OBJECT_MEMORY && lru_tail) {
        /* someone else holds a slot (e.g. a sealed object): make more room */
        ek_key_unload_locked(lru_tail);
        rc = Esys_Load(ek_g.esys, parent, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                       &key->kf.priv, &key->kf.pub, &key->tr);
    }
    return rc;
}

ek_rc ek_key_use(ek_key *key, ESYS_TR *tr)
{
    uint64_t gen = ek_tpm_generation();
    if (key->handle) { /* persistent: nothing to load */
        key->tpm_handle = key->handle;
        key->gen = gen;
        *tr = ESYS_TR_NONE;
        return EK_OK;
    }
    if (key->transient && key->gen == gen) {
        if (lru_head != key) {
            lru_remove(key);
            lru_push_front(key);
        }
        *tr = key->tr;
        return EK_OK;
    }
    lru_remove(key); /* stale entry from an earlier connection, if any */
    key->transient = false;
    ESYS_TR parent;
    ek_rc r = ek_tpm_parent(key->kf.parent, &parent);
    if (r != EK_OK)
        return r;
    ek_slots_reserve(1);
    TSS2_RC rc = load(key, parent);
    if (rc)
        return ek_tpm_rc(rc, "loading the key into the TPM (TPM2_Load)");
    rc = Esys_TR_GetTpmHandle(ek_g.esys, key->tr, &key->tpm_handle);
    if (rc) {
        Esys_FlushContext(ek_g.esys, key->tr);
        key->tr = ESYS_TR_NONE;
        return ek_tpm_rc(rc, "reading the loaded key's handle");
    }
    key->gen = gen;
    key->transient = true;
    lru_push_front(key);
    *tr = key->tr;
    return EK_OK;
}

void ek_key_unload(ek_key *key)
{
    if (!key)
        return;
    ek_tpm_mutex_lock();
    ek_key_unload_locked(key);
    ek_tpm_mutex_unlock();
}
