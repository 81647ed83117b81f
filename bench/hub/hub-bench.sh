#!/usr/bin/env bash
# Hub benchmark (run inside tests/lib/tpm-env.sh abrmd): hub + broker on
# loopback, then hub_devsim drives DEVICES simulated devices (software EC
# keys) through activate, apply, connect and publish MESSAGES each.
#   hub-bench.sh file|tpm     issuing CA key in a file or in swtpm
# Env: HUB_BENCH_DEVICES (500), HUB_BENCH_MESSAGES (10), HUB_BENCH_THREADS (8),
#      HUB_BENCH_DURABILITY (full | normal),
#      EDGEKEY_HUB_REGISTRY (sqlite | postgresql: a private server, fsync on).
ca_mode=${1:-file}
PG_FSYNC=on   # as SQLite's durability = full: each commit on disk
. "${EDGEKEY_SRC:?}/tests/e2e/hub/lib.sh"
DEVSIM=${HUB_DEVSIM:-$EDGEKEY_BUILD/bench/hub/hub_devsim}
[ -x "$DEVSIM" ] || fail "hub_devsim not built at $DEVSIM"
N=${HUB_BENCH_DEVICES:-500}

hub_config "$ca_mode" file "durability = ${HUB_BENCH_DURABILITY:-full}" "api_threads = 4"
hub init >/dev/null || fail "hub init (CA key: $ca_mode)"
broker_start
hub_start
product_add bench
echo "# hub benchmark: $N devices, ${HUB_BENCH_MESSAGES:-10} messages each, CA key in $ca_mode," \
     "durability ${HUB_BENCH_DURABILITY:-full}, registry ${EDGEKEY_HUB_REGISTRY:-sqlite}, $(nproc) cores"
"$DEVSIM" --api "$API" --ca "$CA" --token "$ADMIN_TOKEN" --register --product bench \
    --product-secret "$PSECRET" --devices "$N" --threads "${HUB_BENCH_THREADS:-8}" \
    --messages "${HUB_BENCH_MESSAGES:-10}" --mqtt-host 127.0.0.1 --mqtt-port "$MQTT_PORT" \
    --hub-pid "$HUB_PID" --label "ca=$ca_mode,registry=${EDGEKEY_HUB_REGISTRY:-sqlite}" | tee "$T/bench.json"
rc=${PIPESTATUS[0]}
[ "$rc" = 0 ] || { tail -20 "$T/serve.log" "$T/broker.log"; fail "some devices failed"; }
# Telemetry reached the registry (last value per device).
stored=$(hub_sql "SELECT COUNT(*) FROM telemetry;" 2>/dev/null || echo "?")
echo "# telemetry rows (last value per device and point): $stored"
