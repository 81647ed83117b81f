# A throw-away test PKI made with stock openssl (software keys). Sourced.
#
#   ek_pki_ca DIR                      -> DIR/ca.key DIR/ca.pem
#   ek_pki_issue DIR NAME CN [SAN] [KIND]  software key DIR/NAME.key + DIR/NAME.pem
#   ek_pki_sign_csr DIR CSR OUT [KIND]     certificate for a CSR (e.g. TPM key's)
# KIND is "client" (default) or "server"; server certs get SAN (default
# DNS:localhost,IP:127.0.0.1). Uses only the default provider.

ek_pki_ext() {
    local kind=$1 san=${2:-DNS:localhost,IP:127.0.0.1}
    if [ "$kind" = server ]; then
        printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' "$san"
    else
        printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n'
    fi
}

ek_pki_ca() {
    local d=$1
    mkdir -p "$d"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$d/ca.key" -out "$d/ca.pem" -days 30 -subj "/O=edgekey test/CN=Test CA" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
        2>/dev/null
}

ek_pki_sign_csr() {
    local d=$1 csr=$2 out=$3 kind=${4:-client} san=${5:-}
    ek_pki_ext "$kind" "$san" >"$out.ext"
    openssl x509 -req -in "$csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
        -days 7 -sha256 -extfile "$out.ext" -out "$out" 2>/dev/null
}

ek_pki_issue() {
    local d=$1 name=$2 cn=$3 san=${4:-} kind=${5:-server}
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$d/$name.key" -out "$d/$name.csr" -subj "/CN=$cn" 2>/dev/null
    ek_pki_sign_csr "$d" "$d/$name.csr" "$d/$name.pem" "$kind" "$san"
}

# An openssl.cnf that activates default and then edgekey for every program
# (the order docs/openssl.cnf recommends).
ek_openssl_cnf() {
    local out=$1
    cat >"$out" <<EOF
openssl_conf = openssl_init
[openssl_init]
providers = provider_sect
[provider_sect]
default = default_sect
edgekey = edgekey_sect
[default_sect]
activate = 1
[edgekey_sect]
module = $EDGEKEY_BUILD/provider/edgekey.so
activate = 1
EOF
}
