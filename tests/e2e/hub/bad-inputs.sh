#!/usr/bin/env bash
# Issue 4, acceptance 3: bad requests are refused with a clear JSON error and
# store nothing; SQL metacharacters are stored verbatim.
. "$(dirname "$0")/lib.sh"

hub_config file file
hub init >/dev/null || fail "hub init"
hub_start
product_add prodB
device_add prodB SN-B1
device_add prodB SN-B2

# The registry's row counts, to prove a refusal stored nothing.
counts() { hub_sql "SELECT (SELECT COUNT(*) FROM devices WHERE state<>0),(SELECT COUNT(*) FROM certificates),(SELECT COUNT(*) FROM nonces);"; }
hub_sql_available || counts() { hub --json cert list | jq -c '[.certs | length]'; }
before=$(counts)

ts=$(now_ms)
body=$(signed "WRONGSECRET" "$(jq -nc --arg t "$ts" '{productKey:"prodB",deviceKey:"SN-B1",timestamp:$t}')")
expect_error 401 bad_signature "$(api POST /api/v1/device/activate "$body")" "wrong productSecret"

body=$(signed "$PSECRET" "$(jq -nc --arg t "$ts" '{productKey:"prodB",deviceKey:"SN-NOPE",timestamp:$t}')")
expect_error 404 device_not_registered "$(api POST /api/v1/device/activate "$body")" "unregistered SN"

old=$(( $(now_ms) - 6 * 60 * 1000 ))
body=$(signed "$PSECRET" "$(jq -nc --arg t "$old" '{productKey:"prodB",deviceKey:"SN-B1",timestamp:$t}')")
expect_error 401 stale_timestamp "$(api POST /api/v1/device/activate "$body")" "timestamp 6 min old"

expect_error 400 malformed_json "$(api POST /api/v1/device/activate '{"productKey": "prodB",')" "malformed JSON"
expect_error 400 malformed_json "$(api POST /api/v1/device/activate '["not","an","object"]')" "JSON array body"
expect_error 400 malformed_json "$(api POST /api/v1/device/activate '{"a":1,"a":2}')" "duplicate keys"
head -c 70000 /dev/zero | tr '\0' 'x' >"$T/big"
r=$(curl -sS --cacert "$CA" -o "$T/resp" -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @"$T/big" "$API/api/v1/device/activate"); echo "$r" >"$T/status"
expect_error 413 body_too_large "$(cat "$T/resp")" "70 KB body"
[ "$(counts)" = "$before" ] || fail "a refused request stored something: $before -> $(counts)"
pass "nothing stored by the refusals so far ($before)"

# A good activation, then its replay and a second (fresh) activation.
body=$(signed "$PSECRET" "$(jq -nc --arg t "$(now_ms)" '{productKey:"prodB",deviceKey:"SN-B1",timestamp:$t}')")
r=$(api POST /api/v1/device/activate "$body")
[ "$(status)" = 200 ] || fail "activation: $r"
DSECRET=$(jq -r .data.deviceSecret <<<"$r")
expect_error 409 replayed "$(api POST /api/v1/device/activate "$body")" "replayed activation"
body=$(signed "$PSECRET" "$(jq -nc --arg t "$(now_ms)" '{productKey:"prodB",deviceKey:"SN-B1",timestamp:$t}')")
expect_error 409 already_activated "$(api POST /api/v1/device/activate "$body")" "second activation"

# CSR checks on apply.
before=$(counts)
apply_body() { signed "$DSECRET" "$(jq -nc --arg t "$(now_ms)" --rawfile c "$1" \
    '{productKey:"prodB",deviceKey:"SN-B1",csr:$c,validDay:5,timestamp:$t}')"; }
soft_key weak SN-B1 rsa1024
expect_error 400 key_policy "$(api POST /api/v1/device/cert/apply "$(apply_body "$T/weak.csr")")" "RSA-1024 CSR"
grep -q "RSA-1024 refused" "$T/resp" || fail "RSA-1024 message does not name the rule"
soft_key wrongcn SN-B2 ec
expect_error 400 csr_subject "$(api POST /api/v1/device/cert/apply "$(apply_body "$T/wrongcn.csr")")" "CN mismatch"
# Break the CSR's signature: flip one byte of the signature (the DER's end).
soft_key good SN-B1 ec
openssl req -in "$T/good.csr" -outform DER -out "$T/good.der"
n=$(stat -c %s "$T/good.der")
cp "$T/good.der" "$T/bad.der"
printf '\x01' | dd of="$T/bad.der" bs=1 seek=$((n - 3)) conv=notrunc 2>/dev/null
cmp -s "$T/good.der" "$T/bad.der" && { printf '\x02' | dd of="$T/bad.der" bs=1 seek=$((n - 3)) conv=notrunc 2>/dev/null; }
{ echo "-----BEGIN CERTIFICATE REQUEST-----"; base64 -w64 "$T/bad.der"; echo "-----END CERTIFICATE REQUEST-----"; } >"$T/bad.csr"
expect_error 400 csr_bad_signature "$(api POST /api/v1/device/cert/apply "$(apply_body "$T/bad.csr")")" "broken CSR signature"
body=$(apply_body "$T/good.csr")
expect_error 401 bad_signature "$(api POST /api/v1/device/cert/apply "$(jq -c '.validDay = 6' <<<"$body")")" "apply with a tampered field"
[ "$(counts)" = "$before" ] || fail "a refused apply stored something: $before -> $(counts)"
pass "nothing stored by the refused applies"

# TLS 1.1 clients are refused by the API (and TLS 1.2 accepted).
if openssl s_client -connect 127.0.0.1:$API_PORT -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' </dev/null >"$T/tls11.out" 2>&1; then
    fail "TLS 1.1 handshake accepted by the API"
fi
pass "TLS 1.1 client refused"
openssl s_client -connect 127.0.0.1:$API_PORT -tls1_2 -CAfile "$CA" -verify_return_error </dev/null \
    >"$T/tls12.out" 2>&1 || fail "TLS 1.2 handshake failed"
pass "TLS 1.2 client accepted"

# SQL metacharacters: stored and listed verbatim, and the tables still exist.
evil="x');DROP_TABLE_devices;--\"%_*'"
device_add prodB "$evil"
got=$(admin GET '/api/v1/admin/devices?productKey=prodB' | jq -r --arg e "$evil" '.data.devices[] | select(.deviceKey == $e) | .deviceKey')
[ "$got" = "$evil" ] || fail "SQL metacharacters not stored verbatim: '$got'"
[ "$(admin GET /api/v1/admin/devices | jq '.data.devices | length')" = 3 ] || fail "devices table damaged"
r=$(admin GET "/api/v1/admin/devices?productKey=prodB'%20OR%20'1'='1")
[ "$(jq '.data.devices | length' <<<"$r")" = 0 ] || fail "query injection matched rows: $r"
pass "SQL metacharacters stored verbatim, no injection"

# Admin endpoints need the token.
expect_error 401 unauthorized "$(api GET /api/v1/admin/devices)" "admin call without token"
