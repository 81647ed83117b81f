/* edgekey hub: API request body parsing with jansson. */
#include "api_parse.h"

#include <stdio.h>

json_t *hub_api_parse_body(const char *buf, size_t len, char *err, size_t errsize)
{
    if (len == 0) {
        snprintf(err, errsize, "empty body: send a JSON object");
        return NULL;
    }
    if (len > HUB_API_MAX_BODY) {
        snprintf(err, errsize, "body of %zu bytes is over the %d-byte limit", len,
                 HUB_API_MAX_BODY);
        return NULL;
    }
    json_error_t je;
    json_t *j = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!j) {
        snprintf(err, errsize, "malformed JSON at line %d column %d: %s", je.line, je.column,
                 je.text);
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        snprintf(err, errsize, "body must be a JSON object");
        return NULL;
    }
    return j;
}
