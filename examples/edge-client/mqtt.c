/* edge-client: MQTT session, reconnects, telemetry and commands (see mqtt.h). */
#include "mqtt.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <mosquitto.h>
#include <openssl/crypto.h>

#include "commands.h"
#include "http.h"
#include "log.h"
#include "outbox.h"
#include "queue.h"
#include "renew.h"
#include "telemetry.h"
#include "tls.h"
#include "trust.h"

enum { CONN_OK = 0, CONN_UNREACHABLE = 1, CONN_REFUSED = 2 };

typedef struct {
    edge_mqtt_opts *o;
    struct mosquitto *m;
    char prefix[300]; /* /sys/{pk}/{dk}/thing */
    char post_topic[340];
    int connack; /* -1 waiting, else CONNACK code */
    int connected, ever_connected, dropped, closed;
    edge_runtime rt;
    edge_queue *q;
    edge_outbox *out;
    edge_tsrc *src;
    int src_end, commands, reported;
    long long next_read_ms, next_connect_ms, next_renew_ms, next_trust_ms;
    int attempt, refusals, renew_failures;
    long long not_before, not_after;
} session;

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static long long mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static void on_connect(struct mosquitto *m, void *ud, int rc)
{
    session *s = ud;
    char sub[400];
    s->connack = rc;
    if (rc != 0)
        return;
    s->connected = 1;
    /* measurepoint/set has two levels: service/+ does not match it */
    snprintf(sub, sizeof(sub), "%s/service/measurepoint/set", s->prefix);
    mosquitto_subscribe(m, NULL, sub, 1);
    snprintf(sub, sizeof(sub), "%s/service/+", s->prefix);
    mosquitto_subscribe(m, NULL, sub, 1);
    snprintf(sub, sizeof(sub), "%s_reply", s->post_topic);
    mosquitto_subscribe(m, NULL, sub, 1);
}

static void on_disconnect(struct mosquitto *m, void *ud, int rc)
{
    session *s = ud;
    (void)m;
    if (s->connected && rc != 0)
        s->dropped = 1;
    s->connected = 0;
    s->closed = 1;
}

static void on_publish(struct mosquitto *m, void *ud, int mid)
{
    session *s = ud;
    (void)m;
    edge_outbox_puback(s->out, mid);
}

static void answer_command(session *s, const char *topic, const char *payload, int len)
{
    const char *service = topic + strlen(s->prefix) + strlen("/service/");
    char rt[400], *text;
    int code;

    text = edge_command_handle(&s->rt, service, payload, len, &code);
    snprintf(rt, sizeof(rt), "%s_reply", topic);
    if (text &&
        mosquitto_publish(s->m, NULL, rt, (int)strlen(text), text, 1, false) == MOSQ_ERR_SUCCESS) {
        json_t *req = json_loadb(payload, (size_t)len, 0, NULL);
        const char *id = json_string_value(json_object_get(req, "id"));
        printf("edge: command '%s' id %s received, replied code %d on %s\n", service, id ? id : "?",
               code, rt);
        json_decref(req);
    }
    s->commands++;
    free(text);
}

static void on_message(struct mosquitto *m, void *ud, const struct mosquitto_message *msg)
{
    session *s = ud;
    size_t tl = strlen(msg->topic), pl = strlen(s->prefix);
    (void)m;
    if (tl > 6 && strcmp(msg->topic + tl - 6, "_reply") == 0) {
        if (strncmp(msg->topic, s->post_topic, strlen(s->post_topic)) == 0)
            edge_outbox_reply(s->out, msg->payload, msg->payloadlen);
        return; /* our own command replies come back through service/+ */
    }
    if (strncmp(msg->topic, s->prefix, pl) == 0 && strncmp(msg->topic + pl, "/service/", 9) == 0)
        answer_command(s, msg->topic, msg->payload, msg->payloadlen);
}

static int publish_row(void *arg, long long seq, const char *params, int *mid)
{
    session *s = arg;
    char *msg;
    int n, rc;
    n = asprintf(&msg,
                 "{\"id\":\"%lld\",\"version\":\"1.0\",\"method\":\"thing.measurepoint.post\","
                 "\"params\":%s}",
                 seq, params);
    if (n < 0)
        return -1;
    rc = mosquitto_publish(s->m, mid, s->post_topic, n, msg, 1, false);
    free(msg);
    return rc == MOSQ_ERR_SUCCESS ? 0 : -1;
}

/* A fresh libmosquitto client with the EnOS login for this connection. */
static int client_new(session *s)
{
    const edge_config *c = s->o->cfg;
    char cid[256], user[300], pw[65], *sig;
    long long ts = edge_now_ms();
    int n;

    snprintf(cid, sizeof(cid), "%s|securemode=2,signmethod=sha256,timestamp=%lld|", c->device_key,
             ts);
    snprintf(user, sizeof(user), "%s&%s", c->device_key, c->product_key);
    if ((sig = OPENSSL_zalloc(4096)) == NULL)
        return -1;
    n = snprintf(sig, 4096, "clientId%sdeviceKey%sproductKey%stimestamp%lld%s", c->device_key,
                 c->device_key, c->product_key, ts, s->o->secret);
    edge_sha256_hex(sig, (size_t)n, pw);
    OPENSSL_clear_free(sig, 4096);

    mosquitto_destroy(s->m);
    if ((s->m = mosquitto_new(cid, true, s)) == NULL)
        return -1;
    mosquitto_int_option(s->m, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V311);
    mosquitto_int_option(s->m, MOSQ_OPT_SSL_CTX_WITH_DEFAULTS, 0);
    mosquitto_void_option(s->m, MOSQ_OPT_SSL_CTX, s->o->ctx);
    /* our window is the flow control; libmosquitto must not hold rows back */
    mosquitto_max_inflight_messages_set(s->m, 0);
    mosquitto_username_pw_set(s->m, user, pw);
    OPENSSL_cleanse(pw, sizeof(pw));
    mosquitto_connect_callback_set(s->m, on_connect);
    mosquitto_disconnect_callback_set(s->m, on_disconnect);
    mosquitto_publish_callback_set(s->m, on_publish);
    mosquitto_message_callback_set(s->m, on_message);
    return 0;
}

static int attempt(session *s);

/* One connection attempt: CONN_OK, CONN_UNREACHABLE (nothing listening,
 * network down: retried forever) or CONN_REFUSED (TLS handshake or login
 * refused: counted against reconnect_refusals). A failed attempt is no
 * dropped session: the flags the callbacks set for it are cleared. */
static int connect_once(session *s)
{
    int r = attempt(s);
    if (r != CONN_OK)
        s->connected = s->dropped = s->closed = 0;
    return r;
}

static int attempt(session *s)
{
    const edge_config *c = s->o->cfg;
    int rc;

    if (client_new(s) != 0)
        return CONN_UNREACHABLE;
    s->connack = -1;
    s->connected = s->dropped = s->closed = 0;
    if ((rc = mosquitto_connect(s->m, c->mqtt_host, c->mqtt_port, 30)) != MOSQ_ERR_SUCCESS) {
        edge_warn("MQTT connect to %s:%d failed: %s", c->mqtt_host, c->mqtt_port,
                  rc == MOSQ_ERR_ERRNO ? strerror(errno) : mosquitto_strerror(rc));
        return rc == MOSQ_ERR_TLS ? CONN_REFUSED : CONN_UNREACHABLE;
    }
    for (int i = 0; i < 100 && s->connack < 0 && !s->closed && !stop_flag; i++)
        if (mosquitto_loop(s->m, 100, 1) != MOSQ_ERR_SUCCESS)
            break;
    if (s->connack < 0) {
        edge_warn("MQTT session to %s:%d not established (TLS refused or closed)", c->mqtt_host,
                  c->mqtt_port);
        return CONN_REFUSED;
    }
    if (s->connack > 0) {
        edge_warn("MQTT login refused: %s", mosquitto_connack_string(s->connack));
        return CONN_REFUSED;
    }
    edge_outbox_reset(s->out);
    return CONN_OK;
}

/* Exponential backoff with jitter: a fleet that lost its broker does not
 * come back in lock step. Delay in [d/2, d], d = min(max, min * 2^attempt). */
static long long backoff_ms(const edge_config *c, int attempt)
{
    long long d = c->reconnect_min_ms;
    for (int i = 1; i < attempt && d < c->reconnect_max_ms; i++)
        d *= 2;
    if (d > c->reconnect_max_ms)
        d = c->reconnect_max_ms;
    return d / 2 + (d > 1 ? random() % (d - d / 2 + 1) : 0);
}

/* CA chain and CRL (trust.c): refreshed every trust_refresh_s, or now
 * (force); the live SSL_CTX gets the new CRL for the next handshake. */
static void refresh_trust(session *s, long long now, int force)
{
    const edge_config *c = s->o->cfg;
    if (!force && now < s->next_trust_ms)
        return;
    s->next_trust_ms = now + (c->trust_refresh_s > 0 ? c->trust_refresh_s : 3600) * 1000LL;
    if (edge_trust_refresh(c, force) == 0 && edge_trust_update_ctx(s->o->ctx, c) != 0)
        edge_warn("the refreshed CRL could not be added to the TLS context");
}

/* Not connected: try when the backoff allows. -1 = give up (refused). */
static int try_connect(session *s, long long now)
{
    const edge_config *c = s->o->cfg;
    if (now < s->next_connect_ms)
        return 0;
    int r = connect_once(s);
    s->attempt++;
    if (r == CONN_OK) {
        if (!s->ever_connected)
            printf("edge: MQTT connected to %s:%d with mutual TLS (TPM key) as %s&%s\n",
                   c->mqtt_host, c->mqtt_port, c->device_key, c->product_key);
        else
            printf("edge: reconnected (attempt %d)\n", s->attempt);
        if (s->ever_connected)
            s->rt.reconnects++;
        else
            s->rt.connected_ms = mono_ms();
        s->ever_connected = 1;
        s->attempt = s->refusals = 0;
        return 0;
    }
    if (r == CONN_REFUSED) /* a new CRL or CA chain may explain it: fetch now */
        refresh_trust(s, now, 1);
    if (r == CONN_REFUSED && ++s->refusals >= c->reconnect_refusals) {
        printf("edge: reconnect refused by the broker (%d attempts)\n", s->refusals);
        return -1;
    }
    s->next_connect_ms = now + backoff_ms(c, s->attempt);
    edge_info("MQTT reconnect in %lld ms (attempt %d)", s->next_connect_ms - now, s->attempt + 1);
    return 0;
}

/* Take readings that are due into the queue. */
static void take_readings(session *s, long long now)
{
    const edge_mqtt_opts *o = s->o;
    /* a bounded batch per turn: an endless source with interval 0 must not
     * starve the session (PUBACKs, replies, commands) */
    for (int batch = 0; batch < 1000 && !s->src_end &&
                        (o->count == 0 || s->rt.produced < o->count) && now >= s->next_read_ms;
         batch++) {
        char *params = NULL;
        long long seq;
        int r = edge_tsrc_read(s->src, s->rt.produced + 1, &params);
        if (r == EDGE_TSRC_END) {
            edge_info("telemetry source ended after %lld readings", s->rt.produced);
            s->src_end = 1;
        }
        if (r != EDGE_TSRC_READING)
            return;
        if (edge_queue_push(s->q, params, &seq) == 0) {
            if (s->rt.first_seq == 0)
                s->rt.first_seq = seq;
            s->rt.produced++;
        }
        free(params);
        s->next_read_ms = s->rt.interval_ms > 0 && now - s->next_read_ms < 1000
                              ? s->next_read_ms + s->rt.interval_ms
                              : now + s->rt.interval_ms;
        if (s->rt.interval_ms > 0)
            return;
    }
}

/* The identity in use, as the status command reports it. */
static void identity_to_runtime(session *s)
{
    const edge_mqtt_opts *o = s->o;
    char *sn = edge_read_file(o->paths->sn_file);
    snprintf(s->rt.key_label, sizeof(s->rt.key_label), "%s", o->cfg->label);
    snprintf(s->rt.cert_sn, sizeof(s->rt.cert_sn), "%s", sn ? sn : "?");
    free(sn);
    if (edge_cert_times(o->paths->cert_file, &s->not_before, &s->not_after) != 0)
        s->not_before = s->not_after = 0;
    s->rt.cert_not_after = s->not_after;
}

/* Switch the session to the renewed key: new SSL_CTX, reconnect, then the
 * old key is destroyed. Queued rows stay queued and go on the new session. */
static void switch_identity(session *s, EVP_PKEY *key, SSL_CTX *ctx, const char *old_uri,
                            long long now)
{
    edge_mqtt_opts *o = s->o;
    char old_sn[64];
    snprintf(old_sn, sizeof(old_sn), "%s", s->rt.cert_sn);
    if (s->connected) {
        mosquitto_disconnect(s->m);
        mosquitto_loop(s->m, 50, 1);
    }
    mosquitto_destroy(s->m); /* it refers to the old SSL_CTX */
    s->m = NULL;
    SSL_CTX_free(o->ctx);
    EVP_PKEY_free(o->key);
    o->ctx = ctx;
    o->key = key;
    s->connected = s->dropped = s->closed = 0;
    s->next_connect_ms = 0;
    s->rt.rotate_requested = 0;
    s->renew_failures = 0;
    s->rt.renewals++;
    identity_to_runtime(s);
    printf("edge: certificate renewed: serial %s -> %s, new TPM key %s\n", old_sn, s->rt.cert_sn,
           o->paths->key_uri);
    try_connect(s, now);
    if (s->connected)
        printf("edge: MQTT session re-established with the new key (%lld readings queued)\n",
               (long long)edge_queue_depth(s->q));
    if (edge_key_destroy(o->cfg, old_uri) == 0)
        printf("edge: old TPM key %s deleted (edgekey delete)\n", old_uri);
}

/* Renew when a renew_fraction of the validity is left or the hub asked. */
static int maybe_renew(session *s, long long now)
{
    edge_mqtt_opts *o = s->o;
    char old_uri[512];
    EVP_PKEY *key;
    SSL_CTX *ctx;

    if (now < s->next_renew_ms ||
        (!s->rt.rotate_requested && !edge_renew_due(s->not_before, s->not_after,
                                                    o->cfg->renew_fraction, (long long)time(NULL))))
        return 0;
    printf("edge: renewal: %s\n", s->rt.rotate_requested
                                      ? "asked by the hub (rotate-key-now)"
                                      : "less than renew_fraction of the validity left");
    key = edge_renew(o->cfg, o->paths, o->key, old_uri, sizeof(old_uri));
    ctx = NULL;
    if (key != NULL) {
        edge_tls_opts t = {edge_trust_ca(o->cfg), edge_trust_crl(o->cfg), o->cfg->mqtt_host,
                           o->paths->cert_file, key};
        ctx = edge_tls_ctx_new(&t);
    }
    if (ctx == NULL) {
        int shift = s->renew_failures < 8 ? s->renew_failures : 8;
        s->renew_failures++;
        s->next_renew_ms = now + (10000LL << shift);
        edge_warn("renewal failed (attempt %d); next try in %lld s", s->renew_failures,
                  (10000LL << shift) / 1000);
        if (key != NULL) /* committed, but no context: the next start uses the new key */
            EVP_PKEY_free(key);
        return -1;
    }
    switch_identity(s, key, ctx, old_uri, now);
    return 0;
}

/* Everything this run should read is read and delivered. */
static int telemetry_done(session *s)
{
    const edge_mqtt_opts *o = s->o;
    return (s->src_end || (o->count > 0 && s->rt.produced >= o->count)) &&
           (s->rt.queue_depth = edge_queue_depth(s->q)) == 0;
}

static void report(session *s)
{
    printf("edge: telemetry %lld/%lld acknowledged (PUBACK%s), %lld hub replies on %s_reply\n",
           s->rt.delivered_run, s->rt.produced,
           s->o->cfg->queue_ack[0] == 'r' ? " + hub reply" : "", s->rt.replies, s->post_topic);
    if (s->rt.connected_ms > 0 && s->rt.delivered > 0) {
        double secs = (double)(mono_ms() - s->rt.connected_ms) / 1000.0;
        edge_info("telemetry: %lld delivered in %.3f s after the first session came up (%.0f/s, "
                  "%lld sent again)",
                  s->rt.delivered, secs, secs > 0 ? (double)s->rt.delivered / secs : 0.0,
                  s->rt.resent);
    }
    if (s->rt.delivered > s->rt.delivered_run)
        printf("edge: %lld readings left in the queue by an earlier run delivered too\n",
               s->rt.delivered - s->rt.delivered_run);
    s->reported = 1;
}

/* One turn of the loop while connected. */
static void serve(session *s, long long now)
{
    int wait = 50;
    if (edge_outbox_fill(s->out, now, publish_row, s) < 0)
        edge_debug("publish failed: connection lost");
    if (!s->src_end && (s->o->count == 0 || s->rt.produced < s->o->count) &&
        !edge_outbox_full(s->out))
        wait =
            (int)(s->next_read_ms > now ? (s->next_read_ms - now < 50 ? s->next_read_ms - now : 50)
                                        : 0);
    if (mosquitto_loop(s->m, wait, 1) != MOSQ_ERR_SUCCESS && s->connected) {
        s->dropped = 1;
        s->connected = 0;
    }
}

static int loop(session *s)
{
    edge_mqtt_opts *o = s->o;
    while (!stop_flag) {
        long long now = mono_ms();
        /* one commit per turn: readings taken and rows answered together */
        int tx = edge_queue_begin(s->q) == 0;
        take_readings(s, now);
        if (s->connected)
            serve(s, now);
        if (tx)
            edge_queue_commit(s->q);
        refresh_trust(s, now, 0);
        if (maybe_renew(s, now) != 0)
            edge_debug("renewal postponed");
        if (s->connected) {
            /* served above */
        } else if (s->dropped || s->closed) {
            printf("edge: session dropped by the broker\n");
            s->dropped = s->closed = 0;
            s->next_connect_ms = now + backoff_ms(o->cfg, 1);
        } else {
            if (try_connect(s, now) != 0)
                return s->ever_connected ? EDGE_MQTT_REFUSED : EDGE_MQTT_FAILED;
            if (!s->connected)
                usleep(20000);
        }
        if (!s->reported && telemetry_done(s)) {
            report(s);
            if (o->once)
                return EDGE_MQTT_OK;
        }
        if (s->reported && o->max_commands > 0 && s->commands >= o->max_commands)
            return EDGE_MQTT_OK;
    }
    return EDGE_MQTT_OK;
}

static int session_open(session *s)
{
    const edge_config *c = s->o->cfg;
    char path[1100];
    snprintf(s->prefix, sizeof(s->prefix), "/sys/%s/%s/thing", c->product_key, c->device_key);
    snprintf(s->post_topic, sizeof(s->post_topic), "%s/measurepoint/post", s->prefix);
    snprintf(path, sizeof(path), "%s/queue.db", c->data_dir);
    if (strcmp(c->queue_ack, "reply") != 0 && strcmp(c->queue_ack, "puback") != 0) {
        edge_error("queue_ack = '%s' unknown; use reply or puback", c->queue_ack);
        return -1;
    }
    if (strcmp(c->queue_sync, "full") != 0 && strcmp(c->queue_sync, "normal") != 0) {
        edge_error("queue_sync = '%s' unknown; use full or normal", c->queue_sync);
        return -1;
    }
    if (edge_queue_open(path, strcmp(c->queue_sync, "normal") != 0, c->queue_max, &s->q) != 0 ||
        (s->out = edge_outbox_new(s->q, c->max_inflight, c->queue_ack[0] == 'r',
                                  c->reply_timeout_ms, &s->rt)) == NULL ||
        (s->src = edge_tsrc_open(c->telemetry)) == NULL)
        return -1;
    s->rt.queue_depth = edge_queue_depth(s->q);
    if (s->rt.queue_depth > 0)
        printf(
            "edge: %lld telemetry readings waiting in %s from an earlier run: sending them first\n",
            s->rt.queue_depth, path);
    s->rt.interval_ms = c->interval_ms;
    s->rt.started_ms = edge_now_ms();
    identity_to_runtime(s);
    return 0;
}

int edge_mqtt_run(edge_mqtt_opts *o)
{
    session s = {.o = o};
    int rc = EDGE_MQTT_FAILED;

    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN); /* a broker killed mid-write must not kill us */
    srandom((unsigned)(getpid() ^ time(NULL)));
    mosquitto_lib_init();
    if (session_open(&s) == 0)
        rc = loop(&s);
    if (s.connected) {
        for (int i = 0; i < 4; i++) /* let the last reply go out */
            mosquitto_loop(s.m, 50, 1);
        mosquitto_disconnect(s.m);
    }
    mosquitto_destroy(s.m);
    edge_tsrc_close(s.src);
    edge_outbox_free(s.out);
    edge_queue_close(s.q);
    mosquitto_lib_cleanup();
    return rc;
}
