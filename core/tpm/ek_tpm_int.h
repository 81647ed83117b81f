/* edgekey core, TPM side: internals shared by tpm.c, srk.c, key.c,
 * keyload.c, keygen.c, sign.c, info.c, handles.c and the token/secret files.
 * Not for the faces.
 *
 * Every TPM command goes through tpm2-tss's ESYS on the one process-wide
 * context; sessions (salted HMAC with AES-128-CFB parameter encryption) are
 * ESYS's own (Esys_StartAuthSession, Esys_TRSess_SetAttributes).
 *
 * Locking: the connection state and the load state of every ek_key are
 * guarded by the one connection mutex (ek_tpm_lock / ek_tpm_mutex_lock).
 * Functions below marked "lock held" must be called with it held. */
#ifndef EK_TPM_INT_H
#define EK_TPM_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tss2/tss2_esys.h>

#include "ek_attest.h"
#include "ek_key.h"
#include "ek_keyfile.h"
#include "ek_tpm.h"

#define EK_SRK_HANDLE 0x81000001u   /* TCG-recommended persistent SRK */
#define EK_OWNER_PARENT 0x40000001u /* TPM2_RH_OWNER as a key file parent */
/* Handle ranges. tss2's TPM2_HR_* macros shift a promoted int by 24 (UB
 * for 0x80 and up), so we spell them out. */
#define EK_HR_MASK 0xff000000u
#define EK_HR_PERSISTENT 0x81000000u
#define EK_HR_TRANSIENT 0x80000000u
#define EK_HR_LOADED_SESSION 0x02000000u

struct ek_key {
    atomic_int refs;
    bool has_blob;
    ek_keyfile kf;    /* blob (parent, public, private) */
    uint32_t handle;  /* persistent handle, 0 if none */
    TPMT_PUBLIC tpub; /* public area (blob or ReadPublic) */
    ek_pubkey pub;
    TPM2B_NAME name; /* nameAlg || H(public) */
    TPM2B_AUTH auth; /* secret, wiped; guarded by the lock */
    /* load state, lock held */
    uint64_t gen;   /* connection generation of tr */
    ESYS_TR tr;     /* loaded (or persistent) object, ESYS_TR_NONE if not */
    bool transient; /* tr is a transient object we loaded */
    struct ek_key *lru_prev, *lru_next;
};

/* ---- tpm.c ---- */
/* The mutex alone, without connecting (key free, set_auth, disconnect). */
void ek_tpm_mutex_lock(void);
void ek_tpm_mutex_unlock(void);
bool ek_tpm_connected(void); /* lock held */
bool ek_tpm_exclusive(void); /* lock held: no resource manager in between */
/* State above the connection registers how to drop it (from a
 * constructor): talk = flush its TPM objects first. At most 4. */
typedef void (*ek_tpm_drop_fn)(bool talk);
void ek_tpm_on_drop(ek_tpm_drop_fn fn);
/* ---- tcti.c: TCTI strings (the one place that reads them), pure ---- */
/* The TCTI a configuration string reaches: "pcap:X" (tpm2-tss's capture
 * wrapper) reaches X. */
const char *ek_tcti_target(const char *conf);
/* No resource manager in between (swtpm, mssim, /dev/tpm0). */
bool ek_tcti_exclusive(const char *conf);
/* tpm2-abrmd's TCTI (GLib D-Bus: not fork-safe). */
bool ek_tcti_gdbus(const char *conf);
/* The string to give the loader for a configured one (out = cfg), or for
 * an empty one: device:/dev/tpmrm0, else device:/dev/tpm0, else "" when a
 * libtss2-tcti-default.so is installed; otherwise EK_ERR_CONNECT saying
 * what was tried and how to set the TCTI. */
ek_rc ek_tcti_choose(const char *cfg, char *out, size_t size);
bool ek_tcti_default_installed(void);
/* EK_ERR_CONNECT for a failed TCTI/ESYS initialisation (step) of conf: a
 * TCTI name that is not installed gets the installed names listed. */
ek_rc ek_tcti_load_error(TSS2_RC rc, const char *conf, const char *step);
/* Its TCTI library's name: "swtpm:host=..." -> "swtpm" ("" for the default). */
void ek_tcti_name(const char *conf, char *out, size_t size);
/* The connection's ESYS context (lock held, connected). */
ESYS_CONTEXT *ek_tpm_ctx(void);
/* Drop everything (no flushes) and connect again, keeping the lock: for a
 * TPM that was reset under a TCTI that reconnects by itself (swtpm). */
ek_rc ek_tpm_recover_locked(void);
bool ek_tpm_stale(void);       /* lock held: our objects vanished */
void ek_tpm_mark_broken(void); /* lock held: reconnect next time */
void ek_tpm_mark_stale(void);  /* lock held: objects gone, reconnect */
/* The rc of the last failed connect (lock held); *tcti_step: it was the
 * TCTI loader's step (else Esys_Initialize). 0 if none failed. */
TSS2_RC ek_tpm_connect_error(bool *tcti_step);
/* ---- tpmrc.c: TSS2_RC codes, pure ---- */
/* True for TCTI-layer and I/O failures (the connection is gone). */
bool ek_tpm_rc_is_io(TSS2_RC rc);
/* True for REFERENCE_H0..S6: an object or session we loaded is gone. */
bool ek_tpm_rc_is_stale(TSS2_RC rc);
/* ek_error() for rc: "<what>: <decoded rc>; <fix>" (EK_OK for success). */
ek_rc ek_tss2_rc_error(TSS2_RC rc, const char *what, const char *tcti);
/* rc is the TPM's answer `code` (format-one codes: parameter/handle/session
 * number ignored). */
bool ek_tpm_rc_is(TSS2_RC rc, TSS2_RC code);
/* rc says the TPM was never started: TPM2_Startup(CLEAR) was sent now and
 * the caller should retry its command once (simulators started bare). */
bool ek_tpm_startup_if_needed(TSS2_RC rc);
/* TPM2_GetCapability (first batch; *more may be NULL). Lock held. */
TSS2_RC ek_tpm_get_cap(TPM2_CAP cap, UINT32 prop, UINT32 count, TPMS_CAPABILITY_DATA *out,
                       bool *more);
/* TPM2_ReadPublic of a handle we hold no ESYS_TR for. Lock held. */
TSS2_RC ek_tpm_read_public(TPM2_HANDLE h, TPM2B_PUBLIC *pub);
/* Flush a transient object or session and close its ESYS_TR (*tr becomes
 * ESYS_TR_NONE); errors ignored. Lock held. */
void ek_tpm_flush(ESYS_TR *tr);

/* esys_crypto.c: ESYS's crypto (hashes, HMACs, nonces, salts, parameter
 * encryption) in core's private library context, on tpm2-tss >= 4.0
 * (EK_HAVE_ESYS_CRYPTO_CB, from meson). Install on each new ESYS context;
 * a no-op returning success on tpm2-tss 3.x. */
TSS2_RC ek_esys_crypto_install(ESYS_CONTEXT *esys);
typedef enum ek_esys_crypto_kind {
    EK_ESYS_CRYPTO_HASH,
    EK_ESYS_CRYPTO_HMAC,
    EK_ESYS_CRYPTO_RANDOM,
    EK_ESYS_CRYPTO_SALT,
    EK_ESYS_CRYPTO_CIPHER,
    EK_ESYS_CRYPTO_KINDS
} ek_esys_crypto_kind;
/* How often ESYS called ours, per kind, since the process started (0 on 3.x). */
unsigned long ek_esys_crypto_calls(ek_esys_crypto_kind kind);

/* ---- slots.c (lock held): object slots, loaded keys, leftovers ---- */
/* Our transient objects (object: uses an object slot) and sessions that are
 * not keys: spared by the leftover scan, counted against the slots. */
void ek_slots_pin(ESYS_TR tr, bool object);
void ek_slots_unpin(ESYS_TR tr);
/* Before this connection's first object (Load, Create, CreatePrimary): on
 * an exclusive TCTI flush the transient objects dead processes left. */
void ek_tpm_before_alloc(void);
/* The TPM's memory is full: flush dead processes' sessions and objects (once
 * per connection, exclusive TCTIs only). True if that was done now. */
bool ek_tpm_flush_dead(void);
/* Transient object slots of an exclusive TPM (read once per connection). */
uint32_t ek_tpm_slots(void);
/* Evict LRU keys until n more transient objects fit. */
void ek_slots_reserve(unsigned n);
/* Unload the least recently used key; false if none is loaded. */
bool ek_slots_evict_one(void);
/* The LRU list of loaded keys. */
void ek_lru_touch(ek_key *k);
void ek_lru_remove(ek_key *k);
/* Unload one key. */
void ek_key_unload_locked(ek_key *key);
unsigned ek_keys_loaded(void);

/* ---- srk.c (lock held) ---- */
/* The ESYS_TR of the parent a key file names (0x40000001: the template
 * primary, made now if needed; 0x81xxxxxx: that persistent object). */
ek_rc ek_tpm_parent(uint32_t parent, ESYS_TR *out);
/* What key files made now record as parent: 0x81000001 or 0x40000001. */
ek_rc ek_srk_parent(uint32_t *parent);
/* Forget (talk: flush) SRK, template primary and session. */
void ek_srk_forget(bool talk);
/* The session for an object with auth value auth: the password session
 * (ESYS_TR_PASSWORD) when it is empty, else the salted HMAC session. */
ek_rc ek_tpm_auth_session(const TPM2B_AUTH *auth, ESYS_TR *out);
/* Forget (flush) the salted session after a failure through it. */
void ek_tpm_session_reset(void);

/* ---- keyload.c (lock held) ---- */
/* Make the key usable now (key->tr): Esys_Load (evicting the least
 * recently used key when slots run short) or its persistent handle. */
ek_rc ek_key_use(ek_key *key);
/* Esys_Load of a blob under the parent a file names, making room first;
 * errors start with what; *tpm_rc (may be NULL) gets the TPM's answer. The
 * caller flushes *out (ek_tpm_flush). */
ek_rc ek_load_under(uint32_t parent, const TPM2B_PRIVATE *priv, const TPM2B_PUBLIC *pub,
                    const char *what, ESYS_TR *out, TSS2_RC *tpm_rc);

/* ---- key.c ---- */
ek_key *ek_key_new_empty(void);
/* Fill tpub/pub/name from a TPM2B_PUBLIC. */
ek_rc ek_key_set_public(ek_key *key, const TPM2B_PUBLIC *pub);
/* nameAlg || H(marshalled TPMT_PUBLIC). */
bool ek_public_name(const TPMT_PUBLIC *pub, TPM2B_NAME *name);
/* The TPM's algorithm id of a digest; TPM2_ALG_NULL for none. */
TPM2_ALG_ID ek_md_tpm_alg(ek_md md);
size_t ek_curve_size(TPM2_ECC_CURVE curve); /* 32, 48, or 0 */

/* ---- keygen.c ---- */
/* TPM2_Create under the SRK through the salted session, inSensitive (auth
 * value, sealed data) encrypted; the parent the blob belongs to in *parent. */
ek_rc ek_tpm_create(const TPM2B_SENSITIVE_CREATE *sens, const TPM2B_PUBLIC *tmpl,
                    TPM2B_PRIVATE **priv, TPM2B_PUBLIC **pub, uint32_t *parent, const char *what,
                    TSS2_RC *tpm_rc);
/* ek_key_generate without the policy check (the PSS probe's throwaway key). */
ek_rc ek_key_generate_probe(const ek_keygen_spec *spec, ek_key **out);

/* ---- ek.c (lock held unless said) ---- */
/* PolicyA/PolicyC with SHA-384: the PolicyOR branches of the H-3 EK. */
extern const unsigned char ek_policy_a_sha384[48], ek_policy_c_sha384[48];
/* The TCG EK Credential Profile template of that kind (L-1, L-2, H-3). */
void ek_ek_template(ek_ek_kind kind, TPM2B_PUBLIC *t);
/* TPM2_CreatePrimary of the EK (pinned in the slots); *pub may be NULL,
 * else the caller Esys_Free()s it. ek_ek_flush unpins and flushes. */
ek_rc ek_ek_primary(ek_ek_kind kind, ESYS_TR *ek, TPM2B_PUBLIC **pub);
void ek_ek_flush(ESYS_TR *ek);
/* A TPM2B_PUBLIC marshalled into a malloc'ed buffer (no lock needed). */
ek_rc ek_marshal_public(const TPM2B_PUBLIC *pub, unsigned char **out, size_t *len);

/* ---- sign.c ---- */
void ek_pss_set(ek_pss_salt s);

#endif
