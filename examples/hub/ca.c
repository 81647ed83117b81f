/* edgekey hub: root + issuing CA, certificate issuance. */
#include "ca_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include "hub_util.h"
#include "keyload.h"

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    if (!ext)
        return hub_fail("certificate extension %s=%s refused by OpenSSL", OBJ_nid2sn(nid), value);
    int ok = X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    return ok ? 0 : hub_fail("cannot add extension %s", OBJ_nid2sn(nid));
}

/* certificatePolicies from OIDs (X509V3_EXT_conf_nid wants a config
 * database for this extension; the structure is built instead). */
static int add_policies(X509 *x, const char *const *oids, int n)
{
    CERTIFICATEPOLICIES *pol = sk_POLICYINFO_new_null();
    int ok = pol != NULL;
    for (int i = 0; ok && i < n; i++) {
        POLICYINFO *pi = POLICYINFO_new();
        ok = pi && (pi->policyid = OBJ_txt2obj(oids[i], 1)) && sk_POLICYINFO_push(pol, pi);
        if (!ok)
            POLICYINFO_free(pi);
    }
    ok = ok && X509_add1_ext_i2d(x, NID_certificate_policies, pol, 0, X509V3_ADD_DEFAULT) == 1;
    sk_POLICYINFO_pop_free(pol, POLICYINFO_free);
    return ok ? 0 : hub_fail("cannot add the certificate policies extension");
}

static X509_NAME *make_name(const char *cn)
{
    X509_NAME *n = X509_NAME_new();
    if (n && (!X509_NAME_add_entry_by_txt(n, "O", MBSTRING_UTF8,
                                          (const unsigned char *)"edgekey hub", -1, -1, 0) ||
              !X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
                                          0))) {
        X509_NAME_free(n);
        n = NULL;
    }
    return n;
}

/* A certificate skeleton: serial, names, validity, public key. */
static X509 *skeleton(const unsigned char *serial, size_t slen, const char *cn, X509 *issuer,
                      EVP_PKEY *pub, int days)
{
    X509 *x = X509_new();
    X509_NAME *subj = make_name(cn);
    BIGNUM *bn = BN_bin2bn(serial, (int)slen, NULL);
    int ok = x && subj && bn && X509_set_version(x, 2) &&
             BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) && X509_set_subject_name(x, subj) &&
             X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : subj) &&
             X509_gmtime_adj(X509_getm_notBefore(x), -300) &&
             X509_time_adj_ex(X509_getm_notAfter(x), days, 0, NULL) && X509_set_pubkey(x, pub);
    BN_free(bn);
    X509_NAME_free(subj);
    if (!ok) {
        X509_free(x);
        hub_fail("certificate for '%s': cannot build the skeleton", cn);
        return NULL;
    }
    return x;
}

static int sign_cert(X509 *x, EVP_PKEY *key, const char *what)
{
    if (X509_sign(x, key, EVP_sha256()) <= 0) {
        char e[256];
        ERR_error_string_n(ERR_get_error(), e, sizeof(e));
        ERR_clear_error();
        return hub_fail("%s: CA signature failed (%s); check the CA key address and the TPM", what,
                        e);
    }
    return 0;
}

static int write_cert(const char *path, X509 *x)
{
    char *pem = hub_cert_pem(x);
    int rc = pem ? hub_write_atomic(path, pem, strlen(pem), 0644) : hub_fail("PEM encode failed");
    free(pem);
    return rc;
}

static int make_root(const char *dir)
{
    char kpath[HUB_PATH_MAX + 16], cpath[HUB_PATH_MAX + 16];
    snprintf(kpath, sizeof(kpath), "%s/root.key", dir);
    snprintf(cpath, sizeof(cpath), "%s/root.pem", dir);
    EVP_PKEY *k = hub_soft_keygen("ec");
    unsigned char serial[16];
    if (!k || RAND_bytes(serial, sizeof(serial)) != 1)
        return -1;
    serial[0] &= 0x7f;
    X509 *x = skeleton(serial, sizeof(serial), "edgekey hub root CA", NULL, k, 3650);
    int rc = !x || add_ext(x, NULL, NID_basic_constraints, "critical,CA:TRUE") ||
                     add_ext(x, NULL, NID_key_usage, "critical,keyCertSign,cRLSign") ||
                     add_ext(x, NULL, NID_subject_key_identifier, "hash") ||
                     sign_cert(x, k, "root CA") || hub_write_key_pem(kpath, k) ||
                     write_cert(cpath, x)
                 ? -1
                 : 0;
    X509_free(x);
    EVP_PKEY_free(k);
    return rc;
}

static int make_issuing(const char *dir, const char *key_address)
{
    char path[HUB_PATH_MAX + 16];
    snprintf(path, sizeof(path), "%s/root.key", dir);
    EVP_PKEY *rootkey = hub_load_key(path);
    snprintf(path, sizeof(path), "%s/root.pem", dir);
    X509 *root = hub_load_cert(path);
    EVP_PKEY *cakey = hub_load_key(key_address);
    unsigned char serial[16];
    X509 *x = NULL;
    int rc = -1;
    if (rootkey && root && cakey && RAND_bytes(serial, sizeof(serial)) == 1) {
        serial[0] &= 0x7f;
        x = skeleton(serial, sizeof(serial), "edgekey hub issuing CA", root, cakey, 1825);
        snprintf(path, sizeof(path), "%s/issuing.pem", dir);
        rc = !x || add_ext(x, root, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
                     add_ext(x, root, NID_key_usage, "critical,keyCertSign,cRLSign") ||
                     add_ext(x, root, NID_subject_key_identifier, "hash") ||
                     add_ext(x, root, NID_authority_key_identifier, "keyid:always") ||
                     sign_cert(x, rootkey, "issuing CA") || write_cert(path, x)
                 ? -1
                 : 0;
    }
    char *a = rc == 0 ? hub_cert_pem(x) : NULL, *b = rc == 0 ? hub_cert_pem(root) : NULL;
    if (a && b) {
        size_t la = strlen(a), lb = strlen(b);
        char *chain = malloc(la + lb + 1);
        if (chain) {
            memcpy(chain, a, la);
            memcpy(chain + la, b, lb + 1);
            snprintf(path, sizeof(path), "%s/chain.pem", dir);
            rc = hub_write_atomic(path, chain, la + lb, 0644);
            free(chain);
        }
    }
    free(a);
    free(b);
    X509_free(x);
    X509_free(root);
    EVP_PKEY_free(rootkey);
    EVP_PKEY_free(cakey);
    return rc;
}

int hub_ca_create(const hub_config *cfg, const char *ca_key_address)
{
    char dir[HUB_PATH_MAX], path[HUB_PATH_MAX + 16];
    hub_path(cfg, "ca", dir, sizeof(dir));
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return hub_fail("%s: cannot create: %s", dir, strerror(errno));
    snprintf(path, sizeof(path), "%s/root.pem", dir);
    if (access(path, F_OK) != 0 && make_root(dir) != 0)
        return -1;
    snprintf(path, sizeof(path), "%s/issuing.pem", dir);
    if (access(path, F_OK) != 0 && make_issuing(dir, ca_key_address) != 0)
        return -1;
    return 0;
}

int hub_ca_open(const hub_config *cfg, hub_ca **out)
{
    char dir[HUB_PATH_MAX], path[HUB_PATH_MAX + 16];
    hub_path(cfg, "ca", dir, sizeof(dir));
    hub_ca *ca = calloc(1, sizeof(*ca));
    if (!ca)
        return hub_fail("CA: out of memory");
    ca->cfg = *cfg;
    pthread_mutex_init(&ca->lock, NULL);
    snprintf(path, sizeof(path), "%s/root.pem", dir);
    ca->root = hub_load_cert(path);
    snprintf(path, sizeof(path), "%s/issuing.pem", dir);
    ca->issuing = ca->root ? hub_load_cert(path) : NULL;
    ca->key = ca->issuing ? hub_load_key(cfg->ca_key) : NULL;
    snprintf(path, sizeof(path), "%s/chain.pem", dir);
    if (!ca->key || hub_read_file(path, &ca->chain_pem, NULL) != 0) {
        hub_ca_free(ca);
        return -1;
    }
    if (X509_check_private_key(ca->issuing, ca->key) != 1) {
        ERR_clear_error();
        hub_ca_free(ca);
        return hub_fail("CA key %s does not match %s/issuing.pem; set ca_key to the key the "
                        "issuing CA was made with",
                        cfg->ca_key, dir);
    }
    ca->store = X509_STORE_new();
    X509_STORE_add_cert(ca->store, ca->root);
    X509_STORE_add_cert(ca->store, ca->issuing);
    *out = ca;
    return 0;
}

void hub_ca_free(hub_ca *ca)
{
    if (!ca)
        return;
    X509_free(ca->root);
    X509_free(ca->issuing);
    EVP_PKEY_free(ca->key);
    X509_STORE_free(ca->store);
    free(ca->chain_pem);
    pthread_mutex_destroy(&ca->lock);
    free(ca);
}

const char *hub_ca_chain_pem(const hub_ca *ca)
{
    return ca->chain_pem;
}

static int leaf_exts(X509 *x, X509 *issuer, const hub_issue *req, const char *crl_url)
{
    char san[700], dp[600];
    if (add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE") ||
        add_ext(x, issuer, NID_subject_key_identifier, "hash") ||
        add_ext(x, issuer, NID_authority_key_identifier, "keyid:always"))
        return -1;
    snprintf(dp, sizeof(dp), "URI:%s", crl_url);
    if (req->kind == HUB_CK_HUB) {
        /* "localhost,127.0.0.1" -> "DNS:localhost,IP:127.0.0.1" */
        size_t o = 0;
        char list[512];
        snprintf(list, sizeof(list), "%s", req->sans ? req->sans : req->cn);
        for (char *save = NULL, *t = strtok_r(list, ",", &save); t;
             t = strtok_r(NULL, ",", &save)) {
            int ip = strspn(t, "0123456789.") == strlen(t) || strchr(t, ':') != NULL;
            o += (size_t)snprintf(san + o, sizeof(san) - o, "%s%s:%s", o ? "," : "",
                                  ip ? "IP" : "DNS", t);
            if (o >= sizeof(san))
                return hub_fail("hub host names too long for the SAN");
        }
        return add_ext(x, issuer, NID_key_usage, "critical,digitalSignature,keyEncipherment") ||
               add_ext(x, issuer, NID_ext_key_usage, "serverAuth") ||
               add_ext(x, issuer, NID_subject_alt_name, san) ||
               add_ext(x, issuer, NID_crl_distribution_points, dp);
    }
    /* TCG certificate policies (TPM 2.0 Keys for Device Identity and
     * Attestation): tcg-cap-verifiedTPMResidency, tcg-cap-verifiedTPMFixed;
     * the hub checked by attestation that the key is in a TPM and fixed to
     * it (docs/attestation.md). */
    static const char *const policies[] = {HUB_POLICY_TPM_RESIDENT, HUB_POLICY_TPM_FIXED};
    return add_ext(x, issuer, NID_key_usage, "critical,digitalSignature") ||
           add_ext(x, issuer, NID_ext_key_usage, "clientAuth") ||
           add_ext(x, issuer, NID_crl_distribution_points, dp) ||
           (req->attested && add_policies(x, policies, 2));
}

int hub_ca_issue(hub_ca *ca, hub_registry *reg, EVP_PKEY *pub, const hub_issue *req, hub_cert *out)
{
    uint64_t id;
    unsigned char serial[16];
    if (reg_serial_next(reg, &id) != 0 || RAND_bytes(serial + 8, 8) != 1)
        return -1;
    /* serial = registry id (unique forever) || 64 random bits; positive. */
    for (int i = 0; i < 8; i++)
        serial[i] = (unsigned char)(id >> (56 - 8 * i));
    serial[0] &= 0x7f;
    X509 *x = skeleton(serial, sizeof(serial), req->cn, ca->issuing, pub, req->days);
    if (!x || leaf_exts(x, ca->issuing, req, ca->cfg.crl_url) != 0) {
        X509_free(x);
        return -1;
    }
    pthread_mutex_lock(&ca->lock);
    int rc = sign_cert(x, ca->key, req->cn);
    pthread_mutex_unlock(&ca->lock);
    /* Verify after sign: a TPM (or a key layer) that signed with another
     * key must not produce a certificate that devices would reject. */
    if (rc == 0 && X509_verify(x, X509_get0_pubkey(ca->issuing)) != 1) {
        ERR_clear_error();
        rc = hub_fail("certificate for '%s': the CA key's signature does not verify with the "
                      "issuing CA's public key; check the CA key (%s) and the TPM connection",
                      req->cn, ca->cfg.ca_key);
    }
    hub_cert c;
    memset(&c, 0, sizeof(c));
    c.pem = rc == 0 ? hub_cert_pem(x) : NULL;
    if (c.pem) {
        hub_serial_hex(X509_get0_serialNumber(x), c.serial);
        snprintf(c.pk, sizeof(c.pk), "%s", req->pk ? req->pk : "");
        snprintf(c.dk, sizeof(c.dk), "%s", req->cn);
        c.kind = req->kind;
        c.not_before = hub_asn1_time_unix(X509_get0_notBefore(x));
        c.not_after = hub_asn1_time_unix(X509_get0_notAfter(x));
        c.state = HUB_CERT_ACTIVE;
        c.reason = -1;
        rc = reg_cert_add(reg, &c);
    } else {
        rc = -1;
    }
    X509_free(x);
    if (rc == 0 && out)
        *out = c;
    else
        reg_cert_clear(&c);
    return rc;
}

int hub_ca_verify(hub_ca *ca, X509 *leaf)
{
    X509_STORE_CTX *ctx = X509_STORE_CTX_new();
    int ok = ctx && X509_STORE_CTX_init(ctx, ca->store, leaf, NULL) &&
             X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT) && X509_verify_cert(ctx) == 1;
    int err = ctx ? X509_STORE_CTX_get_error(ctx) : 0;
    X509_STORE_CTX_free(ctx);
    ERR_clear_error();
    if (!ok)
        return hub_fail("client certificate does not verify against the hub CA: %s",
                        X509_verify_cert_error_string(err));
    return 0;
}
