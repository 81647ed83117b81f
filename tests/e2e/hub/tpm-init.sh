#!/usr/bin/env bash
# Issue 4, acceptance 1: step 1 end to end with keys in swtpm. `init` makes
# the issuing CA key and the hub key in the TPM (edgekey keygen), the hub's
# CSR is signed by the TPM, the CA (TPM key through the provider) issues the
# hub certificate; the API (TPM key through edgekey-pkcs11.so in GnuTLS) and
# the broker (TPM key through the provider, key file = EDGEKEY URI PEM)
# serve with it: openssl s_client verifies chain and host name on both.
. "$(dirname "$0")/lib.sh"
command -v edgekey >/dev/null || fail "edgekey CLI not on PATH"
[ -f "$EDGEKEY_BUILD/provider/edgekey.so" ] || fail "provider not built"
[ -f "$EDGEKEY_BUILD/pkcs11/edgekey-pkcs11.so" ] || fail "PKCS#11 module not built"

hub_config tpm tpm
hub init >"$T/init.out" 2>&1 || { cat "$T/init.out"; fail "hub init with TPM keys"; }
for k in "$HUB_DIR/hub/hub.key" "$HUB_DIR/ca/issuing.key"; do
    grep -qE "BEGIN (EDGEKEY URI|TSS2 PRIVATE KEY)" "$k" || fail "$k is not a TPM key reference"
    grep -q "PRIVATE KEY-----" "$k" && ! grep -q TSS2 "$k" && fail "$k holds a software key"
done
edgekey list >"$T/list.out" 2>&1 || fail "edgekey list"
grep -q hub-tls "$T/list.out" && grep -q hub-ca "$T/list.out" || fail "TPM keys not in the store: $(cat "$T/list.out")"
pass "CA key and hub key made in the TPM ($(cat "$HUB_DIR/hub/hub.uri"))"

# The hub certificate carries the TPM key's public half and verifies.
openssl verify -CAfile "$CA" -purpose sslserver "$HUB_DIR/hub/hub.pem" >/dev/null || fail "hub cert chain"
openssl req -in "$HUB_DIR/hub/hub.csr" -noout -verify 2>&1 | grep -q "verify OK" || fail "hub CSR signature"
[ "$(openssl x509 -in "$HUB_DIR/hub/hub.pem" -noout -pubkey)" = "$(openssl req -in "$HUB_DIR/hub/hub.csr" -noout -pubkey)" ] ||
    fail "hub cert key is not the CSR's (TPM) key"
ext=$(openssl x509 -in "$HUB_DIR/hub/hub.pem" -noout -ext subjectAltName,extendedKeyUsage)
grep -q "DNS:localhost, IP Address:127.0.0.1" <<<"$ext" && grep -q "TLS Web Server Authentication" <<<"$ext" ||
    fail "hub cert SAN/EKU: $ext"
pass "hub CSR signed by the TPM key, hub certificate (serverAuth, SAN) verifies"

# check_tls NAME PORT [s_client args]: chain + host name + IP verified by
# stock s_client (the broker wants a client certificate: the service's).
check_tls() {
    local out name=$1 port=$2
    shift 2
    set -- "$name" "$port" "$@"
    out=$(openssl s_client -connect "127.0.0.1:$2" -CAfile "$CA" -verify_hostname localhost \
        -verify_return_error -tls1_2 "${@:3}" </dev/null 2>&1)
    grep -q "Verify return code: 0 (ok)" <<<"$out" || { echo "$out" | tail -20; fail "$1: s_client verification"; }
    out=$(openssl s_client -connect "127.0.0.1:$2" -CAfile "$CA" -verify_ip 127.0.0.1 \
        -verify_return_error "${@:3}" </dev/null 2>&1)
    grep -q "Verify return code: 0 (ok)" <<<"$out" || fail "$1: IP verification"
    out=$(openssl s_client -connect "127.0.0.1:$2" -CAfile "$CA" -verify_hostname wrong.example \
        -verify_return_error "${@:3}" </dev/null 2>&1) && fail "$1: wrong host name accepted"
    pass "$1 serves the TPM-keyed hub certificate: chain, host name and IP verified"
}
hub_start
check_tls "API (PKCS#11 key in GnuTLS)" "$API_PORT"
broker_start
check_tls "broker (provider key)" "$MQTT_PORT" -cert "$HUB_DIR/service/service.pem" \
    -key "$HUB_DIR/service/service.key"

# The TPM CA key issues a device certificate; the device publishes through
# the TPM-keyed broker; a revocation's CRL is signed by the TPM CA key.
product_add prodT
device_add prodT T1
activate prodT T1 "$PSECRET"
soft_key t1 T1 ec
apply prodT T1 "$DSECRET" "$T/t1.csr" "$T/t1.pem"
openssl verify -CAfile "$CA" "$T/t1.pem" >/dev/null || fail "device cert from the TPM CA does not verify"
mqtt_login_args prodT T1 "$DSECRET"
mosquitto_pub -h localhost -p "$MQTT_PORT" --cafile "$CA" --cert "$T/t1.pem" --key "$T/t1.key" \
    "${MQTT_ARGS[@]}" -q 1 -t /sys/prodT/T1/thing/measurepoint/post -m '{"id":"1","params":{"measurepoints":{"v":1}}}' \
    2>"$T/pub.err" || fail "device publish through the TPM-keyed broker: $(cat "$T/pub.err")"
pass "TPM CA issued $CERTSN; the device published through the broker"
admin POST /api/v1/admin/revoke "{\"certSn\":\"$CERTSN\",\"reason\":1}" >/dev/null
[ "$(status)" = 200 ] || fail "revoke"
curl -sS --cacert "$CA" "$API/api/v1/crl.pem" -o "$T/crl.pem"
openssl crl -in "$T/crl.pem" -CAfile "$CA" -verify -noout 2>&1 | grep -q "verify OK" || fail "CRL from the TPM CA key"
pass "CRL signed by the TPM CA key verifies"
