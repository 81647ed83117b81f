/* edgekey hub: the HTTPS API (libmicrohttpd + GnuTLS, TLS 1.2 minimum).
 *
 * Routes live in api_device.c (device + public) and api_admin.c (bearer
 * token). Handlers get an api_req and answer with one api_reply_* call.
 * Replies: {"code":0,"msg":"OK","data":{...}} or
 *          {"code":<http status>,"error":"<code>","msg":"<sentence>"}. */
#ifndef HUB_API_SERVER_H
#define HUB_API_SERVER_H

#include <jansson.h>
#include <microhttpd.h>
#include <openssl/x509.h>
#include "ops.h"

typedef struct api_server api_server;

typedef struct api_req {
    hub_ctx *ctx;
    struct MHD_Connection *conn;
    const char *method, *url;
    json_t *body;              /* parsed object, NULL if none */
    struct MHD_Response *resp; /* set by api_reply_* */
    unsigned status;
} api_req;

typedef void (*api_handler)(api_req *r);
typedef struct api_route {
    const char *method, *path;
    api_handler fn;
    int needs_body; /* 1: JSON object body required */
} api_route;

extern const api_route hub_device_routes[];
extern const api_route hub_admin_routes[];

int api_start(hub_ctx *ctx, api_server **out);
void api_stop(api_server *s);

void api_reply_data(api_req *r, json_t *data); /* steals data */
void api_reply_error(api_req *r, unsigned status, const char *code, const char *msg);
void api_reply_raw(api_req *r, unsigned status, const char *type, const void *buf, size_t len);
/* Reply for an operation's result (0 = data, else status/ecode/hub_err()). */
void api_reply_op(api_req *r, int st, json_t *data, const char *ecode);
/* The verified-by-TLS client certificate (proof of possession done by the
 * handshake); NULL if none. Caller frees. */
X509 *api_client_cert(api_req *r);
/* Admin bearer token check; replies 401/403 itself and returns -1. */
int api_require_admin(api_req *r);

#endif
