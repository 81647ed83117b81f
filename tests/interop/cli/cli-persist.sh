#!/usr/bin/env bash
# keygen --persist puts the key at a persistent handle (seen by tpm2t tpm2_getcap);
# the key works by handle:; delete evicts the handle and removes the files.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/lib.sh"

h=0x81000010
ok edgekey keygen --label pers --alg ec-p256 --persist $h
[ "$(sed -n 2p "$T/out")" = "handle:$h" ] || fail "keygen --persist printed: $(cat "$T/out")"
tpm2t tpm2_getcap handles-persistent | grep -qi "$h" || fail "$h not persistent after keygen"
ok edgekey --json list
[ "$(jq_ "$T/out" 'd["tokens"][0]["objects"][0]["handle"]')" = "$h" ] || fail "list --json handle"
pass "keygen --persist $h: tpm2_getcap lists it"

expect_rc 7 edgekey keygen --label pers2 --alg ec-p256 --persist $h
msg=$(cat "$T/err")
tpm2t tpm2_getcap handles-persistent | grep -qi "$h" || fail "a failed keygen evicted $h"
ok edgekey --json list
[ "$(jq_ "$T/out" 'len(d["tokens"][0]["objects"])')" = 1 ] || fail "a failed keygen left an object"
pass "keygen at a taken handle refused, nothing stored: $msg"

ok edgekey csr --key handle:$h --subject /CN=pers --out "$T/p.csr"
openssl req -in "$T/p.csr" -verify -noout 2>/dev/null || fail "csr by handle"
ok edgekey export-ref handle:$h
grep -q "BEGIN EDGEKEY URI" "$T/out" || fail "export-ref by handle"
pass "the persistent key signs a CSR by handle:$h"

ok edgekey --json delete handle:$h
json_ok "$T/out"
[ "$(jq_ "$T/out" 'd["deleted"]["evicted"]')" = "$h" ] || fail "delete --json evicted: $(cat "$T/out")"
! tpm2t tpm2_getcap handles-persistent | grep -qi "$h" || fail "$h still persistent after delete"
ok edgekey --json list
[ "$(jq_ "$T/out" 'len(d["tokens"][0]["objects"])')" = 0 ] || fail "files left after delete"
pass "delete evicted $h and removed the store files"

# A persistent handle outside the store (made by tpm2-tools) can be evicted.
tpm2t tpm2_createprimary -C o -g sha256 -G ecc -c "$T/prim.ctx" >/dev/null
tpm2t tpm2_evictcontrol -C o -c "$T/prim.ctx" 0x81000020 >/dev/null
tpm2t tpm2_flushcontext -t >/dev/null 2>&1 || true
ok edgekey delete handle:0x81000020
! tpm2t tpm2_getcap handles-persistent | grep -qi 0x81000020 || fail "0x81000020 not evicted"
pass "delete evicts a handle the store does not know"
no_leftovers
