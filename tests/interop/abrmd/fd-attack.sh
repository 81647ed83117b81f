#!/usr/bin/env bash
# Adversarial test (issue 10, acceptance 1): no TPM command may reach a socket
# that another bus user pushed at us.
#
# A tabrmd client must take its TPM socket from the fd list of tpm2-abrmd's
# CreateConnection METHOD REPLY. Any peer on the bus may send a UNICAST
# signal carrying fds to our unique name: the private session bus that
# tpm-env.sh starts uses /usr/share/dbus-1/session.conf ("allow everything"),
# and the system bus's default policy allows it too (system.conf,
# <policy context="default">: <allow send_type="signal"/>, with nothing in
# tpm2-abrmd's system.d file that narrows it). abrmd_fd_attacker watches
# NameOwnerChanged and, as soon as a new unique name appears (right after the
# victim's Hello, before it has its CreateConnection reply), sends it
# unicast signals each carrying one end of a fresh socketpair, and records
# every byte that arrives on the ends it kept.
#
# Two victims, each run RUNS times (EDGEKEY_ABRMD_ATTACK_RUNS, default 20)
# under attack, with a fresh attacker per victim so the counts are its own:
#   control  tpm2-tools (tpm2_getcap), i.e. tpm2-tss's stock tabrmd TCTI
#   edgekey  edgekey info, edgekey keygen, edgekey csr, openssl pkeyutl
#            through the edgekey provider (the TCTI edgekey uses for tabrmd:)
# Each must get 0 bytes to the attacker, and the attacker must have sent
# signals to new names (else the test proved nothing). Victim commands must
# succeed or fail cleanly (an exit code, not a hang or a crash); they must
# all succeed when the attacker got nothing.
#
#   tests/lib/tpm-env.sh abrmd tests/interop/abrmd/fd-attack.sh ATTACKER
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"

attacker=${1:?usage: fd-attack.sh PATH/TO/abrmd_fd_attacker}
[ -x "$attacker" ] || fail "attacker $attacker is not executable"
[ "$EDGEKEY_TEST_MODE" = abrmd ] || fail "run in abrmd mode (tests/lib/tpm-env.sh abrmd ...)"
: "${DBUS_SESSION_BUS_ADDRESS:?tpm-env.sh abrmd exports the private bus}"
command -v edgekey >/dev/null || fail "edgekey is not on PATH (build/cli)"
runs=${EDGEKEY_ABRMD_ATTACK_RUNS:-20}
victim_timeout=60
export OPENSSL_CONF=/dev/null

# --- the attacker -----------------------------------------------------------
att_pid=
att_name=
attacker_start() { # NAME
    att_name=$1
    rm -f "$T/att-$1.ready"
    "$attacker" --address "$DBUS_SESSION_BUS_ADDRESS" --duration 500 \
        --window-ms 1000 --interval-ms 50 --burst 3 \
        --ready "$T/att-$1.ready" --result "$T/att-$1.result" \
        >"$T/att-$1.out" 2>"$T/att-$1.log" &
    att_pid=$!
    ek_bg_pids+=("$att_pid")
    for _ in $(seq 200); do
        [ -s "$T/att-$1.ready" ] && return 0
        kill -0 "$att_pid" 2>/dev/null || break
        sleep 0.05
    done
    cat "$T/att-$1.log" >&2
    fail "attacker did not come up on the bus"
}

# attacker_stop: SIGTERM, wait, and parse its counts into att_* variables.
attacker_stop() {
    local rc=0
    kill -TERM "$att_pid" 2>/dev/null || true
    wait "$att_pid" || rc=$?
    [ -s "$T/att-$att_name.result" ] || { cat "$T/att-$att_name.log" >&2; fail "attacker ($att_name) wrote no result (exit $rc)"; }
    local line
    line=$(head -n1 "$T/att-$att_name.result")
    att_targets=$(sed -n 's/.*targets=\([0-9]*\).*/\1/p' <<<"$line")
    att_signals=$(sed -n 's/.*signals=\([0-9]*\).*/\1/p' <<<"$line")
    att_bytes=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' <<<"$line")
    att_hits=$(sed -n 's/.*hits=\([0-9]*\).*/\1/p' <<<"$line")
    echo "attacker ($att_name): $line (exit $rc)"
    grep 'HIT' "$T/att-$att_name.log" | head -n 10 || true
}

# --- victims ---------------------------------------------------------------
# victim NAME CMD...: run under a timeout; count ok / clean failure / hang.
v_total=0 v_ok=0 v_failed=0 v_bad=0
victim() {
    local name=$1 rc=0
    shift
    v_total=$((v_total + 1))
    timeout -k 5 "$victim_timeout" "$@" >"$T/v.out" 2>"$T/v.err" || rc=$?
    if [ $rc = 0 ]; then
        v_ok=$((v_ok + 1))
    elif [ $rc -ge 124 ]; then # timeout (124/137) or killed by a signal (128+n)
        v_bad=$((v_bad + 1))
        echo "victim $name: HUNG OR CRASHED (exit $rc): $(head -c 300 "$T/v.err")" >&2
    else
        v_failed=$((v_failed + 1))
        echo "victim $name: failed cleanly (exit $rc): $(head -n1 "$T/v.err")" >&2
    fi
    return $rc
}

# verdict NAME: this phase's verdict (0 = safe); never exits.
verdict() {
    local name=$1 bad=0
    echo "$name: $v_total victim runs: $v_ok ok, $v_failed failed cleanly, $v_bad hung/crashed"
    if [ "${att_signals:-0}" -le 0 ] || [ "${att_targets:-0}" -le 0 ]; then
        echo "FAIL($name): the attacker sent no signal to any new name: the test proved nothing" >&2
        bad=1
    fi
    if [ "${att_bytes:-1}" != 0 ]; then
        echo "FAIL($name): $att_bytes bytes of TPM traffic reached the attacker's sockets ($att_hits sockets)" >&2
        bad=1
    fi
    if [ "$v_bad" != 0 ]; then
        echo "FAIL($name): $v_bad victim runs hung or crashed" >&2
        bad=1
    fi
    if [ "$bad" = 0 ] && [ "$v_ok" != "$v_total" ]; then
        echo "FAIL($name): attacker got nothing, yet $v_failed victim runs failed" >&2
        bad=1
    fi
    [ "$bad" = 0 ] && pass "$name: $v_total victim runs under attack, $att_targets names targeted, $att_signals signals, 0 bytes to the attacker"
    return $bad
}

overall=0

# --- control: tpm2-tools through libtss2-tcti-tabrmd ------------------------
attacker_start control
for i in $(seq "$runs"); do
    victim "tpm2_getcap#$i" env -u LD_PRELOAD TPM2TOOLS_TCTI="$EDGEKEY_TCTI" \
        tpm2_getcap properties-fixed || true
done
attacker_stop
verdict "control (tpm2-tools, stock tabrmd TCTI)" || overall=1

# --- edgekey: CLI and provider ----------------------------------------------
v_total=0 v_ok=0 v_failed=0 v_bad=0
# A key made before the attack, so csr and pkeyutl run every round even when
# that round's keygen was hijacked.
edgekey keygen --label pre --alg ec-p256 >/dev/null || fail "keygen before the attack"
pre="pkcs11:token=edge;object=pre"
head -c 32 /dev/urandom >"$T/dgst"
attacker_start edgekey
for i in $(seq "$runs"); do
    victim "info#$i" edgekey info --no-probe || true
    victim "keygen#$i" edgekey keygen --label "k$i" --alg ec-p256 || true
    victim "csr#$i" edgekey csr --key "$pre" --subject "/CN=attack-$i" --out "$T/k$i.csr" || true
    victim "pkeyutl#$i" openssl pkeyutl -provider default -provider edgekey -sign \
        -inkey "$pre" -in "$T/dgst" -out "$T/k$i.sig" || true
done
attacker_stop
verdict "edgekey (CLI + provider, TCTI $EDGEKEY_TCTI)" || overall=1

[ $overall = 0 ] || fail "a TPM client on this bus can be handed its TPM socket by another bus user"
pass "no TPM command reached the attacker's sockets"
