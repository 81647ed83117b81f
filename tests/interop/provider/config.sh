#!/usr/bin/env bash
# Issue 2, acceptance 9: with the sample docs/openssl.cnf activating default
# and edgekey for every program, stock commands that never use a TPM key
# behave as before and never reach the TPM: the TCTI points at a dead port,
# so any TPM access would fail. The same file then serves TPM keys, and its
# edgekey section's settings (tcti) are applied.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/../../lib/pki.sh"
. "$here/lib.sh"

cnf=$EDGEKEY_SRC/docs/openssl.cnf
[ -f "$cnf" ] || fail "no $cnf"
live=$EDGEKEY_TCTI
deadport=$((EDGEKEY_TEST_PORT_BASE + 9))
ek_port_in_use "$deadport" && fail "port $deadport is in use"
dead="swtpm:host=127.0.0.1,port=$deadport"

# A TPM key and a test PKI, made before the TPM "goes away".
openssl genpkey "${EK_PROV_GEN[@]}" -algorithm EC -pkeyopt group:P-256 -out "$T/tpm.key" ||
    fail "genpkey into the TPM"
pki=$T/pki
ek_pki_ca "$pki"
ek_pki_issue "$pki" server localhost "" server
ek_pki_issue "$pki" client swclient "" client

export OPENSSL_CONF=$cnf EDGEKEY_TCTI=$dead
openssl list -providers >"$T/providers.txt"
grep -A3 "^  edgekey" "$T/providers.txt" | grep -q "status: active" ||
    { cat "$T/providers.txt"; fail "edgekey not active from $cnf"; }
grep -A3 "^  default" "$T/providers.txt" | grep -q "status: active" || fail "default not active"
pass "docs/openssl.cnf activates default and edgekey"

# Software keys stay software keys.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$T/sw-rsa.key" ||
    fail "genpkey RSA with edgekey active"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/sw-ec.key" ||
    fail "genpkey EC with edgekey active"
for k in sw-rsa sw-ec; do
    head -n1 "$T/$k.key" | grep -qx -- "-----BEGIN PRIVATE KEY-----" ||
        fail "$k is not a software PRIVATE KEY"
    openssl req -new -x509 -key "$T/$k.key" -subj "/CN=$k" -days 1 -out "$T/$k.pem" ||
        fail "self-signed certificate with $k"
    openssl verify -CAfile "$T/$k.pem" "$T/$k.pem" >/dev/null || fail "verify $k certificate"
done
openssl pkey -in "$T/sw-rsa.key" -text -noout | grep -q privateExponent ||
    fail "software key text lost its private part"
pass "genpkey makes software keys; req, x509, verify work"

# Digests, random numbers, ciphers.
head -c 65536 /dev/urandom >"$T/data"
[ "$(openssl dgst -sha256 -r "$T/data" | cut -d' ' -f1)" = "$(sha256sum "$T/data" | cut -d' ' -f1)" ] ||
    fail "openssl dgst -sha256 differs from sha256sum"
[ "$(openssl rand -hex 32 | tr -d '\n' | wc -c)" = 64 ] || fail "openssl rand"
openssl enc -aes-256-cbc -pbkdf2 -pass pass:x -in "$T/data" -out "$T/data.enc" &&
    openssl enc -d -aes-256-cbc -pbkdf2 -pass pass:x -in "$T/data.enc" | cmp -s - "$T/data" ||
    fail "openssl enc round trip"
pass "dgst -sha256, rand, enc"

# A software mutual-TLS handshake (TLS 1.2 and 1.3, P-256 key exchange too).
port=$EDGEKEY_TEST_PORT_BASE
for v in -tls1_2 -tls1_3; do
    openssl s_server -accept "$port" -naccept 1 -cert "$pki/server.pem" -key "$pki/server.key" \
        -CAfile "$pki/ca.pem" -Verify 1 -verify_return_error -groups P-256:X25519 -www "$v" \
        >"$T/srv.out" 2>&1 &
    sp=$!
    ek_wait_port "$port" || fail "s_server did not start"
    printf 'GET / HTTP/1.0\r\n\r\n' | timeout 30 openssl s_client -connect "127.0.0.1:$port" \
        -CAfile "$pki/ca.pem" -cert "$pki/client.pem" -key "$pki/client.key" -groups P-256 \
        -verify_return_error -ign_eof "$v" >"$T/cli.out" 2>&1 ||
        { cat "$T/cli.out" "$T/srv.out"; fail "software handshake $v"; }
    wait "$sp"
    grep -q "Verification: OK" "$T/cli.out" || fail "software handshake $v: server not verified"
    # "CN = x" up to OpenSSL 3.1, "CN=x" from 3.2 (the compat suite runs 3.5)
    grep -Eq "depth=0 CN ?= ?swclient" "$T/srv.out" || fail "software handshake $v: client not verified"
    port=$((port + 1))
done
pass "software mutual TLS 1.2 and 1.3 handshakes"

# The TPM really is unreachable: a TPM key operation fails (and says why).
ekp_must_fail "cannot reach the TPM" openssl req -new -key "$T/tpm.key" -subj /CN=dead -out "$T/dead.csr"
pass "everything above ran without the TPM (a TPM key operation fails)"

# The same with the live TPM behind a capturing TCTI: the TPM sees no command.
cap=$T/none.pcap
(
    export EDGEKEY_TCTI="pcap:$live" TCTI_PCAP_FILE=$cap
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/sw2.key" &&
        openssl req -new -x509 -key "$T/sw2.key" -subj /CN=sw2 -days 1 -out "$T/sw2.pem" &&
        openssl dgst -sha256 "$T/data" >/dev/null && openssl rand -hex 8 >/dev/null
) || fail "software commands with the capturing TCTI"
if [ -e "$cap" ] && [ "$(python3 "$EDGEKEY_SRC/tests/lib/tpm-pcap.py" total "$cap")" != 0 ]; then
    python3 "$EDGEKEY_SRC/tests/lib/tpm-pcap.py" count "$cap" >&2
    fail "the TPM saw commands from programs that use no TPM key"
fi
pass "no TPM command from programs that use no TPM key (capturing TCTI)"

# The same file serves TPM keys with no -provider options...
EDGEKEY_TCTI=$live openssl req -new -key "$T/tpm.key" -subj /CN=cnf -out "$T/cnf.csr" ||
    fail "req with the TPM key through docs/openssl.cnf"
OPENSSL_CONF=/dev/null ekp_verify_csr "$T/cnf.csr"
pass "TPM key through docs/openssl.cnf"

# ...and its edgekey section's settings win over the environment.
{ cat "$cnf"; echo "tcti = $live"; } >"$T/live.cnf"
OPENSSL_CONF=$T/live.cnf EDGEKEY_TCTI=$dead openssl req -new -key "$T/tpm.key" -subj /CN=p \
    -out "$T/p.csr" || fail "tcti from the openssl.cnf edgekey section"
{ cat "$cnf"; echo "tcti = $dead"; } >"$T/dead.cnf"
OPENSSL_CONF=$T/dead.cnf EDGEKEY_TCTI=$live ekp_must_fail "cannot reach the TPM" \
    openssl req -new -key "$T/tpm.key" -subj /CN=p -out "$T/p.csr"
pass "openssl.cnf edgekey section: tcti applied"
