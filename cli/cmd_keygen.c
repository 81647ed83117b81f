/* edgekey keygen: create a sign-only key in the TPM and store it in a token.
 *
 * The policy is checked before the TPM is touched, so a refused request
 * (RSA-1024) costs nothing and exits with the policy code. If storing fails
 * after the key was made persistent, the handle is evicted again: no
 * orphaned persistent keys. stdout gets the pkcs11: URI (and the handle:
 * address if persisted), one per line, so scripts can capture it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "cli.h"
#include "ek_addr.h"
#include "ek_config.h"
#include "ek_policy.h"
#include "ek_token.h"

#define SRK_HANDLE 0x81000001u

struct keygen_opts {
    const char *label, *token, *alg, *auth_file;
    bool auth;
    uint32_t persist;
    const char *bad_handle;
};

enum { O_LABEL = OPT_CMD_BASE, O_TOKEN, O_ALG, O_PERSIST, O_AUTH, O_AUTH_FILE };

static void usage(void)
{
    printf("usage: edgekey keygen --label LABEL [--token TOKEN] [--alg ALG] [--persist HANDLE]\n"
           "                      [--auth | --auth-file FILE]\n"
           "\n  --label LABEL     object name in the token (CKA_LABEL), unique per token\n"
           "  --token TOKEN     token to store the key in (default: conf 'token', \"edge\")\n"
           "  --alg ALG         rsa2048 (default), rsa3072, rsa4096, ec-p256, ec-p384\n"
           "                    (any case; also rsa, RSA-2048, rsa:3072, ec, P-256, prime256v1,\n"
           "                    secp384r1 ...: the name used is printed)\n"
           "  --persist HANDLE  also make the key persistent at 0x81000002..0x81ffffff\n"
           "  --auth            protect the key with an auth value: asked on the terminal\n"
           "                    (no echo), or taken from EDGEKEY_KEY_AUTH for scripts\n"
           "  --auth-file FILE  protect the key with the auth value on FILE's first line\n"
           "\nPrints the key's pkcs11: URI (and handle:0x... if persisted). RSA below the\n"
           "policy minimum (2048 bits) is refused with exit code 3.\n");
}

static int on_opt(void *state, int c, const char *arg)
{
    struct keygen_opts *o = state;
    char *end;
    switch (c) {
    case O_LABEL:
        o->label = arg;
        break;
    case O_TOKEN:
        o->token = arg;
        break;
    case O_ALG:
        o->alg = arg;
        break;
    case O_AUTH:
        o->auth = true;
        break;
    case O_AUTH_FILE:
        o->auth_file = arg;
        break;
    case O_PERSIST: {
        unsigned long h = strtoul(arg, &end, 16);
        if (*arg == '\0' || *end != '\0' || h < 0x81000000ul || h > 0x81fffffful)
            o->bad_handle = arg;
        o->persist = (uint32_t)h;
        break;
    }
    }
    return 0;
}

/* The policy is checked here, before the TPM is touched, so a refusal
 * (RSA-1024) costs nothing; ek_key_generate checks it again. */
static ek_rc parse_alg(const char *name, const ek_config *cfg, ek_keygen_spec *spec)
{
    memset(spec, 0, sizeof(*spec));
    ek_rc rc = ek_policy_parse_alg(name, spec);
    if (rc == EK_OK)
        rc = ek_policy_check_keygen(spec, cfg->rsa_min_bits, cfg->allow_ec);
    return rc;
}

/* The token takes new keys from this command and the label is unused. */
static ek_rc check_target(const char *token, const char *label)
{
    /* Keys of a PIN token get auth values derived from its sealed secret,
     * which needs a login this command does not do. */
    if (ek_token_login_required(token))
        return ek_error(EK_ERR_UNSUPPORTED,
                        "token '%s' is PIN-protected; create its keys through the PKCS#11 "
                        "module after login (e.g. pkcs11-tool --login --keypairgen), or use a "
                        "PIN-less token with --token",
                        token);
    ek_store_obj *objs = NULL;
    size_t n = 0;
    ek_rc rc = ek_store_find(token, label, NULL, 0, &objs, &n);
    bool taken = false;
    for (size_t i = 0; rc == EK_OK && i < n; i++)
        taken = taken || objs[i].has_key;
    free(objs);
    if (rc == EK_ERR_NOT_FOUND || (rc == EK_OK && !taken)) {
        ek_clear_error();
        return EK_OK;
    }
    if (rc != EK_OK)
        return rc;
    return ek_error(EK_ERR_EXISTS,
                    "key '%s' already exists in token '%s'; choose another "
                    "--label, or remove it with 'edgekey delete "
                    "\"pkcs11:token=%s;object=%s\"'",
                    label, token, token, label);
}

/* Generate (and persist) the key; auth is wiped before returning. */
static ek_rc make_key(const struct keygen_opts *o, ek_keygen_spec *spec, ek_key **key)
{
    unsigned char auth[CLI_AUTH_MAX];
    size_t auth_len = 0;
    ek_rc rc = EK_OK;
    if (o->auth || o->auth_file) {
        rc = cli_auth_read(o->auth_file, true, auth, &auth_len);
        spec->auth = auth;
        spec->auth_len = auth_len;
    }
    if (rc == EK_OK)
        rc = ek_key_generate(spec, key);
    OPENSSL_cleanse(auth, sizeof(auth));
    spec->auth = NULL;
    spec->auth_len = 0;
    if (rc == EK_OK && o->persist)
        rc = ek_key_persist(*key, o->persist);
    return rc;
}

/* Store it; on failure undo the persistent handle but keep the message. */
static ek_rc store_key(const struct keygen_opts *o, const char *token, ek_key *key,
                       ek_store_obj *obj)
{
    ek_token_info ti;
    ek_rc rc = ek_store_token_ensure(token, &ti);
    if (rc == EK_OK)
        rc = ek_store_put_key(token, o->label, NULL, 0, key, obj);
    if (rc != EK_OK && o->persist) {
        char msg[1024];
        snprintf(msg, sizeof(msg), "%s", ek_last_error());
        if (ek_key_evict_handle(o->persist) == EK_OK)
            ek_error(rc, "%s (handle 0x%08x evicted again)", msg, o->persist);
        else
            ek_error(rc,
                     "%s; persistent handle 0x%08x is left in the TPM: remove it with "
                     "'edgekey delete handle:0x%08x'",
                     msg, o->persist, o->persist);
    }
    return rc;
}

static int report(const cli_ctx *ctx, const struct keygen_opts *o, const ek_keygen_spec *spec,
                  const ek_store_obj *obj)
{
    char uri[1024];
    ek_rc rc = cli_obj_uri(obj, uri, sizeof(uri));
    if (rc != EK_OK)
        return out_fail(ctx, rc);
    const char *alg = ek_alg_name(spec->alg, spec->bits, spec->curve);
    if (ctx->json)
        return out_result(ctx, json_pack("{s:o,s:o,s:o,s:o,s:s,s:o,s:b}", "uri", out_str(uri),
                                         "token", out_str(obj->token), "label", out_str(obj->label),
                                         "id", out_hex(obj->id, obj->id_len), "alg", alg, "handle",
                                         out_handle(obj->handle), "auth", o->auth || o->auth_file));
    printf("%s\n", uri);
    if (obj->handle)
        printf("handle:0x%08x\n", obj->handle);
    /* Other spellings (RSA-2048, P-256 ...) are taken on purpose; saying what
     * they became keeps that from being silent. */
    char read_as[96] = "";
    if (strcmp(o->alg, alg) != 0)
        snprintf(read_as, sizeof(read_as), " (--alg %.40s read as %s)", o->alg, alg);
    fprintf(stderr, "edgekey: created %s key '%s' in token '%s'%s%s\n", alg, obj->label, obj->token,
            read_as, o->auth || o->auth_file ? " (auth value set)" : "");
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_STORE;
}

int cmd_keygen(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {CLI_GLOBAL_LONGOPTS,
                                         {"label", required_argument, NULL, O_LABEL},
                                         {"token", required_argument, NULL, O_TOKEN},
                                         {"alg", required_argument, NULL, O_ALG},
                                         {"persist", required_argument, NULL, O_PERSIST},
                                         {"auth", no_argument, NULL, O_AUTH},
                                         {"auth-file", required_argument, NULL, O_AUTH_FILE},
                                         {NULL, 0, NULL, 0}};
    struct keygen_opts o = {.alg = "rsa2048"};
    int r = cli_parse_opts(ctx, argc, argv, "h", opts, on_opt, &o);
    if (r == 'h') {
        usage();
        return EXIT_OK;
    }
    if (r != -1)
        return r;
    if (optind < argc)
        return out_usage(ctx, "keygen", "unexpected argument '%s'", argv[optind]);
    if (o.label == NULL || *o.label == '\0')
        return out_usage(ctx, "keygen", "--label LABEL is required (the key's name in the token)");
    if (o.bad_handle)
        return out_usage(ctx, "keygen",
                         "--persist %s is not a persistent handle; give "
                         "0x81000002..0x81ffffff",
                         o.bad_handle);
    if (o.persist == SRK_HANDLE)
        return out_usage(ctx, "keygen",
                         "--persist 0x81000001 is the storage primary key (SRK) "
                         "handle every key is wrapped under; pick another");

    const ek_config *cfg = ek_config_get();
    if (cfg == NULL)
        return out_fail(ctx, EK_ERR_INVALID);
    const char *token = o.token ? o.token : cfg->token;
    ek_keygen_spec spec = {0};
    ek_rc rc = parse_alg(o.alg, cfg, &spec);
    if (rc == EK_OK)
        rc = check_target(token, o.label);
    ek_key *key = NULL;
    if (rc == EK_OK)
        rc = make_key(&o, &spec, &key);
    ek_store_obj obj;
    memset(&obj, 0, sizeof(obj));
    if (rc == EK_OK)
        rc = store_key(&o, token, key, &obj);
    ek_key_free(key);
    if (rc != EK_OK)
        return out_fail(ctx, rc);
    return report(ctx, &o, &spec, &obj);
}
