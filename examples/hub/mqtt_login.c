/* edgekey hub: EnOS MQTT login strings. */
#include "mqtt_login.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "hub_util.h"

#define CID_MID "|securemode=2,signmethod=sha256,timestamp="

int hub_mqtt_parse_clientid(const char *cid, char *id, size_t idsize, int64_t *ts_ms)
{
    const char *mid = strstr(cid, CID_MID);
    if (!mid || mid == cid || (size_t)(mid - cid) >= idsize)
        return -1;
    const char *ts = mid + strlen(CID_MID);
    char *end;
    errno = 0;
    long long v = strtoll(ts, &end, 10);
    if (errno || end == ts || strcmp(end, "|") != 0 || v <= 0)
        return -1;
    memcpy(id, cid, (size_t)(mid - cid));
    id[mid - cid] = '\0';
    *ts_ms = v;
    return 0;
}

int hub_mqtt_parse_username(const char *u, char *dk, size_t dksize, char *pk, size_t pksize)
{
    const char *amp = strchr(u, '&');
    if (!amp || amp == u || (size_t)(amp - u) >= dksize || strchr(amp + 1, '&') || !amp[1] ||
        strlen(amp + 1) >= pksize)
        return -1;
    memcpy(dk, u, (size_t)(amp - u));
    dk[amp - u] = '\0';
    snprintf(pk, pksize, "%s", amp + 1);
    return 0;
}

void hub_mqtt_password(const char *id, const char *dk, const char *pk, int64_t ts_ms,
                       const char *secret, char out[65])
{
    size_t n = strlen(id) + strlen(dk) + strlen(pk) + strlen(secret) + 96;
    char *buf = malloc(n);
    if (!buf) {
        out[0] = '\0';
        return;
    }
    int len = snprintf(buf, n, "clientId%sdeviceKey%sproductKey%stimestamp%lld%s", id, dk, pk,
                       (long long)ts_ms, secret);
    hub_sha256_hex(buf, (size_t)len, out);
    OPENSSL_cleanse(buf, n);
    free(buf);
}

void hub_mqtt_clientid(const char *id, int64_t ts_ms, char *out, size_t outsize)
{
    snprintf(out, outsize, "%s" CID_MID "%lld|", id, (long long)ts_ms);
}
