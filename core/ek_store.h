/* edgekey core: the store of tokens, keys and certificates (plain files).
 *
 * Layout under the store root (ek_config.store):
 *   <root>/<token>/token.conf          label, serial (16 hex, random, stable),
 *                                      flags; written once at creation
 *   <root>/<token>/<idhex>.key         TSS2 PRIVATE KEY PEM (blob keys)
 *   <root>/<token>/<idhex>.meta        "key = value": label, alg, bits, curve,
 *                                      handle (0x81.. or 0), created
 *   <root>/<token>/<idhex>.crt         certificate, PEM
 * Token directory names are the token label (characters [A-Za-z0-9._-],
 * others refused). Writes are atomic (temp file in the same dir, fsync,
 * rename, fsync dir) and serialised with flock() on the token directory;
 * readers take no lock and need no write access. An object exists while its
 * .meta exists (written last, removed first). Modes: root 0755 when we create
 * it, token dirs 0700, .key/.meta 0600, .crt/token.conf 0644. CKA_ID
 * defaults to the first 8 bytes of SHA-256 of the public key (RSA n || e
 * minimal big-endian, or the EC point; ek_pubkey_sha256 in ek_keyfile.h).
 * Other files in a token directory (e.g. ek_token.h's PIN files) are left
 * alone.
 *
 * Public header: the faces include it. Only declarations marked EK_API are
 * exported from libedgekey-core.so (ek_export.h); the others are for core
 * and its tests.
 *
 * Ownership: lists and certificate DER are malloc'ed, the caller frees
 * them; ek_store_load_key hands one ek_key reference (ek_key_free). Errors:
 * EK_ERR_INVALID (bad label), EK_ERR_NOT_FOUND, EK_ERR_EXISTS, EK_ERR_IO,
 * with the message set. */
#ifndef EK_STORE_H
#define EK_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include "ek_export.h"
#include "ek_error.h"
#include "ek_key.h"

typedef struct ek_token_info {
    char label[33];
    char serial[17];
    char dir[1100];
} ek_token_info;

typedef struct ek_store_obj {
    char token[33];
    char label[256];
    unsigned char id[64];
    size_t id_len;
    ek_alg alg;
    unsigned bits;
    ek_curve curve;
    uint32_t handle; /* persistent handle, 0 if blob-only */
    bool has_key;    /* .key file or handle */
    bool has_cert;   /* .crt file */
    time_t created;
} ek_store_obj;

/* What the PKCS#11 face reports as CK_TOKEN_INFO model/manufacturerID, and
 * what ek_key_open matches a URI's model=/manufacturer= against. */
#define EK_TOKEN_MANUFACTURER "edgekey"
#define EK_TOKEN_MODEL "TPM2 key store"

/* Root in use (config), e.g. for messages. NULL if the configuration is
 * broken (ek_last_error says why). */
EK_API const char *ek_store_root(void);

/* Create the token if missing (EK_OK if it exists). */
EK_API ek_rc ek_store_token_ensure(const char *token, ek_token_info *out);
EK_API ek_rc ek_store_token_get(const char *token, ek_token_info *out);
/* The directory of an existing token, without reading it: EK_ERR_NOT_FOUND
 * if there is none, EK_ERR_INVALID for a label the store refuses. */
ek_rc ek_store_token_dir(const char *token, char *buf, size_t size);
/* All tokens, sorted by label; *out malloc'ed, caller frees. */
EK_API ek_rc ek_store_tokens(ek_token_info **out, size_t *n);
/* Remove an emptied token's directory. Only token.conf, the PIN attempt
 * counter and interrupted temporary files may be left: anything else (a
 * key, certificate, data object or PIN secret file) fails with
 * EK_ERR_EXISTS naming it, and nothing is removed. EK_ERR_NOT_FOUND for an
 * unknown token. Emptying is the caller's job (keys: ek_store_delete with
 * with_tpm; data objects: ek_secret_delete_all; PINs: ek_token_init with
 * no SO PIN, which also gives back their NV indices). */
EK_API ek_rc ek_store_token_remove(const char *token);

/* Save a key (blob written as TSS2 PEM; a handle-only key stores just the
 * handle). id NULL: derived from the public key. Refuses a duplicate label
 * in the token with EK_ERR_EXISTS. Fills *obj if non-NULL. */
EK_API ek_rc ek_store_put_key(const char *token, const char *label, const unsigned char *id,
                              size_t id_len, const ek_key *key, ek_store_obj *obj);

/* Save a certificate (DER input, stored as PEM) next to the key with the
 * same id (id NULL: the key whose public key matches the certificate). */
EK_API ek_rc ek_store_put_cert(const char *token, const char *label, const unsigned char *id,
                               size_t id_len, const unsigned char *der, size_t der_len,
                               ek_store_obj *obj);

/* Find objects: token/label/id may be NULL/""/0 for "any". *out malloc'ed. */
EK_API ek_rc ek_store_find(const char *token, const char *label, const unsigned char *id,
                           size_t id_len, ek_store_obj **out, size_t *n);

EK_API ek_rc ek_store_load_key(const ek_store_obj *obj, ek_key **out);
/* Certificate DER, malloc'ed; EK_ERR_NOT_FOUND if none. */
EK_API ek_rc ek_store_read_cert(const ek_store_obj *obj, unsigned char **der, size_t *len);

/* Remove the object's files; with_tpm evicts a persistent handle too.
 * what: EK_OBJ_ANY removes key and certificate, EK_OBJ_CERT only the cert. */
EK_API ek_rc ek_store_delete(const ek_store_obj *obj, int what, bool with_tpm);

/* Hex helpers (lower case). */
EK_API void ek_hex(const unsigned char *in, size_t len, char *out);
ek_rc ek_unhex(const char *in, unsigned char *out, size_t max, size_t *len);

#endif
