/* edgekey hub: keys and certificates by address (OSSL_STORE + PEM). */
#include "keyload.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include "hub_util.h"

static pthread_once_t prov_once = PTHREAD_ONCE_INIT;
static bool have_edgekey;

static void prov_load(void)
{
    /* default first: everything that is not a TPM key stays in software. */
    OSSL_PROVIDER_load(NULL, "default");
    have_edgekey = OSSL_PROVIDER_load(NULL, "edgekey") != NULL;
    ERR_clear_error();
}

bool hub_providers_init(void)
{
    pthread_once(&prov_once, prov_load);
    return have_edgekey;
}

static const char *ossl_reason(void)
{
    static _Thread_local char buf[256];
    unsigned long e = ERR_peek_last_error();
    if (!e)
        return "no detail";
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return buf;
}

EVP_PKEY *hub_load_key(const char *address)
{
    hub_providers_init();
    OSSL_STORE_CTX *sc = OSSL_STORE_open(address, NULL, NULL, NULL, NULL);
    if (!sc) {
        hub_fail("key %s: cannot open (%s)%s", address, ossl_reason(),
                 have_edgekey ? ""
                              : "; TPM addresses need the edgekey provider on OPENSSL_MODULES");
        return NULL;
    }
    OSSL_STORE_expect(sc, OSSL_STORE_INFO_PKEY);
    EVP_PKEY *pkey = NULL;
    while (!pkey && !OSSL_STORE_eof(sc)) {
        OSSL_STORE_INFO *info = OSSL_STORE_load(sc);
        if (!info)
            continue;
        if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
            pkey = OSSL_STORE_INFO_get1_PKEY(info);
        OSSL_STORE_INFO_free(info);
    }
    OSSL_STORE_close(sc);
    if (!pkey)
        hub_fail("key %s: no private key found there (%s)", address, ossl_reason());
    return pkey;
}

X509 *hub_load_cert(const char *path)
{
    BIO *b = BIO_new_file(path, "r");
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    if (!x)
        hub_fail("certificate %s: cannot read a PEM certificate (%s)", path, ossl_reason());
    return x;
}

STACK_OF(X509) * hub_load_certs(const char *path)
{
    BIO *b = BIO_new_file(path, "r");
    if (!b) {
        hub_fail("certificates %s: cannot open", path);
        return NULL;
    }
    STACK_OF(X509) *sk = sk_X509_new_null();
    X509 *x;
    while (sk && (x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
        sk_X509_push(sk, x);
    ERR_clear_error();
    BIO_free(b);
    return sk;
}

char *hub_cert_pem(X509 *x)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *out = NULL;
    if (b && PEM_write_bio_X509(b, x)) {
        char *p;
        long n = BIO_get_mem_data(b, &p);
        out = strndup(p, (size_t)n);
    }
    BIO_free(b);
    return out;
}

X509 *hub_cert_from_pem(const char *pem)
{
    BIO *b = BIO_new_mem_buf(pem, -1);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    return x;
}

void hub_serial_hex(const ASN1_INTEGER *sn, char out[41])
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(sn, NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    snprintf(out, 41, "%s", hex ? hex : "");
    OPENSSL_free(hex);
    BN_free(bn);
}

int64_t hub_asn1_time_unix(const ASN1_TIME *t)
{
    struct tm tm;
    if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
        return 0;
    return (int64_t)timegm(&tm);
}

int hub_cert_cn(X509_NAME *name, char *out, size_t outsize)
{
    int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
    if (idx < 0)
        return -1;
    ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
    unsigned char *utf8 = NULL;
    int n = ASN1_STRING_to_UTF8(&utf8, s);
    if (n < 0)
        return -1;
    int ok = (size_t)n < outsize && memchr(utf8, 0, (size_t)n) == NULL;
    if (ok) {
        memcpy(out, utf8, (size_t)n);
        out[n] = '\0';
    }
    OPENSSL_free(utf8);
    return ok ? 0 : -1;
}

EVP_PKEY *hub_soft_keygen(const char *kind)
{
    EVP_PKEY *k = strcmp(kind, "rsa") == 0
                      ? EVP_PKEY_Q_keygen(NULL, "provider=default", "RSA", (size_t)3072)
                      : EVP_PKEY_Q_keygen(NULL, "provider=default", "EC", "P-256");
    if (!k)
        hub_fail("software %s key generation failed (%s)", kind, ossl_reason());
    return k;
}

int hub_write_key_pem(const char *path, EVP_PKEY *pkey)
{
    BIO *b = BIO_new(BIO_s_mem());
    int rc = -1;
    if (b && PEM_write_bio_PrivateKey(b, pkey, NULL, NULL, 0, NULL, NULL)) {
        char *p;
        long n = BIO_get_mem_data(b, &p);
        rc = hub_write_atomic(path, p, (size_t)n, 0600);
        OPENSSL_cleanse(p, (size_t)n);
    } else {
        hub_fail("%s: cannot encode the private key (%s)", path, ossl_reason());
    }
    BIO_free(b);
    return rc;
}
