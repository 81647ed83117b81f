/* edgekey core: listing the TPM's persistent objects (ek_handles.h).
 * One TPM2_GetCapability(HANDLES) per 64 handles, one TPM2_ReadPublic per
 * handle (through SAPI, no ESYS objects to create and close). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ek_handles.h"
#include "ek_keyfile.h"
#include "ek_policy.h"
#include "ek_tpm_int.h"

static void describe(ek_persistent *p, const TPMT_PUBLIC *pub)
{
    ek_pubkey pk;
    TPMA_OBJECT a = pub->objectAttributes;
    p->sign = (a & TPMA_OBJECT_SIGN_ENCRYPT) != 0;
    p->decrypt = (a & TPMA_OBJECT_DECRYPT) != 0;
    p->restricted = (a & TPMA_OBJECT_RESTRICTED) != 0;
    if (ek_pubkey_from_tpmt(pub, &pk) == EK_OK) {
        p->alg = pk.alg;
        p->bits = pk.bits;
        p->curve = pk.curve;
        snprintf(p->type, sizeof(p->type), "%s", ek_alg_name(pk.alg, pk.bits, pk.curve));
        return;
    }
    ek_clear_error();
    snprintf(p->type, sizeof(p->type), "%s",
             pub->type == TPM2_ALG_KEYEDHASH   ? "keyedhash"
             : pub->type == TPM2_ALG_SYMCIPHER ? "symcipher"
             : pub->type == TPM2_ALG_ECC       ? "ec-other"
             : pub->type == TPM2_ALG_RSA       ? "rsa-other"
                                               : "?");
}

/* The handles, with the lock held. */
static ek_rc collect(ek_persistent **out, size_t *n)
{
    TPM2_HANDLE next = EK_HR_PERSISTENT;
    bool more = true;
    size_t cap = 0;
    TPMS_CAPABILITY_DATA cd;
    while (more) {
        ek_rc r = ek_tpm_rc(ek_tpm_get_cap(TPM2_CAP_HANDLES, next, 64, &cd, &more),
                            "listing persistent handles (TPM2_GetCapability)");
        if (r != EK_OK)
            return r;
        const TPML_HANDLE *hl = &cd.data.handles;
        for (UINT32 i = 0; i < hl->count; i++) {
            if ((hl->handle[i] & EK_HR_MASK) != EK_HR_PERSISTENT) {
                more = false;
                break;
            }
            if (*n == cap) {
                size_t nc = cap ? 2 * cap : 16;
                ek_persistent *v = realloc(*out, nc * sizeof(*v));
                if (!v) {
                    return ek_error(EK_ERR_NOMEM, "out of memory listing persistent handles");
                }
                *out = v;
                cap = nc;
            }
            ek_persistent *p = &(*out)[(*n)++];
            memset(p, 0, sizeof(*p));
            p->handle = hl->handle[i];
            next = hl->handle[i] + 1;
            TPM2B_PUBLIC pub = {0};
            p->readable = ek_tpm_read_public(p->handle, &pub) == TSS2_RC_SUCCESS;
            if (p->readable)
                describe(p, &pub.publicArea);
            else
                snprintf(p->type, sizeof(p->type), "?");
        }
        if (hl->count == 0)
            more = false;
    }
    return EK_OK;
}

ek_rc ek_tpm_persistent_list(ek_persistent **out, size_t *n)
{
    if (!out || !n)
        return ek_error(EK_ERR_INVALID, "persistent handles: no output");
    *out = NULL;
    *n = 0;
    ek_rc r = ek_tpm_lock(NULL);
    if (r != EK_OK)
        return r;
    r = collect(out, n);
    ek_tpm_unlock();
    if (r != EK_OK) {
        free(*out);
        *out = NULL;
        *n = 0;
    }
    return r;
}
