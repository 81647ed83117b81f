#!/usr/bin/env bash
# Acceptance: PIN guessing with TPM access only.
#
# The attacker can talk to the TPM and read the token directory, but uses only
# tpm2-tools, never our library (so our per-token file counter, pin.tries,
# never sees a guess). They load the user PIN's sealed object (pin-user.seal)
# under the SRK and try tpm2_unseal with the auth value of candidate PINs,
# HMAC-SHA256("edgekey pin", PIN) as core/token_auth.c derives it. Asserted:
#   - each wrong guess raises TPM2_PT_LOCKOUT_COUNTER by exactly one;
#   - after maxTries wrong guesses the TPM is in lockout: the next guess and
#     even the RIGHT PIN are refused with TPM_RC_LOCKOUT, so the attacker got
#     at most maxTries guesses judged;
#   - in lockout, through our library, the PIN-less device key (noDA) still
#     signs (provider and edgekey csr) and the signatures verify; a PKCS#11
#     login with the right PIN fails with CKR_PIN_LOCKED and is not charged to
#     the token's file counter; edgekey info reports the lockout.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/lib.sh"

EK_P11=$EDGEKEY_BUILD/pkcs11/edgekey-pkcs11.so
[ -f "$EK_P11" ] || fail "module not built: $EK_P11"

# Our own DA parameters, not tpm-env.sh's (64 tries, 10 s recovery): a small
# budget as a device would have, and a recovery interval far longer than the
# test so the TPM never forgives a failure while we count them.
max=5
tpm2t tpm2_dictionarylockout --setup-parameters --max-tries=$max --recovery-time=600 \
    --lockout-recovery-time=600 >/dev/null || fail "tpm2_dictionarylockout --setup-parameters"

# tpm2-tools leave what they load in a TPM without a resource manager (direct
# TCTI): flush it after every step, as the next process needs the slots.
flush() { tpm2t tpm2_flushcontext -t >/dev/null 2>&1 || true; }
var_prop() {
    tpm2t tpm2_getcap properties-variable | awk -v p="$1:" '$1 == p {print $2; exit}'
}
counter() { printf '%d' "$(var_prop TPM2_PT_LOCKOUT_COUNTER)"; }
in_lockout() { tpm2t tpm2_getcap properties-variable | awk '$1 == "inLockout:" {print $2; exit}'; }
# auth_hex PIN: the sealed object's userAuth, trailing zero bytes stripped
# (the TPM strips them too, core/token_auth.c pin_auth).
auth_hex() {
    printf '%s' "$1" | openssl dgst -sha256 -mac HMAC -macopt key:"edgekey pin" -binary |
        od -An -v -tx1 | tr -d ' \n' | sed -e 's/\(00\)*$//'
}

# 1. The victim: a PIN token (CLI) and a PIN-less device key in token "edge".
so=so-$(openssl rand -hex 6)
user=us-$(openssl rand -hex 5)
printf '%s\n' "$so" >"$T/so.pin"
printf '%s\n' "$user" >"$T/user.pin"
chmod 600 "$T"/*.pin
ok edgekey token init --token T --so-pin-file "$T/so.pin"
ok edgekey token pin --token T --user --old-pin-file "$T/so.pin" --new-pin-file "$T/user.pin"
ok edgekey keygen --label device --alg ec-p256
ok edgekey --json token list --token T
tdir=$(jq_ "$T/out" 'd["tokens"][0]["dir"]')
[ -f "$tdir/pin-user.seal" ] || fail "no pin-user.seal in $tdir: $(ls "$tdir")"
[ "$(counter)" = 0 ] || fail "lockout counter $(counter) before the attack"
pass "PIN token T and PIN-less key edge/device made; lockout counter 0, maxTries $max"

# 2. The attacker splits the seal file: "EKSEAL2\n", UINT32 parent (big
# endian), TPM2B_PUBLIC, TPM2B_PRIVATE (each a big-endian UINT16 size + bytes).
parent=$(python3 "$here/../../lib/ekseal.py" "$tdir/pin-user.seal" "$T/seal") || fail "pin-user.seal is not EKSEAL2 + parent + TPM2B_PUBLIC + TPM2B_PRIVATE"
# The parent: a persistent SRK if the file names one, else the owner-hierarchy
# primary from tpm2-openssl's template (core/srk.c), remade with tpm2-tools.
if [ "$parent" = 0x81000001 ]; then
    pctx=$parent
else
    [ "$parent" = 0x40000001 ] || fail "seal file names parent $parent"
    tpm2t tpm2_createprimary -C o -G ecc256:aes128cfb -g sha256 -c "$T/srk.ctx" \
        -a 'restricted|decrypt|noda|fixedtpm|fixedparent|sensitivedataorigin|userwithauth' \
        >/dev/null || fail "tpm2_createprimary (SRK template)"
    flush
    pctx=$T/srk.ctx
fi
tpm2t tpm2_load -C "$pctx" -u "$T/seal.pub" -r "$T/seal.priv" -c "$T/seal.ctx" \
    >/dev/null 2>"$T/load.err" || { cat "$T/load.err"; fail "tpm2_load of pin-user.seal under $parent"; }
flush
pass "attacker loaded pin-user.seal with tpm2_load under $parent (tpm2-tools only)"

# 3. Guess: wrong PINs until the TPM refuses, counting what it judged.
guess() { # guess PIN -> tpm2_unseal's exit code; stderr in $T/guess.err
    local r=0
    tpm2t tpm2_unseal -c "$T/seal.ctx" -p "hex:$(auth_hex "$1")" >"$T/guess.out" \
        2>"$T/guess.err" || r=$?
    flush
    return $r
}
is_lockout_err() { grep -qi "0x921\|lockout" "$T/guess.err"; }
# The attacker's pipeline is right: the right PIN unseals the 32-byte token
# secret (a success costs no DA try). Without this a wrong derivation would
# make every "guess" below wrong, the right one in lockout included.
guess "$user" || fail "the right PIN does not unseal through tpm2-tools: $(cat "$T/guess.err")"
[ "$(stat -c %s "$T/guess.out")" = 32 ] || fail "unsealed $(stat -c %s "$T/guess.out") bytes"
[ "$(counter)" = 0 ] || fail "a right PIN moved the lockout counter"
pass "the right PIN unseals the 32-byte token secret with tpm2_unseal -p hex:HMAC"
judged=0
for i in $(seq $((max + 3))); do
    before=$(counter)
    if guess "wrong-$i"; then fail "tpm2_unseal accepted wrong PIN $i"; fi
    if is_lockout_err; then break; fi
    grep -qi "0x98e" "$T/guess.err" || fail "guess $i: not an auth failure: $(cat "$T/guess.err")"
    judged=$((judged + 1))
    [ "$(counter)" = $((before + 1)) ] ||
        fail "guess $i: lockout counter $before -> $(counter), expected +1"
done
[ $judged = $max ] || fail "$judged wrong guesses judged by the TPM, expected maxTries $max"
[ "$(counter)" = $max ] || fail "lockout counter $(counter) after $judged guesses"
[ "$(in_lockout)" = 1 ] || fail "TPM not in lockout after $judged guesses"
is_lockout_err || fail "guess $((max + 1)) not refused with lockout: $(cat "$T/guess.err")"
pass "$judged wrong guesses judged (counter 0 -> $(counter)), guess $((max + 1)) refused: lockout"

if guess "$user"; then fail "the right PIN unsealed during lockout"; fi
is_lockout_err || fail "right PIN in lockout: not a lockout error: $(cat "$T/guess.err")"
[ "$(counter)" = $max ] || fail "counter moved in lockout: $(counter)"
pass "the right PIN through tpm2_unseal is refused too (TPM_RC_LOCKOUT): at most $max guesses"

# 4. Through our library, in lockout. The device key is noDA: it still signs.
ok edgekey --json info --no-probe
[ "$(jq_ "$T/out" 'd["lockout"]["locked_out"]')" = True ] || fail "info: locked_out"
[ "$(jq_ "$T/out" 'd["lockout"]["failed_tries"]')" = $max ] || fail "info: failed_tries"
[ "$(jq_ "$T/out" 'd["lockout"]["max_tries"]')" = $max ] || fail "info: max_tries"
key="pkcs11:token=edge;object=device;type=private"
openssl pkey "${EK_PROV[@]}" -in "$key" -pubout -out "$T/device.pub" || fail "device public key"
echo "telemetry during lockout" >"$T/msg"
openssl dgst -sha256 -binary "$T/msg" >"$T/msg.dgst"
openssl pkeyutl "${EK_PROV[@]}" -sign -inkey "$key" -in "$T/msg.dgst" -out "$T/msg.sig" ||
    fail "device key does not sign through the provider during lockout"
openssl pkeyutl -verify -pubin -inkey "$T/device.pub" -in "$T/msg.dgst" -sigfile "$T/msg.sig" \
    >/dev/null || fail "the device key's lockout signature does not verify"
ok edgekey csr --key "pkcs11:token=edge;object=device" --subject "/CN=device" --out "$T/dev.csr"
openssl req -in "$T/dev.csr" -verify -noout 2>&1 | grep -q "verify OK" || fail "CSR does not verify"
[ "$(counter)" = $max ] || fail "signing moved the lockout counter: $(counter)"
pass "in lockout the PIN-less device key signs (pkeyutl, edgekey csr) and both verify"

if pkcs11-tool --module "$EK_P11" --token-label T --login --pin "$user" --list-objects \
    >"$T/p11.out" 2>&1; then
    fail "C_Login with the right PIN succeeded during lockout"
fi
grep -q "CKR_PIN_LOCKED" "$T/p11.out" || fail "C_Login in lockout: $(cat "$T/p11.out")"
expect_rc 5 edgekey token pin --token T --user --old-pin-file "$T/user.pin" \
    --new-pin-file "$T/user.pin"
grep -qi "lockout" "$T/err" || fail "CLI login in lockout: $(cat "$T/err")"
ok edgekey --json token list --token T
[ "$(jq_ "$T/out" 'd["tokens"][0]["user_fails"]')" = 0 ] ||
    fail "a lockout refusal was charged to the file counter"
pass "C_Login with the right PIN in lockout: CKR_PIN_LOCKED; CLI exit 5 'lockout'; file counter 0"

flush
no_leftovers
