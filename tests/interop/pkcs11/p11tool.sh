#!/usr/bin/env bash
# Issue 3, acceptance 2: GnuTLS p11tool lists, generates and test-signs with
# our pkcs11: URIs (token selected by label; by serial too).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/p11-common.sh"

ek_p11_token tok1
pt() { p11tool --provider "$EK_P11" "$@"; }

pt --list-tokens >"$T/tokens" || fail "p11tool --list-tokens"
grep -q "token=tok1" "$T/tokens" || { cat "$T/tokens"; fail "tok1 not listed"; }
serial=$(awk '/Label: tok1/{f=1} f && /Serial:/{print $2; exit}' "$T/tokens")
[ ${#serial} = 16 ] || fail "token serial '$serial' is not 16 hex digits"

pt --login --generate-privkey rsa --bits 2048 --label p11t-rsa --outfile "$T/rsa.pub" \
    "pkcs11:token=tok1" || fail "p11tool --generate-privkey rsa"
pt --login --generate-privkey ecdsa --curve secp256r1 --label p11t-ec --outfile "$T/ec.pub" \
    "pkcs11:serial=$serial" || fail "p11tool --generate-privkey ecdsa (token by serial)"
# RSA-1024 is refused by policy.
pt --login --generate-privkey rsa --bits 1024 --label weak "pkcs11:token=tok1" >/dev/null 2>&1 &&
    fail "RSA-1024 accepted"
pass "p11tool --generate-privkey (RSA-2048, P-256; RSA-1024 refused)"

pt --login --list-all "pkcs11:token=tok1" >"$T/all" || fail "p11tool --list-all"
for o in "object=p11t-rsa;type=private" "object=p11t-rsa;type=public" \
         "object=p11t-ec;type=private" "object=p11t-ec;type=public"; do
    grep -q "$o" "$T/all" || { cat "$T/all"; fail "--list-all misses $o"; }
done
grep -A3 "object=p11t-rsa;type=private" "$T/all" | grep -q "CKA_NEVER_EXTRACTABLE; CKA_SENSITIVE" ||
    fail "private key not sensitive/never-extractable"
# Without login the private keys of a PIN token stay hidden.
pt --list-all "pkcs11:token=tok1" | grep -q "type=private" && fail "private key visible without login"
pass "p11tool --list-all"

for k in rsa ec; do
    pt --login --test-sign "pkcs11:token=tok1;object=p11t-$k" >"$T/ts-$k" 2>&1 ||
        { cat "$T/ts-$k"; fail "p11tool --test-sign $k"; }
    grep -q "Verifying against public key in the token... ok" "$T/ts-$k" || fail "test-sign $k"
done
pass "p11tool --test-sign (RSA, EC)"

pt --login --batch --delete "pkcs11:token=tok1;object=p11t-ec" >/dev/null 2>&1 || fail "p11tool --delete"
pt --login --list-all "pkcs11:token=tok1" | grep -q "object=p11t-ec" && fail "deleted key still listed"
pass "p11tool --delete"
