/* edgekey OpenSSL provider: EC key management ("EC:id-ecPublicKey"),
 * P-256 and P-384. EC-specific parameters (group, point, x/y, point format)
 * and the dispatch table; shared parts in keymgmt_common.c / keymgmt_gen.c. */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/objects.h>
#include <openssl/param_build.h>
#include <openssl/params.h>

#include "ekp.h"

static void *ekp_ec_new(void *provctx)
{
    return ekp_key_new(provctx, EK_ALG_EC);
}

static void *ekp_ec_gen_init(void *provctx, int selection, const OSSL_PARAM params[])
{
    return ekp_gen_init(provctx, EK_ALG_EC, selection, params);
}

static const char *ekp_ec_query_operation_name(int operation_id)
{
    if (operation_id == OSSL_OP_SIGNATURE)
        return EKP_SIG_ECDSA_NAME;
    /* Named so that a key exchange with a TPM key fails in our export with
     * a message that says why, rather than "unsupported algorithm". */
    if (operation_id == OSSL_OP_KEYEXCH)
        return "ECDH";
    return NULL;
}

/* Store a point (any SEC1 encoding) as the fixed-width uncompressed form. */
static int ekp_ec_set_point(ekp_key *k, const unsigned char *buf, size_t len)
{
    size_t want = 1 + 2 * ((ekp_curve_bits(k->pub.curve) + 7) / 8);
    EC_GROUP *group = NULL;
    EC_POINT *pt = NULL;
    int ok = 0;

    if (k->pub.curve == EK_CURVE_NONE)
        return 0;
    if (len == want && buf[0] == POINT_CONVERSION_UNCOMPRESSED) {
        memcpy(k->pub.point, buf, len);
        k->pub.point_len = len;
        k->has_pub = true;
        return 1;
    }
    group = EC_GROUP_new_by_curve_name_ex(k->prov->libctx, EKP_SOFT_PROPQ,
                                          OBJ_txt2nid(ekp_curve_name(k->pub.curve)));
    pt = group != NULL ? EC_POINT_new(group) : NULL;
    if (pt != NULL && EC_POINT_oct2point(group, pt, buf, len, NULL) &&
        EC_POINT_point2oct(group, pt, POINT_CONVERSION_UNCOMPRESSED, k->pub.point,
                           sizeof(k->pub.point), NULL) == want) {
        k->pub.point_len = want;
        k->has_pub = true;
        ok = 1;
    }
    EC_POINT_free(pt);
    EC_GROUP_free(group);
    return ok;
}

int ekp_km_import_ec(ekp_key *k, int selection, const OSSL_PARAM params[])
{
    const OSSL_PARAM *p;
    const void *buf = NULL;
    size_t len = 0;

    p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_GROUP_NAME);
    if (p != NULL) {
        const char *name = NULL;
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &name))
            return 0;
        ek_curve c = ekp_curve_from_name(name);
        if (c == EK_CURVE_NONE) /* not an error on the queue: only P-256/P-384 are ours */
            return 0;
        k->pub.curve = c;
        k->pub.bits = ekp_curve_bits(c);
    }
    if (k->pub.curve == EK_CURVE_NONE)
        return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) == 0)
        return 1;
    p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_PUB_KEY);
    if (p == NULL)
        p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY);
    if (p == NULL)
        return (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 ? 0 : 1;
    if (!OSSL_PARAM_get_octet_string_ptr(p, &buf, &len))
        return 0;
    return ekp_ec_set_point(k, buf, len);
}

static int ekp_ec_import(void *keydata, int selection, const OSSL_PARAM params[])
{
    ekp_key *k = keydata;
    if (k == NULL || k->tpm != NULL)
        return 0;
    return ekp_km_import_ec(k, selection, params);
}

static const OSSL_PARAM ekp_ec_io_all[] = {
    OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
    OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
    OSSL_PARAM_END,
};

static const OSSL_PARAM *ekp_ec_io_types(int selection)
{
    return (selection & (OSSL_KEYMGMT_SELECT_PUBLIC_KEY | OSSL_KEYMGMT_SELECT_DOMAIN_PARAMETERS))
               ? ekp_ec_io_all
               : NULL;
}

int ekp_km_export_ec(const ekp_key *k, int selection, OSSL_CALLBACK *cb, void *cbarg)
{
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    int ok = 0;

    if (bld == NULL || k->pub.curve == EK_CURVE_NONE)
        goto end;
    if ((selection & OSSL_KEYMGMT_SELECT_ALL_PARAMETERS) != 0 ||
        (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0)
        if (!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                             ekp_curve_name(k->pub.curve), 0))
            goto end;
    if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) != 0 && k->has_pub &&
        !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, k->pub.point,
                                          k->pub.point_len))
        goto end;
    if ((params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
        goto end;
    ok = cb(params, cbarg);
end:
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    return ok;
}

static int ekp_ec_set_bn(OSSL_PARAM *p, const unsigned char *bytes, size_t len)
{
    BIGNUM *bn = BN_bin2bn(bytes, (int)len, NULL);
    int ok = bn != NULL && OSSL_PARAM_set_BN(p, bn);
    BN_free(bn);
    return ok;
}

static int ekp_ec_get_params(void *keydata, OSSL_PARAM params[])
{
    const ekp_key *k = keydata;
    OSSL_PARAM *p;

    if (k == NULL || k->pub.curve == EK_CURVE_NONE || !ekp_km_get_common_params(k, params))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_GROUP_NAME);
    if (p != NULL && !OSSL_PARAM_set_utf8_string(p, ekp_curve_name(k->pub.curve)))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT);
    if (p != NULL && !OSSL_PARAM_set_utf8_string(p, "uncompressed"))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_EC_ENCODING);
    if (p != NULL && !OSSL_PARAM_set_utf8_string(p, "named_curve"))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_EC_DECODED_FROM_EXPLICIT_PARAMS);
    if (p != NULL && !OSSL_PARAM_set_int(p, 0))
        return 0;
    if (!k->has_pub)
        return 1;
    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY);
    if (p != NULL && !OSSL_PARAM_set_octet_string(p, k->pub.point, k->pub.point_len))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_PUB_KEY);
    if (p != NULL && !OSSL_PARAM_set_octet_string(p, k->pub.point, k->pub.point_len))
        return 0;
    size_t q = (k->pub.point_len - 1) / 2;
    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_EC_PUB_X);
    if (p != NULL && !ekp_ec_set_bn(p, k->pub.point + 1, q))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_EC_PUB_Y);
    if (p != NULL && !ekp_ec_set_bn(p, k->pub.point + 1 + q, q))
        return 0;
    return 1;
}

static const OSSL_PARAM *ekp_ec_gettable_params(void *provctx)
{
    static const OSSL_PARAM types[] = {
        OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
        OSSL_PARAM_int(OSSL_PKEY_PARAM_EC_DECODED_FROM_EXPLICIT_PARAMS, NULL),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_PUB_X, NULL, 0),
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_EC_PUB_Y, NULL, 0),
        OSSL_PARAM_END,
    };
    (void)provctx;
    return types;
}

/* libssl sets a peer's key share on a parameters-only key; a TPM key's
 * public half is fixed. Format settings are accepted (we always use
 * uncompressed named-curve points). */
static int ekp_ec_set_params(void *keydata, const OSSL_PARAM params[])
{
    ekp_key *k = keydata;
    const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY);
    const void *buf = NULL;
    size_t len = 0;

    if (p == NULL)
        return 1;
    if (k->tpm != NULL || !OSSL_PARAM_get_octet_string_ptr(p, &buf, &len))
        return 0;
    return ekp_ec_set_point(k, buf, len);
}

static const OSSL_PARAM *ekp_ec_settable_params(void *provctx)
{
    static const OSSL_PARAM types[] = {
        OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
        OSSL_PARAM_END,
    };
    (void)provctx;
    return types;
}

const OSSL_DISPATCH ekp_ec_keymgmt_functions[] = {
    {OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))ekp_ec_new},
    {OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))ekp_km_free},
    {OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))ekp_km_load},
    {OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))ekp_km_dup},
    {OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))ekp_km_has},
    {OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))ekp_km_match},
    {OSSL_FUNC_KEYMGMT_VALIDATE, (void (*)(void))ekp_km_validate},
    {OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))ekp_ec_import},
    {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))ekp_ec_io_types},
    {OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))ekp_km_export},
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))ekp_ec_io_types},
    {OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))ekp_ec_get_params},
    {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))ekp_ec_gettable_params},
    {OSSL_FUNC_KEYMGMT_SET_PARAMS, (void (*)(void))ekp_ec_set_params},
    {OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS, (void (*)(void))ekp_ec_settable_params},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))ekp_ec_query_operation_name},
    {OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))ekp_ec_gen_init},
    {OSSL_FUNC_KEYMGMT_GEN_SET_TEMPLATE, (void (*)(void))ekp_gen_set_template},
    {OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS, (void (*)(void))ekp_gen_set_params},
    {OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS, (void (*)(void))ekp_gen_settable_params},
    {OSSL_FUNC_KEYMGMT_GEN, (void (*)(void))ekp_gen},
    {OSSL_FUNC_KEYMGMT_GEN_CLEANUP, (void (*)(void))ekp_gen_cleanup},
    {0, NULL},
};

/* Public halves only, registered under "provider=default" (provider.c):
 * what a verification under that property query exports a TPM key to. No
 * generation and no loading, so it never makes or opens a TPM key. */
const OSSL_DISPATCH ekp_ec_keymgmt_public_functions[] = {
    {OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))ekp_ec_new},
    {OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))ekp_km_free},
    {OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))ekp_km_dup},
    {OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))ekp_km_has},
    {OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))ekp_km_match},
    {OSSL_FUNC_KEYMGMT_VALIDATE, (void (*)(void))ekp_km_validate},
    {OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))ekp_ec_import},
    {OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))ekp_ec_io_types},
    {OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))ekp_km_export},
    {OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))ekp_ec_io_types},
    {OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))ekp_ec_get_params},
    {OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))ekp_ec_gettable_params},
    {OSSL_FUNC_KEYMGMT_SET_PARAMS, (void (*)(void))ekp_ec_set_params},
    {OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS, (void (*)(void))ekp_ec_settable_params},
    {OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))ekp_ec_query_operation_name},
    {0, NULL},
};
