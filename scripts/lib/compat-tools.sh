# shellcheck shell=bash
# Sourced by scripts/compat: peer programs built against a compat prefix.
# A process holds one libcrypto.so.3, whichever loaded first: Debian 12's
# pkcs11-tool (OpenSSL 3.0) would run our module on 3.0, not on the prefix.
# So OpenSC's pkcs11-tool is built on the prefix's OpenSSL, once, into a
# cache entry of its own beside the prefix (which stays as it was):
#
#   $cache/tools-<prefix name>/opensc-<v>/{bin/pkcs11-tool,lib,VERSIONS,NOTES,.complete}
#   (NOTES: the summary lines on pkcs11-tool, libp11 and tpm2-openssl)
#
#   compat_tools PREFIX NOTES   prints the bin directory to put first on PATH
#                               (building the entry if none is whole), or
#                               nothing when no OpenSC source could be
#                               downloaded; appends one line per peer program
#                               (what the suite uses and why) to NOTES
#   compat_check_tool BIN PREFIX  BIN loads libcrypto.so.3 from PREFIX/lib
#
# Needs $cache (scripts/compat) and compat-fetch.sh, compat-build.sh.

compat_check_tool() {
    local deps
    deps=$(ldd "$1") # whole, first: grep -q on a pipe is SIGPIPE under pipefail
    grep -q "libcrypto.so.3 => $2/lib/" <<<"$deps" && return 0
    echo "compat: $1 does not load libcrypto.so.3 from $2/lib:" \
        "$(grep libcrypto <<<"$deps" | tr -s ' \t' ' ')" >&2
    return 1
}

# Newest whole opensc entry under BASE.
compat_tools_cached() {
    local d
    for d in $(printf '%s\n' "$1/opensc-"* | sort -rV); do
        [ -f "$d/.complete" ] && { echo "$d"; return 0; }
    done
    return 1
}

compat_tools() {
    local prefix=$1 notes=$2 base d
    base=${cache:?}/tools-$(basename "$prefix")
    if ! d=$(compat_tools_cached "$base"); then
        d=$(compat_tools_make "$prefix" "$base" "$notes") || return 1
        [ -n "$d" ] || return 0 # no source: Debian 12's pkcs11-tool, said in NOTES
    fi
    compat_check_tool "$d/bin/pkcs11-tool" "$prefix" || return 1
    cat "$d/NOTES" >>"$notes"
    echo "$d/bin"
}

# The peers whose sources this machine's archive did not serve keep Debian
# 12's builds; one line each says so (and why) in NOTES.
compat_tools_peers() {
    local tmp=$1 out=$2 suites=("${@:3}")
    if compat_fetch_from "$tmp" libp11 "" "$tmp/src-libp11" "${suites[@]}" >/dev/null 2>&1; then
        echo "compat: libp11: Debian 12's engine by soname (a source is served now; scripts/compat does not build it)"
    else
        echo "compat: libp11: Debian 12's engine, loaded into 3.5 by soname: no source served ($COMPAT_WHY)"
    fi >>"$out"
    if compat_fetch_from "$tmp" tpm2-openssl "" "$tmp/src-tpm2-openssl" "${suites[@]}" >/dev/null 2>&1; then
        echo "compat: tpm2-openssl: tests skip (a source is served now; scripts/compat does not build it)"
    else
        echo "compat: tpm2-openssl: tests skip, none built for 3.5: no source served ($COMPAT_WHY)"
    fi >>"$out"
}

# Fetch OpenSC (trixie, else the machine's own suite), build pkcs11-tool,
# check its link, move the entry into place whole; prints its path, or
# nothing when no source could be downloaded. Caller holds the cache lock.
compat_tools_make() {
    local prefix=$1 base=$2 notes=$3 tmp rc
    tmp=$(mktemp -d /tmp/edgekey-compat-tools.XXXXXX) || return 1
    (
        set -e
        suites=(trixie "$(compat_own_suite)")
        t0=$(date +%s)
        compat_tools_peers "$tmp" "$tmp/NOTES" "${suites[@]}"
        # Not in $(...): COMPAT_WHY must reach this shell.
        if ! compat_fetch_from "$tmp" opensc "" "$tmp/src" "${suites[@]}" >"$tmp/got"; then
            cat "$tmp/NOTES" >>"$notes"
            echo "compat: pkcs11-tool: Debian 12's (on OpenSSL 3.0, so the PKCS#11 tests" \
                "run our module on 3.0): no OpenSC source could be downloaded ($COMPAT_WHY)" >>"$notes"
            exit 0
        fi
        read -r v s <"$tmp/got"
        [ "$s" = trixie ] || echo "compat: opensc from $s ($COMPAT_WHY)" >&2
        d=$base/opensc-${v//\~/_} work=$base/.work
        rm -rf "$work" && mkdir -p "$work"
        compat_unpack "$tmp/src/opensc_${v#*:}.dsc" "$tmp/opensc" 2>"$tmp/unpack.log"
        echo "compat: building OpenSC $v ($s) pkcs11-tool into $d (log $work/opensc.log)" >&2
        compat_build_opensc "$tmp/opensc" "$d" "$work/stage" "$prefix" >"$work/opensc.log" 2>&1 ||
            { tail -n 30 "$work/opensc.log" >&2; exit 1; }
        # The entry's RUNPATH names $d; checked there after the move.
        printf 'opensc %s\nsuite %s\nbuilt %s; %ss\n' "$v" "$s" \
            "$(date -u +%FT%TZ)" $(($(date +%s) - t0)) >"$work/stage$d/VERSIONS"
        { # which pkcs11-tool, then the peers' lines
            echo "compat: pkcs11-tool: OpenSC $v from Debian $s${COMPAT_WHY:+ ($COMPAT_WHY)}," \
                "built on the prefix's OpenSSL in $d"
            cat "$tmp/NOTES"
        } >"$work/stage$d/NOTES"
        rm -rf "$d"
        mv "$work/stage$d" "$d"
        compat_check_tool "$d/bin/pkcs11-tool" "$prefix" || { rm -rf "$d"; exit 1; }
        touch "$d/.complete"
        rm -rf "$work"
        echo "compat: OpenSC $v built in $(($(date +%s) - t0)) s" >&2
        echo "$d"
    )
    rc=$?
    rm -rf "$tmp"
    return $rc
}
