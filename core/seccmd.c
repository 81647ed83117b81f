/* edgekey core: the TPM commands that carry secrets - TPM2_Create with an
 * auth value or sealed data, TPM2_Unseal - through our own salted session
 * (sess.c) with parameter encryption, instead of an ESYS salted session
 * (TPM2_Create of a key without an auth value goes the same raw way, with
 * the password session).
 *
 * Why not ESYS: tpm2-tss 3.2.1 makes the ephemeral ECDH key of its salted
 * sessions with EVP_PKEY_CTX_new_id(EVP_PKEY_EC), which OpenSSL 3.0 hands
 * to the application's default ENGINE if it has one (libp11's, made default
 * by `openssl -engine pkcs11` or mosquitto's tls_engine): key creation with
 * an auth value and PIN-token login then failed in such a process. Our
 * session computes its salt without EVP_PKEY (swpkey.c). Lock held. */
#include <string.h>

#include <openssl/crypto.h>

#include "ek_srk.h"
#include "ek_tpm_int.h"

/* Nothing secret in sens (no auth value, no data): the password session,
 * which starts no session and computes nothing. */
ek_rc ek_sess_create(const TPM2B_SENSITIVE_CREATE *sens, const TPM2B_PUBLIC *tmpl,
                     TPM2B_PRIVATE *priv, TPM2B_PUBLIC *pub, const char *what, TSS2_RC *tpm_rc)
{
    TPM2B_NAME name;
    TPM2B_DATA outside = {0};
    TPML_PCR_SELECTION pcrs = {0};
    uint8_t par[sizeof(*sens) + sizeof(*tmpl) + 64];
    size_t off = 0, roff = 0;
    ek_raw_rsp rsp;
    unsigned flags =
        sens->sensitive.userAuth.size || sens->sensitive.data.size ? EK_SESS_DECRYPT : 0;
    ek_rc r = ek_srk_public();
    if (r != EK_OK)
        return r;
    if (!ek_sw_public_name(&ek_g.srk_pub, &name))
        return ek_error(EK_ERR_TPM, "%s: cannot compute the SRK's name", what);
    TSS2_RC rc = Tss2_MU_TPM2B_SENSITIVE_CREATE_Marshal(sens, par, sizeof(par), &off);
    if (!rc)
        rc = Tss2_MU_TPM2B_PUBLIC_Marshal(tmpl, par, sizeof(par), &off);
    if (!rc)
        rc = Tss2_MU_TPM2B_DATA_Marshal(&outside, par, sizeof(par), &off);
    if (!rc)
        rc = Tss2_MU_TPML_PCR_SELECTION_Marshal(&pcrs, par, sizeof(par), &off);
    if (rc) {
        OPENSSL_cleanse(par, sizeof(par));
        return ek_error(EK_ERR_INVALID, "%s: cannot marshal the request", what);
    }
    r = ek_sess_run_enc(TPM2_CC_Create, ek_g.srk_tpm, &name, NULL, flags, par, off, &rsp, what,
                        tpm_rc);
    OPENSSL_cleanse(par, sizeof(par));
    if (r != EK_OK)
        return r;
    memset(priv, 0, sizeof(*priv)); /* tss2-mu refuses to unmarshal into a non-empty TPM2B */
    memset(pub, 0, sizeof(*pub));
    rc = Tss2_MU_TPM2B_PRIVATE_Unmarshal(rsp.params, rsp.plen, &roff, priv);
    if (!rc)
        rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(rsp.params, rsp.plen, &roff, pub);
    return rc ? ek_error(EK_ERR_TPM, "%s: malformed response", what) : EK_OK;
}

ek_rc ek_sess_unseal(TPM2_HANDLE h, const TPMT_PUBLIC *pub, const TPM2B_AUTH *auth,
                     TPM2B_SENSITIVE_DATA *out, const char *what, TSS2_RC *tpm_rc)
{
    TPM2B_NAME name;
    ek_raw_rsp rsp;
    size_t roff = 0;
    if (!ek_sw_public_name(pub, &name))
        return ek_error(EK_ERR_TPM, "%s: cannot compute the object's name", what);
    ek_rc r = ek_sess_run_enc(TPM2_CC_Unseal, h, &name, auth, EK_SESS_ENCRYPT, NULL, 0, &rsp, what,
                              tpm_rc);
    if (r != EK_OK)
        return r;
    memset(out, 0, sizeof(*out));
    TSS2_RC rc = Tss2_MU_TPM2B_SENSITIVE_DATA_Unmarshal(rsp.params, rsp.plen, &roff, out);
    OPENSSL_cleanse(rsp.buf, sizeof(rsp.buf));
    return rc ? ek_error(EK_ERR_TPM, "%s: malformed response", what) : EK_OK;
}
