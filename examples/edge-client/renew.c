/* edge-client: renewal and the identity state file (see renew.h). */
#include "renew.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "http.h"
#include "log.h"
#include "tpmkey.h"
#include "trust.h"

static char base_label[128]; /* the configured label: renewed keys are base-<n> */
static int generation;       /* n of the label in use (0: the base label) */

static void identity_path(const edge_config *c, char *out, size_t size)
{
    snprintf(out, size, "%s/identity", c->data_dir);
}

static void staged_paths(const edge_config *c, int gen, char *pem, char *sn, size_t size)
{
    snprintf(pem, size, "%s/device-%d.pem", c->data_dir, gen);
    snprintf(sn, size, "%s/device-%d.sn", c->data_dir, gen);
}

/* Copy staged certificate files of generation gen over device.pem/.sn. */
static int install_staged(const edge_config *c, int gen)
{
    char pem[1100], sn[1100], dst[1100];
    char *a = NULL, *b = NULL;
    int rc = -1;
    staged_paths(c, gen, pem, sn, sizeof(pem));
    if ((a = edge_read_file(pem)) == NULL || (b = edge_read_file(sn)) == NULL)
        goto done; /* installed already */
    snprintf(dst, sizeof(dst), "%s/device.pem", c->data_dir);
    if (edge_write_file(dst, a, 0644) != 0)
        goto done;
    snprintf(dst, sizeof(dst), "%s/device.sn", c->data_dir);
    if (edge_write_file(dst, b, 0644) != 0)
        goto done;
    unlink(pem);
    unlink(sn);
    rc = 0;
done:
    free(a);
    free(b);
    return rc;
}

int edge_identity_apply(edge_config *c)
{
    char path[1100], label[128] = "";
    char *text;
    snprintf(base_label, sizeof(base_label), "%s", c->label);
    identity_path(c, path, sizeof(path));
    if ((text = edge_read_file(path)) == NULL)
        return 0; /* never renewed */
    if (sscanf(text, "label = %127s generation = %d", label, &generation) != 2 || generation < 0) {
        edge_error("%s is not an identity file (label = ..., generation = N); restore it or "
                   "reset the device",
                   path);
        free(text);
        return -1;
    }
    free(text);
    free(c->label);
    if ((c->label = strdup(label)) == NULL)
        return -1;
    if (install_staged(c, generation) == 0)
        edge_info("finished the interrupted switch to key %s", label);
    edge_debug("identity: key label %s (generation %d)", label, generation);
    return 0;
}

int edge_cert_times(const char *cert_file, long long *not_before, long long *not_after)
{
    FILE *f = fopen(cert_file, "r");
    X509 *x = f ? PEM_read_X509(f, NULL, NULL, NULL) : NULL;
    struct tm a, b;
    int ok;
    if (f)
        fclose(f);
    ok = x && ASN1_TIME_to_tm(X509_get0_notBefore(x), &a) == 1 &&
         ASN1_TIME_to_tm(X509_get0_notAfter(x), &b) == 1;
    if (ok) {
        *not_before = (long long)timegm(&a);
        *not_after = (long long)timegm(&b);
    }
    X509_free(x);
    return ok ? 0 : -1;
}

int edge_renew_due(long long not_before, long long not_after, double fraction, long long now_s)
{
    double left = (double)(not_after - now_s), total = (double)(not_after - not_before);
    return total > 0 && left < fraction * total;
}

int edge_key_destroy(const edge_config *c, const char *uri)
{
    int st;
    pid_t pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, STDOUT_FILENO);
        execlp(c->edgekey_cli, c->edgekey_cli, "delete", uri, (char *)NULL);
        fprintf(stderr, "edge-client: cannot run %s: %s; set edgekey_cli\n", c->edgekey_cli,
                strerror(errno));
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        edge_error("deleting the TPM key %s failed (edgekey delete); delete it by hand", uri);
        return -1;
    }
    return 0;
}

/* The renew call over mutual TLS with the current key; the reply's data. */
static json_t *renew_call(const edge_config *c, const edge_paths *p, EVP_PKEY *cur_key,
                          EVP_PKEY *new_key)
{
    char *csr = edge_key_csr(new_key, c->device_key);
    json_t *body, *r;
    if (csr == NULL)
        return NULL;
    /* no CRL for curl (it would want one for every CA in the chain): the
     * hub's certificates are checked against the CRL by trust.c */
    edge_http h = {c->hub_url, edge_trust_ca(c), NULL, p->cert_file, cur_key};
    body = json_pack("{s:s, s:i}", "csr", csr, "validDay", c->valid_days);
    r = edge_http_post(&h, "/api/v1/device/cert/renew", body, "certificate renewal");
    json_decref(body);
    free(csr);
    return r;
}

/* Stage the new certificate (+ chain) and serial for generation gen. */
static int stage(const edge_config *c, int gen, json_t *r, EVP_PKEY *new_key)
{
    const char *cert = json_string_value(json_object_get(r, "cert"));
    const char *chain = json_string_value(json_object_get(r, "chain"));
    const char *sn = json_string_value(json_object_get(r, "certSn"));
    char pem_path[1100], sn_path[1100], *pem;
    long long nb, na;
    X509 *x = NULL;
    FILE *f;
    int rc = -1;

    if (cert == NULL || sn == NULL) {
        edge_error("renewal reply lacks cert/certSn");
        return -1;
    }
    staged_paths(c, gen, pem_path, sn_path, sizeof(pem_path));
    if ((pem = malloc(strlen(cert) + (chain ? strlen(chain) : 0) + 2)) == NULL)
        return -1;
    sprintf(pem, "%s%s%s", cert, cert[strlen(cert) - 1] == '\n' ? "" : "\n", chain ? chain : "");
    if (edge_write_file(pem_path, pem, 0644) == 0 && edge_write_file(sn_path, sn, 0644) == 0 &&
        (f = fopen(pem_path, "r")) != NULL) {
        x = PEM_read_X509(f, NULL, NULL, NULL);
        fclose(f);
        rc = x && EVP_PKEY_eq(X509_get0_pubkey(x), new_key) == 1 &&
                     edge_cert_times(pem_path, &nb, &na) == 0
                 ? 0
                 : -1;
        if (rc != 0)
            edge_error("the renewed certificate is not for the new TPM key; keeping the old one");
    }
    X509_free(x);
    free(pem);
    return rc;
}

static int commit(edge_config *c, int gen, const char *label)
{
    char path[1100], text[256];
    identity_path(c, path, sizeof(path));
    snprintf(text, sizeof(text), "label = %s\ngeneration = %d\n", label, gen);
    if (edge_write_file(path, text, 0644) != 0)
        return -1;
    generation = gen;
    free(c->label);
    c->label = strdup(label);
    if (install_staged(c, gen) != 0)
        edge_warn("device.pem not replaced yet; the next start finishes the switch");
    return c->label ? 0 : -1;
}

EVP_PKEY *edge_renew(edge_config *c, edge_paths *p, EVP_PKEY *cur_key, char *old_uri,
                     size_t old_uri_size)
{
    int gen = generation + 1;
    char label[160], uri[512];
    EVP_PKEY *key;
    json_t *r;

    snprintf(label, sizeof(label), "%s-%d", base_label, gen);
    edge_key_uri(c->token, label, uri, sizeof(uri));
    if ((key = edge_key_load(uri)) != NULL) { /* orphan of an interrupted renewal */
        EVP_PKEY_free(key);
        edge_warn("key %s left by an interrupted renewal: deleting it", uri);
        edge_key_destroy(c, uri);
    }
    edge_info("renewal: generating key %s in the TPM", uri);
    if ((key = edge_key_generate(c->key_type, c->token, label)) == NULL)
        return NULL;
    if ((r = renew_call(c, p, cur_key, key)) == NULL || stage(c, gen, r, key) != 0 ||
        commit(c, gen, label) != 0) {
        json_decref(r);
        EVP_PKEY_free(key);
        edge_key_destroy(c, uri);
        return NULL;
    }
    json_decref(r);
    snprintf(old_uri, old_uri_size, "%s", p->key_uri);
    edge_paths_init(c, p);
    return key;
}
