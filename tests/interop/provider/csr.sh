#!/usr/bin/env bash
# Issue 2, acceptance 2: `openssl req -new -key ADDR` signs a CSR in the TPM
# for every address form (pkcs11: URI of a key in the token, handle: of a
# persistent key, TSS2 key file, EDGEKEY URI PEM file), in both provider
# orders; `openssl req -verify` with the default provider alone accepts each.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/lib.sh"
helper=${1:?usage: csr.sh EKP_HELPER}

# Keys: in the token (label), persistent (handle), plain key files.
openssl genpkey "${EK_PROV_GEN[@]}" -algorithm RSA -pkeyopt bits:2048 \
    -pkeyopt edgekey-label:dev-rsa -out "$T/rsa.pem" || fail "genpkey RSA into the token"
openssl genpkey "${EK_PROV_GEN[@]}" -algorithm EC -pkeyopt group:P-256 \
    -pkeyopt edgekey-label:dev-ec -out "$T/ec.pem" || fail "genpkey EC into the token"
openssl genpkey "${EK_PROV_GEN[@]}" -algorithm RSA -pkeyopt bits:2048 \
    -pkeyopt edgekey-persist:0x81010011 -out "$T/rsa-h.pem" || fail "genpkey RSA persistent"
openssl genpkey "${EK_PROV_GEN[@]}" -algorithm EC -pkeyopt group:P-256 \
    -pkeyopt edgekey-persist:0x81010012 -out "$T/ec-h.pem" || fail "genpkey EC persistent"
for a in rsa ec; do
    "$helper" uri-pem "pkcs11:token=edge;object=dev-$a;type=private" "$T/$a.ref.pem" ||
        fail "URI PEM for dev-$a"
    grep -q "BEGIN EDGEKEY URI" "$T/$a.ref.pem" || fail "no EDGEKEY URI PEM written"
done

# csr_for NAME ADDRESS PUBFILE: CSR with the key at ADDRESS in both orders; the
# CSR verifies with the default provider and carries the key's public half.
csr_for() {
    local name=$1 addr=$2 pub=$3 order
    for order in "${EKP_ORDERS[@]}"; do
        ekp_order "$order"
        rm -f "$T/$name.csr"
        openssl req "${P[@]}" -new -key "$addr" -subj "/O=edgekey/CN=$name" \
            -out "$T/$name.csr" || fail "req -new -key $addr ($order)"
        ekp_verify_csr "$T/$name.csr"
        openssl req -in "$T/$name.csr" -pubkey -noout >"$T/$name.csr.pub"
        cmp -s "$T/$name.csr.pub" "$pub" || fail "CSR for $addr carries another key ($order)"
    done
    pass "CSR with $addr (both orders, verified by the default provider)"
}

for a in rsa ec; do
    openssl pkey "${EK_PROV[@]}" -in "$T/$a.pem" -pubout -out "$T/$a.pub"
    openssl pkey "${EK_PROV[@]}" -in "$T/$a-h.pem" -pubout -out "$T/$a-h.pub"
    csr_for "uri-$a" "pkcs11:token=edge;object=dev-$a;type=private" "$T/$a.pub"
    csr_for "file-$a" "$T/$a.pem" "$T/$a.pub"
    csr_for "ref-$a" "$T/$a.ref.pem" "$T/$a.pub"
done
csr_for "handle-rsa" "handle:0x81010011" "$T/rsa-h.pub"
# The DER form of both key files (TSS2 key and wrapped URI): the same decoder.
for a in rsa ec; do
    for f in "$a" "$a.ref"; do
        sed '/^-----/d' "$T/$f.pem" | base64 -d >"$T/$f.der" || fail "DER of $f.pem"
        openssl req "${EK_PROV[@]}" -new -keyform DER -key "$T/$f.der" -subj "/CN=der-$f" \
            -out "$T/der-$f.csr" || fail "req -keyform DER -key $f.der"
        ekp_verify_csr "$T/der-$f.csr"
        openssl req -in "$T/der-$f.csr" -pubkey -noout | cmp -s - "$T/$a.pub" ||
            fail "CSR from $f.der carries another key"
    done
done
pass "TSS2 key file and wrapped URI in DER form (-keyform DER)"
csr_for "handle-ec" "handle:0x81010012" "$T/ec-h.pub"

# RSA-PSS CSR (salt = digest length) and a self-signed certificate (X509_sign).
openssl req "${EK_PROV[@]}" -new -key "$T/rsa.pem" -subj /CN=pss -sigopt rsa_padding_mode:pss \
    -sigopt rsa_pss_saltlen:digest -out "$T/pss.csr" || fail "PSS CSR"
ekp_verify_csr "$T/pss.csr"
openssl req -in "$T/pss.csr" -noout -text | grep -q "rsassaPss" || fail "PSS CSR is not rsassaPss"
for a in rsa ec; do
    openssl req "${EK_PROV[@]}" -x509 -new -key "pkcs11:token=edge;object=dev-$a" \
        -subj "/CN=self-$a" -days 1 -out "$T/self-$a.pem" || fail "self-signed $a certificate"
    openssl verify -CAfile "$T/self-$a.pem" "$T/self-$a.pem" >/dev/null ||
        fail "self-signed $a certificate does not verify"
done
pass "RSA-PSS CSR and self-signed certificates"

# A key with an authorisation value in the token: pin-value in the URI.
openssl genpkey "${EK_PROV_GEN[@]}" -algorithm EC -pkeyopt group:P-256 \
    -pkeyopt edgekey-label:dev-pin -pkeyopt edgekey-auth:1234 -out "$T/pin.pem" ||
    fail "genpkey with label and auth"
openssl req "${EK_PROV[@]}" -new -key 'pkcs11:token=edge;object=dev-pin;pin-value=1234' \
    -subj /CN=pin -out "$T/pin.csr" || fail "req with pin-value in the URI"
ekp_verify_csr "$T/pin.csr"
openssl req "${EK_PROV[@]}" -new -key "$T/pin.pem" -passin pass:1234 -subj /CN=pin2 \
    -out "$T/pin2.csr" || fail "req with -passin for a TSS2 key with auth"
ekp_verify_csr "$T/pin2.csr"
pass "keys with an authorisation value: pin-value and -passin"

# Addresses that match nothing: a pkcs11: URI is declined without edgekey
# error noise; a missing handle is reported.
if openssl req "${EK_PROV[@]}" -new -key 'pkcs11:token=edge;object=nosuchkey' -subj /CN=x \
    -out "$T/x.csr" 2>"$T/nokey.err"; then
    fail "req with an unknown pkcs11: URI succeeded"
fi
if grep -q "edgekey" "$T/nokey.err"; then
    cat "$T/nokey.err"
    fail "declined pkcs11: URI left edgekey errors"
fi
ekp_must_fail "0x81010099" openssl req "${EK_PROV[@]}" -new -key handle:0x81010099 \
    -subj /CN=x -out "$T/x.csr"
pass "unknown pkcs11: URI declined quietly; unknown handle reported"
