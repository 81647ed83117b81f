/* edge-client: the device's configuration file.
 *
 * "key = value" lines, '#' comments. Keys: hub_url, mqtt_host, mqtt_port,
 * ca_file, crl_file, product_key, product_secret, device_key (the SN),
 * key_type (rsa2048 | ec-p256), data_dir, token, label, edgekey_cli,
 * interval_ms, valid_days. The caller owns the struct; edge_config_free
 * wipes the product secret. Errors are printed to stderr with the line. */
#ifndef EDGE_CONFIG_H
#define EDGE_CONFIG_H

typedef struct {
    char *hub_url;        /* https://localhost:8443 */
    char *mqtt_host;      /* host name checked against the broker certificate */
    int mqtt_port;        /* 8883 */
    char *ca_file;        /* hub CA chain (PEM): trust anchor for API and broker */
    char *crl_file;       /* optional CRL (PEM), checked if present */
    char *product_key;
    char *product_secret; /* factory-burnt; never printed */
    char *device_key;     /* the SN, also the certificate CN */
    char *key_type;       /* rsa2048 (default) or ec-p256 */
    char *data_dir;       /* device secret, certificate, state */
    char *token;          /* edgekey token (default edge) */
    char *label;          /* key label (default device) */
    char *edgekey_cli;    /* the edgekey CLI for delete (default "edgekey" on PATH) */
    int interval_ms;      /* telemetry period (default 200) */
    int valid_days;       /* asked certificate validity (default 365) */
} edge_config;

/* 0 on success, -1 (message on stderr) on a missing file, a bad line or a
 * missing required key. */
int edge_config_load(const char *path, edge_config *c);
void edge_config_free(edge_config *c);

#endif
