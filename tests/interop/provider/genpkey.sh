#!/usr/bin/env bash
# Issue 2, acceptance 1: `openssl genpkey` makes keys inside the TPM (RSA-2048,
# EC P-256), written as TSS2 PRIVATE KEY references; RSA-1024 is refused with
# the core's policy message; nothing private is ever exported.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/lib.sh"
helper=${1:?usage: genpkey.sh EKP_HELPER}

# 1. RSA-2048 and EC P-256 into the TPM, edgekey first (the genpkey order).
openssl genpkey "${EK_PROV_GEN[@]}" -algorithm RSA -pkeyopt bits:2048 -out "$T/rsa.pem" ||
    fail "genpkey RSA-2048 into the TPM"
ekp_is_tss2 "$T/rsa.pem"
openssl genpkey "${EK_PROV_GEN[@]}" -algorithm EC -pkeyopt group:P-256 -out "$T/ec.pem" ||
    fail "genpkey EC P-256 into the TPM"
ekp_is_tss2 "$T/ec.pem"
pass "genpkey RSA-2048 and EC P-256 wrote TSS2 key files"

# With default first a plain genpkey stays in software (the documented rule);
# -propquery provider=edgekey picks the TPM explicitly.
openssl genpkey "${EK_PROV[@]}" -algorithm EC -pkeyopt group:P-256 -out "$T/sw.pem" ||
    fail "software genpkey with default first"
head -n1 "$T/sw.pem" | grep -qx -- "-----BEGIN PRIVATE KEY-----" ||
    fail "default-first genpkey did not make a software key"
openssl genpkey "${EK_PROV[@]}" -propquery provider=edgekey -algorithm RSA \
    -pkeyopt bits:2048 -out "$T/rsa-pq.pem" || fail "genpkey -propquery provider=edgekey"
ekp_is_tss2 "$T/rsa-pq.pem"
pass "default first: software key; -propquery provider=edgekey: TPM key"

# 2. Policy: RSA-1024 and an unsupported curve are refused with the core's text.
ekp_must_fail "RSA-1024 refused: policy requires >= 2048 bits" \
    openssl genpkey "${EK_PROV_GEN[@]}" -algorithm RSA -pkeyopt bits:1024 -out "$T/bad.pem"
ekp_must_fail "EC group P-521 refused" \
    openssl genpkey "${EK_PROV_GEN[@]}" -algorithm EC -pkeyopt group:P-521 -out "$T/bad.pem"
[ ! -s "$T/bad.pem" ] || fail "a refused genpkey wrote a key file"
echo "allow_ec = no" >"$T/noec.conf"
EDGEKEY_CONF=$T/noec.conf ekp_must_fail "policy disallows EC keys" \
    openssl genpkey "${EK_PROV_GEN[@]}" -algorithm EC -pkeyopt group:P-256 -out "$T/bad.pem"
pass "RSA-1024, P-521 and EC-with-allow_ec=no refused with the policy message"

# 3. Public parts only: text shows the public key, never private numbers;
#    rewriting the key gives the same reference; todata refuses private parts.
for order in "${EKP_ORDERS[@]}"; do
    ekp_order "$order"
    for k in rsa ec; do
        openssl pkey "${P[@]}" -in "$T/$k.pem" -text -noout >"$T/$k.txt" ||
            fail "pkey -text $k ($order)"
        grep -q "the private key stays in the TPM" "$T/$k.txt" || fail "no TPM note in $k text"
        grep -q "Public-Key: (" "$T/$k.txt" || fail "no public key in $k text"
        if grep -qiE "privateExponent|prime1|priv:" "$T/$k.txt"; then
            fail "pkey -text printed private numbers for $k"
        fi
        openssl pkey "${P[@]}" -in "$T/$k.pem" -out "$T/$k.again.pem" || fail "pkey rewrite $k"
        cmp -s "$T/$k.pem" "$T/$k.again.pem" || fail "rewritten $k key differs ($order)"
        openssl pkey "${P[@]}" -in "$T/$k.pem" -pubout -out "$T/$k.pub" || fail "pkey -pubout $k"
        openssl pkey -pubin -in "$T/$k.pub" -noout || fail "default provider cannot read $k.pub"
    done
done
grep -q "Public-Key: (2048 bit)" "$T/rsa.txt" || fail "RSA key is not 2048 bits"
grep -q "NIST CURVE: P-256" "$T/ec.txt" || fail "EC key is not P-256"
"$helper" todata "$T/rsa.pem" || fail "EVP_PKEY_todata check (RSA)"
"$helper" todata "$T/ec.pem" || fail "EVP_PKEY_todata check (EC)"
pass "public parts only: text, -pubout, todata; TSS2 file round-trips"

# 4. A label also stores the key in the token (reachable by pkcs11: URI).
openssl genpkey "${EK_PROV_GEN[@]}" -algorithm EC -pkeyopt group:P-256 \
    -pkeyopt edgekey-label:gen1 -out "$T/gen1.pem" || fail "genpkey with edgekey-label"
ls "$EDGEKEY_STORE"/edge/*.key >/dev/null 2>&1 || fail "no key in the store's token 'edge'"
openssl pkey "${EK_PROV[@]}" -in 'pkcs11:token=edge;object=gen1;type=private' -pubout \
    -out "$T/gen1.uri.pub" || fail "pkcs11: URI of the labelled key"
openssl pkey "${EK_PROV[@]}" -in "$T/gen1.pem" -pubout -out "$T/gen1.file.pub"
cmp -s "$T/gen1.uri.pub" "$T/gen1.file.pub" || fail "URI and file give different keys"
pass "edgekey-label stores the key in the token"
