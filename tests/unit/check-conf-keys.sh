#!/usr/bin/env bash
# edgekey.conf(5) lists every configuration key and environment variable the
# code reads, and no key the code does not know (issue 11 item 3: no page
# listed them). Sources of truth:
#   - core/base/config.c: the keys apply_kv() accepts (strcmp(key, "...")),
#     the allowed-keys message, and the environment table (EDGEKEY_*);
#   - getenv("EDGEKEY_...") in core/, provider/, pkcs11/ and cli/;
#   - provider/provider.c: the openssl.cnf section's keys.
#
#   check-conf-keys.sh SOURCE_ROOT
set -euo pipefail
src=$1
page=$src/docs/man/edgekey.conf.5.md
conf=$src/core/base/config.c
fail() { echo "FAIL: $*" >&2; exit 1; }

code_keys=$(grep -oE 'strcmp\(key, "[a-z_]+"\) == 0' "$conf" | grep -oE '"[a-z_]+"' | tr -d '"' | sort -u)
allowed=$(sed -n 's/^#define EK_CONF_ALLOWED "\(.*\)"/\1/p' "$conf" | tr -d ' ' | tr ',' '\n' | sort -u)
[ -n "$code_keys" ] || fail "no keys found in $conf: has apply_kv changed shape? update this test"
[ "$code_keys" = "$allowed" ] ||
    fail "config.c: the keys apply_kv accepts ($(echo $code_keys)) differ from EK_CONF_ALLOWED ($(echo $allowed))"

# the page's FILE KEYS section: definition-list terms `key`
page_keys=$(awk '/^# FILE KEYS/ {s = 1; next} /^# / {s = 0} s && /^`[a-z_]+`$/' "$page" | tr -d '`' | sort -u)
missing=$(comm -23 <(echo "$code_keys") <(echo "$page_keys"))
extra=$(comm -13 <(echo "$code_keys") <(echo "$page_keys"))
[ -z "$missing" ] || fail "edgekey.conf(5), FILE KEYS: no entry for key(s) core/base/config.c reads: $(echo $missing)"
[ -z "$extra" ] || fail "edgekey.conf(5), FILE KEYS: key(s) core/base/config.c does not know: $(echo $extra)"

# every EDGEKEY_* variable the library and the faces read has an entry
envs=$( (grep -rhoE 'getenv\("EDGEKEY_[A-Z_]+"\)' "$src/core" "$src/provider" "$src/pkcs11" "$src/cli"
         grep -hoE '\{"EDGEKEY_[A-Z_]+", "[a-z_]+"\}' "$conf"
         grep -rhoE '#define [A-Z_]+ "EDGEKEY_[A-Z_]+"' "$src/cli") | grep -oE 'EDGEKEY_[A-Z_]+' | sort -u)
page_envs=$(awk '/^# ENVIRONMENT/ {s = 1; next} /^# / {s = 0} s && /^`EDGEKEY_[A-Z_]+`$/' "$page" | tr -d '`' | sort -u)
missing=$(comm -23 <(echo "$envs") <(echo "$page_envs"))
[ -z "$missing" ] || fail "edgekey.conf(5), ENVIRONMENT: no entry for $(echo $missing)"

# each env table entry names the key it overrides on the page
while read -r env key; do
    awk -v t="\`$key\`" '$0 == t {s = 1; next} /^[`#]/ {s = 0} s' "$page" | grep -q "$env" ||
        fail "edgekey.conf(5): key '$key' does not name its environment variable $env"
done < <(grep -oE '\{"EDGEKEY_[A-Z_]+", "[a-z_]+"\}' "$conf" | tr -d '{}",' )

# the provider's openssl.cnf keys are named in OVERRIDES
prov_keys=$(sed -n '/static const char \*const keys\[\] = {/,/};/p' "$src/provider/provider.c" |
    grep -oE '"[a-z_]+"' | tr -d '"')
[ -n "$prov_keys" ] || fail "provider.c: the openssl.cnf key list was not found; update this test"
section=$(awk '/^# OVERRIDES/ {s = 1; next} /^# / {s = 0} s' "$page")
for k in $prov_keys; do
    grep -q "\`$k\`" <<<"$section" || fail "edgekey.conf(5), OVERRIDES: the provider's openssl.cnf key '$k' is not named"
done

# the defaults the page states are the code's
for d in EK_DEFAULT_CONF EK_DEFAULT_STORE EK_DEFAULT_TOKEN; do
    v=$(sed -n "s/^#define $d \"\(.*\)\"/\1/p" "$src/core/ek_config.h")
    [ -n "$v" ] && grep -q "$v" "$page" || fail "edgekey.conf(5) does not state $d ($v)"
done
echo "ok: edgekey.conf(5) lists keys: $(echo $code_keys); environment: $(echo $envs); provider keys: $(echo $prov_keys)"
