/* edgekey core: the TSS2 PRIVATE KEY codec (TPM2 key file ASN.1 shared with
 * tpm2-openssl, openssl_tpm2_engine and tpm2-tools' tpm2_encodeobject).
 *
 *   TPMKey ::= SEQUENCE {
 *     type      OBJECT IDENTIFIER,            -- 2.23.133.10.1.3 loadable key
 *     emptyAuth [0] EXPLICIT BOOLEAN OPTIONAL,
 *     policy    [1] EXPLICIT SEQUENCE OF TPMPolicy OPTIONAL,
 *     secret    [2] EXPLICIT OCTET STRING OPTIONAL,
 *     parent    INTEGER,
 *     pubkey    OCTET STRING,                 -- marshalled TPM2B_PUBLIC
 *     privkey   OCTET STRING }                -- marshalled TPM2B_PRIVATE
 *
 * Built with OpenSSL ASN1 templates. Pure: no TPM. Keys with policy or
 * secret (importable keys) are refused with EK_ERR_UNSUPPORTED.
 *
 * Public header: the faces include it. Only declarations marked EK_API are
 * exported from libedgekey-core.so (ek_export.h); the others are for core
 * and its tests.
 *
 * Of this header only ek_pubkey_sha256 (the store's CKA_ID rule) is
 * exported; the codec itself is core-internal. Ownership: encoded outputs
 * are malloc'ed, the caller frees them. Errors: EK_ERR_INVALID (malformed
 * file), EK_ERR_UNSUPPORTED, EK_ERR_NOT_FOUND, EK_ERR_NOMEM. */
#ifndef EK_KEYFILE_H
#define EK_KEYFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <tss2/tss2_tpm2_types.h>
#include "ek_export.h"
#include "ek_error.h"

#define EK_TSS2_PEM_LABEL "TSS2 PRIVATE KEY"

typedef struct ek_keyfile {
    bool empty_auth;
    uint32_t parent; /* 0x40000001 owner hierarchy, or 0x81xxxxxx */
    TPM2B_PUBLIC pub;
    TPM2B_PRIVATE priv;
} ek_keyfile;

ek_rc ek_keyfile_decode_der(const unsigned char *der, size_t len, ek_keyfile *out);
/* Accepts the PEM text (label TSS2 PRIVATE KEY); len may include a NUL. */
ek_rc ek_keyfile_decode_pem(const char *pem, size_t len, ek_keyfile *out);
/* Outputs are malloc'ed, caller frees. */
ek_rc ek_keyfile_encode_der(const ek_keyfile *kf, unsigned char **der, size_t *len);
ek_rc ek_keyfile_encode_pem(const ek_keyfile *kf, char **pem, size_t *len);

/* Find the first PEM block whose label is one of labels[0..nlabels) and
 * return its decoded bytes (malloc'ed, caller frees) and which label matched.
 * Blocks with other labels are skipped; encrypted PEM is refused.
 * EK_ERR_NOT_FOUND if no such block. Shared by the key and URI codecs. */
ek_rc ek_pem_find(const char *pem, size_t len, const char *const *labels, size_t nlabels,
                  unsigned char **der, size_t *der_len, size_t *which);
/* PEM-encode der under label; *pem malloc'ed and NUL-terminated, *len
 * excludes the NUL. */
ek_rc ek_pem_encode(const char *label, const unsigned char *der, size_t der_len, char **pem,
                    size_t *len);

/* Fill an ek_pubkey from a TPMT_PUBLIC (RSA or ECC); EK_ERR_UNSUPPORTED for others. */
struct ek_pubkey;
ek_rc ek_pubkey_from_tpmt(const TPMT_PUBLIC *pub, struct ek_pubkey *out);
/* The public key of a DER X.509 certificate (RSA, EC P-256/P-384). */
ek_rc ek_pubkey_from_cert_der(const unsigned char *der, size_t len, struct ek_pubkey *out);
/* SHA-256 over the canonical public key bytes: RSA modulus (no leading
 * zeros) || exponent (minimal big-endian), or the EC point 04||X||Y. The
 * store's default CKA_ID is its first 8 bytes. */
EK_API void ek_pubkey_sha256(const struct ek_pubkey *pub, unsigned char hash[32]);

#endif
