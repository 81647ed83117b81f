/* edgekey cert import|show: the certificate stored next to a key.
 *
 * import checks that the certificate's public key is the TPM key's before
 * storing it (a certificate for another key would make every TLS handshake
 * fail later, far from the cause); a newer certificate replaces the old
 * one (renewal). show prints what is stored. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include "cli.h"

enum { O_KEY = OPT_CMD_BASE, O_PEM };

struct cert_opts {
    const char *key;
    bool pem;
};

static void usage(void)
{
    printf("usage: edgekey cert import [--key ADDR] FILE\n"
           "       edgekey cert show ADDR [--pem]\n"
           "\nimport  store the certificate in FILE (PEM or DER) next to the key it was\n"
           "        issued for; --key names the key (default: the stored key whose public\n"
           "        key the certificate carries). A certificate for another key is refused.\n"
           "show    subject, issuer, serial, validity and SHA-256 fingerprint of the stored\n"
           "        certificate; --pem prints the PEM only.\n");
}

static int on_opt(void *state, int c, const char *arg)
{
    struct cert_opts *o = state;
    if (c == O_KEY)
        o->key = arg;
    else if (c == O_PEM)
        o->pem = true;
    return 0;
}

static bool cert_matches(const ek_pubkey *pub, void *arg)
{
    EVP_PKEY *pk = NULL;
    bool eq = cli_pkey_from_pub(pub, &pk) == EK_OK && EVP_PKEY_eq(pk, arg) == 1;
    EVP_PKEY_free(pk);
    ERR_clear_error();
    return eq;
}

/* The stored key the certificate belongs to, checked against its key. */
static ek_rc cert_owner(const char *key_addr, const char *file, X509 *cert, ek_store_obj *obj)
{
    EVP_PKEY *cpk = X509_get0_pubkey(cert);
    if (cpk == NULL)
        return ek_error(EK_ERR_INVALID, "the public key in certificate %s cannot be read", file);
    if (key_addr == NULL) {
        ek_rc rc = cli_resolve_match(cert_matches, cpk, obj);
        if (rc == EK_ERR_NOT_FOUND)
            rc = ek_error(EK_ERR_NOT_FOUND,
                          "no stored key matches the public key in %s; give "
                          "--key ADDR or check the certificate was issued "
                          "for a key made with 'edgekey keygen'",
                          file);
        return rc;
    }
    ek_rc rc = cli_resolve(key_addr, obj);
    ek_key *key = NULL;
    if (rc == EK_OK)
        rc = ek_store_load_key(obj, &key);
    if (rc == EK_OK && !cert_matches(ek_key_public(key), cpk)) {
        char *subj = cli_name_str(X509_get_subject_name(cert));
        rc = ek_error(EK_ERR_INVALID,
                      "certificate %s (subject %s) is not for key %s: its public key differs; "
                      "import the certificate the CA issued for this key's CSR",
                      file, subj ? subj : "?", key_addr);
        free(subj);
    }
    ek_key_free(key);
    return rc;
}

static int cert_import(cli_ctx *ctx, const struct cert_opts *o, const char *file)
{
    unsigned char *data = NULL, *der = NULL;
    size_t len = 0;
    X509 *cert = NULL;
    ek_store_obj obj, saved;
    memset(&obj, 0, sizeof(obj));
    ek_rc rc = cli_read_file(file, &data, &len);
    if (rc == EK_OK)
        rc = cli_cert_parse(data, len, file, &cert);
    if (rc == EK_OK)
        rc = cert_owner(o->key, file, cert, &obj);
    int der_len = rc == EK_OK ? i2d_X509(cert, &der) : 0;
    if (rc == EK_OK && der_len <= 0)
        rc = ek_error(EK_ERR_INVALID, "certificate %s cannot be re-encoded as DER", file);
    if (rc == EK_OK)
        rc = ek_store_put_cert(obj.token, obj.label, obj.id, obj.id_len, der, (size_t)der_len,
                               &saved);
    int code;
    if (rc != EK_OK) {
        code = out_fail(ctx, rc);
    } else {
        char uri[1024];
        json_t *info = cli_cert_json(cert);
        if (json_is_true(json_object_get(info, "expired")))
            fprintf(stderr, "edgekey: warning: certificate %s has expired; stored anyway\n", file);
        if (cli_obj_uri(&obj, uri, sizeof(uri)) != EK_OK)
            uri[0] = '\0';
        code = out_result(ctx, json_pack("{s:o,s:o,s:o,s:b,s:o}", "key", out_str(uri), "token",
                                         out_str(obj.token), "label", out_str(obj.label),
                                         "replaced", obj.has_cert, "certificate", info));
    }
    OPENSSL_free(der);
    X509_free(cert);
    free(data);
    return code;
}

static int cert_show(cli_ctx *ctx, const struct cert_opts *o, const char *addr)
{
    ek_store_obj obj;
    unsigned char *der = NULL;
    size_t len = 0;
    X509 *cert = NULL;
    ek_rc rc = cli_resolve(addr, &obj);
    if (rc == EK_OK && !obj.has_cert)
        rc = ek_error(EK_ERR_NOT_FOUND,
                      "key %s has no certificate stored; import one with "
                      "'edgekey cert import --key ADDR FILE'",
                      addr);
    if (rc == EK_OK)
        rc = ek_store_read_cert(&obj, &der, &len);
    if (rc == EK_OK)
        rc = cli_cert_parse(der, len, "the stored certificate", &cert);
    free(der);
    if (rc != EK_OK)
        return out_fail(ctx, rc);
    BIO *b = BIO_new(BIO_s_mem());
    char *pem = NULL;
    long n = 0;
    if (b && PEM_write_bio_X509(b, cert))
        n = BIO_get_mem_data(b, &pem);
    int code;
    if (o->pem && !ctx->json) {
        code = fwrite(pem, 1, (size_t)n, stdout) == (size_t)n ? EXIT_OK : EXIT_STORE;
    } else {
        json_t *res = cli_cert_json(cert);
        if (res && ctx->json && pem)
            json_object_set_new(res, "pem", json_stringn(pem, (size_t)n));
        code = out_result(ctx, res);
    }
    BIO_free(b);
    X509_free(cert);
    return code;
}

int cmd_cert(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {CLI_GLOBAL_LONGOPTS,
                                         {"key", required_argument, NULL, O_KEY},
                                         {"pem", no_argument, NULL, O_PEM},
                                         {NULL, 0, NULL, 0}};
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        if (argc < 2)
            return out_usage(ctx, "cert", "give a subcommand: import or show");
        usage();
        return EXIT_OK;
    }
    const char *sub = argv[1];
    if (strcmp(sub, "import") != 0 && strcmp(sub, "show") != 0)
        return out_usage(ctx, "cert", "unknown subcommand '%s'; use import or show", sub);
    struct cert_opts o = {0};
    int r = cli_parse_opts(ctx, argc - 1, argv + 1, "h", opts, on_opt, &o);
    if (r == 'h') {
        usage();
        return EXIT_OK;
    }
    if (r != -1)
        return r;
    /* optind counts within argv + 1 */
    if (argc - 1 - optind != 1)
        return out_usage(ctx, "cert", "%s takes exactly one %s", sub,
                         strcmp(sub, "import") == 0 ? "FILE" : "ADDR");
    const char *arg = argv[1 + optind];
    return strcmp(sub, "import") == 0 ? cert_import(ctx, &o, arg) : cert_show(ctx, &o, arg);
}
