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

#include <openssl/crypto.h>
#include <tss2/tss2_mu.h>

#include "ek_srk.h"
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
    uint8_t z[48];
    size_t zlen = sizeof(z), off = 0;
    TPMS_ECC_POINT ept;
    bool ok = ek_sw_ecdh(curve, EK_IOV(p->unique.ecc.x), EK_IOV(p->unique.ecc.y), z, &zlen, &ept) &&
              ek_sw_kdfe(p->nameAlg, z, zlen, "SECRET", EK_IOV(ept.x), EK_IOV(p->unique.ecc.x),
                         (uint32_t)ek_sw_md_size(p->nameAlg) * 8, salt) &&
              Tss2_MU_TPMS_ECC_POINT_Marshal(&ept, enc->secret, sizeof(enc->secret), &off) == 0;
    enc->size = (UINT16)off;
    OPENSSL_cleanse(z, sizeof(z));
    return ok;
}

static bool rsa_salt(const TPMT_PUBLIC *p, uint8_t *salt, TPM2B_ENCRYPTED_SECRET *enc)
{
    size_t slen = ek_sw_md_size(p->nameAlg), outlen = sizeof(enc->secret);
    bool ok =
        slen && ek_sw_random(salt, slen) &&
        ek_sw_rsa_oaep(p->unique.rsa.buffer, p->unique.rsa.size, p->parameters.rsaDetail.exponent,
                       p->nameAlg, "SECRET", salt, slen, enc->secret, &outlen);
    enc->size = ok ? (UINT16)outlen : 0;
    return ok;
}

static TSS2_RC start_once(TPM2_HANDLE *handle, TPM2B_NONCE *nonce_tpm, uint8_t key[32])
{
    const TPMT_PUBLIC *p = &ek_g.srk_pub;
    uint8_t salt[64];
    size_t slen = ek_sw_md_size(p->nameAlg), off = 0, roff = 0;
    TPM2B_ENCRYPTED_SECRET enc = {0};
    bool ok = p->type == TPM2_ALG_ECC ? ecc_salt(p, salt, &enc) : rsa_salt(p, salt, &enc);
    TPM2B_NONCE nc = {.size = NONCE_SIZE};
    /* AES-128-CFB like the ESYS session; callers set decrypt/encrypt per command. */
    TPMT_SYM_DEF sym = {.algorithm = TPM2_ALG_AES, .keyBits.aes = 128, .mode.aes = TPM2_ALG_CFB};
    uint8_t par[sizeof(nc) + sizeof(enc) + 16];
    TPM2_HANDLE hs[2] = {ek_g.srk_tpm, TPM2_RH_NULL};
    ek_raw_rsp rsp = {.handle = 0};
    TSS2_RC rc = TSS2_ESYS_RC_GENERAL_FAILURE;
    memset(nonce_tpm, 0, sizeof(*nonce_tpm));
    if (!ok || !slen || !ek_sw_random(nc.buffer, NONCE_SIZE))
        goto out;
    rc = Tss2_MU_TPM2B_NONCE_Marshal(&nc, par, sizeof(par), &off);
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
    if (!rc)
        rc = Tss2_MU_TPM2B_NONCE_Unmarshal(rsp.params, rsp.plen, &roff, nonce_tpm);
    if (!rc) {
        *handle = rsp.handle;
        if (!ek_sw_kdfa(TPM2_ALG_SHA256, salt, slen, "ATH", EK_IOV(*nonce_tpm), EK_IOV(nc), 256,
                        key)) {
            ek_tpm_flush_raw(rsp.handle);
            rc = TSS2_ESYS_RC_GENERAL_FAILURE;
        }
    }
out:
    OPENSSL_cleanse(salt, sizeof(salt));
    return rc;
}

/* No leftover scan before a session (a PIN login allocates no object and
 * should cost no GetCapability): only when the TPM says it is full. */
TSS2_RC ek_sess_start_salted(TPM2_HANDLE *handle, TPM2B_NONCE *nonce_tpm, uint8_t key[32])
{
    TSS2_RC rc = start_once(handle, nonce_tpm, key);
    TSS2_RC base = rc & 0xfff; /* warnings (format 0): no handle/parameter bits */
    if ((base == TPM2_RC_SESSION_MEMORY || base == TPM2_RC_OBJECT_MEMORY) &&
        !ek_tpm_leftovers_scanned()) {
        ek_tpm_flush_leftovers(); /* a dead process's sessions fill the TPM */
        rc = start_once(handle, nonce_tpm, key);
    }
    return rc;
}

static ek_rc hsess_start(void)
{
    ek_rc r = ek_srk_public();
    if (r != EK_OK)
        return r;
    TSS2_RC rc = ek_sess_start_salted(&ek_g.hsess.handle, &ek_g.hsess.nonce_tpm,
                                      ek_g.hsess.key.buffer);
    if (rc == TSS2_ESYS_RC_GENERAL_FAILURE) {
        OPENSSL_cleanse(&ek_g.hsess, sizeof(ek_g.hsess));
        return ek_error(EK_ERR_TPM, "starting the salted HMAC session: software crypto for the "
                                    "salt or the session key failed");
    }
    if (rc == TSS2_RC_SUCCESS) {
        ek_g.hsess.key.size = 32;
        ek_g.hsess.active = true;
    }
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

/* The command's nonceCaller is drawn by the caller (parameter encryption
 * needs it before the cpHash). */
static bool hmac_command(TPM2_CC cc, const TPM2B_NAME *name, const uint8_t *params, size_t plen,
                         const uint8_t *k, size_t klen, uint8_t attrs, TPMS_AUTH_COMMAND *a)
{
    uint8_t ccb[4], cph[32];
    be32(ccb, cc);
    ek_iov hv[] = {{ccb, 4}, {name->name, name->size}, {params, plen}};
    a->sessionHandle = ek_g.hsess.handle;
    a->sessionAttributes = attrs;
    a->hmac.size = 32;
    ek_iov mv[] = {{cph, 32},
                   {a->nonce.buffer, NONCE_SIZE},
                   {ek_g.hsess.nonce_tpm.buffer, ek_g.hsess.nonce_tpm.size},
                   {&attrs, 1}};
    return ek_sw_hash(TPM2_ALG_SHA256, hv, 3, cph) &&
           ek_sw_hmac(TPM2_ALG_SHA256, k, klen, mv, 4, a->hmac.buffer);
}

/* Parameter encryption, CFB mode (Part 1 21.3): the data of the TPM2B at
 * buf, in place; key and IV from KDFa(sessionValue, "CFB", newer, older). */
static bool param_crypt(const uint8_t *k, size_t klen, const TPM2B_NONCE *newer,
                        const TPM2B_NONCE *older, uint8_t *buf, size_t len, bool encrypt)
{
    uint8_t kiv[32];
    size_t n = len >= 2 ? (size_t)buf[0] << 8 | buf[1] : 0;
    bool ok =
        len >= 2 && n <= len - 2 &&
        ek_sw_kdfa(TPM2_ALG_SHA256, k, klen, "CFB", EK_IOV(*newer), EK_IOV(*older), 256, kiv) &&
        ek_sw_aes128_cfb(kiv, kiv + 16, buf + 2, n, encrypt);
    OPENSSL_cleanse(kiv, sizeof(kiv));
    return ok;
}

static TSS2_RC hmac_response(TPM2_CC cc, const uint8_t *k, size_t klen,
                             const TPMS_AUTH_COMMAND *cmd, const ek_raw_rsp *rsp)
{
    uint8_t hdr[8] = {0}, rph[32], mac[32];
    const TPMS_AUTH_RESPONSE *a = &rsp->auth;
    uint8_t attrs = a->sessionAttributes;
    be32(hdr + 4, cc); /* responseCode (0) || commandCode */
    ek_iov hv[] = {{hdr, 8}, {rsp->params, rsp->plen}};
    ek_iov mv[] = {{rph, 32},
                   {a->nonce.buffer, a->nonce.size},
                   {cmd->nonce.buffer, cmd->nonce.size},
                   {&attrs, 1}};
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

#define MAX_PARAMS 2048

static TSS2_RC run_once(TPM2_CC cc, TPM2_HANDLE h, const TPM2B_NAME *name, unsigned flags,
                        const uint8_t *params, size_t plen, const uint8_t *k, size_t klen,
                        ek_raw_rsp *rsp)
{
    TPMS_AUTH_COMMAND a = {.sessionHandle = TPM2_RH_PW};
    uint8_t enc[MAX_PARAMS];
    uint8_t attrs = TPMA_SESSION_CONTINUESESSION |
                    (flags & EK_SESS_DECRYPT ? TPMA_SESSION_DECRYPT : 0) |
                    (flags & EK_SESS_ENCRYPT ? TPMA_SESSION_ENCRYPT : 0);
    TSS2_RC rc = TSS2_ESYS_RC_GENERAL_FAILURE;
    if (k) {
        a.nonce.size = NONCE_SIZE;
        if (!ek_sw_random(a.nonce.buffer, NONCE_SIZE))
            goto out;
    }
    if (k && (flags & EK_SESS_DECRYPT)) { /* the cpHash covers the encrypted form */
        if (plen > sizeof(enc))
            goto out;
        memcpy(enc, params, plen);
        if (!param_crypt(k, klen, &a.nonce, &ek_g.hsess.nonce_tpm, enc, plen, true))
            goto out;
        params = enc;
    }
    if (k && !hmac_command(cc, name, params, plen, k, klen, attrs, &a))
        goto out;
    rc = ek_raw_exec(cc, &h, 1, &a, params, plen, 0, rsp);
    if (!rc && k)
        rc = hmac_response(cc, k, klen, &a, rsp); /* over the encrypted response */
    if (!rc && k && (flags & EK_SESS_ENCRYPT) &&
        !param_crypt(k, klen, &ek_g.hsess.nonce_tpm, &a.nonce, rsp->buf + (rsp->params - rsp->buf),
                     rsp->plen, false))
        rc = TSS2_ESYS_RC_GENERAL_FAILURE;
out:
    OPENSSL_cleanse(enc, sizeof(enc));
    return rc;
}

ek_rc ek_sess_run(TPM2_CC cc, TPM2_HANDLE h, const TPM2B_NAME *name, const TPM2B_AUTH *auth,
                  const uint8_t *params, size_t plen, ek_raw_rsp *rsp, const char *what,
                  TSS2_RC *tpm_rc)
{
    return ek_sess_run_enc(cc, h, name, auth, 0, params, plen, rsp, what, tpm_rc);
}

ek_rc ek_sess_run_enc(TPM2_CC cc, TPM2_HANDLE h, const TPM2B_NAME *name, const TPM2B_AUTH *auth,
                      unsigned flags, const uint8_t *params, size_t plen, ek_raw_rsp *rsp,
                      const char *what, TSS2_RC *tpm_rc)
{
    static const TPM2B_AUTH empty = {0};
    uint8_t k[32 + sizeof(auth->buffer)];
    size_t klen = 0;
    if (!auth)
        auth = &empty;
    bool hmac = auth->size > 0 || flags != 0;
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
        rc = run_once(cc, h, name, flags, params, plen, hmac ? k : NULL, klen, rsp);
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
