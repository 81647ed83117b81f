/* edgekey-hub: the command-line grammar (which options each command
 * takes), checked before a command runs so that a typo fails with usage and
 * exit 2 instead of being ignored, and `--help` works on every command. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

typedef struct cmd_spec {
    const char *cmd;
    const char *sub;    /* NULL: the command takes no subcommand */
    const char *values; /* options taking a value, space-separated */
    const char *flags;  /* options without a value */
    const char *usage;
} cmd_spec;

static const cmd_spec specs[] = {
    {"init", NULL, "--ca-key --hub-key", "",
     "init [--ca-key tpm|file] [--hub-key tpm|file]   CA, hub key + certificate, broker config"},
    {"serve", NULL, "", "",
     "serve                                          HTTPS API + MQTT service"},
    {"doctor", NULL, "", "",
     "doctor                                         check config, registry, CA, broker, CRL, "
     "hub cert"},
    {"product", "add", "--product-key --key-types --validity-days --attestation", "--no-dynamic",
     "product add [--product-key PK] [--key-types rsa,ec] [--validity-days N] [--no-dynamic]\n"
     "              [--attestation required|optional|off]   default: required with ek_roots, "
     "else off"},
    {"product", "list", "", "", "product list"},
    {"device", "add", "--product-key --device-key", "",
     "device add --product-key PK --device-key SN"},
    {"device", "list", "--product-key", "", "device list [--product-key PK]"},
    {"device", "show", "--device-key", "",
     "device show --device-key SN                    state, EK hash, attested, last telemetry"},
    {"device", "reset", "--device-key", "",
     "device reset --device-key SN                   revoke its certificates; it may activate "
     "again"},
    {"device", "ek-reset", "--device-key", "",
     "device ek-reset --device-key SN                forget the TPM (EK) it is bound to"},
    {"cert", "list", "--device-key", "", "cert list [--device-key SN]"},
    {"revoke", NULL, "--cert-sn --reason", "--hub-cert",
     "revoke --cert-sn HEX | --hub-cert [--reason N]  RFC 5280 reason code (default 0)"},
    {"crl", NULL, "", "", "crl                                            reissue the CRL now"},
    {"send", NULL, "--product-key --device-key --service --params --timeout-ms", "",
     "send --product-key PK --device-key SN --service ID [--params JSON] [--timeout-ms N]"},
};
#define NSPECS (sizeof(specs) / sizeof(specs[0]))

static const char global_usage[] = "usage: edgekey-hub [--config FILE] [--json] COMMAND [ARGS]\n"
                                   "       edgekey-hub --help | --version | COMMAND --help\n";
static const char global_tail[] =
    "--json and --config FILE may also follow the command.\n"
    "config: --config, else $EDGEKEY_HUB_CONF, else /etc/edgekey/hub.conf\n"
    "exit codes: 0 ok, 1 refused or failed (message on stderr), 2 usage\n";

/* Usage lines of cmd (all commands if NULL) to f. */
static void print_usage(FILE *f, const char *cmd)
{
    if (!cmd)
        fputs(global_usage, f);
    for (size_t i = 0; i < NSPECS; i++)
        if (!cmd || strcmp(specs[i].cmd, cmd) == 0)
            fprintf(f, cmd ? "usage: edgekey-hub [--config FILE] [--json] %s\n" : "  %s\n",
                    specs[i].usage);
    fputs(global_tail, f);
}

void cli_usage(FILE *f)
{
    print_usage(f, NULL);
}

int cli_usage_error(const cli_opts *o, const char *cmd, const char *what, const char *arg)
{
    char msg[512];
    snprintf(msg, sizeof(msg), "%s%s%s%s", cmd ? cmd : "", cmd ? ": " : "", what, arg ? arg : "");
    if (o->json) {
        json_t *j = json_pack("{s:s, s:s}", "error", "usage", "msg", msg);
        char *txt = j ? json_dumps(j, JSON_INDENT(2)) : NULL;
        printf("%s\n", txt ? txt : "{}");
        free(txt);
        json_decref(j);
    }
    fprintf(stderr, "edgekey-hub: %s\n", msg);
    print_usage(stderr, cmd && cli_known_command(cmd) ? cmd : NULL);
    return 2;
}

bool cli_known_command(const char *cmd)
{
    for (size_t i = 0; i < NSPECS; i++)
        if (strcmp(specs[i].cmd, cmd) == 0)
            return true;
    return false;
}

/* name is one of the space-separated words in list. */
static bool in_list(const char *list, const char *name)
{
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == ' ' || p[n] == '\0'))
            return true;
    return false;
}

static const cmd_spec *find_spec(const char *cmd, const char *sub)
{
    for (size_t i = 0; i < NSPECS; i++)
        if (strcmp(specs[i].cmd, cmd) == 0 &&
            (!specs[i].sub || (sub && strcmp(specs[i].sub, sub) == 0)))
            return &specs[i];
    return NULL;
}

static bool takes_sub(const char *cmd)
{
    for (size_t i = 0; i < NSPECS; i++)
        if (strcmp(specs[i].cmd, cmd) == 0)
            return specs[i].sub != NULL;
    return false;
}

/* The options after the command (and its subcommand): each must be one the
 * command knows, values present; --json/--config are accepted here too. */
static int check_opts(cli_opts *o, const cmd_spec *s, int argc, char **argv, int first)
{
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            printf("usage: edgekey-hub [--config FILE] [--json] %s\n", s->usage);
            return 0;
        }
        if (strcmp(a, "--json") == 0) {
            o->json = true;
        } else if (strcmp(a, "--config") == 0 || in_list(s->values, a)) {
            if (i + 1 >= argc)
                return cli_usage_error(o, s->cmd, "option needs a value: ", a);
            if (strcmp(a, "--config") == 0)
                o->conf = argv[i + 1];
            i++;
        } else if (!in_list(s->flags, a)) {
            return cli_usage_error(o, s->cmd,
                                   a[0] == '-' ? "unknown option " : "unexpected argument ", a);
        }
    }
    return -1;
}

int cli_check_args(cli_opts *o, int argc, char **argv)
{
    const char *cmd = argv[0];
    if (!cli_known_command(cmd))
        return cli_usage_error(o, NULL, "unknown command ", cmd);
    int first = 1;
    const cmd_spec *s = find_spec(cmd, NULL);
    if (takes_sub(cmd)) {
        const char *sub = argc > 1 ? argv[1] : NULL;
        if (sub && (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0)) {
            print_usage(stdout, cmd);
            return 0;
        }
        s = sub ? find_spec(cmd, sub) : NULL;
        if (!s)
            return cli_usage_error(o, cmd, sub ? "unknown subcommand " : "subcommand missing", sub);
        first = 2;
    }
    return check_opts(o, s, argc, argv, first);
}
