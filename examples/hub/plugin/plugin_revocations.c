/* edgekey_auth.so: learning revocations and kicking the sessions that use
 * the revoked certificates.
 *
 * On PostgreSQL the registry pushes them (LISTEN/NOTIFY): each tick reads
 * the arrived notices without blocking, and only a notice makes the plugin
 * read the new revocations. When the listening connection is lost, the
 * plugin says so in the log, polls every EKA_POLL_MS (a bounded fallback:
 * the database may be back before the listener is) and tries to listen
 * again every EKA_RELISTEN_MS; once back it reads what it missed. On SQLite
 * there are no notices: it polls. Logins never depend on this: each one
 * reads its certificate's state from the registry. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../hub_util.h"
#include "plugin.h"

#define EKA_POLL_MS 200
#define EKA_RELISTEN_MS 1000

/* Kick every live session that logged in with a now revoked certificate. */
static int on_revoked(const hub_cert *c, void *arg)
{
    eka_state *s = arg;
    if (c->rev_seq > s->rev_seq)
        s->rev_seq = c->rev_seq;
    for (size_t i = 0; i < s->nsess;) {
        if (strcmp(s->sess[i].serial, c->serial) == 0) {
            char *cid = s->sess[i].client_id;
            s->sess[i].client_id = NULL;
            s->sess[i] = s->sess[--s->nsess];
            mosquitto_log_printf(MOSQ_LOG_NOTICE,
                                 "edgekey_auth: certificate %s revoked: "
                                 "disconnecting %s",
                                 c->serial, cid);
            mosquitto_kick_client_by_clientid(cid, false);
            free(cid);
        } else {
            i++;
        }
    }
    return 0;
}

static void read_revocations(eka_state *s)
{
    if (reg_cert_revoked_since(s->reg, s->rev_seq, on_revoked, s) != 0)
        mosquitto_log_printf(MOSQ_LOG_WARNING, "edgekey_auth: reading revocations: %s", hub_err());
}

void eka_revocations_start(eka_state *s)
{
    s->rev_seq = reg_cert_max_rev_seq(s->reg);
    int rc = reg_rev_listen(s->reg);
    s->listening = rc == 0;
    if (rc == 0)
        mosquitto_log_printf(MOSQ_LOG_NOTICE,
                             "edgekey_auth: revocations pushed by the registry (LISTEN)");
    else if (rc == 1)
        mosquitto_log_printf(MOSQ_LOG_NOTICE,
                             "edgekey_auth: registry without notices: polling revocations "
                             "every %d ms",
                             EKA_POLL_MS);
    else
        mosquitto_log_printf(MOSQ_LOG_WARNING,
                             "edgekey_auth: cannot listen for revocations (%s): polling every "
                             "%d ms until it can",
                             hub_err(), EKA_POLL_MS);
    s->push = rc != 1;
}

/* Lost listener: poll on the bounded interval, re-listen now and then. */
static void fallback(eka_state *s, int64_t now)
{
    if (s->push && now >= s->next_listen_ms) {
        s->next_listen_ms = now + EKA_RELISTEN_MS;
        if (reg_rev_listen(s->reg) == 0) {
            s->listening = true;
            mosquitto_log_printf(MOSQ_LOG_NOTICE, "edgekey_auth: revocation listener back: "
                                                  "revocations pushed again, polling stops");
            read_revocations(s); /* what was missed meanwhile */
            return;
        }
    }
    if (now >= s->next_poll_ms) {
        s->next_poll_ms = now + EKA_POLL_MS;
        read_revocations(s);
    }
}

int eka_on_tick(int event, void *event_data, void *userdata)
{
    (void)event, (void)event_data;
    eka_state *s = userdata;
    int64_t now = hub_now_ms();
    if (!s->listening) {
        fallback(s, now);
        return MOSQ_ERR_SUCCESS;
    }
    int rc = reg_rev_notified(s->reg);
    if (rc == 1) {
        read_revocations(s);
    } else if (rc < 0) {
        s->listening = false;
        s->next_listen_ms = now + EKA_RELISTEN_MS;
        mosquitto_log_printf(MOSQ_LOG_WARNING,
                             "edgekey_auth: %s; polling revocations every %d ms until the "
                             "listener is back",
                             hub_err(), EKA_POLL_MS);
        fallback(s, now);
    }
    return MOSQ_ERR_SUCCESS;
}
