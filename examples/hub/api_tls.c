/* edgekey hub: API TLS material: software key in memory, or a PKCS#11 key
 * (the hub's TPM key through edgekey-pkcs11.so) in GnuTLS's callback. */
#include "api_tls.h"

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/pkcs11.h>
#include <gnutls/x509.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/crypto.h>
#include "hub_util.h"

/* GnuTLS's retrieve callback carries no user pointer: one API per process. */
static gnutls_pcert_st p11_certs[4];
static unsigned p11_ncerts;
static gnutls_privkey_t p11_key;

static int p11_retrieve(gnutls_session_t s, const gnutls_datum_t *req_ca, int nreq,
                        const gnutls_pk_algorithm_t *algos, int nalgos, gnutls_pcert_st **certs,
                        unsigned int *ncerts, gnutls_privkey_t *key)
{
    (void)s, (void)req_ca, (void)nreq, (void)algos, (void)nalgos;
    *certs = p11_certs;
    *ncerts = p11_ncerts;
    *key = p11_key;
    return 0;
}

static int p11_setup(const hub_config *cfg, api_tls *t, const char *uri)
{
    /* An explicit module, else the modules p11-kit knows. */
    int rc = gnutls_pkcs11_init(
        cfg->pkcs11_module[0] ? GNUTLS_PKCS11_FLAG_MANUAL : GNUTLS_PKCS11_FLAG_AUTO, NULL);
    if (rc == 0 && cfg->pkcs11_module[0])
        rc = gnutls_pkcs11_add_provider(cfg->pkcs11_module, NULL);
    if (rc < 0)
        return hub_fail("API key %s: cannot load PKCS#11 module '%s': %s; set pkcs11_module "
                        "to edgekey-pkcs11.so",
                        uri, cfg->pkcs11_module, gnutls_strerror(rc));
    if ((rc = gnutls_privkey_init(&p11_key)) < 0 ||
        (rc = gnutls_privkey_import_url(p11_key, uri, 0)) < 0)
        return hub_fail("API key %s: cannot open through PKCS#11: %s", uri, gnutls_strerror(rc));
    gnutls_datum_t pem = {(unsigned char *)t->cert_pem, (unsigned)strlen(t->cert_pem)};
    p11_ncerts = 4;
    rc = gnutls_pcert_list_import_x509_raw(p11_certs, &p11_ncerts, &pem, GNUTLS_X509_FMT_PEM, 0);
    if (rc < 0)
        return hub_fail("API certificate: cannot import for GnuTLS: %s", gnutls_strerror(rc));
    t->pkcs11 = 1;
    return 0;
}

int api_tls_load(const hub_config *cfg, api_tls *t)
{
    memset(t, 0, sizeof(*t));
    char chain[HUB_PATH_MAX], cert[HUB_PATH_MAX], key[HUB_PATH_MAX];
    hub_path(cfg, "ca/chain.pem", chain, sizeof(chain));
    hub_path(cfg, "hub/hub-chain.pem", cert, sizeof(cert));
    snprintf(key, sizeof(key), "%s", cfg->hub_key);
    if (cfg->api_key[0])
        snprintf(key, sizeof(key), "%s", cfg->api_key);
    if (hub_read_file(chain, &t->trust_pem, NULL) || hub_read_file(cert, &t->cert_pem, NULL)) {
        api_tls_free(t);
        return -1;
    }
    /* A TPM key file (TSS2 / EDGEKEY URI PEM) cannot go to GnuTLS; its
     * pkcs11: URI, recorded by init in hub/hub.uri, can. */
    char uri_file[HUB_PATH_MAX], *uri = NULL;
    hub_path(cfg, "hub/hub.uri", uri_file, sizeof(uri_file));
    int rc = strncmp(key, "pkcs11:", 7) == 0 ? 0 : hub_read_file(key, &t->key_pem, NULL);
    if (rc == 0 && t->key_pem &&
        (strstr(t->key_pem, "TSS2 PRIVATE KEY") || strstr(t->key_pem, "EDGEKEY URI")) &&
        hub_read_file(uri_file, &uri, NULL) == 0) {
        uri[strcspn(uri, "\r\n")] = '\0';
        snprintf(key, sizeof(key), "%s", uri);
        OPENSSL_cleanse(t->key_pem, strlen(t->key_pem));
        free(t->key_pem);
        t->key_pem = NULL;
    }
    free(uri);
    if (rc == 0 && strncmp(key, "pkcs11:", 7) == 0)
        rc = p11_setup(cfg, t, key);
    if (rc == 0 && t->key_pem && !strstr(t->key_pem, "-----BEGIN PRIVATE KEY-----") &&
        !strstr(t->key_pem, "-----BEGIN EC PRIVATE KEY-----") &&
        !strstr(t->key_pem, "-----BEGIN RSA PRIVATE KEY-----"))
        rc = hub_fail("API key %s is not a software PEM key; for a TPM key set api_key to its "
                      "pkcs11: URI and pkcs11_module to edgekey-pkcs11.so",
                      key);
    if (rc != 0)
        api_tls_free(t);
    return rc;
}

void api_tls_options(api_tls *t, struct MHD_OptionItem *o, size_t n)
{
    size_t i = 0;
    o[i++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)HUB_TLS_PRIORITIES};
    o[i++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_TRUST, 0, t->trust_pem};
    if (t->pkcs11) {
        o[i++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_CERT_CALLBACK, 0, (void *)p11_retrieve};
    } else {
        o[i++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, t->cert_pem};
        o[i++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, t->key_pem};
    }
    o[i] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    (void)n;
}

void api_tls_free(api_tls *t)
{
    if (t->key_pem)
        OPENSSL_cleanse(t->key_pem, strlen(t->key_pem));
    free(t->key_pem);
    free(t->cert_pem);
    free(t->trust_pem);
    memset(t, 0, sizeof(*t));
}
