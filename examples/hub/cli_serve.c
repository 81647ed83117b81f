/* edgekey-hub serve: the HTTPS API, the MQTT cloud side and the periodic
 * maintenance (superseded certs revoked after the grace period, CRL
 * reissued before nextUpdate) until SIGTERM/SIGINT. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include "api_server.h"
#include "cli.h"
#include "hub_util.h"
#include "service.h"

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

int cli_serve(const cli_opts *o, int argc, char **argv)
{
    (void)argc, (void)argv;
    hub_ctx ctx;
    if (hub_ctx_open(o->conf, true, &ctx) != 0)
        return cli_error(o, "config", hub_err());
    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (hub_op_maintain(&ctx) != 0)
        hub_log("CRL: %s", hub_err());
    api_server *api = NULL;
    if (api_start(&ctx, &api) != 0) {
        int rc = cli_error(o, "api", hub_err());
        hub_ctx_close(&ctx);
        return rc;
    }
    hub_service *svc = NULL;
    if (ctx.cfg.mqtt_port > 0 && hub_service_start(&ctx, true, 0, &svc) != 0)
        hub_log("MQTT service not started: %s", hub_err());
    ctx.svc = svc;
    printf("edgekey-hub: API on https://%s:%d, MQTT service -> %s:%d\n", ctx.cfg.api_addr,
           ctx.cfg.api_port, ctx.cfg.mqtt_host, ctx.cfg.mqtt_port);
    fflush(stdout);
    struct timespec tick = {0, 200 * 1000000L};
    int n = 0;
    while (!stopping) {
        nanosleep(&tick, NULL);
        if (++n % 5 == 0 && hub_op_maintain(&ctx) != 0)
            hub_log("maintenance: %s", hub_err());
    }
    api_stop(api);
    ctx.svc = NULL;
    hub_service_stop(svc);
    hub_ctx_close(&ctx);
    return 0;
}
