# Helpers for the interop shell tests. Sourced; run inside tests/lib/tpm-env.sh.
set -euo pipefail

: "${EDGEKEY_BUILD:?run through meson test}"
: "${EDGEKEY_TEST_TMP:?run through tests/lib/tpm-env.sh}"

T=$EDGEKEY_TEST_TMP
EK_PROVIDER_DIR=$EDGEKEY_BUILD/provider
export OPENSSL_MODULES=$EK_PROVIDER_DIR

# In an ASan build our modules are loaded into stock programs (openssl,
# mosquitto, pkcs11-tool...) that are not built with ASan: the runtime must be
# preloaded for them, or they refuse to load the module.
if ldd "$EK_PROVIDER_DIR/edgekey.so" 2>/dev/null | grep -q libasan; then
    ek_asan=$(ldd "$EK_PROVIDER_DIR/edgekey.so" | awk '/libasan/ {print $3; exit}')
    case ":${LD_PRELOAD:-}:" in *":$ek_asan:"*) ;; *) export LD_PRELOAD="$ek_asan${LD_PRELOAD:+:$LD_PRELOAD}" ;; esac
    export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=1}"
fi

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

# The default-provider-first order we document for openssl.cnf-style use;
# ek_prov_first puts edgekey first (genpkey style).
EK_PROV=(-provider default -provider edgekey)
EK_PROV_FIRST=(-provider edgekey -provider default)

# shellcheck source=ports.sh
. "$(dirname "${BASH_SOURCE[0]}")/ports.sh"
