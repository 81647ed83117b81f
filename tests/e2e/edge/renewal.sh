#!/usr/bin/env bash
# Issue 5, renewal: with a short validity the edge client renews by itself
# (new TPM key, CSR, renew over mutual TLS with the current key, atomic
# switch, reconnect, old key destroyed), then once more on the hub's
# rotate-key-now command, while it keeps publishing. Checks: the first
# certificate is superseded or revoked at the hub, the current one is
# active, the first key is gone from `edgekey list`, and every reading of
# the run reached the hub once (ids 1..N).
#
# Validity: the client asks for 1 day (valid_days = 1); the hub CA
# backdates notBefore by 300 s, so the certificate spans 86700 s and
# renew_fraction = 0.9964 makes it due about 12 s after issue.
. "$EDGEKEY_SRC/tests/e2e/edge/lib.sh" renewal
N=300
PK=renew-meter
SN=SN-renew-$$
t_hub "$PK" "$SN"
ek_edge_conf "$T/edge.conf" "$PK" "$SN" "$T/edge-data" "${1:-rsa2048}"
cat >>"$T/edge.conf" <<EOF2
valid_days = 1
renew_fraction = 0.9964
interval_ms = 100
log_level = info
EOF2
t_edge_start --once --count $N
t_wait_log "certificate issued" 60 || die "edge enrolment" "$EDGE_LOG"
SN0=$(cat "$T/edge-data/device.sn")
edge_env "$B/cli/edgekey" list >"$T/list0.log" 2>&1 || die "edgekey list" "$T/list0.log"
grep -q "object=device;" "$T/list0.log" || die "the first key (label device) is not in the store" "$T/list0.log"
echo "enrolled: certificate $SN0, key label device"

t_wait_log "certificate renewed" 45 || die "no renewal within 45 s" "$EDGE_LOG"
SN1=$(grep -m1 "certificate renewed" "$EDGE_LOG" | sed 's/.*-> \([0-9A-F]*\),.*/\1/')
[ -n "$SN1" ] && [ "$SN1" != "$SN0" ] || die "renewal did not yield a new serial ($SN1)" "$EDGE_LOG"
t_wait_log "re-established with the new key" 20 || die "no MQTT session with the renewed key" "$EDGE_LOG"
t_wait_log "old TPM key .*object=device;.* deleted" 20 || die "the first key was not deleted" "$EDGE_LOG"
echo "renewed by itself: $SN0 -> $SN1"

reply=$(hub send --product-key "$PK" --device-key "$SN" --service rotate-key-now --params '{}' \
    --timeout-ms 5000 2>"$T/send.err") || die "edgekey-hub send rotate-key-now: $(cat "$T/send.err")"
[ "$(jget code <<<"$reply")" = 200 ] || die "rotate-key-now reply: $reply"
for _ in $(seq 300); do [ "$(grep -c 'certificate renewed' "$EDGE_LOG")" -ge 2 ] && break; sleep 0.1; done
[ "$(grep -c 'certificate renewed' "$EDGE_LOG")" -ge 2 ] || die "rotate-key-now did not renew" "$EDGE_LOG"
echo "rotate-key-now: $reply"

t_wait_exit 120
[ "$EDGE_RC" = 0 ] || die "edge-client exited $EDGE_RC" "$EDGE_LOG"
grep -q "telemetry $N/$N acknowledged" "$EDGE_LOG" || die "edge did not report $N/$N acknowledged" "$EDGE_LOG"

# hub: the first certificate superseded (or already revoked), the current one active
SNC=$(cat "$T/edge-data/device.sn")
hub cert list --device-key "$SN" >"$T/certs.log" 2>&1 || die "edgekey-hub cert list" "$T/certs.log"
cat "$T/certs.log"
grep -E "$SN0 .*(superseded|revoked)" "$T/certs.log" >/dev/null || die "first certificate $SN0 not superseded/revoked" "$T/certs.log"
grep -E "$SNC .*active" "$T/certs.log" >/dev/null || die "current certificate $SNC not active" "$T/certs.log"
# edge: the first key is gone, the current one (identity file) is there
label=$(sed -n 's/^label = //p' "$T/edge-data/identity")
edge_env "$B/cli/edgekey" list >"$T/list1.log" 2>&1 || die "edgekey list" "$T/list1.log"
grep -q "object=device;" "$T/list1.log" && die "the first key is still in the store" "$T/list1.log"
grep -q "object=$label;" "$T/list1.log" || die "the current key $label is not in the store" "$T/list1.log"
[ "$(grep -c 'object=' "$T/list1.log")" -le 2 ] || die "old keys left in the store" "$T/list1.log"
# no reading lost or doubled across the switches
read -r rows lo hi <<<"$(t_sql "SELECT count(DISTINCT msg_id), min(CAST(msg_id AS INTEGER)),
    max(CAST(msg_id AS INTEGER)) FROM telemetry_msgs WHERE device_key='$SN';" | tr '|' ' ')"
[ "$rows" = $N ] && [ "$lo" = 1 ] && [ "$hi" = $N ] || die "hub holds $rows ids ($lo..$hi), wanted 1..$N"
echo "ok: renewed twice ($SN0 -> ... -> $SNC, key $label), old key deleted, $N readings each stored once"
