#!/usr/bin/env bash
# edgekey list shows the TPM's persistent objects that the store does not
# name, with their key type, and not those it does (issue 2). Runs inside
# tests/lib/tpm-env.sh.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/common.sh"
command -v tpm2_evictcontrol >/dev/null || fail "tpm2-tools not installed"

# A store key made persistent by edgekey: listed under its token only.
edgekey keygen --label stored --alg ec-p256 --persist 0x81010020 >/dev/null ||
    fail "edgekey keygen --persist"
# A key made persistent behind the store's back, with tpm2-tools.
tpm2_createprimary -Q -C o -G rsa2048 -c "$T/prim.ctx" || fail "tpm2_createprimary"
tpm2_evictcontrol -Q -C o -c "$T/prim.ctx" 0x81010021 >/dev/null || fail "tpm2_evictcontrol"
tpm2_flushcontext -t >/dev/null 2>&1 || true

edgekey --json list >"$T/list.json" || { cat "$T/list.json"; fail "edgekey --json list"; }
python3 - "$T/list.json" <<'PY' || fail "JSON list: wrong TPM section"
import json, sys
d = json.load(open(sys.argv[1]))
tpm = d.get("tpm_persistent")
assert isinstance(tpm, list), tpm
by = {o["handle"]: o for o in tpm}
assert "0x81010021" in by, by
o = by["0x81010021"]
assert o["type"] == "rsa2048" and o["restricted"] and o["decrypt"] and not o["sign"], o
assert "0x81010020" not in by, "a store key is listed as foreign"
PY
edgekey list >"$T/list.txt" || fail "edgekey list"
grep -q "persistent TPM objects not in the store" "$T/list.txt" || { cat "$T/list.txt"; fail "no TPM section"; }
grep -q "0x81010021  rsa2048  restricted  decrypt (storage key)" "$T/list.txt" ||
    { cat "$T/list.txt"; fail "foreign handle line"; }
edgekey --json list --no-tpm >"$T/notpm.json" || fail "edgekey list --no-tpm"
python3 -c 'import json,sys; assert "tpm_persistent" not in json.load(open(sys.argv[1]))' \
    "$T/notpm.json" || fail "--no-tpm still asks the TPM"
tpm2_evictcontrol -Q -C o -c 0x81010021 >/dev/null || true
pass "edgekey list: persistent handles outside the store, with their key type"
