/* edgekey-hub: the example IoT hub (registry, CA, HTTPS API, MQTT service).
 *
 *   edgekey-hub [--config FILE] [--json] COMMAND ...
 * See `edgekey-hub help` and docs/hub-api.md. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "hub_util.h"

static const char usage[] =
    "usage: edgekey-hub [--config FILE] [--json] COMMAND [ARGS]\n"
    "  init [--ca-key tpm|file] [--hub-key tpm|file]   CA, hub key + certificate, broker config\n"
    "  init --join [...]                              a further node: its issuing CA + CSR\n"
    "  ca sign-node --csr FILE --out FILE             (root's machine) sign a node's issuing CA\n"
    "  serve                                          HTTPS API + MQTT service\n"
    "  product add [--product-key PK] [--key-types rsa,ec] [--validity-days N] [--no-dynamic]\n"
    "  product list\n"
    "  device add --product-key PK --device-key SN\n"
    "  device list [--product-key PK]\n"
    "  device show --device-key SN                    state and last telemetry\n"
    "  device reset --device-key SN                   revoke its certificates; it may activate again\n"
    "  cert list [--device-key SN]\n"
    "  revoke --cert-sn HEX [--reason N]              RFC 5280 reason code (default 0)\n"
    "  revoke --hub-cert [--reason N]                 the hub's own TLS certificate (broker + API)\n"
    "  crl                                            reissue the CRL now\n"
    "  send --product-key PK --device-key SN --service ID [--params JSON] [--timeout-ms N]\n"
    "config: --config, else $EDGEKEY_HUB_CONF, else /etc/edgekey/hub.conf\n";

const char *cli_opt(int argc, char **argv, const char *name)
{
    for (int i = 0; i + 1 < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return argv[i + 1];
    return NULL;
}

bool cli_flag(int argc, char **argv, const char *name)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], name) == 0)
            return true;
    return false;
}

void cli_print(const cli_opts *o, json_t *j, const char *human)
{
    if (o->json) {
        char *txt = json_dumps(j, JSON_INDENT(2));
        if (txt)
            printf("%s\n", txt);
        free(txt);
    } else if (human) {
        fputs(human, stdout);
    }
    json_decref(j);
}

int cli_error(const cli_opts *o, const char *code, const char *msg)
{
    if (o->json) {
        json_t *j = json_pack("{s:s, s:s}", "error", code, "msg", msg);
        char *txt = json_dumps(j, JSON_INDENT(2));
        printf("%s\n", txt ? txt : "{}");
        free(txt);
        json_decref(j);
    }
    fprintf(stderr, "edgekey-hub: %s\n", msg);
    return 1;
}

int main(int argc, char **argv)
{
    cli_opts o = {0};
    int i = 1;
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "--json") == 0) {
            o.json = true;
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            o.conf = argv[++i];
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        } else {
            fprintf(stderr, "edgekey-hub: unknown option %s\n%s", argv[i], usage);
            return 2;
        }
    }
    if (i >= argc) {
        fputs(usage, stderr);
        return 2;
    }
    const char *cmd = argv[i];
    int sub_argc = argc - i - 1;
    char **sub_argv = argv + i + 1;
    static const struct {
        const char *name;
        int (*fn)(const cli_opts *, int, char **);
    } cmds[] = {
        {"init", cli_init},     {"serve", cli_serve}, {"product", cli_product},
        {"device", cli_device}, {"cert", cli_cert},   {"revoke", cli_revoke}, {"ca", cli_ca},
        {"crl", cli_crl},       {"send", cli_send},
    };
    for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++)
        if (strcmp(cmd, cmds[k].name) == 0)
            return cmds[k].fn(&o, sub_argc, sub_argv);
    if (strcmp(cmd, "help") == 0) {
        fputs(usage, stdout);
        return 0;
    }
    fprintf(stderr, "edgekey-hub: unknown command '%s'\n%s", cmd, usage);
    return 2;
}
