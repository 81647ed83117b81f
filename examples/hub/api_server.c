/* edgekey hub: HTTPS API daemon, body accumulation, routing, replies. */
#include "api_server.h"

#include <arpa/inet.h>
#include <gnutls/gnutls.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "api_parse.h"
#include "api_tls.h"
#include "hub_util.h"
#include "registry.h"

struct api_server {
    struct MHD_Daemon *d;
    hub_ctx *ctx;
    api_tls tls;
};

/* Per-request upload state. */
typedef struct upload {
    char *buf;
    size_t len;
    int too_big;
} upload;

void api_reply_raw(api_req *r, unsigned status, const char *type, const void *buf, size_t len)
{
    if (r->resp)
        return;
    r->resp = MHD_create_response_from_buffer(len, (void *)buf, MHD_RESPMEM_MUST_COPY);
    if (r->resp) {
        MHD_add_response_header(r->resp, "Content-Type", type);
        MHD_add_response_header(r->resp, "Cache-Control", "no-store");
    }
    r->status = status;
}

static void reply_json(api_req *r, unsigned status, json_t *j)
{
    char *txt = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (txt) {
        api_reply_raw(r, status, "application/json", txt, strlen(txt));
        OPENSSL_cleanse(txt, strlen(txt)); /* may hold a deviceSecret */
        free(txt);
    } else {
        static const char oom[] = "{\"code\":500,\"error\":\"internal\",\"msg\":\"out of memory\"}";
        api_reply_raw(r, 500, "application/json", oom, sizeof(oom) - 1);
    }
    json_decref(j);
}

void api_reply_data(api_req *r, json_t *data)
{
    reply_json(
        r, 200,
        json_pack("{s:i, s:s, s:o}", "code", 0, "msg", "OK", "data", data ? data : json_object()));
}

void api_reply_error(api_req *r, unsigned status, const char *code, const char *msg)
{
    reply_json(r, status,
               json_pack("{s:i, s:s, s:s}", "code", (int)status, "error", code, "msg", msg));
}

void api_reply_op(api_req *r, int st, json_t *data, const char *ecode)
{
    if (st == 0)
        api_reply_data(r, data);
    else if (st >= 500 && reg_unavailable()) /* nothing stored: the client may retry */
        api_reply_error(r, 503, "registry_unavailable", hub_err());
    else
        api_reply_error(r, (unsigned)st, ecode ? ecode : "error", hub_err());
}

X509 *api_client_cert(api_req *r)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session)
        return NULL;
    unsigned int n = 0;
    const gnutls_datum_t *peers =
        gnutls_certificate_get_peers((gnutls_session_t)ci->tls_session, &n);
    if (!peers || n == 0)
        return NULL;
    const unsigned char *p = peers[0].data;
    return d2i_X509(NULL, &p, (long)peers[0].size);
}

int api_require_admin(api_req *r)
{
    const char *h = MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, "Authorization");
    if (!r->ctx->cfg.admin_token[0]) {
        api_reply_error(r, 403, "admin_disabled",
                        "admin API disabled: set admin_token in the "
                        "hub configuration");
        return -1;
    }
    if (!h || strncmp(h, "Bearer ", 7) != 0 || !hub_str_eq_ct(h + 7, r->ctx->cfg.admin_token)) {
        api_reply_error(r, 401, "unauthorized",
                        "admin API needs 'Authorization: Bearer "
                        "<admin_token>'");
        return -1;
    }
    return 0;
}

static const api_route *find_route(const char *method, const char *url, int *path_found)
{
    const api_route *tables[] = {hub_device_routes, hub_admin_routes};
    *path_found = 0;
    for (size_t t = 0; t < 2; t++) {
        for (const api_route *rt = tables[t]; rt->path; rt++) {
            if (strcmp(rt->path, url) != 0)
                continue;
            *path_found = 1;
            if (strcmp(rt->method, method) == 0)
                return rt;
        }
    }
    return NULL;
}

static void dispatch(api_req *r, upload *up)
{
    int path_found;
    const api_route *rt = find_route(r->method, r->url, &path_found);
    if (!rt) {
        if (path_found)
            api_reply_error(r, 405, "method_not_allowed", "method not allowed on this path");
        else
            api_reply_error(r, 404, "not_found", "no such endpoint; see docs/hub-api.md");
        return;
    }
    if (up->too_big) {
        char msg[128];
        snprintf(msg, sizeof(msg), "body over the %d-byte limit: send a smaller request",
                 HUB_API_MAX_BODY);
        api_reply_error(r, 413, "body_too_large", msg);
        return;
    }
    if (rt->needs_body) {
        char err[256];
        r->body = hub_api_parse_body(up->buf, up->len, err, sizeof(err));
        if (!r->body) {
            api_reply_error(r, 400, "malformed_json", err);
            return;
        }
    }
    rt->fn(r);
    if (!r->resp)
        api_reply_error(r, 500, "internal", "handler gave no reply");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *data,
                                  size_t *data_size, void **con_cls)
{
    (void)version;
    api_server *s = cls;
    upload *up = *con_cls;
    if (!up) {
        up = calloc(1, sizeof(*up));
        if (!up)
            return MHD_NO;
        *con_cls = up;
        return MHD_YES;
    }
    if (*data_size) {
        /* Past the cap we keep reading (and dropping) so we can answer 413. */
        if (!up->too_big && up->len + *data_size <= HUB_API_MAX_BODY) {
            char *nb = realloc(up->buf, up->len + *data_size + 1);
            if (!nb)
                return MHD_NO;
            up->buf = nb;
            memcpy(up->buf + up->len, data, *data_size);
            up->len += *data_size;
            up->buf[up->len] = '\0';
        } else {
            up->too_big = 1;
        }
        *data_size = 0;
        return MHD_YES;
    }
    api_req r = {.ctx = s->ctx, .conn = conn, .method = method, .url = url};
    dispatch(&r, up);
    json_decref(r.body);
    if (!r.resp)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(conn, r.status, r.resp);
    MHD_destroy_response(r.resp);
    return ret;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    upload *up = *con_cls;
    if (up) {
        if (up->buf)
            OPENSSL_cleanse(up->buf, up->len);
        free(up->buf);
        free(up);
        *con_cls = NULL;
    }
}

int api_start(hub_ctx *ctx, api_server **out)
{
    api_server *s = calloc(1, sizeof(*s));
    if (!s)
        return hub_fail("API: out of memory");
    s->ctx = ctx;
    if (api_tls_load(&ctx->cfg, &s->tls) != 0) {
        free(s);
        return -1;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)ctx->cfg.api_port)};
    if (inet_pton(AF_INET, ctx->cfg.api_addr, &sa.sin_addr) != 1) {
        api_tls_free(&s->tls);
        free(s);
        return hub_fail("API: api_addr '%s' is not an IPv4 address", ctx->cfg.api_addr);
    }
    struct MHD_OptionItem tls_opts[8];
    api_tls_options(&s->tls, tls_opts, 8);
    s->d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_TLS | MHD_USE_ERROR_LOG, 0, NULL,
        NULL, on_request, s, MHD_OPTION_SOCK_ADDR, &sa, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)(ctx->cfg.api_threads > 0 ? ctx->cfg.api_threads : 1),
        MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_NOTIFY_COMPLETED, on_completed, s,
        MHD_OPTION_ARRAY, tls_opts, MHD_OPTION_END);
    if (!s->d) {
        api_tls_free(&s->tls);
        free(s);
        return hub_fail("API: cannot listen on %s:%d with TLS (port in use, or the hub "
                        "certificate/key unusable)",
                        ctx->cfg.api_addr, ctx->cfg.api_port);
    }
    *out = s;
    return 0;
}

void api_stop(api_server *s)
{
    if (!s)
        return;
    MHD_stop_daemon(s->d);
    api_tls_free(&s->tls);
    free(s);
}
