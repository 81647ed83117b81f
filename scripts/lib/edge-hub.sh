# The hub + broker + two software TPMs that scripts/demo and the edge e2e
# tests (tests/e2e/edge/) run the edge client against. Sourced, bash.
#
# The caller sets SRC (source tree), B (build dir, absolute), T (a private
# temporary directory), PIDS=() and defines die MESSAGE [LOGFILE]. The
# functions start processes with bg (or record their PID in PIDS); the
# caller's EXIT trap stops them with ek_stop_all, by PID, newest first.
# Nothing here prints on success: the caller says what happened.

. "$SRC/tests/lib/ports.sh"

HUB_BIN=$B/examples/hub/edgekey-hub
EDGE_BIN=$B/examples/edge-client/edge-client

# stdout away from the terminal: with --keep nothing holds the caller's pipe
bg() { "$@" </dev/null >>"$T/bg.out" & PIDS+=($!); }

ek_stop_all() {
    local i p
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill "${PIDS[$i]}" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do
        for _ in $(seq 40); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
        kill -9 "$p" 2>/dev/null || true
    done
}

# swtpm NAME -> sets TPM_PORT
swtpm_start() {
    mkdir -p "$T/$1-tpm"
    TPM_PORT=$(ek_free_port_pair)
    bg swtpm socket --tpm2 --tpmstate dir="$T/$1-tpm" \
        --server type=tcp,port="$TPM_PORT",bindaddr=127.0.0.1 \
        --ctrl type=tcp,port=$((TPM_PORT + 1)),bindaddr=127.0.0.1 \
        --flags not-need-init,startup-clear --log file="$T/$1-swtpm.log" 2>>"$T/bg.out"
    ek_wait_port "$TPM_PORT" || die "swtpm ($1) did not listen" "$T/$1-swtpm.log"
}

# Two TPMs: the edge's on a direct TCTI (EDGE_TCTI), the hub's behind
# tpm2-abrmd on a private D-Bus bus (HUB_TCTI): the hub's service, its
# broker and its CLI share it.
ek_start_tpms() {
    swtpm_start edge
    EDGE_TCTI="swtpm:host=127.0.0.1,port=$TPM_PORT"
    swtpm_start hub
    bg dbus-daemon --session --nofork --nopidfile --print-address=3 \
        --address="unix:path=$T/dbus.sock" 3>"$T/dbus.addr" 2>"$T/dbus.log"
    for _ in $(seq 100); do [ -s "$T/dbus.addr" ] && break; sleep 0.05; done
    export DBUS_SESSION_BUS_ADDRESS
    DBUS_SESSION_BUS_ADDRESS=$(head -n1 "$T/dbus.addr")
    BUS=com.edgekey.Tabrmd.demo$TPM_PORT
    bg tpm2-abrmd --session --allow-root --dbus-name="$BUS" --tcti="swtpm:host=127.0.0.1,port=$TPM_PORT" \
        --flush-all >"$T/abrmd.log" 2>&1
    HUB_TCTI="tabrmd:bus_type=session,bus_name=$BUS"
    local ok=0
    for _ in $(seq 100); do
        TPM2TOOLS_TCTI=$HUB_TCTI tpm2_getcap properties-fixed >/dev/null 2>&1 && { ok=1; break; }
        sleep 0.1
    done
    [ $ok = 1 ] || die "tpm2-abrmd in front of the hub TPM did not come up" "$T/abrmd.log"
}

hubenv() {
    EDGEKEY_TCTI=$HUB_TCTI EDGEKEY_STORE=$T/hub-store EDGEKEY_CONF=$T/edgekey.conf "$@"
}
hub() { hubenv "$HUB_BIN" --config "$T/hub.conf" "$@"; }

# hub.conf, then `edgekey-hub init` (CA and hub key in the hub TPM).
# Sets API_PORT, MQTT_PORT, HUB_DIR, CA.
ek_hub_init() {
    local ports
    ports=$(ek_free_port_block 2)
    API_PORT=$ports
    MQTT_PORT=$((ports + 1))
    HUB_DIR=$T/hub
    CA=$HUB_DIR/ca/chain.pem
    : >"$T/edgekey.conf"
    mkdir -p "$T/hub-store" "$T/edge-store" "$T/edge-data"
    {
        echo "dir = $HUB_DIR"
        echo "api_port = $API_PORT"
        echo "mqtt_port = $MQTT_PORT"
        echo "plugin_path = $B/examples/hub/edgekey_auth.so"
        echo "crl_url = https://localhost:$API_PORT/api/v1/crl"
        echo "broker_pid_file = $T/broker.pid"
        echo "pkcs11_module = $B/pkcs11/edgekey-pkcs11.so"
        [ "$(id -u)" = 0 ] && echo "broker_user = root"
    } >"$T/hub.conf"
    hub init >"$T/init.log" 2>&1 || die "edgekey-hub init" "$T/init.log"
}

# mosquitto with edgekey_auth.so; sets BROKER_PID (also in $T/broker.pid,
# where the hub finds it to send SIGHUP). Callable again after a kill.
ek_start_broker() {
    # In a sanitizer build the plugin and the provider carry the ASan/UBSan
    # runtime, which stock mosquitto does not: preload it.
    local preload=
    if ldd "$B/examples/hub/edgekey_auth.so" 2>/dev/null | grep libasan >/dev/null; then
        preload="$(${CC:-cc} -print-file-name=libasan.so) $(${CC:-cc} -print-file-name=libubsan.so)"
        # and the test rig's shim that starts ASan outside glibc's locale and
        # gettext locks (tests/lib/asan_first.c): mosquitto links
        # libgpg-error, and tpm2-abrmd's TCTI (GLib) binds a text domain
        [ -f "$B/tests/libek-asan-first.so" ] && preload="$preload $B/tests/libek-asan-first.so"
    fi
    env EDGEKEY_TCTI="$HUB_TCTI" EDGEKEY_STORE="$T/hub-store" EDGEKEY_CONF="$T/edgekey.conf" \
        LD_PRELOAD="${preload:-${LD_PRELOAD:-}}" ASAN_OPTIONS="${ASAN_OPTIONS:-}:detect_leaks=0:verify_asan_link_order=0" \
        OPENSSL_CONF="$HUB_DIR/broker/openssl.cnf" mosquitto -c "$HUB_DIR/broker/mosquitto.conf" \
        </dev/null >>"$T/broker.log" 2>&1 &
    BROKER_PID=$!
    PIDS+=($BROKER_PID)
    echo $BROKER_PID >"$T/broker.pid"
    ek_wait_port "$MQTT_PORT" || die "broker did not listen on $MQTT_PORT" "$T/broker.log"
}

# The hub's API and MQTT service; waits until the service is logged in.
ek_start_serve() {
    # env(1), not a shell function: $! must be the program's own PID
    env EDGEKEY_TCTI="$HUB_TCTI" EDGEKEY_STORE="$T/hub-store" EDGEKEY_CONF="$T/edgekey.conf" \
        "$HUB_BIN" --config "$T/hub.conf" serve </dev/null >"$T/serve.log" 2>&1 &
    SERVE_PID=$!
    PIDS+=($SERVE_PID)
    ek_wait_port "$API_PORT" || die "hub API did not listen on $API_PORT" "$T/serve.log"
    # the hub's MQTT service (telemetry store, commands) is logged in
    for _ in $(seq 100); do grep -q "u'edgekey-hub-service'" "$T/broker.log" && break; sleep 0.1; done
    grep -q "u'edgekey-hub-service'" "$T/broker.log" || die "the hub service did not log in to the broker" "$T/serve.log"
}

# jget KEY...: the value at KEY/KEY/... of the JSON on stdin (python3 is in scripts/deps, jq is not)
jget() {
    python3 -c 'import functools, json, sys
print(functools.reduce(lambda d, k: d[k], sys.argv[1:], json.load(sys.stdin)))' "$@"
}

# ek_register PK SN [VALIDITY_DAYS]: product (sets PSECRET) and device SN.
ek_register() {
    PSECRET=$(hub --json product add --product-key "$1" --validity-days "${3:-30}" | jget productSecret)
    [ -n "$PSECRET" ] && [ "$PSECRET" != null ] || die "product add"
    hub device add --product-key "$1" --device-key "$2" >"$T/devadd.log" 2>&1 || die "device add" "$T/devadd.log"
}

# ek_edge_conf FILE PK SN DATA_DIR KEY_TYPE: the edge client's config
# (more lines can be appended by the caller).
ek_edge_conf() {
    cat >"$1" <<EOF2
hub_url = https://localhost:$API_PORT
mqtt_host = localhost
mqtt_port = $MQTT_PORT
ca_file = $CA
product_key = $2
product_secret = $PSECRET
device_key = $3
key_type = $5
data_dir = $4
edgekey_cli = $B/cli/edgekey
pkcs11_module = $B/pkcs11/edgekey-pkcs11.so
interval_ms = 100
EOF2
    chmod 600 "$1"
}

# edge_env CMD...: run with the edge TPM and store (a shell function: in
# the background $! is not the program's PID; use env(1) there).
edge_env() {
    env EDGEKEY_TCTI="$EDGE_TCTI" EDGEKEY_STORE="$T/edge-store" EDGEKEY_CONF="$T/edgekey.conf" "$@"
}
