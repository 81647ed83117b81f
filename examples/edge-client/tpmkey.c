/* edge-client: TPM key generation, loading and CSR through the provider. */
#include "tpmkey.h"

#include "clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <openssl/x509.h>

static OSSL_PROVIDER *prov_default, *prov_edgekey;

void edge_ossl_error(const char *what)
{
    unsigned long e;
    char buf[512];
    fprintf(stderr, "edge-client: %s\n", what);
    while ((e = ERR_get_error()) != 0) {
        ERR_error_string_n(e, buf, sizeof(buf));
        fprintf(stderr, "  %s\n", buf);
    }
}

int edge_providers_load(void)
{
    /* default first: key shares, hashing and verification stay in software;
     * the TPM key still signs in edgekey (docs/provider.md, "Provider order") */
    prov_default = OSSL_PROVIDER_load(NULL, "default");
    prov_edgekey = OSSL_PROVIDER_load(NULL, "edgekey");
    if (prov_default == NULL || prov_edgekey == NULL) {
        edge_ossl_error("cannot load the OpenSSL providers 'default' and 'edgekey'; install "
                        "edgekey.so in the modules directory or set OPENSSL_MODULES");
        return -1;
    }
    return 0;
}

OSSL_PROVIDER *edge_provider_edgekey(void)
{
    return prov_edgekey;
}

void edge_providers_unload(void)
{
    if (prov_edgekey)
        OSSL_PROVIDER_unload(prov_edgekey);
    if (prov_default)
        OSSL_PROVIDER_unload(prov_default);
    prov_edgekey = prov_default = NULL;
}

void edge_key_uri(const char *token, const char *label, char *uri, size_t size)
{
    snprintf(uri, size, "pkcs11:token=%s;object=%s;type=private", token, label);
}

EVP_PKEY *edge_key_generate(const char *type, const char *token, const char *label)
{
    int ec = strcmp(type, "ec-p256") == 0;
    EVP_PKEY *key = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, ec ? "EC" : "RSA", "provider=edgekey");
    size_t bits = 2048;
    OSSL_PARAM params[4], *p = params;

    if (ctx == NULL || EVP_PKEY_keygen_init(ctx) <= 0) {
        edge_ossl_error("the edgekey provider offers no key generation; is edgekey.so loaded?");
        EVP_PKEY_CTX_free(ctx);
        return NULL;
    }
    if (ec)
        *p++ = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, (char *)"P-256", 0);
    else
        *p++ = OSSL_PARAM_construct_size_t(OSSL_PKEY_PARAM_RSA_BITS, &bits);
    *p++ = OSSL_PARAM_construct_utf8_string("edgekey-label", (char *)label, 0);
    *p++ = OSSL_PARAM_construct_utf8_string("edgekey-token", (char *)token, 0);
    *p = OSSL_PARAM_construct_end();
    if (EVP_PKEY_CTX_set_params(ctx, params) <= 0 || EVP_PKEY_generate(ctx, &key) <= 0) {
        char msg[256];
        snprintf(msg, sizeof(msg), "key generation (%s, token %s, label %s) in the TPM failed",
                 type, token, label);
        edge_ossl_error(msg);
        key = NULL;
    }
    EVP_PKEY_CTX_free(ctx);
    return key;
}

EVP_PKEY *edge_key_load(const char *uri)
{
    EVP_PKEY *key = NULL;
    OSSL_STORE_CTX *st = OSSL_STORE_open(uri, NULL, NULL, NULL, NULL);

    if (st == NULL) {
        ERR_clear_error();
        return NULL;
    }
    OSSL_STORE_expect(st, OSSL_STORE_INFO_PKEY);
    while (key == NULL && !OSSL_STORE_eof(st)) {
        OSSL_STORE_INFO *info = OSSL_STORE_load(st);
        if (info == NULL)
            break;
        if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
            key = OSSL_STORE_INFO_get1_PKEY(info);
        OSSL_STORE_INFO_free(info);
    }
    OSSL_STORE_close(st);
    ERR_clear_error(); /* "declined" is no error: the caller decides */
    return key;
}

char *edge_key_csr(EVP_PKEY *key, const char *cn)
{
    edge_subject none = {NULL, NULL, NULL};
    return edge_key_csr_subject(key, cn, &none);
}

static int add_fields(X509_NAME *name, const edge_subject *sub)
{
    const char *f[][2] = {{"C", sub->c}, {"ST", sub->st}, {"O", sub->o}};
    for (size_t i = 0; i < 3; i++)
        if (f[i][1] && *f[i][1] &&
            !X509_NAME_add_entry_by_txt(name, f[i][0], MBSTRING_UTF8,
                                        (const unsigned char *)f[i][1], -1, -1, 0)) {
            fprintf(stderr,
                    "edge-client: CSR subject %s='%s' refused (C must be a 2-letter "
                    "country code); fix subject_%s in the config\n",
                    f[i][0], f[i][1],
                    i == 0   ? "c"
                    : i == 1 ? "st"
                             : "o");
            return 0;
        }
    return 1;
}

char *edge_key_csr_subject(EVP_PKEY *key, const char *cn, const edge_subject *sub)
{
    X509_REQ *req = X509_REQ_new();
    X509_NAME *name = X509_NAME_new();
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    BIO *out = BIO_new(BIO_s_mem());
    char *pem = NULL, *data;
    long len;

    if (edge_clock_rolled_back()) {
        fprintf(stderr, "edge-client: no CSR (enrolment or renewal) while the wall clock is "
                        "set back: fix the time and restart\n");
        goto done;
    }
    if (req == NULL || name == NULL || md == NULL || out == NULL || !add_fields(name, sub) ||
        !X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                    0) ||
        !X509_REQ_set_subject_name(req, name) || !X509_REQ_set_pubkey(req, key) ||
        !X509_REQ_set_version(req, 0) ||
        EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, key, NULL) <= 0 ||
        X509_REQ_sign_ctx(req, md) <= 0) {
        edge_ossl_error("CSR signing with the TPM key failed");
        goto done;
    }
    /* check the TPM's signature in software before sending it anywhere */
    if (X509_REQ_verify(req, key) != 1) {
        edge_ossl_error("the CSR's signature does not verify with the TPM key's public half");
        goto done;
    }
    if (!PEM_write_bio_X509_REQ(out, req))
        goto done;
    len = BIO_get_mem_data(out, &data);
    if ((pem = malloc((size_t)len + 1)) != NULL) {
        memcpy(pem, data, (size_t)len);
        pem[len] = '\0';
    }
done:
    BIO_free(out);
    EVP_MD_CTX_free(md);
    X509_NAME_free(name);
    X509_REQ_free(req);
    return pem;
}
