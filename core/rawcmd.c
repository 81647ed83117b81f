/* edgekey core: raw TPM commands on the connection's TCTI.
 *
 * The hot path (TPM2_Sign) and the few commands that take plain TPM handles
 * (ReadPublic of a persistent handle, FlushContext of a leftover, our own
 * StartAuthSession) are marshalled here with tss2-mu and sent straight
 * through the TCTI that ESYS also uses (always between two ESYS calls, under
 * the connection lock). This needs no ESYS_TR and no ESYS crypto. */
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
    TPM2_ST tag;
    uint32_t size, code, psz;
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

TSS2_RC ek_raw_exec(TPM2_CC cc, const TPM2_HANDLE *h, size_t nh, const TPMS_AUTH_COMMAND *auth,
                    const uint8_t *params, size_t plen, size_t nrh, ek_raw_rsp *out)
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
