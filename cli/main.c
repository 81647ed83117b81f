/* edgekey CLI: global options and command dispatch.
 *
 *   edgekey [--json] [--tcti T] [--store DIR] [--conf FILE] COMMAND [ARGS]
 *
 * Global options may also follow the command (`edgekey list --json`).
 * They become core configuration overrides before the first core call, so
 * they win over the file and the environment. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "cli.h"
#include "ek_config.h"

#ifndef EK_VERSION
#define EK_VERSION "unknown"
#endif

static const struct {
    const char *name;
    cli_cmd_fn fn;
    const char *summary;
} commands[] = {
    {"info", cmd_info, "TPM vendor, firmware, algorithms, PSS salt, lockout, TCTI, store"},
    {"keygen", cmd_keygen, "create a key in the TPM and store it in a token"},
    {"csr", cmd_csr, "make a certificate signing request signed by a TPM key"},
    {"cert", cmd_cert, "import or show the certificate stored next to a key"},
    {"list", cmd_list, "tokens, keys and certificates in the store"},
    {"delete", cmd_delete, "remove a key (evicting its persistent handle) or its certificate"},
    {"export-ref", cmd_export_ref, "write a key reference file for programs that take a key file"},
    {"doctor", cmd_doctor, "check TPM, TCTI, permissions, openssl.cnf, p11-kit; say the fix"},
    {"token", cmd_token,
     "token PINs: init (SO PIN), pin (set/change), list (PIN state), delete, migrate"},
    {"ek", cmd_ek, "the TPM's endorsement key certificate, its issuer, and --roots verification"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: edgekey [--json] [--tcti TCTI] [--store DIR] [--conf FILE] COMMAND [ARGS]\n"
               "\ncommands:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        fprintf(f, "  %-11s %s\n", commands[i].name, commands[i].summary);
    fprintf(f,
            "\n'edgekey COMMAND --help' shows a command's options.\n"
            "\nglobal options:\n"
            "  --json         machine-readable output on stdout (errors too)\n"
            "  --tcti TCTI    TPM connection, e.g. device:/dev/tpmrm0, tabrmd:,\n"
            "                 swtpm:host=127.0.0.1,port=2321 (default: EDGEKEY_TCTI, conf)\n"
            "  --store DIR    key store root (default: EDGEKEY_STORE, conf, %s)\n"
            "  --conf FILE    configuration file (default: EDGEKEY_CONF, %s)\n"
            "  --help, --version\n"
            "\nkey addresses: pkcs11:token=T;object=L[;id=%%..][;type=private], handle:0x81...,\n"
            "a TSS2 PRIVATE KEY file, or an EDGEKEY URI reference file.\n"
            "\nexit codes: 0 ok, 1 usage/invalid input, 2 not found, 3 refused by policy,\n"
            "4 TPM or connection error, 5 key auth or DA lockout, 6 store/file I/O, 7 other\n",
            EK_DEFAULT_STORE, EK_DEFAULT_CONF);
}

int cli_global_opt(cli_ctx *ctx, int c, const char *arg)
{
    ek_rc rc = EK_OK;
    switch (c) {
    case OPT_JSON:
        ctx->json = true;
        return 1;
    case OPT_TCTI:
        rc = ek_config_set("tcti", arg);
        break;
    case OPT_STORE:
        rc = ek_config_set("store", arg);
        break;
    case OPT_CONF:
        /* The core reads the file named by EDGEKEY_CONF on first use. */
        if (setenv("EDGEKEY_CONF", arg, 1) != 0)
            rc = ek_error(EK_ERR_NOMEM, "cannot set EDGEKEY_CONF");
        break;
    default:
        return 0;
    }
    if (rc != EK_OK) {
        out_fail(ctx, rc);
        return -1;
    }
    return 1;
}

int cli_parse_opts(cli_ctx *ctx, int argc, char **argv, const char *shortopts,
                   const struct option *longopts, cli_opt_fn on_opt, void *state)
{
    /* optind = 0 makes glibc re-initialise getopt for this argv. */
    optind = 0;
    opterr = 0;
    for (;;) {
        int c = getopt_long(argc, argv, shortopts, longopts, NULL);
        if (c == -1)
            return -1;
        if (c == 'h')
            return 'h';
        if (c == '?' || c == ':') {
            const char *bad = argv[optind - 1];
            if (optopt && optopt < 0x100 && optopt != '?')
                return out_usage(ctx, argv[0], "option -%c %s", optopt,
                                 c == ':' ? "needs a value" : "is unknown");
            return out_usage(ctx, argv[0], "option '%s' is unknown or needs a value", bad);
        }
        int g = cli_global_opt(ctx, c, optarg);
        if (g < 0)
            return EXIT_USAGE;
        if (g > 0)
            continue;
        int r = on_opt(state, c, optarg);
        if (r != 0)
            return r;
    }
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_GLOBAL_LONGOPTS, {"version", no_argument, NULL, OPT_VERSION}, {NULL, 0, NULL, 0}};
    cli_ctx ctx = {0};

    /* The CLI only does public-key work in OpenSSL (default provider); not
     * reading openssl.cnf keeps a system-wide edgekey provider activation
     * from loading a second copy of the core (and TPM connection). */
    OPENSSL_init_crypto(OPENSSL_INIT_NO_LOAD_CONFIG, NULL);
    /* tpm2-tss logs TCTI/ESYS warnings to stderr; the core reports every
     * failure itself, so keep the operator's stderr to our one line unless
     * they asked for tss2 logs (TSS2_LOG set). */
    setenv("TSS2_LOG", "all+none", 0);
    opterr = 0;
    int c;
    /* '+': stop at the command name; its own options are parsed by it. */
    while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return EXIT_OK;
        }
        if (c == OPT_VERSION) {
            printf("edgekey %s\n", EK_VERSION);
            return EXIT_OK;
        }
        if (c == '?' || c == ':')
            return out_usage(&ctx, NULL, "option '%s' is unknown or needs a value",
                             argv[optind - 1]);
        if (cli_global_opt(&ctx, c, optarg) < 0)
            return EXIT_USAGE;
    }
    if (optind >= argc) {
        if (ctx.json)
            return out_usage(&ctx, NULL, "no command given");
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *name = argv[optind];
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(name, commands[i].name) == 0)
            return commands[i].fn(&ctx, argc - optind, argv + optind);
    if (strcmp(name, "help") == 0) {
        usage(stdout);
        return EXIT_OK;
    }
    return out_usage(&ctx, NULL, "unknown command '%s'", name);
}
