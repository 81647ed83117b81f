/* edgekey core: configuration (ek_config.h).
 *
 * Load order, later wins: defaults, the file (EDGEKEY_CONF or the default
 * path), the environment (EDGEKEY_TCTI, EDGEKEY_STORE, EDGEKEY_LOG_LEVEL),
 * then overrides recorded by a face with ek_config_set(). The result is
 * loaded once per process under a mutex and never changes afterwards, so
 * readers may keep the pointer. A failed load is remembered too: every later
 * ek_config_get() fails with the same message instead of re-reading a file
 * that may have been half-edited in between.
 *
 * File syntax: "key = value" per line; '#' starts a comment line; blank lines
 * are ignored; a value may be wrapped in double quotes. There are no inline
 * comments ('#' is legal inside a TCTI string or a path). */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ek_config.h"

#define EK_CONF_LINE_MAX 4096
#define EK_CONF_ALLOWED "tcti, store, token, rsa_min_bits, allow_ec, log_level"

enum { CFG_UNLOADED = 0, CFG_OK = 1, CFG_FAILED = 2 };

struct ek_override {
    char key[16];
    char value[1024];
};

/* Token labels name store directories: the rule lives here, at the
 * bottom, so the configuration (token = ...) and the store share it. */
ek_rc ek_token_label_check(const char *label)
{
    size_t n = label ? strlen(label) : 0;
    if (n == 0 || n > 32)
        return ek_error(EK_ERR_INVALID, "token label '%s' refused: it must be 1-32 characters long",
                        label ? label : "");
    if (strcmp(label, ".") == 0 || strcmp(label, "..") == 0)
        return ek_error(EK_ERR_INVALID, "token label '%s' refused: '.' and '..' are not labels",
                        label);
    if (strspn(label, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-") != n)
        return ek_error(EK_ERR_INVALID,
                        "token label '%s' refused: use only letters, digits, '.', '_' and '-'",
                        label);
    return EK_OK;
}

static pthread_mutex_t cfg_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int cfg_state = CFG_UNLOADED;
static ek_config cfg_loaded;
static ek_rc cfg_fail_rc;
static char cfg_fail_msg[1024];
static struct ek_override cfg_overrides[8];
static size_t cfg_n_overrides;

void ek_config_defaults(ek_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->store, sizeof(cfg->store), "%s", EK_DEFAULT_STORE);
    snprintf(cfg->token, sizeof(cfg->token), "%s", EK_DEFAULT_TOKEN);
    cfg->rsa_min_bits = 2048;
    cfg->allow_ec = true; /* the design allows EC P-256 unless policy says no */
    cfg->log_level = 0;
}

static ek_rc set_string(char *dst, size_t size, const char *key, const char *value,
                        const char *where)
{
    size_t len = strlen(value);
    if (len >= size)
        return ek_error(EK_ERR_INVALID, "%s: %s value too long (%zu bytes, at most %zu)", where,
                        key, len, size - 1);
    memcpy(dst, value, len + 1);
    return EK_OK;
}

static ek_rc parse_uint(const char *value, unsigned long max, unsigned long *out)
{
    char *end;
    if (*value == '\0' || *value == '-' || *value == '+')
        return EK_ERR_INVALID;
    errno = 0;
    unsigned long v = strtoul(value, &end, 10);
    if (errno || *end != '\0' || v > max)
        return EK_ERR_INVALID;
    *out = v;
    return EK_OK;
}

static ek_rc parse_bool(const char *value, bool *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(value, yes[i]) == 0)
            return *out = true, EK_OK;
        if (strcasecmp(value, no[i]) == 0)
            return *out = false, EK_OK;
    }
    return EK_ERR_INVALID;
}

static ek_rc apply_rsa_min_bits(ek_config *cfg, const char *value, const char *where)
{
    unsigned long v;
    if (parse_uint(value, 1000000, &v) != EK_OK)
        return ek_error(EK_ERR_INVALID,
                        "%s: rsa_min_bits = '%s' is not a number; use e.g. rsa_min_bits = 2048",
                        where, value);
    if (v < 2048)
        return ek_error(EK_ERR_INVALID,
                        "%s: rsa_min_bits = %lu refused: edgekey never allows RSA keys below "
                        "2048 bits; set rsa_min_bits = 2048 or higher",
                        where, v);
    if (v > 4096)
        return ek_error(EK_ERR_INVALID,
                        "%s: rsa_min_bits = %lu would refuse every RSA key (the largest "
                        "supported size is 4096); set 2048, 3072 or 4096",
                        where, v);
    cfg->rsa_min_bits = (unsigned)v;
    return EK_OK;
}

/* Apply one key/value; where names the source ("file:line", "EDGEKEY_STORE")
 * for messages. */
static ek_rc apply_kv(ek_config *cfg, const char *key, const char *value, const char *where)
{
    if (strcmp(key, "tcti") == 0)
        return set_string(cfg->tcti, sizeof(cfg->tcti), key, value, where);
    if (strcmp(key, "store") == 0) {
        if (value[0] != '/')
            return ek_error(EK_ERR_INVALID,
                            "%s: store = '%s' must be an absolute path; e.g. store = %s", where,
                            value, EK_DEFAULT_STORE);
        return set_string(cfg->store, sizeof(cfg->store), key, value, where);
    }
    if (strcmp(key, "token") == 0) {
        if (ek_token_label_check(value) != EK_OK)
            return ek_error(EK_ERR_INVALID, "%s: %s", where, ek_last_error());
        return set_string(cfg->token, sizeof(cfg->token), key, value, where);
    }
    if (strcmp(key, "rsa_min_bits") == 0)
        return apply_rsa_min_bits(cfg, value, where);
    if (strcmp(key, "allow_ec") == 0) {
        if (parse_bool(value, &cfg->allow_ec) != EK_OK)
            return ek_error(EK_ERR_INVALID, "%s: allow_ec = '%s' is not yes/no; use yes or no",
                            where, value);
        return EK_OK;
    }
    if (strcmp(key, "log_level") == 0) {
        unsigned long v;
        if (parse_uint(value, 3, &v) != EK_OK)
            return ek_error(EK_ERR_INVALID,
                            "%s: log_level = '%s' refused: use 0 (errors), 1 (warnings), "
                            "2 (info) or 3 (debug)",
                            where, value);
        cfg->log_level = (int)v;
        return EK_OK;
    }
    return ek_error(EK_ERR_INVALID, "%s: unknown key '%s'; allowed keys: %s", where, key,
                    EK_CONF_ALLOWED);
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    return s;
}

ek_rc ek_config_parse_line(ek_config *cfg, const char *line, unsigned lineno, const char *path)
{
    char buf[EK_CONF_LINE_MAX + 1], where[1100];
    snprintf(where, sizeof(where), "%s:%u", path ? path : "(config)", lineno);
    if (strlen(line) > EK_CONF_LINE_MAX)
        return ek_error(EK_ERR_INVALID, "%s: line longer than %d bytes", where, EK_CONF_LINE_MAX);
    memcpy(buf, line, strlen(line) + 1);
    char *s = trim(buf);
    if (*s == '\0' || *s == '#')
        return EK_OK;
    char *eq = strchr(s, '=');
    if (!eq)
        return ek_error(EK_ERR_INVALID, "%s: expected 'key = value', got '%.60s'; allowed keys: %s",
                        where, s, EK_CONF_ALLOWED);
    *eq = '\0';
    char *key = trim(s), *value = trim(eq + 1);
    if (*key == '\0')
        return ek_error(EK_ERR_INVALID, "%s: missing key before '='; allowed keys: %s", where,
                        EK_CONF_ALLOWED);
    size_t vlen = strlen(value);
    if (vlen >= 2 && value[0] == '"' && value[vlen - 1] == '"') {
        value[vlen - 1] = '\0';
        value++;
    }
    return apply_kv(cfg, key, value, where);
}

ek_rc ek_config_parse_file(const char *path, ek_config *cfg)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        return ek_error(e == ENOENT ? EK_ERR_NOT_FOUND : EK_ERR_IO, "configuration file %s: %s",
                        path, strerror(e));
    }
    char *line = NULL;
    size_t cap = 0;
    unsigned lineno = 0;
    ek_rc rc = EK_OK;
    while (getline(&line, &cap, f) >= 0) {
        lineno++;
        if ((rc = ek_config_parse_line(cfg, line, lineno, path)) != EK_OK)
            break;
    }
    if (rc == EK_OK && ferror(f))
        rc = ek_error(EK_ERR_IO, "configuration file %s: read error", path);
    free(line);
    fclose(f);
    return rc;
}

static ek_rc load_file(ek_config *cfg)
{
    const char *env = getenv("EDGEKEY_CONF");
    if (env && *env) {
        ek_rc rc = ek_config_parse_file(env, cfg);
        if (rc == EK_ERR_NOT_FOUND)
            return ek_error(rc, "EDGEKEY_CONF=%s: no such file; create it or unset EDGEKEY_CONF",
                            env);
        return rc;
    }
    ek_rc rc = ek_config_parse_file(EK_DEFAULT_CONF, cfg);
    return rc == EK_ERR_NOT_FOUND ? EK_OK : rc; /* a missing default file is fine */
}

static ek_rc load_env(ek_config *cfg)
{
    static const struct {
        const char *env, *key;
    } vars[] = {
        {"EDGEKEY_TCTI", "tcti"},
        {"EDGEKEY_STORE", "store"},
        {"EDGEKEY_LOG_LEVEL", "log_level"},
    };
    for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
        const char *v = getenv(vars[i].env);
        if (!v || (*v == '\0' && strcmp(vars[i].key, "tcti") != 0))
            continue;
        char where[64];
        snprintf(where, sizeof(where), "%s (environment)", vars[i].env);
        ek_rc rc = apply_kv(cfg, vars[i].key, v, where);
        if (rc != EK_OK)
            return rc;
    }
    return EK_OK;
}

static ek_rc load_all(ek_config *cfg)
{
    ek_config_defaults(cfg);
    ek_rc rc = load_file(cfg);
    if (rc == EK_OK)
        rc = load_env(cfg);
    for (size_t i = 0; rc == EK_OK && i < cfg_n_overrides; i++) {
        char where[64];
        snprintf(where, sizeof(where), "override %.15s", cfg_overrides[i].key);
        rc = apply_kv(cfg, cfg_overrides[i].key, cfg_overrides[i].value, where);
    }
    return rc;
}

const ek_config *ek_config_get(void)
{
    if (atomic_load(&cfg_state) == CFG_OK)
        return &cfg_loaded;
    pthread_mutex_lock(&cfg_lock);
    if (atomic_load(&cfg_state) == CFG_UNLOADED) {
        ek_rc rc = load_all(&cfg_loaded);
        if (rc == EK_OK) {
            atomic_store(&cfg_state, CFG_OK);
        } else {
            cfg_fail_rc = rc;
            snprintf(cfg_fail_msg, sizeof(cfg_fail_msg), "%s", ek_last_error());
            atomic_store(&cfg_state, CFG_FAILED);
        }
    }
    const ek_config *out = NULL;
    if (atomic_load(&cfg_state) == CFG_OK)
        out = &cfg_loaded;
    else
        ek_error(cfg_fail_rc, "%s", cfg_fail_msg); /* this thread gets the message too */
    pthread_mutex_unlock(&cfg_lock);
    return out;
}

const ek_config *ek_config_peek(void)
{
    return atomic_load(&cfg_state) == CFG_OK ? &cfg_loaded : NULL;
}

ek_rc ek_config_set(const char *key, const char *value)
{
    if (!key || !value)
        return ek_error(EK_ERR_INVALID, "configuration override: key and value are required");
    ek_config scratch;
    ek_config_defaults(&scratch);
    char where[64];
    snprintf(where, sizeof(where), "override %.40s", key);
    ek_rc rc = apply_kv(&scratch, key, value, where); /* validate now, not at first use */
    if (rc != EK_OK)
        return rc;
    pthread_mutex_lock(&cfg_lock);
    if (atomic_load(&cfg_state) != CFG_UNLOADED) {
        pthread_mutex_unlock(&cfg_lock);
        return ek_error(EK_ERR_INVALID,
                        "override %s: the configuration is already in use; set overrides "
                        "before the first key operation",
                        key);
    }
    size_t i = 0;
    while (i < cfg_n_overrides && strcmp(cfg_overrides[i].key, key) != 0)
        i++;
    if (i == cfg_n_overrides) /* one slot per known key, so this never overflows */
        cfg_n_overrides++;
    snprintf(cfg_overrides[i].key, sizeof(cfg_overrides[i].key), "%s", key);
    snprintf(cfg_overrides[i].value, sizeof(cfg_overrides[i].value), "%s", value);
    pthread_mutex_unlock(&cfg_lock);
    return EK_OK;
}

void ek_config_reset(void)
{
    pthread_mutex_lock(&cfg_lock);
    atomic_store(&cfg_state, CFG_UNLOADED);
    cfg_n_overrides = 0;
    memset(cfg_overrides, 0, sizeof(cfg_overrides));
    pthread_mutex_unlock(&cfg_lock);
}

ek_rc ek_kv_get(const char *text, const char *key, char *buf, size_t size)
{
    size_t klen = strlen(key);
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t n = end ? (size_t)(end - line) : strlen(line);
        const char *p = line;
        while (p < line + n && (*p == ' ' || *p == '\t'))
            p++;
        if ((size_t)(line + n - p) > klen && strncmp(p, key, klen) == 0) {
            const char *q = p + klen;
            while (q < line + n && (*q == ' ' || *q == '\t'))
                q++;
            if (q < line + n && *q == '=') {
                q++;
                while (q < line + n && (*q == ' ' || *q == '\t'))
                    q++;
                size_t vlen = (size_t)(line + n - q);
                while (vlen && (q[vlen - 1] == ' ' || q[vlen - 1] == '\t' || q[vlen - 1] == '\r'))
                    vlen--;
                if (vlen >= size)
                    return EK_ERR_BUFFER_TOO_SMALL;
                memcpy(buf, q, vlen);
                buf[vlen] = '\0';
                return EK_OK;
            }
        }
        line = end ? end + 1 : NULL;
    }
    return EK_ERR_NOT_FOUND;
}

/* The file the configuration is read from (EDGEKEY_CONF or the default). */
static const char *conf_path(void)
{
    const char *env = getenv("EDGEKEY_CONF");
    return env && *env ? env : EK_DEFAULT_CONF;
}

static bool file_sets(const char *key)
{
    ek_config c;
    ek_config_defaults(&c);
    ek_rc rc = ek_config_parse_file(conf_path(), &c);
    ek_clear_error();
    if (rc != EK_OK)
        return false;
    if (strcmp(key, "tcti") == 0)
        return c.tcti[0] != '\0';
    return strcmp(key, "store") == 0 && strcmp(c.store, EK_DEFAULT_STORE) != 0;
}

const char *ek_config_source(const char *key, char *buf, size_t size)
{
    bool over = false;
    pthread_mutex_lock(&cfg_lock);
    for (size_t i = 0; i < cfg_n_overrides; i++)
        over = over || strcmp(cfg_overrides[i].key, key) == 0;
    pthread_mutex_unlock(&cfg_lock);
    const char *env = strcmp(key, "tcti") == 0    ? "EDGEKEY_TCTI"
                      : strcmp(key, "store") == 0 ? "EDGEKEY_STORE"
                                                  : NULL;
    if (over)
        snprintf(buf, size, "set by the program (--%s or a face's override)", key);
    else if (env && getenv(env) && (*getenv(env) || strcmp(key, "tcti") == 0))
        snprintf(buf, size, "environment %s", env);
    else if (file_sets(key))
        snprintf(buf, size, "file %s", conf_path());
    else
        snprintf(buf, size, "built-in default");
    return buf;
}
