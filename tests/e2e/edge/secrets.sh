#!/usr/bin/env bash
# Issue 5, acceptance 6: no deviceSecret and no productSecret in clear,
#  (a) in any file of the edge's data directory or its token store (the
#      sealed deviceSecret is a TPM keyedhash object: useless without the
#      TPM), searched as text (strings -a, grep -a) and as raw bytes;
#  (b) on the edge's TPM wire: the whole first boot (activation, key, seal,
#      CSR, apply, mTLS) and a second start (unseal) run through tpm2-tss's
#      pcap TCTI, and neither secret occurs in any command or response
#      (TPM2_Create's inSensitive and TPM2_Unseal's outData go encrypted).
# The edge key and the deviceSecret object of the PIN-less token have an
# empty userAuth (nothing to leak); tests/interop/wire covers keys with an
# auth value.
# Can fail: control runs plant the deviceSecret in a file of the data
# directory and send it in clear to the TPM (TPM2_Hash, no session); the
# same searches must find it there.
. "$EDGEKEY_SRC/tests/e2e/edge/lib.sh" edge-secrets
PCAP="python3 $EDGEKEY_SRC/tests/lib/tpm-pcap.py"
PK=secret-meter
SN=SN-secret-$$
t_hub "$PK" "$SN"
ek_edge_conf "$T/edge.conf" "$PK" "$SN" "$T/edge-data" rsa2048
TCTI0=$EDGE_TCTI

# run_cap NAME ARGS...: edge-client with its TPM traffic captured
run_cap() {
    local name=$1
    shift
    rm -f "$T/$name.pcap"
    EDGE_RC=0
    env EDGEKEY_TCTI="pcap:$TCTI0" TCTI_PCAP_FILE="$T/$name.pcap" EDGEKEY_STORE="$T/edge-store" \
        EDGEKEY_CONF="$T/edgekey.conf" "$EDGE_BIN" --config "$T/edge.conf" "$@" </dev/null \
        >"$T/$name.log" 2>&1 || EDGE_RC=$?
    [ $EDGE_RC = 0 ] || die "$name: edge-client exit $EDGE_RC" "$T/$name.log"
    # a sanity floor only (a start signs, loads and unseals: well above 5);
    # the commands that matter (Create, Unseal) are checked by name below
    [ "$($PCAP total "$T/$name.pcap")" -ge 5 ] || die "$name: the capture holds (almost) no TPM command"
}
hexof() { printf %s "$1" | od -An -tx1 | tr -d ' \n'; }

run_cap boot run --once --count 2
grep -q "deviceSecret sealed in the TPM" "$T/boot.log" || die "the deviceSecret was not sealed" "$T/boot.log"
run_cap again run --once --count 1
grep -q "already activated.*sealed in the TPM" "$T/again.log" || die "second start did not unseal" "$T/again.log"
DSECRET=$(t_sql "SELECT device_secret FROM devices WHERE device_key='$SN';")
[ ${#DSECRET} -ge 16 ] || die "cannot read the deviceSecret from the hub registry ('$DSECRET')"
[ ${#PSECRET} -ge 16 ] || die "no productSecret"
echo "ok: first boot and a second start captured ($($PCAP total "$T/boot.pcap") + $($PCAP total "$T/again.pcap") TPM commands)"

# needles NAME VALUE: hex of the text, and of the decoded bytes if it is hex
needles() {
    local v=$1
    printf '%s\n' "$(hexof "$v")"
    if [[ $v =~ ^([0-9a-fA-F]{2})+$ ]]; then printf '%s\n' "${v,,}"; fi
}

# in_files DIR VALUE: 0 if VALUE occurs (text or decoded bytes) in a file
in_files() {
    local dir=$1 v=$2
    grep -a -r -q -i -F -- "$v" "$dir" && return 0
    find "$dir" -type f -exec strings -a -n 8 {} + 2>/dev/null | grep -q -i -F -- "$v" && return 0
    python3 - "$dir" "$v" <<'PY'
import os, re, sys
d, v = sys.argv[1], sys.argv[2]
pats = [v.encode()]
if re.fullmatch(r'(?:[0-9a-fA-F]{2})+', v):
    pats.append(bytes.fromhex(v))
for root, _, files in os.walk(d):
    for f in files:
        try:
            data = open(os.path.join(root, f), 'rb').read()
        except OSError:
            continue
        if any(p in data for p in pats):
            sys.exit(0)
sys.exit(1)
PY
}

# on_wire PCAP VALUE: 0 if a needle of VALUE is in a command or response
on_wire() {
    local n
    for n in $(needles "$2"); do $PCAP contains "$1" "$n" && return 0; done
    return 1
}

# (a) files
for dir in "$T/edge-data" "$T/edge-store"; do
    in_files "$dir" "$DSECRET" && die "the deviceSecret is in clear under $dir: $(grep -a -r -l -F "$DSECRET" "$dir")"
    in_files "$dir" "$PSECRET" && die "the productSecret is in clear under $dir"
done
ls "$T/edge-store"/*/*.data >/dev/null 2>&1 || die "no sealed data object file in the token store"
echo "ok: no deviceSecret/productSecret in $(find "$T/edge-data" "$T/edge-store" -type f | wc -l) files of the data directory and token store"

# (b) the wire
for cap in boot again; do
    on_wire "$T/$cap.pcap" "$DSECRET" && die "$cap: the deviceSecret is on the TPM wire in clear"
    on_wire "$T/$cap.pcap" "$PSECRET" && die "$cap: the productSecret is on the TPM wire"
done
grep -q " Create$" <<<"$($PCAP count "$T/boot.pcap")" || die "the boot capture holds no TPM2_Create (the seal)"
grep -q " Unseal$" <<<"$($PCAP count "$T/again.pcap")" || die "the second start's capture holds no TPM2_Unseal"
echo "ok: deviceSecret and productSecret absent from the TPM wire (seal via TPM2_Create, unseal via TPM2_Unseal)"

# controls: the same searches do find a planted secret
mkdir -p "$T/control"
printf 'x=%s\n' "$DSECRET" >"$T/control/planted"
in_files "$T/control" "$DSECRET" || die "control: the file search misses a planted deviceSecret"
printf %s "$DSECRET" >"$T/control/data.bin"
env TPM2TOOLS_TCTI="pcap:$TCTI0" TCTI_PCAP_FILE="$T/control.pcap" \
    tpm2_hash -C o -g sha256 "$T/control/data.bin" >/dev/null 2>"$T/control.err" || die "control: tpm2_hash" "$T/control.err"
on_wire "$T/control.pcap" "$DSECRET" || die "control: the wire search misses the deviceSecret sent in clear (TPM2_Hash)"
echo "ok: controls: the searches find the secret when it IS in a file / on the wire"
