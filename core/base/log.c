/* edgekey core: logging to stderr and wiping secrets (ek_log.h).
 *
 * The threshold is EDGEKEY_LOG_LEVEL if set, else the loaded configuration's
 * log_level, else 0 (errors only). ek_log never loads the configuration
 * itself: a load failure would overwrite the caller's error message. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/crypto.h>

#include "ek_config.h"
#include "ek_log.h"

static int ek_log_threshold(void)
{
    const char *env = getenv("EDGEKEY_LOG_LEVEL");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v >= 0 && v <= 3)
            return (int)v;
    }
    const ek_config *cfg = ek_config_peek();
    return cfg ? cfg->log_level : EK_LOG_ERR;
}

void ek_log(int level, const char *fmt, ...)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    if (level > ek_log_threshold())
        return;
    /* One fprintf per line keeps lines from several threads whole. */
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    const char *name = level == EK_LOG_ALERT        ? "warning"
                       : (level >= 0 && level <= 3) ? names[level]
                                                    : "log";
    fprintf(stderr, "edgekey: %s: %s\n", name, line);
}

void ek_wipe(void *p, size_t n)
{
    if (p && n)
        OPENSSL_cleanse(p, n);
}
