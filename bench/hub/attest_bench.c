/* Hub CPU per key attestation (issue 13): the hub-side work of one
 * attestation, on a real swtpm's request (EK certificate from the test
 * maker CA, EK, AK, Certify of a device key), without HTTP or registry:
 *   start: EK chain (X509_verify_cert) + EK/AK checks + MakeCredential
 *          (RSA-OAEP, KBKDF, AES-CFB, HMAC);
 *   apply: the AK's ECDSA signature over TPMS_ATTEST + the body checks.
 * Prints BENCH lines: CPU ms per attestation on one thread, and
 * attestations/s with 1 and 2 threads (wall clock).
 *   attest_bench [SECONDS]   (inside tpm-env.sh with EDGEKEY_TEST_EKCERT=1) */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include <openssl/rand.h>
#include <tss2/tss2_mu.h>

#include "attest.h"
#include "ek_attest.h"
#include "hub_util.h"

static X509_STORE *roots;
static X509 *cert;
static TPM2B_PUBLIC ek, ak, key;
static TPM2B_ATTEST att;
static TPMT_SIGNATURE sig;
static EVP_PKEY *csr;
static unsigned char nonce[32];
static double seconds = 3;

#define DIE(what)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, "attest_bench: %s: %s\n", what, ek_last_error());                          \
        exit(1);                                                                                   \
    } while (0)

static TPM2B_PUBLIC pub_of(unsigned char *b, size_t n)
{
    TPM2B_PUBLIC p;
    if (hub_att_public(b, n, "bench", &p) != HUB_ATT_OK)
        DIE("public area");
    free(b);
    return p;
}

/* One genuine request from the TPM (device side, core). */
static void device(void)
{
    ek_ek_kind kind;
    ek_key *akk = NULL, *k = NULL;
    unsigned char *b = NULL, *s = NULL;
    size_t n = 0, sn = 0;
    ek_keygen_spec spec = {.alg = EK_ALG_EC, .curve = EK_CURVE_P256};
    if (ek_ek_find(&kind, &b, &n) != EK_OK)
        DIE("EK certificate");
    const unsigned char *p = b;
    cert = d2i_X509(NULL, &p, (long)n);
    free(b);
    if (ek_ek_public(kind, &b, &n) != EK_OK)
        DIE("EK");
    ek = pub_of(b, n);
    if (ek_ak_create(&akk) != EK_OK || ek_key_tpm_public(akk, &b, &n) != EK_OK)
        DIE("AK");
    ak = pub_of(b, n);
    if (ek_key_generate(&spec, &k) != EK_OK || ek_key_tpm_public(k, &b, &n) != EK_OK)
        DIE("key");
    key = pub_of(b, n);
    RAND_bytes(nonce, sizeof(nonce));
    if (ek_ak_certify(akk, k, nonce, sizeof(nonce), &b, &n, &s, &sn) != EK_OK)
        DIE("certify");
    if (hub_att_attest(b, n, &att) || hub_att_signature(s, sn, &sig) ||
        hub_tpm_pkey(&key.publicArea, &csr))
        DIE("certify answer");
    free(b);
    free(s);
    ek_key_free(akk);
    ek_key_free(k);
}

/* The hub's work for one attestation; 0 if every check passed. */
static int one(void)
{
    TPM2B_NAME name;
    TPM2B_ID_OBJECT cred;
    TPM2B_ENCRYPTED_SECRET esec;
    unsigned char secret[32];
    RAND_bytes(secret, sizeof(secret));
    return hub_att_check_ek(roots, cert, &ek.publicArea) || hub_att_check_ak(&ak.publicArea) ||
           hub_tpm_name(&ak.publicArea, &name) ||
           hub_make_credential(&ek.publicArea, &name, secret, 32, &cred, &esec) ||
           hub_att_check_certify(&ak.publicArea, &att, &sig, nonce, 32, &key.publicArea, csr);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void *worker(void *arg)
{
    long *count = arg;
    double end = now() + seconds;
    while (now() < end) {
        if (one() != 0) {
            fprintf(stderr, "attest_bench: a check failed: %s\n", hub_err());
            exit(1);
        }
        ++*count;
    }
    return NULL;
}

static double cpu_s(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

/* Attestations/s over `seconds` of wall clock; *cpu_ms: CPU per attestation
 * (tells a busy shared machine from lock contention in the hub). */
static double rate(int threads, double *cpu_ms)
{
    pthread_t t[2];
    long count[2] = {0};
    double start = now(), c0 = cpu_s();
    for (int i = 0; i < threads; i++)
        pthread_create(&t[i], NULL, worker, &count[i]);
    for (int i = 0; i < threads; i++)
        pthread_join(t[i], NULL);
    long total = count[0] + count[1];
    *cpu_ms = 1000.0 * (cpu_s() - c0) / (double)(total ? total : 1);
    return (double)total / (now() - start);
}

int main(int argc, char **argv)
{
    if (argc > 1)
        seconds = atof(argv[1]);
    const char *r = getenv("EDGEKEY_TEST_EK_ROOTS");
    roots = X509_STORE_new();
    if (!r || X509_STORE_load_file(roots, r) != 1)
        DIE("EDGEKEY_TEST_EK_ROOTS");
    device();
    for (int threads = 1; threads <= 2; threads++) {
        double cpu = 0, per_s = rate(threads, &cpu);
        printf("BENCH hub-attest-per-s-%d-thread %.0f /s\n", threads, per_s);
        printf("BENCH hub-attest-cpu-ms-%d-thread %.3f ms\n", threads, cpu);
    }
    return 0;
}
