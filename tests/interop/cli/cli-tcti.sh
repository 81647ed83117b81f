#!/usr/bin/env bash
# The TPM connection's failures say what was tried and how to fix it
# (issue 11, item 3): no TCTI configured and no device node (no GLib noise
# from tpm2-abrmd's TCTI, which tpm2-tss's loader would try first), a
# misspelled TCTI name (the installed ones listed), and a swtpm that was
# never initialised (TPM_RC_FAILURE, named as "not started" with the fix).
# A swtpm initialised but not started is started by core itself.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/lib.sh"

no_glib() {
    ! grep -qE '\*\*|CRITICAL|WARNING|dbus' "$T/err" || fail "$1: GLib/tcti noise: $(cat "$T/err")"
}

# 1. Nothing configured. Only where the machine has no TPM device of its own
# (else edgekey rightly takes it).
if [ -e /dev/tpmrm0 ] || [ -e /dev/tpm0 ]; then
    echo "skip: this machine has a TPM device node; the no-TCTI case is not testable here"
else
    expect_rc 4 env -u EDGEKEY_TCTI -u DBUS_SESSION_BUS_ADDRESS edgekey info --no-probe
    no_glib "no TCTI"
    for want in "no TPM connection configured" "EDGEKEY_TCTI" "/dev/tpmrm0 (absent)" \
        "tabrmd:" "swtpm:host=" "edgekey doctor"; do
        grep -qF -- "$want" "$T/err" || fail "no TCTI: '$want' missing: $(cat "$T/err")"
    done
    expect_rc 4 env -u EDGEKEY_TCTI edgekey --json info --no-probe
    json_ok "$T/out"
    pass "no TCTI: exit 4, what was tried and how to set it, no GLib noise: $(cat "$T/err")"
    run env -u EDGEKEY_TCTI edgekey doctor
    [ "$rc" != 0 ] || fail "doctor without a TCTI passed"
    grep -q "^FAIL  tcti .*no TCTI .*no TPM connection configured" "$T/out" ||
        fail "doctor without a TCTI: $(cat "$T/out" "$T/err")"
    no_glib "doctor, no TCTI"
    pass "doctor without a TCTI: tcti FAIL naming what was tried"
fi

# 2. A misspelled TCTI name: the installed names, and the fix.
expect_rc 4 env EDGEKEY_TCTI="swtmp:host=127.0.0.1,port=$EDGEKEY_SWTPM_PORT" edgekey info --no-probe
no_glib "misspelled TCTI"
grep -qF 'no TCTI named "swtmp"' "$T/err" || fail "misspelled TCTI: $(cat "$T/err")"
grep -qE 'installed ones .*: .*swtpm' "$T/err" || fail "misspelled TCTI: names not listed: $(cat "$T/err")"
grep -qF "EDGEKEY_TCTI" "$T/err" || fail "misspelled TCTI: no fix named: $(cat "$T/err")"
expect_rc 4 edgekey --tcti "libtss2-tcti-swtmp.so:port=1" info --no-probe
grep -qF 'no TCTI named "swtmp"' "$T/err" || fail "misspelled TCTI library: $(cat "$T/err")"
pass "misspelled TCTI name: exit 4, installed TCTIs listed: $(cat "$T/err")"

# 3. A swtpm started without --flags: every command answers TPM_RC_FAILURE.
port=$(ek_free_port_pair)
mkdir -p "$T/raw-tpm"
ek_bg swtpm socket --tpm2 --tpmstate dir="$T/raw-tpm" \
    --server type=tcp,port="$port",bindaddr=127.0.0.1 \
    --ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 --log file="$T/raw-swtpm.log"
ek_wait_port "$port" || fail "second swtpm did not listen on $port"
raw="swtpm:host=127.0.0.1,port=$port"
expect_rc 4 edgekey --tcti "$raw" info --no-probe
for want in "TPM was not started" "not-need-init,startup-clear" "swtpm_ioctl -i" "edgekey doctor"; do
    grep -qF -- "$want" "$T/err" || fail "uninitialised swtpm: '$want' missing: $(cat "$T/err")"
done
pass "uninitialised swtpm: exit 4, 'not started' with the fix: $(cat "$T/err")"
# Initialised but not started (TPM_RC_INITIALIZE): core sends Startup(CLEAR).
swtpm_ioctl -i --tcp "127.0.0.1:$((port + 1))" >/dev/null || fail "swtpm_ioctl -i"
ok edgekey --tcti "$raw" info --no-probe
grep -q "manufacturer: *IBM" "$T/out" || fail "after init: $(cat "$T/out")"
pass "initialised, not started swtpm: edgekey starts it (TPM2_Startup CLEAR) and works"
