# shellcheck shell=bash
# Sourced by scripts/compat: fetch Debian source packages of another suite
# through a private apt configuration, never touching the machine's own.
#
#   compat_apt_init DIR SUITE   make DIR/apt (sources, lists, cache) and run
#                               `apt-get update` on it alone
#   compat_fetch PKG PREFIX OUT download into OUT the newest source of PKG
#                               whose version starts with PREFIX that the
#                               archive still serves; prints that version
#   compat_fetch_from DIR PKG PREFIX OUT SUITE...
#                               compat_fetch through each SUITE in turn (one
#                               private configuration each, DIR/SUITE) until
#                               one serves PKG; prints "VERSION SUITE", else
#                               fails with COMPAT_WHY saying what each listed
#   compat_own_suite            the machine's own Debian suite (bookworm)
#
# The archive URI is the machine's own (deb822 .sources or sources.list):
# the repository names no host.

# The first Debian archive URI the machine's apt sources use (not the
# security archive, which holds only updates).
compat_archive_uri() {
    local f uri
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -f "$f" ] || continue
        uri=$(awk 'tolower($1) == "uris:" { for (i = 2; i <= NF; i++) print $i }' "$f" |
            grep -v -- '-security' | head -n1)
        [ -n "$uri" ] && { echo "$uri"; return 0; }
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -f "$f" ] || continue
        # deb [options] URI suite components
        uri=$(awk '$1 == "deb" || $1 == "deb-src" {
                   for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) { print $i; exit } }' "$f" |
            grep -v -- '-security' | head -n1)
        [ -n "$uri" ] && { echo "$uri"; return 0; }
    done
    echo "compat: no Debian archive URI in /etc/apt/sources.list{,.d}; add the machine's" \
        "Debian mirror there (the compat build takes its host from it)" >&2
    return 1
}

compat_apt_init() {
    local dir=$1 suite=$2 uri keyring=/usr/share/keyrings/debian-archive-keyring.gpg
    COMPAT_APT=(-o "Dir::Etc::sourcelist=$dir/apt/sources.list"
        -o "Dir::Etc::sourceparts=$dir/apt/sourceparts"
        -o "Dir::State::Lists=$dir/apt/lists"
        -o "Dir::State::status=/dev/null"
        -o "Dir::Cache=$dir/apt/cache"
        -o "APT::Sandbox::User=root")
    [ -f "$dir/apt/updated" ] && return 0 # several packages from one suite: one update
    uri=$(compat_archive_uri) || return 1
    mkdir -p "$dir/apt/sourceparts" "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial"
    : >"$dir/apt/sources.list"
    printf 'Types: deb-src\nURIs: %s\nSuites: %s\nComponents: main\nSigned-By: %s\n' \
        "$uri" "$suite" "$keyring" >"$dir/apt/sourceparts/compat.sources"
    echo "compat: apt-get update (deb-src $suite from the machine's archive, private lists)"
    apt-get "${COMPAT_APT[@]}" update -qq >"$dir/apt/update.log" 2>&1 ||
        { cat "$dir/apt/update.log" >&2; return 1; }
    touch "$dir/apt/updated"
}

# Versions of source package PKG starting with PREFIX, newest first.
compat_versions() {
    apt-cache "${COMPAT_APT[@]}" showsrc "$1" 2>/dev/null |
        awk -v p="$2" '$1 == "Version:" && index($2, p) == 1 { print $2 }' | sort -rVu
}

compat_fetch() {
    local pkg=$1 prefix=$2 out=$3 v tried=()
    mkdir -p "$out"
    for v in $(compat_versions "$pkg" "$prefix"); do
        if (cd "$out" && apt-get "${COMPAT_APT[@]}" source -d -qq "$pkg=$v") \
            >"$out/fetch-$v.log" 2>&1; then
            [ ${#tried[@]} -eq 0 ] ||
                echo "compat: $pkg ${tried[*]} listed but not downloadable; using $v" >&2
            echo "$v"
            return 0
        fi
        echo "compat: $pkg $v: $(grep -m1 '^E:' "$out/fetch-$v.log" || tail -n1 "$out/fetch-$v.log")" >&2
        # A failed download leaves partial files named for that version only.
        rm -f "$out/${pkg}_${v#*:}"* "$out/${pkg}_${v%%-*}".orig.*
        tried+=("$v")
    done
    if [ ${#tried[@]} -eq 0 ]; then
        echo "compat: the source index lists no $pkg $prefix*; check the suite" >&2
    else
        echo "compat: no listed $pkg version could be downloaded (${tried[*]}; the error of each is above)" >&2
    fi
    return 1
}

compat_own_suite() {
    # shellcheck source=/dev/null
    (. /etc/os-release && echo "${VERSION_CODENAME:?no VERSION_CODENAME in /etc/os-release}")
}

# Debian 13's opensc, libp11 and tpm2-openssl were listed but not served
# here, while Debian 12's opensc was: a peer tool may come from another suite.
# Not in a command substitution: COMPAT_WHY must reach the caller.
compat_fetch_from() {
    local dir=$1 pkg=$2 prefix=$3 out=$4 s listed
    shift 4
    COMPAT_WHY=
    for s in "$@"; do
        if ! compat_apt_init "$dir/$s" "$s" >&2; then
            COMPAT_WHY+="${COMPAT_WHY:+; }$s: apt-get update failed"
            continue
        fi
        if compat_fetch "$pkg" "$prefix" "$out" >"$out.version"; then
            echo "$(cat "$out.version") $s"
            return 0
        fi
        listed=$(compat_versions "$pkg" "$prefix" | tr '\n' ' ')
        COMPAT_WHY+="${COMPAT_WHY:+; }$s: ${listed:+${listed% } listed, not served}"
        [ -n "$listed" ] || COMPAT_WHY+="none listed"
    done
    return 1
}
