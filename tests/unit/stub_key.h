/* Unit-test stand-in for the TPM side of ek_key.h (core/key.c and friends).
 *
 * The core-data code (store, addresses) calls ek_key_from_tss2_pem,
 * ek_key_from_handle, ek_key_to_tss2_pem, ek_key_public, ek_key_set_auth,
 * ek_key_evict_handle and ek_token_key_auth_pin. Here these work on key
 * files alone (ek_keyfile + ek_pubkey_from_tpmt) and on a table of fake
 * persistent handles, so unit and fuzz tests run without a TPM. */
#ifndef STUB_KEY_H
#define STUB_KEY_H

#include <openssl/evp.h>
#include "ek_key.h"
#include "ek_keyfile.h"

/* A blob key with a random RSA modulus (or, with evp, that key's public
 * part), as if loaded from a TSS2 file. */
ek_key *stub_key_rsa(unsigned bits);
ek_key *stub_key_from_evp(EVP_PKEY *pkey);
ek_key *stub_key_ec_p256(void);
/* A key that exists only as a persistent handle (no blob). */
ek_key *stub_key_handle_only(ek_key *from, uint32_t handle);

/* Mark a blob key as also persistent at handle (as ek_key_persist does). */
void stub_key_set_handle(ek_key *key, uint32_t handle);

/* Fake persistent handles for ek_key_from_handle / ek_key_evict_handle. */
void stub_persist(uint32_t handle, ek_key *key); /* takes a reference; NULL clears */
bool stub_was_evicted(uint32_t handle);
void stub_reset(void);

/* The auth value last set on the key (ek_key_set_auth). */
const unsigned char *stub_key_auth(const ek_key *key, size_t *len);
/* Tokens whose label starts with "pin" act as PIN tokens: the derived key
 * auth is "derived:" || pin. */
#define STUB_PIN_TOKEN_PREFIX "pin"

#endif
