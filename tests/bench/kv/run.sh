#!/usr/bin/env bash
# redis-benchmark against d4-kv and redis-server in the same run, printed side by side.
#
#   tests/bench/kv/run.sh                    # N=100000 requests per test, 50 clients
#   N=200000 AOF=everysec tests/bench/kv/run.sh
#   KV_ARGS="--io-threads 1" tests/bench/kv/run.sh   # extra d4-kv options
#   ROUNDS=5 tests/bench/kv/run.sh           # rounds per line (default 3), medians are printed
#
# Tests: SET GET INCR LPUSH RPOP SADD HSET ZADD (redis-benchmark -t) and XADD (custom
# command, MAXLEN ~ 10000 so memory stays flat), each with -P 1 and -P 16. Both servers
# run with the same persistence settings (none by default; AOF=everysec|always enables
# the append-only file on both). Each line runs ROUNDS rounds, alternating which server goes
# first, and prints the medians: back-to-back runs on this 2-core machine drift by +-10-20%.
# Uses target/release/d4-kv (built if missing). Performance is reported, never asserted.
set -euo pipefail

root="$(cd "$(dirname "$0")/../../.." && pwd)"
# shellcheck source=tests/bench/lib.sh
. "$root/tests/bench/lib.sh"
N="${N:-100000}"
C="${C:-50}"
ROUNDS="${ROUNDS:-3}"
AOF="${AOF:-}"
bin="${D4KV_BIN:-$root/target/release/d4-kv}"
[ -x "$bin" ] || (cd "$root" && cargo build --release -p d4-kv --bin d4-kv)
command -v redis-server >/dev/null && command -v redis-benchmark >/dev/null || {
    echo "needs redis-server and redis-benchmark (apt-get install redis-server redis-tools)" >&2
    exit 1
}

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
wait_port() {
    for _ in $(seq 100); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "server on port $1 did not start" >&2
    exit 1
}

work="$(mktemp -d)"
persist=(--save "" --appendonly no)
[ -n "$AOF" ] && persist=(--save "" --appendonly yes --appendfsync "$AOF")
rport="$(free_port)"
redis-server --port "$rport" --bind 127.0.0.1 --dir "$work" "${persist[@]}" >"$work/redis.log" 2>&1 &
rpid=$!
mkdir -p "$work/kv"
kport="$(free_port)"
# shellcheck disable=SC2086  # KV_ARGS is a list of extra d4-kv options, e.g. "--io-threads 1"
"$bin" --port "$kport" --bind 127.0.0.1 --dir "$work/kv" "${persist[@]}" ${KV_ARGS:-} >"$work/kv.log" 2>&1 &
kpid=$!
cleanup() {
    kill "$rpid" "$kpid" 2>/dev/null || true
    wait "$rpid" "$kpid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
wait_port "$rport"
wait_port "$kport"

# rps <port> <pipeline> <args...>: requests per second of one redis-benchmark run.
rps() {
    local port=$1 p=$2
    shift 2
    redis-benchmark -h 127.0.0.1 -p "$port" -c "$C" -n "$N" -P "$p" -q --csv "$@" 2>/dev/null |
        awk -F'"' 'NR==2 || (NR==1 && $2 != "test") {print $4; exit}'
}

# CPU time (ns, from the scheduler) all threads of a process used so far: throughput on a shared
# machine is noisy, server CPU per request is a steadier measure of efficiency.
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }'; }
# median of the numbers on stdin
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)]; else print 0 }'; }

# One measurement: "<rps> <server ns per request>" for server <pid> on <port>.
measure() {
    local pid=$1 port=$2 p=$3
    shift 3
    local a b r
    a="$(cpu_ns "$pid")"
    r="$(rps "$port" "$p" "$@")"
    b="$(cpu_ns "$pid")"
    awk -v r="${r:-0}" -v a="$a" -v b="$b" -v n="$N" 'BEGIN { printf "%s %.0f\n", r, (b - a) / n }'
}

host_begin
echo "redis-benchmark: $N requests, $C clients, persistence: ${AOF:-off}; $(nproc) CPUs; median of $ROUNDS rounds"
echo "redis-server: $(redis-server --version | awk '{print $3}')   d4-kv: $bin ${KV_ARGS:-}"
echo "ratio = d4-kv / redis-server of the median req/s; range = lowest..highest per-round ratio; ns/req = server CPU;"
echo "steal = CPU time the hypervisor took during the line's rounds"
printf '%-6s %3s %12s %12s %6s %11s %9s %9s %6s\n' test P redis-rps d4-kv-rps ratio range redis-ns kv-ns steal
for p in 1 16; do
    for t in SET GET INCR LPUSH RPOP SADD HSET ZADD XADD; do
        mark="$(host_window)"
        if [ "$t" = XADD ]; then
            args=(XADD bench:stream MAXLEN '~' 10000 '*' field value)
        else
            args=(-t "$(echo "$t" | tr A-Z a-z)")
        fi
        : >"$work/r"
        : >"$work/k"
        for round in $(seq "$ROUNDS"); do
            # Alternate which server goes first so drift over time hits both alike.
            if [ $((round % 2)) = 1 ]; then
                measure "$rpid" "$rport" "$p" "${args[@]}" >>"$work/r"
                measure "$kpid" "$kport" "$p" "${args[@]}" >>"$work/k"
            else
                measure "$kpid" "$kport" "$p" "${args[@]}" >>"$work/k"
                measure "$rpid" "$rport" "$p" "${args[@]}" >>"$work/r"
            fi
        done
        r="$(cut -d' ' -f1 "$work/r" | median)"
        k="$(cut -d' ' -f1 "$work/k" | median)"
        range="$(paste -d' ' "$work/r" "$work/k" |
            awk '$1 > 0 { x = $3 / $1; if (n++ == 0 || x < lo) lo = x; if (x > hi) hi = x }
                 END { printf "%.2f..%.2f", lo, hi }')"
        ratio="$(awk -v a="$r" -v b="$k" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "n/a" }')"
        steal="$(host_window_steal "$mark")"
        printf '%-6s %3s %12.0f %12.0f %6s %11s %9s %9s %5s%%\n' "$t" "$p" "$r" "$k" "$ratio" "$range" \
            "$(cut -d' ' -f2 "$work/r" | median)" "$(cut -d' ' -f2 "$work/k" | median)" "$steal"
        host_steal_warning "$steal" "during the $t -P $p line"
    done
done
host_end
