/* edgekey-hub init --join and ca sign-node: a further hub node, with its
 * own issuing CA (key in its own TPM) under the fleet's one offline root.
 *
 * On the new node, whose hub.conf names the fleet's PostgreSQL registry:
 *   1. copy the root certificate (ca/root.pem of the root's machine) into
 *      <dir>/ca/root.pem;
 *   2. edgekey-hub init --join: makes the CA key and <dir>/ca/issuing.csr;
 *   3. on the root's machine: edgekey-hub ca sign-node --csr issuing.csr
 *      --out issuing.pem (the only step that uses root.key);
 *   4. copy issuing.pem into <dir>/ca/ and run edgekey-hub init --join
 *      again: it checks the certificate, then does the usual init. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include "ca.h"
#include "cli.h"
#include "hub_util.h"
#include "keyload.h"

/* The signed issuing CA: under our root, for our CA key; writes chain.pem. */
static int check_issuing(const hub_config *cfg, X509 *root, const char *dir)
{
    char path[HUB_PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/issuing.pem", dir);
    X509 *iss = hub_load_cert(path);
    EVP_PKEY *key = iss ? hub_load_key(cfg->ca_key) : NULL;
    int rc = -1;
    if (!key)
        ;
    else if (X509_check_issued(root, iss) != X509_V_OK ||
             X509_verify(iss, X509_get0_pubkey(root)) != 1)
        hub_fail("%s is not signed by %s/root.pem: sign ca/issuing.csr with the fleet's root "
                 "(edgekey-hub ca sign-node)",
                 path, dir);
    else if (X509_check_private_key(iss, key) != 1)
        hub_fail("%s is not for this node's CA key %s: sign this node's ca/issuing.csr", path,
                 cfg->ca_key);
    else {
        char *a = hub_cert_pem(iss), *b = hub_cert_pem(root), chain[HUB_PATH_MAX + 16];
        snprintf(chain, sizeof(chain), "%s/chain.pem", dir);
        size_t la = a ? strlen(a) : 0, lb = b ? strlen(b) : 0;
        char *buf = a && b ? malloc(la + lb + 1) : NULL;
        if (buf) {
            memcpy(buf, a, la);
            memcpy(buf + la, b, lb + 1);
            rc = hub_write_atomic(chain, buf, la + lb, 0644);
        }
        free(buf);
        free(a);
        free(b);
    }
    ERR_clear_error();
    EVP_PKEY_free(key);
    X509_free(iss);
    return rc;
}

/* The CSR for this node's issuing CA; its CN is unique in the fleet (an
 * issuer name picks the CRL that checks a certificate). */
static int write_csr(const cli_opts *o, const hub_config *cfg, const char *dir)
{
    char path[HUB_PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/issuing.csr", dir);
    if (access(path, F_OK) != 0) {
        char cn[64], id[9];
        if (hub_random_hex(4, id) != 0)
            return -1;
        snprintf(cn, sizeof(cn), "edgekey hub issuing CA %s", id);
        X509_REQ *req = cli_make_csr(cfg->ca_key, cn);
        BIO *b = req ? BIO_new_file(path, "w") : NULL;
        int ok = b && PEM_write_bio_X509_REQ(b, req);
        BIO_free(b);
        X509_REQ_free(req);
        if (!ok)
            return req ? hub_fail("%s: cannot write the CSR", path) : -1;
    }
    char human[3 * HUB_PATH_MAX + 256];
    snprintf(human, sizeof(human),
             "issuing CA key made; CSR in %s\n"
             "next: on the root's machine run\n"
             "  edgekey-hub ca sign-node --csr issuing.csr --out issuing.pem\n"
             "then copy issuing.pem to %s/ and run 'edgekey-hub init --join' again\n",
             path, dir);
    cli_print(o, json_pack("{s:s, s:s}", "state", "csr_written", "csr", path), human);
    return 1;
}

int cli_join_prepare(const cli_opts *o, hub_config *cfg, const char *ca_mode)
{
    char dir[HUB_PATH_MAX], path[HUB_PATH_MAX + 16];
    hub_path(cfg, "ca", dir, sizeof(dir));
    if ((mkdir(cfg->dir, 0700) != 0 && errno != EEXIST) ||
        (mkdir(dir, 0700) != 0 && errno != EEXIST))
        return hub_fail("%s: cannot create: %s", dir, strerror(errno));
    snprintf(path, sizeof(path), "%s/root.key", dir);
    if (access(path, F_OK) == 0)
        return hub_fail("%s exists: this node made the root; run plain 'edgekey-hub init'", path);
    snprintf(path, sizeof(path), "%s/root.pem", dir);
    X509 *root = hub_load_cert(path);
    if (!root)
        return hub_fail("join: %s missing or unreadable: copy the fleet's root certificate "
                        "(ca/root.pem on the root's machine) there first",
                        path);
    hub_providers_init();
    int rc = cli_init_key(ca_mode, "hub-ca", cfg->ca_key, NULL);
    snprintf(path, sizeof(path), "%s/issuing.pem", dir);
    if (rc == 0)
        rc = access(path, F_OK) == 0 ? check_issuing(cfg, root, dir) : write_csr(o, cfg, dir);
    X509_free(root);
    return rc;
}

/* ca sign-node --csr FILE --out FILE: run with the root's hub.conf. */
static int sign_node(const cli_opts *o, int argc, char **argv)
{
    const char *csr = cli_opt(argc, argv, "--csr"), *out = cli_opt(argc, argv, "--out");
    if (!csr || !out)
        return cli_error(o, "usage", "ca sign-node --csr FILE --out FILE");
    hub_config cfg;
    if (hub_config_load(o->conf, &cfg) != 0)
        return cli_error(o, "config", hub_err());
    char dir[HUB_PATH_MAX], cn[256] = "";
    hub_path(&cfg, "ca", dir, sizeof(dir));
    BIO *b = BIO_new_file(csr, "r");
    X509_REQ *req = b ? PEM_read_bio_X509_REQ(b, NULL, NULL, NULL) : NULL;
    BIO_free(b);
    EVP_PKEY *pub = req ? X509_REQ_get0_pubkey(req) : NULL;
    X509 *x = NULL;
    if (!pub || X509_REQ_verify(req, pub) != 1)
        hub_fail("%s: not a PEM CSR with a valid self-signature", csr);
    else if (hub_cert_cn(X509_REQ_get_subject_name(req), cn, sizeof(cn)) != 0 ||
             strncmp(cn, "edgekey hub issuing CA ", 23) != 0)
        hub_fail("%s: subject CN '%s' is not a node's issuing CA (made by init --join)", csr, cn);
    else
        x = hub_ca_sign_issuing(dir, pub, cn);
    char *pem = x ? hub_cert_pem(x) : NULL;
    int rc = pem ? hub_write_atomic(out, pem, strlen(pem), 0644) : -1;
    ERR_clear_error();
    free(pem);
    X509_free(x);
    X509_REQ_free(req);
    if (rc != 0)
        return cli_error(o, "sign_node", hub_err());
    char human[HUB_PATH_MAX + 300];
    snprintf(human, sizeof(human), "issuing CA '%s' signed by the root in %s: %s\n", cn, dir, out);
    cli_print(o, json_pack("{s:s, s:s}", "subject", cn, "cert", out), human);
    return 0;
}

int cli_ca(const cli_opts *o, int argc, char **argv)
{
    if (argc >= 1 && strcmp(argv[0], "sign-node") == 0)
        return sign_node(o, argc - 1, argv + 1);
    return cli_error(o, "usage", "ca sign-node --csr FILE --out FILE");
}
