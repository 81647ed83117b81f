/* edgekey CLI: declarations shared by main.c, the cmd_*.c files and the
 * helpers (output, auth, pkey, certinfo, resolve).
 *
 * Error convention: helpers return an ek_rc and leave the message in the
 * core's per-thread buffer (ek_error / ek_last_error), so every failure,
 * whether it comes from the core, OpenSSL or the CLI itself, is reported
 * the same way by out_fail(). */
#ifndef EK_CLI_H
#define EK_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "ek_error.h"
#include "ek_key.h"
#include "ek_store.h"

/* Exit codes (documented in docs/cli.md and `edgekey --help`). */
enum {
    EXIT_OK = 0,
    EXIT_USAGE = 1,     /* bad command line, address or input file */
    EXIT_NOT_FOUND = 2, /* no such key, token, handle, certificate or file */
    EXIT_POLICY = 3,    /* refused by policy (RSA < 2048, disallowed algorithm) */
    EXIT_TPM = 4,       /* the TPM refused, or cannot be reached */
    EXIT_AUTH = 5,      /* wrong/missing key auth, or DA lockout */
    EXIT_STORE = 6,     /* store or file I/O */
    EXIT_OTHER = 7,
};

typedef struct cli_ctx {
    bool json; /* --json: machine output on stdout */
} cli_ctx;

/* A subcommand: argv[0] is the command name; returns the exit code. */
typedef int (*cli_cmd_fn)(cli_ctx *ctx, int argc, char **argv);

int cmd_info(cli_ctx *ctx, int argc, char **argv);
int cmd_keygen(cli_ctx *ctx, int argc, char **argv);
int cmd_csr(cli_ctx *ctx, int argc, char **argv);
int cmd_cert(cli_ctx *ctx, int argc, char **argv);
int cmd_list(cli_ctx *ctx, int argc, char **argv);
int cmd_delete(cli_ctx *ctx, int argc, char **argv);
int cmd_export_ref(cli_ctx *ctx, int argc, char **argv);
int cmd_token(cli_ctx *ctx, int argc, char **argv);
int cmd_ek(cli_ctx *ctx, int argc, char **argv);
int cmd_doctor(cli_ctx *ctx, int argc, char **argv);

/* --- global options (main.c), accepted before and after the command --- */
enum {
    OPT_JSON = 0x100,
    OPT_TCTI,
    OPT_STORE,
    OPT_CONF,
    OPT_VERSION,
    OPT_CMD_BASE = 0x200, /* commands number their own long options from here */
};
#define CLI_GLOBAL_LONGOPTS                                                                        \
    {"json", no_argument, NULL, OPT_JSON}, {"tcti", required_argument, NULL, OPT_TCTI},            \
        {"store", required_argument, NULL, OPT_STORE},                                             \
        {"conf", required_argument, NULL, OPT_CONF},                                               \
    {                                                                                              \
        "help", no_argument, NULL, 'h'                                                             \
    }

/* Handle a global option seen by a command's getopt loop. Returns 1 if it
 * was one (and applied it), 0 if not, -1 on a bad value (message printed). */
int cli_global_opt(cli_ctx *ctx, int c, const char *arg);

/* Parse a command's options: loops getopt_long over argv (GNU permutation,
 * so options may follow positional arguments), applies global options and
 * calls on_opt for the others. Returns -1 when done (optind points at the
 * first positional argument), 'h' for --help, or EXIT_USAGE after printing
 * the reason. */
typedef int (*cli_opt_fn)(void *state, int c, const char *arg);
int cli_parse_opts(cli_ctx *ctx, int argc, char **argv, const char *shortopts,
                   const struct option *longopts, cli_opt_fn on_opt, void *state);

/* --- output.c --- */
int cli_exit_code(ek_rc rc);
/* Report the failure in ek_last_error(): "edgekey: <message>" on stderr
 * (plus {"error":{...}} on stdout with --json). Returns the exit code. */
int out_fail(const cli_ctx *ctx, ek_rc rc);
/* Usage error: message on stderr, hint to --help; returns EXIT_USAGE. */
int out_usage(const cli_ctx *ctx, const char *cmd, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Print a result: JSON (--json) or the generic "key: value" tree; frees res. */
int out_result(const cli_ctx *ctx, json_t *res);
void out_json(json_t *res); /* prints and frees */
/* Human rendering of a JSON tree at an indent (used by out_result). */
void out_human_tree(const json_t *v, int indent);
/* "0x81000010" or JSON null for 0. */
json_t *out_handle(uint32_t handle);
/* A JSON string from untrusted text (non-UTF-8 bytes become '?'). */
json_t *out_str(const char *s);
json_t *out_hex(const unsigned char *p, size_t n);
/* Write text to FILE (created 0644, replaced atomically) or stdout for NULL. */
ek_rc out_write_file(const char *path, const char *data, size_t len);

/* --- auth.c: key auth values (never printed; caller wipes) --- */
/* One line from the terminal tty with echo off (the terminal is restored):
 * 0, an errno value if echo cannot be switched off, -1 if nothing came. */
int cli_prompt_noecho(FILE *tty, const char *question, char *line, size_t size);
#define CLI_AUTH_MAX 32 /* TPM limit: digest size of the key's name algorithm (SHA-256) */
/* From file (first line) if file != NULL, else EDGEKEY_KEY_AUTH (wiped and
 * unset after reading), else a prompt on /dev/tty without echo (asked twice
 * if confirm). */
ek_rc cli_auth_read(const char *file, bool confirm, unsigned char buf[CLI_AUTH_MAX], size_t *len);
/* Give key its auth if it needs one or one was asked for (want/file). For a
 * stored key (obj != NULL) of a PIN-protected token the user PIN is asked
 * for instead and the key's auth derived from it. */
ek_rc cli_auth_apply(ek_key *key, bool want, const char *file, const ek_store_obj *obj);
/* The same for a key opened with ek_key_open(address), which has already
 * applied a pin-value in the address: then nothing more is asked for
 * (commands refuse --auth/--auth-file together with a pin-value). */
ek_rc cli_auth_for(ek_key *key, const char *address, bool want, const char *file);
/* The address carries a pin-value (a pkcs11: URI or a URI reference file). */
bool cli_address_has_pin(const char *address);

/* --- pkey.c: the TPM key's public half as an OpenSSL key (default provider) --- */
ek_rc cli_pkey_from_pub(const ek_pubkey *pub, EVP_PKEY **out);
bool cli_pub_equal(const ek_pubkey *a, const ek_pubkey *b);

/* --- certinfo.c --- */
/* Certificate from PEM or DER bytes. */
ek_rc cli_cert_parse(const unsigned char *data, size_t len, const char *what, X509 **out);
/* {"subject","issuer","serial","not_before","not_after","sha256"} */
json_t *cli_cert_json(X509 *cert);
/* RFC 2253 name, malloc'ed. */
char *cli_name_str(const X509_NAME *name);
ek_rc cli_read_file(const char *path, unsigned char **data, size_t *len);

/* --- resolve.c: which store object an address names --- */
/* pkcs11: URIs and EDGEKEY URI files by token/object/id; handle:0x81...
 * by the handle recorded in the store; TSS2 files by public key. */
ek_rc cli_resolve(const char *address, ek_store_obj *out);
/* The store object holding a key with this public key (EK_ERR_NOT_FOUND). */
ek_rc cli_resolve_pub(const ek_pubkey *pub, ek_store_obj *out);
/* The first stored key whose public half satisfies match. */
typedef bool (*cli_pub_match_fn)(const ek_pubkey *pub, void *arg);
ek_rc cli_resolve_match(cli_pub_match_fn match, void *arg, ek_store_obj *out);
/* The object's pkcs11: URI (type=private), for printing and reference files. */
ek_rc cli_obj_uri(const ek_store_obj *obj, char *buf, size_t size);

#endif
