#!/usr/bin/env bash
# redis-benchmark against d4-kv and redis-server in the same run, printed side by side.
#
#   tests/bench/kv/run.sh                    # N=100000 requests per test, 50 clients
#   N=200000 AOF=everysec tests/bench/kv/run.sh
#   KV_ARGS="--io-threads 1" tests/bench/kv/run.sh   # extra d4-kv options
#   ROUNDS=5 tests/bench/kv/run.sh           # rounds per line (default 3), medians are printed
#   KV_BEFORE=/tmp/d4-kv.before tests/bench/kv/run.sh  # also an older d4-kv, same rounds
#   MEM_KEYS=200000 tests/bench/kv/run.sh    # keys per type in the memory part (0: skip it)
#   MEM_SETTLE=11 tests/bench/kv/run.sh      # seconds between loading and reading memory
#   TESTS="SADD XADD" PIPELINES=1 tests/bench/kv/run.sh  # only these lines (default: all)
#
# Tests: SET GET INCR LPUSH RPOP SADD HSET ZADD (redis-benchmark -t) and XADD (custom
# command, MAXLEN ~ 10000 so memory stays flat), each with -P 1 and -P 16. Both servers
# run with the same persistence settings (none by default; AOF=everysec|always enables
# the append-only file on both). Each line runs ROUNDS rounds, alternating which server goes
# first, and prints the medians: back-to-back runs on this 2-core machine drift by +-10-20%.
# KV_BEFORE (a d4-kv binary, e.g. a copy taken before a change) adds its figures as two more
# columns, measured in the same rounds, so a change is judged against the same host state.
# Memory: MEM_KEYS keys of each type (strings, 3-element lists and sets, 1-entry streams,
# 2-field hashes, 2-member sorted sets) are loaded with redis-cli --pipe into a fresh server
# of each kind; the table prints INFO memory used_memory and the resident set growth per key.
# Uses target/release/d4-kv (built if missing). Performance is reported, never asserted.
set -euo pipefail

root="$(cd "$(dirname "$0")/../../.." && pwd)"
# shellcheck source=tests/bench/lib.sh
. "$root/tests/bench/lib.sh"
N="${N:-100000}"
C="${C:-50}"
ROUNDS="${ROUNDS:-3}"
AOF="${AOF:-}"
MEM_KEYS="${MEM_KEYS:-200000}"
MEM_SETTLE="${MEM_SETTLE:-11}"
TESTS="${TESTS:-SET GET INCR LPUSH RPOP SADD HSET ZADD XADD}"
PIPELINES="${PIPELINES:-1 16}"
bin="${D4KV_BIN:-$root/target/release/d4-kv}"
before="${KV_BEFORE:-}"
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
pids=("$rpid" "$kpid")
if [ -n "$before" ]; then
    mkdir -p "$work/before"
    bport="$(free_port)"
    # shellcheck disable=SC2086  # as above
    "$before" --port "$bport" --bind 127.0.0.1 --dir "$work/before" "${persist[@]}" ${KV_ARGS:-} \
        >"$work/before.log" 2>&1 &
    bpid=$!
    pids+=("$bpid")
fi
cleanup() {
    kill "${pids[@]}" 2>/dev/null || true
    wait "${pids[@]}" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
wait_port "$rport"
wait_port "$kport"
[ -z "$before" ] || wait_port "$bport"

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
[ -z "$before" ] || echo "before = $before (KV_BEFORE) in the same rounds: its median req/s and ratio to redis-server"
printf '%-6s %3s %12s %12s %6s %11s %9s %9s %6s' test P redis-rps d4-kv-rps ratio range redis-ns kv-ns steal
[ -z "$before" ] && echo || printf ' %12s %6s %9s\n' before-rps ratio before-ns
for p in $PIPELINES; do
    for t in $TESTS; do
        mark="$(host_window)"
        if [ "$t" = XADD ]; then
            args=(XADD bench:stream MAXLEN '~' 10000 '*' field value)
        else
            args=(-t "$(echo "$t" | tr A-Z a-z)")
        fi
        : >"$work/r"
        : >"$work/k"
        : >"$work/b"
        for round in $(seq "$ROUNDS"); do
            # Alternate which server goes first so drift over time hits all alike.
            if [ $((round % 2)) = 1 ]; then
                measure "$rpid" "$rport" "$p" "${args[@]}" >>"$work/r"
                measure "$kpid" "$kport" "$p" "${args[@]}" >>"$work/k"
                [ -z "$before" ] || measure "$bpid" "$bport" "$p" "${args[@]}" >>"$work/b"
            else
                [ -z "$before" ] || measure "$bpid" "$bport" "$p" "${args[@]}" >>"$work/b"
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
        printf '%-6s %3s %12.0f %12.0f %6s %11s %9s %9s %5s%%' "$t" "$p" "$r" "$k" "$ratio" "$range" \
            "$(cut -d' ' -f2 "$work/r" | median)" "$(cut -d' ' -f2 "$work/k" | median)" "$steal"
        if [ -n "$before" ]; then
            b="$(cut -d' ' -f1 "$work/b" | median)"
            printf ' %12.0f %6s %9s\n' "$b" "$(awk -v a="$r" -v b="$b" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "n/a" }')" \
                "$(cut -d' ' -f2 "$work/b" | median)"
        else
            echo
        fi
        host_steal_warning "$steal" "during the $t -P $p line"
    done
done

# mem_load <kind> <n>: n keys of one type as a RESP stream for redis-cli --pipe.
mem_load() {
    python3 - "$1" "$2" <<'PY'
import sys
kind, n = sys.argv[1], int(sys.argv[2])
out = sys.stdout.buffer
def cmd(*args):
    b = [a.encode() for a in args]
    out.write(b"*%d\r\n" % len(b) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in b))
for i in range(n):
    k, a, b, c = f"{kind}:{i:09d}", f"a{i:06d}", f"b{i:06d}", f"c{i:06d}"
    if kind == "string": cmd("SET", k, f"value:{i:06d}")
    elif kind == "list": cmd("RPUSH", k, a, b, c)
    elif kind == "set": cmd("SADD", k, a, b, c)
    elif kind == "stream": cmd("XADD", k, "*", "field", f"value{i:06d}")
    elif kind == "hash": cmd("HSET", k, "f1", a, "f2", b)
    elif kind == "zset": cmd("ZADD", k, "1", a, "2", b)
PY
}
# used_memory <port>: INFO memory used_memory.
used_memory() { redis-cli -p "$1" info memory | tr -d '\r' | awk -F: '$1 == "used_memory" { print $2 }'; }
rss_bytes() { awk '/^VmRSS/ { print $2 * 1024 }' "/proc/$1/status"; }
# mem_start <binary>: starts a fresh server; prints "<pid> <port>".
mem_start() {
    local dir port
    dir="$(mktemp -d -p "$work")"
    port="$(free_port)"
    "$1" --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --appendonly no >"$dir/log" 2>&1 &
    echo "$! $port"
}
# mem_types <kind> <binary...>: per binary, "<used_memory bytes per key> <RSS bytes per key>" of
# MEM_KEYS keys of one type loaded into a fresh server. The figures are read MEM_SETTLE seconds
# after the load (jemalloc returns freed pages, e.g. of outgrown key tables, about 10 s later,
# in redis-server as in d4-kv), for all servers at once.
mem_types() {
    local kind=$1 b pid port
    shift
    local -a pids=() ports=() u0=() r0=()
    for b in "$@"; do
        read -r pid port < <(mem_start "$b")
        pids+=("$pid")
        ports+=("$port")
    done
    for i in "${!pids[@]}"; do
        wait_port "${ports[$i]}"
        u0+=("$(used_memory "${ports[$i]}")")
        r0+=("$(rss_bytes "${pids[$i]}")")
        mem_load "$kind" "$MEM_KEYS" | redis-cli -p "${ports[$i]}" --pipe >/dev/null
    done
    sleep "$MEM_SETTLE"
    for i in "${!pids[@]}"; do
        awk -v u0="${u0[$i]}" -v u1="$(used_memory "${ports[$i]}")" -v r0="${r0[$i]}" \
            -v r1="$(rss_bytes "${pids[$i]}")" -v n="$MEM_KEYS" \
            'BEGIN { printf "%.0f %.0f\n", (u1 - u0) / n, (r1 - r0) / n }'
        kill "${pids[$i]}"
        wait "${pids[$i]}" 2>/dev/null || true
    done
}

if [ "$MEM_KEYS" -gt 0 ] && command -v redis-cli >/dev/null; then
    echo
    echo "memory per key: $MEM_KEYS keys of each type loaded with redis-cli --pipe into a fresh server,"
    echo "read ${MEM_SETTLE}s later; used = INFO memory used_memory growth (both on jemalloc),"
    echo "rss = resident set growth; bytes per key"
    [ -z "$before" ] || echo "(before: its used_memory is whatever that binary reports)"
    printf '%-7s %10s %10s %9s %9s %6s' type redis-used kv-used redis-rss kv-rss used-ratio
    [ -z "$before" ] && echo || printf ' %11s %10s\n' before-used before-rss
    for kind in string list set stream hash zset; do
        if [ -n "$before" ]; then
            mem_types "$kind" redis-server "$bin" "$before" >"$work/mem"
        else
            mem_types "$kind" redis-server "$bin" >"$work/mem"
        fi
        { read -r ru rr; read -r ku kr; read -r bu br || true; } <"$work/mem"
        printf '%-7s %10s %10s %9s %9s %6s' "$kind" "$ru" "$ku" "$rr" "$kr" \
            "$(awk -v a="$ru" -v b="$ku" 'BEGIN { if (a > 0) printf "%.2f", b / a; else print "n/a" }')"
        [ -z "$before" ] && echo || printf ' %11s %10s\n' "$bu" "$br"
    done
fi
host_end
