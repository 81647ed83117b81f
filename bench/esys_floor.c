/* esys_floor: the floor every TPM signing path is held against.
 *
 * Raw ESYS, nothing else: one ESYS context on EDGEKEY_TCTI, an ECC P-256
 * storage primary, an RSA-2048 and an ECC P-256 signing key created and
 * loaded once, then one TPM2_Sign per signature (RSASSA-PKCS1 and RSA-PSS with
 * SHA-256, ECDSA with SHA-256) on a fixed digest (hashing
 * is the caller's business and costs the same for every contender), for a
 * fixed time. Two authorisation modes:
 *   password  ESYS_TR_PASSWORD (key auth in clear; the cheapest possible)
 *   session   a salted HMAC session bound to nothing, salted with the
 *             primary, AES-128-CFB parameter encryption of the digest,
 *             continueSession: what "nothing secret on the wire" costs.
 *
 * Output: one line per case, "BENCH floor/<key>/<mode> <rate> signs/s <ms> ms"
 * (best of BENCH_ROUNDS windows, see bench_measure.h).
 * Links tss2 only (not core/), so it measures ESYS and the TPM, not us. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tss2/tss2_esys.h>
#include <tss2/tss2_rc.h>
#include <tss2/tss2_tctildr.h>
#include "bench_measure.h"

#define CHECK(call, what)                                                                          \
    do {                                                                                           \
        TSS2_RC rc_ = (call);                                                                      \
        if (rc_ != TSS2_RC_SUCCESS) {                                                              \
            fprintf(stderr, "esys_floor: %s failed: %s\n", what, Tss2_RC_Decode(rc_));             \
            return 1;                                                                              \
        }                                                                                          \
    } while (0)

/* The TCG storage-primary shape: ECC P-256, restricted decrypt, AES-128-CFB. */
static TPM2B_PUBLIC srk_template(void)
{
    TPM2B_PUBLIC t = {0};
    t.publicArea.type = TPM2_ALG_ECC;
    t.publicArea.nameAlg = TPM2_ALG_SHA256;
    t.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                    TPMA_OBJECT_NODA | TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
    TPMS_ECC_PARMS *e = &t.publicArea.parameters.eccDetail;
    e->symmetric.algorithm = TPM2_ALG_AES;
    e->symmetric.keyBits.aes = 128;
    e->symmetric.mode.aes = TPM2_ALG_CFB;
    e->scheme.scheme = TPM2_ALG_NULL;
    e->curveID = TPM2_ECC_NIST_P256;
    e->kdf.scheme = TPM2_ALG_NULL;
    return t;
}

/* A sign-only key with no fixed scheme (the scheme comes with each Sign). */
static TPM2B_PUBLIC sign_template(TPMI_ALG_PUBLIC type)
{
    TPM2B_PUBLIC t = {0};
    t.publicArea.type = type;
    t.publicArea.nameAlg = TPM2_ALG_SHA256;
    t.publicArea.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                                    TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                                    TPMA_OBJECT_SIGN_ENCRYPT;
    if (type == TPM2_ALG_RSA) {
        TPMS_RSA_PARMS *r = &t.publicArea.parameters.rsaDetail;
        r->symmetric.algorithm = TPM2_ALG_NULL;
        r->scheme.scheme = TPM2_ALG_NULL;
        r->keyBits = 2048;
        r->exponent = 0;
    } else {
        TPMS_ECC_PARMS *e = &t.publicArea.parameters.eccDetail;
        e->symmetric.algorithm = TPM2_ALG_NULL;
        e->scheme.scheme = TPM2_ALG_NULL;
        e->curveID = TPM2_ECC_NIST_P256;
        e->kdf.scheme = TPM2_ALG_NULL;
    }
    return t;
}

static int create_and_load(ESYS_CONTEXT *ctx, ESYS_TR parent, TPMI_ALG_PUBLIC type, ESYS_TR *key)
{
    TPM2B_SENSITIVE_CREATE sens = {0};
    TPM2B_PUBLIC tmpl = sign_template(type);
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION pcrs = {0};
    TPM2B_PRIVATE *priv = NULL;
    TPM2B_PUBLIC *pub = NULL;
    CHECK(Esys_Create(ctx, parent, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, &sens, &tmpl,
                      &outside, &pcrs, &priv, &pub, NULL, NULL, NULL),
          "Create signing key");
    TSS2_RC rc =
        Esys_Load(ctx, parent, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, priv, pub, key);
    Esys_Free(priv);
    Esys_Free(pub);
    CHECK(rc, "Load signing key");
    return 0;
}

typedef struct sign_case {
    ESYS_CONTEXT *ctx;
    ESYS_TR key, auth;
    TPMT_SIG_SCHEME scheme;
    TPMT_TK_HASHCHECK ticket;
    TPM2B_DIGEST dgst;
} sign_case;

static int sign_once(void *arg, unsigned long i)
{
    sign_case *c = arg;
    /* A different digest each time, as a real caller would send. */
    memcpy(c->dgst.buffer, &i, sizeof i);
    TPMT_SIGNATURE *sig = NULL;
    CHECK(Esys_Sign(c->ctx, c->key, c->auth, ESYS_TR_NONE, ESYS_TR_NONE, &c->dgst, &c->scheme,
                    &c->ticket, &sig),
          "Sign");
    Esys_Free(sig);
    return 0;
}

/* Sign for `seconds` (bench_measure.h); prints the BENCH line. */
static int run_case(ESYS_CONTEXT *ctx, ESYS_TR key, ESYS_TR auth, const char *keyname,
                    const char *mode, TPMI_ALG_SIG_SCHEME scheme, double seconds)
{
    sign_case c = {.ctx = ctx, .key = key, .auth = auth};
    c.scheme.scheme = scheme;
    c.scheme.details.any.hashAlg = TPM2_ALG_SHA256;
    c.ticket.tag = TPM2_ST_HASHCHECK;
    c.ticket.hierarchy = TPM2_RH_NULL;
    c.dgst.size = 32;
    memset(c.dgst.buffer, 0x5a, sizeof c.dgst.buffer);
    bm_result r;
    if (sign_once(&c, 0) != 0 || bm_measure(seconds, sign_once, &c, &r) != 0)
        return 1;
    printf("BENCH floor/%s/%s %.1f signs/s %.3f ms (best of %d; median %.1f/s; n=%lu)\n", keyname,
           mode, r.best, 1000.0 / r.best, bm_rounds(), r.median, r.n);
    printf("BENCH cpu/floor/%s/%s %.0f us/sign (client CPU)\n", keyname, mode, r.cpu_us);
    fflush(stdout);
    return 0;
}

static int run_all(ESYS_CONTEXT *ctx, ESYS_TR rsa, ESYS_TR ecc, ESYS_TR auth, const char *mode,
                   double seconds)
{
    return run_case(ctx, rsa, auth, "rsa2048-pkcs1", mode, TPM2_ALG_RSASSA, seconds) ||
           run_case(ctx, rsa, auth, "rsa2048-pss", mode, TPM2_ALG_RSAPSS, seconds) ||
           run_case(ctx, ecc, auth, "p256-ecdsa", mode, TPM2_ALG_ECDSA, seconds);
}

static int start_salted_session(ESYS_CONTEXT *ctx, ESYS_TR salt_key, ESYS_TR *session)
{
    TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_AES};
    sym.keyBits.aes = 128;
    sym.mode.aes = TPM2_ALG_CFB;
    CHECK(Esys_StartAuthSession(ctx, salt_key, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                                ESYS_TR_NONE, NULL, TPM2_SE_HMAC, &sym, TPM2_ALG_SHA256, session),
          "StartAuthSession (salted)");
    /* Sign's first command parameter (the digest) is encrypted; its response
     * starts with a TPMT_SIGNATURE, which is not a TPM2B, so no ENCRYPT. */
    CHECK(Esys_TRSess_SetAttributes(ctx, *session,
                                    TPMA_SESSION_CONTINUESESSION | TPMA_SESSION_DECRYPT, 0xff),
          "session attributes");
    return 0;
}

static void usage(void)
{
    fprintf(stderr, "usage: esys_floor [--seconds S] [--tcti CONF]\n"
                    "  TCTI from --tcti, else EDGEKEY_TCTI, else the loader default\n");
}

int main(int argc, char **argv)
{
    double seconds = 2.0;
    const char *tcti_conf = getenv("EDGEKEY_TCTI");
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
            seconds = atof(argv[++i]);
        else if (!strcmp(argv[i], "--tcti") && i + 1 < argc)
            tcti_conf = argv[++i];
        else {
            usage();
            return 2;
        }
    }

    TSS2_TCTI_CONTEXT *tcti = NULL;
    ESYS_CONTEXT *ctx = NULL;
    CHECK(Tss2_TctiLdr_Initialize(tcti_conf, &tcti), "TCTI initialise");
    CHECK(Esys_Initialize(&ctx, tcti, NULL), "Esys_Initialize");

    TPM2B_SENSITIVE_CREATE sens = {0};
    TPM2B_PUBLIC tmpl = srk_template();
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION pcrs = {0};
    ESYS_TR srk = ESYS_TR_NONE, rsa = ESYS_TR_NONE, ecc = ESYS_TR_NONE, sess = ESYS_TR_NONE;
    CHECK(Esys_CreatePrimary(ctx, ESYS_TR_RH_OWNER, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE,
                             &sens, &tmpl, &outside, &pcrs, &srk, NULL, NULL, NULL, NULL),
          "CreatePrimary (owner SRK)");
    int rc = create_and_load(ctx, srk, TPM2_ALG_RSA, &rsa) ||
             create_and_load(ctx, srk, TPM2_ALG_ECC, &ecc) ||
             start_salted_session(ctx, srk, &sess) ||
             run_all(ctx, rsa, ecc, ESYS_TR_PASSWORD, "password", seconds) ||
             run_all(ctx, rsa, ecc, sess, "session", seconds);

    /* Leave nothing behind: a direct TCTI has only 3 object slots. */
    ESYS_TR all[] = {sess, ecc, rsa, srk};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        if (all[i] != ESYS_TR_NONE)
            Esys_FlushContext(ctx, all[i]);
    Esys_Finalize(&ctx);
    Tss2_TctiLdr_Finalize(&tcti);
    return rc;
}
