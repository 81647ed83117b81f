/* edgekey core: signing a caller-computed digest (ek_key_sign).
 *
 * Steady state: the key is already loaded and the session warm, so a
 * signature is exactly one Esys_Sign (password session for keys without an
 * auth value, the salted HMAC session otherwise) with a NULL-hierarchy
 * validation ticket (the key is unrestricted, the digest was made in
 * software).
 *
 * RSA-PSS: TLS 1.3 requires salt length = digest length; some TPMs use the
 * maximum salt. The first PSS signature in the process is checked in
 * software to learn which, and the answer is cached (ek_tpm_pss_salt). */
#include <stdatomic.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/ec.h>

#include "ek_crypto.h"
#include "ek_log.h"
#include "ek_tpm_int.h"

static atomic_int pss_state = EK_PSS_SALT_UNKNOWN;

ek_pss_salt ek_tpm_pss_salt(void)
{
    return (ek_pss_salt)atomic_load(&pss_state);
}

void ek_pss_set(ek_pss_salt s)
{
    atomic_store(&pss_state, s);
}

static ek_rc pss_refused(void)
{
    return ek_error(EK_ERR_UNSUPPORTED,
                    "RSA-PSS refused: this TPM signs PSS with the maximum salt length, but "
                    "TLS 1.3 needs salt length = digest length; use RSA PKCS#1 v1.5 (TLS 1.2) "
                    "or an EC key");
}

static ek_rc check_args(const ek_key *key, ek_sig_scheme scheme, ek_md md, size_t dlen)
{
    const char *alg = key->pub.alg == EK_ALG_RSA ? "RSA" : "EC";
    bool rsa_scheme = scheme == EK_SIG_RSA_PKCS1 || scheme == EK_SIG_RSA_PSS;
    if (ek_md_tpm_alg(md) == TPM2_ALG_NULL || dlen != ek_md_size(md))
        return ek_error(EK_ERR_INVALID, "sign: a %zu-byte digest does not match %s (%zu bytes)",
                        dlen, md ? ek_md_name(md) : "no digest", ek_md_size(md));
    if ((key->pub.alg == EK_ALG_RSA) != rsa_scheme || (scheme != EK_SIG_ECDSA && !rsa_scheme))
        return ek_error(EK_ERR_INVALID, "sign: scheme %d does not fit an %s key", (int)scheme, alg);
    TPMA_OBJECT a = key->tpub.objectAttributes;
    if (!(a & TPMA_OBJECT_SIGN_ENCRYPT))
        return ek_error(EK_ERR_UNSUPPORTED,
                        "sign: the %s key is not a signing key (no sign "
                        "attribute); create a signing key",
                        alg);
    if (a & TPMA_OBJECT_RESTRICTED)
        return ek_error(EK_ERR_UNSUPPORTED,
                        "sign: the %s key is a restricted signing key, "
                        "which cannot sign outside digests; use an unrestricted key",
                        alg);
    if (scheme == EK_SIG_RSA_PSS && ek_tpm_pss_salt() == EK_PSS_SALT_MAX)
        return pss_refused();
    if (ek_key_needs_auth(key) && key->auth.size == 0) /* don't spend a DA try on it */
        return ek_error(EK_ERR_AUTH,
                        "sign: the %s key needs its auth value (PIN) and none was "
                        "given (its key file says emptyAuth = FALSE)",
                        alg);
    return EK_OK;
}

typedef struct sign_args {
    TPM2B_DIGEST dg;
    TPMT_SIG_SCHEME scheme;
    TPMT_TK_HASHCHECK tk;
} sign_args;

static bool stale_handle(TSS2_RC rc)
{
    return ek_tpm_rc_is(rc, TPM2_RC_REFERENCE_H0) || ek_tpm_rc_is(rc, TPM2_RC_HANDLE);
}

/* Esys_Sign with the key's auth value: the password session for an empty
 * one (nothing secret crosses the interface), else the salted HMAC session. */
static TSS2_RC esys_sign(ek_key *key, const sign_args *a, TPMT_SIGNATURE **sig, ek_rc *r)
{
    ESYS_TR sess;
    if ((*r = ek_tpm_auth_session(&key->auth, &sess)) != EK_OK)
        return TSS2_ESYS_RC_GENERAL_FAILURE;
    TSS2_RC rc = Esys_TR_SetAuth(ek_tpm_ctx(), key->tr, &key->auth);
    if (!rc)
        rc = Esys_Sign(ek_tpm_ctx(), key->tr, sess, ESYS_TR_NONE, ESYS_TR_NONE, &a->dg, &a->scheme,
                       &a->tk, sig);
    for (int i = 0;
         i < 5 && (ek_tpm_rc_is(rc, TPM2_RC_RETRY) || ek_tpm_rc_is(rc, TPM2_RC_YIELDED) ||
                   ek_tpm_rc_is(rc, TPM2_RC_TESTING));
         i++)
        rc = Esys_Sign(ek_tpm_ctx(), key->tr, sess, ESYS_TR_NONE, ESYS_TR_NONE, &a->dg, &a->scheme,
                       &a->tk, sig);
    if (rc && sess != ESYS_TR_PASSWORD && !ek_tpm_rc_is_io(rc))
        ek_tpm_session_reset();
    *r = ek_tpm_rc(rc, "signing with the TPM key (TPM2_Sign)");
    return rc;
}

/* The TPM part, under the lock: one TPM2_Sign. One retry if our loaded
 * object vanished behind our back. */
static ek_rc tpm_sign(ek_key *key, const sign_args *a, TPMT_SIGNATURE *sig)
{
    ek_rc r = ek_tpm_lock(NULL);
    if (r != EK_OK)
        return r;
    for (int attempt = 0; r == EK_OK; attempt++) {
        TPMT_SIGNATURE *out = NULL;
        if ((r = ek_key_use(key)) != EK_OK)
            break;
        TSS2_RC rc = esys_sign(key, a, &out, &r);
        if (r == EK_OK && out)
            *sig = *out;
        Esys_Free(out);
        if (r == EK_OK || attempt > 0)
            break;
        if (ek_tpm_stale()) { /* the TPM lost our objects: start over once */
            r = ek_tpm_recover_locked();
            continue;
        }
        if (!key->transient || !stale_handle(rc))
            break;
        ek_log(EK_LOG_INFO, "the key's TPM object was gone; reloading it");
        ek_key_unload_locked(key);
        r = EK_OK;
    }
    ek_tpm_unlock();
    return r;
}

static void copy_padded(unsigned char *out, size_t width, const uint8_t *p, size_t len)
{
    size_t n = len > width ? width : len;
    memset(out, 0, width - n);
    memcpy(out + width - n, p + (len - n), n);
}

static ek_rc ecdsa_der(const TPMS_SIGNATURE_ECC *e, unsigned char *out, size_t *outlen)
{
    ECDSA_SIG *s = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(e->signatureR.buffer, e->signatureR.size, NULL);
    BIGNUM *sv = BN_bin2bn(e->signatureS.buffer, e->signatureS.size, NULL);
    if (!s || !r || !sv || !ECDSA_SIG_set0(s, r, sv)) {
        ECDSA_SIG_free(s);
        BN_free(r);
        BN_free(sv);
        return ek_error(EK_ERR_NOMEM, "sign: out of memory encoding the ECDSA signature");
    }
    int n = i2d_ECDSA_SIG(s, NULL);
    ek_rc rc = EK_OK;
    if (n <= 0 || (size_t)n > *outlen) {
        rc = ek_error(EK_ERR_TPM, "sign: ECDSA signature of %d bytes does not fit", n);
    } else {
        unsigned char *p = out;
        *outlen = (size_t)i2d_ECDSA_SIG(s, &p);
    }
    ECDSA_SIG_free(s);
    return rc;
}

static ek_rc format_sig(const ek_key *key, const TPMT_SIGNATURE *sig, ek_ecdsa_fmt fmt,
                        unsigned char *out, size_t *outlen)
{
    if (key->pub.alg == EK_ALG_RSA) {
        size_t width = (key->pub.bits + 7) / 8;
        copy_padded(out, width, sig->signature.rsassa.sig.buffer, sig->signature.rsassa.sig.size);
        *outlen = width;
        return EK_OK;
    }
    const TPMS_SIGNATURE_ECC *e = &sig->signature.ecdsa;
    if (fmt == EK_ECDSA_DER)
        return ecdsa_der(e, out, outlen);
    size_t cs = ek_curve_size(key->tpub.parameters.eccDetail.curveID);
    copy_padded(out, cs, e->signatureR.buffer, e->signatureR.size);
    copy_padded(out + cs, cs, e->signatureS.buffer, e->signatureS.size);
    *outlen = 2 * cs;
    return EK_OK;
}

/* First PSS signature of the process: learn the TPM's salt length (checked
 * in core's private library context, crypto.c). */
static ek_rc pss_learn(const ek_key *key, ek_md md, const unsigned char *dg,
                       const unsigned char *sig, size_t slen)
{
    int salt = ek_sw_pss_salt(key->pub.n, key->pub.n_len, key->pub.e, md, dg, sig, slen);
    if (salt == EK_PSS_CANNOT_CHECK) { /* unknown still: the next PSS signature tries again */
        ek_log(EK_LOG_DEBUG, "RSA-PSS: salt length not checked (an application ENGINE takes "
                             "RSA in this process); the signature is passed on as the TPM made it");
        return EK_OK;
    }
    if (salt >= 0 && (size_t)salt == ek_md_size(md)) {
        ek_pss_set(EK_PSS_SALT_DIGEST);
        ek_log(EK_LOG_INFO, "RSA-PSS: this TPM uses salt length = digest length (TLS 1.3 ok)");
        return EK_OK;
    }
    if (salt >= 0) {
        ek_pss_set(EK_PSS_SALT_MAX);
        ek_log(EK_LOG_WARN, "RSA-PSS: this TPM uses a %d-byte salt, not the digest length", salt);
        return pss_refused();
    }
    return ek_error(EK_ERR_TPM, "sign: the TPM's RSA-PSS signature does not verify");
}

ek_rc ek_key_sign(ek_key *key, ek_sig_scheme scheme, ek_md md, const unsigned char *dgst,
                  size_t dlen, ek_ecdsa_fmt fmt, unsigned char *sig, size_t *siglen)
{
    if (!key || !siglen || (!dgst && sig))
        return ek_error(EK_ERR_INVALID, "sign: missing key, digest or length");
    size_t max = ek_key_max_sig_size(key, fmt);
    if (!sig) {
        *siglen = max;
        return EK_OK;
    }
    if (*siglen < max) {
        *siglen = max;
        return ek_error(EK_ERR_BUFFER_TOO_SMALL, "sign: the signature needs %zu bytes", max);
    }
    ek_rc r = check_args(key, scheme, md, dlen);
    if (r != EK_OK)
        return r;
    sign_args a = {.tk = {.tag = TPM2_ST_HASHCHECK, .hierarchy = TPM2_RH_NULL}};
    a.dg.size = (UINT16)dlen;
    memcpy(a.dg.buffer, dgst, dlen);
    a.scheme.scheme = scheme == EK_SIG_RSA_PKCS1 ? TPM2_ALG_RSASSA
                      : scheme == EK_SIG_RSA_PSS ? TPM2_ALG_RSAPSS
                                                 : TPM2_ALG_ECDSA;
    a.scheme.details.any.hashAlg = ek_md_tpm_alg(md);
    TPMT_SIGNATURE ts;
    if ((r = tpm_sign(key, &a, &ts)) != EK_OK)
        return r;
    size_t n = *siglen;
    if ((r = format_sig(key, &ts, fmt, sig, &n)) != EK_OK)
        return r;
    if (scheme == EK_SIG_RSA_PSS && ek_tpm_pss_salt() == EK_PSS_SALT_UNKNOWN &&
        (r = pss_learn(key, md, dgst, sig, n)) != EK_OK) {
        OPENSSL_cleanse(sig, n);
        return r;
    }
    *siglen = n;
    return EK_OK;
}
