/* edgekey_auth.so: topic ACL and session bookkeeping. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../hub_util.h"
#include "../mqtt_login.h"
#include "plugin.h"

static int has_prefix(const char *topic, const char *a, const char *pk, const char *dk)
{
    char prefix[3 * HUB_KEY_MAX];
    int n = snprintf(prefix, sizeof(prefix), "%s/%s/%s/", a, pk, dk);
    return n > 0 && (size_t)n < sizeof(prefix) && strncmp(topic, prefix, (size_t)n) == 0;
}

int eka_on_acl_check(int event, void *event_data, void *userdata)
{
    (void)event;
    struct mosquitto_evt_acl_check *ev = event_data;
    eka_state *s = userdata;
    const char *user = mosquitto_client_username(ev->client);
    char dk[HUB_KEY_MAX + 1], pk[HUB_KEY_MAX + 1];
    if (!user || !ev->topic)
        return MOSQ_ERR_ACL_DENIED;
    /* Logins were checked in BASIC_AUTH; the username is the identity. */
    if (strcmp(user, s->service_cn) == 0)
        return MOSQ_ERR_SUCCESS;
    if (hub_mqtt_parse_username(user, dk, sizeof(dk), pk, sizeof(pk)) != 0)
        return MOSQ_ERR_ACL_DENIED;
    if (has_prefix(ev->topic, "/sys", pk, dk) || has_prefix(ev->topic, "/ext/session", pk, dk))
        return MOSQ_ERR_SUCCESS;
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "edgekey_auth: ACL denied %s %s on '%s'", user,
                         ev->access == MOSQ_ACL_WRITE       ? "publish"
                         : ev->access == MOSQ_ACL_SUBSCRIBE ? "subscribe"
                                                            : "read",
                         ev->topic);
    return MOSQ_ERR_ACL_DENIED;
}

int eka_on_disconnect(int event, void *event_data, void *userdata)
{
    (void)event;
    struct mosquitto_evt_disconnect *ev = event_data;
    const char *cid = mosquitto_client_id(ev->client);
    if (cid)
        eka_session_remove(userdata, cid);
    return MOSQ_ERR_SUCCESS;
}
