#!/usr/bin/env bash
# Issue 14, test 4: PostgreSQL stopped and restarted during a burst of
# activations and applies. Every request either completed or was refused
# with 503 registry_unavailable; the hub reconnects by itself (no restart);
# afterwards the registry and the answers agree one to one (every answered
# activation and certificate is stored, nothing refused is), serials unique.
# Load: hub_devsim (bench/hub), 8 threads, logging each answer it received.
EDGEKEY_HUB_REGISTRY=postgresql
. "$(dirname "$0")/lib.sh"

devsim_load prodP 200 P
pg_restart
wait "$DEVSIM_PID" || true   # the refused devices make it exit 1
acts=$(grep -c '^ACT' "$T/answers" || true); certs=$(grep -c '^CERT' "$T/answers" || true)
kill -0 "$HUB_PID" || fail "the hub died"

# Refusals: only 503 registry_unavailable (devsim prints each failed call).
refused=$(grep -c '^hub_devsim: /api' "$T/devsim.err" || true)
[ "$refused" -gt 0 ] || fail "no request met the restart (nothing interrupted)"
other=$(grep '^hub_devsim: /api' "$T/devsim.err" | grep -v '"code":503,"error":"registry_unavailable"' || true)
[ -z "$other" ] || fail "refusals other than 503 registry_unavailable: $(head -n 3 <<<"$other")"
pass "PostgreSQL restarted mid-burst: $acts activations and $certs certificates answered, $refused requests refused with 503 registry_unavailable, none otherwise"

# The same hub, not restarted, serves again once PostgreSQL is back.
"$DEVSIM" --api "$API" --ca "$CA" --token "$ADMIN_TOKEN" --register --product prodP \
    --product-secret "$PSECRET" --devices 20 --threads 4 --prefix Q \
    >"$T/devsim2.out" 2>"$T/devsim2.err" || fail "after the restart: $(head -n 3 "$T/devsim2.err")"
pass "the hub reconnected by itself: 20 more devices activated and certified"

# The registry agrees with the answers, both ways.
devs=$(admin GET '/api/v1/admin/devices?productKey=prodP')
[ "$(status)" = 200 ] || fail "admin API after the restart: $devs"
all=$(admin GET /api/v1/admin/certs)
jq -r '.data.devices[] | select(.state == "activated") | .deviceKey | select(startswith("P"))' \
    <<<"$devs" | sort >"$T/db.act"
jq -r '.data.certs[] | select(.deviceKey | startswith("P")) | "\(.deviceKey) \(.certSn)"' \
    <<<"$all" | sort >"$T/db.certs"
grep '^ACT' "$T/answers" | cut -d' ' -f2 | sort >"$T/got.act"
grep '^CERT' "$T/answers" | cut -d' ' -f2,3 | sort >"$T/got.certs"
diff "$T/got.act" "$T/db.act" >"$T/act.diff" ||
    fail "activations: answers and registry differ: $(head -n 5 "$T/act.diff")"
diff "$T/got.certs" "$T/db.certs" >"$T/certs.diff" ||
    fail "certificates: answers and registry differ: $(head -n 5 "$T/certs.diff")"
dups=$(jq -r '.data.certs[].certSn' <<<"$all" | sort | uniq -d)
[ -z "$dups" ] || fail "serial issued twice: $dups"
pass "registry and answers agree one to one ($acts activations, $certs certificates), serials unique"
