#!/usr/bin/env bash
# Issue 5: the edge client's whole life cycle, as scripts/demo runs it, on
# the meson build under test (no deps check, no rebuild): activation, TPM
# key, CSR signed in the TPM, certificate, mutual TLS MQTT, 10 telemetry
# messages stored by the hub, a command and its reply, revocation, the
# session dropped and the reconnect refused; then a second device's
# `edge-client reset` (revoke-self over mutual TLS, TPM key deleted). Key
# attestation is on (the demo's default): its step line must appear.
#   demo.sh rsa2048|ec-p256
set -euo pipefail
: "${EDGEKEY_BUILD:?run through meson test}"
: "${EDGEKEY_SRC:?run through meson test}"
key_type=${1:-rsa2048}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
EDGEKEY_DEMO_KEY_TYPE=$key_type EDGEKEY_DEMO_RESET=1 "$EDGEKEY_SRC/scripts/demo" >"$out" 2>&1 || rc=$?
cat "$out"
[ $rc = 0 ] || { echo "FAIL: scripts/demo exited $rc"; exit 1; }
# The demo checks each step itself; make sure every step was reached.
for want in "activated" "generated $( [ "$key_type" = ec-p256 ] && echo 'EC P-256' || echo RSA-2048) key in the TPM" \
    "certificate issued" "key attested: EK certificate verified" "MQTT connected" "telemetry 10/10 acknowledged" "last telemetry seq=10" \
    "command 'reboot', edge replied" "revoked (keyCompromise)" "session dropped" \
    "reconnect with the revoked certificate refused" "reset: certificate" "demo: OK"; do
    grep -q "$want" "$out" || { echo "FAIL: the demo never printed '$want'"; exit 1; }
done
echo "ok: edge life cycle with $key_type"
