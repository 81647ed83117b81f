/* edgekey OpenSSL provider: internal declarations shared by the provider's
 * files (one operation per file, in the shape of OpenSSL's
 * providers/implementations/).
 *
 * The provider only translates: every key operation goes to core/ (ek_*.h);
 * hashing and verification are done in software through the default
 * provider, fetched in a child library context.
 *
 * Ownership rules:
 *   - ekp_key objects are reference counted (ekp_key_ref / ekp_key_free); the
 *     keymgmt "free" drops one reference, signature contexts hold their own.
 *   - An ekp_key owns at most one ek_key reference (NULL for a public-only key).
 *   - Functions returning EVP_PKEY * or malloc'ed buffers hand ownership to
 *     the caller.
 * Errors: functions returning int use 1 = success, 0 = failure, and put the
 * reason on OpenSSL's error queue through ekp_raise()/ekp_raise_core(). */
#ifndef EKP_H
#define EKP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>

#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/evp.h>

#include "ek_error.h"
#include "ek_key.h"
#include "ek_store.h"

#define EKP_NAME "edgekey"
#define EKP_PROPS "provider=edgekey"
/* Software work (hashing, verification, public-key encoding) goes here. */
#define EKP_SOFT_PROPQ "provider=default"

/* Signature algorithm names that only edgekey registers; our keymgmt answers
 * query_operation_name(OSSL_OP_SIGNATURE) with them, so EVP_DigestSignInit
 * (OpenSSL 3.0 to 3.5) fetches edgekey's signature for an edgekey key even with
 * the default provider first (see docs/provider.md, "Provider order"). They
 * are also registered verify-only under "provider=default", so a verification
 * asking for the default provider finds them (provider.c). */
#define EKP_SIG_RSA_NAME "EDGEKEY-RSA-SIG"
#define EKP_SIG_ECDSA_NAME "EDGEKEY-ECDSA-SIG"

#define EKP_KEYMGMT_RSA_NAMES "RSA:rsaEncryption:1.2.840.113549.1.1.1"
#define EKP_KEYMGMT_EC_NAMES "EC:id-ecPublicKey:1.2.840.10045.2.1"

/* Reason codes (provider.c holds the strings). */
enum {
    EKP_R_INVALID = 1,
    EKP_R_POLICY,
    EKP_R_NOT_FOUND,
    EKP_R_EXISTS,
    EKP_R_AUTH,
    EKP_R_LOCKOUT,
    EKP_R_TPM,
    EKP_R_CONNECT,
    EKP_R_IO,
    EKP_R_NOMEM,
    EKP_R_UNSUPPORTED,
    EKP_R_BUFFER,
    EKP_R_NO_PRIVATE_EXPORT,
    EKP_R_NO_PRIVATE_KEY,
    EKP_R_BAD_PARAM,
    EKP_R_SOFTWARE,
    EKP_R_ORDER,
};

typedef struct ekp_prov {
    const OSSL_CORE_HANDLE *handle;
    OSSL_LIB_CTX *libctx; /* child of the application's library context */
    OSSL_FUNC_core_new_error_fn *new_error;
    OSSL_FUNC_core_set_error_debug_fn *set_error_debug;
    OSSL_FUNC_core_vset_error_fn *vset_error;
} ekp_prov;

/* --- errors (provider.c) --- */
void ekp_raise(const ekp_prov *prov, int reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Raise the core's last message (ek_last_error) under the reason for rc. */
void ekp_raise_core(const ekp_prov *prov, ek_rc rc, const char *what);
int ekp_reason_for(ek_rc rc);

/* --- provider order (order.c) --- */
/* 1 if the default provider is already active in the loading library
 * context; 0, with the order to use on the error queue, if not. Call from
 * OSSL_provider_init before OSSL_LIB_CTX_new_child. */
int ekp_check_order(const ekp_prov *prov, const OSSL_DISPATCH *in);

/* Calls into the core need no wrapping: the core isolates its own and
 * ESYS's OpenSSL use (a private library context while the TPM lock is held,
 * no EVP_PKEY for its public-key steps). */

/* --- key objects (keyobj.c) --- */
typedef struct ekp_key {
    ekp_prov *prov;
    atomic_int refs;
    ek_alg alg;
    ek_key *tpm;   /* NULL for a public-only key */
    bool has_pub;  /* pub holds n/e or the EC point */
    ek_pubkey pub; /* alg/bits/curve are valid even without has_pub (EC params) */
} ekp_key;

ekp_key *ekp_key_new(ekp_prov *prov, ek_alg alg);
/* Wrap a core key (takes over the caller's ek_key reference). */
ekp_key *ekp_key_from_tpm(ekp_prov *prov, ek_key *tpm);
ekp_key *ekp_key_ref(ekp_key *k);
void ekp_key_free(ekp_key *k);
/* A default-provider EVP_PKEY holding the public half (caller frees). */
EVP_PKEY *ekp_key_soft(const ekp_key *k);
/* Security bits, maximum signature size, curve names. */
int ekp_key_security_bits(const ekp_key *k);
size_t ekp_key_max_sig(const ekp_key *k);
const char *ekp_curve_name(ek_curve c);         /* "prime256v1", "secp384r1" */
ek_curve ekp_curve_from_name(const char *name); /* also "P-256", "secp256r1" */
unsigned ekp_curve_bits(ek_curve c);
/* Auth for a key that needs it, from the passphrase callback: for a key of a
 * store token (obj != NULL) the value is the token's user PIN, otherwise the
 * key's own auth value. */
int ekp_key_ask_auth(ekp_prov *prov, ek_key *tpm, const char *what, const ek_store_obj *obj,
                     OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg);
/* Open the key a pkcs11: or handle: URI names (store.c), with its auth set
 * (pin-value, or the passphrase callback). want: the algorithm the calling
 * decoder makes; a key of the other algorithm gives 1 with *out NULL. */
int ekp_store_open_key(ekp_prov *prov, const char *uri, ek_alg want,
                       OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg, ek_key **out);
/* An object reference for keymgmt load(): the params point at *slot, load()
 * takes the key and clears *slot (so the caller frees what is left). */
int ekp_key_pass_reference(ekp_key **slot, OSSL_CALLBACK *cb, void *cbarg);
const char *ekp_alg_type_name(ek_alg alg); /* "RSA", "EC" */

/* --- keymgmt (keymgmt_common.c, keymgmt_gen.c) --- */
OSSL_FUNC_keymgmt_free_fn ekp_km_free;
OSSL_FUNC_keymgmt_load_fn ekp_km_load;
OSSL_FUNC_keymgmt_has_fn ekp_km_has;
OSSL_FUNC_keymgmt_match_fn ekp_km_match;
OSSL_FUNC_keymgmt_validate_fn ekp_km_validate;
OSSL_FUNC_keymgmt_dup_fn ekp_km_dup;
OSSL_FUNC_keymgmt_export_fn ekp_km_export;
OSSL_FUNC_keymgmt_gen_set_params_fn ekp_gen_set_params;
OSSL_FUNC_keymgmt_gen_settable_params_fn ekp_gen_settable_params;
OSSL_FUNC_keymgmt_gen_fn ekp_gen;
OSSL_FUNC_keymgmt_gen_cleanup_fn ekp_gen_cleanup;
OSSL_FUNC_keymgmt_gen_set_template_fn ekp_gen_set_template;
void *ekp_gen_init(void *provctx, ek_alg alg, int selection, const OSSL_PARAM params[]);
/* get_params shared part: bits, security-bits, max-size, default-digest. */
int ekp_km_get_common_params(const ekp_key *k, OSSL_PARAM params[]);
/* Import the public half (private parameters are ignored: nothing private
 * is ever imported into edgekey). */
int ekp_km_import_rsa(ekp_key *k, int selection, const OSSL_PARAM params[]);
int ekp_km_import_ec(ekp_key *k, int selection, const OSSL_PARAM params[]);
int ekp_km_export_rsa(const ekp_key *k, int selection, OSSL_CALLBACK *cb, void *cbarg);
int ekp_km_export_ec(const ekp_key *k, int selection, OSSL_CALLBACK *cb, void *cbarg);

extern const OSSL_DISPATCH ekp_rsa_keymgmt_functions[];
extern const OSSL_DISPATCH ekp_ec_keymgmt_functions[];
/* Public-half key managers for verification under provider=default. */
extern const OSSL_DISPATCH ekp_rsa_keymgmt_public_functions[];
extern const OSSL_DISPATCH ekp_ec_keymgmt_public_functions[];

/* --- signature (signature.c, signature_algid.c, signature_rsa.c, signature_ecdsa.c) --- */
extern const OSSL_DISPATCH ekp_rsa_signature_functions[];
extern const OSSL_DISPATCH ekp_ecdsa_signature_functions[];
/* The same implementations without sign functions (provider.c says why). */
extern const OSSL_DISPATCH ekp_rsa_verify_only_functions[];
extern const OSSL_DISPATCH ekp_ecdsa_verify_only_functions[];

/* Composite signature algorithms (signature_sigalg.c). OpenSSL 3.4 added
 * them with the signature "message" operations; their dispatch numbers mark
 * headers that have both. Registered under EKP_PROPS only (provider.c). */
#ifdef OSSL_FUNC_SIGNATURE_SIGN_MESSAGE_INIT
#define EKP_HAVE_SIGALGS 1
extern const OSSL_DISPATCH ekp_rsa_sha256_sigalg_functions[];
extern const OSSL_DISPATCH ekp_rsa_sha384_sigalg_functions[];
extern const OSSL_DISPATCH ekp_rsa_sha512_sigalg_functions[];
extern const OSSL_DISPATCH ekp_ecdsa_sha256_sigalg_functions[];
extern const OSSL_DISPATCH ekp_ecdsa_sha384_sigalg_functions[];
extern const OSSL_DISPATCH ekp_ecdsa_sha512_sigalg_functions[];
#endif

/* --- store, decoders, encoders --- */
extern const OSSL_DISPATCH ekp_store_functions[];
extern const OSSL_DISPATCH ekp_pem2der_decoder_functions[];
extern const OSSL_DISPATCH ekp_tss2_rsa_decoder_functions[];
extern const OSSL_DISPATCH ekp_tss2_ec_decoder_functions[];
extern const OSSL_DISPATCH ekp_tss2_pem_encoder_functions[];
extern const OSSL_DISPATCH ekp_tss2_der_encoder_functions[];
extern const OSSL_DISPATCH ekp_spki_pem_encoder_functions[];
extern const OSSL_DISPATCH ekp_spki_der_encoder_functions[];
extern const OSSL_DISPATCH ekp_text_encoder_functions[];

/* Decoder structure names (PEM -> DER step to the key decoders). */
#define EKP_STRUCT_TSS2 "TSS2"

#endif
