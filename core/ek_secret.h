/* edgekey core: application secrets sealed in the TPM ("data objects").
 *
 * A short secret (1..EK_SECRET_MAX bytes, e.g. the edge client's
 * deviceSecret) is kept in a token directory as a keyedhash sealed object
 * under the SRK (fixedTPM|fixedParent|userWithAuth|noDA, token_seal.c), so
 * the store never holds it in clear and the file is useless without this
 * TPM. The PKCS#11 module shows these as CKO_DATA token objects; the CLI
 * can reuse the same calls.
 *
 * Store file: <root>/<token>/<name>.data, mode 0600, written atomically
 * under the token directory's flock (like keys, ek_store.h). <name> is 16
 * random hex digits given at creation and never reused; it is not CKA_ID
 * (optional, and may repeat). Format, "key = value" lines:
 *   format = EKDATA1
 *   label = <hex>          the label bytes (1-255; unique among the token's
 *                          data objects)
 *   application = <hex>    CKA_APPLICATION (0-255 bytes)
 *   id = <hex>             CKA_ID (0-64 bytes)
 *   object_id = <hex>      CKA_OBJECT_ID, DER (0-128 bytes)
 *   private = 0|1          CKA_PRIVATE as created
 *   auth = none|token      the sealed object's userAuth (below)
 *   value_len = N          length of the secret (a length query needs no TPM)
 *   created = <unix time>
 *   sealed = <hex>         "EKSEAL1\n" || TPM2B_PUBLIC || TPM2B_PRIVATE
 *                          (the token_seal.c seal file format)
 * Labels and the like are hex so any bytes survive the line format.
 *
 * userAuth: "token" = HMAC-SHA256(token secret, "edgekey data auth" ||
 * name), trailing zero bytes cut (ek_token.h's derivation, own domain),
 * for private secrets of a PIN token: only a user who logged in (unsealed
 * the token secret) can unseal; changing a PIN keeps them readable,
 * re-initialising the token (new secret) makes them unreadable, so the
 * PKCS#11 C_InitToken deletes them. "none" = empty auth, for PIN-less
 * tokens and for public (CKA_PRIVATE false) secrets. The TPM enforces the
 * auth; editing the file cannot weaken it.
 *
 * On the wire the secret only crosses encrypted: TPM2_Create's inSensitive
 * through the salted session's command encryption, TPM2_Unseal's outData
 * through its response encryption. Unsealed copies are wiped after use.
 *
 * Thread-safe. Errors: EK_ERR_INVALID (bad label/size/damaged file, with
 * the rule), EK_ERR_EXISTS (label taken), EK_ERR_NOT_FOUND, EK_ERR_AUTH (a
 * private secret of a PIN token without the token secret, or a wrong PIN),
 * EK_ERR_BUFFER_TOO_SMALL, EK_ERR_IO, EK_ERR_TPM, EK_ERR_CONNECT.
 *
 * Public header: the faces include it. Only declarations marked EK_API are
 * exported from libedgekey-core.so (ek_export.h); the others are for core
 * and its tests.
 *
 * Ownership: lists (*out) are malloc'ed, the caller frees them; secret
 * values land in caller buffers, which the caller wipes (ek_wipe). */
#ifndef EK_SECRET_H
#define EK_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include "ek_export.h"
#include "ek_error.h"
#include "ek_token.h"

/* TPM2B_SENSITIVE_DATA in a TPM2_Create: MAX_SYM_DATA, 128 bytes. */
#define EK_SECRET_MAX 128
#define EK_SECRET_LABEL_MAX 255
#define EK_SECRET_APP_MAX 255
#define EK_SECRET_ID_MAX 64
#define EK_SECRET_OID_MAX 128

typedef struct ek_secret_obj {
    char token[33];
    char name[17]; /* file name stem: 16 hex digits */
    char label[EK_SECRET_LABEL_MAX + 1];
    char application[EK_SECRET_APP_MAX + 1];
    unsigned char id[EK_SECRET_ID_MAX];
    size_t id_len;
    unsigned char object_id[EK_SECRET_OID_MAX];
    size_t object_id_len;
    bool priv;       /* CKA_PRIVATE as created */
    bool token_auth; /* sealed under an auth derived from the token secret */
    size_t value_len;
    time_t created;
} ek_secret_obj;

/* Seal value (1..EK_SECRET_MAX bytes) into token (created if missing).
 * desc gives label (required), application, id, object_id and priv; the
 * other fields are filled in *out. In a PIN token a private secret needs
 * the user's unsealed token secret (EK_ERR_AUTH "log in" without it);
 * otherwise secret may be NULL and is ignored. */
EK_API ek_rc ek_secret_put(const char *token, const ek_secret_obj *desc,
                           const ek_token_secret *secret, const unsigned char *value, size_t len,
                           ek_secret_obj *out);

/* Unseal obj's value into out (size bytes; EK_SECRET_MAX always fits).
 * EK_ERR_BUFFER_TOO_SMALL (no TPM) if size < obj->value_len. secret as
 * for ek_secret_put. The caller wipes out after use. */
EK_API ek_rc ek_secret_get(const ek_secret_obj *obj, const ek_token_secret *secret,
                           unsigned char *out, size_t size, size_t *len);

/* The token's data objects (label NULL or "": all), sorted by label.
 * *out malloc'ed (caller frees; holds no secret). A missing token is EK_OK
 * with *n 0. Damaged files are skipped with a warning. Reads files only. */
EK_API ek_rc ek_secret_find(const char *token, const char *label, ek_secret_obj **out, size_t *n);

/* Remove the object's file (EK_ERR_NOT_FOUND if it is gone already). */
EK_API ek_rc ek_secret_delete(const ek_secret_obj *obj);

/* Remove every data object of a token; *count (may be NULL) = how many. */
EK_API ek_rc ek_secret_delete_all(const char *token, size_t *count);

/* One call for faces that hold a PIN (CLI, an application using the core):
 * find token's data object by label, log in as user if the token has PINs
 * (a wrong PIN counts, ek_token.h) and unseal. PIN-less tokens ignore pin. */
EK_API ek_rc ek_secret_read(const char *token, const char *label, const char *pin, size_t pin_len,
                            unsigned char *out, size_t size, size_t *len);

#endif
