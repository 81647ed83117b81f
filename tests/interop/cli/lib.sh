# Helpers for the CLI interop tests. Sourced after tests/lib/common.sh.
#
#   run CMD...          run, keep stdout in $T/out, stderr in $T/err, exit code in $rc
#   expect_rc N CMD...  run and fail unless the exit code is N
#   ok CMD...           expect_rc 0
#   json_ok FILE        fail unless FILE is one valid JSON document
#   jq_ FILE EXPR       print a value out of FILE (python3 expression on d)

command -v edgekey >/dev/null || fail "edgekey is not on PATH (build/cli)"

run() {
    set +e
    "$@" >"$T/out" 2>"$T/err"
    rc=$?
    set -e
}

expect_rc() {
    local want=$1
    shift
    run "$@"
    if [ "$rc" != "$want" ]; then
        echo "--- stdout" >&2; cat "$T/out" >&2
        echo "--- stderr" >&2; cat "$T/err" >&2
        fail "'$*' exited $rc, expected $want"
    fi
}

ok() { expect_rc 0 "$@"; }

json_ok() {
    python3 -c 'import json,sys; json.load(open(sys.argv[1]))' "$1" ||
        { cat "$1" >&2; fail "not valid JSON: $1"; }
}

# jq_ FILE 'd["tokens"][0]["token"]' -> prints the value (JSON null -> "None")
jq_() {
    python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"
}

# In direct mode no transient object may be left behind by a finished CLI
# process (swtpm holds 3; the next process would fail).
no_leftovers() {
    [ "$EDGEKEY_TEST_MODE" = direct ] || return 0
    local left
    left=$(tpm2t tpm2_getcap handles-transient)
    [ -z "$left" ] || fail "transient objects left in the TPM after the CLI exited: $left"
    pass "no transient objects left behind"
}

# tpm2-tools never load our modules: run them without the ASan runtime even
# if a caller preloaded it (common.sh preloads it only into the programs that
# load our modules; tests/lib/asan_first.c says why tpm2-tools hung with it).
tpm2t() { env -u LD_PRELOAD "$@"; }
