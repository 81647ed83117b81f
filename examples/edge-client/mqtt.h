/* edge-client: the MQTT session with the hub's broker (libmosquitto).
 *
 * libmosquitto gets our own SSL_CTX (MOSQ_OPT_SSL_CTX, defaults off), so
 * the TPM key signs the handshake and our verification rules hold. Login
 * is EnOS securemode=2 with a fresh timestamp per connection. */
#ifndef EDGE_MQTT_H
#define EDGE_MQTT_H

#include <openssl/ssl.h>

#include "config.h"

typedef struct {
    const edge_config *cfg;
    SSL_CTX *ctx;        /* borrowed */
    const char *secret;  /* deviceSecret, borrowed */
    int count;           /* telemetry messages to send */
    int once;            /* exit after the telemetry is acknowledged */
    int max_commands;    /* exit after this many commands (0: no limit) */
} edge_mqtt_opts;

/* Exit codes of edge_mqtt_run. */
enum {
    EDGE_MQTT_OK = 0,
    EDGE_MQTT_FAILED = 1,    /* first connection or telemetry failed */
    EDGE_MQTT_REFUSED = 4,   /* session dropped, reconnect refused */
};

int edge_mqtt_run(const edge_mqtt_opts *o);

#endif
