#!/usr/bin/env bash
# MQTT connect storm (run inside tests/lib/tpm-env.sh abrmd): hub + broker on
# loopback, hub_devsim enrols DEVICES devices and leaves their keys and
# certificates in $T/keys, then hub_storm logs every device in once with a
# full mutual-TLS handshake, and once more offering the TLS session kept from
# an earlier connect (resumption). Then the same two without MQTT (TLS
# handshake and close only: the broker's TLS share of the cost). Prints one
# JSON line per run; cpu_ms_per_connect is the broker's CPU time.
# Env: HUB_STORM_DEVICES (2000), HUB_STORM_THREADS (8),
#      HUB_STORM_NODELAY=0 (the broker with set_tcp_nodelay false instead of
#      the true init writes: each CONNACK then waits ~40 ms for the client's
#      delayed ACK, Nagle),
#      EDGEKEY_HUB_REGISTRY (sqlite | postgresql).
# read by tests/lib/pg.sh (via lib.sh) with EDGEKEY_HUB_REGISTRY=postgresql:
# each commit on disk, as SQLite's durability = full
# shellcheck disable=SC2034
PG_FSYNC=on
. "${EDGEKEY_SRC:?}/tests/e2e/hub/lib.sh"
DEVSIM=${HUB_DEVSIM:-$EDGEKEY_BUILD/bench/hub/hub_devsim}
STORM=${HUB_STORM:-$EDGEKEY_BUILD/bench/hub/hub_storm}
[ -x "$DEVSIM" ] || fail "hub_devsim not built at $DEVSIM"
[ -x "$STORM" ] || fail "hub_storm not built at $STORM"
N=${HUB_STORM_DEVICES:-2000}
TH=${HUB_STORM_THREADS:-8}

hub_config file file "api_threads = 4"
hub init >/dev/null || fail "hub init"
NODELAY=true
if [ "${HUB_STORM_NODELAY:-1}" = 0 ]; then
    NODELAY=false
    sed -i 's/^set_tcp_nodelay true$/set_tcp_nodelay false/' "$HUB_DIR/broker/mosquitto.conf"
fi
grep -qx "set_tcp_nodelay $NODELAY" "$HUB_DIR/broker/mosquitto.conf" ||
    fail "broker config: no 'set_tcp_nodelay $NODELAY'"
broker_start
hub_start
product_add bench
mkdir -p "$T/keys"
echo "# connect storm: $N devices, $TH client threads, registry ${EDGEKEY_HUB_REGISTRY:-sqlite}," \
     "broker set_tcp_nodelay $NODELAY," \
     "$(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
# enrolment only (no --mqtt-port): its figures are printed, but are not the point here
"$DEVSIM" --api "$API" --ca "$CA" --token "$ADMIN_TOKEN" --register --product bench \
    --product-secret "$PSECRET" --devices "$N" --threads 8 --keys "$T/keys" \
    --label enrol >"$T/enrol.json" || { cat "$T/enrol.json"; fail "enrolment failed"; }
cat "$T/enrol.json"
rc=0
for mode in full resume tls-full tls-resume; do
    args=()
    case $mode in tls-*) args+=(--tls-only) ;; esac
    case $mode in *resume) args+=(--resume) ;; esac
    "$STORM" --host 127.0.0.1 --port "$MQTT_PORT" --ca "$CA" --product bench --keys "$T/keys" \
        --devices "$N" --threads "$TH" --cpu-pid "$BROKER_PID" \
        --label "storm,registry=${EDGEKEY_HUB_REGISTRY:-sqlite}" "${args[@]}" || rc=1
done
echo "# load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
[ "$rc" = 0 ] || { tail -20 "$T/broker.log"; fail "some connects failed"; }
