/* edgekey-hub init: seed step 1 of the life cycle.
 *
 * Creates (each only if missing, so init is re-runnable): the state
 * directory, the registry, the root and issuing CA (issuing key in the TPM
 * by default), the hub's TLS key (in the TPM by default) and its CSR, the
 * hub certificate (serverAuth + SAN), the service identity for MQTT, the
 * first CRL, and the broker configuration (mosquitto.conf + openssl.cnf). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include "broker_conf.h"
#include "cli.h"
#include "csr_check.h"
#include "hub_util.h"
#include "keyload.h"
#include "ops.h"
#include "tpm_keygen.h"

static int ensure_dir(const hub_config *cfg, const char *rel)
{
    char p[HUB_PATH_MAX];
    if (rel)
        hub_path(cfg, rel, p, sizeof(p));
    else
        snprintf(p, sizeof(p), "%s", cfg->dir);
    if (mkdir(p, 0700) != 0 && errno != EEXIST)
        return hub_fail("%s: cannot create: %s", p, strerror(errno));
    return 0;
}

int cli_init_key(const char *mode, const char *label, const char *path, const char *uri_file)
{
    if (access(path, F_OK) == 0)
        return 0;
    if (strcmp(mode, "tpm") == 0) {
        char uri[1024];
        if (hub_tpm_keygen(label, path, uri, sizeof(uri)) != 0)
            return -1;
        if (uri[0] && uri_file && hub_write_atomic(uri_file, uri, strlen(uri), 0644) != 0)
            return -1;
        return 0;
    }
    if (strcmp(mode, "file") != 0)
        return hub_fail("key mode '%s' unknown: use tpm or file", mode);
    EVP_PKEY *k = hub_soft_keygen("ec");
    int rc = k ? hub_write_key_pem(path, k) : -1;
    EVP_PKEY_free(k);
    return rc;
}

X509_REQ *cli_make_csr(const char *key_addr, const char *cn)
{
    EVP_PKEY *k = hub_load_key(key_addr);
    X509_REQ *req = X509_REQ_new();
    X509_NAME *n = X509_NAME_new();
    int ok =
        k && req && n &&
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0) &&
        X509_REQ_set_subject_name(req, n) && X509_REQ_set_pubkey(req, k) &&
        X509_REQ_sign(req, k, EVP_sha256()) > 0;
    if (!ok) {
        if (k)
            hub_fail("CSR for %s: signing with %s failed", cn, key_addr);
        X509_REQ_free(req);
        req = NULL;
    }
    ERR_clear_error();
    X509_NAME_free(n);
    EVP_PKEY_free(k);
    return req;
}

static int write_pems(const char *path, const char *a, const char *b)
{
    size_t la = strlen(a), lb = b ? strlen(b) : 0;
    char *buf = malloc(la + lb + 1);
    if (!buf)
        return hub_fail("out of memory");
    memcpy(buf, a, la);
    if (b)
        memcpy(buf + la, b, lb);
    int rc = hub_write_atomic(path, buf, la + lb, 0644);
    free(buf);
    return rc;
}

/* Issue a certificate for key_addr's CSR unless cert_path exists. */
static int ensure_cert(hub_ctx *ctx, const char *key_addr, int kind, const char *cn,
                       const char *rel_cert, const char *rel_csr, const char *rel_chain)
{
    char cpath[HUB_PATH_MAX];
    hub_path(&ctx->cfg, rel_cert, cpath, sizeof(cpath));
    if (access(cpath, F_OK) == 0)
        return 0;
    X509_REQ *req = cli_make_csr(key_addr, cn);
    if (!req)
        return -1;
    char csrpath[HUB_PATH_MAX];
    hub_path(&ctx->cfg, rel_csr, csrpath, sizeof(csrpath));
    BIO *b = BIO_new_file(csrpath, "w");
    if (b)
        PEM_write_bio_X509_REQ(b, req);
    BIO_free(b);
    /* The hub's CSR passes the same checks as a device's. */
    char *pem = NULL;
    size_t len = 0;
    int rc = hub_read_file(csrpath, &pem, &len);
    if (rc == 0 && hub_csr_check(pem, len, cn, HUB_KT_RSA | HUB_KT_EC, NULL) != HUB_CSR_OK)
        rc = -1;
    free(pem);
    hub_issue ir = {.kind = kind, .cn = cn, .days = 365, .sans = ctx->cfg.hostnames};
    hub_cert c = {0};
    if (rc == 0 && reg_begin(ctx->reg) == 0) {
        rc = hub_ca_issue(ctx->ca, ctx->reg, X509_REQ_get0_pubkey(req), &ir, &c);
        if (rc == 0)
            rc = reg_commit(ctx->reg);
        else
            reg_rollback(ctx->reg);
    }
    X509_REQ_free(req);
    if (rc == 0)
        rc = write_pems(cpath, c.pem, NULL);
    if (rc == 0 && rel_chain) {
        char chpath[HUB_PATH_MAX];
        hub_path(&ctx->cfg, rel_chain, chpath, sizeof(chpath));
        const char *chain = hub_ca_chain_pem(ctx->ca);
        const char *root = strstr(chain + 1, "-----BEGIN CERTIFICATE-----");
        char *issuing = strndup(chain, root ? (size_t)(root - chain) : strlen(chain));
        rc = issuing ? write_pems(chpath, c.pem, issuing) : -1;
        free(issuing);
    }
    reg_cert_clear(&c);
    return rc;
}

static int ensure_token(hub_config *cfg)
{
    char p[HUB_PATH_MAX];
    hub_path(cfg, "admin.token", p, sizeof(p));
    if (cfg->admin_token[0] || access(p, F_OK) == 0)
        return 0;
    char tok[65];
    if (hub_random_hex(32, tok) != 0 || hub_write_atomic(p, tok, strlen(tok), 0600) != 0)
        return -1;
    snprintf(cfg->admin_token, sizeof(cfg->admin_token), "%s", tok);
    return 0;
}

static int run_init(hub_config *cfg, const char *ca_mode, const char *hub_mode)
{
    char uri_file[HUB_PATH_MAX];
    hub_path(cfg, "hub/hub.uri", uri_file, sizeof(uri_file));
    if (ensure_dir(cfg, NULL) || ensure_dir(cfg, "ca") || ensure_dir(cfg, "hub") ||
        ensure_dir(cfg, "service") || ensure_dir(cfg, "broker") || ensure_token(cfg))
        return -1;
    hub_providers_init();
    /* Both TPM keys first, by child processes, before this process opens
     * the TPM itself: a direct TCTI takes one connection at a time. */
    if (cli_init_key(ca_mode, "hub-ca", cfg->ca_key, NULL) ||
        cli_init_key(hub_mode, "hub-tls", cfg->hub_key, uri_file) ||
        hub_ca_create(cfg, cfg->ca_key))
        return -1;
    hub_ctx ctx;
    if (hub_ctx_open(cfg->conf_path, true, &ctx) != 0)
        return -1;
    char svc_key[HUB_PATH_MAX], host[512];
    hub_path(cfg, "service/service.key", svc_key, sizeof(svc_key));
    snprintf(host, sizeof(host), "%s", cfg->hostnames);
    host[strcspn(host, ",")] = '\0';
    int rc = ensure_cert(&ctx, cfg->hub_key, HUB_CK_HUB, host, "hub/hub.pem", "hub/hub.csr",
                         "hub/hub-chain.pem") ||
                     cli_init_key("file", "service", svc_key, NULL) ||
                     ensure_cert(&ctx, svc_key, HUB_CK_SERVICE, cfg->service_cn,
                                 "service/service.pem", "service/service.csr", NULL) ||
                     hub_op_crl_refresh(&ctx) || hub_broker_conf_write(&ctx.cfg)
                 ? -1
                 : 0;
    hub_ctx_close(&ctx);
    return rc;
}

int cli_init(const cli_opts *o, int argc, char **argv)
{
    hub_config cfg;
    if (hub_config_load(o->conf, &cfg) != 0)
        return cli_error(o, "config", hub_err());
    const char *ca_mode = cli_opt(argc, argv, "--ca-key");
    const char *hub_mode = cli_opt(argc, argv, "--hub-key");
    /* a further node: its issuing CA signed by the fleet's offline root */
    int join = cli_flag(argc, argv, "--join")
                   ? cli_join_prepare(o, &cfg, ca_mode ? ca_mode : cfg.ca_key_mode)
                   : 0;
    if (join != 0)
        return join < 0 ? cli_error(o, "join", hub_err()) : 0;
    if (run_init(&cfg, ca_mode ? ca_mode : cfg.ca_key_mode, hub_mode ? hub_mode : cfg.hub_key_mode))
        return cli_error(o, "init", hub_err());
    char chain[HUB_PATH_MAX], cert[HUB_PATH_MAX], broker[HUB_PATH_MAX], human[8 * HUB_PATH_MAX];
    hub_path(&cfg, "ca/chain.pem", chain, sizeof(chain));
    hub_path(&cfg, "hub/hub-chain.pem", cert, sizeof(cert));
    hub_path(&cfg, "broker/mosquitto.conf", broker, sizeof(broker));
    snprintf(human, sizeof(human),
             "hub initialised in %s\n  CA chain     %s\n  hub cert     %s\n  hub key      %s\n"
             "  CA key       %s\n  broker conf  %s\n",
             cfg.dir, chain, cert, cfg.hub_key, cfg.ca_key, broker);
    cli_print(o,
              json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "dir", cfg.dir, "caChain", chain,
                        "hubCert", cert, "hubKey", cfg.hub_key, "caKey", cfg.ca_key, "brokerConf",
                        broker),
              human);
    return 0;
}
