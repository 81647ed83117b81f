/* libFuzzer target: pkcs11: URI parsing through p11-kit.
 * Property: a parsed URI formats back (token, object, id, type) to one that
 * parses to the same fields. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ek_addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    ek_addr a, b;
    if (ek_addr_parse_pkcs11(s, &a) == EK_OK) {
        char buf[4096];
        if (ek_addr_format_pkcs11(a.token, a.object, a.id, a.id_len, a.type, buf, sizeof(buf)) !=
                EK_OK ||
            ek_addr_parse_pkcs11(buf, &b) != EK_OK || strcmp(a.token, b.token) != 0 ||
            strcmp(a.object, b.object) != 0 || a.id_len != b.id_len ||
            memcmp(a.id, b.id, a.id_len) != 0 || a.type != b.type)
            abort();
        ek_addr_clear(&a);
        ek_addr_clear(&b);
    }
    free(s);
    return 0;
}
