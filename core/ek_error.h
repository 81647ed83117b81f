/* edgekey core: error codes and the per-thread error message.
 *
 * Every core function returns an ek_rc. On failure it also leaves a message
 * in a thread-local buffer (ek_last_error) that names the object, the rule
 * that was broken and the fix, e.g.
 *   "RSA-1024 refused: policy requires >= 2048 bits; use --alg rsa2048".
 * The faces copy that text into their own error channel (ERR_raise_data,
 * a PKCS#11 log line, the CLI's stderr). Messages never contain secrets.
 *
 * Public header: the faces include it. Only declarations marked EK_API are
 * exported from libedgekey-core.so (ek_export.h); the others are for core
 * and its tests.
 *
 * Ownership: ek_last_error's text belongs to the calling thread and stays
 * valid until its next core call; ek_rc_name's strings are static. */
#ifndef EK_ERROR_H
#define EK_ERROR_H

#include <stdarg.h>
#include "ek_export.h"

typedef enum ek_rc {
    EK_OK = 0,
    EK_ERR_INVALID,   /* malformed argument or input (bad URI, bad key file) */
    EK_ERR_POLICY,    /* refused by policy (key size, algorithm) */
    EK_ERR_NOT_FOUND, /* no such key, token, handle or file */
    EK_ERR_EXISTS,    /* object or handle already present */
    EK_ERR_AUTH,      /* wrong or missing authorisation value */
    EK_ERR_LOCKOUT,   /* TPM dictionary-attack lockout in force */
    EK_ERR_TPM,       /* the TPM refused the command */
    EK_ERR_CONNECT,   /* the TPM cannot be reached (TCTI) */
    EK_ERR_IO,        /* store or file I/O */
    EK_ERR_NOMEM,
    EK_ERR_UNSUPPORTED, /* valid request this TPM or build cannot do */
    EK_ERR_BUFFER_TOO_SMALL,
} ek_rc;

/* The message of the last failure on this thread; never NULL ("" if none). */
EK_API const char *ek_last_error(void);

/* Set the thread's message and return rc, so callers can write
 *   return ek_error(EK_ERR_POLICY, "RSA-%u refused: ...", bits); */
EK_API ek_rc ek_error(ek_rc rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
ek_rc ek_verror(ek_rc rc, const char *fmt, va_list ap);

/* Short fixed name of an rc ("policy", "not found", ...). */
EK_API const char *ek_rc_name(ek_rc rc);

EK_API void ek_clear_error(void);

#endif
