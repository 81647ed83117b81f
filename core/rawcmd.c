/* edgekey core: raw TPM commands on the connection's TCTI.
 *
 * Everything a key's life needs (ReadPublic, Load, CreatePrimary, Sign,
 * FlushContext, EvictControl, GetCapability, our own StartAuthSession) is
 * marshalled here with tss2-mu and sent straight through the TCTI, which
 * ESYS (made only for the few commands left to it) shares: always between
 * two ESYS calls, under the connection lock. This needs no ESYS_TR, no ESYS
 * crypto, and not even libtss2-esys in the process. Commands whose only
 * authorisation is an empty password (owner hierarchy, parents) use the
 * password session; sess.c adds HMAC sessions for the rest. */
#include <string.h>

#include <tss2/tss2_mu.h>
#include <tss2/tss2_tcti.h>

#include "ek_tpm_int.h"

#define HDR 10 /* tag, size, code */

static TSS2_RC put_u32(uint8_t *b, size_t sz, size_t *off, uint32_t v)
{
    return Tss2_MU_UINT32_Marshal(v, b, sz, off);
}

static TSS2_RC build(uint8_t *b, size_t sz, size_t *len, TPM2_CC cc, const TPM2_HANDLE *h,
                     size_t nh, const TPMS_AUTH_COMMAND *auth, const uint8_t *params,
                     size_t plen)
{
    size_t off = 0;
    TSS2_RC rc = Tss2_MU_UINT16_Marshal(auth ? TPM2_ST_SESSIONS : TPM2_ST_NO_SESSIONS, b, sz,
                                        &off);
    if (!rc)
        rc = put_u32(b, sz, &off, 0); /* size, patched below */
    if (!rc)
        rc = put_u32(b, sz, &off, cc);
    for (size_t i = 0; !rc && i < nh; i++)
        rc = put_u32(b, sz, &off, h[i]);
    if (!rc && auth) {
        size_t at = off;
        rc = put_u32(b, sz, &off, 0);
        if (!rc)
            rc = Tss2_MU_TPMS_AUTH_COMMAND_Marshal(auth, b, sz, &off);
        size_t asz = off - at - 4;
        if (!rc)
            rc = put_u32(b, sz, &at, (uint32_t)asz);
    }
    if (rc)
        return rc;
    if (plen > sz - off)
        return TSS2_SYS_RC_INSUFFICIENT_CONTEXT;
    if (plen)
        memcpy(b + off, params, plen);
    off += plen;
    size_t at = 2;
    *len = off;
    return put_u32(b, sz, &at, (uint32_t)off);
}

static TSS2_RC parse(ek_raw_rsp *out, size_t len, size_t nrh)
{
    size_t off = 0;
    TPM2_ST tag = 0;
    uint32_t size = 0, code = 0, psz = 0;
    TSS2_RC rc = Tss2_MU_UINT16_Unmarshal(out->buf, len, &off, &tag);
    if (!rc)
        rc = Tss2_MU_UINT32_Unmarshal(out->buf, len, &off, &size);
    if (!rc)
        rc = Tss2_MU_UINT32_Unmarshal(out->buf, len, &off, &code);
    if (rc || size != len)
        return TSS2_SYS_RC_MALFORMED_RESPONSE;
    if (code)
        return code;
    for (size_t i = 0; i < nrh && !rc; i++)
        rc = Tss2_MU_UINT32_Unmarshal(out->buf, len, &off, &out->handle);
    if (!rc && tag == TPM2_ST_SESSIONS) {
        rc = Tss2_MU_UINT32_Unmarshal(out->buf, len, &off, &psz);
        if (!rc && psz > len - off)
            rc = TSS2_SYS_RC_MALFORMED_RESPONSE;
        if (!rc) {
            out->params = out->buf + off;
            out->plen = psz;
            off += psz;
            rc = Tss2_MU_TPMS_AUTH_RESPONSE_Unmarshal(out->buf, len, &off, &out->auth);
            out->has_auth = !rc;
        }
    } else if (!rc) {
        out->params = out->buf + off;
        out->plen = len - off;
    }
    return rc ? TSS2_SYS_RC_MALFORMED_RESPONSE : TSS2_RC_SUCCESS;
}

static TSS2_RC exec_once(TPM2_CC cc, const TPM2_HANDLE *h, size_t nh,
                         const TPMS_AUTH_COMMAND *auth, const uint8_t *params, size_t plen,
                         size_t nrh, ek_raw_rsp *out)
{
    uint8_t cmd[TPM2_MAX_COMMAND_SIZE];
    size_t clen = 0, rlen = sizeof(out->buf);
    memset(out, 0, offsetof(ek_raw_rsp, buf));
    TSS2_RC rc = build(cmd, sizeof(cmd), &clen, cc, h, nh, auth, params, plen);
    if (!rc)
        rc = Tss2_Tcti_Transmit(ek_g.tcti, clen, cmd);
    if (!rc)
        rc = Tss2_Tcti_Receive(ek_g.tcti, &rlen, out->buf, TSS2_TCTI_TIMEOUT_BLOCK);
    if (!rc)
        rc = rlen >= HDR ? parse(out, rlen, nrh) : TSS2_SYS_RC_MALFORMED_RESPONSE;
    if (rc && ek_tpm_rc_is_io(rc))
        ek_tpm_mark_broken();
    out->rc = rc;
    return rc;
}

/* The connection sends nothing at connect, so any command may be the first
 * one a simulator that was never started sees: it answers
 * TPM_RC_INITIALIZE, and we start it (TPM2_Startup(CLEAR)) and retry. */
TSS2_RC ek_raw_exec(TPM2_CC cc, const TPM2_HANDLE *h, size_t nh, const TPMS_AUTH_COMMAND *auth,
                    const uint8_t *params, size_t plen, size_t nrh, ek_raw_rsp *out)
{
    TSS2_RC rc = exec_once(cc, h, nh, auth, params, plen, nrh, out);
    if (rc == TPM2_RC_INITIALIZE && cc != TPM2_CC_Startup) {
        static const uint8_t su_clear[2] = {0, 0}; /* TPM2_SU_CLEAR */
        if (exec_once(TPM2_CC_Startup, NULL, 0, NULL, su_clear, 2, 0, out) == TSS2_RC_SUCCESS)
            rc = exec_once(cc, h, nh, auth, params, plen, nrh, out);
    }
    return rc;
}

TSS2_RC ek_raw_read_public(TPM2_HANDLE h, TPM2B_PUBLIC *pub, TPM2B_NAME *name)
{
    ek_raw_rsp r;
    TSS2_RC rc = ek_raw_exec(TPM2_CC_ReadPublic, &h, 1, NULL, NULL, 0, 0, &r);
    size_t off = 0;
    TPM2B_NAME qname = {0};
    memset(pub, 0, sizeof(*pub)); /* tss2-mu refuses to unmarshal into a non-empty TPM2B */
    memset(name, 0, sizeof(*name));
    if (!rc)
        rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(r.params, r.plen, &off, pub);
    if (!rc)
        rc = Tss2_MU_TPM2B_NAME_Unmarshal(r.params, r.plen, &off, name);
    if (!rc)
        rc = Tss2_MU_TPM2B_NAME_Unmarshal(r.params, r.plen, &off, &qname);
    return rc;
}

void ek_tpm_flush_raw(TPM2_HANDLE h)
{
    uint8_t p[4];
    size_t off = 0;
    ek_raw_rsp r;
    Tss2_MU_UINT32_Marshal(h, p, sizeof(p), &off);
    ek_raw_exec(TPM2_CC_FlushContext, NULL, 0, NULL, p, off, 0, &r);
}

TSS2_RC ek_raw_get_cap(TPM2_CAP cap, UINT32 prop, UINT32 count, TPMS_CAPABILITY_DATA *out,
                       bool *more)
{
    uint8_t p[12];
    size_t off = 0;
    ek_raw_rsp r;
    put_u32(p, sizeof(p), &off, cap);
    put_u32(p, sizeof(p), &off, prop);
    put_u32(p, sizeof(p), &off, count);
    memset(out, 0, sizeof(*out));
    TSS2_RC rc = ek_raw_exec(TPM2_CC_GetCapability, NULL, 0, NULL, p, off, 0, &r);
    off = 1; /* moreData */
    if (!rc && r.plen < 1)
        rc = TSS2_SYS_RC_MALFORMED_RESPONSE;
    if (!rc && more)
        *more = r.params[0] != 0;
    if (!rc)
        rc = Tss2_MU_TPMS_CAPABILITY_DATA_Unmarshal(r.params, r.plen, &off, out);
    return rc;
}

static const TPMS_AUTH_COMMAND empty_pw = {.sessionHandle = TPM2_RH_PW};

TSS2_RC ek_raw_load(TPM2_HANDLE parent, const TPM2B_PRIVATE *priv, const TPM2B_PUBLIC *pub,
                    TPM2_HANDLE *out)
{
    uint8_t p[sizeof(*priv) + sizeof(*pub)];
    size_t off = 0;
    ek_raw_rsp r = {.handle = 0};
    TSS2_RC rc = Tss2_MU_TPM2B_PRIVATE_Marshal(priv, p, sizeof(p), &off);
    if (!rc)
        rc = Tss2_MU_TPM2B_PUBLIC_Marshal(pub, p, sizeof(p), &off);
    if (!rc)
        rc = ek_raw_exec(TPM2_CC_Load, &parent, 1, &empty_pw, p, off, 1, &r);
    if (!rc)
        *out = r.handle;
    return rc;
}

/* The template is marshalled by tss2-mu as ESYS would: the primary (and
 * so every key file under parent 0x40000001) is the one tpm2-openssl and
 * tpm2-tools make from the same template. */
TSS2_RC ek_raw_create_primary(const TPM2B_PUBLIC *tmpl, TPM2_HANDLE *out, TPM2B_PUBLIC *pub)
{
    static const TPM2B_SENSITIVE_CREATE sens = {0};
    static const TPM2B_DATA outside = {0};
    static const TPML_PCR_SELECTION pcrs = {0};
    uint8_t p[sizeof(*tmpl) + 64];
    size_t off = 0, roff = 0;
    TPM2_HANDLE owner = TPM2_RH_OWNER;
    ek_raw_rsp r;
    r.rc = TSS2_SYS_RC_BAD_VALUE; /* not sent yet */
    r.handle = 0;
    TSS2_RC rc = Tss2_MU_TPM2B_SENSITIVE_CREATE_Marshal(&sens, p, sizeof(p), &off);
    if (!rc)
        rc = Tss2_MU_TPM2B_PUBLIC_Marshal(tmpl, p, sizeof(p), &off);
    if (!rc)
        rc = Tss2_MU_TPM2B_DATA_Marshal(&outside, p, sizeof(p), &off);
    if (!rc)
        rc = Tss2_MU_TPML_PCR_SELECTION_Marshal(&pcrs, p, sizeof(p), &off);
    if (!rc)
        rc = ek_raw_exec(TPM2_CC_CreatePrimary, &owner, 1, &empty_pw, p, off, 1, &r);
    memset(pub, 0, sizeof(*pub)); /* tss2-mu refuses to unmarshal into a non-empty TPM2B */
    if (!rc)
        rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(r.params, r.plen, &roff, pub);
    if (!rc)
        *out = r.handle;
    else if (r.rc == TSS2_RC_SUCCESS && r.handle) /* made, but the answer is unreadable */
        ek_tpm_flush_raw(r.handle);
    return rc;
}

TSS2_RC ek_raw_evict(TPM2_HANDLE obj, TPM2_HANDLE persistent)
{
    TPM2_HANDLE h[2] = {TPM2_RH_OWNER, obj};
    uint8_t p[4];
    size_t off = 0;
    ek_raw_rsp r;
    put_u32(p, sizeof(p), &off, persistent);
    return ek_raw_exec(TPM2_CC_EvictControl, h, 2, &empty_pw, p, off, 0, &r);
}
