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

# Both provider orders: default first (the order docs/openssl.cnf documents)
# and edgekey first. "ekp_order NAME" sets P to the -provider arguments.
EKP_ORDERS=(default-first edgekey-first)
ekp_order() {
    case $1 in
    default-first) P=("${EK_PROV[@]}") ;;
    edgekey-first) P=("${EK_PROV_FIRST[@]}") ;;
    *) fail "unknown order $1" ;;
    esac
}
