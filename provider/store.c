/* edgekey OpenSSL provider: OSSL_STORE loader for "pkcs11:" and "handle:".
 *
 *   pkcs11:token=edge;object=device;type=private    keys (and certificates)
 *                                                   in the edgekey store
 *   handle:0x81010001                               a persistent TPM key
 *
 * A pkcs11: URI that matches no edgekey object (or that edgekey cannot
 * parse) is declined quietly: open() returns NULL without putting anything
 * on the error queue, so the application reports its own "cannot load"
 * and nothing here claims URIs that belong to another PKCS#11 world.
 * Opening reads only the store (files); the TPM is first reached when a
 * key is signed with, or for a handle: when its public part is read.
 * Keys are handed over as object references that our keymgmt load() turns
 * into keys; certificates next to a key are returned as DER. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/store.h>

#include "ek_addr.h"
#include "ek_log.h"
#include "ek_store.h"
#include "ek_token.h"
#include "ekp.h"

typedef struct ekp_store_ctx {
    ekp_prov *prov;
    char shown[512]; /* the URI for messages, pin-value masked */
    ek_addr addr;
    int expect;         /* 0 or OSSL_STORE_INFO_PKEY / _PUBKEY / _CERT */
    ek_store_obj *objs; /* pkcs11: matching objects */
    size_t nobjs;
    size_t next; /* object index */
    int phase;   /* 0: the object's key, 1: its certificate */
    int done;
} ekp_store_ctx;

static void ekp_store_free(ekp_store_ctx *s)
{
    if (s == NULL)
        return;
    ek_addr_clear(&s->addr);
    free(s->objs);
    OPENSSL_clear_free(s, sizeof(*s));
}

static int ekp_store_want_key(const ekp_store_ctx *s, const ek_store_obj *o)
{
    if (!o->has_key || s->addr.type == EK_OBJ_CERT)
        return 0;
    return s->expect == 0 || s->expect == OSSL_STORE_INFO_PKEY ||
           s->expect == OSSL_STORE_INFO_PUBKEY;
}

static int ekp_store_want_cert(const ekp_store_ctx *s, const ek_store_obj *o)
{
    if (!o->has_cert || (s->addr.type != EK_OBJ_ANY && s->addr.type != EK_OBJ_CERT))
        return 0;
    return s->expect == 0 || s->expect == OSSL_STORE_INFO_CERT;
}

/* The URI as shown in messages: never with its pin-value. */
static void ekp_mask_uri(const char *uri, char *out, size_t size)
{
    const char *p = strstr(uri, "pin-value=");
    if (p == NULL) {
        snprintf(out, size, "%s", uri);
        return;
    }
    const char *end = p + strcspn(p, ";?&");
    snprintf(out, size, "%.*spin-value=***%s", (int)(p - uri), uri, end);
}

/* Token attributes other than the label: compared here, as ek_key_open does. */
static int ekp_store_token_matches(const ek_addr *a, const ek_store_obj *o)
{
    if (a->manufacturer[0] != '\0' && strcmp(a->manufacturer, EK_TOKEN_MANUFACTURER) != 0)
        return 0;
    if (a->model[0] != '\0' && strcmp(a->model, EK_TOKEN_MODEL) != 0)
        return 0;
    if (a->serial[0] != '\0') {
        ek_token_info info;
        if (ek_store_token_get(o->token, &info) != EK_OK || strcmp(info.serial, a->serial) != 0)
            return 0;
    }
    return 1;
}

/* Find the pkcs11: URI's objects; 0 (quietly) if there are none. */
static int ekp_store_find(ekp_store_ctx *s)
{
    ek_store_obj *all = NULL;
    size_t n = 0, kept = 0;
    const ek_addr *a = &s->addr;

    if (ek_store_find(a->token[0] ? a->token : NULL, a->object[0] ? a->object : NULL,
                      a->id_len ? a->id : NULL, a->id_len, &all, &n) != EK_OK)
        return 0;
    for (size_t i = 0; i < n; i++) {
        if (!ekp_store_token_matches(a, &all[i]))
            continue;
        if (!ekp_store_want_key(s, &all[i]) && !ekp_store_want_cert(s, &all[i]))
            continue;
        all[kept++] = all[i];
    }
    s->objs = all;
    s->nobjs = kept;
    return kept > 0;
}

static void *ekp_store_open(void *provctx, const char *uri)
{
    ekp_store_ctx *s = OPENSSL_zalloc(sizeof(*s));
    ek_rc rc;

    if (s == NULL)
        return NULL;
    s->prov = provctx;
    ekp_mask_uri(uri, s->shown, sizeof(s->shown));
    if (strncmp(uri, "handle:", 7) == 0) {
        rc = ek_addr_parse(uri, &s->addr);
        if (rc != EK_OK || s->addr.kind != EK_ADDR_HANDLE) {
            ekp_raise_core(s->prov, rc != EK_OK ? rc : EK_ERR_INVALID, s->shown);
            goto decline;
        }
        return s;
    }
    if (ek_addr_parse_pkcs11(uri, &s->addr) != EK_OK || !ekp_store_find(s))
        goto decline;
    return s;
decline:
    ek_clear_error();
    ekp_store_free(s);
    return NULL;
}

static const OSSL_PARAM *ekp_store_settable_ctx_params(void *provctx)
{
    static const OSSL_PARAM types[] = {
        OSSL_PARAM_int(OSSL_STORE_PARAM_EXPECT, NULL),
        OSSL_PARAM_END,
    };
    (void)provctx;
    return types;
}

static int ekp_store_set_ctx_params(void *loaderctx, const OSSL_PARAM params[])
{
    ekp_store_ctx *s = loaderctx;
    const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_EXPECT);
    if (p != NULL && !OSSL_PARAM_get_int(p, &s->expect))
        return 0;
    return 1; /* search criteria (subject, fingerprint...) are not needed here */
}

/* Authorisation: pin-value from the URI, else the passphrase callback when
 * the key needs one (an auth value in its key file, or a PIN token). In a
 * PIN token the value is the user PIN, from which the core derives the key's
 * auth; o is NULL for a handle: key. */
static int ekp_store_auth(ekp_prov *prov, const char *shown, const ek_addr *a,
                          const ek_store_obj *o, ek_key *tpm, OSSL_PASSPHRASE_CALLBACK *pw_cb,
                          void *pw_cbarg)
{
    if (a->has_pin) {
        size_t len = strlen(a->pin);
        ek_rc rc = o != NULL ? ek_token_key_set_pin(tpm, o->token, o->id, o->id_len, a->pin, len)
                             : ek_key_set_auth(tpm, (const unsigned char *)a->pin, len);
        if (rc != EK_OK) {
            ekp_raise_core(prov, rc, shown);
            return 0;
        }
        return 1;
    }
    if (!ek_key_needs_auth(tpm) && (o == NULL || !ek_token_login_required(o->token)))
        return 1;
    return ekp_key_ask_auth(prov, tpm, shown, o, pw_cb, pw_cbarg);
}

static int ekp_store_emit_key(ekp_store_ctx *s, const ek_store_obj *o, ek_key *tpm,
                              OSSL_CALLBACK *cb, void *cbarg, OSSL_PASSPHRASE_CALLBACK *pw_cb,
                              void *pw_cbarg)
{
    ekp_key *k;
    int ok;

    if (!ekp_store_auth(s->prov, s->shown, &s->addr, o, tpm, pw_cb, pw_cbarg)) {
        ek_key_free(tpm);
        return 0;
    }
    if ((k = ekp_key_from_tpm(s->prov, tpm)) == NULL)
        return 0;
    ok = ekp_key_pass_reference(&k, cb, cbarg);
    ekp_key_free(k); /* NULL if our keymgmt took it */
    return ok;
}

static int ekp_store_emit_cert(ekp_store_ctx *s, const ek_store_obj *o, OSSL_CALLBACK *cb,
                               void *cbarg)
{
    unsigned char *der = NULL;
    size_t len = 0;
    int type = OSSL_OBJECT_CERT, ok;
    OSSL_PARAM params[4];
    ek_rc rc = ek_store_read_cert(o, &der, &len);

    if (rc != EK_OK) {
        ekp_raise_core(s->prov, rc, s->shown);
        return 0;
    }
    params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &type);
    params[1] =
        OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_STRUCTURE, "Certificate", 0);
    params[2] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA, der, len);
    params[3] = OSSL_PARAM_construct_end();
    ok = cb(params, cbarg);
    free(der);
    return ok;
}

static int ekp_store_load_handle(ekp_store_ctx *s, OSSL_CALLBACK *cb, void *cbarg,
                                 OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    ek_key *tpm = NULL;
    ek_rc rc;

    s->done = 1;
    if (s->expect == OSSL_STORE_INFO_CERT)
        return 1;
    rc = ek_key_from_handle(s->addr.handle, &tpm);
    if (rc != EK_OK) {
        ekp_raise_core(s->prov, rc, NULL); /* the core's message names the handle */
        return 0;
    }
    return ekp_store_emit_key(s, NULL, tpm, cb, cbarg, pw_cb, pw_cbarg);
}

static int ekp_store_load(void *loaderctx, OSSL_CALLBACK *object_cb, void *object_cbarg,
                          OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    ekp_store_ctx *s = loaderctx;

    if (s->done)
        return 0;
    if (s->addr.kind == EK_ADDR_HANDLE)
        return ekp_store_load_handle(s, object_cb, object_cbarg, pw_cb, pw_cbarg);
    /* One object per call: OSSL_STORE_load() calls again until eof. */
    while (s->next < s->nobjs) {
        const ek_store_obj *o = &s->objs[s->next];
        int phase = s->phase;
        if (phase == 0) {
            s->phase = 1;
        } else {
            s->phase = 0;
            s->next++;
        }
        if (phase == 0 && ekp_store_want_key(s, o)) {
            ek_key *tpm = NULL;
            ek_rc rc = ek_store_load_key(o, &tpm);
            if (rc != EK_OK) {
                ekp_raise_core(s->prov, rc, s->shown);
                return 0;
            }
            return ekp_store_emit_key(s, o, tpm, object_cb, object_cbarg, pw_cb, pw_cbarg);
        }
        if (phase == 1 && ekp_store_want_cert(s, o))
            return ekp_store_emit_cert(s, o, object_cb, object_cbarg);
    }
    s->done = 1;
    return 0;
}

static int ekp_store_eof(void *loaderctx)
{
    ekp_store_ctx *s = loaderctx;
    if (s->done)
        return 1;
    if (s->addr.kind == EK_ADDR_HANDLE)
        return 0;
    /* Look ahead so eof is true once nothing wanted is left. */
    for (size_t i = s->next; i < s->nobjs; i++) {
        int from_cert = (i == s->next && s->phase == 1);
        if ((!from_cert && ekp_store_want_key(s, &s->objs[i])) ||
            ekp_store_want_cert(s, &s->objs[i]))
            return 0;
    }
    return 1;
}

static int ekp_store_close(void *loaderctx)
{
    ekp_store_free(loaderctx);
    return 1;
}

/* A reference file whose key is gone. OpenSSL's file store drops every
 * error a decoder raises when no decoder yields a key (its ERR_pop_to_mark)
 * and says only "unsupported", so the reason is also logged, once per
 * thread and message: the RSA and the EC decoder both meet it. */
static void ekp_key_gone(ekp_prov *prov, const char *shown, ek_rc rc)
{
    static _Thread_local char last[512];
    int handle = strncmp(shown, "handle:", 7) == 0;
    const char *core = rc == EK_OK ? "" : ek_last_error();
    char why[400] = "", msg[1024];

    if (*core)
        snprintf(why, sizeof(why), " (%s)", core);
    snprintf(msg, sizeof(msg),
             "key reference file (EDGEKEY URI) names %s, which is no longer %s%s%s; the key "
             "was deleted%s, or this program uses another %s; make a new key and write a new "
             "reference file with `edgekey export-ref`",
             shown, handle ? "in the TPM" : "in the edgekey store ", handle ? "" : ek_store_root(),
             why, handle ? " (evicted) or the TPM was cleared" : " (edgekey delete)",
             handle ? "TPM (EDGEKEY_TCTI)" : "store (EDGEKEY_STORE, store = in edgekey.conf)");
    ekp_raise(prov, EKP_R_NOT_FOUND, "%s", msg);
    if (strcmp(last, shown) != 0) {
        snprintf(last, sizeof(last), "%s", shown);
        ek_log(EK_LOG_ERR, "%s", msg);
    }
}

/* For the EDGEKEY URI decoders: the one key the URI names, as ek_key_open
 * resolves it (no match and several matches are errors), with its auth. */
int ekp_store_open_key(ekp_prov *prov, const char *uri, ek_alg want,
                       OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg, ek_key **out)
{
    ekp_store_ctx s;
    const ek_store_obj *o = NULL;
    ek_key *tpm = NULL;
    ek_rc rc;
    int ok = 0;

    *out = NULL;
    memset(&s, 0, sizeof(s));
    s.prov = prov;
    s.expect = OSSL_STORE_INFO_PKEY;
    ekp_mask_uri(uri, s.shown, sizeof(s.shown));
    rc = ek_addr_parse(uri, &s.addr);
    if (rc != EK_OK || (s.addr.kind != EK_ADDR_PKCS11 && s.addr.kind != EK_ADDR_HANDLE)) {
        ekp_raise(prov, EKP_R_INVALID, "EDGEKEY URI file holds '%s', not a pkcs11: or handle: URI",
                  s.shown);
        goto end;
    }
    if (s.addr.kind == EK_ADDR_PKCS11) {
        if (!ekp_store_find(&s)) {
            ekp_key_gone(prov, s.shown, EK_OK);
            goto end;
        }
        if (s.nobjs > 1) {
            ekp_raise(prov, EKP_R_INVALID,
                      "%s matches %zu edgekey keys; add id= or object=", s.shown, s.nobjs);
            goto end;
        }
        o = &s.objs[0];
        if (o->alg != want) {
            ok = 1; /* the other algorithm's decoder takes it */
            goto end;
        }
    }
    rc = o != NULL ? ek_store_load_key(o, &tpm) : ek_key_from_handle(s.addr.handle, &tpm);
    if (rc == EK_ERR_NOT_FOUND && o == NULL) {
        ekp_key_gone(prov, s.shown, rc);
        goto end;
    }
    if (rc != EK_OK) {
        ekp_raise_core(prov, rc, o != NULL ? s.shown : NULL);
        goto end;
    }
    if (ek_key_public(tpm)->alg != want) {
        ek_key_free(tpm);
        ok = 1;
        goto end;
    }
    if (!ekp_store_auth(prov, s.shown, &s.addr, o, tpm, pw_cb, pw_cbarg)) {
        ek_key_free(tpm);
        goto end;
    }
    *out = tpm;
    ok = 1;
end:
    ek_addr_clear(&s.addr);
    free(s.objs);
    OPENSSL_cleanse(&s, sizeof(s));
    return ok;
}

const OSSL_DISPATCH ekp_store_functions[] = {
    {OSSL_FUNC_STORE_OPEN, (void (*)(void))ekp_store_open},
    {OSSL_FUNC_STORE_SETTABLE_CTX_PARAMS, (void (*)(void))ekp_store_settable_ctx_params},
    {OSSL_FUNC_STORE_SET_CTX_PARAMS, (void (*)(void))ekp_store_set_ctx_params},
    {OSSL_FUNC_STORE_LOAD, (void (*)(void))ekp_store_load},
    {OSSL_FUNC_STORE_EOF, (void (*)(void))ekp_store_eof},
    {OSSL_FUNC_STORE_CLOSE, (void (*)(void))ekp_store_close},
    {0, NULL},
};
