#!/usr/bin/env bash
# redis-benchmark against d4-kv and redis-server in the same run, printed side by side.
#
#   bench/kv/run.sh                    # N=100000 requests per test, 50 clients
#   N=200000 AOF=everysec bench/kv/run.sh
#   KV_ARGS="--io-threads 1" bench/kv/run.sh   # extra d4-kv options
#
# Tests: SET GET INCR LPUSH RPOP SADD HSET ZADD (redis-benchmark -t) and XADD (custom
# command, MAXLEN ~ 10000 so memory stays flat), each with -P 1 and -P 16. Both servers
# run with the same persistence settings (none by default; AOF=everysec|always enables
# the append-only file on both). Each test alternates servers to share machine noise.
# Uses target/release/d4-kv (built if missing). Performance is reported, never asserted.
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
N="${N:-100000}"
C="${C:-50}"
AOF="${AOF:-}"
bin="${D4KV_BIN:-$root/target/release/d4-kv}"
[ -x "$bin" ] || (cd "$root" && cargo build --release -p d4-core --bin d4-kv)
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

# CPU time (clock ticks) a process used so far: throughput on a shared machine is noisy,
# server CPU per request is a steadier measure of efficiency.
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz="$(getconf CLK_TCK)"
# cpu_us <ticks before> <ticks after>: server CPU microseconds per request.
cpu_us() { awk -v a="$1" -v b="$2" -v hz="$hz" -v n="$N" 'BEGIN { printf "%.2f", (b - a) * 1e6 / hz / n }'; }

echo "redis-benchmark: $N requests, $C clients, persistence: ${AOF:-off}; $(nproc) CPUs"
echo "redis-server: $(redis-server --version | awk '{print $3}')   d4-kv: $bin ${KV_ARGS:-}"
printf '%-6s %3s %14s %14s %7s %12s %12s\n' test P redis-rps d4-kv-rps ratio redis-us/req kv-us/req
for p in 1 16; do
    for t in SET GET INCR LPUSH RPOP SADD HSET ZADD XADD; do
        if [ "$t" = XADD ]; then
            args=(XADD bench:stream MAXLEN '~' 10000 '*' field value)
        else
            args=(-t "$(echo "$t" | tr A-Z a-z)")
        fi
        t0="$(ticks "$rpid")"
        r="$(rps "$rport" "$p" "${args[@]}")"
        t1="$(ticks "$rpid")"
        t2="$(ticks "$kpid")"
        k="$(rps "$kport" "$p" "${args[@]}")"
        t3="$(ticks "$kpid")"
        ratio="$(awk -v a="$r" -v b="$k" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "n/a" }')"
        printf '%-6s %3s %14s %14s %7s %12s %12s\n' "$t" "$p" "${r:-?}" "${k:-?}" "$ratio" \
            "$(cpu_us "$t0" "$t1")" "$(cpu_us "$t2" "$t3")"
    done
done
