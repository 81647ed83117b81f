/* edgekey hub: the hub's cloud side on MQTT (libmosquitto, its own
 * certificate under <dir>/service/, username = service_cn).
 *
 * In `serve` it subscribes /sys/+/+/thing/measurepoint/post, stores the
 * last value of each measure point and answers on the topic + "_reply".
 * hub_service_send() publishes a command on /sys/{pk}/{dk}/thing/service/
 * {serviceId} and waits for the device's reply on the topic + "_reply". */
#ifndef HUB_SERVICE_H
#define HUB_SERVICE_H

#include <stdbool.h>
#include <jansson.h>
#include "ops.h"

typedef struct hub_service hub_service;

/* telemetry: subscribe and store measure points (serve); wait_ms: wait for
 * the first connection up to this long (0 = don't wait). */
int hub_service_start(hub_ctx *ctx, bool telemetry, int wait_ms, hub_service **out);
void hub_service_stop(hub_service *s);
/* Returns 0 with *reply (the device's {"id","code","data"}), or an HTTP-like
 * status with *ecode (404 unknown device, 504 timeout, 503 not connected). */
int hub_service_send(hub_service *s, const char *pk, const char *dk, const char *service_id,
                     json_t *params, int timeout_ms, json_t **reply, const char **ecode);
/* Counters for tests and the benchmark. */
long hub_service_stored(const hub_service *s);

#endif
