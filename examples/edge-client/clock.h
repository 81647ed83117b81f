/* edge-client: detecting a wall clock that was set back.
 *
 * Certificate validity (notBefore/notAfter, CRL nextUpdate) is only as good
 * as the wall clock. The client keeps a high-water mark in data_dir/clock.mark
 * (wall time, TPM clock, TPM reset/restart counts; written atomically) and
 * compares it with the TPM's own clock (TPM2_ReadClock through the edgekey
 * provider's "edgekey-tpm-clock" parameters), which the OS cannot set back.
 *
 * Rollback, with tol = clock_tolerance_s (default 300 s):
 *   (a) wall now < mark wall - tol                       (set back below the mark), or
 *   (b) TPM clock advanced since the mark by more than the wall clock + tol
 *       + clock_drift_pct (default 5) % of the wall time passed (the TPM
 *       clock only runs while powered, so it can never legitimately advance
 *       more than real time, give or take its oscillator's drift).
 * The shorter the time between checks, the smaller the rollback (b)
 * catches: call it on start, before a renewal and periodically.
 * (b) is skipped when the TPM clock is behind the mark (TPM cleared or
 * replaced): the mark is re-based with a warning. On rollback the mark is
 * NOT moved; the caller must not trust certificate validity: refuse to
 * connect and to renew, exit EDGE_EXIT_CLOCK. */
#ifndef EDGE_CLOCK_H
#define EDGE_CLOCK_H

#include "config.h"

#define EDGE_EXIT_CLOCK 5 /* edge-client exit code: wall clock set back */

enum { EDGE_CLOCK_OK = 0, EDGE_CLOCK_ROLLBACK = 1 };

/* Needs the providers loaded (edge_providers_load). EDGE_CLOCK_OK (mark
 * advanced), EDGE_CLOCK_ROLLBACK (explained on stderr), -1 if the TPM
 * clock or the mark cannot be read/written (message printed). */
int edge_clock_check(const edge_config *c);

/* 1 once a check in this process found a rollback: no CSR is made after
 * that (tpmkey.c), so neither enrolment nor a renewal can go on. */
int edge_clock_rolled_back(void);

#endif
