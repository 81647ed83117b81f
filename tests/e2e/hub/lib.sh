# Helpers for the hub end-to-end tests. Sourced inside tests/lib/tpm-env.sh,
# so EDGEKEY_TEST_TMP and EDGEKEY_TEST_PORT_BASE are set. Clients are stock
# curl, openssl and mosquitto_pub/sub; jq builds and reads JSON.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/../../lib/common.sh"

HUB_BIN=${EDGEKEY_HUB_BIN:-$EDGEKEY_BUILD/examples/hub/edgekey-hub}
HUB_PLUGIN=${EDGEKEY_HUB_PLUGIN:-$EDGEKEY_BUILD/examples/hub/edgekey_auth.so}
[ -x "$HUB_BIN" ] || fail "edgekey-hub not built at $HUB_BIN"
HUB_DIR=$T/hub
HUB_CONF=$T/hub.conf
API_PORT=$EDGEKEY_TEST_PORT_BASE
MQTT_PORT=$((EDGEKEY_TEST_PORT_BASE + 1))
API=https://localhost:$API_PORT
ADMIN_TOKEN=test-admin-$$
CA=$HUB_DIR/ca/chain.pem

# The registry backend: EDGEKEY_HUB_REGISTRY=postgresql runs the test against
# a private PostgreSQL (tests/lib/pg.sh) instead of the SQLite file.
HUB_REGISTRY_KIND=${EDGEKEY_HUB_REGISTRY:-sqlite}
HUB_REGISTRY=
case $HUB_REGISTRY_KIND in
sqlite) ;;
postgresql)
    . "$here/../../lib/pg.sh"
    trap 'ek_cleanup_bg; pg_stop' EXIT   # the hub and broker first, then their database
    pg_start "$T/pg" "$T" || fail "PostgreSQL did not start"
    HUB_REGISTRY=$PG_URL
    ;;
*) fail "EDGEKEY_HUB_REGISTRY='$HUB_REGISTRY_KIND': use sqlite or postgresql" ;;
esac

# hub_sql SQL: one query on the registry, whichever backend (rows as a|b).
hub_sql() {
    case $HUB_REGISTRY_KIND in
    sqlite) sqlite3 "$HUB_DIR/hub.db" "$1" ;;
    postgresql) pg_psql "$1" ;;
    esac
}
hub_sql_available() { [ "$HUB_REGISTRY_KIND" = postgresql ] || command -v sqlite3 >/dev/null; }

# hub_config CA_MODE HUB_KEY_MODE [extra "key = value" lines...]
hub_config() {
    local ca=$1 hk=$2
    shift 2
    {
        echo "dir = $HUB_DIR"
        echo "ca_key_mode = $ca"
        echo "hub_key_mode = $hk"
        echo "api_port = $API_PORT"
        echo "mqtt_port = $MQTT_PORT"
        echo "admin_token = $ADMIN_TOKEN"
        echo "plugin_path = $HUB_PLUGIN"
        echo "crl_url = $API/api/v1/crl"
        [ -n "$HUB_REGISTRY" ] && echo "registry = $HUB_REGISTRY"
        [ "$(id -u)" = 0 ] && echo "broker_user = root"
        [ -f "$EDGEKEY_BUILD/pkcs11/edgekey-pkcs11.so" ] &&
            echo "pkcs11_module = $EDGEKEY_BUILD/pkcs11/edgekey-pkcs11.so"
        for l in "$@"; do echo "$l"; done
    } >"$HUB_CONF"
}

hub() { "$HUB_BIN" --config "$HUB_CONF" "$@"; }

# A second hub node (B) on the same registry and broker: its own dir and API
# port; with CA_MODE tpm its own swtpm and edgekey store too.
#   hub_b_config CA_MODE HUB_KEY_MODE  HUB_B_DIR, HUB_B_CONF, API_B; hub_b, api_b, admin_b
#   hub_b_join    root.pem copied, init --join (CSR), node A's root signs, init --join
#   hub_b_start   serve in the background, HUB_B_PID
HUB_B_DIR=$T/hubB
HUB_B_CONF=$T/hubB.conf
API_B_PORT=$((EDGEKEY_TEST_PORT_BASE + 2))
API_B=https://localhost:$API_B_PORT
TCTI_B=
hub_b_config() {
    if [ "$1" = tpm ]; then
        local port
        port=$(ek_free_port_pair)
        mkdir -p "$T/tpmB" "$T/storeB"
        : >"$T/edgekeyB.conf"
        swtpm socket --tpm2 --tpmstate dir="$T/tpmB" \
            --server type=tcp,port="$port",bindaddr=127.0.0.1 \
            --ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
            --flags not-need-init,startup-clear --log file="$T/swtpmB.log" &
        ek_bg_pids+=($!)
        ek_wait_port "$port" || fail "node B's swtpm did not listen"
        TCTI_B="swtpm:host=127.0.0.1,port=$port"
    fi
    HUB_CONF=$HUB_B_CONF HUB_DIR=$HUB_B_DIR API_PORT=$API_B_PORT API=$API_B hub_config "$@"
}
# node B's environment (its swtpm and store) as env arguments
node_b_env() {
    [ -z "$TCTI_B" ] || echo "EDGEKEY_TCTI=$TCTI_B TPM2OPENSSL_TCTI=$TCTI_B TPM2TOOLS_TCTI=$TCTI_B" \
        "TPM2_PKCS11_TCTI=$TCTI_B EDGEKEY_STORE=$T/storeB EDGEKEY_CONF=$T/edgekeyB.conf"
}
# shellcheck disable=SC2046  # node_b_env's words are split on purpose
node_b() { env $(node_b_env) "$@"; }
hub_b() { node_b "$HUB_BIN" --config "$HUB_B_CONF" "$@"; }
api_b() { API=$API_B api "$@"; }
admin_b() { API=$API_B admin "$@"; }
hub_b_join() {
    mkdir -p "$HUB_B_DIR/ca"
    cp "$HUB_DIR/ca/root.pem" "$HUB_B_DIR/ca/root.pem"
    hub_b init --join >"$T/joinB.out" 2>&1 || fail "node B init --join: $(cat "$T/joinB.out")"
    hub ca sign-node --csr "$HUB_B_DIR/ca/issuing.csr" --out "$HUB_B_DIR/ca/issuing.pem" \
        >/dev/null || fail "sign-node"
    hub_b init --join >"$T/joinB.out" 2>&1 ||
        fail "node B init --join after signing: $(cat "$T/joinB.out")"
}
HUB_B_PID=
hub_b_start() {
    # env execs the hub: $! is the hub itself, stopped by PID at exit
    # shellcheck disable=SC2046
    env $(node_b_env) "$HUB_BIN" --config "$HUB_B_CONF" serve >>"$T/serveB.log" 2>&1 &
    HUB_B_PID=$!
    ek_bg_pids+=($HUB_B_PID)
    ek_wait_port "$API_B_PORT" || { cat "$T/serveB.log"; fail "node B API did not listen"; }
}

HUB_PID=
hub_start() {
    # the binary itself in the background (not the shell function), so
    # $HUB_PID is the hub's own pid (kill -9, RSS)
    "$HUB_BIN" --config "$HUB_CONF" serve >>"$T/serve.log" 2>&1 &
    HUB_PID=$!
    ek_bg_pids+=($HUB_PID)
    ek_wait_port "$API_PORT" || { cat "$T/serve.log"; fail "hub API did not listen"; }
}

hub_stop() {
    [ -n "$HUB_PID" ] && kill "$HUB_PID" 2>/dev/null && wait "$HUB_PID" 2>/dev/null
    HUB_PID=
}

# In a sanitizer build our plugin (and the provider) carry the ASan/UBSan
# runtime, which stock mosquitto does not: preload it.
BROKER_PRELOAD=
if ldd "$HUB_PLUGIN" 2>/dev/null | grep libasan >/dev/null; then  # not -q: see common.sh
    for lib in libasan.so libubsan.so; do
        BROKER_PRELOAD="$BROKER_PRELOAD $(${CC:-cc} -print-file-name=$lib)"
    done
    # the rig's shim that starts ASan outside glibc's locale and gettext
    # locks (tests/lib/asan_first.c)
    [ -f "$EDGEKEY_BUILD/tests/libek-asan-first.so" ] &&
        BROKER_PRELOAD="$BROKER_PRELOAD $EDGEKEY_BUILD/tests/libek-asan-first.so"
fi

BROKER_PID=
broker_start() {
    local cnf=
    [ -f "$HUB_DIR/broker/openssl.cnf" ] && cnf=$HUB_DIR/broker/openssl.cnf
    LD_PRELOAD=${BROKER_PRELOAD:-${LD_PRELOAD:-}} \
        ASAN_OPTIONS=${ASAN_OPTIONS:-}:detect_leaks=0:verify_asan_link_order=0 \
        OPENSSL_CONF=${cnf:-${OPENSSL_CONF:-}} mosquitto -c "$HUB_DIR/broker/mosquitto.conf" \
        >>"$T/broker.log" 2>&1 &
    BROKER_PID=$!
    ek_bg_pids+=($BROKER_PID)
    ek_wait_port "$MQTT_PORT" || { cat "$T/broker.log"; fail "broker did not listen"; }
}

now_ms() { date +%s%3N; }

# A device's live MQTT session, to see a revocation end it. The session is
# the subscriber's TCP connection, watched with ss (mosquitto_sub would
# reconnect after the drop and only then exit).
#   live_start PK DK DSECRET  subscribes as DK with $T/DK.pem and $T/DK.key;
#                             sets LIVE_PID and LIVE_PORT (its local port)
#   live_gone T0 WHAT         waits for the broker to drop it; fails if it is
#                             up after 2 s or ended over 2 s after T0 (now_ms
#                             before the revocation request); sets LIVE_MS and
#                             stops the subscriber
LIVE_PID=
LIVE_PORT=
live_start() {
    local pk=$1 d=$2 id=live$RANDOM
    mqtt_login_args "$pk" "$d" "$3" "$id"
    mosquitto_sub -h localhost -p "$MQTT_PORT" --cafile "$CA" --cert "$T/$d.pem" \
        --key "$T/$d.key" "${MQTT_ARGS[@]}" -t "/sys/$pk/$d/#" -W 60 >/dev/null 2>"$T/live.err" &
    LIVE_PID=$!
    ek_bg_pids+=($LIVE_PID)
    for _ in $(seq 100); do
        LIVE_PORT=$(ss -Htnp state established "( dport = :$MQTT_PORT )" 2>/dev/null |
            grep "pid=$LIVE_PID," | awk '{print $3}' | sed 's/.*://' | head -n1 || true)  # not up yet: no match
        [ -n "$LIVE_PORT" ] && grep -q "New client connected.* as $id|" "$T/broker.log" && return 0
        sleep 0.05
    done
    fail "$d's session did not come up: $(cat "$T/live.err")"
}
live_up() { ss -Htn state established "( sport = :$LIVE_PORT )" 2>/dev/null | grep -q .; }
LIVE_MS=
live_gone() {
    local t0=$1 what=$2
    for _ in $(seq 100); do
        live_up || break
        sleep 0.02
    done
    LIVE_MS=$(($(now_ms) - t0))
    ! live_up || fail "$what still connected $LIVE_MS ms after the revocation request"
    [ "$LIVE_MS" -le 2000 ] || fail "$what's session ended $LIVE_MS ms after the revocation request (> 2 s)"
    kill "$LIVE_PID" 2>/dev/null || true
}

# hub_devsim (bench/hub) as load: registers, activates and applies for
# devices through the API, logging each answer it received.
DEVSIM=${HUB_DEVSIM:-$EDGEKEY_BUILD/bench/hub/hub_devsim}
devsim_need() { [ -x "$DEVSIM" ] || fail "hub_devsim not built at $DEVSIM"; }
# devsim_load PK N PREFIX: a file-key hub serving product PK, and hub_devsim
# on N devices (8 threads) in the background: DEVSIM_PID, answers in
# $T/answers, refusals in $T/devsim.err. Returns once 20 certificates are
# answered, with the run still going, for the caller to interrupt.
DEVSIM_PID=
devsim_load() {
    local pk=$1 n=$2 prefix=$3
    devsim_need
    hub_config file file
    hub init >/dev/null || fail "hub init"
    hub_start
    product_add "$pk"
    : >"$T/answers"
    "$DEVSIM" --api "$API" --ca "$CA" --token "$ADMIN_TOKEN" --register --product "$pk" \
        --product-secret "$PSECRET" --devices "$n" --threads 8 --prefix "$prefix" \
        --log "$T/answers" >"$T/devsim.out" 2>"$T/devsim.err" &
    DEVSIM_PID=$!
    ek_bg_pids+=($DEVSIM_PID)
    for _ in $(seq 600); do
        [ "$(grep -c '^CERT' "$T/answers")" -ge 20 ] && break
        sleep 0.02
    done
}

# sign SECRET JSON: EnOS sign over the sorted parameters (all but "sign").
sign() {
    jq -j --arg s "$1" \
        'to_entries | map(select(.key != "sign")) | sort_by(.key) |
         map(.key + (.value | tostring)) | join("") + $s' <<<"$2" |
        sha256sum | cut -c1-64 | tr a-f A-F
}

# signed SECRET JSON -> JSON with "sign" added
signed() { jq -c --arg s "$(sign "$1" "$2")" '. + {sign: $s}' <<<"$2"; }

# api METHOD PATH [BODY] [curl args...]: prints the body, HTTP status in $T/status
api() {
    local m=$1 p=$2 body=${3:-}
    shift 3 || shift $#
    local args=(-sS --cacert "$CA" -o "$T/resp" -w '%{http_code}' -X "$m" "$@")
    [ -n "$body" ] && args+=(-H 'Content-Type: application/json' --data-binary "$body")
    curl "${args[@]}" "$API$p" >"$T/status" || echo 000 >"$T/status"
    cat "$T/resp" 2>/dev/null
}
admin() { api "$1" "$2" "${3:-}" -H "Authorization: Bearer $ADMIN_TOKEN"; }
status() { echo "$(<"$T/status")"; }

# expect_error STATUS CODE BODY-from-api: checks a clean JSON refusal
expect_error() {
    local want=$1 code=$2 body=$3 what=$4 err msg
    [ "$(status)" = "$want" ] || fail "$what: HTTP $(status), wanted $want: $body"
    { read -r err; read -r msg; } < <(jq -r '.error, .msg' <<<"$body")
    [ "$err" = "$code" ] || fail "$what: error '$err', wanted $code: $body"
    [ -n "$msg" ] && [ "$msg" != null ] || fail "$what: no message"
    pass "$what refused: $want $code (${msg:0:80})"
}

# product_add PK -> sets PSECRET
product_add() {
    local r
    r=$(admin POST /api/v1/admin/products "{\"productKey\":\"$1\",\"validityDays\":30}")
    [ "$(status)" = 200 ] || fail "product add: $r"
    PSECRET=$(jq -r .data.productSecret <<<"$r")
}

device_add() {
    local r
    r=$(admin POST /api/v1/admin/devices "$(jq -nc --arg p "$1" --arg d "$2" '{productKey:$p,deviceKey:$d}')")
    [ "$(status)" = 200 ] || fail "device add $2: $r"
}

# activate PK DK PSECRET -> sets DSECRET
activate() {
    local body r
    body=$(signed "$3" "$(jq -nc --arg p "$1" --arg d "$2" --arg t "$(now_ms)" \
        '{productKey:$p,deviceKey:$d,timestamp:$t}')")
    r=$(api POST /api/v1/device/activate "$body")
    [ "$(status)" = 200 ] || fail "activate $2: $r"
    DSECRET=$(jq -r .data.deviceSecret <<<"$r")
}

# soft_key NAME [ec|rsa2048|rsa1024]: software key + CSR with CN
soft_key() {
    local name=$1 cn=$2 kind=${3:-ec}
    case $kind in
        ec) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$T/$name.key" 2>/dev/null ;;
        rsa*) openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:${kind#rsa} -out "$T/$name.key" 2>/dev/null ;;
    esac
    openssl req -new -key "$T/$name.key" -subj "/CN=$cn" -out "$T/$name.csr" 2>/dev/null
}

# apply PK DK DSECRET CSRFILE OUTCERT: certificate for the CSR
apply() {
    local body r
    body=$(signed "$3" "$(jq -nc --arg p "$1" --arg d "$2" --arg t "$(now_ms)" \
        --rawfile c "$4" '{productKey:$p,deviceKey:$d,csr:$c,validDay:10,timestamp:$t}')")
    r=$(api POST /api/v1/device/cert/apply "$body")
    [ "$(status)" = 200 ] || fail "apply $2: $r"
    jq -r .data.cert <<<"$r" >"$5"
    CERTSN=$(jq -r .data.certSn <<<"$r")
}

# renew OLD NEW CN: a new key and CSR $T/NEW.key, $T/NEW.csr (CN), renewed
# over mutual TLS with $T/OLD.pem and $T/OLD.key -> $T/NEW.pem, CERTSN
renew() {
    local r
    soft_key "$2" "$3" ec
    r=$(api POST /api/v1/device/cert/renew "$(jq -nc --rawfile c "$T/$2.csr" '{csr:$c}')" \
        --cert "$T/$1.pem" --key "$T/$1.key")
    [ "$(status)" = 200 ] || fail "renew of $1 through $API: $r"
    jq -r .data.cert <<<"$r" >"$T/$2.pem"
    CERTSN=$(jq -r .data.certSn <<<"$r")
}

# mqtt_login_args PK DK DSECRET -> MQTT_ARGS (EnOS clientId/username/password)
mqtt_login_args() {
    local ts id=${4:-c$RANDOM} pw
    ts=$(now_ms)
    pw=$(printf 'clientId%sdeviceKey%sproductKey%stimestamp%s%s' "$id" "$2" "$1" "$ts" "$3" |
        sha256sum | cut -c1-64 | tr a-f A-F)
    MQTT_ARGS=(-i "$id|securemode=2,signmethod=sha256,timestamp=$ts|" -u "$2&$1" -P "$pw")
    sleep 0.002   # the next login needs a newer timestamp
}
