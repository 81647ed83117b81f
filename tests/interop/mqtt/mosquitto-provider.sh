#!/usr/bin/env bash
# Issue 2, acceptance 4: unmodified mosquitto_pub 2.0.11, with OPENSSL_CONF
# activating edgekey and --key pointing at a TSS2 PEM (and at a URI PEM),
# connects with mutual TLS 1.2 to a broker with require_certificate true, and
# the message goes through.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/../../lib/pki.sh"

pki=$T/pki
ek_pki_ca "$pki"
ek_pki_issue "$pki" broker localhost "" server
ek_pki_issue "$pki" sub subscriber "" client

port=$EDGEKEY_TEST_PORT_BASE
cat >"$T/mosquitto.conf" <<EOF
per_listener_settings false
allow_anonymous true
log_dest stderr
log_type error
log_type warning
log_type notice
$([ "$(id -u)" = 0 ] && echo "user root")
listener $port 127.0.0.1
cafile $pki/ca.pem
certfile $pki/broker.pem
keyfile $pki/broker.key
require_certificate true
tls_version tlsv1.2
EOF
ek_bg mosquitto -c "$T/mosquitto.conf" 2>"$T/mosquitto.log"
ek_wait_port "$port" || { cat "$T/mosquitto.log"; fail "broker did not start"; }

ek_openssl_cnf "$T/openssl.cnf"

# 1. A TPM key as a TSS2 PRIVATE KEY file, made by openssl genpkey.
openssl genpkey -provider default -provider edgekey -propquery provider=edgekey -algorithm EC \
    -pkeyopt group:P-256 -out "$T/dev1.key" || fail "genpkey into the TPM"
grep -q "BEGIN TSS2 PRIVATE KEY" "$T/dev1.key" || fail "genpkey did not write a TSS2 key"
OPENSSL_CONF=$T/openssl.cnf openssl req -new -key "$T/dev1.key" -subj /CN=dev1 \
    -out "$T/dev1.csr" || fail "CSR with the TPM key"
ek_pki_sign_csr "$pki" "$T/dev1.csr" "$T/dev1.pem" client

# publish_with KEYFILE CERT TOPIC: one message from a TPM-keyed mosquitto_pub.
publish_with() {
    local key=$1 cert=$2 topic=$3 msg="hello from $3 $$"
    rm -f "$T/sub.out"
    mosquitto_sub -h 127.0.0.1 -p "$port" --cafile "$pki/ca.pem" \
        --cert "$pki/sub.pem" --key "$pki/sub.key" -t "$topic" -C 1 -W 20 \
        >"$T/sub.out" 2>"$T/sub.err" &
    local sub=$!
    sleep 0.5
    OPENSSL_CONF=$T/openssl.cnf mosquitto_pub -h 127.0.0.1 -p "$port" \
        --cafile "$pki/ca.pem" --cert "$cert" --key "$key" \
        -t "$topic" -m "$msg" -q 1 2>"$T/pub.err" ||
        { cat "$T/pub.err" "$T/mosquitto.log"; kill $sub; fail "mosquitto_pub with $key"; }
    wait $sub || { cat "$T/sub.err"; fail "subscriber got nothing for $topic"; }
    grep -qx "$msg" "$T/sub.out" || fail "wrong message on $topic: $(cat "$T/sub.out")"
    pass "mosquitto_pub --key $(basename "$key") published over mutual TLS"
}

publish_with "$T/dev1.key" "$T/dev1.pem" "/sys/pk/dev1/thing/measurepoint/post"

# 2. A key in the token, reached through a PEM that wraps its pkcs11: URI.
if command -v edgekey >/dev/null; then
    edgekey keygen --label dev2 --alg rsa2048 >"$T/keygen.out" || fail "edgekey keygen"
    edgekey export-ref 'pkcs11:token=edge;object=dev2;type=private' --out "$T/dev2.ref.pem" ||
        fail "edgekey export-ref"
    grep -q "BEGIN EDGEKEY URI" "$T/dev2.ref.pem" || fail "export-ref wrote no URI PEM"
    OPENSSL_CONF=$T/openssl.cnf openssl req -new -key "$T/dev2.ref.pem" -subj /CN=dev2 \
        -out "$T/dev2.csr" || fail "CSR through the URI PEM"
    ek_pki_sign_csr "$pki" "$T/dev2.csr" "$T/dev2.pem" client
    publish_with "$T/dev2.ref.pem" "$T/dev2.pem" "/sys/pk/dev2/thing/measurepoint/post"
else
    fail "edgekey CLI not built"
fi

# 3. The broker refuses a client without a certificate.
if mosquitto_pub -h 127.0.0.1 -p "$port" --cafile "$pki/ca.pem" -t x -m y 2>/dev/null; then
    fail "broker accepted a client without a certificate"
fi
pass "client without certificate refused"
