/* edge-client: the on-disk telemetry queue (SQLite, data_dir/queue.db).
 *
 * Every reading is written here before it is published; a row leaves only
 * when the hub has it (PUBACK, and with ack = reply also the hub's
 * post_reply), so a broker restart, a network cut or a client crash loses
 * nothing: after a restart the rows left are sent again, oldest first.
 * Each row's seq is a persistent, strictly increasing number (AUTOINCREMENT
 * keeps the high-water mark even when the queue empties); it is the EnOS
 * message "id", which the hub de-duplicates on.
 *
 * Ownership: edge_queue_open returns a handle the caller closes with
 * edge_queue_close; payloads returned are malloc'ed, the caller frees.
 * Errors: -1 with a line on the log naming the file and the fix. */
#ifndef EDGE_QUEUE_H
#define EDGE_QUEUE_H

typedef struct edge_queue edge_queue;

/* full_sync: fsync every commit (power-cut safe); else WAL with
 * synchronous=NORMAL (a crash of the process loses nothing). max_rows > 0
 * bounds the queue: a device offline for weeks keeps the newest max_rows
 * readings and drops the oldest (with a warning) instead of filling its
 * disk; 0 means no bound. */
int edge_queue_open(const char *path, int full_sync, long long max_rows, edge_queue **out);
void edge_queue_close(edge_queue *q);

/* Append params (a JSON object text, the EnOS "params"); *seq gets its id. */
int edge_queue_push(edge_queue *q, const char *params, long long *seq);

/* The first row with seq > after: 1 found (*seq, *params malloc'ed),
 * 0 none, -1 error. */
int edge_queue_next(edge_queue *q, long long after, long long *seq, char **params);

/* Remove a row: 1 removed, 0 it was gone already, -1 error. */
int edge_queue_delete(edge_queue *q, long long seq);

/* Group several pushes or deletes into one commit (one fsync): the run
 * loop wraps each turn in them. A lost delete only means a resend, which
 * the hub de-duplicates. 0 or -1. */
int edge_queue_begin(edge_queue *q);
int edge_queue_commit(edge_queue *q);

/* Rows waiting; -1 on error. */
long long edge_queue_depth(edge_queue *q);

#endif
