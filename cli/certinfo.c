/* edgekey CLI: reading certificates and describing them (subject, issuer,
 * serial, validity, fingerprint) for `cert show`, `cert import` and `list`.
 * Times are ISO 8601 UTC so scripts can compare them. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include "cli.h"

ek_rc cli_read_file(const char *path, unsigned char **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return ek_error(errno == ENOENT ? EK_ERR_NOT_FOUND : EK_ERR_IO, "cannot read %s: %s", path,
                        strerror(errno));
    size_t cap = 4096, n = 0;
    unsigned char *buf = malloc(cap + 1);
    ek_rc rc = EK_OK;
    while (buf != NULL) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        if (cap >= (64u << 20)) {
            rc = ek_error(EK_ERR_INVALID, "%s is larger than 64 MiB; not a certificate or key",
                          path);
            break;
        }
        unsigned char *bigger = realloc(buf, 2 * cap + 1);
        if (bigger == NULL)
            free(buf);
        buf = bigger;
        cap *= 2;
    }
    if (buf == NULL) {
        fclose(f);
        return ek_error(EK_ERR_NOMEM, "out of memory reading %s", path);
    }
    if (rc == EK_OK && ferror(f))
        rc = ek_error(EK_ERR_IO, "cannot read %s: %s", path, strerror(errno));
    fclose(f);
    if (rc != EK_OK) {
        free(buf);
        return rc;
    }
    buf[n] = '\0'; /* lets callers treat PEM as a string */
    *data = buf;
    *len = n;
    return EK_OK;
}

ek_rc cli_cert_parse(const unsigned char *data, size_t len, const char *what, X509 **out)
{
    *out = NULL;
    BIO *b = BIO_new_mem_buf(data, (int)len);
    if (b != NULL)
        *out = PEM_read_bio_X509(b, NULL, NULL, NULL);
    BIO_free(b);
    if (*out == NULL) {
        const unsigned char *p = data;
        *out = d2i_X509(NULL, &p, (long)len);
    }
    ERR_clear_error();
    if (*out == NULL)
        return ek_error(EK_ERR_INVALID,
                        "%s is not an X.509 certificate (PEM or DER); give the "
                        "certificate file the CA issued",
                        what);
    return EK_OK;
}

char *cli_name_str(const X509_NAME *name)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *s = NULL;
    if (b != NULL && X509_NAME_print_ex(b, name, 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) >= 0) {
        char *p;
        long n = BIO_get_mem_data(b, &p);
        s = malloc((size_t)n + 1);
        if (s != NULL) {
            memcpy(s, p, (size_t)n);
            s[n] = '\0';
        }
    }
    BIO_free(b);
    return s;
}

static json_t *time_json(const ASN1_TIME *t)
{
    struct tm tm;
    char buf[32];
    if (t == NULL || !ASN1_TIME_to_tm(t, &tm))
        return json_null();
    strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_string(buf);
}

static json_t *name_json(const X509_NAME *name)
{
    char *s = cli_name_str(name);
    json_t *j = out_str(s);
    free(s);
    return j;
}

static json_t *serial_json(const X509 *cert)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), NULL);
    char *hex = bn ? BN_bn2hex(bn) : NULL;
    json_t *j = hex ? json_string(hex) : json_null();
    OPENSSL_free(hex);
    BN_free(bn);
    return j;
}

json_t *cli_cert_json(X509 *cert)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD *sha256 = EVP_MD_fetch(NULL, "SHA256", "provider=default");
    json_t *fp = NULL;
    if (sha256 != NULL && X509_digest(cert, sha256, md, &mdlen))
        fp = out_hex(md, mdlen);
    EVP_MD_free(sha256);
    bool expired = X509_cmp_current_time(X509_get0_notAfter(cert)) < 0;
    return json_pack(
        "{s:o,s:o,s:o,s:o,s:o,s:b,s:o}", "subject", name_json(X509_get_subject_name(cert)),
        "issuer", name_json(X509_get_issuer_name(cert)), "serial", serial_json(cert), "not_before",
        time_json(X509_get0_notBefore(cert)), "not_after", time_json(X509_get0_notAfter(cert)),
        "expired", expired, "sha256", fp ? fp : json_null());
}
