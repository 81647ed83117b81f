#!/usr/bin/env bash
# Issue 11: `edgekey-hub doctor` on a good hub (every check passes, exit 0)
# and on each broken set-up it diagnoses: missing config, registry missing /
# damaged / behind the schema, CA certificate missing, CA key not the
# issuing CA's, broker config missing / disagreeing with the hub config /
# without set_tcp_nodelay (warn),
# CRL stale (made 10 days ago with faketime), hub certificate near expiry
# and expired. Each time: the check fails (or warns), names the object, and
# gives a fix; where the fix is a command it is run and the check passes.
EDGEKEY_HUB_REGISTRY=sqlite   # its registry fixtures edit the SQLite file
. "$(dirname "$0")/lib.sh"
command -v faketime >/dev/null || fail "faketime not installed (scripts/deps)"
# The CRLs and certificates are crafted with software keys only: the stock
# openssl, not common.sh's ASan wrapper (libfaketime with the preloaded ASan
# runtime hangs openssl at start-up).
OSSL=$(type -P -a openssl | grep -v /asan-bin/ | head -1)

# doctor_json: runs `doctor --json`, sets DRC (exit status); output in $T/d.json
doctor_json() {
    DRC=0
    hub --json doctor >"$T/d.json" 2>"$T/d.err" || DRC=$?
}
# field CHECK KEY: a field of the named check ("" if the check is absent)
field() { jq -r --arg c "$1" --arg k "$2" '[.checks[] | select(.check == $c)][0][$k] // ""' "$T/d.json"; }

# expect CHECK STATUS REGEX WHAT: that check has STATUS, detail matching
# REGEX and (unless pass) a fix; exit 1 iff some check failed.
expect() {
    local check=$1 want=$2 re=$3 what=$4 st detail fix
    doctor_json
    st=$(field "$check" status)
    detail=$(field "$check" detail)
    fix=$(field "$check" fix)
    [ "$st" = "$want" ] || fail "$what: check $check is '$st', wanted $want: $(cat "$T/d.json")"
    grep -qE "$re" <<<"$detail" || fail "$what: $check detail '$detail' does not match /$re/"
    if [ "$want" != pass ]; then
        [ -n "$fix" ] || fail "$what: no fix given"
    fi
    if [ "$(jq -r .ok "$T/d.json")" = true ]; then
        [ "$DRC" = 0 ] || fail "$what: ok but exit $DRC"
    else
        [ "$DRC" = 1 ] || fail "$what: not ok but exit $DRC"
    fi
    pass "$what: $check $st: $detail${fix:+ -- fix: ${fix:0:100}}"
}

all_pass() {
    doctor_json
    [ "$DRC" = 0 ] && [ "$(jq -r .ok "$T/d.json")" = true ] ||
        fail "$1: doctor not clean (exit $DRC): $(cat "$T/d.json")"
    [ "$(jq -r '[.checks[] | select(.status != "pass")] | length' "$T/d.json")" = 0 ] ||
        fail "$1: a check did not pass: $(cat "$T/d.json")"
}

# No config at all.
rc=0
"$HUB_BIN" --config "$T/nope.conf" doctor >"$T/d.txt" 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "FAIL  config .*$T/nope.conf does not exist" "$T/d.txt" && grep -q "fix:" "$T/d.txt" ||
    fail "doctor without config: exit $rc: $(cat "$T/d.txt")"
pass "missing config: $(head -1 "$T/d.txt")"

# A good hub: every check passes, exit 0, text and JSON.
hub_config file file
hub init >"$T/init.out" 2>&1 || { cat "$T/init.out"; fail "hub init"; }
all_pass "good hub"
want="config registry ca-certs ca-key hub-cert hub-key broker-conf crl"
for c in $want; do [ -n "$(field "$c" status)" ] || fail "check $c missing: $(cat "$T/d.json")"; done
hub doctor >"$T/d.txt" || fail "doctor text on a good hub"
grep -q "doctor: 8 checks, 0 failed, 0 warnings" "$T/d.txt" || fail "doctor text: $(cat "$T/d.txt")"
pass "good hub: all 8 checks pass ($want)"

# Registry: missing, damaged, schema behind.
mkdir "$T/db.bak"
mv "$HUB_DIR"/hub.db* "$T/db.bak/"
expect registry fail "hub.db: cannot open" "registry missing"
cp "$T/db.bak/hub.db" "$HUB_DIR/hub.db"
printf 'this is not a database, it was overwritten by mistake\n%.0s' {1..200} >"$HUB_DIR/hub.db"
expect registry fail "hub.db: .*not a database" "registry damaged"
cp "$T/db.bak/hub.db" "$HUB_DIR/hub.db"
# a version-2 registry: migrations 3 (telemetry), 4 (attestation, issue 13)
# and 5 (issuers) not there yet
sqlite3 "$HUB_DIR/hub.db" "DROP TABLE telemetry_msgs; DROP TABLE attest_challenges;
    DROP INDEX devices_ek; ALTER TABLE devices DROP COLUMN ek_hash;
    ALTER TABLE devices DROP COLUMN attested; ALTER TABLE products DROP COLUMN attestation;
    DROP TABLE issuers; ALTER TABLE certificates DROP COLUMN issuer; PRAGMA user_version=2;"
expect registry fail "schema version 2, this edgekey-hub needs" "registry schema behind"
fix=$(field registry fix)
hub crl >/dev/null || fail "the registry fix (edgekey-hub crl migrates)"
expect registry pass "schema version [0-9]+ \\(current\\)" "after the fix ($fix)"

# CA: issuing certificate missing; CA key not the issuing CA's.
mv "$HUB_DIR/ca/issuing.pem" "$T/issuing.pem"
expect ca-certs fail "issuing.pem is missing" "issuing CA certificate missing"
mv "$T/issuing.pem" "$HUB_DIR/ca/issuing.pem"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/other.key" 2>/dev/null
cp "$HUB_CONF" "$T/hub.conf.good"
echo "ca_key = $T/other.key" >>"$HUB_CONF"
expect ca-key fail "does not match" "CA key of another CA"
cp "$T/hub.conf.good" "$HUB_CONF"
expect ca-key pass "matches issuing.pem" "CA key restored"

# Broker config: missing; disagreeing with the hub config (port moved).
mv "$HUB_DIR/broker/mosquitto.conf" "$T/mosquitto.conf"
expect broker-conf fail "mosquitto.conf is missing" "broker config missing"
mv "$T/mosquitto.conf" "$HUB_DIR/broker/mosquitto.conf"
echo "mqtt_port = $((MQTT_PORT + 5))" >>"$HUB_CONF"
expect broker-conf fail "listener is $MQTT_PORT 127.0.0.1, hub config gives $((MQTT_PORT + 5))" \
    "broker config for another port"
grep -q "init" <<<"$(field broker-conf fix)" || fail "broker fix is not init"
hub init >/dev/null || fail "the broker fix (init rewrites the broker config)"
expect broker-conf pass "listener $((MQTT_PORT + 5))" "after the fix (init)"
sed -i "s|^cafile .*|cafile $T/elsewhere.pem|" "$HUB_DIR/broker/mosquitto.conf"
expect broker-conf fail "cafile is $T/elsewhere.pem, hub config gives $HUB_DIR/ca/cas.pem" \
    "broker config with another CA bundle"
cp "$T/hub.conf.good" "$HUB_CONF"
hub init >/dev/null || fail "init again"
all_pass "restored"
# A hand-written broker config without set_tcp_nodelay true works, but each
# CONNACK waits for Nagle (docs/scaling.md): a warning (exit 0), with the line.
grep -qx "set_tcp_nodelay true" "$HUB_DIR/broker/mosquitto.conf" ||
    fail "init wrote no 'set_tcp_nodelay true': $(cat "$HUB_DIR/broker/mosquitto.conf")"
sed -i '/^set_tcp_nodelay /d' "$HUB_DIR/broker/mosquitto.conf"
expect broker-conf warn "set_tcp_nodelay is not set" "broker config without set_tcp_nodelay"
echo "set_tcp_nodelay false" >>"$HUB_DIR/broker/mosquitto.conf"
expect broker-conf warn "set_tcp_nodelay is false" "broker config with set_tcp_nodelay false"
grep -q "add the line 'set_tcp_nodelay true' to $HUB_DIR/broker/mosquitto.conf" \
    <<<"$(field broker-conf fix)" || fail "nodelay fix: $(field broker-conf fix)"
hub init >/dev/null || fail "init rewrites the broker config"
all_pass "broker config rewritten with set_tcp_nodelay true"

# CRL stale: one made 10 days ago (7-day validity) by the same CA key.
touch "$T/index.txt"
printf '[ca]\ndefault_ca = d\n[d]\ndatabase = %s/index.txt\ndefault_md = sha256\n' "$T" >"$T/ca.cnf"
faketime -f '-10d' "$OSSL" ca -config "$T/ca.cnf" -gencrl -keyfile "$HUB_DIR/ca/issuing.key" \
    -cert "$HUB_DIR/ca/issuing.pem" -crldays 7 -out "$HUB_DIR/ca/crl.pem" 2>"$T/ca.err" ||
    fail "making an old CRL: $(cat "$T/ca.err")"
expect crl fail "stale: nextUpdate passed 2d 23h ago|stale: nextUpdate passed 3d 0h ago" "CRL stale"
grep -q " crl" <<<"$(field crl fix)" || fail "CRL fix is not 'edgekey-hub crl'"
hub crl >/dev/null || fail "the CRL fix"
expect crl pass "fresh: nextUpdate in (6d 23h|7d 0h)" "after the fix (edgekey-hub crl)"
# A CRL signed by another key (the root's) is not the issuing CA's.
"$OSSL" ca -config "$T/ca.cnf" -gencrl -keyfile "$HUB_DIR/ca/root.key" \
    -cert "$HUB_DIR/ca/root.pem" -crldays 7 -out "$HUB_DIR/ca/crl.pem" 2>/dev/null ||
    fail "making a foreign CRL"
expect crl fail "not signed by the issuing CA" "CRL signed by another key"
hub crl >/dev/null || fail "CRL again"

# Hub certificate: 10 days left (warn, exit 0), then expired (fail).
cp "$HUB_DIR/hub/hub.pem" "$T/hub.pem.good"
hubcert() {
    faketime -f "$1" "$OSSL" x509 -req -in "$HUB_DIR/hub/hub.csr" -CA "$HUB_DIR/ca/issuing.pem" \
        -CAkey "$HUB_DIR/ca/issuing.key" -set_serial "0x$RANDOM$RANDOM" -days "$2" \
        -out "$HUB_DIR/hub/hub.pem" 2>"$T/x509.err" || fail "making a hub cert: $(cat "$T/x509.err")"
}
hubcert '+0d' 10
expect hub-cert warn "expires in (9|10) days" "hub certificate near expiry"
[ "$(jq -r .warnings "$T/d.json")" = 1 ] || fail "warning not counted"
hubcert '-400d' 30
expect hub-cert fail "expired" "hub certificate expired"
expect hub-key pass "matches" "hub key still matches the expired certificate"
fix=$(field hub-cert fix)
grep -q "rm $HUB_DIR/hub/hub.pem $HUB_DIR/hub/hub-chain.pem; edgekey-hub --config $HUB_CONF init" <<<"$fix" ||
    fail "hub-cert fix: $fix"
rm "$HUB_DIR/hub/hub.pem" "$HUB_DIR/hub/hub-chain.pem"
hub init >/dev/null || fail "the hub-cert fix"
expect hub-cert pass "valid 36[45] more days" "after the fix (new hub certificate)"
all_pass "repaired hub"
pass "doctor: a good hub passes, each broken set-up fails with its fix"
