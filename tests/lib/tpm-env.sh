#!/usr/bin/env bash
# Run one command against a fresh software TPM, then stop everything by PID.
#
#   tests/lib/tpm-env.sh MODE COMMAND [ARGS...]
#
# MODE is "direct" (the command talks to swtpm over the swtpm TCTI, no
# resource manager: 3 transient slots, one connection at a time) or "abrmd"
# (tpm2-abrmd on a private D-Bus session bus in front of the same swtpm, so
# several processes may share the TPM).
#
# Exported to COMMAND:
#   EDGEKEY_TCTI, TPM2OPENSSL_TCTI, TPM2TOOLS_TCTI, TPM2_PKCS11_TCTI  the TCTI string
#   EDGEKEY_STORE      an empty store directory
#   EDGEKEY_CONF       an empty config file (so /etc is never read)
#   EDGEKEY_TEST_TMP   a private temp dir, removed afterwards
#   EDGEKEY_TEST_MODE  direct | abrmd
#   EDGEKEY_SWTPM_PORT the swtpm command port (control port is +1)
#   EDGEKEY_TEST_PORT_BASE  a free base port (+0..+9) for the test's own servers
#   EDGEKEY_TEST_EK_ROOTS   with EDGEKEY_TEST_EKCERT=1 only: the PEM bundle (root +
#                      issuing CA) of the test manufacturer CA that signed the EK certificates
# EDGEKEY_TEST_EKCERT=1 manufactures the TPM first with swtpm_setup --create-ek-cert
# (RSA-2048 and P-384 EKs persisted, their certificates in NV 0x01c00002 and
# 0x01c00016), signed by a swtpm-localca whose configuration and CA live in the
# temp dir: /etc/swtpm-localca.conf and /var/lib/swtpm-localca are never used.
# Set EDGEKEY_KEEP_TMP=1 to keep the temp dir for a post-mortem.
set -euo pipefail

mode=${1:?usage: tpm-env.sh direct|abrmd COMMAND [ARGS...]}
shift
[ $# -gt 0 ] || { echo "tpm-env.sh: no command given" >&2; exit 2; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=ports.sh
. "$here/ports.sh"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/edgekey-test.XXXXXX")
pids=()
cleanup() {
    local rc=$?
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill "${pids[$i]}" 2>/dev/null || true
    done
    for p in "${pids[@]}"; do
        for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.05; done
        kill -9 "$p" 2>/dev/null || true
    done
    if [ "${EDGEKEY_KEEP_TMP:-0}" = 1 ]; then
        echo "tpm-env.sh: kept $tmp" >&2
    else
        rm -rf "$tmp"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$tmp/tpm" "$tmp/store"
: >"$tmp/edgekey.conf"

# A TPM with EK certificates from a private test manufacturer CA.
if [ "${EDGEKEY_TEST_EKCERT:-0}" = 1 ]; then
    # shellcheck source=../../scripts/lib/ek-manufacture.sh
    . "$here/../../scripts/lib/ek-manufacture.sh"
    ek_manufacture "$tmp/tpm" "$tmp/ekca" || exit 1
    export EDGEKEY_TEST_EK_ROOTS="$EK_ROOTS"
fi

port=$(ek_free_port_pair)
swtpm socket --tpm2 --tpmstate dir="$tmp/tpm" \
    --server type=tcp,port="$port",bindaddr=127.0.0.1 \
    --ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
    --flags not-need-init,startup-clear \
    --pid file="$tmp/swtpm.pid" --log file="$tmp/swtpm.log" &
pids+=($!)
ek_wait_port "$port" || { echo "tpm-env.sh: swtpm did not listen on $port" >&2; cat "$tmp/swtpm.log" >&2 || true; exit 1; }

tcti="swtpm:host=127.0.0.1,port=$port"
# swtpm's dictionary-attack defaults (3 tries, 1000 s recovery) would lock
# every PIN object of a suite after its third deliberate wrong PIN. A device
# maker provisions these too; tests that exercise the lockout itself set
# their own (EDGEKEY_TEST_DA=keep leaves swtpm's defaults).
if [ "${EDGEKEY_TEST_DA:-}" != keep ]; then
    TPM2TOOLS_TCTI="$tcti" tpm2_dictionarylockout --setup-parameters --max-tries=64 \
        --recovery-time=10 --lockout-recovery-time=1 >/dev/null 2>&1 ||
        { echo "tpm-env.sh: could not set the TPM's DA parameters" >&2; exit 1; }
fi
if [ "$mode" = abrmd ]; then
    dbus-daemon --session --nofork --nopidfile --print-address=3 \
        --address="unix:path=$tmp/dbus.sock" 3>"$tmp/dbus.addr" 2>"$tmp/dbus.log" &
    pids+=($!)
    for _ in $(seq 100); do [ -s "$tmp/dbus.addr" ] && break; sleep 0.05; done
    export DBUS_SESSION_BUS_ADDRESS
    DBUS_SESSION_BUS_ADDRESS=$(head -n1 "$tmp/dbus.addr")
    # A bus name of our own, so parallel suites never meet each other's abrmd.
    busname="com.edgekey.Tabrmd.p$port"
    tpm2-abrmd --session --allow-root --dbus-name="$busname" --tcti="$tcti" \
        --flush-all >"$tmp/abrmd.log" 2>&1 &
    pids+=($!)
    tcti="tabrmd:bus_type=session,bus_name=$busname"
    ok=0
    for _ in $(seq 100); do
        if TPM2TOOLS_TCTI="$tcti" tpm2_getcap properties-fixed >/dev/null 2>&1; then ok=1; break; fi
        sleep 0.1
    done
    [ $ok = 1 ] || { echo "tpm-env.sh: tpm2-abrmd did not come up" >&2; cat "$tmp/abrmd.log" >&2; exit 1; }
elif [ "$mode" != direct ]; then
    echo "tpm-env.sh: MODE must be direct or abrmd, not '$mode'" >&2
    exit 2
fi

export EDGEKEY_TCTI="$tcti" TPM2OPENSSL_TCTI="$tcti" TPM2TOOLS_TCTI="$tcti" TPM2_PKCS11_TCTI="$tcti"
export EDGEKEY_STORE="$tmp/store" EDGEKEY_CONF="$tmp/edgekey.conf"
export EDGEKEY_TEST_TMP="$tmp" EDGEKEY_TEST_MODE="$mode" EDGEKEY_SWTPM_PORT="$port"
EDGEKEY_TEST_PORT_BASE=$(ek_free_port_block 10)
export EDGEKEY_TEST_PORT_BASE

set +e
"$@"
rc=$?
set -e
if [ $rc -ne 0 ] && [ -s "$tmp/swtpm.log" ]; then
    echo "--- swtpm log (tail) ---" >&2
    tail -n 20 "$tmp/swtpm.log" >&2
fi
exit $rc
