/* edgekey-hub: command-line subcommands. Each returns the process exit
 * status (0 ok, 1 refused/failed, 2 usage). */
#ifndef HUB_CLI_H
#define HUB_CLI_H

#include <stdbool.h>
#include <stdio.h>
#include <jansson.h>

typedef struct cli_opts {
    const char *conf; /* --config */
    bool json;        /* --json */
} cli_opts;

int cli_init(const cli_opts *o, int argc, char **argv);
int cli_serve(const cli_opts *o, int argc, char **argv);
int cli_product(const cli_opts *o, int argc, char **argv);
int cli_device(const cli_opts *o, int argc, char **argv);
int cli_cert(const cli_opts *o, int argc, char **argv);
int cli_revoke(const cli_opts *o, int argc, char **argv);
int cli_crl(const cli_opts *o, int argc, char **argv);
int cli_send(const cli_opts *o, int argc, char **argv);
int cli_doctor(const cli_opts *o, int argc, char **argv);

/* cli_args.c: check argv (argv[0] = the command) against the command's
 * grammar. Returns -1 when the command should run (o->json / o->conf
 * updated from options after the command), 0 after printing its --help,
 * 2 after a usage error (message + usage on stderr). */
int cli_check_args(cli_opts *o, int argc, char **argv);
bool cli_known_command(const char *cmd);
/* All commands' usage to f. */
void cli_usage(FILE *f);
/* "edgekey-hub: CMD: WHAT ARG" + usage on stderr (JSON too under --json);
 * returns 2. cmd and arg may be NULL. */
int cli_usage_error(const cli_opts *o, const char *cmd, const char *what, const char *arg);

/* Print a result: JSON (--json) or the human text. Steals j. */
void cli_print(const cli_opts *o, json_t *j, const char *human);
/* Print an error (JSON object with "error" under --json) and return 1. */
int cli_error(const cli_opts *o, const char *code, const char *msg);
/* --name value option lookup in argv (NULL if absent). */
const char *cli_opt(int argc, char **argv, const char *name);
bool cli_flag(int argc, char **argv, const char *name);

#endif
