/* edgekey core (internal): sealed token secrets, TPM side of ek_token.h.
 * Used only by token_auth.c. */
#ifndef EK_TOKEN_SEAL_H
#define EK_TOKEN_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>
#include "ek_error.h"

typedef struct ek_sealed {
    uint32_t parent; /* 0x81000001 or 0x40000001 (template primary); 0: unknown (EKSEAL1 file) */
    TPM2B_PUBLIC pub;
    TPM2B_PRIVATE priv;
} ek_sealed;

#define EK_SEAL_FILE_MAX (8 + 4 + sizeof(TPM2B_PUBLIC) + sizeof(TPM2B_PRIVATE))

/* TPM2_Create under the SRK: keyedhash, userAuth = auth; out->parent is
 * the SRK's handle as key files record it. pin_auth: auth derives from a
 * human PIN, so the object is under the TPM's dictionary-attack protection;
 * otherwise (empty or 256-bit derived auth) it is noDA. */
ek_rc ek_seal_create(const unsigned char *secret, size_t secret_len, const unsigned char *auth,
                     size_t auth_len, bool pin_auth, ek_sealed *out);
/* TPM2_Load under blob->parent (unknown: the SRK, then the template
 * primary if the SRK is persistent) + TPM2_Unseal + flush. EK_ERR_AUTH for a wrong auth value,
 * EK_ERR_LOCKOUT for DA lockout. *out_len: in = size of out, out = bytes. */
ek_rc ek_seal_unseal(const ek_sealed *blob, const unsigned char *auth, size_t auth_len,
                     unsigned char *out, size_t *out_len);

/* The object carries TPMA_OBJECT_NODA: a PIN seal file made before 0.2,
 * whose PIN the TPM's dictionary-attack logic does not guard. */
bool ek_seal_noda(const ek_sealed *blob);

/* File format: "EKSEAL2\n" || UINT32 parent || TPM2B_PUBLIC || TPM2B_PRIVATE
 * (tss2-mu). Decoding also takes "EKSEAL1\n" files (no parent: 0). */
ek_rc ek_seal_encode(const ek_sealed *blob, unsigned char *buf, size_t size, size_t *len);
ek_rc ek_seal_decode(const unsigned char *buf, size_t len, ek_sealed *blob, const char *what);

#endif
