/* edgekey hub: configuration file. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "hub_util.h"

void hub_path(const hub_config *cfg, const char *rel, char *out, size_t outsize)
{
    snprintf(out, outsize, "%s/%s", cfg->dir, rel);
}

static void defaults(hub_config *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->dir, sizeof(c->dir), "/var/lib/edgekey-hub");
    snprintf(c->ca_key_mode, sizeof(c->ca_key_mode), "tpm");
    snprintf(c->hub_key_mode, sizeof(c->hub_key_mode), "tpm");
    snprintf(c->hostnames, sizeof(c->hostnames), "localhost,127.0.0.1");
    snprintf(c->api_addr, sizeof(c->api_addr), "127.0.0.1");
    c->api_port = 8443;
    c->api_threads = 4;
    snprintf(c->mqtt_host, sizeof(c->mqtt_host), "127.0.0.1");
    c->mqtt_port = 8883;
    c->crl_days = 7;
    c->renew_grace_s = 3600;
    c->ts_window_s = 300;
    snprintf(c->service_cn, sizeof(c->service_cn), "edgekey-hub-service");
    snprintf(c->broker_user, sizeof(c->broker_user), "mosquitto");
    snprintf(c->durability, sizeof(c->durability), "full");
}

/* dst (HUB_PATH_MAX) = prefix dir suffix; "" if too long (then load fails
 * with a clear "cannot open" on the empty path). */
static void under_dir(const hub_config *c, char *dst, const char *prefix, const char *suffix)
{
    if (snprintf(dst, HUB_PATH_MAX, "%s%s%s", prefix, c->dir, suffix) >= HUB_PATH_MAX)
        dst[0] = '\0';
}

/* Fill the paths that default to places under dir. */
static void derive(hub_config *c)
{
    if (!c->registry[0])
        under_dir(c, c->registry, "sqlite:", "/hub.db");
    if (!c->ca_key[0])
        under_dir(c, c->ca_key, "", "/ca/issuing.key");
    if (!c->hub_key[0])
        under_dir(c, c->hub_key, "", "/hub/hub.key");
    if (!c->admin_token[0]) {
        /* written by init when the config file names no token */
        char p[HUB_PATH_MAX + 16];
        snprintf(p, sizeof(p), "%s/admin.token", c->dir);
        FILE *f = fopen(p, "r");
        if (f) {
            if (fgets(c->admin_token, sizeof(c->admin_token), f))
                c->admin_token[strcspn(c->admin_token, "\r\n")] = '\0';
            fclose(f);
        }
    }
    if (!c->crl_url[0])
        snprintf(c->crl_url, sizeof(c->crl_url), "https://localhost:%d/api/v1/crl", c->api_port);
}

#define STR(k, f)                                                                                  \
    {                                                                                              \
        k, offsetof(hub_config, f), sizeof(((hub_config *)0)->f), 0                                \
    }
#define INT(k, f)                                                                                  \
    {                                                                                              \
        k, offsetof(hub_config, f), 0, 1                                                           \
    }
static const struct {
    const char *key;
    size_t off, size;
    int is_int;
} fields[] = {
    STR("dir", dir),
    STR("registry", registry),
    STR("ca_key_mode", ca_key_mode),
    STR("hub_key_mode", hub_key_mode),
    STR("ca_key", ca_key),
    STR("hub_key", hub_key),
    STR("hostnames", hostnames),
    STR("api_addr", api_addr),
    INT("api_port", api_port),
    INT("api_threads", api_threads),
    STR("mqtt_host", mqtt_host),
    INT("mqtt_port", mqtt_port),
    STR("admin_token", admin_token),
    STR("crl_url", crl_url),
    INT("crl_days", crl_days),
    INT("renew_grace_s", renew_grace_s),
    INT("ts_window_s", ts_window_s),
    STR("service_cn", service_cn),
    STR("plugin_path", plugin_path),
    STR("broker_pid_file", broker_pid_file),
    STR("pkcs11_module", pkcs11_module),
    STR("api_key", api_key),
    STR("broker_user", broker_user),
    STR("durability", durability),
    STR("openssl_conf", openssl_conf),
    STR("ek_roots", ek_roots),
};

int hub_config_set(hub_config *cfg, const char *key, const char *value)
{
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (strcmp(fields[i].key, key) != 0)
            continue;
        char *dst = (char *)cfg + fields[i].off;
        if (fields[i].is_int) {
            char *end;
            errno = 0;
            long v = strtol(value, &end, 10);
            if (errno || *end || v < 0 || v > 100000000)
                return hub_fail("config %s: '%s' is not a number in 0..100000000", key, value);
            *(int *)(void *)dst = (int)v;
        } else if ((size_t)snprintf(dst, fields[i].size, "%s", value) >= fields[i].size) {
            return hub_fail("config %s: value longer than %zu characters", key, fields[i].size - 1);
        }
        return 0;
    }
    return hub_fail("config: unknown key '%s'; see docs/hub-api.md for the keys", key);
}

static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    char *e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

int hub_config_load(const char *path, hub_config *cfg)
{
    defaults(cfg);
    if (!path)
        path = getenv("EDGEKEY_HUB_CONF");
    if (!path)
        path = HUB_DEFAULT_CONF;
    snprintf(cfg->conf_path, sizeof(cfg->conf_path), "%s", path);
    FILE *f = fopen(path, "r");
    if (!f) {
        /* Refused rather than defaulted: a typo in --config would otherwise
         * surface later as a registry or CA error far from its cause. */
        if (errno == ENOENT)
            return hub_fail("config file %s does not exist; create it (at least 'dir = "
                            "/var/lib/edgekey-hub'; keys in docs/hub-api.md) or name yours "
                            "with --config FILE or EDGEKEY_HUB_CONF",
                            path);
        return hub_fail("config file %s cannot be read: %s; check its owner and mode (the hub "
                        "user needs read access)",
                        path, strerror(errno));
    }
    char line[2048];
    unsigned lineno = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof(line), f)) {
        lineno++;
        char *s = trim(line);
        if (!*s || *s == '#')
            continue;
        char *eq = strchr(s, '=');
        if (!eq) {
            rc = hub_fail("config %s:%u: expected 'key = value'", path, lineno);
            break;
        }
        *eq = '\0';
        char msg[HUB_ERR_MAX];
        if (hub_config_set(cfg, trim(s), trim(eq + 1)) != 0) {
            snprintf(msg, sizeof(msg), "%s", hub_err());
            rc = hub_fail("%s:%u: %s", path, lineno, msg);
        }
    }
    /* a directory opens but does not read (EISDIR): not an empty config */
    if (rc == 0 && ferror(f))
        rc = hub_fail("config file %s cannot be read: %s; name the configuration file itself", path,
                      strerror(errno));
    fclose(f);
    derive(cfg);
    return rc;
}
