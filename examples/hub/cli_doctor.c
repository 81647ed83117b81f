/* edgekey-hub doctor: run the hub checks (doctor_checks.c,
 * doctor_broker.c) in order and report each with its fix, as text or
 * --json. Exit 0 only when no check failed (warnings do not fail). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include "cli.h"
#include "doctor.h"
#include "hub_util.h"
#include "keyload.h"

static const char *const status_name[] = {"pass", "warn", "fail"};

static bool check_config(const cli_opts *o, hub_config *cfg, doc_report *rep)
{
    if (hub_config_load(o->conf, cfg) != 0) {
        doc_fix(doc_add(rep, "config", DOC_FAIL, "%s", hub_err()),
                "create the file or name it with --config FILE (keys: docs/hub-api.md)");
        return false;
    }
    struct stat st;
    if (stat(cfg->dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        doc_fix(doc_add(rep, "config", DOC_FAIL, "%s: state directory dir = %s does not exist",
                        cfg->conf_path, cfg->dir),
                "edgekey-hub %sinit (or correct 'dir =')", rep->conf_arg);
        return false;
    }
    doc_add(rep, "config", DOC_PASS, "%s read; state directory %s", cfg->conf_path, cfg->dir);
    return true;
}

static int print_report(const cli_opts *o, const doc_report *rep)
{
    int failed = 0, warned = 0;
    json_t *arr = json_array();
    for (int i = 0; i < rep->n; i++) {
        const doc_result *r = &rep->r[i];
        failed += r->status == DOC_FAIL;
        warned += r->status == DOC_WARN;
        json_t *j = json_pack("{s:s, s:s, s:s}", "check", r->check, "status",
                              status_name[r->status], "detail", r->detail);
        if (j && r->fix[0])
            json_object_set_new(j, "fix", json_string(r->fix));
        json_array_append_new(arr, j);
        if (!o->json) {
            printf("%s  %-11s %s\n",
                   r->status == DOC_PASS   ? "PASS"
                   : r->status == DOC_WARN ? "WARN"
                                           : "FAIL",
                   r->check, r->detail);
            if (r->fix[0])
                printf("      %-11s %s\n", "fix:", r->fix);
        }
    }
    if (o->json) {
        json_t *top = json_pack("{s:b, s:i, s:i, s:o}", "ok", failed == 0, "failed", failed,
                                "warnings", warned, "checks", arr);
        char *txt = top ? json_dumps(top, JSON_INDENT(2)) : NULL;
        printf("%s\n", txt ? txt : "{}");
        free(txt);
        json_decref(top);
    } else {
        json_decref(arr);
        printf("doctor: %d checks, %d failed, %d warnings\n", rep->n, failed, warned);
    }
    return failed ? 1 : 0;
}

int cli_doctor(const cli_opts *o, int argc, char **argv)
{
    (void)argc, (void)argv;
    static doc_report rep; /* ~128 KB: kept off the stack */
    char conf_arg[HUB_PATH_MAX + 16] = "";
    hub_config cfg;
    rep.n = 0;
    if (o->conf)
        snprintf(conf_arg, sizeof(conf_arg), "--config %s ", o->conf);
    rep.conf_arg = conf_arg;
    if (check_config(o, &cfg, &rep)) {
        hub_providers_init();
        doc_check_registry(&cfg, &rep);
        doc_check_ca(&cfg, &rep);
        doc_check_hub_cert(&cfg, &rep);
        doc_check_broker(&cfg, &rep);
        doc_check_crl(&cfg, &rep);
    }
    return print_report(o, &rep);
}
