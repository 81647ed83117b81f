/* edgekey core: persistent objects in the TPM (for `edgekey list`, which
 * shows those the store does not know about).
 *
 * Ownership: *out is malloc'ed, the caller frees it. Errors: EK_ERR_CONNECT
 * (no TPM), EK_ERR_TPM. Thread-safe; takes the TPM lock.
 *
 * Public header: the faces include it. Only declarations marked EK_API are
 * exported from libedgekey-core.so (ek_export.h); the others are for core
 * and its tests. */
#ifndef EK_HANDLES_H
#define EK_HANDLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ek_export.h"
#include "ek_error.h"
#include "ek_key.h"

typedef struct ek_persistent {
    uint32_t handle; /* 0x81000000..0x81FFFFFF */
    ek_alg alg;      /* EK_ALG_NONE for keyedhash/symcipher objects */
    unsigned bits;   /* RSA modulus bits or curve bits */
    ek_curve curve;
    char type[16]; /* "rsa2048", "ec-p256", "keyedhash", "symcipher", "?" */
    bool sign, decrypt, restricted;
    bool readable; /* false: ReadPublic failed (type unknown) */
} ek_persistent;

/* Every persistent handle (TPM2_GetCapability(HANDLES)) with its public
 * key type (TPM2_ReadPublic), sorted by handle. */
EK_API ek_rc ek_tpm_persistent_list(ek_persistent **out, size_t *n);

#endif
