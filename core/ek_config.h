/* edgekey core: configuration.
 *
 * Sources, later ones win:
 *   1. the file named by EDGEKEY_CONF, else /etc/edgekey/edgekey.conf
 *      (a missing default file is fine; a missing EDGEKEY_CONF file is an error)
 *   2. environment: EDGEKEY_TCTI, EDGEKEY_STORE, EDGEKEY_LOG_LEVEL
 *   3. overrides set by a face (provider params from openssl.cnf,
 *      x-init-reserved from a p11-kit module file) before first use.
 *
 * File syntax: "key = value" lines, '#' comments, blank lines ignored.
 * Keys: tcti, store, token (default token label), rsa_min_bits (>= 2048,
 * smaller values are refused), allow_ec (yes/no), log_level (0..3).
 *
 * Public header: the faces include it. Only declarations marked EK_API are
 * exported from libedgekey-core.so (ek_export.h); the others are for core
 * and its tests.
 *
 * Ownership: ek_config_get's result belongs to core, read-only, valid until
 * exit. Errors: EK_ERR_INVALID (unknown key or bad value); a broken file
 * makes ek_config_get return NULL with ek_last_error set. */
#ifndef EK_CONFIG_H
#define EK_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include "ek_export.h"
#include "ek_error.h"

#define EK_DEFAULT_CONF "/etc/edgekey/edgekey.conf"
#define EK_DEFAULT_STORE "/var/lib/edgekey"
#define EK_DEFAULT_TOKEN "edge"

typedef struct ek_config {
    char tcti[512];        /* "" means the TCTI loader's default */
    char store[1024];      /* store root directory */
    char token[33];        /* default token label for new keys */
    unsigned rsa_min_bits; /* >= 2048 */
    bool allow_ec;
    int log_level;
} ek_config;

/* Record an override (key as in the file). Must be called before the first
 * ek_config_get(); returns EK_ERR_INVALID for an unknown key or bad value. */
EK_API ek_rc ek_config_set(const char *key, const char *value);

/* Load (once per process, thread-safe) and return the configuration.
 * On a broken file returns NULL and sets ek_last_error. */
EK_API const ek_config *ek_config_get(void);

/* Where the value of key ("tcti" or "store") comes from, for messages:
 * "set by the program (override)", "environment EDGEKEY_TCTI",
 * "file /etc/edgekey/edgekey.conf" or "built-in default". Written to buf
 * (truncated to size), which is returned. Reads the file again; never
 * fails (an unreadable file counts as not setting it). */
EK_API const char *ek_config_source(const char *key, char *buf, size_t size);

/* The configuration if it is already loaded, else NULL; never loads and never
 * touches the error message (for ek_log). */
const ek_config *ek_config_peek(void);

/* Parse one file into cfg (used by ek_config_get and by unit tests). */
ek_rc ek_config_parse_file(const char *path, ek_config *cfg);
ek_rc ek_config_parse_line(ek_config *cfg, const char *line, unsigned lineno, const char *path);
void ek_config_defaults(ek_config *cfg);

/* Look up key in "key = value" text (the syntax of this file, shared with the
 * store's token.conf and .meta files). Value trimmed and copied into buf.
 * EK_ERR_NOT_FOUND if absent, EK_ERR_BUFFER_TOO_SMALL if it does not fit
 * (neither sets a message). */
ek_rc ek_kv_get(const char *text, const char *key, char *buf, size_t size);

/* Forget the loaded configuration and overrides (tests only). */
void ek_config_reset(void);

/* A token label: 1-32 of [A-Za-z0-9._-], not "." or "..". EK_ERR_INVALID
 * with the rule otherwise. */
ek_rc ek_token_label_check(const char *label);

#endif
