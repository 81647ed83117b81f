/* edgekey core: keeping keys loaded within the TPM's object slots.
 *
 * A TPM without a resource manager (swtpm, many chips: 3 transient slots;
 * /dev/tpm0 or swtpm: directly) fails a TPM2_Load with "out of memory for
 * object contexts" once the slots are full. Keys stay loaded after use (the
 * steady state is one TPM2_Sign per signature) in a least-recently-used list
 * bounded by the slots left after the transient primaries; the oldest key is
 * flushed when another must load, and reloads from its blob on its next use.
 * Behind a resource manager the bound is generous (the RM swaps). Handles
 * go stale when the connection is re-opened; the generation tells.
 *
 * Loading is Esys_Load under the parent's ESYS_TR (srk.c). */
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
    if (!ek_tpm_exclusive())
        return RM_MAX_LOADED;
    unsigned parents = ek_srk_transient_count(), slots = ek_tpm_slots();
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

void ek_tpm_reserve_slot(void)
{
    ek_slots_reserve(1);
}

void ek_keys_forget(bool talk)
{
    while (lru_head)
        talk ? ek_key_unload_locked(lru_head) : forget_load(lru_head, false);
}

static TSS2_RC load(ESYS_TR parent, const TPM2B_PRIVATE *priv, const TPM2B_PUBLIC *pub,
                    ESYS_TR *out)
{
    return Esys_Load(ek_tpm_ctx(), parent, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, priv,
                     pub, out);
}

ek_rc ek_load_under(uint32_t parent, const TPM2B_PRIVATE *priv, const TPM2B_PUBLIC *pub,
                    const char *what, ESYS_TR *out, TSS2_RC *tpm_rc)
{
    ESYS_TR ph;
    ek_rc r = ek_tpm_parent(parent, &ph);
    if (r != EK_OK)
        return r;
    ek_slots_reserve(1);
    TSS2_RC rc = load(ph, priv, pub, out);
    if (ek_tpm_rc_is(rc, TPM2_RC_OBJECT_MEMORY) && lru_tail) {
        /* someone else holds a slot (e.g. a sealed object): make more room */
        ek_key_unload_locked(lru_tail);
        rc = load(ph, priv, pub, out);
    }
    if (tpm_rc)
        *tpm_rc = rc;
    if (rc)
        *out = ESYS_TR_NONE;
    return ek_tpm_rc(rc, what);
}

/* A persistent key's ESYS_TR (one ReadPublic per connection, unless
 * ek_key_from_handle's is still current). */
static ek_rc persistent_tr(ek_key *key, uint64_t gen)
{
    if (key->tr != ESYS_TR_NONE && key->gen == gen)
        return EK_OK;
    key->tr = ESYS_TR_NONE;
    TSS2_RC rc = Esys_TR_FromTPMPublic(ek_tpm_ctx(), key->handle, ESYS_TR_NONE, ESYS_TR_NONE,
                                       ESYS_TR_NONE, &key->tr);
    if (rc) {
        key->tr = ESYS_TR_NONE;
        return ek_tpm_rc(rc, "reading the persistent key (TPM2_ReadPublic)");
    }
    key->gen = gen;
    return EK_OK;
}

ek_rc ek_key_use(ek_key *key)
{
    uint64_t gen = ek_tpm_generation();
    if (key->handle)
        return persistent_tr(key, gen);
    if (key->transient && key->gen == gen) {
        if (lru_head != key) {
            lru_remove(key);
            lru_push_front(key);
        }
        return EK_OK;
    }
    forget_load(key, false); /* stale entry from an earlier connection, if any */
    ESYS_TR h = ESYS_TR_NONE;
    ek_rc r = ek_load_under(key->kf.parent, &key->kf.priv, &key->kf.pub,
                            "loading the key into the TPM (TPM2_Load)", &h, NULL);
    if (r != EK_OK)
        return r;
    key->tr = h;
    key->gen = gen;
    key->transient = true;
    lru_push_front(key);
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
