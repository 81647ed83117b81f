/* edgekey core: a token's wrong-PIN counters in <token dir>/pin.tries
 * (token_tries.c), used by token_auth.c. Internal.
 *
 * Fail closed: an attempt is counted (written atomically) before its PIN
 * goes to the TPM, and a count that cannot be written refuses the login. An
 * absent pin.tries is 0 failures; one present but unreadable, damaged,
 * empty or not a regular file locks the user PIN, and leaves the SO one
 * attempt so the SO can set a new user PIN (which rewrites the file). */
#ifndef EK_TOKEN_TRIES_H
#define EK_TOKEN_TRIES_H

#include <stdbool.h>

#include "ek_error.h"
#include "ek_token.h"

#define EK_TRIES_FILE "pin.tries"

/* Parse pin.tries text into fails[EK_TOKEN_USER], fails[EK_TOKEN_SO];
 * false (fails set to the locked values) if it is not a whole record. */
bool ek_tries_parse(const char *text, unsigned fails[2]);
/* The counters for a status display (no lock, no write). */
void ek_tries_state(const char *dir, unsigned fails[2]);
/* Count one attempt of who (what: "user PIN") on token before the PIN is
 * tried. EK_OK with *count = failures including this attempt; otherwise
 * the attempt must not be made: EK_ERR_LOCKOUT (at the limit or a damaged
 * counter) or EK_ERR_IO (the count could not be written; the user PIN is
 * then marked locked if at all possible). Messages name file, rule, fix. */
ek_rc ek_tries_begin(const char *dir, const char *token, ek_token_user who, const char *what,
                     unsigned *count);
/* After the TPM's answer: ok (right PIN) clears who's count; !ok (the PIN
 * was not judged, e.g. the TPM was unreachable) gives the attempt back. */
ek_rc ek_tries_end(const char *dir, ek_token_user who, bool ok);
/* Zero the counts of the user (user) and/or the SO (so): a PIN was set. */
ek_rc ek_tries_clear(const char *dir, bool user, bool so);
/* Forget the counters (the token has no PINs any more). */
ek_rc ek_tries_remove(const char *dir);

#endif
