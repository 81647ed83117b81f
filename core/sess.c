/* edgekey core: authorising one raw TPM command (rawcmd.c), fast.
 *
 * Keys with an empty auth value use the password session: nothing secret
 * travels, and it is the cheapest path. Keys with an auth value use our own
 * salted HMAC session, so the auth value never crosses the interface: the
 * session is started by us with a salt encrypted to the SRK (ECDH +
 * KDFe for an ECC SRK, RSA-OAEP for an RSA SRK; TPM 2.0 Part 1 annex C),
 * and every command HMAC is computed here with prefetched digests. ESYS
 * would do the same but builds a new OpenSSL library context per hash,
 * ~2 ms per command; here the session costs microseconds. The session is
 * unbound, so the HMAC key is sessionKey || authValue. */
#include <string.h>
#include <time.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/rsa.h>
#include <tss2/tss2_mu.h>

#include "ek_tpm_int.h"

#define NONCE_SIZE 32

static void be32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 24);
    b[1] = (uint8_t)(v >> 16);
    b[2] = (uint8_t)(v >> 8);
    b[3] = (uint8_t)v;
}

static bool ecc_salt(const TPMT_PUBLIC *p, uint8_t *salt, TPM2B_ENCRYPTED_SECRET *enc)
{
    TPM2_ECC_CURVE curve = p->parameters.eccDetail.curveID;
    const char *group = ek_sw_curve_name(curve);
    size_t cs = ek_sw_curve_size(curve), zlen = 0, plen = 0;
    uint8_t z[48], pt[1 + 2 * 48];
    bool ok = false;
    EVP_PKEY *eph = group ? EVP_PKEY_Q_keygen(ek_sw_libctx(), NULL, "EC", group) : NULL;
    EVP_PKEY *peer = ek_sw_ec_pub(curve, EK_IOV(p->unique.ecc.x), EK_IOV(p->unique.ecc.y));
    EVP_PKEY_CTX *dc = eph ? EVP_PKEY_CTX_new_from_pkey(ek_sw_libctx(), eph, NULL) : NULL;
    zlen = sizeof(z);
    if (!dc || !peer || EVP_PKEY_derive_init(dc) <= 0 || EVP_PKEY_derive_set_peer(dc, peer) <= 0 ||
        EVP_PKEY_derive(dc, z, &zlen) <= 0 ||
        !EVP_PKEY_get_octet_string_param(eph, OSSL_PKEY_PARAM_PUB_KEY, pt, sizeof(pt), &plen) ||
        plen != 1 + 2 * cs || pt[0] != 0x04)
        goto out;
    TPMS_ECC_POINT ept = {.x.size = (UINT16)cs, .y.size = (UINT16)cs};
    memcpy(ept.x.buffer, pt + 1, cs);
    memcpy(ept.y.buffer, pt + 1 + cs, cs);
    size_t off = 0;
    ok = ek_sw_kdfe(p->nameAlg, z, zlen, "SECRET", EK_IOV(ept.x), EK_IOV(p->unique.ecc.x),
                    (uint32_t)ek_sw_md_size(p->nameAlg) * 8, salt) &&
         Tss2_MU_TPMS_ECC_POINT_Marshal(&ept, enc->secret, sizeof(enc->secret), &off) == 0;
    enc->size = (UINT16)off;
out:
    OPENSSL_cleanse(z, sizeof(z));
    EVP_PKEY_CTX_free(dc);
    EVP_PKEY_free(eph);
    EVP_PKEY_free(peer);
    return ok;
}

static bool rsa_salt(const TPMT_PUBLIC *p, uint8_t *salt, TPM2B_ENCRYPTED_SECRET *enc)
{
    size_t slen = ek_sw_md_size(p->nameAlg), outlen = sizeof(enc->secret);
    const EVP_MD *md = ek_sw_md(p->nameAlg);
    EVP_PKEY *pk = ek_sw_rsa_pub(p->unique.rsa.buffer, p->unique.rsa.size,
                                 p->parameters.rsaDetail.exponent);
    EVP_PKEY_CTX *c = pk ? EVP_PKEY_CTX_new_from_pkey(ek_sw_libctx(), pk, NULL) : NULL;
    unsigned char *label = OPENSSL_memdup("SECRET", 7); /* with its NUL */
    bool ok = c && label && md && ek_sw_random(salt, slen) && EVP_PKEY_encrypt_init(c) > 0 &&
              EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) > 0 &&
              EVP_PKEY_CTX_set_rsa_oaep_md(c, md) > 0 && EVP_PKEY_CTX_set_rsa_mgf1_md(c, md) > 0 &&
              EVP_PKEY_CTX_set0_rsa_oaep_label(c, label, 7) > 0;
    if (ok)
        label = NULL; /* owned by the context now */
    ok = ok && EVP_PKEY_encrypt(c, enc->secret, &outlen, salt, slen) > 0;
    enc->size = (UINT16)outlen;
    OPENSSL_free(label);
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(pk);
    return ok;
}

static ek_rc hsess_start(void)
{
    ESYS_TR srk;
    ek_rc r = ek_tpm_srk(&srk);
    if (r != EK_OK)
        return r;
    const TPMT_PUBLIC *p = &ek_g.srk_pub;
    uint8_t salt[64];
    size_t slen = ek_sw_md_size(p->nameAlg);
    TPM2B_ENCRYPTED_SECRET enc = {0};
    bool ok = p->type == TPM2_ALG_ECC ? ecc_salt(p, salt, &enc) : rsa_salt(p, salt, &enc);
    TPM2B_NONCE nc = {.size = NONCE_SIZE}, nt = {0};
    if (!ok || !slen || !ek_sw_random(nc.buffer, NONCE_SIZE)) {
        OPENSSL_cleanse(salt, sizeof(salt));
        return ek_error(EK_ERR_TPM, "starting the salted HMAC session: could not make the "
                        "salt for the SRK (software crypto failed)");
    }
    /* AES-128-CFB like the ESYS session; TPM2_Sign carries no secret parameter,
     * so no command sets decrypt/encrypt on this one. */
    TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB};
    uint8_t par[sizeof(nc) + sizeof(enc) + 16];
    size_t off = 0;
    TPM2_HANDLE hs[2] = {ek_g.srk_tpm, TPM2_RH_NULL};
    ek_raw_rsp rsp;
    TSS2_RC rc = Tss2_MU_TPM2B_NONCE_Marshal(&nc, par, sizeof(par), &off);
    if (!rc)
        rc = Tss2_MU_TPM2B_ENCRYPTED_SECRET_Marshal(&enc, par, sizeof(par), &off);
    if (!rc)
        rc = Tss2_MU_TPM2_SE_Marshal(TPM2_SE_HMAC, par, sizeof(par), &off);
    if (!rc)
        rc = Tss2_MU_TPMT_SYM_DEF_Marshal(&sym, par, sizeof(par), &off);
    if (!rc)
        rc = Tss2_MU_TPMI_ALG_HASH_Marshal(TPM2_ALG_SHA256, par, sizeof(par), &off);
    if (!rc)
        rc = ek_raw_exec(TPM2_CC_StartAuthSession, hs, 2, NULL, par, off, 1, &rsp);
    size_t roff = 0;
    if (!rc)
        rc = Tss2_MU_TPM2B_NONCE_Unmarshal(rsp.params, rsp.plen, &roff, &nt);
    if (rc == TSS2_RC_SUCCESS) {
        ek_g.hsess.key.size = 32;
        if (!ek_sw_kdfa(TPM2_ALG_SHA256, salt, slen, "ATH", EK_IOV(nt), EK_IOV(nc), 256,
                        ek_g.hsess.key.buffer)) {
            ek_tpm_flush_raw(rsp.handle);
            OPENSSL_cleanse(salt, sizeof(salt));
            return ek_error(EK_ERR_TPM, "starting the salted HMAC session: KDFa failed");
        }
        ek_g.hsess.handle = rsp.handle;
        ek_g.hsess.nonce_tpm = nt;
        ek_g.hsess.active = true;
    }
    OPENSSL_cleanse(salt, sizeof(salt));
    return ek_tpm_rc(rc, "starting the salted HMAC session");
}

void ek_hsess_forget(bool talk)
{
    if (ek_g.hsess.active && talk)
        ek_tpm_flush_raw(ek_g.hsess.handle);
    OPENSSL_cleanse(&ek_g.hsess, sizeof(ek_g.hsess));
}

/* HMAC key: sessionKey || authValue without trailing zeros (Part 1 19.6.5). */
static size_t hmac_key(const TPM2B_AUTH *auth, uint8_t *k)
{
    size_t alen = auth->size;
    while (alen && auth->buffer[alen - 1] == 0)
        alen--;
    memcpy(k, ek_g.hsess.key.buffer, ek_g.hsess.key.size);
    memcpy(k + ek_g.hsess.key.size, auth->buffer, alen);
    return ek_g.hsess.key.size + alen;
}

static bool hmac_command(TPM2_CC cc, const TPM2B_NAME *name, const uint8_t *params,
                         size_t plen, const uint8_t *k, size_t klen, TPMS_AUTH_COMMAND *a)
{
    uint8_t ccb[4], cph[32], attrs = TPMA_SESSION_CONTINUESESSION;
    be32(ccb, cc);
    ek_iov hv[] = {{ccb, 4}, {name->name, name->size}, {params, plen}};
    a->sessionHandle = ek_g.hsess.handle;
    a->sessionAttributes = attrs;
    a->nonce.size = NONCE_SIZE;
    a->hmac.size = 32;
    ek_iov mv[] = {{cph, 32}, {a->nonce.buffer, NONCE_SIZE},
                   {ek_g.hsess.nonce_tpm.buffer, ek_g.hsess.nonce_tpm.size}, {&attrs, 1}};
    return ek_sw_hash(TPM2_ALG_SHA256, hv, 3, cph) && ek_sw_random(a->nonce.buffer, NONCE_SIZE) &&
           ek_sw_hmac(TPM2_ALG_SHA256, k, klen, mv, 4, a->hmac.buffer);
}

static TSS2_RC hmac_response(TPM2_CC cc, const uint8_t *k, size_t klen,
                             const TPMS_AUTH_COMMAND *cmd, const ek_raw_rsp *rsp)
{
    uint8_t hdr[8] = {0}, rph[32], mac[32];
    const TPMS_AUTH_RESPONSE *a = &rsp->auth;
    uint8_t attrs = a->sessionAttributes;
    be32(hdr + 4, cc); /* responseCode (0) || commandCode */
    ek_iov hv[] = {{hdr, 8}, {rsp->params, rsp->plen}};
    ek_iov mv[] = {{rph, 32}, {a->nonce.buffer, a->nonce.size},
                   {cmd->nonce.buffer, cmd->nonce.size}, {&attrs, 1}};
    if (!rsp->has_auth || a->hmac.size != 32 || !ek_sw_hash(TPM2_ALG_SHA256, hv, 2, rph) ||
        !ek_sw_hmac(TPM2_ALG_SHA256, k, klen, mv, 4, mac) ||
        CRYPTO_memcmp(mac, a->hmac.buffer, 32) != 0)
        return TSS2_ESYS_RC_RSP_AUTH_FAILED;
    ek_g.hsess.nonce_tpm = a->nonce;
    return TSS2_RC_SUCCESS;
}

static bool is_busy(TSS2_RC rc)
{
    return rc == TPM2_RC_RETRY || rc == TPM2_RC_YIELDED || rc == TPM2_RC_TESTING;
}

static TSS2_RC run_once(TPM2_CC cc, TPM2_HANDLE h, const TPM2B_NAME *name,
                        const uint8_t *params, size_t plen, const uint8_t *k, size_t klen,
                        ek_raw_rsp *rsp)
{
    TPMS_AUTH_COMMAND a = {.sessionHandle = TPM2_RH_PW};
    if (k && !hmac_command(cc, name, params, plen, k, klen, &a))
        return TSS2_ESYS_RC_GENERAL_FAILURE;
    TSS2_RC rc = ek_raw_exec(cc, &h, 1, &a, params, plen, 0, rsp);
    if (!rc && k)
        rc = hmac_response(cc, k, klen, &a, rsp);
    return rc;
}

ek_rc ek_sess_run(TPM2_CC cc, TPM2_HANDLE h, const TPM2B_NAME *name, const TPM2B_AUTH *auth,
                  const uint8_t *params, size_t plen, ek_raw_rsp *rsp, const char *what,
                  TSS2_RC *tpm_rc)
{
    uint8_t k[32 + sizeof(auth->buffer)];
    size_t klen = 0;
    bool hmac = auth && auth->size > 0;
    if (hmac && !ek_g.hsess.active) {
        ek_rc r = hsess_start();
        if (r != EK_OK)
            return r;
    }
    if (hmac)
        klen = hmac_key(auth, k);
    TSS2_RC rc;
    bool restarted = false;
    for (int attempt = 0;; attempt++) {
        rc = run_once(cc, h, name, params, plen, hmac ? k : NULL, klen, rsp);
        if (hmac && !restarted && (rc & 0xfff) == TPM2_RC_REFERENCE_S0) {
            /* our session is gone (flushed by someone): start a new one */
            ek_hsess_forget(false);
            restarted = true;
            ek_rc r = hsess_start();
            if (r != EK_OK) {
                OPENSSL_cleanse(k, sizeof(k));
                return r;
            }
            klen = hmac_key(auth, k);
            continue;
        }
        if (!is_busy(rc) || attempt >= 5)
            break;
        if (attempt) { /* first retry at once (swtpm answers RETRY to a first ECDSA) */
            struct timespec ts = {0, 10000000L * attempt};
            nanosleep(&ts, NULL);
        }
    }
    if (rc == TSS2_ESYS_RC_RSP_AUTH_FAILED)
        ek_hsess_forget(true); /* nonce state unknown: never reuse it */
    OPENSSL_cleanse(k, sizeof(k));
    if (tpm_rc)
        *tpm_rc = rc;
    return ek_tpm_rc(rc, what);
}
