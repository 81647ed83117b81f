#!/usr/bin/env bash
# Every generated man page renders with man -l at 80 columns without a
# groff/tbl warning and has NAME, SYNOPSIS and DESCRIPTION sections with
# text under them (issue 11: man pages checked in the suite).
#
#   check-man.sh PAGE...
set -euo pipefail
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v man >/dev/null || { echo "SKIP: no man (scripts/deps test: man-db)"; exit 77; }
[ $# -gt 0 ] || fail "no man pages given"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/ek-man.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
for page in "$@"; do
    name=$(basename "$page")
    # --warnings: groff's own warnings (-ww) on stderr; no pager, fixed width
    MANWIDTH=80 MANPAGER=cat PAGER=cat LC_ALL=C.UTF-8 \
        man --warnings -l "$page" >"$tmp/out" 2>"$tmp/err" || fail "$name: man -l exited $?: $(cat "$tmp/err")"
    [ ! -s "$tmp/err" ] || fail "$name: man -l warned: $(head -c 2000 "$tmp/err")"
    for sect in NAME SYNOPSIS DESCRIPTION; do
        # the heading, then an indented line of text before the next heading
        awk -v s="$sect" '$0 == s {h = 1; next} h && /^[A-Z]/ {exit} h && /^ +[^ ]/ {ok = 1; exit}
                         END {exit !ok}' "$tmp/out" ||
            fail "$name: no $sect section with text in it"
    done
    # what man.lua must not leave behind: unreplaced include markers
    grep -q 'man-include\|man: synopsis' "$tmp/out" && fail "$name: a man.lua marker was left in the page"
    echo "ok: $name: $(wc -l <"$tmp/out") lines, NAME/SYNOPSIS/DESCRIPTION present, no warnings"
done
