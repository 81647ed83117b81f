/* Issue 12, acceptance 4: a TPM key object under explicit property queries.
 *
 *   ekp-propq KEYFILE...   load default, then edgekey; for each TSS2 key file:
 *       sign with EVP_DigestSignInit_ex (no query, then "provider=edgekey"),
 *       verify with EVP_DigestVerifyInit_ex(..., "provider=default", tpmkey),
 *       which must accept the signature and reject a changed message, and
 *       check the signature with a default-provider copy of the public key;
 *       RSA keys in PKCS#1 v1.5 and PSS. Signing under "provider=default"
 *       must fail: the private key is in the TPM.
 *   ekp-propq refused      load edgekey before default: must fail, naming the
 *       order to use.
 * Exit status 0 when every check holds, 1 otherwise (reason on stderr). */
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>

#include "ekp_testkey.h"

static const unsigned char msg[] = "edgekey provider order and property queries";

static int failed(const char *what, const char *key)
{
    fprintf(stderr, "FAIL %s: %s\n", key, what);
    ERR_print_errors_fp(stderr);
    return 0;
}

/* RSA padding for a context; pad 0 leaves the key type's default. */
static int set_pad(EVP_PKEY_CTX *pctx, int pad)
{
    if (pad == 0)
        return 1;
    if (EVP_PKEY_CTX_set_rsa_padding(pctx, pad) <= 0)
        return 0;
    return pad != RSA_PKCS1_PSS_PADDING ||
           EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0;
}

static int sign(EVP_PKEY *k, const char *propq, int pad, unsigned char *sig, size_t *len)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok = c != NULL && EVP_DigestSignInit_ex(c, &pctx, "SHA256", NULL, propq, k, NULL) == 1 &&
             set_pad(pctx, pad) && EVP_DigestSign(c, sig, len, msg, sizeof(msg)) == 1;
    EVP_MD_CTX_free(c);
    return ok;
}

/* 1: valid, 0: invalid signature, -1: the verification could not start. */
static int verify(EVP_PKEY *k, const char *propq, int pad, const unsigned char *sig, size_t len,
                  const unsigned char *m, size_t mlen)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int r = -1;
    if (c != NULL && EVP_DigestVerifyInit_ex(c, &pctx, "SHA256", NULL, propq, k, NULL) == 1 &&
        set_pad(pctx, pad))
        r = EVP_DigestVerify(c, sig, len, m, mlen) == 1;
    EVP_MD_CTX_free(c);
    return r;
}

static int check_scheme(EVP_PKEY *k, EVP_PKEY *soft, int pad, const char *name)
{
    unsigned char sig[1024], bad[sizeof(msg)];
    size_t len = sizeof(sig);

    if (!sign(k, NULL, pad, sig, &len))
        return failed("EVP_DigestSignInit_ex without a property query", name);
    if (verify(k, "provider=default", pad, sig, len, msg, sizeof(msg)) != 1)
        return failed("EVP_DigestVerifyInit_ex(provider=default) with the TPM key", name);
    memcpy(bad, msg, sizeof(msg));
    bad[0] ^= 1;
    if (verify(k, "provider=default", pad, sig, len, bad, sizeof(bad)) != 0)
        return failed("provider=default verification accepted a changed message", name);
    ERR_clear_error();
    if (verify(soft, NULL, pad, sig, len, msg, sizeof(msg)) != 1)
        return failed("the default provider's public key copy rejects the signature", name);
    len = sizeof(sig);
    if (!sign(k, "provider=edgekey", pad, sig, &len) ||
        verify(k, "provider=default", pad, sig, len, msg, sizeof(msg)) != 1)
        return failed("sign under provider=edgekey, verify under provider=default", name);
    len = sizeof(sig);
    if (sign(k, "provider=default", pad, sig, &len))
        return failed("signed under provider=default although the key is in the TPM", name);
    ERR_clear_error();
    printf("ok: %s: sign (no query, provider=edgekey), verify under provider=default; "
           "a changed message fails; provider=default cannot sign\n",
           name);
    return 1;
}

static int check_key(const char *file)
{
    EVP_PKEY *k = ekp_test_load_key(file);
    EVP_PKEY *soft = k != NULL ? ekp_test_soft_copy(k) : NULL;
    int ok = 0;
    char name[512];

    if (k == NULL || soft == NULL) {
        failed("cannot load the key and its public copy", file);
        goto end;
    }
    if (EVP_PKEY_is_a(k, "RSA")) {
        snprintf(name, sizeof(name), "%s RSA PKCS#1 v1.5", file);
        ok = check_scheme(k, soft, RSA_PKCS1_PADDING, name);
        snprintf(name, sizeof(name), "%s RSA-PSS", file);
        ok = check_scheme(k, soft, RSA_PKCS1_PSS_PADDING, name) && ok;
    } else {
        snprintf(name, sizeof(name), "%s ECDSA", file);
        ok = check_scheme(k, soft, 0, name);
    }
end:
    EVP_PKEY_free(soft);
    EVP_PKEY_free(k);
    return ok;
}

static int refused(void)
{
    char buf[512] = "";

    if (OSSL_PROVIDER_load(NULL, "edgekey") != NULL) {
        fprintf(stderr, "FAIL: edgekey loaded before the default provider\n");
        return 1;
    }
    while (ERR_peek_error() != 0) {
        const char *data = NULL;
        int flags = 0;
        ERR_get_error_all(NULL, NULL, NULL, &data, &flags);
        if (data != NULL && (flags & ERR_TXT_STRING) != 0 &&
            strstr(data, "-provider default -provider edgekey") != NULL)
            snprintf(buf, sizeof(buf), "%s", data);
    }
    if (buf[0] == '\0') {
        fprintf(stderr, "FAIL: the refusal does not name the order to use\n");
        return 1;
    }
    printf("ok: edgekey first refused: %s\n", buf);
    return 0;
}

int main(int argc, char **argv)
{
    int ok = 1;

    if (argc == 2 && strcmp(argv[1], "refused") == 0)
        return refused();
    if (argc < 2) {
        fprintf(stderr, "usage: ekp-propq KEYFILE... | refused\n");
        return 2;
    }
    if (!ekp_test_providers())
        return 1;
    for (int i = 1; i < argc; i++)
        ok = check_key(argv[i]) && ok;
    return ok ? 0 : 1;
}
