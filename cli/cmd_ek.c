/* edgekey ek: the TPM's endorsement key certificate (docs/attestation.md).
 *
 * Shows the EK certificate from its NV index (RSA-2048, P-256, P-384), its issuer, whether the EK
 * the TPM derives from the standard template is the certificate's key, and with
 * --roots whether the certificate verifies against the given manufacturer
 * roots (X509_verify_cert, no purpose: EK certificates carry the TCG EKU
 * 2.23.133.8.1, not a TLS one). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509_vfy.h>
#include "cli.h"
#include "ek_attest.h"

enum { O_ROOTS = OPT_CMD_BASE, O_OUT };

typedef struct ek_opts {
    const char *roots, *out;
} ek_opts;

static void usage(void)
{
    printf("usage: edgekey ek [--roots FILE] [--out FILE] [--json]\n"
           "\nShows the TPM's endorsement key certificate (NV 0x01c00002 RSA-2048, else\n"
           "0x01c0000a P-256, else 0x01c00016 P-384), its issuer, and whether the TPM's EK\n"
           "(from the TCG template) is the certificate's key.\n"
           "  --roots FILE  PEM bundle of trusted EK roots and intermediates: say whether\n"
           "                the certificate verifies against them (exit 3 if not)\n"
           "  --out FILE    write the certificate as PEM\n");
}

static int on_opt(void *state, int c, const char *arg)
{
    ek_opts *o = state;
    if (c == O_ROOTS)
        o->roots = arg;
    else if (c == O_OUT)
        o->out = arg;
    return 0;
}

/* Does the EK the TPM makes now have the certificate's public key? */
static json_t *ek_matches(ek_ek_kind kind, X509 *cert)
{
    unsigned char *pub = NULL;
    size_t len = 0;
    ek_pubkey pk;
    EVP_PKEY *tpm = NULL;
    ek_rc rc = ek_ek_public(kind, &pub, &len);
    if (rc == EK_OK)
        rc = ek_public_parse(pub, len, &pk);
    if (rc == EK_OK)
        rc = cli_pkey_from_pub(&pk, &tpm);
    free(pub);
    json_t *j = rc != EK_OK ? out_str(ek_last_error())
                            : json_boolean(EVP_PKEY_eq(tpm, X509_get0_pubkey(cert)) == 1);
    EVP_PKEY_free(tpm);
    return j;
}

/* X509_verify_cert against the bundle: NULL if it verifies, else why. */
static ek_rc verify(X509 *cert, const char *roots, const char **why)
{
    X509_STORE *st = X509_STORE_new();
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    ek_rc rc = EK_OK;
    *why = NULL;
    if (!st || !ctx || X509_STORE_load_file(st, roots) != 1) {
        rc = ek_error(EK_ERR_INVALID, "--roots %s: not a readable PEM bundle of certificates",
                      roots);
    } else if (X509_STORE_CTX_init(ctx, st, cert, NULL) != 1 || X509_verify_cert(ctx) != 1) {
        *why = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
    }
    ERR_clear_error();
    X509_STORE_CTX_free(ctx);
    X509_STORE_free(st);
    return rc;
}

static ek_rc write_pem(const char *path, X509 *cert)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *p = NULL;
    long n = 0;
    if (!b || !PEM_write_bio_X509(b, cert) || (n = BIO_get_mem_data(b, &p)) <= 0) {
        BIO_free(b);
        return ek_error(EK_ERR_NOMEM, "cannot encode the EK certificate as PEM");
    }
    ek_rc rc = out_write_file(path, p, (size_t)n);
    BIO_free(b);
    return rc;
}

static int show(cli_ctx *ctx, const ek_opts *o, ek_ek_kind kind, X509 *cert)
{
    json_t *res =
        json_pack("{s:s,s:s,s:o,s:o}", "kind", ek_ek_kind_name(kind), "nv_index", "", "certificate",
                  cli_cert_json(cert), "ek_matches_certificate", ek_matches(kind, cert));
    char idx[16];
    snprintf(idx, sizeof(idx), "0x%08x", ek_ek_cert_index(kind));
    json_object_set_new(res, "nv_index", json_string(idx));
    int code = EXIT_OK;
    if (o->roots) {
        const char *why = NULL;
        ek_rc rc = verify(cert, o->roots, &why);
        if (rc != EK_OK) {
            json_decref(res);
            return out_fail(ctx, rc);
        }
        json_object_set_new(res, "verified", json_string(why ? "no" : "yes"));
        if (why) {
            json_object_set_new(res, "verify_error", json_string(why));
            code = EXIT_POLICY;
        }
    }
    int r = out_result(ctx, res);
    return r != EXIT_OK ? r : code;
}

int cmd_ek(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {{"roots", required_argument, NULL, O_ROOTS},
                                         {"out", required_argument, NULL, O_OUT},
                                         CLI_GLOBAL_LONGOPTS};
    ek_opts o = {0};
    int r = cli_parse_opts(ctx, argc, argv, "h", opts, on_opt, &o);
    if (r == 'h') {
        usage();
        return EXIT_OK;
    }
    if (r != -1)
        return r;
    if (optind < argc)
        return out_usage(ctx, "ek", "unexpected argument '%s'", argv[optind]);
    ek_ek_kind kind = 0;
    unsigned char *der = NULL;
    size_t len = 0;
    X509 *cert = NULL;
    ek_rc rc = ek_ek_find(&kind, &der, &len);
    if (rc == EK_OK)
        rc = cli_cert_parse(der, len, "the EK certificate", &cert);
    free(der);
    if (rc == EK_OK && o.out)
        rc = write_pem(o.out, cert);
    int code = rc == EK_OK ? show(ctx, &o, kind, cert) : out_fail(ctx, rc);
    X509_free(cert);
    return code;
}
