#!/usr/bin/env bash
# Issue 3, acceptance 6: one key, three faces.
#  - a key made by pkcs11-tool --keypairgen (PIN token) signs through the
#    OpenSSL provider under the same pkcs11: URI (pin-value gives the user PIN);
#  - a key made by `edgekey keygen` (default PIN-less token "edge") signs
#    through the module, without login.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/p11-common.sh"

ek_p11_token tok1
L=(--token-label tok1 --login --pin "$EK_PIN")
echo "the data to sign $$" >"$T/data"

# 1. pkcs11-tool keys -> provider: in the PIN-less token "edge" (made by
#    `edgekey keygen` below, so it runs first) and in the PIN token tok1.
edgekey keygen --label first --alg ec-p256 >/dev/null || fail "edgekey keygen (creates token edge)"
p11 --token-label edge --keypairgen --key-type rsa:2048 --id 21 --label prsa >/dev/null ||
    fail "keygen RSA in edge"
p11 "${L[@]}" --keypairgen --key-type rsa:2048 --id 11 --label xrsa >/dev/null || fail "keygen RSA"
p11 "${L[@]}" --keypairgen --key-type EC:prime256v1 --id 12 --label xec >/dev/null || fail "keygen EC"
for k in edge:prsa:21 tok1:xrsa:11 tok1:xec:12; do
    IFS=: read -r tok name id <<<"$k"
    ek_p11_pubkey "$tok" "$id" "$T/$name.pub.pem" || fail "read public key $name"
    uri="pkcs11:token=$tok;object=$name;type=private"
    [ "$tok" = tok1 ] && uri="$uri?pin-value=$EK_PIN"
    openssl dgst -sha256 "${EK_PROV[@]}" -sign "$uri" -out "$T/$name.sig" "$T/data" ||
        fail "provider could not sign with the pkcs11-tool key $tok/$name"
    openssl dgst -sha256 -verify "$T/$name.pub.pem" -signature "$T/$name.sig" \
        "$T/data" >/dev/null || fail "provider signature with $name does not verify"
    if [ "$tok" = tok1 ]; then
        openssl dgst -sha256 "${EK_PROV[@]}" -sign "pkcs11:token=tok1;object=$name?pin-value=0000" \
            -out "$T/bad.sig" "$T/data" 2>/dev/null && fail "provider signed with a wrong PIN"
    fi
    pass "pkcs11-tool key $tok/$name signs through the OpenSSL provider"
done

# 2. edgekey keygen key -> module (PIN-less default token: no login).
for alg in rsa2048 ec-p384; do
    edgekey keygen --label "cli-$alg" --alg "$alg" >"$T/cli-$alg.uri" || fail "edgekey keygen $alg"
    id=$(p11 --token-label edge --list-objects --type privkey |
        awk -v l="cli-$alg" '$1=="label:" && $2==l {f=1} f && $1=="ID:" {print $2; exit}')
    [ -n "$id" ] || { p11 --token-label edge --list-objects; fail "module does not list cli-$alg"; }
    case $alg in rsa*) mech=SHA256-RSA-PKCS ;; *) mech=ECDSA-SHA256 ;; esac
    p11 --token-label edge --sign --id "$id" -m "$mech" --signature-format openssl \
        --input-file "$T/data" --output-file "$T/cli-$alg.sig" >/dev/null 2>&1 ||
        fail "module could not sign with the edgekey keygen key ($alg)"
    ek_p11_pubkey edge "$id" "$T/cli-$alg.pub.pem" || fail "export public key cli-$alg"
    openssl dgst -sha256 -verify "$T/cli-$alg.pub.pem" -signature "$T/cli-$alg.sig" \
        "$T/data" >/dev/null || fail "module signature with cli-$alg does not verify"
    pass "edgekey keygen key ($alg) signs through the module without login"
done
p11 --token-label edge --list-token-slots 2>/dev/null | grep -A6 "token label *: edge" |
    grep -q "login required" && fail "the default token edge should not require login"
# 3. An `edgekey keygen --auth` key (own auth value, PIN-less token): the
#    module takes the C_Login PIN as the key's auth value.
EDGEKEY_KEY_AUTH=s3cret-auth edgekey keygen --label cli-auth --alg ec-p256 --auth >/dev/null ||
    fail "edgekey keygen --auth"
id=$(p11 --token-label edge --list-objects --type privkey |
    awk '$1=="label:" && $2=="cli-auth" {f=1} f && $1=="ID:" {print $2; exit}')
p11 --token-label edge --sign --id "$id" -m ECDSA-SHA256 -i "$T/data" -o "$T/a.sig" >/dev/null 2>&1 &&
    fail "a key with an auth value signed without login"
p11 --token-label edge --login --pin s3cret-auth --sign --id "$id" -m ECDSA-SHA256 \
    --signature-format openssl -i "$T/data" -o "$T/a.sig" >/dev/null 2>&1 ||
    fail "module could not sign with the key's auth value as PIN"
ek_p11_pubkey edge "$id" "$T/a.pub.pem" || fail "export public key cli-auth"
openssl dgst -sha256 -verify "$T/a.pub.pem" -signature "$T/a.sig" "$T/data" >/dev/null ||
    fail "auth-key signature does not verify"
pass "edgekey keygen --auth key signs through the module with the auth value as PIN"
pass "cross-face"
