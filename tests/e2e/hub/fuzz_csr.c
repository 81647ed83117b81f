/* libFuzzer target: the hub's CSR checks (PEM parse, self-signature, key
 * policy, CN) on arbitrary input, as POST .../cert/apply feeds them. */
#include <stdint.h>
#include <openssl/x509.h>
#include "csr_check.h"
#include "registry.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    X509_REQ *req = NULL;
    if (hub_csr_check((const char *)data, size, "SN-0001", HUB_KT_RSA | HUB_KT_EC, &req) ==
        HUB_CSR_OK)
        X509_REQ_free(req);
    hub_csr_check((const char *)data, size, "SN-0001", HUB_KT_RSA, NULL);
    return 0;
}
