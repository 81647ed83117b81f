/* edgekey token: token PINs from the command line (docs/cli.md).
 *
 *   edgekey token init --token T [--so-pin-file F | --so-pin-stdin | --no-pin] [--erase]
 *   edgekey token pin  --token T (--user | --so) [--as-so]
 *                      [--old-pin-file F] [--new-pin-file F] [--pin-stdin]
 *   edgekey token list [--token T]
 *   edgekey token delete --token T [--so-pin-file F | --pin-stdin]
 *   edgekey token migrate --token T [--so-pin-file F] [--user-pin-file F] [--pin-stdin]
 *
 * The same token/PIN model as the PKCS#11 module (core/ek_token.h): init is
 * C_InitToken, "pin --user" as SO is C_InitPIN, the others C_SetPIN. PINs
 * never come from the command line: a file's first line, stdin (one PIN a
 * line, in the order the command asks for them) or the terminal without
 * echo. They are never printed and every buffer holding one is wiped. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/crypto.h>
#include "cli.h"
#include "ek_addr.h"
#include "ek_secret.h"
#include "ek_token.h"

enum {
    O_TOKEN = OPT_CMD_BASE,
    O_SO_FILE,
    O_SO_STDIN,
    O_NO_PIN,
    O_ERASE,
    O_USER,
    O_SO,
    O_AS_SO,
    O_OLD_FILE,
    O_NEW_FILE,
    O_PIN_STDIN,
    O_USER_FILE,
};

typedef struct opts {
    const char *token, *old_file, *new_file, *user_file;
    bool stdin_pins, no_pin, erase, user, so, as_so;
} opts;

/* A PIN read from its source; wipe with pin_wipe(). */
typedef struct pin {
    char v[EK_TOKEN_PIN_MAX + 2];
    size_t len;
} pin;

static void pin_wipe(pin *p)
{
    OPENSSL_cleanse(p, sizeof(*p));
}

static void usage(void)
{
    printf("usage: edgekey token init --token T [--so-pin-file F | --so-pin-stdin | --no-pin] "
           "[--erase]\n"
           "       edgekey token pin --token T (--user | --so) [--as-so] [--old-pin-file F]\n"
           "                         [--new-pin-file F] [--pin-stdin]\n"
           "       edgekey token list [--token T]\n"
           "       edgekey token delete --token T [--so-pin-file F | --pin-stdin]\n"
           "       edgekey token migrate --token T [--so-pin-file F] [--user-pin-file F]\n"
           "                             [--pin-stdin]\n"
           "\ninit   create token T with an SO PIN (new: login required, user PIN unset);\n"
           "       --no-pin makes a PIN-less token. Re-initialising a PIN token erases its\n"
           "       keys: it needs --erase and the current SO PIN (--old-pin-file or first).\n"
           "pin    --user: change the user PIN (old = user PIN), or set it as SO (--as-so, or\n"
           "       when it is unset: old = SO PIN; this also unlocks a locked user PIN);\n"
           "       --so: change the SO PIN.\n"
           "list   PIN state of each token: PINs set, failed attempts, locked.\n"
           "delete remove token T: its keys (persistent ones evicted from the TPM),\n"
           "       certificates, data objects, PIN secrets (NV indices given back) and its\n"
           "       directory. A PIN token needs its SO PIN.\n"
           "migrate move the PIN secrets of a token made before 0.2 (noDA NV indices or\n"
           "       noDA sealed objects) to sealed objects under the TPM's dictionary-attack\n"
           "       protection; each PIN that needs it logs in (SO first on stdin). Keys\n"
           "       and PINs stay as they are.\n"
           "\nPINs (%d..%d bytes) come from a file's first line, from stdin (--pin-stdin: one\n"
           "per line, old PIN first, then the new one) or from the terminal (asked twice\n"
           "when new); never from the command line. Wrong PINs count per token; after %d\n"
           "in a row that PIN is locked. Exit 5 for a wrong or locked PIN.\n",
           EK_TOKEN_PIN_MIN, EK_TOKEN_PIN_MAX, EK_TOKEN_MAX_TRIES);
}

static int on_opt(void *state, int c, const char *arg)
{
    opts *o = state;
    switch (c) {
    case O_TOKEN:
        o->token = arg;
        break;
    case O_SO_FILE:
    case O_NEW_FILE:
        o->new_file = arg;
        break;
    case O_OLD_FILE:
        o->old_file = arg;
        break;
    case O_USER_FILE:
        o->user_file = arg;
        break;
    case O_SO_STDIN:
    case O_PIN_STDIN:
        o->stdin_pins = true;
        break;
    case O_NO_PIN:
        o->no_pin = true;
        break;
    case O_ERASE:
        o->erase = true;
        break;
    case O_USER:
        o->user = true;
        break;
    case O_SO:
        o->so = true;
        break;
    case O_AS_SO:
        o->as_so = true;
        break;
    default:
        break;
    }
    return 0;
}

/* ---- reading PINs ---- */

/* Keep one line (without its newline) and check the length the token takes. */
static ek_rc take(const char *line, const char *what, const char *source, pin *p)
{
    size_t n = strcspn(line, "\r\n");
    if (n < EK_TOKEN_PIN_MIN || n > EK_TOKEN_PIN_MAX)
        return ek_error(EK_ERR_INVALID, "%s from %s is %zu bytes; a token PIN has %d..%d bytes",
                        what, source, n, EK_TOKEN_PIN_MIN, EK_TOKEN_PIN_MAX);
    memcpy(p->v, line, n);
    p->v[n] = '\0';
    p->len = n;
    return EK_OK;
}

static ek_rc read_line(FILE *f, char *line, size_t size, const char *what, const char *source)
{
    if (fgets(line, (int)size, f) == NULL)
        return ek_error(EK_ERR_INVALID, "no %s on %s; give one PIN per line", what, source);
    if (strchr(line, '\n') == NULL && !feof(f))
        return ek_error(EK_ERR_INVALID, "%s on %s is longer than %d bytes", what, source,
                        EK_TOKEN_PIN_MAX);
    return EK_OK;
}

static ek_rc from_file(const char *path, const char *what, pin *p)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return ek_error(errno == ENOENT ? EK_ERR_NOT_FOUND : EK_ERR_IO,
                        "cannot read the %s file %s: %s", what, path, strerror(errno));
    char line[EK_TOKEN_PIN_MAX + 4];
    ek_rc rc = read_line(f, line, sizeof(line), what, path);
    if (rc == EK_OK)
        rc = take(line, what, path, p);
    OPENSSL_cleanse(line, sizeof(line));
    fclose(f);
    return rc;
}

/* One prompt on the terminal with echo off (the terminal is restored). */
static ek_rc prompt(FILE *tty, const char *question, char *line, size_t size)
{
    int r = cli_prompt_noecho(tty, question, line, size);
    if (r > 0)
        return ek_error(EK_ERR_INVALID,
                        "cannot switch off echo on the terminal: %s; use a PIN "
                        "file or --pin-stdin",
                        strerror(r));
    return r == 0 ? EK_OK : ek_error(EK_ERR_INVALID, "no PIN was entered at the prompt");
}

static ek_rc from_tty(const char *what, const char *token, bool confirm, pin *p)
{
    FILE *tty = fopen("/dev/tty", "r+");
    if (tty == NULL)
        return ek_error(EK_ERR_INVALID,
                        "no terminal to ask for the %s of token %s; use a PIN "
                        "file or --pin-stdin",
                        what, token);
    char a[EK_TOKEN_PIN_MAX + 4], b[EK_TOKEN_PIN_MAX + 4], q[160];
    snprintf(q, sizeof(q), "%s of token '%s'", what, token);
    ek_rc rc = prompt(tty, q, a, sizeof(a));
    if (rc == EK_OK)
        rc = take(a, what, "the terminal", p);
    if (rc == EK_OK && confirm) {
        snprintf(q, sizeof(q), "%s of token '%s' again", what, token);
        rc = prompt(tty, q, b, sizeof(b));
        if (rc == EK_OK && (strcspn(b, "\r\n") != p->len || memcmp(b, p->v, p->len) != 0))
            rc = ek_error(EK_ERR_INVALID, "the two %s entries differ; try again", what);
    }
    OPENSSL_cleanse(a, sizeof(a));
    OPENSSL_cleanse(b, sizeof(b));
    fclose(tty);
    return rc;
}

/* A PIN from file, else stdin (next line), else the terminal. */
static ek_rc pin_get(const opts *o, const char *file, const char *what, bool is_new, pin *p)
{
    ek_rc rc;
    p->len = 0;
    if (file != NULL) {
        rc = from_file(file, what, p);
    } else if (o->stdin_pins) {
        char line[EK_TOKEN_PIN_MAX + 4];
        rc = read_line(stdin, line, sizeof(line), what, "stdin");
        if (rc == EK_OK)
            rc = take(line, what, "stdin", p);
        OPENSSL_cleanse(line, sizeof(line));
    } else {
        rc = from_tty(what, o->token, is_new, p);
    }
    if (rc != EK_OK)
        pin_wipe(p);
    return rc;
}

/* ---- token init ---- */

static ek_rc count_objects(const char *token, size_t *n)
{
    ek_store_obj *objs = NULL;
    *n = 0;
    ek_rc rc = ek_store_find(token, NULL, NULL, 0, &objs, n);
    free(objs);
    return rc == EK_ERR_NOT_FOUND ? (*n = 0, EK_OK) : rc;
}

static ek_rc erase_objects(const char *token)
{
    ek_store_obj *objs = NULL;
    size_t n = 0;
    ek_rc rc = ek_store_find(token, NULL, NULL, 0, &objs, &n);
    if (rc == EK_ERR_NOT_FOUND)
        return EK_OK;
    for (size_t i = 0; rc == EK_OK && i < n; i++)
        rc = ek_store_delete(&objs[i], EK_OBJ_ANY, true);
    free(objs);
    return rc;
}

/* An existing token may be re-initialised: a PIN token by its SO with
 * --erase (keys made under the old secret would be unusable), a PIN-less
 * one only while it holds no objects (those are the device's keys). */
static ek_rc check_reinit(const opts *o, size_t *erased)
{
    ek_token_pins st;
    size_t n = 0;
    ek_rc rc = ek_token_pin_state(o->token, &st);
    if (rc == EK_OK)
        rc = count_objects(o->token, &n);
    if (rc != EK_OK)
        return rc;
    if (!st.has_so_pin) {
        if (n > 0)
            return ek_error(EK_ERR_EXISTS,
                            "token %s holds %zu objects and has no SO PIN; "
                            "refusing to re-initialise it (its keys would be lost); delete them "
                            "first (edgekey delete) or use a new token label",
                            o->token, n);
        return EK_OK;
    }
    if (!o->erase)
        return ek_error(EK_ERR_EXISTS,
                        "token %s is PIN-protected and holds %zu objects; "
                        "re-initialising erases them: add --erase and give the current SO PIN",
                        o->token, n);
    pin old;
    ek_token_secret s;
    rc = pin_get(o, o->old_file, "current SO PIN", false, &old);
    if (rc == EK_OK)
        rc = ek_token_login(o->token, EK_TOKEN_SO, old.v, old.len, &s);
    pin_wipe(&old);
    ek_token_secret_wipe(&s);
    if (rc == EK_OK)
        rc = erase_objects(o->token);
    *erased = n;
    return rc;
}

static int token_init(cli_ctx *ctx, const opts *o)
{
    if (o->no_pin && (o->new_file || o->stdin_pins))
        return out_usage(ctx, "token init", "--no-pin and an SO PIN source exclude each other");
    ek_token_info ti;
    size_t erased = 0;
    bool existed = ek_store_token_get(o->token, &ti) == EK_OK;
    ek_rc rc = existed ? check_reinit(o, &erased) : EK_OK;
    pin so = {.len = 0};
    if (rc == EK_OK && !o->no_pin)
        rc = pin_get(o, o->new_file, "new SO PIN", true, &so);
    if (rc == EK_OK && !existed)
        rc = ek_store_token_ensure(o->token, &ti);
    if (rc == EK_OK)
        rc = ek_token_init(o->token, so.v, so.len);
    pin_wipe(&so);
    if (rc != EK_OK)
        return out_fail(ctx, rc);
    if (!ctx->json) { /* one line: what happened and what comes next */
        printf("token %s %s (serial %s): %s%s\n", o->token, existed ? "re-initialised" : "created",
               ti.serial,
               o->no_pin ? "PIN-less"
                         : "SO PIN set; set the user PIN with 'edgekey token pin "
                           "--user'",
               erased ? "; its objects were erased" : "");
        return fflush(stdout) == 0 ? EXIT_OK : EXIT_STORE;
    }
    return out_result(ctx,
                      json_pack("{s:{s:o,s:o,s:b,s:b,s:I}}", "token", "token", out_str(o->token),
                                "serial", out_str(ti.serial), "created", !existed, "login_required",
                                !o->no_pin, "erased_objects", (json_int_t)erased));
}

/* ---- token pin ---- */

static int token_pin(cli_ctx *ctx, const opts *o)
{
    if (o->user == o->so)
        return out_usage(ctx, "token pin", "give exactly one of --user and --so");
    if (o->so && o->as_so)
        return out_usage(ctx, "token pin", "--as-so goes with --user");
    ek_token_pins st;
    ek_rc rc = ek_token_pin_state(o->token, &st);
    if (rc == EK_OK && !st.has_so_pin)
        rc = ek_error(EK_ERR_NOT_FOUND,
                      "token %s has no PINs; give it an SO PIN first with "
                      "'edgekey token init --token %s --erase'",
                      o->token, o->token);
    if (rc != EK_OK)
        return out_fail(ctx, rc);
    /* Who vouches for the change: the SO sets the user PIN (C_InitPIN)
     * when asked, or when there is no user PIN to change yet. */
    bool by_so = o->so || o->as_so || !st.has_user_pin;
    pin old, neu = {.len = 0};
    rc = pin_get(o, o->old_file, by_so ? "SO PIN" : "current user PIN", false, &old);
    if (rc == EK_OK)
        rc = pin_get(o, o->new_file, o->so ? "new SO PIN" : "new user PIN", true, &neu);
    if (rc == EK_OK && o->user && by_so) {
        ek_token_secret s;
        rc = ek_token_login(o->token, EK_TOKEN_SO, old.v, old.len, &s);
        if (rc == EK_OK)
            rc = ek_token_set_user_pin(o->token, &s, neu.v, neu.len);
        ek_token_secret_wipe(&s);
    } else if (rc == EK_OK) {
        rc = ek_token_change_pin(o->token, o->so ? EK_TOKEN_SO : EK_TOKEN_USER, old.v, old.len,
                                 neu.v, neu.len);
    }
    pin_wipe(&old);
    pin_wipe(&neu);
    if (rc != EK_OK)
        return out_fail(ctx, rc);
    if (!ctx->json) {
        printf("token %s: %s PIN %s (authorised by the %s PIN)\n", o->token, o->so ? "SO" : "user",
               st.has_user_pin || o->so ? "changed" : "set", by_so ? "SO" : "user");
        return fflush(stdout) == 0 ? EXIT_OK : EXIT_STORE;
    }
    return out_result(ctx,
                      json_pack("{s:{s:o,s:s,s:s}}", "pin", "token", out_str(o->token), "changed",
                                o->so ? "so" : "user", "authorised_by", by_so ? "so" : "user"));
}

/* ---- token delete ---- */

/* Everything in the token, in the order that loses nothing needed later:
 * objects while the PINs still exist, then the PINs (NV indices), then the
 * directory, which core refuses to remove while anything else is left. */
static ek_rc delete_all(const char *token, size_t *objs, size_t *datas)
{
    ek_rc rc = count_objects(token, objs);
    if (rc == EK_OK)
        rc = erase_objects(token);
    if (rc == EK_OK)
        rc = ek_secret_delete_all(token, datas);
    if (rc == EK_ERR_NOT_FOUND)
        rc = EK_OK;
    if (rc == EK_OK)
        rc = ek_token_init(token, NULL, 0);
    if (rc == EK_OK)
        rc = ek_store_token_remove(token);
    return rc;
}

static int token_delete(cli_ctx *ctx, const opts *o)
{
    ek_token_pins st;
    size_t objs = 0, datas = 0;
    ek_rc rc = ek_token_pin_state(o->token, &st);
    if (rc == EK_OK && st.has_so_pin) { /* the SO vouches, as for re-initialising */
        pin so = {.len = 0};
        ek_token_secret s = {.set = false};
        rc = pin_get(o, o->old_file ? o->old_file : o->new_file, "SO PIN", false, &so);
        if (rc == EK_OK)
            rc = ek_token_login(o->token, EK_TOKEN_SO, so.v, so.len, &s);
        pin_wipe(&so);
        ek_token_secret_wipe(&s);
    }
    if (rc == EK_OK)
        rc = delete_all(o->token, &objs, &datas);
    if (rc != EK_OK)
        return out_fail(ctx, rc);
    if (!ctx->json) {
        printf("token %s deleted: %zu key/certificate objects, %zu data objects%s\n", o->token,
               objs, datas, st.has_so_pin ? ", its PINs" : "");
        return fflush(stdout) == 0 ? EXIT_OK : EXIT_STORE;
    }
    return out_result(ctx, json_pack("{s:{s:o,s:I,s:I,s:b}}", "deleted", "token", out_str(o->token),
                                     "objects", (json_int_t)objs, "data_objects", (json_int_t)datas,
                                     "had_pins", st.has_so_pin));
}

/* ---- token migrate ---- */

/* The storage kinds as `token list --json` and `token migrate` name them. */
static const char *kind_name(ek_token_pin_kind k)
{
    switch (k) {
    case EK_PIN_SEALED:
        return "sealed";
    case EK_PIN_SEALED_NODA:
        return "sealed(noDA)";
    case EK_PIN_NV:
        return "nv";
    case EK_PIN_UNREADABLE:
        return "unreadable";
    default:
        return "unset";
    }
}

static bool kind_old(ek_token_pin_kind k)
{
    return k == EK_PIN_NV || k == EK_PIN_SEALED_NODA;
}

/* What migration did to one PIN: "nv -> sealed", "already current", ... */
static void migrated_text(ek_token_pin_kind k, char *buf, size_t size)
{
    if (kind_old(k))
        snprintf(buf, size, "%s -> sealed", kind_name(k));
    else
        snprintf(buf, size, "%s", k == EK_PIN_SEALED ? "already current" : kind_name(k));
}

/* The PINs migration needs, and only those: a current PIN is not asked
 * for (nor tried). SO first, as on stdin. */
static ek_rc migrate_pins(const opts *o, const ek_token_pins *st, pin *so, pin *user)
{
    ek_rc rc = EK_OK;
    if (kind_old(st->kind[EK_TOKEN_SO]))
        rc = pin_get(o, o->new_file ? o->new_file : o->old_file, "SO PIN", false, so);
    if (rc == EK_OK && kind_old(st->kind[EK_TOKEN_USER]))
        rc = pin_get(o, o->user_file, "user PIN", false, user);
    return rc;
}

static int migrate_report(cli_ctx *ctx, const opts *o, const ek_token_pin_kind k[2])
{
    char so[40], user[40];
    migrated_text(k[EK_TOKEN_SO], so, sizeof(so));
    migrated_text(k[EK_TOKEN_USER], user, sizeof(user));
    bool any = kind_old(k[EK_TOKEN_SO]) || kind_old(k[EK_TOKEN_USER]);
    if (ctx->json)
        return out_result(ctx,
                          json_pack("{s:{s:o,s:b,s:s,s:s}}", "migrate", "token", out_str(o->token),
                                    "migrated", any, "so_pin", so, "user_pin", user));
    if (any)
        printf("token %s migrated to DA-protected sealed secrets: SO PIN %s, user PIN %s\n",
               o->token, so, user);
    else
        printf("token %s: nothing to do (SO PIN %s, user PIN %s)\n", o->token, so, user);
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_STORE;
}

static int token_migrate(cli_ctx *ctx, const opts *o)
{
    ek_token_pins st;
    ek_token_pin_kind before[2] = {EK_PIN_UNSET, EK_PIN_UNSET};
    pin so = {.len = 0}, user = {.len = 0};
    ek_rc rc = ek_token_pin_state(o->token, &st);
    if (rc == EK_OK)
        rc = migrate_pins(o, &st, &so, &user);
    if (rc == EK_OK)
        rc = ek_token_migrate(o->token, so.v, so.len, user.v, user.len, before);
    pin_wipe(&so);
    pin_wipe(&user);
    return rc == EK_OK ? migrate_report(ctx, o, before) : out_fail(ctx, rc);
}

/* ---- token list ---- */

static json_t *state_json(const ek_token_info *t)
{
    ek_token_pins p;
    if (ek_token_pin_state(t->label, &p) != EK_OK)
        return json_pack("{s:o,s:o}", "token", out_str(t->label), "error",
                         out_str(ek_last_error()));
    return json_pack("{s:o,s:o,s:o,s:b,s:b,s:i,s:i,s:i,s:b,s:b,s:s,s:s,s:b}", "token",
                     out_str(t->label), "serial", out_str(t->serial), "dir", out_str(t->dir),
                     "login_required", p.has_so_pin, "user_pin_set", p.has_user_pin, "user_fails",
                     (int)p.user_fails, "so_fails", (int)p.so_fails, "max_tries", (int)p.max_tries,
                     "user_pin_locked", p.has_user_pin && p.user_fails >= p.max_tries,
                     "so_pin_locked", p.has_so_pin && p.so_fails >= p.max_tries, "so_pin_storage",
                     kind_name(p.kind[EK_TOKEN_SO]), "user_pin_storage",
                     kind_name(p.kind[EK_TOKEN_USER]), "needs_migration", p.needs_migration);
}

static void print_state(const json_t *t)
{
    const char *label = json_string_value(json_object_get(t, "token"));
    if (json_object_get(t, "error")) {
        printf("token %s: %s\n", label, json_string_value(json_object_get(t, "error")));
        return;
    }
    int max = (int)json_integer_value(json_object_get(t, "max_tries"));
    printf("token %s (serial %s) %s\n", label, json_string_value(json_object_get(t, "serial")),
           json_string_value(json_object_get(t, "dir")));
    if (!json_is_true(json_object_get(t, "login_required"))) {
        printf("  PIN-less: no login required\n");
        return;
    }
    printf("  SO PIN    set, %d of %d wrong attempts%s\n",
           (int)json_integer_value(json_object_get(t, "so_fails")), max,
           json_is_true(json_object_get(t, "so_pin_locked")) ? ", LOCKED" : "");
    if (json_is_true(json_object_get(t, "user_pin_set")))
        printf("  user PIN  set, %d of %d wrong attempts%s\n",
               (int)json_integer_value(json_object_get(t, "user_fails")), max,
               json_is_true(json_object_get(t, "user_pin_locked"))
                   ? ", LOCKED (the SO sets a new one: edgekey token pin --user --as-so)"
                   : "");
    else
        printf("  user PIN  not set (edgekey token pin --token %s --user)\n", label);
    if (json_is_true(json_object_get(t, "needs_migration")))
        printf("  NEEDS MIGRATION: PIN secrets made before 0.2 (SO PIN: %s, user PIN: %s) have\n"
               "  no TPM dictionary-attack protection; run: edgekey token migrate --token %s\n",
               json_string_value(json_object_get(t, "so_pin_storage")),
               json_string_value(json_object_get(t, "user_pin_storage")), label);
}

static int token_list(cli_ctx *ctx, const opts *o)
{
    ek_token_info *toks = NULL;
    size_t n = 0;
    ek_rc rc;
    if (o->token) {
        toks = malloc(sizeof(*toks));
        n = 1;
        rc = toks ? ek_store_token_get(o->token, toks) : ek_error(EK_ERR_NOMEM, "out of memory");
    } else {
        rc = ek_store_tokens(&toks, &n);
        if (rc == EK_ERR_NOT_FOUND)
            rc = EK_OK, n = 0;
    }
    if (rc != EK_OK) {
        free(toks);
        return out_fail(ctx, rc);
    }
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, state_json(&toks[i]));
    free(toks);
    if (ctx->json)
        return out_result(ctx, json_pack("{s:o}", "tokens", arr));
    size_t i;
    json_t *t;
    if (json_array_size(arr) == 0)
        printf("no tokens in %s\n", ek_store_root());
    json_array_foreach(arr, i, t) print_state(t);
    json_decref(arr);
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_STORE;
}

int cmd_token(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option lo[] = {CLI_GLOBAL_LONGOPTS,
                                       {"token", required_argument, NULL, O_TOKEN},
                                       {"so-pin-file", required_argument, NULL, O_SO_FILE},
                                       {"so-pin-stdin", no_argument, NULL, O_SO_STDIN},
                                       {"no-pin", no_argument, NULL, O_NO_PIN},
                                       {"erase", no_argument, NULL, O_ERASE},
                                       {"user", no_argument, NULL, O_USER},
                                       {"so", no_argument, NULL, O_SO},
                                       {"as-so", no_argument, NULL, O_AS_SO},
                                       {"old-pin-file", required_argument, NULL, O_OLD_FILE},
                                       {"new-pin-file", required_argument, NULL, O_NEW_FILE},
                                       {"pin-stdin", no_argument, NULL, O_PIN_STDIN},
                                       {"user-pin-file", required_argument, NULL, O_USER_FILE},
                                       {NULL, 0, NULL, 0}};
    opts o = {0};
    int r = cli_parse_opts(ctx, argc, argv, "h", lo, on_opt, &o);
    if (r == 'h') {
        usage();
        return EXIT_OK;
    }
    if (r != -1)
        return r;
    if (argc - optind != 1)
        return out_usage(ctx, "token", "give one of init, pin, list, delete, migrate");
    const char *sub = argv[optind];
    if (strcmp(sub, "list") == 0 || strcmp(sub, "show") == 0)
        return token_list(ctx, &o);
    if (strcmp(sub, "init") != 0 && strcmp(sub, "pin") != 0 && strcmp(sub, "delete") != 0 &&
        strcmp(sub, "migrate") != 0)
        return out_usage(ctx, "token",
                         "unknown subcommand '%s'; use init, pin, list, delete or migrate", sub);
    if (o.token == NULL || o.token[0] == '\0')
        return out_usage(ctx, "token", "%s needs --token LABEL", sub);
    if (strlen(o.token) > 32)
        return out_usage(ctx, "token", "token label '%s' is longer than 32 bytes", o.token);
    if (strcmp(sub, "delete") == 0)
        return token_delete(ctx, &o);
    if (strcmp(sub, "migrate") == 0)
        return token_migrate(ctx, &o);
    return strcmp(sub, "init") == 0 ? token_init(ctx, &o) : token_pin(ctx, &o);
}
