#!/usr/bin/env bash
# Store files against symlinks and failed writes (issue 10).
#
# 1. Acceptance 3, the PIN attempt counter fails closed: with writes failing
#    (ulimit -f 0 in a subshell, SIGXFSZ ignored so the library sees EFBIG as
#    it would see ENOSPC on a full disk), 12 wrong user PINs through C_Login
#    give no "PIN incorrect" answer, and afterwards (limits back) the right
#    PIN is refused until the SO sets a new user PIN.
# 2. Acceptance 4, nothing is written through a link: each file the library
#    writes in a token directory (key, .meta, .crt, .data, pin.tries,
#    token.conf, pin-*.seal) and the store's .tpm-facts is replaced
#    by a symlink to a file outside the store; a wrong PIN, a right PIN,
#    keygen, delete and the SO setting the user PIN leave that file as it was
#    (checksum), and each either succeeds or fails with a message (no crash).
#
# The TPM's dictionary-attack protection would lock PIN objects after 3 auth
# failures (swtpm's default) and hide the file counter (limit 10) behind it:
# raise the TPM's limit first so the file counter is what is exercised.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/lib.sh"

EK_P11=$EDGEKEY_BUILD/pkcs11/edgekey-pkcs11.so
[ -f "$EK_P11" ] || fail "module not built: $EK_P11"
p11() { local tok=$1; shift; pkcs11-tool --module "$EK_P11" --token-label "$tok" "$@"; }

tpm2t tpm2_dictionarylockout --setup-parameters --max-tries=32 --recovery-time=1 \
    --lockout-recovery-time=1 >/dev/null || fail "tpm2_dictionarylockout --setup-parameters"

so=so-$(openssl rand -hex 6)
user=us-$(openssl rand -hex 5)
printf '%s\n' "$so" >"$T/so.pin"
printf '%s\n' "$user" >"$T/user.pin"
chmod 600 "$T"/*.pin
mkdir -p "$T/outside" "$T/bak"

# new_token TOKEN: SO and user PINs, key k1 (id 01), certificate c1 (id 02),
# data object d1.
new_token() {
    local t=$1
    ok edgekey token init --token "$t" --so-pin-file "$T/so.pin"
    ok edgekey token pin --token "$t" --user --old-pin-file "$T/so.pin" --new-pin-file "$T/user.pin"
    p11 "$t" --login --pin "$user" --keypairgen --key-type EC:prime256v1 --id 01 --label k1 \
        >"$T/p11.out" 2>&1 || { cat "$T/p11.out"; fail "$t: keypairgen"; }
    [ -f "$T/c1.der" ] || {
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=c1 \
            -keyout "$T/c1.key" -outform DER -out "$T/c1.der" -days 2 2>/dev/null ||
            fail "openssl req"
    }
    p11 "$t" --login --pin "$user" --write-object "$T/c1.der" --type cert --id 02 --label c1 \
        >"$T/p11.out" 2>&1 || { cat "$T/p11.out"; fail "$t: write certificate"; }
    printf 'secret-%s' "$t" >"$T/d1.bin"
    p11 "$t" --login --pin "$user" --write-object "$T/d1.bin" --type data --label d1 --private \
        >"$T/p11.out" 2>&1 || { cat "$T/p11.out"; fail "$t: write data object"; }
}
token_dir() { ok edgekey --json token list --token "$1"; jq_ "$T/out" 'd["tokens"][0]["dir"]'; }
user_locked() { ok edgekey --json token list --token "$1"; jq_ "$T/out" 'd["tokens"][0]["user_pin_locked"]'; }

# ---- 1. acceptance 3: a counter that cannot be written refuses the login ----
new_token ta
# limited CMD...: run with writes to files failing; the output goes through a
# pipe, which the file size limit does not cover.
limited() {
    (ulimit -f 0; trap '' XFSZ; "$@") 2>&1 | cat >"$T/p11.out"
    return "${PIPESTATUS[0]}"
}
for i in $(seq 12); do
    if limited p11 ta --login --pin "wrong-$i" --list-objects; then
        fail "a wrong PIN logged in with writes failing"
    fi
    ! grep -q CKR_PIN_INCORRECT "$T/p11.out" ||
        { cat "$T/p11.out"; fail "wrong PIN $i was tried although its attempt could not be counted"; }
done
if limited p11 ta --login --pin "$user" --list-objects; then
    fail "the right PIN logged in while the attempt counter could not be written"
fi
p11 ta --login --pin "$user" --list-objects >"$T/p11.out" 2>&1 &&
    fail "after 12 uncounted wrong PINs the right PIN still logs in (counter failed open)"
[ "$(user_locked ta)" = True ] || fail "user PIN not reported locked"
ok edgekey token pin --token ta --user --as-so --old-pin-file "$T/so.pin" --new-pin-file "$T/user.pin"
p11 ta --login --pin "$user" --list-objects >"$T/p11.out" 2>&1 ||
    { cat "$T/p11.out"; fail "right PIN refused after the SO set a new user PIN"; }
pass "counter write failing (ulimit -f 0): no PIN is tried, the user PIN locks until the SO resets it"

# ---- 2. acceptance 4: symlinks in place of store files ----
# attack TOKEN NAME: replace NAME (in the token directory, or the store for
# .tpm-facts) by a link to a file outside the store, run the operations,
# check that file after each, then put the real file back.
victim=$T/outside/victim
check_victim() {
    [ "$(sha256sum <"$victim")" = "$sum" ] || fail "$what: $1 wrote through the link to $victim"
}
# op DESCRIPTION CMD...: run, fail on a crash, a silent failure or a write
# through the link.
op() {
    local desc=$1
    shift
    run "$@"
    [ "$rc" -lt 126 ] || { cat "$T/out" "$T/err"; fail "$what: $desc crashed (exit $rc)"; }
    [ "$rc" = 0 ] || [ -s "$T/err" ] || [ -s "$T/out" ] || fail "$what: $desc failed silently"
    check_victim "$desc"
    echo "  $what: $desc -> exit $rc $(grep -h -m1 -iE 'error|link|regular|refus' "$T/err" "$T/out" | head -1)"
}
attack() {
    local t=$1 name=$2 dir f
    what="$name in token $t"
    dir=$(token_dir "$t")
    [ "$name" = .tpm-facts ] && dir=$EDGEKEY_STORE
    f=$(cd "$dir" && ls -d $name 2>/dev/null | head -1)
    [ -n "$f" ] && [ -f "$dir/$f" ] || fail "$what: no such file to attack (have: $(ls -A "$dir"))"
    printf 'not yours: %s\n' "$name" >"$victim"
    sum=$(sha256sum <"$victim")
    mv "$dir/$f" "$T/bak/$f"
    ln -s "$victim" "$dir/$f"
    op "wrong PIN" p11 "$t" --login --pin wrong-pin --list-objects
    [ "$rc" != 0 ] || fail "$what: a wrong PIN logged in"
    op "right PIN" p11 "$t" --login --pin "$user" --list-objects
    case $name in
    pin.tries | pin-user.*)
        [ "$rc" != 0 ] || fail "$what: login through a linked $name"
        grep -q "$name" "$T/err" "$T/out" || fail "$what: the refusal does not name $name"
        ;;
    esac
    op keygen p11 "$t" --login --pin "$user" --keypairgen --key-type EC:prime256v1 --id 09 --label k9
    op delete p11 "$t" --login --pin "$user" --delete-object --type privkey --id 01
    op "SO sets user PIN" edgekey token pin --token "$t" --user --as-so --old-pin-file "$T/so.pin" \
        --new-pin-file "$T/user.pin"
    [ ! -e "$dir/$f" ] || [ -L "$dir/$f" ] || [ "$(cat "$dir/$f")" != "$(cat "$victim")" ] ||
        fail "$what: the victim's content was copied into the store"
    rm -f "$dir/$f"
    mv "$T/bak/$f" "$dir/$f"
    # give the token back unless it is shared
    if [ "$t" != tb ]; then
        edgekey token delete --token "$t" --so-pin-file "$T/so.pin" >"$T/del.out" 2>&1 ||
            { cat "$T/del.out"; fail "$what: token delete after the attack"; }
    fi
    pass "$what: a link to an outside file is never written through"
}

n=0
for name in 01.key 01.meta 02.crt '*.data' pin.tries token.conf pin-user.seal pin-so.seal \
    .tpm-facts; do
    n=$((n + 1))
    new_token "t$n"
    attack "t$n" "$name"
done
ok edgekey token delete --token ta --so-pin-file "$T/so.pin"
no_leftovers
