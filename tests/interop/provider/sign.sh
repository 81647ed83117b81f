#!/usr/bin/env bash
# Signatures through stock openssl: RSA PKCS#1 v1.5 and PSS (salt = digest
# length; "auto" accepted, "max" refused with the reason), ECDSA, sign on a
# precomputed digest (pkeyutl), verification in software, digest refusals and
# keys with an authorisation value. Every signature is checked by the
# default provider alone, in both provider orders.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/lib.sh"

openssl genpkey "${EK_PROV_GEN[@]}" -algorithm RSA -pkeyopt bits:2048 -out "$T/rsa.pem" ||
    fail "genpkey RSA"
openssl genpkey "${EK_PROV_GEN[@]}" -algorithm EC -pkeyopt group:P-256 -out "$T/ec.pem" ||
    fail "genpkey EC"
openssl genpkey "${EK_PROV_GEN[@]}" -algorithm EC -pkeyopt group:P-384 -out "$T/p384.pem" ||
    fail "genpkey EC P-384"
for k in rsa ec p384; do
    openssl pkey "${EK_PROV[@]}" -in "$T/$k.pem" -pubout -out "$T/$k.pub" || fail "pubout $k"
done
head -c 100000 /dev/urandom >"$T/data"

# sign_verify KEY MD PUBVERIFYOPTS -- SIGNOPTS: sign with edgekey, verify with
# the default provider only.
sign_verify() {
    local k=$1 md=$2 vopts=$3
    shift 4
    openssl dgst "${P[@]}" "-$md" -sign "$T/$k.pem" "$@" -out "$T/sig" "$T/data" ||
        fail "sign $k $md $* ($order)"
    # shellcheck disable=SC2086
    openssl dgst "-$md" -verify "$T/$k.pub" $vopts -signature "$T/sig" "$T/data" >/dev/null ||
        fail "default provider rejects the $k $md signature ($* $order)"
}

for order in "${EKP_ORDERS[@]}"; do
    ekp_order "$order"
    for md in sha256 sha384 sha512; do
        sign_verify rsa $md "" --
        sign_verify ec $md "" --
        sign_verify p384 $md "" --
    done
    # PSS with salt = digest length, checked strictly (-1 = salt must be digest length).
    pss_v="-sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-1"
    sign_verify rsa sha256 "$pss_v" -- -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest
    sign_verify rsa sha384 "$pss_v" -- -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:48
    sign_verify rsa sha256 "$pss_v" -- -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:auto
    ekp_must_fail "RSA-PSS salt length 'max' refused" openssl dgst "${P[@]}" -sha256 \
        -sign "$T/rsa.pem" -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:max \
        -out "$T/sig" "$T/data"
    ekp_must_fail "RSA-PSS salt length 20 refused" openssl dgst "${P[@]}" -sha256 \
        -sign "$T/rsa.pem" -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:20 \
        -out "$T/sig" "$T/data"
    ekp_must_fail "digest MD5 refused" openssl dgst "${P[@]}" -md5 -sign "$T/rsa.pem" \
        -out "$T/sig" "$T/data"

    # Verification with the key file goes through edgekey, in software.
    openssl dgst "${P[@]}" -sha256 -sign "$T/ec.pem" -out "$T/sig" "$T/data"
    openssl dgst "${P[@]}" -sha256 -prverify "$T/ec.pem" -signature "$T/sig" "$T/data" |
        grep -q "Verified OK" || fail "verify through edgekey ($order)"
    echo tampered >>"$T/data"
    if openssl dgst "${P[@]}" -sha256 -prverify "$T/ec.pem" -signature "$T/sig" "$T/data" \
        >/dev/null 2>&1; then
        fail "edgekey verified a signature over tampered data ($order)"
    fi

    # Sign a precomputed digest (EVP_PKEY_sign), verify with the default provider.
    openssl dgst -sha256 -binary "$T/data" >"$T/dgst"
    for k in rsa ec; do
        openssl pkeyutl "${P[@]}" -sign -inkey "$T/$k.pem" -in "$T/dgst" \
            -pkeyopt digest:sha256 -out "$T/dsig" || fail "pkeyutl -sign $k ($order)"
        openssl pkeyutl -verify -pubin -inkey "$T/$k.pub" -in "$T/dgst" -sigfile "$T/dsig" \
            -pkeyopt digest:sha256 | grep -q "Verified Successfully" ||
            fail "pkeyutl signature of $k does not verify ($order)"
    done
    pass "PKCS#1, PSS, ECDSA, sign-on-digest, software verify ($order)"
done

# A key with an authorisation value: right passphrase signs, none or a wrong
# one is refused (one wrong try only: the TPM counts them).
openssl genpkey "${EK_PROV_GEN[@]}" -algorithm EC -pkeyopt group:P-256 \
    -pkeyopt edgekey-auth:s3cret -out "$T/auth.pem" || fail "genpkey with edgekey-auth"
openssl pkey "${EK_PROV[@]}" -in "$T/auth.pem" -passin pass:s3cret -pubout -out "$T/auth.pub"
openssl dgst "${EK_PROV[@]}" -sha256 -sign "$T/auth.pem" -passin pass:s3cret \
    -out "$T/sig" "$T/data" || fail "sign with the right authorisation value"
openssl dgst -sha256 -verify "$T/auth.pub" -signature "$T/sig" "$T/data" >/dev/null ||
    fail "auth key signature does not verify"
if openssl dgst "${EK_PROV[@]}" -sha256 -sign "$T/auth.pem" -passin pass:wrong \
    -out "$T/sig" "$T/data" 2>"$T/auth.err"; then
    fail "signed with a wrong authorisation value"
fi
grep -qi "auth" "$T/auth.err" || { cat "$T/auth.err"; fail "wrong auth: no authorisation message"; }
pass "key with an authorisation value"
