#!/usr/bin/env bash
# edgekey info: vendor/firmware/algorithms from the TPM (swtpm reports "IBM"),
# the PSS salt probe, lockout state, TCTI and store; --json is valid JSON and
# agrees with tpm2t tpm2_getcap.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/lib.sh"

ok edgekey info
cp "$T/out" "$T/info.txt"
grep -q "manufacturer: *IBM" "$T/info.txt" || { cat "$T/info.txt"; fail "info: no manufacturer IBM"; }
grep -q "store: *$EDGEKEY_STORE" "$T/info.txt" || fail "info: store root not shown"
grep -q "tcti: *$EDGEKEY_TCTI" "$T/info.txt" || fail "info: TCTI not shown"
grep -q "locked_out: *no" "$T/info.txt" || fail "info: lockout state not shown"
pass "info (human) shows vendor IBM, TCTI, store, lockout"

ok edgekey --json info
json_ok "$T/out"
cp "$T/out" "$T/info.json"
[ "$(jq_ "$T/info.json" 'd["tpm"]["manufacturer"]')" = IBM ] || fail "info --json: manufacturer"
# Compare with tpm2-tools' view of the same TPM.
want_mfr=$(tpm2t tpm2_getcap properties-fixed | awk '/TPM2_PT_MANUFACTURER/{f=1} f&&/value:/{gsub(/"/,"",$2); print $2; exit}')
[ "$want_mfr" = IBM ] || fail "tpm2_getcap says manufacturer '$want_mfr'"
slots=$(jq_ "$T/info.json" 'd["tpm"]["transient_slots"]')
[ "$slots" -ge 3 ] || fail "info: transient_slots $slots < 3"
algs=$(jq_ "$T/info.json" '",".join(d["tpm"]["algorithms"])')
case ",$algs," in *,rsa2048,*) ;; *) fail "info: rsa2048 missing from '$algs'" ;; esac
case ",$algs," in *,ec-p256,*) ;; *) fail "info: ec-p256 missing from '$algs'" ;; esac
salt=$(jq_ "$T/info.json" 'd["rsa_pss"]["salt"]')
case $salt in digest|max) ;; *) fail "info: PSS salt probe gave '$salt': $(jq_ "$T/info.json" 'd["rsa_pss"]')" ;; esac
[ "$(jq_ "$T/info.json" 'd["policy"]["rsa_min_bits"]')" -ge 2048 ] || fail "info: rsa_min_bits"
[ "$(jq_ "$T/info.json" 'd["lockout"]["locked_out"]')" = False ] || fail "info: locked out?"
pass "info --json: IBM, $slots slots, algorithms $algs, PSS salt $salt"

# --tcti on the command line wins over EDGEKEY_TCTI: a dead port must fail
# with the TPM/connection exit code and a message naming the TCTI.
dead="swtpm:host=127.0.0.1,port=$((EDGEKEY_TEST_PORT_BASE + 9))"
expect_rc 4 edgekey --tcti "$dead" info --no-probe
grep -q "^edgekey: " "$T/err" || fail "connection error not reported as 'edgekey: ...'"
pass "unreachable --tcti exits 4: $(head -n1 "$T/err")"

expect_rc 4 edgekey --json --tcti "$dead" info --no-probe
json_ok "$T/out"
[ "$(jq_ "$T/out" 'd["error"]["exit_code"]')" = 4 ] || fail "JSON error object lacks exit_code 4"
pass "--json error output is valid JSON"

ok edgekey --version
grep -q "^edgekey [0-9]" "$T/out" || fail "--version"
ok edgekey --help
grep -q "exit codes" "$T/out" || fail "--help does not document exit codes"
no_leftovers
