/* edgekey OpenSSL provider: entry point, provider parameters, the algorithm
 * tables, error reasons and teardown.
 *
 * Loading the provider never touches the TPM (the core connects on the first
 * key operation), so a program that has edgekey activated in openssl.cnf but
 * never uses a TPM key behaves as before. The provider offers only key
 * management, signatures, a store loader, decoders and encoders: no RAND,
 * digests, ciphers or key exchange, so everything else stays with the
 * default provider. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include "ek_config.h"
#include "ek_info.h"
#include "ekp.h"

#define EKP_VERSION "0.1.0"

/* ---------- errors ---------- */

void ekp_raise(const ekp_prov *prov, int reason, const char *fmt, ...)
{
    va_list ap;
    if (prov == NULL || prov->new_error == NULL || prov->vset_error == NULL)
        return;
    prov->new_error(prov->handle);
    if (prov->set_error_debug != NULL)
        prov->set_error_debug(prov->handle, "edgekey", 0, NULL);
    va_start(ap, fmt);
    prov->vset_error(prov->handle, (uint32_t)reason, fmt, ap);
    va_end(ap);
}

int ekp_reason_for(ek_rc rc)
{
    switch (rc) {
    case EK_ERR_INVALID:
        return EKP_R_INVALID;
    case EK_ERR_POLICY:
        return EKP_R_POLICY;
    case EK_ERR_NOT_FOUND:
        return EKP_R_NOT_FOUND;
    case EK_ERR_EXISTS:
        return EKP_R_EXISTS;
    case EK_ERR_AUTH:
        return EKP_R_AUTH;
    case EK_ERR_LOCKOUT:
        return EKP_R_LOCKOUT;
    case EK_ERR_TPM:
        return EKP_R_TPM;
    case EK_ERR_CONNECT:
        return EKP_R_CONNECT;
    case EK_ERR_IO:
        return EKP_R_IO;
    case EK_ERR_NOMEM:
        return EKP_R_NOMEM;
    case EK_ERR_UNSUPPORTED:
        return EKP_R_UNSUPPORTED;
    case EK_ERR_BUFFER_TOO_SMALL:
        return EKP_R_BUFFER;
    case EK_OK:
        break;
    }
    return EKP_R_INVALID;
}

void ekp_raise_core(const ekp_prov *prov, ek_rc rc, const char *what)
{
    const char *msg = ek_last_error();
    if (msg == NULL || *msg == '\0')
        msg = ek_rc_name(rc);
    if (what != NULL)
        ekp_raise(prov, ekp_reason_for(rc), "%s: %s", what, msg);
    else
        ekp_raise(prov, ekp_reason_for(rc), "%s", msg);
}

static const OSSL_ITEM *ekp_reason_strings(void *provctx)
{
    static const OSSL_ITEM reasons[] = {
        {EKP_R_INVALID, "invalid input"},
        {EKP_R_POLICY, "refused by policy"},
        {EKP_R_NOT_FOUND, "not found"},
        {EKP_R_EXISTS, "already exists"},
        {EKP_R_AUTH, "authorization failed"},
        {EKP_R_LOCKOUT, "TPM dictionary-attack lockout"},
        {EKP_R_TPM, "TPM error"},
        {EKP_R_CONNECT, "TPM unreachable"},
        {EKP_R_IO, "store or file I/O error"},
        {EKP_R_NOMEM, "out of memory"},
        {EKP_R_UNSUPPORTED, "unsupported"},
        {EKP_R_BUFFER, "buffer too small"},
        {EKP_R_NO_PRIVATE_EXPORT, "private key never leaves the TPM"},
        {EKP_R_NO_PRIVATE_KEY, "no TPM private key"},
        {EKP_R_BAD_PARAM, "bad parameter"},
        {EKP_R_SOFTWARE, "software crypto error"},
        {EKP_R_ORDER, "loaded before the default provider"},
        {0, NULL},
    };
    (void)provctx;
    return reasons;
}

/* ---------- algorithm tables ---------- */

static const OSSL_ALGORITHM ekp_keymgmts[] = {
    {EKP_KEYMGMT_RSA_NAMES, EKP_PROPS, ekp_rsa_keymgmt_functions, "edgekey TPM RSA key"},
    {EKP_KEYMGMT_EC_NAMES, EKP_PROPS, ekp_ec_keymgmt_functions, "edgekey TPM EC key"},
    /* See ekp_signatures. The default provider is active before edgekey
     * (ekp_check_order), so its own RSA and EC key managers come first for
     * any fetch by name under provider=default: these are reached only when
     * EVP fetches from edgekey itself. */
    {EKP_KEYMGMT_RSA_NAMES, EKP_SOFT_PROPQ, ekp_rsa_keymgmt_public_functions,
     "edgekey: public half of a TPM RSA key, for verification (provider=default queries)"},
    {EKP_KEYMGMT_EC_NAMES, EKP_SOFT_PROPQ, ekp_ec_keymgmt_public_functions,
     "edgekey: public half of a TPM EC key, for verification (provider=default queries)"},
    {NULL, NULL, NULL, NULL},
};

/* Registered only under edgekey's own names (see EKP_SIG_*_NAME), first in
 * full, then verify-only under "provider=default". Why the second: EVP
 * fetches the name our keymgmt answers with the caller's property query and
 * then falls back only to the key's own provider under the same query
 * (do_sigver_init, OpenSSL 3.0 to 3.5), so EVP_DigestVerifyInit_ex(...,
 * "provider=default", tpmkey) finds nothing otherwise. Answering "RSA" /
 * "ECDSA" instead cannot work: the default provider's signature would then be
 * chosen for signing too, on a public-only copy of the key. The verify-only
 * entries verify with the default provider (signature.c); they have no sign
 * functions, so provider=default never signs with a TPM key. A query without
 * properties takes the first entry, the full one. */
static const OSSL_ALGORITHM ekp_signatures[] = {
    {EKP_SIG_RSA_NAME, EKP_PROPS, ekp_rsa_signature_functions, "RSA signatures on the TPM"},
    {EKP_SIG_ECDSA_NAME, EKP_PROPS, ekp_ecdsa_signature_functions, "ECDSA on the TPM"},
    {EKP_SIG_RSA_NAME, EKP_SOFT_PROPQ, ekp_rsa_verify_only_functions,
     "edgekey: RSA verification of a TPM key in the default provider (verify only)"},
    {EKP_SIG_ECDSA_NAME, EKP_SOFT_PROPQ, ekp_ecdsa_verify_only_functions,
     "edgekey: ECDSA verification of a TPM key in the default provider (verify only)"},
#ifdef EKP_HAVE_SIGALGS
    /* OpenSSL >= 3.4: the composite algorithms under OpenSSL's own names, so
     * that an application fetching e.g. "ECDSA-SHA256" from edgekey
     * (provider=edgekey) for EVP_PKEY_sign_message_init signs in the TPM.
     * An unqualified fetch still finds the default provider's first (it is
     * loaded first): docs/provider.md, "Signature message operations". */
    {"RSA-SHA2-256:RSA-SHA256:sha256WithRSAEncryption:1.2.840.113549.1.1.11", EKP_PROPS,
     ekp_rsa_sha256_sigalg_functions, "RSA-SHA256 (PKCS#1 v1.5) on the TPM"},
    {"RSA-SHA2-384:RSA-SHA384:sha384WithRSAEncryption:1.2.840.113549.1.1.12", EKP_PROPS,
     ekp_rsa_sha384_sigalg_functions, "RSA-SHA384 (PKCS#1 v1.5) on the TPM"},
    {"RSA-SHA2-512:RSA-SHA512:sha512WithRSAEncryption:1.2.840.113549.1.1.13", EKP_PROPS,
     ekp_rsa_sha512_sigalg_functions, "RSA-SHA512 (PKCS#1 v1.5) on the TPM"},
    {"ECDSA-SHA2-256:ECDSA-SHA256:ecdsa-with-SHA256:1.2.840.10045.4.3.2", EKP_PROPS,
     ekp_ecdsa_sha256_sigalg_functions, "ECDSA-SHA256 on the TPM"},
    {"ECDSA-SHA2-384:ECDSA-SHA384:ecdsa-with-SHA384:1.2.840.10045.4.3.3", EKP_PROPS,
     ekp_ecdsa_sha384_sigalg_functions, "ECDSA-SHA384 on the TPM"},
    {"ECDSA-SHA2-512:ECDSA-SHA512:ecdsa-with-SHA512:1.2.840.10045.4.3.4", EKP_PROPS,
     ekp_ecdsa_sha512_sigalg_functions, "ECDSA-SHA512 on the TPM"},
#endif
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM ekp_stores[] = {
    {"pkcs11", EKP_PROPS, ekp_store_functions, "edgekey store by RFC 7512 URI"},
    {"handle", EKP_PROPS, ekp_store_functions, "persistent TPM key by handle"},
    {NULL, NULL, NULL, NULL},
};

/* Few on purpose: decoder.c says why. */
static const OSSL_ALGORITHM ekp_decoders[] = {
    {"DER", EKP_PROPS ",input=pem", ekp_pem2der_decoder_functions,
     "TSS2 PRIVATE KEY and EDGEKEY URI PEM to DER"},
    {EKP_KEYMGMT_RSA_NAMES, EKP_PROPS ",input=der,structure=" EKP_STRUCT_TSS2,
     ekp_tss2_rsa_decoder_functions, "TSS2 key file or EDGEKEY URI to edgekey RSA key"},
    {EKP_KEYMGMT_EC_NAMES, EKP_PROPS ",input=der,structure=" EKP_STRUCT_TSS2,
     ekp_tss2_ec_decoder_functions, "TSS2 key file or EDGEKEY URI to edgekey EC key"},
    {NULL, NULL, NULL, NULL},
};

/* "PrivateKeyInfo" is the structure PEM_write_bio_PrivateKey asks for; for
 * our keys it writes the TSS2 reference, never key material. */
#define EKP_ENCODERS_FOR(alg)                                                                      \
    {alg, EKP_PROPS ",output=pem,structure=PrivateKeyInfo", ekp_tss2_pem_encoder_functions, NULL}, \
        {alg, EKP_PROPS ",output=der,structure=PrivateKeyInfo", ekp_tss2_der_encoder_functions,    \
         NULL},                                                                                    \
        {alg, EKP_PROPS ",output=pem,structure=SubjectPublicKeyInfo",                              \
         ekp_spki_pem_encoder_functions, NULL},                                                    \
        {alg, EKP_PROPS ",output=der,structure=SubjectPublicKeyInfo",                              \
         ekp_spki_der_encoder_functions, NULL},                                                    \
    {                                                                                              \
        alg, EKP_PROPS ",output=text", ekp_text_encoder_functions, NULL                            \
    }

static const OSSL_ALGORITHM ekp_encoders[] = {
    EKP_ENCODERS_FOR("RSA"),
    EKP_ENCODERS_FOR("EC"),
    {NULL, NULL, NULL, NULL},
};

static const OSSL_ALGORITHM *ekp_query(void *provctx, int operation_id, int *no_cache)
{
    (void)provctx;
    *no_cache = 0;
    switch (operation_id) {
    case OSSL_OP_KEYMGMT:
        return ekp_keymgmts;
    case OSSL_OP_SIGNATURE:
        return ekp_signatures;
    case OSSL_OP_STORE:
        return ekp_stores;
    case OSSL_OP_DECODER:
        return ekp_decoders;
    case OSSL_OP_ENCODER:
        return ekp_encoders;
    default:
        break;
    }
    return NULL;
}

/* ---------- provider parameters ---------- */

/* Provider-level gettable parameters beyond OpenSSL's standard ones
 * (docs/provider.md): the TPM clock, for rollback detection. */
#define EKP_PARAM_TPM_CLOCK "edgekey-tpm-clock"                 /* uint64, ms */
#define EKP_PARAM_TPM_RESET_COUNT "edgekey-tpm-reset-count"     /* uint32 */
#define EKP_PARAM_TPM_RESTART_COUNT "edgekey-tpm-restart-count" /* uint32 */
#define EKP_PARAM_TPM_CLOCK_SAFE "edgekey-tpm-clock-safe"       /* int 0/1 */

static const OSSL_PARAM *ekp_gettable_params(void *provctx)
{
    static const OSSL_PARAM types[] = {
        OSSL_PARAM_DEFN(OSSL_PROV_PARAM_NAME, OSSL_PARAM_UTF8_PTR, NULL, 0),
        OSSL_PARAM_DEFN(OSSL_PROV_PARAM_VERSION, OSSL_PARAM_UTF8_PTR, NULL, 0),
        OSSL_PARAM_DEFN(OSSL_PROV_PARAM_BUILDINFO, OSSL_PARAM_UTF8_PTR, NULL, 0),
        OSSL_PARAM_DEFN(OSSL_PROV_PARAM_STATUS, OSSL_PARAM_INTEGER, NULL, 0),
        OSSL_PARAM_DEFN(EKP_PARAM_TPM_CLOCK, OSSL_PARAM_UNSIGNED_INTEGER, NULL, 0),
        OSSL_PARAM_DEFN(EKP_PARAM_TPM_RESET_COUNT, OSSL_PARAM_UNSIGNED_INTEGER, NULL, 0),
        OSSL_PARAM_DEFN(EKP_PARAM_TPM_RESTART_COUNT, OSSL_PARAM_UNSIGNED_INTEGER, NULL, 0),
        OSSL_PARAM_DEFN(EKP_PARAM_TPM_CLOCK_SAFE, OSSL_PARAM_INTEGER, NULL, 0),
        OSSL_PARAM_END,
    };
    (void)provctx;
    return types;
}

/* The TPM clock parameters: one TPM2_ReadClock per get_params call that
 * asks for any of them (a program detecting a wall clock set back reads
 * them; nobody else pays for it: loading the provider stays TPM-free). */
static int ekp_get_clock_params(ekp_prov *prov, OSSL_PARAM params[])
{
    OSSL_PARAM *clk = OSSL_PARAM_locate(params, EKP_PARAM_TPM_CLOCK);
    OSSL_PARAM *rst = OSSL_PARAM_locate(params, EKP_PARAM_TPM_RESET_COUNT);
    OSSL_PARAM *rsr = OSSL_PARAM_locate(params, EKP_PARAM_TPM_RESTART_COUNT);
    OSSL_PARAM *safe = OSSL_PARAM_locate(params, EKP_PARAM_TPM_CLOCK_SAFE);
    ek_tpm_clock c;
    ek_rc rc;

    if (clk == NULL && rst == NULL && rsr == NULL && safe == NULL)
        return 1;
    rc = ek_tpm_read_clock(&c);
    if (rc != EK_OK) {
        ekp_raise_core(prov, rc, "reading the TPM clock");
        return 0;
    }
    return (clk == NULL || OSSL_PARAM_set_uint64(clk, c.clock_ms)) &&
           (rst == NULL || OSSL_PARAM_set_uint32(rst, c.reset_count)) &&
           (rsr == NULL || OSSL_PARAM_set_uint32(rsr, c.restart_count)) &&
           (safe == NULL || OSSL_PARAM_set_int(safe, c.safe ? 1 : 0));
}

static int ekp_get_params(void *provctx, OSSL_PARAM params[])
{
    OSSL_PARAM *p;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, "edgekey TPM 2.0 key provider"))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, EKP_VERSION))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_BUILDINFO);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, "edgekey " EKP_VERSION))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS);
    if (p != NULL && !OSSL_PARAM_set_int(p, 1))
        return 0;
    return ekp_get_clock_params(provctx, params);
}

static void ekp_teardown(void *provctx)
{
    ekp_prov *prov = provctx;
    if (prov == NULL)
        return;
    OSSL_LIB_CTX_free(prov->libctx);
    OPENSSL_free(prov);
}

static const OSSL_DISPATCH ekp_dispatch[] = {
    {OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))ekp_teardown},
    {OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, (void (*)(void))ekp_gettable_params},
    {OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))ekp_get_params},
    {OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))ekp_query},
    {OSSL_FUNC_PROVIDER_GET_REASON_STRINGS, (void (*)(void))ekp_reason_strings},
    {0, NULL},
};

/* The edgekey "conf" file is chosen before the first key operation. The core
 * takes file keys as overrides; "conf" itself selects the file, which the core
 * reads from EDGEKEY_CONF, so an unset EDGEKEY_CONF is filled in (an
 * explicit environment setting wins). */
static int ekp_apply_conf_path(const ekp_prov *prov, const char *path)
{
    if (ek_config_set("conf", path) == EK_OK)
        return 1;
    if (getenv("EDGEKEY_CONF") == NULL && setenv("EDGEKEY_CONF", path, 0) != 0) {
        ekp_raise(prov, EKP_R_INVALID, "openssl.cnf edgekey conf = %s: cannot be applied", path);
        return 0;
    }
    ek_clear_error();
    return 1;
}

/* Settings from the provider's openssl.cnf section, e.g.
 *   [edgekey_sect]  tcti = device:/dev/tpmrm0   store = /var/lib/edgekey */
static int ekp_read_config(const ekp_prov *prov, const OSSL_DISPATCH *in)
{
    static const char *const keys[] = {"conf",         "tcti",     "store",    "token",
                                       "rsa_min_bits", "allow_ec", "log_level"};
    enum { NKEYS = sizeof(keys) / sizeof(keys[0]) };
    OSSL_FUNC_core_get_params_fn *get_params = NULL;
    char *values[NKEYS] = {NULL};
    OSSL_PARAM params[NKEYS + 1];

    for (; in->function_id != 0; in++)
        if (in->function_id == OSSL_FUNC_CORE_GET_PARAMS)
            get_params = OSSL_FUNC_core_get_params(in);
    if (get_params == NULL)
        return 1;
    for (size_t i = 0; i < NKEYS; i++)
        params[i] = OSSL_PARAM_construct_utf8_ptr(keys[i], &values[i], 0);
    params[NKEYS] = OSSL_PARAM_construct_end();
    if (!get_params(prov->handle, params))
        return 1;
    for (size_t i = 0; i < NKEYS; i++) {
        if (values[i] == NULL || *values[i] == '\0')
            continue;
        if (i == 0) {
            if (!ekp_apply_conf_path(prov, values[i]))
                return 0;
            continue;
        }
        ek_rc rc = ek_config_set(keys[i], values[i]);
        if (rc != EK_OK) {
            /* A second activation in the same process (another library
             * context) finds the configuration in use: keep the first one. */
            if (strstr(ek_last_error(), "already in use") != NULL) {
                ek_clear_error();
                continue;
            }
            ekp_raise_core(prov, rc, "openssl.cnf edgekey section");
            return 0;
        }
    }
    return 1;
}

__attribute__((visibility("default"))) int OSSL_provider_init(const OSSL_CORE_HANDLE *handle,
                                                              const OSSL_DISPATCH *in,
                                                              const OSSL_DISPATCH **out,
                                                              void **provctx)
{
    ekp_prov *prov = OPENSSL_zalloc(sizeof(*prov));
    if (prov == NULL)
        return 0;
    prov->handle = handle;
    for (const OSSL_DISPATCH *d = in; d->function_id != 0; d++) {
        switch (d->function_id) {
        case OSSL_FUNC_CORE_NEW_ERROR:
            prov->new_error = OSSL_FUNC_core_new_error(d);
            break;
        case OSSL_FUNC_CORE_SET_ERROR_DEBUG:
            prov->set_error_debug = OSSL_FUNC_core_set_error_debug(d);
            break;
        case OSSL_FUNC_CORE_VSET_ERROR:
            prov->vset_error = OSSL_FUNC_core_vset_error(d);
            break;
        default:
            break;
        }
    }
    if (!ekp_check_order(prov, in) || !ekp_read_config(prov, in))
        goto err;
    /* A child context sees the providers the application loaded, so the
     * default provider's digests and public-key code are reachable. */
    prov->libctx = OSSL_LIB_CTX_new_child(handle, in);
    if (prov->libctx == NULL)
        goto err;
    *out = ekp_dispatch;
    *provctx = prov;
    return 1;
err:
    OSSL_LIB_CTX_free(prov->libctx);
    OPENSSL_free(prov);
    return 0;
}
