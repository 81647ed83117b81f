#!/usr/bin/env bash
# Issue 5, session side: telemetry from a command's stdout (exec:) and
# from a file (file:, a bad line skipped), and the command handler table
# (ping, status, measurepoint/set, an unknown service -> 404), answered on
# the service topic + _reply.
. "$EDGEKEY_SRC/tests/e2e/edge/lib.sh" session
PK=session-meter
SN=SN-session-$$
t_hub "$PK" "$SN"
ek_edge_conf "$T/edge.conf" "$PK" "$SN" "$T/edge-data" rsa2048
cat >>"$T/edge.conf" <<'EOF2'
interval_ms = 20
telemetry = exec:i=0; while [ $i -lt 20 ]; do i=$((i+1)); echo "{\"flow\":$i}"; sleep 0.05; done
EOF2
t_edge_start --count 0 --commands 4
t_wait_log "telemetry 20/20 acknowledged" 60 || die "20 readings from exec: not delivered" "$EDGE_LOG"
flow=$(hub --json device show --device-key "$SN" | jget measurepoints flow value)
[ "$flow" = 20 ] || die "hub stored flow=$flow from the command, wanted 20"
echo "exec: source: 20 readings delivered, hub has flow=$flow"

send() {
    hub send --product-key "$PK" --device-key "$SN" --service "$1" --params "$2" --timeout-ms 5000 2>"$T/send.err" ||
        die "edgekey-hub send $1: $(cat "$T/send.err")"
}
r=$(send ping '{}')
[ "$(jget code <<<"$r")" = 200 ] && [ "$(jget data pong <<<"$r")" -gt 0 ] || die "ping reply: $r"
r=$(send measurepoint/set '{"interval_ms":750,"colour":"red"}')
[ "$(jget code <<<"$r")" = 200 ] && [ "$(jget data interval_ms <<<"$r")" = 750 ] || die "measurepoint/set reply: $r"
grep -q '"ignored":\["colour"\]' <<<"$r" || die "measurepoint/set did not report the unknown key: $r"
r=$(send status '{}')
[ "$(jget code <<<"$r")" = 200 ] && [ "$(jget data interval_ms <<<"$r")" = 750 ] &&
    [ "$(jget data delivered <<<"$r")" = 20 ] && [ "$(jget data keyLabel <<<"$r")" = device ] || die "status reply: $r"
echo "status: $r"
r=$(send selfdestruct '{}')
[ "$(jget code <<<"$r")" = 404 ] || die "unknown service reply: $r"
t_wait_exit 20
[ "$EDGE_RC" = 0 ] || die "edge-client exited $EDGE_RC after 4 commands" "$EDGE_LOG"
echo "commands: ping, measurepoint/set, status answered 200; unknown service 404"

# file: source, one line per interval, a bad line skipped
printf '%s\n' '{"level":1}' 'not json' '{"measurepoints":{"level":2},"time":1700000000000}' '{"level":3}' >"$T/lines.json"
sed -i 's|^telemetry = .*|telemetry = file:'"$T"'/lines.json|' "$T/edge.conf"
t_edge_start --once --count 0
t_wait_exit 60
[ "$EDGE_RC" = 0 ] || die "edge-client with file: exited $EDGE_RC" "$EDGE_LOG"
grep -q "telemetry 3/3 acknowledged" "$EDGE_LOG" || die "file: source: 3 good lines not delivered" "$EDGE_LOG"
grep -q "skipped a line that is not a JSON object" "$EDGE_LOG" || die "bad line not reported" "$EDGE_LOG"
level=$(hub --json device show --device-key "$SN" | jget measurepoints level value)
[ "$level" = 3 ] || die "hub stored level=$level from the file, wanted 3"
echo "ok: exec: and file: sources, command table"
