#!/usr/bin/env bash
# A key reference file whose key is gone (issue 11, item 7): stock openssl
# through the provider, and the edgekey commands, say which URI/handle the
# file names, that the key is gone from the store/TPM, and the fix, instead
# of OpenSSL's bare "unsupported" (its file store drops a decoder's errors,
# so the provider also logs the reason once). pin-values stay masked.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/lib.sh"
run() { set +e; "$@" >"$T/out" 2>"$T/err"; rc=$?; set -e; }

# An EDGEKEY URI PEM for any string (as a user or another tool may write one).
uri_pem() {
    printf 'asn1=SEQUENCE:s\n[s]\ndesc=UTF8:edgekey key reference\nuri=UTF8:%s\n' "$1" >"$T/ref.cnf"
    openssl asn1parse -genconf "$T/ref.cnf" -out "$T/ref.der" >/dev/null || fail "asn1parse"
    { echo "-----BEGIN EDGEKEY URI-----"; base64 -w 64 "$T/ref.der"; echo "-----END EDGEKEY URI-----"; } >"$2"
}

edgekey keygen --label k1 --alg ec-p256 >/dev/null 2>&1 || fail "keygen"
edgekey export-ref 'pkcs11:token=edge;object=k1' --out "$T/k1.ref" >/dev/null || fail "export-ref"
openssl pkey -in "$T/k1.ref" "${EK_PROV[@]}" -pubout >/dev/null 2>&1 || fail "ref file before delete"
edgekey delete 'pkcs11:token=edge;object=k1' >/dev/null || fail "delete"

# 1. Stock openssl through the provider.
run openssl pkey -in "$T/k1.ref" "${EK_PROV[@]}" -pubout
[ "$rc" != 0 ] || fail "openssl loaded a deleted key"
for want in "names pkcs11:token=edge;object=k1;type=private" "no longer in the edgekey store $EDGEKEY_STORE" \
    "edgekey delete" "edgekey export-ref"; do
    grep -qF -- "$want" "$T/err" || fail "openssl pkey, deleted key: '$want' missing: $(cat "$T/err")"
done
[ "$(grep -c 'key reference file' "$T/err")" = 1 ] || fail "message not exactly once: $(cat "$T/err")"
pass "openssl pkey on the reference file of a deleted key: $(grep 'key reference' "$T/err")"

# 2. The edgekey commands on the same file.
for cmd in "csr --subject /CN=x --key" "export-ref" "cert show"; do
    # shellcheck disable=SC2086
    run edgekey $cmd "$T/k1.ref"
    [ "$rc" = 2 ] || fail "edgekey $cmd on the deleted key's file exited $rc: $(cat "$T/err")"
    grep -qF "(a key reference file)" "$T/err" && grep -qF "edgekey export-ref" "$T/err" ||
        fail "edgekey $cmd: $(cat "$T/err")"
done
pass "edgekey csr / export-ref / cert show on it exit 2 naming the file and the fix: $(cat "$T/err")"

# 3. A file naming an evicted persistent handle.
edgekey keygen --label p1 --alg ec-p256 --persist 0x81000042 >/dev/null 2>&1 || fail "keygen --persist"
uri_pem handle:0x81000042 "$T/h.ref"
openssl pkey -in "$T/h.ref" "${EK_PROV[@]}" -pubout >/dev/null 2>&1 || fail "handle ref before evict"
edgekey delete handle:0x81000042 >/dev/null || fail "delete handle"
run openssl pkey -in "$T/h.ref" "${EK_PROV[@]}" -pubout
[ "$rc" != 0 ] || fail "openssl loaded an evicted handle"
grep -qF "names handle:0x81000042, which is no longer in the TPM" "$T/err" &&
    grep -qF "edgekey export-ref" "$T/err" || fail "evicted handle: $(cat "$T/err")"
pass "openssl pkey on a reference to an evicted handle names it: $(grep 'key reference' "$T/err")"

# 4. A pin-value in such a file is never shown.
uri_pem "pkcs11:token=edge;object=gone;pin-value=Sekrit77" "$T/pin.ref"
run openssl pkey -in "$T/pin.ref" "${EK_PROV[@]}" -pubout
grep -qF "pin-value=***" "$T/err" || fail "pin ref: $(cat "$T/err")"
run edgekey csr --subject /CN=x --key "$T/pin.ref"
[ "$rc" = 2 ] || fail "csr on pin ref: $rc"
! grep -qF Sekrit77 "$T/out" "$T/err" || fail "a pin-value is shown"
run edgekey delete 'pkcs11:token=edge;object=gone;pin-value=Sekrit77'
! grep -qF Sekrit77 "$T/out" "$T/err" || fail "delete shows the pin-value: $(cat "$T/err")"
pass "pin-values in reference files and URIs are masked in every message"
