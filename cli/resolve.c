/* edgekey CLI: which store object an address names.
 *
 * The store is keyed by token + label/id; addresses come in four forms.
 * pkcs11: URIs (and EDGEKEY URI reference files) select by token, object
 * and id; handle:0x81... by the handle the store recorded; a TSS2 key file
 * by its public key, so `cert import --key key.pem` finds the stored copy.
 * Exactly one object must match: an ambiguous URI is refused with the
 * candidates named, never guessed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"
#include "ek_addr.h"

static ek_rc not_found(const char *address, const ek_addr *a)
{
    bool ref = a->kind == EK_ADDR_URI_FILE;
    return ek_error(EK_ERR_NOT_FOUND,
                    "no key or certificate matches %s%s in the store %s; 'edgekey list' shows "
                    "what is there (wrong --store or token?)%s",
                    address, ref ? " (a key reference file)" : "", ek_store_root(),
                    ref ? "; if its key was deleted (edgekey delete) it is gone: make a new key "
                          "and write a new reference file with `edgekey export-ref`"
                        : "");
}

static bool wanted_class(const ek_store_obj *o, ek_obj_class type)
{
    if (type == EK_OBJ_CERT)
        return o->has_cert;
    if (type == EK_OBJ_PRIVATE || type == EK_OBJ_PUBLIC)
        return o->has_key;
    return true;
}

static bool token_serial_ok(const ek_store_obj *o, const char *serial)
{
    ek_token_info ti;
    if (serial[0] == '\0')
        return true;
    return ek_store_token_get(o->token, &ti) == EK_OK && strcmp(ti.serial, serial) == 0;
}

/* Keep the matching objects; exactly one must remain. */
static ek_rc pick_one(const char *address, ek_store_obj *objs, size_t n, const ek_addr *a,
                      ek_store_obj *out)
{
    size_t hits = 0, first = 0;
    char names[256] = "";
    for (size_t i = 0; i < n; i++) {
        if (!wanted_class(&objs[i], a->type) || !token_serial_ok(&objs[i], a->serial))
            continue;
        if (hits++ == 0)
            first = i;
        /* The list is only for the message: a long one is cut, on purpose. */
        size_t used = strlen(names);
        int w = used < sizeof(names) - 1
                    ? snprintf(names + used, sizeof(names) - used, "%s%s/%s", hits > 1 ? ", " : "",
                               objs[i].token, objs[i].label)
                    : 0;
        (void)w;
    }
    if (hits == 0)
        return not_found(address, a);
    if (hits > 1)
        return ek_error(EK_ERR_INVALID,
                        "%s matches %zu objects (%s); add token=, object= or id= to the URI "
                        "to pick one",
                        address, hits, names);
    *out = objs[first];
    return EK_OK;
}

static ek_rc by_uri(const char *address, const ek_addr *a, ek_store_obj *out)
{
    ek_store_obj *objs = NULL;
    size_t n = 0;
    ek_rc rc = ek_store_find(a->token[0] ? a->token : NULL, a->object[0] ? a->object : NULL,
                             a->id_len ? a->id : NULL, a->id_len, &objs, &n);
    if (rc == EK_ERR_NOT_FOUND)
        rc = not_found(address, a);
    if (rc == EK_OK)
        rc = pick_one(address, objs, n, a, out);
    free(objs);
    return rc;
}

static ek_rc by_handle(const char *address, uint32_t handle, ek_store_obj *out)
{
    ek_store_obj *objs = NULL;
    size_t n = 0;
    ek_rc rc = ek_store_find(NULL, NULL, NULL, 0, &objs, &n);
    if (rc == EK_ERR_NOT_FOUND)
        rc = EK_OK, n = 0;
    for (size_t i = 0; rc == EK_OK && i < n; i++) {
        if (objs[i].handle == handle) {
            *out = objs[i];
            free(objs);
            return EK_OK;
        }
    }
    free(objs);
    return rc != EK_OK ? rc
                       : ek_error(EK_ERR_NOT_FOUND,
                                  "%s is not recorded in the store %s; 'edgekey list' shows "
                                  "the stored keys and their handles",
                                  address, ek_store_root());
}

ek_rc cli_resolve_match(cli_pub_match_fn match, void *arg, ek_store_obj *out)
{
    ek_store_obj *objs = NULL;
    size_t n = 0;
    ek_rc rc = ek_store_find(NULL, NULL, NULL, 0, &objs, &n);
    if (rc == EK_ERR_NOT_FOUND)
        rc = EK_OK, n = 0;
    bool found = false;
    for (size_t i = 0; rc == EK_OK && i < n && !found; i++) {
        if (!objs[i].has_key)
            continue;
        ek_key *k = NULL;
        if (ek_store_load_key(&objs[i], &k) != EK_OK)
            continue; /* a damaged entry must not hide the right one */
        if (match(ek_key_public(k), arg)) {
            *out = objs[i];
            found = true;
        }
        ek_key_free(k);
    }
    free(objs);
    if (rc != EK_OK)
        return rc;
    if (!found)
        return ek_error(EK_ERR_NOT_FOUND, "no key in the store %s has this public key",
                        ek_store_root());
    ek_clear_error();
    return EK_OK;
}

static bool same_pub(const ek_pubkey *pub, void *arg)
{
    return cli_pub_equal(pub, arg);
}

ek_rc cli_resolve_pub(const ek_pubkey *pub, ek_store_obj *out)
{
    return cli_resolve_match(same_pub, (void *)pub, out);
}

static ek_rc by_key_file(const char *address, ek_store_obj *out)
{
    ek_key *key = NULL;
    ek_rc rc = ek_key_open(address, &key);
    if (rc != EK_OK)
        return rc;
    rc = cli_resolve_pub(ek_key_public(key), out);
    ek_key_free(key);
    if (rc == EK_ERR_NOT_FOUND)
        rc = ek_error(EK_ERR_NOT_FOUND,
                      "the key in %s is not in the store %s; only stored keys can hold "
                      "certificates or be listed (use a pkcs11: URI from 'edgekey list')",
                      address, ek_store_root());
    return rc;
}

ek_rc cli_resolve(const char *raw, ek_store_obj *out)
{
    char address[1100]; /* as shown in messages: never with its pin-value */
    ek_addr_masked(raw, address, sizeof(address));
    ek_addr a;
    memset(&a, 0, sizeof(a));
    ek_rc rc = ek_addr_parse(raw, &a);
    if (rc == EK_OK) {
        switch (a.kind) {
        case EK_ADDR_PKCS11:
        case EK_ADDR_URI_FILE:
            rc = by_uri(address, &a, out);
            break;
        case EK_ADDR_HANDLE:
            rc = by_handle(address, a.handle, out);
            break;
        case EK_ADDR_TSS2_FILE:
            rc = by_key_file(raw, out);
            break;
        default:
            rc = ek_error(EK_ERR_INVALID, "%s: unknown kind of key address", address);
        }
    }
    ek_addr_clear(&a);
    return rc;
}

ek_rc cli_obj_uri(const ek_store_obj *obj, char *buf, size_t size)
{
    /* Labels are unique per token, so token + object name the key; the id
     * stays out to keep the URI short and readable. */
    return ek_addr_format_pkcs11(obj->token, obj->label, NULL, 0, EK_OBJ_PRIVATE, buf, size);
}
