#!/usr/bin/env bash
# Enrollment with and without key attestation (issue 13), on loopback with
# scripts/demo's hub, broker and two swtpm instances; the edge TPM has an
# EK certificate from a private test maker CA, the hub trusts it (ek_roots).
# Two products, `att` (required) and `plain` (off), one device each on the
# same TPM. Per device: first boot -> first acknowledged message (seconds),
# and the TPM commands the edge client sent, counted on the wire (pcap
# TCTI). Prints "BENCH <id> <value> <unit>" lines and the per-command counts.
. "$EDGEKEY_SRC/tests/e2e/edge/lib.sh" attest-bench
. "$SRC/scripts/lib/ek-manufacture.sh"
ek_manufacture "$T/edge-tpm" "$T/ekca" || die "swtpm_setup --create-ek-cert"
ek_start_tpms
ek_hub_init
echo "ek_roots = $EK_ROOTS" >>"$T/hub.conf"
ek_start_broker
ek_start_serve
PCAP="python3 $SRC/tests/lib/tpm-pcap.py"

# warm: a first unattested enrollment, not reported, so that neither
# measured run pays the store's first-use costs (.tpm-facts, the token)
for mode in warm plain att; do
    attest=required
    [ $mode != att ] && attest=off
    PSECRET=$(hub --json product add --product-key $mode --attestation $attest | jget productSecret)
    hub device add --product-key $mode --device-key SN-$mode >/dev/null || die "device add"
    conf=$T/$mode.conf
    ek_edge_conf "$conf" $mode SN-$mode "$T/data-$mode" ec-p256
    printf 'token = t-%s\nlabel = dev-%s\n' $mode $mode >>"$conf"
    [ $mode != att ] && echo "attestation = off" >>"$conf"
    start=$(date +%s.%N)
    env EDGEKEY_TCTI="pcap:$EDGE_TCTI" TCTI_PCAP_FILE="$T/$mode.pcap" EDGEKEY_STORE="$T/edge-store" \
        EDGEKEY_CONF="$T/edgekey.conf" "$EDGE_BIN" --config "$conf" run --once --count 1 \
        </dev/null >"$T/$mode.log" 2>&1 || die "first boot ($mode)" "$T/$mode.log"
    end=$(date +%s.%N)
    grep -q "telemetry 1/1 acknowledged" "$T/$mode.log" || die "no acknowledged message ($mode)" "$T/$mode.log"
    if [ $mode = att ]; then
        grep -q "key attestation: the TPM proved" "$T/$mode.log" || die "not attested" "$T/$mode.log"
    else
        grep -q "key attestation" "$T/$mode.log" && die "plain run attested" "$T/$mode.log"
    fi
    [ $mode = warm ] && continue
    echo "BENCH edge-enroll-first-ack-$mode $(python3 -c "print(f'{$end - $start:.3f}')") s"
    $PCAP count "$T/$mode.pcap" >"$T/$mode.count"
    echo "BENCH edge-enroll-tpm-commands-$mode $(head -n1 "$T/$mode.count") commands"
    sed 1d "$T/$mode.count" | sed "s/^/  $mode: /"
done
