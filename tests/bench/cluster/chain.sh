#!/usr/bin/env bash
# The whole chain against one redis-server and Redis Clusters of 1, 3 and 6 masters, in one
# run (issue 18). For each store layout, with the STREAM role and the pDNS store on the layout
# and META/SERV/ANALYZER/CACHE on one plain redis-server (docs/scaling.md):
#   1. delivery: TLS sensors (d4_loadgen) -> d4-server -> d4-workers -> the analyzer queue,
#      lines/s and CPU per line of d4-server, d4-workers, the layout's servers and META;
#   2. ingestion: `pdns-ingestion --drain` of a pre-filled queue into the pDNS store, with one
#      ingestion and (3 and 6 masters, and one server for reference) two sharing the queue:
#      lines/s, CPU per line of the ingestions, the layout's servers and META, and a digest of
#      every s:/l:/o: key and value, which must be the same for every layout;
#   3. COF: `pdns-cof-server` on that store, /query/<name> at 1 and 16 keep-alive clients
#      (pdns_bench load): queries/s, p99, CPU per query of the COF server and the layout.
# Loopback on a 2-core machine: the servers, our processes and the load generators share the
# cores, so the figures show our code's cost on a cluster, not a network's.
#
# Usage: tests/bench/cluster/chain.sh
# Env: LINES per stage and layout (300000), SENSORS (4), NAMES distinct names in the ingestion
#      lines (49999), BENCH_SECONDS per COF run (5), ROUNDS (1), LAYOUTS (single c1 c3 c6),
#      BIN (a directory with the binaries to run instead of target/release: d4-server,
#      d4-workers, pdns-ingestion, pdns-cof-server, d4_loadgen, pdns_bench), D4_CLUSTER_SERVER
#      and D4_CLUSTER_CLI as in nodes.sh.
set -euo pipefail
cd "$(dirname "$0")/../../.."
ROOT=$(pwd)
# shellcheck source=tests/bench/lib.sh
. tests/bench/lib.sh
LINES=${LINES:-300000}
SENSORS=${SENSORS:-4}
NAMES=${NAMES:-49999}
SECONDS_PER_RUN=${BENCH_SECONDS:-5}
ROUNDS=${ROUNDS:-1}
read -r -a LAYOUTS <<<"${LAYOUTS:-single c1 c3 c6}"
UUID=7b3572df-d4a1-4c2e-9f0b-5a6c7d8e9f01

command -v openssl >/dev/null || { echo "openssl is required" >&2; exit 1; }
if [ -z "${BIN:-}" ]; then
  cargo build --release -q --workspace --bins
  cargo build --release -q -p d4-server --example d4_loadgen
  cargo build --release -q -p d4-analyzer --example pdns_bench
  BIN=$ROOT/target/release
  EXAMPLES=$BIN/examples
else
  EXAMPLES=$BIN
fi

WORK=$(mktemp -d)
# shellcheck source=tests/bench/cluster/nodes.sh
. tests/bench/cluster/nodes.sh
DAEMONS=()
cleanup() {
  for p in "${DAEMONS[@]}"; do kill "$p" 2>/dev/null || true; done
  nodes_cleanup
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
unset D4_ANALYZER_REDIS_HOST D4_ANALYZER_REDIS_PORT D4_REDIS_METADATA_HOST D4_REDIS_METADATA_PORT D4_LOG

cp gen_cert/gen_root.sh gen_cert/gen_cert.sh gen_cert/openssl.cnf gen_cert/server_ext.cnf "$WORK/"
(cd "$WORK" && bash gen_root.sh >/dev/null 2>&1 && bash gen_cert.sh >/dev/null 2>&1)

# The layouts: LAYOUT_<name>_CONF is the store line of a section ("port = p" or
# "cluster = seeds"), LAYOUT_<name>_PORTS / _PIDS its servers.
META=$(free_port)
start_node "$META"
META_PID=$NODE_PID
declare -A L_CONF L_PORTS L_PIDS L_NAME
for l in "${LAYOUTS[@]}"; do
  case "$l" in
    single)
      p=$(free_port); start_node "$p"
      L_CONF[$l]="port = $p"; L_PORTS[$l]=$p; L_PIDS[$l]=$NODE_PID
      L_NAME[$l]="one $(basename "$NODE_SERVER")" ;;
    c[0-9]*)
      start_cluster "${l#c}"
      L_CONF[$l]="cluster = $CLUSTER_SEEDS"; L_PORTS[$l]="${CLUSTER_PORTS[*]}"; L_PIDS[$l]="${CLUSTER_PIDS[*]}"
      L_NAME[$l]="cluster, ${l#c} master(s)" ;;
    *) echo "unknown layout $l (single, c<N>)" >&2; exit 2 ;;
  esac
done

# ticks <pid...>: CPU ticks of the processes together.
ticks() { local t=0 p; for p in "$@"; do t=$((t + $(proc_cpu_ticks "$p"))); done; echo "$t"; }

# flush <layout>: empties the layout's servers and META.
flush() {
  local p
  for p in ${L_PORTS[$1]} "$META"; do "$NODE_CLI" -p "$p" FLUSHALL >/dev/null; done
}

# analyzer_conf <layout>: analyzer.conf with the queue on META and the pDNS store on the layout.
analyzer_conf() {
  cat <<CONF
[global]
my-uuid = $UUID
d4-server = 127.0.0.1:$META
logging-level = INFO
[expiration]
16 = 24000
99 = 26000
[store]
host = 127.0.0.1
$1
CONF
}

# stop <pid...>: SIGTERM and wait.
stop() { kill "$@" 2>/dev/null || true; wait "$@" 2>/dev/null || true; }

declare -A R
# delivery <layout>: sensors -> d4-server -> d4-workers -> queue.
delivery() {
  local l=$1 dp w out s0 k0 st0 m0 s1 k1 st1 m1 srv wrk per
  flush "$l"
  dp=$(free_port)
  d4_server_conf "$WORK/data" "$dp" "$WORK" "${L_CONF[$l]}" "$META" >"$WORK/server-$l.conf"
  "$BIN/d4-server" -c "$WORK/server-$l.conf" --log warn >"$WORK/server-$l.log" 2>&1 &
  srv=$!; DAEMONS+=("$srv")
  "$BIN/d4-workers" -c "$WORK/server-$l.conf" --log warn >"$WORK/workers-$l.log" 2>&1 &
  wrk=$!; DAEMONS+=("$wrk")
  for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/"$dp") 2>/dev/null && break; sleep 0.1; done
  per=$((LINES / SENSORS))
  # shellcheck disable=SC2086  # pid lists
  s0=$(ticks $srv); k0=$(ticks $wrk); st0=$(ticks ${L_PIDS[$l]}); m0=$(ticks "$META_PID")
  w=$(host_window)
  out=$("$EXAMPLES/d4_loadgen" --port "$dp" --ca "$WORK/rootCA.crt" --meta-port "$META" \
    --sensors "$SENSORS" --lines "$per")
  # shellcheck disable=SC2086
  s1=$(ticks $srv); k1=$(ticks $wrk); st1=$(ticks ${L_PIDS[$l]}); m1=$(ticks "$META_PID")
  stop "$srv" "$wrk"
  R[$l.deliver]=$(echo "$out" | sed -n 's/.* = \([0-9]*\) lines\/s end to end.*/\1/p')
  R[$l.deliver_cpu]="$(per_unit_us $((s1 - s0)) $((per * SENSORS))) / $(per_unit_us $((k1 - k0)) $((per * SENSORS))) / $(per_unit_us $((st1 - st0)) $((per * SENSORS))) / $(per_unit_us $((m1 - m0)) $((per * SENSORS)))"
  echo "  delivery, $SENSORS sensors x $per lines: ${R[$l.deliver]} lines/s into the queue |" \
    "cpu per line: d4-server / d4-workers / ${L_NAME[$l]} / META ${R[$l.deliver_cpu]} us"
  echo "     $(echo "$out" | tail -1)"
  echo "     host: $(host_window_report "$w")"
  host_steal_warning "$(host_window_steal "$w")" "during this run"
  if grep -q "ERROR\|WARN" "$WORK/server-$l.log" "$WORK/workers-$l.log"; then
    echo "     --- warnings ---"; grep -h "ERROR\|WARN" "$WORK/server-$l.log" "$WORK/workers-$l.log" | head -5
  fi
}

# ingestion <layout> <processes>: pdns-ingestion --drain of LINES pre-filled lines.
ingestion() {
  local l=$1 n=$2 w st0 m0 st1 m1 start end i cpu=0 u s pids=()
  flush "$l"
  analyzer_conf "${L_CONF[$l]}" >"$WORK/analyzer-$l.conf"
  "$EXAMPLES/pdns_bench" fill --port "$META" --uuid "$UUID" --lines "$LINES" --names "$NAMES" >/dev/null
  # shellcheck disable=SC2086
  st0=$(ticks ${L_PIDS[$l]}); m0=$(ticks "$META_PID")
  w=$(host_window)
  start=$(date +%s.%N)
  for i in $(seq "$n"); do
    /usr/bin/time -f "%U %S" -o "$WORK/ingest-$i.time" "$BIN/pdns-ingestion" -c "$WORK/analyzer-$l.conf" \
      --drain --batch 2000 --id "bench$i" >"$WORK/ingest-$l-$n-$i.log" 2>&1 &
    pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || { echo "pdns-ingestion failed:"; tail -5 "$WORK"/ingest-"$l"-"$n"-*.log; exit 1; }; done
  end=$(date +%s.%N)
  # shellcheck disable=SC2086
  st1=$(ticks ${L_PIDS[$l]}); m1=$(ticks "$META_PID")
  for i in $(seq "$n"); do
    read -r u s <"$WORK/ingest-$i.time"
    cpu=$(awk -v c="$cpu" -v u="$u" -v s="$s" 'BEGIN { print c + u + s }')
  done
  R[$l.ingest$n]=$(awk -v n="$LINES" -v a="$start" -v b="$end" 'BEGIN { printf "%.0f", n / (b - a) }')
  R[$l.ingest${n}_cpu]="$(awk -v c="$cpu" -v n="$LINES" 'BEGIN { printf "%.1f", c * 1e6 / n }') / $(per_unit_us $((st1 - st0)) "$LINES") / $(per_unit_us $((m1 - m0)) "$LINES")"
  # shellcheck disable=SC2086
  R[$l.digest$n]=$(python3 tests/bench/cluster/store_digest.py ${L_PORTS[$l]})
  echo "  ingestion, $n pdns-ingestion(s), $LINES lines ($NAMES names): ${R[$l.ingest$n]} lines/s |" \
    "cpu per line: ingestion(s) / ${L_NAME[$l]} / META ${R[$l.ingest${n}_cpu]} us | store: ${R[$l.digest$n]}"
  echo "     host: $(host_window_report "$w")"
  host_steal_warning "$(host_window_steal "$w")" "during this run"
}

# cof <layout>: pdns-cof-server on the layout's store, 1 and 16 clients.
cof() {
  local l=$1 port c c0 st0 c1 st1 w out req gen pid
  port=$(free_port)
  "$BIN/pdns-cof-server" -c "$WORK/analyzer-$l.conf" --port "$port" >"$WORK/cof-$l.log" 2>&1 &
  pid=$!; DAEMONS+=("$pid")
  for _ in $(seq 200); do grep -q "listening" "$WORK/cof-$l.log" 2>/dev/null && break; sleep 0.05; done
  for c in 1 16; do
    # shellcheck disable=SC2086
    c0=$(ticks $pid); st0=$(ticks ${L_PIDS[$l]})
    w=$(host_window)
    out=$(/usr/bin/time -f "%U %S" -o "$WORK/gen.time" "$EXAMPLES/pdns_bench" load --addr "127.0.0.1:$port" \
      --clients "$c" --seconds "$SECONDS_PER_RUN" | grep 'requests=' | tail -1)
    # shellcheck disable=SC2086
    c1=$(ticks $pid); st1=$(ticks ${L_PIDS[$l]})
    req=$(echo "$out" | sed -n 's/.*requests=\([0-9]*\).*/\1/p')
    gen=$(awk '{ printf "%.0f", ($1 + $2) * '"$HOST_TICK"' }' "$WORK/gen.time")
    R[$l.qps$c]=$(echo "$out" | sed -n 's/.*qps=\([0-9]*\).*/\1/p')
    R[$l.p99_$c]=$(echo "$out" | sed -n 's/.*p99=\([0-9.]*\)ms.*/\1/p')
    R[$l.cof${c}_cpu]="$(per_unit_us $((c1 - c0)) "${req:-0}") / $(per_unit_us $((st1 - st0)) "${req:-0}") / $(per_unit_us "$gen" "${req:-0}")"
    echo "  COF /query: $out | cpu per query: pdns-cof-server / ${L_NAME[$l]} / load generator ${R[$l.cof${c}_cpu]} us"
    echo "     host: $(host_window_report "$w")"
    host_steal_warning "$(host_window_steal "$w")" "during this run"
  done
  if ! curl -fsS "http://127.0.0.1:$port/query/host1.bench.example" | grep -q host1.bench.example; then
    echo "  COF answer for host1.bench.example is empty on ${L_NAME[$l]}: the store was not read"; exit 1
  fi
  stop "$pid"
}

echo "== the chain on one server and on clusters ($(nproc) CPUs, $("$NODE_SERVER" --version | awk '{print $1, $3}')," \
  "$LINES lines per stage, $SENSORS sensors, $NAMES names)"
host_begin
for r in $(seq "$ROUNDS"); do
  for l in "${LAYOUTS[@]}"; do
    echo "round $r, ${L_NAME[$l]} (STREAM and pDNS store; META on one plain server)"
    delivery "$l"
    if [ "$l" != c1 ]; then ingestion "$l" 2; fi
    ingestion "$l" 1
    cof "$l"
  done
  echo "round $r summary (lines/s; queries/s and p99 ms at 16 clients; CPU us per line or query)"
  echo "| store (STREAM + pDNS) | delivered into the queue | cpu: d4-server / d4-workers / store / META | 1 pdns-ingestion | cpu: ingestion / store / META | 2 pdns-ingestions | COF queries/s, p99 (16 clients) | cpu: COF server / store / load generator | COF 1 client, p99 |"
  echo "|---|---|---|---|---|---|---|---|---|"
  for l in "${LAYOUTS[@]}"; do
    echo "| ${L_NAME[$l]} | ${R[$l.deliver]} | ${R[$l.deliver_cpu]} | ${R[$l.ingest1]} | ${R[$l.ingest1_cpu]} | ${R[$l.ingest2]:--} | ${R[$l.qps16]}, ${R[$l.p99_16]} ms | ${R[$l.cof16_cpu]} | ${R[$l.qps1]}, ${R[$l.p99_1]} ms |"
  done
  first=${LAYOUTS[0]}
  same=yes
  for l in "${LAYOUTS[@]}"; do
    for k in digest1 digest2; do
      if [ -n "${R[$l.$k]:-}" ] && [ "${R[$l.$k]}" != "${R[$first.digest1]}" ]; then
        same="NO: ${L_NAME[$l]} ($k) ${R[$l.$k]} against ${R[$first.digest1]}"
      fi
    done
  done
  echo "every layout and ingestion count gave the same pDNS store: $same"
done
host_end
