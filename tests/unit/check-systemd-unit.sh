#!/usr/bin/env bash
# The generated edge-client.service (issue 11 item 2): ExecStart names the
# edge client in the configured bindir, and `systemd-analyze verify` (no
# running systemd needed) accepts the unit without a warning. The installed
# binary may not exist yet, so verify runs on a copy whose ExecStart names
# the built binary; every other line is the generated unit's.
#
#   check-systemd-unit.sh UNIT BINDIR BUILT_EDGE_CLIENT
set -euo pipefail
unit=$1 bindir=$2 built=$(realpath "$3")

fail() { echo "FAIL: $*" >&2; exit 1; }
command -v systemd-analyze >/dev/null || { echo "SKIP: no systemd-analyze (scripts/deps test)"; exit 77; }

exec_line=$(grep '^ExecStart=' "$unit") || fail "$unit has no ExecStart"
want="ExecStart=$bindir/edge-client "
[ "${exec_line#"$want"}" != "$exec_line" ] ||
    fail "$unit: '$exec_line' does not start the edge client in bindir $bindir"
grep -q '@[A-Z]*@' "$unit" && fail "$unit: a @VAR@ was left unsubstituted: $(grep '@[A-Z]*@' "$unit")"

# The exit codes the unit does not restart on are the ones the client
# gives for states a restart cannot fix (examples/edge-client: usage() 2,
# EDGE_MQTT_REFUSED 4, EDGE_EXIT_CLOCK 5, EDGE_EXIT_TRUST 6).
src=$(cd "$(dirname "$0")/../.." && pwd)/examples/edge-client
grep -q 'EDGE_MQTT_REFUSED = 4' "$src/mqtt.h" || fail "mqtt.h: EDGE_MQTT_REFUSED is no longer 4; update the unit"
grep -q 'EDGE_EXIT_CLOCK 5' "$src/clock.h" || fail "clock.h: EDGE_EXIT_CLOCK is no longer 5; update the unit"
grep -q 'EDGE_EXIT_TRUST 6' "$src/trust.h" || fail "trust.h: EDGE_EXIT_TRUST is no longer 6; update the unit"
grep -qx 'RestartPreventExitStatus=2 4 5 6' "$unit" || fail "$unit: RestartPreventExitStatus is not '2 4 5 6'"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ek-unit.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
sed "s|^$want|ExecStart=$built |" "$unit" >"$tmp/edge-client.service"
out=$(systemd-analyze verify --man=no --generators=no "$tmp/edge-client.service" 2>&1) && rc=0 || rc=$?
# verify exits 0 on unknown keys and misspelt values: any output is a finding
if [ $rc -ne 0 ] || [ -n "$out" ]; then
    printf '%s\n' "$out" >&2
    fail "systemd-analyze verify: exit $rc on $unit"
fi
echo "ok: $unit: ExecStart in $bindir, systemd-analyze verify clean"
