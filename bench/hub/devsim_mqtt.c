/* hub_devsim: MQTT steps (libmosquitto with the device's own SSL_CTX). */
#include <arpa/inet.h>
#include <errno.h>
#include <mosquitto.h>
#include <string.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include "devsim.h"
#include "hub_util.h"
#include "mqtt_login.h"

static void on_connect(struct mosquitto *m, void *arg, int rc)
{
    (void)m;
    sim_dev *d = arg;
    d->connected = rc == 0 ? 1 : -1;
}

static void on_publish(struct mosquitto *m, void *arg, int mid)
{
    (void)m, (void)mid;
    ((sim_dev *)arg)->acked++;
}

static SSL_CTX *device_ctx(const sim_cfg *cfg, sim_dev *d)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    struct in_addr ip;
    if (!ctx || !SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) ||
        !SSL_CTX_load_verify_locations(ctx, cfg->ca, NULL) ||
        !SSL_CTX_use_certificate(ctx, d->cert) || !SSL_CTX_use_PrivateKey(ctx, d->key)) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    X509_VERIFY_PARAM *vp = SSL_CTX_get0_param(ctx);
    if (inet_pton(AF_INET, cfg->mqtt_host, &ip) == 1)
        X509_VERIFY_PARAM_set1_ip_asc(vp, cfg->mqtt_host);
    else
        X509_VERIFY_PARAM_set1_host(vp, cfg->mqtt_host, 0);
    return ctx;
}

int sim_connect(const sim_cfg *cfg, sim_dev *d)
{
    char cid[256], user[160], pw[65];
    int64_t ts = hub_now_ms();
    hub_mqtt_clientid(d->dk, ts, cid, sizeof(cid));
    snprintf(user, sizeof(user), "%s&%s", d->dk, cfg->pk);
    hub_mqtt_password(d->dk, d->dk, cfg->pk, ts, d->secret, pw);
    d->ssl_ctx = device_ctx(cfg, d);
    d->mosq = d->ssl_ctx ? mosquitto_new(cid, true, d) : NULL;
    if (!d->mosq)
        return -1;
    /* our SSL_CTX as is: libmosquitto would otherwise want its own CA settings */
    mosquitto_int_option(d->mosq, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
    mosquitto_void_option(d->mosq, MOSQ_OPT_SSL_CTX, d->ssl_ctx);
    mosquitto_username_pw_set(d->mosq, user, pw);
    mosquitto_connect_callback_set(d->mosq, on_connect);
    mosquitto_publish_callback_set(d->mosq, on_publish);
    d->connected = 0;
    int rc = mosquitto_connect(d->mosq, cfg->mqtt_host, cfg->mqtt_port, 120);
    if (rc != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "hub_devsim: %s: MQTT connect: %s\n", d->dk,
                rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        return -1;
    }
    double end = sim_now() + 30;
    while (d->connected == 0 && sim_now() < end)
        if (mosquitto_loop(d->mosq, 50, 1) != MOSQ_ERR_SUCCESS)
            break;
    if (d->connected != 1)
        fprintf(stderr, "hub_devsim: %s: MQTT login refused or timed out\n", d->dk);
    return d->connected == 1 ? 0 : -1;
}

int sim_publish(const sim_cfg *cfg, sim_dev *d)
{
    char topic[256], msg[256];
    snprintf(topic, sizeof(topic), "/sys/%s/%s/thing/measurepoint/post", cfg->pk, d->dk);
    d->acked = 0;
    for (int i = 0; i < cfg->messages; i++) {
        int n = snprintf(msg, sizeof(msg),
                         "{\"id\":\"%d\",\"version\":\"1.0\",\"method\":"
                         "\"thing.measurepoint.post\",\"params\":{\"measurepoints\":"
                         "{\"temp\":%d.5},\"time\":%lld}}",
                         i, 20 + i, (long long)hub_now_ms());
        if (mosquitto_publish(d->mosq, NULL, topic, n, msg, 1, false) != MOSQ_ERR_SUCCESS)
            return -1;
    }
    double end = sim_now() + 30;
    while (d->acked < cfg->messages && sim_now() < end)
        if (mosquitto_loop(d->mosq, 50, 1) != MOSQ_ERR_SUCCESS)
            return -1;
    return d->acked == cfg->messages ? 0 : -1;
}

void sim_disconnect(sim_dev *d)
{
    if (d->mosq) {
        mosquitto_disconnect(d->mosq);
        mosquitto_loop(d->mosq, 10, 1);
        mosquitto_destroy(d->mosq);
        d->mosq = NULL;
    }
    SSL_CTX_free(d->ssl_ctx);
    d->ssl_ctx = NULL;
}
