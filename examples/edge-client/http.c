/* edge-client: hub API calls (see http.h). */
#include "http.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "tls.h"

typedef struct {
    char *data;
    size_t len;
} buf_t;

static size_t on_data(char *p, size_t sz, size_t n, void *ud)
{
    buf_t *b = ud;
    size_t add = sz * n;
    char *d;
    if (b->len + add > 1 << 20)
        return 0; /* a reply over 1 MiB is not the hub's */
    if ((d = realloc(b->data, b->len + add + 1)) == NULL)
        return 0;
    memcpy(d + b->len, p, add);
    b->data = d;
    b->len += add;
    d[b->len] = '\0';
    return add;
}

static CURLcode on_ssl_ctx(CURL *curl, void *sslctx, void *ud)
{
    const edge_http *h = ud;
    (void)curl;
    return edge_tls_ctx_use_identity(sslctx, h->cert_file, h->key) == 0 ? CURLE_OK
                                                                        : CURLE_SSL_CERTPROBLEM;
}

static json_t *parse_reply(const buf_t *b, long status, const char *what)
{
    json_error_t err;
    json_t *r = b->data ? json_loads(b->data, 0, &err) : NULL, *data = NULL;
    json_t *code = json_object_get(r, "code");

    if (r == NULL) {
        fprintf(stderr, "edge-client: %s: HTTP %ld, reply is not JSON\n", what, status);
    } else if (status == 200 && json_integer_value(code) == 0) {
        data = json_incref(json_object_get(r, "data"));
    } else {
        fprintf(stderr, "edge-client: %s refused by the hub: HTTP %ld %s: %s\n", what, status,
                json_string_value(json_object_get(r, "error")),
                json_string_value(json_object_get(r, "msg")));
    }
    json_decref(r);
    return data;
}

static void setup_tls(CURL *c, const edge_http *h)
{
    curl_easy_setopt(c, CURLOPT_CAINFO, h->ca_file);
    curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(c, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    if (h->crl_file)
        curl_easy_setopt(c, CURLOPT_CRLFILE, h->crl_file);
    if (h->cert_file && h->key) {
        curl_easy_setopt(c, CURLOPT_SSL_CTX_FUNCTION, on_ssl_ctx);
        curl_easy_setopt(c, CURLOPT_SSL_CTX_DATA, (void *)h);
    }
}

char *edge_http_get(const edge_http *h, const char *path, const char *what)
{
    CURL *c = curl_easy_init();
    char url[1024];
    buf_t b = {0};
    long status = 0;
    CURLcode rc;

    if (c == NULL)
        return NULL;
    snprintf(url, sizeof(url), "%s%s", h->base_url, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    setup_tls(c, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if ((rc = curl_easy_perform(c)) != CURLE_OK)
        fprintf(stderr, "edge-client: %s: GET %s failed: %s\n", what, url, curl_easy_strerror(rc));
    else if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status), status != 200)
        fprintf(stderr, "edge-client: %s: GET %s: HTTP %ld\n", what, url, status);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK || status != 200) {
        free(b.data);
        return NULL;
    }
    return b.data;
}

json_t *edge_http_post(const edge_http *h, const char *path, json_t *body, const char *what)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
    char url[1024], *text = json_dumps(body, JSON_COMPACT);
    buf_t b = {0};
    long status = 0;
    json_t *data = NULL;
    CURLcode rc;

    if (c == NULL || hdr == NULL || text == NULL)
        goto done;
    snprintf(url, sizeof(url), "%s%s", h->base_url, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, text);
    setup_tls(c, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    if ((rc = curl_easy_perform(c)) != CURLE_OK) {
        fprintf(stderr, "edge-client: %s: %s %s failed: %s\n", what, "POST", url,
                curl_easy_strerror(rc));
        goto done;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    data = parse_reply(&b, status, what);
done:
    if (text) {
        OPENSSL_cleanse(text, strlen(text)); /* may hold a CSR or a signature */
        free(text);
    }
    if (b.data) {
        OPENSSL_cleanse(b.data, b.len); /* may hold the deviceSecret */
        free(b.data);
    }
    curl_slist_free_all(hdr);
    curl_easy_cleanup(c);
    return data;
}

void edge_sha256_hex(const char *s, size_t len, char out[65])
{
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)s, len, md);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++)
        snprintf(out + 2 * i, 3, "%02X", md[i]);
    OPENSSL_cleanse(md, sizeof(md));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int append(char **acc, size_t *len, const char *s)
{
    size_t n = strlen(s);
    char *d = realloc(*acc, *len + n + 1);
    if (d == NULL)
        return -1;
    memcpy(d + *len, s, n + 1);
    *acc = d;
    *len += n;
    return 0;
}

int edge_sign(json_t *params, const char *secret, char out[65])
{
    const char *keys[32], *k;
    size_t n = 0, len = 0;
    json_t *v;
    char *acc = NULL, num[32];
    int rc = 0;

    json_object_foreach(params, k, v)
    {
        if (strcmp(k, "sign") != 0 && n < 32)
            keys[n++] = k;
    }
    qsort(keys, n, sizeof(keys[0]), cmp_str);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        v = json_object_get(params, keys[i]);
        rc = append(&acc, &len, keys[i]);
        if (rc == 0 && json_is_integer(v)) {
            snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(v));
            rc = append(&acc, &len, num);
        } else if (rc == 0) {
            rc = append(&acc, &len, json_string_value(v) ? json_string_value(v) : "");
        }
    }
    if (rc == 0)
        rc = append(&acc, &len, secret);
    if (rc == 0)
        edge_sha256_hex(acc, len, out);
    if (acc) {
        OPENSSL_cleanse(acc, len);
        free(acc);
    }
    return rc;
}
