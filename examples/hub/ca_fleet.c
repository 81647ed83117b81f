/* edgekey hub: several hub nodes, each its own issuing CA under one root.
 *
 * The registry is the meeting point: each node registers its issuing CA
 * certificate and, after each CRL it signs, that CRL (issuers table). Every
 * node verifies client certificates of any issuer, and writes for its
 * broker ca/cas.pem (root + every issuing CA) and ca/crls.pem (every
 * issuer's latest CRL: mosquitto loads them all from one crlfile). Only an
 * issuer can sign its CRL, so a revocation made on another node reaches its
 * CRL through that issuer's maintenance (hub_ca_fleet_sync), within a
 * second or so; the broker plugin drops the live session at once anyway. */
#include "ca_int.h"

#include <stdlib.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include "hub_util.h"
#include "keyload.h"

static int add_issuer_cert(const hub_issuer *i, void *arg)
{
    hub_ca *ca = arg;
    BIO *b = BIO_new_mem_buf(i->cert_pem, -1);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    /* only issuing CAs under our root are trusted (pathlen and key usage
     * are checked by the verification itself) */
    if (x && X509_check_issued(ca->root, x) == X509_V_OK)
        X509_STORE_add_cert(ca->store, x); /* a known one: no-op */
    else
        hub_log("issuer %s in the registry is not signed by this root: ignored", i->id);
    X509_free(x);
    BIO_free(b);
    ERR_clear_error();
    return 0;
}

int hub_ca_fleet_load(hub_ca *ca)
{
    return reg_issuer_list(ca->reg, add_issuer_cert, ca);
}

int hub_ca_fleet_join(hub_ca *ca, hub_registry *reg)
{
    char *pem = hub_cert_pem(ca->issuing);
    if (!pem)
        return hub_fail("issuing CA: PEM encoding failed");
    int rc = reg_issuer_put(reg, ca->issuer_id, pem);
    free(pem);
    ca->reg = reg;
    return rc == 0 ? hub_ca_fleet_load(ca) : -1;
}

typedef struct fleet_text {
    const hub_ca *ca;
    FILE *cas, *crls;
    int64_t seen;
} fleet_text;

static int collect(const hub_issuer *i, void *arg)
{
    fleet_text *t = arg;
    BIO *b = BIO_new_mem_buf(i->cert_pem, -1);
    X509 *x = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    if (x && X509_check_issued(t->ca->root, x) == X509_V_OK) {
        fputs(i->cert_pem, t->cas);
        fputs(i->crl_pem, t->crls);
    }
    X509_free(x);
    BIO_free(b);
    ERR_clear_error();
    if (i->updated > t->seen)
        t->seen = i->updated;
    return 0;
}

static int write_text(hub_ca *ca, const char *rel, const char *buf, size_t len)
{
    char path[HUB_PATH_MAX];
    hub_path(&ca->cfg, rel, path, sizeof(path));
    return hub_write_atomic(path, buf, len, 0644);
}

int hub_ca_fleet_files(hub_ca *ca, hub_registry *reg)
{
    char *cas = NULL, *crls = NULL, *root = hub_cert_pem(ca->root);
    size_t ncas = 0, ncrls = 0;
    fleet_text t = {ca, open_memstream(&cas, &ncas), open_memstream(&crls, &ncrls), 0};
    int rc = root && t.cas && t.crls ? 0 : hub_fail("fleet files: out of memory");
    if (rc == 0) {
        fputs(root, t.cas);
        rc = reg_issuer_list(reg, collect, &t);
    }
    if (t.cas)
        fclose(t.cas);
    if (t.crls)
        fclose(t.crls);
    if (rc == 0)
        rc = write_text(ca, "ca/cas.pem", cas, ncas) || write_text(ca, "ca/crls.pem", crls, ncrls)
                 ? -1
                 : 0;
    if (rc == 0)
        ca->fleet_seen = t.seen;
    free(cas);
    free(crls);
    free(root);
    return rc;
}

typedef struct own_state {
    const hub_ca *ca;
    int64_t crl_rev_seq, newest;
} own_state;

static int own_and_newest(const hub_issuer *i, void *arg)
{
    own_state *o = arg;
    if (strcmp(i->id, o->ca->issuer_id) == 0)
        o->crl_rev_seq = i->crl_rev_seq;
    if (i->updated > o->newest)
        o->newest = i->updated;
    return 0;
}

static int find_own(const hub_cert *c, void *arg)
{
    own_state *o = arg;
    if (hub_ca_owns(o->ca, c)) {
        o->crl_rev_seq = -1; /* a revocation this CRL lacks */
        return 1;
    }
    return 0;
}

int hub_ca_fleet_sync(hub_ca *ca, hub_registry *reg, bool *stale)
{
    own_state o = {ca, 0, 0};
    if (reg_issuer_list(reg, own_and_newest, &o) != 0 ||
        reg_cert_revoked_since(reg, o.crl_rev_seq, find_own, &o) != 0)
        return -1;
    *stale = o.crl_rev_seq < 0;
    if (o.newest <= ca->fleet_seen)
        return 0;
    return hub_ca_fleet_files(ca, reg) == 0 ? 1 : -1;
}
