#!/usr/bin/env bash
# scripts/deps (issue 11 item 5): the demo set holds no test-only peer (the
# tpm2-pkcs11 package registers itself with p11-kit, and every p11tool and
# gnutls-cli on a demo machine then prints "** CRITICAL **"/"ERROR:tcti:"
# lines), it holds the package of every program scripts/demo runs, and the
# test set holds all of the demo set.
#
#   check-deps-sets.sh SOURCE_ROOT
set -euo pipefail
src=$1
fail() { echo "FAIL: $*" >&2; exit 1; }

demo=$("$src/scripts/deps" demo --list) || fail "scripts/deps demo --list failed"
test=$("$src/scripts/deps" test --list) || fail "scripts/deps test --list failed"
default=$("$src/scripts/deps" --list) || fail "scripts/deps --list failed"

for p in libtpm2-pkcs11-1 libtpm2-pkcs11-tools softhsm2 tpm2-openssl libengine-pkcs11-openssl \
         opensc gnutls-bin clang valgrind; do
    grep -qx "$p" <<<"$demo" && fail "scripts/deps demo installs the test-only package $p"
done

# the programs scripts/demo and scripts/lib/edge-hub.sh start, and their packages
declare -A pkg_of=([swtpm]=swtpm [tpm2-abrmd]=tpm2-abrmd [dbus-daemon]=dbus [tpm2_getcap]=tpm2-tools
                   [mosquitto]=mosquitto [openssl]=openssl [python3]=python3 [ss]=iproute2)
scripts="$src/scripts/demo $src/scripts/lib/edge-hub.sh $src/tests/lib/ports.sh"
for prog in "${!pkg_of[@]}"; do
    # shellcheck disable=SC2086
    grep -qE "(^|[[:space:](])$prog( |$)" $scripts || fail "the demo no longer runs $prog: update this table"
    grep -qx "${pkg_of[$prog]}" <<<"$demo" || fail "scripts/deps demo lacks ${pkg_of[$prog]}, which scripts/demo needs for $prog"
done

missing=$(comm -23 <(sort -u <<<"$demo") <(sort -u <<<"$test"))
[ -z "$missing" ] || fail "the test set lacks demo packages: $missing"
[ "$default" = "$test" ] || fail "scripts/deps without a set is not the test set"
echo "ok: demo set $(wc -l <<<"$demo") packages, no test-only peer; test set $(wc -l <<<"$test")"
