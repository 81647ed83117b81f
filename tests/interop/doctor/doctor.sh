#!/usr/bin/env bash
# Issue 11: `edgekey doctor` against a good set-up (exit 0) and against each
# broken one it diagnoses, one fault at a time: TPM down, TPM not started
# (swtpm without startup-clear, and never powered on), misspelled TCTI,
# provider missing, wrong provider order, PKCS#11 module unregistered (and
# tpm2-pkcs11 registered too), store unwritable, clock before the build,
# dictionary-attack lockout. Each case checks the exit code and that both the
# text and the --json output name the check with its status.
#
# p11-kit reads only the system module directory as root: every doctor run
# gets a private mount namespace in which a directory of ours is bound over
# /usr/share/p11-kit/modules (the pattern of tests/interop/pkcs11/ssh-proxy.sh).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/../cli/lib.sh"

[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for a private p11-kit module directory"; exit 77; }
unshare -m true 2>/dev/null || { echo "SKIP: unshare -m not permitted"; exit 77; }
p11sys=/usr/share/p11-kit/modules
mkdir -p "$T/p11-good" "$T/p11-none" "$T/p11-both"
printf 'module: %s\ncritical: no\n' "$EDGEKEY_BUILD/pkcs11/edgekey-pkcs11.so" >"$T/p11-good/edgekey.module"
cp "$T/p11-good/edgekey.module" "$T/p11-both/"
printf 'module: /usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so\ncritical: no\n' \
    >"$T/p11-both/tpm2_pkcs11.module"
P11DIR=$T/p11-good

# The good openssl.cnf: Debian's stock file plus the documented line.
cp /etc/ssl/openssl.cnf "$T/good.cnf"
echo ".include $EDGEKEY_BUILD/provider/openssl-edgekey-uninstalled.cnf" >>"$T/good.cnf"
# Given to doctor only: swtpm and tpm2-tools read openssl.cnf too, and must
# not load our (in sanitizer builds ASan-built) provider.
GOOD_CNF=$T/good.cnf

# doctor ARGS...: edgekey doctor in its own mount namespace with $P11DIR as
# p11-kit's module directory and the good openssl.cnf; env assignments may
# come first (env syntax; a later OPENSSL_CONF wins).
doctor() {
    unshare -m bash -c 'mount --bind "$1" "$2" && shift 2 && exec env "$@"' _ "$P11DIR" "$p11sys" \
        OPENSSL_CONF="$GOOD_CNF" "$@"
}

# dr_case WHAT CHECK STATUS RC [VAR=VALUE...] [-- DOCTOR-ARGS]
dr_case() {
    local what=$1 check=$2 st=$3 want=$4 vars=() args=()
    shift 4
    while [ $# -gt 0 ] && [ "$1" != -- ]; do vars+=("$1"); shift; done
    [ $# -gt 0 ] && shift && args=("$@")
    expect_rc "$want" doctor "${vars[@]}" edgekey doctor "${args[@]}"
    grep -Eq "^${st^^} +$check " "$T/out" ||
        { cat "$T/out"; fail "$what: text output has no '${st^^} $check' line"; }
    cp "$T/out" "$T/text.out"
    expect_rc "$want" doctor "${vars[@]}" edgekey doctor --json "${args[@]}"
    json_ok "$T/out"
    local got
    got=$(jq_ "$T/out" "[c['status'] for c in d['checks'] if c['check'] == '$check'][0]")
    [ "$got" = "$st" ] || { cat "$T/out"; fail "$what: --json says $check is '$got', not '$st'"; }
    [ "$(jq_ "$T/out" "d['exit_code']")" = "$want" ] || fail "$what: --json exit_code"
    pass "$what: $check $st, exit $want (text and --json)"
}
detail() { jq_ "$T/out" "[c['detail'] for c in d['checks'] if c['check'] == '$1'][0]"; }
fixof() { jq_ "$T/out" "[c.get('fix', '') for c in d['checks'] if c['check'] == '$1'][0]"; }

# --- the good set-up --------------------------------------------------------
if [ "$EDGEKEY_TEST_MODE" = direct ]; then
    dr_case "good set-up (swtpm, no resource manager)" resource-manager warn 0 -- --sign-test
    cp "$T/out" "$T/good.json"
    expect_rc 7 doctor edgekey doctor --strict
    pass "--strict: the exclusive-TCTI warning makes exit 7"
else
    dr_case "good set-up (tpm2-abrmd)" resource-manager ok 0 -- --sign-test
    cp "$T/out" "$T/good.json"
    expect_rc 0 doctor edgekey doctor --strict
fi
for c in tcti tpm-started lockout store provider openssl-cnf pkcs11 clock sign-test; do
    [ "$(jq_ "$T/good.json" "[c['status'] for c in d['checks'] if c['check'] == '$c'][0]")" = ok ] ||
        { cat "$T/good.json"; fail "good set-up: $c is not ok"; }
done
grep -q "0 failed" "$T/text.out" || fail "good set-up: text summary"
pass "good set-up: every check ok, sign test included"
no_leftovers

# --- TPM down, misspelled TCTI, TPM not started -------------------------------
free=$(ek_free_port_pair)
dr_case "TPM down (nothing listens)" tcti fail 4 "EDGEKEY_TCTI=swtpm:host=127.0.0.1,port=$free"
fixof tcti | grep -q "swtpm socket" || fail "TPM down: fix does not say how to start swtpm"
dr_case "misspelled TCTI" tcti fail 4 "EDGEKEY_TCTI=swtmp:host=127.0.0.1,port=$EDGEKEY_SWTPM_PORT"
detail tcti | grep -q "no TCTI library named 'swtmp'" || fail "misspelled TCTI: $(detail tcti)"
detail tcti | grep -q "environment EDGEKEY_TCTI" || fail "misspelled TCTI: source not named"
echo "tcti = swtmp:host=127.0.0.1,port=$EDGEKEY_SWTPM_PORT" >"$T/typo.conf"
dr_case "misspelled TCTI in the configuration file" tcti fail 4 "EDGEKEY_CONF=$T/typo.conf" \
    env -u EDGEKEY_TCTI
detail tcti | grep -q "file $T/typo.conf" || fail "TCTI from a file: source not named: $(detail tcti)"
fixof tcti | grep -q "device:/dev/tpmrm0" || fail "misspelled TCTI: fix names no valid TCTI"

bare_swtpm() { # FLAGS... -> $bare_tcti; a second swtpm of our own
    local d=$T/bare.$RANDOM p
    mkdir -p "$d"
    p=$(ek_free_port_pair)
    ek_bg swtpm socket --tpm2 --tpmstate dir="$d" --server type=tcp,port="$p",bindaddr=127.0.0.1 \
        --ctrl type=tcp,port=$((p + 1)),bindaddr=127.0.0.1 "$@"
    ek_wait_port "$p" || fail "bare swtpm did not start"
    bare_tcti="swtpm:host=127.0.0.1,port=$p"
}
bare_swtpm --flags not-need-init
dr_case "TPM not started (swtpm without startup-clear)" tpm-started fail 4 "EDGEKEY_TCTI=$bare_tcti"
fixof tpm-started | grep -q "tpm2_startup -c" || fail "not started: fix lacks tpm2_startup -c"
# doctor reported it and did not start it behind our back: still not started.
TPM2TOOLS_TCTI=$bare_tcti tpm2t tpm2_getcap properties-fixed >/dev/null 2>&1 &&
    fail "doctor started the TPM it was only to diagnose"
pass "the TPM is still not started after doctor"
bare_swtpm
dr_case "TPM never powered on (swtpm without not-need-init)" tpm-started fail 4 "EDGEKEY_TCTI=$bare_tcti"
detail tpm-started | grep -q "TPM_RC_FAILURE" || fail "never powered on: $(detail tpm-started)"

# --- OpenSSL: provider missing, wrong order ------------------------------------
mkdir -p "$T/empty-modules"
dr_case "provider missing (OPENSSL_MODULES empty)" provider fail 7 "OPENSSL_MODULES=$T/empty-modules"
detail provider | grep -q "OPENSSL_MODULES" || fail "provider missing: source not named"
cat >"$T/order.cnf" <<EOC
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
edgekey = edgekey_sect
default = default_sect
[default_sect]
activate = 1
[edgekey_sect]
module = $EDGEKEY_BUILD/provider/edgekey.so
activate = 1
EOC
dr_case "edgekey before default in openssl.cnf" openssl-cnf fail 7 "OPENSSL_CONF=$T/order.cnf"
detail openssl-cnf | grep -q "before default" || fail "wrong order: $(detail openssl-cnf)"
dr_case "openssl.cnf without edgekey (stock)" openssl-cnf warn 0 "OPENSSL_CONF=/etc/ssl/openssl.cnf"

# --- PKCS#11 ---------------------------------------------------------------------
P11DIR=$T/p11-none
dr_case "PKCS#11 module not registered" pkcs11 warn 0
expect_rc 7 doctor edgekey doctor --strict
P11DIR=$T/p11-both
dr_case "tpm2-pkcs11 registered too" pkcs11-others warn 0
detail pkcs11-others | grep -q "tpm2_pkcs11" || fail "others: $(detail pkcs11-others)"
P11DIR=$T/p11-good

# --- store -------------------------------------------------------------------------
chmod 0775 "$EDGEKEY_STORE"
dr_case "store writable by its group" store fail 6
chmod 0755 "$EDGEKEY_STORE"
if [ "$EDGEKEY_TEST_MODE" = direct ]; then
    # Another user (nobody) and a store owned by root: not writable by "us".
    chmod 0711 "$T"
    dr_case "store not writable by the user" store fail 6 \
        setpriv --reuid=65534 --regid=65534 --clear-groups
    chmod 0700 "$T"
    detail store | grep -q "not writable by you" || fail "unwritable store: $(detail store)"
fi

# --- device node (direct mode: a node of our own, in $T) ---------------------------
if [ "$EDGEKEY_TEST_MODE" = direct ]; then
    dr_case "device node missing" device fail 4 "EDGEKEY_TCTI=device:$T/no-tpm"
    detail device | grep -q "does not exist" || fail "missing node: $(detail device)"
    # A character device nobody may open (the numbers of /dev/null: harmless).
    mknod -m 0600 "$T/tpm-locked" c 1 3
    chmod 0711 "$T"
    dr_case "device node not accessible" device fail 4 "EDGEKEY_TCTI=device:$T/tpm-locked" \
        setpriv --reuid=65534 --regid=65534 --clear-groups
    chmod 0700 "$T"
    detail device | grep -q "root:root mode 0600) cannot be opened read-write by you" ||
        fail "locked node: $(detail device)"
    fixof device | grep -q "udev" || fail "locked node: fix $(fixof device)"
    rm -f "$T/tpm-locked"
fi

# --- clock -------------------------------------------------------------------------
if command -v faketime >/dev/null; then
    dr_case "clock before the build" clock fail 7 \
        "ASAN_OPTIONS=${ASAN_OPTIONS:-}:verify_asan_link_order=0" faketime '2001-01-01 00:00:00'
fi

# --- lockout (last: it leaves the TPM locked) ----------------------------------------
tpm2t tpm2_dictionarylockout --setup-parameters --max-tries=2 --recovery-time=600 \
    --lockout-recovery-time=600 >/dev/null || fail "tpm2_dictionarylockout --setup-parameters"
# Without a resource manager tpm2-tools leave their objects loaded: flush
# between the steps (swtpm has 3 slots).
fl() { tpm2t tpm2_flushcontext -t >/dev/null 2>&1 || true; }
fl
tpm2t tpm2_createprimary -C o -c "$T/prim.ctx" >/dev/null 2>"$T/tt.err" ||
    { cat "$T/tt.err"; fail "tpm2_createprimary"; }
echo secret | tpm2t tpm2_create -C "$T/prim.ctx" -p right -i- -u "$T/s.pub" -r "$T/s.priv" \
    >/dev/null 2>"$T/tt.err" || { cat "$T/tt.err"; fail "tpm2_create (DA-protected sealed object)"; }
fl
tpm2t tpm2_load -C "$T/prim.ctx" -u "$T/s.pub" -r "$T/s.priv" -c "$T/s.ctx" >/dev/null \
    2>"$T/tt.err" || { cat "$T/tt.err"; fail "tpm2_load"; }
for _ in 1 2; do
    tpm2t tpm2_unseal -c "$T/s.ctx" -p wrong >/dev/null 2>&1 && fail "wrong auth accepted"
    fl
done
dr_case "dictionary-attack lockout" lockout fail 5
detail lockout | grep -q "2 failed tries of max 2, recovery 600 s" || fail "lockout: $(detail lockout)"
fixof lockout | grep -q "tpm2_dictionarylockout --clear-lockout" || fail "lockout: no fix"
