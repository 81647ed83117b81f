/* edgekey core (internal): the SRK without an ESYS_TR, and the flush of
 * objects left by dead processes (srk.c). For core files that send raw
 * commands salted with the SRK (token_nv.c) and for the connection (tpm.c).
 * All functions: connection lock held. */
#ifndef EK_SRK_H
#define EK_SRK_H

#include <stdbool.h>
#include "ek_error.h"

/* Make ek_g.srk_pub / ek_g.srk_tpm / ek_g.srk_parent valid: one ReadPublic
 * of the persistent SRK 0x81000001, or (none there) the owner-template
 * primary made now. Does not make the ESYS_TR of a persistent SRK (that
 * is ek_tpm_srk's, when a Load or Create needs it). Starts a TPM that
 * answers TPM_RC_INITIALIZE. Errors: as ek_tpm_srk. */
ek_rc ek_srk_public(void);

/* On an exclusive TCTI (no resource manager), flush the transient objects
 * and loaded sessions a dead process left; once per connection, before the
 * connection holds any of its own (ek_tpm_srk does it first). */
void ek_tpm_flush_leftovers(void);
/* True once that was done, or if the TCTI needs none (resource manager). */
bool ek_tpm_leftovers_scanned(void);

#endif
