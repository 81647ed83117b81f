/* edge-client: activation, key, CSR and apply (see enroll.h). */
#include "enroll.h"
#include "attest.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "http.h"
#include "secret.h"
#include "tpmkey.h"
#include "trust.h"

long long edge_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void edge_paths_init(const edge_config *c, edge_paths *p)
{
    snprintf(p->secret_file, sizeof(p->secret_file), "%s/device.secret", c->data_dir);
    snprintf(p->cert_file, sizeof(p->cert_file), "%s/device.pem", c->data_dir);
    snprintf(p->sn_file, sizeof(p->sn_file), "%s/device.sn", c->data_dir);
    edge_key_uri(c->token, c->label, p->key_uri, sizeof(p->key_uri));
}

char *edge_read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char *d = NULL;
    long n;
    if (f == NULL)
        return NULL;
    if (fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 && n < (1 << 20) &&
        fseek(f, 0, SEEK_SET) == 0 && (d = malloc((size_t)n + 1)) != NULL) {
        if (fread(d, 1, (size_t)n, f) != (size_t)n) {
            free(d);
            d = NULL;
        } else {
            d[n] = '\0';
        }
    }
    fclose(f);
    return d;
}

int edge_write_file(const char *path, const char *data, int mode)
{
    char tmp[1100];
    size_t n = strlen(data);
    int fd;
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0 || write(fd, data, n) != (ssize_t)n || fsync(fd) != 0 || close(fd) != 0 ||
        rename(tmp, path) != 0) {
        fprintf(stderr, "edge-client: cannot write %s: %s; check data_dir\n", path,
                strerror(errno));
        if (fd >= 0)
            unlink(tmp);
        return -1;
    }
    return 0;
}

/* The hub API with the current anchors (trust.c). No CURLOPT_CRLFILE:
 * curl turns on CRL_CHECK_ALL with it, and the root publishes no CRL; the
 * API certificate is checked against the CRL by edge_trust_check_hub. */
static edge_http http_of(const edge_config *c)
{
    edge_http h = {c->hub_url, edge_trust_ca(c), NULL, NULL, NULL};
    return h;
}

json_t *edge_signed_call(const edge_config *c, const char *path, json_t *body, const char *secret,
                         const char *what)
{
    char ts[32], sig[65];
    edge_http h = http_of(c);
    json_t *r;
    snprintf(ts, sizeof(ts), "%lld", edge_now_ms());
    json_object_set_new(body, "productKey", json_string(c->product_key));
    json_object_set_new(body, "deviceKey", json_string(c->device_key));
    json_object_set_new(body, "timestamp", json_string(ts));
    if (edge_sign(body, secret, sig) != 0)
        return NULL;
    json_object_set_new(body, "sign", json_string(sig));
    r = edge_http_post(&h, path, body, what);
    return r;
}

char *edge_activate(const edge_config *c, const edge_paths *p, int *fresh, int *sealed)
{
    char *secret = NULL;
    json_t *body, *r;
    const char *s;
    int rc;

    *fresh = 0;
    *sealed = access(p->secret_file, F_OK) != 0;
    if ((rc = edge_secret_load(c, p->secret_file, &secret)) == 0)
        return secret;
    if (rc < 0) /* unreadable is not absent: a second activation would be refused */
        return NULL;
    mkdir(c->data_dir, 0700);
    body = json_object();
    r = edge_signed_call(c, "/api/v1/device/activate", body, c->product_secret, "activation");
    json_decref(body);
    if (r == NULL)
        return NULL;
    s = json_string_value(json_object_get(r, "deviceSecret"));
    if (s == NULL || (secret = strdup(s)) == NULL) {
        fprintf(stderr, "edge-client: activation reply carries no deviceSecret\n");
    } else if (edge_secret_store(c, p->secret_file, secret, sealed) != 0) {
        fprintf(stderr,
                "edge-client: the deviceSecret could not be stored; the hub now counts "
                "%s as activated: the operator resets it (edgekey-hub device reset)\n",
                c->device_key);
        OPENSSL_cleanse(secret, strlen(secret));
        free(secret);
        secret = NULL;
    } else {
        *fresh = 1;
    }
    json_decref(r); /* jansson does not wipe: the reply buffer in http.c was */
    return secret;
}

EVP_PKEY *edge_ensure_key(const edge_config *c, const edge_paths *p, int *fresh)
{
    EVP_PKEY *key = edge_key_load(p->key_uri);
    *fresh = 0;
    if (key != NULL)
        return key;
    key = edge_key_generate(c->key_type, c->token, c->label);
    *fresh = key != NULL;
    return key;
}

char *edge_make_csr(const edge_config *c, EVP_PKEY *key)
{
    /* The hub checks CN = SN only and writes its own subject (O=edgekey hub,
     * CN=SN) into the certificate; C/ST/O are the device maker's, if set. */
    edge_subject sub = {c->subject_c, c->subject_st, c->subject_o};
    return edge_key_csr_subject(key, c->device_key, &sub);
}

void edge_subject_prefix(const edge_config *c, char *out, size_t size)
{
    const char *f[][2] = {{"C", c->subject_c}, {"ST", c->subject_st}, {"O", c->subject_o}};
    size_t o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < 3 && o < size; i++)
        if (f[i][1] && *f[i][1])
            o += (size_t)snprintf(out + o, size - o, "%s=%s, ", f[i][0], f[i][1]);
}

/* 1 if the certificate file exists and holds key's public half. */
static int cert_matches(const char *cert_file, EVP_PKEY *key)
{
    FILE *f = fopen(cert_file, "r");
    X509 *x;
    int ok;
    if (f == NULL)
        return 0;
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    ok = x != NULL && EVP_PKEY_eq(X509_get0_pubkey(x), key) == 1;
    X509_free(x);
    return ok;
}

int edge_ensure_cert(const edge_config *c, const edge_paths *p, EVP_PKEY *key, const char *secret,
                     int *fresh)
{
    char *csr, *pem = NULL;
    json_t *body, *r;
    const char *cert, *chain, *sn;
    int rc = -1;

    *fresh = 0;
    if (cert_matches(p->cert_file, key))
        return 0;
    if ((csr = edge_make_csr(c, key)) == NULL)
        return -1;
    body = json_pack("{s:s, s:i}", "csr", csr, "validDay", c->valid_days);
    if (strcmp(c->attestation, "auto") == 0 && edge_attest(c, p->key_uri, secret, body) < 0) {
        json_decref(body);
        free(csr);
        return -1;
    }
    r = edge_signed_call(c, "/api/v1/device/cert/apply", body, secret, "certificate apply");
    json_decref(body);
    free(csr);
    cert = json_string_value(json_object_get(r, "cert"));
    chain = json_string_value(json_object_get(r, "chain"));
    sn = json_string_value(json_object_get(r, "certSn"));
    if (cert && sn && (pem = malloc(strlen(cert) + (chain ? strlen(chain) : 0) + 2)) != NULL) {
        /* certificate then issuing CA: what a TLS client sends */
        sprintf(pem, "%s%s%s", cert, cert[strlen(cert) - 1] == '\n' ? "" : "\n",
                chain ? chain : "");
        if (edge_write_file(p->cert_file, pem, 0644) == 0 &&
            edge_write_file(p->sn_file, sn, 0644) == 0)
            rc = 0;
    } else if (r != NULL) {
        fprintf(stderr, "edge-client: apply reply lacks cert/certSn\n");
    }
    if (rc == 0 && !cert_matches(p->cert_file, key)) {
        fprintf(stderr, "edge-client: the issued certificate is not for the TPM key\n");
        rc = -1;
    }
    *fresh = rc == 0;
    free(pem);
    json_decref(r);
    return rc;
}
