/* edgekey TPM tests: shared helpers (software verification, checks).
 * Tests run inside tests/lib/tpm-env.sh, which provides a fresh swtpm. */
#ifndef EK_TPM_TEST_H
#define EK_TPM_TEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ek_error.h"
#include "ek_key.h"

extern int tt_failures;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                        \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
            tt_failures++;                                                                         \
        }                                                                                          \
    } while (0)

/* Check an ek_rc is EK_OK, printing ek_last_error otherwise. */
#define CHECK_OK(expr)                                                                             \
    do {                                                                                           \
        ek_rc tt_rc_ = (expr);                                                                     \
        CHECK(tt_rc_ == EK_OK, "rc=%s: %s", ek_rc_name(tt_rc_), ek_last_error());                  \
    } while (0)

/* Fatal variant: stop the test (returns 1 from main's caller via exit). */
#define REQUIRE_OK(expr)                                                                           \
    do {                                                                                           \
        ek_rc tt_rc_ = (expr);                                                                     \
        if (tt_rc_ != EK_OK) {                                                                     \
            fprintf(stderr, "FATAL %s:%d: %s: rc=%s: %s\n", __FILE__, __LINE__, #expr,             \
                    ek_rc_name(tt_rc_), ek_last_error());                                          \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* SHA digest of msg with the default provider. */
void tt_digest(ek_md md, const void *msg, size_t len, unsigned char *out);

/* Verify sig over msg (hashed with md) in software against the key's
 * public part. For ECDSA, fmt says whether sig is DER or raw r||s.
 * PSS is checked with salt length = digest length. */
bool tt_verify(const ek_pubkey *pub, ek_sig_scheme scheme, ek_md md, const void *msg, size_t len,
               ek_ecdsa_fmt fmt, const unsigned char *sig, size_t siglen);

/* Generate, sign "msg" and verify; returns true if all went well. */
bool tt_sign_verify(ek_key *key, ek_sig_scheme scheme, ek_md md, ek_ecdsa_fmt fmt, const char *msg);

/* Report and return the exit code. */
int tt_finish(const char *name);

#endif
