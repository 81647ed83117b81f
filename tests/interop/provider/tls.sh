#!/usr/bin/env bash
# Issue 2, acceptance 3: mutual TLS with stock s_server / s_client where one
# side's key is in the TPM: TLS 1.2 and 1.3, RSA-2048 and EC P-256, TPM key on
# the client (software server) and on the server (software client). The
# server demands and verifies a client certificate (-Verify 1
# -verify_return_error) and we check the verified peer subject; a client
# without a certificate is refused.
#
# Provider order: default first, the only order edgekey loads in (order.sh
# checks the refusal of the other and PKCS#1 / PSS sigalgs in both orders).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/../../lib/pki.sh"
. "$here/lib.sh"
helper=${1:?usage: tls.sh EKP_HELPER}

pki=$T/pki
ek_pki_ca "$pki"
ek_pki_issue "$pki" server localhost "" server
ek_pki_issue "$pki" swclient swclient "" client
for a in rsa ec; do
    if [ $a = rsa ]; then alg=(-algorithm RSA -pkeyopt bits:2048); else alg=(-algorithm EC -pkeyopt group:P-256); fi
    openssl genpkey "${EK_PROV_GEN[@]}" "${alg[@]}" -out "$T/$a.key" || fail "genpkey $a"
    openssl req "${EK_PROV[@]}" -new -key "$T/$a.key" -subj "/CN=tpm$a" -out "$T/$a.csr" ||
        fail "CSR $a"
    ek_pki_sign_csr "$pki" "$T/$a.csr" "$T/$a-client.pem" client
    ek_pki_sign_csr "$pki" "$T/$a.csr" "$T/$a-server.pem" server
done

tls_case() { # ORDER KEY VERSION
    local order=$1 a=$2 v=$3
    ekp_order "$order"
    handshake "TPM client $a $v $order" -cert "$pki/server.pem" -key "$pki/server.key" "$v" -- \
        "${P[@]}" -cert "$T/$a-client.pem" -key "$T/$a.key" "$v" ||
        { cat "$T/cli.out" "$T/srv.out"; fail "TPM client $a $v $order: handshake failed"; }
    check "TPM client $a $v $order" "$v" "tpm$a" localhost
    handshake "TPM server $a $v $order" "${P[@]}" -cert "$T/$a-server.pem" -key "$T/$a.key" "$v" -- \
        -cert "$pki/swclient.pem" -key "$pki/swclient.key" "$v" ||
        { cat "$T/cli.out" "$T/srv.out"; fail "TPM server $a $v $order: handshake failed"; }
    check "TPM server $a $v $order" "$v" swclient "tpm$a"
}

for a in rsa ec; do
    for v in -tls1_2 -tls1_3; do
        tls_case default-first "$a" "$v"
    done
done

# RSA keys sign TLS 1.3 CertificateVerify with RSA-PSS (salt = digest length).
handshake "PSS" "${EK_PROV[@]}" -cert "$T/rsa-server.pem" -key "$T/rsa.key" -tls1_3 -- \
    -cert "$pki/swclient.pem" -key "$pki/swclient.key" -tls1_3 || fail "TLS 1.3 RSA server"
# "RSA-PSS" up to OpenSSL 3.1, the TLS name "rsa_pss_rsae_sha256" from 3.2
grep -Eq "Peer signature type: (RSA-PSS|rsa_pss_rsae_)" "$T/cli.out" ||
    fail "TLS 1.3 TPM RSA key did not sign RSA-PSS"
pass "TLS 1.3 CertificateVerify with the TPM RSA key is RSA-PSS"

# NIST-curve key exchange stays in software (default provider) while the TPM
# key signs: P-256 only on both sides.
for v in -tls1_2 -tls1_3; do
    handshake "P-256 ECDHE $v" -cert "$pki/server.pem" -key "$pki/server.key" -groups P-256 "$v" -- \
        "${EK_PROV[@]}" -groups P-256 -cert "$T/ec-client.pem" -key "$T/ec.key" "$v" ||
        { cat "$T/cli.out"; fail "P-256 ECDHE with a TPM client key ($v)"; }
    # OpenSSL 3.5 says "Peer Temp Key", and names the TLS 1.3 group on a line of its own
    grep -qE "((Server|Peer) Temp Key: ECDH, |Negotiated TLS1.3 group: )(P-256|prime256v1|secp256r1)" "$T/cli.out" ||
        fail "P-256 ECDHE $v: no P-256 key exchange"
    check "P-256 ECDHE, TPM EC client key $v" "$v" tpmec localhost
done

# Key and certificate both from the token by pkcs11: URI (the store loader
# returns the certificate stored next to the key).
openssl genpkey "${EK_PROV_GEN[@]}" -algorithm EC -pkeyopt group:P-256 \
    -pkeyopt edgekey-label:tlsdev -out "$T/tlsdev.key" || fail "genpkey into the token"
openssl req "${EK_PROV[@]}" -new -key 'pkcs11:token=edge;object=tlsdev' -subj /CN=tlsdev \
    -out "$T/tlsdev.csr" || fail "CSR by URI"
ek_pki_sign_csr "$pki" "$T/tlsdev.csr" "$T/tlsdev.pem" client
"$helper" put-cert edge tlsdev "$T/tlsdev.pem" || fail "store the certificate in the token"
openssl x509 "${EK_PROV[@]}" -in 'pkcs11:token=edge;object=tlsdev;type=cert' -noout -subject |
    grep -Eq "CN ?= ?tlsdev" || fail "certificate not loaded by pkcs11: URI"
for v in -tls1_2 -tls1_3; do
    handshake "URI key+cert $v" -cert "$pki/server.pem" -key "$pki/server.key" "$v" -- \
        "${EK_PROV[@]}" -cert 'pkcs11:token=edge;object=tlsdev;type=cert' \
        -key 'pkcs11:token=edge;object=tlsdev;type=private' "$v" ||
        { cat "$T/cli.out"; fail "TLS with key and certificate by pkcs11: URI ($v)"; }
    check "TPM client key and certificate by pkcs11: URI $v" "$v" tlsdev localhost
done

# A certificate for another key is refused locally (keymgmt match).
ekp_must_fail "key values mismatch" openssl s_client "${EK_PROV[@]}" -connect 127.0.0.1:1 \
    -cert "$pki/swclient.pem" -key "$T/ec.key"
pass "TPM key with a certificate for another key refused (key values mismatch)"

# A client without a certificate is refused.
for v in -tls1_2 -tls1_3; do
    if handshake "no client cert $v" -cert "$pki/server.pem" -key "$pki/server.key" "$v" -- "$v" &&
        grep -q "HTTP/1.0 200" "$T/cli.out"; then
        fail "server accepted a client without a certificate ($v)"
    fi
    grep -qiE "peer did not return a certificate|certificate required" "$T/srv.out" "$T/cli.out" ||
        { cat "$T/srv.out" "$T/cli.out"; fail "no 'certificate required' refusal ($v)"; }
    pass "client without a certificate refused ($v)"
done
