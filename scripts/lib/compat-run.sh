# shellcheck shell=bash
# Sourced by scripts/compat: build edgekey against a compat prefix and run
# the unit, tpm, provider and PKCS#11 interop suites on it.
#
#   compat_run PREFIX ASAN TOOLS NOTES   (EDGEKEY_COMPAT_JOBS: meson test
#                                         processes, 1 unless set)
#       ASAN=1: build-compat-asan with ASan+UBSan; TOOLS: a bin directory
#       (pkcs11-tool on the prefix, compat-tools.sh) put first on PATH, or
#       empty; NOTES: a file of lines on the peer programs, printed at the end
#
# Prints the versions tested, NOTES and "N passed, N failed[, N skipped]";
# returns non-zero on any failure.

# Names of the tests to run: suites unit, tpm and pkcs11, and the provider
# interop tests (named provider-*; their suites are interop/direct/abrmd).
compat_tests() {
    {
        meson test -C "$1" --list --suite unit --suite tpm 2>/dev/null
        meson test -C "$1" --list 2>/dev/null | grep -E '(^| )(provider-|pkcs11-)'
    } | grep ' / ' | sed 's/^.* \/ //' | sort -u # (--list may print ninja's lines too)
}

compat_count() {
    python3 - "$1/meson-logs/testlog.json" <<'PY'
import json, sys
p = f = s = 0
for line in open(sys.argv[1]):
    r = json.loads(line)["result"]
    if r in ("OK", "EXPECTEDFAIL"): p += 1
    elif r == "SKIP": s += 1
    else: f += 1
print(p, f, s)
PY
}

# Needs $root (the source tree), set by scripts/compat.
compat_run() {
    local prefix=$1 asan=$2 tools=$3 notes=$4 dir opts=(-Dbuildtype=debugoptimized) mult=() extra ov tv
    dir=${root:?}/build-compat
    if [ "$asan" = 1 ]; then
        dir=${root:?}/build-compat-asan mult=(--timeout-multiplier 3)
        opts=(-Dbuildtype=debug -Db_sanitize=address,undefined -Db_lundef=false)
    fi
    # shellcheck disable=SC2206
    extra=(${EDGEKEY_TEST_ARGS:-})
    export PKG_CONFIG_PATH=$prefix/lib/pkgconfig
    # Our libraries and programs find the prefix by RUNPATH, so nothing else
    # in the process tree (mosquitto, curl, tpm2-tools) is moved onto it.
    export LDFLAGS="-Wl,-rpath,$prefix/lib"
    local setup=(meson setup "$dir" "${opts[@]}")
    [ -f "$dir/build.ninja" ] && setup=(meson setup --reconfigure "$dir" "${opts[@]}")
    mkdir -p "$dir"
    "${setup[@]}" >"$dir/compat-setup.log" 2>&1 || { cat "$dir/compat-setup.log"; return 1; }
    grep -E 'Run-time dependency (libcrypto|tss2-esys) found' "$dir/compat-setup.log"
    ninja -C "$dir" -j1 || { echo "compat: edgekey build failed"; return 1; }
    compat_check_link "$dir" "$prefix" || return 1

    # The prefix's openssl and pkcs11-tool first on PATH; OPENSSL_MODULES
    # (our provider) and the rest come from the tests' own environment.
    export PATH=$prefix/bin:$PATH EDGEKEY_COMPAT_PREFIX=$prefix
    if [ -n "$tools" ]; then
        compat_check_tool "$tools/pkcs11-tool" "$prefix" || return 1
        PATH=$tools:$PATH
    fi
    echo "compat: pkcs11-tool is $(command -v pkcs11-tool)"
    # libp11's Debian 13 source is not served by every mirror; Debian 12's
    # engine (public OpenSSL 3 API only) loads into 3.5 by soname.
    export EK_LIBP11_ENGINE=${EK_LIBP11_ENGINE:-$(/usr/bin/openssl version -e |
        sed -n 's/^ENGINESDIR: "\(.*\)"/\1/p')/pkcs11.so}
    unset LDFLAGS
    local names
    # shellcheck disable=SC2206
    names=(${EDGEKEY_COMPAT_TESTS:-})
    [ ${#names[@]} -gt 0 ] || mapfile -t names < <(compat_tests "$dir")
    EK_P11_BIG=${EK_P11_BIG:-10000} EK_P11_PER_PROC=${EK_P11_PER_PROC:-500} \
        EK_P11_PER_THREAD=${EK_P11_PER_THREAD:-200} \
        meson test -C "$dir" --num-processes "${EDGEKEY_COMPAT_JOBS:-1}" --print-errorlogs "${mult[@]}" \
        "${names[@]}" "${extra[@]}"
    local rc=$?
    ov=$("$prefix/bin/openssl" version | awk '{print $2}')
    tv=$(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --modversion tss2-esys)
    local p=0 f=1 s=0
    [ -f "$dir/meson-logs/testlog.json" ] && read -r p f s < <(compat_count "$dir")
    echo "compat: tested OpenSSL $ov, tpm2-tss $tv ($(sed -n 's/^openssl //p;' "$prefix/VERSIONS") /" \
        "$(sed -n 's/^tpm2-tss //p' "$prefix/VERSIONS") from Debian $(sed -n 's/^suite //p' "$prefix/VERSIONS"))"
    cat "$notes"
    local line="$p passed, $f failed"
    [ "$s" -gt 0 ] && line="$line, $s skipped"
    echo "$line"
    [ $rc = 0 ] && [ "$f" = 0 ]
}

# Every binary of ours must resolve libcrypto and ESYS from the prefix:
# a build that silently fell back to the system stack tests nothing.
compat_check_link() {
    local dir=$1 prefix=$2 f deps bad=0
    for f in "$dir/provider/edgekey.so" "$dir/pkcs11/edgekey-pkcs11.so" "$dir/cli/edgekey"; do
        [ -e "$f" ] || continue
        deps=$(ldd "$f") # whole, first: grep -q on a pipe is SIGPIPE under pipefail
        for lib in libcrypto.so.3 libtss2-esys.so.0; do
            grep -q "$lib => $prefix/lib/" <<<"$deps" ||
                { echo "compat: $f does not load $lib from $prefix/lib"; bad=1; }
        done
    done
    return $bad
}
