#!/usr/bin/env bash
# Issue 12: OpenSSL >= 3.4 signature "message" operations with TPM keys
# (built and run only against OpenSSL >= 3.4: the compat suite). An RSA-2048
# and a P-256 TPM key sign through EVP_PKEY_sign_message_init/update/final,
# the one-shot EVP_PKEY_sign and EVP_PKEY_sign_init_ex2 with the composite
# algorithms fetched from edgekey (ekp-sigmsg says what it checks); the
# default provider verifies every signature. And stock `openssl pkeyutl
# -sign -rawin` with a TPM key, verified by the default provider.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/lib.sh"
sigmsg=${1:?usage: sigmsg.sh EKP_SIGMSG}

openssl genpkey "${EK_PROV_GEN[@]}" -algorithm RSA -pkeyopt bits:2048 -out "$T/rsa.key" ||
    fail "genpkey RSA"
openssl genpkey "${EK_PROV_GEN[@]}" -algorithm EC -pkeyopt group:P-256 -out "$T/ec.key" ||
    fail "genpkey EC"
for k in rsa ec; do
    ekp_is_tss2 "$T/$k.key"
    openssl pkey "${EK_PROV[@]}" -in "$T/$k.key" -pubout -out "$T/$k.pub" || fail "pubout $k"
done

"$sigmsg" "$T/rsa.key" "$T/ec.key" || fail "signature message operations with TPM keys"

# pkeyutl -rawin: the whole message in, signed with the TPM key; the
# default provider alone verifies it, and refuses it on a changed message.
head -c 5000 /dev/urandom >"$T/data"
cp "$T/data" "$T/bad"
printf x >>"$T/bad"
for k in rsa ec; do
    for md in sha256 sha384; do
        openssl pkeyutl "${EK_PROV[@]}" -sign -rawin -digest $md -inkey "$T/$k.key" \
            -in "$T/data" -out "$T/sig" || fail "pkeyutl -sign -rawin $k $md"
        openssl pkeyutl -verify -rawin -digest $md -pubin -inkey "$T/$k.pub" -in "$T/data" \
            -sigfile "$T/sig" >/dev/null || fail "default provider rejects pkeyutl -rawin $k $md"
        if openssl pkeyutl -verify -rawin -digest $md -pubin -inkey "$T/$k.pub" -in "$T/bad" \
            -sigfile "$T/sig" >/dev/null 2>&1; then
            fail "pkeyutl -rawin $k $md signature verified on a changed message"
        fi
        pass "pkeyutl -sign -rawin $k $md with the TPM key, verified by the default provider"
    done
done
