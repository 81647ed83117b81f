# Helpers for the interop shell tests. Sourced; run inside tests/lib/tpm-env.sh.
set -euo pipefail

: "${EDGEKEY_BUILD:?run through meson test}"
: "${EDGEKEY_TEST_TMP:?run through tests/lib/tpm-env.sh}"

T=$EDGEKEY_TEST_TMP
EK_PROVIDER_DIR=$EDGEKEY_BUILD/provider
export OPENSSL_MODULES=$EK_PROVIDER_DIR

# In an ASan build our modules are loaded into stock programs (openssl,
# mosquitto, pkcs11-tool...) that are not built with ASan: the runtime must be
# preloaded for them, or they refuse to load the module. It is preloaded only
# into the programs that load our modules, through wrappers in $T/asan-bin put
# first on PATH (so timeout, env, exec and bash -c find them too; each wrapper
# execs, keeping the PID that ek_bg records); the other programs (python3,
# curl, jq, tpm2-tools) would only run slower and meet ASan start-up artefacts.
# tests/lib/asan_first.c (built in sanitizer builds) comes right after the
# runtime: without it programs linked with libp11-kit (p11tool, gnutls-cli)
# hang. awk reads all of ldd's output: an early exit (grep -q) can kill ldd
# with SIGPIPE, which pipefail turned into "no ASan" now and then.
EK_ASAN_PRELOAD=$(ldd "$EK_PROVIDER_DIR/edgekey.so" 2>/dev/null | awk '/libasan/ && !n++ {print $3}' || true)
if [ -n "$EK_ASAN_PRELOAD" ]; then
    [ -f "$EDGEKEY_BUILD/tests/libek-asan-first.so" ] &&
        EK_ASAN_PRELOAD="$EK_ASAN_PRELOAD:$EDGEKEY_BUILD/tests/libek-asan-first.so"
    export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}"
    if [ ! -d "$T/asan-bin" ]; then
        mkdir -p "$T/asan-bin"
        for ek_p in openssl pkcs11-tool p11tool p11-kit gnutls-cli gnutls-serv certtool \
            mosquitto mosquitto_pub mosquitto_sub ssh-keygen ssh-add ssh-agent ssh; do
            ek_real=$(command -v "$ek_p") || continue
            case $ek_real in */asan-bin/*) continue ;; esac   # another test's wrapper
            printf '#!/bin/sh\nexport LD_PRELOAD="%s${LD_PRELOAD:+:$LD_PRELOAD}"\nexec %s "$@"\n' \
                "$EK_ASAN_PRELOAD" "$ek_real" >"$T/asan-bin/$ek_p"
            chmod +x "$T/asan-bin/$ek_p"
        done
    fi
    case ":$PATH:" in *":$T/asan-bin:"*) ;; *) export PATH="$T/asan-bin:$PATH" ;; esac
fi
export EK_ASAN_PRELOAD

# Servers started by a test, stopped by PID at exit (tpm-env.sh stops swtpm).
ek_bg_pids=()
ek_cleanup_bg() {
    local p
    for p in "${ek_bg_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${ek_bg_pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap ek_cleanup_bg EXIT

ek_bg() { "$@" & ek_bg_pids+=($!); }

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# The order edgekey requires (default first); EK_PROV_GEN makes TPM keys with
# it. EK_PROV_FIRST (edgekey first) is refused when edgekey loads: tests use
# it only to check that refusal.
EK_PROV=(-provider default -provider edgekey)
EK_PROV_GEN=(-provider default -provider edgekey -propquery provider=edgekey)
EK_PROV_FIRST=(-provider edgekey -provider default)

# shellcheck source=ports.sh
. "$(dirname "${BASH_SOURCE[0]}")/ports.sh"
