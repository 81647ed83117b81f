# Free TCP ports on loopback, below the kernel's ephemeral range so a port we
# pick is never handed to an outgoing connection meanwhile. Sourced.

ek_port_in_use() {
    ss -Htln "sport = :$1" 2>/dev/null | grep -q . && return 0
    ss -Htn "sport = :$1" 2>/dev/null | grep -q . && return 0
    return 1
}

# A random base in [20000, 32000) with n consecutive free ports.
ek_free_port_block() {
    local n=${1:-1} base i busy
    local lo=20000 hi=32000
    for _ in $(seq 200); do
        base=$((lo + (RANDOM * 32768 + RANDOM) % (hi - lo - n)))
        busy=0
        for ((i = 0; i < n; i++)); do
            if ek_port_in_use $((base + i)); then busy=1; break; fi
        done
        [ $busy = 0 ] && { echo "$base"; return 0; }
    done
    echo "ports.sh: no free port block of $n" >&2
    return 1
}

ek_free_port_pair() { ek_free_port_block 2; }

# Wait until something listens on 127.0.0.1:port (default 10 s).
ek_wait_port() {
    local port=$1 tries=${2:-200}
    for _ in $(seq "$tries"); do
        ss -Htln "sport = :$port" 2>/dev/null | grep -q . && return 0
        sleep 0.05
    done
    return 1
}
