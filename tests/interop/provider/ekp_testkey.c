/* Shared by the provider's C interop tests: see ekp_testkey.h. */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include "ekp_testkey.h"

int ekp_test_providers(void)
{
    if (OSSL_PROVIDER_load(NULL, "default") == NULL ||
        OSSL_PROVIDER_load(NULL, "edgekey") == NULL) {
        ERR_print_errors_fp(stderr);
        return 0;
    }
    return 1;
}

EVP_PKEY *ekp_test_load_key(const char *file)
{
    FILE *f = fopen(file, "r");
    EVP_PKEY *k = f != NULL ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;

    if (f != NULL)
        fclose(f);
    if (k != NULL && strcmp(OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(k)), "edgekey") == 0)
        return k;
    fprintf(stderr, "FAIL %s: not loaded as an edgekey key\n", file);
    ERR_print_errors_fp(stderr);
    EVP_PKEY_free(k);
    return NULL;
}

EVP_PKEY *ekp_test_soft_copy(EVP_PKEY *k)
{
    unsigned char *der = NULL;
    const unsigned char *p;
    EVP_PKEY *soft = NULL;
    int len = i2d_PUBKEY(k, &der);
    if (len > 0) {
        p = der;
        soft = d2i_PUBKEY_ex(NULL, &p, len, NULL, "provider=default");
    }
    OPENSSL_free(der);
    return soft;
}
