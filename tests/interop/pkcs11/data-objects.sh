#!/usr/bin/env bash
# Private PKCS#11 data objects sealed in the TPM (issue 5: the edge client's
# deviceSecret), driven by stock pkcs11-tool:
#  1. PIN-less token "edge" (made by `edgekey keygen`, next to the device
#     key): --write-object --type data --private stores the secret, a new
#     process reads it back (--read-object) byte for byte; a 128-byte
#     binary secret (NUL bytes, newlines) too; 129 bytes are refused with
#     CKR_ATTRIBUTE_VALUE_INVALID and a log line naming the limit;
#  2. every TPM command and response of the write and the reads is captured
#     with tpm2-tss's pcap TCTI: TPM2_Create and TPM2_Unseal are there, the
#     secret is not (raw, hex either case); a control run shows the search
#     finds a sealed value sent in clear (tpm2_create -i without a session);
#  3. the store holds no copy: grep -a, strings and a byte scan (raw, hex,
#     base64) over the whole store directory find nothing, while the same
#     scan finds the secret in a control file;
#  4. PIN token: a private object is created after login only, is invisible
#     (not readable) without login or with a wrong PIN, reads back with the
#     user PIN, and stays readable after the user PIN changes;
#  5. the core API (ek_secret_read: token, label, PIN) reads the same bytes,
#     and refuses a wrong PIN;
#  6. --delete-object removes the store file, and the object is gone.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/p11-common.sh"

PCAP="python3 $here/../../lib/tpm-pcap.py"
TCTI0=$EDGEKEY_TCTI
command -v edgekey >/dev/null || fail "edgekey CLI not built (PATH=$PATH)"

# capture NAME CMD...: run CMD with the TPM traffic recorded in $T/NAME.pcap.
capture() {
    local name=$1
    shift
    rm -f "$T/$name.pcap"
    EDGEKEY_TCTI="pcap:$TCTI0" TCTI_PCAP_FILE="$T/$name.pcap" "$@"
}

# hexof FILE: lower-case hex of a file's bytes.
hexof() { od -An -tx1 -v "$1" | tr -d ' \n'; }

# wire_clean NAME FILE...: no secret of FILEs in the capture, as raw bytes
# or as hex text in either case (the way auth-capture.sh looks).
wire_clean() {
    local name=$1 f n h rc
    shift
    [ -s "$T/$name.pcap" ] || fail "$name: no capture written"
    for f in "$@"; do
        h=$(hexof "$f")
        for n in "$h" "$(printf %s "$h" | od -An -tx1 -v | tr -d ' \n')" \
                 "$(printf %s "$h" | tr a-f A-F | od -An -tx1 -v | tr -d ' \n')"; do
            rc=0
            $PCAP contains "$T/$name.pcap" "$n" || rc=$?
            [ $rc = 1 ] || fail "$name: the secret of $(basename "$f") is on the TPM wire (contains said $rc)"
        done
    done
    pass "$name: secret absent from $($PCAP total "$T/$name.pcap") TPM commands and responses"
}

# has_cmd NAME CC: the capture holds at least one CC command.
has_cmd() {
    local counts # not a pipe into grep -q: python would die of SIGPIPE under pipefail
    counts=$($PCAP count "$T/$1.pcap") || fail "$1: cannot read the capture"
    grep -q " $2\$" <<<"$counts" || fail "$1: no TPM2_$2 in the capture"
}

# store_clean DIR FILE...: no copy of a secret anywhere under DIR.
store_clean() {
    local dir=$1 f
    shift
    for f in "$@"; do
        python3 - "$dir" "$f" <<'EOF' || fail "store holds a copy of $(basename "$f")"
import base64, os, sys
root, secret = sys.argv[1], open(sys.argv[2], "rb").read()
needles = [secret, secret.hex().encode(), secret.hex().upper().encode(),
           base64.b64encode(secret), base64.b64encode(secret).rstrip(b"=")]
bad = 0
for d, _, files in os.walk(root):
    for name in files:
        data = open(os.path.join(d, name), "rb").read()
        for n in needles:
            if n in data:
                print(f"found in {os.path.join(d, name)}", file=sys.stderr)
                bad = 1
sys.exit(bad)
EOF
    done
}

# ---- 1. PIN-less token "edge" ----
edgekey keygen --label device --alg ec-p256 >/dev/null || fail "edgekey keygen (creates token edge)"
S1=$T/device-secret.bin # a printable deviceSecret, as the hub hands it out
printf 'dS-%s' "$(openssl rand -hex 14)" >"$S1"
[ "$(wc -c <"$S1")" = 31 ] || fail "test secret has the wrong size"
S2=$T/binary-128.bin # the maximum, with NUL bytes and newlines
{ printf '\000\n\000'; openssl rand 122; printf '\n\000\377'; } >"$S2"
[ "$(wc -c <"$S2")" = 128 ] || fail "binary test secret is not 128 bytes"
E=(--token-label edge)

capture write p11 "${E[@]}" --write-object "$S1" --type data --label deviceSecret \
    --application-label edge-client --private >"$T/w1.out" 2>&1 ||
    { cat "$T/w1.out"; fail "write the deviceSecret data object"; }
grep -q private "$T/w1.out" || { cat "$T/w1.out"; fail "data object not shown as private"; }
p11 "${E[@]}" --write-object "$S2" --type data --label bin128 --private >"$T/w2.out" 2>&1 ||
    { cat "$T/w2.out"; fail "write a 128-byte binary data object"; }
pass "private data objects written (31 and 128 bytes)"

# a new process reads each back (no login: PIN-less token)
capture read p11 "${E[@]}" --read-object --type data --label deviceSecret -o "$T/r1.bin" \
    >"$T/r1.out" 2>&1 || { cat "$T/r1.out"; fail "read the deviceSecret back"; }
cmp -s "$S1" "$T/r1.bin" || fail "deviceSecret read back differs"
p11 "${E[@]}" --read-object --type data --label bin128 -o "$T/r2.bin" >"$T/r2.out" 2>&1 ||
    { cat "$T/r2.out"; fail "read the binary secret back"; }
cmp -s "$S2" "$T/r2.bin" || fail "binary secret read back differs"
p11 "${E[@]}" --read-object --type data --application-label edge-client -o "$T/r3.bin" \
    >/dev/null 2>&1 || fail "read by application label"
cmp -s "$S1" "$T/r3.bin" || fail "read by application label gave other bytes"
pass "secrets read back identical in new processes (by label and by application)"

# the TPM's sealed-data limit: 129 bytes refused, with the limit named
head -c 129 /dev/zero | tr '\0' 'x' >"$T/big.bin"
if p11 "${E[@]}" --write-object "$T/big.bin" --type data --label big --private \
    >"$T/big.out" 2>&1; then
    fail "a 129-byte secret was accepted"
fi
grep -q CKR_ATTRIBUTE_VALUE_INVALID "$T/big.out" || { cat "$T/big.out"; fail "129 bytes: wrong error"; }
grep -q "at most 128 bytes" "$T/big.out" || { cat "$T/big.out"; fail "129 bytes: the log line does not name the limit"; }
[ "$(ls "$EDGEKEY_STORE/edge" | grep -c '\.data$')" = 2 ] || fail "the refused object left a file"
pass "129-byte secret refused (CKR_ATTRIBUTE_VALUE_INVALID, limit named), nothing stored"

# ---- 2. nothing on the wire ----
has_cmd write Create
has_cmd read Unseal
wire_clean write "$S1"
wire_clean read "$S1"
# control: a value sealed without a session crosses in clear and is found
rm -f "$T/control.pcap"
TPM2TOOLS_TCTI="pcap:$TCTI0" TCTI_PCAP_FILE="$T/control.pcap" \
    bash -c "tpm2_createprimary -Q -C o -c '$T/p.ctx' && \
             tpm2_create -Q -C '$T/p.ctx' -i '$S1' -u '$T/c.pub' -r '$T/c.priv' && \
             tpm2_flushcontext -t" 2>"$T/control.err" ||
    { cat "$T/control.err"; fail "control: tpm2_create -i"; }
rc=0
$PCAP contains "$T/control.pcap" "$(hexof "$S1")" || rc=$?
[ $rc = 0 ] || fail "control: a sealed value sent in clear was not found (contains said $rc)"
pass "control: the same search finds a sealed value sent in clear"

# ---- 3. nothing in the store ----
if grep -a -r -F -q -f "$S1" "$EDGEKEY_STORE"; then fail "grep -a finds the deviceSecret in the store"; fi
find "$EDGEKEY_STORE" -type f -exec strings -a {} + | grep -F -q -f "$S1" &&
    fail "strings finds the deviceSecret in the store"
store_clean "$EDGEKEY_STORE" "$S1" "$S2"
mkdir -p "$T/control-store"
{ echo "x"; cat "$S2"; } >"$T/control-store/plain"
if (store_clean "$T/control-store" "$S2") 2>/dev/null; then
    fail "control: the store scan missed a plain copy"
fi
grep -a -r -F -q -f "$S1" "$T/r1.bin" || fail "control: grep -a misses the plain secret"
pass "no copy in the store (grep -a, strings, raw/hex/base64 scan); the scan finds a plain copy"

# ---- 4. PIN token ----
ek_p11_token tok1
L=(--token-label tok1 --login --pin "$EK_PIN")
if p11 --token-label tok1 --write-object "$S1" --type data --label sec --private \
    >"$T/nologin.out" 2>&1; then
    fail "PIN token: a private data object was created without login"
fi
p11 "${L[@]}" --write-object "$S1" --type data --label sec --private >"$T/w3.out" 2>&1 ||
    { cat "$T/w3.out"; fail "PIN token: write after login"; }
if p11 --token-label tok1 --read-object --type data --label sec -o "$T/r4.bin" \
    >"$T/r4.out" 2>&1; then
    fail "PIN token: the private secret was read without login"
fi
[ -s "$T/r4.bin" ] && fail "PIN token: bytes written without login"
if p11 --token-label tok1 --login --pin 9999 --read-object --type data --label sec \
    -o "$T/r5.bin" >"$T/r5.out" 2>&1; then
    fail "PIN token: read with a wrong PIN"
fi
grep -q CKR_PIN_INCORRECT "$T/r5.out" || { cat "$T/r5.out"; fail "wrong PIN: not CKR_PIN_INCORRECT"; }
capture readpin p11 "${L[@]}" --read-object --type data --label sec -o "$T/r6.bin" \
    >"$T/r6.out" 2>&1 || { cat "$T/r6.out"; fail "PIN token: read after login"; }
cmp -s "$S1" "$T/r6.bin" || fail "PIN token: secret read back differs"
has_cmd readpin Unseal
wire_clean readpin "$S1"
grep -q '^auth = token$' "$EDGEKEY_STORE"/tok1/*.data || fail "PIN token: secret not sealed under the token secret"
p11 --token-label tok1 --login --pin "$EK_PIN" --change-pin --new-pin 5678 >/dev/null 2>&1 ||
    fail "PIN token: change the user PIN"
p11 --token-label tok1 --login --pin 5678 --read-object --type data --label sec -o "$T/r7.bin" \
    >/dev/null 2>&1 || fail "PIN token: read after the PIN change"
cmp -s "$S1" "$T/r7.bin" || fail "PIN token: secret differs after the PIN change"
store_clean "$EDGEKEY_STORE" "$S1"
pass "PIN token: login needed to create and read, wrong PIN refused, survives a PIN change"

# ---- 5. the core API ----
READ=$EDGEKEY_BUILD/tests/interop/pkcs11/ek-secret-read
[ -x "$READ" ] || fail "ek-secret-read not built"
"$READ" edge deviceSecret >"$T/c1.bin" 2>"$T/c1.err" || { cat "$T/c1.err"; fail "core API: PIN-less read"; }
cmp -s "$S1" "$T/c1.bin" || fail "core API: PIN-less secret differs"
EK_TEST_PIN=5678 "$READ" tok1 sec >"$T/c2.bin" 2>"$T/c2.err" || { cat "$T/c2.err"; fail "core API: PIN read"; }
cmp -s "$S1" "$T/c2.bin" || fail "core API: PIN token secret differs"
rc=0
EK_TEST_PIN=0000 "$READ" tok1 sec >"$T/c3.bin" 2>"$T/c3.err" || rc=$?
[ $rc = 5 ] || { cat "$T/c3.err"; fail "core API: wrong PIN gave exit $rc, expected 5"; }
[ -s "$T/c3.bin" ] && fail "core API: bytes written with a wrong PIN"
rc=0
"$READ" tok1 nosuch >/dev/null 2>&1 || rc=$?
[ $rc = 2 ] || fail "core API: missing label gave exit $rc, expected 2"
pass "core API ek_secret_read: same bytes; wrong PIN and unknown label refused"

# ---- 6. delete ----
p11 "${E[@]}" --delete-object --type data --label deviceSecret >/dev/null 2>&1 ||
    fail "delete the deviceSecret data object"
[ "$(ls "$EDGEKEY_STORE/edge" | grep -c '\.data$')" = 1 ] || fail "delete left the file behind"
if p11 "${E[@]}" --read-object --type data --label deviceSecret -o "$T/r8.bin" >/dev/null 2>&1; then
    fail "deleted data object still readable"
fi
p11 --token-label tok1 --login --pin 5678 --delete-object --type data --label sec >/dev/null 2>&1 ||
    fail "PIN token: delete"
ls "$EDGEKEY_STORE/tok1" | grep -q '\.data$' && fail "PIN token: delete left the file behind"
edgekey list >"$T/list.out" 2>&1 || { cat "$T/list.out"; fail "edgekey list with data objects"; }
grep -q device "$T/list.out" || fail "the device key is gone"
pass "data objects deleted with their store files; the device key stays"
