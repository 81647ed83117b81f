/* edgekey hub: EnOS-style request signatures and MQTT login passwords.
 *
 * HTTP requests: sign = UPPER(HEX(SHA-256( k1 v1 k2 v2 ... secret ))) over
 * every parameter except "sign", keys sorted by byte order, values as sent
 * (strings verbatim, integers in decimal). The secret is productSecret for
 * activate and deviceSecret for apply.
 *
 * MQTT login (EnOS securemode=2): clientId
 *   "{id}|securemode=2,signmethod=sha256,timestamp={ms}|",
 * username "{dk}&{pk}", password
 *   UPPER(HEX(SHA-256("clientId"{id}"deviceKey"{dk}"productKey"{pk}
 *                      "timestamp"{ms}{deviceSecret}))). */
#ifndef HUB_SIGN_CHECK_H
#define HUB_SIGN_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* -1 if a value is neither a string nor an integer. */
int hub_sign_params(const json_t *params, const char *secret, char out[65]);
/* 0 if params["sign"] matches (case-insensitive hex), -1 otherwise. */
int hub_sign_verify(const json_t *params, const char *secret);

#endif
