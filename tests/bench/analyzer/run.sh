#!/usr/bin/env bash
# Benchmarks the passive DNS analyzer against a real redis-server (release build; STORE=d4-kv runs
# the same against our d4-kv instead):
#   1. pdns-ingestion: lines/s draining a pre-filled analyzer:8:<uuid> queue (db 2 -> store db 0),
#      next to the upstream Python algorithm (tests/bench/analyzer/upstream_ingest.py, redis-py) on a sample;
#   2. pdns-cof-server: /query/<name> queries/s with p50/p99 at 1 and 16 keep-alive clients
#      (load generator: analyzer/examples/pdns_bench.rs), next to redis-benchmark GET on the same store.
# Env: LINES (default 500000), NAMES (49999), BENCH_SECONDS per COF run (5), ROUNDS of each COF
# run (3, the median is reported), REF_LINES (5000).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$ROOT"
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

echo "== ingestion: $LINES lines, $NAMES names, store: $("$STORE_BIN" --version | head -1)"
"$BIN/examples/pdns_bench" fill --port "$PORT" --uuid "$UUID" --lines "$LINES" --names "$NAMES"
REDIS_PID=${PIDS[0]}
cpu_ticks() { awk '{print $14+$15}' "/proc/$1/stat"; }
TICK=$(getconf CLK_TCK)
R0=$(cpu_ticks "$REDIS_PID")
START=$(date +%s.%N)
/usr/bin/time -f "%U %S" -o "$TMP/ingest.time" "$BIN/pdns-ingestion" -c "$TMP/analyzer.conf" --drain --batch 2000 >"$TMP/ingest.log" 2>&1
END=$(date +%s.%N)
R1=$(cpu_ticks "$REDIS_PID")
read -r IU IS <"$TMP/ingest.time"
python3 -c "print('d4-rs pdns-ingestion lines=$LINES seconds=%.2f lines_per_sec=%.0f | cpu per line: ingestion %.1fus, redis %.1fus' % ($END-$START, $LINES/($END-$START), ($IU+$IS)*1e6/$LINES, ($R1-$R0)/$TICK*1e6/$LINES))"
echo "   load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
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
# Each client count runs ROUNDS times (this machine's throughput drifts by +-15% from one run
# to the next); the median round by qps is reported after the individual rounds.
for c in 1 16; do
  : >"$TMP/rounds"
  for _ in $(seq "$ROUNDS"); do
    C0=$(cpu_ticks "$COF_PID"); R0=$(cpu_ticks "$REDIS_PID")
    OUT=$("$BIN/examples/pdns_bench" load --addr "127.0.0.1:$COF_PORT" --clients "$c" --seconds "$SECONDS_PER_RUN")
    C1=$(cpu_ticks "$COF_PID"); R1=$(cpu_ticks "$REDIS_PID")
    REQ=$(echo "$OUT" | sed -n 's/.*requests=\([0-9]*\).*/\1/p')
    LINE="$OUT | cpu per query: server $(python3 -c "print('%.0f' % (($C1-$C0)/$TICK*1e6/max($REQ,1)))")us, redis $(python3 -c "print('%.0f' % (($R1-$R0)/$TICK*1e6/max($REQ,1)))")us"
    echo "   $LINE"
    echo "$LINE" >>"$TMP/rounds"
  done
  echo "median of $ROUNDS: $(sort -t= -k4 -n "$TMP/rounds" | sed -n "$(( (ROUNDS + 1) / 2 ))p")"
done
echo "   load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"
echo "== reference: redis-benchmark GET on the same $STORE"
for c in 1 16; do
  redis-benchmark -p "$PORT" -t get -c "$c" -n 100000 --csv 2>/dev/null | tail -1 |
    awk -F, -v c="$c" '{gsub(/"/,""); print "clients=" c " GET qps=" $2 " p50=" $5 "ms p99=" $7 "ms"}'
done
