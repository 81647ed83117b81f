/* hub_devsim: HTTPS steps (libcurl; one connection per worker, kept alive). */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <openssl/bio.h>
#include <openssl/pem.h>
#include "devsim.h"
#include "hub_util.h"
#include "sign_check.h"

typedef struct buf {
    char *p;
    size_t n;
} buf;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *arg)
{
    buf *b = arg;
    size_t len = size * nmemb;
    char *np = realloc(b->p, b->n + len + 1);
    if (!np)
        return 0;
    memcpy(np + b->n, ptr, len);
    b->p = np;
    b->n += len;
    b->p[b->n] = '\0';
    return len;
}

CURL *sim_curl(const sim_cfg *cfg)
{
    CURL *c = curl_easy_init();
    if (c) {
        curl_easy_setopt(c, CURLOPT_CAINFO, cfg->ca);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
        curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    }
    return c;
}

/* POST body to path; the reply's "data" object on HTTP 200. */
static json_t *post(CURL *c, const sim_cfg *cfg, const char *path, json_t *body, int admin)
{
    char url[512], auth[256];
    buf b = {0};
    char *txt = json_dumps(body, JSON_COMPACT);
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (admin) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", cfg->token);
        h = curl_slist_append(h, auth);
    }
    snprintf(url, sizeof(url), "%s%s", cfg->api, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, txt);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(c);
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    free(txt);
    json_t *j = rc == CURLE_OK && b.p ? json_loads(b.p, 0, NULL) : NULL;
    json_t *data = status == 200 ? json_incref(json_object_get(j, "data")) : NULL;
    if (!data)
        fprintf(stderr, "hub_devsim: %s: %s %s\n", path,
                rc == CURLE_OK ? "" : curl_easy_strerror(rc), b.p ? b.p : "");
    json_decref(j);
    free(b.p);
    return data;
}

static void sign_into(json_t *o, const char *secret)
{
    char sign[65];
    hub_sign_params(o, secret, sign);
    json_object_set_new(o, "sign", json_string(sign));
}

static json_t *stamp(void)
{
    char ts[32];
    snprintf(ts, sizeof(ts), "%lld", (long long)hub_now_ms());
    return json_string(ts);
}

int sim_register(CURL *c, const sim_cfg *cfg, sim_dev *d)
{
    json_t *body = json_pack("{s:s, s:s}", "productKey", cfg->pk, "deviceKey", d->dk);
    json_t *data = post(c, cfg, "/api/v1/admin/devices", body, 1);
    json_decref(body);
    json_decref(data);
    return data ? 0 : -1;
}

int sim_activate(CURL *c, const sim_cfg *cfg, sim_dev *d)
{
    json_t *body = json_pack("{s:s, s:s, s:o}", "productKey", cfg->pk, "deviceKey", d->dk,
                             "timestamp", stamp());
    sign_into(body, cfg->psecret);
    json_t *data = post(c, cfg, "/api/v1/device/activate", body, 0);
    json_decref(body);
    const char *sec = json_string_value(json_object_get(data, "deviceSecret"));
    if (sec) {
        snprintf(d->secret, sizeof(d->secret), "%s", sec);
        if (cfg->log) {
            fprintf(cfg->log, "ACT %s %s\n", d->dk, sec);
            fflush(cfg->log);
        }
    }
    json_decref(data);
    return sec ? 0 : -1;
}

static char *make_csr(sim_dev *d)
{
    d->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    X509_REQ *req = X509_REQ_new();
    X509_NAME *n = X509_NAME_new();
    char *pem = NULL;
    BIO *b = BIO_new(BIO_s_mem());
    if (d->key && req && n && b &&
        X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (unsigned char *)d->dk, -1, -1, 0) &&
        X509_REQ_set_subject_name(req, n) && X509_REQ_set_pubkey(req, d->key) &&
        X509_REQ_sign(req, d->key, EVP_sha256()) > 0 && PEM_write_bio_X509_REQ(b, req)) {
        char *p;
        long len = BIO_get_mem_data(b, &p);
        pem = strndup(p, (size_t)len);
    }
    BIO_free(b);
    X509_NAME_free(n);
    X509_REQ_free(req);
    return pem;
}

int sim_apply(CURL *c, const sim_cfg *cfg, sim_dev *d)
{
    char *csr = make_csr(d);
    if (!csr)
        return -1;
    json_t *body = json_pack("{s:s, s:s, s:s, s:i, s:o}", "productKey", cfg->pk, "deviceKey", d->dk,
                             "csr", csr, "validDay", 30, "timestamp", stamp());
    free(csr);
    sign_into(body, d->secret);
    json_t *data = post(c, cfg, "/api/v1/device/cert/apply", body, 0);
    json_decref(body);
    const char *pem = json_string_value(json_object_get(data, "cert"));
    const char *sn = json_string_value(json_object_get(data, "certSn"));
    if (pem && sn) {
        BIO *b = BIO_new_mem_buf(pem, -1);
        d->cert = PEM_read_bio_X509(b, NULL, NULL, NULL);
        BIO_free(b);
        snprintf(d->serial, sizeof(d->serial), "%s", sn);
        if (cfg->log) {
            fprintf(cfg->log, "CERT %s %s\n", d->dk, sn);
            fflush(cfg->log);
        }
    }
    json_decref(data);
    return d->cert ? 0 : -1;
}
