/* edgekey hub: parsing of API request bodies (also the fuzz target).
 *
 * A body must be one JSON object of at most HUB_API_MAX_BODY bytes, without
 * duplicate keys. Returns the object (caller json_decref) or NULL with a
 * message in err naming the position and the rule. */
#ifndef HUB_API_PARSE_H
#define HUB_API_PARSE_H

#include <stddef.h>
#include <jansson.h>

#define HUB_API_MAX_BODY (64 * 1024)

json_t *hub_api_parse_body(const char *buf, size_t len, char *err, size_t errsize);

#endif
