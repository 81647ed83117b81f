#!/usr/bin/env bash
# Key attestation through the hub's operations (issue 13, acceptance 1-2):
# a file-key hub with ek_roots = the test maker CA that signed this swtpm's
# EK certificate (tpm-env.sh, EDGEKEY_TEST_EKCERT=1), two TPM keys with
# their CSRs, an unrelated CA for the untrusted case; the checks are in
# test_attest_ops.c (hub-test-attest-ops).
. "$(dirname "$0")/lib.sh"
[ -s "${EDGEKEY_TEST_EK_ROOTS:-}" ] || fail "no EK roots: run with EDGEKEY_TEST_EKCERT=1"
hub_config file file "ek_roots = $EDGEKEY_TEST_EK_ROOTS"
hub init >"$T/init.log" 2>&1 || { cat "$T/init.log"; fail "hub init"; }
for k in k1 k2; do
    edgekey keygen --label $k --alg ec-p256 >/dev/null || fail "keygen $k"
done
edgekey csr --key "pkcs11:token=edge;object=k1" --subject /CN=SN-1 --out "$T/k1.csr" || fail "csr k1"
edgekey csr --key "pkcs11:token=edge;object=k2" --subject /CN=SN-1 --out "$T/k2.csr" || fail "csr k2"
# the original attack: a software key's CSR under the serial
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=SN-1 \
    -keyout "$T/soft.key" -out "$T/soft.csr" 2>/dev/null || fail "software CSR"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=other-maker \
    -keyout "$T/other-ca.key" -out "$T/other-ca.pem" -days 2 2>/dev/null || fail "other CA"
"$EDGEKEY_BUILD/examples/hub/hub-test-attest-ops" "$HUB_CONF" "$T" >"$T/ops.out" ||
    { cat "$T/ops.out"; fail "attestation operations"; }
cat "$T/ops.out"
# device show prints the EK hash and attested: no after the ek-reset, and
# the hash is SHA-256 of the EK certificate's public key (openssl's view)
want=$(edgekey ek --out "$T/ek.pem" >/dev/null && openssl x509 -in "$T/ek.pem" -pubkey -noout |
    openssl pkey -pubin -outform DER | sha256sum | cut -c1-64 | tr a-f A-F)
grep -q "^EK $want\$" "$T/ops.out" || fail "the recorded EK hash is not SHA-256 of the EK's SPKI ($want)"
pass "attestation: genuine device, every refusal with its own code, nothing stored"
