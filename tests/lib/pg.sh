# A private PostgreSQL server for one test. Sourced.
#
#   pg_start DIR [TOP]  initdb into DIR/data, start the server on a Unix socket in
#                    DIR (no TCP), create database "hub". Sets PG_PID, PG_DIR,
#                    PG_URL (a libpq conninfo for the hub's "registry =").
#   pg_stop          fast shutdown by PID; waits until the server is gone.
#   pg_restart       pg_stop + start again on the same data (PG_PID changes).
#   pg_psql SQL...   run SQL in database hub (psql -At).
#
# When the tests run as root the server runs as the postgres user (it
# refuses root): DIR is handed to postgres and the test's directories above
# it, up to TOP (default: DIR's parent), get o+x so postgres can reach it. The caller removes DIR afterwards.
PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
PG_PID=
PG_DIR=

pg_as() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_wait_ready() {
    local i
    for i in $(seq 100); do
        "$PG_BIN/pg_isready" -q -h "$PG_DIR" -d postgres -U postgres && return 0
        sleep 0.1
    done
    cat "$PG_DIR/server.log" >&2
    echo "FAIL: PostgreSQL did not start in $PG_DIR" >&2
    return 1
}

pg_launch() {
    # fsync off: test data is thrown away; the benchmark starts its own
    # server with the defaults
    pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -s -w \
        -o "-k $PG_DIR -c listen_addresses= -c fsync=${PG_FSYNC:-off} -c max_connections=200" \
        start >/dev/null
    PG_PID=$(head -n1 "$PG_DIR/data/postmaster.pid")
    pg_wait_ready
}

pg_start() {
    PG_DIR=$1
    mkdir -p "$PG_DIR"
    if [ "$(id -u)" = 0 ]; then
        # o+x on the test's own directories only (up to the temp root TOP)
        local d=$PG_DIR top=${2:-$(dirname "$PG_DIR")}
        while d=$(dirname "$d") && case $d in "$top"*) true ;; *) false ;; esac; do
            chmod o+x "$d"
        done
        chown postgres: "$PG_DIR"
        runuser -u postgres -- test -w "$PG_DIR" || {
            echo "FAIL: user postgres cannot reach $PG_DIR: make its parents o+x" >&2
            return 1
        }
    fi
    pg_as "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --no-sync \
        >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; return 1; }
    pg_launch
    pg_as "$PG_BIN/createdb" -h "$PG_DIR" -U postgres hub
    PG_URL="host=$PG_DIR dbname=hub user=postgres"
}

pg_stop() {
    [ -n "$PG_PID" ] || return 0
    # SIGINT = fast shutdown: open sessions are cut, as in a restart
    kill -INT "$PG_PID" 2>/dev/null || true
    local i
    for i in $(seq 100); do kill -0 "$PG_PID" 2>/dev/null || break; sleep 0.1; done
    kill -QUIT "$PG_PID" 2>/dev/null || true
    PG_PID=
}

pg_restart() {
    pg_stop
    pg_launch
}

pg_psql() {
    "$PG_BIN/psql" -X -q -At -h "$PG_DIR" -U postgres -d hub -c "$*"
}
