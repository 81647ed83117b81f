#!/usr/bin/env bash
# Issue 10, acceptance 6: a wire capture shows no PIN, auth value or token
# secret in clear.
#
#   pin-capture.sh                     (run through tests/lib/tpm-env.sh)
#
# Every TPM command and response of a PIN token's life through our code is
# captured with tpm2-tss's pcap TCTI ("pcap:$EDGEKEY_TCTI", TCTI_PCAP_FILE),
# one capture per step:
#  1. `edgekey token init` (SO PIN from a file) and `edgekey token pin --user`
#     (the SO sets the user PIN);
#  2. pkcs11-tool through our module: login with the user PIN, an EC key
#     generated in the token, a signature with it, a wrong PIN (refused), a
#     user PIN change (C_SetPIN), a private data object written and read back
#     with the new PIN.
# Then, outside the capture and with tpm2-tools only, the test learns what
# must not be on the wire: the PINs; their auth values f(PIN) =
# HMAC-SHA256("edgekey pin", PIN), trailing zero bytes cut
# (core/store/token_auth.c pin_auth); the 32-byte token secret (unsealed from
# pin-user.seal with f(new user PIN), and from pin-so.seal with f(SO PIN):
# the same bytes); the key's auth HMAC-SHA256(secret, "edgekey key auth" ||
# CKA_ID) (ek_token_key_auth; tpm2_sign with it must work); the data object's
# auth HMAC-SHA256(secret, "edgekey data auth" || file name) (secret.c
# data_auth; tpm2_unseal with it must give the value) and the value. None of
# them occurs in any capture, as raw bytes or as hex text in either case.
#
# Control: those tpm2-tools steps are captured too. They use no parameter
# encryption, so the unsealed token secret and data value cross in clear in
# TPM2_Unseal's responses, and tpm2_hash is given the PINs and auth values as
# input; the same search must find every secret there, so the check can fail.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/../cli/lib.sh"
. "$here/../pkcs11/p11-common.sh"

PCAP="python3 $here/../../lib/tpm-pcap.py"
TCTI0=$EDGEKEY_TCTI
TOK=wirepin
ID=5eed01a7                  # CKA_ID of the token key (hex)
START=$SECONDS

# capture NAME CMD...: run CMD with edgekey's TCTI through the pcap TCTI.
captures=()
capture() {
    local name=$1
    shift
    rm -f "$T/$name.pcap"
    captures+=("$name")
    EDGEKEY_TCTI="pcap:$TCTI0" TCTI_PCAP_FILE="$T/$name.pcap" "$@"
}
P=(--token-label "$TOK")

# Test-chosen, distinctive PINs (found nowhere else on the wire).
so=SO-wire-$(openssl rand -hex 6)
user=US-wire-$(openssl rand -hex 5)
user2=U2-wire-$(openssl rand -hex 5)
wrong=WR-wire-$(openssl rand -hex 5)
printf '%s\n' "$so" >"$T/so.pin"
printf '%s\n' "$user" >"$T/user.pin"
chmod 600 "$T"/*.pin
DATA=$T/data.bin
printf 'dv-wire-%s' "$(openssl rand -hex 16)" >"$DATA"

# ---- 1. the PIN token's life, captured ----
capture init edgekey token init --token "$TOK" --so-pin-file "$T/so.pin" >"$T/init.out" 2>&1 ||
    { cat "$T/init.out"; fail "edgekey token init"; }
capture setpin edgekey token pin --token "$TOK" --user --old-pin-file "$T/so.pin" \
    --new-pin-file "$T/user.pin" >"$T/setpin.out" 2>&1 ||
    { cat "$T/setpin.out"; fail "edgekey token pin --user (set by the SO)"; }
pass "token $TOK made by the CLI, user PIN set by the SO"

capture keygen p11 "${P[@]}" --login --pin "$user" --keypairgen --key-type EC:prime256v1 \
    --id "$ID" --label wk >"$T/keygen.out" 2>&1 || { cat "$T/keygen.out"; fail "C_GenerateKeyPair"; }
echo "wire pin capture" >"$T/msg"
capture sign p11 "${P[@]}" --login --pin "$user" --sign --id "$ID" -m ECDSA-SHA256 \
    --input-file "$T/msg" --output-file "$T/msg.sig" >"$T/sign.out" 2>&1 ||
    { cat "$T/sign.out"; fail "pkcs11-tool --sign with the user PIN"; }
p11 "${P[@]}" --verify --id "$ID" -m ECDSA-SHA256 --input-file "$T/msg" \
    --signature-file "$T/msg.sig" >"$T/verify.out" 2>&1 ||
    { cat "$T/verify.out"; fail "the token key's signature does not verify"; }
pass "pkcs11-tool logged in, generated key $ID in the token and signed with it (verifies)"

if capture wrong p11 "${P[@]}" --login --pin "$wrong" --list-objects >"$T/wrong.out" 2>&1; then
    fail "C_Login accepted a wrong PIN"
fi
grep -q CKR_PIN_INCORRECT "$T/wrong.out" || { cat "$T/wrong.out"; fail "wrong PIN: not CKR_PIN_INCORRECT"; }
capture change p11 "${P[@]}" --login --pin "$user" --change-pin --new-pin "$user2" \
    >"$T/change.out" 2>&1 || { cat "$T/change.out"; fail "C_SetPIN (user PIN change)"; }
pass "wrong PIN refused (CKR_PIN_INCORRECT); user PIN changed with C_SetPIN"

capture dwrite p11 "${P[@]}" --login --pin "$user2" --write-object "$DATA" --type data \
    --label wiresec --private >"$T/dwrite.out" 2>&1 || { cat "$T/dwrite.out"; fail "write a private data object"; }
capture dread p11 "${P[@]}" --login --pin "$user2" --read-object --type data --label wiresec \
    -o "$T/dread.bin" >"$T/dread.out" 2>&1 || { cat "$T/dread.out"; fail "read the data object back"; }
cmp -s "$DATA" "$T/dread.bin" || fail "data object read back differs"
pass "private data object sealed with the new PIN and read back identical"

# The steps did reach the TPM (a capture of nothing would prove nothing).
has_cmd() {
    local counts # not a pipe into grep -q: python would die of SIGPIPE under pipefail
    [ -s "$T/$1.pcap" ] || fail "$1: no capture written"
    counts=$($PCAP count "$T/$1.pcap") || fail "$1: cannot read the capture"
    grep -q " $2\$" <<<"$counts" || fail "$1: no TPM2_$2 in the capture"
}
has_cmd init Create
has_cmd setpin Unseal
has_cmd setpin Create
has_cmd keygen Unseal
has_cmd keygen Create
has_cmd sign Sign
has_cmd wrong Unseal
has_cmd change Create
has_cmd dwrite Create
has_cmd dread Unseal
ncmd=0
for c in "${captures[@]}"; do ncmd=$((ncmd + $($PCAP total "$T/$c.pcap"))); done
pass "${#captures[@]} captures, $ncmd TPM commands (Create, Unseal, Sign where expected)"

# ---- 2. outside the capture: learn the secrets with tpm2-tools alone ----
# Every tpm2-tools step below is itself captured (control.pcap, section 4):
# without parameter encryption the unsealed bytes cross in clear.
tools() { TPM2TOOLS_TCTI="pcap:$TCTI0" TCTI_PCAP_FILE="$T/control.pcap" tpm2t "$@"; }
# tpm2-tools leave what they load in a TPM without a resource manager.
flush() { tpm2t tpm2_flushcontext -t >/dev/null 2>&1 || true; }
rm -f "$T/control.pcap"
hexof() { od -An -v -tx1 "$1" | tr -d ' \n'; }
unhex() { python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.stdin.read()))'; }
cut0() { sed -e 's/\(00\)*$//'; } # trailing zero bytes of a hex string
# pin_auth PIN -> hex of f(PIN)
pin_auth() {
    printf '%s' "$1" | openssl dgst -sha256 -mac HMAC -macopt key:"edgekey pin" -binary |
        od -An -v -tx1 | tr -d ' \n' | cut0
}
# derived KEYHEX PREFIX DATAHEX -> hex of HMAC-SHA256(KEY, PREFIX || DATA), zeros cut
derived() {
    { printf '%s' "$2"; printf '%s' "$3" | unhex; } |
        openssl dgst -sha256 -mac HMAC -macopt hexkey:"$1" -binary | od -An -v -tx1 |
        tr -d ' \n' | cut0
}
# split_seal BLOBFILE OUT: EKSEAL2 -> OUT.pub, OUT.priv; prints the parent handle
split_seal() {
    python3 "$here/../../lib/ekseal.py" "$1" "$2"
}
# split_tss2 PEMFILE OUT: TSS2 PRIVATE KEY -> OUT.pub, OUT.priv; prints the parent
split_tss2() {
    openssl base64 -d -in <(sed -e '/^-----/d' "$1") -out "$2.der"
    python3 - "$2.der" "$2" <<'EOF'
import sys
d = open(sys.argv[1], 'rb').read()
def tlv(b, o):
    tag, n = b[o], b[o + 1]
    o += 2
    if n & 0x80:
        k = n & 0x7f
        n = int.from_bytes(b[o:o + k], 'big')
        o += k
    return tag, b[o:o + n], o + n
tag, body, _ = tlv(d, 0)
assert tag == 0x30
o, items = 0, []
while o < len(body):
    t, v, o = tlv(body, o)
    items.append((t, v))
ints = [v for t, v in items if t == 0x02]
octs = [v for t, v in items if t == 0x04]
assert len(ints) == 1 and len(octs) == 2, items
open(sys.argv[2] + '.pub', 'wb').write(octs[0])
open(sys.argv[2] + '.priv', 'wb').write(octs[1])
print('0x%08x' % int.from_bytes(ints[0], 'big'))
EOF
}
# The parent of everything here: the owner-template primary (core's SRK).
tdir=$EDGEKEY_STORE/$TOK
[ -f "$tdir/pin-user.seal" ] || fail "no pin-user.seal in $tdir: $(ls "$tdir")"
tools tpm2_createprimary -Q -C o -G ecc256:aes128cfb -g sha256 -c "$T/srk.ctx" \
    -a 'restricted|decrypt|noda|fixedtpm|fixedparent|sensitivedataorigin|userwithauth' ||
    fail "tpm2_createprimary (SRK template)"
flush
# unseal_blob BLOBFILE AUTHHEX OUT: load under the SRK, tpm2_unseal -p hex:AUTH
unseal_blob() {
    local parent
    parent=$(split_seal "$1" "$T/blob") || fail "$(basename "$1") is not an EKSEAL2 blob"
    [ "$parent" = 0x40000001 ] || fail "$(basename "$1"): parent $parent, expected 0x40000001"
    tools tpm2_load -Q -C "$T/srk.ctx" -u "$T/blob.pub" -r "$T/blob.priv" -c "$T/blob.ctx" ||
        fail "tpm2_load $(basename "$1")"
    flush
    tools tpm2_unseal -c "$T/blob.ctx" -p "hex:$2" -o "$3" 2>"$T/unseal.err" ||
        { cat "$T/unseal.err"; fail "tpm2_unseal $(basename "$1") with its derived auth"; }
    flush
}

h_so=$(pin_auth "$so")
h_user=$(pin_auth "$user")
h_user2=$(pin_auth "$user2")
h_wrong=$(pin_auth "$wrong")
unseal_blob "$tdir/pin-user.seal" "$h_user2" "$T/secret.bin"
[ "$(stat -c %s "$T/secret.bin")" = 32 ] || fail "token secret is $(stat -c %s "$T/secret.bin") bytes"
unseal_blob "$tdir/pin-so.seal" "$h_so" "$T/secret-so.bin"
cmp -s "$T/secret.bin" "$T/secret-so.bin" || fail "pin-so.seal and pin-user.seal hold different secrets"
secret=$(hexof "$T/secret.bin")
pass "token secret (32 bytes) unsealed with tpm2-tools from pin-user.seal (f(new user PIN)) and pin-so.seal (f(SO PIN))"

# The key's auth, proven by a TPM2_Sign with it.
h_key=$(derived "$secret" "edgekey key auth" "$ID")
[ -f "$tdir/$ID.key" ] || fail "no $ID.key in $tdir: $(ls "$tdir")"
parent=$(split_tss2 "$tdir/$ID.key" "$T/key") || fail "$ID.key is not a TSS2 PRIVATE KEY"
[ "$parent" = 0x40000001 ] || fail "$ID.key: parent $parent, expected 0x40000001"
tools tpm2_load -Q -C "$T/srk.ctx" -u "$T/key.pub" -r "$T/key.priv" -c "$T/key.ctx" ||
    fail "tpm2_load $ID.key"
flush
openssl dgst -sha256 -binary "$T/msg" >"$T/msg.dgst"
tools tpm2_sign -c "$T/key.ctx" -p "hex:$h_key" -g sha256 -d -o "$T/tools.sig" "$T/msg.dgst" \
    2>"$T/tsign.err" || { cat "$T/tsign.err"; fail "tpm2_sign with the derived key auth"; }
flush
pass "key auth HMAC(secret, \"edgekey key auth\" || $ID) signs with tpm2_sign"

# The data object's auth and value, proven by tpm2_unseal.
dfile=$(grep -l '^auth = token$' "$tdir"/*.data) || fail "no token-auth data object in $tdir"
[ "$(printf '%s\n' "$dfile" | wc -l)" = 1 ] || fail "more than one data object: $dfile"
dname=$(basename "$dfile" .data)
h_data=$(derived "$secret" "edgekey data auth" "$(printf %s "$dname" | od -An -v -tx1 | tr -d ' \n')")
sed -n 's/^sealed = //p' "$dfile" | unhex >"$T/data.seal"
unseal_blob "$T/data.seal" "$h_data" "$T/data.unsealed"
cmp -s "$DATA" "$T/data.unsealed" || fail "data object unsealed by tpm2-tools differs"
value=$(hexof "$DATA")
pass "data object auth HMAC(secret, \"edgekey data auth\" || $dname) unseals the value"

# ---- 3. none of it on the wire ----
# The needles: every secret's raw bytes, and its hex text in lower and upper case.
names=(so-pin user-pin new-user-pin wrong-pin "f(so-pin)" "f(user-pin)" "f(new-user-pin)"
       "f(wrong-pin)" token-secret key-auth data-auth data-value)
hexes=("$(printf %s "$so" | od -An -v -tx1 | tr -d ' \n')"
       "$(printf %s "$user" | od -An -v -tx1 | tr -d ' \n')"
       "$(printf %s "$user2" | od -An -v -tx1 | tr -d ' \n')"
       "$(printf %s "$wrong" | od -An -v -tx1 | tr -d ' \n')"
       "$h_so" "$h_user" "$h_user2" "$h_wrong" "$secret" "$h_key" "$h_data" "$value")
args=()
for i in "${!names[@]}"; do
    h=${hexes[$i]}
    [ ${#h} -ge 16 ] || fail "${names[$i]}: needle too short (${#h} hex digits)"
    args+=("${names[$i]}=$h"
           "${names[$i]}/hex=$(printf %s "$h" | od -An -v -tx1 | tr -d ' \n')"
           "${names[$i]}/HEX=$(printf %s "$h" | tr a-f A-F | od -An -v -tx1 | tr -d ' \n')")
done
for c in "${captures[@]}"; do
    found=$($PCAP search "$T/$c.pcap" "${args[@]}") || fail "$c: cannot search the capture"
    [ -z "$found" ] || fail "$c: on the TPM wire in clear: $(tr "\n" " " <<<"$found")"
done
pass "none of ${#names[@]} secrets (x3 forms) in any of ${#captures[@]} captures ($ncmd commands + responses)"

# ---- 4. control: the same search finds them when they ARE sent in clear ----
# tpm2-tools 5.4 authorise with an HMAC session but without parameter
# encryption: the unsealed token secret and data value cross in clear in
# TPM2_Unseal's responses. The PINs and auth values are sent in clear by
# tpm2_hash, whose input is a command parameter.
{ printf '%s|%s|%s|%s|' "$so" "$user" "$user2" "$wrong"
  printf '%s' "$h_so" "$h_user" "$h_user2" "$h_wrong" "$h_key" "$h_data" | unhex; } >"$T/clear.bin"
tools tpm2_hash -Q -C o -g sha256 -o "$T/clear.dgst" "$T/clear.bin" || fail "control: tpm2_hash"
found=$($PCAP search "$T/control.pcap" "${args[@]}") || fail "control: cannot search"
for i in "${!names[@]}"; do
    grep -qxF -- "${names[$i]}" <<<"$found" ||
        fail "control: ${names[$i]} sent in clear was not found (found: $(tr "\n" " " <<<"$found"))"
done
# and without tpm2_hash: the unseal responses alone show the token secret
rm -f "$T/control.pcap"
unseal_blob "$tdir/pin-user.seal" "$h_user2" "$T/secret2.bin"
found=$($PCAP search "$T/control.pcap" "${args[@]}") || fail "control: cannot search"
grep -qxF token-secret <<<"$found" || fail "control: the token secret unsealed in clear was not found"
pass "control: all ${#names[@]} secrets found when sent in clear (tpm2_hash input; the token secret and data value in TPM2_Unseal's responses)"

flush
no_leftovers
elapsed=$((SECONDS - START))
[ $elapsed -lt 60 ] || fail "took ${elapsed}s, the budget is 60s"
pass "done in ${elapsed}s ($EDGEKEY_TEST_MODE)"
