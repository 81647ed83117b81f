# Shared set-up for the PKCS#11 interop tests. Sourced after tests/lib/common.sh.
#
#   EK_P11        the module (build/pkcs11/edgekey-pkcs11.so)
#   p11 ARGS...   pkcs11-tool --module EK_P11 ARGS...
#   ek_p11_token LABEL   initialise a PIN token (SO PIN $EK_SO_PIN, user PIN $EK_PIN)
EK_P11=$EDGEKEY_BUILD/pkcs11/edgekey-pkcs11.so
[ -f "$EK_P11" ] || fail "module not built: $EK_P11"
EK_PIN=1234
EK_SO_PIN=12345678
export GNUTLS_PIN=$EK_PIN GNUTLS_SO_PIN=$EK_SO_PIN

p11() { pkcs11-tool --module "$EK_P11" "$@"; }

# The free slot is the highest-numbered one; C_InitToken there makes a token.
ek_p11_free_slot() {
    p11 --list-slots | awk '/^Slot [0-9]+ .*free slot/ {print $2}' | tail -n1
}

ek_p11_token() {
    local label=$1 slot
    slot=$(ek_p11_free_slot)
    [ -n "$slot" ] || fail "no free slot to initialise $label"
    p11 --init-token --slot "$slot" --label "$label" --so-pin "$EK_SO_PIN" >/dev/null ||
        fail "C_InitToken $label"
    p11 --token-label "$label" --login --login-type so --so-pin "$EK_SO_PIN" \
        --init-pin --pin "$EK_PIN" >/dev/null || fail "C_InitPIN $label"
}

# ek_p11_pubkey TOKEN IDHEX OUT.pem: the public key as PEM, through p11tool
# (pkcs11-tool 0.23 --read-object fails on P-384 keys of any module).
ek_p11_pubkey() {
    local id
    id=$(echo "$2" | sed 's/../%&/g')
    p11tool --provider "$EK_P11" --export-pubkey "pkcs11:token=$1;id=$id;type=public" \
        --outfile "$3" >/dev/null 2>&1
}
