/* edge-client: the edge device agent (docs/edge-client.md).
 *
 *   edge-client --config FILE run [--once] [--count N] [--commands N]
 *   edge-client --config FILE reset
 *
 * run: activate (first boot) -> TPM key -> CSR -> apply -> MQTT over
 * mutual TLS -> N telemetry messages -> answer commands. reset: revoke the
 * certificate over mutual TLS, delete the TPM key, remove the state. */
#include <errno.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/crypto.h>

#include "clock.h"
#include "config.h"
#include "enroll.h"
#include "http.h"
#include "log.h"
#include "mqtt.h"
#include "renew.h"
#include "tls.h"
#include "secret.h"
#include "tpmkey.h"
#include "trust.h"

#ifndef EDGE_VERSION
#define EDGE_VERSION "unknown"
#endif

static const char usage_text[] =
    "usage: edge-client --config FILE run [--once] [--count N] [--commands N]\n"
    "         --once: one session (no reconnect loop)\n"
    "         --count N: take N readings (default 10; 0: until the source ends)\n"
    "         --commands N: stop after answering N commands\n"
    "       edge-client --config FILE reset\n"
    "       edge-client --help | --version\n"
    "exit codes: see docs/edge-client.md (2: usage or configuration)\n";

static int usage(void)
{
    fputs(usage_text, stderr);
    return 2;
}

/* "edge-client: WHAT ARG" and the usage; exit 2. */
static int usage_error(const char *what, const char *arg)
{
    fprintf(stderr, "edge-client: %s%s\n", what, arg ? arg : "");
    return usage();
}

/* --help / --version anywhere, before a configuration is needed. */
static int early_option(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            fputs(usage_text, stdout);
            return 0;
        }
        if (strcmp(argv[i], "--version") == 0) {
            printf("edge-client %s\n", EDGE_VERSION);
            return 0;
        }
    }
    return -1;
}

static const char *alg_name(const char *type)
{
    return strcmp(type, "ec-p256") == 0 ? "EC P-256" : "RSA-2048";
}

/* Trust first: a wall clock set back (clock.c) or a hub certificate that
 * is revoked or invalid (trust.c) stops the client here, before a secret
 * is used or a certificate is asked for. Then the key (its token holds the
 * sealed deviceSecret), activation, certificate. Returns 0, -1 (a step
 * failed, message printed), EDGE_EXIT_CLOCK or EDGE_EXIT_TRUST (the exit
 * codes to use). */
static int enrol(const edge_config *c, const edge_paths *p, char **secret, EVP_PKEY **key)
{
    int fresh, sealed, r;
    char *sn;

    mkdir(c->data_dir, 0700);
    if ((r = edge_clock_check(c)) != EDGE_CLOCK_OK)
        return r == EDGE_CLOCK_ROLLBACK ? EDGE_EXIT_CLOCK : -1;
    if (edge_trust_refresh(c, 0) != 0)
        return -1;
    if (edge_trust_check_hub(c) == 1)
        return EDGE_EXIT_TRUST;
    if ((*key = edge_ensure_key(c, p, &fresh)) == NULL)
        return -1;
    printf("edge: %s %s key in the TPM: %s\n", fresh ? "generated" : "found", alg_name(c->key_type),
           p->key_uri);
    if ((*secret = edge_activate(c, p, &fresh, &sealed)) == NULL)
        return -1;
    if (sealed)
        printf(fresh ? "edge: activated %s/%s, deviceSecret sealed in the TPM (PKCS#11 data "
                       "object 'deviceSecret' in token %s)\n"
                     : "edge: already activated %s/%s (deviceSecret sealed in the TPM, token %s)\n",
               c->product_key, c->device_key, c->token);
    else
        printf(fresh ? "edge: activated %s/%s, deviceSecret in %s (0600: the module refuses "
                       "data objects)\n"
                     : "edge: already activated %s/%s (deviceSecret in %s)\n",
               c->product_key, c->device_key, p->secret_file);
    if (edge_ensure_cert(c, p, *key, *secret, &fresh) != 0)
        return -1;
    sn = edge_read_file(p->sn_file);
    char subj[400];
    edge_subject_prefix(c, subj, sizeof(subj));
    printf(fresh ? "edge: CSR signed in the TPM (%sCN=%s), certificate issued: serial %s -> %s\n"
                 : "edge: certificate for %sCN=%s present: serial %s (%s)\n",
           fresh ? subj : "", c->device_key, sn ? sn : "?", p->cert_file);
    free(sn);
    fflush(stdout);
    return 0;
}

/* The CRL the broker's certificate is checked against: the one enrol()
 * installed and verified (trust.c: crl_file, or data_dir/crl.pem). */
static const char *fetch_crl(const edge_config *c)
{
    return edge_trust_crl(c);
}

static int cmd_run(edge_config *c, int argc, char **argv)
{
    edge_mqtt_opts o = {.cfg = c, .count = 10};
    edge_paths p;
    char *secret = NULL;
    EVP_PKEY *key = NULL;
    int rc = 1;

    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--once") == 0)
            o.once = 1;
        else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
            o.count = atoi(argv[++i]);
        else if (strcmp(argv[i], "--commands") == 0 && i + 1 < argc)
            o.max_commands = atoi(argv[++i]);
        else
            return usage_error("run: unknown option or missing value: ", argv[i]);
    }
    edge_paths_init(c, &p);
    if (edge_providers_load() != 0)
        goto done;
    if ((rc = enrol(c, &p, &secret, &key)) != 0) {
        rc = rc > 0 ? rc : 1; /* enrol's exit codes: clock set back, hub refused */
        goto done;
    }
    rc = 1;
    edge_tls_opts t = {edge_trust_ca(c), fetch_crl(c), c->mqtt_host, p.cert_file, key};
    if ((o.ctx = edge_tls_ctx_new(&t)) == NULL)
        goto done;
    o.key = key;
    key = NULL; /* the session owns it now (renewal replaces it) */
    o.paths = &p;
    o.secret = secret;
    rc = edge_mqtt_run(&o);
done:
    SSL_CTX_free(o.ctx);
    EVP_PKEY_free(o.key);
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
        fprintf(stderr, "edge-client: no TPM key at %s: nothing to revoke over mutual TLS\n",
                p->key_uri);
        return 3;
    }
    edge_http h = {c->hub_url, edge_trust_ca(c), NULL, p->cert_file, key}; /* see http_of */
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
        fprintf(stderr, "edge-client: cannot run %s: %s; set edgekey_cli\n", c->edgekey_cli,
                strerror(errno));
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &st, 0) < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return -1;
    printf("edge: TPM key %s deleted (edgekey delete)\n", p->key_uri);
    return 0;
}

/* In a child too: the PKCS#11 module opens the TPM, and the parent must
 * hold no TPM connection when `edgekey delete` runs (direct TCTI). */
static int destroy_secret(const edge_config *c, const edge_paths *p)
{
    return edge_secret_destroy(c, p->secret_file) == 0 ? 0 : 1;
}

/* Revoke (over mutual TLS, while the key still exists), destroy the sealed
 * deviceSecret (while its token still holds the key), delete the key, then
 * the certificate. The trust state (ca.pem, crl.pem) and the clock mark
 * stay: they are not the device's identity, and the rollback check must
 * survive a reset. The hub keeps the SN "activated" until the operator
 * runs `edgekey-hub device reset`; then the next run activates again and
 * makes a new key. */
/* What a reset leaves behind otherwise: the identity file naming a renewed
 * label, staged renewal certificates, and readings queued under the old
 * identity (a reset device starts from nothing; the clock mark and the
 * trust anchors stay, they belong to the device, not to its identity). */
static void forget_identity(const edge_config *c)
{
    static const char *const files[] = {"identity", "queue.db", "queue.db-wal", "queue.db-shm"};
    char path[1100];
    glob_t g;

    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", c->data_dir, files[i]);
        unlink(path);
    }
    snprintf(path, sizeof(path), "%s/device-[0-9]*.*", c->data_dir);
    if (glob(path, 0, NULL, &g) == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++)
            unlink(g.gl_pathv[i]);
        globfree(&g);
    }
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
    if (run_child(destroy_secret, c, &p) == 0) {
        printf("edge: sealed deviceSecret destroyed in token %s (C_DestroyObject)\n", c->token);
    } else {
        fprintf(stderr,
                "edge-client: destroying the sealed deviceSecret in token %s failed; "
                "the key is deleted anyway\n",
                c->token);
        rc = 1;
    }
    if (delete_key(c, &p) != 0) {
        fprintf(stderr, "edge-client: deleting the TPM key %s failed (absent already?)\n",
                p.key_uri);
        rc = 1;
    }
    unlink(p.cert_file);
    unlink(p.sn_file);
    forget_identity(c);
    printf("edge: certificate, identity and telemetry queue removed from %s; after 'edgekey-hub "
           "device reset' on the hub the next run activates again with a new key\n",
           c->data_dir);
    return rc;
}

int main(int argc, char **argv)
{
    edge_config c;
    int rc;

    if ((rc = early_option(argc, argv)) >= 0)
        return rc;
    if (argc < 2 || strcmp(argv[1], "--config") != 0)
        return usage_error(argc < 2 ? "no arguments"
                                    : "the first option must be --config FILE, not ",
                           argc < 2 ? NULL : argv[1]);
    if (argc < 4)
        return usage_error("--config FILE and a command (run or reset) needed", NULL);
    if (strcmp(argv[3], "run") != 0 && strcmp(argv[3], "reset") != 0)
        return usage_error("unknown command ", argv[3]);
    if (strcmp(argv[3], "reset") == 0 && argc > 4)
        return usage_error("reset takes no options: ", argv[4]);
    if (edge_config_load(argv[2], &c) != 0)
        return 2;
    /* the key label in use (renewals move it on), before anything uses it */
    if (edge_log_setup(c.log, c.log_level) != 0 || edge_identity_apply(&c) != 0) {
        edge_config_free(&c);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (strcmp(argv[3], "run") == 0)
        rc = cmd_run(&c, argc - 4, argv + 4);
    else
        rc = cmd_reset(&c);
    curl_global_cleanup();
    edge_config_free(&c);
    edge_log_close();
    return rc;
}
