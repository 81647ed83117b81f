/* edgekey core: digest helpers shared by the faces (declared in ek_key.h). */
#include <ctype.h>
#include <stddef.h>
#include <string.h>

#include "ek_key.h"

size_t ek_md_size(ek_md md)
{
    switch (md) {
    case EK_MD_SHA1:
        return 20;
    case EK_MD_SHA256:
        return 32;
    case EK_MD_SHA384:
        return 48;
    case EK_MD_SHA512:
        return 64;
    case EK_MD_NONE:
        break;
    }
    return 0;
}

/* Accepts the spellings OpenSSL, PKCS#11 tooling and users write:
 * "SHA256", "sha-256", "SHA2-256", "sha2_256", "SHA-1" ... (case-insensitive). */
ek_md ek_md_from_name(const char *name)
{
    char norm[16];
    size_t n = 0;
    if (!name)
        return EK_MD_NONE;
    for (const char *p = name; *p; p++) {
        if (*p == '-' || *p == '_')
            continue;
        if (n + 1 >= sizeof(norm))
            return EK_MD_NONE;
        norm[n++] = (char)tolower((unsigned char)*p);
    }
    norm[n] = '\0';
    static const struct {
        const char *name;
        ek_md md;
    } names[] = {
        {"sha1", EK_MD_SHA1},      {"sha256", EK_MD_SHA256},  {"sha2256", EK_MD_SHA256},
        {"sha384", EK_MD_SHA384},  {"sha2384", EK_MD_SHA384}, {"sha512", EK_MD_SHA512},
        {"sha2512", EK_MD_SHA512},
    };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
        if (strcmp(norm, names[i].name) == 0)
            return names[i].md;
    return EK_MD_NONE;
}

const char *ek_md_name(ek_md md)
{
    switch (md) {
    case EK_MD_SHA1:
        return "SHA1";
    case EK_MD_SHA256:
        return "SHA256";
    case EK_MD_SHA384:
        return "SHA384";
    case EK_MD_SHA512:
        return "SHA512";
    case EK_MD_NONE:
        break;
    }
    return NULL;
}
