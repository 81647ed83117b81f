/* libFuzzer target: an API request body through the same code paths the
 * device routes use before touching the registry: JSON parsing (object,
 * duplicate keys, size cap), the EnOS sign over the sorted parameters, and
 * the MQTT login string parsers. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "api_parse.h"
#include "mqtt_login.h"
#include "sign_check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    json_t *j = hub_api_parse_body((const char *)data, size, err, sizeof(err));
    if (j) {
        char out[65];
        hub_sign_params(j, "secret", out);
        hub_sign_verify(j, "secret");
        json_decref(j);
    }
    /* The login parsers take NUL-terminated strings. */
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    char id[256], dk[65], pk[65];
    int64_t ts;
    hub_mqtt_parse_clientid(s, id, sizeof(id), &ts);
    hub_mqtt_parse_username(s, dk, sizeof(dk), pk, sizeof(pk));
    free(s);
    return 0;
}
