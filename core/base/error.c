/* edgekey core: error codes and the per-thread error message (ek_error.h).
 *
 * The message lives in a thread-local buffer so concurrent callers (the
 * provider and the PKCS#11 module are both multi-threaded) never see each
 * other's text. Messages are truncated, never overflowed. */
#include <stdio.h>
#include <string.h>

#include "ek_error.h"

#define EK_ERR_MSG_MAX 1024

static _Thread_local char ek_err_msg[EK_ERR_MSG_MAX];

const char *ek_last_error(void)
{
    return ek_err_msg;
}

ek_rc ek_verror(ek_rc rc, const char *fmt, va_list ap)
{
    /* Format into a scratch buffer first: a caller may pass ek_last_error()
     * itself as an argument ("...: %s", ek_last_error()). */
    char tmp[EK_ERR_MSG_MAX];
    int n = vsnprintf(tmp, sizeof(tmp), fmt, ap);
    if (n < 0)
        snprintf(tmp, sizeof(tmp), "%s (message could not be formatted)", ek_rc_name(rc));
    memcpy(ek_err_msg, tmp, sizeof(ek_err_msg));
    return rc;
}

ek_rc ek_error(ek_rc rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ek_verror(rc, fmt, ap);
    va_end(ap);
    return rc;
}

const char *ek_rc_name(ek_rc rc)
{
    switch (rc) {
    case EK_OK:
        return "ok";
    case EK_ERR_INVALID:
        return "invalid";
    case EK_ERR_POLICY:
        return "policy";
    case EK_ERR_NOT_FOUND:
        return "not found";
    case EK_ERR_EXISTS:
        return "exists";
    case EK_ERR_AUTH:
        return "authorization";
    case EK_ERR_LOCKOUT:
        return "lockout";
    case EK_ERR_TPM:
        return "tpm";
    case EK_ERR_CONNECT:
        return "connect";
    case EK_ERR_IO:
        return "i/o";
    case EK_ERR_NOMEM:
        return "out of memory";
    case EK_ERR_UNSUPPORTED:
        return "unsupported";
    case EK_ERR_BUFFER_TOO_SMALL:
        return "buffer too small";
    }
    return "unknown";
}

void ek_clear_error(void)
{
    ek_err_msg[0] = '\0';
}
