/* tls_bench: in-process mutual-TLS full handshakes per second.
 *
 *   tls_bench --provider edgekey|tpm2|none --key FILE|URI --cert PEM --ca PEM
 *             --server-key PEM --server-cert PEM [--tls 1.2|1.3|both]
 *             [--seconds S | --count N] [--label ID] [--pass-env VAR]
 *             [--propq Q] [--default-first]
 *
 * Client and server live in this process and talk over a memory BIO pair
 * (nonblocking by nature), one fresh SSL pair per handshake, no session
 * cache and no tickets, so every handshake is a full one with client
 * authentication. The client's library context holds the provider under
 * test plus default, as an application with that provider activated would;
 * the server has its own default-only context and a software key, so its
 * cost is the same for every contender (it plays the hub). Both sides check
 * the peer's chain against --ca; the client also checks the host name.
 *
 * One untimed warm-up handshake first (loads the key), then handshakes for
 * S seconds. --count N runs exactly N handshakes with no warm-up (for TPM
 * command counting under the pcap TCTI: two runs, N = 1 and 1 + k).
 *
 * Output: "BENCH tls/<label>/tls1.x <rate> hs/s <ms> ms (sigalg ...)". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/ssl.h>
#include "bench_measure.h"
#include "bench_util.h"

typedef struct side_cfg {
    const char *key, *cert;
} side_cfg;

static SSL_CTX *make_ctx(OSSL_LIB_CTX *libctx, int server, int version, EVP_PKEY *pkey,
                         const char *cert, const char *ca)
{
    SSL_CTX *ctx = SSL_CTX_new_ex(libctx, NULL, server ? TLS_server_method() : TLS_client_method());
    X509 *x = bu_load_cert(libctx, cert);
    int ok = ctx != NULL && x != NULL && SSL_CTX_set_min_proto_version(ctx, version) == 1 &&
             SSL_CTX_set_max_proto_version(ctx, version) == 1 &&
             SSL_CTX_use_certificate(ctx, x) == 1 && SSL_CTX_use_PrivateKey(ctx, pkey) == 1 &&
             SSL_CTX_check_private_key(ctx) == 1 &&
             SSL_CTX_load_verify_locations(ctx, ca, NULL) == 1;
    X509_free(x);
    if (!ok) {
        bu_err(server ? "server SSL_CTX" : "client SSL_CTX (certificate, key or CA)");
        SSL_CTX_free(ctx);
        return NULL;
    }
    /* Full handshakes only: nothing to resume from. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    if (server) {
        SSL_CTX_set_num_tickets(ctx, 0);
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    } else {
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    return ctx;
}

/* Step one side; 1 = done, 0 = wants more, -1 = failed. */
static int step(SSL *ssl, int *done)
{
    if (*done)
        return 1;
    int r = SSL_do_handshake(ssl);
    if (r == 1)
        return *done = 1;
    int e = SSL_get_error(ssl, r);
    return (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) ? 0 : -1;
}

/* One full mutual handshake; sigalg (may be NULL) gets the client's
 * CertificateVerify algorithm as the server saw it. Returns 0 on success. */
static int handshake(SSL_CTX *cctx, SSL_CTX *sctx, const char **sigalg)
{
    SSL *c = SSL_new(cctx), *s = SSL_new(sctx);
    BIO *bc = NULL, *bs = NULL;
    int rc = -1;
    if (c == NULL || s == NULL || BIO_new_bio_pair(&bc, 0, &bs, 0) != 1)
        goto out;
    SSL_set_bio(c, bc, bc);
    SSL_set_bio(s, bs, bs);
    SSL_set_connect_state(c);
    SSL_set_accept_state(s);
    SSL_set1_host(c, "localhost");
    int cdone = 0, sdone = 0;
    for (int i = 0; i < 100 && !(cdone && sdone); i++) {
        if (step(c, &cdone) < 0) {
            bu_err("client handshake failed");
            goto out;
        }
        if (step(s, &sdone) < 0) {
            bu_err("server handshake failed");
            goto out;
        }
    }
    if (!(cdone && sdone) || SSL_get0_peer_certificate(s) == NULL ||
        SSL_get_verify_result(s) != X509_V_OK || SSL_get_verify_result(c) != X509_V_OK) {
        fprintf(stderr, "handshake incomplete or peer not verified\n");
        goto out;
    }
    int nid = NID_undef;
    if (sigalg != NULL && SSL_get_peer_signature_type_nid(s, &nid) == 1)
        *sigalg = OBJ_nid2sn(nid);
    rc = 0;
out:
    SSL_free(c); /* frees its BIO end */
    SSL_free(s);
    return rc;
}

typedef struct hs_arg {
    SSL_CTX *cctx, *sctx;
} hs_arg;

static int timed_handshake(void *arg, unsigned long i)
{
    (void)i;
    hs_arg *a = arg;
    return handshake(a->cctx, a->sctx, NULL);
}

static int run_version(OSSL_LIB_CTX *clib, OSSL_LIB_CTX *slib, EVP_PKEY *ckey, EVP_PKEY *skey,
                       const side_cfg *cl, const side_cfg *sv, const char *ca, int version,
                       const char *label, double seconds, long count)
{
    const char *vname = version == TLS1_3_VERSION ? "tls1.3" : "tls1.2";
    SSL_CTX *cctx = make_ctx(clib, 0, version, ckey, cl->cert, ca);
    SSL_CTX *sctx = make_ctx(slib, 1, version, skey, sv->cert, ca);
    int rc = 1;
    if (cctx == NULL || sctx == NULL)
        goto out;
    if (count > 0) {
        for (long i = 0; i < count; i++)
            if (handshake(cctx, sctx, NULL) != 0)
                goto out;
        printf("handshakes %ld (%s/%s)\n", count, label, vname);
        rc = 0;
        goto out;
    }
    const char *sigalg = "?";
    if (handshake(cctx, sctx, &sigalg) != 0)
        goto out;
    hs_arg a = {cctx, sctx};
    bm_result r;
    if (bm_measure(seconds, timed_handshake, &a, &r) != 0)
        goto out;
    printf("BENCH tls/%s/%s %.1f hs/s %.3f ms (best of %d; median %.1f/s; n=%lu; client sigalg "
           "%s)\n",
           label, vname, r.best, 1000.0 / r.best, bm_rounds(), r.median, r.n, sigalg);
    printf("BENCH cpu/tls/%s/%s %.0f us/hs (CPU of client and server together)\n", label, vname,
           r.cpu_us);
    fflush(stdout);
    rc = 0;
out:
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    return rc;
}

static int usage(void)
{
    fprintf(stderr, "usage: tls_bench --provider NAME|none --key K --cert C --ca CA\n"
                    "       --server-key SK --server-cert SC [--tls 1.2|1.3|both]\n"
                    "       [--seconds S | --count N] [--label ID] [--pass-env VAR] [--propq Q]\n"
                    "       [--default-first]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *prov = "none", *label = NULL, *ca = NULL, *tls = "both", *pass = NULL,
               *propq = NULL;
    side_cfg cl = {0}, sv = {0};
    double seconds = 3.0;
    long count = 0;
    int tpm_first = 1;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--default-first")) {
            tpm_first = 0;
            continue;
        }
        if (v == NULL)
            return usage();
        i++;
        if (!strcmp(a, "--provider"))
            prov = v;
        else if (!strcmp(a, "--key"))
            cl.key = v;
        else if (!strcmp(a, "--cert"))
            cl.cert = v;
        else if (!strcmp(a, "--ca"))
            ca = v;
        else if (!strcmp(a, "--server-key"))
            sv.key = v;
        else if (!strcmp(a, "--server-cert"))
            sv.cert = v;
        else if (!strcmp(a, "--tls"))
            tls = v;
        else if (!strcmp(a, "--seconds"))
            seconds = atof(v);
        else if (!strcmp(a, "--count"))
            count = atol(v);
        else if (!strcmp(a, "--label"))
            label = v;
        else if (!strcmp(a, "--pass-env"))
            pass = getenv(v);
        else if (!strcmp(a, "--propq"))
            propq = v;
        else
            return usage();
    }
    if (!cl.key || !cl.cert || !ca || !sv.key || !sv.cert)
        return usage();
    if (label == NULL)
        label = prov;

    OSSL_LIB_CTX *clib = bu_libctx(prov, tpm_first, propq), *slib = bu_libctx("none", 0, NULL);
    if (clib == NULL || slib == NULL)
        return 1;
    EVP_PKEY *ckey = bu_load_key(clib, cl.key, pass), *skey = bu_load_key(slib, sv.key, NULL);
    if (ckey == NULL || skey == NULL)
        return 1;

    /* Both versions even if one fails: each is a result of its own. */
    int rc = 0;
    if (strcmp(tls, "1.3") != 0)
        rc |= run_version(clib, slib, ckey, skey, &cl, &sv, ca, TLS1_2_VERSION, label, seconds,
                          count);
    if (strcmp(tls, "1.2") != 0)
        rc |= run_version(clib, slib, ckey, skey, &cl, &sv, ca, TLS1_3_VERSION, label, seconds,
                          count);
    EVP_PKEY_free(ckey);
    EVP_PKEY_free(skey);
    OSSL_LIB_CTX_free(clib);
    OSSL_LIB_CTX_free(slib);
    return rc;
}
