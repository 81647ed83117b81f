/* edgekey core: key policy (RSA >= 2048, allowed algorithms). Pure, no TPM.
 *
 * Public header: the faces include it. Only declarations marked EK_API are
 * exported from libedgekey-core.so (ek_export.h); the others are for core
 * and its tests.
 *
 * Ownership: returned strings are static. Errors: EK_ERR_POLICY (refused:
 * names the rule and the fix), EK_ERR_INVALID (unknown algorithm name). */
#ifndef EK_POLICY_H
#define EK_POLICY_H

#include "ek_export.h"
#include "ek_error.h"
#include "ek_key.h"

/* Check a key generation request against the configuration's policy.
 * Refusals name the request, the rule and the fix. */
EK_API ek_rc ek_policy_check_keygen(const ek_keygen_spec *spec, unsigned rsa_min_bits,
                                    bool allow_ec);

/* Parse an algorithm name as the CLI takes it: rsa2048, rsa3072, rsa4096,
 * ec-p256, ec-p384 (also "rsa" = rsa2048, "ec" = ec-p256). */
EK_API ek_rc ek_policy_parse_alg(const char *name, ek_keygen_spec *spec);

/* "rsa2048", "ec-p256", ...: static string. */
EK_API const char *ek_alg_name(ek_alg alg, unsigned bits, ek_curve curve);

#endif
