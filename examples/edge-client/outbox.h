/* edge-client: the rows of the telemetry queue that are on their way.
 *
 * A window of at most max_inflight rows published and not yet answered.
 * A row leaves the queue (edge_queue_delete) on its PUBACK (ack = puback)
 * or on the hub's post_reply with code 200 or 4xx (ack = reply; a 4xx is
 * logged and counted, never resent); a 5xx or no answer within timeout_ms
 * publishes it again. After a reconnect everything unanswered goes again,
 * oldest first. Owned by the run loop; not thread-safe. */
#ifndef EDGE_OUTBOX_H
#define EDGE_OUTBOX_H

#include "commands.h"
#include "queue.h"

typedef struct edge_outbox edge_outbox;

/* Publish one row: 0 with *mid set, or -1 (connection lost). */
typedef int (*edge_publish_fn)(void *arg, long long seq, const char *params, int *mid);

edge_outbox *edge_outbox_new(edge_queue *q, int max_inflight, int reply_mode, int timeout_ms,
                             edge_runtime *rt);
void edge_outbox_free(edge_outbox *b);

/* A new connection: forget what was in flight, start again from the oldest row. */
void edge_outbox_reset(edge_outbox *b);

/* Publish timed-out rows again and new rows while there is room. Returns
 * the number published, -1 if publishing failed. */
int edge_outbox_fill(edge_outbox *b, long long now_ms, edge_publish_fn fn, void *arg);

int edge_outbox_full(const edge_outbox *b);
int edge_outbox_busy(const edge_outbox *b); /* rows in flight */

void edge_outbox_puback(edge_outbox *b, int mid);
/* A post_reply (JSON text {"id","code",...}). */
void edge_outbox_reply(edge_outbox *b, const char *payload, int len);

#endif
