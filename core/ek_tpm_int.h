/* edgekey core, TPM side: internals shared by tpm.c, srk.c, sess.c,
 * swcrypto.c, key.c, keyload.c, keygen.c, sign.c and info.c. Not for the faces.
 *
 * Locking: every field of ek_conn and the load state of every ek_key is
 * guarded by the one connection mutex (ek_tpm_lock / ek_tpm_mutex_lock).
 * Functions below marked "lock held" must be called with it held. */
#ifndef EK_TPM_INT_H
#define EK_TPM_INT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/evp.h>
#include <tss2/tss2_esys.h>

#include "ek_lazy.h" /* tpm2-tss is reached through its lazy table */

#include "ek_key.h"
#include "ek_keyfile.h"
#include "ek_tpm.h"

#define EK_SRK_HANDLE 0x81000001u     /* TCG-recommended persistent SRK */
#define EK_OWNER_PARENT 0x40000001u   /* TPM2_RH_OWNER as a key file parent */
/* Handle ranges. tss2's TPM2_HR_* macros shift a promoted int by 24 (UB
 * for 0x80 and up), so we spell them out. */
#define EK_HR_MASK 0xff000000u
#define EK_HR_PERSISTENT 0x81000000u
#define EK_HR_TRANSIENT 0x80000000u
#define EK_HR_LOADED_SESSION 0x02000000u

/* Our own HMAC session for signing with keys that have an auth value: the
 * HMAC is computed here with prefetched digests, so a signature costs one
 * TPM command and no ESYS crypto (ESYS makes a new OpenSSL library context
 * per hash, ~2 ms per command). */
typedef struct ek_hsess {
    bool active;
    TPM2_HANDLE handle;
    TPM2B_DIGEST key;                 /* session key (secret, wiped) */
    TPM2B_NONCE nonce_tpm;
} ek_hsess;

typedef struct ek_conn {
    /* Made on first need (ek_tpm_esys_get): a sign or an NV login sends
     * only raw commands (rawcmd.c) and never maps or initialises ESYS. */
    ESYS_CONTEXT *esys;
    TSS2_TCTI_CONTEXT *tcti;          /* shared by ESYS and rawcmd.c; NULL: not connected */
    bool tcti_direct;                 /* opened by tcti_direct.c, not the loader */
    pid_t pid;                        /* process that opened it */
    bool broken;                      /* TCTI/IO failure seen: reconnect */
    bool stale;                       /* our objects/sessions vanished (TPM reset) */
    bool exclusive;                   /* no resource manager in between */
    bool gdbus;                       /* tabrmd: D-Bus via GLib, not fork-safe */
    bool scanned_objs, scanned_sess;  /* srk.c: dead processes' objects / sessions flushed */
    bool slots_known;                 /* slots read (facts cache or GetCapability) */
    uint32_t slots;                   /* transient object slots (ek_tpm_slots) */
    /* srk.c */
    ESYS_TR srk;                      /* ESYS_TR of the SRK, made only when ESYS needs it */
    uint32_t srk_parent;              /* what key files record: 0x81000001 or 0x40000001 */
    bool srk_transient;               /* created by us (flush at disconnect) */
    TPMT_PUBLIC srk_pub;
    TPM2_HANDLE srk_tpm;              /* TPM handle of the SRK, 0 if not known yet */
    TPM2_HANDLE owner_tpm;            /* template primary when srk is persistent, or 0 */
    ESYS_TR esess;                    /* ESYS salted session (ek_tpm_session) */
    ek_hsess hsess;                   /* sess.c */
} ek_conn;

extern ek_conn ek_g;

struct ek_key {
    atomic_int refs;
    bool has_blob;
    ek_keyfile kf;                    /* blob (parent, public, private) */
    uint32_t handle;                  /* persistent handle, 0 if none */
    TPMT_PUBLIC tpub;                 /* public area (blob or ReadPublic) */
    ek_pubkey pub;
    TPM2B_NAME name;                  /* nameAlg || H(public) */
    TPM2B_AUTH auth;                  /* secret, wiped; guarded by the lock */
    /* load state, lock held */
    uint64_t gen;                     /* connection generation of tpm_handle */
    ESYS_TR tr;                       /* ESYS_TR of tpm_handle, made only if asked for */
    TPM2_HANDLE tpm_handle;
    bool transient;                   /* tpm_handle is a transient object we loaded */
    struct ek_key *lru_prev, *lru_next;
};

/* ---- tpm.c ---- */
/* The mutex alone, without connecting (key free, set_auth, disconnect). */
void ek_tpm_mutex_lock(void);
void ek_tpm_mutex_unlock(void);
bool ek_tpm_connected(void);          /* lock held */
void ek_tpm_mark_broken(void);        /* lock held */
void ek_tpm_mark_stale(void);         /* lock held: objects gone, reconnect */
/* Drop everything (no flushes) and connect again, keeping the lock: for a
 * TPM that was reset under a TCTI that reconnects by itself (swtpm). */
ek_rc ek_tpm_recover_locked(void);
/* True for TCTI-layer and I/O failures (the connection is gone). */
bool ek_tpm_rc_is_io(TSS2_RC rc);
/* Flush one handle with a raw TPM2_FlushContext, ignoring errors (lock held). */
/* tcti_direct.c: "name[:config]" opened as libtss2-tcti-<name>.so.0 without
 * the TCTI loader; TSS2_TCTI_RC_NOT_IMPLEMENTED: leave it to the loader. */
TSS2_RC ek_tcti_direct_open(const char *conf, TSS2_TCTI_CONTEXT **out);
void ek_tcti_direct_close(TSS2_TCTI_CONTEXT *ctx);
void ek_tpm_flush_raw(TPM2_HANDLE h);
/* The ESYS context, made now if this connection has none (lock held):
 * maps libtss2-esys on first use. Errors: EK_ERR_UNSUPPORTED (library
 * missing), EK_ERR_CONNECT. ek_tpm_esys: the same, NULL on failure. */
ek_rc ek_tpm_esys_get(ESYS_CONTEXT **out);
ESYS_CONTEXT *ek_tpm_esys(void);

/* ---- srk.c (lock held) ---- */
/* TPM handle of the parent a key file names (0x40000001: the template
 * primary, made now if needed; 0x81xxxxxx: the handle itself, checked by
 * the Load that uses it). */
ek_rc ek_tpm_parent(uint32_t parent, TPM2_HANDLE *out);
/* Forget (talk: flush) SRK, template primary and ESYS session. */
void ek_srk_forget(bool talk);
/* Transient primaries we hold (they use object slots too). */
unsigned ek_srk_transient_count(void);
/* Before this connection's first object (Load, Create, CreatePrimary): on
 * an exclusive TCTI flush what dead processes left (ek_srk.h). Called by
 * ek_slots_reserve. */
void ek_tpm_before_alloc(void);
/* Transient object slots of an exclusive TPM: facts cache, else read now. */
uint32_t ek_tpm_slots(void);

/* ---- rawcmd.c (lock held) ---- */
typedef struct ek_raw_rsp {
    TSS2_RC rc;
    TPM2_HANDLE handle;               /* response handle (nrh = 1) */
    const uint8_t *params;            /* response parameters (points into buf) */
    size_t plen;
    bool has_auth;
    TPMS_AUTH_RESPONSE auth;
    uint8_t buf[4096];
} ek_raw_rsp;
/* Marshal, send and parse one command. auth NULL: no sessions. nrh: number
 * of handles in the response. Returns the TPM's (or the TCTI's) rc. */
TSS2_RC ek_raw_exec(TPM2_CC cc, const TPM2_HANDLE *h, size_t nh, const TPMS_AUTH_COMMAND *auth,
                    const uint8_t *params, size_t plen, size_t nrh, ek_raw_rsp *out);
TSS2_RC ek_raw_read_public(TPM2_HANDLE h, TPM2B_PUBLIC *pub, TPM2B_NAME *name);
/* TPM2_GetCapability (first batch only; *more may be NULL). */
TSS2_RC ek_raw_get_cap(TPM2_CAP cap, UINT32 prop, UINT32 count, TPMS_CAPABILITY_DATA *out,
                       bool *more);
/* TPM2_Load under parent (empty auth, password session): *out is the handle. */
TSS2_RC ek_raw_load(TPM2_HANDLE parent, const TPM2B_PRIVATE *priv, const TPM2B_PUBLIC *pub,
                    TPM2_HANDLE *out);
/* TPM2_CreatePrimary in the owner hierarchy (empty auth and sensitive). */
TSS2_RC ek_raw_create_primary(const TPM2B_PUBLIC *tmpl, TPM2_HANDLE *out, TPM2B_PUBLIC *pub);
/* TPM2_EvictControl by the owner (empty auth): obj persistent <-> transient. */
TSS2_RC ek_raw_evict(TPM2_HANDLE obj, TPM2_HANDLE persistent);

/* ---- sess.c (lock held) ---- */
/* Run one command with one authorised handle h (name, auth) and the
 * marshalled parameters: password session if auth is empty, else our salted
 * HMAC session (response HMAC checked). TPM2_RC_RETRY/YIELDED/TESTING are
 * retried a few times. *tpm_rc gets the raw code (may be NULL). */
ek_rc ek_sess_run(TPM2_CC cc, TPM2_HANDLE h, const TPM2B_NAME *name, const TPM2B_AUTH *auth,
                  const uint8_t *params, size_t plen, ek_raw_rsp *rsp, const char *what,
                  TSS2_RC *tpm_rc);
void ek_hsess_forget(bool talk);
/* TPM2_StartAuthSession salted with the SRK (ek_g.srk_pub / srk_tpm must be
 * set), HMAC, SHA-256, AES-128-CFB: *handle, the TPM's nonce and the 32-byte
 * session key. TSS2_ESYS_RC_GENERAL_FAILURE when software crypto failed.
 * If the TPM's session or object memory is full and this connection has not
 * scanned yet, flushes dead processes' leftovers and tries once more.
 * Shared by the core's long-lived session and token_nv.c's one-shot ones. */
TSS2_RC ek_sess_start_salted(TPM2_HANDLE *handle, TPM2B_NONCE *nonce_tpm, uint8_t key[32]);
/* The same with parameter encryption (AES-128-CFB, Part 1 21.3) of the first
 * command parameter (EK_SESS_DECRYPT) and/or the first response parameter
 * (EK_SESS_ENCRYPT), both TPM2Bs; always through the salted HMAC session,
 * also for an empty auth value. */
#define EK_SESS_DECRYPT 1u
#define EK_SESS_ENCRYPT 2u
ek_rc ek_sess_run_enc(TPM2_CC cc, TPM2_HANDLE h, const TPM2B_NAME *name, const TPM2B_AUTH *auth,
                      unsigned flags, const uint8_t *params, size_t plen, ek_raw_rsp *rsp,
                      const char *what, TSS2_RC *tpm_rc);

/* ---- seccmd.c (lock held): commands carrying secrets, through sess.c ---- */
/* TPM2_Create under the SRK: inSensitive encrypted through the salted
 * session if it holds an auth value or data, else the password session. */
ek_rc ek_sess_create(const TPM2B_SENSITIVE_CREATE *sens, const TPM2B_PUBLIC *tmpl,
                     TPM2B_PRIVATE *priv, TPM2B_PUBLIC *pub, const char *what, TSS2_RC *tpm_rc);
/* TPM2_Unseal of the loaded object h (public area pub) with outData
 * encrypted; *out wiped by the caller. */
ek_rc ek_sess_unseal(TPM2_HANDLE h, const TPMT_PUBLIC *pub, const TPM2B_AUTH *auth,
                     TPM2B_SENSITIVE_DATA *out, const char *what, TSS2_RC *tpm_rc);

/* ---- keyload.c (lock held) ---- */
/* Make the key usable now (key->tpm_handle): load it with a raw TPM2_Load
 * (evicting the least recently used key when slots run short) or resolve
 * its persistent handle. tr non-NULL: also its ESYS_TR (makes ESYS; only
 * for ESYS users such as the benchmarks; persistent keys: ESYS_TR_NONE). */
ek_rc ek_key_use(ek_key *key, ESYS_TR *tr);
/* Raw TPM2_Load of a blob under the parent a file names, making room
 * first; errors start with what; *tpm_rc (may be NULL) gets the TPM's
 * answer. The caller flushes *out (or keeps it in the key cache). */
ek_rc ek_load_under(uint32_t parent, const TPM2B_PRIVATE *priv, const TPM2B_PUBLIC *pub,
                    const char *what, TPM2_HANDLE *out, TSS2_RC *tpm_rc);
/* Evict LRU keys until n more transient objects fit. */
void ek_slots_reserve(unsigned n);
/* Forget every loaded key (talk: flush them first). */
void ek_keys_forget(bool talk);
/* Unload one key (lock held). */
void ek_key_unload_locked(ek_key *key);
unsigned ek_keys_loaded(void);

/* ---- key.c ---- */
ek_key *ek_key_new_empty(void);
/* Fill tpub/pub/name from a TPM2B_PUBLIC. */
ek_rc ek_key_set_public(ek_key *key, const TPM2B_PUBLIC *pub);

/* ---- swcrypto.c / swdirect.c: software crypto for the TPM side ----
 * Never reaches a TPM provider or ENGINE of the application. Digests, HMAC,
 * AES-CFB and random bytes (swdirect.c) need no library context; the
 * private context (swcrypto.c), for ESYS only, is made by ek_sw_need. */
typedef struct ek_iov { const void *p; size_t n; } ek_iov;
size_t ek_sw_md_size(TPM2_ALG_ID alg);
bool ek_sw_hash(TPM2_ALG_ID alg, const ek_iov *v, size_t n, uint8_t *out);
bool ek_sw_hmac(TPM2_ALG_ID alg, const uint8_t *key, size_t klen, const ek_iov *v, size_t n,
                uint8_t *out);
bool ek_sw_kdfa(TPM2_ALG_ID alg, const uint8_t *key, size_t klen, const char *label,
                ek_iov u, ek_iov v, uint32_t bits, uint8_t *out);
bool ek_sw_kdfe(TPM2_ALG_ID alg, const uint8_t *z, size_t zlen, const char *label, ek_iov u,
                ek_iov v, uint32_t bits, uint8_t *out);
#define EK_IOV(tpm2b) ((ek_iov){(tpm2b).buffer, (tpm2b).size})
bool ek_sw_random(uint8_t *buf, size_t len);
/* Make the private context the thread's default library context (for
 * ESYS's own OpenSSL use) until the matching leave; nests, per thread.
 * tpm.c calls them with the TPM lock, so every ESYS call runs inside. */
void ek_sw_enter(void);
void ek_sw_leave(void);
/* Make the private context now (before ESYS's first use of OpenSSL) and,
 * inside an enter/leave section, the thread's default at once. */
void ek_sw_need(void);
/* The TPM's algorithm id of a digest (swdirect.c); TPM2_ALG_NULL for none. */
TPM2_ALG_ID ek_md_tpm_alg(ek_md md);
/* AES-128-CFB in place (TPM parameter encryption). */
bool ek_sw_aes128_cfb(const uint8_t key[16], const uint8_t iv[16], uint8_t *buf, size_t len,
                      bool encrypt);
const char *ek_sw_curve_name(TPM2_ECC_CURVE curve);   /* "P-256", or NULL */
size_t ek_sw_curve_size(TPM2_ECC_CURVE curve);        /* 32, 48, or 0 */
/* Name of a public area: nameAlg || H(marshalled TPMT_PUBLIC). */
bool ek_sw_public_name(const TPMT_PUBLIC *pub, TPM2B_NAME *name);

/* ---- swpkey.c: public-key steps without EVP_PKEY (no ENGINE can take them) ---- */
/* RSA-OAEP encryption (label with its NUL, as TPM labels are); e 0 = 65537.
 * *outlen: in = size of out, out = nlen. */
bool ek_sw_rsa_oaep(const uint8_t *n, size_t nlen, uint32_t e, TPM2_ALG_ID alg, const char *label,
                    const uint8_t *msg, size_t mlen, uint8_t *out, size_t *outlen);
/* Verify an RSA-PSS signature over mhash (MGF1 with the same digest) with
 * any salt length: the salt length, or -1 if it does not verify. */
int ek_sw_rsa_pss_salt(const uint8_t *n, size_t nlen, uint32_t e, TPM2_ALG_ID alg,
                       const uint8_t *mhash, const uint8_t *sig, size_t slen);
/* Ephemeral-static ECDH with the point (px, py): Z (x coordinate, curve
 * size) and the ephemeral public point q. */
bool ek_sw_ecdh(TPM2_ECC_CURVE curve, ek_iov px, ek_iov py, uint8_t *z, size_t *zlen,
                TPMS_ECC_POINT *q);

/* ---- keygen.c ---- */
/* ek_key_generate without the policy check (the PSS probe's throwaway key). */
ek_rc ek_key_generate_probe(const ek_keygen_spec *spec, ek_key **out);

/* ---- sign.c ---- */
void ek_pss_set(ek_pss_salt s);

#endif
