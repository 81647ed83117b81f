/* edge-client: MQTT session, telemetry and commands (see mqtt.h). */
#include "mqtt.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <mosquitto.h>
#include <openssl/crypto.h>

#include "enroll.h"
#include "http.h"

typedef struct {
    const edge_mqtt_opts *o;
    struct mosquitto *m;
    char prefix[300]; /* /sys/{pk}/{dk}/thing */
    int connack;      /* -1 waiting, else CONNACK code */
    int connected;
    int dropped;
    int acked, replies, commands;
} session;

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
    session *s = ud;
    char sub[340];
    s->connack = rc;
    if (rc != 0)
        return;
    s->connected = 1;
    snprintf(sub, sizeof(sub), "%s/service/#", s->prefix);
    mosquitto_subscribe(m, NULL, sub, 1);
    snprintf(sub, sizeof(sub), "%s/measurepoint/post_reply", s->prefix);
    mosquitto_subscribe(m, NULL, sub, 1);
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc)
{
    session *s = ud;
    (void)m;
    if (s->connected && rc != 0)
        s->dropped = 1;
    s->connected = 0;
}

static void on_publish(struct mosquitto *m, void *ud, int mid)
{
    session *s = ud;
    (void)m;
    (void)mid;
    s->acked++;
}

static void answer_command(session *s, const char *topic, const char *payload, int len)
{
    json_error_t err;
    json_t *req = json_loadb(payload, (size_t)len, 0, &err), *id, *reply;
    const char *service = topic + strlen(s->prefix) + strlen("/service/");
    char rt[400], *text;

    id = json_object_get(req, "id");
    reply = json_pack("{s:O?, s:i, s:{s:s, s:O?}}", "id", id, "code", req ? 200 : 400, "data",
                      "service", service, "params", json_object_get(req, "params"));
    text = json_dumps(reply, JSON_COMPACT);
    snprintf(rt, sizeof(rt), "%s_reply", topic);
    if (text && mosquitto_publish(s->m, NULL, rt, (int)strlen(text), text, 1, false) == MOSQ_ERR_SUCCESS)
        printf("edge: command '%s' id %s received, replied code %d on %s\n", service,
               json_string_value(id) ? json_string_value(id) : "?", req ? 200 : 400, rt);
    fflush(stdout);
    s->commands++;
    free(text);
    json_decref(reply);
    json_decref(req);
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    session *s = ud;
    size_t tl = strlen(msg->topic), pl = strlen(s->prefix);
    (void)m;
    if (tl > 6 && strcmp(msg->topic + tl - 6, "_reply") == 0) {
        if (strcmp(msg->topic + pl, "/measurepoint/post_reply") == 0)
            s->replies++;
        return; /* our own command replies come back through service/# */
    }
    if (strncmp(msg->topic, s->prefix, pl) == 0 && strncmp(msg->topic + pl, "/service/", 9) == 0)
        answer_command(s, msg->topic, msg->payload, msg->payloadlen);
}

/* One connection attempt with a fresh EnOS login: 0 connected, else the
 * CONNACK code (> 0) or -1 for a transport/TLS failure. */
static int connect_once(session *s)
{
    const edge_config *c = s->o->cfg;
    char cid[256], user[300], pw[65], *sig;
    long long ts = edge_now_ms();
    int n, rc;

    snprintf(cid, sizeof(cid), "%s|securemode=2,signmethod=sha256,timestamp=%lld|", c->device_key, ts);
    snprintf(user, sizeof(user), "%s&%s", c->device_key, c->product_key);
    if ((sig = OPENSSL_zalloc(4096)) == NULL)
        return -1;
    n = snprintf(sig, 4096, "clientId%sdeviceKey%sproductKey%stimestamp%lld%s", c->device_key,
                 c->device_key, c->product_key, ts, s->o->secret);
    edge_sha256_hex(sig, (size_t)n, pw);
    OPENSSL_clear_free(sig, 4096);

    mosquitto_destroy(s->m);
    s->m = mosquitto_new(cid, true, s);
    if (s->m == NULL)
        return -1;
    mosquitto_int_option(s->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_int_option(s->m, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
    mosquitto_void_option(s->m, MOSQ_OPT_SSL_CTX, s->o->ctx);
    mosquitto_username_pw_set(s->m, user, pw);
    OPENSSL_cleanse(pw, sizeof(pw));
    mosquitto_connect_callback_set(s->m, on_connect);
    mosquitto_disconnect_callback_set(s->m, on_disconnect);
    mosquitto_publish_callback_set(s->m, on_publish);
    mosquitto_message_callback_set(s->m, on_message);
    s->connack = -1;
    s->connected = s->dropped = 0;
    if ((rc = mosquitto_connect(s->m, c->mqtt_host, c->mqtt_port, 30)) != MOSQ_ERR_SUCCESS) {
        fprintf(stderr, "edge-client: MQTT connect to %s:%d failed: %s\n", c->mqtt_host,
                c->mqtt_port, mosquitto_strerror(rc));
        return -1;
    }
    for (int i = 0; i < 100 && s->connack < 0 && !stop_flag; i++)
        if (mosquitto_loop(s->m, 100, 1) != MOSQ_ERR_SUCCESS)
            break;
    if (s->connack < 0) {
        fprintf(stderr, "edge-client: MQTT session to %s:%d not established (TLS refused or closed)\n",
                c->mqtt_host, c->mqtt_port);
        return -1;
    }
    if (s->connack > 0)
        fprintf(stderr, "edge-client: MQTT login refused: %s\n", mosquitto_connack_string(s->connack));
    return s->connack;
}

/* Loop for ms milliseconds (or until stop/drop). */
static void pump(session *s, int ms)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    do {
        if (mosquitto_loop(s->m, 50, 1) != MOSQ_ERR_SUCCESS && !s->dropped) {
            s->dropped = 1;
            s->connected = 0;
        }
        clock_gettime(CLOCK_MONOTONIC, &t);
    } while (!stop_flag && !s->dropped && (t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < ms);
}

static int send_telemetry(session *s)
{
    const edge_config *c = s->o->cfg;
    char topic[340], msg[512];
    snprintf(topic, sizeof(topic), "%s/measurepoint/post", s->prefix);
    for (int i = 1; i <= s->o->count && !stop_flag && !s->dropped; i++) {
        snprintf(msg, sizeof(msg),
                 "{\"id\":\"%d\",\"version\":\"1.0\",\"method\":\"thing.measurepoint.post\","
                 "\"params\":{\"measurepoints\":{\"temp\":%.1f,\"seq\":%d},\"time\":%lld}}",
                 i, 20.0 + i * 0.5, i, edge_now_ms());
        if (mosquitto_publish(s->m, NULL, topic, (int)strlen(msg), msg, 1, false) != MOSQ_ERR_SUCCESS)
            return -1;
        pump(s, c->interval_ms);
    }
    for (int i = 0; i < 50 && !s->dropped && (s->acked < s->o->count || s->replies < s->o->count); i++)
        pump(s, 100);
    printf("edge: telemetry %d/%d acknowledged (PUBACK), %d hub replies on %s_reply\n", s->acked,
           s->o->count, s->replies, topic);
    fflush(stdout);
    return s->acked == s->o->count ? 0 : -1;
}

/* After a drop: up to 3 reconnects with fresh logins. */
static int reconnect(session *s)
{
    for (int i = 1; i <= 3 && !stop_flag; i++) {
        sleep(1);
        if (connect_once(s) == 0) {
            printf("edge: reconnected (attempt %d)\n", i);
            fflush(stdout);
            return 0;
        }
    }
    printf("edge: reconnect refused by the broker (3 attempts)\n");
    fflush(stdout);
    return -1;
}

int edge_mqtt_run(const edge_mqtt_opts *o)
{
    session s = {.o = o};
    int rc = EDGE_MQTT_OK;

    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    mosquitto_lib_init();
    snprintf(s.prefix, sizeof(s.prefix), "/sys/%s/%s/thing", o->cfg->product_key, o->cfg->device_key);
    if (connect_once(&s) != 0) {
        rc = EDGE_MQTT_FAILED;
        goto done;
    }
    printf("edge: MQTT connected to %s:%d with mutual TLS (TPM key) as %s&%s\n", o->cfg->mqtt_host,
           o->cfg->mqtt_port, o->cfg->device_key, o->cfg->product_key);
    fflush(stdout);
    if (send_telemetry(&s) != 0) {
        rc = EDGE_MQTT_FAILED;
        goto done;
    }
    while (!o->once && !stop_flag && (o->max_commands == 0 || s.commands < o->max_commands)) {
        pump(&s, 1000);
        if (s.dropped) {
            printf("edge: session dropped by the broker\n");
            fflush(stdout);
            if (reconnect(&s) != 0) {
                rc = EDGE_MQTT_REFUSED;
                break;
            }
        }
    }
    pump(&s, 200); /* let the last reply go out */
    if (s.connected)
        mosquitto_disconnect(s.m);
done:
    mosquitto_destroy(s.m);
    mosquitto_lib_cleanup();
    return rc;
}
