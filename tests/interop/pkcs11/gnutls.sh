#!/usr/bin/env bash
# Issue 3, acceptance 3: gnutls-cli with --x509keyfile 'pkcs11:...' does mutual
# TLS 1.3 and 1.2 to gnutls-serv --require-client-cert, RSA-2048 and EC P-256.
# Acceptance 2 (p11tool --generate-privkey) makes the keys.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/../../lib/pki.sh"
. "$here/p11-common.sh"

pki=$T/pki
ek_pki_ca "$pki"
ek_pki_issue "$pki" server localhost "" server
ek_p11_token tok1
tok="pkcs11:token=tok1"

p11tool --provider "$EK_P11" --login --generate-privkey rsa --bits 2048 --label tls-rsa \
    --outfile "$T/rsa.pub" "$tok" >/dev/null 2>&1 || fail "p11tool --generate-privkey rsa"
p11tool --provider "$EK_P11" --login --generate-privkey ecdsa --curve secp256r1 --label tls-ec \
    --outfile "$T/ec.pub" "$tok" >/dev/null 2>&1 || fail "p11tool --generate-privkey ecdsa"

cat >"$T/req.tmpl" <<T
cn = "edge device"
tls_www_client
signing_key
T
for k in rsa ec; do
    certtool --generate-request --provider "$EK_P11" --load-privkey "$tok;object=tls-$k;type=private" \
        --template "$T/req.tmpl" --outfile "$T/$k.csr" >/dev/null 2>&1 || fail "certtool CSR ($k)"
    openssl req -in "$T/$k.csr" -verify -noout 2>/dev/null || fail "CSR ($k) does not verify"
    ek_pki_sign_csr "$pki" "$T/$k.csr" "$T/$k.pem" client
done
pass "p11tool keys + certtool CSRs signed in the TPM"

port=$EDGEKEY_TEST_PORT_BASE
ek_bg gnutls-serv --require-client-cert --verify-client-cert --x509cafile "$pki/ca.pem" \
    --x509certfile "$pki/server.pem" --x509keyfile "$pki/server.key" -p "$port" --echo \
    >"$T/serv.log" 2>&1
ek_wait_port "$port" || { cat "$T/serv.log"; fail "gnutls-serv did not start"; }

for k in rsa ec; do
    for v in 1.3 1.2; do
        out=$(echo "ping-$k-$v" | gnutls-cli --provider "$EK_P11" --x509cafile "$pki/ca.pem" \
            --x509certfile "$T/$k.pem" --x509keyfile "$tok;object=tls-$k;type=private" \
            --priority "NORMAL:-VERS-ALL:+VERS-TLS$v" -p "$port" localhost 2>&1) ||
            { echo "$out"; tail -20 "$T/serv.log"; fail "gnutls-cli $k TLS $v"; }
        echo "$out" | grep -q "(TLS$v-X.509)" || { echo "$out"; fail "$k: not TLS $v"; }
        echo "$out" | grep -q "ping-$k-$v" || { echo "$out"; fail "$k TLS $v: no echo"; }
        pass "gnutls mutual TLS $v with the $k key in the TPM"
    done
done
grep -q "edge device" "$T/serv.log" || { cat "$T/serv.log"; fail "server never saw the client certificate"; }
