/* edgekey core: the device side of key attestation (docs/attestation.md).
 *
 * The endorsement key (EK) is the TPM maker's identity of the chip: its
 * certificate sits in an NV index, the key itself is re-created on demand
 * from the TCG EK Credential Profile template (the same template always
 * gives the same key). The attestation key (AK) is a restricted signing key
 * made here for one enrollment: the hub proves with ActivateCredential that
 * it lives in the same TPM as the EK, then trusts what it certifies
 * (TPM2_Certify of the device key).
 *
 * Byte buffers in and out are marshalled TPM structures (tss2-mu):
 * TPM2B_PUBLIC, TPM2B_ID_OBJECT, TPM2B_ENCRYPTED_SECRET, TPM2B_ATTEST,
 * TPMT_SIGNATURE. A DER certificate is plain DER.
 *
 * Ownership: every unsigned char ** output is malloc'ed and owned by the
 * caller (free(); wipe a recovered secret first). The AK is an ek_key
 * (ek_key_free()); it is a blob under the SRK like any other key, so it
 * survives the round trip to the hub (ek_key_to_tss2_der) without holding a
 * TPM slot. The EK is flushed before each call returns: swtpm has 3 slots.
 *
 * Errors: ek_rc with the message set (ek_error.h): EK_ERR_NOT_FOUND (no EK
 * certificate of that kind), EK_ERR_INVALID (malformed input), EK_ERR_AUTH
 * (the endorsement hierarchy has an auth value we do not know),
 * EK_ERR_TPM (the TPM refused: for ActivateCredential, a credential not
 * made for this EK and AK), EK_ERR_CONNECT, EK_ERR_NOMEM.
 *
 * Public header: the faces include it. Only declarations marked EK_API are
 * exported from libedgekey-core.so (ek_export.h). */
#ifndef EK_ATTEST_H
#define EK_ATTEST_H

#include <stddef.h>
#include <stdint.h>
#include "ek_error.h"
#include "ek_export.h"
#include "ek_key.h"

/* The EK kinds with a TCG-defined certificate index. */
typedef enum ek_ek_kind {
    EK_EK_RSA2048 = 1, /* NV 0x01C00002, template L-1 */
    EK_EK_P256 = 2,    /* NV 0x01C0000A, template L-2 */
    EK_EK_P384 = 3,    /* NV 0x01C00016, template H-3 (SHA-384, PolicyB) */
} ek_ek_kind;

#define EK_NV_EK_CERT_RSA2048 0x01C00002u
#define EK_NV_EK_CERT_P256 0x01C0000Au
#define EK_NV_EK_CERT_P384 0x01C00016u

EK_API const char *ek_ek_kind_name(ek_ek_kind kind); /* "rsa2048", "ec-p256" */
EK_API uint32_t ek_ek_cert_index(ek_ek_kind kind);

/* The EK certificate of that kind from its NV index (DER, trailing padding
 * cut). EK_ERR_NOT_FOUND if the index is not defined. */
EK_API ek_rc ek_ek_cert(ek_ek_kind kind, unsigned char **der, size_t *len);

/* The first EK kind that has a certificate (RSA-2048, P-256, then P-384)
 * with its certificate; EK_ERR_NOT_FOUND if the TPM has none. */
EK_API ek_rc ek_ek_find(ek_ek_kind *kind, unsigned char **der, size_t *len);

/* The EK's public area (TPM2B_PUBLIC): TPM2_CreatePrimary in the
 * endorsement hierarchy with the standard template, then flushed. */
EK_API ek_rc ek_ek_public(ek_ek_kind kind, unsigned char **pub, size_t *len);

/* A new AK under the SRK: ECC P-256, restricted|sign|fixedTPM|fixedParent|
 * sensitiveDataOrigin|userWithAuth|noDA, ECDSA-SHA256, empty auth. */
EK_API ek_rc ek_ak_create(ek_key **ak);

/* A key's public area as a marshalled TPM2B_PUBLIC (AK or device key). */
EK_API ek_rc ek_key_tpm_public(const ek_key *key, unsigned char **pub, size_t *len);

/* The public key in a marshalled TPM2B_PUBLIC (what ek_ek_public and
 * ek_key_tpm_public return), for comparing it with a certificate's. */
EK_API ek_rc ek_public_parse(const unsigned char *pub, size_t len, ek_pubkey *out);

/* TPM2_ActivateCredential(AK, EK) with the endorsement PolicySecret
 * session: the secret the hub wrapped for this EK and the AK's name.
 * cred is a TPM2B_ID_OBJECT, esec a TPM2B_ENCRYPTED_SECRET. */
EK_API ek_rc ek_ak_activate(ek_key *ak, ek_ek_kind kind, const unsigned char *cred, size_t cred_len,
                            const unsigned char *esec, size_t esec_len, unsigned char **secret,
                            size_t *secret_len);

/* TPM2_Certify(key, signed by ak, qualifyingData = nonce): the TPM2B_ATTEST
 * and the AK's TPMT_SIGNATURE over it. nonce at most 64 bytes. */
EK_API ek_rc ek_ak_certify(ek_key *ak, ek_key *key, const unsigned char *nonce, size_t nonce_len,
                           unsigned char **attest, size_t *attest_len, unsigned char **sig,
                           size_t *sig_len);

#endif
