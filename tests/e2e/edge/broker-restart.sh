#!/usr/bin/env bash
# Issue 5, "no data lost": the broker is killed (kill -9, by PID) and
# restarted twice while the edge client publishes 200 telemetry messages
# (QoS 1, on-disk queue, reconnect with backoff). All 200 must reach the
# hub exactly once: the hub registry holds one row per message id 1..200
# (resends are de-duplicated by (productKey, deviceKey, id)), and the
# last reading stored is seq 200.
. "$EDGEKEY_SRC/tests/e2e/edge/lib.sh" broker-restart
N=200
PK=restart-meter
SN=SN-restart-$$
t_hub "$PK" "$SN"
ek_edge_conf "$T/edge.conf" "$PK" "$SN" "$T/edge-data" rsa2048
cat >>"$T/edge.conf" <<EOF2
interval_ms = 30
reconnect_min_ms = 200
reconnect_max_ms = 2000
reply_timeout_ms = 3000
EOF2
t_edge_start --once --count $N
t_wait_log "MQTT connected" 60 || die "edge did not connect" "$EDGE_LOG"

stored() { t_sql "SELECT count(*) FROM telemetry_msgs WHERE device_key='$SN';"; }
kill_broker() {
    local want=$1 n
    for _ in $(seq 300); do n=$(stored); [ "$n" -ge "$want" ] && break; sleep 0.05; done
    kill -9 "$BROKER_PID"
    wait "$BROKER_PID" 2>/dev/null || true
    n=$(stored)
    echo "broker $BROKER_PID killed (kill -9) with $n/$N messages at the hub"
    [ "$n" -lt $N ] || die "all messages arrived before the broker was killed: nothing tested"
    sleep 1.5 # the edge keeps reading into its queue meanwhile
    ek_start_broker
    echo "broker restarted (pid $BROKER_PID)"
}
kill_broker 40
t_wait_log "reconnected" 30 || die "edge did not reconnect after the broker restart" "$EDGE_LOG"
kill_broker $(($(stored) + 30))

t_wait_exit 120
[ "$EDGE_RC" = 0 ] || die "edge-client exited $EDGE_RC" "$EDGE_LOG"
grep -q "telemetry $N/$N acknowledged" "$EDGE_LOG" || die "edge did not report $N/$N acknowledged" "$EDGE_LOG"
[ "$(grep -c 'session dropped' "$EDGE_LOG")" -ge 2 ] || die "edge never saw its session dropped" "$EDGE_LOG"

# exactly once at the hub: ids 1..N, each one row
read -r rows distinct lo hi dups <<<"$(t_sql "SELECT count(*), count(DISTINCT msg_id), min(CAST(msg_id AS INTEGER)),
    max(CAST(msg_id AS INTEGER)), total(duplicates) FROM telemetry_msgs WHERE device_key='$SN';" | tr '|' ' ')"
echo "hub: $rows rows, $distinct distinct ids, ids $lo..$hi, ${dups%.*} resends de-duplicated"
[ "$rows" = $N ] && [ "$distinct" = $N ] && [ "$lo" = 1 ] && [ "$hi" = $N ] ||
    die "hub holds $rows rows / $distinct ids ($lo..$hi), wanted ids 1..$N once each"
last=$(hub --json device show --device-key "$SN" | jget measurepoints seq value)
[ "$last" = $N ] || die "last stored reading is seq $last, wanted $N"
left=$(sqlite3 "$T/edge-data/queue.db" "SELECT count(*) FROM queue;")
[ "$left" = 0 ] || die "$left rows left in the edge queue"
echo "$N messages through two broker kills, each stored once at the hub (edge queue empty)"

# The client itself dies while the broker is down: what it queued is sent,
# in order, by the next run.
kill -9 "$BROKER_PID"
wait "$BROKER_PID" 2>/dev/null || true
t_edge_start --once --count 1000
t_wait_log "MQTT reconnect in" 60 || die "second run did not try the (dead) broker" "$EDGE_LOG"
sleep 1.5
kill -9 "$EDGE_PID"
wait "$EDGE_PID" 2>/dev/null || true
queued=$(sqlite3 "$T/edge-data/queue.db" "SELECT count(*) FROM queue;")
[ "$queued" -gt 0 ] || die "nothing queued while the broker was down"
echo "edge-client killed (kill -9) with $queued readings queued on disk"
ek_start_broker
sleep 1 # the hub service logs in again
t_edge_start --once --count 5
t_wait_exit 60
[ "$EDGE_RC" = 0 ] || die "third run exited $EDGE_RC" "$EDGE_LOG"
grep -q "$queued telemetry readings waiting" "$EDGE_LOG" || die "third run did not pick up the queue" "$EDGE_LOG"
M=$((N + queued + 5))
read -r rows lo hi <<<"$(t_sql "SELECT count(DISTINCT msg_id), min(CAST(msg_id AS INTEGER)),
    max(CAST(msg_id AS INTEGER)) FROM telemetry_msgs WHERE device_key='$SN';" | tr '|' ' ')"
[ "$rows" = $M ] && [ "$lo" = 1 ] && [ "$hi" = $M ] || die "hub holds $rows ids ($lo..$hi), wanted 1..$M"
echo "ok: after a client crash the $queued queued readings went first; hub has ids 1..$M once each"
