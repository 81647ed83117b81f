/* edgekey CLI: reading a key's auth value (or a PIN token's user PIN).
 *
 * Sources, first that applies: --auth-file FILE (its first line), the
 * EDGEKEY_KEY_AUTH environment variable (for scripts; wiped and unset once
 * read so it reaches no child and no core dump), a prompt on /dev/tty with
 * echo off. The value is never printed; every buffer holding it is wiped. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "cli.h"
#include "ek_addr.h"
#include "ek_token.h"

#define AUTH_ENV "EDGEKEY_KEY_AUTH"

/* What is asked for: a raw key auth value (TPM limit) or a token user PIN. */
typedef struct secret_kind {
    const char *what;   /* "key auth", "user PIN" */
    const char *prompt; /* "Key auth: " */
    size_t max;
} secret_kind;

static const secret_kind key_auth = {"key auth", "Key auth", CLI_AUTH_MAX};

/* Copy one line (without its newline) into buf; refuse empty and too long. */
static ek_rc take_line(const secret_kind *k, const char *line, const char *source,
                       unsigned char *buf, size_t *len)
{
    size_t n = strcspn(line, "\r\n");
    if (n == 0)
        return ek_error(EK_ERR_AUTH, "%s from %s is empty; give a value", k->what, source);
    if (n > k->max)
        return ek_error(EK_ERR_INVALID,
                        "%s from %s is %zu bytes; at most %zu are taken (for a key auth value: "
                        "the SHA-256 digest size of the key's name); use a shorter value",
                        k->what, source, n, k->max);
    memcpy(buf, line, n);
    *len = n;
    return EK_OK;
}

static ek_rc from_file(const secret_kind *k, const char *path, unsigned char *buf, size_t *len)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return ek_error(errno == ENOENT ? EK_ERR_NOT_FOUND : EK_ERR_IO,
                        "cannot read auth file %s: %s", path, strerror(errno));
    char line[256];
    ek_rc rc;
    if (fgets(line, sizeof(line), f) == NULL)
        rc = ek_error(EK_ERR_AUTH, "auth file %s is empty; put the %s on its first line", path,
                      k->what);
    else
        rc = take_line(k, line, path, buf, len);
    OPENSSL_cleanse(line, sizeof(line));
    fclose(f);
    return rc;
}

static ek_rc from_env(const secret_kind *k, char *val, unsigned char *buf, size_t *len)
{
    ek_rc rc = take_line(k, val, AUTH_ENV, buf, len);
    OPENSSL_cleanse(val, strlen(val));
    unsetenv(AUTH_ENV);
    return rc;
}

int cli_prompt_noecho(FILE *tty, const char *question, char *line, size_t size)
{
    struct termios old, quiet;
    int fd = fileno(tty);
    if (tcgetattr(fd, &old) != 0)
        return errno ? errno : EIO;
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    quiet.c_lflag |= ECHONL;
    fprintf(tty, "%s: ", question);
    fflush(tty);
    tcsetattr(fd, TCSANOW, &quiet); /* TCSANOW: keep typeahead */
    char *got = fgets(line, (int)size, tty);
    tcsetattr(fd, TCSANOW, &old);
    return got ? 0 : -1;
}

/* One prompt for a key auth value. */
static ek_rc prompt_once(FILE *tty, const char *question, char *line, size_t size)
{
    int r = cli_prompt_noecho(tty, question, line, size);
    if (r > 0)
        return ek_error(EK_ERR_AUTH,
                        "cannot switch off echo on the terminal: %s; use "
                        "--auth-file FILE or " AUTH_ENV,
                        strerror(r));
    return r == 0 ? EK_OK : ek_error(EK_ERR_AUTH, "no value was entered at the prompt");
}

static ek_rc from_tty(const secret_kind *k, const char *prompt, bool confirm, unsigned char *buf,
                      size_t *len)
{
    FILE *tty = fopen("/dev/tty", "r+");
    if (tty == NULL)
        return ek_error(EK_ERR_AUTH,
                        "no terminal to ask for the %s; use --auth-file "
                        "FILE or set " AUTH_ENV " for scripts",
                        k->what);
    char a[256], b[256], again[300];
    ek_rc rc = prompt_once(tty, prompt, a, sizeof(a));
    if (rc == EK_OK)
        rc = take_line(k, a, "the terminal", buf, len);
    if (rc == EK_OK && confirm) {
        snprintf(again, sizeof(again), "%s again", prompt);
        rc = prompt_once(tty, again, b, sizeof(b));
        size_t na = strcspn(a, "\r\n");
        if (rc == EK_OK && (na != strcspn(b, "\r\n") || memcmp(a, b, na) != 0))
            rc = ek_error(EK_ERR_INVALID, "the two %s entries differ; try again", k->what);
    }
    OPENSSL_cleanse(a, sizeof(a));
    OPENSSL_cleanse(b, sizeof(b));
    fclose(tty);
    return rc;
}

static ek_rc read_secret(const secret_kind *k, const char *prompt, const char *file, bool confirm,
                         unsigned char *buf, size_t *len)
{
    *len = 0;
    ek_rc rc;
    char *env = getenv(AUTH_ENV);
    if (file != NULL)
        rc = from_file(k, file, buf, len);
    else if (env != NULL)
        rc = from_env(k, env, buf, len);
    else
        rc = from_tty(k, prompt, confirm, buf, len);
    if (rc != EK_OK) {
        OPENSSL_cleanse(buf, k->max);
        *len = 0;
    }
    return rc;
}

ek_rc cli_auth_read(const char *file, bool confirm, unsigned char buf[CLI_AUTH_MAX], size_t *len)
{
    return read_secret(&key_auth, key_auth.prompt, file, confirm, buf, len);
}

/* A key of a PIN token: its auth is derived from the token secret, which the
 * user PIN unseals (ek_token_key_set_pin checks it by login). */
static ek_rc apply_pin(ek_key *key, const ek_store_obj *obj, const char *file)
{
    static const secret_kind pin = {"user PIN", NULL, EK_TOKEN_PIN_MAX};
    unsigned char buf[EK_TOKEN_PIN_MAX];
    char prompt[80];
    size_t len;
    snprintf(prompt, sizeof(prompt), "User PIN of token '%s'", obj->token);
    ek_rc rc = read_secret(&pin, prompt, file, false, buf, &len);
    if (rc == EK_OK)
        rc = ek_token_key_set_pin(key, obj->token, obj->id, obj->id_len, (const char *)buf, len);
    OPENSSL_cleanse(buf, sizeof(buf));
    return rc;
}

ek_rc cli_auth_apply(ek_key *key, bool want, const char *file, const ek_store_obj *obj)
{
    if (!want && file == NULL && !ek_key_needs_auth(key))
        return EK_OK;
    if (obj != NULL && ek_token_login_required(obj->token))
        return apply_pin(key, obj, file);
    unsigned char auth[CLI_AUTH_MAX];
    size_t len;
    ek_rc rc = cli_auth_read(file, false, auth, &len);
    if (rc == EK_OK)
        rc = ek_key_set_auth(key, auth, len);
    OPENSSL_cleanse(auth, sizeof(auth));
    return rc;
}

/* pin-value in the address: ek_key_open has already applied it (as the
 * user PIN of a PIN token, else as the key's auth value). */
bool cli_address_has_pin(const char *address)
{
    ek_addr a;
    memset(&a, 0, sizeof(a));
    bool has = ek_addr_parse(address, &a) == EK_OK && a.has_pin;
    ek_addr_clear(&a);
    ek_clear_error();
    return has;
}

ek_rc cli_auth_for(ek_key *key, const char *address, bool want, const char *file)
{
    if (!want && file == NULL && (cli_address_has_pin(address) || !ek_key_needs_auth(key)))
        return EK_OK;
    /* A stored key may belong to a PIN token: then the PIN is asked for. */
    ek_store_obj obj;
    bool stored = cli_resolve(address, &obj) == EK_OK;
    ek_clear_error();
    return cli_auth_apply(key, want, file, stored ? &obj : NULL);
}
