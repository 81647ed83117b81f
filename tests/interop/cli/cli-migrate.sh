#!/usr/bin/env bash
# `edgekey token migrate`: tokens made before 0.2 kept their PIN secrets
# without TPM dictionary-attack protection. Two are built here with stock
# tpm2-tools alone, in the old formats (git show 981103a:core/token_auth.c):
#   old - both PINs in noDA NV indices 0x010E4B10/11 (pin-so.nv, pin-user.nv),
#         authValue = HMAC-SHA256("edgekey pin", PIN) without trailing zeros;
#   nd  - the SO PIN in a noDA seal file (EKSEAL2), the user PIN current.
# Before migration both still log in, with one warning line naming the token,
# the problem and the fix; `token list` says they need migration. A wrong PIN
# (SO or user) or a missing one makes migrate change nothing. Then migrate
# says what it did, the NV indices are gone, pin-*.seal hold the secrets
# DA-protected (a wrong PIN moves TPM2_PT_LOCKOUT_COUNTER), the same key
# signs with the same PINs (its auth derives from the secret, so the secret
# survived), and a second migrate has nothing to do. PINs never appear in
# any output.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/lib.sh"

EK_P11=$EDGEKEY_BUILD/pkcs11/edgekey-pkcs11.so
[ -f "$EK_P11" ] || fail "module not built: $EK_P11"
p11() { pkcs11-tool --module "$EK_P11" "$@"; }

so=so-$(openssl rand -hex 6)
user=us-$(openssl rand -hex 5)
printf '%s\n' "$so" >"$T/so.pin"
printf '%s\n' "$user" >"$T/user.pin"
printf 'wrong-pin-0\n' >"$T/wrong.pin"
chmod 600 "$T"/*.pin
no_pins_in() {
    local f p
    for f in "$@"; do
        for p in "$so" "$user"; do
            ! grep -qF -- "$p" "$f" || fail "a PIN appears in $(basename "$f")"
        done
    done
}
# pin_auth PIN: the old f(PIN) as hex, trailing zero bytes cut (the TPM cuts
# them from auth values); hex is byte-aligned, so only whole 00 pairs go.
pin_auth() {
    printf '%s' "$1" | openssl dgst -sha256 -hmac "edgekey pin" -r | cut -d' ' -f1 |
        sed -E 's/(00)+$//'
}
# Whole outputs first: grep -q exiting early could SIGPIPE the producer,
# which pipefail turns into a false answer.
nv_has() { local l; l=$(tpm2t tpm2_getcap handles-nv-index); grep -qi "$1" <<<"$l"; }
da_count() { tpm2t tpm2_getcap properties-variable | sed -n 's/^TPM2_PT_LOCKOUT_COUNTER: *//p'; }
state() { ok edgekey --json token list --token "$1"; jq_ "$T/out" "d['tokens'][0]['$2']"; }
warnings() { grep -c "edgekey token migrate --token $1" "$2" || true; }

# 1. An old NV token: token.conf as `token init --no-pin` writes it, then the
# secret under each PIN in a noDA NV index, and the old pin-<who>.nv records.
ok edgekey token init --token old --no-pin
dir=$(state old dir)
openssl rand 32 >"$T/secret.bin"
nv_token_pin() { # WHO PIN INDEX
    local auth
    auth=$(pin_auth "$2")
    tpm2t tpm2_nvdefine -C o -s 32 -a 'authread|authwrite|no_da' -p "hex:$auth" "$3" >/dev/null ||
        fail "tpm2_nvdefine $3"
    tpm2t tpm2_nvwrite -C "$3" -P "hex:$auth" -i "$T/secret.bin" "$3" || fail "tpm2_nvwrite $3"
    printf 'format = EKNV1\n# the token secret for the %s is in this TPM NV index\nindex = %s\nsize = 32\n' \
        "$1 PIN" "$3" >"$dir/pin-$1.nv"
    chmod 600 "$dir/pin-$1.nv"
}
nv_token_pin so "$so" 0x010e4b10
nv_token_pin user "$user" 0x010e4b11
[ "$(state old login_required)" = True ] || fail "old NV token: not login-required"
pass "old-style NV token made with tpm2-tools (0x010e4b10, 0x010e4b11)"

# 2. It works as before, with one warning per login; a key made now derives
# its auth from the NV secret.
p11 --token-label old --login --pin "$user" --keypairgen --key-type EC:prime256v1 --id 01 \
    --label k1 >"$T/gen.out" 2>"$T/gen.err" || { cat "$T/gen.out" "$T/gen.err"; fail "keypairgen"; }
[ "$(warnings old "$T/gen.err")" = 1 ] || { cat "$T/gen.err"; fail "not one migration warning"; }
grep -q "token old:.*dictionary-attack" "$T/gen.err" || fail "warning: $(cat "$T/gen.err")"
# p11tool, not pkcs11-tool 0.23's --read-object (it reads freed memory on EC
# public keys, which ASan aborts on)
GNUTLS_PIN=$user p11tool --provider "$EK_P11" --export-pubkey "pkcs11:token=old;id=%01;type=public" \
    --outfile "$T/pub.pem" >/dev/null 2>&1 || fail "read the public key"
echo "migrate me" >"$T/msg"
sign_check() { # PIN: sign with key 01 and verify with the key read at the start
    p11 --token-label old --login --pin "$1" --sign --id 01 -m ECDSA-SHA256 \
        --signature-format openssl --input-file "$T/msg" --output-file "$T/sig" \
        >"$T/sign.out" 2>"$T/sign.err" || { cat "$T/sign.err"; fail "sign"; }
    openssl dgst -sha256 -verify "$T/pub.pem" -signature "$T/sig" "$T/msg" >/dev/null ||
        fail "signature does not verify with the key made before migration"
}
sign_check "$user"
[ "$(warnings old "$T/sign.err")" = 1 ] || fail "sign login: not one warning"
key_sum=$(sha256sum "$dir"/*.key)
no_pins_in "$T/gen.out" "$T/gen.err" "$T/sign.out" "$T/sign.err"
pass "login to the NV token works, with one warning naming token, problem and fix"

# 3. token list says it needs migration (human and JSON).
[ "$(state old needs_migration)" = True ] || fail "list --json: needs_migration"
[ "$(state old so_pin_storage)" = nv ] && [ "$(state old user_pin_storage)" = nv ] ||
    fail "list --json: storage $(cat "$T/out")"
ok edgekey token list --token old
grep -q "NEEDS MIGRATION" "$T/out" && grep -q "edgekey token migrate --token old" "$T/out" ||
    fail "human list: $(cat "$T/out")"
pass "token list: needs migration (nv, nv)"

# 4. Refusals change nothing: a wrong SO PIN, a wrong user PIN, a missing one.
unchanged() {
    nv_has 0x10e4b10 && nv_has 0x10e4b11 || fail "$1: an NV index is gone"
    [ -f "$dir/pin-so.nv" ] && [ -f "$dir/pin-user.nv" ] || fail "$1: a .nv record is gone"
    ! ls "$dir"/pin-*.seal >/dev/null 2>&1 || fail "$1: a seal file was written"
    [ "$(state old needs_migration)" = True ] || fail "$1: no longer needs migration"
}
expect_rc 5 edgekey token migrate --token old --so-pin-file "$T/wrong.pin" \
    --user-pin-file "$T/user.pin"
grep -q "SO PIN incorrect" "$T/err" || fail "wrong SO PIN message: $(cat "$T/err")"
unchanged "wrong SO PIN"
[ "$(state old so_fails)" = 1 ] || fail "migrate's wrong SO PIN not counted"
expect_rc 5 edgekey token migrate --token old --so-pin-file "$T/so.pin" \
    --user-pin-file "$T/wrong.pin"
unchanged "wrong user PIN"
expect_rc 1 setsid -w edgekey token migrate --token old --so-pin-file "$T/so.pin" </dev/null
unchanged "no user PIN"
no_pins_in "$T/out" "$T/err"
pass "wrong SO or user PIN (exit 5), missing user PIN (exit 1): nothing changed"

# 5. Migrate.
ok edgekey token migrate --token old --so-pin-file "$T/so.pin" --user-pin-file "$T/user.pin"
grep -q "SO PIN nv -> sealed, user PIN nv -> sealed" "$T/out" || fail "migrate said: $(cat "$T/out")"
! grep -q "warning" "$T/err" || fail "migrate warned: $(cat "$T/err")"
no_pins_in "$T/out" "$T/err"
! nv_has 0x10e4b10 && ! nv_has 0x10e4b11 || fail "NV indices left: $(tpm2t tpm2_getcap handles-nv-index)"
[ -f "$dir/pin-so.seal" ] && [ -f "$dir/pin-user.seal" ] || fail "no seal files: $(ls "$dir")"
[ ! -e "$dir/pin-so.nv" ] && [ ! -e "$dir/pin-user.nv" ] || fail ".nv records left"
[ "$(state old needs_migration)" = False ] || fail "still needs migration"
[ "$(state old so_pin_storage)" = sealed ] || fail "list: so_pin_storage"
[ "$(state old so_fails)" = 0 ] || fail "so_fails not reset by the right SO PIN"
[ "$key_sum" = "$(sha256sum "$dir"/*.key)" ] || fail "migration touched the key file"
pass "migrate: nv -> sealed for both PINs, NV indices undefined, seal files written"

# 6. The same key signs with the same PINs, without a warning; the SO PIN works.
sign_check "$user"
! grep -q "token migrate" "$T/sign.err" || fail "warning after migration: $(cat "$T/sign.err")"
ok edgekey token pin --token old --so --old-pin-file "$T/so.pin" --new-pin-file "$T/so.pin"
pass "the key made before migration signs after it (same secret); SO PIN works"

# 7. Wrong PINs now count in the TPM's dictionary-attack logic.
da0=$(da_count)
p11 --token-label old --login --pin wrong-pin-1 --list-objects >/dev/null 2>&1 &&
    fail "logged in with a wrong PIN"
da1=$(da_count)
[ $((da1)) -gt $((da0)) ] || fail "a wrong PIN did not move TPM2_PT_LOCKOUT_COUNTER ($da0 -> $da1)"
pass "a wrong PIN moves TPM2_PT_LOCKOUT_COUNTER ($da0 -> $da1)"

# 8. A second migrate has nothing to do (and asks for no PIN).
ok edgekey --json token migrate --token old
json_ok "$T/out"
[ "$(jq_ "$T/out" 'd["migrate"]["migrated"]')" = False ] || fail "second migrate: $(cat "$T/out")"
[ "$(jq_ "$T/out" 'd["migrate"]["so_pin"]')" = "already current" ] || fail "second migrate: so_pin"
ok edgekey token migrate --token old
grep -q "nothing to do" "$T/out" || fail "second migrate said: $(cat "$T/out")"
pass "second migrate: nothing to do"

# 9. An SO PIN sealed with noDA (made before 0.2) and no user PIN: migrate
# moves the SO one. Sealed by tpm2-tools under a persistent SRK and written
# as an EKSEAL2 file ("EKSEAL2\n", UINT32 parent, TPM2B_PUBLIC, TPM2B_PRIVATE).
ok edgekey token init --token nd --no-pin
nd=$(state nd dir)
tpm2t tpm2_createprimary -Q -C o -g sha256 -G ecc256:aes128cfb -c "$T/srk.ctx" ||
    fail "tpm2_createprimary"
tpm2t tpm2_evictcontrol -Q -C o -c "$T/srk.ctx" 0x81000001 || fail "tpm2_evictcontrol"
tpm2t tpm2_flushcontext -t
openssl rand 32 >"$T/secret2.bin"
tpm2t tpm2_create -Q -C 0x81000001 -g sha256 -i "$T/secret2.bin" \
    -a 'fixedtpm|fixedparent|userwithauth|noda' -p "hex:$(pin_auth "$so")" \
    -u "$T/nd.pub" -r "$T/nd.priv" || fail "tpm2_create (noDA seal)"
{ printf 'EKSEAL2\n\x81\x00\x00\x01'; cat "$T/nd.pub" "$T/nd.priv"; } >"$nd/pin-so.seal"
chmod 600 "$nd/pin-so.seal"
[ "$(state nd so_pin_storage)" = "sealed(noDA)" ] && [ "$(state nd user_pin_storage)" = unset ] ||
    fail "list --json nd: $(cat "$T/out")"
[ "$(state nd needs_migration)" = True ] || fail "nd: needs_migration"
p11 --token-label nd --session-rw --login --login-type so --so-pin "$so" --list-objects >/dev/null \
    2>"$T/so.err" || { cat "$T/so.err"; fail "SO login to nd"; }
[ "$(warnings nd "$T/so.err")" = 1 ] || { cat "$T/so.err"; fail "nd SO login: not one warning"; }
grep -q "noDA sealed object" "$T/so.err" || fail "nd warning: $(cat "$T/so.err")"
ok edgekey token migrate --token nd --so-pin-file "$T/so.pin"
grep -q "SO PIN sealed(noDA) -> sealed, user PIN unset" "$T/out" || fail "nd: $(cat "$T/out")"
[ "$(state nd needs_migration)" = False ] || fail "nd still needs migration"
# The new seal file, opened with tpm2-tools: no noDA, and the same secret.
parent=$(python3 - "$nd/pin-so.seal" "$T/new" <<'PY'
import struct, sys
b = open(sys.argv[1], 'rb').read()
assert b[:8] == b'EKSEAL2\n', 'magic'
n = struct.unpack('>H', b[12:14])[0]
open(sys.argv[2] + '.pub', 'wb').write(b[12:14 + n])
open(sys.argv[2] + '.priv', 'wb').write(b[14 + n:])
print(hex(struct.unpack('>I', b[8:12])[0]))
PY
) || fail "not an EKSEAL2 file"
tpm2t tpm2_print -t TPM2B_PUBLIC "$T/nd.pub" >"$T/old.txt" || fail "tpm2_print"
grep -qi "noda" "$T/old.txt" || fail "tpm2_print shows no noDA in the old seal: $(cat "$T/old.txt")"
tpm2t tpm2_print -t TPM2B_PUBLIC "$T/new.pub" >"$T/new.txt" || fail "tpm2_print"
grep -qi "noda" "$T/new.txt" && fail "migrated seal still noDA: $(cat "$T/new.txt")"
tpm2t tpm2_load -Q -C "$parent" -u "$T/new.pub" -r "$T/new.priv" -c "$T/new.ctx" ||
    fail "tpm2_load the migrated seal"
tpm2t tpm2_unseal -c "$T/new.ctx" -p "hex:$(pin_auth "$so")" -o "$T/unsealed.bin" ||
    fail "tpm2_unseal the migrated seal"
tpm2t tpm2_flushcontext -t
cmp -s "$T/secret2.bin" "$T/unsealed.bin" || fail "the migrated seal holds another secret"
pass "noDA SO seal: sealed(noDA) -> sealed, user PIN unset; same secret, DA-protected"

no_leftovers
