/* edgekey core: logging to stderr (level from config / EDGEKEY_LOG_LEVEL).
 * 0 = errors only (default), 1 = warnings, 2 = info, 3 = debug; EK_LOG_ALERT
 * warnings are always shown.
 * Never pass secrets, PINs or auth values to these.
 *
 * Public header: the faces include it. Only declarations marked EK_API are
 * exported from libedgekey-core.so (ek_export.h); the others are for core
 * and its tests.
 *
 * No errors, nothing to free; ek_wipe clears caller memory. */
#ifndef EK_LOG_H
#define EK_LOG_H

#include <stddef.h>
#include "ek_export.h"

EK_API void ek_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* A warning shown at every level, "errors only" too: a security problem
 * the operator must fix (a token without TPM dictionary-attack protection)
 * is of no use in a log level nobody enables. */
#define EK_LOG_ALERT (-1)
#define EK_LOG_ERR 0
#define EK_LOG_WARN 1
#define EK_LOG_INFO 2
#define EK_LOG_DEBUG 3

/* Wipe secret memory (OPENSSL_cleanse). */
EK_API void ek_wipe(void *p, size_t n);

#endif
