/* edgekey-hub doctor: registry, CA, hub certificate and CRL checks. */
#include "doctor.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include "hub_util.h"
#include "keyload.h"
#include "registry.h"

doc_result *doc_add(doc_report *rep, const char *check, doc_status st, const char *fmt, ...)
{
    static doc_result overflow; /* DOC_MAX is above the number of checks */
    doc_result *res = rep->n < DOC_MAX ? &rep->r[rep->n++] : &overflow;
    memset(res, 0, sizeof(*res));
    res->check = check;
    res->status = st;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->detail, sizeof(res->detail), fmt, ap);
    va_end(ap);
    return res;
}

void doc_fix(doc_result *res, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res->fix, sizeof(res->fix), fmt, ap);
    va_end(ap);
}

void doc_check_registry(const hub_config *cfg, doc_report *rep)
{
    hub_registry *r = NULL;
    int v = -1, latest = reg_schema_latest();
    if (reg_open(cfg->registry, true, &r) == 0)
        v = reg_schema_version(r);
    if (v < 0) {
        /* SQLite's later errors ("file is not a database") name no file */
        const char *colon = strchr(cfg->registry, ':'), *path = colon ? colon + 1 : cfg->registry;
        doc_result *d =
            strstr(hub_err(), path)
                ? doc_add(rep, "registry", DOC_FAIL, "%s", hub_err())
                : doc_add(rep, "registry", DOC_FAIL, "%s: %s", cfg->registry, hub_err());
        doc_fix(d,
                "a new hub: edgekey-hub %sinit; an existing one: restore %s from its backup "
                "(or correct 'registry =' in %s)",
                rep->conf_arg, cfg->registry, cfg->conf_path);
    } else if (v == 0) {
        doc_fix(doc_add(rep, "registry", DOC_FAIL, "%s holds no hub schema (empty database)",
                        cfg->registry),
                "edgekey-hub %sinit", rep->conf_arg);
    } else if (v < latest) {
        doc_fix(doc_add(rep, "registry", DOC_FAIL,
                        "%s: schema version %d, this edgekey-hub needs %d", cfg->registry, v,
                        latest),
                "back up %s, then run edgekey-hub %scrl (opening it read-write applies the "
                "migrations)",
                cfg->registry, rep->conf_arg);
    } else if (v > latest) {
        doc_fix(doc_add(rep, "registry", DOC_FAIL,
                        "%s: schema version %d is newer than this edgekey-hub (%d)", cfg->registry,
                        v, latest),
                "run the edgekey-hub that wrote it (upgrade this one)");
    } else {
        doc_add(rep, "registry", DOC_PASS, "%s opens, schema version %d (current)", cfg->registry,
                v);
    }
    if (r)
        reg_close(r);
}

/* Certificate at dir/rel, or NULL with a failed result added. */
static X509 *need_cert(const hub_config *cfg, doc_report *rep, const char *check, const char *rel,
                       const char *fix)
{
    char path[HUB_PATH_MAX];
    hub_path(cfg, rel, path, sizeof(path));
    X509 *x = hub_load_cert(path);
    ERR_clear_error();
    if (!x)
        doc_fix(doc_add(rep, check, DOC_FAIL, "%s is missing or not a PEM certificate", path), "%s",
                fix);
    return x;
}

static long days_left(X509 *x)
{
    int64_t left = hub_asn1_time_unix(X509_get0_notAfter(x)) - hub_now_s();
    return left < 0 ? -1 - (long)(-left / 86400) : (long)(left / 86400);
}

/* Key at address loads and is the certificate's; else a failed result. */
static int key_matches(doc_report *rep, const char *check, const char *addr, X509 *x,
                       const char *what, const char *conf_key)
{
    EVP_PKEY *k = hub_load_key(addr);
    int ok = k && X509_check_private_key(x, k) == 1;
    ERR_clear_error();
    if (!k)
        doc_fix(doc_add(rep, check, DOC_FAIL, "%s key: %s", what, hub_err()),
                "a TPM key: check EDGEKEY_TCTI and OPENSSL_MODULES (edgekey doctor), and that no "
                "other process holds a direct TCTI (stop edgekey-hub serve first); a file key: "
                "restore it, or correct '%s =' in the config",
                conf_key);
    else if (!ok)
        doc_fix(
            doc_add(rep, check, DOC_FAIL, "%s key %s does not match its certificate", what, addr),
            "set '%s =' to the key the certificate was issued for", conf_key);
    EVP_PKEY_free(k);
    return ok ? 0 : -1;
}

void doc_check_ca(const hub_config *cfg, doc_report *rep)
{
    static const char restore[] = "restore the CA files from backup (a new 'init' would make a "
                                  "new CA that no device trusts)";
    X509 *root = need_cert(cfg, rep, "ca-certs", "ca/root.pem", restore);
    X509 *iss = root ? need_cert(cfg, rep, "ca-certs", "ca/issuing.pem", restore) : NULL;
    X509 *chain = iss ? need_cert(cfg, rep, "ca-certs", "ca/chain.pem", restore) : NULL;
    char dir[HUB_PATH_MAX];
    hub_path(cfg, "ca", dir, sizeof(dir));
    if (chain && X509_verify(iss, X509_get0_pubkey(root)) != 1) {
        doc_fix(doc_add(rep, "ca-certs", DOC_FAIL, "%s/issuing.pem is not signed by root.pem", dir),
                "%s", restore);
    } else if (chain && X509_cmp(chain, iss) != 0) {
        doc_fix(
            doc_add(rep, "ca-certs", DOC_FAIL, "%s/chain.pem does not start with issuing.pem", dir),
            "cat %s/issuing.pem %s/root.pem > %s/chain.pem", dir, dir, dir);
    } else if (chain) {
        long d = days_left(iss);
        doc_result *res =
            doc_add(rep, "ca-certs", d < 0 ? DOC_FAIL : DOC_PASS,
                    "%s: root.pem, issuing.pem (%ld days left), chain.pem agree", dir, d);
        if (d < 0)
            doc_fix(res, "the issuing CA expired: make a new one and re-enrol the devices");
    }
    ERR_clear_error();
    if (iss && key_matches(rep, "ca-key", cfg->ca_key, iss, "issuing CA", "ca_key") == 0)
        doc_add(rep, "ca-key", DOC_PASS, "%s loads and matches issuing.pem", cfg->ca_key);
    X509_free(root);
    X509_free(iss);
    X509_free(chain);
}

void doc_check_hub_cert(const hub_config *cfg, doc_report *rep)
{
    char fix[DOC_TEXT_MAX], path[HUB_PATH_MAX], chain[HUB_PATH_MAX];
    hub_path(cfg, "hub/hub.pem", path, sizeof(path));
    hub_path(cfg, "hub/hub-chain.pem", chain, sizeof(chain));
    snprintf(fix, sizeof(fix),
             "rm %s %s; edgekey-hub %sinit (issues a new one for the same key); then restart "
             "edgekey-hub serve and the broker",
             path, chain, rep->conf_arg);
    X509 *x = need_cert(cfg, rep, "hub-cert", "hub/hub.pem", fix);
    if (!x)
        return;
    if (key_matches(rep, "hub-key", cfg->hub_key, x, "hub TLS", "hub_key") == 0)
        doc_add(rep, "hub-key", DOC_PASS, "%s loads and matches %s", cfg->hub_key, path);
    long d = days_left(x);
    char until[32];
    time_t na = (time_t)hub_asn1_time_unix(X509_get0_notAfter(x));
    strftime(until, sizeof(until), "%Y-%m-%d %H:%M UTC", gmtime(&na));
    if (d < 0)
        doc_fix(doc_add(rep, "hub-cert", DOC_FAIL,
                        "%s expired %s: devices and the broker's clients refuse it", path, until),
                "%s", fix);
    else if (d < DOC_WARN_DAYS)
        doc_fix(doc_add(rep, "hub-cert", DOC_WARN, "%s expires in %ld days (%s)", path, d, until),
                "%s", fix);
    else
        doc_add(rep, "hub-cert", DOC_PASS, "%s valid %ld more days (until %s)", path, d, until);
    X509_free(x);
}

static X509_CRL *load_crl(const char *path)
{
    BIO *b = BIO_new_file(path, "r");
    X509_CRL *crl = b ? PEM_read_bio_X509_CRL(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    ERR_clear_error();
    return crl;
}

void doc_check_crl(const hub_config *cfg, doc_report *rep)
{
    char path[HUB_PATH_MAX], fix[DOC_TEXT_MAX];
    hub_path(cfg, "ca/crl.pem", path, sizeof(path));
    snprintf(fix, sizeof(fix),
             "edgekey-hub %scrl (and keep edgekey-hub serve running: it reissues the CRL "
             "before nextUpdate)",
             rep->conf_arg);
    X509_CRL *crl = load_crl(path);
    X509 *iss = crl ? need_cert(cfg, rep, "crl", "ca/issuing.pem", fix) : NULL;
    const ASN1_TIME *next = crl ? X509_CRL_get0_nextUpdate(crl) : NULL;
    if (!crl) {
        doc_fix(doc_add(rep, "crl", DOC_FAIL, "%s is missing or not a PEM CRL", path), "%s", fix);
    } else if (iss && X509_CRL_verify(crl, X509_get0_pubkey(iss)) != 1) {
        doc_fix(doc_add(rep, "crl", DOC_FAIL, "%s is not signed by the issuing CA", path), "%s",
                fix);
    } else if (iss && !next) {
        doc_fix(doc_add(rep, "crl", DOC_FAIL, "%s has no nextUpdate", path), "%s", fix);
    } else if (iss) {
        int64_t left = hub_asn1_time_unix(next) - hub_now_s();
        int64_t a = left < 0 ? -left : left;
        doc_result *res =
            doc_add(rep, "crl", left < 0 ? DOC_FAIL : DOC_PASS,
                    left < 0 ? "%s is stale: nextUpdate passed %lldd %lldh ago; relying parties "
                               "refuse every certificate of this CA"
                             : "%s fresh: nextUpdate in %lldd %lldh",
                    path, (long long)(a / 86400), (long long)(a % 86400 / 3600));
        if (left < 0)
            doc_fix(res, "%s", fix);
    }
    ERR_clear_error();
    X509_CRL_free(crl);
    X509_free(iss);
}
