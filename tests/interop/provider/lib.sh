# Helpers for the provider interop scripts. Sourced after tests/lib/common.sh.

# (In a sanitizer build common.sh preloads the ASan runtime into openssl.)

# ekp_must_fail TEXT CMD...: CMD must fail and its stderr must contain TEXT
# (compared ignoring case).
ekp_must_fail() {
    local text=$1 err
    shift
    err=$T/must-fail.err
    if "$@" >/dev/null 2>"$err"; then
        fail "expected failure: $*"
    fi
    grep -qiF -- "$text" "$err" || { cat "$err" >&2; fail "'$text' not in the error of: $*"; }
}

# ekp_is_tss2 FILE: a TSS2 key file (a TPM key reference, not key material).
ekp_is_tss2() {
    head -n1 "$1" | grep -qx -- "-----BEGIN TSS2 PRIVATE KEY-----" ||
        fail "$1 is not a TSS2 PRIVATE KEY file: $(head -n1 "$1")"
}

# ekp_verify_csr CSR: checked with the default provider only, as a CA would.
ekp_verify_csr() {
    openssl req -in "$1" -verify -noout 2>&1 | grep -q "verify OK" ||
        fail "CSR $1 does not verify with the default provider"
}

# The provider orders that load: only default first (edgekey refuses to load
# first; order.sh checks that). "ekp_order NAME" sets P to the -provider
# arguments.
EKP_ORDERS=(default-first)
ekp_order() {
    case $1 in
    default-first) P=("${EK_PROV[@]}") ;;
    edgekey-first) P=("${EK_PROV_FIRST[@]}") ;;
    *) fail "unknown order $1" ;;
    esac
}

# Mutual TLS through stock s_server / s_client (tls.sh, order.sh); $pki is the
# test PKI (tests/lib/pki.sh).
n=0
next_port() { port=$((EDGEKEY_TEST_PORT_BASE + n % 10)); n=$((n + 1)); }

# handshake LABEL SERVER_ARGS -- CLIENT_ARGS: one -www request through a
# server that requires and verifies a client certificate. Leaves the logs in
# $T/srv.out and $T/cli.out; returns the client's status.
handshake() {
    local label=$1 sargs=() cargs=() rc sp
    shift
    while [ "$1" != -- ]; do sargs+=("$1"); shift; done
    shift
    cargs=("$@")
    next_port
    openssl s_server -accept "$port" -naccept 1 -CAfile "$pki/ca.pem" -Verify 1 \
        -verify_return_error -www "${sargs[@]}" >"$T/srv.out" 2>&1 &
    sp=$!
    ek_wait_port "$port" || { cat "$T/srv.out"; fail "$label: s_server did not start"; }
    printf 'GET / HTTP/1.0\r\n\r\n' | timeout 60 openssl s_client -connect "127.0.0.1:$port" \
        -CAfile "$pki/ca.pem" -verify_return_error -ign_eof "${cargs[@]}" >"$T/cli.out" 2>&1
    rc=$?
    if [ $rc -ne 0 ]; then kill "$sp" 2>/dev/null; fi
    wait "$sp" 2>/dev/null
    return $rc
}

# check LABEL VERSION PEER_CN_ON_SERVER SERVER_CN_ON_CLIENT
check() {
    local label=$1 v=$2 ccn=$3 scn=$4 proto
    proto=$([ "$v" = -tls1_3 ] && echo TLSv1.3 || echo TLSv1.2)
    grep -q "Protocol *: $proto" "$T/cli.out" || { cat "$T/cli.out"; fail "$label: not $proto"; }
    grep -q "Verification: OK" "$T/cli.out" || fail "$label: client did not verify the server"
    # "CN = x" up to OpenSSL 3.1, "CN=x" from 3.2 (the compat suite runs 3.5)
    grep -Eq "^subject=CN ?= ?$scn" "$T/cli.out" || fail "$label: server is not CN=$scn"
    # s_server's verify callback prints the chain it verified; with
    # -verify_return_error a failed verification ends the handshake.
    grep -Eq "depth=0 CN ?= ?$ccn" "$T/srv.out" ||
        { cat "$T/srv.out"; fail "$label: client CN=$ccn not verified by the server"; }
    pass "$label"
}
