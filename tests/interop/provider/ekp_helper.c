/* Test helper for the provider interop scripts.
 *
 *   ekp-helper uri-pem URI OUT      write an "EDGEKEY URI" PEM file wrapping URI
 *                                   (the core's codec, as `edgekey export-ref` does)
 *   ekp-helper put-cert TOKEN LABEL CERT   store the certificate (PEM) next to the key
 *                                   with the same public key (ek_store_put_cert)
 *   ekp-helper todata ADDRESS       load ADDRESS through OSSL_STORE with the default and
 *                                   edgekey providers and check that EVP_PKEY_todata
 *                                   gives only the public half, even for a keypair
 *                                   selection, and refuses the private key alone
 * Exit status 0 when the check holds, 1 otherwise (with the reason on stderr). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/store.h>

#include "ek_addr.h"
#include "ek_store.h"

static int uri_pem(const char *uri, const char *out)
{
    char *pem = NULL;
    size_t len = 0;
    FILE *f;
    if (ek_addr_uri_pem_encode(uri, &pem, &len) != EK_OK) {
        fprintf(stderr, "uri-pem: %s\n", ek_last_error());
        return 1;
    }
    f = fopen(out, "w");
    if (f == NULL || fwrite(pem, 1, len, f) != len || fclose(f) != 0) {
        perror(out);
        free(pem);
        return 1;
    }
    free(pem);
    return 0;
}

static int put_cert(const char *token, const char *label, const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *x = f != NULL ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    unsigned char *der = NULL;
    int len = x != NULL ? i2d_X509(x, &der) : -1;
    int rc = 1;

    if (f != NULL)
        fclose(f);
    if (len <= 0)
        fprintf(stderr, "put-cert: cannot read a PEM certificate from %s\n", path);
    else if (ek_store_put_cert(token, label, NULL, 0, der, (size_t)len, NULL) != EK_OK)
        fprintf(stderr, "put-cert: %s\n", ek_last_error());
    else
        rc = 0;
    OPENSSL_free(der);
    X509_free(x);
    return rc;
}

static EVP_PKEY *load_key(const char *address)
{
    OSSL_STORE_CTX *st = OSSL_STORE_open(address, NULL, NULL, NULL, NULL);
    EVP_PKEY *pkey = NULL;
    while (st != NULL && pkey == NULL && !OSSL_STORE_eof(st)) {
        OSSL_STORE_INFO *info = OSSL_STORE_load(st);
        if (info != NULL && OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
            pkey = OSSL_STORE_INFO_get1_PKEY(info);
        OSSL_STORE_INFO_free(info);
    }
    OSSL_STORE_close(st);
    return pkey;
}

static const char *const private_names[] = {
    OSSL_PKEY_PARAM_RSA_D,
    OSSL_PKEY_PARAM_RSA_FACTOR1,
    OSSL_PKEY_PARAM_RSA_FACTOR2,
    OSSL_PKEY_PARAM_RSA_EXPONENT1,
    OSSL_PKEY_PARAM_RSA_COEFFICIENT1,
    OSSL_PKEY_PARAM_PRIV_KEY,
    NULL,
};

static int todata(const char *address)
{
    EVP_PKEY *pkey;
    OSSL_PARAM *params = NULL;
    int rc = 1;

    if (OSSL_PROVIDER_load(NULL, "default") == NULL ||
        OSSL_PROVIDER_load(NULL, "edgekey") == NULL) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    if ((pkey = load_key(address)) == NULL) {
        fprintf(stderr, "todata: cannot load %s\n", address);
        ERR_print_errors_fp(stderr);
        return 1;
    }
    if (strcmp(OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(pkey)), "edgekey") != 0) {
        fprintf(stderr, "todata: %s was not loaded by edgekey\n", address);
        goto end;
    }
    if (EVP_PKEY_todata(pkey, EVP_PKEY_PUBLIC_KEY, &params) != 1 || params == NULL) {
        fprintf(stderr, "todata: public half not exported\n");
        goto end;
    }
    OSSL_PARAM_free(params);
    params = NULL;
    /* A keypair selection (what EVP uses to hand a key to another provider)
     * gets the public half and no private parameter. */
    if (EVP_PKEY_todata(pkey, EVP_PKEY_KEYPAIR, &params) != 1 || params == NULL) {
        fprintf(stderr, "todata: keypair selection did not give the public half\n");
        goto end;
    }
    for (const char *const *n = private_names; *n != NULL; n++)
        if (OSSL_PARAM_locate(params, *n) != NULL) {
            fprintf(stderr, "todata: private parameter %s exported\n", *n);
            goto end;
        }
    OSSL_PARAM_free(params);
    params = NULL;
    if (EVP_PKEY_todata(pkey, OSSL_KEYMGMT_SELECT_PRIVATE_KEY, &params) == 1) {
        fprintf(stderr, "todata: the private key alone was exported\n");
        goto end;
    }
    printf("todata: public exported; private refused: ");
    ERR_print_errors_fp(stdout);
    rc = 0;
end:
    OSSL_PARAM_free(params);
    EVP_PKEY_free(pkey);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 4 && strcmp(argv[1], "uri-pem") == 0)
        return uri_pem(argv[2], argv[3]);
    if (argc == 5 && strcmp(argv[1], "put-cert") == 0)
        return put_cert(argv[2], argv[3], argv[4]);
    if (argc == 3 && strcmp(argv[1], "todata") == 0)
        return todata(argv[2]);
    fprintf(stderr, "usage: ekp-helper uri-pem URI OUT | put-cert TOKEN LABEL CERT | "
                    "todata ADDRESS\n");
    return 2;
}
