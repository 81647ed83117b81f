/* edge-client: the device's configuration file.
 *
 * "key = value" lines, '#' comments. Keys: hub_url, mqtt_host, mqtt_port,
 * ca_file, crl_file, product_key, product_secret, device_key (the SN),
 * key_type (rsa2048 | ec-p256), data_dir, token, label, edgekey_cli,
 * interval_ms (0: as fast as the source), valid_days, attestation; the session keys
 * telemetry, log, log_level, queue_ack, queue_sync, reconnect_min_ms,
 * reconnect_max_ms, reconnect_refusals, reply_timeout_ms, max_inflight, queue_max,
 * renew_fraction (docs/edge-client.md). The caller owns the struct; edge_config_free
 * wipes the product secret. Errors are printed to stderr with the line. */
#ifndef EDGE_CONFIG_H
#define EDGE_CONFIG_H

typedef struct {
    char *hub_url;   /* https://localhost:8443 */
    char *mqtt_host; /* host name checked against the broker certificate */
    int mqtt_port;   /* 8883 */
    char *ca_file;   /* hub CA chain (PEM): trust anchor for API and broker */
    char *crl_file;  /* optional CRL (PEM), checked if present */
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
    char *attestation;    /* auto (default: attest when the TPM has an EK certificate) | off */
    /* trust side (secret.c, clock.c, trust.c) */
    char *pkcs11_module; /* PKCS#11 module holding the sealed deviceSecret */
    char *pkcs11_pin;    /* user PIN if the token wants a login (edgekey's: none) */
    char *subject_c, *subject_st, *subject_o; /* optional CSR subject fields */
    int clock_tolerance_s; /* TPM clock ahead of wall time by more: rollback (300) */
    int clock_drift_pct;   /* + this % of the time passed: TPM oscillator drift (5) */
    int trust_refresh_s;   /* CA chain + CRL refresh period (3600) */
    /* session side (docs/edge-client.md "Session"): */
    char *telemetry;        /* simulated (default) | file:PATH | exec:CMD */
    char *log;              /* stderr (default) | syslog */
    char *log_level;        /* error | warn | info (default) | debug */
    char *queue_ack;        /* reply (default: PUBACK + hub post_reply) | puback */
    char *queue_sync;       /* full (default: fsync per message) | normal */
    int reconnect_min_ms;   /* first reconnect delay (default 500) */
    int reconnect_max_ms;   /* backoff cap (default 30000) */
    int reconnect_refusals; /* refused logins in a row before exit 4 (default 3) */
    int reply_timeout_ms;   /* resend when no PUBACK/reply after this (default 10000) */
    int max_inflight;       /* messages published but not yet acknowledged (default 32) */
    int queue_max;          /* readings kept while the hub is away; oldest dropped (100000) */
    double renew_fraction;  /* renew when this fraction of the validity is left (1/3) */
} edge_config;

/* 0 on success, -1 (message on stderr) on a missing file, a bad line or a
 * missing required key. */
int edge_config_load(const char *path, edge_config *c);
void edge_config_free(edge_config *c);

#endif
