/* edgekey_auth.so: mosquitto 2.0 plugin (API v5) for the edgekey hub.
 *
 *   MOSQ_EVT_BASIC_AUTH  EnOS login (clientId/username/password with a fresh,
 *                        never-reused timestamp) AND the TLS client
 *                        certificate's serial in the registry, not revoked
 *                        (active, or superseded within the renewal grace
 *                        period) and bound to that deviceKey; the hub service logs in
 *                        with username = service_cn and its service cert.
 *   MOSQ_EVT_ACL_CHECK   a device only under /sys/{pk}/{dk}/ and
 *                        /ext/session/{pk}/{dk}/; the service anywhere.
 *   MOSQ_EVT_TICK        learn new revocations (pushed by PostgreSQL's
 *                        NOTIFY, else polled every 200 ms) and kick the
 *                        sessions using those certs (plugin_revocations.c).
 *   MOSQ_EVT_DISCONNECT  forget the session.
 *
 * Options: plugin_opt_registry (sqlite:/path/hub.db or PostgreSQL), plugin_opt_service_cn,
 * plugin_opt_ts_window_s (default 300). The registry is opened read-only. */
#ifndef EKA_PLUGIN_H
#define EKA_PLUGIN_H

#include <stdbool.h>
#include <stdint.h>
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
#include "../registry.h"

#define EKA_EXPORT __attribute__((visibility("default")))

typedef struct eka_session {
    char *client_id;
    char serial[41];
} eka_session;

typedef struct eka_seen {
    char dk[HUB_KEY_MAX + 1];
    int64_t ts;
} eka_seen;

typedef struct eka_state {
    mosquitto_plugin_id_t *id;
    hub_registry *reg;
    char service_cn[64];
    int ts_window_s;
    int64_t rev_seq; /* last revocation handled */
    int64_t next_poll_ms;
    bool push;      /* the registry can push revocations */
    bool listening; /* ... and this handle is subscribed now */
    int64_t next_listen_ms;
    eka_session *sess; /* live sessions and their cert serials */
    size_t nsess, capsess;
    eka_seen *seen; /* last accepted login timestamp per device */
    size_t nseen, capseen;
} eka_state;

int eka_on_basic_auth(int event, void *event_data, void *userdata);
int eka_on_acl_check(int event, void *event_data, void *userdata);
int eka_on_tick(int event, void *event_data, void *userdata);
int eka_on_disconnect(int event, void *event_data, void *userdata);

/* Revocations (plugin_revocations.c): subscribe or fall back to polling. */
void eka_revocations_start(eka_state *s);

/* Session table (plugin_sessions.c). */
int eka_session_add(eka_state *s, const char *client_id, const char *serial);
void eka_session_remove(eka_state *s, const char *client_id);
void eka_sessions_free(eka_state *s);
/* Last accepted timestamp for dk (0 if none) / record a new one. */
int64_t eka_seen_get(eka_state *s, const char *dk);
int eka_seen_set(eka_state *s, const char *dk, int64_t ts);

#endif
