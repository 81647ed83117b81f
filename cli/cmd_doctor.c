/* edgekey doctor: is the TPM being used, and if not, why; each check says
 * OK, WARN, FAIL (or SKIP when an earlier failure makes it meaningless) with
 * what is wrong and the exact command that fixes it.
 *
 * Order: TCTI, TPM started, resource manager, lockout, device node and tss
 * group, store, provider, openssl.cnf, PKCS#11 registration, clock, and with
 * --sign-test a throwaway key. Exit code: 0 unless a check FAILs; then the
 * code of the first failure (docs/cli.md's table: 4 TPM, 5 lockout, 6
 * store, 7 other). A WARN keeps 0 (it works, with a caveat) unless --strict.
 * --fix-openssl-cnf runs only the openssl.cnf repair (doctor_fix.c). */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include "doctor.h"

static const char *st_name(dr_status st)
{
    static const char *const names[] = {"ok", "warn", "fail", "skip"};
    return names[st];
}

void dr_add(dr_report *r, const char *check, dr_status st, int exit_code, const char *fix,
            const char *fmt, ...)
{
    char detail[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    json_t *c = json_pack("{s:s,s:s,s:o}", "check", check, "status", st_name(st), "detail",
                          out_str(detail));
    if (c && fix)
        json_object_set_new(c, "fix", out_str(fix));
    json_array_append_new(r->checks, c);
    if (st == DR_WARN)
        r->n_warn++;
    if (st == DR_FAIL && r->n_fail++ == 0)
        r->first_fail = exit_code;
}

static void usage(void)
{
    printf("usage: edgekey doctor [--sign-test] [--strict] [--json]\n"
           "       edgekey doctor --fix-openssl-cnf [FILE] [--yes]\n"
           "\nChecks, in order, what edgekey needs and prints OK, WARN or FAIL for each,\n"
           "with the command that fixes it: TCTI configured and reachable, TPM started,\n"
           "resource manager, dictionary-attack lockout, device node and tss group,\n"
           "store directory, OpenSSL provider found and activated in openssl.cnf (default\n"
           "before edgekey), PKCS#11 module registered with p11-kit, system clock.\n"
           "\n  --sign-test        also make a throwaway key in the TPM, sign, verify with\n"
           "                     OpenSSL (the key is flushed, never stored)\n"
           "  --strict           count WARN as a failure (exit 7 if nothing FAILed)\n"
           "  --fix-openssl-cnf  show the change that activates edgekey in FILE (default:\n"
           "                     the openssl.cnf OpenSSL reads) as a unified diff;\n"
           "                     applied only with --yes or a 'y' on the terminal, with a\n"
           "                     backup FILE.edgekey-bak; 'nothing to do' if it is right\n"
           "  --yes              apply without asking\n"
           "\nExit codes: 0 every check OK (WARN allowed unless --strict); else the code of\n"
           "the first FAIL: 4 TPM/TCTI, 5 lockout, 6 store or device permissions, 7 other.\n"
           "--fix-openssl-cnf: 0 done or nothing to do, 1 not applied (not confirmed, or\n"
           "refused: the message says why), 6 write failed.\n");
}

struct doctor_opts {
    bool sign, strict, fix, yes;
};

enum { O_SIGN = OPT_CMD_BASE, O_STRICT, O_FIX, O_YES };

static int on_opt(void *state, int c, const char *arg)
{
    (void)arg;
    struct doctor_opts *o = state;
    o->sign = o->sign || c == O_SIGN;
    o->strict = o->strict || c == O_STRICT;
    o->fix = o->fix || c == O_FIX;
    o->yes = o->yes || c == O_YES;
    return 0;
}

static void print_text(const dr_report *r)
{
    size_t i;
    json_t *c;
    json_array_foreach(r->checks, i, c)
    {
        const char *st = json_string_value(json_object_get(c, "status"));
        char up[8];
        size_t k = 0;
        for (; k < sizeof(up) - 1 && st[k]; k++)
            up[k] = (char)(st[k] - 'a' + 'A');
        up[k] = '\0';
        printf("%-5s %-17s %s\n", up, json_string_value(json_object_get(c, "check")),
               json_string_value(json_object_get(c, "detail")));
        json_t *fix = json_object_get(c, "fix");
        if (fix)
            printf("      %-17s %s\n", "fix:", json_string_value(fix));
    }
}

static void run_checks(dr_report *r, bool sign)
{
    ek_tpm_health h;
    bool up = dr_check_tpm(r, &h);
    if (up)
        dr_check_lockout(r);
    else
        dr_add(r, "lockout", DR_SKIP, 0, NULL, "the TPM does not answer (see above)");
    dr_check_device(r, &h);
    dr_check_store(r);
    dr_check_provider(r);
    dr_check_openssl_cnf(r);
    dr_check_p11(r);
    dr_check_clock(r);
    if (sign && up)
        dr_check_sign(r);
    else if (sign)
        dr_add(r, "sign-test", DR_SKIP, 0, NULL, "the TPM does not answer (see above)");
}

int cmd_doctor(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {CLI_GLOBAL_LONGOPTS,
                                         {"sign-test", no_argument, NULL, O_SIGN},
                                         {"strict", no_argument, NULL, O_STRICT},
                                         {"fix-openssl-cnf", no_argument, NULL, O_FIX},
                                         {"yes", no_argument, NULL, O_YES},
                                         {NULL, 0, NULL, 0}};
    struct doctor_opts o = {0};
    int rc = cli_parse_opts(ctx, argc, argv, "hy", opts, on_opt, &o);
    if (rc == 'h') {
        usage();
        return EXIT_OK;
    }
    if (rc != -1)
        return rc;
    if (o.fix) {
        if (argc - optind > 1)
            return out_usage(ctx, "doctor", "unexpected argument '%s'", argv[optind + 1]);
        return dr_fix_openssl_cnf(ctx, optind < argc ? argv[optind] : NULL, o.yes);
    }
    if (optind < argc)
        return out_usage(ctx, "doctor", "unexpected argument '%s'", argv[optind]);
    if (o.yes)
        return out_usage(ctx, "doctor", "--yes goes with --fix-openssl-cnf");

    dr_report r = {.checks = json_array()};
    if (r.checks == NULL)
        return out_fail(ctx, ek_error(EK_ERR_NOMEM, "out of memory"));
    run_checks(&r, o.sign);
    int code = r.first_fail;
    if (code == 0 && o.strict && r.n_warn)
        code = EXIT_OTHER;
    if (ctx->json) {
        out_json(json_pack("{s:o,s:s,s:i,s:i,s:i}", "checks", r.checks, "result",
                           r.n_fail   ? "fail"
                           : r.n_warn ? "warn"
                                      : "ok",
                           "failed", (json_int_t)r.n_fail, "warnings", (json_int_t)r.n_warn,
                           "exit_code", (json_int_t)code));
    } else {
        print_text(&r);
        printf("\n%u failed, %u warning%s: %s\n", r.n_fail, r.n_warn, r.n_warn == 1 ? "" : "s",
               code ? "edgekey will not work as configured (see the fixes above)"
                    : "edgekey can use the TPM");
        json_decref(r.checks);
    }
    fflush(stdout);
    return code;
}
