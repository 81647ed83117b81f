/* edgekey core: the token/PIN model, shared by the PKCS#11 module, the
 * provider (pin-value in a pkcs11: URI) and the CLI (token init / PIN).
 *
 * A token is a store directory (ek_store.h). A PIN-protected token holds a
 * random 32-byte token secret in the TPM twice, once per PIN, next to its keys:
 *   <token dir>/pin-so.seal, pin-user.seal   keyedhash, userAuth = f(PIN)
 *   <token dir>/pin.tries       "user_fails = N" / "so_fails = N"
 * ("EKSEAL2\n" + parent handle + marshalled TPM2B_PUBLIC + TPM2B_PRIVATE;
 * "EKSEAL1\n" files without the parent are read too). f(PIN) =
 * HMAC-SHA256("edgekey pin", PIN) without trailing zeros, so a PIN of any
 * length fits the TPM's 32-byte auth limit. Tokens made before 0.2 may hold
 * the secret in noDA NV indices instead (pin-so.nv / pin-user.nv, token_nv.h)
 * or in seal files with noDA; they still log in (with one warning line per
 * login), and a PIN change or ek_token_migrate moves the secret to a
 * DA-protected sealed object.
 *
 * Login loads the sealed object and unseals it through ESYS's salted HMAC
 * session with response encryption: a wrong PIN is a TPM authorisation
 * failure. The sealed objects are DA-protected (no noDA): with TPM access
 * alone an attacker gets the TPM's lockout budget of guesses, no more. Keys
 * whose auth value is empty or derived are noDA, so a lockout never takes
 * them offline. As a second, per-token layer pin.tries counts failures under
 * flock and refuses further attempts after EK_TOKEN_MAX_TRIES (the SO
 * unlocks the user PIN by setting a new one). See docs/pkcs11.md.
 *
 * Key auth values in a PIN token are derived from the secret:
 *   auth = HMAC-SHA256(secret, "edgekey key auth" || CKA_ID), trailing zeros cut
 * so changing a PIN only re-seals the secret and never touches keys.
 * A token without pin-so.seal (or an old pin-so.nv) is PIN-less: keys have empty auth (the default
 * token "edge" made by `edgekey keygen` is one).
 *
 * All functions are thread-safe. Functions that take a PIN never log it and
 * wipe their copies. Errors: EK_ERR_AUTH (wrong PIN), EK_ERR_LOCKOUT (too many
 * wrong PINs, or the TPM is in DA lockout), EK_ERR_NOT_FOUND (no such token
 * or PIN not set), EK_ERR_IO, EK_ERR_TPM, EK_ERR_CONNECT.
 *
 * Public header: the faces include it. Only declarations marked EK_API are
 * exported from libedgekey-core.so (ek_export.h); the others are for core
 * and its tests.
 *
 * Ownership: an ek_token_secret is caller storage; ek_token_secret_wipe
 * clears it. */
#ifndef EK_TOKEN_H
#define EK_TOKEN_H

#include <stdbool.h>
#include <stddef.h>
#include "ek_export.h"
#include "ek_error.h"

#define EK_TOKEN_SECRET_LEN 32
#define EK_TOKEN_MAX_TRIES 10
#define EK_TOKEN_AUTH_MAX 32
#define EK_TOKEN_PIN_MIN 4
#define EK_TOKEN_PIN_MAX 128

typedef enum ek_token_user { EK_TOKEN_USER = 0, EK_TOKEN_SO = 1 } ek_token_user;

/* The unsealed token secret; wipe with ek_token_secret_wipe(). */
typedef struct ek_token_secret {
    unsigned char v[EK_TOKEN_SECRET_LEN];
    bool set;
} ek_token_secret;

/* Where one PIN's copy of the token secret is kept. The _NV and
 * _SEALED_NODA kinds (tokens made before 0.2) are not under the TPM's
 * dictionary-attack protection: ek_token_migrate moves them. */
typedef enum ek_token_pin_kind {
    EK_PIN_UNSET = 0,   /* no copy: this PIN is not set */
    EK_PIN_SEALED,      /* pin-<who>.seal, DA-protected: current */
    EK_PIN_SEALED_NODA, /* pin-<who>.seal with TPMA_OBJECT_NODA */
    EK_PIN_NV,          /* pin-<who>.nv naming a noDA NV index */
    EK_PIN_UNREADABLE,  /* a PIN file that cannot be read or decoded */
} ek_token_pin_kind;

/* What the store says about a token's PINs. Reads files only, no TPM. */
typedef struct ek_token_pins {
    bool has_so_pin;   /* pin-so.nv or pin-so.seal present: login required */
    bool has_user_pin; /* pin-user.nv or pin-user.seal present */
    unsigned user_fails, so_fails;
    unsigned max_tries;
    ek_token_pin_kind kind[2]; /* indexed by ek_token_user */
    bool needs_migration;      /* a kind is EK_PIN_NV or EK_PIN_SEALED_NODA */
} ek_token_pins;

/* Never changes the thread's error message when it returns EK_OK. */
EK_API ek_rc ek_token_pin_state(const char *token, ek_token_pins *out);

/* Move a token made before 0.2 to DA-protected sealed secrets: each PIN
 * whose copy is EK_PIN_NV or EK_PIN_SEALED_NODA logs in (counted like a
 * login), then its secret is sealed anew in pin-<who>.seal and the old
 * copy (NV index, or the noDA seal file it replaces) goes. Every PIN
 * needed is checked before anything is written, and an old copy is
 * removed only after its new file is written: a wrong PIN or a failure
 * leaves the token usable as it was. A PIN that needs nothing may be NULL.
 * before[who] (ek_token_user) receives the kind each PIN had; EK_OK with
 * no kind to move means there was nothing to do. EK_ERR_INVALID if a PIN
 * that must be moved was not given. */
EK_API ek_rc ek_token_migrate(const char *token, const char *so_pin, size_t so_len,
                              const char *user_pin, size_t user_len, ek_token_pin_kind before[2]);

/* True if keys of this token need an auth value derived from the secret. */
EK_API bool ek_token_login_required(const char *token);

/* (Re)initialise a token's PINs: a fresh secret sealed with the SO PIN, the
 * user PIN removed, counters reset. so_pin_len 0 makes the token PIN-less
 * (both seal files removed). The caller checks the old SO PIN first (and
 * deletes objects: keys made under the old secret become unusable). */
EK_API ek_rc ek_token_init(const char *token, const char *so_pin, size_t so_pin_len);

/* Check a PIN by unsealing; on success fills *secret. Counts failures. */
EK_API ek_rc ek_token_login(const char *token, ek_token_user who, const char *pin, size_t pin_len,
                            ek_token_secret *secret);

/* Seal the (SO-unsealed) secret under a new user PIN; resets user_fails. */
EK_API ek_rc ek_token_set_user_pin(const char *token, const ek_token_secret *secret,
                                   const char *pin, size_t pin_len);

/* Change a PIN: checks old (counted as a login), re-seals with new. */
EK_API ek_rc ek_token_change_pin(const char *token, ek_token_user who, const char *old_pin,
                                 size_t old_len, const char *new_pin, size_t new_len);

/* Key auth value for a key with CKA_ID id in a PIN token. */
EK_API ek_rc ek_token_key_auth(const ek_token_secret *secret, const unsigned char *id,
                               size_t id_len, unsigned char auth[EK_TOKEN_AUTH_MAX],
                               size_t *auth_len);

/* One call for faces that hold a user PIN (pin-value in a URI): login as
 * user and derive the key's auth value. EK_OK with *auth_len 0 for a
 * PIN-less token. */
ek_rc ek_token_key_auth_pin(const char *token, const char *pin, size_t pin_len,
                            const unsigned char *id, size_t id_len,
                            unsigned char auth[EK_TOKEN_AUTH_MAX], size_t *auth_len);

/* Give a key of a token its auth value from a user-supplied PIN (a URI's
 * pin-value, a passphrase callback): in a PIN token the PIN is checked by
 * login and the key's derived auth is set; in a PIN-less token the PIN is
 * the key's own auth value. For faces that open keys themselves. */
struct ek_key;
EK_API ek_rc ek_token_key_set_pin(struct ek_key *key, const char *token, const unsigned char *id,
                                  size_t id_len, const char *pin, size_t pin_len);

EK_API void ek_token_secret_wipe(ek_token_secret *secret);

#endif
