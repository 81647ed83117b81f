/* edge-client: the edge device agent (docs/edge-client.md).
 *
 *   edge-client --config FILE run [--once] [--count N] [--commands N]
 *   edge-client --config FILE reset
 *
 * run: activate (first boot) -> TPM key -> CSR -> apply -> MQTT over
 * mutual TLS -> N telemetry messages -> answer commands. reset: revoke the
 * certificate over mutual TLS, delete the TPM key, remove the state. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "config.h"
#include "enroll.h"
#include "http.h"
#include "mqtt.h"
#include "tls.h"
#include "tpmkey.h"

static int usage(void)
{
    fprintf(stderr, "usage: edge-client --config FILE run [--once] [--count N] [--commands N]\n"
                    "       edge-client --config FILE reset\n");
    return 2;
}

static const char *alg_name(const char *type)
{
    return strcmp(type, "ec-p256") == 0 ? "EC P-256" : "RSA-2048";
}

static int enrol(const edge_config *c, const edge_paths *p, char **secret, EVP_PKEY **key)
{
    int fresh;
    char *sn;

    if ((*secret = edge_activate(c, p, &fresh)) == NULL)
        return -1;
    printf(fresh ? "edge: activated %s/%s, deviceSecret stored in %s (0600)\n"
                 : "edge: already activated %s/%s (deviceSecret in %s)\n",
           c->product_key, c->device_key, p->secret_file);
    if ((*key = edge_ensure_key(c, p, &fresh)) == NULL)
        return -1;
    printf("edge: %s %s key in the TPM: %s\n", fresh ? "generated" : "found", alg_name(c->key_type),
           p->key_uri);
    if (edge_ensure_cert(c, p, *key, *secret, &fresh) != 0)
        return -1;
    sn = edge_read_file(p->sn_file);
    printf(fresh ? "edge: CSR signed in the TPM (CN=%s), certificate issued: serial %s -> %s\n"
                 : "edge: certificate for CN=%s present: serial %s (%s)\n",
           c->device_key, sn ? sn : "?", p->cert_file);
    free(sn);
    fflush(stdout);
    return 0;
}

/* The CRL the broker's certificate is checked against: crl_file if
 * configured, else downloaded now from the hub into data_dir/crl.pem (a
 * failed download falls back to the last one, or to chain checks only). */
static const char *fetch_crl(const edge_config *c)
{
    static char path[1100];
    edge_http h = {c->hub_url, c->ca_file, NULL, NULL, NULL};
    char *pem;

    if (c->crl_file)
        return access(c->crl_file, R_OK) == 0 ? c->crl_file : NULL;
    snprintf(path, sizeof(path), "%s/crl.pem", c->data_dir);
    if ((pem = edge_http_get(&h, "/api/v1/crl.pem", "CRL download")) != NULL &&
        strstr(pem, "-----BEGIN X509 CRL-----") != NULL && edge_write_file(path, pem, 0644) == 0)
        printf("edge: CRL downloaded from the hub -> %s (checked on every broker handshake)\n", path);
    free(pem);
    return access(path, R_OK) == 0 ? path : NULL;
}

static int cmd_run(const edge_config *c, int argc, char **argv)
{
    edge_mqtt_opts o = {.cfg = c, .count = 10};
    edge_paths p;
    char *secret = NULL;
    EVP_PKEY *key = NULL;
    SSL_CTX *ctx = NULL;
    int rc = 1;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--once") == 0)
            o.once = 1;
        else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
            o.count = atoi(argv[++i]);
        else if (strcmp(argv[i], "--commands") == 0 && i + 1 < argc)
            o.max_commands = atoi(argv[++i]);
        else
            return usage();
    }
    edge_paths_init(c, &p);
    if (edge_providers_load() != 0 || enrol(c, &p, &secret, &key) != 0)
        goto done;
    edge_tls_opts t = {c->ca_file, fetch_crl(c), c->mqtt_host, p.cert_file, key};
    if ((ctx = edge_tls_ctx_new(&t)) == NULL)
        goto done;
    o.ctx = ctx;
    o.secret = secret;
    rc = edge_mqtt_run(&o);
done:
    SSL_CTX_free(ctx);
    EVP_PKEY_free(key);
    if (secret) {
        OPENSSL_cleanse(secret, strlen(secret));
        free(secret);
    }
    edge_providers_unload();
    return rc;
}

/* The revocation runs in a child: it opens the TPM through the provider,
 * and a direct TCTI takes one connection at a time, so the connection must
 * be gone before `edgekey delete` runs. */
static int revoke_self(const edge_config *c, const edge_paths *p)
{
    EVP_PKEY *key;
    json_t *body, *r;
    int rc = 1;

    if (edge_providers_load() != 0)
        return 1;
    if ((key = edge_key_load(p->key_uri)) == NULL) {
        fprintf(stderr, "edge-client: no TPM key at %s: nothing to revoke over mutual TLS\n", p->key_uri);
        return 3;
    }
    edge_http h = {c->hub_url, c->ca_file, NULL, p->cert_file, key};
    body = json_pack("{s:i}", "reason", 5); /* cessationOfOperation */
    if ((r = edge_http_post(&h, "/api/v1/device/cert/revoke", body, "revoke-self")) != NULL) {
        printf("edge: certificate %s revoked by the hub (mutual TLS with the TPM key)\n",
               json_string_value(json_object_get(r, "certSn")));
        rc = 0;
    }
    json_decref(r);
    json_decref(body);
    EVP_PKEY_free(key);
    edge_providers_unload();
    return rc;
}

static int run_child(int (*fn)(const edge_config *, const edge_paths *), const edge_config *c,
                     const edge_paths *p)
{
    int st;
    pid_t pid;
    fflush(stdout);
    if ((pid = fork()) == 0)
        _exit(fn(c, p));
    if (pid < 0 || waitpid(pid, &st, 0) < 0)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int delete_key(const edge_config *c, const edge_paths *p)
{
    int st;
    pid_t pid;
    fflush(stdout);
    if ((pid = fork()) == 0) {
        execlp(c->edgekey_cli, c->edgekey_cli, "delete", p->key_uri, (char *)NULL);
        fprintf(stderr, "edge-client: cannot run %s: %s; set edgekey_cli\n", c->edgekey_cli, strerror(errno));
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return -1;
    printf("edge: TPM key %s deleted (edgekey delete)\n", p->key_uri);
    return 0;
}

static int cmd_reset(const edge_config *c)
{
    edge_paths p;
    int rv, rc = 0;

    edge_paths_init(c, &p);
    rv = access(p.cert_file, R_OK) == 0 ? run_child(revoke_self, c, &p) : 3;
    if (rv != 0 && rv != 3) {
        fprintf(stderr, "edge-client: revoke-self failed; the key is deleted anyway, ask the "
                        "operator to revoke the certificate (edgekey-hub revoke)\n");
        rc = 1;
    }
    if (delete_key(c, &p) != 0) {
        fprintf(stderr, "edge-client: deleting the TPM key %s failed (absent already?)\n", p.key_uri);
        rc = 1;
    }
    unlink(p.cert_file);
    unlink(p.sn_file);
    if (unlink(p.secret_file) == 0 || errno == ENOENT)
        printf("edge: certificate and deviceSecret removed from %s\n", c->data_dir);
    return rc;
}

int main(int argc, char **argv)
{
    edge_config c;
    int rc;

    if (argc < 4 || strcmp(argv[1], "--config") != 0)
        return usage();
    if (edge_config_load(argv[2], &c) != 0)
        return 2;
    setvbuf(stdout, NULL, _IOLBF, 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (strcmp(argv[3], "run") == 0)
        rc = cmd_run(&c, argc - 4, argv + 4);
    else if (strcmp(argv[3], "reset") == 0 && argc == 4)
        rc = cmd_reset(&c);
    else
        rc = usage();
    curl_global_cleanup();
    edge_config_free(&c);
    return rc;
}
