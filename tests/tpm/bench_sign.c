/* Signing throughput of ek_key_sign against the raw ESYS floor.
 *
 *   tests/lib/tpm-env.sh direct build/tests/tpm/tpm-bench [seconds]
 *
 * For RSA-2048 PKCS#1 SHA-256 and ECDSA P-256 SHA-256, each with an empty
 * auth value and with one, it measures:
 *   floor   Esys_Sign in a loop, key loaded once, password session
 *   esys    Esys_Sign in a loop through an ESYS salted HMAC session
 *           (what a plain ESYS program pays for keeping the auth secret)
 *   edgekey ek_key_sign (password session for empty auth, our salted HMAC
 *           session otherwise), software hashing excluded as in the floor
 * and prints signs/s, edgekey / floor, and the client CPU time per
 * signature (user + system of this process), which does not depend on how
 * loaded the machine or swtpm is. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "ek_key.h"
#include "ek_tpm.h"
#include "ek_tpm_int.h"
#include "tpm_test.h"

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* CPU seconds this process used (user + system): the client's share of a
 * signature, independent of how busy swtpm or the machine is. */
static double cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

typedef struct rate {
    double n, wall, cpu;
} rate;

static TPMT_SIG_SCHEME scheme_of(const ek_key *k)
{
    TPMT_SIG_SCHEME s = {.scheme = ek_key_public(k)->alg == EK_ALG_RSA ? TPM2_ALG_RSASSA
                                                                       : TPM2_ALG_ECDSA};
    s.details.any.hashAlg = TPM2_ALG_SHA256;
    return s;
}

/* Raw ESYS loop; session ESYS_TR_PASSWORD or a salted HMAC session. */
static void esys_rate(ek_key *k, bool hmac, const unsigned char *auth, size_t alen, double secs,
                      rate *out)
{
    ESYS_CONTEXT *esys;
    ESYS_TR tr, srk, sess = ESYS_TR_PASSWORD;
    REQUIRE_OK(ek_tpm_lock(&esys));
    REQUIRE_OK(ek_key_use(k));
    tr = k->tr;
    if (alen) {
        TPM2B_AUTH a = {.size = (UINT16)alen};
        memcpy(a.buffer, auth, alen);
        Esys_TR_SetAuth(esys, tr, &a);
    }
    if (hmac) {
        TPMT_SYM_DEF sym = {
            .algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB};
        REQUIRE_OK(ek_tpm_srk(&srk));
        REQUIRE_OK(ek_tpm_rc(Esys_StartAuthSession(esys, srk, ESYS_TR_NONE, ESYS_TR_NONE,
                                                   ESYS_TR_NONE, ESYS_TR_NONE, NULL, TPM2_SE_HMAC,
                                                   &sym, TPM2_ALG_SHA256, &sess),
                             "session"));
        Esys_TRSess_SetAttributes(esys, sess, TPMA_SESSION_CONTINUESESSION, 0xff);
    }
    TPM2B_DIGEST dg = {.size = 32};
    TPMT_SIG_SCHEME sch = scheme_of(k);
    TPMT_TK_HASHCHECK tk = {.tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL};
    long n = 0;
    double t0 = now(), c0 = cpu(), t;
    do {
        TPMT_SIGNATURE *sig = NULL;
        dg.buffer[0] = (uint8_t)n;
        REQUIRE_OK(
            ek_tpm_rc(Esys_Sign(esys, tr, sess, ESYS_TR_NONE, ESYS_TR_NONE, &dg, &sch, &tk, &sig),
                      "Esys_Sign"));
        Esys_Free(sig);
        n++;
        t = now();
    } while (t - t0 < secs);
    out->cpu += cpu() - c0;
    out->wall += t - t0;
    out->n += (double)n;
    if (hmac)
        Esys_FlushContext(esys, sess);
    ek_tpm_unlock();
}

static void ek_rate(ek_key *k, double secs, rate *out)
{
    unsigned char dg[32] = {0}, sig[512];
    ek_sig_scheme s = ek_key_public(k)->alg == EK_ALG_RSA ? EK_SIG_RSA_PKCS1 : EK_SIG_ECDSA;
    long n = 0;
    size_t sl = sizeof(sig);
    REQUIRE_OK(ek_key_sign(k, s, EK_MD_SHA256, dg, 32, EK_ECDSA_DER, sig, &sl)); /* warm */
    double t0 = now(), c0 = cpu(), t;
    do {
        dg[0] = (uint8_t)n;
        sl = sizeof(sig);
        REQUIRE_OK(ek_key_sign(k, s, EK_MD_SHA256, dg, 32, EK_ECDSA_DER, sig, &sl));
        n++;
        t = now();
    } while (t - t0 < secs);
    out->cpu += cpu() - c0;
    out->wall += t - t0;
    out->n += (double)n;
}

/* Interleave short rounds of the three loops so that load from other
 * processes (this is a shared 2-core box) hits all of them alike. */
static void run_case(const char *name, ek_keygen_spec spec, bool withauth, double secs)
{
    static const unsigned char pin[] = "bench-pin";
    if (withauth) {
        spec.auth = pin;
        spec.auth_len = sizeof(pin) - 1;
    }
    ek_key *k = NULL;
    REQUIRE_OK(ek_key_generate(&spec, &k));
    const int rounds = 30;
    rate fl = {0}, eh = {0}, ek = {0};
    for (int r = 0; r < rounds; r++) {
        esys_rate(k, false, spec.auth, spec.auth_len, secs / rounds, &fl);
        esys_rate(k, true, spec.auth, spec.auth_len, secs / rounds, &eh);
        ek_rate(k, secs / rounds, &ek);
    }
    printf("%-24s %-6s %8.0f %8.0f %8.0f %6.2f   %7.0f %7.0f %7.0f\n", name,
           withauth ? "value" : "empty", fl.n / fl.wall, eh.n / eh.wall, ek.n / ek.wall,
           (ek.n / ek.wall) / (fl.n / fl.wall), 1e6 * fl.cpu / fl.n, 1e6 * eh.cpu / eh.n,
           1e6 * ek.cpu / ek.n);
    ek_key_free(k);
}

int main(int argc, char **argv)
{
    double secs = argc > 1 ? atof(argv[1]) : 3.0;
    struct {
        const char *name;
        ek_keygen_spec spec;
    } cases[] = {
        {"RSA-2048 PKCS1 SHA-256", {.alg = EK_ALG_RSA, .bits = 2048}},
        {"ECDSA P-256 SHA-256", {.alg = EK_ALG_EC, .bits = 256, .curve = EK_CURVE_P256}},
    };
    printf("%-24s %-6s %8s %8s %8s %6s   %s\n", "key", "auth", "floor/s", "esys-h/s", "ek/s",
           "ek/fl", "client CPU us/sig: floor esys-h ek");
    for (size_t c = 0; c < 2; c++)
        for (int withauth = 0; withauth < 2; withauth++)
            run_case(cases[c].name, cases[c].spec, withauth, secs);
    ek_tpm_disconnect();
    return 0;
}
