/* edgekey export-ref: a key *file* for programs that only take files.
 *
 * For stored keys it writes the "EDGEKEY URI" PEM wrapping the key's
 * pkcs11: URI (never a pin-value: the URI is rebuilt from the store, not
 * copied from the command line). With edgekey active in openssl.cnf,
 * unmodified programs (mosquitto --key, Paho) reach the TPM key through it.
 * A TSS2 key file address is copied as TSS2 PEM, which the provider and
 * tpm2-openssl both load. Neither form contains key material. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "ek_addr.h"

enum { O_OUT = OPT_CMD_BASE };

static void usage(void)
{
    printf("usage: edgekey export-ref ADDR [--out FILE]\n"
           "\nWrites a key reference file (default: stdout): an EDGEKEY URI PEM naming the\n"
           "stored key's pkcs11: URI, or for a TSS2 key file address a copy of it as TSS2\n"
           "PEM. Give the file to programs as their key file with the edgekey provider\n"
           "active in openssl.cnf. It holds no key material.\n");
}

static int on_opt(void *state, int c, const char *arg)
{
    if (c == O_OUT)
        *(const char **)state = arg;
    return 0;
}

/* The TSS2 key at address, re-encoded as PEM (DER files become PEM). */
static ek_rc tss2_pem(const char *address, char **pem, size_t *len)
{
    ek_key *key = NULL;
    ek_rc rc = ek_key_open(address, &key);
    if (rc == EK_OK)
        rc = ek_key_to_tss2_pem(key, pem, len);
    ek_key_free(key);
    return rc;
}

static ek_rc uri_pem(const char *address, char *uri, size_t urisize, char **pem, size_t *len)
{
    ek_store_obj obj;
    char shown[1100];
    ek_rc rc = cli_resolve(address, &obj);
    if (rc == EK_OK && !obj.has_key)
        rc = ek_error(EK_ERR_NOT_FOUND,
                      "%s names a certificate without a key; a reference "
                      "file needs a key",
                      ek_addr_masked(address, shown, sizeof(shown)));
    if (rc == EK_OK)
        rc = cli_obj_uri(&obj, uri, urisize);
    if (rc == EK_OK)
        rc = ek_addr_uri_pem_encode(uri, pem, len);
    return rc;
}

int cmd_export_ref(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_GLOBAL_LONGOPTS, {"out", required_argument, NULL, O_OUT}, {NULL, 0, NULL, 0}};
    const char *out = NULL;
    int r = cli_parse_opts(ctx, argc, argv, "h", opts, on_opt, &out);
    if (r == 'h') {
        usage();
        return EXIT_OK;
    }
    if (r != -1)
        return r;
    if (argc - optind != 1)
        return out_usage(ctx, "export-ref", "give exactly one key address");
    const char *address = argv[optind];

    ek_addr a;
    memset(&a, 0, sizeof(a));
    ek_rc rc = ek_addr_parse(address, &a);
    ek_addr_kind kind = a.kind;
    ek_addr_clear(&a);
    char uri[1024] = "", *pem = NULL;
    size_t len = 0;
    if (rc == EK_OK && kind == EK_ADDR_TSS2_FILE)
        rc = tss2_pem(address, &pem, &len);
    else if (rc == EK_OK)
        rc = uri_pem(address, uri, sizeof(uri), &pem, &len);
    if (rc == EK_OK && (out != NULL || !ctx->json))
        rc = out_write_file(out, pem, len);
    int code;
    if (rc != EK_OK) {
        code = out_fail(ctx, rc);
    } else if (out == NULL && !ctx->json) {
        code = EXIT_OK; /* the PEM on stdout is the output */
    } else {
        json_t *res =
            json_pack("{s:s,s:o,s:o}", "format",
                      kind == EK_ADDR_TSS2_FILE ? "TSS2 PRIVATE KEY" : EK_URI_PEM_LABEL, "uri",
                      uri[0] ? out_str(uri) : json_null(), "out", out ? out_str(out) : json_null());
        if (res && ctx->json)
            json_object_set_new(res, "pem", json_stringn(pem, len));
        code = out_result(ctx, res);
    }
    free(pem);
    return code;
}
