/* edge-client: where telemetry readings come from.
 *
 * config "telemetry = simulated | file:PATH | exec:CMD":
 * - simulated: a built-in sensor ({"temp": ..., "seq": n});
 * - file:PATH: one JSON object per line, replayed one line per interval;
 * - exec:CMD: CMD run with /bin/sh -c, its stdout read as JSON lines
 *   (non-blocking; the command paces itself, at most one line per interval).
 * A line is a measurepoints object ({"temp":21.5}) or a whole params object
 * ({"measurepoints":{...},"time":ms}). Bad lines are logged and skipped.
 *
 * Ownership: the caller closes the source (the command is terminated). */
#ifndef EDGE_TELEMETRY_H
#define EDGE_TELEMETRY_H

typedef struct edge_tsrc edge_tsrc;

/* NULL (message logged) on a bad spec or a file/command that cannot start. */
edge_tsrc *edge_tsrc_open(const char *spec);
void edge_tsrc_close(edge_tsrc *s);

enum { EDGE_TSRC_NONE = 0, EDGE_TSRC_READING = 1, EDGE_TSRC_END = -1 };

/* The next reading as EnOS params text ({"measurepoints":{...},"time":ms},
 * malloc'ed into *params); n is the reading's number in this run (1..).
 * EDGE_TSRC_NONE: nothing yet; EDGE_TSRC_END: the file or command ended. */
int edge_tsrc_read(edge_tsrc *s, long long n, char **params);

#endif
