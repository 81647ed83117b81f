/* edge-client: commands from the hub (.../thing/service/{serviceId}) and
 * the running state they read and change.
 *
 * Handler table (service id -> handler):
 *   measurepoint/set  {"interval_ms": N}: change the telemetry period
 *   ping              answer {"pong": now_ms}
 *   status            queue depth, counters, key label, certificate
 *   rotate-key-now    (also rotate-key) schedule a key + certificate renewal
 *   reboot            acknowledged and logged (an example client does not reboot)
 * Anything else gets code 404; an unreadable request code 400. */
#ifndef EDGE_COMMANDS_H
#define EDGE_COMMANDS_H

/* What the session, the commands and the renewal share. Owned by the run
 * loop (mqtt.c); the strings point into buffers that live as long. */
typedef struct {
    int interval_ms;         /* telemetry period now */
    int rotate_requested;    /* set by rotate-key-now, cleared by the renewal */
    long long produced;      /* readings queued in this run */
    long long delivered;     /* rows the hub has (left the queue) in this run */
    long long delivered_run; /* ... of them, readings taken in this run */
    long long first_seq;     /* seq of this run's first reading (0: none yet) */
    long long replies;       /* post_reply messages seen */
    long long rejected;      /* post_reply with a 4xx: dropped, logged */
    long long resent;        /* publications of a row after the first */
    long long queue_depth;   /* rows waiting (updated by the loop) */
    long long started_ms;
    long long connected_ms; /* first session up in this run (monotonic), 0 before */
    long long reconnects;
    char key_label[128];
    char cert_sn[64];
    long long cert_not_after; /* seconds since the epoch */
    int renewals;
} edge_runtime;

/* Answer a command. payload: the request (JSON text, len bytes). Returns
 * the reply text {"id","code","data"} (malloc'ed; caller frees) and sets
 * *code. NULL only when out of memory. */
char *edge_command_handle(edge_runtime *rt, const char *service, const char *payload, int len,
                          int *code);

#endif
