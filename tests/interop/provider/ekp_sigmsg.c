/* OpenSSL >= 3.4 signature "message" operations with TPM keys (issue 12).
 *
 *   ekp-sigmsg KEYFILE...   load default, then edgekey; for each TSS2 key file
 *       and each composite algorithm of its type (RSA-SHA256/384/512,
 *       ECDSA-SHA256/384/512), fetched from edgekey (provider=edgekey):
 *         - EVP_PKEY_sign_message_init/update/final, and the one-shot
 *           EVP_PKEY_sign after sign_message_init (the input is the message);
 *         - EVP_PKEY_sign_init_ex2 + EVP_PKEY_sign on a digest of that size
 *           (a digest of another size is refused), and EVP_PKEY_verify_init_ex2
 *           with the TPM key object on that digest (a changed one fails);
 *         - every signature verified by the default provider alone on a copy
 *           of the public key, and a changed message rejected;
 *         - EVP_PKEY_verify_message_init with the TPM key object, with
 *           edgekey's algorithm and with the default provider's: the
 *           signature verifies, a changed message or signature does not;
 *         - a digest parameter other than the algorithm's is refused.
 *       And: an unqualified fetch (the default provider's algorithm, loaded
 *       first) cannot sign with a TPM key and says so at init.
 * Exit status 0 when every check holds, 1 otherwise (reason on stderr). */
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>

#include "ekp_testkey.h"

static const unsigned char msg[] = "edgekey: signature message operations, OpenSSL 3.4 and later";

typedef struct {
    const char *alg;  /* composite algorithm name */
    const char *md;   /* its digest */
    EVP_PKEY *k;      /* the TPM key object */
    EVP_PKEY *soft;   /* a default-provider copy of its public key */
    const char *file; /* for messages */
} check;

static int failed(const check *c, const char *what)
{
    fprintf(stderr, "FAIL %s %s: %s\n", c->file, c->alg, what);
    ERR_print_errors_fp(stderr);
    return 0;
}

static EVP_SIGNATURE *fetch(const char *alg, const char *propq)
{
    return EVP_SIGNATURE_fetch(NULL, alg, propq);
}

/* The default provider's verdict on a copy of the public key: 1 valid. */
static int soft_verify(const check *c, const unsigned char *sig, size_t len, const unsigned char *m,
                       size_t mlen)
{
    EVP_MD_CTX *mc = EVP_MD_CTX_new();
    int r =
        mc != NULL &&
        EVP_DigestVerifyInit_ex(mc, NULL, c->md, NULL, "provider=default", c->soft, NULL) == 1 &&
        EVP_DigestVerify(mc, sig, len, m, mlen) == 1;
    EVP_MD_CTX_free(mc);
    ERR_clear_error();
    return r;
}

/* The signature verifies and the same signature on a changed message not. */
static int soft_verify_both(const check *c, const unsigned char *sig, size_t len, const char *how)
{
    unsigned char bad[sizeof(msg)];
    char what[256];

    memcpy(bad, msg, sizeof(msg));
    bad[3] ^= 0x20;
    snprintf(what, sizeof(what), "%s: the default provider rejects the signature", how);
    if (!soft_verify(c, sig, len, msg, sizeof(msg)))
        return failed(c, what);
    snprintf(what, sizeof(what), "%s: the default provider accepts it on a changed message", how);
    if (soft_verify(c, sig, len, bad, sizeof(bad)))
        return failed(c, what);
    return 1;
}

/* sign_message_init, the message in two pieces, final (size query first). */
static int sign_streamed(const check *c, EVP_SIGNATURE *s, unsigned char *sig, size_t *len)
{
    EVP_PKEY_CTX *p = EVP_PKEY_CTX_new_from_pkey(NULL, c->k, NULL);
    size_t need = 0;
    int ok = p != NULL && EVP_PKEY_sign_message_init(p, s, NULL) == 1 &&
             EVP_PKEY_sign_message_update(p, msg, 10) == 1 &&
             EVP_PKEY_sign_message_update(p, msg + 10, sizeof(msg) - 10) == 1 &&
             EVP_PKEY_sign_message_final(p, NULL, &need) == 1 && need <= *len &&
             EVP_PKEY_sign_message_final(p, sig, len) == 1;
    EVP_PKEY_CTX_free(p);
    return ok;
}

/* sign_message_init, then EVP_PKEY_sign on the whole message. */
static int sign_oneshot(const check *c, EVP_SIGNATURE *s, unsigned char *sig, size_t *len)
{
    EVP_PKEY_CTX *p = EVP_PKEY_CTX_new_from_pkey(NULL, c->k, NULL);
    int ok = p != NULL && EVP_PKEY_sign_message_init(p, s, NULL) == 1 &&
             EVP_PKEY_sign(p, sig, len, msg, sizeof(msg)) == 1;
    EVP_PKEY_CTX_free(p);
    return ok;
}

/* sign_init_ex2: the input is a digest of the algorithm's size. */
static int sign_digest(const check *c, EVP_SIGNATURE *s, const unsigned char *dgst, size_t dlen,
                       unsigned char *sig, size_t *len)
{
    EVP_PKEY_CTX *p = EVP_PKEY_CTX_new_from_pkey(NULL, c->k, NULL);
    int ok = p != NULL && EVP_PKEY_sign_init_ex2(p, s, NULL) == 1 &&
             EVP_PKEY_sign(p, sig, len, dgst, dlen) == 1;
    EVP_PKEY_CTX_free(p);
    return ok;
}

/* set_signature + update + final, on p and on a copy of p made between the
 * updates (the copy carries the signature and the running digest): both
 * must agree, else -1. */
static int verify_streamed(EVP_PKEY_CTX *p, const unsigned char *sig, size_t len,
                           const unsigned char *m, size_t mlen)
{
    EVP_PKEY_CTX *d = NULL;
    int r = -1;
    if (EVP_PKEY_CTX_set_signature(p, sig, len) == 1 &&
        EVP_PKEY_verify_message_update(p, m, 5) == 1 && (d = EVP_PKEY_CTX_dup(p)) != NULL &&
        EVP_PKEY_verify_message_update(p, m + 5, mlen - 5) == 1 &&
        EVP_PKEY_verify_message_update(d, m + 5, mlen - 5) == 1) {
        int rd;
        r = EVP_PKEY_verify_message_final(p) == 1;
        rd = EVP_PKEY_verify_message_final(d) == 1;
        if (rd != r)
            r = -1;
    }
    EVP_PKEY_CTX_free(d);
    return r;
}

/* verify_message_init with the TPM key object: 1 valid, 0 invalid, -1 the
 * verification did not start. streamed: verify_streamed, else the one-shot
 * EVP_PKEY_verify. */
static int verify_msg(const check *c, EVP_SIGNATURE *s, const unsigned char *sig, size_t len,
                      const unsigned char *m, size_t mlen, int streamed)
{
    EVP_PKEY_CTX *p = EVP_PKEY_CTX_new_from_pkey(NULL, c->k, NULL);
    int r = -1;
    if (p != NULL && EVP_PKEY_verify_message_init(p, s, NULL) == 1)
        r = streamed ? verify_streamed(p, sig, len, m, mlen)
                     : EVP_PKEY_verify(p, sig, len, m, mlen) == 1;
    EVP_PKEY_CTX_free(p);
    ERR_clear_error();
    return r;
}

static int check_verify_msg(const check *c, EVP_SIGNATURE *s, const unsigned char *sig, size_t len,
                            const char *who)
{
    unsigned char bad[sizeof(msg)], badsig[1024];
    char what[256];

    memcpy(bad, msg, sizeof(msg));
    bad[0] ^= 1;
    memcpy(badsig, sig, len);
    badsig[len / 2] ^= 0x01;
    for (int streamed = 0; streamed < 2; streamed++) {
        const char *how = streamed ? "update/final" : "one-shot";
        snprintf(what, sizeof(what), "verify_message_init (%s, %s) rejects a good signature", who,
                 how);
        if (verify_msg(c, s, sig, len, msg, sizeof(msg), streamed) != 1)
            return failed(c, what);
        snprintf(what, sizeof(what), "verify_message_init (%s, %s) accepts a changed message", who,
                 how);
        if (verify_msg(c, s, sig, len, bad, sizeof(bad), streamed) != 0)
            return failed(c, what);
        snprintf(what, sizeof(what), "verify_message_init (%s, %s) accepts a changed signature",
                 who, how);
        if (verify_msg(c, s, badsig, len, msg, sizeof(msg), streamed) == 1)
            return failed(c, what);
    }
    return 1;
}

/* A digest other than the one the algorithm names is refused at init. */
static int check_digest_refused(const check *c, EVP_SIGNATURE *s)
{
    const char *other = strcmp(c->md, "SHA384") == 0 ? "SHA256" : "SHA384";
    OSSL_PARAM params[] = {
        OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, (char *)other, 0),
        OSSL_PARAM_END,
    };
    EVP_PKEY_CTX *p = EVP_PKEY_CTX_new_from_pkey(NULL, c->k, NULL);
    int r = p != NULL && EVP_PKEY_sign_message_init(p, s, params) == 1;
    EVP_PKEY_CTX_free(p);
    if (r)
        return failed(c, "a digest parameter other than the algorithm's was accepted");
    ERR_clear_error();
    return 1;
}

static int check_streams(const check *c, EVP_SIGNATURE *s, EVP_SIGNATURE *dflt)
{
    unsigned char sig[1024];
    size_t len = sizeof(sig);

    if (!sign_streamed(c, s, sig, &len))
        return failed(c, "EVP_PKEY_sign_message_init/update/final");
    if (!soft_verify_both(c, sig, len, "sign_message update/final") ||
        !check_verify_msg(c, s, sig, len, "edgekey") ||
        !check_verify_msg(c, dflt, sig, len, "provider=default"))
        return 0;
    len = sizeof(sig);
    if (!sign_oneshot(c, s, sig, &len))
        return failed(c, "EVP_PKEY_sign after EVP_PKEY_sign_message_init");
    return soft_verify_both(c, sig, len, "sign_message one-shot");
}

/* verify_init_ex2 with the TPM key object, on a digest: 1 valid, 0 not. */
static int verify_digest(const check *c, EVP_SIGNATURE *s, const unsigned char *sig, size_t len,
                         const unsigned char *dgst, size_t dlen)
{
    EVP_PKEY_CTX *p = EVP_PKEY_CTX_new_from_pkey(NULL, c->k, NULL);
    int r = p != NULL && EVP_PKEY_verify_init_ex2(p, s, NULL) == 1 &&
            EVP_PKEY_verify(p, sig, len, dgst, dlen) == 1;
    EVP_PKEY_CTX_free(p);
    ERR_clear_error();
    return r;
}

static int check_digest_sign(const check *c, EVP_SIGNATURE *s)
{
    unsigned char sig[1024], dgst[EVP_MAX_MD_SIZE];
    unsigned int dlen = 0;
    size_t len = sizeof(sig);

    if (EVP_Digest(msg, sizeof(msg), dgst, &dlen, EVP_get_digestbyname(c->md), NULL) != 1)
        return failed(c, "digest");
    if (!sign_digest(c, s, dgst, dlen, sig, &len))
        return failed(c, "EVP_PKEY_sign_init_ex2 + EVP_PKEY_sign on the digest");
    if (!soft_verify_both(c, sig, len, "sign_init_ex2"))
        return 0;
    if (!verify_digest(c, s, sig, len, dgst, dlen))
        return failed(c, "verify_init_ex2 with the TPM key rejects the digest's signature");
    dgst[0] ^= 1;
    if (verify_digest(c, s, sig, len, dgst, dlen))
        return failed(c, "verify_init_ex2 with the TPM key accepts a changed digest");
    dgst[0] ^= 1;
    len = sizeof(sig);
    if (sign_digest(c, s, dgst, dlen - 1, sig, &len))
        return failed(c, "sign_init_ex2 signed a digest of the wrong size");
    ERR_clear_error();
    return check_digest_refused(c, s);
}

static int check_alg(check *c)
{
    EVP_SIGNATURE *s = fetch(c->alg, "provider=edgekey");
    EVP_SIGNATURE *dflt = fetch(c->alg, "provider=default");
    int ok = 0;

    if (s == NULL || dflt == NULL) {
        failed(c, s == NULL ? "not fetched from edgekey (provider=edgekey)"
                            : "not fetched from the default provider");
        goto end;
    }
    ok = check_streams(c, s, dflt) && check_digest_sign(c, s);
    if (ok)
        printf(
            "ok: %s %s: sign_message update/final and one-shot, sign/verify_init_ex2 on a digest "
            "(default provider verifies, changed message fails); verify_message with the "
            "TPM key (edgekey's and default's algorithm); other digest refused\n",
            c->file, c->alg);
end:
    EVP_SIGNATURE_free(s);
    EVP_SIGNATURE_free(dflt);
    return ok;
}

/* With the default provider first, an unqualified fetch gets its algorithm;
 * it cannot sign with a key whose private half is in the TPM, and must say
 * so at init rather than produce anything. */
static int check_unqualified(check *c)
{
    EVP_SIGNATURE *s = fetch(c->alg, NULL);
    EVP_PKEY_CTX *p = EVP_PKEY_CTX_new_from_pkey(NULL, c->k, NULL);
    unsigned char sig[1024];
    size_t len = sizeof(sig);
    int signed_ok;

    signed_ok = s != NULL && p != NULL && EVP_PKEY_sign_message_init(p, s, NULL) == 1 &&
                EVP_PKEY_sign(p, sig, &len, msg, sizeof(msg)) == 1;
    printf("info: %s %s: unqualified fetch from %s: ", c->file, c->alg,
           s != NULL ? OSSL_PROVIDER_get0_name(EVP_SIGNATURE_get0_provider(s)) : "(none)");
    if (!signed_ok) {
        printf("sign_message refused: ");
        ERR_print_errors_fp(stdout);
    }
    EVP_PKEY_CTX_free(p);
    EVP_SIGNATURE_free(s);
    ERR_clear_error();
    if (signed_ok && !soft_verify(c, sig, len, msg, sizeof(msg)))
        return failed(c, "an unqualified fetch made a signature that does not verify");
    printf("%s\n", signed_ok ? "signed (verified by the default provider)" : "");
    return 1;
}

static int check_key(const char *file)
{
    static const char *const rsa[][2] = {
        {"RSA-SHA256", "SHA256"}, {"RSA-SHA384", "SHA384"}, {"RSA-SHA512", "SHA512"}};
    static const char *const ec[][2] = {
        {"ECDSA-SHA256", "SHA256"}, {"ECDSA-SHA384", "SHA384"}, {"ECDSA-SHA512", "SHA512"}};
    check c = {NULL, NULL, ekp_test_load_key(file), NULL, file};
    int ok = c.k != NULL && (c.soft = ekp_test_soft_copy(c.k)) != NULL;

    if (c.k != NULL && !ok) {
        fprintf(stderr, "FAIL %s: no public copy of the key\n", file);
        ERR_print_errors_fp(stderr);
    }
    for (int i = 0; c.soft != NULL && ok && i < 3; i++) {
        int rsa_key = EVP_PKEY_is_a(c.k, "RSA");
        c.alg = rsa_key ? rsa[i][0] : ec[i][0];
        c.md = rsa_key ? rsa[i][1] : ec[i][1];
        ok = check_alg(&c) && (i > 0 || check_unqualified(&c));
    }
    EVP_PKEY_free(c.soft);
    EVP_PKEY_free(c.k);
    return ok;
}

int main(int argc, char **argv)
{
    int ok = 1;

    if (argc < 2) {
        fprintf(stderr, "usage: ekp-sigmsg KEYFILE...\n");
        return 2;
    }
    if (!ekp_test_providers())
        return 1;
    for (int i = 1; i < argc; i++)
        ok = check_key(argv[i]) && ok;
    return ok ? 0 : 1;
}
