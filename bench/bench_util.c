/* Shared helpers for the OpenSSL-side benchmarks; see bench_util.h. */
#include "bench_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <openssl/ui.h>
#include <openssl/x509.h>

void bu_err(const char *msg)
{
    fprintf(stderr, "%s\n", msg);
    ERR_print_errors_fp(stderr);
}

static int load_one(OSSL_LIB_CTX *ctx, const char *name)
{
    if (OSSL_PROVIDER_load(ctx, name) != NULL)
        return 1;
    fprintf(stderr, "cannot load provider '%s' (OPENSSL_MODULES=%s)\n", name,
            getenv("OPENSSL_MODULES") ? getenv("OPENSSL_MODULES") : "(unset)");
    ERR_print_errors_fp(stderr);
    return 0;
}

OSSL_LIB_CTX *bu_libctx(const char *provider, int tpm_first, const char *propq)
{
    OSSL_LIB_CTX *ctx = OSSL_LIB_CTX_new();
    if (ctx == NULL)
        return NULL;
    int other =
        provider != NULL && strcmp(provider, "none") != 0 && strcmp(provider, "default") != 0;
    int ok = 1;
    if (other && tpm_first)
        ok = load_one(ctx, provider);
    ok = ok && load_one(ctx, "default");
    if (ok && other && !tpm_first)
        ok = load_one(ctx, provider);
    if (ok && propq != NULL && EVP_set_default_properties(ctx, propq) != 1) {
        fprintf(stderr, "bad property query '%s'\n", propq);
        ok = 0;
    }
    if (!ok) {
        OSSL_LIB_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* The UI answers every prompt with the one passphrase we were given. */
static const char *g_pass;

static int pass_cb(char *buf, int size, int rwflag, void *u)
{
    (void)rwflag;
    (void)u;
    if (g_pass == NULL)
        return -1;
    int n = (int)strlen(g_pass);
    if (n > size)
        n = size;
    memcpy(buf, g_pass, (size_t)n);
    return n;
}

EVP_PKEY *bu_load_key(OSSL_LIB_CTX *libctx, const char *uri, const char *pass)
{
    g_pass = pass;
    UI_METHOD *ui = UI_UTIL_wrap_read_pem_callback(pass_cb, 0);
    OSSL_STORE_CTX *st = OSSL_STORE_open_ex(uri, libctx, NULL, ui, NULL, NULL, NULL, NULL);
    EVP_PKEY *pkey = NULL;
    if (st == NULL) {
        fprintf(stderr, "cannot open key '%s'\n", uri);
        ERR_print_errors_fp(stderr);
        UI_destroy_method(ui);
        return NULL;
    }
    OSSL_STORE_expect(st, OSSL_STORE_INFO_PKEY);
    while (pkey == NULL && !OSSL_STORE_eof(st)) {
        OSSL_STORE_INFO *info = OSSL_STORE_load(st);
        if (info == NULL)
            continue;
        if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
            pkey = OSSL_STORE_INFO_get1_PKEY(info);
        OSSL_STORE_INFO_free(info);
    }
    OSSL_STORE_close(st);
    UI_destroy_method(ui);
    if (pkey == NULL) {
        fprintf(stderr, "no private key at '%s'\n", uri);
        ERR_print_errors_fp(stderr);
    }
    return pkey;
}

X509 *bu_load_cert(OSSL_LIB_CTX *libctx, const char *path)
{
    X509 *x = X509_new_ex(libctx, NULL);
    FILE *f = fopen(path, "r");
    if (x == NULL || f == NULL || PEM_read_X509(f, &x, NULL, NULL) == NULL) {
        fprintf(stderr, "cannot read certificate '%s'\n", path);
        ERR_print_errors_fp(stderr);
        X509_free(x);
        x = NULL;
    }
    if (f != NULL)
        fclose(f);
    return x;
}
