/* edgekey core (internal): sealed token secrets, TPM side of ek_token.h.
 * Used only by token_auth.c. */
#ifndef EK_TOKEN_SEAL_H
#define EK_TOKEN_SEAL_H

#include <stddef.h>
#include <tss2/tss2_tpm2_types.h>
#include "ek_error.h"

typedef struct ek_sealed {
    TPM2B_PUBLIC pub;
    TPM2B_PRIVATE priv;
} ek_sealed;

#define EK_SEAL_FILE_MAX (8 + sizeof(TPM2B_PUBLIC) + sizeof(TPM2B_PRIVATE))

/* TPM2_Create under the SRK: keyedhash, noDA, userAuth = auth. */
ek_rc ek_seal_create(const unsigned char *secret, size_t secret_len, const unsigned char *auth,
                     size_t auth_len, ek_sealed *out);
/* TPM2_Load + TPM2_Unseal + flush. EK_ERR_AUTH for a wrong auth value,
 * EK_ERR_LOCKOUT for DA lockout. *out_len: in = size of out, out = bytes. */
ek_rc ek_seal_unseal(const ek_sealed *blob, const unsigned char *auth, size_t auth_len,
                     unsigned char *out, size_t *out_len);

/* File format: "EKSEAL1\n" || TPM2B_PUBLIC || TPM2B_PRIVATE (tss2-mu). */
ek_rc ek_seal_encode(const ek_sealed *blob, unsigned char *buf, size_t size, size_t *len);
ek_rc ek_seal_decode(const unsigned char *buf, size_t len, ek_sealed *blob, const char *what);

#endif
