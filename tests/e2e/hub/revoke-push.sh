#!/usr/bin/env bash
# Issue 14: on PostgreSQL the broker plugin learns revocations by
# LISTEN/NOTIFY. A revocation made by another process (the CLI: its own
# connection, as another hub node) ends the device's live session within
# 2 s. PostgreSQL restarted under the broker: the plugin logs the lost
# listener, polls meanwhile, listens again, and a revocation after the
# restart still ends the session within 2 s; a revoked reconnect is refused.
EDGEKEY_HUB_REGISTRY=postgresql
. "$(dirname "$0")/lib.sh"

hub_config file file
hub init >/dev/null || fail "hub init"
broker_start
hub_start
grep -q "revocations pushed by the registry (LISTEN)" "$T/broker.log" ||
    fail "plugin does not listen: $(grep edgekey_auth "$T/broker.log")"
pass "plugin listens for revocations"
product_add prodR
for d in R1 R2; do
    device_add prodR $d
    activate prodR $d "$PSECRET"
    eval "SEC_$d=\$DSECRET"
    soft_key $d $d ec
    apply prodR $d "$DSECRET" "$T/$d.csr" "$T/$d.pem"
    eval "SN_$d=\$CERTSN"
done

# revoke_cli DEV: revoke through the CLI, check the session ends in 2 s
revoke_cli() {
    local d=$1 sn t0
    eval "sn=\$SN_$d"
    t0=$(now_ms)
    hub revoke --cert-sn "$sn" --reason 1 >/dev/null || fail "CLI revoke $d"
    live_gone "$t0" "revoked $d"
    pass "$d revoked by another process: live session ended $LIVE_MS ms after the request"
    mqtt_login_args prodR "$d" "$(eval echo "\$SEC_$d")"
    mosquitto_pub -h localhost -p "$MQTT_PORT" --cafile "$CA" --cert "$T/$d.pem" --key "$T/$d.key" \
        "${MQTT_ARGS[@]}" -q 1 -t "/sys/prodR/$d/thing/measurepoint/post" -m '{}' 2>/dev/null &&
        fail "revoked $d reconnected"
    pass "revoked $d's reconnect refused"
}

live_start prodR R1 "$SEC_R1"
revoke_cli R1
grep -q "polling revocations every" "$T/broker.log" && fail "plugin polled while listening"

# PostgreSQL restarts under the running broker and hub.
live_start prodR R2 "$SEC_R2"
pg_restart
for _ in $(seq 100); do
    grep -q "revocation listener back" "$T/broker.log" && break
    sleep 0.05
done
grep -q "revocation listener lost.*polling revocations every" "$T/broker.log" ||
    fail "lost listener not logged: $(grep edgekey_auth "$T/broker.log" | tail -n 3)"
grep -q "revocation listener back" "$T/broker.log" ||
    fail "listener not back: $(grep edgekey_auth "$T/broker.log" | tail -n 3)"
pass "PostgreSQL restart: the plugin logged the lost listener, polled, and listens again"
revoke_cli R2
