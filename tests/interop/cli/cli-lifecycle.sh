#!/usr/bin/env bash
# The operator's key life cycle with the edgekey CLI, checked by stock openssl:
# keygen (RSA-2048 and EC P-256) -> list -> csr (verified by `openssl req
# -verify`, default provider only) -> a test CA issues certificates -> cert
# import -> list/cert show -> a certificate for another key is refused ->
# export-ref -> delete. Every command's --json output must be valid JSON.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/../../lib/pki.sh"
. "$here/lib.sh"

pki=$T/pki
ek_pki_ca "$pki"
# Plain openssl, default provider only: no edgekey in the verifying path.
export OPENSSL_CONF=/dev/null

# --- keygen ---------------------------------------------------------------
ok edgekey keygen --label dev-rsa --alg rsa2048
uri_rsa=$(head -n1 "$T/out")
[ "$uri_rsa" = "pkcs11:token=edge;object=dev-rsa;type=private" ] || fail "keygen printed '$uri_rsa'"
ok edgekey --json keygen --label dev-ec --token edge --alg ec-p256
json_ok "$T/out"
uri_ec=$(jq_ "$T/out" 'd["uri"]')
[ "$(jq_ "$T/out" 'd["alg"]')" = ec-p256 ] || fail "keygen --json alg"
[ "$(jq_ "$T/out" 'd["handle"]')" = None ] || fail "keygen without --persist has a handle"
id_ec=$(jq_ "$T/out" 'd["id"]')
pass "keygen rsa2048 -> $uri_rsa; ec-p256 -> $uri_ec (id $id_ec)"

expect_rc 7 edgekey keygen --label dev-rsa --alg rsa2048
grep -q "already exists" "$T/err" || fail "duplicate label: $(cat "$T/err")"
pass "duplicate label refused: $(cat "$T/err")"

# --- list -----------------------------------------------------------------
ok edgekey list
grep -q "^token edge" "$T/out" || fail "list: no token edge"
grep -q "key dev-rsa  rsa2048" "$T/out" || { cat "$T/out"; fail "list: dev-rsa missing"; }
grep -q "key dev-ec  ec-p256" "$T/out" || { cat "$T/out"; fail "list: dev-ec missing"; }
grep -qF "uri  $uri_rsa" "$T/out" || fail "list: URI of dev-rsa missing"
ok edgekey list --json
json_ok "$T/out"
[ "$(jq_ "$T/out" 'sorted(o["label"] for t in d["tokens"] for o in t["objects"])')" = "['dev-ec', 'dev-rsa']" ] ||
    fail "list --json labels: $(cat "$T/out")"
[ "$(jq_ "$T/out" '[o["id"] for o in d["tokens"][0]["objects"] if o["label"]=="dev-ec"][0]')" = "$id_ec" ] ||
    fail "list --json id differs from keygen's"
pass "list (human and --json) shows both keys"

# --- csr ------------------------------------------------------------------
for k in rsa ec; do
    ok edgekey csr --key "pkcs11:token=edge;object=dev-$k" --subject "/C=DE/O=edgekey test/CN=dev-$k" \
        --san DNS:dev-$k.example --san IP:192.0.2.7 --out "$T/dev-$k.csr"
    openssl req -in "$T/dev-$k.csr" -verify -noout 2>"$T/verify.err" ||
        { cat "$T/verify.err"; fail "openssl req -verify rejects the $k CSR"; }
    openssl req -in "$T/dev-$k.csr" -noout -subject | grep -q "CN *= *dev-$k" || fail "$k CSR subject"
    openssl req -in "$T/dev-$k.csr" -noout -text | grep -q "DNS:dev-$k.example, IP Address:192.0.2.7" ||
        fail "$k CSR lacks the SAN"
    ek_pki_sign_csr "$pki" "$T/dev-$k.csr" "$T/dev-$k.pem" client || fail "CA refused the $k CSR"
done
openssl req -in "$T/dev-rsa.csr" -noout -text | grep -q "sha256WithRSAEncryption" || fail "RSA CSR sig alg"
openssl req -in "$T/dev-ec.csr" -noout -text | grep -q "ecdsa-with-SHA256" || fail "EC CSR sig alg"
# The CSR's public key is the TPM key's: the same as a CSR made through the
# provider would carry; compare with the key in the store by the cert later.
ok edgekey --json csr --key "$uri_ec" --subject /CN=json
json_ok "$T/out"
jq_ "$T/out" 'd["pem"]' >"$T/json.csr"
openssl req -in "$T/json.csr" -verify -noout 2>/dev/null || fail "csr --json PEM does not verify"
ok edgekey csr --key "$uri_rsa" --subject /CN=stdout
openssl req -in "$T/out" -verify -noout 2>/dev/null || fail "csr to stdout does not verify"
pass "csr (RSA PKCS#1 and ECDSA, with SAN) accepted by openssl req -verify; CA issued both"

# --- cert import / show ---------------------------------------------------
ok edgekey cert import --key "$uri_rsa" "$T/dev-rsa.pem"
openssl x509 -in "$T/dev-ec.pem" -outform DER -out "$T/dev-ec.der"
ok edgekey --json cert import --key "$uri_ec" "$T/dev-ec.der"
json_ok "$T/out"
[ "$(jq_ "$T/out" 'd["certificate"]["subject"]')" = "CN=dev-ec,O=edgekey test,C=DE" ] ||
    fail "cert import --json subject: $(cat "$T/out")"
pass "cert import (PEM for RSA, DER for EC)"

# A certificate for another key (the EC one) must not go next to dev-rsa.
expect_rc 1 edgekey cert import --key "$uri_rsa" "$T/dev-ec.pem"
grep -q "not for key" "$T/err" || fail "mismatch message: $(cat "$T/err")"
msg=$(cat "$T/err")
ok edgekey cert show "$uri_rsa" --pem
cmp -s "$T/out" "$T/dev-rsa.pem" || fail "a refused import changed dev-rsa's certificate"
pass "certificate for another key refused: $msg"

ok edgekey list
grep -q "cert CN=dev-rsa,O=edgekey test,C=DE  expires" "$T/out" || { cat "$T/out"; fail "list: RSA cert"; }
grep -q "cert CN=dev-ec" "$T/out" || fail "list: EC cert"
ok edgekey --json list
json_ok "$T/out"
na=$(jq_ "$T/out" '[o["certificate"]["not_after"] for o in d["tokens"][0]["objects"] if o["label"]=="dev-ec"][0]')
want=$(date -u -d "$(openssl x509 -in "$T/dev-ec.pem" -noout -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ)
[ "$na" = "$want" ] || fail "list --json not_after $na, openssl says $want"
ok edgekey --json cert show "$uri_ec"
json_ok "$T/out"
[ "$(jq_ "$T/out" 'd["sha256"]')" = "$(openssl x509 -in "$T/dev-ec.pem" -noout -fingerprint -sha256 | cut -d= -f2 | tr -d : | tr A-F a-f)" ] ||
    fail "cert show sha256 fingerprint"
# Import without --key: the store finds the key by the certificate's public key.
ok edgekey cert import "$T/dev-ec.pem"
grep -q "replaced: *yes" "$T/out" || fail "re-import without --key: $(cat "$T/out")"
pass "list and cert show report subject and notAfter ($na)"

# --- export-ref -----------------------------------------------------------
ok edgekey export-ref "$uri_rsa" --out "$T/dev-rsa.ref"
head -n1 "$T/dev-rsa.ref" | grep -qx -- "-----BEGIN EDGEKEY URI-----" || fail "export-ref PEM label"
openssl asn1parse -in "$T/dev-rsa.ref" | grep -qF "$uri_rsa" || fail "export-ref does not wrap $uri_rsa"
# The reference file is itself a key address.
ok edgekey csr --key "$T/dev-rsa.ref" --subject /CN=via-ref --out "$T/ref.csr"
openssl req -in "$T/ref.csr" -verify -noout 2>/dev/null || fail "csr via the reference file"
# Stock openssl takes it as a key file through the edgekey provider.
openssl req -new "${EK_PROV[@]}" -key "$T/dev-rsa.ref" -subj /CN=openssl-ref -out "$T/ref2.csr" ||
    fail "openssl req with the exported reference file"
openssl req -in "$T/ref2.csr" -verify -noout 2>/dev/null || fail "openssl's CSR via the reference file"
[ "$(openssl req -in "$T/ref2.csr" -noout -pubkey)" = "$(openssl req -in "$T/dev-rsa.csr" -noout -pubkey)" ] ||
    fail "the reference file reached another key"
# A TSS2 key file address is copied as TSS2 PEM.
keyfile=$(ls "$EDGEKEY_STORE"/edge/"$id_ec".key)
ok edgekey export-ref "$keyfile" --out "$T/dev-ec.tss2"
head -n1 "$T/dev-ec.tss2" | grep -qx -- "-----BEGIN TSS2 PRIVATE KEY-----" || fail "export-ref of a TSS2 file"
ok edgekey --json export-ref "$uri_ec"
json_ok "$T/out"
pass "export-ref writes the EDGEKEY URI PEM (a key file for edgekey and for stock openssl with the provider) and copies TSS2 PEM"

# --- delete ---------------------------------------------------------------
ok edgekey list
! grep -q "none in the store" "$T/out" || fail "list: a key without certificate? $(cat "$T/out")"
ok edgekey delete "$uri_ec" --cert-only
ok edgekey --json list
[ "$(jq_ "$T/out" '[o["certificate"] for o in d["tokens"][0]["objects"] if o["label"]=="dev-ec"][0]')" = None ] ||
    fail "delete --cert-only left the certificate"
# A key without a certificate in the store: list says that much and no more
# (issue 11, item 7: the edge client keeps its own, so "(none)" misled).
ok edgekey list
grep -A3 "key dev-ec" "$T/out" | grep -q "cert none in the store" || fail "list: $(cat "$T/out")"
grep -qF "the edge client: <data_dir>/device.pem" "$T/out" || fail "list: no note: $(cat "$T/out")"
! grep -q "(none)" "$T/out" || fail "list still says (none)"
pass "list: a key without certificate shows 'none in the store' and where programs keep theirs"
ok edgekey --json delete "$uri_ec"
json_ok "$T/out"
ok edgekey delete "$uri_rsa"
ok edgekey list
grep -q "(no keys)" "$T/out" || { cat "$T/out"; fail "keys left after delete"; }
[ -z "$(ls "$EDGEKEY_STORE/edge" | grep -v token.conf)" ] || fail "store files left: $(ls "$EDGEKEY_STORE/edge")"
pass "delete --cert-only, then delete removes keys and files"
no_leftovers
