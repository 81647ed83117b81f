/* edgekey PKCS#11 module: shared internal types.
 *
 * The module is a thin face over core/: slots are store tokens, objects are
 * views of store objects (and session objects kept in memory), and every
 * TPM operation goes through ek_key_* / ek_tpm_random / ek_tpm_get_info.
 *
 * Locking: one module lock (p11_lock) guards slots, sessions and objects.
 * Long TPM operations (sign, keygen, login) run without it, on an ek_key
 * reference, so threads do not queue behind each other more than the TPM
 * (core's own lock) makes them. */
#ifndef EK_P11_INTERNAL_H
#define EK_P11_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <openssl/evp.h>
#include "p11_v3.h"
#include "p11_attr.h"
#include "ek_key.h"
#include "ek_secret.h"
#include "ek_store.h"
#include "ek_token.h"

#define P11_EXPORT __attribute__((visibility("default")))
/* What the free slot's uninitialised token shows (C_GetTokenInfo): never a
 * real token's (store labels are [A-Za-z0-9._-] only, serials 16 hex digits),
 * so it cannot be mistaken for one, but tells a lister what it is for. */
#define P11_FREE_LABEL "edgekey free slot (new token)"
#define P11_FREE_SERIAL "(free)"
#define P11_MAX_SLOTS 32
#define P11_MAX_FIND 4096
#define P11_MAX_RAW_INPUT 1024 /* accumulated input of single-part mechanisms */

/* ---- slots (p11_slot.c) ---- */
typedef struct p11_slot {
    CK_SLOT_ID id;
    char label[33];                      /* store token label; "" = the free slot */
    CK_USER_TYPE login;                  /* (CK_USER_TYPE)-1: nobody */
    ek_token_secret secret;              /* while logged in to a PIN token */
    unsigned char pin[EK_TOKEN_PIN_MAX]; /* PIN-less token: the login PIN is the */
    size_t pin_len;                      /* auth of keys made with their own auth */
} p11_slot;

/* ---- operations on a session ---- */
typedef enum p11_op_kind { P11_OP_NONE = 0, P11_OP_SIGN, P11_OP_VERIFY, P11_OP_DIGEST } p11_op_kind;

typedef struct p11_op {
    p11_op_kind kind;
    CK_MECHANISM_TYPE mech;
    ek_sig_scheme scheme; /* sign/verify */
    ek_md md;             /* hash of hash-and-sign, or of PSS params */
    bool prehashed;       /* input is the digest (or DigestInfo) */
    ek_md_ctx *mdctx;     /* hash-and-sign mechanisms and C_Digest (core's: no EVP) */
    unsigned char *buf;   /* accumulated input of prehashed mechanisms */
    size_t buf_len;
    bool updated;      /* an Update was called: Final, not one-shot */
    ek_key *key;       /* sign: our reference */
    EVP_PKEY *pkey;    /* verify: software public key */
    size_t sig_len;    /* exact signature size */
    unsigned ec_bytes; /* EC: coordinate size */
    CK_OBJECT_HANDLE obj;
    CK_SLOT_ID slot;
    unsigned char id[64]; /* the key's CKA_ID, for key auth derivation */
    size_t id_len;
} p11_op;

typedef struct p11_session {
    CK_SESSION_HANDLE h;
    CK_SLOT_ID slot;
    CK_FLAGS flags;
    p11_op sign, verify, digest;
    bool busy; /* an op was taken out for a TPM call */
    bool finding;
    CK_OBJECT_HANDLE *found;
    size_t n_found, pos_found;
    struct p11_session *next;
} p11_session;

/* ---- objects (p11_object.c) ---- */
typedef struct p11_object {
    CK_OBJECT_HANDLE h;
    CK_SLOT_ID slot;
    CK_OBJECT_CLASS cls;
    p11_attrs attrs;
    bool token_obj;          /* backed by the store */
    bool priv;               /* CKA_PRIVATE: visible after user login only */
    CK_SESSION_HANDLE owner; /* session objects: the creating session */
    ek_store_obj sobj;       /* token objects */
    ek_secret_obj dobj;      /* CKO_DATA token objects: the sealed secret's record */
    ek_key *key;             /* keys: the TPM key (one ref); certs: NULL */
    unsigned char id[64];
    size_t id_len;
    bool seen; /* sync mark */
    struct p11_object *next;
} p11_object;

typedef struct p11_module {
    bool initialized;
    pid_t pid;
    p11_slot slots[P11_MAX_SLOTS];
    size_t n_slots;
    p11_session *sessions;
    p11_object *objects;
    CK_SESSION_HANDLE next_session;
    CK_OBJECT_HANDLE next_object;
    /* token info facts from the TPM, read once */
    bool tpm_info_cached;
    char manufacturer[33], model[17];
    CK_VERSION hw_version, fw_version;
    bool alg_rsa3072, alg_rsa4096, alg_p256, alg_p384, alg_pss;
    bool alg_known;
} p11_module;

extern p11_module p11;

/* p11_general.c */
void p11_lock(void);
void p11_unlock(void);
CK_RV p11_rv_from_ek(ek_rc rc, const char *what);
void p11_pad(CK_UTF8CHAR *dst, size_t size, const char *src);

/* p11_slot.c */
void p11_slots_refresh(void);
p11_slot *p11_slot_get(CK_SLOT_ID id);
bool p11_slot_logged_in_user(const p11_slot *s);
void p11_slot_logout(p11_slot *s);
void p11_tpm_facts(void); /* fills p11.tpm_info_cached facts (TPM call) */

/* p11_session.c */
p11_session *p11_session_get(CK_SESSION_HANDLE h);
void p11_sessions_free_all(void);
void p11_op_clear(p11_op *op);
/* CKR_OK with *out set; errors for no module / bad handle. Lock held. */
CK_RV p11_session_lookup(CK_SESSION_HANDLE h, p11_session **out);
/* As p11_session_lookup, and CKR_OPERATION_NOT_INITIALIZED unless the
 * session's sign/verify/digest operation of this kind is active. Lock held. */
CK_RV p11_session_active_op(CK_SESSION_HANDLE h, p11_op_kind kind, p11_session **out);

/* p11_object.c */
CK_RV p11_objects_sync(p11_slot *slot);
p11_object *p11_object_get(CK_OBJECT_HANDLE h);
bool p11_object_visible(const p11_object *o, const p11_session *s);
p11_object *p11_object_new(CK_SLOT_ID slot, CK_OBJECT_CLASS cls);
void p11_object_unlink(p11_object *o);
void p11_object_free(p11_object *o);
void p11_objects_free_all(void);
void p11_objects_drop_session(CK_SESSION_HANDLE h);
/* Add the private+public objects for a key (takes a ref of key). */
CK_RV p11_objects_add_key(p11_slot *slot, ek_key *key, const ek_store_obj *sobj,
                          const unsigned char *id, size_t id_len, const char *label, bool token_obj,
                          CK_SESSION_HANDLE owner, CK_OBJECT_HANDLE *priv_h,
                          CK_OBJECT_HANDLE *pub_h);
CK_RV p11_objects_add_cert(p11_slot *slot, const unsigned char *der, size_t der_len,
                           const ek_store_obj *sobj, const unsigned char *id, size_t id_len,
                           const char *label, bool token_obj, CK_SESSION_HANDLE owner,
                           CK_OBJECT_HANDLE *h);

/* p11_data.c: CKO_DATA token objects sealed in the TPM (core/ek_secret.h) */
/* C_CreateObject of a CKO_DATA template. Takes the lock itself. */
CK_RV p11_data_create(CK_SESSION_HANDLE h, const CK_ATTRIBUTE *tmpl, CK_ULONG count,
                      CK_OBJECT_HANDLE *out);
/* C_GetAttributeValue of a data token object: CKA_VALUE is unsealed
 * (without the module lock) when a buffer large enough is given. Takes the
 * lock itself. */
CK_RV p11_data_get_attrs(CK_SESSION_HANDLE sh, CK_OBJECT_HANDLE h, CK_ATTRIBUTE *tmpl,
                         CK_ULONG count);
/* Lock held: add the token's data objects not shown yet, mark the others
 * seen (part of p11_objects_sync). */
void p11_data_sync(p11_slot *slot);

/* p11_mech.c */
typedef struct p11_mech {
    CK_MECHANISM_TYPE type;
    ek_alg alg;           /* key type it needs */
    ek_sig_scheme scheme; /* 0: not a signature */
    ek_md md;             /* hash-and-sign digest, EK_MD_NONE if prehashed */
    CK_FLAGS flags;
} p11_mech;
const p11_mech *p11_mech_find(CK_MECHANISM_TYPE type);
size_t p11_mech_list(CK_MECHANISM_TYPE *out, size_t max);
bool p11_mech_available(const p11_mech *m);
CK_RV p11_mech_check_pss(const CK_MECHANISM *mech, ek_md md_of_mech, ek_md *md_out);
/* DigestInfo -> md and digest (pointers into info). */
CK_RV p11_digestinfo_parse(const unsigned char *info, size_t len, ek_md *md,
                           const unsigned char **dgst, size_t *dlen);
const EVP_MD *p11_evp_md(ek_md md);

/* p11_sign.c helpers used by verify */
CK_RV p11_op_feed(p11_op *op, const unsigned char *data, size_t len);
CK_RV p11_op_digest(p11_op *op, unsigned char *out, size_t *out_len, ek_md *md);
CK_RV p11_op_setup(p11_op *op, const CK_MECHANISM *mech, const p11_object *o, p11_op_kind kind);

#endif
