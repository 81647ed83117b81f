#!/usr/bin/env bash
# Issue 4, acceptance 2: with curl and openssl as the device (software keys):
# registration, activation, apply, renew over mutual TLS, list, revoke, CRL
# download verified with `openssl crl -verify`.
. "$(dirname "$0")/lib.sh"

hub_config file file "renew_grace_s = 3"
hub init >/dev/null || fail "hub init"
hub_start

product_add prodA
device_add prodA SN-0001
[ "$(admin GET '/api/v1/admin/devices?productKey=prodA' | jq -r '.data.devices[0].state')" = registered ] ||
    fail "device not listed as registered"
pass "product and SN pre-registered"

activate prodA SN-0001 "$PSECRET"
[ ${#DSECRET} -ge 32 ] || fail "no deviceSecret"
[ "$(admin GET /api/v1/admin/devices | jq -r '.data.devices[0].state')" = activated ] ||
    fail "device not activated"
pass "activation returned a deviceSecret"

soft_key dev SN-0001 ec
apply prodA SN-0001 "$DSECRET" "$T/dev.csr" "$T/dev.pem"
openssl verify -CAfile "$CA" -purpose sslclient "$T/dev.pem" >/dev/null || fail "issued cert does not verify"
openssl x509 -in "$T/dev.pem" -noout -subject | grep -q "CN *= *SN-0001" || fail "CN is not the device key"
openssl x509 -in "$T/dev.pem" -noout -ext extendedKeyUsage,keyUsage,crlDistributionPoints |
    tr -d '\n' | grep -q "Digital Signature.*Client Authentication.*api/v1/crl" ||
    fail "device cert extensions"
SN1=$CERTSN
pass "apply issued $SN1 (clientAuth, digitalSignature, CRL DP)"

# Renew over mutual TLS with the current certificate.
renew dev dev2 SN-0001
SN2=$CERTSN
[ "$SN2" != "$SN1" ] || fail "renew reused the serial"
certs=$(admin GET '/api/v1/admin/certs?deviceKey=SN-0001')
# superseded, or already revoked as superseded (reason 4) if this run is slow
st=$(jq -r --arg s "$SN1" '.data.certs[] | select(.certSn == $s) | "\(.state)/\(.reason)"' <<<"$certs")
[ "$st" = superseded/-1 ] || [ "$st" = revoked/4 ] || fail "old cert not superseded: $certs"
pass "renew over mTLS issued $SN2, $SN1 superseded"

# Renew with the superseded certificate is refused; a foreign subject too.
r=$(api POST /api/v1/device/cert/renew "$(jq -nc --rawfile c "$T/dev2.csr" '{csr:$c}')" \
    --cert "$T/dev.pem" --key "$T/dev.key")
expect_error 403 client_cert_inactive "$r" "renew with the superseded cert"
soft_key other SN-9999 ec
r=$(api POST /api/v1/device/cert/renew "$(jq -nc --rawfile c "$T/other.csr" '{csr:$c}')" \
    --cert "$T/dev2.pem" --key "$T/dev2.key")
expect_error 400 csr_subject "$r" "renew for another subject"

# The superseded cert is revoked after the grace period (3 s here).
for _ in $(seq 100); do
    st=$(admin GET '/api/v1/admin/certs?deviceKey=SN-0001' | jq -r --arg s "$SN1" '.data.certs[] | select(.certSn == $s) | .state')
    [ "$st" = revoked ] && break
    sleep 0.1
done
[ "$st" = revoked ] || fail "superseded cert not revoked after the grace period ($st)"
pass "superseded cert revoked after the grace period"

# The device lists its own certs over mTLS.
r=$(api GET /api/v1/device/cert/list "" --cert "$T/dev2.pem" --key "$T/dev2.key")
[ "$(jq '.data.certs | length' <<<"$r")" = 2 ] || fail "device list: $r"
pass "device lists its certificates over mTLS"

# Admin revocation, then the CRL download verifies and lists both serials.
r=$(admin POST /api/v1/admin/revoke "{\"certSn\":\"$SN2\",\"reason\":1}")
[ "$(status)" = 200 ] || fail "revoke: $r"
curl -sS --cacert "$CA" -o "$T/crl.der" "$API/api/v1/crl" || fail "CRL download"
openssl crl -inform DER -in "$T/crl.der" -CAfile "$CA" -verify -noout 2>&1 | grep -q "verify OK" ||
    fail "CRL does not verify"
crltext=$(openssl crl -inform DER -in "$T/crl.der" -noout -text)
for sn in "$SN1" "$SN2"; do
    grep -qi "Serial Number: *0*$sn" <<<"$crltext" || fail "CRL lacks $sn"
done
grep -q "Key Compromise" <<<"$crltext" || fail "CRL lacks the reason code"
pass "CRL downloaded, verified, lists $SN1 and $SN2 with reasons"
openssl verify -CAfile "$CA" -crl_check -CRLfile <(openssl crl -inform DER -in "$T/crl.der") \
    "$T/dev2.pem" >/dev/null 2>&1 && fail "revoked cert still verifies with the CRL"
pass "revoked cert fails openssl verify -crl_check"

# Revoke-self over mTLS needs an active cert: the revoked one is refused.
r=$(api POST /api/v1/device/cert/revoke '{"reason":1}' --cert "$T/dev2.pem" --key "$T/dev2.key")
expect_error 403 client_cert_inactive "$r" "revoke-self with a revoked cert"
# CLI views
hub --json cert list --device-key SN-0001 | jq -e '.certs | length == 2' >/dev/null || fail "cli cert list"
hub device list | grep -q "SN-0001 .*activated" || fail "cli device list"
pass "CLI lists devices and certificates"
