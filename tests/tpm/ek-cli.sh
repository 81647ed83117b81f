#!/usr/bin/env bash
# edgekey ek (issue 13): the EK certificate, its issuer, whether the TPM's EK
# is the certificate's key, and --roots verification: yes against the test
# manufacturer CA, no (exit 3) against a CA that did not sign it. Runs inside
# tests/lib/tpm-env.sh with EDGEKEY_TEST_EKCERT=1.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/common.sh"
[ -s "${EDGEKEY_TEST_EK_ROOTS:-}" ] || fail "no EK roots: run with EDGEKEY_TEST_EKCERT=1"

edgekey --json ek --roots "$EDGEKEY_TEST_EK_ROOTS" --out "$T/ek.pem" >"$T/ek.json" ||
    { cat "$T/ek.json"; fail "edgekey ek --roots (the test CA)"; }
python3 - "$T/ek.json" <<'PY' || fail "edgekey ek: wrong answer"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["kind"] == "rsa2048" and d["nv_index"] == "0x01c00002", d
assert d["certificate"]["issuer"] == "CN=swtpm-localca", d
assert d["ek_matches_certificate"] is True, d
assert d["verified"] == "yes", d
PY
openssl verify -CAfile "$EDGEKEY_TEST_EK_ROOTS" "$T/ek.pem" >/dev/null ||
    fail "--out wrote no certificate that openssl verifies"

# A CA of our own that never signed this EK: not verified, exit 3, reason given.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=other-maker \
    -keyout "$T/other.key" -out "$T/other.pem" -days 2 2>/dev/null || fail "openssl req"
rc=0
edgekey --json ek --roots "$T/other.pem" >"$T/bad.json" || rc=$?
[ $rc = 3 ] || { cat "$T/bad.json"; fail "untrusted roots: exit $rc, want 3"; }
grep -q '"verified": "no"' "$T/bad.json" && grep -q 'unable to get local issuer' "$T/bad.json" ||
    { cat "$T/bad.json"; fail "untrusted roots: no reason"; }

# Without the RSA certificate the P-384 one (0x01c00016, template H-3) is used.
tpm2_nvundefine -Q 0x01c00002 -C p 2>/dev/null || fail "tpm2_nvundefine 0x01c00002"
edgekey --json ek --roots "$EDGEKEY_TEST_EK_ROOTS" >"$T/p384.json" || { cat "$T/p384.json"; fail "edgekey ek (P-384)"; }
python3 - "$T/p384.json" <<'PY' || fail "edgekey ek: wrong P-384 answer"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["kind"] == "ec-p384" and d["nv_index"] == "0x01c00016", d
assert d["ek_matches_certificate"] is True and d["verified"] == "yes", d
PY

# No EK certificate at all: the indices gone, a clear not-found (exit 2).
tpm2_nvundefine -Q 0x01c00016 -C p 2>/dev/null || fail "tpm2_nvundefine 0x01c00016"
rc=0
edgekey ek >"$T/none.out" 2>"$T/none.err" || rc=$?
[ $rc = 2 ] || { cat "$T/none.err"; fail "no EK certificate: exit $rc, want 2"; }
grep -q "no EK certificate" "$T/none.err" || { cat "$T/none.err"; fail "no EK certificate: message"; }
pass "edgekey ek: certificate, issuer, EK match, --roots yes/no, P-384, no certificate"
