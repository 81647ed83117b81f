#!/usr/bin/env bash
# Issue 11, item 8: `edgekey-hub init` with TPM keys and no edgekey CLI on
# PATH (built, not installed) uses the CLI it was built with (beside it in
# the build tree): the hub key gets its pkcs11: URI (hub/hub.uri), `serve`
# answers over TLS with the TPM key and doctor passes. A CLI that cannot be
# found is refused at init, naming the fix, and leaves no half-made key.
. "$(dirname "$0")/lib.sh"
[ -f "$EDGEKEY_BUILD/provider/edgekey.so" ] || fail "provider not built"
[ -f "$EDGEKEY_BUILD/pkcs11/edgekey-pkcs11.so" ] || fail "PKCS#11 module not built"

# PATH without the build tree's cli/ (the meson env puts it first).
PATH=$(tr ':' '\n' <<<"$PATH" | grep -vx "$EDGEKEY_BUILD/cli" | paste -sd:)
export PATH
if command -v edgekey >/dev/null; then
    fail "an edgekey CLI is installed at $(command -v edgekey): this test needs a PATH without one"
fi

hub_config tpm tpm
hub init >"$T/init.out" 2>&1 || { cat "$T/init.out"; fail "init with TPM keys, no edgekey on PATH"; }
grep -q "^pkcs11:token=hub;object=hub-tls" "$HUB_DIR/hub/hub.uri" 2>/dev/null ||
    fail "no hub/hub.uri written: $(ls "$HUB_DIR/hub")"
grep -q "BEGIN EDGEKEY URI" "$HUB_DIR/hub/hub.key" || fail "hub key is not an edgekey reference"
pass "init without edgekey on PATH made the TPM keys with the CLI beside it ($(cat "$HUB_DIR/hub/hub.uri"))"

hub_start
curl -sS --cacert "$CA" -o "$T/crl.pem" -w '%{http_code}' "$API/api/v1/crl.pem" >"$T/code" ||
    fail "API over TLS: $(cat "$T/serve.log")"
[ "$(cat "$T/code")" = 200 ] || fail "API answered $(cat "$T/code")"
grep -q "API key .* is not a software PEM key" "$T/serve.log" && fail "serve refused the key"
pass "serve answers over TLS with the TPM hub key (HTTP 200)"
hub_stop   # a direct TCTI serves one process at a time: doctor loads the keys next

hub --json doctor >"$T/doctor.json" || fail "doctor on the TPM hub: $(cat "$T/doctor.json")"
jq -e '.ok and ([.checks[] | select(.check == "ca-key" or .check == "hub-key") |
    select(.status == "pass")] | length == 2)' "$T/doctor.json" >/dev/null ||
    fail "doctor: TPM keys not checked: $(cat "$T/doctor.json")"
pass "doctor: the TPM CA key and hub key load and match their certificates"

# The CLI named by EDGEKEY_HUB_CLI does not exist: refused, with the fix.
HUB_DIR=$T/hub2
hub_config tpm tpm
rc=0
EDGEKEY_HUB_CLI=$T/no/edgekey hub init >"$T/init2.out" 2>&1 || rc=$?
[ "$rc" = 1 ] || fail "init with a missing CLI: exit $rc: $(cat "$T/init2.out")"
grep -q "EDGEKEY_HUB_CLI=$T/no/edgekey is not an executable file" "$T/init2.out" ||
    fail "init with a missing CLI: $(cat "$T/init2.out")"
[ ! -e "$HUB_DIR/ca/issuing.key" ] && [ ! -e "$HUB_DIR/hub/hub.key" ] ||
    fail "a refused init left a key behind"
pass "a CLI that cannot be found is refused at init: $(tail -1 "$T/init2.out")"

# No CLI anywhere (a copy of the hub away from the build tree, nothing at
# the install path or on PATH): refused, naming where it looked and the fix.
mkdir -p "$T/copy/bin"
cp "$HUB_BIN" "$T/copy/bin/edgekey-hub"
HUB_DIR=$T/hub3
hub_config tpm tpm
rc=0
"$T/copy/bin/edgekey-hub" --config "$HUB_CONF" init >"$T/init3.out" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "the edgekey CLI was not found (not beside $T/copy/bin.*set EDGEKEY_HUB_CLI=/path/to/edgekey; or choose software keys with --ca-key file --hub-key file" "$T/init3.out" ||
    fail "init with no CLI anywhere: exit $rc: $(cat "$T/init3.out")"
[ ! -e "$HUB_DIR/hub/hub.key" ] || fail "a refused init left a hub key behind"
pass "no CLI anywhere: init refused with the fix"
