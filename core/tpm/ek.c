/* edgekey core: the endorsement key (ek_attest.h): its certificate from NV
 * and the key itself from the TCG EK Credential Profile template (2.5:
 * L-1 and L-2, the ones tpm2-tools' tpm2_createek uses, and H-3, the P-384
 * EK swtpm_setup makes). The
 * template must be bit-exact, or the TPM derives another key and the hub
 * sees a public key that does not match the certificate. */
#include <stdlib.h>
#include <string.h>

#include <openssl/x509.h>
#include <tss2/tss2_mu.h>

#include "ek_attest.h"
#include "ek_tpm_int.h"

/* PolicySecret(TPM_RH_ENDORSEMENT) with SHA-256: the EK's authPolicy in the
 * low-range templates (EK Credential Profile, B.3.3). */
static const BYTE ek_policy_sha256[32] = {
    0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xB3, 0xF8, 0x1A, 0x90, 0xCC, 0x8D, 0x46, 0xA5, 0xD7, 0x24,
    0xFD, 0x52, 0xD7, 0x6E, 0x06, 0x52, 0x0B, 0x64, 0xF2, 0xA1, 0xDA, 0x1B, 0x33, 0x14, 0x69, 0xAA};

/* PolicyA, PolicyC and PolicyB = PolicyOR(A, C) with SHA-384 (profile
 * B.4-B.6): A is PolicySecret(TPM_RH_ENDORSEMENT), C PolicyAuthorizeNV of
 * 0x01C07F02; B is the H-3 EK's authPolicy. */
const unsigned char ek_policy_a_sha384[48] = {
    0x8b, 0xbf, 0x22, 0x66, 0x53, 0x7c, 0x17, 0x1c, 0xb5, 0x6e, 0x40, 0x3c, 0x4d, 0xc1, 0xd4, 0xb6,
    0x4f, 0x43, 0x26, 0x11, 0xdc, 0x38, 0x6e, 0x6f, 0x53, 0x20, 0x50, 0xc3, 0x27, 0x8c, 0x93, 0x0e,
    0x14, 0x3e, 0x8b, 0xb1, 0x13, 0x38, 0x24, 0xcc, 0xb4, 0x31, 0x05, 0x38, 0x71, 0xc6, 0xdb, 0x53};
const unsigned char ek_policy_c_sha384[48] = {
    0xd6, 0x03, 0x2c, 0xe6, 0x1f, 0x2f, 0xb3, 0xc2, 0x40, 0xeb, 0x3c, 0xf6, 0xa3, 0x32, 0x37, 0xef,
    0x2b, 0x6a, 0x16, 0xf4, 0x29, 0x3c, 0x22, 0xb4, 0x55, 0xe2, 0x61, 0xcf, 0xfd, 0x21, 0x7a, 0xd5,
    0xb4, 0x94, 0x7c, 0x2d, 0x73, 0xe6, 0x30, 0x05, 0xee, 0xd2, 0xdc, 0x2b, 0x35, 0x93, 0xd1, 0x65};
static const BYTE ek_policy_b_sha384[48] = {
    0xb2, 0x6e, 0x7d, 0x28, 0xd1, 0x1a, 0x50, 0xbc, 0x53, 0xd8, 0x82, 0xbc, 0xf5, 0xfd, 0x3a, 0x1a,
    0x07, 0x41, 0x48, 0xbb, 0x35, 0xd3, 0xb4, 0xe4, 0xcb, 0x1c, 0x0a, 0xd9, 0xbd, 0xe4, 0x19, 0xca,
    0xcb, 0x47, 0xba, 0x09, 0x69, 0x96, 0x46, 0x15, 0x0f, 0x9f, 0xc0, 0x00, 0xf3, 0xf8, 0x0e, 0x12};

/* The NV certificate chunk we ask for: below every TPM's NV buffer max. */
#define NV_CHUNK 512

const char *ek_ek_kind_name(ek_ek_kind kind)
{
    return kind == EK_EK_RSA2048 ? "rsa2048"
           : kind == EK_EK_P256  ? "ec-p256"
           : kind == EK_EK_P384  ? "ec-p384"
                                 : "?";
}

uint32_t ek_ek_cert_index(ek_ek_kind kind)
{
    return kind == EK_EK_RSA2048 ? EK_NV_EK_CERT_RSA2048
           : kind == EK_EK_P256  ? EK_NV_EK_CERT_P256
           : kind == EK_EK_P384  ? EK_NV_EK_CERT_P384
                                 : 0;
}

void ek_ek_template(ek_ek_kind kind, TPM2B_PUBLIC *t)
{
    memset(t, 0, sizeof(*t));
    TPMT_PUBLIC *p = &t->publicArea;
    p->nameAlg = TPM2_ALG_SHA256;
    p->objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                          TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_ADMINWITHPOLICY |
                          TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
    p->authPolicy.size = sizeof(ek_policy_sha256);
    memcpy(p->authPolicy.buffer, ek_policy_sha256, sizeof(ek_policy_sha256));
    if (kind == EK_EK_RSA2048) {
        p->type = TPM2_ALG_RSA;
        p->parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
        p->parameters.rsaDetail.symmetric.keyBits.aes = 128;
        p->parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
        p->parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
        p->parameters.rsaDetail.keyBits = 2048;
        p->unique.rsa.size = 256;    /* 256 zero bytes, as the profile says */
    } else if (kind == EK_EK_P384) { /* H-3: SHA-384, userWithAuth, empty unique */
        p->type = TPM2_ALG_ECC;
        p->nameAlg = TPM2_ALG_SHA384;
        p->objectAttributes |= TPMA_OBJECT_USERWITHAUTH;
        p->authPolicy.size = sizeof(ek_policy_b_sha384);
        memcpy(p->authPolicy.buffer, ek_policy_b_sha384, sizeof(ek_policy_b_sha384));
        p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
        p->parameters.eccDetail.symmetric.keyBits.aes = 256;
        p->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
        p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
        p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P384;
        p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    } else {
        p->type = TPM2_ALG_ECC;
        p->parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
        p->parameters.eccDetail.symmetric.keyBits.aes = 128;
        p->parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
        p->parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
        p->parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
        p->parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
        p->unique.ecc.x.size = 32;
        p->unique.ecc.y.size = 32;
    }
}

ek_rc ek_ek_primary(ek_ek_kind kind, ESYS_TR *ek, TPM2B_PUBLIC **pub)
{
    TPM2B_PUBLIC tmpl;
    TPM2B_SENSITIVE_CREATE sens = {0};
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION pcrs = {0};
    if (!ek_ek_cert_index(kind))
        return ek_error(EK_ERR_INVALID, "EK: unknown kind %d", (int)kind);
    ek_ek_template(kind, &tmpl);
    ek_slots_reserve(1);
    TSS2_RC rc =
        Esys_CreatePrimary(ek_tpm_ctx(), ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                           ESYS_TR_NONE, &sens, &tmpl, &outside, &pcrs, ek, pub, NULL, NULL, NULL);
    if (rc) {
        *ek = ESYS_TR_NONE;
        ek_rc r = ek_tpm_rc(rc, "creating the endorsement key (TPM2_CreatePrimary, endorsement "
                                "hierarchy)");
        if (r == EK_ERR_AUTH)
            r = ek_error(r,
                         "%s; the endorsement hierarchy has an auth value: attestation "
                         "needs it empty (tpm2_changeauth -c e)",
                         ek_last_error());
        return r;
    }
    ek_slots_pin(*ek, true);
    return EK_OK;
}

void ek_ek_flush(ESYS_TR *ek)
{
    if (*ek == ESYS_TR_NONE)
        return;
    ek_slots_unpin(*ek);
    ek_tpm_flush(ek);
}

ek_rc ek_marshal_public(const TPM2B_PUBLIC *pub, unsigned char **out, size_t *len)
{
    size_t off = 0;
    unsigned char *b = malloc(sizeof(*pub));
    if (!b)
        return ek_error(EK_ERR_NOMEM, "out of memory for a public area");
    if (Tss2_MU_TPM2B_PUBLIC_Marshal(pub, b, sizeof(*pub), &off)) {
        free(b);
        return ek_error(EK_ERR_INVALID, "public area: cannot marshal it");
    }
    *out = b;
    *len = off;
    return EK_OK;
}

ek_rc ek_ek_public(ek_ek_kind kind, unsigned char **pub, size_t *len)
{
    ESYS_TR ek = ESYS_TR_NONE;
    TPM2B_PUBLIC *p = NULL;
    if (!pub || !len)
        return ek_error(EK_ERR_INVALID, "EK public: no output");
    ek_rc r = ek_tpm_lock(NULL);
    if (r != EK_OK)
        return r;
    r = ek_ek_primary(kind, &ek, &p);
    ek_ek_flush(&ek);
    ek_tpm_unlock();
    if (r == EK_OK)
        r = ek_marshal_public(p, pub, len);
    Esys_Free(p);
    return r;
}

/* The index's readable size, and who authorises a read: the index itself
 * (TPMA_NV_AUTHREAD) or else the owner. Lock held. */
static ek_rc nv_open(uint32_t index, ESYS_TR *tr, ESYS_TR *auth, UINT16 *size)
{
    TPM2B_NV_PUBLIC *np = NULL;
    TSS2_RC rc =
        Esys_TR_FromTPMPublic(ek_tpm_ctx(), index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, tr);
    if (rc) {
        *tr = ESYS_TR_NONE;
        (void)ek_tpm_rc(rc, "reading the EK certificate index");
        return ek_error(EK_ERR_NOT_FOUND, "no EK certificate at NV index 0x%08x", index);
    }
    rc = Esys_NV_ReadPublic(ek_tpm_ctx(), *tr, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &np, NULL);
    if (rc)
        return ek_tpm_rc(rc, "reading the EK certificate index (TPM2_NV_ReadPublic)");
    *size = np->nvPublic.dataSize;
    *auth = (np->nvPublic.attributes & TPMA_NV_AUTHREAD) ? *tr : ESYS_TR_RH_OWNER;
    Esys_Free(np);
    return EK_OK;
}

static ek_rc nv_read_all(uint32_t index, unsigned char *buf, UINT16 size, ESYS_TR tr, ESYS_TR auth)
{
    for (UINT16 off = 0; off < size;) {
        UINT16 n = size - off > NV_CHUNK ? NV_CHUNK : (UINT16)(size - off);
        TPM2B_MAX_NV_BUFFER *d = NULL;
        TSS2_RC rc = Esys_NV_Read(ek_tpm_ctx(), auth, tr, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                                  ESYS_TR_NONE, n, off, &d);
        if (rc) {
            char what[80];
            snprintf(what, sizeof(what), "reading the EK certificate (TPM2_NV_Read 0x%08x)", index);
            return ek_tpm_rc(rc, what);
        }
        memcpy(buf + off, d->buffer, d->size < n ? d->size : n);
        off += n;
        Esys_Free(d);
    }
    return EK_OK;
}

/* Some TPMs pad the index: keep what the certificate's DER says it is. */
static ek_rc trim_der(uint32_t index, unsigned char *der, size_t *len)
{
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)*len);
    if (!x)
        return ek_error(EK_ERR_INVALID,
                        "NV index 0x%08x holds no DER X.509 certificate; "
                        "the TPM's EK certificate is missing or damaged",
                        index);
    X509_free(x);
    *len = (size_t)(p - der);
    return EK_OK;
}

ek_rc ek_ek_cert(ek_ek_kind kind, unsigned char **der, size_t *len)
{
    uint32_t index = ek_ek_cert_index(kind);
    ESYS_TR tr = ESYS_TR_NONE, auth = ESYS_TR_NONE;
    UINT16 size = 0;
    unsigned char *buf = NULL;
    if (!index || !der || !len)
        return ek_error(EK_ERR_INVALID, "EK certificate: unknown kind or no output");
    ek_rc r = ek_tpm_lock(NULL);
    if (r != EK_OK)
        return r;
    r = nv_open(index, &tr, &auth, &size);
    if (r == EK_OK && !(buf = malloc(size ? size : 1)))
        r = ek_error(EK_ERR_NOMEM, "out of memory for the EK certificate");
    if (r == EK_OK)
        r = nv_read_all(index, buf, size, tr, auth);
    if (tr != ESYS_TR_NONE)
        Esys_TR_Close(ek_tpm_ctx(), &tr);
    ek_tpm_unlock();
    *len = size;
    if (r == EK_OK)
        r = trim_der(index, buf, len);
    if (r != EK_OK) {
        free(buf);
        return r;
    }
    *der = buf;
    return EK_OK;
}

ek_rc ek_ek_find(ek_ek_kind *kind, unsigned char **der, size_t *len)
{
    static const ek_ek_kind order[] = {EK_EK_RSA2048, EK_EK_P256, EK_EK_P384};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        ek_rc r = ek_ek_cert(order[i], der, len);
        if (r != EK_ERR_NOT_FOUND) {
            if (r == EK_OK)
                *kind = order[i];
            return r;
        }
    }
    return ek_error(EK_ERR_NOT_FOUND,
                    "this TPM has no EK certificate (NV 0x%08x, 0x%08x, 0x%08x); "
                    "attestation needs one from the TPM maker",
                    EK_NV_EK_CERT_RSA2048, EK_NV_EK_CERT_P256, EK_NV_EK_CERT_P384);
}
