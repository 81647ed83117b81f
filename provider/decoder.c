/* edgekey OpenSSL provider: decoders, so that the default "file:" store
 * loader, PEM_read_bio_PrivateKey_ex and `openssl ... -key file.pem` reach
 * TPM keys from key files:
 *
 *   "DER" input=pem                  -----BEGIN TSS2 PRIVATE KEY----- and
 *                                    -----BEGIN EDGEKEY URI----- to DER,
 *                                    both tagged with structure TSS2
 *   RSA|EC input=der,structure=TSS2  TSS2 key file or wrapped pkcs11: URI
 *                                    (DER) -> key, told apart by content
 *
 * Why so few: every decoder a provider registers is weighed in every key
 * decode of the process (a software key's, each certificate's public key),
 * so loading edgekey made `openssl s_client` with a *software* key execute
 * 15 % more instructions (callgrind), 4 of them in these decoders. One leaf
 * decoder per algorithm instead of two per algorithm saves a third of that.
 * The PEM-to-DER step must stay: the "file:" store loader reaches key
 * decoders only through DER, and OpenSSL's own PEM-to-DER drops PEM labels
 * it does not know.
 *
 * Anything that is not ours leaves "empty handed" (return 1, no object, no
 * error) so other decoders get their turn. Once the input is certainly ours
 * (the TSS2 loadable-key OID, or a well-formed EdgekeyURI), failures are reported.
 * Keys reach our keymgmt as object references (ekp_key_pass_reference). */
#include <string.h>

#include <openssl/bio.h>
#include <openssl/core_names.h>
#include <openssl/core_object.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/params.h>
#include <openssl/pem.h>

#include "ek_addr.h"
#include "ekp.h"

#define EKP_TSS2_LABEL "TSS2 PRIVATE KEY"
#define EKP_MAX_INPUT (64 * 1024)

typedef struct ekp_dec_ctx {
    ekp_prov *prov;
} ekp_dec_ctx;

static void *ekp_dec_newctx(void *provctx)
{
    ekp_dec_ctx *d = OPENSSL_zalloc(sizeof(*d));
    if (d != NULL)
        d->prov = provctx;
    return d;
}

static void ekp_dec_freectx(void *ctx)
{
    OPENSSL_free(ctx);
}

/* ---------- PEM -> DER ---------- */

static int ekp_pem2der_decode(void *ctx, OSSL_CORE_BIO *cin, int selection, OSSL_CALLBACK *data_cb,
                              void *data_cbarg, OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    ekp_dec_ctx *d = ctx;
    BIO *in = BIO_new_from_core_bio(d->prov->libctx, cin);
    char *name = NULL, *header = NULL;
    unsigned char *der = NULL;
    long len = 0;
    const char *structure = NULL;
    int ok = 1;

    (void)selection;
    (void)pw_cb;
    (void)pw_cbarg;
    if (in == NULL)
        return 0;
    ERR_set_mark();
    if (PEM_read_bio(in, &name, &header, &der, &len) > 0) {
        if (strcmp(name, EKP_TSS2_LABEL) == 0 || strcmp(name, EK_URI_PEM_LABEL) == 0)
            structure = EKP_STRUCT_TSS2;
    }
    ERR_pop_to_mark(); /* not PEM, or not ours: not an error */
    if (structure != NULL) {
        OSSL_PARAM params[3];
        params[0] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA, der, (size_t)len);
        params[1] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_STRUCTURE,
                                                     (char *)structure, 0);
        params[2] = OSSL_PARAM_construct_end();
        ok = data_cb(params, data_cbarg);
    }
    OPENSSL_free(name);
    OPENSSL_free(header);
    OPENSSL_clear_free(der, der != NULL ? (size_t)len : 0);
    BIO_free(in);
    return ok;
}

/* ---------- DER -> key ---------- */

/* What a DER decoder accepts, judged on the first bytes alone: OpenSSL runs
 * every DER decoder on every DER it meets (a software key's PKCS#8, inside
 * nested decodes), so anything else is turned away before it is read. */
typedef enum { EKP_DER_TSS2, EKP_DER_URI } ekp_der_kind;
#define EKP_DER_HEAD 16

/* DER of a TSS2 loadable key starts with SEQUENCE { OID 2.23.133.10.1.3 ... }. */
static int ekp_is_tss2_der(const unsigned char *der, size_t len)
{
    static const unsigned char oid[] = {0x06, 0x06, 0x67, 0x81, 0x05, 0x0a, 0x01, 0x03};
    for (size_t off = 2; off <= 4 && off + sizeof(oid) <= len; off++)
        if (memcmp(der + off, oid, sizeof(oid)) == 0)
            return 1;
    return 0;
}

/* Length of the outer SEQUENCE (header included), 0 if the head is not one. */
static size_t ekp_der_total(const unsigned char *h, size_t n, size_t *hdr)
{
    size_t len = 0, nb;
    if (n < 2 || h[0] != 0x30)
        return 0;
    if (h[1] < 0x80) {
        *hdr = 2;
        return 2 + h[1];
    }
    nb = h[1] & 0x7f;
    if (nb == 0 || nb > 3 || n < 2 + nb)
        return 0;
    for (size_t i = 0; i < nb; i++)
        len = (len << 8) | h[2 + i];
    *hdr = 2 + nb;
    return 2 + nb + len;
}

static int ekp_der_is(ekp_der_kind *kind, const unsigned char *h, size_t n, size_t *total)
{
    size_t hdr = 0;
    *total = ekp_der_total(h, n, &hdr);
    if (*total == 0 || *total > EKP_MAX_INPUT)
        return 0;
    if (ekp_is_tss2_der(h, n))
        *kind = EKP_DER_TSS2;
    else if (hdr < n && h[hdr] == 0x0c) /* EdgekeyURI starts with a UTF8String */
        *kind = EKP_DER_URI;
    else
        return 0;
    return 1;
}

/* The input if it is ours (malloc'ed, exact size; *kind says which), else NULL. */
static unsigned char *ekp_read_der(ekp_dec_ctx *d, OSSL_CORE_BIO *cin, ekp_der_kind *kind,
                                   size_t *len)
{
    BIO *in = BIO_new_from_core_bio(d->prov->libctx, cin);
    unsigned char head[EKP_DER_HEAD], *buf = NULL;
    size_t n = 0, total = 0;
    int r;

    while (in != NULL && n < sizeof(head) &&
           (r = BIO_read(in, head + n, (int)(sizeof(head) - n))) > 0)
        n += (size_t)r;
    if (!ekp_der_is(kind, head, n, &total) || total < n || (buf = OPENSSL_malloc(total)) == NULL)
        goto err;
    memcpy(buf, head, n);
    while (n < total && (r = BIO_read(in, buf + n, (int)(total - n))) > 0)
        n += (size_t)r;
    if (n != total)
        goto err;
    BIO_free(in);
    *len = n;
    return buf;
err:
    OPENSSL_free(buf);
    BIO_free(in);
    return NULL;
}

/* Hand a core key of the expected algorithm to OpenSSL as a reference.
 * A key of the other algorithm: empty handed (the other decoder takes it). */
static int ekp_dec_emit(ekp_dec_ctx *d, ek_key *tpm, ek_alg want, const char *what,
                        OSSL_CALLBACK *data_cb, void *data_cbarg, OSSL_PASSPHRASE_CALLBACK *pw_cb,
                        void *pw_cbarg)
{
    const ek_pubkey *pub = ek_key_public(tpm);
    ekp_key *k;
    int ok;

    if (pub == NULL || pub->alg != want) {
        ek_key_free(tpm);
        return 1;
    }
    if (ek_key_needs_auth(tpm) && !ekp_key_ask_auth(d->prov, tpm, what, NULL, pw_cb, pw_cbarg)) {
        ek_key_free(tpm);
        return 0;
    }
    if ((k = ekp_key_from_tpm(d->prov, tpm)) == NULL)
        return 0;
    ok = ekp_key_pass_reference(&k, data_cb, data_cbarg);
    ekp_key_free(k);
    return ok;
}

static int ekp_tss2_key(ekp_dec_ctx *d, const unsigned char *der, size_t len, ek_alg want,
                        OSSL_CALLBACK *data_cb, void *data_cbarg, OSSL_PASSPHRASE_CALLBACK *pw_cb,
                        void *pw_cbarg)
{
    ek_key *tpm = NULL;
    ek_rc rc = ek_key_from_tss2_der(der, len, &tpm);
    if (rc != EK_OK) {
        ekp_raise_core(d->prov, rc, "TSS2 PRIVATE KEY");
        return 0;
    }
    return ekp_dec_emit(d, tpm, want, "TSS2 key file", data_cb, data_cbarg, pw_cb, pw_cbarg);
}

/* Input that is not an EdgekeyURI is not ours: 0 without an error. */
static int ekp_uri_from_der(const unsigned char *der, size_t len, char *uri, size_t urisize)
{
    if (ek_addr_uri_der_decode(der, len, uri, urisize) == EK_OK)
        return 1;
    ek_clear_error();
    return 0;
}

static int ekp_uri_key(ekp_dec_ctx *d, const unsigned char *der, size_t len, ek_alg want,
                       OSSL_CALLBACK *data_cb, void *data_cbarg, OSSL_PASSPHRASE_CALLBACK *pw_cb,
                       void *pw_cbarg)
{
    char uri[2048];
    ek_key *tpm = NULL;
    ekp_key *k;
    int ok;

    if (!ekp_uri_from_der(der, len, uri, sizeof(uri)))
        return 1; /* not an EDGEKEY URI: empty handed */
    ok = ekp_store_open_key(d->prov, uri, want, pw_cb, pw_cbarg, &tpm);
    OPENSSL_cleanse(uri, sizeof(uri)); /* may carry a pin-value */
    if (!ok || tpm == NULL)
        return ok; /* error, or the other algorithm: empty handed */
    if ((k = ekp_key_from_tpm(d->prov, tpm)) == NULL)
        return 0;
    ok = ekp_key_pass_reference(&k, data_cb, data_cbarg);
    ekp_key_free(k);
    return ok;
}

/* A TSS2 key file or a wrapped URI, as DER: anything else is not ours. */
static int ekp_der_decode(ekp_dec_ctx *d, OSSL_CORE_BIO *cin, ek_alg want, OSSL_CALLBACK *data_cb,
                          void *data_cbarg, OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    size_t len = 0;
    ekp_der_kind kind = EKP_DER_TSS2;
    unsigned char *der = ekp_read_der(d, cin, &kind, &len);
    int ok;

    if (der == NULL)
        return 1; /* empty handed */
    ok = kind == EKP_DER_TSS2
             ? ekp_tss2_key(d, der, len, want, data_cb, data_cbarg, pw_cb, pw_cbarg)
             : ekp_uri_key(d, der, len, want, data_cb, data_cbarg, pw_cb, pw_cbarg);
    OPENSSL_free(der);
    return ok;
}

#define EKP_KEY_DECODER(fn, impl, alg)                                                             \
    static int fn(void *ctx, OSSL_CORE_BIO *cin, int selection, OSSL_CALLBACK *data_cb,            \
                  void *data_cbarg, OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)               \
    {                                                                                              \
        (void)selection;                                                                           \
        return impl(ctx, cin, alg, data_cb, data_cbarg, pw_cb, pw_cbarg);                          \
    }

EKP_KEY_DECODER(ekp_tss2_rsa_decode, ekp_der_decode, EK_ALG_RSA)
EKP_KEY_DECODER(ekp_tss2_ec_decode, ekp_der_decode, EK_ALG_EC)

/* A TSS2 key file holds a private key: decoders asked for public keys or
 * parameters only (each certificate's SubjectPublicKeyInfo) skip ours before
 * making a context for them. */
static int ekp_dec_does_selection(void *provctx, int selection)
{
    (void)provctx;
    return selection == 0 || (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0;
}

#define EKP_DECODER_TABLE(name, decode_fn)                                                         \
    const OSSL_DISPATCH name[] = {                                                                 \
        {OSSL_FUNC_DECODER_NEWCTX, (void (*)(void))ekp_dec_newctx},                                \
        {OSSL_FUNC_DECODER_FREECTX, (void (*)(void))ekp_dec_freectx},                              \
        {OSSL_FUNC_DECODER_DOES_SELECTION, (void (*)(void))ekp_dec_does_selection},                \
        {OSSL_FUNC_DECODER_DECODE, (void (*)(void))decode_fn},                                     \
        {0, NULL},                                                                                 \
    }

EKP_DECODER_TABLE(ekp_pem2der_decoder_functions, ekp_pem2der_decode);
EKP_DECODER_TABLE(ekp_tss2_rsa_decoder_functions, ekp_tss2_rsa_decode);
EKP_DECODER_TABLE(ekp_tss2_ec_decoder_functions, ekp_tss2_ec_decode);
