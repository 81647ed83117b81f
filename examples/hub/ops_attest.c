/* edgekey hub: key attestation at enrollment (docs/attestation.md).
 *
 *   POST /api/v1/device/attest/start  (signed like apply)
 *     ekCert, ekPub, akPub              -> challengeId, credentialBlob,
 *                                          encryptedSecret, nonce
 *   POST /api/v1/device/cert/apply    (signed) + challengeId,
 *     activationSecret, keyPub, certifyInfo, certifySignature
 *
 * Binary fields are base64 of the marshalled TPM structures. The challenge
 * (AK public, SHA-256 of the secret, nonce, EK hash) lives in the registry
 * for HUB_CHALLENGE_S and is deleted when an apply names it: used once. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <tss2/tss2_mu.h>

#include "attest.h"
#include "hub_util.h"
#include "ops_int.h"

#define HUB_CHALLENGE_S 120 /* a device answers in well under a second */

static int att_status(int rc)
{
    return rc == HUB_ATT_MALFORMED || rc == HUB_ATT_UNSUPPORTED ? 400
           : rc == HUB_ATT_QUOTE                                ? 409
           : rc == HUB_ATT_INTERNAL                             ? 500
                                                                : 403;
}

#define ATT_REFUSE(rc) (*ecode = hub_att_rc_name(rc), att_status(rc))

/* base64 field -> bytes (at most max); HUB_ATT_MALFORMED naming it. */
static int b64_field(const json_t *p, const char *name, unsigned char *out, size_t max, size_t *len)
{
    const char *s = json_string_value(json_object_get(p, name));
    size_t n = s ? strlen(s) : 0;
    if (!s || n == 0 || n % 4 || n / 4 * 3 > max ||
        EVP_DecodeBlock(out, (const unsigned char *)s, (int)n) < 0) {
        hub_fail("attestation refused: '%s' missing or not base64 of at most %zu bytes", name, max);
        return HUB_ATT_MALFORMED;
    }
    *len = n / 4 * 3 - (s[n - 1] == '=') - (s[n - 2] == '=');
    return HUB_ATT_OK;
}

static json_t *b64_json(const void *b, size_t n)
{
    char *out = malloc(4 * ((n + 2) / 3) + 1);
    json_t *j = NULL;
    if (out) {
        EVP_EncodeBlock((unsigned char *)out, b, (int)n);
        j = json_string(out);
    }
    free(out);
    return j ? j : json_null();
}

static X509_STORE *roots_load(const hub_config *cfg)
{
    X509_STORE *st = X509_STORE_new();
    if (st && X509_STORE_load_file(st, cfg->ek_roots) == 1)
        return st;
    X509_STORE_free(st);
    hub_fail("ek_roots %s: not a readable PEM bundle of certificates; fix the hub "
             "configuration",
             cfg->ek_roots);
    return NULL;
}

typedef struct start_req {
    unsigned char cert[4096], ekb[HUB_ATT_BLOB_MAX], akb[HUB_ATT_BLOB_MAX];
    size_t cert_len, ek_len, ak_len;
    TPM2B_PUBLIC ek, ak;
    X509 *x;
} start_req;

static int start_parse(const json_t *p, start_req *r)
{
    int rc = b64_field(p, "ekCert", r->cert, sizeof(r->cert), &r->cert_len);
    if (!rc)
        rc = b64_field(p, "ekPub", r->ekb, sizeof(r->ekb), &r->ek_len);
    if (!rc)
        rc = b64_field(p, "akPub", r->akb, sizeof(r->akb), &r->ak_len);
    if (!rc)
        rc = hub_att_public(r->ekb, r->ek_len, "ekPub", &r->ek);
    if (!rc)
        rc = hub_att_public(r->akb, r->ak_len, "akPub", &r->ak);
    const unsigned char *q = r->cert;
    if (!rc && !(r->x = d2i_X509(NULL, &q, (long)r->cert_len))) {
        hub_fail("attestation refused: ekCert is not a DER X.509 certificate");
        rc = HUB_ATT_MALFORMED;
    }
    return rc;
}

/* Stops: one TPM enrolling two serial numbers, and a device whose TPM was
 * swapped re-enrolling unnoticed (the admin resets the binding). */
static int ek_binding(hub_ctx *ctx, const char *dk, const char *ek_hash, const char **ecode)
{
    char owner[HUB_KEY_MAX + 1] = "", bound[65] = "";
    bool attested = false;
    int rc = reg_ek_owner(ctx->reg, ek_hash, owner);
    if (rc < 0 || reg_device_ek_get(ctx->reg, dk, bound, &attested) < 0)
        return REFUSE(500, "internal", "%s", hub_err());
    if (rc == 0 && strcmp(owner, dk) != 0)
        return REFUSE(409, "attest_ek_bound",
                      "attestation refused: this TPM (EK %.16s...) is already bound to device "
                      "'%s'; one TPM enrolls one device (edgekey-hub device ek-reset to move it)",
                      ek_hash, owner);
    if (bound[0] && strcmp(bound, ek_hash) != 0)
        return REFUSE(409, "attest_ek_changed",
                      "attestation refused: device '%s' is bound to another TPM (EK %.16s...); "
                      "if its TPM was replaced, an admin resets the binding (edgekey-hub device "
                      "ek-reset --device-key %s)",
                      dk, bound, dk);
    return 0;
}

static int start_challenge(hub_ctx *ctx, const json_t *p, const start_req *r, const char *dk,
                           const char *ek_hash, json_t **data, const char **ecode)
{
    hub_challenge c = {0};
    unsigned char secret[32];
    TPM2B_NAME name;
    TPM2B_ID_OBJECT cred;
    TPM2B_ENCRYPTED_SECRET esec;
    unsigned char cb[sizeof(cred)], eb[sizeof(esec)];
    size_t cl = 0, el = 0;
    int rc = hub_tpm_name(&r->ak.publicArea, &name);
    if (!rc && (RAND_bytes(secret, 32) != 1 || RAND_bytes(c.nonce, 32) != 1 ||
                hub_random_hex(16, c.id) != 0))
        rc = HUB_ATT_INTERNAL;
    if (!rc)
        rc = hub_make_credential(&r->ek.publicArea, &name, secret, 32, &cred, &esec);
    if (!rc && (Tss2_MU_TPM2B_ID_OBJECT_Marshal(&cred, cb, sizeof(cb), &cl) ||
                Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(&esec, eb, sizeof(eb), &el)))
        rc = HUB_ATT_INTERNAL;
    if (!rc && !EVP_Digest(secret, 32, c.secret_hash, NULL, EVP_sha256(), NULL))
        rc = HUB_ATT_INTERNAL;
    OPENSSL_cleanse(secret, sizeof(secret));
    if (rc)
        return ATT_REFUSE(rc);
    snprintf(c.dk, sizeof(c.dk), "%s", dk);
    snprintf(c.ek_hash, sizeof(c.ek_hash), "%s", ek_hash);
    memcpy(c.ak_pub, r->akb, r->ak_len);
    c.ak_pub_len = r->ak_len;
    c.expires = hub_now_s() + HUB_CHALLENGE_S;
    if (reg_begin(ctx->reg) != 0)
        return REFUSE(500, "internal", "%s", hub_err());
    int st = hub_opd_use_nonce(ctx, "attest", p, ecode);
    if (!st && reg_challenge_put(ctx->reg, &c) != 0)
        st = REFUSE(500, "internal", "%s", hub_err());
    if (st || reg_commit(ctx->reg) != 0) {
        reg_rollback(ctx->reg);
        return st ? st : REFUSE(500, "internal", "%s", hub_err());
    }
    *data = json_pack("{s:s, s:o, s:o, s:o, s:i}", "challengeId", c.id, "credentialBlob",
                      b64_json(cb, cl), "encryptedSecret", b64_json(eb, el), "nonce",
                      b64_json(c.nonce, 32), "expiresIn", HUB_CHALLENGE_S);
    return 0;
}

int hub_op_attest_start(hub_ctx *ctx, const json_t *p, json_t **data, const char **ecode)
{
    hub_device dev;
    int st = hub_opd_device_auth(ctx, p, "attestation", &dev, ecode);
    if (st)
        return st;
    /* a hub without ek_roots, or a product that does not attest: say so, so
     * that a device whose TPM could attest enrolls without (nothing stored) */
    int mode = HUB_ATTEST_OFF;
    if (reg_product_attest_get(ctx->reg, dev.pk, &mode) < 0)
        return REFUSE(500, "internal", "%s", hub_err());
    if (!ctx->cfg.ek_roots[0] || mode == HUB_ATTEST_OFF) {
        *data = json_pack("{s:s}", "attestation", "off");
        return 0;
    }
    start_req *r = calloc(1, sizeof(*r));
    X509_STORE *roots = r ? roots_load(&ctx->cfg) : NULL;
    EVP_PKEY *ekk = NULL;
    char ek_hash[65];
    int rc = !r ? HUB_ATT_INTERNAL : !roots ? HUB_ATT_INTERNAL : start_parse(p, r);
    if (!rc)
        rc = hub_att_check_ek(roots, r->x, &r->ek.publicArea);
    if (!rc)
        rc = hub_att_check_ak(&r->ak.publicArea);
    if (!rc)
        rc = hub_tpm_pkey(&r->ek.publicArea, &ekk);
    if (!rc)
        rc = hub_ek_hash(ekk, ek_hash);
    if (rc)
        st = ATT_REFUSE(rc);
    if (!st)
        st = ek_binding(ctx, dev.dk, ek_hash, ecode);
    if (!st)
        st = start_challenge(ctx, p, r, dev.dk, ek_hash, data, ecode);
    EVP_PKEY_free(ekk);
    X509_STORE_free(roots);
    if (r)
        X509_free(r->x);
    free(r);
    return st;
}

typedef struct apply_att {
    unsigned char secret[64], keyb[HUB_ATT_BLOB_MAX], attb[sizeof(TPM2B_ATTEST)],
        sigb[sizeof(TPMT_SIGNATURE)];
    size_t secret_len, key_len, att_len, sig_len;
    TPM2B_PUBLIC ak, key;
    TPM2B_ATTEST att;
    TPMT_SIGNATURE sig;
} apply_att;

static int apply_parse(const json_t *p, const hub_challenge *c, apply_att *a)
{
    int rc = b64_field(p, "activationSecret", a->secret, sizeof(a->secret), &a->secret_len);
    if (!rc)
        rc = b64_field(p, "keyPub", a->keyb, sizeof(a->keyb), &a->key_len);
    if (!rc)
        rc = b64_field(p, "certifyInfo", a->attb, sizeof(a->attb), &a->att_len);
    if (!rc)
        rc = b64_field(p, "certifySignature", a->sigb, sizeof(a->sigb), &a->sig_len);
    if (!rc)
        rc = hub_att_public(c->ak_pub, c->ak_pub_len, "the challenge's AK", &a->ak);
    if (!rc)
        rc = hub_att_public(a->keyb, a->key_len, "keyPub", &a->key);
    if (!rc)
        rc = hub_att_attest(a->attb, a->att_len, &a->att);
    if (!rc)
        rc = hub_att_signature(a->sigb, a->sig_len, &a->sig);
    return rc;
}

/* Stops: a device that cannot decrypt the credential (no TPM holding this
 * EK and AK together), a guessed or replayed secret. */
static int check_secret(const apply_att *a, const hub_challenge *c)
{
    unsigned char h[32];
    if (!EVP_Digest(a->secret, a->secret_len, h, NULL, EVP_sha256(), NULL))
        return HUB_ATT_INTERNAL;
    if (CRYPTO_memcmp(h, c->secret_hash, 32) != 0) {
        hub_fail("attestation refused: the activation secret is wrong: the device's TPM did "
                 "not decrypt the credential made for its EK and AK");
        return HUB_ATT_SECRET;
    }
    return HUB_ATT_OK;
}

static int take_challenge(hub_ctx *ctx, const json_t *p, const char *dk, hub_challenge *c,
                          const char **ecode)
{
    const char *id = json_string_value(json_object_get(p, "challengeId"));
    int rc = id ? reg_challenge_take(ctx->reg, id, c) : 1;
    if (rc < 0)
        return REFUSE(500, "internal", "%s", hub_err());
    if (rc == 1 || strcmp(c->dk, dk) != 0)
        return REFUSE(409, "attest_challenge_unknown",
                      "attestation refused: challenge '%.40s' is unknown, used, expired or "
                      "another device's (a challenge answers once, within %d s); start the "
                      "attestation again",
                      id ? id : "", HUB_CHALLENGE_S);
    return 0;
}

int hub_opd_attest_apply(hub_ctx *ctx, const json_t *p, const hub_product *prod, const char *dk,
                         EVP_PKEY *csr_key, char *ek_hash, const char **ecode)
{
    int mode = HUB_ATTEST_OFF;
    ek_hash[0] = '\0';
    if (reg_product_attest_get(ctx->reg, prod->pk, &mode) < 0)
        return REFUSE(500, "internal", "%s", hub_err());
    bool has = json_object_get(p, "challengeId") != NULL;
    if (mode == HUB_ATTEST_OFF || (!has && mode == HUB_ATTEST_OPTIONAL))
        return 0;
    if (!has)
        return REFUSE(403, "attest_required",
                      "apply refused: product '%s' requires key attestation and this request "
                      "carries none; the device key must be a TPM key attested with the TPM's "
                      "EK certificate (edge client: attestation = auto)",
                      prod->pk);
    hub_challenge c;
    int st = take_challenge(ctx, p, dk, &c, ecode);
    if (st)
        return st;
    apply_att *a = calloc(1, sizeof(*a));
    int rc = a ? apply_parse(p, &c, a) : HUB_ATT_INTERNAL;
    if (!rc)
        rc = check_secret(a, &c);
    if (!rc)
        rc = hub_att_check_certify(&a->ak.publicArea, &a->att, &a->sig, c.nonce, 32,
                                   &a->key.publicArea, csr_key);
    if (a)
        OPENSSL_cleanse(a->secret, sizeof(a->secret));
    free(a);
    if (rc)
        return ATT_REFUSE(rc);
    if ((st = ek_binding(ctx, dk, c.ek_hash, ecode)) != 0)
        return st;
    memcpy(ek_hash, c.ek_hash, 65);
    return 0;
}

int hub_opd_attest_record(hub_ctx *ctx, const char *dk, const char *ek_hash)
{
    char bound[65] = "";
    bool attested = false;
    if (ek_hash[0])
        return reg_device_ek_set(ctx->reg, dk, ek_hash, true);
    if (reg_device_ek_get(ctx->reg, dk, bound, &attested) < 0)
        return -1;
    return reg_device_ek_set(ctx->reg, dk, bound, false);
}

const char *hub_attest_mode_name(int mode)
{
    return mode == HUB_ATTEST_REQUIRED   ? "required"
           : mode == HUB_ATTEST_OPTIONAL ? "optional"
                                         : "off";
}

int hub_op_attest_mode(const hub_ctx *ctx, const char *word, int *mode, const char **ecode)
{
    *mode = ctx->cfg.ek_roots[0] ? HUB_ATTEST_REQUIRED : HUB_ATTEST_OFF;
    if (!word)
        return 0;
    for (int m = HUB_ATTEST_OFF; m <= HUB_ATTEST_REQUIRED; m++)
        if (strcmp(word, hub_attest_mode_name(m)) == 0)
            *mode = m;
    if (strcmp(word, hub_attest_mode_name(*mode)) != 0)
        return REFUSE(400, "bad_request", "attestation '%.32s': use required, optional or off",
                      word);
    if (*mode == HUB_ATTEST_REQUIRED && !ctx->cfg.ek_roots[0])
        return REFUSE(400, "attest_not_configured",
                      "attestation required needs ek_roots in the hub configuration (the TPM "
                      "makers' root certificates); set it, or use optional/off");
    return 0;
}

int hub_op_product_attestation(hub_ctx *ctx, const char *pk, int mode, const char **ecode)
{
    if (mode == HUB_ATTEST_REQUIRED && !ctx->cfg.ek_roots[0])
        return REFUSE(400, "attest_not_configured",
                      "--attestation required needs ek_roots in the hub configuration (the "
                      "TPM makers' root certificates); set it, or use optional/off");
    int rc = reg_product_attest_set(ctx->reg, pk, mode);
    if (rc < 0)
        return REFUSE(500, "internal", "%s", hub_err());
    if (rc == 1)
        return REFUSE(404, "unknown_product", "product '%s' is not known to the hub", pk);
    return 0;
}

int hub_op_device_ek_reset(hub_ctx *ctx, const char *dk, const char **ecode)
{
    char bound[65] = "";
    bool attested = false;
    int rc = dk ? reg_device_ek_get(ctx->reg, dk, bound, &attested) : 1;
    if (rc < 0)
        return REFUSE(500, "internal", "%s", hub_err());
    if (rc == 1)
        return REFUSE(404, "device_not_registered", "device '%s' is not registered", dk ? dk : "");
    if (reg_begin(ctx->reg) != 0)
        return REFUSE(500, "internal", "%s", hub_err());
    if (reg_device_ek_set(ctx->reg, dk, "", false) != 0 ||
        reg_audit(ctx->reg, "admin", "ek-reset", dk, bound) != 0) {
        reg_rollback(ctx->reg);
        return REFUSE(500, "internal", "%s", hub_err());
    }
    return reg_commit(ctx->reg) != 0 ? REFUSE(500, "internal", "%s", hub_err()) : 0;
}
