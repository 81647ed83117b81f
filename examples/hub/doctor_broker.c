/* edgekey-hub doctor: the broker configuration that init writes
 * (broker_conf.c) exists and agrees with the hub configuration. */
#include "doctor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "hub_util.h"

#ifndef HUB_PLUGIN_DEFAULT
#define HUB_PLUGIN_DEFAULT "/usr/local/lib/edgekey/edgekey_auth.so"
#endif

typedef struct expect {
    const char *key;
    char want[HUB_PATH_MAX + 64];
    bool is_file; /* the value names a file that must exist */
} expect;

/* The value of "key value" in conf (first occurrence) into out; -1 if absent. */
static int conf_value(const char *conf, const char *key, char *out, size_t size)
{
    size_t klen = strlen(key);
    for (const char *l = conf; l && *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
        if (strncmp(l, key, klen) != 0 || l[klen] != ' ')
            continue;
        const char *v = l + klen + 1, *e = strchr(v, '\n');
        size_t n = e ? (size_t)(e - v) : strlen(v);
        snprintf(out, size, "%.*s", (int)(n < size ? n : size - 1), v);
        return 0;
    }
    return -1;
}

static void fill_expect(const hub_config *cfg, expect *e)
{
    /* every node's issuing CA and CRL, as broker_conf.c writes them */
    hub_path(cfg, "ca/cas.pem", e[0].want, sizeof(e[0].want));
    hub_path(cfg, "hub/hub-chain.pem", e[1].want, sizeof(e[1].want));
    snprintf(e[2].want, sizeof(e[2].want), "%s", cfg->hub_key);
    hub_path(cfg, "ca/crls.pem", e[3].want, sizeof(e[3].want));
    snprintf(e[4].want, sizeof(e[4].want), "%s",
             cfg->plugin_path[0] ? cfg->plugin_path : HUB_PLUGIN_DEFAULT);
    snprintf(e[5].want, sizeof(e[5].want), "%s", cfg->registry);
    snprintf(e[6].want, sizeof(e[6].want), "%d %s", cfg->mqtt_port, cfg->mqtt_host);
    snprintf(e[7].want, sizeof(e[7].want), "%s", cfg->service_cn);
}

/* Each disagreement appended to msg ("; "-separated). Returns their count. */
static int compare(const char *conf, const expect *e, size_t n, char *msg, size_t size)
{
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        char have[HUB_PATH_MAX + 64];
        size_t used = strlen(msg);
        const char *sep = bad ? "; " : "";
        if (conf_value(conf, e[i].key, have, sizeof(have)) != 0)
            snprintf(msg + used, size - used, "%s'%s' missing (want %s)", sep, e[i].key, e[i].want);
        else if (strcmp(have, e[i].want) != 0)
            snprintf(msg + used, size - used, "%s%s is %s, hub config gives %s", sep, e[i].key,
                     have, e[i].want);
        else if (e[i].is_file && access(have, R_OK) != 0)
            snprintf(msg + used, size - used, "%s%s %s does not exist", sep, e[i].key, have);
        else
            continue;
        bad++;
    }
    return bad;
}

/* The hub key in the TPM: the broker needs init's openssl.cnf. */
static bool needs_openssl_cnf(const char *hub_key)
{
    char *pem = NULL;
    if (hub_read_file(hub_key, &pem, NULL) != 0)
        return strncmp(hub_key, "pkcs11:", 7) == 0 || strncmp(hub_key, "handle:", 7) == 0;
    bool tpm = strstr(pem, "TSS2 PRIVATE KEY") || strstr(pem, "EDGEKEY URI");
    free(pem);
    return tpm;
}

/* A hand-written config without set_tcp_nodelay works, but slowly: Nagle
 * holds each CONNACK ~40 ms (docs/scaling.md). init writes it. */
static void warn_nodelay(doc_report *rep, const char *path, const char *have)
{
    doc_fix(doc_add(rep, "broker-conf", DOC_WARN,
                    "%s agrees with the hub config, but set_tcp_nodelay is %s: each MQTT "
                    "connect waits ~40 ms for Nagle before its CONNACK",
                    path, have[0] ? have : "not set (mosquitto's default, false)"),
            "add the line 'set_tcp_nodelay true' to %s (or edgekey-hub %sinit, which rewrites "
            "it), then restart the broker",
            path, rep->conf_arg);
}

void doc_check_broker(const hub_config *cfg, doc_report *rep)
{
    expect e[] = {{"cafile", "", true},    {"certfile", "", true},
                  {"keyfile", "", true},   {"crlfile", "", true},
                  {"plugin", "", true},    {"plugin_opt_registry", "", false},
                  {"listener", "", false}, {"plugin_opt_service_cn", "", false}};
    char path[HUB_PATH_MAX], cnf[HUB_PATH_MAX], fix[DOC_TEXT_MAX], msg[DOC_TEXT_MAX] = "";
    hub_path(cfg, "broker/mosquitto.conf", path, sizeof(path));
    hub_path(cfg, "broker/openssl.cnf", cnf, sizeof(cnf));
    snprintf(fix, sizeof(fix),
             "edgekey-hub %sinit (rewrites %s from the hub config, keeps keys and "
             "certificates), then restart the broker",
             rep->conf_arg, path);
    char *conf = NULL;
    if (hub_read_file(path, &conf, NULL) != 0) {
        doc_fix(doc_add(rep, "broker-conf", DOC_FAIL, "%s is missing or unreadable", path), "%s",
                fix);
        return;
    }
    fill_expect(cfg, e);
    int bad = compare(conf, e, sizeof(e) / sizeof(e[0]), msg, sizeof(msg));
    char nodelay[16] = "";
    conf_value(conf, "set_tcp_nodelay", nodelay, sizeof(nodelay));
    free(conf);
    if (!bad && needs_openssl_cnf(cfg->hub_key) && access(cnf, R_OK) != 0) {
        snprintf(msg, sizeof(msg), "the hub key is in the TPM but %s is missing", cnf);
        bad = 1;
    }
    if (bad)
        doc_fix(doc_add(rep, "broker-conf", DOC_FAIL, "%s: %s", path, msg), "%s", fix);
    else if (strcmp(nodelay, "true") != 0)
        warn_nodelay(rep, path, nodelay);
    else
        doc_add(rep, "broker-conf", DOC_PASS,
                "%s agrees with the hub config (CA bundle, CRL, key, plugin, registry, "
                "listener %s)",
                path, e[6].want);
}
