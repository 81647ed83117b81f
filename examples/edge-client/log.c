/* edge-client: log lines with levels (see log.h). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>

static edge_log_level max_level = EDGE_LOG_INFO;
static int use_syslog;

static const char *const names[] = {"error", "warn", "info", "debug"};

int edge_log_setup(const char *target, const char *level)
{
    int lv = -1;
    for (int i = 0; level && i < 4; i++)
        if (strcmp(level, names[i]) == 0)
            lv = i;
    if (level && lv < 0) {
        fprintf(stderr, "edge-client: log_level '%s' unknown; use error, warn, info or debug\n",
                level);
        return -1;
    }
    if (target && strcmp(target, "syslog") != 0 && strcmp(target, "stderr") != 0) {
        fprintf(stderr, "edge-client: log '%s' unknown; use stderr or syslog\n", target);
        return -1;
    }
    if (lv >= 0)
        max_level = (edge_log_level)lv;
    use_syslog = target && strcmp(target, "syslog") == 0;
    if (use_syslog)
        openlog("edge-client", LOG_PID, LOG_DAEMON);
    return 0;
}

void edge_log_close(void)
{
    if (use_syslog)
        closelog();
    use_syslog = 0;
}

int edge_log_enabled(edge_log_level lv)
{
    return lv <= max_level;
}

void edge_log(edge_log_level lv, const char *fmt, ...)
{
    static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
    va_list ap;

    if (lv > max_level)
        return;
    va_start(ap, fmt);
    if (use_syslog) {
        vsyslog(prio[lv], fmt, ap);
    } else {
        fprintf(stderr, "edge-client: %s: ", names[lv]);
        vfprintf(stderr, fmt, ap);
        fputc('\n', stderr);
    }
    va_end(ap);
}
