/* edgekey hub: the EnOS MQTT login (securemode=2), shared by the broker
 * plugin, the hub service and the benchmark. See sign_check.h for the
 * formulas. */
#ifndef HUB_MQTT_LOGIN_H
#define HUB_MQTT_LOGIN_H

#include <stddef.h>
#include <stdint.h>

/* Split a clientId into its id and timestamp; -1 if it is not of the form
 * "{id}|securemode=2,signmethod=sha256,timestamp={ms}|". */
int hub_mqtt_parse_clientid(const char *client_id, char *id, size_t idsize, int64_t *ts_ms);
/* Split a username "{dk}&{pk}". */
int hub_mqtt_parse_username(const char *username, char *dk, size_t dksize, char *pk, size_t pksize);
void hub_mqtt_password(const char *id, const char *dk, const char *pk, int64_t ts_ms,
                       const char *device_secret, char out[65]);
/* Build clientId (for clients). */
void hub_mqtt_clientid(const char *id, int64_t ts_ms, char *out, size_t outsize);

#endif
