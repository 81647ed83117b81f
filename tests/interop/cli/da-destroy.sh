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
#      parent 0x81000001. The attacker evicts the SRK too: the token still
#      works (core loads it under the template primary, the same key).
#   3. The attacker sets the owner auth (tpm2_changeauth -c o): a token
#      under the template primary is refused (out of scope: taking the owner
#      hierarchy), but the right PIN is never reported wrong or charged; a
#      token under the persistent SRK keeps working.
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
    # p11tool, not pkcs11-tool 0.23's --read-object (it reads freed memory on EC
    # public keys, which ASan aborts on; see docs/architecture.md, Tests)
    GNUTLS_PIN=$user p11tool --provider "$EK_P11" --export-pubkey "pkcs11:token=$1;id=%01;type=public" \
        --outfile "$T/$1.pub" >/dev/null 2>&1 || fail "public key of $1"
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
# A token made under the persistent SRK survives its eviction: core/srk.c
# loads a file whose parent 0x81000001 is gone under the template primary,
# the same key (same template, same owner seed).
token_works pb || fail "token pb (parent 0x81000001) after the SRK's eviction: $(cat "$T/pb.p11")"
pass "token pb (parent 0x81000001) still logs in and signs after the SRK's eviction"
tpm2t tpm2_createprimary -C o -G ecc256:aes128cfb -g sha256 -c "$T/srk.ctx" \
    -a 'restricted|decrypt|noda|fixedtpm|fixedparent|sensitivedataorigin|userwithauth' \
    >/dev/null || fail "createprimary"
flush
tpm2t tpm2_evictcontrol -C o -c "$T/srk.ctx" $SRK >/dev/null || fail "evictcontrol SRK"
flush
token_works pb || fail "token pb after re-provisioning the SRK: $(cat "$T/pb.p11")"
pass "re-provisioning the SRK (same template): token pb logs in under it again"

# 3. The owner auth is empty, so the attacker may set it.
owner=$(openssl rand -hex 16)
tpm2t tpm2_changeauth -c o "$owner" >/dev/null || fail "tpm2_changeauth -c o"
# Out of scope, and stated as such in docs/pkcs11.md: with the owner auth
# empty, any TPM user can take the owner hierarchy, and then the template
# primary (token pa's parent) cannot be made: pa is unusable until the owner
# auth is known again. A device maker closes this by setting the owner auth
# or provisioning a persistent SRK (docs/hardening.md); pb below survives.
# What we do guarantee: the refusal is not a wrong PIN. The right PIN is
# neither reported as incorrect nor charged to the file counter.
if token_works pa; then
    fail "token pa survived an owner auth change: update this test and docs/pkcs11.md"
fi
run edgekey token pin --token pa --user --old-pin-file "$T/user.pin" --new-pin-file "$T/user.pin"
[ "$rc" != 0 ] || fail "CLI login to pa succeeded with the owner auth changed"
grep -qi "owner hierarchy" "$T/err" || fail "the refusal does not name the owner hierarchy: $(cat "$T/err")"
grep -qi "incorrect" "$T/err" && fail "the right PIN was reported as incorrect: $(cat "$T/err")"
ok edgekey --json token list --token pa
charged=$(jq_ "$T/out" 'd["tokens"][0]["user_fails"]')
[ "$charged" = 0 ] || fail "the right PIN was charged to the file counter ($charged)"
pass "owner auth taken: token pa refused with a message naming the owner hierarchy; the PIN is not charged"
token_works pb || fail "token pb (persistent SRK) after an owner auth change: $(cat "$T/pb.p11")"
pass "token pb (persistent SRK) logs in and signs with the owner auth changed"
tpm2t tpm2_changeauth -c o -p "$owner" >/dev/null || fail "owner auth back to empty"
token_works pa || fail "token pa with the owner auth empty again: $(cat "$T/pa.p11")"
pass "with the owner auth empty again token pa logs in and signs"

flush
no_leftovers
