#!/usr/bin/env bash
# Issue 4, acceptance 4: mosquitto with edgekey_auth.so. A valid device
# publishes; wrong password, revoked cert, another device's cert, a foreign
# CA's cert and publishing on another device's topic are refused; revoking a
# connected device ends its session within 2 s and its reconnect is refused.
# Also the hub service side: telemetry stored and answered on _reply, and
# `edgekey-hub send` gets the device's reply.
. "$(dirname "$0")/lib.sh"
. "$here/../../lib/pki.sh"

hub_config "${HUB_CA_MODE:-file}" "${HUB_KEY_MODE:-file}"
hub init >/dev/null || fail "hub init"
# Nagle off (docs/scaling.md); broker_start runs mosquitto on this very file,
# and mosquitto refuses to start on a setting it does not know.
grep -qx "set_tcp_nodelay true" "$HUB_DIR/broker/mosquitto.conf" ||
    fail "generated broker config lacks 'set_tcp_nodelay true'"
broker_start
pass "mosquitto runs on the generated config (set_tcp_nodelay true)"
hub_start
product_add prodM
for d in D1 D2 D3; do
    device_add prodM $d
    activate prodM $d "$PSECRET"
    eval "SEC_$d=\$DSECRET"
    soft_key $d $d ec
    apply prodM $d "$DSECRET" "$T/$d.csr" "$T/$d.pem"
    eval "SN_$d=\$CERTSN"
done
pass "three devices activated with certificates"

# pub DEV CERTDEV TOPIC [secret-override]: one QoS 1 message, status returned
pub() {
    local d=$1 c=$2 topic=$3 sec
    eval "sec=\${4:-\$SEC_$d}"
    mqtt_login_args prodM "$d" "$sec"
    mosquitto_pub -h localhost -p "$MQTT_PORT" --cafile "$CA" --cert "$T/$c.pem" --key "$T/$c.key" \
        "${MQTT_ARGS[@]}" -q 1 -t "$topic" -m '{"id":"1","version":"1.0","method":"thing.measurepoint.post","params":{"measurepoints":{"temp":21.5}}}' \
        2>"$T/pub.err"
}

# A valid device publishes; the hub stores the measure point and replies.
mqtt_login_args prodM D1 "$SEC_D1" sub1
mosquitto_sub -h localhost -p "$MQTT_PORT" --cafile "$CA" --cert "$T/D1.pem" --key "$T/D1.key" \
    "${MQTT_ARGS[@]}" -t '/sys/prodM/D1/thing/measurepoint/post_reply' -C 1 -W 10 >"$T/reply.out" 2>"$T/sub.err" &
subpid=$!
sleep 0.5
pub D1 D1 /sys/prodM/D1/thing/measurepoint/post || fail "valid device could not publish: $(cat "$T/pub.err")"
wait $subpid || fail "no _reply from the hub: $(cat "$T/sub.err")"
[ "$(jq -r .code "$T/reply.out")" = 200 ] || fail "hub reply: $(cat "$T/reply.out")"
for _ in $(seq 20); do
    [ "$(hub --json device show --device-key D1 | jq -r '.measurepoints.temp.value')" = 21.5 ] && break
    sleep 0.1
done
[ "$(hub --json device show --device-key D1 | jq -r '.measurepoints.temp.value')" = 21.5 ] ||
    fail "telemetry not stored"
pass "valid device published; hub stored temp=21.5 and replied code 200"

# Refusals.
pub D1 D1 /sys/prodM/D1/thing/measurepoint/post 0000000000000000000000000000000000000000000000000000000000000000 &&
    fail "wrong password accepted"
pass "wrong password refused"
pub D1 D2 /sys/prodM/D1/thing/measurepoint/post && fail "another device's certificate accepted"
pass "another device's certificate refused"
ek_pki_ca "$T/foreign"
ek_pki_issue "$T/foreign" D1f D1 "" client
cp "$T/foreign/D1f.pem" "$T/F1.pem"; cp "$T/foreign/D1f.key" "$T/F1.key"
pub D1 F1 /sys/prodM/D1/thing/measurepoint/post && fail "foreign CA certificate accepted"
pass "foreign CA certificate refused"
# Another device's topic: the connection works but the broker drops the
# message, so check at a subscriber of D2's topic (the hub service).
mqtt_login_args prodM D2 "$SEC_D2" sub2
mosquitto_sub -h localhost -p "$MQTT_PORT" --cafile "$CA" --cert "$T/D2.pem" --key "$T/D2.key" \
    "${MQTT_ARGS[@]}" -t '/sys/prodM/D2/#' -C 1 -W 3 >"$T/cross.out" 2>/dev/null &
subpid=$!
sleep 0.5
pub D1 D1 /sys/prodM/D2/thing/measurepoint/post || true
wait $subpid && fail "D1 published on D2's topic: $(cat "$T/cross.out")"
grep -q "ACL denied D1&prodM publish on '/sys/prodM/D2" "$T/broker.log" || fail "no ACL denial logged"
pass "publishing to another device's topic refused"
mqtt_login_args prodM D1 "$SEC_D1" dup
saved=("${MQTT_ARGS[@]}")
mosquitto_pub -h localhost -p "$MQTT_PORT" --cafile "$CA" --cert "$T/D1.pem" --key "$T/D1.key" \
    "${saved[@]}" -t /sys/prodM/D1/x -m y 2>/dev/null || fail "login failed"
mosquitto_pub -h localhost -p "$MQTT_PORT" --cafile "$CA" --cert "$T/D1.pem" --key "$T/D1.key" \
    "${saved[@]}" -t /sys/prodM/D1/x -m y 2>/dev/null && fail "replayed MQTT login accepted"
pass "replayed MQTT login (same timestamp) refused"

# Renewal: during the grace period the superseded certificate still logs in,
# and so does the new one.
renew D1 D1n D1
pub D1 D1 /sys/prodM/D1/thing/measurepoint/post || fail "superseded cert refused inside the grace period"
pub D1 D1n /sys/prodM/D1/thing/measurepoint/post || fail "renewed cert refused: $(cat "$T/pub.err")"
pass "after renewal both the superseded (grace period) and the new certificate log in"

# Commands down: `edgekey-hub send` and the device answering on _reply.
# A command is not queued for a device that has not subscribed yet, so wait
# for the subscriber's session (slow to start under ASan) and its SUBSCRIBE.
wait_client() {
    for _ in $(seq 200); do
        grep -q "New client connected.* as $1[ |]" "$T/broker.log" && { sleep 0.3; return 0; }
        sleep 0.05
    done
    fail "subscriber $1 did not connect: $(tail -n 5 "$T/broker.log")"
}
mqtt_login_args prodM D3 "$SEC_D3" resp3
mosquitto_sub -h localhost -p "$MQTT_PORT" --cafile "$CA" --cert "$T/D3.pem" --key "$T/D3.key" \
    "${MQTT_ARGS[@]}" -t '/sys/prodM/D3/thing/service/reboot' -C 1 -W 10 >"$T/cmd.out" 2>/dev/null &
subpid=$!
wait_client resp3
( hub --json send --product-key prodM --device-key D3 --service reboot --params '{"delay":1}' \
    --timeout-ms 8000 >"$T/send.out" 2>"$T/send.err" ) &
sendpid=$!
wait $subpid || fail "device did not receive the command"
id=$(jq -r .id "$T/cmd.out")
[ "$(jq -r .method "$T/cmd.out")" = thing.service.reboot ] || fail "command envelope: $(cat "$T/cmd.out")"
mqtt_login_args prodM D3 "$SEC_D3" rep3
mosquitto_pub -h localhost -p "$MQTT_PORT" --cafile "$CA" --cert "$T/D3.pem" --key "$T/D3.key" \
    "${MQTT_ARGS[@]}" -q 1 -t /sys/prodM/D3/thing/service/reboot_reply \
    -m "{\"id\":\"$id\",\"code\":200,\"data\":{\"rebooting\":true}}" || fail "reply publish"
wait $sendpid || fail "send failed: $(cat "$T/send.err")"
[ "$(jq -r .reply.data.rebooting "$T/send.out")" = true ] || fail "send output: $(cat "$T/send.out")"
pass "edgekey-hub send got the device's reply"

# The same through the admin API, and a command nobody answers (504).
mqtt_login_args prodM D3 "$SEC_D3" resp3b
mosquitto_sub -h localhost -p "$MQTT_PORT" --cafile "$CA" --cert "$T/D3.pem" --key "$T/D3.key" \
    "${MQTT_ARGS[@]}" -t '/sys/prodM/D3/thing/service/measurepoint/set' -C 1 -W 10 >"$T/cmd2.out" 2>/dev/null &
subpid=$!
wait_client resp3b
( admin POST /api/v1/admin/send '{"productKey":"prodM","deviceKey":"D3","serviceId":"measurepoint/set","params":{"temp":30},"timeoutMs":8000}' \
    >"$T/send2.out"; cp "$T/status" "$T/send2.status" ) &
sendpid=$!
wait $subpid || fail "device did not receive measurepoint/set"
id=$(jq -r .id "$T/cmd2.out")
mqtt_login_args prodM D3 "$SEC_D3" rep3b
mosquitto_pub -h localhost -p "$MQTT_PORT" --cafile "$CA" --cert "$T/D3.pem" --key "$T/D3.key" \
    "${MQTT_ARGS[@]}" -q 1 -t /sys/prodM/D3/thing/service/measurepoint/set_reply \
    -m "{\"id\":\"$id\",\"code\":200,\"data\":{}}" || fail "reply publish"
wait $sendpid
[ "$(cat "$T/send2.status")" = 200 ] && [ "$(jq -r .data.reply.code "$T/send2.out")" = 200 ] ||
    fail "admin send: $(cat "$T/send2.out")"
pass "POST /api/v1/admin/send (measurepoint/set) returned the device's reply"
r=$(admin POST /api/v1/admin/send '{"productKey":"prodM","deviceKey":"D1","serviceId":"ping","timeoutMs":300}')
expect_error 504 timeout "$r" "command without a reply"

# Revocation of a connected device: session ends within 2 s.
live_start prodM D2 "$SEC_D2"
t0=$(now_ms)
admin POST /api/v1/admin/revoke "{\"certSn\":\"$SN_D2\",\"reason\":1}" >/dev/null
[ "$(status)" = 200 ] || fail "revoke D2"
t1=$(now_ms)
live_gone "$t0" "revoked device D2"
pass "revoked device's live session ended $LIVE_MS ms after the revocation request ($((t1 - t0)) ms of it in the API call)"
pub D2 D2 /sys/prodM/D2/thing/measurepoint/post && fail "revoked device reconnected"
pass "revoked device's reconnect refused"
