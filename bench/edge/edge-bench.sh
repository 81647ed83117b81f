#!/usr/bin/env bash
# Edge client benchmark (issue 5), on loopback with scripts/demo's hub,
# broker and two software TPMs (tests/e2e/edge/lib.sh):
#   - first boot -> first acknowledged telemetry message (activation, key
#     generation in the TPM, CSR, apply, CRL, mutual TLS, one QoS 1 message
#     answered by the hub), RSA-2048 and EC P-256;
#   - max RSS of the client (getrusage of the child);
#   - messages/s sustained with QoS 1, readings queued on disk first, for
#     queue_ack = reply|puback and queue_sync = full|normal.
# Prints "BENCH <id> <value> <unit>" lines. EDGE_BENCH_MSGS (default 2000).
. "$EDGEKEY_SRC/tests/e2e/edge/lib.sh" edge-bench
MSGS=${EDGE_BENCH_MSGS:-2000}
PK=bench-meter
t_hub "$PK" SN-bench-rsa2048
hub device add --product-key "$PK" --device-key SN-bench-ec-p256 >/dev/null 2>&1 || die "device add"

# measure LOG CMD...: run CMD (output to LOG); prints "seconds maxrss_kB rc"
measure() {
    python3 - "$@" <<'PY'
import resource, subprocess, sys, time
with open(sys.argv[1], "ab") as log:
    t = time.monotonic()
    rc = subprocess.call(sys.argv[2:], stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    dt = time.monotonic() - t
print(f"{dt:.3f} {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss} {rc}")
PY
}
edge_run() { # edge_run CONF LOG ARGS...
    local conf=$1 log=$2
    shift 2
    measure "$log" env EDGEKEY_TCTI="$EDGE_TCTI" EDGEKEY_STORE="$T/edge-store" \
        EDGEKEY_CONF="$T/edgekey.conf" "$EDGE_BIN" --config "$conf" run "$@"
}

for kt in rsa2048 ec-p256; do
    conf=$T/edge-$kt.conf
    ek_edge_conf "$conf" "$PK" "SN-bench-$kt" "$T/data-$kt" "$kt"
    printf "token = bench-%s\nlabel = dev-%s\n" "$kt" "$kt" >>"$conf" # one token (and deviceSecret) per device
    read -r secs rss rc <<<"$(edge_run "$conf" "$T/boot-$kt.log" --once --count 1)"
    [ "$rc" = 0 ] || die "first boot ($kt) exited $rc" "$T/boot-$kt.log"
    grep -q "telemetry 1/1 acknowledged" "$T/boot-$kt.log" || die "first boot ($kt): no acknowledged message" "$T/boot-$kt.log"
    echo "BENCH edge-first-boot-to-ack-$kt $secs s"
    echo "BENCH edge-first-boot-maxrss-$kt $rss kB"
done

# sustained QoS 1 on the enrolled RSA device; the queue is filled as fast
# as the source goes (interval_ms = 0) and drained through the window.
conf=$T/edge-rsa2048.conf
echo "interval_ms = 0" >>"$conf"
for ack in reply puback; do
    for sync in full normal; do
        sed -i -e '/^queue_ack/d' -e '/^queue_sync/d' "$conf"
        printf 'queue_ack = %s\nqueue_sync = %s\n' "$ack" "$sync" >>"$conf"
        log=$T/rate-$ack-$sync.log
        read -r secs rss rc <<<"$(edge_run "$conf" "$log" --once --count "$MSGS")"
        [ "$rc" = 0 ] || die "sustained run ($ack, $sync) exited $rc" "$log"
        grep -q "telemetry $MSGS/$MSGS acknowledged" "$log" || die "not all $MSGS acknowledged" "$log"
        rate=$(sed -n 's/.*after the first session came up (\([0-9]*\)\/s.*/\1/p' "$log" | tail -n1)
        echo "BENCH edge-qos1-msgs-per-s-ack-$ack-sync-$sync $rate msg/s"
        echo "BENCH edge-qos1-maxrss-ack-$ack-sync-$sync $rss kB"
        echo "BENCH edge-qos1-run-$ack-$sync $secs s (enrolled start + $MSGS messages)"
    done
done
