#!/usr/bin/env bash
# OpenSSL 3.0 + tpm2-tss 3.2 (Debian 12) against OpenSSL 3.5 + tpm2-tss 4.1
# (scripts/compat's prefix), side by side in one run on one swtpm (issue 12):
# the ESYS floor, edgekey's signatures/s (keys with and without an auth
# value) and in-process mutual-TLS handshakes/s (TLS 1.2 and 1.3), each
# stack's figures taken in interleaved rounds so that load from other
# processes hits both alike. Each stack runs its own build's programs
# (bench/esys_floor, evp_sign, tls_bench and its edgekey.so); they find their
# libraries by RUNPATH, so nothing else is moved onto the compat prefix.
#
#   meson test -C BUILD --benchmark --suite bench compat -v
#   tests/lib/tpm-env.sh direct bench/compat-bench.sh
#
# The two build trees: this one (EDGEKEY_BUILD) and its peer, build or
# build-compat next to it (EDGEKEY_BENCH_PEER overrides); both must be
# built. Knobs: BENCH_SECONDS (per case, default 2), BENCH_INTERLEAVE
# (rounds, default 3).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=${EDGEKEY_SRC:-$(cd "$here/.." && pwd)}
. "$src/tests/lib/common.sh"
. "$src/tests/lib/pki.sh"
set +e

SECS=${BENCH_SECONDS:-2}
IL=${BENCH_INTERLEAVE:-3}
RUN_SECS=$(echo "$SECS / $IL" | bc -l)
LOG=$T/bench.log
ACC=$T/acc.txt
: >"$ACC"

# stack_of DIR: "openssl-X.Y" of the libcrypto that DIR's edgekey.so loads.
stack_of() {
    local lib
    lib=$(ldd "$1/provider/edgekey.so" | awk '/libcrypto.so/ {print $3}')
    [ -n "$lib" ] || return 1
    # awk reads to the end: no SIGPIPE for strings under pipefail
    strings "$lib" | awk '/^OpenSSL 3\.[0-9]+/ && !n++ { split($2, v, "."); print "openssl-" v[1] "." v[2] }'
}
# meson's LD_LIBRARY_PATH names this build's libraries, and would hand them
# to the peer build's programs too; each build finds its own by RUNPATH.
unset LD_LIBRARY_PATH
peer=${EDGEKEY_BENCH_PEER:-}
if [ -z "$peer" ]; then
    case $(basename "$EDGEKEY_BUILD") in
    build-compat*) peer=$src/build ;;
    *) peer=$src/build-compat ;;
    esac
fi
for d in "$EDGEKEY_BUILD" "$peer"; do
    [ -x "$d/bench/evp_sign" ] && [ -f "$d/provider/edgekey.so" ] ||
        fail "no built bench programs in $d: build it first (scripts/compat builds build-compat)"
done
sa=$(stack_of "$EDGEKEY_BUILD") && sb=$(stack_of "$peer") || fail "cannot tell the OpenSSL of the builds"
[ "$sa" != "$sb" ] || fail "$EDGEKEY_BUILD and $peer both use $sa: nothing to compare"
declare -A dir_of=([$sa]=$EDGEKEY_BUILD [$sb]=$peer)
stacks=$(printf '%s\n' "$sa" "$sb" | sort -V)
echo "# stacks: $(for s in $stacks; do echo -n "$s (${dir_of[$s]}) "; done)"

# ---- keys (TSS2 PEM files: both stacks load them) and a software PKI
# Keys are made by the `openssl` on PATH with the provider of the build that
# links the same libcrypto (one libcrypto.so.3 per process).
libcrypto_of() { ldd "$1" | awk '/libcrypto.so/ {print $3}'; }
mk=
for s in $stacks; do
    [ "$(libcrypto_of "${dir_of[$s]}/provider/edgekey.so")" = "$(libcrypto_of "$(command -v openssl)")" ] &&
        mk=${dir_of[$s]}
done
[ -n "$mk" ] || fail "no build links the libcrypto of $(command -v openssl)"
export OPENSSL_MODULES=$mk/provider OPENSSL_CONF=/dev/null
pki=$T/pki
ek_pki_ca "$pki"
openssl req -new -newkey rsa:2048 -nodes -keyout "$pki/server.key" -out "$pki/server.csr" \
    -subj /CN=localhost 2>>"$LOG"
ek_pki_sign_csr "$pki" "$pki/server.csr" "$pki/server.pem" server
openssl genpkey "${EK_PROV_GEN[@]}" -algorithm EC -pkeyopt group:P-256 \
    -out "$T/p256.key" 2>>"$LOG" || fail "genpkey P-256"
openssl genpkey "${EK_PROV_GEN[@]}" -algorithm RSA -pkeyopt bits:2048 \
    -out "$T/rsa.key" 2>>"$LOG" || fail "genpkey RSA"
for k in p256 rsa; do
    openssl req -new "${EK_PROV[@]}" -key "$T/$k.key" -subj "/CN=$k" \
        -out "$T/$k.csr" 2>>"$LOG" || fail "CSR $k"
    ek_pki_sign_csr "$pki" "$T/$k.csr" "$T/$k.pem" client
done
export BENCH_KEY_AUTH='bench-auth-16byt'
EDGEKEY_KEY_AUTH=$BENCH_KEY_AUTH edgekey keygen --label p256auth --alg ec-p256 --auth \
    >"$T/p256auth.out" 2>>"$LOG" || fail "edgekey keygen --auth"
auth_uri=$(grep -m1 '^pkcs11:' "$T/p256auth.out")

# run STACK PROG ARGS...: one program of STACK's build; its BENCH lines go to
# the accumulator with the stack as the figure's prefix.
run() {
    local s=$1 p=$2
    shift 2
    OPENSSL_MODULES=${dir_of[$s]}/provider BENCH_ROUNDS=1 "${dir_of[$s]}/bench/$p" "$@" \
        2>>"$LOG" | awk -v s="$s" '$1 == "BENCH" { $2 = s "/" $2; print }' >>"$ACC"
    [ "${PIPESTATUS[0]}" = 0 ] || echo "# FAILED: $s $p $*" | tee -a "$LOG"
}
tls_args=(--ca "$pki/ca.pem" --server-key "$pki/server.key" --server-cert "$pki/server.pem")
for ((round = 0; round < IL; round++)); do
    for s in $stacks; do
        run "$s" esys_floor --seconds "$RUN_SECS"
        run "$s" evp_sign --provider edgekey --default-first --key "$T/p256.key" \
            --label edgekey/p256 --seconds "$RUN_SECS"
        run "$s" evp_sign --provider edgekey --default-first --key "$T/rsa.key" \
            --label edgekey/rsa2048 --seconds "$RUN_SECS"
        run "$s" evp_sign --provider edgekey --default-first --key "$auth_uri" \
            --pass-env BENCH_KEY_AUTH --label edgekey/p256_auth --seconds "$RUN_SECS"
        for k in p256 rsa; do
            run "$s" tls_bench --provider edgekey --default-first --key "$T/$k.key" \
                --cert "$T/$k.pem" "${tls_args[@]}" --label "edgekey/$k" --seconds "$RUN_SECS"
        done
    done
done
python3 "$here/report.py" best "$ACC" >"$T/best.txt"
cat "$T/best.txt"
# shellcheck disable=SC2086 # two stack names
python3 "$here/compat-report.py" "$T/best.txt" $stacks
