/* hub_devsim: simulated edge devices for the hub benchmark and the kill -9
 * test. Each device: activate (HTTPS), software EC P-256 key + CSR, apply,
 * MQTT connect with the EnOS login and its certificate, publish messages. */
#ifndef DEVSIM_H
#define DEVSIM_H

#include <stdio.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

typedef struct sim_cfg {
    const char *api;   /* https://localhost:PORT */
    const char *ca;    /* CA chain PEM */
    const char *token; /* admin token (registration) */
    const char *pk, *psecret;
    const char *prefix; /* device keys: prefix + index */
    const char *mqtt_host;
    int mqtt_port;
    int devices, messages, threads;
    int register_devices; /* pre-register through the admin API */
    FILE *log;            /* "ACT dk secret" / "CERT dk serial" lines */
} sim_cfg;

typedef struct sim_dev {
    char dk[64];
    char secret[65];
    char serial[41];
    EVP_PKEY *key;
    X509 *cert;
    struct mosquitto *mosq;
    void *ssl_ctx;
    int acked, connected;
} sim_dev;

/* HTTP (devsim_http.c); each returns 0 on success. */
int sim_register(CURL *c, const sim_cfg *cfg, sim_dev *d);
int sim_activate(CURL *c, const sim_cfg *cfg, sim_dev *d);
int sim_apply(CURL *c, const sim_cfg *cfg, sim_dev *d);
CURL *sim_curl(const sim_cfg *cfg);

/* MQTT (devsim_mqtt.c). */
int sim_connect(const sim_cfg *cfg, sim_dev *d);
int sim_publish(const sim_cfg *cfg, sim_dev *d);
void sim_disconnect(sim_dev *d);

double sim_now(void);

#endif
