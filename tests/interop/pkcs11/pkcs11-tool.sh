#!/usr/bin/env bash
# Issue 3, acceptance 1: OpenSC pkcs11-tool --test, --test-ec, --test-fork and
# --test-threads pass on an initialised (PIN) token; PIN errors map to the
# right CK_RV and the retry counter; keys are sign-only.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/p11-common.sh"

ek_p11_token tok1
p11 --token-label tok1 --list-token-slots | grep -q "login required" || fail "tok1 not PIN-protected"
L=(--token-label tok1 --login --pin "$EK_PIN")

p11 "${L[@]}" --keypairgen --key-type rsa:2048 --id 01 --label rsa1 >/dev/null || fail "RSA keygen"
p11 "${L[@]}" --keypairgen --key-type EC:prime256v1 --id 02 --label ec1 >/dev/null || fail "EC keygen"

# --test signs with every RSA key and verifies; "Decrypt: not implemented"
# is how OpenSC 0.23 reports a token whose keys cannot decrypt (ours: sign-only).
p11 "${L[@]}" --test >"$T/test.out" 2>&1 || { cat "$T/test.out"; fail "pkcs11-tool --test"; }
grep -q "No errors" "$T/test.out" || { cat "$T/test.out"; fail "--test reported errors"; }
grep -q "RSA-PKCS: OK" "$T/test.out" || fail "--test did not sign with RSA-PKCS"
pass "pkcs11-tool --test"

# --test-ec generates a key pair (needs a R/W session), renames it (refused:
# token objects are read-only, a warning only), signs, deletes it.
for curve in prime256v1 secp384r1; do
    p11 "${L[@]}" --session-rw --test-ec --id 0e --key-type "EC:$curve" >"$T/ec.out" 2>&1 ||
        { cat "$T/ec.out"; fail "pkcs11-tool --test-ec $curve"; }
    grep -q "==> OK" "$T/ec.out" || { cat "$T/ec.out"; fail "--test-ec $curve not OK"; }
done
p11 "${L[@]}" --list-objects 2>/dev/null | grep -q "ID: *0e$" && fail "--test-ec left its key behind"
pass "pkcs11-tool --test-ec (P-256, P-384)"

p11 "${L[@]}" --test-fork >"$T/fork.out" 2>&1 || { cat "$T/fork.out"; fail "--test-fork"; }
grep -q "C_Initialize in forked child" "$T/fork.out" || fail "--test-fork did not fork"
pass "pkcs11-tool --test-fork"

p11 --token-label tok1 --test-threads IN:GI:SL:T0 --test-threads IL:GI:SL:T0 \
    --test-threads IL:GI:SL:T0 >"$T/thr.out" 2>&1 || { cat "$T/thr.out"; fail "--test-threads"; }
grep -q "all threads have ended with CKR_OK" "$T/thr.out" || { cat "$T/thr.out"; fail "--test-threads errors"; }
pass "pkcs11-tool --test-threads"

# Sign-only: the private key never claims decrypt, and decryption fails.
p11 "${L[@]}" --list-objects --type privkey >"$T/obj.out"
grep -q "Usage:      sign$" "$T/obj.out" || { cat "$T/obj.out"; fail "private key usage is not sign-only"; }
grep -q "never extractable" "$T/obj.out" || fail "private key not never-extractable"
echo hello >"$T/in.bin"
p11 "${L[@]}" --id 01 --decrypt -m RSA-PKCS --input-file "$T/in.bin" >/dev/null 2>&1 &&
    fail "decryption with a sign-only key succeeded"

# PIN handling: wrong PIN -> CKR_PIN_INCORRECT and the counter shows; a right
# PIN resets it; C_SetPIN re-seals without touching keys.
out=$(p11 --token-label tok1 --login --pin 9999 --list-objects 2>&1) && fail "wrong PIN accepted"
echo "$out" | grep -q CKR_PIN_INCORRECT || { echo "$out"; fail "wrong PIN not CKR_PIN_INCORRECT"; }
p11 --list-token-slots | grep -q "user PIN count low" || fail "no PIN count-low flag after a wrong PIN"
p11 --token-label tok1 --login --pin "$EK_PIN" --change-pin --new-pin 4321 >/dev/null || fail "C_SetPIN"
echo data >"$T/data"
p11 --token-label tok1 --login --pin 4321 --sign --id 01 -m SHA256-RSA-PKCS \
    --input-file "$T/data" --output-file "$T/sig" >/dev/null 2>&1 || fail "sign after C_SetPIN"
p11 --list-token-slots | grep -q "user PIN count low" && fail "PIN counter not reset by a good PIN"
pass "PIN incorrect / counter / C_SetPIN keeps keys"

# Wrong PINs are counted by the TPM's dictionary-attack logic (the PIN objects
# are DA-protected; tpm-env.sh forgives one failure per 10 s) and by our own
# per-token counter, which locks the PIN after 10 failures.
da_count() { tpm2_getcap properties-variable | sed -n 's/^TPM2_PT_LOCKOUT_COUNTER: *//p'; }
da0=$(da_count) || fail "tpm2_getcap"
for _ in 1 2 3 4 5; do p11 --token-label tok1 --login --pin 0000 --list-objects >/dev/null 2>&1 || true; done
da1=$(da_count) || fail "tpm2_getcap"
[ $((da1)) -ge $((da0 + 3)) ] || fail "wrong PINs did not move the TPM DA counter ($da0 -> $da1)"
for _ in 1 2 3 4 5; do p11 --token-label tok1 --login --pin 0000 --list-objects >/dev/null 2>&1 || true; done
out=$(p11 --token-label tok1 --login --pin 4321 --list-objects 2>&1) && fail "PIN not locked after 10 failures"
echo "$out" | grep -q CKR_PIN_LOCKED || { echo "$out"; fail "locked PIN not CKR_PIN_LOCKED"; }
p11 --list-token-slots | grep -q "user PIN locked" || fail "no CKF_USER_PIN_LOCKED"
# The SO unlocks by setting a new user PIN; keys still sign (same secret).
p11 --token-label tok1 --login --login-type so --so-pin "$EK_SO_PIN" --init-pin --new-pin 5678 \
    >/dev/null 2>&1 || p11 --token-label tok1 --login --login-type so --so-pin "$EK_SO_PIN" \
    --init-pin --pin 5678 >/dev/null || fail "SO could not reset the user PIN"
p11 --token-label tok1 --login --pin 5678 --sign --id 01 -m SHA256-RSA-PKCS \
    --input-file "$T/data" --output-file "$T/sig" >/dev/null 2>&1 || fail "sign after SO reset"
pass "wrong PINs count in the TPM (DA) and per token; SO reset keeps keys"
