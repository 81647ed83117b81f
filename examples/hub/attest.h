/* edgekey hub: key attestation at enrollment, the hub's side
 * (docs/attestation.md). TPM structures are decoded with tss2-mu, all
 * crypto is OpenSSL's (EVP, X509_verify_cert, KBKDF); nothing here talks
 * to a TPM.
 *
 * Functions return HUB_ATT_OK (0) or one of the hub_att_rc codes, with
 * hub_err() naming the object, the rule and the fix (hub_util.h). Outputs
 * through pointers are the caller's: EVP_PKEY ** with EVP_PKEY_free(). */
#ifndef HUB_ATTEST_H
#define HUB_ATTEST_H

#include <stddef.h>
#include <stdint.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include <tss2/tss2_tpm2_types.h>

enum hub_att_rc {
    HUB_ATT_OK = 0,
    HUB_ATT_MALFORMED,    /* a field is not the TPM structure it should be */
    HUB_ATT_EK_UNTRUSTED, /* EK certificate does not chain to ek_roots, or no EK EKU */
    HUB_ATT_EK_MISMATCH,  /* EK public area is not the certificate's key, or not an EK */
    HUB_ATT_AK_ATTRS,     /* AK is not a restricted signing key fixed to the TPM */
    HUB_ATT_SECRET,       /* activation secret wrong, used or expired */
    HUB_ATT_SIGNATURE,    /* Certify not signed by the AK */
    HUB_ATT_QUOTE,        /* TPMS_ATTEST: magic, type or nonce wrong (replay) */
    HUB_ATT_KEY_SWAP,     /* Certify is over another key than the one presented / in the CSR */
    HUB_ATT_KEY_ATTRS,    /* device key not fixedTPM|fixedParent|sensitiveDataOrigin|sign */
    HUB_ATT_UNSUPPORTED,  /* an algorithm this hub does not implement */
    HUB_ATT_INTERNAL,
};

/* The stable name of a code for API answers and tests ("attest_ek_untrusted"). */
const char *hub_att_rc_name(int rc);

/* ---- attest_tpm.c: TPM structures ---- */
/* Unmarshal exactly len bytes, or HUB_ATT_MALFORMED naming `what`. */
int hub_att_public(const unsigned char *b, size_t len, const char *what, TPM2B_PUBLIC *out);
int hub_att_attest(const unsigned char *b, size_t len, TPM2B_ATTEST *out);
int hub_att_signature(const unsigned char *b, size_t len, TPMT_SIGNATURE *out);
/* Name = nameAlg || H(marshalled TPMT_PUBLIC) (SHA-256 or SHA-384). */
int hub_tpm_name(const TPMT_PUBLIC *p, TPM2B_NAME *name);
/* The public key as an OpenSSL key (RSA, EC P-256/P-384). */
int hub_tpm_pkey(const TPMT_PUBLIC *p, EVP_PKEY **out);
/* SHA-256 of the EK's SubjectPublicKeyInfo DER as 64 hex digits: what the
 * registry keeps to bind a device to its EK. */
int hub_ek_hash(EVP_PKEY *ek, char out[65]);

/* ---- attest_cred.c: TPM2_MakeCredential in software ---- */
/* Wrap secret (at most the EK's nameAlg digest size) for the EK so that
 * only TPM2_ActivateCredential on that EK's TPM, with the key named
 * ak_name loaded, gives it back (TPM 2.0 Part 1, 24: a fresh seed, by
 * RSA-OAEP label "IDENTITY" for an RSA EK, by ECDH + SSKDF (KDFe) for an
 * ECC P-256/P-384 EK; KDFa = KBKDF counter mode HMAC, AES-CFB, outer HMAC).
 * HUB_ATT_UNSUPPORTED for other EKs. */
int hub_make_credential(const TPMT_PUBLIC *ek, const TPM2B_NAME *ak_name,
                        const unsigned char *secret, size_t secret_len, TPM2B_ID_OBJECT *cred,
                        TPM2B_ENCRYPTED_SECRET *esec);

/* ---- attest_check.c: the checks ---- */
/* EK certificate chains to roots (X509_verify_cert, no purpose), carries
 * the EK EKU 2.23.133.8.1; the EK public area is an EK (restricted decrypt,
 * fixedTPM) and its key is the certificate's. */
int hub_att_check_ek(X509_STORE *roots, X509 *cert, const TPMT_PUBLIC *ek);
/* restricted|sign|fixedTPM|fixedParent|sensitiveDataOrigin|userWithAuth,
 * not decrypt; ECDSA or RSASSA scheme. */
int hub_att_check_ak(const TPMT_PUBLIC *ak);
/* The AK's signature over the TPMS_ATTEST; magic, type CERTIFY, extraData ==
 * nonce, attested name == Name(key); key attributes; key == csr_key. */
int hub_att_check_certify(const TPMT_PUBLIC *ak, const TPM2B_ATTEST *att, const TPMT_SIGNATURE *sig,
                          const unsigned char *nonce, size_t nonce_len, const TPMT_PUBLIC *key,
                          EVP_PKEY *csr_key);

#endif
