#!/usr/bin/env bash
# Issue 3, acceptance 5: ssh-keygen -D lists the token's keys, and the
# p11-kit proxy (p11-kit-proxy.so, what p11-kit-aware programs load) reaches
# the token through a p11-kit module registration like the one we install.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../../lib/common.sh"
. "$here/p11-common.sh"

if [ "${1:-}" != --proxy-part ]; then
    edgekey keygen --label ssh-rsa --alg rsa2048 >/dev/null || fail "edgekey keygen rsa"
    edgekey keygen --label ssh-ec --alg ec-p256 >/dev/null || fail "edgekey keygen ec"

ssh-keygen -D "$EK_P11" >"$T/ssh.pub" 2>"$T/ssh.err" || { cat "$T/ssh.err"; fail "ssh-keygen -D"; }
grep -q "^ssh-rsa " "$T/ssh.pub" || { cat "$T/ssh.pub"; fail "ssh-keygen -D: no RSA key"; }
grep -q "^ecdsa-sha2-nistp256 " "$T/ssh.pub" || { cat "$T/ssh.pub"; fail "ssh-keygen -D: no EC key"; }
# The listed RSA key is the TPM key: compare with the module's public key.
p11 --token-label edge --read-object --type pubkey --label ssh-rsa -o "$T/rsa.der" >/dev/null 2>&1 ||
    { id=$(p11 --token-label edge --list-objects --type pubkey | awk '$1=="label:" && $2=="ssh-rsa" {f=1} f && $1=="ID:" {print $2; exit}');
      p11 --token-label edge --read-object --type pubkey --id "$id" -o "$T/rsa.der" >/dev/null; }
openssl pkey -pubin -inform DER -in "$T/rsa.der" -out "$T/rsa.pem"
ssh-keygen -i -m PKCS8 -f "$T/rsa.pem" | awk '{print $2}' >"$T/rsa.ssh"
grep -qF "$(cat "$T/rsa.ssh")" "$T/ssh.pub" || fail "ssh-keygen -D lists a different RSA key"
pass "ssh-keygen -D lists the TPM keys"
fi

# p11-kit: a module registration with the content of the installed
# pkcs11/edgekey.module (absolute path to the build). p11-kit ignores user
# configuration for root, so as root the system module directory is
# overlaid in a private mount namespace; otherwise ~/.config/pkcs11/modules.
if [ "${1:-}" != --proxy-part ]; then
    mods=$T/p11-modules
    mkdir -p "$mods"
    if [ "$(id -u)" = 0 ]; then
        # The machine's other modules, except one that links another
        # tpm2-tss than ours: a process holds one libtss2-esys.so.0 (by
        # soname), and whichever loads first wins. Only the compat suite
        # (tpm2-tss 4.1 against Debian's tpm2-pkcs11 on 3.2) meets this.
        ours=$(ldd "$EK_P11" | awk '/libtss2-esys/ {print $3}')
        for m in /usr/share/p11-kit/modules/*.module; do
            [ -f "$m" ] || continue
            lib=$(sed -n 's/^module: *//p' "$m")
            case $lib in /*) ;; *) lib=$(pkg-config --variable=p11_module_path p11-kit-1)/$lib ;; esac
            theirs=$(ldd "$lib" 2>/dev/null | awk '/libtss2-esys/ {print $3}')
            if [ -n "$theirs" ] && [ "$theirs" != "$ours" ]; then
                echo "note: leaving out $(basename "$m"): it links $theirs, edgekey $ours"
                continue
            fi
            cp "$m" "$mods/"
        done
        printf 'module: %s\ncritical: no\n' "$EK_P11" >"$mods/edgekey.module"
        unshare -m bash -c 'mount --bind "$1" /usr/share/p11-kit/modules && exec bash "$2" --proxy-part' \
            _ "$mods" "$0" || fail "p11-kit proxy part"
    else
        export XDG_CONFIG_HOME=$T/home/.config
        mkdir -p "$XDG_CONFIG_HOME/pkcs11/modules"
        printf 'module: %s\ncritical: no\n' "$EK_P11" >"$XDG_CONFIG_HOME/pkcs11/modules/edgekey.module"
        bash "$0" --proxy-part || fail "p11-kit proxy part"
    fi
    exit 0
fi
proxy=$(pkg-config --variable=proxy_module p11-kit-1 2>/dev/null || true)
[ -f "$proxy" ] || proxy=/usr/lib/x86_64-linux-gnu/p11-kit-proxy.so
[ -f "$proxy" ] || fail "p11-kit-proxy.so not found"
p11-kit list-modules 2>/dev/null | grep -q "edgekey" || fail "p11-kit does not see the edgekey module"
# Our free slot is listed with a label and serial of its own (issue 11, item
# 5), never as a token with an empty label and serial.
p11-kit list-modules 2>/dev/null | awk '/^[^ \t]/ {m = ($1 == "edgekey:")} m' >"$T/mods.ek"
grep -qx "    token: edgekey free slot (new token)" "$T/mods.ek" || { cat "$T/mods.ek"; fail "free slot label"; }
grep -A3 "token: edgekey free slot" "$T/mods.ek" | grep -qx "        serial-number: (free)" ||
    { cat "$T/mods.ek"; fail "free slot serial"; }
! grep -qE "^ +token: *$|^ +serial-number: *$" "$T/mods.ek" || { cat "$T/mods.ek"; fail "a blank label or serial"; }
pass "p11-kit list-modules shows the free slot as 'edgekey free slot (new token)', serial (free)"
pkcs11-tool --module "$proxy" --list-token-slots >"$T/proxy.slots" 2>&1 || fail "proxy --list-token-slots"
grep -q "token label *: edge$" "$T/proxy.slots" || { cat "$T/proxy.slots"; fail "proxy does not reach token edge"; }
echo "proxy data" >"$T/data"
id=$(pkcs11-tool --module "$proxy" --token-label edge --list-objects --type privkey |
    awk '$1=="label:" && $2=="ssh-ec" {f=1} f && $1=="ID:" {print $2; exit}')
pkcs11-tool --module "$proxy" --token-label edge --sign --id "$id" -m ECDSA-SHA256 \
    --signature-format openssl -i "$T/data" -o "$T/sig" >/dev/null 2>&1 || fail "sign through the proxy"
# The public key from the module itself, through p11tool: pkcs11-tool 0.23's
# --read-object of an EC public key reads memory it has freed (ASan aborts it,
# with any module).
ek_p11_pubkey edge "$id" "$T/ec.pem" || fail "public key of $id"
openssl dgst -sha256 -verify "$T/ec.pem" -signature "$T/sig" "$T/data" >/dev/null ||
    fail "proxy signature does not verify"
ssh-keygen -D "$proxy" 2>/dev/null | grep -q "^ecdsa-sha2-nistp256 " || fail "ssh-keygen -D via the proxy"
pass "p11-kit-proxy reaches the token and signs"
