# Shared start-up of the edge e2e tests: scripts/demo's hub, broker and two
# software TPMs (scripts/lib/edge-hub.sh) on this build, a private
# temporary directory, everything stopped by PID at exit. Sourced, bash.
#   . "$EDGEKEY_SRC/tests/e2e/edge/lib.sh" NAME
set -euo pipefail
: "${EDGEKEY_BUILD:?run through meson test}"
: "${EDGEKEY_SRC:?run through meson test}"
SRC=$EDGEKEY_SRC
B=$(cd "$EDGEKEY_BUILD" && pwd)
TEST_NAME=${1:-edge-test}
export OPENSSL_MODULES=$B/provider PATH=$B/cli:$PATH
T=$(mktemp -d "${TMPDIR:-/tmp}/edgekey-$TEST_NAME.XXXXXX")
PIDS=()
EDGE_LOG=$T/edge.log

die() {
    echo "FAIL: $1" >&2
    [ -n "${2:-}" ] && [ -f "$2" ] && tail -n 25 "$2" | sed 's/^/    | /' >&2
    exit 1
}
t_cleanup() {
    local rc=$?
    ek_stop_all
    if [ $rc != 0 ] || [ "${EDGEKEY_KEEP_LOGS:-0}" = 1 ]; then
        echo "$TEST_NAME: logs kept in $T" >&2
    else
        rm -rf "$T"
    fi
}
trap t_cleanup EXIT
trap 'exit 130' INT TERM

. "$SRC/scripts/lib/edge-hub.sh"

# The whole hub side, as scripts/demo starts it, and one registered device.
# t_hub PK SN [VALIDITY_DAYS]
t_hub() {
    ek_start_tpms
    ek_hub_init
    ek_start_broker
    ek_start_serve
    ek_register "$@"
}

# t_edge_start ARGS...: edge-client run ARGS in the background (EDGE_PID).
t_edge_start() {
    env EDGEKEY_TCTI="$EDGE_TCTI" EDGEKEY_STORE="$T/edge-store" EDGEKEY_CONF="$T/edgekey.conf" \
        "$EDGE_BIN" --config "$T/edge.conf" run "$@" </dev/null >>"$EDGE_LOG" 2>&1 &
    EDGE_PID=$!
    PIDS+=($EDGE_PID)
}

# t_wait_log PATTERN [TIMEOUT_S]: the edge's log shows PATTERN.
t_wait_log() {
    local n=$((${2:-30} * 10))
    for _ in $(seq "$n"); do
        grep -q -- "$1" "$EDGE_LOG" && return 0
        kill -0 "$EDGE_PID" 2>/dev/null || { grep -q -- "$1" "$EDGE_LOG"; return; }
        sleep 0.1
    done
    return 1
}

# t_sql QUERY: one query against the hub registry (read-only).
t_sql() { sqlite3 -readonly -batch -noheader "$HUB_DIR/hub.db" "$1"; }

# t_wait_exit SECONDS: wait for the edge client; sets EDGE_RC.
t_wait_exit() {
    for _ in $(seq $(($1 * 10))); do kill -0 "$EDGE_PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$EDGE_PID" 2>/dev/null && die "edge-client still running after $1 s" "$EDGE_LOG"
    EDGE_RC=0
    wait "$EDGE_PID" || EDGE_RC=$?
}
