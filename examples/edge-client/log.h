/* edge-client: leveled log lines to stderr or syslog.
 *
 * Levels error < warn < info < debug; lines above the configured level are
 * dropped. Never pass a secret (deviceSecret, productSecret, MQTT password,
 * PIN) to these functions: the log is meant to be shipped off the device.
 * The progress lines the demo reads ("edge: ...") stay on stdout. */
#ifndef EDGE_LOG_H
#define EDGE_LOG_H

typedef enum { EDGE_LOG_ERROR = 0, EDGE_LOG_WARN, EDGE_LOG_INFO, EDGE_LOG_DEBUG } edge_log_level;

/* target: "stderr" (default) or "syslog"; level: error|warn|info|debug.
 * -1 (message on stderr) on an unknown name. */
int edge_log_setup(const char *target, const char *level);
void edge_log_close(void);
int edge_log_enabled(edge_log_level lv);

void edge_log(edge_log_level lv, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define edge_error(...) edge_log(EDGE_LOG_ERROR, __VA_ARGS__)
#define edge_warn(...) edge_log(EDGE_LOG_WARN, __VA_ARGS__)
#define edge_info(...) edge_log(EDGE_LOG_INFO, __VA_ARGS__)
#define edge_debug(...) edge_log(EDGE_LOG_DEBUG, __VA_ARGS__)

#endif
