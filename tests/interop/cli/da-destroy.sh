#!/usr/bin/env bash
# Acceptance: a TPM user without store write access cannot make a PIN token
# unusable.
#
# Scope. In: the attacker talks to the TPM with tpm2-tools (never our
# library), reads the store, and uses the owner hierarchy, whose auth is empty
# as on most devices: flush every transient object and session, undefine
# every owner NV index, evict persistent objects. Out: writing to the store
# (tests/interop/cli/store-attack.sh), the lockout and platform hierarchies
# (tpm2_clear destroys every key by design), DA lockout (da-guess.sh).
#
#   1. Flush, NV undefine (an application's index is defined first, so the
#      loop is shown to bite) and eviction of every persistent object but the
#      SRK: the PIN token (SRK = the template primary, parent 0x40000001)
#      still logs in and its key signs (verified in software).
#   2. A persistent SRK at 0x81000001 (core/srk.c's template, made with
#      tpm2-tools as a factory would): a PIN token made under it records
#      parent 0x81000001. The attacker evicts the SRK too. Reported, and
#      asserted as it is today (see FINDING below).
#   3. The attacker sets the owner auth (tpm2_changeauth -c o): reported and
#      asserted as it is today (FINDING below).
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/lib.sh"

EK_P11=$EDGEKEY_BUILD/pkcs11/edgekey-pkcs11.so
[ -f "$EK_P11" ] || fail "module not built: $EK_P11"

SRK=0x81000001
flush() { tpm2t tpm2_flushcontext -t >/dev/null 2>&1 || true; }
handles() { tpm2t tpm2_getcap "$1" | awk '/^- 0x/ {print $2}'; }

so=so-$(openssl rand -hex 6)
user=us-$(openssl rand -hex 5)
printf '%s\n' "$so" >"$T/so.pin"
printf '%s\n' "$user" >"$T/user.pin"
chmod 600 "$T"/*.pin

# make_token NAME: a PIN token (CLI) with an EC key id 01 (pkcs11-tool).
make_token() {
    ok edgekey token init --token "$1" --so-pin-file "$T/so.pin"
    ok edgekey token pin --token "$1" --user --old-pin-file "$T/so.pin" --new-pin-file "$T/user.pin"
    pkcs11-tool --module "$EK_P11" --token-label "$1" --login --pin "$user" --keypairgen \
        --key-type EC:prime256v1 --id 01 --label k >/dev/null 2>&1 || fail "keypairgen in $1"
    pkcs11-tool --module "$EK_P11" --token-label "$1" --login --pin "$user" --read-object \
        --type pubkey --id 01 -o "$T/$1.der" >/dev/null 2>&1 &&
        openssl pkey -pubin -inform DER -in "$T/$1.der" -out "$T/$1.pub" ||
        fail "public key of $1"
}

# token_works NAME: login, list, sign, verify; false (messages in
# $T/$1.p11) if any step fails.
token_works() {
    local p11=(pkcs11-tool --module "$EK_P11" --token-label "$1" --login --pin "$user")
    echo "data for $1" >"$T/msg"
    "${p11[@]}" --list-objects >"$T/$1.p11" 2>&1 &&
        "${p11[@]}" --sign --id 01 -m ECDSA-SHA256 --signature-format openssl \
            --input-file "$T/msg" --output-file "$T/$1.sig" >>"$T/$1.p11" 2>&1 &&
        openssl dgst -sha256 -verify "$T/$1.pub" -signature "$T/$1.sig" "$T/msg" \
            >>"$T/$1.p11" 2>&1
}

# The attacker's sweep: everything a TPM user with the empty owner auth can
# remove. $1 = "keep-srk" spares 0x81000001. Counts what went.
attack() {
    local h n_nv=0 n_ev=0
    tpm2t tpm2_flushcontext -t >/dev/null 2>&1 || true
    tpm2t tpm2_flushcontext -l >/dev/null 2>&1 || true
    tpm2t tpm2_flushcontext -s >/dev/null 2>&1 || true
    for h in $(handles handles-nv-index); do
        tpm2t tpm2_nvundefine -C o "$h" >/dev/null 2>&1 && n_nv=$((n_nv + 1))
    done
    for h in $(handles handles-persistent); do
        [ "$1" = keep-srk ] && [ "$h" = $SRK ] && continue
        tpm2t tpm2_evictcontrol -C o -c "$h" >/dev/null 2>&1 && n_ev=$((n_ev + 1))
        flush
    done
    echo "flushed all; undefined $n_nv NV index(es); evicted $n_ev persistent object(s)"
}

# 1. Template SRK. Another application's NV index and a persistent key (token
# edge) give the sweep something to remove.
make_token pa
ok edgekey keygen --label pers --alg ec-p256 --persist 0x81010001
tpm2t tpm2_nvdefine -C o -s 32 -a "ownerread|ownerwrite|authread|authwrite" 0x1500016 \
    >/dev/null || fail "tpm2_nvdefine"
token_works pa || fail "token pa before the attack: $(cat "$T/pa.p11")"
summary=$(attack keep-srk)
[ -z "$(handles handles-nv-index)" ] || fail "NV indices left: $(handles handles-nv-index)"
[ -z "$(handles handles-persistent)" ] || fail "persistent left: $(handles handles-persistent)"
token_works pa || fail "token pa after the sweep: $(cat "$T/pa.p11")"
pass "sweep ($summary): PIN token pa (parent 0x40000001) logs in and signs"
# Not a PIN-token property, recorded for the report: a key kept at a
# persistent handle is gone after EvictControl with the empty owner auth.
expect_rc 2 edgekey csr --key handle:0x81010001 --subject /CN=p --out "$T/p.csr"
pass "as expected of TPM persistence, the persistent key 0x81010001 is gone: $(head -c 120 "$T/err")"

# 2. A persistent SRK, made from core/srk.c's template as a factory would.
tpm2t tpm2_createprimary -C o -G ecc256:aes128cfb -g sha256 -c "$T/srk.ctx" \
    -a 'restricted|decrypt|noda|fixedtpm|fixedparent|sensitivedataorigin|userwithauth' \
    >/dev/null || fail "createprimary"
flush
tpm2t tpm2_evictcontrol -C o -c "$T/srk.ctx" $SRK >/dev/null || fail "evictcontrol SRK"
flush
make_token pb
ok edgekey --json token list --token pb
pbdir=$(jq_ "$T/out" 'd["tokens"][0]["dir"]')
parent=$(od -An -j8 -N4 -tx1 "$pbdir/pin-user.seal" | tr -d ' \n')
[ "$parent" = 81000001 ] || fail "pb's seal records parent 0x$parent"
token_works pb || fail "token pb before the attack: $(cat "$T/pb.p11")"
summary=$(attack evict-srk)
[ -z "$(handles handles-persistent)" ] || fail "SRK not evicted"
token_works pa || fail "token pa after SRK eviction: $(cat "$T/pa.p11")"
pass "SRK evicted ($summary): token pa (template parent) still logs in and signs"
# FINDING: a token made under a persistent SRK is unusable once the SRK is
# evicted, although the template primary edgekey falls back to is the same
# key (same template, same owner seed): core/srk.c ek_tpm_parent refuses
# the recorded parent 0x81000001 instead of trying it. Re-provisioning the
# SRK (createprimary + evictcontrol, owner auth only) brings the token back.
if token_works pb; then
    fail "token pb survived SRK eviction: the finding is fixed, update this test"
fi
grep -q "CKR_" "$T/pb.p11" || fail "pb: no PKCS#11 error: $(cat "$T/pb.p11")"
pass "FINDING: token pb (parent 0x81000001) is unusable after the SRK's eviction: $(grep -o 'CKR_[A-Z_]*' "$T/pb.p11" | head -n1)"
tpm2t tpm2_createprimary -C o -G ecc256:aes128cfb -g sha256 -c "$T/srk.ctx" \
    -a 'restricted|decrypt|noda|fixedtpm|fixedparent|sensitivedataorigin|userwithauth' \
    >/dev/null || fail "createprimary"
flush
tpm2t tpm2_evictcontrol -C o -c "$T/srk.ctx" $SRK >/dev/null || fail "evictcontrol SRK"
flush
token_works pb || fail "token pb after re-provisioning the SRK: $(cat "$T/pb.p11")"
pass "re-provisioning the SRK (same template) brings token pb back"

# 3. The owner auth is empty, so the attacker may set it.
owner=$(openssl rand -hex 16)
tpm2t tpm2_changeauth -c o "$owner" >/dev/null || fail "tpm2_changeauth -c o"
# FINDING: token pa's parent is the template primary, which needs
# CreatePrimary with the owner auth: pa is dead until the owner auth is
# known again (or lost with tpm2_clear). pb under the persistent SRK needs
# no owner auth and survives.
if token_works pa; then
    fail "token pa survived an owner auth change: the finding is fixed, update this test"
fi
pass "FINDING: token pa (template parent) is unusable once the attacker sets the owner auth: $(grep -o 'CKR_[A-Z_]*' "$T/pa.p11" | head -n1)"
# FINDING: the CreatePrimary refusal (TPM_RC_BAD_AUTH on the owner hierarchy)
# reaches ek_token_login as EK_ERR_AUTH, so the right PIN is reported as
# incorrect and charged to the file counter (limit 10, then the SO must
# reset the user PIN even after the owner auth is back).
run edgekey token pin --token pa --user --old-pin-file "$T/user.pin" --new-pin-file "$T/user.pin"
[ "$rc" != 0 ] || fail "CLI login to pa succeeded with the owner auth changed"
crc=$rc msg=$(head -n1 "$T/err")
ok edgekey --json token list --token pa
charged=$(jq_ "$T/out" 'd["tokens"][0]["user_fails"]')
[ "$charged" -ge 1 ] || fail "the right PIN is no longer charged: the finding is fixed, update this test"
pass "FINDING: right PIN with the owner auth changed: CLI exit $crc '$msg'; file counter charged $charged"
token_works pb || fail "token pb (persistent SRK) after an owner auth change: $(cat "$T/pb.p11")"
pass "token pb (persistent SRK) logs in and signs with the owner auth changed"
tpm2t tpm2_changeauth -c o -p "$owner" >/dev/null || fail "owner auth back to empty"
token_works pa || fail "token pa with the owner auth empty again: $(cat "$T/pa.p11")"
pass "with the owner auth empty again token pa logs in and signs"

flush
no_leftovers
