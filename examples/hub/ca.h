/* edgekey hub: the certificate authority (root + issuing CA).
 *
 * Files under <dir>/ca/: root.pem, root.key (software, offline in real
 * life), issuing.pem, chain.pem (issuing + root), crl.pem / crl.der. The
 * issuing CA key is a key address (config ca_key): a software PEM file, or
 * a TPM key reached through the edgekey provider.
 *
 * hub_ca_issue() allocates a serial, signs, and stores the certificate in
 * the registry; call it inside reg_begin()/reg_commit() so the certificate
 * is recorded before anyone sees it. The CA serialises its own signing. */
#ifndef HUB_CA_H
#define HUB_CA_H

#include <openssl/x509.h>
#include "config.h"
#include "registry.h"

typedef struct hub_ca hub_ca;

/* Certificate policies of an attested key (TCG OIDs). */
#define HUB_POLICY_TPM_RESIDENT "2.23.133.11.1.1" /* tcg-cap-verifiedTPMResidency */
#define HUB_POLICY_TPM_FIXED "2.23.133.11.1.2"    /* tcg-cap-verifiedTPMFixed */

typedef struct hub_issue {
    int kind;         /* hub_cert_kind */
    const char *cn;   /* subject CN (device key, host name, service id) */
    const char *pk;   /* product key (devices) */
    int days;         /* validity */
    const char *sans; /* comma list for hub certs: DNS names / IPs */
    bool attested;    /* key attested in a TPM: the TCG certificate policies */
} hub_issue;

/* init: make root (software key) and issuing CA (key at ca_key_address,
 * which must exist already) unless they exist. */
int hub_ca_create(const hub_config *cfg, const char *ca_key_address);
int hub_ca_open(const hub_config *cfg, hub_ca **out);
void hub_ca_free(hub_ca *ca);

/* Sign a certificate for pub; out (optional) receives the registry record
 * (pem malloc'ed; reg_cert_clear it). */
int hub_ca_issue(hub_ca *ca, hub_registry *reg, EVP_PKEY *pub, const hub_issue *req, hub_cert *out);

/* Chain (issuing + root) as PEM text; owned by the CA. */
const char *hub_ca_chain_pem(const hub_ca *ca);
/* Verify a client certificate against the CA (chain, time, purpose). */
int hub_ca_verify(hub_ca *ca, X509 *leaf);

/* CRL (crl.c): regenerate from the registry and write crl.pem/crl.der
 * atomically; *next_update (optional) gets nextUpdate. */
int hub_crl_update(hub_ca *ca, hub_registry *reg, int64_t *next_update);
/* Paths of the CRL files. */
void hub_crl_paths(const hub_ca *ca, char *pem, char *der, size_t size);

#endif
