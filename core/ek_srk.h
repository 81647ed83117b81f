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
 * primary made now with a raw CreatePrimary. Never makes ESYS or the
 * SRK's ESYS_TR (that is ek_tpm_srk's, for ESYS users). Errors: as
 * ek_tpm_srk. */
ek_rc ek_srk_public(void);

/* On an exclusive TCTI (no resource manager), flush the transient objects
 * and loaded sessions a dead process left (raw GetCapability + FlushContext,
 * sparing our own); each kind once per connection: objects before the
 * connection's first object (ek_tpm_before_alloc), both when a
 * StartAuthSession finds the TPM's memory full. */
void ek_tpm_flush_leftovers(void);
/* True once that was done, or if the TCTI needs none (resource manager). */
bool ek_tpm_leftovers_scanned(void);

#endif
