/* edge-client: TLS contexts for the broker and the hub API (see tls.h). */
#include "tls.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "tpmkey.h"

int edge_tls_ctx_use_identity(SSL_CTX *ctx, const char *cert_file, EVP_PKEY *key)
{
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1) {
        edge_ossl_error(
            "cannot use the device certificate; run 'edge-client run' to apply for one");
        return -1;
    }
    if (SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
        edge_ossl_error("the TPM key does not match the device certificate; reset the device "
                        "('edge-client reset') and enrol again");
        return -1;
    }
    return 0;
}

static int load_crl(X509_STORE *store, const char *crl_file)
{
    FILE *f = fopen(crl_file, "r");
    X509_CRL *crl;
    int ok;

    if (f == NULL)
        return 0; /* not downloaded yet: chain checks only */
    crl = PEM_read_X509_CRL(f, NULL, NULL, NULL);
    fclose(f);
    if (crl == NULL) {
        edge_ossl_error("the CRL file is not a PEM CRL; delete it to download it again");
        return -1;
    }
    ok = X509_STORE_add_crl(store, crl);
    X509_CRL_free(crl);
    /* leaf only: the root's issuer publishes no CRL to us */
    return ok == 1 && X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK) == 1 ? 0 : -1;
}

static int set_host(SSL_CTX *ctx, const char *host)
{
    X509_VERIFY_PARAM *vp = SSL_CTX_get0_param(ctx);
    unsigned char ip[16];

    if (inet_pton(AF_INET, host, ip) == 1 || inet_pton(AF_INET6, host, ip) == 1)
        return X509_VERIFY_PARAM_set1_ip_asc(vp, host) == 1 ? 0 : -1;
    X509_VERIFY_PARAM_set_hostflags(vp, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    return X509_VERIFY_PARAM_set1_host(vp, host, 0) == 1 ? 0 : -1;
}

SSL_CTX *edge_tls_ctx_new(const edge_tls_opts *o)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (ctx == NULL || SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
        goto fail;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if (SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL) != 1) {
        edge_ossl_error("cannot read the hub CA chain (ca_file); fix the path in the config");
        goto fail;
    }
    if (o->crl_file && load_crl(SSL_CTX_get_cert_store(ctx), o->crl_file) != 0)
        goto fail;
    if (set_host(ctx, o->host) != 0)
        goto fail;
    if (o->cert_file && o->key && edge_tls_ctx_use_identity(ctx, o->cert_file, o->key) != 0)
        goto fail;
    return ctx;
fail:
    if (ERR_peek_error())
        edge_ossl_error("TLS context set-up failed");
    SSL_CTX_free(ctx);
    return NULL;
}
