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
 * Loading is a raw TPM2_Load (rawcmd.c) and signing a raw TPM2_Sign
 * (sign.c): a key's ESYS_TR is made only for a caller that asks for it. */
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
    unsigned parents = ek_srk_transient_count(), slots = ek_tpm_slots();
    return slots > parents + 1 ? slots - parents : 1;
}

/* Forget a key's ESYS_TR, if one was made (no TPM command). */
static void close_tr(ek_key *key, bool same_conn)
{
    if (key->tr != ESYS_TR_NONE && same_conn && ek_g.esys)
        Esys_TR_Close(ek_g.esys, &key->tr);
    key->tr = ESYS_TR_NONE;
}

static void forget_load(ek_key *key, bool same_conn)
{
    close_tr(key, same_conn);
    lru_remove(key);
    key->transient = false;
    key->tpm_handle = 0;
}

void ek_key_unload_locked(ek_key *key)
{
    bool live = key->gen == ek_tpm_generation() && ek_tpm_connected();
    if (key->transient && live)
        ek_tpm_flush_raw(key->tpm_handle);
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
    while (lru_head) {
        ek_key *k = lru_head;
        bool live = talk && k->gen == ek_tpm_generation();
        if (live && k->transient)
            ek_tpm_flush_raw(k->tpm_handle);
        forget_load(k, live);
    }
}

static bool rc_is_handle(TSS2_RC rc)
{
    return (rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER && (rc & TPM2_RC_FMT1) &&
           (rc & (TPM2_RC_FMT1 | 0x3f)) == TPM2_RC_HANDLE;
}

ek_rc ek_load_under(uint32_t parent, const TPM2B_PRIVATE *priv, const TPM2B_PUBLIC *pub,
                    const char *what, TPM2_HANDLE *out, TSS2_RC *tpm_rc)
{
    TPM2_HANDLE ph;
    ek_rc r = ek_tpm_parent(parent, &ph);
    if (r != EK_OK)
        return r;
    ek_slots_reserve(1);
    TSS2_RC rc = ek_raw_load(ph, priv, pub, out);
    if ((rc & 0xfff) == TPM2_RC_OBJECT_MEMORY && lru_tail) {
        /* someone else holds a slot (e.g. a sealed object): make more room */
        ek_key_unload_locked(lru_tail);
        rc = ek_raw_load(ph, priv, pub, out);
    }
    if (tpm_rc)
        *tpm_rc = rc;
    if (rc && rc_is_handle(rc) && (ph & EK_HR_MASK) == EK_HR_PERSISTENT)
        return ek_error(EK_ERR_NOT_FOUND, "the key's parent 0x%08x is not in this TPM; the key "
                        "belongs to another TPM or its parent was evicted", ph);
    return ek_tpm_rc(rc, what);
}

/* The ESYS_TR of a loaded or persistent key, for ESYS users (makes ESYS). */
static ek_rc key_tr(ek_key *key, ESYS_TR *tr)
{
    ESYS_CONTEXT *esys;
    ek_rc r = EK_OK;
    if (key->handle) {
        *tr = ESYS_TR_NONE; /* persistent: callers go by handle */
        return EK_OK;
    }
    if (key->tr == ESYS_TR_NONE && (r = ek_tpm_esys_get(&esys)) == EK_OK) {
        TSS2_RC rc = Esys_TR_FromTPMPublic(esys, key->tpm_handle, ESYS_TR_NONE, ESYS_TR_NONE,
                                           ESYS_TR_NONE, &key->tr);
        if (rc)
            key->tr = ESYS_TR_NONE;
        r = ek_tpm_rc(rc, "reading the loaded key (ESYS_TR)");
    }
    *tr = key->tr;
    return r;
}

static ek_rc use_locked(ek_key *key)
{
    uint64_t gen = ek_tpm_generation();
    if (key->handle) { /* persistent: nothing to load */
        key->tpm_handle = key->handle;
        key->gen = gen;
        return EK_OK;
    }
    if (key->transient && key->gen == gen) {
        if (lru_head != key) {
            lru_remove(key);
            lru_push_front(key);
        }
        return EK_OK;
    }
    forget_load(key, false); /* stale entry from an earlier connection, if any */
    TPM2_HANDLE h = 0;
    ek_rc r = ek_load_under(key->kf.parent, &key->kf.priv, &key->kf.pub,
                            "loading the key into the TPM (TPM2_Load)", &h, NULL);
    if (r != EK_OK)
        return r;
    key->tpm_handle = h;
    key->gen = gen;
    key->transient = true;
    lru_push_front(key);
    return EK_OK;
}

ek_rc ek_key_use(ek_key *key, ESYS_TR *tr)
{
    ek_rc r = use_locked(key);
    return r == EK_OK && tr ? key_tr(key, tr) : r;
}

void ek_key_unload(ek_key *key)
{
    if (!key)
        return;
    ek_tpm_mutex_lock();
    ek_key_unload_locked(key);
    ek_tpm_mutex_unlock();
}
