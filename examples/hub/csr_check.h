/* edgekey hub: checks on a device's CSR before the CA sees it.
 *
 * hub_csr_check() parses PEM, verifies the self-signature (proof of
 * possession), enforces the product's key policy (RSA >= 2048 bits, EC only
 * P-256 and only if allowed) and CN == expected device key. It returns
 * HUB_CSR_OK and hands back the request, or an error code with hub_err()
 * naming the rule and the fix. */
#ifndef HUB_CSR_CHECK_H
#define HUB_CSR_CHECK_H

#include <stddef.h>
#include <openssl/x509.h>

enum hub_csr_rc {
    HUB_CSR_OK = 0,
    HUB_CSR_PARSE = 1,     /* not a PEM CERTIFICATE REQUEST */
    HUB_CSR_SIGNATURE = 2, /* self-signature does not verify */
    HUB_CSR_KEY = 3,       /* key type/size refused by policy */
    HUB_CSR_SUBJECT = 4,   /* CN missing or not the device key */
};

const char *hub_csr_rc_name(int rc);
int hub_csr_check(const char *pem, size_t len, const char *expected_cn, unsigned key_types,
                  X509_REQ **out);
/* The key policy alone (also used for renewals). */
int hub_key_policy_check(EVP_PKEY *pub, unsigned key_types);

#endif
