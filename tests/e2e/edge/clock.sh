#!/usr/bin/env bash
# Issue 5, acceptance 4b: a wall clock set back is detected with the TPM
# clock (TPM2_ReadClock through the provider's edgekey-tpm-clock).
#  1. a normal run writes the high-water mark (data_dir/clock.mark);
#  2. faketime -1 day: wall clock below the mark -> "CLOCK ROLLBACK", exit 5,
#     no connection, the mark NOT moved;
#  3. faketime -4 s after sleeping 6 s with clock_tolerance_s = 2: the wall
#     clock is still past the mark, but the TPM clock advanced ~6 s while
#     the wall clock advanced ~2 s -> detected by the TPM comparison alone;
#  4. the real time again: the client runs (no false alarm, mark advanced).
# Can fail: a client without the check connects in 2 and 3 (exit 0,
# "MQTT connected"), one that moves the mark on rollback fails 3's
# precondition, and one with false alarms fails 1 and 4.
. "$EDGEKEY_SRC/tests/e2e/edge/lib.sh" edge-clock
command -v faketime >/dev/null || die "faketime is not installed (Debian package faketime)"
PK=clock-meter
SN=SN-clock-$$
t_hub "$PK" "$SN"
ek_edge_conf "$T/edge.conf" "$PK" "$SN" "$T/edge-data" rsa2048
echo "clock_tolerance_s = 2" >>"$T/edge.conf"
run_edge() { # LOG [faketime-offset] -- ARGS...
    local log=$1 off=$2
    shift 3
    EDGE_RC=0
    if [ -n "$off" ]; then
        edge_env faketime -f "$off" "$EDGE_BIN" --config "$T/edge.conf" run "$@" </dev/null >"$log" 2>&1 || EDGE_RC=$?
    else
        edge_env "$EDGE_BIN" --config "$T/edge.conf" run "$@" </dev/null >"$log" 2>&1 || EDGE_RC=$?
    fi
}
# check the TPM clock is readable through the CLI too (edgekey info --json)
edge_env "$B/cli/edgekey" info --json --no-probe >"$T/info.json" 2>"$T/info.err" || die "edgekey info" "$T/info.err"
c0=$(jget clock clock_ms <"$T/info.json") || die "edgekey info has no clock.clock_ms" "$T/info.json"
[ "$c0" -gt 0 ] || die "TPM clock_ms is $c0"
echo "ok: edgekey info shows the TPM clock ($c0 ms, reset_count $(jget clock reset_count <"$T/info.json"))"

# 1. normal run: mark written
run_edge "$T/run1.log" "" -- --once --count 1
[ $EDGE_RC = 0 ] || die "first run exit $EDGE_RC" "$T/run1.log"
[ -s "$T/edge-data/clock.mark" ] || die "no clock.mark written" "$T/run1.log"
cp "$T/edge-data/clock.mark" "$T/mark1"
echo "ok: normal run, mark: $(cat "$T/mark1")"

# 2. wall clock a day back
run_edge "$T/run2.log" "-1d" -- --once --count 1
cat "$T/run2.log"
[ $EDGE_RC = 5 ] || die "wall clock set back a day: exit $EDGE_RC, wanted 5" "$T/run2.log"
grep -q "CLOCK ROLLBACK detected" "$T/run2.log" || die "no rollback message" "$T/run2.log"
grep -q "MQTT connected" "$T/run2.log" && die "connected with a clock set back" "$T/run2.log"
grep -q "refusing to connect and to renew" "$T/run2.log" || die "message does not say what is refused" "$T/run2.log"
cmp -s "$T/mark1" "$T/edge-data/clock.mark" || die "the rollback moved the high-water mark"
echo "ok: wall clock a day back detected (exit 5), mark unchanged"

# 3. within the mark, but the TPM clock ran faster than the wall clock
sleep 6
run_edge "$T/run3.log" "-4s" -- --once --count 1
cat "$T/run3.log"
[ $EDGE_RC = 5 ] || die "wall clock 4 s back after 6 s (tolerance 2 s): exit $EDGE_RC, wanted 5" "$T/run3.log"
grep -q "CLOCK ROLLBACK detected" "$T/run3.log" || die "no rollback message (TPM comparison)" "$T/run3.log"
echo "ok: 4 s set back within the mark detected by the TPM clock alone"

# 4. real time again: no false alarm
run_edge "$T/run4.log" "" -- --once --count 1
[ $EDGE_RC = 0 ] || die "real time again: exit $EDGE_RC" "$T/run4.log"
grep -q "CLOCK ROLLBACK" "$T/run4.log" && die "false rollback alarm" "$T/run4.log"
cmp -s "$T/mark1" "$T/edge-data/clock.mark" && die "the mark did not advance"
echo "ok: real time again: runs, mark advanced"
