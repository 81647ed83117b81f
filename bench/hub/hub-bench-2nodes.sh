#!/usr/bin/env bash
# Hub benchmark, two nodes (run inside tests/lib/tpm-env.sh abrmd): two hub
# nodes (CA keys in files, each its own issuing CA) on one PostgreSQL
# registry (fsync on) and one broker; two hub_devsim runs at once, half the
# devices each, one per node. Prints each run's JSON lines and, per phase,
# the combined rate (the work of both runs, rate x wall time, over the longer
# wall time; messages for publish, as hub_devsim counts them) and the worse
# p50/p99 of the two. Env as hub-bench.sh (HUB_BENCH_DEVICES is the total).
EDGEKEY_HUB_REGISTRY=postgresql
PG_FSYNC=on
. "${EDGEKEY_SRC:?}/tests/e2e/hub/lib.sh"
DEVSIM=${HUB_DEVSIM:-$EDGEKEY_BUILD/bench/hub/hub_devsim}
[ -x "$DEVSIM" ] || fail "hub_devsim not built at $DEVSIM"
N=${HUB_BENCH_DEVICES:-500}
conf=("durability = ${HUB_BENCH_DURABILITY:-full}" "api_threads = 4")

hub_config file file "${conf[@]}"
hub_b_config file file "${conf[@]}"
hub init >/dev/null || fail "hub init (node A)"
hub_b_join
hub crl >/dev/null || fail "crl (node A)"   # the broker's files: both issuers
broker_start
hub_start
hub_b_start
product_add bench
echo "# hub benchmark: $N devices over 2 nodes, ${HUB_BENCH_MESSAGES:-10} messages each, CA keys in" \
     "files, durability ${HUB_BENCH_DURABILITY:-full}, registry postgresql, $(nproc) cores"
sim() {   # sim NODE API
    "$DEVSIM" --api "$2" --ca "$CA" --token "$ADMIN_TOKEN" --register --product bench \
        --product-secret "$PSECRET" --devices $((N / 2)) --threads "${HUB_BENCH_THREADS:-8}" \
        --messages "${HUB_BENCH_MESSAGES:-10}" --mqtt-host 127.0.0.1 --mqtt-port "$MQTT_PORT" \
        --prefix "$1" --label "registry=postgresql,nodes=2,node=$1" >"$T/bench-$1.json"
}
sim A "$API" & a=$!
sim B "$API_B" & b=$!
rc=0
wait $a || rc=1
wait $b || rc=1
cat "$T/bench-A.json" "$T/bench-B.json"
[ "$rc" = 0 ] || { tail -20 "$T/serve.log" "$T/serveB.log" "$T/broker.log"; fail "some devices failed"; }
jq -sc 'map(select(.phase)) | group_by(.phase)[] |
    {label: "registry=postgresql,nodes=2", phase: .[0].phase, ok: (map(.ok) | add),
     wall_s: (map(.wall_s) | max),
     rate_per_s: ((map(.rate_per_s * .wall_s) | add) / (map(.wall_s) | max) * 10 | round / 10),
     p50_ms: (map(.p50_ms) | max), p99_ms: (map(.p99_ms) | max)}' \
    "$T/bench-A.json" "$T/bench-B.json"
