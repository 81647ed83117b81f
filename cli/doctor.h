/* edgekey doctor: declarations shared by cmd_doctor.c (order, output, exit
 * code) and the check files doctor_tpm.c, doctor_host.c, doctor_openssl.c,
 * doctor_p11.c, plus the openssl.cnf reader/fixer (doctor_cnf.c,
 * doctor_fix.c).
 *
 * A check adds one entry to the report: a name, a status, what it found and,
 * for WARN and FAIL, the exact fix. Entries keep their order. Ownership:
 * the report owns its JSON; strings passed in are copied. */
#ifndef EK_CLI_DOCTOR_H
#define EK_CLI_DOCTOR_H

#include <stdbool.h>
#include <jansson.h>
#include "cli.h"
#include "ek_info.h"

typedef enum { DR_OK, DR_WARN, DR_FAIL, DR_SKIP } dr_status;

typedef struct dr_report {
    json_t *checks; /* array of {"check","status","detail","fix"} */
    int first_fail; /* exit code of the first FAIL, 0 if none */
    unsigned n_warn, n_fail;
} dr_report;

/* Append a check. exit_code is the code this failure maps to (docs/cli.md's
 * table); it is used only for DR_FAIL. fix may be NULL. */
void dr_add(dr_report *r, const char *check, dr_status st, int exit_code, const char *fix,
            const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* --- doctor_tpm.c: TCTI, startup, resource manager, lockout, sign test --- */
/* Adds tcti, tpm-started, resource-manager; true if the TPM answers. */
bool dr_check_tpm(dr_report *r, ek_tpm_health *h);
void dr_check_lockout(dr_report *r);
void dr_check_sign(dr_report *r);

/* --- doctor_host.c: device node, tss group, store, clock --- */
void dr_check_device(dr_report *r, const ek_tpm_health *h);
void dr_check_store(dr_report *r);
void dr_check_clock(dr_report *r);

/* --- doctor_openssl.c --- */
void dr_check_provider(dr_report *r);
void dr_check_openssl_cnf(dr_report *r);

/* --- doctor_p11.c --- */
void dr_check_p11(dr_report *r);

/* --- doctor_cnf.c: reading openssl.cnf --- */
/* The openssl.cnf OpenSSL programs read: OPENSSL_CONF, else the build's
 * default (OPENSSLDIR/openssl.cnf). Malloc'ed. */
char *dr_cnf_effective(void);
/* The drop-in `--fix-openssl-cnf` includes: EDGEKEY_OPENSSL_DROPIN (tests,
 * relocated installs), else the installed path. */
const char *dr_cnf_dropin(void);
/* Providers the file activates, in load order: names of the entries of its
 * providers section whose own section says activate = 1 (true/yes/on).
 * Writes up to max names (static storage until the next call) and returns the
 * count; -1 with *err set (static text) if the file cannot be parsed. */
int dr_cnf_active(const char *file, const char **names, int max, const char **err);
/* The name of the provider entry that loads edgekey (by name or module). */
bool dr_cnf_is_edgekey(const char *name);

/* --- doctor_fix.c: --fix-openssl-cnf [FILE] [--yes] --- */
int dr_fix_openssl_cnf(const cli_ctx *ctx, const char *file, bool yes);

#endif
