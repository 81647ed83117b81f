/* The spy ENGINE of spy_engine.h. */
#define OPENSSL_SUPPRESS_DEPRECATED /* ENGINE: what such applications use */
#include "spy_engine.h"

#include <stdbool.h>

#include <openssl/evp.h>
#include <openssl/rsa.h>

int ek_spy_pkey_asked;
int ek_spy_rsa_ops;

static bool removing; /* ENGINE_unregister_pkey_meths asks for each nid too */
static EVP_PKEY_METHOD *pkey_meths[2];
static const int pkey_nids[] = {EVP_PKEY_RSA, EVP_PKEY_EC};
static RSA_METHOD *rsa_meth;

static ENGINE *spy_new(void)
{
    ENGINE *e = ENGINE_new();
    if (!e || !ENGINE_set_id(e, "ek-spy") || !ENGINE_set_name(e, "edgekey test spy") ||
        !ENGINE_add(e)) {
        ENGINE_free(e);
        return NULL;
    }
    return e;
}

/* Installed, or removed again and NULL. */
static ENGINE *spy_done(ENGINE *e, int ok)
{
    if (e && !ok) {
        ek_spy_remove(e);
        return NULL;
    }
    return e;
}

/* ---- pkey: counts and refuses ---- */

static int refuse(EVP_PKEY_CTX *c, EVP_PKEY *pk)
{
    (void)c;
    (void)pk;
    return 0;
}

static int pkey_meths_cb(ENGINE *e, EVP_PKEY_METHOD **m, const int **nids, int nid)
{
    (void)e;
    if (!m) {
        *nids = pkey_nids;
        return 2;
    }
    for (int i = 0; i < 2; i++)
        if (nid == pkey_nids[i]) {
            ek_spy_pkey_asked += !removing;
            *m = pkey_meths[i];
            return 1;
        }
    *m = NULL;
    return 0;
}

ENGINE *ek_spy_pkey_install(void)
{
    /* Fresh each time: the ENGINE frees them with itself (they are dynamic). */
    for (int i = 0; i < 2; i++) {
        if (!(pkey_meths[i] = EVP_PKEY_meth_new(pkey_nids[i], 0)))
            return NULL;
        EVP_PKEY_meth_set_keygen(pkey_meths[i], NULL, refuse);
    }
    ENGINE *e = spy_new();
    return spy_done(e, e && ENGINE_set_pkey_meths(e, pkey_meths_cb) &&
                           ENGINE_set_default_pkey_meths(e));
}

/* ---- rsa: counts and delegates ---- */

static int pub_enc(int fl, const unsigned char *f, unsigned char *t, RSA *r, int p)
{
    ek_spy_rsa_ops++;
    return RSA_meth_get_pub_enc(RSA_PKCS1_OpenSSL())(fl, f, t, r, p);
}

static int pub_dec(int fl, const unsigned char *f, unsigned char *t, RSA *r, int p)
{
    ek_spy_rsa_ops++;
    return RSA_meth_get_pub_dec(RSA_PKCS1_OpenSSL())(fl, f, t, r, p);
}

static int priv_enc(int fl, const unsigned char *f, unsigned char *t, RSA *r, int p)
{
    ek_spy_rsa_ops++;
    return RSA_meth_get_priv_enc(RSA_PKCS1_OpenSSL())(fl, f, t, r, p);
}

static int priv_dec(int fl, const unsigned char *f, unsigned char *t, RSA *r, int p)
{
    ek_spy_rsa_ops++;
    return RSA_meth_get_priv_dec(RSA_PKCS1_OpenSSL())(fl, f, t, r, p);
}

ENGINE *ek_spy_rsa_install(void)
{
    if (!rsa_meth) {
        rsa_meth = RSA_meth_dup(RSA_PKCS1_OpenSSL());
        if (!rsa_meth || !RSA_meth_set1_name(rsa_meth, "edgekey test spy") ||
            !RSA_meth_set_pub_enc(rsa_meth, pub_enc) || !RSA_meth_set_pub_dec(rsa_meth, pub_dec) ||
            !RSA_meth_set_priv_enc(rsa_meth, priv_enc) ||
            !RSA_meth_set_priv_dec(rsa_meth, priv_dec))
            return NULL;
    }
    ENGINE *e = spy_new();
    return spy_done(e, e && ENGINE_set_RSA(e, rsa_meth) && ENGINE_set_default_RSA(e));
}

void ek_spy_remove(ENGINE *e)
{
    removing = true;
    ENGINE_unregister_pkey_meths(e);
    ENGINE_unregister_RSA(e);
    ENGINE_remove(e);
    ENGINE_free(e);
    removing = false;
}

void ek_spy_free(void)
{
    RSA_meth_free(rsa_meth);
    rsa_meth = NULL;
}
