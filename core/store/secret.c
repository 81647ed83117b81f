/* edgekey core: application secrets sealed in the TPM (ek_secret.h).
 *
 * The rules (which auth, who may unseal) and the TPM work; the record
 * files are secret_file.c's. Sealing and unsealing reuse token_seal.c:
 * TPM2_Create through the salted session with command encryption,
 * TPM2_Unseal with response encryption, so the value never crosses the TPM
 * interface in clear. Every copy of an unsealed value or auth is wiped. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ek_config.h"
#include "ek_log.h"
#include "ek_secret.h"
#include "ek_secret_int.h"
#include "ek_store_int.h"
#include "ek_store.h"
#include "token_seal.h"

_Static_assert(EK_SECRET_BLOB_MAX >= EK_SEAL_FILE_MAX, "sealed blob buffer too small");

/* Fixed-size buffers are not enough for an unsealed value larger than the
 * TPM would ever give; TPM2B_SENSITIVE_DATA is the ceiling. */
#define UNSEAL_BUF sizeof(((TPM2B_SENSITIVE_DATA *)0)->buffer)

/* HMAC-SHA256(secret, "edgekey data auth" || name), trailing zeros cut. */
static ek_rc data_auth(const ek_token_secret *secret, const char *name,
                       unsigned char auth[EK_TOKEN_AUTH_MAX], size_t *auth_len)
{
    size_t nl = strlen(name);
    if (nl > 16)
        return ek_error(EK_ERR_INVALID, "data object name '%s' is too long", name);
    return ek_token_derive_auth(secret->v, sizeof(secret->v), "edgekey data auth",
                                (const unsigned char *)name, nl, auth, auth_len);
}

/* The object's auth value: derived for token_auth objects (needs the
 * logged-in user's token secret), empty otherwise. */
static ek_rc object_auth(const ek_secret_obj *o, const ek_token_secret *secret,
                         unsigned char auth[EK_TOKEN_AUTH_MAX], size_t *auth_len)
{
    *auth_len = 0;
    if (!o->token_auth)
        return EK_OK;
    if (!secret || !secret->set)
        return ek_error(EK_ERR_AUTH,
                        "data object '%s' in token '%s' is private: log in as the token's user "
                        "first",
                        o->label, o->token);
    return data_auth(secret, o->name, auth, auth_len);
}

static ek_rc check_desc(const ek_secret_obj *d, size_t len)
{
    size_t ll = strnlen(d->label, sizeof(d->label));
    if (ll == 0 || ll > EK_SECRET_LABEL_MAX)
        return ek_error(EK_ERR_INVALID, "data object label must be 1-%d bytes long",
                        EK_SECRET_LABEL_MAX);
    if (strnlen(d->application, sizeof(d->application)) > EK_SECRET_APP_MAX ||
        d->id_len > EK_SECRET_ID_MAX || d->object_id_len > EK_SECRET_OID_MAX)
        return ek_error(EK_ERR_INVALID,
                        "data object '%s': application <= %d bytes, id <= %d bytes, "
                        "object id <= %d bytes",
                        d->label, EK_SECRET_APP_MAX, EK_SECRET_ID_MAX, EK_SECRET_OID_MAX);
    if (len == 0 || len > EK_SECRET_MAX)
        return ek_error(EK_ERR_INVALID,
                        "data object '%s' refused: its value is %zu bytes, the TPM seals 1 to "
                        "%d bytes; store a shorter secret (or a key that protects a longer one)",
                        d->label, len, EK_SECRET_MAX);
    return EK_OK;
}

/* Replace a token_seal.c message (which speaks of the token secret and
 * PINs) by one naming the data object. */
static ek_rc restate(ek_rc rc, const ek_secret_obj *o, const char *doing)
{
    char msg[512];
    snprintf(msg, sizeof(msg), "%s", ek_last_error());
    if (rc == EK_ERR_AUTH)
        return ek_error(rc,
                        "data object '%s' in token '%s': the TPM refused its auth value; "
                        "it was sealed under another token secret (token re-initialised?); "
                        "delete it and store the secret again",
                        o->label, o->token);
    return ek_error(rc, "data object '%s' in token '%s': %s: %s", o->label, o->token, doing, msg);
}

ek_rc ek_secret_put(const char *token, const ek_secret_obj *desc, const ek_token_secret *secret,
                    const unsigned char *value, size_t len, ek_secret_obj *out)
{
    ek_rc rc = ek_token_label_check(token);
    if (rc == EK_OK)
        rc = check_desc(desc, len);
    if (rc != EK_OK)
        return rc;
    ek_secret_obj o = *desc;
    snprintf(o.token, sizeof(o.token), "%s", token);
    o.token_auth = o.priv && ek_token_login_required(token);
    o.value_len = len;
    o.created = time(NULL);
    if ((rc = ek_secret_new_name(o.name)) != EK_OK)
        return rc;

    unsigned char auth[EK_TOKEN_AUTH_MAX], blob[EK_SECRET_BLOB_MAX];
    size_t auth_len = 0, blob_len = 0;
    ek_sealed sealed;
    rc = object_auth(&o, secret, auth, &auth_len);
    if (rc == EK_OK && (rc = ek_seal_create(value, len, auth, auth_len, false, &sealed)) != EK_OK)
        rc = restate(rc, &o, "sealing");
    ek_wipe(auth, sizeof(auth));
    if (rc == EK_OK)
        rc = ek_seal_encode(&sealed, blob, sizeof(blob), &blob_len);
    if (rc == EK_OK)
        rc = ek_secret_store(&o, blob, blob_len);
    if (rc == EK_OK) {
        ek_log(EK_LOG_INFO, "token %s: sealed data object '%s' (%zu bytes, %s)", token, o.label,
               len, o.token_auth ? "user login needed" : "no login needed");
        if (out)
            *out = o;
    }
    return rc;
}

ek_rc ek_secret_get(const ek_secret_obj *obj, const ek_token_secret *secret, unsigned char *out,
                    size_t size, size_t *len)
{
    if (size < obj->value_len)
        return ek_error(EK_ERR_BUFFER_TOO_SMALL, "data object '%s': %zu bytes needed", obj->label,
                        obj->value_len);
    unsigned char blob[EK_SECRET_BLOB_MAX], auth[EK_TOKEN_AUTH_MAX], buf[UNSEAL_BUF];
    size_t blob_len = 0, auth_len = 0, n = sizeof(buf);
    ek_sealed sealed;
    ek_secret_obj cur = *obj;
    ek_rc rc = ek_secret_load_blob(obj, blob, sizeof(blob), &blob_len);
    if (rc == EK_OK && ek_seal_decode(blob, blob_len, &sealed, obj->label) != EK_OK)
        rc = ek_error(EK_ERR_INVALID,
                      "data object '%s' in token '%s': %s.data holds no valid sealed blob; "
                      "delete it and store the secret again",
                      obj->label, obj->token, obj->name);
    if (rc == EK_OK)
        rc = object_auth(&cur, secret, auth, &auth_len);
    if (rc == EK_OK && (rc = ek_seal_unseal(&sealed, auth, auth_len, buf, &n)) != EK_OK)
        rc = restate(rc, obj, "unsealing");
    ek_wipe(auth, sizeof(auth));
    if (rc == EK_OK && n != obj->value_len)
        rc = ek_error(EK_ERR_INVALID,
                      "data object '%s' in token '%s': unsealed %zu bytes, the record says %zu; "
                      "delete it and store the secret again",
                      obj->label, obj->token, n, obj->value_len);
    if (rc == EK_OK) {
        memcpy(out, buf, n);
        *len = n;
    }
    ek_wipe(buf, sizeof(buf));
    return rc;
}

ek_rc ek_secret_read(const char *token, const char *label, const char *pin, size_t pin_len,
                     unsigned char *out, size_t size, size_t *len)
{
    ek_secret_obj *all = NULL;
    size_t n = 0;
    ek_rc rc = ek_secret_find(token, label, &all, &n);
    if (rc == EK_OK && n == 0)
        rc = ek_error(EK_ERR_NOT_FOUND, "token '%s' has no data object labelled '%s'", token,
                      label ? label : "");
    ek_token_secret sec = {.set = false};
    if (rc == EK_OK && all[0].token_auth)
        rc = ek_token_login(token, EK_TOKEN_USER, pin, pin_len, &sec);
    if (rc == EK_OK)
        rc = ek_secret_get(&all[0], &sec, out, size, len);
    ek_token_secret_wipe(&sec);
    free(all);
    return rc;
}
