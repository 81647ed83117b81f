/* libFuzzer target: the URI-wrapping PEM (EDGEKEY URI and pkcs11-provider's
 * PKCS#11 PROVIDER URI). Property: a decoded URI is a C string that fits,
 * and re-encoding a valid one decodes to the same string. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ek_addr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char uri[1024], again[1024];
    if (ek_addr_uri_pem_decode((const char *)data, size, uri, sizeof(uri)) != EK_OK)
        return 0;
    if (strlen(uri) >= sizeof(uri))
        abort();
    char *pem = NULL;
    size_t len = 0;
    if (ek_addr_uri_pem_encode(uri, &pem, &len) == EK_OK) {
        if (ek_addr_uri_pem_decode(pem, len, again, sizeof(again)) != EK_OK ||
            strcmp(uri, again) != 0)
            abort();
        free(pem);
    }
    return 0;
}
