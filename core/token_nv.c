/* edgekey core: the token secret in an NV index (token_nv.h).
 *
 * Why NV and not a sealed object: unsealing costs Load + a session +
 * Unseal + FlushContext (and an object slot); an NV index with the
 * PIN-derived authValue is read with a salted session started for it and
 * TPM2_NV_Read with continueSession clear, which the TPM ends itself: two
 * commands, three with the SRK's ReadPublic (docs/pkcs11.md).
 *
 * Every command carrying the secret or the auth value goes through a
 * salted HMAC session made here (salt to the SRK: ECDH + KDFe or RSA-OAEP,
 * without EVP_PKEY, as sess.c's; ESYS's salted sessions are avoided for the
 * reasons in seccmd.c) with AES-128-CFB parameter encryption: the authValue
 * in TPM2_NV_DefineSpace, the data of TPM2_NV_Write, the data returned by
 * TPM2_NV_Read. sess.c's session takes one handle; NV commands take two
 * (authHandle, nvIndex), hence this small one-shot session of its own.
 * The public functions take the connection lock themselves. */
#include <string.h>

#include <openssl/crypto.h>
#include <tss2/tss2_mu.h>

#include "ek_log.h"
#include "ek_srk.h"
#include "ek_tpm_int.h"
#include "token_nv.h"

#define NONCE 32
#define NV_ATTRS (TPMA_NV_AUTHREAD | TPMA_NV_AUTHWRITE | TPMA_NV_NO_DA) /* ordinary index */

typedef struct nv_sess {
    TPM2_HANDLE handle;
    uint8_t key[32];
    TPM2B_NONCE nonce_tpm;
} nv_sess;

static void be32(uint8_t *b, uint32_t v)
{
    b[0] = (uint8_t)(v >> 24), b[1] = (uint8_t)(v >> 16), b[2] = (uint8_t)(v >> 8), b[3] = (uint8_t)v;
}

static void be16(uint8_t *b, uint16_t v)
{
    b[0] = (uint8_t)(v >> 8), b[1] = (uint8_t)v;
}

/* ---- the salted session (Part 1, 19.6 and annex C) ---- */

/* (A TPM full of a dead process's sessions is cleaned up by
 * ek_sess_start_salted itself.) */
static ek_rc sess_start(nv_sess *s, const char *what)
{
    ek_rc r = ek_srk_public();
    if (r != EK_OK)
        return r;
    TSS2_RC rc = ek_sess_start_salted(&s->handle, &s->nonce_tpm, s->key);
    return rc ? ek_tpm_rc(rc, what) : EK_OK;
}

/* KDFa(key, "CFB", newer, older) -> AES-128 key || IV, applied in place to
 * the TPM2B at buf (Part 1, 21.3). */
static bool param_crypt(const uint8_t *k, size_t klen, const TPM2B_NONCE *newer,
                        const TPM2B_NONCE *older, uint8_t *buf, size_t len, bool encrypt)
{
    uint8_t kiv[32];
    size_t n = len >= 2 ? (size_t)buf[0] << 8 | buf[1] : 0;
    bool ok = len >= 2 && n <= len - 2 &&
              ek_sw_kdfa(TPM2_ALG_SHA256, k, klen, "CFB", EK_IOV(*newer), EK_IOV(*older), 256,
                         kiv) &&
              ek_sw_aes128_cfb(kiv, kiv + 16, buf + 2, n, encrypt);
    OPENSSL_cleanse(kiv, sizeof(kiv));
    return ok;
}

typedef struct nv_cmd {
    TPM2_CC cc;
    TPM2_HANDLE h[2];
    const TPM2B_NAME *names[2];
    size_t nh;
    const TPM2B_AUTH *auth; /* of h[0] */
    unsigned flags;         /* EK_SESS_DECRYPT / EK_SESS_ENCRYPT */
    bool last;              /* continueSession clear: the TPM ends the session */
} nv_cmd;

static bool cmd_hmac(const nv_sess *s, const nv_cmd *c, const uint8_t *params, size_t plen,
                     const uint8_t *k, size_t klen, TPMS_AUTH_COMMAND *a)
{
    uint8_t ccb[4], cph[32], attrs = a->sessionAttributes;
    be32(ccb, c->cc);
    ek_iov hv[4] = {{ccb, 4}};
    size_t n = 1;
    for (size_t i = 0; i < c->nh; i++)
        hv[n++] = (ek_iov){c->names[i]->name, c->names[i]->size};
    hv[n++] = (ek_iov){params, plen};
    ek_iov mv[] = {{cph, 32}, {a->nonce.buffer, a->nonce.size},
                   {s->nonce_tpm.buffer, s->nonce_tpm.size}, {&attrs, 1}};
    a->hmac.size = 32;
    return ek_sw_hash(TPM2_ALG_SHA256, hv, n, cph) &&
           ek_sw_hmac(TPM2_ALG_SHA256, k, klen, mv, 4, a->hmac.buffer);
}

static bool rsp_hmac_ok(nv_sess *s, const nv_cmd *c, const TPMS_AUTH_COMMAND *a,
                        const ek_raw_rsp *rsp, const uint8_t *k, size_t klen)
{
    uint8_t hdr[8] = {0}, rph[32], mac[32], attrs = rsp->auth.sessionAttributes;
    be32(hdr + 4, c->cc);
    ek_iov hv[] = {{hdr, 8}, {rsp->params, rsp->plen}};
    ek_iov mv[] = {{rph, 32}, {rsp->auth.nonce.buffer, rsp->auth.nonce.size},
                   {a->nonce.buffer, a->nonce.size}, {&attrs, 1}};
    if (!rsp->has_auth || rsp->auth.hmac.size != 32 || !ek_sw_hash(TPM2_ALG_SHA256, hv, 2, rph) ||
        !ek_sw_hmac(TPM2_ALG_SHA256, k, klen, mv, 4, mac) ||
        CRYPTO_memcmp(mac, rsp->auth.hmac.buffer, 32) != 0)
        return false;
    s->nonce_tpm = rsp->auth.nonce;
    return true;
}

/* One command through session s. On failure the session is flushed (the
 * TPM keeps it after an error); on success with c->last the TPM ended it. */
static TSS2_RC sess_run(nv_sess *s, const nv_cmd *c, const uint8_t *params, size_t plen,
                        ek_raw_rsp *rsp)
{
    uint8_t k[32 + sizeof(TPMU_HA)], enc[1024];
    size_t alen = c->auth ? c->auth->size : 0, klen;
    TSS2_RC rc = TSS2_ESYS_RC_GENERAL_FAILURE;
    while (alen && c->auth->buffer[alen - 1] == 0)
        alen--; /* HMAC key: sessionKey || authValue without trailing zeros */
    memcpy(k, s->key, 32);
    if (alen)
        memcpy(k + 32, c->auth->buffer, alen);
    klen = 32 + alen;
    TPMS_AUTH_COMMAND a = {.sessionHandle = s->handle, .nonce.size = NONCE};
    a.sessionAttributes = (c->last ? 0 : TPMA_SESSION_CONTINUESESSION) |
                          (c->flags & EK_SESS_DECRYPT ? TPMA_SESSION_DECRYPT : 0) |
                          (c->flags & EK_SESS_ENCRYPT ? TPMA_SESSION_ENCRYPT : 0);
    if (plen > sizeof(enc) || !ek_sw_random(a.nonce.buffer, NONCE))
        goto out;
    memcpy(enc, params, plen);
    if ((c->flags & EK_SESS_DECRYPT) &&
        !param_crypt(k, klen, &a.nonce, &s->nonce_tpm, enc, plen, true))
        goto out;
    if (!cmd_hmac(s, c, enc, plen, k, klen, &a))
        goto out;
    rc = ek_raw_exec(c->cc, c->h, c->nh, &a, enc, plen, 0, rsp);
    if (!rc && !rsp_hmac_ok(s, c, &a, rsp, k, klen))
        rc = TSS2_ESYS_RC_RSP_AUTH_FAILED;
    if (!rc && (c->flags & EK_SESS_ENCRYPT) &&
        !param_crypt(k, klen, &s->nonce_tpm, &a.nonce, rsp->buf + (rsp->params - rsp->buf),
                     rsp->plen, false))
        rc = TSS2_ESYS_RC_GENERAL_FAILURE;
out:
    if (rc && !ek_tpm_rc_is_io(rc))
        ek_tpm_flush_raw(s->handle);
    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(enc, sizeof(enc));
    return rc;
}

/* ---- the index ---- */

/* Marshalled TPMS_NV_PUBLIC of our index; its name is SHA-256 of it. */
static size_t nv_public(uint32_t index, uint16_t size, bool written, uint8_t out[14])
{
    be32(out, index);
    be16(out + 4, TPM2_ALG_SHA256);
    be32(out + 6, NV_ATTRS | (written ? TPMA_NV_WRITTEN : 0));
    be16(out + 10, 0); /* authPolicy: empty */
    be16(out + 12, size);
    return 14;
}

static bool nv_name(uint32_t index, uint16_t size, bool written, TPM2B_NAME *name)
{
    uint8_t pub[14];
    ek_iov v = {pub, nv_public(index, size, written, pub)};
    be16(name->name, TPM2_ALG_SHA256);
    name->size = 34;
    return ek_sw_hash(TPM2_ALG_SHA256, &v, 1, name->name + 2);
}

static TPM2B_NAME handle_name(TPM2_HANDLE h)
{
    TPM2B_NAME n = {.size = 4};
    be32(n.name, h);
    return n;
}

static bool rc_is(TSS2_RC rc, TSS2_RC what)
{
    if ((rc & TSS2_RC_LAYER_MASK) != TSS2_TPM_RC_LAYER)
        return false;
    return (rc & TPM2_RC_FMT1) ? (rc & (TPM2_RC_FMT1 | 0x3f)) == what : rc == what;
}

static bool rc_bad_auth(TSS2_RC rc)
{
    return rc_is(rc, TPM2_RC_BAD_AUTH) || rc_is(rc, TPM2_RC_AUTH_FAIL);
}

/* First index of our range that is not defined. */
static ek_rc free_index(uint32_t *out)
{
    TPMS_CAPABILITY_DATA cap;
    TSS2_RC rc = ek_raw_get_cap(TPM2_CAP_HANDLES, EK_NV_BASE, EK_NV_COUNT, &cap, NULL);
    if (rc)
        return ek_tpm_rc(rc, "listing NV indices (TPM2_GetCapability)");
    ek_rc r = ek_error(EK_ERR_NOMEM, "no free NV index in 0x%08x..0x%08x", EK_NV_BASE,
                       EK_NV_BASE + EK_NV_COUNT - 1);
    for (uint32_t h = EK_NV_BASE; h < EK_NV_BASE + EK_NV_COUNT; h++) {
        bool used = false;
        for (UINT32 i = 0; i < cap.data.handles.count && !used; i++)
            used = cap.data.handles.handle[i] == h;
        if (!used) {
            *out = h;
            r = EK_OK;
            break;
        }
    }
    return r;
}

/* NV_UndefineSpace with the owner's (empty) password: no secret travels. */
static TSS2_RC undefine(uint32_t index)
{
    TPM2_HANDLE h[2] = {TPM2_RH_OWNER, index};
    TPMS_AUTH_COMMAND pw = {.sessionHandle = TPM2_RH_PW};
    ek_raw_rsp rsp;
    return ek_raw_exec(TPM2_CC_NV_UndefineSpace, h, 2, &pw, NULL, 0, 0, &rsp);
}

static TSS2_RC define_and_write(uint32_t index, const TPM2B_AUTH *auth, const uint8_t *secret,
                                size_t len)
{
    nv_sess s;
    uint8_t par[sizeof(TPM2B_AUTH) + 32], pub[14];
    size_t off = 0;
    ek_raw_rsp rsp;
    if (sess_start(&s, "starting a session for the NV token secret") != EK_OK)
        return TSS2_ESYS_RC_GENERAL_FAILURE;
    TPM2B_NAME owner = handle_name(TPM2_RH_OWNER), before;
    TSS2_RC rc = Tss2_MU_TPM2B_DIGEST_Marshal((const TPM2B_DIGEST *)auth, par, sizeof(par), &off);
    size_t pl = nv_public(index, (uint16_t)len, false, pub);
    if (!rc && off + 2 + pl <= sizeof(par)) {
        be16(par + off, (uint16_t)pl);
        memcpy(par + off + 2, pub, pl);
        off += 2 + pl;
    } else if (!rc) {
        rc = TSS2_ESYS_RC_GENERAL_FAILURE;
    }
    nv_cmd def = {TPM2_CC_NV_DefineSpace, {TPM2_RH_OWNER}, {&owner}, 1, NULL, EK_SESS_DECRYPT,
                  false};
    if (!rc)
        rc = sess_run(&s, &def, par, off, &rsp); /* owner auth: empty */
    else
        ek_tpm_flush_raw(s.handle);
    OPENSSL_cleanse(par, sizeof(par));
    if (rc)
        return rc;
    nv_name(index, (uint16_t)len, false, &before);
    uint8_t data[2 + EK_NV_SECRET_MAX + 2];
    be16(data, (uint16_t)len);
    memcpy(data + 2, secret, len);
    be16(data + 2 + len, 0); /* offset */
    nv_cmd wr = {TPM2_CC_NV_Write, {index, index}, {&before, &before}, 2, auth, EK_SESS_DECRYPT,
                 true};
    rc = sess_run(&s, &wr, data, 4 + len, &rsp);
    OPENSSL_cleanse(data, sizeof(data));
    if (rc && !ek_tpm_rc_is_io(rc))
        undefine(index); /* ours, defined but not written: give the space back */
    return rc;
}

static void to_auth(const unsigned char *auth, size_t alen, TPM2B_AUTH *a)
{
    memset(a, 0, sizeof(*a));
    a->size = (UINT16)alen;
    memcpy(a->buffer, auth, alen);
}

static ek_rc store_locked(const TPM2B_AUTH *a, const uint8_t *secret, size_t len, uint32_t *index)
{
    for (int attempt = 0; attempt < 4; attempt++) {
        ek_rc r = free_index(index);
        if (r != EK_OK)
            return r;
        TSS2_RC rc = define_and_write(*index, a, secret, len);
        if (rc_is(rc, TPM2_RC_NV_DEFINED))
            continue; /* another process took it between the listing and now */
        if (rc == TSS2_RC_SUCCESS)
            return EK_OK;
        if (rc_bad_auth(rc))
            return ek_error(EK_ERR_AUTH, "defining an NV index for the token secret: the owner "
                            "hierarchy has an authorization value");
        return ek_tpm_rc(rc, "storing the token secret in NV (TPM2_NV_DefineSpace/NV_Write)");
    }
    return ek_error(EK_ERR_EXISTS, "NV token secret: indices taken concurrently; try again");
}

ek_rc ek_nv_secret_store(const unsigned char *secret, size_t len, const unsigned char *auth,
                         size_t alen, uint32_t *index)
{
    if (len == 0 || len > EK_NV_SECRET_MAX || alen > sizeof(((TPM2B_AUTH *)0)->buffer))
        return ek_error(EK_ERR_INVALID, "NV token secret: secret or auth too long");
    ek_rc r = ek_tpm_lock(NULL); /* raw commands only */
    if (r != EK_OK)
        return r;
    TPM2B_AUTH a;
    to_auth(auth, alen, &a);
    r = store_locked(&a, secret, len, index);
    ek_tpm_unlock();
    ek_wipe(&a, sizeof(a));
    return r;
}

static ek_rc read_locked(uint32_t index, const TPM2B_AUTH *a, unsigned char *out, size_t len)
{
    nv_sess s;
    TPM2B_NAME name;
    uint8_t par[4];
    ek_raw_rsp rsp;
    ek_rc r = sess_start(&s, "starting a session for the NV token secret");
    if (r != EK_OK)
        return r;
    nv_name(index, (uint16_t)len, true, &name);
    be16(par, (uint16_t)len);
    be16(par + 2, 0);
    nv_cmd rd = {TPM2_CC_NV_Read, {index, index}, {&name, &name}, 2, a, EK_SESS_ENCRYPT, true};
    TSS2_RC rc = sess_run(&s, &rd, par, sizeof(par), &rsp);
    size_t n = rc ? 0 : (size_t)rsp.params[0] << 8 | rsp.params[1];
    if (!rc && (rsp.plen < 2 + len || n != len))
        rc = TSS2_SYS_RC_MALFORMED_RESPONSE;
    if (!rc)
        memcpy(out, rsp.params + 2, len);
    OPENSSL_cleanse(rsp.buf, sizeof(rsp.buf));
    if (rc_bad_auth(rc))
        return ek_error(EK_ERR_AUTH, "PIN incorrect");
    if (rc_is(rc, TPM2_RC_HANDLE) || rc_is(rc, TPM2_RC_NV_UNINITIALIZED))
        return ek_error(EK_ERR_NOT_FOUND, "NV index 0x%08x of the token secret is gone "
                        "(TPM cleared?); re-initialise the token", index);
    return ek_tpm_rc(rc, "reading the token secret (TPM2_NV_Read)");
}

ek_rc ek_nv_secret_read(uint32_t index, const unsigned char *auth, size_t alen,
                        unsigned char *out, size_t len)
{
    if (len == 0 || len > EK_NV_SECRET_MAX || alen > sizeof(((TPM2B_AUTH *)0)->buffer))
        return ek_error(EK_ERR_INVALID, "NV token secret: bad length");
    ek_rc r = ek_tpm_lock(NULL); /* raw commands only */
    if (r != EK_OK)
        return r;
    TPM2B_AUTH a;
    to_auth(auth, alen, &a);
    r = read_locked(index, &a, out, len);
    ek_tpm_unlock();
    ek_wipe(&a, sizeof(a));
    if (r != EK_OK)
        ek_wipe(out, len);
    return r;
}

ek_rc ek_nv_secret_remove(uint32_t index)
{
    if (index < EK_NV_BASE || index >= EK_NV_BASE + EK_NV_COUNT)
        return ek_error(EK_ERR_INVALID, "NV index 0x%08x is not edgekey's", index);
    ek_rc r = ek_tpm_lock(NULL); /* raw commands only */
    if (r != EK_OK)
        return r;
    TSS2_RC rc = undefine(index);
    ek_tpm_unlock();
    if (rc_is(rc, TPM2_RC_HANDLE))
        return EK_OK; /* already gone */
    return ek_tpm_rc(rc, "removing the NV index of an old token secret (TPM2_NV_UndefineSpace)");
}
