#!/usr/bin/env bash
# Issue 2, acceptance 7: nothing secret on the wire, one command per warm
# signature.
#
#   auth-capture.sh WIRE_EVP_SIGN      (run through tests/lib/tpm-env.sh)
#
# Every TPM command and response of these runs is captured with tpm2-tss's
# pcap TCTI ("pcap:$EDGEKEY_TCTI", file in TCTI_PCAP_FILE):
#  1. `edgekey keygen --auth` makes a P-256 key with a distinctive 16-byte
#     auth value (EDGEKEY_KEY_AUTH);
#  2. `edgekey csr` and an in-process signer sign with it;
#  3. a wrong auth value is refused (the key really is protected);
# and neither the auth bytes nor their hex text (either case) occur in any
# capture. A control run shows the check can fail: tpm2_create -p without a
# session sends the same value in clear, and the search must find it there.
# Finally, 1 and 1+N signatures in one process differ by exactly N
# TPM2_Sign commands and nothing else.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"

signer=${1:?usage: auth-capture.sh WIRE_EVP_SIGN}
PCAP="python3 $here/../../lib/tpm-pcap.py"
N=10
command -v edgekey >/dev/null || fail "edgekey CLI not built (PATH=$PATH)"

AUTH='Wq7#edgeKEY!z9Pk'          # 16 bytes, found nowhere else on the wire
[ ${#AUTH} = 16 ] || fail "test auth value must be 16 bytes"
hex=$(printf %s "$AUTH" | od -An -tx1 | tr -d ' \n')
HEX=$(printf %s "$hex" | tr a-f A-F)
# The needles: the raw bytes, and the hex text in both cases.
needles=("$hex" "$(printf %s "$hex" | od -An -tx1 | tr -d ' \n')"
         "$(printf %s "$HEX" | od -An -tx1 | tr -d ' \n')")
TCTI0=$EDGEKEY_TCTI
URI='pkcs11:token=edge;object=k;type=private'

# capture NAME CMD...: run CMD with edgekey's TCTI through the pcap TCTI.
capture() {
    local name=$1
    shift
    rm -f "$T/$name.pcap"
    EDGEKEY_TCTI="pcap:$TCTI0" TCTI_PCAP_FILE="$T/$name.pcap" "$@"
}

# secret_absent NAME: no needle occurs in the capture (contains says 1).
secret_absent() {
    local f=$T/$1.pcap n rc
    [ -s "$f" ] || fail "$1: no capture written ($f)"
    [ "$($PCAP total "$f")" -gt 0 ] || fail "$1: capture holds no TPM command"
    for n in "${needles[@]}"; do
        rc=0
        $PCAP contains "$f" "$n" || rc=$?
        [ $rc = 1 ] || fail "$1: the auth value (as $n) is on the wire (contains said $rc)"
    done
    pass "$1: auth value absent from $($PCAP total "$f") TPM commands and their responses"
}

# 1. Key with an auth value, made by the CLI.
set +e
capture keygen env EDGEKEY_KEY_AUTH="$AUTH" edgekey keygen --label k --alg ec-p256 --auth \
    >"$T/keygen.out" 2>"$T/keygen.err"
rc=$?
set -e
[ $rc = 0 ] || { cat "$T/keygen.err"; fail "edgekey keygen --auth (exit $rc)"; }
grep -q '^pkcs11:' "$T/keygen.out" || fail "keygen printed no pkcs11: URI"
secret_absent keygen

# 2a. One signature by the CLI (a CSR).
capture csr env EDGEKEY_KEY_AUTH="$AUTH" edgekey csr --key "$URI" --subject /CN=wire \
    --out "$T/k.csr" --auth >/dev/null 2>"$T/csr.err" || { cat "$T/csr.err"; fail "edgekey csr"; }
openssl req -in "$T/k.csr" -verify -noout 2>/dev/null || fail "CSR signature does not verify"
secret_absent csr

# 2b. Signatures in one process through the provider, auth given at the
# prompt OSSL_STORE raises for a key that needs one.
export WIRE_AUTH=$AUTH
sign() { "$signer" --provider edgekey --default-first --key "$URI" --pass-env WIRE_AUTH \
    --scheme ecdsa "$@"; }
capture sign1 sign --count 1 >"$T/sign1.out" 2>"$T/sign1.err" ||
    { cat "$T/sign1.err"; fail "provider signature with the auth value"; }
capture signn sign --count $((N + 1)) >"$T/signn.out" 2>"$T/signn.err" ||
    { cat "$T/signn.err"; fail "$((N + 1)) provider signatures"; }
secret_absent sign1
secret_absent signn
# and those signatures are good ones (checked with the default provider)
sign --seconds 0.2 >/dev/null 2>"$T/verify.err" ||
    { cat "$T/verify.err"; fail "TPM signature does not verify in software"; }

# 3. The auth value is enforced: a wrong one must not sign.
if WIRE_AUTH='Wq7#edgeKEY!z9Pj' sign --count 1 >/dev/null 2>"$T/wrong.err"; then
    fail "a wrong auth value signed: the key is not protected by its auth"
fi
pass "wrong auth value refused"

# 4. Warm signatures cost one TPM2_Sign each and nothing else: the captures
# of 1 and 1+N signatures (after sign1 above, so one-time work such as a
# first-use retry is behind us) differ by N Sign commands. Commands the TPM
# itself answered with TPM_RC_RETRY are counted apart by pcap-diff.py.
capture base sign --count 1 >/dev/null 2>"$T/base.err" || { cat "$T/base.err"; fail "sign"; }
secret_absent base
mapfile -t d < <(python3 "$here/pcap-diff.py" "$T/base.pcap" "$T/signn.pcap")
[ "${d[0]}" = "Sign=$N" ] ||
    fail "$N more warm signatures cost '${d[0]}' on the wire, expected exactly Sign=$N"
pass "$N warm signatures = $N TPM2_Sign commands, nothing else (first: ${d[2]} commands, TPM retries: ${d[3]})"

# 5. Control: the same check sees an auth value sent in clear. tpm2_create
# with -p and no session carries the new key's auth in TPM2B_SENSITIVE_CREATE.
rm -f "$T/control.pcap"
TPM2TOOLS_TCTI="pcap:$TCTI0" TCTI_PCAP_FILE="$T/control.pcap" \
    bash -c "tpm2_createprimary -Q -C o -c '$T/p.ctx' && \
             tpm2_create -Q -C '$T/p.ctx' -G ecc -p '$AUTH' -u '$T/c.pub' -r '$T/c.priv'" \
    2>"$T/control.err" || { cat "$T/control.err"; fail "control: tpm2_create"; }
rc=0
$PCAP contains "$T/control.pcap" "$hex" || rc=$?
[ $rc = 0 ] || fail "control: auth sent in clear by tpm2_create not found (contains said $rc)"
pass "control: the same search finds an auth value sent in clear"
