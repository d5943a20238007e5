#!/usr/bin/env bash
# Benchmarks the passive DNS analyzer against a real redis-server (release build; STORE=d4-kv runs
# the same against our d4-kv instead):
#   1. pdns-ingestion: lines/s draining a pre-filled analyzer:8:<uuid> queue (db 2 -> store db 0),
#      next to the upstream Python algorithm (tests/bench/analyzer/upstream_ingest.py, redis-py) on a sample.
#      With redis-server, three runs of the same lines: first/last seen by script (the default on a
#      store with scripting), the same binary on a second redis-server whose SCRIPT command is
#      renamed away (the single-writer MGET/MSET path, i.e. the write path before the script and
#      the one d4-kv gets), and two pdns-ingestions sharing the queue (script path);
#   2. pdns-cof-server: /query/<name> queries/s with p50/p99 at 1 and 16 keep-alive clients
#      (load generator: analyzer/examples/pdns_bench.rs; at 16 clients also wrk with
#      tests/bench/analyzer/wrk_query.lua when wrk is installed), next to redis-benchmark GET on
#      the same store. Each run prints the CPU per query of the server, the store and the load
#      generator over that run only, the server's sleeps per query and the host's steal.
# Server CPU per query depends on how many requests the server finds at each wake-up: it sleeps
# and wakes about 3 times per query at 1 client, and each wake-up of an idle vCPU is expensive on a
# virtual machine (more so on a busy hypervisor); a run at 16 clients whose "server sleeps per
# query" is near 1 or more did not keep the server busy (starved load generator, stolen CPU) and
# measured wake-ups, not the request path.
# Env: LINES (default 500000), NAMES (49999), BENCH_SECONDS per COF run (5), ROUNDS of each COF
# run (3, the median is reported), REF_LINES (5000). INGEST_BEFORE=<path of an older
# pdns-ingestion> runs it on the same lines (same fill, store emptied first) before each
# single-ingestion run, for a before/after in the same run; INGEST_ROUNDS (1) repeats each of those
# runs; INGEST_ONLY=1 stops after the ingestion part.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$ROOT"
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
LINES=${LINES:-500000}
NAMES=${NAMES:-49999}
SECONDS_PER_RUN=${BENCH_SECONDS:-5}
ROUNDS=${ROUNDS:-3}
REF_LINES=${REF_LINES:-5000}
UUID=6a2461ce-c29d-44fc-b4fa-947d68826639

STORE=${STORE:-redis-server}
cargo build --release -q -p d4-analyzer --bins --example pdns_bench
[ "$STORE" = d4-kv ] && cargo build --release -q -p d4-kv --bin d4-kv
BIN=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release

TMP=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
COF_PORT=$(free_port)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

case "$STORE" in
  redis-server) STORE_BIN=redis-server ;;
  d4-kv) STORE_BIN="$BIN/d4-kv" ;;
  *) echo "STORE must be redis-server or d4-kv" >&2; exit 2 ;;
esac
"$STORE_BIN" --port "$PORT" --bind 127.0.0.1 --dir "$TMP" --save "" --appendonly no >"$TMP/redis.log" 2>&1 &
PIDS+=($!)
until redis-cli -p "$PORT" ping >/dev/null 2>&1; do sleep 0.05; done

# write_conf <port>: an analyzer.conf with the queue and the store on <port>, as $TMP/analyzer-<port>.conf.
write_conf() {
  cat >"$TMP/analyzer-$1.conf" <<CONF
[global]
my-uuid = $UUID
d4-server = 127.0.0.1:$1
logging-level = INFO
[expiration]
16 = 24000
99 = 26000
[exclude]
substring = spamhaus.org,asn.cymru.com
[store]
port = $1
CONF
}
write_conf "$PORT"
cp "$TMP/analyzer-$PORT.conf" "$TMP/analyzer.conf"
unset D4_ANALYZER_REDIS_HOST D4_ANALYZER_REDIS_PORT D4_REDIS_METADATA_HOST D4_REDIS_METADATA_PORT
REDIS_PID=${PIDS[0]}

# ingest_run <label> <port> <store pid> <ingestions> [binary]: fills the queue on <port> with
# $LINES lines, drains it with <ingestions> processes of [binary] (default: this build's
# pdns-ingestion; distinct --id) and prints lines/s and the CPU per line of the ingestions
# (together) and of the store.
ingest_run() {
  local label=$1 port=$2 pid=$3 n=$4 ingest_bin=${5:-$BIN/pdns-ingestion} r0 r1 w start end i cpu=0 u s ingestions=()
  "$BIN/examples/pdns_bench" fill --port "$port" --uuid "$UUID" --lines "$LINES" --names "$NAMES" >/dev/null
  r0=$(proc_cpu_ticks "$pid")
  w=$(host_window)
  start=$(date +%s.%N)
  for i in $(seq "$n"); do
    /usr/bin/time -f "%U %S" -o "$TMP/ingest-$port-$i.time" "$ingest_bin" -c "$TMP/analyzer-$port.conf" \
      --drain --batch 2000 --id "bench$i" >"$TMP/ingest-$port-$i.log" 2>&1 &
    ingestions+=($!)
  done
  wait "${ingestions[@]}"
  end=$(date +%s.%N)
  r1=$(proc_cpu_ticks "$pid")
  for i in $(seq "$n"); do
    read -r u s <"$TMP/ingest-$port-$i.time"
    cpu=$(awk -v c="$cpu" -v u="$u" -v s="$s" 'BEGIN { print c + u + s }')
  done
  python3 -c "print('$label lines=$LINES seconds=%.2f lines_per_sec=%.0f | cpu per line: ingestion %.2fus, store %.2fus' % ($end-$start, $LINES/($end-$start), $cpu*1e6/$LINES, ($r1-$r0)/$HOST_TICK*1e6/$LINES))"
  echo "   host: $(host_window_report "$w"); load average $(host_load)"
  host_steal_warning "$(host_window_steal "$w")" "during the ingestion"
  echo "   store: $(redis-cli -p "$port" get stats:processed) records, $(redis-cli -p "$port" dbsize | tr -d '\r') keys in db 0"
}

# ingest_compare <label> <port> <store pid>: INGEST_ROUNDS rounds of one ingestion on an emptied
# store, each round the INGEST_BEFORE binary (when given) then this build, on the same lines.
ingest_compare() {
  local label=$1 port=$2 pid=$3 r
  for r in $(seq "${INGEST_ROUNDS:-1}"); do
    if [ -n "${INGEST_BEFORE:-}" ]; then
      redis-cli -p "$port" flushdb >/dev/null
      ingest_run "BEFORE ($INGEST_BEFORE) $label" "$port" "$pid" 1 "$INGEST_BEFORE"
    fi
    redis-cli -p "$port" flushdb >/dev/null
    ingest_run "$label" "$port" "$pid" 1
  done
}

host_begin
echo "== ingestion: $LINES lines, $NAMES names, store: $("$STORE_BIN" --version | head -1)"
if [ "$STORE" = redis-server ]; then
  # The same lines into a second redis-server without scripting (SCRIPT renamed away), in the
  # same run: the single-writer MGET/MSET path next to the script path.
  NOSCRIPT_PORT=$(free_port)
  mkdir -p "$TMP/noscript"
  redis-server --port "$NOSCRIPT_PORT" --bind 127.0.0.1 --dir "$TMP/noscript" --save "" --appendonly no \
    --rename-command SCRIPT "" >"$TMP/redis-noscript.log" 2>&1 &
  PIDS+=($!)
  NOSCRIPT_PID=$!
  until redis-cli -p "$NOSCRIPT_PORT" ping >/dev/null 2>&1; do sleep 0.05; done
  write_conf "$NOSCRIPT_PORT"
  ingest_compare "d4-rs pdns-ingestion, single-writer path (MGET/MSET, no scripting)" "$NOSCRIPT_PORT" "$NOSCRIPT_PID"
  ingest_compare "d4-rs pdns-ingestion, script path (first/last seen by EVALSHA)" "$PORT" "$REDIS_PID"
  redis-cli -p "$PORT" flushdb >/dev/null
  ingest_run "d4-rs 2 pdns-ingestions on one queue, script path" "$PORT" "$REDIS_PID" 2
  echo "   same store as one ingestion: $(python3 - "$PORT" "$NOSCRIPT_PORT" <<'PY'
import socket, sys
def dump(port):
    # SCAN and GET of every s:/l: key over one connection (RESP by hand: no redis-py needed).
    s = socket.create_connection(("127.0.0.1", int(port))); f = s.makefile("rb")
    def cmd(*a):
        s.sendall(b"*%d\r\n" % len(a) + b"".join(b"$%d\r\n%s\r\n" % (len(x), x) for x in a))
        return read()
    def read():
        line = f.readline().rstrip(b"\r\n"); t, rest = line[:1], line[1:]
        if t == b"$": n = int(rest); return None if n < 0 else f.read(n + 2)[:-2]
        if t == b"*": return [read() for _ in range(int(rest))]
        return rest
    out, cur = {}, b"0"
    while True:
        cur, keys = cmd(b"SCAN", cur, b"COUNT", b"10000")
        for k in keys:
            if k[:2] in (b"s:", b"l:"): out[k] = cmd(b"GET", k)
        if cur == b"0": return out
a, b = dump(sys.argv[1]), dump(sys.argv[2])
print("yes (%d s:/l: keys)" % len(a) if a == b else "NO: %d of %d s:/l: keys differ" % (sum(a.get(k) != v for k, v in b.items()), len(b)))
PY
)"
else
  ingest_compare "d4-rs pdns-ingestion (d4-kv: single-writer MGET/MSET path)" "$PORT" "$REDIS_PID"
fi
if [ "${INGEST_ONLY:-}" = 1 ]; then
  host_end
  exit 0
fi

"$BIN/examples/pdns_bench" fill --port "$PORT" --uuid "$UUID" --lines "$REF_LINES" --names "$NAMES" >/dev/null
python3 tests/bench/analyzer/upstream_ingest.py "$PORT" "analyzer:8:$UUID" "$REF_LINES"
redis-cli -p "$PORT" -n 1 flushdb >/dev/null

echo "== COF server: /query/host<i>.bench.example over 1000 names, ${SECONDS_PER_RUN}s per run"
"$BIN/pdns-cof-server" -c "$TMP/analyzer.conf" --port "$COF_PORT" >"$TMP/cof.log" 2>&1 &
COF_PID=$!
PIDS+=($COF_PID)
until grep -q "listening" "$TMP/cof.log" 2>/dev/null; do sleep 0.05; done
curl_like=$(python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$COF_PORT/query/host1.bench.example').read().decode().count(chr(10)))")
echo "   records per answer: $curl_like"
# sleeps <pid>: voluntary context switches of all threads of a process so far (each one is a
# wait for the next request or store reply, followed by a wake-up).
sleeps() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/ { s += $2 } END { print s + 0 }'; }
# cof_run <label> <command...>: one load run; prints the load generator's summary line followed
# by the CPU per query of the server, the store and the load generator over this run only, the
# server's sleeps per query and the host's steal, and the steal WARNING line if any.
cof_run() {
  local label=$1 c0 r0 s0 w out c1 r1 s1 req gen
  shift
  c0=$(proc_cpu_ticks "$COF_PID"); r0=$(proc_cpu_ticks "$REDIS_PID"); s0=$(sleeps "$COF_PID")
  w=$(host_window)
  out=$(/usr/bin/time -f "%U %S" -o "$TMP/gen.time" "$@")
  c1=$(proc_cpu_ticks "$COF_PID"); r1=$(proc_cpu_ticks "$REDIS_PID"); s1=$(sleeps "$COF_PID")
  out=$(echo "$out" | grep 'requests=' | tail -1)
  req=$(echo "$out" | sed -n 's/.*requests=\([0-9]*\).*/\1/p')
  req=${req:-0}
  gen=$(awk '{ printf "%.0f", ($1 + $2) * '"$HOST_TICK"' }' "$TMP/gen.time")
  echo "$label $out | cpu per query: server $(per_unit_us $((c1 - c0)) "$req")us, $STORE" \
    "$(per_unit_us $((r1 - r0)) "$req")us, load generator $(per_unit_us "$gen" "$req")us |" \
    "server sleeps per query $(awk -v d=$((s1 - s0)) -v n="$req" 'BEGIN { printf "%.2f", (n > 0 ? d / n : 0) }')" \
    "| steal $(host_window_steal "$w")%"
  host_steal_warning "$(host_window_steal "$w")" "during this run"
}
# cof_rounds <label> <command...>: ROUNDS runs (this machine's throughput drifts by +-15% from one
# run to the next), each printed, then the median round by qps.
cof_rounds() {
  local label=$1
  shift
  : >"$TMP/rounds"
  for _ in $(seq "$ROUNDS"); do
    cof_run "$label" "$@" | tee -a "$TMP/rounds" | sed 's/^/   /'
  done
  echo "median of $ROUNDS: $(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^qps=/) print substr($i, 5), $0 }' "$TMP/rounds" |
    sort -n | cut -d' ' -f2- | sed -n "$(((ROUNDS + 1) / 2))p")"
}
URL="http://127.0.0.1:$COF_PORT/"
for c in 1 16; do
  cof_rounds "pdns_bench" "$BIN/examples/pdns_bench" load --addr "127.0.0.1:$COF_PORT" --clients "$c" --seconds "$SECONDS_PER_RUN"
done
# wrk as a second load generator at 16 connections (2 threads, the same queries): a figure far
# from pdns_bench's in the same run points at the load generator, not at the server.
if command -v wrk >/dev/null; then
  cof_rounds "wrk -t2 clients=16" wrk -t2 -c16 -d"${SECONDS_PER_RUN}s" -s tests/bench/analyzer/wrk_query.lua "$URL"
else
  echo "   wrk not installed (apt-get install wrk): no second load generator in this run"
fi
echo "== reference: redis-benchmark GET on the same $STORE"
# The store's CPU per GET is the run's yardstick for the host: when it is well above its quiet
# value (about 17us at 1 client and 5us at 16 on the 2-CPU build machine), every CPU figure of the
# run is inflated alike.
for c in 1 16; do
  r0=$(proc_cpu_ticks "$REDIS_PID")
  OUT=$(redis-benchmark -p "$PORT" -t get -c "$c" -n 100000 --csv 2>/dev/null | tail -1)
  r1=$(proc_cpu_ticks "$REDIS_PID")
  echo "$OUT" | awk -F, -v c="$c" -v cpu="$(per_unit_us $((r1 - r0)) 100000)" '{ gsub(/"/, "")
    print "clients=" c " GET qps=" $2 " p50=" $5 "ms p99=" $7 "ms | store cpu per GET " cpu "us" }'
done
host_end
