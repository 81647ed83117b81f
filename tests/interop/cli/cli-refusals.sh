#!/usr/bin/env bash
# What the CLI refuses, and how: RSA-1024 by policy (exit 3, the core's
# message, nothing created), unknown addresses (exit 2, a clear message),
# bad command lines (exit 1), a wrong key auth (exit 5). Errors are one
# "edgekey: ..." line on stderr, and valid JSON on stdout with --json.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/lib.sh"

expect_rc 3 edgekey keygen --label small --alg rsa1024
grep -q "^edgekey: RSA-1024 refused: policy requires >= 2048 bits" "$T/err" ||
    fail "rsa1024 message: $(cat "$T/err")"
[ ! -s "$T/out" ] || fail "rsa1024 printed on stdout: $(cat "$T/out")"
msg=$(cat "$T/err")
expect_rc 3 edgekey --json keygen --label small --alg rsa1024
json_ok "$T/out"
[ "$(jq_ "$T/out" 'd["error"]["kind"]')" = policy ] || fail "rsa1024 --json kind"
ok edgekey --json list
[ "$(jq_ "$T/out" 'sum(len(t["objects"]) for t in d["tokens"])')" = 0 ] || fail "rsa1024 left an object"
pass "rsa1024 refused by policy, exit 3: $msg"

# rsa_min_bits raised in the configuration file is honoured.
echo "rsa_min_bits = 3072" >"$T/strict.conf"
expect_rc 3 edgekey --conf "$T/strict.conf" keygen --label mid --alg rsa2048
grep -q "RSA-2048 refused" "$T/err" || fail "rsa_min_bits 3072: $(cat "$T/err")"
pass "--conf with rsa_min_bits = 3072 refuses rsa2048"

missing="pkcs11:token=edge;object=nothere"
expect_rc 2 edgekey delete "$missing"
grep -q "^edgekey: .*$missing" "$T/err" || fail "delete unknown: $(cat "$T/err")"
pass "delete of an unknown address exits 2: $(cat "$T/err")"
expect_rc 2 edgekey --json delete "$missing"
json_ok "$T/out"
expect_rc 2 edgekey delete handle:0x81000123
pass "delete of an absent handle exits 2: $(cat "$T/err")"
expect_rc 2 edgekey cert show "$missing"
expect_rc 2 edgekey csr --key "$missing" --subject /CN=x
expect_rc 2 edgekey export-ref "$missing"
expect_rc 2 edgekey cert import --key "$missing" /nonexistent.pem
pass "cert show / csr / export-ref / cert import of unknown things exit 2"

expect_rc 1 edgekey
expect_rc 1 edgekey frobnicate
expect_rc 1 edgekey keygen --alg rsa2048
grep -q -- "--label" "$T/err" || fail "keygen without --label: $(cat "$T/err")"
expect_rc 1 edgekey keygen --label x --persist 0x1234
expect_rc 1 edgekey keygen --label x --alg dsa
expect_rc 1 edgekey csr --key "$missing"
expect_rc 1 edgekey list --bogus
expect_rc 1 edgekey --json list --bogus
json_ok "$T/out"
expect_rc 1 edgekey delete "pkcs11:token=edge"
grep -q "does not name one object" "$T/err" || fail "delete of a whole token: $(cat "$T/err")"
expect_rc 3 edgekey delete handle:0x81000001
grep -q "storage primary key" "$T/err" || fail "SRK eviction: $(cat "$T/err")"
for c in info keygen csr cert list delete export-ref; do
    ok edgekey "$c" --help
    grep -q "usage: edgekey $c" "$T/out" || fail "$c --help"
done
ok edgekey --version
grep -qE "^edgekey [0-9]+\.[0-9]+" "$T/out" || fail "--version: $(cat "$T/out")"
ok edgekey --help
grep -q "^usage: edgekey" "$T/out" || fail "--help"
for c in token cert; do
    ok edgekey "$c" --help
    grep -q "usage: edgekey $c" "$T/out" || fail "$c --help"
done
for bad in "frobnicate" "--bogus" "list --bogus" "token frob" "cert frob" "list extra"; do
    # shellcheck disable=SC2086
    expect_rc 1 edgekey $bad
    grep -q -- "--help" "$T/err" || fail "'edgekey $bad' does not point at --help: $(cat "$T/err")"
done
pass "usage errors exit 1 (docs/cli.md) with a pointer to --help; every command has --help; --version"

# A key with an auth value: the right one signs, a wrong one exits 5.
EDGEKEY_KEY_AUTH=s3cret ok edgekey keygen --label guarded --alg ec-p256 --auth
! grep -q s3cret "$T/out" "$T/err" || fail "auth value printed"
uri=$(head -n1 "$T/out")
EDGEKEY_KEY_AUTH=s3cret ok edgekey csr --key "$uri" --subject /CN=guarded --out "$T/g.csr"
openssl req -in "$T/g.csr" -verify -noout 2>/dev/null || fail "csr with auth"
printf 'Zq9notit\n' >"$T/wrong.auth"
expect_rc 5 edgekey csr --key "$uri" --subject /CN=guarded --auth-file "$T/wrong.auth"
! grep -q Zq9notit "$T/out" "$T/err" || fail "the wrong auth value appears in the message"
pass "auth key: right auth signs, wrong auth exits 5: $(cat "$T/err")"
no_leftovers

# Every algorithm the TPM lacks is refused as unsupported (exit 7), not as
# a TPM failure (exit 4); every one it has works (swtpm has no RSA-4096).
ok edgekey --json info --no-probe
cp "$T/out" "$T/info.json"
algs=",$(jq_ "$T/info.json" '",".join(d["tpm"]["algorithms"])'),"
for alg in rsa2048 rsa3072 rsa4096 ec-p256 ec-p384; do
    case $algs in
    *",$alg,"*)
        ok edgekey keygen --label "has-$alg" --alg "$alg"
        ok edgekey delete "pkcs11:token=edge;object=has-$alg" ;;
    *)
        expect_rc 7 edgekey keygen --label "lacks-$alg" --alg "$alg"
        grep -qF "$alg keys are unsupported by this TPM" "$T/err" || fail "$alg: $(cat "$T/err")"
        grep -qF "edgekey info" "$T/err" || fail "$alg: no pointer to edgekey info: $(cat "$T/err")"
        echo "  $alg: $(cat "$T/err")" ;;
    esac
done
pass "algorithms: the TPM's ($algs) work, the others exit 7 'unsupported by this TPM'"
no_leftovers

# --alg spellings (issue 11, item 7): usual ones in any case are taken and
# the name they became is reported, never silently; others exit 1 listing
# the names.
ok edgekey keygen --label spelled --alg RSA-2048
grep -qF "(--alg RSA-2048 read as rsa2048)" "$T/err" || fail "RSA-2048 not named: $(cat "$T/err")"
ok edgekey --json keygen --label spelled-json --alg rsa:3072
[ "$(jq_ "$T/out" 'd["alg"]')" = rsa3072 ] || fail "rsa:3072: alg $(jq_ "$T/out" 'd["alg"]')"
ok edgekey keygen --label spelled-ec --alg P-256
grep -qF "created ec-p256 key 'spelled-ec'" "$T/err" && grep -qF "read as ec-p256" "$T/err" ||
    fail "P-256: $(cat "$T/err")"
ok edgekey keygen --label plain-name --alg ec-p256
! grep -q "read as" "$T/err" || fail "canonical name reported as respelled: $(cat "$T/err")"
for bad in rsa_2048 ec-p521 "rsa 2048" RSA-; do
    expect_rc 1 edgekey keygen --label bad --alg "$bad"
    grep -qF "use one of rsa2048, rsa3072, rsa4096, ec-p256, ec-p384" "$T/err" ||
        fail "--alg '$bad': $(cat "$T/err")"
done
expect_rc 7 edgekey keygen --label bad --alg RSA-2049
pass "--alg: RSA-2048 and P-256 are read as rsa2048/ec-p256 and say so; rsa_2048, ec-p521 exit 1"
for l in spelled spelled-json spelled-ec plain-name; do ok edgekey delete "pkcs11:token=edge;object=$l"; done
no_leftovers
