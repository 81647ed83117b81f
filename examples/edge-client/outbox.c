/* edge-client: in-flight telemetry rows (see outbox.h). */
#include "outbox.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "log.h"

enum { FREE = 0, PUBLISHED, PUBACKED };

typedef struct {
    long long seq;
    int mid;
    int state;
    long long sent_ms;
    int sends;
} slot;

struct edge_outbox {
    edge_queue *q;
    edge_runtime *rt;
    slot *win;
    int size, used;
    int reply_mode, timeout_ms;
    long long cursor; /* highest seq published on this connection */
};

edge_outbox *edge_outbox_new(edge_queue *q, int max_inflight, int reply_mode, int timeout_ms,
                             edge_runtime *rt)
{
    edge_outbox *b = calloc(1, sizeof(*b));
    if (b == NULL || (b->win = calloc((size_t)max_inflight, sizeof(slot))) == NULL) {
        free(b);
        return NULL;
    }
    b->q = q;
    b->rt = rt;
    b->size = max_inflight;
    b->reply_mode = reply_mode;
    b->timeout_ms = timeout_ms;
    return b;
}

void edge_outbox_free(edge_outbox *b)
{
    if (b)
        free(b->win);
    free(b);
}

void edge_outbox_reset(edge_outbox *b)
{
    memset(b->win, 0, (size_t)b->size * sizeof(slot));
    b->used = 0;
    b->cursor = 0;
}

int edge_outbox_full(const edge_outbox *b)
{
    return b->used >= b->size;
}

int edge_outbox_busy(const edge_outbox *b)
{
    return b->used;
}

static void release(edge_outbox *b, slot *s)
{
    if (s->state != FREE)
        b->used--;
    memset(s, 0, sizeof(*s));
}

/* The hub has the row: out of the queue, counted once. */
static void delivered(edge_outbox *b, long long seq)
{
    if (edge_queue_delete(b->q, seq) == 1) {
        b->rt->delivered++;
        if (b->rt->first_seq > 0 && seq >= b->rt->first_seq)
            b->rt->delivered_run++;
    }
    for (int i = 0; i < b->size; i++)
        if (b->win[i].state != FREE && b->win[i].seq == seq)
            release(b, &b->win[i]);
}

static int send_row(edge_outbox *b, slot *s, long long seq, const char *params, long long now,
                    edge_publish_fn fn, void *arg)
{
    int mid;
    if (fn(arg, seq, params, &mid) != 0)
        return -1;
    if (s->state == FREE)
        b->used++;
    if (s->sends > 0) {
        edge_debug("telemetry id %lld published again", seq);
        b->rt->resent++;
    }
    s->seq = seq;
    s->mid = mid;
    s->state = PUBLISHED;
    s->sent_ms = now;
    s->sends++;
    return 0;
}

/* Rows whose answer is overdue go again (same seq: the hub de-duplicates). */
static int resend_overdue(edge_outbox *b, long long now, edge_publish_fn fn, void *arg)
{
    int n = 0;
    for (int i = 0; i < b->size; i++) {
        slot *s = &b->win[i];
        long long seq;
        char *params = NULL;
        if (s->state == FREE || now - s->sent_ms < b->timeout_ms)
            continue;
        if (edge_queue_next(b->q, s->seq - 1, &seq, &params) != 1 || seq != s->seq) {
            free(params);
            release(b, s); /* answered meanwhile */
            continue;
        }
        edge_warn("telemetry id %lld: no %s within %d ms; publishing it again", seq,
                  s->state == PUBLISHED ? "PUBACK" : "hub reply", b->timeout_ms);
        int rc = send_row(b, s, seq, params, now, fn, arg);
        free(params);
        if (rc != 0)
            return -1;
        n++;
    }
    return n;
}

int edge_outbox_fill(edge_outbox *b, long long now_ms, edge_publish_fn fn, void *arg)
{
    int n = resend_overdue(b, now_ms, fn, arg);
    while (n >= 0 && b->used < b->size) {
        long long seq;
        char *params = NULL;
        slot *s = NULL;
        if (edge_queue_next(b->q, b->cursor, &seq, &params) != 1)
            break;
        for (int i = 0; i < b->size && s == NULL; i++)
            if (b->win[i].state == FREE)
                s = &b->win[i];
        int rc = send_row(b, s, seq, params, now_ms, fn, arg);
        free(params);
        if (rc != 0)
            return -1;
        b->cursor = seq;
        n++;
    }
    return n;
}

void edge_outbox_puback(edge_outbox *b, int mid)
{
    for (int i = 0; i < b->size; i++) {
        slot *s = &b->win[i];
        if (s->state != PUBLISHED || s->mid != mid)
            continue;
        if (!b->reply_mode)
            delivered(b, s->seq);
        else
            s->state = PUBACKED;
        return;
    }
}

void edge_outbox_reply(edge_outbox *b, const char *payload, int len)
{
    json_t *j = json_loadb(payload, (size_t)len, 0, NULL);
    const char *id = json_string_value(json_object_get(j, "id"));
    json_t *cv = json_object_get(j, "code");
    int code = json_is_integer(cv) ? (int)json_integer_value(cv) : 0;
    const char *msg = json_string_value(json_object_get(j, "message"));
    char *end;
    long long seq = id ? strtoll(id, &end, 10) : 0;

    b->rt->replies++;
    if (id == NULL || *end != '\0' || seq <= 0) {
        edge_warn("post_reply without a telemetry id we sent: ignored");
    } else if (code == 200) {
        if (b->reply_mode)
            delivered(b, seq);
    } else if (code >= 400 && code < 500) {
        /* the hub will never take it: resending would loop forever */
        edge_warn("telemetry id %lld refused by the hub: code %d (%s); dropped from the queue", seq,
                  code, msg ? msg : "no message");
        b->rt->rejected++;
        delivered(b, seq);
    } else {
        edge_warn("telemetry id %lld: hub answered code %d (%s); publishing it again later", seq,
                  code, msg ? msg : "no message");
    }
    json_decref(j);
}
