/* edgekey doctor: reading openssl.cnf. Which file OpenSSL programs read,
 * which providers it activates and in which order (parsed with OpenSSL's
 * own NCONF, never by hand), and the drop-in `--fix-openssl-cnf` adds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <openssl/conf.h>
#include <openssl/err.h>
#include "doctor.h"

#ifndef EK_OPENSSL_DROPIN
#define EK_OPENSSL_DROPIN "/usr/local/share/edgekey/openssl-edgekey.cnf"
#endif

char *dr_cnf_effective(void)
{
    const char *env = getenv("OPENSSL_CONF");
    if (env && *env)
        return strdup(env);
    return CONF_get1_default_config_file();
}

const char *dr_cnf_dropin(void)
{
    const char *env = getenv("EDGEKEY_OPENSSL_DROPIN");
    return env && *env ? env : EK_OPENSSL_DROPIN;
}

bool dr_cnf_is_edgekey(const char *name)
{
    return strcmp(name, "edgekey") == 0;
}

/* OpenSSL 3.0 activates on any value; later releases parse a boolean. */
static bool truthy(const char *v)
{
    return v && strcasecmp(v, "0") != 0 && strcasecmp(v, "no") != 0 &&
           strcasecmp(v, "false") != 0 && strcasecmp(v, "off") != 0;
}

static const char *get(CONF *c, const char *sect, const char *name)
{
    const char *v = NCONF_get_string(c, sect, name);
    if (v == NULL)
        ERR_clear_error(); /* absent is an answer, not an error */
    return v;
}

static int list_active(CONF *c, const char **names, int max)
{
    static char store[16][64];
    const char *init = get(c, NULL, "openssl_conf");
    const char *provs = init ? get(c, init, "providers") : NULL;
    STACK_OF(CONF_VALUE) *sk = provs ? NCONF_get_section(c, provs) : NULL;
    int n = 0;
    for (int i = 0; sk && i < sk_CONF_VALUE_num(sk) && n < max && n < 16; i++) {
        CONF_VALUE *v = sk_CONF_VALUE_value(sk, i);
        if (!truthy(get(c, v->value, "activate")))
            continue;
        snprintf(store[n], sizeof(store[n]), "%s", v->name);
        names[n] = store[n];
        n++;
    }
    ERR_clear_error();
    return n;
}

int dr_cnf_active(const char *file, const char **names, int max, const char **err)
{
    static char msg[600];
    CONF *c = NCONF_new(NULL);
    long eline = 0;
    if (c == NULL || NCONF_load(c, file, &eline) <= 0) {
        unsigned long e = ERR_peek_last_error();
        snprintf(msg, sizeof(msg), "%s cannot be parsed (line %ld: %s)", file, eline,
                 e ? ERR_reason_error_string(e) : "unreadable");
        ERR_clear_error();
        NCONF_free(c);
        *err = msg;
        return -1;
    }
    int n = list_active(c, names, max);
    NCONF_free(c);
    return n;
}
