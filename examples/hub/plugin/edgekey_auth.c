/* edgekey_auth.so: plugin entry points and options. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../hub_util.h"
#include "plugin.h"

EKA_EXPORT int mosquitto_plugin_version(int count, const int *versions)
{
    for (int i = 0; i < count; i++)
        if (versions[i] == 5)
            return 5;
    return -1;
}

static eka_state *state;

EKA_EXPORT int mosquitto_plugin_init(mosquitto_plugin_id_t *id, void **userdata,
                                     struct mosquitto_opt *opts, int nopts)
{
    eka_state *s = calloc(1, sizeof(*s));
    if (!s)
        return MOSQ_ERR_NOMEM;
    const char *registry = NULL;
    s->id = id;
    s->ts_window_s = 300;
    snprintf(s->service_cn, sizeof(s->service_cn), "edgekey-hub-service");
    for (int i = 0; i < nopts; i++) {
        if (strcmp(opts[i].key, "registry") == 0)
            registry = opts[i].value;
        else if (strcmp(opts[i].key, "service_cn") == 0)
            snprintf(s->service_cn, sizeof(s->service_cn), "%s", opts[i].value);
        else if (strcmp(opts[i].key, "ts_window_s") == 0)
            s->ts_window_s = atoi(opts[i].value);
    }
    if (!registry) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "edgekey_auth: plugin_opt_registry missing: set it "
                                           "to the hub's sqlite:/path/hub.db");
        free(s);
        return MOSQ_ERR_INVAL;
    }
    if (reg_open(registry, true, &s->reg) != 0) {
        mosquitto_log_printf(MOSQ_LOG_ERR, "edgekey_auth: %s", hub_err());
        free(s);
        return MOSQ_ERR_INVAL;
    }
    eka_revocations_start(s);
    if (mosquitto_callback_register(id, MOSQ_EVT_BASIC_AUTH, eka_on_basic_auth, NULL, s) ||
        mosquitto_callback_register(id, MOSQ_EVT_ACL_CHECK, eka_on_acl_check, NULL, s) ||
        mosquitto_callback_register(id, MOSQ_EVT_TICK, eka_on_tick, NULL, s) ||
        mosquitto_callback_register(id, MOSQ_EVT_DISCONNECT, eka_on_disconnect, NULL, s)) {
        reg_close(s->reg);
        free(s);
        return MOSQ_ERR_UNKNOWN;
    }
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "edgekey_auth: registry %s, service '%s', window %d s",
                         registry, s->service_cn, s->ts_window_s);
    state = s;
    *userdata = s;
    return MOSQ_ERR_SUCCESS;
}

EKA_EXPORT int mosquitto_plugin_cleanup(void *userdata, struct mosquitto_opt *opts, int nopts)
{
    (void)opts, (void)nopts;
    eka_state *s = userdata;
    if (!s)
        return MOSQ_ERR_SUCCESS;
    mosquitto_callback_unregister(s->id, MOSQ_EVT_BASIC_AUTH, eka_on_basic_auth, NULL);
    mosquitto_callback_unregister(s->id, MOSQ_EVT_ACL_CHECK, eka_on_acl_check, NULL);
    mosquitto_callback_unregister(s->id, MOSQ_EVT_TICK, eka_on_tick, NULL);
    mosquitto_callback_unregister(s->id, MOSQ_EVT_DISCONNECT, eka_on_disconnect, NULL);
    eka_sessions_free(s);
    reg_close(s->reg);
    free(s);
    state = NULL;
    return MOSQ_ERR_SUCCESS;
}
