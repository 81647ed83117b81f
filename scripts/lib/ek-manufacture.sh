# Make a software TPM the way a TPM maker does (issue 13): swtpm_setup
# --create-ek-cert writes RSA-2048 and P-384 EKs (persisted) and their EK
# certificates (NV 0x01c00002, 0x01c00016), signed by a swtpm-localca whose
# configuration, keys and certificates all live in CA_DIR; the system's
# /etc/swtpm-localca.conf and /var/lib/swtpm-localca are never used.
#
#   ek_manufacture STATE_DIR CA_DIR   (before swtpm starts on STATE_DIR)
#
# Sets EK_ROOTS to CA_DIR/roots.pem (the test maker's root + issuing CA).
# Returns non-zero with the setup log on stderr if swtpm_setup fails.
ek_manufacture() {
    local state=$1 ca=$2
    mkdir -p "$state" "$ca/state"
    printf 'statedir = %s\nsigningkey = %s\nissuercert = %s\ncertserial = %s\n' \
        "$ca/state" "$ca/state/signkey.pem" "$ca/state/issuercert.pem" \
        "$ca/state/certserial" >"$ca/localca.conf"
    printf -- '--platform-manufacturer edgekey-test\n--platform-version 2.1\n--platform-model swtpm\n' \
        >"$ca/localca.options"
    printf 'create_certs_tool = %s\ncreate_certs_tool_config = %s\ncreate_certs_tool_options = %s\nactive_pcr_banks = sha256\n' \
        "$(command -v swtpm_localca)" "$ca/localca.conf" "$ca/localca.options" >"$ca/setup.conf"
    # TMPDIR: swtpm_setup's own scratch directory stays inside CA_DIR too
    if ! TMPDIR="$ca" swtpm_setup --tpm2 --tpmstate "$state" --create-ek-cert \
        --config "$ca/setup.conf" --logfile "$ca/setup.log" >/dev/null 2>&1; then
        echo "swtpm_setup --create-ek-cert failed:" >&2
        cat "$ca/setup.log" >&2
        return 1
    fi
    cat "$ca/state/swtpm-localca-rootca-cert.pem" "$ca/state/issuercert.pem" >"$ca/roots.pem"
    EK_ROOTS=$ca/roots.pem
}
