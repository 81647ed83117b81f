/* edge-client: the command handler table (see commands.h). */
#include "commands.h"

#include <string.h>

#include <jansson.h>

#include "enroll.h"
#include "log.h"

typedef int (*handler)(edge_runtime *rt, json_t *params, json_t **data);

/* measurepoint/set: apply the settings this client knows, report the rest. */
static int h_set(edge_runtime *rt, json_t *params, json_t **data)
{
    json_t *iv = json_object_get(params, "interval_ms"), *ignored = json_array();
    const char *k;
    json_t *v;

    if (!json_is_object(params)) {
        json_decref(ignored);
        *data = json_pack("{s:s}", "message", "params must be an object");
        return 400;
    }
    if (iv &&
        (!json_is_integer(iv) || json_integer_value(iv) < 0 || json_integer_value(iv) > 3600000)) {
        json_decref(ignored);
        *data = json_pack("{s:s}", "message", "interval_ms must be an integer 0..3600000");
        return 400;
    }
    if (iv) {
        edge_info("command measurepoint/set: interval_ms %d -> %lld", rt->interval_ms,
                  (long long)json_integer_value(iv));
        rt->interval_ms = (int)json_integer_value(iv);
    }
    json_object_foreach(params, k, v) if (strcmp(k, "interval_ms") != 0)
        json_array_append_new(ignored, json_string(k));
    *data = json_pack("{s:i, s:o}", "interval_ms", rt->interval_ms, "ignored", ignored);
    return 200;
}

static int h_ping(edge_runtime *rt, json_t *params, json_t **data)
{
    (void)rt, (void)params;
    *data = json_pack("{s:I}", "pong", (json_int_t)edge_now_ms());
    return 200;
}

static int h_status(edge_runtime *rt, json_t *params, json_t **data)
{
    (void)params;
    *data =
        json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:i, s:s, s:s, s:I, s:i, s:I}", "uptimeMs",
                  (json_int_t)(edge_now_ms() - rt->started_ms), "queued",
                  (json_int_t)rt->queue_depth, "produced", (json_int_t)rt->produced, "delivered",
                  (json_int_t)rt->delivered, "rejected", (json_int_t)rt->rejected, "resent",
                  (json_int_t)rt->resent, "interval_ms", rt->interval_ms, "keyLabel", rt->key_label,
                  "certSn", rt->cert_sn, "certNotAfter", (json_int_t)rt->cert_not_after, "renewals",
                  rt->renewals, "reconnects", (json_int_t)rt->reconnects);
    return 200;
}

static int h_rotate(edge_runtime *rt, json_t *params, json_t **data)
{
    (void)params;
    rt->rotate_requested = 1;
    edge_info("command rotate-key-now: key and certificate renewal scheduled");
    *data = json_pack("{s:s, s:s}", "renewal", "scheduled", "keyLabel", rt->key_label);
    return 200;
}

/* The demo's command: acknowledged with what was asked. */
static int h_reboot(edge_runtime *rt, json_t *params, json_t **data)
{
    (void)rt;
    edge_info("command reboot: acknowledged (the example client does not reboot the device)");
    *data = json_pack("{s:s, s:O?}", "service", "reboot", "params", params);
    return 200;
}

static const struct {
    const char *service;
    handler fn;
} table[] = {
    {"measurepoint/set", h_set},  {"ping", h_ping},         {"status", h_status},
    {"rotate-key-now", h_rotate}, {"rotate-key", h_rotate}, {"reboot", h_reboot},
};

char *edge_command_handle(edge_runtime *rt, const char *service, const char *payload, int len,
                          int *code)
{
    json_error_t err;
    json_t *req = json_loadb(payload, (size_t)len, 0, &err), *data = NULL, *reply;
    char *text;

    *code = 404;
    if (!json_is_object(req)) {
        *code = 400;
        data = json_pack("{s:s}", "message", "request is not a JSON object");
    } else {
        for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
            if (strcmp(service, table[i].service) == 0)
                *code = table[i].fn(rt, json_object_get(req, "params"), &data);
        if (*code == 404)
            data = json_pack(
                "{s:s, s:s}", "service", service, "message",
                "unknown service: measurepoint/set, ping, status, rotate-key-now, reboot");
    }
    reply = json_pack("{s:O?, s:i, s:o}", "id", json_object_get(req, "id"), "code", *code, "data",
                      data ? data : json_object());
    text = json_dumps(reply, JSON_COMPACT);
    json_decref(reply);
    json_decref(req);
    return text;
}
