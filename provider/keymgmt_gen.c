/* edgekey OpenSSL provider: key generation in the TPM.
 *
 *   openssl genpkey -provider default -provider edgekey -propquery provider=edgekey \
 *       -algorithm RSA \
 *       -pkeyopt bits:2048 [-pkeyopt edgekey-label:device] [-pkeyopt edgekey-persist:0x81010001]
 *
 * Standard parameters: "bits" (RSA), "group" (EC). edgekey's own:
 *   edgekey-label (alias "label")  also store the key in the token under this label
 *   edgekey-token                  token for edgekey-label (default: configuration's token)
 *   edgekey-persist                make the key persistent at this handle (0x81xxxxxx)
 *   edgekey-auth                   authorisation value for the new key
 * The core checks the policy (RSA >= 2048, allowed curves) before any TPM
 * command; its message goes onto the error queue unchanged.
 *
 * A generation that asks only for domain parameters (EVP_PKEY_paramgen)
 * never reaches the TPM: it yields a parameters-only EC key. */
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/params.h>

#include "ek_config.h"
#include "ek_store.h"
#include "ekp.h"

#define EKP_GEN_LABEL "edgekey-label"
#define EKP_GEN_LABEL_SHORT "label"
#define EKP_GEN_TOKEN "edgekey-token"
#define EKP_GEN_PERSIST "edgekey-persist"
#define EKP_GEN_AUTH "edgekey-auth"

typedef struct ekp_gen_ctx {
    ekp_prov *prov;
    ek_alg alg;
    int selection;
    unsigned bits;
    ek_curve curve;
    char label[256];
    char token[33];
    uint32_t persist;
    unsigned char auth[128];
    size_t auth_len;
} ekp_gen_ctx;

void *ekp_gen_init(void *provctx, ek_alg alg, int selection, const OSSL_PARAM params[])
{
    ekp_gen_ctx *g = OPENSSL_zalloc(sizeof(*g));
    if (g == NULL)
        return NULL;
    g->prov = provctx;
    g->alg = alg;
    g->selection = selection;
    g->bits = 2048;
    if (!ekp_gen_set_params(g, params)) {
        ekp_gen_cleanup(g);
        return NULL;
    }
    return g;
}

void ekp_gen_cleanup(void *genctx)
{
    ekp_gen_ctx *g = genctx;
    if (g != NULL)
        OPENSSL_clear_free(g, sizeof(*g));
}

int ekp_gen_set_template(void *genctx, void *templ)
{
    ekp_gen_ctx *g = genctx;
    const ekp_key *t = templ;
    if (g == NULL || t == NULL || t->alg != g->alg)
        return 0;
    if (g->alg == EK_ALG_EC)
        g->curve = t->pub.curve;
    return 1;
}

static int ekp_gen_get_string(ekp_gen_ctx *g, const OSSL_PARAM *p, char *buf, size_t size)
{
    char *s = buf;
    if (!OSSL_PARAM_get_utf8_string(p, &s, size)) {
        ekp_raise(g->prov, EKP_R_BAD_PARAM, "%s: expected a string of at most %zu characters",
                  p->key, size - 1);
        return 0;
    }
    return 1;
}

static int ekp_gen_set_persist(ekp_gen_ctx *g, const OSSL_PARAM *p)
{
    char buf[32], *end = NULL;
    unsigned long v;
    if (p->data_type == OSSL_PARAM_UTF8_STRING) {
        if (!ekp_gen_get_string(g, p, buf, sizeof(buf)))
            return 0;
        v = strtoul(buf, &end, 0);
        if (end == buf || *end != '\0')
            v = 0;
    } else {
        unsigned int u = 0;
        if (!OSSL_PARAM_get_uint(p, &u))
            u = 0;
        v = u;
    }
    if (v < 0x81000000UL || v > 0x81FFFFFFUL) {
        ekp_raise(g->prov, EKP_R_BAD_PARAM,
                  "edgekey-persist: not a persistent handle; use 0x81000000..0x81FFFFFF, "
                  "e.g. edgekey-persist:0x81010001");
        return 0;
    }
    g->persist = (uint32_t)v;
    return 1;
}

static int ekp_gen_set_auth(ekp_gen_ctx *g, const OSSL_PARAM *p)
{
    const void *v = NULL;
    size_t len = 0;
    if (p->data_type == OSSL_PARAM_UTF8_STRING) {
        const char *s = NULL;
        if (!OSSL_PARAM_get_utf8_string_ptr(p, &s))
            return 0;
        v = s;
        len = strlen(s);
    } else if (!OSSL_PARAM_get_octet_string_ptr(p, &v, &len)) {
        return 0;
    }
    if (len > sizeof(g->auth)) {
        ekp_raise(g->prov, EKP_R_BAD_PARAM, "edgekey-auth: longer than %zu bytes", sizeof(g->auth));
        return 0;
    }
    OPENSSL_cleanse(g->auth, sizeof(g->auth));
    memcpy(g->auth, v, len);
    g->auth_len = len;
    return 1;
}

static int ekp_gen_set_group(ekp_gen_ctx *g, const OSSL_PARAM *p)
{
    const char *name = NULL;
    if (!OSSL_PARAM_get_utf8_string_ptr(p, &name))
        return 0;
    g->curve = ekp_curve_from_name(name);
    if (g->curve == EK_CURVE_NONE) {
        ekp_raise(g->prov, EKP_R_UNSUPPORTED,
                  "EC group %s refused: edgekey keys use P-256 or P-384; use group:P-256", name);
        return 0;
    }
    return 1;
}

int ekp_gen_set_params(void *genctx, const OSSL_PARAM params[])
{
    ekp_gen_ctx *g = genctx;
    const OSSL_PARAM *p;

    if (params == NULL)
        return 1;
    if ((p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_BITS)) != NULL) {
        size_t bits = 0;
        if (!OSSL_PARAM_get_size_t(p, &bits) || bits > 16384)
            return 0;
        g->bits = (unsigned)bits;
    }
    if ((p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_PRIMES)) != NULL) {
        size_t primes = 0;
        if (!OSSL_PARAM_get_size_t(p, &primes) || primes != 2) {
            ekp_raise(g->prov, EKP_R_UNSUPPORTED, "TPM RSA keys have two primes");
            return 0;
        }
    }
    if ((p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_RSA_E)) != NULL) {
        BIGNUM *e = NULL;
        int ok = OSSL_PARAM_get_BN(p, &e) && BN_is_word(e, 65537);
        BN_free(e);
        if (!ok) {
            ekp_raise(g->prov, EKP_R_UNSUPPORTED,
                      "TPM RSA keys use the public exponent 65537; drop the exponent option");
            return 0;
        }
    }
    if ((p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_GROUP_NAME)) != NULL &&
        !ekp_gen_set_group(g, p))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, EKP_GEN_LABEL)) != NULL ||
        (p = OSSL_PARAM_locate_const(params, EKP_GEN_LABEL_SHORT)) != NULL)
        if (!ekp_gen_get_string(g, p, g->label, sizeof(g->label)))
            return 0;
    if ((p = OSSL_PARAM_locate_const(params, EKP_GEN_TOKEN)) != NULL &&
        !ekp_gen_get_string(g, p, g->token, sizeof(g->token)))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, EKP_GEN_PERSIST)) != NULL &&
        !ekp_gen_set_persist(g, p))
        return 0;
    if ((p = OSSL_PARAM_locate_const(params, EKP_GEN_AUTH)) != NULL && !ekp_gen_set_auth(g, p))
        return 0;
    /* OSSL_PKEY_PARAM_EC_ENCODING / point format: ours are always named-curve,
     * uncompressed; accepted and ignored. */
    return 1;
}

const OSSL_PARAM *ekp_gen_settable_params(void *genctx, void *provctx)
{
    static const OSSL_PARAM types[] = {
        OSSL_PARAM_size_t(OSSL_PKEY_PARAM_RSA_BITS, NULL),
        OSSL_PARAM_size_t(OSSL_PKEY_PARAM_RSA_PRIMES, NULL),
        OSSL_PARAM_BN(OSSL_PKEY_PARAM_RSA_E, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_ENCODING, NULL, 0),
        OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT, NULL, 0),
        OSSL_PARAM_utf8_string(EKP_GEN_LABEL, NULL, 0),
        OSSL_PARAM_utf8_string(EKP_GEN_LABEL_SHORT, NULL, 0),
        OSSL_PARAM_utf8_string(EKP_GEN_TOKEN, NULL, 0),
        OSSL_PARAM_utf8_string(EKP_GEN_PERSIST, NULL, 0),
        OSSL_PARAM_utf8_string(EKP_GEN_AUTH, NULL, 0),
        OSSL_PARAM_END,
    };
    (void)genctx;
    (void)provctx;
    return types;
}

/* Put the new key into the token (edgekey-label). */
static int ekp_gen_store(ekp_gen_ctx *g, ek_key *tpm)
{
    const char *token = g->token;
    ek_token_info info;
    ek_store_obj obj;
    ek_rc rc;

    if (*token == '\0') {
        const ek_config *cfg = ek_config_get();
        if (cfg == NULL) {
            ekp_raise_core(g->prov, EK_ERR_INVALID, "edgekey configuration");
            return 0;
        }
        token = cfg->token;
    }
    rc = ek_store_token_ensure(token, &info);
    if (rc == EK_OK)
        rc = ek_store_put_key(token, g->label, NULL, 0, tpm, &obj);
    if (rc != EK_OK) {
        ekp_raise_core(g->prov, rc, "storing the new key");
        return 0;
    }
    return 1;
}

/* Create, persist and store the key (with the core's library context). */
static ek_key *ekp_gen_tpm(ekp_gen_ctx *g)
{
    ek_keygen_spec spec;
    ek_key *tpm = NULL;
    ek_rc rc;

    memset(&spec, 0, sizeof(spec));
    spec.alg = g->alg;
    spec.bits = g->alg == EK_ALG_RSA ? g->bits : ekp_curve_bits(g->curve);
    spec.curve = g->alg == EK_ALG_EC ? g->curve : EK_CURVE_NONE;
    spec.auth = g->auth_len > 0 ? g->auth : NULL;
    spec.auth_len = g->auth_len;
    rc = ek_key_generate(&spec, &tpm);
    if (rc != EK_OK) {
        ekp_raise_core(g->prov, rc, NULL);
        return NULL;
    }
    if (g->persist != 0 && (rc = ek_key_persist(tpm, g->persist)) != EK_OK) {
        ekp_raise_core(g->prov, rc, "making the new key persistent");
        ek_key_free(tpm);
        return NULL;
    }
    if (g->label[0] != '\0' && !ekp_gen_store(g, tpm)) {
        ek_key_free(tpm);
        return NULL;
    }
    return tpm;
}

void *ekp_gen(void *genctx, OSSL_CALLBACK *cb, void *cbarg)
{
    ekp_gen_ctx *g = genctx;
    ek_key *tpm;
    ekp_key *k;

    (void)cb;
    (void)cbarg;
    if ((g->selection & OSSL_KEYMGMT_SELECT_KEYPAIR) == 0) {
        k = ekp_key_new(g->prov, g->alg); /* parameters only: no TPM */
        if (k != NULL && g->alg == EK_ALG_EC) {
            k->pub.curve = g->curve;
            k->pub.bits = ekp_curve_bits(g->curve);
        }
        return k;
    }
    if (g->alg == EK_ALG_EC && g->curve == EK_CURVE_NONE) {
        ekp_raise(g->prov, EKP_R_BAD_PARAM,
                  "EC key generation needs a curve; use -pkeyopt group:P-256 (or P-384)");
        return NULL;
    }
    tpm = ekp_gen_tpm(g);
    return tpm != NULL ? ekp_key_from_tpm(g->prov, tpm) : NULL;
}
