/* edgekey-hub doctor: checks of an installed hub, each with a result, a
 * detail naming the object, and the exact fix when it is not a pass.
 *
 * Checks only read: the registry is opened read-only (no migration), keys
 * are loaded to compare them with their certificates, nothing is written.
 * A check that cannot run because an earlier one failed is not added. */
#ifndef HUB_DOCTOR_H
#define HUB_DOCTOR_H

#include "config.h"

typedef enum { DOC_PASS, DOC_WARN, DOC_FAIL } doc_status;

#define DOC_TEXT_MAX 4096
#define DOC_MAX 16
#define DOC_WARN_DAYS 30 /* hub certificate: warn below this many days left */

typedef struct doc_result {
    const char *check; /* static name: "config", "registry", ... */
    doc_status status;
    char detail[DOC_TEXT_MAX];
    char fix[DOC_TEXT_MAX]; /* "" on a pass */
} doc_result;

typedef struct doc_report {
    doc_result r[DOC_MAX];
    int n;
    const char *conf_arg; /* how to name the config in fix commands */
} doc_report;

/* Append a result (detail printf-style); returns it for doc_fix. */
doc_result *doc_add(doc_report *rep, const char *check, doc_status st, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void doc_fix(doc_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* doctor_checks.c */
void doc_check_registry(const hub_config *cfg, doc_report *rep);
void doc_check_ca(const hub_config *cfg, doc_report *rep);
void doc_check_hub_cert(const hub_config *cfg, doc_report *rep);
void doc_check_crl(const hub_config *cfg, doc_report *rep);
/* doctor_broker.c */
void doc_check_broker(const hub_config *cfg, doc_report *rep);

#endif
