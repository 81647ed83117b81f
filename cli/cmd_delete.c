/* edgekey delete: remove a stored key (evicting its persistent handle) or
 * only its certificate.
 *
 * A handle: address that the store does not know is still evicted (the
 * operator named it explicitly, e.g. one left behind by another tool), but
 * never 0x81000001: every key is wrapped under that storage primary key. */
#include <stdio.h>
#include <string.h>
#include "cli.h"
#include "ek_addr.h"

#define SRK_HANDLE 0x81000001u

enum { O_CERT_ONLY = OPT_CMD_BASE };

static void usage(void)
{
    printf("usage: edgekey delete ADDR [--cert-only]\n"
           "\nRemoves the key's files from the store and evicts its persistent handle.\n"
           "--cert-only removes only the certificate stored next to the key.\n"
           "A handle:0x81... that the store does not know is evicted from the TPM.\n");
}

static int on_opt(void *state, int c, const char *arg)
{
    (void)arg;
    if (c == O_CERT_ONLY)
        *(bool *)state = true;
    return 0;
}

/* A pkcs11: URI must name one object (object= or id=): "pkcs11:token=edge"
 * matching the token's only key is no reason to delete it. */
static ek_rc check_specific(const char *address)
{
    ek_addr a;
    memset(&a, 0, sizeof(a));
    ek_rc rc = ek_addr_parse(address, &a);
    bool uri = a.kind == EK_ADDR_PKCS11 || a.kind == EK_ADDR_URI_FILE;
    char shown[1100];
    if (rc == EK_OK && uri && a.object[0] == '\0' && a.id_len == 0)
        rc = ek_error(EK_ERR_INVALID,
                      "%s does not name one object; delete needs object= or id= "
                      "in the URI ('edgekey list' shows them)",
                      ek_addr_masked(address, shown, sizeof(shown)));
    ek_addr_clear(&a);
    return rc;
}

/* handle:0x81... not in the store: evict it from the TPM only. */
static int evict_unstored(cli_ctx *ctx, const char *address)
{
    ek_addr a;
    memset(&a, 0, sizeof(a));
    if (ek_addr_parse(address, &a) != EK_OK || a.kind != EK_ADDR_HANDLE) {
        ek_addr_clear(&a);
        return -1;
    }
    uint32_t h = a.handle;
    ek_addr_clear(&a);
    if (h == SRK_HANDLE) {
        ek_error(EK_ERR_POLICY, "handle:0x81000001 is the storage primary key (SRK) every "
                                "edgekey key is wrapped under; refusing to evict it");
        return out_fail(ctx, EK_ERR_POLICY);
    }
    ek_rc rc = ek_key_evict_handle(h);
    if (rc != EK_OK)
        return out_fail(ctx, rc);
    return out_result(ctx,
                      json_pack("{s:{s:o,s:b,s:b,s:o}}", "deleted", "address", out_str(address),
                                "key", false, "certificate", false, "evicted", out_handle(h)));
}

int cmd_delete(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_GLOBAL_LONGOPTS, {"cert-only", no_argument, NULL, O_CERT_ONLY}, {NULL, 0, NULL, 0}};
    bool cert_only = false;
    int r = cli_parse_opts(ctx, argc, argv, "h", opts, on_opt, &cert_only);
    if (r == 'h') {
        usage();
        return EXIT_OK;
    }
    if (r != -1)
        return r;
    if (argc - optind != 1)
        return out_usage(ctx, "delete", "give exactly one key address");
    const char *address = argv[optind];
    char shown[1100]; /* for messages: never with its pin-value */
    ek_addr_masked(address, shown, sizeof(shown));

    ek_store_obj obj;
    ek_rc rc = check_specific(address);
    if (rc == EK_OK)
        rc = cli_resolve(address, &obj);
    if (rc == EK_ERR_NOT_FOUND && !cert_only) {
        int code = evict_unstored(ctx, address);
        if (code >= 0)
            return code;
        cli_resolve(address, &obj); /* restore the not-found message */
    }
    if (rc == EK_OK && cert_only && !obj.has_cert)
        rc = ek_error(EK_ERR_NOT_FOUND, "key %s has no certificate stored; nothing to delete",
                      shown);
    if (rc == EK_OK && obj.handle == SRK_HANDLE)
        rc = ek_error(EK_ERR_POLICY,
                      "%s is stored at 0x81000001, the storage primary key "
                      "handle; refusing to evict it",
                      shown);
    if (rc == EK_OK)
        rc = ek_store_delete(&obj, cert_only ? EK_OBJ_CERT : EK_OBJ_ANY, !cert_only);
    if (rc != EK_OK)
        return out_fail(ctx, rc);
    bool evicted = !cert_only && obj.handle != 0;
    return out_result(ctx, json_pack("{s:{s:o,s:o,s:o,s:b,s:b,s:o}}", "deleted", "token",
                                     out_str(obj.token), "label", out_str(obj.label), "id",
                                     out_hex(obj.id, obj.id_len), "key", !cert_only && obj.has_key,
                                     "certificate", obj.has_cert, "evicted",
                                     evicted ? out_handle(obj.handle) : json_null()));
}
