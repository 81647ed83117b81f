#!/usr/bin/env bash
# `edgekey token`: a token made and PIN-managed by the CLI is used by stock
# pkcs11-tool through the PKCS#11 module (same core token model). Init with an
# SO PIN from a file, the SO sets the user PIN, pkcs11-tool --login makes and
# signs with a key, a wrong PIN is refused (exit 5) and counted (by the CLI
# and by C_Login alike), 10 in a row lock the user PIN until the SO sets a
# new one, PINs changed through stdin, re-initialising needs --erase and the
# SO PIN, and token delete gives back everything. PINs never appear in any
# output.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/lib.sh"

EK_P11=$EDGEKEY_BUILD/pkcs11/edgekey-pkcs11.so
[ -f "$EK_P11" ] || fail "module not built: $EK_P11"
p11() { pkcs11-tool --module "$EK_P11" --token-label pt "$@"; }

so=so-$(openssl rand -hex 6)
user=us-$(openssl rand -hex 5)
printf '%s\n' "$so" >"$T/so.pin"
printf '%s\n' "$user" >"$T/user.pin"
printf 'wrong-pin-0\n' >"$T/wrong.pin"
chmod 600 "$T"/*.pin
# no_pins_in FILE...: none of this run's PINs may show in the outputs.
no_pins_in() {
    local f p
    for f in "$@"; do
        for p in "$so" "$user" "${newuser:-x-none-x}" "${newso:-x-none-x}"; do
            ! grep -qF -- "$p" "$f" || fail "a PIN appears in $(basename "$f")"
        done
    done
}
fails() { ok edgekey --json token list --token pt; jq_ "$T/out" "d['tokens'][0]['$1']"; }

# 1. init: a new PIN token, user PIN not yet set.
ok edgekey --json token init --token pt --so-pin-file "$T/so.pin"
json_ok "$T/out"
[ "$(jq_ "$T/out" 'd["token"]["created"]')" = True ] || fail "init: created"
[ "$(jq_ "$T/out" 'd["token"]["login_required"]')" = True ] || fail "init: login_required"
no_pins_in "$T/out" "$T/err"
ok edgekey --json token list --token pt
[ "$(jq_ "$T/out" 'd["tokens"][0]["user_pin_set"]')" = False ] || fail "user PIN set after init"
ok edgekey token list
grep -q "user PIN  not set" "$T/out" || fail "human list: $(cat "$T/out")"
pass "token init with an SO PIN file; list shows the user PIN unset"

# 2. The SO sets the user PIN (it is unset, so the old PIN is the SO's).
ok edgekey --json token pin --token pt --user --old-pin-file "$T/so.pin" --new-pin-file "$T/user.pin"
[ "$(jq_ "$T/out" 'd["pin"]["authorised_by"]')" = so ] || fail "user PIN not set by the SO"
no_pins_in "$T/out" "$T/err"
ok edgekey --json token list --token pt
[ "$(jq_ "$T/out" 'd["tokens"][0]["user_pin_set"]')" = True ] || fail "user PIN not set"
pass "SO set the user PIN"

# 3. pkcs11-tool logs in with it, makes a key and signs.
p11 --list-token-slots 2>/dev/null | grep -q "login required" || fail "module: token not login-required"
p11 --login --pin "$user" --keypairgen --key-type EC:prime256v1 --id 01 --label k1 \
    >"$T/gen.out" 2>&1 || { cat "$T/gen.out"; fail "pkcs11-tool --keypairgen after CLI init"; }
echo "hello" >"$T/msg"
p11 --login --pin "$user" --sign --id 01 -m ECDSA-SHA256 --input-file "$T/msg" \
    --output-file "$T/sig" >/dev/null 2>&1 || fail "pkcs11-tool --sign with the CLI-set PIN"
[ -s "$T/sig" ] || fail "no signature"
ok edgekey --json list --token pt
[ "$(jq_ "$T/out" 'd["tokens"][0]["objects"][0]["label"]')" = k1 ] || fail "key k1 not in the store"
pass "pkcs11-tool --login made and used a key in the CLI-made token"

# 4. A wrong PIN is refused and counted, through the CLI and through C_Login.
expect_rc 5 edgekey token pin --token pt --user --old-pin-file "$T/wrong.pin" \
    --new-pin-file "$T/user.pin"
grep -q "user PIN incorrect" "$T/err" || fail "wrong PIN message: $(cat "$T/err")"
[ "$(fails user_fails)" = 1 ] || fail "wrong PIN not counted by the CLI"
if p11 --login --pin wrong-pin-1 --list-objects >"$T/p11.out" 2>&1; then
    fail "pkcs11-tool logged in with a wrong PIN"
fi
grep -q "CKR_PIN_INCORRECT" "$T/p11.out" || fail "C_Login wrong PIN: $(cat "$T/p11.out")"
[ "$(fails user_fails)" = 2 ] || fail "C_Login's wrong PIN not counted"
p11 --login --pin "$user" --list-objects >/dev/null 2>&1 || fail "right PIN after wrong ones"
[ "$(fails user_fails)" = 0 ] || fail "a right PIN did not reset the counter"
pass "wrong PIN refused (exit 5, CKR_PIN_INCORRECT) and counted; a right one resets the count"

# 5. Change the user PIN through stdin (old line, new line).
newuser=nu-$(openssl rand -hex 5)
printf '%s\n%s\n' "$user" "$newuser" >"$T/change.in"
run edgekey --json token pin --token pt --user --pin-stdin <"$T/change.in"
[ "$rc" = 0 ] || { cat "$T/err"; fail "user PIN change through stdin"; }
[ "$(jq_ "$T/out" 'd["pin"]["authorised_by"]')" = user ] || fail "change not by the user"
no_pins_in "$T/out" "$T/err"
p11 --login --pin "$newuser" --list-objects >/dev/null 2>&1 || fail "new user PIN refused"
p11 --login --pin "$user" --list-objects >/dev/null 2>&1 && fail "old user PIN still works"
pass "user PIN changed through --pin-stdin; the old one is refused"

# 6. Ten wrong PINs lock the user PIN; the SO unlocks it by setting a new one.
for i in $(seq 10); do
    run edgekey token pin --token pt --user --old-pin-file "$T/wrong.pin" --new-pin-file "$T/user.pin"
done
[ "$(fails user_pin_locked)" = True ] || fail "not locked after 10 wrong PINs ($(fails user_fails))"
expect_rc 5 edgekey token pin --token pt --user --old-pin-file "$T/user.pin" \
    --new-pin-file "$T/user.pin"
grep -qi "locked" "$T/err" || fail "locked message: $(cat "$T/err")"
ok edgekey token list --token pt
grep -q "LOCKED" "$T/out" || fail "human list does not say LOCKED"
ok edgekey token pin --token pt --user --as-so --old-pin-file "$T/so.pin" --new-pin-file "$T/user.pin"
[ "$(fails user_fails)" = 0 ] || fail "SO did not unlock the user PIN"
p11 --login --pin "$user" --list-objects >/dev/null 2>&1 || fail "login after the SO's unlock"
pass "10 wrong PINs lock the user PIN (exit 5); the SO sets a new one (--as-so)"

# 7. Change the SO PIN.
newso=ns-$(openssl rand -hex 6)
printf '%s\n' "$newso" >"$T/newso.pin"
ok edgekey token pin --token pt --so --old-pin-file "$T/so.pin" --new-pin-file "$T/newso.pin"
expect_rc 5 edgekey token pin --token pt --so --old-pin-file "$T/so.pin" --new-pin-file "$T/so.pin"
[ "$(fails so_fails)" = 1 ] || fail "wrong SO PIN not counted"
pass "SO PIN changed; the old one is refused and counted"

# 8. Re-initialising a PIN token erases its keys: needs --erase and the SO PIN.
expect_rc 7 edgekey token init --token pt --so-pin-file "$T/so.pin"
grep -q -- "--erase" "$T/err" || fail "re-init without --erase: $(cat "$T/err")"
expect_rc 5 edgekey token init --token pt --erase --old-pin-file "$T/so.pin" --so-pin-file "$T/so.pin"
ok edgekey list --json --token pt
[ "$(jq_ "$T/out" 'len(d["tokens"][0]["objects"])')" = 1 ] || fail "a refused re-init erased keys"
ok edgekey --json token init --token pt --erase --old-pin-file "$T/newso.pin" --so-pin-file "$T/so.pin"
[ "$(jq_ "$T/out" 'd["token"]["erased_objects"]')" = 1 ] || fail "re-init: erased_objects"
ok edgekey list --json --token pt
[ "$(jq_ "$T/out" 'len(d["tokens"][0]["objects"])')" = 0 ] || fail "re-init kept the keys"
ok edgekey --json token list --token pt
[ "$(jq_ "$T/out" 'd["tokens"][0]["user_pin_set"]')" = False ] || fail "re-init kept the user PIN"
pass "re-init refused without --erase or with a wrong SO PIN; with both it erases the keys"

# 9. PIN-less tokens, usage errors, exit codes.
ok edgekey --json token init --token open --no-pin
[ "$(jq_ "$T/out" 'd["token"]["login_required"]')" = False ] || fail "--no-pin token needs login"
expect_rc 2 edgekey token pin --token open --user --old-pin-file "$T/so.pin" --new-pin-file "$T/user.pin"
grep -q "has no PINs" "$T/err" || fail "pin on a PIN-less token: $(cat "$T/err")"
expect_rc 2 edgekey token list --token nosuch
expect_rc 1 edgekey token pin --token pt --old-pin-file "$T/so.pin"
expect_rc 1 edgekey token init
expect_rc 1 edgekey token frob --token pt
printf 'abc\n' >"$T/short.pin"
expect_rc 1 edgekey token pin --token pt --user --old-pin-file "$T/so.pin" --new-pin-file "$T/short.pin"
expect_rc 1 edgekey token init --token x2 --no-pin --so-pin-file "$T/so.pin"
expect_rc 2 edgekey token init --token x3 --so-pin-file "$T/nonexistent.pin"
expect_rc 1 setsid -w edgekey token init --token x4 </dev/null   # no terminal, no PIN source
expect_rc 1 edgekey --json token pin --token pt
json_ok "$T/out"
ok edgekey token --help
grep -q "usage: edgekey token init" "$T/out" || fail "token --help"
pass "PIN-less init, usage errors (exit 1), unknown tokens (exit 2)"

# 10. token delete: keys (a persistent one evicted), PIN secrets (sealed
# files; a token defines no NV index) and the directory; a wrong SO PIN or a
# file core does not know leaves everything in place.
nv_ours() { tpm2t tpm2_getcap handles-nv-index | grep -ci '0x10e4b' || true; }
ok edgekey token init --token gone --so-pin-file "$T/so.pin"
ok edgekey token pin --token gone --user --old-pin-file "$T/so.pin" --new-pin-file "$T/user.pin"
pkcs11-tool --module "$EK_P11" --token-label gone --login --pin "$user" --keypairgen \
    --key-type EC:prime256v1 --label k1 --id 01 >/dev/null 2>&1 || fail "keypairgen in token gone"
ok edgekey --json token list --token gone
gone_dir=$(jq_ "$T/out" 'd["tokens"][0]["dir"]')
nv_before=$(nv_ours)
[ -f "$gone_dir/pin-so.seal" ] && [ -f "$gone_dir/pin-user.seal" ] ||
    fail "token gone: its PIN secrets are not sealed files: $(ls "$gone_dir")"
expect_rc 5 edgekey token delete --token gone --so-pin-file "$T/wrong.pin"
[ -d "$gone_dir" ] && ls "$gone_dir"/*.key >/dev/null 2>&1 || fail "a refused delete removed files"
ok edgekey --json token delete --token gone --so-pin-file "$T/so.pin"
[ "$(jq_ "$T/out" 'd["deleted"]["objects"]')" = 1 ] || fail "delete: objects count"
[ ! -e "$gone_dir" ] || fail "token directory left: $(ls -a "$gone_dir")"
[ "$(nv_ours)" -eq "$nv_before" ] || fail "token delete changed the NV indices"
expect_rc 2 edgekey token list --token gone
ok edgekey keygen --token plain --label p1 --alg ec-p256 --persist 0x81010077
ok edgekey token delete --token plain
! tpm2t tpm2_getcap handles-persistent | grep -qi '0x81010077' || fail "persistent key not evicted"
ok edgekey --json token init --token keep --no-pin
ok edgekey --json token list --token keep
keep_dir=$(jq_ "$T/out" 'd["tokens"][0]["dir"]')
echo notes >"$keep_dir/notes.txt"
expect_rc 7 edgekey token delete --token keep
grep -q "notes.txt" "$T/err" || fail "delete with a foreign file: $(cat "$T/err")"
[ -f "$keep_dir/token.conf" ] || fail "a refused delete removed token.conf"
no_pins_in "$T/out" "$T/err"
pass "token delete: keys evicted, PIN secrets and directory gone; refusals keep all"

no_leftovers
