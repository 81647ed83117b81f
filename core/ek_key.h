/* edgekey core: TPM keys as the faces see them. No ESYS types here.
 *
 * An ek_key is a reference-counted handle to one TPM key: either a key blob
 * (TPM2B_PUBLIC + TPM2B_PRIVATE under a parent, as in a TSS2 key file) or a
 * persistent handle. It is loaded into the TPM lazily on first use and kept
 * loaded (or context-saved) so the steady state costs one TPM2_Sign per
 * signature. All functions are thread-safe; the TPM is reached through the
 * process-wide connection (ek_tpm.h), opened on first use.
 *
 * Ownership: functions returning ek_key ** hand the caller one reference,
 * released with ek_key_free(). Buffers returned through unsigned char ** or
 * char ** are malloc'ed and owned by the caller (free()).
 *
 * Public header: the faces include it. Only declarations marked EK_API are
 * exported from libedgekey-core.so (ek_export.h); the others are for core
 * and its tests.
 *
 * Errors: an ek_rc with the message set (ek_error.h): EK_ERR_INVALID,
 * EK_ERR_POLICY, EK_ERR_AUTH, EK_ERR_LOCKOUT, EK_ERR_NOT_FOUND, EK_ERR_TPM,
 * EK_ERR_CONNECT, EK_ERR_UNSUPPORTED, EK_ERR_BUFFER_TOO_SMALL, EK_ERR_NOMEM. */
#ifndef EK_KEY_H
#define EK_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ek_export.h"
#include "ek_error.h"

typedef struct ek_key ek_key;

typedef enum ek_alg { EK_ALG_NONE = 0, EK_ALG_RSA = 1, EK_ALG_EC = 2 } ek_alg;
typedef enum ek_curve { EK_CURVE_NONE = 0, EK_CURVE_P256 = 1, EK_CURVE_P384 = 2 } ek_curve;

#define EK_MAX_RSA_BYTES 512         /* 4096-bit modulus */
#define EK_MAX_EC_POINT (1 + 2 * 48) /* uncompressed P-384 point */

/* The public half, copied out of the TPM2B_PUBLIC. */
typedef struct ek_pubkey {
    ek_alg alg;
    unsigned bits; /* modulus bits, or curve bits */
    ek_curve curve;
    unsigned char n[EK_MAX_RSA_BYTES]; /* RSA modulus, big-endian, no leading 0 */
    size_t n_len;
    uint32_t e;                           /* RSA public exponent (65537 when TPM says 0) */
    unsigned char point[EK_MAX_EC_POINT]; /* EC: 0x04 || X || Y, fixed width */
    size_t point_len;
} ek_pubkey;

typedef struct ek_keygen_spec {
    ek_alg alg;
    unsigned bits;             /* RSA: 2048, 3072, 4096 */
    ek_curve curve;            /* EC: P-256, P-384 */
    const unsigned char *auth; /* key auth value; NULL/0 = empty auth */
    size_t auth_len;
    /* The auth value is a 256-bit value derived by core (a token key), not
     * a human password. Such keys and keys with an empty auth are noDA: the
     * TPM's dictionary-attack lockout (PIN guessing) never takes them
     * offline. A human auth value keeps the key under DA protection. */
    bool auth_derived;
} ek_keygen_spec;

typedef enum ek_sig_scheme {
    EK_SIG_RSA_PKCS1 = 1, /* RSASSA-PKCS1-v1_5 */
    EK_SIG_RSA_PSS = 2,   /* RSASSA-PSS, salt length = digest length */
    EK_SIG_ECDSA = 3,
} ek_sig_scheme;

typedef enum ek_md {
    EK_MD_NONE = 0,
    EK_MD_SHA1 = 1,
    EK_MD_SHA256 = 2,
    EK_MD_SHA384 = 3,
    EK_MD_SHA512 = 4,
} ek_md;

typedef enum ek_ecdsa_fmt {
    EK_ECDSA_DER = 0, /* ECDSA-Sig-Value (OpenSSL, X.509) */
    EK_ECDSA_RAW = 1, /* r || s, each curve-size bytes (PKCS#11) */
} ek_ecdsa_fmt;

/* What this TPM does for RSA-PSS salts (probed once per process by the first
 * PSS signature, which is checked in software). */
typedef enum ek_pss_salt {
    EK_PSS_SALT_UNKNOWN = 0,
    EK_PSS_SALT_DIGEST = 1, /* salt = digest length: TLS 1.3 works */
    EK_PSS_SALT_MAX = 2,    /* maximum salt: TLS 1.3 will reject it */
} ek_pss_salt;

/* Create a new sign-only key under the SRK (fixedTPM|fixedParent|
 * sensitiveDataOrigin|userWithAuth|sign, no decrypt). Checks the policy
 * first (EK_ERR_POLICY for RSA < minimum or a disallowed algorithm).
 * The auth value travels encrypted (salted session, parameter encryption). */
EK_API ek_rc ek_key_generate(const ek_keygen_spec *spec, ek_key **out);

/* Load from a TSS2 PRIVATE KEY (DER of TSSPRIVKEY or its PEM). Parent
 * 0x40000001 means the owner-hierarchy primary from the standard template
 * (the one tpm2-openssl uses); 0x81xxxxxx a persistent parent. Nothing is
 * sent to the TPM here. */
EK_API ek_rc ek_key_from_tss2_der(const unsigned char *der, size_t len, ek_key **out);
ek_rc ek_key_from_tss2_pem(const char *pem, size_t len, ek_key **out);

/* A persistent key at handle (0x81000000..0x81FFFFFF). Reads its public part
 * from the TPM (EK_ERR_NOT_FOUND if nothing is there). */
EK_API ek_rc ek_key_from_handle(uint32_t handle, ek_key **out);

/* Encode a blob key as a TSS2 PRIVATE KEY (reference, not key material:
 * the private part is wrapped by the TPM). EK_ERR_UNSUPPORTED for a key that
 * exists only as a persistent handle. */
EK_API ek_rc ek_key_to_tss2_der(const ek_key *key, unsigned char **der, size_t *len);
EK_API ek_rc ek_key_to_tss2_pem(const ek_key *key, char **pem, size_t *len);

/* Make the key persistent at handle (TPM2_EvictControl); the key keeps its
 * blob too. EK_ERR_EXISTS if the handle is taken. */
EK_API ek_rc ek_key_persist(ek_key *key, uint32_t handle);

/* Remove a persistent key from the TPM (EvictControl). */
EK_API ek_rc ek_key_evict_handle(uint32_t handle);

/* Set (copy) the auth value used for this key; the old one is wiped. */
EK_API ek_rc ek_key_set_auth(ek_key *key, const unsigned char *auth, size_t len);
/* True if the key file said emptyAuth = FALSE (an auth value is needed). */
EK_API bool ek_key_needs_auth(const ek_key *key);

EK_API const ek_pubkey *ek_key_public(const ek_key *key);
/* Persistent handle, or 0 for a blob-only key. */
EK_API uint32_t ek_key_handle(const ek_key *key);
/* Bytes a signature can take: modulus bytes, or DER ECDSA maximum. */
EK_API size_t ek_key_max_sig_size(const ek_key *key, ek_ecdsa_fmt fmt);
/* Name digest of the TPM object (TPM2B_NAME bytes), for identity/matching. */
ek_rc ek_key_name(const ek_key *key, unsigned char *buf, size_t *len);

/* Sign a digest computed by the caller (dlen must match md).
 * sig == NULL: *siglen receives the maximum size, EK_OK.
 * *siglen too small: EK_ERR_BUFFER_TOO_SMALL, *siglen set to the maximum.
 * PSS: the salt is the digest length; EK_ERR_UNSUPPORTED (with the reason)
 * if this TPM was found to use another salt length. */
EK_API ek_rc ek_key_sign(ek_key *key, ek_sig_scheme scheme, ek_md md, const unsigned char *dgst,
                         size_t dlen, ek_ecdsa_fmt fmt, unsigned char *sig, size_t *siglen);

/* Flush the key's transient object from the TPM (it reloads on next use). */
void ek_key_unload(ek_key *key);

EK_API ek_key *ek_key_ref(ek_key *key);
EK_API void ek_key_free(ek_key *key); /* NULL is fine; wipes auth on last ref */

EK_API ek_pss_salt ek_tpm_pss_salt(void);

/* Random bytes from the TPM (PKCS#11 C_GenerateRandom), in 32-byte
 * TPM2_GetRandom chunks under the TPM lock. Errors: EK_ERR_CONNECT (no TPM),
 * EK_ERR_TPM. (Also declared in the core-internal ek_tpm.h.) */
EK_API ek_rc ek_tpm_random(unsigned char *buf, size_t len);

/* Digest helpers shared by the faces. */
EK_API size_t ek_md_size(ek_md md);             /* 0 for EK_MD_NONE */
EK_API ek_md ek_md_from_name(const char *name); /* "SHA256", "sha-256", "SHA2-256" ... */
EK_API const char *ek_md_name(ek_md md);        /* OpenSSL name: "SHA256" */
/* A running digest (SHA-1/256/384/512) in core's private OpenSSL library
 * context (core/base/crypto.c): what a face hashes before a TPM signature,
 * out of reach of a TPM provider the application loaded (tpm2-openssl's
 * tpm2.digest would send it to the TPM). The caller owns the context. */
typedef struct ek_md_ctx ek_md_ctx;
EK_API ek_md_ctx *ek_md_ctx_new(ek_md md);             /* NULL: EK_MD_NONE or no memory */
EK_API ek_md_ctx *ek_md_ctx_dup(const ek_md_ctx *src); /* NULL: no memory */
EK_API bool ek_md_ctx_reset(ek_md_ctx *c, ek_md md);   /* start again, maybe another digest */
EK_API bool ek_md_ctx_update(ek_md_ctx *c, const void *data, size_t len);
/* Writes ek_md_size() bytes; the context must be reset before reuse. */
EK_API bool ek_md_ctx_final(ek_md_ctx *c, unsigned char *out);
ek_md ek_md_ctx_md(const ek_md_ctx *c);
EK_API void ek_md_ctx_free(ek_md_ctx *c); /* NULL is fine; wipes the state */
/* One shot: out gets ek_md_size(md) bytes. */
EK_API bool ek_md_digest(ek_md md, const void *data, size_t len, unsigned char *out);

#endif
