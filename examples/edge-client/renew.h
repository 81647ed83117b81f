/* edge-client: certificate renewal with a fresh TPM key, and the identity
 * state that names the key in use.
 *
 * data_dir/identity ("label = device-2", "generation = 2") names the key
 * label in use; it is written with rename, so it is the commit point of a
 * switch. A renewal: new key device-<n> in the TPM (through the provider,
 * as at first boot) -> CSR signed by it -> POST /api/v1/device/cert/renew
 * over mutual TLS with the *current* key -> new certificate staged in
 * device-<n>.pem/.sn -> identity rewritten (commit) -> device.pem/.sn
 * replaced -> the caller reconnects with the new key and then destroys the
 * old one (edge_key_destroy). The hub marks the old certificate superseded
 * (revoked after its grace period). A crash before the commit leaves the
 * old identity working (an orphaned new key is deleted by the next
 * renewal); a crash after it is finished by edge_identity_apply.
 *
 * Errors: NULL / -1 with the step named on the log; nothing is switched. */
#ifndef EDGE_RENEW_H
#define EDGE_RENEW_H

#include <openssl/evp.h>

#include "config.h"
#include "enroll.h"

/* At start: c->label becomes the label the identity file names (the
 * configured label is the base of renewed labels); an interrupted switch is
 * finished. 0, or -1 on an unreadable identity file. */
int edge_identity_apply(edge_config *c);

/* notBefore/notAfter (epoch seconds) of the first certificate in file. */
int edge_cert_times(const char *cert_file, long long *not_before, long long *not_after);

/* 1 when less than fraction of [not_before, not_after] is left at now_s. */
int edge_renew_due(long long not_before, long long not_after, double fraction, long long now_s);

/* Renew (see above). On success returns the new key (caller frees) and
 * writes the old key's URI into old_uri; c->label and p are updated. */
EVP_PKEY *edge_renew(edge_config *c, edge_paths *p, EVP_PKEY *cur_key, char *old_uri,
                     size_t old_uri_size);

/* `edgekey delete URI` (c->edgekey_cli) in a child. 0 or -1 (logged). */
int edge_key_destroy(const edge_config *c, const char *uri);

#endif
