#!/usr/bin/env bash
# pin-value in a pkcs11: URI (issue 11, item 4). `edgekey csr` uses it as the
# user PIN of a PIN token (no prompt, no terminal needed) and as the auth
# value of a PIN-less token's key; a wrong one exits 5. --auth-file and
# EDGEKEY_KEY_AUTH give the same value (and win over the URI's). Every other
# command that takes an address accepts the URI with its pin-value, and no
# output ever shows the PIN; export-ref never writes it.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/lib.sh"
unset EDGEKEY_KEY_AUTH

EK_P11=$EDGEKEY_BUILD/pkcs11/edgekey-pkcs11.so
so=so-$(openssl rand -hex 6)
user=us-$(openssl rand -hex 5)
printf '%s\n' "$so" >"$T/so.pin"
printf '%s\n' "$user" >"$T/user.pin"
printf 'wrong-pin-0\n' >"$T/wrong.pin"
chmod 600 "$T"/*.pin
no_secret_in() {
    for f in "$T/out" "$T/err" "$@"; do
        for p in "$so" "$user" s3cret-k; do
            ! grep -qF -- "$p" "$f" || fail "a PIN/auth value appears in $(basename "$f")"
        done
    done
}
verify_csr() { openssl req -in "$T/out" -verify -noout 2>/dev/null || fail "$1: CSR does not verify"; }

# A PIN token with a key made through the module.
ok edgekey token init --token pt --so-pin-file "$T/so.pin"
ok edgekey token pin --token pt --user --old-pin-file "$T/so.pin" --new-pin-file "$T/user.pin"
pkcs11-tool --module "$EK_P11" --token-label pt --login --pin "$user" --keypairgen \
    --key-type EC:prime256v1 --id 01 --label k1 >"$T/gen.out" 2>&1 ||
    { cat "$T/gen.out"; fail "pkcs11-tool --keypairgen"; }
uri="pkcs11:token=pt;object=k1"

# 1. pin-value is the user PIN: no terminal, no other source.
ok setsid -w edgekey csr --key "$uri;pin-value=$user" --subject /CN=pin-uri </dev/null
verify_csr "pin-value"
no_secret_in
expect_rc 5 setsid -w edgekey csr --key "$uri;pin-value=wrong-pin-1" --subject /CN=x </dev/null
grep -qF "wrong-pin-1" "$T/err" && fail "the wrong pin-value is echoed: $(cat "$T/err")"
pass "csr: the URI's pin-value is the PIN token's user PIN; a wrong one exits 5: $(cat "$T/err")"

# 2. The same PIN through --auth-file and EDGEKEY_KEY_AUTH. A pin-value is
# used before the variable; together with --auth-file it is refused.
ok edgekey csr --key "$uri" --subject /CN=pin-file --auth-file "$T/user.pin"
verify_csr "--auth-file as PIN"
EDGEKEY_KEY_AUTH=$user ok setsid -w edgekey csr --key "$uri" --subject /CN=pin-env </dev/null
verify_csr "EDGEKEY_KEY_AUTH as PIN"
EDGEKEY_KEY_AUTH=wrong-pin-2 ok edgekey csr --key "$uri;pin-value=$user" --subject /CN=uri-first
verify_csr "pin-value over EDGEKEY_KEY_AUTH"
expect_rc 1 edgekey csr --key "$uri;pin-value=$user" --subject /CN=both --auth-file "$T/user.pin"
grep -q "give it once" "$T/err" || fail "pin-value with --auth-file: $(cat "$T/err")"
no_secret_in
pass "--auth-file / EDGEKEY_KEY_AUTH give the user PIN; pin-value beats the variable, with --auth-file it is refused (exit 1)"

# 3. A PIN-less token's key with its own auth value: pin-value is that value.
EDGEKEY_KEY_AUTH=s3cret-k ok edgekey keygen --label guarded --alg ec-p256 --auth
guri="pkcs11:token=edge;object=guarded"
ok setsid -w edgekey csr --key "$guri;pin-value=s3cret-k" --subject /CN=guarded </dev/null
verify_csr "pin-value as key auth"
cp "$T/out" "$T/guarded.csr"
expect_rc 5 setsid -w edgekey csr --key "$guri;pin-value=not-it" --subject /CN=g </dev/null
no_secret_in
pass "csr: pin-value is the auth value of a PIN-less token's key; a wrong one exits 5"

# 4. The other commands take the same URI, pin-value and all.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/ca.key" \
    -out "$T/ca.pem" -subj /CN=test-ca -days 2 2>/dev/null || fail "test CA"
openssl x509 -req -in "$T/guarded.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
    -out "$T/guarded.pem" -days 1 2>/dev/null || fail "issue the test certificate"
ok edgekey cert import --key "$guri;pin-value=s3cret-k" "$T/guarded.pem"
no_secret_in
ok edgekey cert show "$guri;pin-value=s3cret-k"
grep -q "guarded" "$T/out" || fail "cert show: $(cat "$T/out")"
no_secret_in
ok edgekey export-ref "$uri;pin-value=$user" --out "$T/k1.ref"
no_secret_in "$T/k1.ref"
ok edgekey export-ref "$guri;pin-value=s3cret-k" --json
no_secret_in
ok edgekey delete "$guri;pin-value=s3cret-k"
no_secret_in
pass "cert import / cert show / export-ref / delete take URIs with pin-value, never show it"
no_leftovers
