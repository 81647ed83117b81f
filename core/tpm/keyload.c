/* edgekey core: loading keys (ek_key_use, ek_load_under): Esys_Load under
 * the parent's ESYS_TR (srk.c), within the object slots (slots.c). */
#include "ek_log.h"
#include "ek_tpm_int.h"

static TSS2_RC load(ESYS_TR parent, const TPM2B_PRIVATE *priv, const TPM2B_PUBLIC *pub,
                    ESYS_TR *out)
{
    return Esys_Load(ek_tpm_ctx(), parent, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, priv, pub,
                     out);
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
    if (ek_tpm_rc_is(rc, TPM2_RC_OBJECT_MEMORY) && ek_slots_evict_one()) {
        /* someone else holds a slot (e.g. a sealed object): make more room */
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
        ek_lru_touch(key);
        return EK_OK;
    }
    ek_lru_remove(key); /* stale entry from an earlier connection, if any */
    key->tr = ESYS_TR_NONE;
    key->transient = false;
    ESYS_TR h = ESYS_TR_NONE;
    ek_rc r = ek_load_under(key->kf.parent, &key->kf.priv, &key->kf.pub,
                            "loading the key into the TPM (TPM2_Load)", &h, NULL);
    if (r != EK_OK)
        return r;
    key->tr = h;
    key->gen = gen;
    key->transient = true;
    ek_lru_touch(key);
    return EK_OK;
}
