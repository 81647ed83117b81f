/* edgekey hub: the API's TLS material for libmicrohttpd/GnuTLS.
 *
 * api_key (config) is either a software PEM key file (given to MHD in
 * memory) or a pkcs11: URI, reached through a PKCS#11 module (config
 * pkcs11_module, e.g. edgekey-pkcs11.so) in GnuTLS's certificate callback,
 * so the TPM key signs the handshakes. The certificate chain is api_cert;
 * client certificates are requested (not required) and checked per route
 * against the CA chain. TLS 1.2 is the minimum. */
#ifndef HUB_API_TLS_H
#define HUB_API_TLS_H

#include <microhttpd.h>
#include "config.h"

typedef struct api_tls {
    char *cert_pem, *key_pem, *trust_pem;
    int pkcs11; /* key through the PKCS#11 callback */
} api_tls;

#define HUB_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

int api_tls_load(const hub_config *cfg, api_tls *t);
/* Fill up to n MHD options (terminated by MHD_OPTION_END). */
void api_tls_options(api_tls *t, struct MHD_OptionItem *opts, size_t n);
void api_tls_free(api_tls *t);

#endif
