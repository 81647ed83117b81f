/* edgekey list: tokens, keys and certificates in the store.
 *
 * Reads only the store (no TPM connection), so it works on a machine whose
 * TPM is busy or absent and needs no write access. Human output is one
 * block per token; --json gives the same facts as a tree. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"
#include "ek_policy.h"
#include "ek_token.h"

enum { O_TOKEN = OPT_CMD_BASE };

static void usage(void)
{
    printf("usage: edgekey list [--token TOKEN] [--json]\n"
           "\nTokens in the store with their keys (label, id, algorithm, persistent handle,\n"
           "pkcs11: URI) and certificates (subject, expiry).\n");
}

static int on_opt(void *state, int c, const char *arg)
{
    if (c == O_TOKEN)
        *(const char **)state = arg;
    return 0;
}

static json_t *cert_json(const ek_store_obj *obj)
{
    unsigned char *der = NULL;
    size_t len = 0;
    X509 *cert = NULL;
    if (!obj->has_cert)
        return json_null();
    json_t *j;
    if (ek_store_read_cert(obj, &der, &len) == EK_OK &&
        cli_cert_parse(der, len, "certificate", &cert) == EK_OK) {
        j = cli_cert_json(cert);
    } else {
        /* Keep listing; show why this entry is unreadable. */
        j = json_pack("{s:o}", "error", out_str(ek_last_error()));
    }
    X509_free(cert);
    free(der);
    return j;
}

static json_t *obj_json(const ek_store_obj *o)
{
    char uri[1024], created[32] = "";
    if (cli_obj_uri(o, uri, sizeof(uri)) != EK_OK)
        uri[0] = '\0';
    struct tm tm;
    if (o->created && gmtime_r(&o->created, &tm))
        strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return json_pack("{s:o,s:o,s:s,s:o,s:b,s:o,s:o,s:o}", "label", out_str(o->label), "id",
                     out_hex(o->id, o->id_len), "alg",
                     o->has_key ? ek_alg_name(o->alg, o->bits, o->curve) : "-", "handle",
                     out_handle(o->handle), "has_key", o->has_key, "uri",
                     o->has_key ? out_str(uri) : json_null(), "created",
                     created[0] ? json_string(created) : json_null(), "certificate", cert_json(o));
}

static ek_rc token_json(const ek_token_info *t, json_t **out)
{
    ek_store_obj *objs = NULL;
    size_t n = 0;
    ek_rc rc = ek_store_find(t->label, NULL, NULL, 0, &objs, &n);
    if (rc == EK_ERR_NOT_FOUND)
        rc = EK_OK, n = 0;
    if (rc != EK_OK)
        return rc;
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, obj_json(&objs[i]));
    free(objs);
    *out = json_pack("{s:o,s:o,s:o,s:b,s:o}", "token", out_str(t->label), "serial",
                     out_str(t->serial), "dir", out_str(t->dir), "login_required",
                     ek_token_login_required(t->label), "objects", arr);
    return *out ? EK_OK : ek_error(EK_ERR_NOMEM, "out of memory listing token %s", t->label);
}

/* One token block: header line, then key lines with URI and certificate. */
static void print_token(const json_t *t)
{
    printf("token %s (serial %s%s) %s\n", json_string_value(json_object_get(t, "token")),
           json_string_value(json_object_get(t, "serial")),
           json_is_true(json_object_get(t, "login_required")) ? ", PIN-protected" : "",
           json_string_value(json_object_get(t, "dir")));
    json_t *objs = json_object_get(t, "objects"), *o;
    size_t i;
    if (json_array_size(objs) == 0)
        printf("  (no keys)\n");
    json_array_foreach(objs, i, o)
    {
        json_t *h = json_object_get(o, "handle"), *c = json_object_get(o, "certificate");
        printf("  key %s  %s  id %s%s%s\n", json_string_value(json_object_get(o, "label")),
               json_string_value(json_object_get(o, "alg")),
               json_string_value(json_object_get(o, "id")), json_is_string(h) ? "  handle " : "",
               json_is_string(h) ? json_string_value(h) : "");
        if (json_is_string(json_object_get(o, "uri")))
            printf("    uri  %s\n", json_string_value(json_object_get(o, "uri")));
        if (json_is_object(c) && json_object_get(c, "subject"))
            printf("    cert %s  expires %s%s\n", json_string_value(json_object_get(c, "subject")),
                   json_string_value(json_object_get(c, "not_after")),
                   json_is_true(json_object_get(c, "expired")) ? " (EXPIRED)" : "");
        else if (json_is_object(c))
            printf("    cert unreadable: %s\n", json_string_value(json_object_get(c, "error")));
        else
            printf("    cert (none)\n");
    }
}

static int emit(const cli_ctx *ctx, json_t *tokens)
{
    if (ctx->json)
        return out_result(
            ctx, json_pack("{s:o,s:o}", "store", out_str(ek_store_root()), "tokens", tokens));
    size_t i;
    json_t *t;
    if (json_array_size(tokens) == 0)
        printf("no tokens in %s; create a key with 'edgekey keygen --label NAME'\n",
               ek_store_root());
    json_array_foreach(tokens, i, t)
    {
        if (i)
            fputc('\n', stdout);
        print_token(t);
    }
    json_decref(tokens);
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_STORE;
}

int cmd_list(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {
        CLI_GLOBAL_LONGOPTS, {"token", required_argument, NULL, O_TOKEN}, {NULL, 0, NULL, 0}};
    const char *only = NULL;
    int r = cli_parse_opts(ctx, argc, argv, "h", opts, on_opt, &only);
    if (r == 'h') {
        usage();
        return EXIT_OK;
    }
    if (r != -1)
        return r;
    if (optind < argc)
        return out_usage(ctx, "list", "unexpected argument '%s'", argv[optind]);

    ek_token_info *toks = NULL;
    size_t n = 0;
    ek_rc rc = EK_OK;
    if (only) {
        toks = malloc(sizeof(*toks));
        n = 1;
        rc = toks ? ek_store_token_get(only, toks) : ek_error(EK_ERR_NOMEM, "out of memory");
    } else {
        rc = ek_store_tokens(&toks, &n);
        if (rc == EK_ERR_NOT_FOUND) /* no store yet: nothing to list */
            rc = EK_OK, n = 0;
    }
    json_t *arr = json_array();
    for (size_t i = 0; rc == EK_OK && i < n; i++) {
        json_t *t = NULL;
        rc = token_json(&toks[i], &t);
        if (rc == EK_OK)
            json_array_append_new(arr, t);
    }
    free(toks);
    if (rc != EK_OK) {
        json_decref(arr);
        return out_fail(ctx, rc);
    }
    return emit(ctx, arr);
}
