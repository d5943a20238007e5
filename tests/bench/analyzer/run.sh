#!/usr/bin/env bash
# Benchmarks the passive DNS analyzer against a real redis-server (release build; STORE=d4-kv runs
# the same against our d4-kv instead):
#   1. pdns-ingestion: lines/s draining a pre-filled analyzer:8:<uuid> queue (db 2 -> store db 0),
#      next to the upstream Python algorithm (tests/bench/analyzer/upstream_ingest.py, redis-py) on a sample;
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
# run (3, the median is reported), REF_LINES (5000).
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

cat >"$TMP/analyzer.conf" <<CONF
[global]
my-uuid = $UUID
d4-server = 127.0.0.1:$PORT
logging-level = INFO
[expiration]
16 = 24000
99 = 26000
[exclude]
substring = spamhaus.org,asn.cymru.com
[store]
port = $PORT
CONF
unset D4_ANALYZER_REDIS_HOST D4_ANALYZER_REDIS_PORT D4_REDIS_METADATA_HOST D4_REDIS_METADATA_PORT

host_begin
echo "== ingestion: $LINES lines, $NAMES names, store: $("$STORE_BIN" --version | head -1)"
"$BIN/examples/pdns_bench" fill --port "$PORT" --uuid "$UUID" --lines "$LINES" --names "$NAMES"
REDIS_PID=${PIDS[0]}
R0=$(proc_cpu_ticks "$REDIS_PID")
W=$(host_window)
START=$(date +%s.%N)
/usr/bin/time -f "%U %S" -o "$TMP/ingest.time" "$BIN/pdns-ingestion" -c "$TMP/analyzer.conf" --drain --batch 2000 >"$TMP/ingest.log" 2>&1
END=$(date +%s.%N)
R1=$(proc_cpu_ticks "$REDIS_PID")
read -r IU IS <"$TMP/ingest.time"
python3 -c "print('d4-rs pdns-ingestion lines=$LINES seconds=%.2f lines_per_sec=%.0f | cpu per line: ingestion %.1fus, redis %.1fus' % ($END-$START, $LINES/($END-$START), ($IU+$IS)*1e6/$LINES, ($R1-$R0)/$HOST_TICK*1e6/$LINES))"
echo "   host: $(host_window_report "$W"); load average $(host_load)"
host_steal_warning "$(host_window_steal "$W")" "during the ingestion"
echo "   store: $(redis-cli -p "$PORT" get stats:processed) records, $(redis-cli -p "$PORT" dbsize | tr -d '\r') keys in db 0"

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
