/* edgekey_auth.so: MOSQ_EVT_BASIC_AUTH: EnOS login + certificate binding. */
#include <ctype.h>
#include <string.h>
#include <openssl/crypto.h>
#include <openssl/x509.h>
#include "../hub_util.h"
#include "../keyload.h"
#include "../mqtt_login.h"
#include "plugin.h"

static int refuse(struct mosquitto *client, const char *why)
{
    mosquitto_log_printf(MOSQ_LOG_NOTICE, "edgekey_auth: refused %s (%s): %s",
                         mosquitto_client_id(client) ? mosquitto_client_id(client) : "?",
                         mosquitto_client_address(client) ? mosquitto_client_address(client) : "?",
                         why);
    return MOSQ_ERR_AUTH;
}

/* The TLS client certificate's registry record; 0 if active. */
static int client_cert(eka_state *s, struct mosquitto *client, hub_cert *rec, const char **why)
{
    X509 *x = mosquitto_client_certificate(client);
    if (!x) {
        *why = "no TLS client certificate";
        return -1;
    }
    char serial[41];
    hub_serial_hex(X509_get0_serialNumber(x), serial);
    X509_free(x);
    int rc = reg_cert_get(s->reg, serial, rec);
    if (rc != 0) {
        *why = "client certificate not issued by this hub";
        return -1;
    }
    /* A superseded certificate still logs in until the renewal's grace
     * period ends and the hub revokes it; then its session is kicked. */
    if (rec->state == HUB_CERT_REVOKED) {
        reg_cert_clear(rec);
        *why = "client certificate revoked";
        return -1;
    }
    return 0;
}

static int check_device(eka_state *s, struct mosquitto *client, const hub_cert *c,
                        const char *username, const char *password, const char **why)
{
    char dk[HUB_KEY_MAX + 1], pk[HUB_KEY_MAX + 1], id[256], want[65], got[65];
    int64_t ts;
    const char *cid = mosquitto_client_id(client);
    if (hub_mqtt_parse_username(username, dk, sizeof(dk), pk, sizeof(pk)) != 0)
        return (*why = "username is not {deviceKey}&{productKey}", -1);
    if (!cid || hub_mqtt_parse_clientid(cid, id, sizeof(id), &ts) != 0)
        return (*why = "clientId is not {id}|securemode=2,signmethod=sha256,timestamp={ms}|", -1);
    if (c->kind != HUB_CK_DEVICE || strcmp(c->dk, dk) != 0 || strcmp(c->pk, pk) != 0)
        return (*why = "client certificate belongs to another device", -1);
    int64_t skew = hub_now_ms() - ts;
    if (skew > (int64_t)s->ts_window_s * 1000 || -skew > (int64_t)s->ts_window_s * 1000)
        return (*why = "login timestamp outside the accepted window (clock?)", -1);
    if (ts <= eka_seen_get(s, dk))
        return (*why = "login timestamp replayed (not newer than the last login)", -1);
    hub_device d;
    if (reg_device_get(s->reg, dk, &d) != 0 || strcmp(d.pk, pk) != 0 ||
        d.state != HUB_DEV_ACTIVATED)
        return (*why = "device not activated", -1);
    if (!password || strlen(password) != 64)
        return (*why = "password missing or not 64 hex characters", -1);
    hub_mqtt_password(id, dk, pk, ts, d.secret, want);
    OPENSSL_cleanse(d.secret, sizeof(d.secret));
    for (int i = 0; i < 64; i++)
        got[i] = (char)toupper((unsigned char)password[i]);
    got[64] = '\0';
    int ok = CRYPTO_memcmp(want, got, 64) == 0;
    OPENSSL_cleanse(want, sizeof(want));
    if (!ok)
        return (*why = "password mismatch", -1);
    eka_seen_set(s, dk, ts);
    return 0;
}

int eka_on_basic_auth(int event, void *event_data, void *userdata)
{
    (void)event;
    struct mosquitto_evt_basic_auth *ev = event_data;
    eka_state *s = userdata;
    const char *why = "?";
    hub_cert c;
    if (!ev->username)
        return refuse(ev->client, "no username");
    if (client_cert(s, ev->client, &c, &why) != 0)
        return refuse(ev->client, why);
    int rc;
    if (strcmp(ev->username, s->service_cn) == 0)
        rc = c.kind == HUB_CK_SERVICE && strcmp(c.dk, s->service_cn) == 0
                 ? 0
                 : (why = "service login without the service certificate", -1);
    else
        rc = check_device(s, ev->client, &c, ev->username, ev->password, &why);
    if (rc == 0 && eka_session_add(s, mosquitto_client_id(ev->client), c.serial) != 0)
        rc = -1, why = "out of memory";
    reg_cert_clear(&c);
    return rc == 0 ? MOSQ_ERR_SUCCESS : refuse(ev->client, why);
}
