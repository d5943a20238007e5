#!/usr/bin/env bash
# Benchmarks POST /batch of pdns-cof-server (release build) against a real redis-server: a store
# filled by pdns-ingestion with $LINES lines over $NAMES names (analyzer/examples/pdns_bench.rs
# fill: host<n>.bench.example A/AAAA/TXT, www<n> CNAME), then one request of $VALUES values
# (names present and absent, addresses, and one wildcard per 1,000 values), $ROUNDS times; prints
# the median wall time, values/s and the server's CPU per value, next to the same values asked
# one /query at a time over one keep-alive connection (Python http.client).
# Env: LINES (200000), NAMES (49999), VALUES (10000), ROUNDS (5).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../../.." && pwd)
cd "$ROOT"
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
LINES=${LINES:-200000}
NAMES=${NAMES:-49999}
VALUES=${VALUES:-10000}
ROUNDS=${ROUNDS:-5}
UUID=6a2461ce-c29d-44fc-b4fa-947d68826639
KEY=bench-key

cargo build --release -q -p d4-analyzer --bins --example pdns_bench
BIN=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/release
TMP=$(mktemp -d)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PORT=$(free_port)
COF_PORT=$(free_port)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$TMP"; }
trap cleanup EXIT

redis-server --port "$PORT" --bind 127.0.0.1 --dir "$TMP" --save "" --appendonly no >"$TMP/redis.log" 2>&1 &
PIDS+=($!)
until redis-cli -p "$PORT" ping >/dev/null 2>&1; do sleep 0.05; done
cat >"$TMP/analyzer.conf" <<CONF
[global]
my-uuid = $UUID
d4-server = 127.0.0.1:$PORT
[store]
port = $PORT
[cof]
token = $KEY
CONF
unset D4_ANALYZER_REDIS_HOST D4_ANALYZER_REDIS_PORT D4_REDIS_METADATA_HOST D4_REDIS_METADATA_PORT

"$BIN/examples/pdns_bench" fill --port "$PORT" --uuid "$UUID" --lines "$LINES" --names "$NAMES" >/dev/null
"$BIN/pdns-ingestion" -c "$TMP/analyzer.conf" --drain --batch 2000 >"$TMP/ingest.log" 2>&1
echo "== store: $(redis-cli -p "$PORT" get stats:processed) records, $(redis-cli -p "$PORT" dbsize | tr -d '\r') keys"

"$BIN/pdns-cof-server" -c "$TMP/analyzer.conf" --port "$COF_PORT" >"$TMP/cof.log" 2>&1 &
COF_PID=$!
PIDS+=($COF_PID)
until curl -s -o /dev/null "http://127.0.0.1:$COF_PORT/info" -H "Authorization: $KEY"; do sleep 0.05; done

# The batch: 70 % names (half of them absent), 29 % addresses, 0.1 % wildcards.
python3 - "$VALUES" "$NAMES" >"$TMP/batch.ndjson" <<'PY'
import sys
values, names = int(sys.argv[1]), int(sys.argv[2])
for i in range(values):
    n = (i * 7919) % names
    if i % 1000 == 999:
        print('{"query": "*.bench.example", "limit": 100}')
    elif i % 10 < 4:
        print("host%d.bench.example" % n)
    elif i % 10 < 7:
        print("absent%d.bench.example" % n)
    else:
        print("10.%d.%d.%d" % (n >> 16 & 255, n >> 8 & 255, n & 255))
PY

host_begin
times=()
for r in $(seq "$ROUNDS"); do
  c0=$(proc_cpu_ticks "$COF_PID")
  t=$(curl -s -o "$TMP/out.ndjson" -w '%{time_total}' -X POST -H "X-API-Key: $KEY" \
    --data-binary "@$TMP/batch.ndjson" "http://127.0.0.1:$COF_PORT/batch")
  c1=$(proc_cpu_ticks "$COF_PID")
  n=$(wc -l <"$TMP/out.ndjson")
  [ "$n" -eq "$VALUES" ] || { echo "round $r: $n answers for $VALUES values" >&2; exit 1; }
  echo "round $r: ${t}s, server cpu $(awk -v a="$c0" -v b="$c1" -v t="$HOST_TICK" -v v="$VALUES" 'BEGIN { printf "%.1f", (b - a) / t * 1e6 / v }')us/value"
  times+=("$t")
done
median=$(printf '%s\n' "${times[@]}" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }')
echo "batch of $VALUES values: median ${median}s = $(awk -v m="$median" -v v="$VALUES" 'BEGIN { printf "%.0f", v / m }') values/s ($(grep -c '"cond": "succeeded"' "$TMP/out.ndjson") succeeded, $(grep -c '"cond": "limited"' "$TMP/out.ndjson") limited, $(grep -c '"cond": "failed"' "$TMP/out.ndjson") failed)"

# The same values one /query at a time (names and addresses; wildcards as /query/*.x).
python3 - "$COF_PORT" "$KEY" "$TMP/batch.ndjson" <<'PY'
import http.client, json, sys, time, urllib.parse
port, key, path = int(sys.argv[1]), sys.argv[2], sys.argv[3]
values = []
for line in open(path):
    line = line.strip()
    values.append(json.loads(line)["query"] if line.startswith("{") else line)
c = http.client.HTTPConnection("127.0.0.1", port)
t = time.time()
for v in values:
    c.request("GET", "/query/" + urllib.parse.quote(v), headers={"Authorization": key})
    c.getresponse().read()
d = time.time() - t
print("one /query per value (1 keep-alive client): %.2fs = %.0f values/s" % (d, len(values) / d))
PY
host_end
