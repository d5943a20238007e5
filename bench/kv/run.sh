#!/usr/bin/env bash
# redis-benchmark against d4-kv and redis-server in the same run, printed side by side.
#
#   bench/kv/run.sh                    # N=100000 requests per test, 50 clients
#   N=200000 AOF=everysec bench/kv/run.sh
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
"$bin" --port "$kport" --bind 127.0.0.1 --dir "$work/kv" "${persist[@]}" >"$work/kv.log" 2>&1 &
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

echo "redis-benchmark: $N requests, $C clients, persistence: ${AOF:-off}; $(nproc) CPUs"
echo "redis-server: $(redis-server --version | awk '{print $3}')   d4-kv: $bin"
printf '%-6s %3s %14s %14s %7s\n' test P redis-server d4-kv ratio
for p in 1 16; do
    for t in SET GET INCR LPUSH RPOP SADD HSET ZADD XADD; do
        if [ "$t" = XADD ]; then
            args=(XADD bench:stream MAXLEN '~' 10000 '*' field value)
        else
            args=(-t "$(echo "$t" | tr A-Z a-z)")
        fi
        r="$(rps "$rport" "$p" "${args[@]}")"
        k="$(rps "$kport" "$p" "${args[@]}")"
        ratio="$(awk -v a="$r" -v b="$k" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "n/a" }')"
        printf '%-6s %3s %14s %14s %7s\n' "$t" "$p" "${r:-?}" "${k:-?}" "$ratio"
    done
done
