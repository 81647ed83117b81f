#!/usr/bin/env bash
# Issue 5, acceptance 4a: the hub revokes its OWN server certificate
# (`edgekey-hub revoke --hub-cert`); the edge client fetches the new CRL
# (verified against the CA, replay-protected), finds the broker's and the
# API's certificate on it and refuses to connect, saying so (exit 6). Then
# the API serves the older CRL again (a replay), then a forged one (right
# issuer name, higher crlNumber, another key): both are refused and the hub
# certificate stays revoked.
# Can fail: a client that connects anyway logs "MQTT connected" after the
# revocation, or exits 0, or does not name the revoked certificate, or
# installs the older or the forged CRL.
. "$EDGEKEY_SRC/tests/e2e/edge/lib.sh" edge-trust
PK=trust-meter
SN=SN-trust-$$
t_hub "$PK" "$SN"
ek_edge_conf "$T/edge.conf" "$PK" "$SN" "$T/edge-data" rsa2048
run_edge() { # LOG ARGS...
    local log=$1
    shift
    EDGE_RC=0
    edge_env "$EDGE_BIN" --config "$T/edge.conf" run "$@" </dev/null >"$log" 2>&1 || EDGE_RC=$?
}

# 1. Trusting hub: enrols and publishes.
run_edge "$T/run1.log" --once --count 2
[ $EDGE_RC = 0 ] || die "first run (hub certificate valid) exit $EDGE_RC" "$T/run1.log"
grep -q "MQTT connected" "$T/run1.log" || die "first run did not connect" "$T/run1.log"
grep -q "CRL downloaded from the hub" "$T/run1.log" || die "no CRL download" "$T/run1.log"
echo "ok: hub certificate valid: the client connects and publishes"

cp "$HUB_DIR/ca/crl.pem" "$T/crl-before.pem" # for the replay below

# 2. The hub revokes its own TLS certificate (broker + API) -> CRL.
HUB_SN=$(openssl x509 -in "$HUB_DIR/hub/hub.pem" -noout -serial | cut -d= -f2)
hub revoke --hub-cert --reason 1 >"$T/revoke.log" 2>&1 || die "edgekey-hub revoke --hub-cert" "$T/revoke.log"
grep -q "$HUB_SN" "$T/revoke.log" || die "revoke --hub-cert did not revoke the hub certificate $HUB_SN" "$T/revoke.log"
grep -qi "SerialNumber$HUB_SN" <<<"$(openssl crl -in "$HUB_DIR/ca/crl.pem" -noout -text | tr -d ' :')" ||
    die "the hub's CRL does not list the hub certificate $HUB_SN"
echo "ok: edgekey-hub revoke --hub-cert put $HUB_SN on the CRL"

# 3. The client refuses the revoked hub (the trust refresh runs on start
# when due; force it as a schedule would by making the last refresh old).
touch -d '2 hours ago' "$T/edge-data/trust.stamp"
run_edge "$T/run2.log" --once --count 1
cat "$T/run2.log"
[ $EDGE_RC = 6 ] || die "hub certificate revoked: exit $EDGE_RC, wanted 6" "$T/run2.log"
grep -q "MQTT connected" "$T/run2.log" && die "the client connected to a hub whose certificate is revoked" "$T/run2.log"
grep -q "REFUSED: the hub's broker certificate .*serial $HUB_SN) is REVOKED" "$T/run2.log" ||
    die "no clear refusal naming the broker certificate $HUB_SN" "$T/run2.log"
echo "ok: revoked hub certificate refused (exit $EDGE_RC): $(grep -m1 REFUSED "$T/run2.log" | cut -c1-120)..."


# 4. A replayed older CRL (the one from before the revocation, served by a
# compromised API) must not un-revoke it: crlNumber only goes up.
cp "$HUB_DIR/ca/crl.pem" "$T/crl-after.pem"
cp "$T/crl-before.pem" "$HUB_DIR/ca/crl.pem"
touch -d '2 hours ago' "$T/edge-data/trust.stamp"
run_edge "$T/run3.log" --once --count 1
cp "$T/crl-after.pem" "$HUB_DIR/ca/crl.pem"
[ $EDGE_RC != 0 ] || die "an older CRL replayed by the API un-revoked the hub certificate (exit 0)" "$T/run3.log"
grep -q "MQTT connected" "$T/run3.log" && die "connected after an older CRL was replayed" "$T/run3.log"
grep -q "older (lower crlNumber) than the installed one" "$T/run3.log" ||
    die "the replayed older CRL was not recognised as such" "$T/run3.log"
cmp -s "$T/crl-after.pem" "$T/edge-data/crl.pem" || die "the installed CRL was replaced by the older one"
echo "ok: an older CRL replayed by the API is refused; the hub certificate stays revoked"

# 5. A forged CRL: same issuer name as the hub's issuing CA, a higher
# crlNumber and no entries (it would un-revoke the hub certificate), but
# signed by another key. It must be refused for its signature.
ISSUER=$(openssl x509 -in "$CA" -noout -subject -nameopt compat | sed 's/^subject=//')
mkdir -p "$T/fake"
: >"$T/fake/index.txt"
echo 7FFFFFFF >"$T/fake/crlnumber"
printf '[ca]\ndefault_ca = fake\n[fake]\ndatabase = %s\ncrlnumber = %s\ndefault_md = sha256\ndefault_crl_days = 1\n' \
    "$T/fake/index.txt" "$T/fake/crlnumber" >"$T/fake/ca.cnf"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -subj "$ISSUER" -nodes -days 2 \
    -keyout "$T/fake/key.pem" -out "$T/fake/ca.pem" 2>"$T/fake/req.err" || die "fake CA" "$T/fake/req.err"
openssl ca -config "$T/fake/ca.cnf" -gencrl -keyfile "$T/fake/key.pem" -cert "$T/fake/ca.pem" \
    -out "$T/fake/crl.pem" 2>"$T/fake/ca.err" || die "forged CRL" "$T/fake/ca.err"
[ "$(openssl crl -in "$T/fake/crl.pem" -noout -issuer)" = "$(openssl crl -in "$T/crl-after.pem" -noout -issuer)" ] ||
    die "the forged CRL does not carry the real issuer name (test set-up)"
cp "$T/fake/crl.pem" "$HUB_DIR/ca/crl.pem"
touch -d '2 hours ago' "$T/edge-data/trust.stamp"
run_edge "$T/run4.log" --once --count 1
cp "$T/crl-after.pem" "$HUB_DIR/ca/crl.pem"
[ $EDGE_RC = 6 ] || die "a forged CRL un-revoked the hub certificate (exit $EDGE_RC)" "$T/run4.log"
grep -q "not signed by a trusted CA" "$T/run4.log" || die "the forged CRL was not refused for its signature" "$T/run4.log"
cmp -s "$T/crl-after.pem" "$T/edge-data/crl.pem" || die "the forged CRL was installed"
echo "ok: a forged CRL (right issuer name, higher crlNumber, wrong key) is refused"
