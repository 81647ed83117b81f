/* edge-client: the MQTT session with the hub's broker (libmosquitto).
 *
 * libmosquitto gets our own SSL_CTX (MOSQ_OPT_SSL_CTX, defaults off), so
 * the TPM key signs the handshake and our verification rules hold. Login
 * is EnOS securemode=2 with a fresh timestamp per connection.
 *
 * The run loop (one thread): readings from the telemetry source go into the
 * on-disk queue (queue.h) first; up to max_inflight rows are published
 * (QoS 1, "id" = the row's seq) and a row leaves the queue when the hub has
 * it (PUBACK, and with queue_ack = reply the hub's post_reply with a 200 or
 * 4xx code); rows without an answer within reply_timeout_ms, and all
 * unanswered rows after a reconnect, are published again (the hub
 * de-duplicates by id). A dropped or unreachable broker is retried with
 * exponential backoff and jitter (reconnect_min_ms .. reconnect_max_ms);
 * reconnect_refusals refused logins in a row (TLS handshake refused,
 * CONNACK refused: a revoked certificate) end the run. Commands are
 * answered through commands.h; renewal (renew.h) runs when due or asked. */
#ifndef EDGE_MQTT_H
#define EDGE_MQTT_H

#include <openssl/ssl.h>

#include "config.h"
#include "enroll.h"

typedef struct {
    edge_config *cfg;   /* c->label changes on renewal */
    edge_paths *paths;  /* updated on renewal */
    SSL_CTX *ctx;       /* owned by the caller; replaced on renewal (the old one freed) */
    EVP_PKEY *key;      /* the TPM key; replaced on renewal (the old one freed) */
    const char *secret; /* deviceSecret, borrowed */
    int count;          /* readings to take in this run (0: until the source ends) */
    int once;           /* exit when they are all delivered */
    int max_commands;   /* exit after this many commands (0: no limit) */
} edge_mqtt_opts;

/* Exit codes of edge_mqtt_run. */
enum {
    EDGE_MQTT_OK = 0,
    EDGE_MQTT_FAILED = 1,  /* set-up failed, or the first login was refused */
    EDGE_MQTT_REFUSED = 4, /* session dropped, reconnect refused */
};

int edge_mqtt_run(edge_mqtt_opts *o);

#endif
