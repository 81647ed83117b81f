/* edgekey OpenSSL provider: the signature context shared by the RSA and
 * ECDSA implementations (signature.c does the common work, signature_rsa.c
 * and signature_ecdsa.c hold the algorithm-specific parameters and dispatch
 * tables, signature_algid.c the X.509 AlgorithmIdentifier).
 *
 * Signing: the digest is computed in software (default provider, fetched
 * once per context), the TPM signs the digest (one TPM2_Sign). Verifying is
 * done entirely in software on a default-provider copy of the public key. */
#ifndef EKP_SIGNATURE_H
#define EKP_SIGNATURE_H

#include <openssl/evp.h>

#include "ekp.h"

typedef struct ekp_sig_ctx {
    ekp_prov *prov;
    ek_alg alg; /* EK_ALG_RSA or EK_ALG_EC: which implementation */
    char *propq;
    ekp_key *key;     /* own reference */
    int verify;       /* 0 sign, 1 verify */
    ek_md md;         /* EK_MD_NONE: not chosen yet */
    ek_md_ctx *mdctx; /* running digest (digest_sign/verify), core's: no fetch */
    int pad;          /* RSA: RSA_PKCS1_PADDING or RSA_PKCS1_PSS_PADDING */
    int saltlen;      /* RSA-PSS: RSA_PSS_SALTLEN_* or a byte count */
    ek_md mgf1;       /* RSA-PSS: EK_MD_NONE = same as md */
    EVP_PKEY *soft;   /* verification key (default provider) */
    /* Composite algorithms (signature_sigalg.c, OpenSSL >= 3.4 only): */
    ek_md fixed_md;      /* the digest the algorithm's name fixes (RSA-SHA256...) */
    int msg;             /* sign/verify_message_init: sign and verify take the message */
    unsigned char *vsig; /* verify_message_final: the signature, set as a parameter */
    size_t vsiglen;
} ekp_sig_ctx;

/* Shared entry points; the newctx wrappers pick the algorithm. */
ekp_sig_ctx *ekp_sig_newctx(void *provctx, const char *propq, ek_alg alg);
OSSL_FUNC_signature_freectx_fn ekp_sig_freectx;
OSSL_FUNC_signature_dupctx_fn ekp_sig_dupctx;
OSSL_FUNC_signature_sign_fn ekp_sig_sign;
OSSL_FUNC_signature_verify_fn ekp_sig_verify;
OSSL_FUNC_signature_digest_sign_update_fn ekp_sig_digest_update;
OSSL_FUNC_signature_digest_sign_final_fn ekp_sig_digest_sign_final;
OSSL_FUNC_signature_digest_sign_fn ekp_sig_digest_sign;
OSSL_FUNC_signature_digest_verify_final_fn ekp_sig_digest_verify_final;
OSSL_FUNC_signature_digest_verify_fn ekp_sig_digest_verify;

/* Algorithm-specific parameter handlers, called from (digest_)init. */
typedef int (*ekp_sig_set_params_fn)(void *ctx, const OSSL_PARAM params[]);
int ekp_sig_init(ekp_sig_ctx *c, void *provkey, int verify, const OSSL_PARAM params[],
                 ekp_sig_set_params_fn set_params);
int ekp_sig_digest_init(ekp_sig_ctx *c, const char *mdname, void *provkey, int verify,
                        const OSSL_PARAM params[], ekp_sig_set_params_fn set_params);

/* (Re)start the running digest for c->md. */
int ekp_sig_start_md(ekp_sig_ctx *c);

/* Choose the digest by name (refused: anything but SHA-1/SHA-2). */
int ekp_sig_set_md(ekp_sig_ctx *c, const char *name);
/* Common ctx params: digest get/set and algorithm-id. */
int ekp_sig_get_common_params(ekp_sig_ctx *c, OSSL_PARAM params[]);
int ekp_sig_set_common_params(ekp_sig_ctx *c, const OSSL_PARAM params[]);
/* The gettable list of ekp_sig_get_common_params (ECDSA and the composite
 * algorithms answer nothing more). */
const OSSL_PARAM *ekp_sig_gettable_common(void *ctx, void *provctx);

/* DER AlgorithmIdentifier of the signature the context would make
 * (malloc'ed with OPENSSL_malloc via i2d; caller OPENSSL_free()s). */
int ekp_sig_algorithm_id(const ekp_sig_ctx *c, unsigned char **der, size_t *len);

/* RSA-PSS: the salt length the TPM will use, or -1 (and an error on the
 * queue) if the requested one cannot be honoured. */
int ekp_sig_pss_salt(const ekp_sig_ctx *c);

#endif
