/* evp_sign: signatures per second through one OpenSSL provider.
 *
 *   evp_sign --provider edgekey|tpm2|none --key FILE|URI [--label ID]
 *            [--scheme auto|pkcs1|pss|ecdsa] [--seconds S | --count N]
 *            [--pass-env VAR] [--propq Q] [--default-first] [--no-verify]
 *
 * Loads the named provider plus default into a private library context
 * (before default unless --default-first; --propq sets the context's
 * default property query), loads the key through OSSL_STORE
 * and runs EVP_DigestSignInit + EVP_DigestSign(SHA-256) on a 128-byte
 * message (about a TLS 1.3 CertificateVerify) as an application would.
 * One warm-up signature (it loads the key into the TPM) is verified with the
 * default provider and not timed. auto = RSA: PKCS#1 v1.5 then PSS; EC: ECDSA.
 *
 * --count N signs exactly N times with no warm-up and prints nothing timed:
 * two runs (N = 1 and N = 1 + k) under the pcap TCTI differ by what k
 * warm signatures cost on the wire.
 *
 * Output: "BENCH sign/<label>/<scheme> <rate> signs/s <ms> ms". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include "bench_measure.h"
#include "bench_util.h"

typedef enum { SCH_PKCS1, SCH_PSS, SCH_ECDSA } scheme;
static const char *scheme_name[] = {"pkcs1", "pss", "ecdsa"};

static unsigned char g_msg[128];

/* One signature, the way an application makes it. Returns the length or 0. */
static size_t sign_once(OSSL_LIB_CTX *libctx, EVP_PKEY *pkey, scheme s, unsigned char *sig,
                        size_t sigmax)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    size_t siglen = sigmax;
    int ok =
        md != NULL && EVP_DigestSignInit_ex(md, &pctx, "SHA256", libctx, NULL, pkey, NULL) == 1;
    if (ok && s == SCH_PSS)
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    else if (ok && s == SCH_PKCS1)
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) == 1;
    ok = ok && EVP_DigestSign(md, sig, &siglen, g_msg, sizeof g_msg) == 1;
    EVP_MD_CTX_free(md);
    if (!ok) {
        bu_err(scheme_name[s]);
        return 0;
    }
    return siglen;
}

/* Check a signature with the default provider only, on the public key
 * copied out through SubjectPublicKeyInfo, so a broken TPM signature
 * cannot hide behind the provider that made it. */
static int verify_default(OSSL_LIB_CTX *libctx, EVP_PKEY *pkey, scheme s, const unsigned char *sig,
                          size_t siglen)
{
    unsigned char *der = NULL;
    int len = i2d_PUBKEY(pkey, &der);
    const unsigned char *p = der;
    EVP_PKEY *pub = len > 0 ? d2i_PUBKEY_ex(NULL, &p, len, libctx, "provider=default") : NULL;
    OPENSSL_free(der);
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok =
        pub != NULL && md != NULL &&
        EVP_DigestVerifyInit_ex(md, &pctx, "SHA256", libctx, "provider=default", pub, NULL) == 1;
    if (ok && s == SCH_PSS)
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    ok = ok && EVP_DigestVerify(md, sig, siglen, g_msg, sizeof g_msg) == 1;
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pub);
    if (!ok)
        bu_err("signature does not verify with the default provider");
    return ok;
}

typedef struct sign_arg {
    OSSL_LIB_CTX *libctx;
    EVP_PKEY *pkey;
    scheme s;
} sign_arg;

static int timed_sign(void *arg, unsigned long i)
{
    sign_arg *a = arg;
    unsigned char sig[1024];
    memcpy(g_msg, &i, sizeof i);
    return sign_once(a->libctx, a->pkey, a->s, sig, sizeof sig) == 0;
}

static int run_scheme(OSSL_LIB_CTX *libctx, EVP_PKEY *pkey, scheme s, const char *label,
                      double seconds, long count, int verify)
{
    unsigned char sig[1024];
    if (count > 0) {
        for (long i = 0; i < count; i++) {
            g_msg[0] = (unsigned char)i;
            if (sign_once(libctx, pkey, s, sig, sizeof sig) == 0)
                return 1;
        }
        printf("signed %ld times (%s/%s)\n", count, label, scheme_name[s]);
        return 0;
    }
    size_t siglen = sign_once(libctx, pkey, s, sig, sizeof sig);
    if (siglen == 0 || (verify && !verify_default(libctx, pkey, s, sig, siglen)))
        return 1;
    sign_arg a = {libctx, pkey, s};
    bm_result r;
    if (bm_measure(seconds, timed_sign, &a, &r) != 0)
        return 1;
    printf("BENCH sign/%s/%s %.1f signs/s %.3f ms (best of %d; median %.1f/s; n=%lu)\n", label,
           scheme_name[s], r.best, 1000.0 / r.best, bm_rounds(), r.median, r.n);
    printf("BENCH cpu/sign/%s/%s %.0f us/sign (client CPU)\n", label, scheme_name[s], r.cpu_us);
    fflush(stdout);
    return 0;
}

static int usage(void)
{
    fprintf(stderr, "usage: evp_sign --provider NAME|none --key FILE|URI [--label ID]\n"
                    "       [--scheme auto|pkcs1|pss|ecdsa] [--seconds S | --count N]\n"
                    "       [--pass-env VAR] [--propq Q] [--default-first] [--no-verify]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *prov = "none", *key = NULL, *label = NULL, *sch = "auto", *pass = NULL,
               *propq = NULL;
    double seconds = 2.0;
    long count = 0;
    int tpm_first = 1, verify = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--default-first"))
            tpm_first = 0;
        else if (!strcmp(a, "--no-verify"))
            verify = 0;
        else if (v == NULL)
            return usage();
        else if (!strcmp(a, "--provider"))
            prov = v, i++;
        else if (!strcmp(a, "--key"))
            key = v, i++;
        else if (!strcmp(a, "--label"))
            label = v, i++;
        else if (!strcmp(a, "--scheme"))
            sch = v, i++;
        else if (!strcmp(a, "--seconds"))
            seconds = atof(v), i++;
        else if (!strcmp(a, "--count"))
            count = atol(v), i++;
        else if (!strcmp(a, "--propq"))
            propq = v, i++;
        else if (!strcmp(a, "--pass-env"))
            pass = getenv(v), i++;
        else
            return usage();
    }
    if (key == NULL)
        return usage();
    if (label == NULL)
        label = prov;
    memset(g_msg, 0xa5, sizeof g_msg);

    OSSL_LIB_CTX *libctx = bu_libctx(prov, tpm_first, propq);
    if (libctx == NULL)
        return 1;
    EVP_PKEY *pkey = bu_load_key(libctx, key, pass);
    if (pkey == NULL)
        return 1;

    scheme list[2];
    int n = 0;
    if (!strcmp(sch, "auto")) {
        if (EVP_PKEY_is_a(pkey, "RSA")) {
            list[n++] = SCH_PKCS1;
            list[n++] = SCH_PSS;
        } else {
            list[n++] = SCH_ECDSA;
        }
    } else if (!strcmp(sch, "pkcs1")) {
        list[n++] = SCH_PKCS1;
    } else if (!strcmp(sch, "pss")) {
        list[n++] = SCH_PSS;
    } else if (!strcmp(sch, "ecdsa")) {
        list[n++] = SCH_ECDSA;
    } else {
        return usage();
    }

    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        rc = run_scheme(libctx, pkey, list[i], label, seconds, count, verify);
    EVP_PKEY_free(pkey);
    OSSL_LIB_CTX_free(libctx);
    return rc;
}
