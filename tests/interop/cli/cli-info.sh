#!/usr/bin/env bash
# edgekey info: vendor/firmware/algorithms from the TPM (swtpm reports "IBM"),
# the PSS salt probe, the DA parameters, counter and lockout state (read live),
# TCTI and store; --json is valid JSON and agrees with tpm2t tpm2_getcap.
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
# The DA parameters are the ones tests/lib/tpm-env.sh set (64 tries, 10 s, 1 s)
# and agree with tpm2_getcap; they are read live, never from .tpm-facts.
var_prop() {
    printf '%d' "$(tpm2t tpm2_getcap properties-variable | awk -v p="$1:" '$1 == p {print $2; exit}')"
}
da() { jq_ "$T/info.json" "d['lockout']['$1']"; }
[ "$(da max_tries)" = 64 ] && [ "$(da max_tries)" = "$(var_prop TPM2_PT_MAX_AUTH_FAIL)" ] ||
    fail "info: max_tries $(da max_tries)"
[ "$(da recovery_seconds)" = 10 ] && [ "$(da recovery_seconds)" = "$(var_prop TPM2_PT_LOCKOUT_INTERVAL)" ] ||
    fail "info: recovery_seconds $(da recovery_seconds)"
[ "$(da lockout_recovery_seconds)" = "$(var_prop TPM2_PT_LOCKOUT_RECOVERY)" ] ||
    fail "info: lockout_recovery_seconds $(da lockout_recovery_seconds)"
[ "$(da failed_tries)" = 0 ] || fail "info: failed_tries $(da failed_tries)"
grep -q "max_tries: *64" "$T/info.txt" && grep -q "recovery_seconds: *10" "$T/info.txt" &&
    grep -q "failed_tries: *0" "$T/info.txt" || fail "info (human): DA parameters missing"
pass "info --json: IBM, $slots slots, algorithms $algs, PSS salt $salt, DA 64 tries/10 s"

# The counter and lockout flag are live: two wrong auths against a DA object
# of ours show as failed_tries 2; parameters set now show at once (no cache).
tpm2t tpm2_dictionarylockout --setup-parameters --max-tries=2 --recovery-time=600 \
    --lockout-recovery-time=600 >/dev/null || fail "tpm2_dictionarylockout"
tpm2t tpm2_createprimary -C o -c "$T/p.ctx" >/dev/null || fail "createprimary"
tpm2t tpm2_flushcontext -t >/dev/null 2>&1 || true
echo x | tpm2t tpm2_create -C "$T/p.ctx" -p right -i- -u "$T/s.pub" -r "$T/s.priv" >/dev/null ||
    fail "tpm2_create"
tpm2t tpm2_flushcontext -t >/dev/null 2>&1 || true
tpm2t tpm2_load -C "$T/p.ctx" -u "$T/s.pub" -r "$T/s.priv" -c "$T/s.ctx" >/dev/null || fail "load"
tpm2t tpm2_flushcontext -t >/dev/null 2>&1 || true
for _ in 1 2; do
    ! tpm2t tpm2_unseal -c "$T/s.ctx" -p wrong >/dev/null 2>&1 || fail "wrong auth unsealed"
    tpm2t tpm2_flushcontext -t >/dev/null 2>&1 || true
done
ok edgekey --json info --no-probe
cp "$T/out" "$T/info.json"
[ "$(da failed_tries)" = 2 ] && [ "$(da max_tries)" = 2 ] && [ "$(da locked_out)" = True ] &&
    [ "$(da recovery_seconds)" = 600 ] || fail "info after 2 failures: $(jq_ "$T/info.json" 'd["lockout"]')"
ok edgekey info --no-probe
grep -q "locked_out: *yes" "$T/out" && grep -q "failed_tries: *2" "$T/out" ||
    fail "info (human) in lockout: $(cat "$T/out")"
pass "info shows the live counter (2 of 2) and the lockout"

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
