/* edgekey hub: MQTT cloud side (telemetry in, commands down, replies). */
#include "service.h"

#include <errno.h>
#include <mosquitto.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include "hub_util.h"

#define MAX_PENDING 64
/* Message ids are remembered this long: a device that was offline longer
 * than this with an answered-but-unacknowledged message may store it twice. */
#define DEDUP_WINDOW_MS (30LL * 24 * 3600 * 1000)

typedef struct pending {
    char id[32];
    char topic[400];
    json_t *reply;
    int used;
} pending;

struct hub_service {
    hub_ctx *ctx;
    hub_registry *reg; /* own handle, relaxed durability (telemetry) */
    struct mosquitto *m;
    bool telemetry;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int connected;
    long stored, duplicates, next_id;
    pthread_t thread;
    int thread_started;
    volatile int stopping;
    pending pend[MAX_PENDING];
};

static int split_topic(const char *topic, char *pk, char *dk, const char **rest)
{
    /* /sys/{pk}/{dk}/thing/... */
    if (strncmp(topic, "/sys/", 5) != 0)
        return -1;
    const char *a = topic + 5, *b = strchr(a, '/'), *c = b ? strchr(b + 1, '/') : NULL;
    if (!b || !c || b - a > HUB_KEY_MAX || c - b - 1 > HUB_KEY_MAX)
        return -1;
    memcpy(pk, a, (size_t)(b - a));
    pk[b - a] = '\0';
    memcpy(dk, b + 1, (size_t)(c - b - 1));
    dk[c - b - 1] = '\0';
    *rest = c;
    return 0;
}

static void reply_post(hub_service *s, const char *topic, const char *id, int code, const char *msg)
{
    char rt[512];
    snprintf(rt, sizeof(rt), "%s_reply", topic);
    json_t *j =
        json_pack("{s:s, s:i, s:o}", "id", id ? id : "", "code", code, "data", json_object());
    if (msg)
        json_object_set_new(j, "message", json_string(msg));
    char *txt = json_dumps(j, JSON_COMPACT);
    if (txt)
        mosquitto_publish(s->m, NULL, rt, (int)strlen(txt), txt, 1, false);
    free(txt);
    json_decref(j);
}

static void on_post(hub_service *s, const char *topic, const char *pk, const char *dk,
                    const char *payload, int len)
{
    json_t *j = json_loadb(payload, (size_t)len, 0, NULL);
    const char *id = json_string_value(json_object_get(j, "id"));
    json_t *params = json_object_get(j, "params");
    json_t *mps = json_object_get(params, "measurepoints");
    json_t *tv = json_object_get(params, "time");
    int64_t ts = json_is_integer(tv) ? json_integer_value(tv) : hub_now_ms();
    if (!json_is_object(mps)) {
        reply_post(s, topic, id, 400, "params.measurepoints must be an object");
        json_decref(j);
        return;
    }
    const char *point;
    json_t *v;
    int began = reg_begin(s->reg) == 0, err = !began, dup = 0;
    /* QoS 1 is at-least-once: a resend carries the same id (the edge's
     * queue seq) and is stored once; the reply is 200 again, so the edge
     * lets go of it. */
    if (began && id && *id && (dup = reg_telemetry_msg(s->reg, pk, dk, id)) < 0)
        err = 1;
    json_object_foreach(mps, point, v)
    {
        if (dup > 0)
            break;
        char *val = err ? NULL : json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!val || reg_telemetry_put(s->reg, pk, dk, point, val, ts) != 0)
            err = 1;
        free(val);
    }
    if (began && !err)
        err = reg_commit(s->reg) != 0;
    else if (began)
        reg_rollback(s->reg);
    if (!err) {
        pthread_mutex_lock(&s->lock);
        if (dup > 0)
            s->duplicates++;
        else
            s->stored++;
        int sweep = dup == 0 && s->stored % 10000 == 0;
        pthread_mutex_unlock(&s->lock);
        /* ids older than the de-duplication window are forgotten */
        if (sweep && reg_telemetry_msg_sweep(s->reg, hub_now_ms() - DEDUP_WINDOW_MS, NULL) != 0)
            hub_log("service: telemetry id sweep: %s", hub_err());
    }
    reply_post(s, topic, id, err ? 500 : 200,
               err       ? "storage failed"
               : dup > 0 ? "duplicate"
                         : NULL);
    json_decref(j);
}

static void on_reply(hub_service *s, const char *topic, const char *payload, int len)
{
    json_t *j = json_loadb(payload, (size_t)len, 0, NULL);
    const char *id = json_string_value(json_object_get(j, "id"));
    pthread_mutex_lock(&s->lock);
    for (int i = 0; id && i < MAX_PENDING; i++) {
        pending *p = &s->pend[i];
        if (p->used && !p->reply && strcmp(p->id, id) == 0 && strcmp(p->topic, topic) == 0) {
            p->reply = json_incref(j);
            pthread_cond_broadcast(&s->cond);
        }
    }
    pthread_mutex_unlock(&s->lock);
    json_decref(j);
}

static void on_message(struct mosquitto *m, void *arg, const struct mosquitto_message *msg)
{
    (void)m;
    hub_service *s = arg;
    char pk[HUB_KEY_MAX + 1], dk[HUB_KEY_MAX + 1];
    const char *rest;
    if (split_topic(msg->topic, pk, dk, &rest) != 0)
        return;
    size_t tl = strlen(msg->topic);
    if (s->telemetry && strcmp(rest, "/thing/measurepoint/post") == 0)
        on_post(s, msg->topic, pk, dk, msg->payload, msg->payloadlen);
    else if (tl > 6 && strcmp(msg->topic + tl - 6, "_reply") == 0)
        on_reply(s, msg->topic, msg->payload, msg->payloadlen);
}

static void on_connect(struct mosquitto *m, void *arg, int rc)
{
    hub_service *s = arg;
    if (rc != 0) {
        hub_log("service: broker refused the connection: %s", mosquitto_connack_string(rc));
        return;
    }
    if (s->telemetry)
        mosquitto_subscribe(m, NULL, "/sys/+/+/thing/measurepoint/post", 1);
    mosquitto_subscribe(m, NULL, "/sys/+/+/thing/service/#", 1);
    pthread_mutex_lock(&s->lock);
    s->connected = 1;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->lock);
}

static void on_disconnect(struct mosquitto *m, void *arg, int rc)
{
    (void)m, (void)rc;
    hub_service *s = arg;
    pthread_mutex_lock(&s->lock);
    s->connected = 0;
    pthread_mutex_unlock(&s->lock);
}

static void deadline(struct timespec *ts, int ms)
{
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* The network loop. Not mosquitto_loop_forever: it returns for good on a
 * TLS error (a broker killed mid-record), and the service would never
 * reconnect; this loop reconnects after every failure, 1..5 s apart. */
static void *service_loop(void *arg)
{
    hub_service *s = arg;
    int delay = 1, logged = 0;
    while (!s->stopping) {
        int rc = mosquitto_loop(s->m, 500, 1);
        if (rc == MOSQ_ERR_SUCCESS) {
            delay = 1;
            logged = 0;
            continue;
        }
        if (s->stopping)
            break;
        if (!logged++)
            hub_log("service: MQTT connection lost (%s); reconnecting", mosquitto_strerror(rc));
        sleep((unsigned)delay);
        if (delay < 5)
            delay++;
        if (!s->stopping)
            mosquitto_reconnect(s->m);
    }
    return NULL;
}

int hub_service_start(hub_ctx *ctx, bool telemetry, int wait_ms, hub_service **out)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, (void (*)(void))mosquitto_lib_init);
    hub_service *s = calloc(1, sizeof(*s));
    if (!s)
        return hub_fail("service: out of memory");
    s->ctx = ctx;
    s->telemetry = telemetry;
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    char cid[128], ca[HUB_PATH_MAX], crt[HUB_PATH_MAX], key[HUB_PATH_MAX];
    char rnd[9];
    hub_random_hex(4, rnd);
    snprintf(cid, sizeof(cid), "%s-%d-%s", ctx->cfg.service_cn, (int)getpid(), rnd);
    hub_path(&ctx->cfg, "ca/chain.pem", ca, sizeof(ca));
    hub_path(&ctx->cfg, "service/service.pem", crt, sizeof(crt));
    hub_path(&ctx->cfg, "service/service.key", key, sizeof(key));
    if (reg_open(ctx->cfg.registry, false, &s->reg) != 0 || reg_set_durability(s->reg, false)) {
        hub_service_stop(s);
        return -1;
    }
    s->m = mosquitto_new(cid, true, s);
    int rc = s->m ? MOSQ_ERR_SUCCESS : MOSQ_ERR_NOMEM;
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_tls_set(s->m, ca, NULL, crt, key, NULL);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_tls_opts_set(s->m, 1, "tlsv1.2", NULL);
    if (rc == MOSQ_ERR_SUCCESS)
        rc = mosquitto_username_pw_set(s->m, ctx->cfg.service_cn, NULL);
    if (rc != MOSQ_ERR_SUCCESS) {
        hub_service_stop(s);
        return hub_fail("service: MQTT set-up failed: %s (certificate %s, key %s)",
                        mosquitto_strerror(rc), crt, key);
    }
    mosquitto_connect_callback_set(s->m, on_connect);
    mosquitto_disconnect_callback_set(s->m, on_disconnect);
    mosquitto_message_callback_set(s->m, on_message);
    mosquitto_reconnect_delay_set(s->m, 1, 5, false);
    rc = mosquitto_connect_async(s->m, ctx->cfg.mqtt_host, ctx->cfg.mqtt_port, 30);
    if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_ERRNO)
        hub_log("service: first connect to %s:%d failed (%s); retrying", ctx->cfg.mqtt_host,
                ctx->cfg.mqtt_port, mosquitto_strerror(rc));
    mosquitto_threaded_set(s->m, true);
    if (pthread_create(&s->thread, NULL, service_loop, s) == 0)
        s->thread_started = 1;
    if (wait_ms > 0) {
        struct timespec ts;
        deadline(&ts, wait_ms);
        pthread_mutex_lock(&s->lock);
        while (!s->connected && pthread_cond_timedwait(&s->cond, &s->lock, &ts) != ETIMEDOUT)
            ;
        int ok = s->connected;
        pthread_mutex_unlock(&s->lock);
        if (!ok) {
            hub_service_stop(s);
            return hub_fail("service: no MQTT connection to %s:%d within %d ms; is the broker "
                            "running with the hub's plugin?",
                            ctx->cfg.mqtt_host, ctx->cfg.mqtt_port, wait_ms);
        }
    }
    *out = s;
    return 0;
}

void hub_service_stop(hub_service *s)
{
    if (!s)
        return;
    if (s->m) {
        s->stopping = 1;
        mosquitto_disconnect(s->m);
        if (s->thread_started)
            pthread_join(s->thread, NULL);
        mosquitto_destroy(s->m);
    }
    for (int i = 0; i < MAX_PENDING; i++)
        json_decref(s->pend[i].reply);
    reg_close(s->reg);
    pthread_cond_destroy(&s->cond);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

long hub_service_stored(const hub_service *s)
{
    return s->stored;
}

#define REFUSE(status, code, ...) (*ecode = (code), hub_fail(__VA_ARGS__), (status))

static int valid_service_id(const char *sid)
{
    if (!sid || !*sid || strlen(sid) > 128 || strstr(sid, "..") || sid[0] == '/')
        return 0;
    return strspn(sid, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-/") ==
           strlen(sid);
}

int hub_service_send(hub_service *s, const char *pk, const char *dk, const char *sid,
                     json_t *params, int timeout_ms, json_t **reply, const char **ecode)
{
    hub_device d;
    if (!pk || !dk || reg_device_get(s->ctx->reg, dk, &d) != 0 || strcmp(d.pk, pk) != 0)
        return REFUSE(404, "device_not_registered", "device '%s' under product '%s' is unknown",
                      dk ? dk : "", pk ? pk : "");
    if (!valid_service_id(sid))
        return REFUSE(400, "bad_request",
                      "serviceId must be [A-Za-z0-9_.-] segments "
                      "(e.g. 'reboot' or 'measurepoint/set')");
    if (timeout_ms <= 0 || timeout_ms > 60000)
        timeout_ms = 5000;
    pthread_mutex_lock(&s->lock);
    int slot = -1;
    for (int i = 0; i < MAX_PENDING && slot < 0; i++)
        if (!s->pend[i].used)
            slot = i;
    if (slot < 0 || !s->connected) {
        pthread_mutex_unlock(&s->lock);
        return slot < 0 ? REFUSE(503, "busy", "too many commands in flight; retry")
                        : REFUSE(503, "mqtt_unavailable",
                                 "the hub service is not connected "
                                 "to the broker");
    }
    pending *p = &s->pend[slot];
    memset(p, 0, sizeof(*p));
    p->used = 1;
    snprintf(p->id, sizeof(p->id), "%ld", ++s->next_id);
    char topic[384];
    snprintf(topic, sizeof(topic), "/sys/%s/%s/thing/service/%s", pk, dk, sid);
    snprintf(p->topic, sizeof(p->topic), "%s_reply", topic);
    pthread_mutex_unlock(&s->lock);

    char method[160];
    snprintf(method, sizeof(method), "thing.service.%s", sid);
    for (char *c = method; *c; c++)
        if (*c == '/')
            *c = '.';
    json_t *msg = json_pack("{s:s, s:s, s:s, s:O}", "id", p->id, "version", "1.0", "method", method,
                            "params", params ? params : json_object());
    char *txt = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    int rc = txt ? mosquitto_publish(s->m, NULL, topic, (int)strlen(txt), txt, 1, false)
                 : MOSQ_ERR_NOMEM;
    free(txt);
    struct timespec ts;
    deadline(&ts, timeout_ms);
    pthread_mutex_lock(&s->lock);
    while (rc == MOSQ_ERR_SUCCESS && !p->reply &&
           pthread_cond_timedwait(&s->cond, &s->lock, &ts) != ETIMEDOUT)
        ;
    *reply = p->reply;
    p->reply = NULL;
    p->used = 0;
    pthread_mutex_unlock(&s->lock);
    if (rc != MOSQ_ERR_SUCCESS)
        return REFUSE(503, "mqtt_unavailable", "publish failed: %s", mosquitto_strerror(rc));
    if (!*reply)
        return REFUSE(504, "timeout", "no reply from device '%s' on %s_reply within %d ms", dk,
                      topic, timeout_ms);
    return 0;
}
