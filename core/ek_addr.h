/* edgekey core: key addresses, one grammar everywhere.
 *
 *   pkcs11:token=edge;object=device;type=private   RFC 7512, parsed with
 *                                                  p11-kit's URI API
 *   handle:0x81010001                              persistent TPM key
 *   /path/key.pem                                  TSS2 PRIVATE KEY (PEM or DER)
 *   /path/ref.pem                                  "EDGEKEY URI" PEM wrapping a pkcs11: URI
 *   file:/path/...                                 same as a plain path
 *
 * The URI-wrapping PEM ("-----BEGIN EDGEKEY URI-----") holds the DER of
 *   EdgekeyURI ::= SEQUENCE { desc UTF8String, uri UTF8String }
 * so programs that only take a key *file* reach the TPM key. pkcs11-provider's
 * "-----BEGIN PKCS#11 PROVIDER URI-----" (desc a VisibleString) is read too.
 * The wrapped string may also be a handle: address.
 *
 * pkcs11: details: pin-value is taken (masked in every message); pin-source
 * is refused (EK_ERR_UNSUPPORTED); unknown attributes are refused; a
 * module-name/module-path naming another module, or type=data/secret-key,
 * gives EK_ERR_NOT_FOUND so a face can decline.
 *
 * Public header: the faces include it. Only declarations marked EK_API are
 * exported from libedgekey-core.so (ek_export.h); the others are for core
 * and its tests.
 *
 * Ownership: an ek_addr is caller storage (ek_addr_clear wipes its PIN);
 * ek_key_open hands one ek_key reference (ek_key_free); the PEM of
 * ek_addr_uri_pem_encode is malloc'ed, the caller frees it. Errors:
 * EK_ERR_INVALID (malformed address), EK_ERR_NOT_FOUND, EK_ERR_UNSUPPORTED,
 * EK_ERR_IO; ek_key_open also those of ek_key.h. */
#ifndef EK_ADDR_H
#define EK_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "ek_export.h"
#include "ek_error.h"
#include "ek_key.h"

#define EK_URI_PEM_LABEL "EDGEKEY URI"

typedef enum ek_addr_kind {
    EK_ADDR_PKCS11 = 1,
    EK_ADDR_HANDLE = 2,
    EK_ADDR_TSS2_FILE = 3,
    EK_ADDR_URI_FILE = 4,
} ek_addr_kind;

typedef enum ek_obj_class {
    EK_OBJ_ANY = 0,
    EK_OBJ_PRIVATE = 1,
    EK_OBJ_PUBLIC = 2,
    EK_OBJ_CERT = 3,
} ek_obj_class;

typedef struct ek_addr {
    ek_addr_kind kind;
    uint32_t handle; /* EK_ADDR_HANDLE */
    char path[1024]; /* file forms */
    /* pkcs11: (also filled for EK_ADDR_URI_FILE from the wrapped URI) */
    char token[33]; /* "" = any */
    char serial[17];
    char model[17];
    char manufacturer[33];
    char object[256];     /* CKA_LABEL; "" = any */
    unsigned char id[64]; /* CKA_ID */
    size_t id_len;        /* 0 = any */
    ek_obj_class type;
    bool has_pin;  /* pin-value given in the URI */
    char pin[128]; /* wiped by ek_addr_clear */
} ek_addr;

/* Parse a string. For files it reads the start of the file to tell a TSS2
 * key from a URI PEM. Errors name the string's problem and the accepted
 * forms. */
EK_API ek_rc ek_addr_parse(const char *s, ek_addr *out);

/* Parse only a pkcs11: URI (no file access). */
EK_API ek_rc ek_addr_parse_pkcs11(const char *uri, ek_addr *out);

/* Format a pkcs11: URI for a stored object (percent-encoding as needed). */
EK_API ek_rc ek_addr_format_pkcs11(const char *token, const char *object, const unsigned char *id,
                                   size_t id_len, ek_obj_class type, char *buf, size_t bufsize);

/* The URI-wrapping PEM: encode (malloc'ed, caller frees) / decode. */
EK_API ek_rc ek_addr_uri_pem_encode(const char *uri, char **pem, size_t *len);
ek_rc ek_addr_uri_pem_decode(const char *pem, size_t len, char *uri, size_t urisize);
/* The same for the DER inside an EDGEKEY URI block (what a PEM->DER step
 * hands on), without a PEM round trip. */
EK_API ek_rc ek_addr_uri_der_decode(const unsigned char *der, size_t len, char *uri,
                                    size_t urisize);

/* Open the private key at an address (through the store for pkcs11: URIs).
 * EK_ERR_NOT_FOUND for a URI that matches no edgekey object, so a face can
 * decline and let others try. Uses the URI's pin-value as auth if given. */
EK_API ek_rc ek_key_open(const char *address, ek_key **out);

EK_API void ek_addr_clear(ek_addr *a); /* wipes the PIN */

/* s for a message: any pin-value shown as "pin-value=***", cut to size
 * (size > 0). Returns buf. */
EK_API const char *ek_addr_masked(const char *s, char *buf, size_t size);

#endif
