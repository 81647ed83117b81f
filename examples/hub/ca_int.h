/* edgekey hub: CA internals shared by ca.c and crl.c. */
#ifndef HUB_CA_INT_H
#define HUB_CA_INT_H

#include <pthread.h>
#include "ca.h"

struct hub_ca {
    hub_config cfg;
    X509 *root, *issuing;
    EVP_PKEY *key;     /* issuing CA key (software or TPM) */
    X509_STORE *store; /* root + issuing, for client checks */
    char *chain_pem;
    pthread_mutex_t lock; /* one signature at a time on the CA key */
};

#endif
