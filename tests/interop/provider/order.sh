#!/usr/bin/env bash
# Issue 12, acceptance 4: provider order and property queries.
#
# Default first: mutual TLS 1.2 and 1.3 with the TPM key on the client and on
# the server, RSA-PSS, RSA PKCS#1 v1.5 (TLS 1.2: TLS 1.3 forbids it in
# CertificateVerify) and ECDSA P-256, each scheme forced by the peer's
# signature algorithm list. Edgekey first (tpm2-openssl's documented order):
# every one of these commands is refused when edgekey loads, with a message
# naming the order to use (before, TLS 1.2 with a P-256 client key ended in
# "sslv3 alert illegal parameter"). And a TPM key object verifies under an
# explicit "provider=default" query (ekp-propq).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/../../lib/pki.sh"
. "$here/lib.sh"
propq=${1:?usage: order.sh EKP_PROPQ}
refusal="must be loaded after the default provider"

pki=$T/pki
ek_pki_ca "$pki"
ek_pki_issue "$pki" server localhost "" server
ek_pki_issue "$pki" swclient swclient "" client
# An RSA server too: with edgekey first (before this refusal), a P-256 TPM
# client key against it ended in alert 47 (the server's "wrong curve").
openssl req -new -newkey rsa:2048 -nodes -keyout "$pki/rsasrv.key" -subj /CN=localhost \
    -out "$pki/rsasrv.csr" 2>/dev/null || fail "RSA server key"
ek_pki_sign_csr "$pki" "$pki/rsasrv.csr" "$pki/rsasrv.pem" server
for a in rsa ec; do
    if [ $a = rsa ]; then alg=(-algorithm RSA -pkeyopt bits:2048); else alg=(-algorithm EC -pkeyopt group:P-256); fi
    openssl genpkey "${EK_PROV_GEN[@]}" "${alg[@]}" -out "$T/$a.key" || fail "genpkey $a"
    ekp_is_tss2 "$T/$a.key"
    openssl req "${EK_PROV[@]}" -new -key "$T/$a.key" -subj "/CN=tpm$a" -out "$T/$a.csr" ||
        fail "CSR $a"
    ek_pki_sign_csr "$pki" "$T/$a.csr" "$T/$a-client.pem" client
    ek_pki_sign_csr "$pki" "$T/$a.csr" "$T/$a-server.pem" server
done

# 1. Property queries on a TPM key object (C test), and the refusal in C.
"$propq" "$T/rsa.key" "$T/ec.key" || fail "property queries on TPM key objects"
"$propq" refused || fail "edgekey loaded before default from C"

# 2. The tpm2-openssl habit, refused with the order to use.
ekp_must_fail "-provider default -provider edgekey" openssl genpkey "${EK_PROV_FIRST[@]}" \
    -algorithm EC -pkeyopt group:P-256 -out "$T/first.key"
[ ! -s "$T/first.key" ] || fail "genpkey with edgekey first wrote a key"
ekp_must_fail "$refusal" openssl req "${EK_PROV_FIRST[@]}" -new -key "$T/ec.key" -subj /CN=x \
    -out "$T/first.csr"
pass "edgekey before default refused when it loads, naming the order to use"

# sigalgs SCHEME: the TLS signature algorithm list that forces SCHEME;
# peer_type SCHEME: how s_client names it ("Peer signature type"), a regex
sigalgs() {
    case $1 in
    pss) echo rsa_pss_rsae_sha256 ;;
    pkcs1) echo RSA+SHA256 ;;
    ecdsa) echo ECDSA+SHA256 ;;
    esac
}
# (3.0 prints the key type, later releases may print the TLS name).
peer_type() {
    case $1 in
    pss) echo 'RSA-PSS|rsa_pss_rsae_sha256' ;;
    pkcs1) echo 'RSA|rsa_pkcs1_sha256' ;;
    ecdsa) echo 'ECDSA|ecdsa_secp256r1_sha256' ;;
    esac
}

# peer_sig client|server: the signature type of that side's CertificateVerify
# (or ServerKeyExchange): s_client prints the server's first; the -www page
# after "HTTP/1.0 200" carries s_server's view of the client's.
peer_sig() {
    if [ "$1" = server ]; then
        awk '/Peer signature type:/ { print; exit }' "$T/cli.out"
    else
        awk '/HTTP\/1.0 200/ { b = 1 } b && /Peer signature type:/ { print; exit }' "$T/cli.out"
    fi
}

# tpm_client ORDER SCHEME KEY VERSION / tpm_server ...: one handshake with the
# TPM key on that side. The software peer restricts the signature algorithms
# it accepts to SCHEME, so the TPM key must sign with it.
tpm_client() {
    local order=$1 s=$2 a=$3 v=$4 label="TPM client $2 $4 $1"
    ekp_order "$order"
    if [ "$order" = edgekey-first ]; then
        ekp_must_fail "$refusal" openssl s_client "${P[@]}" -cert "$T/$a-client.pem" \
            -key "$T/$a.key" "$v" -connect "127.0.0.1:1"
        pass "$label: refused when edgekey loads"
        return
    fi
    for srv in server rsasrv; do
        handshake "$label" -cert "$pki/$srv.pem" -key "$pki/$srv.key" \
            -client_sigalgs "$(sigalgs "$s")" "$v" -- \
            "${P[@]}" -cert "$T/$a-client.pem" -key "$T/$a.key" "$v" ||
            { cat "$T/cli.out" "$T/srv.out"; fail "$label ($srv): handshake failed"; }
        [[ $(peer_sig client) =~ :\ ($(peer_type "$s"))$ ]] ||
            { cat "$T/cli.out"; fail "$label: the client did not sign with $(peer_type "$s")"; }
        check "$label, $srv certificate" "$v" "tpm$a" localhost
    done
}

tpm_server() {
    local order=$1 s=$2 a=$3 v=$4 label="TPM server $2 $4 $1" other
    # -sigalgs also limits the client's own signature: add one the TPM
    # server's key type cannot use, for the software client's key.
    other=$([ "$a" = rsa ] && echo ECDSA+SHA256 || echo rsa_pss_rsae_sha256)
    ekp_order "$order"
    if [ "$order" = edgekey-first ]; then
        next_port
        ekp_must_fail "$refusal" timeout 30 openssl s_server "${P[@]}" -accept "$port" \
            -naccept 1 -cert "$T/$a-server.pem" -key "$T/$a.key" "$v" -www
        pass "$label: refused when edgekey loads"
        return
    fi
    handshake "$label" "${P[@]}" -cert "$T/$a-server.pem" -key "$T/$a.key" "$v" -- \
        -cert "$pki/swclient.pem" -key "$pki/swclient.key" -sigalgs "$(sigalgs "$s"):$other" "$v" ||
        { cat "$T/cli.out" "$T/srv.out"; fail "$label: handshake failed"; }
    [[ $(peer_sig server) =~ :\ ($(peer_type "$s"))$ ]] ||
        { cat "$T/cli.out"; fail "$label: the server did not sign with $(peer_type "$s")"; }
    check "$label" "$v" swclient "tpm$a"
}

for order in default-first edgekey-first; do
    for c in "pss rsa -tls1_2" "pss rsa -tls1_3" "pkcs1 rsa -tls1_2" \
        "ecdsa ec -tls1_2" "ecdsa ec -tls1_3"; do
        read -r s a v <<<"$c"
        tpm_client "$order" "$s" "$a" "$v"
        tpm_server "$order" "$s" "$a" "$v"
    done
done
