/* edgekey hub: small helpers shared by the service, the CLI and the plugin.
 *
 * Strings returned through char ** are malloc'ed and owned by the caller.
 * Functions returning int give 0 on success and -1 on failure; on failure
 * hub_err() holds a message naming the object, the rule and the fix. */
#ifndef HUB_UTIL_H
#define HUB_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define HUB_ERR_MAX 512

/* Per-thread last error. hub_fail() sets it and returns -1. */
int hub_fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *hub_err(void);

int64_t hub_now_ms(void);
int64_t hub_now_s(void);

/* Upper-case hex of a buffer into out (2*len+1 bytes). */
void hub_hex_upper(const unsigned char *in, size_t len, char *out);
/* Upper-case hex SHA-256 of a string (65 bytes out). */
void hub_sha256_hex(const char *data, size_t len, char out[65]);
/* Random upper-case hex string of nbytes random bytes (2*nbytes+1 out). */
int hub_random_hex(size_t nbytes, char *out);
/* Constant-time string equality (lengths compared first; not secret). */
int hub_str_eq_ct(const char *a, const char *b);

/* Write a file atomically: temp file in the same directory, fsync, rename. */
int hub_write_atomic(const char *path, const void *data, size_t len, unsigned mode);
/* Read a whole file (NUL-terminated); *len may be NULL. */
int hub_read_file(const char *path, char **data, size_t *len);

/* A product/device key or service id: 1..maxlen printable ASCII chars, none
 * of "/+#&|\\" or space (topic and login separators). */
int hub_valid_name(const char *s, size_t maxlen);

void hub_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
