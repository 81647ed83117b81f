/* edgekey core: the process-wide TPM connection. Core-internal (ESYS types).
 *
 * One TPM connection (a TCTI from the TCTI loader and one ESYS context) per
 * process, opened lazily on the first ek_tpm_lock(); connecting sends no
 * command. The lock is a mutex around each key operation. After fork() the child
 * notices the pid change and opens its own connection (the parent's TCTI
 * socket/fd is never used by the child). A TCTI/IO failure marks the
 * connection broken: that operation fails with EK_ERR_CONNECT and the next
 * ek_tpm_lock() reconnects. */
#ifndef EK_TPM_H
#define EK_TPM_H

#include <stdbool.h>
#include <stdint.h>
#include <tss2/tss2_esys.h>
#include "ek_error.h"

/* Lock the connection (connecting the TCTI first if needed). With a
 * non-NULL esys, also return the connection's ESYS context (owned by core:
 * never finalize it). On failure the lock is NOT held. */
ek_rc ek_tpm_lock(ESYS_CONTEXT **esys);
void ek_tpm_unlock(void);

/* With the lock held: the storage primary (persistent 0x81000001 if present,
 * else the standard owner SRK template created once per connection). */
ek_rc ek_tpm_srk(ESYS_TR *srk);

/* With the lock held: the salted HMAC session (salted with the SRK, AES-128
 * CFB parameter encryption, continueSession), started once per connection.
 * attrs are set on it for the next command (e.g. TPMA_SESSION_DECRYPT). */
ek_rc ek_tpm_session(TPMA_SESSION attrs, ESYS_TR *session);

/* With the lock held: make room for one more transient object before a
 * TPM2_Load/CreatePrimary of your own (evicts the least recently used key;
 * it reloads from its blob on next use). Flush your object before unlocking.
 * Needed on TPMs without a resource manager (swtpm, /dev/tpm0: 3 slots). */
void ek_tpm_reserve_slot(void);

/* Map a TSS2_RC to an ek_rc with a message "<what>: <decoded rc>; <fix>".
 * Marks the connection broken on TCTI-layer errors. */
ek_rc ek_tpm_rc(TSS2_RC rc, const char *what);

/* Generation counter: bumps on every (re)connect, so keys know that their
 * cached ESYS_TR handles are stale. */
uint64_t ek_tpm_generation(void);

/* Drop the connection (tests; also used after fatal TCTI errors). */
void ek_tpm_disconnect(void);

/* TCTI configuration string in use ("" = loader default). */
const char *ek_tpm_tcti(void);

/* Random bytes from the TPM (PKCS#11 C_GenerateRandom). */
ek_rc ek_tpm_random(unsigned char *buf, size_t len);

#endif
