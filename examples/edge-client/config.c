/* edge-client: configuration file parser (see config.h). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

static char *trim(char *s)
{
    char *e;
    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

static int set_int(const char *path, int line, const char *key, const char *v, int *out)
{
    char *end;
    long n = strtol(v, &end, 10);
    if (*v == '\0' || *end != '\0' || n < 0 || n > 1000000000) {
        fprintf(stderr, "edge-client: %s:%d: %s = '%s' is not a number; use a positive integer\n",
                path, line, key, v);
        return -1;
    }
    *out = (int)n;
    return 0;
}

/* The session keys (numbers): 0 set, 1 not one of them, -1 bad value. */
static int session_key(edge_config *c, const char *path, int line, const char *k, const char *v)
{
    struct {
        const char *name;
        int *slot;
    } ints[] = {
        {"reconnect_min_ms", &c->reconnect_min_ms},
        {"reconnect_max_ms", &c->reconnect_max_ms},
        {"reconnect_refusals", &c->reconnect_refusals},
        {"reply_timeout_ms", &c->reply_timeout_ms},
        {"max_inflight", &c->max_inflight},
        {"queue_max", &c->queue_max},
    };
    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++)
        if (strcmp(k, ints[i].name) == 0)
            return set_int(path, line, k, v, ints[i].slot);
    if (strcmp(k, "renew_fraction") == 0) {
        char *end;
        double f = strtod(v, &end);
        if (*v == '\0' || *end != '\0' || !(f > 0.0 && f < 1.0)) {
            fprintf(stderr,
                    "edge-client: %s:%d: renew_fraction = '%s' must be a number between 0 "
                    "and 1 (e.g. 0.333: renew when a third of the validity is left)\n",
                    path, line, v);
            return -1;
        }
        c->renew_fraction = f;
        return 0;
    }
    return 1;
}

static int set_key(edge_config *c, const char *path, int line, const char *k, const char *v)
{
    struct {
        const char *name;
        char **slot;
    } strs[] = {
        {"hub_url", &c->hub_url},
        {"mqtt_host", &c->mqtt_host},
        {"ca_file", &c->ca_file},
        {"crl_file", &c->crl_file},
        {"product_key", &c->product_key},
        {"product_secret", &c->product_secret},
        {"device_key", &c->device_key},
        {"key_type", &c->key_type},
        {"data_dir", &c->data_dir},
        {"token", &c->token},
        {"label", &c->label},
        {"edgekey_cli", &c->edgekey_cli},
        {"pkcs11_module", &c->pkcs11_module},
        {"pkcs11_pin", &c->pkcs11_pin},
        {"subject_c", &c->subject_c},
        {"subject_st", &c->subject_st},
        {"subject_o", &c->subject_o},
        {"telemetry", &c->telemetry},
        {"log", &c->log},
        {"log_level", &c->log_level},
        {"queue_ack", &c->queue_ack},
        {"queue_sync", &c->queue_sync},
        {"attestation", &c->attestation},
    };
    for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
        if (strcmp(k, strs[i].name) == 0) {
            free(*strs[i].slot);
            *strs[i].slot = strdup(v);
            return *strs[i].slot ? 0 : -1;
        }
    }
    if (strcmp(k, "mqtt_port") == 0)
        return set_int(path, line, k, v, &c->mqtt_port);
    if (strcmp(k, "interval_ms") == 0)
        return set_int(path, line, k, v, &c->interval_ms);
    if (strcmp(k, "valid_days") == 0)
        return set_int(path, line, k, v, &c->valid_days);
    if (strcmp(k, "clock_tolerance_s") == 0)
        return set_int(path, line, k, v, &c->clock_tolerance_s);
    if (strcmp(k, "trust_refresh_s") == 0)
        return set_int(path, line, k, v, &c->trust_refresh_s);
    if (strcmp(k, "clock_drift_pct") == 0)
        return set_int(path, line, k, v, &c->clock_drift_pct);
    int sk = session_key(c, path, line, k, v);
    if (sk != 1)
        return sk;
    fprintf(stderr, "edge-client: %s:%d: unknown key '%s'; see docs/edge-client.md\n", path, line,
            k);
    return -1;
}

static int session_defaults(edge_config *c)
{
    struct {
        char **slot;
        const char *v;
    } d[] = {
        {&c->telemetry, "simulated"}, {&c->log, "stderr"},      {&c->log_level, "info"},
        {&c->queue_ack, "reply"},     {&c->queue_sync, "full"},
    };
    for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
        if (*d[i].slot == NULL && (*d[i].slot = strdup(d[i].v)) == NULL)
            return -1;
    if (c->reconnect_min_ms == 0)
        c->reconnect_min_ms = 500;
    if (c->reconnect_max_ms == 0)
        c->reconnect_max_ms = 30000;
    if (c->reconnect_max_ms < c->reconnect_min_ms)
        c->reconnect_max_ms = c->reconnect_min_ms;
    if (c->reconnect_refusals == 0)
        c->reconnect_refusals = 3;
    if (c->reply_timeout_ms == 0)
        c->reply_timeout_ms = 10000;
    if (c->max_inflight == 0)
        c->max_inflight = 32;
    if (c->queue_max == 0)
        c->queue_max = 100000;
    if (c->renew_fraction == 0.0)
        c->renew_fraction = 1.0 / 3.0;
    return 0;
}

static int defaults(edge_config *c)
{
    struct {
        char **slot;
        const char *v;
    } d[] = {
        {&c->key_type, "rsa2048"},    {&c->token, "edge"},
        {&c->label, "device"},        {&c->edgekey_cli, "edgekey"},
        {&c->mqtt_host, "localhost"}, {&c->pkcs11_module, EDGE_DEFAULT_PKCS11_MODULE},
        {&c->attestation, "auto"},
    };
    for (size_t i = 0; i < sizeof(d) / sizeof(d[0]); i++)
        if (*d[i].slot == NULL && (*d[i].slot = strdup(d[i].v)) == NULL)
            return -1;
    if (c->mqtt_port == 0)
        c->mqtt_port = 8883;
    if (c->interval_ms < 0) /* 0 is valid: readings as fast as the source gives them */
        c->interval_ms = 200;
    if (c->valid_days == 0)
        c->valid_days = 365;
    if (c->clock_tolerance_s == 0)
        c->clock_tolerance_s = 300;
    if (c->trust_refresh_s == 0)
        c->trust_refresh_s = 3600;
    if (c->clock_drift_pct == 0)
        c->clock_drift_pct = 5;
    if (session_defaults(c) != 0)
        return -1;
    return 0;
}

static int check_required(const edge_config *c, const char *path)
{
    struct {
        const char *name;
        const char *v;
    } r[] = {
        {"hub_url", c->hub_url},         {"ca_file", c->ca_file},
        {"product_key", c->product_key}, {"product_secret", c->product_secret},
        {"device_key", c->device_key},   {"data_dir", c->data_dir},
    };
    for (size_t i = 0; i < sizeof(r) / sizeof(r[0]); i++) {
        if (r[i].v == NULL || *r[i].v == '\0') {
            fprintf(stderr, "edge-client: %s: '%s' is required; add '%s = ...'\n", path, r[i].name,
                    r[i].name);
            return -1;
        }
    }
    if (strcmp(c->attestation, "auto") != 0 && strcmp(c->attestation, "off") != 0) {
        fprintf(stderr, "edge-client: %s: attestation '%s' refused: use auto or off\n", path,
                c->attestation);
        return -1;
    }
    if (strcmp(c->key_type, "rsa2048") != 0 && strcmp(c->key_type, "ec-p256") != 0) {
        fprintf(stderr,
                "edge-client: %s: key_type '%s' refused: the hub accepts rsa2048 or "
                "ec-p256; use one of them\n",
                path, c->key_type);
        return -1;
    }
    return 0;
}

int edge_config_load(const char *path, edge_config *c)
{
    char buf[4096];
    int line = 0, rc = 0;
    FILE *f = fopen(path, "r");

    memset(c, 0, sizeof(*c));
    c->interval_ms = -1; /* unset */
    if (f == NULL) {
        fprintf(stderr, "edge-client: cannot open config %s: %s\n", path, strerror(errno));
        return -1;
    }
    while (rc == 0 && fgets(buf, sizeof(buf), f) != NULL) {
        char *s, *eq, *hash;
        line++;
        if ((hash = strchr(buf, '#')) != NULL)
            *hash = '\0';
        s = trim(buf);
        if (*s == '\0')
            continue;
        if ((eq = strchr(s, '=')) == NULL) {
            fprintf(stderr, "edge-client: %s:%d: expected 'key = value'\n", path, line);
            rc = -1;
            break;
        }
        *eq = '\0';
        rc = set_key(c, path, line, trim(s), trim(eq + 1));
    }
    OPENSSL_cleanse(buf, sizeof(buf));
    fclose(f);
    if (rc == 0)
        rc = defaults(c);
    if (rc == 0)
        rc = check_required(c, path);
    if (rc != 0)
        edge_config_free(c);
    return rc;
}

void edge_config_free(edge_config *c)
{
    if (c->product_secret)
        OPENSSL_cleanse(c->product_secret, strlen(c->product_secret));
    free(c->hub_url);
    free(c->mqtt_host);
    free(c->ca_file);
    free(c->crl_file);
    free(c->product_key);
    free(c->product_secret);
    free(c->device_key);
    free(c->key_type);
    free(c->attestation);
    free(c->data_dir);
    free(c->token);
    free(c->label);
    free(c->edgekey_cli);
    if (c->pkcs11_pin)
        OPENSSL_cleanse(c->pkcs11_pin, strlen(c->pkcs11_pin));
    free(c->pkcs11_module);
    free(c->pkcs11_pin);
    free(c->subject_c);
    free(c->subject_st);
    free(c->subject_o);
    free(c->telemetry);
    free(c->log);
    free(c->log_level);
    free(c->queue_ack);
    free(c->queue_sync);
    memset(c, 0, sizeof(*c));
}
