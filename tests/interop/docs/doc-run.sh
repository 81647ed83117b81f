#!/usr/bin/env bash
# Run a markdown page's ```sh blocks in order, as one shell script (issue 11:
# docs/getting-started.md and README's recipes are tested as written).
# Run inside tests/lib/tpm-env.sh (temp dir, free ports; its own swtpm is not
# used: the pages start theirs). doc-blocks.py extracts the blocks; the only
# changes made to them, all listed here:
#   device:/dev/tpmrm0                 -> the page's own swtpm, on a free port
#   ports 2321/2322, 8443/8883         -> free ports
#   /var/lib/edgekey                   -> an empty store in the temp dir
#   /usr/lib/x86_64-linux-gnu/pkcs11/edgekey-pkcs11.so -> the built module
# and the environment: HOME and the working directory are temp dirs (the
# working directory stands for the source checkout: its docs/ is linked in),
# EDGEKEY_CONF is an empty file (so /etc is never read), EDGEKEY_TCTI and
# EDGEKEY_STORE are unset (the page must set them), the built edgekey is
# first on PATH and OPENSSL_MODULES names the built provider, as after
# `meson install`. Fails when any command fails.
#
#   doc-run.sh PAGE
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
page=$EDGEKEY_SRC/$1

# curl loads our (ASan-built) provider through OPENSSL_CONF on these pages:
# it gets the same runtime preload as the programs common.sh wraps
if [ -n "$EK_ASAN_PRELOAD" ] && [ ! -e "$T/asan-bin/curl" ]; then
    printf '#!/bin/sh\nexport LD_PRELOAD="%s${LD_PRELOAD:+:$LD_PRELOAD}"\nexec %s "$@"\n' \
        "$EK_ASAN_PRELOAD" "$(command -v curl)" >"$T/asan-bin/curl"
    chmod +x "$T/asan-bin/curl"
fi

tpm_port=$(ek_free_port_pair)
srv=$EDGEKEY_TEST_PORT_BASE
mkdir -p "$T/home" "$T/work" "$T/doc-store"
ln -s "$EDGEKEY_SRC/docs" "$T/work/docs"
python3 "$here/doc-blocks.py" "$page" \
    "device:/dev/tpmrm0=swtpm:host=127.0.0.1,port=$tpm_port" \
    "2321=$tpm_port" "2322=$((tpm_port + 1))" "8443=$srv" "8883=$((srv + 1))" \
    "/var/lib/edgekey=$T/doc-store" \
    "/usr/lib/x86_64-linux-gnu/pkcs11/edgekey-pkcs11.so=$EDGEKEY_BUILD/pkcs11/edgekey-pkcs11.so" \
    >"$T/doc.sh" || fail "$1: extracting its command blocks"

# stop what the page left running: its background jobs, and daemons whose
# pid file lies in our temp dir (checked to be ours by their command line)
stop_page_daemons() {
    local f pid
    while read -r f; do
        pid=$(cat "$f" 2>/dev/null) || continue
        [ -n "$pid" ] && grep -qF "$T" "/proc/$pid/cmdline" 2>/dev/null && kill "$pid" 2>/dev/null
    done < <(find "$T/home" "$T/work" -name '*.pid' 2>/dev/null)
    return 0
}
trap 'stop_page_daemons; ek_cleanup_bg' EXIT

cd "$T/work" || fail "cannot enter $T/work"
rc=0
env -u EDGEKEY_TCTI -u EDGEKEY_STORE HOME="$T/home" PATH="$EDGEKEY_BUILD/cli:$PATH" \
    bash -c 'set -eo pipefail; trap "jobs -p | xargs -r kill 2>/dev/null || true" EXIT; set -x; . "$1"' \
    doc "$T/doc.sh" || rc=$?
[ $rc -eq 0 ] || fail "$1: a command block failed (exit $rc); the trace above shows which command"
pass "$1: every runnable command block ran"
