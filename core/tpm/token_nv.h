/* edgekey core (internal): token secrets in NV indices, as tokens made
 * before 0.2 keep them (token_nv.c): read and remove only. Used by
 * token_auth.c.
 *
 * Index: an ordinary NV index in 0x010E4B00..0x010E4BFF (the owner range
 * 0x01000000..0x013FFFFF of the TCG handle registry; 'E' 'K' in the middle
 * bytes), the first free one at define time, recorded by the caller in the
 * token directory. Attributes TPMA_NV_AUTHREAD | TPMA_NV_AUTHWRITE |
 * TPMA_NV_NO_DA, nameAlg SHA-256, empty policy, authValue = f(PIN).
 * Defining and removing use the owner hierarchy with an empty auth value.
 * All functions take the connection lock. Nothing secret is logged. */
#ifndef EK_TOKEN_NV_H
#define EK_TOKEN_NV_H

#include <stddef.h>
#include <stdint.h>
#include "ek_error.h"

#define EK_NV_BASE 0x010E4B00u
#define EK_NV_COUNT 256u
#define EK_NV_SECRET_MAX 64

/* Read len bytes back with authValue auth (StartAuthSession + NV_Read with
 * response encryption). EK_ERR_AUTH for a wrong auth value (these old
 * indices are noDA), EK_ERR_NOT_FOUND if the index is gone. */
ek_rc ek_nv_secret_read(uint32_t index, const unsigned char *auth, size_t alen, unsigned char *out,
                        size_t len);

/* NV_UndefineSpace (owner auth). EK_OK if it is already gone. */
ek_rc ek_nv_secret_remove(uint32_t index);

#endif
