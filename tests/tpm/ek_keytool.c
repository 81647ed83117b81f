/* ek-keytool: a tiny signer on edgekey's core for the tpm2-openssl interop
 * script (does not depend on the provider).
 *
 *   ek-keytool gen ALG OUT.pem            ALG: rsa2048, rsa3072, ec-p256, ec-p384
 *   ek-keytool sign KEY.pem SCHEME MD IN SIG   SCHEME: pkcs1, pss, ecdsa (DER)
 *   ek-keytool pub KEY.pem OUT.pem        SubjectPublicKeyInfo PEM
 * EK_KEY_AUTH, if set, is the key's auth value (gen and sign). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "ek_key.h"
#include "ek_policy.h"
#include "ek_tpm.h"

static int die(const char *what)
{
    fprintf(stderr, "ek-keytool: %s: %s\n", what, ek_last_error());
    ek_tpm_disconnect();
    return 1;
}

static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    unsigned char *buf = malloc(1 << 20);
    *len = buf ? fread(buf, 1, (1 << 20) - 1, f) : 0;
    fclose(f);
    if (buf)
        buf[*len] = 0;
    return buf;
}

static int spit(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    int ok = f && fwrite(p, 1, n, f) == n;
    if (f)
        fclose(f);
    return ok ? 0 : 1;
}

static ek_key *load(const char *path)
{
    size_t len;
    char *pem = (char *)slurp(path, &len);
    ek_key *k = NULL;
    if (!pem || ek_key_from_tss2_pem(pem, len, &k) != EK_OK) {
        free(pem);
        return NULL;
    }
    free(pem);
    const char *auth = getenv("EK_KEY_AUTH");
    if (auth)
        ek_key_set_auth(k, (const unsigned char *)auth, strlen(auth));
    return k;
}

static int cmd_gen(const char *alg, const char *out)
{
    ek_keygen_spec spec = {0};
    ek_key *k = NULL;
    char *pem = NULL;
    size_t len;
    const char *auth = getenv("EK_KEY_AUTH");
    if (ek_policy_parse_alg(alg, &spec) != EK_OK)
        return die(alg);
    spec.auth = (const unsigned char *)auth;
    spec.auth_len = auth ? strlen(auth) : 0;
    if (ek_key_generate(&spec, &k) != EK_OK || ek_key_to_tss2_pem(k, &pem, &len) != EK_OK)
        return die("generate");
    int rc = spit(out, pem, len);
    free(pem);
    ek_key_free(k);
    return rc;
}

static int cmd_sign(const char *key, const char *scheme, const char *mdname, const char *in,
                    const char *out)
{
    ek_key *k = load(key);
    ek_md md = ek_md_from_name(mdname);
    ek_sig_scheme s = strcmp(scheme, "pkcs1") == 0 ? EK_SIG_RSA_PKCS1
                      : strcmp(scheme, "pss") == 0 ? EK_SIG_RSA_PSS
                                                   : EK_SIG_ECDSA;
    size_t len, siglen = 1024;
    unsigned char *data = slurp(in, &len), dg[64], sig[1024];
    unsigned int dl = 0;
    if (!k || !data || md == EK_MD_NONE)
        return die("load key / input / digest name");
    EVP_Digest(data, len, dg, &dl, EVP_get_digestbyname(ek_md_name(md)), NULL);
    free(data);
    if (ek_key_sign(k, s, md, dg, dl, EK_ECDSA_DER, sig, &siglen) != EK_OK)
        return die("sign");
    ek_key_free(k);
    return spit(out, sig, siglen);
}

static int cmd_pub(const char *key, const char *out)
{
    ek_key *k = load(key);
    if (!k)
        return die("load key");
    const ek_pubkey *p = ek_key_public(k);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    BIGNUM *n = BN_bin2bn(p->n, (int)p->n_len, NULL), *e = BN_new();
    BN_set_word(e, p->e);
    if (p->alg == EK_ALG_RSA) {
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n);
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e);
    } else {
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
                                        p->curve == EK_CURVE_P384 ? "P-384" : "P-256", 0);
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, p->point, p->point_len);
    }
    OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(NULL, p->alg == EK_ALG_RSA ? "RSA" : "EC", NULL);
    EVP_PKEY *pk = NULL;
    if (c && EVP_PKEY_fromdata_init(c) > 0)
        EVP_PKEY_fromdata(c, &pk, EVP_PKEY_PUBLIC_KEY, params);
    FILE *f = fopen(out, "w");
    int ok = pk && f && PEM_write_PUBKEY(f, pk);
    if (f)
        fclose(f);
    EVP_PKEY_free(pk);
    EVP_PKEY_CTX_free(c);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(n);
    BN_free(e);
    ek_key_free(k);
    return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
    int rc = 2;
    if (argc == 4 && strcmp(argv[1], "gen") == 0)
        rc = cmd_gen(argv[2], argv[3]);
    else if (argc == 7 && strcmp(argv[1], "sign") == 0)
        rc = cmd_sign(argv[2], argv[3], argv[4], argv[5], argv[6]);
    else if (argc == 4 && strcmp(argv[1], "pub") == 0)
        rc = cmd_pub(argv[2], argv[3]);
    else
        fprintf(stderr,
                "usage: ek-keytool gen ALG OUT | sign KEY SCHEME MD IN SIG | pub KEY OUT\n");
    ek_tpm_disconnect(); /* leave nothing loaded for the next program */
    return rc;
}
