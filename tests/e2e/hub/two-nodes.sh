#!/usr/bin/env bash
# Issue 14, tests 2 and 3: two hub nodes, each its own issuing CA (its key in
# the node's own swtpm) under one root, one PostgreSQL registry, one broker.
# - node B joins: init --join makes its CA key and a CSR, the root signs it
#   (ca sign-node), init --join again checks it; wrong certificates refused;
# - devices enroll through either node; a device enrolled by A renews
#   through B; B revokes an A certificate: the live MQTT session drops
#   within 2 s, the reconnect is refused, and A's CRL (in the broker's
#   crls.pem) lists it soon after;
# - 200 devices activated and applied in parallel through both nodes at
#   once: no activation accepted twice, no serial twice; a signed request
#   used on one node is refused as a replay on the other.
EDGEKEY_HUB_REGISTRY=postgresql
. "$(dirname "$0")/lib.sh"
devsim_need

# Node A made the root (plain init) and uses tpm-env.sh's swtpm; node B
# (lib.sh hub_b_config) its own swtpm, edgekey store, dir and API port.
hub_config tpm file
hub_b_config tpm file
hub init >"$T/initA.out" 2>&1 || fail "hub init (node A): $(cat "$T/initA.out")"

# Joining: without the root certificate, then CSR, root signature, check.
hub_b init --join >"$T/join0.out" 2>&1 && fail "join without the root certificate accepted"
grep -q "root.pem" "$T/join0.out" || fail "join error does not name the root: $(cat "$T/join0.out")"
mkdir -p "$HUB_B_DIR/ca"
cp "$HUB_DIR/ca/root.pem" "$HUB_B_DIR/ca/root.pem"
[ "$(hub_b --json init --join | jq -r .state)" = csr_written ] || fail "join: no CSR"
cp "$HUB_DIR/ca/issuing.pem" "$HUB_B_DIR/ca/issuing.pem"   # node A's: wrong key
hub_b init --join >"$T/join1.out" 2>&1 && fail "node A's issuing CA accepted for node B"
grep -q "not for this node's CA key" "$T/join1.out" || fail "wrong issuing.pem: $(cat "$T/join1.out")"
soft_key g SN-0001 ec
hub ca sign-node --csr "$T/g.csr" --out "$T/g.pem" >/dev/null 2>&1 &&
    fail "sign-node signed a device CSR as an issuing CA"
rm -f "$HUB_B_DIR/ca/issuing.pem"
hub_b_join
grep -qE "BEGIN (EDGEKEY URI|TSS2 PRIVATE KEY)" "$HUB_B_DIR/ca/issuing.key" ||
    fail "node B's CA key is not a TPM key reference"
[ "$(openssl x509 -in "$HUB_B_DIR/ca/issuing.pem" -noout -pubkey)" != \
  "$(openssl x509 -in "$HUB_DIR/ca/issuing.pem" -noout -pubkey)" ] || fail "both nodes have one CA key"
openssl verify -CAfile "$HUB_DIR/ca/root.pem" "$HUB_B_DIR/ca/issuing.pem" >/dev/null ||
    fail "node B's issuing CA does not verify under the root"
pass "node B joined with its CA key in its own swtpm: CSR, root signature, checks (no root, wrong issuing CA, device CSR refused)"

hub crl >/dev/null || fail "crl (node A)"   # its broker files now hold both issuers
[ "$(grep -c 'BEGIN CERTIFICATE' "$HUB_DIR/ca/cas.pem")" = 3 ] || fail "cas.pem: root + 2 issuers expected"
[ "$(grep -c 'BEGIN X509 CRL' "$HUB_DIR/ca/crls.pem")" = 2 ] || fail "crls.pem: 2 CRLs expected"
broker_start
hub_start
hub_b_start
pass "broker and both nodes up (broker: root + both issuing CAs, both CRLs)"

# Enrolment through either node.
product_add prodN
issuer_of() { openssl x509 -in "$1" -noout -issuer | sed 's/.*CN *= *//'; }
A_ISS=$(openssl x509 -in "$HUB_DIR/ca/issuing.pem" -noout -subject | sed 's/.*CN *= *//')
B_ISS=$(openssl x509 -in "$HUB_B_DIR/ca/issuing.pem" -noout -subject | sed 's/.*CN *= *//')
enroll() {   # enroll DEV via a|b
    local d=$1 via=$2
    device_add prodN "$d"
    if [ "$via" = a ]; then activate prodN "$d" "$PSECRET"; else API=$API_B activate prodN "$d" "$PSECRET"; fi
    eval "SEC_$d=\$DSECRET"
    soft_key "$d" "$d" ec
    if [ "$via" = a ]; then apply prodN "$d" "$DSECRET" "$T/$d.csr" "$T/$d.pem"
    else API=$API_B apply prodN "$d" "$DSECRET" "$T/$d.csr" "$T/$d.pem"; fi
    eval "SN_$d=\$CERTSN"
}
enroll N1 a
enroll N2 b
enroll N3 a
[ "$(issuer_of "$T/N1.pem")" = "$A_ISS" ] || fail "N1 not issued by node A"
[ "$(issuer_of "$T/N2.pem")" = "$B_ISS" ] || fail "N2 not issued by node B"
pass "devices enrolled through node A ($A_ISS) and node B ($B_ISS)"

# N1 (issued by A) renews through B over mutual TLS.
API=$API_B renew N1 N1r N1
[ "$(issuer_of "$T/N1r.pem")" = "$B_ISS" ] || fail "renewed certificate not issued by B"
[ "$(hub --json cert list --device-key N1 | jq -r "[.certs[] | select(.certSn == \"$SN_N1\")][0].state")" = superseded ] ||
    fail "A's certificate not superseded by B's renewal"
pass "N1's node-A certificate renewed through node B"

# Both issuers' devices log in at the one broker.
pubn() {   # pubn DEV CERT KEY
    local d=$1 c=$2 k=$3 sec
    eval "sec=\$SEC_$d"
    mqtt_login_args prodN "$d" "$sec"
    mosquitto_pub -h localhost -p "$MQTT_PORT" --cafile "$CA" --cert "$c" --key "$k" \
        "${MQTT_ARGS[@]}" -q 1 -t "/sys/prodN/$d/thing/measurepoint/post" -m '{}' 2>"$T/pub.err"
}
pubn N2 "$T/N2.pem" "$T/N2.key" || fail "B-issued device refused by the broker: $(cat "$T/pub.err")"
pubn N3 "$T/N3.pem" "$T/N3.key" || fail "A-issued device refused by the broker: $(cat "$T/pub.err")"
pass "the broker accepts devices of both issuers"

# B revokes N3's A certificate while N3 has a live session.
live_start prodN N3 "$SEC_N3"
t0=$(now_ms)
r=$(admin_b POST /api/v1/admin/revoke "{\"certSn\":\"$SN_N3\",\"reason\":1}")
[ "$(status)" = 200 ] || fail "node B revoking an A certificate: $r"
live_gone "$t0" "N3 (revoked by node B)"
pass "node B revoked node A's certificate: N3's live session ended $LIVE_MS ms later"
pubn N3 "$T/N3.pem" "$T/N3.key" && fail "revoked N3 reconnected"
pass "N3's reconnect refused"
for _ in $(seq 50); do
    openssl verify -crl_check -CAfile "$HUB_DIR/ca/cas.pem" -CRLfile "$HUB_DIR/ca/crls.pem" \
        "$T/N3.pem" >"$T/v.out" 2>&1 || break
    sleep 0.1
done
grep -q "certificate revoked" "$T/v.out" || fail "A's CRL does not list N3: $(cat "$T/v.out")"
openssl verify -crl_check -CAfile "$HUB_DIR/ca/cas.pem" -CRLfile "$HUB_DIR/ca/crls.pem" \
    "$T/N2.pem" >/dev/null || fail "B's device fails the CRL check"
pass "node A reissued its CRL: the broker's crls.pem lists N3, N2 still verifies"

# A replay across nodes: one signed apply, first through A, then through B.
soft_key N2x N2 ec
body=$(signed "$SEC_N2" "$(jq -nc --arg t "$(now_ms)" --rawfile c "$T/N2x.csr" \
    '{productKey:"prodN",deviceKey:"N2",csr:$c,timestamp:$t}')")
api POST /api/v1/device/cert/apply "$body" >/dev/null
[ "$(status)" = 200 ] || fail "signed apply through A"
expect_error 409 replayed "$(api_b POST /api/v1/device/cert/apply "$body")" "the same apply replayed through B"

# 200 devices (hub_devsim names them P00000...), registered once, activated
# and applied through both nodes at once (each node gets every device): one
# activation each, no serial twice.
for i in $(seq 0 199); do    # one curl for all 200 (a curl each costs seconds)
    [ "$i" = 0 ] || echo next
    printf 'url = "%s/api/v1/admin/devices"\nheader = "Authorization: Bearer %s"\n' "$API" "$ADMIN_TOKEN"
    printf 'header = "Content-Type: application/json"\noutput = "/dev/null"\n'
    printf 'cacert = "%s"\nfail\nsilent\nshow-error\n' "$CA"
    printf 'data = "{\\"productKey\\":\\"prodN\\",\\"deviceKey\\":\\"P%05d\\"}"\n' "$i"
done >"$T/devs.curl"
curl --parallel --parallel-max 8 -K "$T/devs.curl" ||
    fail "registering 200 devices"
[ "$(hub --json device list --product-key prodN | jq '[.devices[] | select(.deviceKey | startswith("P"))] | length')" = 200 ] ||
    fail "200 devices not registered"
: >"$T/ansA"; : >"$T/ansB"
"$DEVSIM" --api "$API" --ca "$CA" --product prodN --product-secret "$PSECRET" --devices 200 \
    --threads 4 --prefix P --log "$T/ansA" >"$T/simA.out" 2>"$T/simA.err" &
simA=$!
"$DEVSIM" --api "$API_B" --ca "$CA" --product prodN --product-secret "$PSECRET" --devices 200 \
    --threads 4 --prefix P --log "$T/ansB" >"$T/simB.out" 2>"$T/simB.err" &
simB=$!
wait $simA || true; wait $simB || true   # each is refused what the other won
actA=$(grep -c '^ACT' "$T/ansA" || true); actB=$(grep -c '^ACT' "$T/ansB" || true)
[ $((actA + actB)) = 200 ] || fail "activations accepted: $actA via A + $actB via B, want 200 in all"
dup=$(cat "$T/ansA" "$T/ansB" | grep '^ACT' | cut -d' ' -f2 | sort | uniq -d)
[ -z "$dup" ] || fail "activated twice: $dup"
other=$(cat "$T/simA.err" "$T/simB.err" | grep '^hub_devsim: /api/v1/device/activate' |
    grep -v -e '"error":"already_activated"' -e '"error":"replayed"' || true)
# (the two simulators may sign the very same request in the same ms: a replay)
[ -z "$other" ] || fail "activation refusals other than already_activated/replayed: $(head -n 3 <<<"$other")"
certs=$(cat "$T/ansA" "$T/ansB" | grep -c '^CERT' || true)
[ "$certs" = 200 ] || fail "certificates: $certs, want 200 (one per activated device)"
all=$(admin GET /api/v1/admin/certs)
dups=$(jq -r '.data.certs[].certSn' <<<"$all" | sort | uniq -d)
[ -z "$dups" ] || fail "serial issued twice: $dups"
pass "200 devices raced through both nodes: $actA activations via A, $actB via B, none twice; $certs certificates, serials unique"
