/* edgekey hub: the issuing CA's CRL, regenerated from the registry on each
 * revocation and before nextUpdate, written atomically (PEM and DER). */
#include "ca_int.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include "hub_util.h"

void hub_crl_paths(const hub_ca *ca, char *pem, char *der, size_t size)
{
    hub_path(&ca->cfg, "ca/crl.pem", pem, size);
    hub_path(&ca->cfg, "ca/crl.der", der, size);
}

typedef struct crl_fill {
    const hub_ca *ca;
    X509_CRL *crl;
    int err;
    int64_t rev_seq; /* the newest revocation listed */
} crl_fill;

static int add_revoked(const hub_cert *c, void *arg)
{
    crl_fill *f = arg;
    /* each issuer signs the CRL of what it issued (RFC 5280 5.1.2.3) */
    if (c->state != HUB_CERT_REVOKED || !hub_ca_owns(f->ca, c))
        return 0;
    if (c->rev_seq > f->rev_seq)
        f->rev_seq = c->rev_seq;
    X509_REVOKED *rv = X509_REVOKED_new();
    BIGNUM *bn = NULL;
    ASN1_INTEGER *sn = NULL;
    ASN1_TIME *t = ASN1_TIME_set(NULL, (time_t)c->revoked_at);
    ASN1_ENUMERATED *reason = ASN1_ENUMERATED_new();
    int ok = rv && t && reason && BN_hex2bn(&bn, c->serial) &&
             (sn = BN_to_ASN1_INTEGER(bn, NULL)) != NULL && X509_REVOKED_set_serialNumber(rv, sn) &&
             X509_REVOKED_set_revocationDate(rv, t);
    /* reasonCode 0 (unspecified) is left out, as RFC 5280 5.3.1 asks. */
    if (ok && c->reason > 0)
        ok = ASN1_ENUMERATED_set(reason, c->reason) &&
             X509_REVOKED_add1_ext_i2d(rv, NID_crl_reason, reason, 0, 0);
    if (ok)
        ok = X509_CRL_add0_revoked(f->crl, rv);
    if (!ok) {
        X509_REVOKED_free(rv);
        f->err = 1;
    }
    BN_free(bn);
    ASN1_INTEGER_free(sn);
    ASN1_TIME_free(t);
    ASN1_ENUMERATED_free(reason);
    return f->err;
}

static int write_crl(hub_ca *ca, hub_registry *reg, X509_CRL *crl, int64_t rev_seq)
{
    char pem[HUB_PATH_MAX + 32], der[HUB_PATH_MAX + 32];
    hub_crl_paths(ca, pem, der, sizeof(pem));
    BIO *b = BIO_new(BIO_s_mem());
    unsigned char *d = NULL;
    int dlen = i2d_X509_CRL(crl, &d);
    int rc = -1;
    if (b && dlen > 0 && PEM_write_bio_X509_CRL(b, crl)) {
        char *p;
        long n = BIO_get_mem_data(b, &p);
        char *text = strndup(p, (size_t)n);
        /* the registry copy is what the other nodes put in their crls.pem */
        rc = !text || hub_write_atomic(der, d, (size_t)dlen, 0644) ||
                     hub_write_atomic(pem, p, (size_t)n, 0644) ||
                     reg_issuer_set_crl(reg, ca->issuer_id, text, rev_seq) < 0 ||
                     hub_ca_fleet_files(ca, reg)
                 ? -1
                 : 0;
        free(text);
    } else {
        hub_fail("CRL: encoding failed");
    }
    OPENSSL_free(d);
    BIO_free(b);
    return rc;
}

int hub_crl_update(hub_ca *ca, hub_registry *reg, int64_t *next_update)
{
    int64_t number;
    if (reg_counter_next(reg, "crl_number", &number) != 0)
        return -1;
    X509_CRL *crl = X509_CRL_new();
    crl_fill f = {ca, crl, 0, 0};
    int64_t now = hub_now_s(), next = now + (int64_t)ca->cfg.crl_days * 86400;
    ASN1_TIME *last = ASN1_TIME_set(NULL, (time_t)now), *nxt = ASN1_TIME_set(NULL, (time_t)next);
    ASN1_INTEGER *num = ASN1_INTEGER_new();
    X509V3_CTX ctx;
    X509_EXTENSION *aki = NULL;
    int ok = crl && last && nxt && num && X509_CRL_set_version(crl, 1) &&
             X509_CRL_set_issuer_name(crl, X509_get_subject_name(ca->issuing)) &&
             X509_CRL_set1_lastUpdate(crl, last) && X509_CRL_set1_nextUpdate(crl, nxt) &&
             ASN1_INTEGER_set_int64(num, number) &&
             X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0);
    if (ok) {
        X509V3_set_ctx(&ctx, ca->issuing, NULL, NULL, crl, 0);
        aki = X509V3_EXT_conf_nid(NULL, &ctx, NID_authority_key_identifier, "keyid:always");
        ok = aki && X509_CRL_add_ext(crl, aki, -1);
    }
    if (ok)
        ok = reg_cert_list(reg, NULL, false, add_revoked, &f) == 0 && !f.err;
    if (ok) {
        X509_CRL_sort(crl);
        pthread_mutex_lock(&ca->lock);
        ok = X509_CRL_sign(crl, ca->key, EVP_sha256()) > 0;
        pthread_mutex_unlock(&ca->lock);
        if (!ok)
            hub_fail("CRL: signature with the CA key failed; check the CA key and the TPM");
        else if (X509_CRL_verify(crl, X509_get0_pubkey(ca->issuing)) != 1)
            ok = 0, hub_fail("CRL: the CA key's signature does not verify with the issuing "
                             "CA's public key; check the CA key and the TPM connection");
    } else {
        hub_fail("CRL: cannot build (%s)", f.err ? "revoked entry" : "header");
    }
    ERR_clear_error();
    int rc = ok ? write_crl(ca, reg, crl, f.rev_seq) : -1;
    if (rc == 0 && next_update)
        *next_update = next;
    X509_EXTENSION_free(aki);
    ASN1_TIME_free(last);
    ASN1_TIME_free(nxt);
    ASN1_INTEGER_free(num);
    X509_CRL_free(crl);
    return rc;
}
