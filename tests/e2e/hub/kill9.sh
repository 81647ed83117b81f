#!/usr/bin/env bash
# Issue 4, acceptance 5: kill -9 of the hub in the middle of a run of
# activations and certificate applications loses nothing it answered: every
# activation and certificate a client received is in the registry after a
# restart, the database is intact, and serial numbers are never reused.
# Load: hub_devsim (bench/hub), 8 threads, logging each answer it received.
. "$(dirname "$0")/lib.sh"

N=300
# Kill once certificates are being issued and the run is still going.
devsim_load prodK $N K
kill -9 "$HUB_PID"
wait "$HUB_PID" 2>/dev/null || true
wait "$DEVSIM_PID" && fail "the load finished before the kill; nothing was interrupted"
acts=$(grep -c '^ACT' "$T/answers" || true); certs=$(grep -c '^CERT' "$T/answers" || true)
[ "$certs" -lt $N ] || fail "all certificates were issued before the kill"
pass "hub killed with -9 mid-run ($acts activations, $certs certificates answered)"

if [ "$HUB_REGISTRY_KIND" = sqlite ] && command -v sqlite3 >/dev/null; then
    [ "$(hub_sql 'PRAGMA integrity_check;')" = ok ] || fail "registry damaged"
    pass "registry integrity_check ok"
fi
HUB_PID=
hub_start
devs=$(admin GET '/api/v1/admin/devices?productKey=prodK')
all=$(admin GET /api/v1/admin/certs)
jq -r '.data.devices[] | select(.state == "activated") | .deviceKey' <<<"$devs" | sort >"$T/db.act"
jq -r '.data.certs[] | "\(.deviceKey) \(.certSn)"' <<<"$all" | sort >"$T/db.certs"
grep '^ACT' "$T/answers" | cut -d' ' -f2 | sort >"$T/got.act"
grep '^CERT' "$T/answers" | cut -d' ' -f2,3 | sort >"$T/got.certs"
missing=$(comm -23 "$T/got.act" "$T/db.act")
[ -z "$missing" ] || fail "answered activations missing after the restart: $missing"
missing=$(comm -23 "$T/got.certs" "$T/db.certs")
[ -z "$missing" ] || fail "answered certificates missing after the restart: $missing"
if hub_sql_available; then
    hub_sql "SELECT device_key || ' ' || device_secret FROM devices;" |
        sort >"$T/db.secrets"
    grep '^ACT' "$T/answers" | cut -d' ' -f2,3 | sort >"$T/got.secrets"
    wrong=$(comm -23 "$T/got.secrets" "$T/db.secrets")
    [ -z "$wrong" ] || fail "stored deviceSecret differs from the one answered: $wrong"
fi
pass "every answered activation ($acts) and certificate ($certs) survived, secrets intact"

# New certificates after the restart get serials never seen before.
before=$(jq -r '.data.certs[].certSn' <<<"$all" | sort)
device_add prodK KNEW; activate prodK KNEW "$PSECRET"
soft_key kn KNEW ec
apply prodK KNEW "$DSECRET" "$T/kn.csr" "$T/kn.pem"
grep -qx "$CERTSN" <<<"$before" && fail "serial $CERTSN reused"
dups=$(admin GET /api/v1/admin/certs | jq -r '.data.certs[].certSn' | sort | uniq -d)
[ -z "$dups" ] || fail "duplicate serials: $dups"
pass "serial $CERTSN issued after the restart is new; no duplicates among $(wc -l <<<"$before")"
