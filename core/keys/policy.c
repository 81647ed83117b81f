/* edgekey core: key policy (ek_policy.h). Pure functions, no TPM.
 *
 * RSA keys are 2048, 3072 or 4096 bits and never below rsa_min_bits (itself
 * never below 2048); EC keys are P-256 or P-384 and only when allow_ec. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ek_policy.h"

#define EK_ALG_NAMES "rsa2048, rsa3072, rsa4096, ec-p256, ec-p384 (or rsa = rsa2048, ec = ec-p256)"

static bool rsa_size_supported(unsigned bits)
{
    return bits == 2048 || bits == 3072 || bits == 4096;
}

static ek_rc check_rsa(unsigned bits, unsigned rsa_min_bits)
{
    unsigned min = rsa_min_bits < 2048 ? 2048 : rsa_min_bits;
    if (bits < min)
        return ek_error(EK_ERR_POLICY,
                        "RSA-%u refused: policy requires >= %u bits (rsa_min_bits = %u); use "
                        "rsa%u or larger",
                        bits, min, min, min <= 2048 ? 2048u : (min <= 3072 ? 3072u : 4096u));
    if (!rsa_size_supported(bits))
        return ek_error(EK_ERR_UNSUPPORTED,
                        "RSA-%u refused: supported RSA sizes are 2048, 3072 and 4096 bits; "
                        "use one of rsa2048, rsa3072, rsa4096",
                        bits);
    return EK_OK;
}

static ek_rc check_ec(ek_curve curve, bool allow_ec)
{
    const char *name = curve == EK_CURVE_P256 ? "P-256" : curve == EK_CURVE_P384 ? "P-384" : NULL;
    if (!name)
        return ek_error(EK_ERR_UNSUPPORTED,
                        "EC key refused: unknown curve; supported curves are P-256 (ec-p256) "
                        "and P-384 (ec-p384)");
    if (!allow_ec)
        return ek_error(EK_ERR_POLICY,
                        "EC %s refused: policy disallows EC keys (allow_ec = no); use rsa2048 "
                        "or set allow_ec = yes in the edgekey configuration",
                        name);
    return EK_OK;
}

ek_rc ek_policy_check_keygen(const ek_keygen_spec *spec, unsigned rsa_min_bits, bool allow_ec)
{
    if (!spec)
        return ek_error(EK_ERR_INVALID, "key generation: no key specification given");
    switch (spec->alg) {
    case EK_ALG_RSA:
        return check_rsa(spec->bits, rsa_min_bits);
    case EK_ALG_EC:
        return check_ec(spec->curve, allow_ec);
    case EK_ALG_NONE:
        break;
    }
    return ek_error(EK_ERR_INVALID, "key generation: no algorithm given; use one of %s",
                    EK_ALG_NAMES);
}

/* "2048" -> 2048; anything else (empty, signs, junk, absurd sizes) -> 0. */
static unsigned parse_bits(const char *s)
{
    if (!isdigit((unsigned char)*s))
        return 0;
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    return (*end == '\0' && v >= 512 && v <= 16384) ? (unsigned)v : 0;
}

static ek_rc parse_rsa(const char *rest, ek_keygen_spec *spec)
{
    if (*rest == '-' || *rest == ':') {
        if (!*++rest)
            return EK_ERR_INVALID; /* "rsa-" */
    }
    unsigned bits = *rest ? parse_bits(rest) : 2048;
    if (!bits)
        return EK_ERR_INVALID;
    spec->alg = EK_ALG_RSA;
    spec->bits = bits; /* sizes outside policy are refused by ek_policy_check_keygen */
    return EK_OK;
}

static ek_rc parse_ec(const char *curve, ek_keygen_spec *spec)
{
    static const struct {
        const char *name;
        ek_curve curve;
        unsigned bits;
    } curves[] = {
        {"", EK_CURVE_P256, 256},          {"p256", EK_CURVE_P256, 256},
        {"p-256", EK_CURVE_P256, 256},     {"prime256v1", EK_CURVE_P256, 256},
        {"secp256r1", EK_CURVE_P256, 256}, {"p384", EK_CURVE_P384, 384},
        {"p-384", EK_CURVE_P384, 384},     {"secp384r1", EK_CURVE_P384, 384},
    };
    for (size_t i = 0; i < sizeof(curves) / sizeof(curves[0]); i++) {
        if (strcasecmp(curve, curves[i].name) == 0) {
            spec->alg = EK_ALG_EC;
            spec->curve = curves[i].curve;
            spec->bits = curves[i].bits;
            return EK_OK;
        }
    }
    return EK_ERR_INVALID;
}

ek_rc ek_policy_parse_alg(const char *name, ek_keygen_spec *spec)
{
    if (!name || !*name || !spec)
        return ek_error(EK_ERR_INVALID, "algorithm: none given; use one of %s", EK_ALG_NAMES);
    ek_keygen_spec parsed = {0};
    ek_rc rc = EK_ERR_INVALID;
    if (strncasecmp(name, "rsa", 3) == 0)
        rc = parse_rsa(name + 3, &parsed);
    else if (strncasecmp(name, "ecdsa", 5) == 0)
        rc = parse_ec(name[5] == '-' || name[5] == ':' ? name + 6 : name + 5, &parsed);
    else if (strncasecmp(name, "ec", 2) == 0)
        rc = parse_ec(name[2] == '-' || name[2] == ':' ? name + 3 : name + 2, &parsed);
    else if (*name)
        rc = parse_ec(name, &parsed); /* bare curve names: p256, secp384r1 ... */
    if (rc != EK_OK)
        return ek_error(EK_ERR_INVALID, "algorithm '%.40s' not recognised; use one of %s", name,
                        EK_ALG_NAMES);
    /* keep the caller's auth fields */
    spec->alg = parsed.alg;
    spec->bits = parsed.bits;
    spec->curve = parsed.curve;
    return EK_OK;
}

const char *ek_alg_name(ek_alg alg, unsigned bits, ek_curve curve)
{
    if (alg == EK_ALG_RSA) {
        switch (bits) {
        case 1024:
            return "rsa1024";
        case 2048:
            return "rsa2048";
        case 3072:
            return "rsa3072";
        case 4096:
            return "rsa4096";
        default:
            return "rsa";
        }
    }
    if (alg == EK_ALG_EC)
        return curve == EK_CURVE_P256 ? "ec-p256" : curve == EK_CURVE_P384 ? "ec-p384" : "ec";
    return "none";
}
