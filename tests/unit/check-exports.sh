#!/bin/sh
# core-exports (suite unit): libedgekey-core.so exports only its public API.
#   check-exports.sh LIBEDGEKEY_CORE_SO CORE_SOURCE_DIR
# Every dynamic symbol the library defines must start with ek_ and be
# declared with EK_API in a core/*.h header (core/ek_export.h); the
# connection state (ek_g, or whatever replaces it) never is. Fails with the
# offending names, and says so if a declared EK_API function is missing.
set -eu
lib=$1
core=$2
[ -f "$lib" ] || { echo "check-exports: no library $lib" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Defined dynamic symbols (any type: functions, data, weak). _init/_fini
# come from the C runtime's crti.o, not from core.
nm -D --defined-only "$lib" | awk 'NF >= 3 { print $3 }' | sed 's/@.*//' |
    grep -v -x -e _init -e _fini | sort -u > "$tmp/exported"

# The allowlist: the name before the first '(' on every line declaring
# with EK_API (declarations keep EK_API and the name on one line).
grep -h '^[[:space:]]*EK_API[[:space:]]' "$core"/*.h |
    sed -n 's/^[^(]*[^A-Za-z0-9_]\([A-Za-z_][A-Za-z0-9_]*\)[[:space:]]*(.*/\1/p' |
    sort -u > "$tmp/allowed"

n=$(wc -l < "$tmp/exported")
a=$(wc -l < "$tmp/allowed")
echo "check-exports: $lib exports $n symbols; $a declared EK_API in $core/*.h"

fail=0
if [ "$a" -eq 0 ]; then
    echo "FAIL: no EK_API declaration found in $core/*.h" >&2
    fail=1
fi
bad=$(grep -v '^ek_' "$tmp/exported" || true)
if [ -n "$bad" ]; then
    echo "FAIL: exported symbols not starting with ek_ (not core API):" >&2
    echo "$bad" | sed 's/^/  /' >&2
    fail=1
fi
if grep -q -x 'ek_g' "$tmp/exported"; then
    echo "FAIL: the connection state ek_g is exported" >&2
    fail=1
fi
extra=$(comm -23 "$tmp/exported" "$tmp/allowed")
if [ -n "$extra" ]; then
    echo "FAIL: $(echo "$extra" | wc -l) exported symbols not declared with EK_API in a public header" \
         "(add EK_API only if a face needs it; tests of internals link core_int_lib):" >&2
    echo "$extra" | sed 's/^/  /' >&2
    fail=1
fi
missing=$(comm -13 "$tmp/exported" "$tmp/allowed")
if [ -n "$missing" ]; then
    echo "FAIL: declared EK_API but not exported (defined outside the library, or a static/inline?):" >&2
    echo "$missing" | sed 's/^/  /' >&2
    fail=1
fi
[ "$fail" -eq 0 ] && echo "check-exports: OK"
exit "$fail"
