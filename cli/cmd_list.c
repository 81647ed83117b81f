/* edgekey list: tokens, keys and certificates in the store, then the
 * persistent objects (0x81xxxxxx) in the TPM that no store entry names.
 *
 * The store part needs no TPM and no write access. The TPM part asks the
 * TPM (GetCapability + ReadPublic); if the TPM is busy or absent it says so
 * and the listing still succeeds; --no-tpm skips it. Human output is one
 * block per token; --json gives the same facts as a tree. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "cli.h"
#include "ek_handles.h"
#include "ek_policy.h"
#include "ek_token.h"

enum { O_TOKEN = OPT_CMD_BASE, O_NO_TPM };

typedef struct list_opts {
    const char *only;
    bool no_tpm;
} list_opts;

static void usage(void)
{
    printf("usage: edgekey list [--token TOKEN] [--no-tpm] [--json]\n"
           "\nTokens in the store with their keys (label, id, algorithm, persistent handle,\n"
           "pkcs11: URI) and certificates (subject, expiry); then the persistent objects\n"
           "in the TPM (0x81xxxxxx) that are not in the store, with their key type\n"
           "(--no-tpm: do not ask the TPM).\n");
}

static int on_opt(void *state, int c, const char *arg)
{
    list_opts *o = state;
    if (c == O_TOKEN)
        o->only = arg;
    else if (c == O_NO_TPM)
        o->no_tpm = true;
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

/* One token block: header line, then key lines with URI and certificate.
 * Returns whether a key had no certificate in the store. */
static bool print_token(const json_t *t)
{
    bool bare = false;
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
            printf("    cert none in the store\n");
        bare = bare || !json_is_object(c);
    }
    return bare;
}

/* "none" only speaks for the store: the edge client, for one, keeps its
 * certificate with its identity state (data_dir/device.pem, replaced by its
 * renewal as one unit with the key), not here. */
static void print_bare_note(void)
{
    printf("\n'none in the store' = no certificate imported with `edgekey cert import`; a\n"
           "program may keep its own (the edge client: <data_dir>/device.pem).\n");
}

/* Is handle named by any store object (of any token)? */
static bool in_store(uint32_t handle, const ek_store_obj *all, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (all[i].handle == handle)
            return true;
    return false;
}

/* The TPM's persistent objects that no store entry names: an array, or an
 * object {"error": why} when the TPM cannot be asked. */
static json_t *tpm_json(void)
{
    ek_persistent *p = NULL;
    ek_store_obj *all = NULL;
    size_t np = 0, na = 0;
    ek_rc rc = ek_tpm_persistent_list(&p, &np);
    if (rc != EK_OK)
        return json_pack("{s:o}", "error", out_str(ek_last_error()));
    if (ek_store_find(NULL, NULL, NULL, 0, &all, &na) != EK_OK)
        na = 0, ek_clear_error();
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < np; i++) {
        if (in_store(p[i].handle, all, na))
            continue;
        json_array_append_new(arr,
                              json_pack("{s:o,s:s,s:b,s:b,s:b}", "handle", out_handle(p[i].handle),
                                        "type", p[i].type, "sign", p[i].sign, "decrypt",
                                        p[i].decrypt, "restricted", p[i].restricted));
    }
    free(all);
    free(p);
    return arr;
}

static void print_tpm(const json_t *tpm)
{
    size_t i;
    json_t *o;
    if (json_is_object(tpm)) {
        printf("\nTPM persistent objects not listed: %s\n",
               json_string_value(json_object_get(tpm, "error")));
        return;
    }
    if (json_array_size(tpm) == 0)
        return;
    printf("\npersistent TPM objects not in the store:\n");
    json_array_foreach(tpm, i, o)
    {
        bool s = json_is_true(json_object_get(o, "sign")),
             d = json_is_true(json_object_get(o, "decrypt")),
             r = json_is_true(json_object_get(o, "restricted"));
        printf("  %s  %s%s%s%s%s\n", json_string_value(json_object_get(o, "handle")),
               json_string_value(json_object_get(o, "type")), r ? "  restricted" : "",
               s ? "  sign" : "", d ? "  decrypt" : "", r && d && !s ? " (storage key)" : "");
    }
}

static int emit(const cli_ctx *ctx, json_t *tokens, json_t *tpm)
{
    if (ctx->json) {
        json_t *res = json_pack("{s:o,s:o}", "store", out_str(ek_store_root()), "tokens", tokens);
        if (res && tpm)
            json_object_set_new(res, "tpm_persistent", tpm);
        return out_result(ctx, res);
    }
    size_t i;
    json_t *t;
    if (json_array_size(tokens) == 0)
        printf("no tokens in %s; create a key with 'edgekey keygen --label NAME'\n",
               ek_store_root());
    bool bare = false;
    json_array_foreach(tokens, i, t)
    {
        if (i)
            fputc('\n', stdout);
        bare = print_token(t) || bare;
    }
    if (bare)
        print_bare_note();
    if (tpm)
        print_tpm(tpm);
    json_decref(tokens);
    json_decref(tpm);
    return fflush(stdout) == 0 ? EXIT_OK : EXIT_STORE;
}

int cmd_list(cli_ctx *ctx, int argc, char **argv)
{
    static const struct option opts[] = {CLI_GLOBAL_LONGOPTS,
                                         {"token", required_argument, NULL, O_TOKEN},
                                         {"no-tpm", no_argument, NULL, O_NO_TPM},
                                         {NULL, 0, NULL, 0}};
    list_opts lo = {NULL, false};
    int r = cli_parse_opts(ctx, argc, argv, "h", opts, on_opt, &lo);
    const char *only = lo.only;
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
    return emit(ctx, arr, lo.no_tpm ? NULL : tpm_json());
}
