#!/usr/bin/env bash
# Issue 11, item 6: edgekey-hub and edge-client refuse what they do not
# know (usage on stderr, exit 2, nothing run), have --help on every command
# and --version, name a missing or unreadable config file, and `device list`
# has a header while its --json output stays as scripts parse it.
. "$(dirname "$0")/lib.sh"
EDGE_BIN=$EDGEKEY_BUILD/examples/edge-client/edge-client
[ -x "$EDGE_BIN" ] || fail "edge-client not built at $EDGE_BIN"

# A working hub first: a refused command must not fall through to the list.
hub_config file file
hub init >"$T/init.out" 2>&1 || { cat "$T/init.out"; fail "hub init"; }
hub product add --product-key P1 >/dev/null || fail "product add"
hub device add --product-key P1 --device-key SN-1 >/dev/null || fail "device add"

# usage_error WHAT ARGS...: exit 2, usage on stderr, nothing on stdout.
usage_error() {
    local what=$1 rc=0
    shift
    "$@" >"$T/u.out" 2>"$T/u.err" || rc=$?
    [ "$rc" = 2 ] || fail "$what: exit $rc, wanted 2 (stdout: $(head -3 "$T/u.out"))"
    grep -q "usage:" "$T/u.err" || fail "$what: no usage on stderr: $(cat "$T/u.err")"
    [ ! -s "$T/u.out" ] || fail "$what: printed on stdout: $(head -3 "$T/u.out")"
    pass "$what: exit 2 ($(head -1 "$T/u.err"))"
}
usage_error "device lst" hub device lst
usage_error "device list --bogus" hub device list --bogus
usage_error "unknown command" hub lst
usage_error "unknown global option" hub --bogus device list
usage_error "no command" hub
usage_error "device without subcommand" hub device
usage_error "product list extra" hub product list extra
usage_error "cert list --device-key without value" hub cert list --device-key
usage_error "revoke --reasn (typo)" hub revoke --cert-sn 01 --reasn 1
usage_error "crl --force (unknown)" hub crl --force
grep -q "unknown option --force" "$T/u.err" || fail "the message does not name the option: $(cat "$T/u.err")"

rc=0
hub --json device lst >"$T/j.out" 2>/dev/null || rc=$?
[ "$rc" = 2 ] && [ "$(jq -r .error "$T/j.out")" = usage ] || fail "--json usage error: exit $rc, $(cat "$T/j.out")"
pass "--json: a usage error is a JSON object with error=usage"

# --help on every command: usage on stdout, exit 0, and the command does not
# run (init --help must not create the state directory of a new config).
"$HUB_BIN" --help | grep -q "doctor" || fail "edgekey-hub --help"
for cmd in init serve doctor "product add" "product list" "device add" "device list" \
    "device show" "device reset" "cert list" revoke crl send device product; do
    # shellcheck disable=SC2086
    out=$("$HUB_BIN" --config "$T/new.conf" $cmd --help) || fail "$cmd --help: exit $?"
    grep -q "^usage: edgekey-hub .*${cmd%% *}" <<<"$out" || fail "$cmd --help: $out"
done
[ ! -e "$T/new.conf" ] && [ ! -e "$T/newdir" ] || fail "--help ran a command"
pass "--help on every command prints its usage and runs nothing"
v=$("$HUB_BIN" --version) && grep -qE '^edgekey-hub [0-9]+\.[0-9]+' <<<"$v" || fail "edgekey-hub --version: $v"
pass "edgekey-hub --version: $v"

# A missing or unreadable config file is named, with the fix; it is not
# reported as a registry that cannot be opened.
rc=0
"$HUB_BIN" --config "$T/nope.conf" device list 2>"$T/c.err" || rc=$?
[ "$rc" = 1 ] && grep -q "config file $T/nope.conf does not exist.*--config FILE" "$T/c.err" ||
    fail "missing config: exit $rc: $(cat "$T/c.err")"
grep -q registry "$T/c.err" && fail "missing config reported as a registry error: $(cat "$T/c.err")"
pass "missing config: $(cat "$T/c.err")"
rc=0
EDGEKEY_HUB_CONF=$T "$HUB_BIN" device list 2>"$T/c.err" || rc=$?
[ "$rc" = 1 ] && grep -q "config file $T cannot be read" "$T/c.err" ||
    fail "a directory as config: exit $rc: $(cat "$T/c.err")"
pass "unreadable config (a directory): $(cat "$T/c.err")"

# device list: a header, then the rows; --json (before or after the
# command) unchanged for scripts.
hub device list >"$T/list.out" || fail "device list"
head -1 "$T/list.out" | grep -qE '^DEVICE-KEY +PRODUCT-KEY +STATE' || fail "no header: $(cat "$T/list.out")"
sed -n 2p "$T/list.out" | grep -qE '^SN-1 +P1 +registered' || fail "device row: $(cat "$T/list.out")"
[ "$(hub --json device list | jq -r '.devices[0].deviceKey')" = SN-1 ] || fail "--json device list"
[ "$(hub device list --json | jq -r '.devices | length')" = 1 ] || fail "device list --json (after)"
pass "device list has a header; its JSON is unchanged"

# edge-client: the same conventions (checked before its config is read).
out=$("$EDGE_BIN" --help) && grep -q "^usage: edge-client" <<<"$out" || fail "edge-client --help"
"$EDGE_BIN" --config "$T/none.conf" run --help | grep -q "usage: edge-client" || fail "edge-client run --help"
v=$("$EDGE_BIN" --version) && grep -qE '^edge-client [0-9]+\.[0-9]+' <<<"$v" || fail "edge-client --version: $v"
usage_error "edge-client --bogus" "$EDGE_BIN" --bogus
usage_error "edge-client unknown command" "$EDGE_BIN" --config "$T/none.conf" bogus
usage_error "edge-client reset extra" "$EDGE_BIN" --config "$T/none.conf" reset --now
usage_error "edge-client no command" "$EDGE_BIN" --config "$T/none.conf"
pass "edge-client: --help, --version, unknown options and commands exit 2"
