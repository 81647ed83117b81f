/* edgekey hub: CA internals shared by ca.c and crl.c. */
#ifndef HUB_CA_INT_H
#define HUB_CA_INT_H

#include <pthread.h>
#include <stdbool.h>
#include "ca.h"

struct hub_ca {
    hub_config cfg;
    X509 *root, *issuing;
    EVP_PKEY *key;     /* issuing CA key (software or TPM) */
    X509_STORE *store; /* root + issuing, for client checks */
    char *chain_pem;
    pthread_mutex_t lock; /* one signature at a time on the CA key */
    char issuer_id[41];   /* the issuing CA's key id (hex): hub_cert.issuer */
    bool owns_legacy;     /* this node made the root: certificates with no
                             recorded issuer (before issue 14) are its own */
    hub_registry *reg;    /* set by hub_ca_fleet_join (not owned) */
    int64_t fleet_seen;   /* latest issuers.updated written to the fleet files */
};

/* The revoked certificates this issuer's CRL lists. */
bool hub_ca_owns(const hub_ca *ca, const hub_cert *c);
/* Add every registered issuer's certificate to ca->store (ca_fleet.c). */
int hub_ca_fleet_load(hub_ca *ca);

#endif
