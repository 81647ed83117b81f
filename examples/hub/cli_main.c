/* edgekey-hub: the example IoT hub (registry, CA, HTTPS API, MQTT service).
 *
 *   edgekey-hub [--config FILE] [--json] COMMAND ...
 * See `edgekey-hub --help`, docs/hub-cli.md and docs/hub-api.md. The
 * grammar of each command is in cli_args.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "hub_util.h"

#ifndef HUB_VERSION
#define HUB_VERSION "unknown"
#endif

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
            cli_usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--version") == 0) {
            printf("edgekey-hub %s\n", HUB_VERSION);
            return 0;
        } else {
            return cli_usage_error(&o, NULL, "unknown option or missing value: ", argv[i]);
        }
    }
    if (i >= argc)
        return cli_usage_error(&o, NULL, "no command given", NULL);
    if (strcmp(argv[i], "help") == 0 && i + 1 == argc) {
        cli_usage(stdout);
        return 0;
    }
    int st = cli_check_args(&o, argc - i, argv + i);
    if (st >= 0)
        return st;
    const char *cmd = argv[i];
    int sub_argc = argc - i - 1;
    char **sub_argv = argv + i + 1;
    static const struct {
        const char *name;
        int (*fn)(const cli_opts *, int, char **);
    } cmds[] = {
        {"init", cli_init},     {"serve", cli_serve}, {"product", cli_product},
        {"device", cli_device}, {"cert", cli_cert},   {"revoke", cli_revoke},
        {"crl", cli_crl},       {"send", cli_send},   {"doctor", cli_doctor},
    };
    for (size_t k = 0; k < sizeof(cmds) / sizeof(cmds[0]); k++)
        if (strcmp(cmd, cmds[k].name) == 0)
            return cmds[k].fn(&o, sub_argc, sub_argv);
    return cli_usage_error(&o, NULL, "unknown command ", cmd);
}
