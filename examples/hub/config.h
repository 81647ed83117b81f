/* edgekey hub: configuration file (key = value lines, '#' comments).
 *
 * Every path defaults to a place under `dir`; see docs/hub-api.md for the
 * keys. hub_config_load() with path NULL uses $EDGEKEY_HUB_CONF, else
 * /etc/edgekey/hub.conf; a missing or unreadable file is an error naming
 * it (-1, hub_err()). */
#ifndef HUB_CONFIG_H
#define HUB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#define HUB_PATH_MAX 1024
#define HUB_DEFAULT_CONF "/etc/edgekey/hub.conf"

typedef struct hub_config {
    char conf_path[HUB_PATH_MAX];
    char dir[HUB_PATH_MAX];      /* state directory */
    char registry[HUB_PATH_MAX]; /* sqlite:/dir/hub.db */
    char ca_key_mode[16];        /* tpm | file (init) */
    char hub_key_mode[16];       /* tpm | file (init) */
    char ca_key[HUB_PATH_MAX];   /* issuing CA key address */
    char hub_key[HUB_PATH_MAX];  /* hub TLS key address (file or pkcs11:) */
    char hostnames[512];         /* comma list for the hub cert's SAN */
    char api_addr[64];
    int api_port;
    int api_threads;
    char mqtt_host[256];
    int mqtt_port;
    char admin_token[128];
    char crl_url[512];                  /* CRL distribution point */
    int crl_days;                       /* nextUpdate - thisUpdate */
    int renew_grace_s;                  /* superseded -> revoked after this */
    int ts_window_s;                    /* accepted clock skew for signed requests */
    char service_cn[64];                /* the hub service's MQTT identity */
    char plugin_path[HUB_PATH_MAX];     /* edgekey_auth.so */
    char broker_pid_file[HUB_PATH_MAX]; /* SIGHUP after each CRL (optional) */
    char api_key[HUB_PATH_MAX];         /* API key: PEM file or pkcs11: URI ("" = hub_key) */
    char pkcs11_module[HUB_PATH_MAX];   /* for a pkcs11: api_key */
    char durability[16];                /* full (fsync per commit) | normal */
    char broker_user[64];               /* mosquitto "user" line in the broker config */
    char openssl_conf[HUB_PATH_MAX];    /* written by init for the broker */
    char ek_roots[HUB_PATH_MAX];        /* PEM bundle of trusted EK roots ("" = no attestation) */
} hub_config;

int hub_config_load(const char *path, hub_config *cfg);
/* Set one key (also used for --set overrides); -1 for an unknown key. */
int hub_config_set(hub_config *cfg, const char *key, const char *value);
/* A path under cfg->dir into out. */
void hub_path(const hub_config *cfg, const char *rel, char *out, size_t outsize);

#endif
