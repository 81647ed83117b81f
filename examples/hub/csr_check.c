/* edgekey hub: CSR checks (parse, self-signature, key policy, subject). */
#include "csr_check.h"

#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include "hub_util.h"
#include "keyload.h"
#include "registry.h"

const char *hub_csr_rc_name(int rc)
{
    switch (rc) {
    case HUB_CSR_OK:
        return "ok";
    case HUB_CSR_PARSE:
        return "csr_malformed";
    case HUB_CSR_SIGNATURE:
        return "csr_bad_signature";
    case HUB_CSR_KEY:
        return "key_policy";
    case HUB_CSR_SUBJECT:
        return "csr_subject";
    default:
        return "csr_error";
    }
}

int hub_key_policy_check(EVP_PKEY *pub, unsigned key_types)
{
    int bits = EVP_PKEY_get_bits(pub);
    if (EVP_PKEY_is_a(pub, "RSA")) {
        if (!(key_types & HUB_KT_RSA))
            return hub_fail("RSA key refused: the product allows only EC P-256; "
                            "make an EC P-256 key");
        if (bits < 2048)
            return hub_fail("RSA-%d refused: policy requires >= 2048 bits; use rsa2048 or larger",
                            bits);
        if (bits > 8192)
            return hub_fail("RSA-%d refused: policy allows at most 8192 bits", bits);
        return 0;
    }
    if (EVP_PKEY_is_a(pub, "EC")) {
        char group[64] = "";
        size_t glen = 0;
        EVP_PKEY_get_group_name(pub, group, sizeof(group), &glen);
        if (!(key_types & HUB_KT_EC))
            return hub_fail("EC key refused: the product allows only RSA (>= 2048 bits); "
                            "make an RSA key or enable EC in the product policy");
        if (strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0)
            return hub_fail("EC curve %s refused: policy allows only P-256",
                            group[0] ? group : "?");
        return 0;
    }
    return hub_fail("key type %s refused: policy allows RSA >= 2048 and EC P-256",
                    EVP_PKEY_get0_type_name(pub) ? EVP_PKEY_get0_type_name(pub) : "?");
}

int hub_csr_check(const char *pem, size_t len, const char *expected_cn, unsigned key_types,
                  X509_REQ **out)
{
    BIO *b = BIO_new_mem_buf(pem, (int)len);
    X509_REQ *req = b ? PEM_read_bio_X509_REQ(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    ERR_clear_error();
    if (!req) {
        hub_fail("CSR refused: not a PEM 'CERTIFICATE REQUEST'; send the CSR as PEM text");
        return HUB_CSR_PARSE;
    }
    int rc = HUB_CSR_OK;
    EVP_PKEY *pub = X509_REQ_get0_pubkey(req);
    char cn[HUB_KEY_MAX + 2];
    if (!pub) {
        hub_fail("CSR refused: its public key cannot be decoded");
        rc = HUB_CSR_PARSE;
    } else if (X509_REQ_verify(req, pub) != 1) {
        hub_fail("CSR refused: its self-signature does not verify; the CSR must be signed "
                 "by the key it carries");
        rc = HUB_CSR_SIGNATURE;
    } else if (hub_key_policy_check(pub, key_types) != 0) {
        rc = HUB_CSR_KEY;
    } else if (hub_cert_cn(X509_REQ_get_subject_name(req), cn, sizeof(cn)) != 0) {
        hub_fail("CSR refused: subject has no CN; use CN=<deviceKey>");
        rc = HUB_CSR_SUBJECT;
    } else if (strcmp(cn, expected_cn) != 0) {
        hub_fail("CSR refused: subject CN '%.64s' is not the device key '%.64s'; "
                 "use CN=<deviceKey>",
                 cn, expected_cn);
        rc = HUB_CSR_SUBJECT;
    }
    ERR_clear_error();
    if (rc != HUB_CSR_OK || !out)
        X509_REQ_free(req);
    else
        *out = req;
    return rc;
}
