#!/usr/bin/env bash
# Issue 11, item 1: the openssl.cnf steps, applied to a COPY of Debian 12's
# stock /etc/ssl/openssl.cnf (never the real one; OPENSSL_CONF points at the
# copy).
#   1. The old docs' merge steps (edgekey = edgekey_sect under [openssl_init])
#      stop `openssl list -providers` (the bug), and doctor names it.
#   2. The documented step (one `.include` of the drop-in at the end) and
#      `edgekey doctor --fix-openssl-cnf` give a file where openssl lists
#      default and edgekey active, doctor says OK, and with it curl and
#      mosquitto_pub use a TPM key for mutual TLS. OPENSSL_MODULES is unset
#      for those: the drop-in's module= path finds the provider.
#   3. --fix-openssl-cnf: diff first, nothing written unless --yes; a backup;
#      a link stays a link; /dev/null refused; a second run has nothing to do.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/../../lib/pki.sh"
. "$here/../cli/lib.sh"

stock=/etc/ssl/openssl.cnf
want=$(dpkg-query -W -f='${Conffiles}\n' openssl 2>/dev/null | awk -v f=$stock '$1 == f {print $2}')
have=$(md5sum <"$stock" | cut -d' ' -f1)
if [ -z "$want" ] || [ "$want" != "$have" ]; then
    echo "SKIP: $stock is not Debian's stock file (dpkg md5 '$want', file '$have')"
    exit 77
fi
pass "$stock is Debian's stock conffile (md5 $have)"

dropin=$EDGEKEY_BUILD/provider/openssl-edgekey-uninstalled.cnf
export EDGEKEY_OPENSSL_DROPIN=$dropin
grep -qx "module = $EDGEKEY_BUILD/provider/edgekey.so" "$dropin" || fail "build-tree drop-in names no module"
inst=$(awk '$1 == "module" {print $3}' "$EDGEKEY_BUILD/provider/openssl-edgekey.cnf")
case $inst in /*/edgekey.so) pass "installed drop-in names $inst" ;; *) fail "installed drop-in: module '$inst'" ;; esac
# ossl: openssl with OPENSSL_CONF=$1 and no OPENSSL_MODULES
ossl() { local c=$1; shift; env -u OPENSSL_MODULES OPENSSL_CONF="$c" openssl "$@"; }
active() { ossl "$1" list -providers 2>&1 | awk '/^  [a-z]/ {p=$1} /status: active/ {print p}' | tr '\n' ' '; }
doctor_check() { # FILE CHECK -> status of CHECK in doctor --json with OPENSSL_CONF=FILE
    set +e
    OPENSSL_CONF=$1 edgekey doctor --json >"$T/dr.json" 2>/dev/null
    set -e
    jq_ "$T/dr.json" "[c['status'] for c in d['checks'] if c['check'] == '$2'][0]"
}

# 1. The old docs, followed literally on Debian's file: [provider_sect] is
# commented out there, so the line lands under [openssl_init].
cp "$stock" "$T/old.cnf"
sed -i 's/^\[openssl_init\]$/[openssl_init]\nedgekey = edgekey_sect/' "$T/old.cnf"
printf '\n[edgekey_sect]\nactivate = 1\n' >>"$T/old.cnf"
if ossl "$T/old.cnf" list -providers >"$T/old.out" 2>&1; then
    fail "the old docs' steps did not break openssl list -providers"
fi
grep -q "module=edgekey" "$T/old.out" || { cat "$T/old.out"; fail "unexpected failure"; }
pass "old docs' steps: openssl list -providers fails ($(grep -o 'unknown module name' "$T/old.out" | head -1))"
[ "$(doctor_check "$T/old.cnf" openssl-cnf)" = fail ] || fail "doctor does not flag the old form"
grep -q '"fix": "edgekey doctor --fix-openssl-cnf' "$T/dr.json" || fail "doctor gives no fix for it"
pass "doctor: openssl-cnf FAIL on the old form, fix --fix-openssl-cnf"

# 2a. The documented step: one line at the end.
cp "$stock" "$T/doc.cnf"
echo ".include $dropin" >>"$T/doc.cnf"
[ "$(active "$T/doc.cnf")" = "default edgekey " ] ||
    { ossl "$T/doc.cnf" list -providers || true; fail "documented step: not 'default edgekey' active"; }
pass "documented step: openssl list -providers shows default, then edgekey, active"
[ "$(doctor_check "$T/doc.cnf" openssl-cnf)" = ok ] || { cat "$T/dr.json"; fail "doctor: not ok"; }
pass "doctor: openssl-cnf OK on the documented file"

# 2b. --fix-openssl-cnf on a fresh copy, and on the old form.
cp "$stock" "$T/fix.cnf"
expect_rc 1 edgekey doctor --fix-openssl-cnf "$T/fix.cnf" </dev/null
grep -q "^+.include $dropin" "$T/out" || fail "no diff shown"
cmp -s "$stock" "$T/fix.cnf" || fail "written without --yes"
grep -q "not applied" "$T/err" || fail "no 'not applied' message"
pass "--fix-openssl-cnf without --yes: diff shown, nothing written, exit 1"
# On a terminal it asks; 'n' writes nothing, 'y' writes (script(1) gives it a pty).
if command -v script >/dev/null; then
    cp "$stock" "$T/tty.cnf"
    printf 'n\n' | script -qec "edgekey doctor --fix-openssl-cnf '$T/tty.cnf'" /dev/null \
        >"$T/tty.out" 2>&1 && fail "answer n: exit 0"
    grep -q "Apply this change" "$T/tty.out" || fail "no question on the terminal"
    cmp -s "$stock" "$T/tty.cnf" || fail "answer n: the file was written"
    printf 'y\n' | script -qec "edgekey doctor --fix-openssl-cnf '$T/tty.cnf'" /dev/null \
        >"$T/tty.out" 2>&1 || { cat "$T/tty.out"; fail "answer y: failed"; }
    [ "$(tail -n1 "$T/tty.cnf")" = ".include $dropin" ] || fail "answer y: not written"
    pass "on a terminal: 'n' writes nothing, 'y' applies"
fi
cp "$stock" "$T/json.cnf"
ok edgekey doctor --fix-openssl-cnf "$T/json.cnf" --yes --json
json_ok "$T/out"
[ "$(jq_ "$T/out" "d['result']")" = applied ] || fail "--json result: $(cat "$T/out")"
[ "$(jq_ "$T/out" "d['backup']")" = "$T/json.cnf.edgekey-bak" ] || fail "--json backup"
pass "--json: result applied, backup named"
ln -s fix.cnf "$T/link.cnf"
ok edgekey doctor --fix-openssl-cnf "$T/link.cnf" --yes
[ -L "$T/link.cnf" ] || fail "the link was replaced"
cmp -s "$stock" "$T/fix.cnf.edgekey-bak" || fail "backup differs from the original"
head -c "$(stat -c %s "$stock")" "$T/fix.cnf" | cmp -s - "$stock" || fail "the stock text was changed"
[ "$(tail -n1 "$T/fix.cnf")" = ".include $dropin" ] || fail "no .include at the end"
[ "$(stat -c %a "$T/fix.cnf")" = "$(stat -c %a "$stock")" ] || fail "mode changed"
pass "--yes through a link: target edited, link kept, backup equals the original"
ok edgekey doctor --fix-openssl-cnf "$T/fix.cnf"
grep -q "nothing to do" "$T/out" || fail "second run: $(cat "$T/out")"
pass "second run: nothing to do"
[ "$(active "$T/fix.cnf")" = "default edgekey " ] || fail "fixed file: not 'default edgekey' active"
ok edgekey doctor --fix-openssl-cnf "$T/old.cnf" --yes
grep -q "^-edgekey = edgekey_sect" "$T/out" || fail "the old line was not removed"
[ "$(active "$T/old.cnf")" = "default edgekey " ] || fail "old form repaired: not 'default edgekey'"
pass "--fix-openssl-cnf repairs the old form: default and edgekey active"
# The line at the top instead of the end: the stock lines after it land in
# the drop-in's last section, and nothing is activated. doctor warns; the
# fix moves the line to the end.
{ echo ".include $dropin"; cat "$stock"; } >"$T/top.cnf"
[ "$(active "$T/top.cnf")" = "default " ] || fail "top include: expected default only"
[ "$(doctor_check "$T/top.cnf" openssl-cnf)" = warn ] || fail "doctor: top include not flagged"
ok edgekey doctor --fix-openssl-cnf "$T/top.cnf" --yes
[ "$(active "$T/top.cnf")" = "default edgekey " ] || fail "top include: not repaired"
pass "an .include at the top activates nothing; doctor warns, --fix moves it to the end"
expect_rc 1 edgekey doctor --fix-openssl-cnf /dev/null --yes
[ -c /dev/null ] || fail "/dev/null is no longer a device"
grep -q "not a regular file" "$T/err" || fail "refusal does not say why"
pass "/dev/null refused: not a regular file"

# 3. Stock programs with a TPM key through the documented file.
pki=$T/pki
ek_pki_ca "$pki"
ek_pki_issue "$pki" server localhost "" server
ek_pki_issue "$pki" sub subscriber "" client
ossl "$T/doc.cnf" genpkey -propquery provider=edgekey -algorithm EC -pkeyopt group:P-256 \
    -out "$T/dev.key" || fail "genpkey into the TPM through the documented file"
grep -q "BEGIN TSS2 PRIVATE KEY" "$T/dev.key" || fail "no TSS2 key"
ossl "$T/doc.cnf" req -new -key "$T/dev.key" -subj /CN=tpmdev -out "$T/dev.csr" || fail "CSR"
ek_pki_sign_csr "$pki" "$T/dev.csr" "$T/dev.pem" client

port=$EDGEKEY_TEST_PORT_BASE
openssl s_server -accept "$port" -naccept 1 -CAfile "$pki/ca.pem" -Verify 1 -verify_return_error \
    -www -cert "$pki/server.pem" -key "$pki/server.key" >"$T/srv.out" 2>&1 &
srv=$!
ek_wait_port "$port" || { cat "$T/srv.out"; fail "s_server did not start"; }
# curl is not among common.sh's wrappers: it gets the ASan runtime here,
# since the openssl.cnf makes it load our (ASan-built) provider.
env -u OPENSSL_MODULES OPENSSL_CONF="$T/doc.cnf" ${EK_ASAN_PRELOAD:+LD_PRELOAD=$EK_ASAN_PRELOAD} \
    curl -sS --max-time 60 --cacert "$pki/ca.pem" --cert "$T/dev.pem" --key "$T/dev.key" \
    "https://localhost:$port/" >"$T/curl.out" 2>"$T/curl.err" ||
    { cat "$T/curl.err" "$T/srv.out"; kill $srv 2>/dev/null; fail "curl with the TPM key"; }
wait $srv || true
grep -q "depth=0 CN = tpmdev" "$T/srv.out" || { cat "$T/srv.out"; fail "server did not verify CN=tpmdev"; }
pass "curl: mutual TLS with the TPM key, verified by the server"

port=$((EDGEKEY_TEST_PORT_BASE + 1))
cat >"$T/mosquitto.conf" <<EOC
per_listener_settings false
allow_anonymous true
log_dest stderr
$([ "$(id -u)" = 0 ] && echo "user root")
listener $port 127.0.0.1
cafile $pki/ca.pem
certfile $pki/server.pem
keyfile $pki/server.key
require_certificate true
EOC
ek_bg mosquitto -c "$T/mosquitto.conf" 2>"$T/mosquitto.log"
ek_wait_port "$port" || { cat "$T/mosquitto.log"; fail "broker did not start"; }
mosquitto_sub -h 127.0.0.1 -p "$port" --cafile "$pki/ca.pem" --cert "$pki/sub.pem" \
    --key "$pki/sub.key" -t doctor/t -C 1 -W 30 >"$T/sub.out" 2>"$T/sub.err" &
sub=$!
sleep 0.5
env -u OPENSSL_MODULES OPENSSL_CONF="$T/doc.cnf" mosquitto_pub -h 127.0.0.1 -p "$port" \
    --cafile "$pki/ca.pem" --cert "$T/dev.pem" --key "$T/dev.key" -t doctor/t -m "tpm $$" -q 1 \
    2>"$T/pub.err" || { cat "$T/pub.err" "$T/mosquitto.log"; kill $sub; fail "mosquitto_pub"; }
wait $sub || { cat "$T/sub.err"; fail "subscriber got nothing"; }
grep -qx "tpm $$" "$T/sub.out" || fail "wrong message: $(cat "$T/sub.out")"
pass "mosquitto_pub: mutual TLS with the TPM key, message delivered"
