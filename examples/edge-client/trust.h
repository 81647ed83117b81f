/* edge-client: what the device trusts, and keeping it current.
 *
 * Trust anchors: data_dir/ca.pem (the last CA chain fetched from the hub)
 * if present, else ca_file (the factory chain). CRL: crl_file if
 * configured, else data_dir/crl.pem (fetched from the hub).
 *
 * Refresh (edge_trust_refresh), every trust_refresh_s and after a failed
 * handshake (force):
 *  - CRL: GET /api/v1/crl.pem. A CRL authenticates itself, so it is fetched
 *    with chain and host checks but WITHOUT the CRL check of the API's own
 *    certificate (a hub whose certificate was revoked must still be able to
 *    tell us so). It is installed only if its signature verifies with a CA
 *    in the trust anchors and its crlNumber is not lower than the installed
 *    one's (no replay of an older CRL).
 *  - CA chain: GET /api/v1/ca/chain over TLS with the CRL checked. Every
 *    certificate in it must verify against the current anchors (so an
 *    issuing-CA renewal or a cross-signed root is accepted, a foreign root
 *    is not); then it replaces data_dir/ca.pem atomically.
 * A failed download keeps what is installed. Each call first runs the
 * clock rollback check (clock.h): with a clock set back nothing is
 * refreshed and -1 is returned.
 *
 * edge_trust_check_hub connects to the broker and the API (TLS, no client
 * certificate: the TPM is not used) and refuses a hub certificate that is
 * revoked on the CRL or otherwise invalid, with a message naming the
 * certificate, its serial and the fix. */
#ifndef EDGE_TRUST_H
#define EDGE_TRUST_H

#include <openssl/ssl.h>

#include "config.h"

#define EDGE_EXIT_TRUST 6 /* edge-client exit code: a hub certificate refused */

/* Paths in use (static buffers; NULL CRL = none yet). */
const char *edge_trust_ca(const edge_config *c);
const char *edge_trust_crl(const edge_config *c);

/* Refresh if older than trust_refresh_s, or now if force. 0 when the
 * anchors are usable (fresh or kept), -1 when none are. */
int edge_trust_refresh(const edge_config *c, int force);

/* 0 hub certificates (broker and API) valid; 1 refused (message printed:
 * do not connect); -1 a server unreachable (not a trust decision). */
int edge_trust_check_hub(const edge_config *c);

/* Add the installed CRL to a live SSL_CTX's store (after a refresh), so
 * the next handshake of a long-running session checks it. 0 / -1. */
int edge_trust_update_ctx(SSL_CTX *ctx, const edge_config *c);

#endif
