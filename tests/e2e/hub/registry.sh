#!/usr/bin/env bash
# Run the registry suite (test_registry) against one backend:
#   registry.sh sqlite|postgresql TEST_BINARY
# sqlite: a fresh file; postgresql: a private server (tests/lib/pg.sh).
set -euo pipefail
backend=${1:?usage: registry.sh sqlite|postgresql TEST_BINARY}
bin=${2:?usage: registry.sh sqlite|postgresql TEST_BINARY}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../../lib/pg.sh"

T=$(mktemp -d "${TMPDIR:-/tmp}/edgekey-reg.XXXXXX")
cleanup() {
    local rc=$?
    pg_stop
    rm -rf "$T"
    exit "$rc"
}
trap cleanup EXIT

case $backend in
sqlite) export EDGEKEY_REGISTRY_URL=sqlite:$T/hub.db ;;
postgresql)
    pg_start "$T/pg" "$T"
    export EDGEKEY_REGISTRY_URL=$PG_URL
    ;;
*) echo "registry.sh: unknown backend '$backend' (sqlite or postgresql)" >&2; exit 2 ;;
esac
"$bin"
